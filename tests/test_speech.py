"""Voices: the eSpeak NG floor and the Kokoro engine speak real lines, measured.

Oracles: librosa's pYIN for the pitch of a voice, numpy RMS for level and for where speech is audible
(a 20 ms energy gate written here, not the engine's own span finder), soundfile reading back the WAVs,
PyAV/FFmpeg decoding the MP4's audio and parsing the SRT. The Kokoro engine's real loading code runs on
a tiny Kokoro-shaped ONNX graph built by ``kokoro_tiny``.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from lantern_testkit import median_f0_hz
from lantern_studio.engines.speech.base import MAX_LINE_CHARS, VoiceSpec
from lantern_studio.engines.speech.casting import NARRATOR_VOICE, default_voices, parse_voice_rows, voice_kind
from lantern_studio.engines.speech.espeak import VARIANTS, EspeakEngine
from lantern_studio.engines.speech.kokoro import KokoroEngine
from lantern_studio.engines.story.animatic import render_animatic
from lantern_studio.engines.story.bible import apply_bible_rows, bible_rows, build_bible, voice_of
from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_studio.engines.story.voices import fit_shots_to_speech, line_voice, speak_lines

ENGINE = EspeakEngine()


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def loud_windows(mono: np.ndarray, sample_rate: int, *, below_peak_db: float = -30.0, window_s: float = 0.02):
    """Start times (s) of the 20 ms windows louder than ``below_peak_db`` under the loudest one."""
    hop = int(window_s * sample_rate)
    n = mono.shape[0] // hop
    level = np.sqrt(np.mean(mono[:n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    return np.flatnonzero(level > level.max() * 10 ** (below_peak_db / 20)) * window_s


def voice(name: str, pitch: int = 50, speed: float = 1.0) -> VoiceSpec:
    return VoiceSpec(engine="espeak", voice=name, pitch=pitch, speed=speed)


# ------------------------------------------------------------------------------------------------
# the eSpeak NG floor
# ------------------------------------------------------------------------------------------------


def test_the_floor_engine_is_ready_without_weights():
    status = ENGINE.available()
    assert status.ready, status.message


@pytest.mark.parametrize("text, language", [("三年没回来了，奶奶的灯笼还亮着。", "zh"),
                                            ("Three years away, and grandma's lantern is still lit.", "en")])
def test_a_chinese_and_an_english_line_are_spoken_at_a_sane_level(text, language):
    clip = ENGINE.speak(text, voice=voice("f2"), language=language)
    assert clip.audio.dtype == np.float32 and clip.audio.ndim == 1
    assert 1.5 < clip.duration_s < 6.0
    speech = clip.audio[int(clip.speech_start_s * clip.sample_rate):int(clip.speech_end_s * clip.sample_rate)]
    assert 0.02 < rms(speech) < 0.5
    assert np.max(np.abs(clip.audio)) <= 1.0
    # the reported span agrees with an independent energy gate to within two of its windows
    loud = loud_windows(clip.audio, clip.sample_rate)
    assert abs(loud[0] - clip.speech_start_s) < 0.04 and abs(loud[-1] + 0.02 - clip.speech_end_s) < 0.04


def test_mandarin_speech_lasts_longer_for_a_longer_line():
    short = ENGINE.speak("灯笼亮了。", voice=voice("m3"), language="zh")
    long = ENGINE.speak("灯笼亮了。" * 4, voice=voice("m3"), language="zh")
    assert 3.0 < long.spoken_s / short.spoken_s < 6.0          # four sentences, with the pauses between them


def test_two_characters_voices_differ_in_pitch():
    line = "你回来啦，快进屋，外面冷。"
    bible = build_bible(["奶奶", "小雨"], texts=["小雨, 孙女，十岁, 推开门。"])
    assert bible["小雨"].description.startswith("孙女")
    grandma = ENGINE.speak(line, voice=voice_of(bible["奶奶"]), language="zh")
    girl = ENGINE.speak(line, voice=voice_of(bible["小雨"]), language="zh")
    f0_grandma, f0_girl = median_f0_hz(grandma.audio, grandma.sample_rate), median_f0_hz(girl.audio, girl.sample_rate)
    assert abs(np.log2(f0_girl / f0_grandma)) > 0.25, (f0_grandma, f0_girl)     # more than three semitones


def test_pitch_and_speed_settings_move_pitch_and_length():
    line = "Happy Lantern Festival, everyone."
    # eSpeak NG jitters its pitch a little on purpose, so the voices compared are clearly voiced ones
    low = ENGINE.speak(line, voice=voice("m3", pitch=40), language="en")
    high = ENGINE.speak(line, voice=voice("m3", pitch=85), language="en")
    assert median_f0_hz(high.audio, high.sample_rate) > 1.3 * median_f0_hz(low.audio, low.sample_rate)
    slow = ENGINE.speak(line, voice=voice("m1", speed=0.6), language="en")
    fast = ENGINE.speak(line, voice=voice("m1", speed=1.5), language="en")
    assert slow.spoken_s > 1.8 * fast.spoken_s


@pytest.mark.parametrize("text, language, spec, message", [
    ("你好", "zh", voice("nobody"), "no voice 'nobody'"),
    ("你好", "fr", voice("m1"), "cannot be spoken"),
    ("   ", "zh", voice("m1"), "empty"),
    ("……！", "zh", voice("m1"), "empty"),
    ("长" * 2000, "zh", voice("m1"), f"at most {MAX_LINE_CHARS}"),
    ("你好", "zh", voice("m1", pitch=120), "pitch"),
    ("你好", "zh", voice("m1", speed=3.0), "speed"),
])
def test_bad_input_is_refused_with_a_message(text, language, spec, message):
    with pytest.raises(ValueError, match=message):
        ENGINE.speak(text, voice=spec, language=language)


# ------------------------------------------------------------------------------------------------
# casting: default voices from the bible
# ------------------------------------------------------------------------------------------------


def test_default_voices_follow_the_description_and_are_distinct():
    assert voice_kind("奶奶", "") == "older_female"
    assert voice_kind("老周", "爷爷，七十岁") == "older_male"
    assert voice_kind("小雨", "孙女，十岁") == "younger_female"
    assert voice_kind("Lisa", "a woman in a red coat") == "female"
    assert voice_kind("Tom", "a man who sells lanterns") == "male"
    cast = default_voices([(f"C{i}", "") for i in range(12)] + [("奶奶", ""), ("外婆", "")])
    keys = [(v.voice, v.pitch) for v in cast.values()]
    assert len(set(keys)) == len(keys)
    assert (NARRATOR_VOICE.voice, NARRATOR_VOICE.pitch) not in keys
    assert cast["奶奶"].voice == "grandma" and cast["外婆"].speed < 1.0


def test_narration_has_its_own_voice_and_edits_keep_the_voices():
    board = Storyboard(language="zh", characters=build_bible(["小雨", "奶奶"]))
    assert line_voice(board, "旁白") == NARRATOR_VOICE
    assert line_voice(board, "VO") == NARRATOR_VOICE
    board.characters["小雨"].voice_name, board.characters["小雨"].voice_pitch = "f5", 90
    edited = apply_bible_rows(bible_rows(board.characters), existing=board.characters)
    assert edited["小雨"].voice_name == "f5" and edited["小雨"].voice_pitch == 90
    assert edited["奶奶"].voice_name == board.characters["奶奶"].voice_name


def test_the_voice_table_rejects_unknown_voices_and_characters():
    usable = {"espeak": VARIANTS}
    parsed = parse_voice_rows([["小雨", "espeak", "f3", 70, 1.1]], known=["小雨"], engine_voices=usable)
    assert parsed["小雨"] == VoiceSpec("espeak", "f3", 70, 1.1)
    with pytest.raises(ValueError, match="no voice 'zz'"):
        parse_voice_rows([["小雨", "espeak", "zz", 50, 1.0]], known=["小雨"], engine_voices=usable)
    with pytest.raises(ValueError, match="not in the character bible"):
        parse_voice_rows([["阿明", "espeak", "f3", 50, 1.0]], known=["小雨"], engine_voices=usable)
    with pytest.raises(ValueError, match="engine 'kokoro' cannot be used"):
        parse_voice_rows([["小雨", "kokoro", "zf_xiaobei", 50, 1.0]], known=["小雨"], engine_voices=usable)


# ------------------------------------------------------------------------------------------------
# a storyboard's lines: cache, timing, bad input before anything is written
# ------------------------------------------------------------------------------------------------


def drama() -> Storyboard:
    shots = [Shot(number=1, duration_s=1.5, action="灯笼一串串亮起来"),
             Shot(number=2, duration_s=1.0, speaker="奶奶", dialogue="那你给自己发年终奖没有？", kind="dialogue"),
             Shot(number=3, duration_s=1.0, speaker="小雨", dialogue="奶奶！我回来了。", kind="dialogue"),
             Shot(number=4, duration_s=1.0, speaker="旁白", dialogue="那一年，灯笼又亮了。", kind="dialogue")]
    return Storyboard(title="", language="zh", shots=shots, characters=build_bible(["奶奶", "小雨"]))


def test_changing_one_line_speaks_only_that_line_again(tmp_path):
    board = drama()
    first = speak_lines(board, cache_dir=tmp_path)
    assert first.spoken == (2, 3, 4) and first.cached == ()
    again = speak_lines(board, cache_dir=tmp_path)
    assert again.spoken == () and again.cached == (2, 3, 4)
    np.testing.assert_array_equal(again.clips[3].audio, first.clips[3].audio)
    board.shots[2].dialogue = "奶奶，我回来过年了！"
    changed = speak_lines(board, cache_dir=tmp_path)
    assert changed.spoken == (3,) and changed.cached == (2, 4)
    board.characters["奶奶"].voice_pitch = 30           # a new voice is a new line too
    assert speak_lines(board, cache_dir=tmp_path).spoken == (2,)


def test_a_bad_line_fails_before_any_line_is_spoken(tmp_path):
    board = drama()
    board.shots[1].dialogue = "おばあちゃん、ただいま！"
    with pytest.raises(ValueError, match="shot 2 .*language 'ja' cannot be spoken"):
        speak_lines(board, cache_dir=tmp_path / "cache")
    board = drama()
    board.shots[3].dialogue = "长" * 2000
    with pytest.raises(ValueError, match=f"shot 4 .*at most {MAX_LINE_CHARS}"):
        speak_lines(board, cache_dir=tmp_path / "cache")
    board = drama()
    board.characters["小雨"].voice_name = "nobody"
    with pytest.raises(ValueError, match="shot 3 .*no voice 'nobody'"):
        speak_lines(board, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_cancel_keeps_the_finished_lines(tmp_path):
    from lantern_studio.engines.jobs import Cancelled

    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled) as caught:
        speak_lines(drama(), cache_dir=tmp_path, cancel=cancel)
    assert sorted(caught.value.partial) == [2, 3]
    assert speak_lines(drama(), cache_dir=tmp_path).cached == (2, 3)


def test_a_dialogue_shot_lasts_at_least_its_line_plus_a_breath():
    board = drama()
    clips = speak_lines(board).clips
    fitted = fit_shots_to_speech(board, clips)
    for shot in fitted.shots:
        if shot.number in clips:
            assert shot.duration_s >= clips[shot.number].spoken_s + 0.35
            assert shot.duration_s < clips[shot.number].spoken_s + 0.35 + 0.15 + 0.11
    assert fitted.shots[0].duration_s == 1.5


def srt_cues(path: Path) -> list[tuple[float, float]]:
    """(start_s, end_s) of each cue, as FFmpeg's SubRip demuxer reads them."""
    cues = []
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        for packet in container.demux(stream):
            if packet.pts is not None:
                cues.append((float(packet.pts * stream.time_base),
                             float((packet.pts + packet.duration) * stream.time_base)))
    return cues


