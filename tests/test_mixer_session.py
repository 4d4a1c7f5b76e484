"""The mixer's stem session: mixing against the mix kernel's numpy reference, mute/solo/ducking, mastering
measured by pyloudnorm, exports read back by soundfile/mido/zipfile, and bad uploads refused with nothing
lost."""

from __future__ import annotations

import io
import json
import zipfile

import mido
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from lantern_studio.engines.audio.ingest import AudioInputError, read_audio_file
from lantern_studio.engines.audio.session import MasterSettings, StemSession
from lantern_studio.engines.audio.sfx import firecrackers
from lantern_studio.engines.audio.stem_export import export_session
from lantern_studio.engines.music.base import Take
from lantern_studio.kernels import dsp
from lantern_studio.kernels.mix import Ducking, Stem, mix

SR = 48_000


def _tone(freq_hz: float, seconds: float, level: float, *, stereo: bool = True, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (level * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.stack([x, 0.8 * x], axis=1) if stereo else x


def _midi_bytes() -> bytes:
    song = mido.MidiFile()
    track = mido.MidiTrack()
    song.tracks.append(track)
    track += [mido.Message("note_on", note=60, velocity=90, time=0), mido.Message("note_off", note=60, time=480)]
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


@pytest.fixture
def take() -> Take:
    stems = {"melody": _tone(660, 4, 0.3), "drum": _tone(110, 4, 0.4), "voice": _tone(1500, 4, 0.0, stereo=False)}
    stems["voice"][SR:2 * SR] = 0.5 * np.sin(2 * np.pi * 1500 * np.arange(SR) / SR)   # the key plays 1-2 s
    audio = sum(np.atleast_2d(s.T).T if s.ndim == 2 else np.stack([s, s], 1) for s in stems.values())
    return Take(engine="composer", seed=321, sample_rate=SR, audio=np.asarray(audio, np.float32), preset="lion-dance",
                name="Lion dance 灯", stems=stems, midi=_midi_bytes(), params={"tempo_bpm": 120})


def test_session_mix_equals_the_mix_kernel_reference(take):
    session = StemSession.from_take(take)
    assert session.names() == ["melody", "drum", "voice"]
    session.set_stem("melody", gain_db=-3.0, pan=-0.5)
    session.set_stem("drum", mute=True)
    session.set_stem("voice", offset_s=0.25)
    bus = session.mix_bus(backend="cpu")
    oracle = mix([Stem(take.stems["melody"], gain_db=-3.0, pan=-0.5), Stem(take.stems["drum"], mute=True),
                  Stem(take.stems["voice"], offset_s=0.25)], sample_rate=SR, backend="reference")
    assert bus.shape == oracle.shape == (int(4.25 * SR), 2)
    np.testing.assert_allclose(bus, oracle, atol=1e-5)
    # muting the drum is the same as leaving it out
    without = mix([Stem(take.stems["melody"], gain_db=-3.0, pan=-0.5), Stem(take.stems["voice"], offset_s=0.25)],
                  sample_rate=SR, length_s=4.25, backend="reference")
    np.testing.assert_allclose(bus, without, atol=1e-5)


def test_solo_and_ducking_follow_the_key(take):
    session = StemSession.from_take(take)
    session.set_stem("drum", solo=True)
    solo_bus = session.mix_bus(backend="cpu")
    np.testing.assert_allclose(solo_bus, mix([Stem(take.stems["drum"])], sample_rate=SR, backend="reference"), atol=1e-5)
    session.set_stem("drum", solo=False)
    plain = session.mix_bus(backend="cpu")
    session.set_master(duck_key="voice", duck_depth_db=-12.0)
    ducked = session.mix_bus(backend="cpu")
    oracle = mix([Stem(take.stems[n]) for n in ("melody", "drum", "voice")], sample_rate=SR,
                 ducking=Ducking(key=2, targets=(0, 1), depth_db=-12.0), backend="reference")
    np.testing.assert_allclose(ducked, oracle, atol=1e-5)
    # while the key plays the other stems are lower; before it they are untouched
    before = slice(int(0.2 * SR), int(0.9 * SR))
    np.testing.assert_allclose(ducked[before], plain[before], atol=1e-5)
    melody_only = StemSession.from_take(take)
    melody_only.set_master(duck_key="voice", duck_depth_db=-12.0)
    alone = melody_only.mix_bus(backend="cpu", only="melody")
    window = slice(int(1.5 * SR), int(1.9 * SR))
    undisturbed = mix([Stem(take.stems["melody"])], sample_rate=SR, backend="reference")
    ratio_db = 20 * np.log10(np.sqrt(np.mean(alone[window] ** 2)) / np.sqrt(np.mean(undisturbed[window] ** 2)))
    assert ratio_db == pytest.approx(-12.0, abs=0.5)
    with pytest.raises(ValueError, match="no stem named"):
        session.set_master(duck_key="bass")


@pytest.mark.parametrize("target_lufs", [-14.0, -20.0])
def test_render_meets_the_master_target_by_pyloudnorm(take, target_lufs):
    session = StemSession.from_take(take)
    result = session.render(master=MasterSettings(target_lufs=target_lufs, ceiling_dbtp=-1.0))
    assert result.audio.shape == (4 * SR, 2) and result.audio.dtype == np.float32
    assert abs(pyloudnorm.Meter(SR).integrated_loudness(result.audio.astype(np.float64)) - target_lufs) <= 0.2
    assert result.integrated_lufs == pytest.approx(dsp.integrated_loudness(result.audio, SR), abs=1e-6)
    assert result.true_peak_dbtp <= -1.0 + 0.1
    assert result.short_term_max_lufs >= result.integrated_lufs - 0.5


def test_silent_mix_is_refused(take):
    session = StemSession.from_take(take)
    for name in session.names():
        session.set_stem(name, mute=True)
    with pytest.raises(ValueError, match="silent"):
        session.render()


def _write(path, audio, sr, **kw):
    sf.write(str(path), audio, sr, **kw)
    return path


def test_added_files_mono_resampled_and_refused(tmp_path, take):
    session = StemSession.from_take(take)
    names_before = session.names()
    # mono file: kept as a mono stem, with a note
    stem, note = session.add_file(_write(tmp_path / "bell.wav", _tone(880, 1.0, 0.3, stereo=False), SR))
    assert stem.channels == 1 and "mono" in note
    # 44.1 kHz file: resampled, length and pitch preserved
    src = _tone(1000, 2.0, 0.5, sr=44_100)
    stem, note = session.add_file(_write(tmp_path / "cd.flac", src, 44_100), display_name="cd quality.flac")
    assert "44100 Hz to 48000 Hz" in note and stem.name == "cd quality"
    assert stem.audio.shape == (2 * SR, 2)
    spectrum = np.abs(np.fft.rfft(stem.audio[:, 0] * np.hanning(stem.audio.shape[0])))
    assert np.fft.rfftfreq(stem.audio.shape[0], 1 / SR)[np.argmax(spectrum)] == pytest.approx(1000, abs=1)
    count = len(session.stems)
    # refusals leave the session exactly as it was
    with pytest.raises(AudioInputError, match="48000 Hz"):
        session.add_file(tmp_path / "cd.flac", resample=False)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is a shopping list, not a song\n" * 20)
    with pytest.raises(AudioInputError, match="WAV"):
        session.add_file(not_audio)
    pdf = tmp_path / "score.mp3"
    pdf.write_bytes(b"%PDF-1.7\n" + b"0" * 2000)
    with pytest.raises(AudioInputError, match="(?i)pdf|not a recognised"):
        session.add_file(pdf)
    surround = _write(tmp_path / "surround.wav", np.zeros((SR, 6), dtype=np.float32), SR)
    with pytest.raises(AudioInputError, match="6 channels"):
        session.add_file(surround)
    assert len(session.stems) == count and session.names()[:3] == names_before


def test_a_two_hour_upload_is_refused_before_decoding(tmp_path, take):
    # a genuine 2-hour FLAC of silence (small on disk); refused from its header with the limit in the message
    path = tmp_path / "two-hours.flac"
    block = np.zeros(8000 * 60, dtype=np.int16)
    with sf.SoundFile(str(path), "w", samplerate=8000, channels=1, format="FLAC", subtype="PCM_16") as out:
        for _ in range(120):
            out.write(block)
    assert sf.info(str(path)).duration == 7200
    session = StemSession.from_take(take)
    with pytest.raises(AudioInputError, match=r"2:00:00 long.*15:00"):
        session.add_file(path)
    assert len(session.stems) == 3


def test_export_writes_every_format_named_by_take_and_seed(tmp_path, take):
    session = StemSession.from_take(take)
    session.set_stem("drum", mute=True)
    result = export_session(session, tmp_path / "out", formats=("wav", "flac", "mp3"),
                            master=MasterSettings(target_lufs=-16.0))
    names = {p.name for p in result.files}
    base = "Lion-dance-灯_seed321"
    for fmt in ("wav", "flac", "mp3"):
        assert f"{base}_mix.{fmt}" in names
        assert f"{base}_stem-melody.{fmt}" in names and f"{base}_stem-voice.{fmt}" in names
        assert f"{base}_stem-drum.{fmt}" not in names          # muted stems are not exported
    assert f"{base}.mid" in names and f"{base}_recipe.json" in names
    meter = pyloudnorm.Meter(SR)
    for fmt, subtype in (("wav", "PCM_24"), ("flac", "PCM_24"), ("mp3", None)):
        path = result.folder / f"{base}_mix.{fmt}"
        info = sf.info(str(path))
        assert info.channels == 2 and info.samplerate == SR
        audio, _ = sf.read(str(path), dtype="float64", always_2d=True)
        assert abs(audio.shape[0] / SR - 4.0) < (0.08 if fmt == "mp3" else 1e-9)   # MP3 adds encoder padding
        assert abs(meter.integrated_loudness(audio) + 16.0) <= (0.3 if fmt == "mp3" else 0.2)
        if subtype:
            assert info.subtype == subtype
    # stems at the master gain sum back to the (unlimited) mix
    stems_sum = sum(sf.read(str(result.folder / f"{base}_stem-{n}.wav"), always_2d=True)[0] for n in ("melody", "voice"))
    mixed = sf.read(str(result.folder / f"{base}_mix.wav"), always_2d=True)[0]
    assert np.max(np.abs(stems_sum - mixed)) < 0.02
    assert mido.MidiFile(str(result.folder / f"{base}.mid")).length > 0
    recipe = json.loads(result.recipe_path.read_text(encoding="utf-8"))
    assert recipe["seed"] == 321 and recipe["take_recipe"]["preset"] == "lion-dance"
    assert [s["name"] for s in recipe["stems"]] == ["melody", "drum", "voice"] and recipe["stems"][1]["mute"] is True
    assert recipe["meter"]["integrated_lufs"] == pytest.approx(-16.0, abs=0.1)
    with zipfile.ZipFile(result.zip_path) as archive:
        assert sorted(archive.namelist()) == sorted(names)
        assert archive.testzip() is None
    with pytest.raises(ValueError, match="ogg"):
        export_session(session, tmp_path / "bad", formats=("ogg",))


def test_session_saves_and_loads_with_added_audio(tmp_path, take):
    session = StemSession.from_take(take)
    session.add_stem("crackers", firecrackers(sample_rate=SR, seed=4, duration_s=1.0), source="sfx", offset_s=1.5)
    session.set_stem("melody", gain_db=-4.5, pan=0.25, solo=True)
    session.set_master(duck_key="voice", duck_targets=("melody",), duck_depth_db=-6.0, target_lufs=-18.0)
    session.save(tmp_path / "s")
    again = StemSession.load(tmp_path / "s")
    assert again.to_dict() == session.to_dict()
    assert again.midi == session.midi
    np.testing.assert_array_equal(again.mix_bus(backend="cpu"), session.mix_bus(backend="cpu"))


def test_firecrackers_are_seeded_stereo_one_shots():
    a = firecrackers(sample_rate=SR, seed=1, duration_s=2.0)
    assert a.shape == (2 * SR, 2) and a.dtype == np.float32
    assert np.max(np.abs(a)) == pytest.approx(0.8, abs=1e-6)
    np.testing.assert_array_equal(a, firecrackers(sample_rate=SR, seed=1, duration_s=2.0))
    assert not np.array_equal(a, firecrackers(sample_rate=SR, seed=2, duration_s=2.0))
    assert not np.allclose(a[:, 0], a[:, 1])          # spread in space


def test_read_audio_file_rejects_nan_and_empty(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioInputError, match="empty"):
        read_audio_file(empty, sample_rate=SR)
    bad = _tone(440, 1.0, 0.1)
    bad[10] = np.nan
    path = _write(tmp_path / "nan.wav", bad, SR, subtype="FLOAT")
    with pytest.raises(AudioInputError, match="NaN"):
        read_audio_file(path, sample_rate=SR)