def decoded_audio(path: Path) -> tuple[np.ndarray, int]:
    """The MP4's audio track as mono float, placed by its timestamps (PyAV/FFmpeg's AAC decoder)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        pieces = []
        for frame in container.decode(stream):
            samples = frame.to_ndarray()
            pieces.append((float(frame.pts * frame.time_base), samples.reshape(samples.shape[0], -1).mean(axis=0)))
    length = int(round((pieces[-1][0] + pieces[-1][1].shape[0] / rate) * rate)) + 1
    audio = np.zeros(length)
    for start_s, samples in pieces:
        a = int(round(start_s * rate))
        if a < 0:
            samples, a = samples[-a:], 0
        audio[a:a + samples.shape[0]] = samples
    return audio, rate


def test_the_animatic_speaks_every_line_and_its_cues_match_the_speech(tmp_path):
    board = drama()
    clips = speak_lines(board).clips
    result = render_animatic(board, out_path=tmp_path / "a.mp4", srt_path=tmp_path / "a.srt", preview=True,
                             title_card_s=0, end_card_s=0, voices=clips, voices_dir=tmp_path / "voices")
    cues = srt_cues(tmp_path / "a.srt")
    assert len(cues) == 3
    audio, rate = decoded_audio(tmp_path / "a.mp4")
    hop = int(0.01 * rate)
    n = audio.shape[0] // hop
    level = np.sqrt(np.mean(audio[:n * hop].reshape(n, hop) ** 2, axis=1))
    gate = level.max() * 10 ** (-35 / 20)
    segments = [s for s in result.timeline.segments if s.shot is not None and s.shot.number in clips]
    for (cue_start_s, cue_end_s), segment in zip(cues, segments):
        # the audible speech inside this shot, by an energy gate on the decoded soundtrack
        inside = [i for i in range(int(segment.start_s * 100), min(n, int(segment.end_s * 100)))
                  if level[i] > gate]
        speech_start_s, speech_end_s = inside[0] / 100, (inside[-1] + 1) / 100
        assert abs(cue_start_s - speech_start_s) <= 0.05, (cue_start_s, speech_start_s)
        assert abs(cue_end_s - speech_end_s) <= 0.05, (cue_end_s, speech_end_s)
        # silence around each line: the first and last 100 ms of the shot are quiet
        head = level[int(segment.start_s * 100):int(segment.start_s * 100) + 10]
        assert np.all(head < gate)
    # exports: one WAV per line named by shot and speaker, and the dialogue stem
    names = sorted(p.name for p in (tmp_path / "voices").iterdir())
    assert names == ["dialogue-stem.wav", "shot-02_奶奶.wav", "shot-03_小雨.wav", "shot-04_旁白.wav"]
    line, line_rate = sf.read(tmp_path / "voices" / "shot-03_小雨.wav")
    assert line_rate == clips[3].sample_rate and line.shape[0] == clips[3].audio.shape[0]
    stem, stem_rate = sf.read(tmp_path / "voices" / "dialogue-stem.wav")
    assert stem.shape == (round(result.duration_s * stem_rate), 2) and rms(stem) > 0.01


# ------------------------------------------------------------------------------------------------
# Kokoro on a tiny graph of the real layout
# ------------------------------------------------------------------------------------------------


def test_kokoro_names_the_folder_and_files_when_they_are_missing(tmp_path):
    status = KokoroEngine(tmp_path).available()
    assert not status.ready
    assert str(tmp_path / "kokoro") in status.message
    assert "kokoro-v1.0.onnx" in status.message and "voices-v1.0.bin" in status.message
    with pytest.raises(FileNotFoundError, match="voices-v1.0.bin"):
        KokoroEngine(tmp_path).speak("你好", voice=VoiceSpec("kokoro", "zf_xiaobei"), language="zh")


def test_kokoro_loads_from_the_models_folder_and_speaks_each_voice(tmp_path):
    from kokoro_tiny import build_tiny_kokoro

    build_tiny_kokoro(tmp_path / "kokoro", {"zf_xiaobei": 240.0, "zm_yunxi": 110.0, "af_heart": 200.0})
    engine = KokoroEngine(tmp_path)
    assert engine.available().ready
    assert engine.voices("zh") == ("zf_xiaobei", "zm_yunxi")
    line = "三年没回来了"
    her = engine.speak(line, voice=VoiceSpec("kokoro", "zf_xiaobei"), language="zh")
    him = engine.speak(line, voice=VoiceSpec("kokoro", "zm_yunxi"), language="zh")
    assert median_f0_hz(her.audio, her.sample_rate) == pytest.approx(240.0, rel=0.03)
    assert median_f0_hz(him.audio, him.sample_rate) == pytest.approx(110.0, rel=0.03)
    longer = engine.speak(line * 3, voice=VoiceSpec("kokoro", "zm_yunxi"), language="zh")
    assert longer.duration_s > 2.5 * him.duration_s
    with pytest.raises(ValueError, match="no voice 'zf_nobody'"):
        engine.speak(line, voice=VoiceSpec("kokoro", "zf_nobody"), language="zh")
    with pytest.raises(ValueError, match="no pitch control"):
        engine.speak(line, voice=VoiceSpec("kokoro", "zf_xiaobei", pitch=70), language="zh")


@pytest.mark.weights
def test_kokoro_real_weights_speak_mandarin_in_two_distinct_voices():
    import os

    from lantern_studio.engines.settings import Settings

    if os.environ.get("LANTERN_TEST_WEIGHTS") != "1":
        pytest.skip("real Kokoro weights are opt-in: set LANTERN_TEST_WEIGHTS=1 with the files in the models folder")
    engine = KokoroEngine(Settings.resolve(None).models_dir)
    status = engine.available()
    if not status.ready:
        pytest.skip(status.message)
    line = "三年没回来了，奶奶的灯笼还亮着。"
    her = engine.speak(line, voice=VoiceSpec("kokoro", "zf_xiaobei"), language="zh")
    him = engine.speak(line, voice=VoiceSpec("kokoro", "zm_yunxi"), language="zh")
    for clip in (her, him):
        assert 1.5 < clip.spoken_s < 8.0 and 0.02 < rms(clip.audio) < 0.5
    assert median_f0_hz(her.audio, her.sample_rate) > 1.3 * median_f0_hz(him.audio, him.sample_rate)


def test_the_doctor_reports_both_speech_engines(tmp_path):
    from kokoro_tiny import build_tiny_kokoro

    from lantern_studio.engines.doctor import collect
    from lantern_studio.engines.settings import Settings

    settings = Settings.resolve(None, environ={"LANTERN_HOME": str(tmp_path)})
    findings = {f.topic: f for f in collect(settings)}
    assert findings["voices: eSpeak NG"].ok and "Mandarin" in findings["voices: eSpeak NG"].detail
    kokoro = findings["voices: Kokoro"]
    assert not kokoro.ok and str(settings.models_dir / "kokoro") in kokoro.detail
    build_tiny_kokoro(settings.models_dir / "kokoro", {"zf_xiaobei": 240.0})
    assert {f.topic: f for f in collect(settings)}["voices: Kokoro"].ok


def test_a_dual_dialogue_speaks_both_voices_at_once(tmp_path):
    from lantern_studio.engines.story.voices import write_line_files

    bible = build_bible(["奶奶", "小雨"])
    apart = Storyboard(language="zh", characters=bible, shots=[
        Shot(number=1, speaker="奶奶", dialogue="新年好！", kind="dialogue"),
        Shot(number=2, speaker="小雨", dialogue="奶奶新年快乐，身体健康！", kind="dialogue")])
    alone = speak_lines(apart, cache_dir=tmp_path).clips            # each line on its own, into the cache
    together = Storyboard(language="zh", characters=bible, shots=[
        Shot(number=1, speaker="奶奶", dialogue="新年好！", dual_speaker="小雨", dual_dialogue="奶奶新年快乐，身体健康！",
             kind="dialogue")])
    spoken = speak_lines(together, cache_dir=tmp_path)
    assert spoken.spoken == () and spoken.cached == (1, 1)
    both = spoken.clips[1]
    first, second = alone[1], alone[2]
    expected = np.zeros(max(first.audio.size, second.audio.size), np.float32)
    expected[:first.audio.size] += first.audio
    expected[:second.audio.size] += second.audio
    expected /= max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(both.audio, expected, atol=1e-6)
    assert both.speech_end_s == pytest.approx(max(first.speech_end_s, second.speech_end_s))
    assert [p.name for p in write_line_files(together, spoken.clips, tmp_path / "voices")] == ["shot-01_奶奶+小雨.wav"]
