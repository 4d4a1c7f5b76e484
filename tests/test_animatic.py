"""The animatic export: decoded MP4 properties, SRT timing, frames against the composite kernel and
OpenCV, ducking depth, the per-shot cache, and bad input (no panel, 0 s, bad music, full disk, cancel).

Oracles: PyAV/FFmpeg decode the MP4 and parse the SRT, ``kernels.composite``'s numpy reference and
OpenCV's ``warpAffine`` draw the expected frame from a camera matrix computed here, pyloudnorm measures
loudness. Renders are short and mostly at preview size so the file stays fast.
"""

from __future__ import annotations

import errno
import math
import resource
import signal
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pyloudnorm
import pytest
from PIL import Image, ImageDraw

from lantern_studio.engines.jobs import Cancelled
from lantern_studio.engines.story.animatic import render_animatic
from lantern_studio.engines.story.encode import DiskFullError
from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_studio.engines.story.soundtrack import build_soundtrack, dialogue_files_by_shot
from lantern_studio.engines.story.timeline import build_timeline

FPS = 24


def make_panel(number: int, size=(300, 520)) -> Image.Image:
    """A smooth, hand-readable test panel: a vertical gradient, a grid and a disc; colours per shot."""
    w, h = size
    ramp = np.linspace(0, 1, h)[:, None, None]
    base = np.array([40 + 50 * number, 90, 160 - 30 * number], float)
    rgb = (base * (0.6 + 0.4 * ramp)).repeat(w, axis=1)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for x in range(0, w, w // 6):
        draw.line([(x, 0), (x, h)], fill=(230, 230, 230), width=3)
    for y in range(0, h, h // 8):
        draw.line([(0, y), (w, y)], fill=(250, 200, 40), width=3)
    draw.ellipse([w * 0.3, h * 0.35, w * 0.7, h * 0.6], fill=(200, 40, 40))
    return image


def board(*shots: Shot, title: str = "") -> Storyboard:
    return Storyboard(title=title, language="zh", shots=list(shots))


def three_shots() -> Storyboard:
    return board(Shot(number=1, move="push_in", duration_s=1.0, speaker="小雨", dialogue="三年没回来了……"),
                 Shot(number=2, move="pan_left", duration_s=1.0, transition="dissolve", action="窗户亮着"),
                 Shot(number=3, move="static", duration_s=0.75, speaker="奶奶", dialogue="谁呀？门没锁。"))


def panels_for(storyboard: Storyboard) -> dict[int, Image.Image]:
    return {shot.number: make_panel(shot.number) for shot in storyboard.shots}


def music_clip(seconds=1.3, sample_rate=44_100, seed=0):
    """Stationary noise (steady loudness) at 44.1 kHz, so the soundtrack resamples and loops it."""
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((int(seconds * sample_rate), 2))).astype(np.float32), sample_rate


def decode_frames(path: Path) -> list[np.ndarray]:
    """Decoded RGB frames: FFmpeg's H.264 decoder, then OpenCV's exact BT.601 limited-range YUV -> RGB
    (swscale's default fast path is off by up to 2 levels, which would blur the PSNR oracle)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.colorspace == 6      # tagged with the matrix the encoder used (BT.601)
        return [cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)
                for frame in container.decode(video=0)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def expected_frames(storyboard: Storyboard, fps=FPS) -> list[int]:
    return [max(1, round(shot.duration_s * fps)) for shot in storyboard.shots]


def no_partials(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.startswith(".partial")]


# ----------------------------------------------------------------------------------------------------


def test_mp4_decodes_with_expected_size_frames_fps_and_audio(tmp_path):
    sb = three_shots()
    out = tmp_path / "a.mp4"
    seen = []
    result = render_animatic(sb, out_path=out, panels=panels_for(sb), music=music_clip(), preview=True,
                             end_card_s=0.0, srt_path=tmp_path / "a.srt", gif_path=tmp_path / "a.gif",
                             progress=lambda f, m: seen.append(f))
    frames = sum(expected_frames(sb))
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert audio.codec_context.name == "aac"
        assert (video.codec_context.width, video.codec_context.height) == (360, 640)
        assert video.average_rate == FPS
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == frames == result.frames
    assert result.duration_s == pytest.approx(frames / FPS)
    # the audio decodes to the video's length (AAC adds at most one 1024-sample frame of priming)
    with av.open(str(out)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
        rate = container.streams.audio[0].sample_rate
    assert samples / rate == pytest.approx(frames / FPS, abs=2048 / rate)
    head = out.read_bytes()[:200_000]
    assert 0 <= head.find(b"moov") < head.find(b"mdat")       # index first: browsers play while downloading
    assert seen and seen[-1] == 1.0 and all(b >= a for a, b in zip(seen, seen[1:]))
    gif = Image.open(tmp_path / "a.gif")
    assert gif.size == (270, 480)
    gif_ms = 0
    for i in range(gif.n_frames):   # PIL merges repeated frames into longer ones: count time, not frames
        gif.seek(i)
        gif_ms += gif.info["duration"]
    assert gif_ms / 1000 == pytest.approx(frames / FPS, abs=0.11)
    assert no_partials(tmp_path)


@pytest.mark.parametrize("fmt,size,fps", [("9:16", (1080, 1920), 24), ("16:9", (1920, 1080), 25),
                                          ("1:1", (1080, 1080), 30)])
def test_full_size_formats_and_frame_rates(tmp_path, fmt, size, fps):
    sb = board(Shot(number=1, move="push_in", duration_s=0.2))
    out = tmp_path / "f.mp4"
    render_animatic(sb, out_path=out, panels=panels_for(sb), format=fmt, fps=fps, end_card_s=0.0)
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == size
        assert video.average_rate == fps
        assert sum(1 for _ in container.decode(video=0)) == round(0.2 * fps)


def srt_cues(path: Path) -> list[tuple[int, int, str]]:
    """(start_ms, end_ms, text) of each cue, as FFmpeg's SubRip demuxer reads them."""
    cues = []
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            for sub in packet.decode():
                text = sub.dialogue.decode("utf-8") if isinstance(sub.dialogue, bytes) else str(sub.dialogue)
                cues.append((int(packet.pts * stream.time_base * 1000),
                             int((packet.pts + packet.duration) * stream.time_base * 1000), text))
    return cues


def test_srt_parses_and_cues_match_shot_timing(tmp_path):
    sb = three_shots()
    long_line = "奶奶，是我！我回来了，外面下着大雪，好冷啊。您身体还好吗？我给您带了好多好多的年货，还有您最爱吃的点心。"
    sb.shots.append(Shot(number=4, duration_s=3.0, speaker="小雨", dialogue=long_line))
    result = render_animatic(sb, out_path=tmp_path / "s.mp4", panels=panels_for(sb), preview=True, title_card_s=0,
                             end_card_s=0, srt_path=tmp_path / "s.srt")
    cues = srt_cues(tmp_path / "s.srt")
    frames = expected_frames(sb)
    starts = np.concatenate([[0], np.cumsum(frames)])
    ms = lambda frame: round(frame * 1000 / FPS)  # noqa: E731
    # shot 1 and shot 3 each one cue spanning the shot; shot 2 has no dialogue
    assert cues[0] == (ms(starts[0]), ms(starts[1]), "三年没回来了……")
    assert cues[1] == (ms(starts[2]), ms(starts[3]), "谁呀？门没锁。")
    # the long line is split into several cues that tile shot 4 exactly, in reading order
    rest = cues[2:]
    assert len(rest) >= 2 and result.cues == len(cues)
    assert rest[0][0] == ms(starts[3]) and rest[-1][1] == ms(starts[4])
    assert all(a[1] == b[0] for a, b in zip(rest, rest[1:]))
    assert "".join(text.replace("\\N", "").replace("\n", "") for _, _, text in rest) == long_line


def cover_matrix(panel_wh, frame_wh, zoom):
    """Independent camera: scale to cover the frame times ``zoom``, centres aligned (pixel-centre convention)."""
    (pw, ph), (fw, fh) = panel_wh, frame_wh
    k = max(fw / pw, fh / ph) * zoom
    return np.array([[k, 0, fw / 2 - k * pw / 2], [0, k, fh / 2 - k * ph / 2]])


def test_mid_shot_frame_matches_composite_kernel_and_opencv(tmp_path):
    from lantern_studio.kernels.composite import Layer, composite

    sb = board(Shot(number=1, move="push_in", duration_s=0.5))
    panel = make_panel(1, size=(900, 1600))
    out = tmp_path / "p.mp4"
    render_animatic(sb, out_path=out, panels={1: panel}, end_card_s=0.0)
    frames = decode_frames(out)
    n = len(frames)
    k = n // 2
    # sine ease-in-out over the shot; the last frame reaches the end zoom of 1.18
    progress = k / (n - 1)
    zoom = 1 + 0.18 * (0.5 - 0.5 * math.cos(math.pi * progress))
    matrix = cover_matrix(panel.size, (1080, 1920), zoom)
    rgba = np.asarray(panel.convert("RGBA"))
    expected = composite(np.zeros((1920, 1080, 3), np.uint8), [Layer(rgba, matrix)], backend="reference")
    assert psnr(frames[k], expected) >= 35.0
    # OpenCV puts pixel centres on integers: shift the translation accordingly
    cv_matrix = matrix.copy()
    cv_matrix[:, 2] += matrix[:, :2] @ [0.5, 0.5] - 0.5
    warped = cv2.warpAffine(np.asarray(panel.convert("RGB")), cv_matrix, (1080, 1920), flags=cv2.INTER_LINEAR)
    assert psnr(frames[k], warped) >= 35.0
    # and the motion is real: the first and last frames differ from the middle one
    assert psnr(frames[0], frames[k]) < 30.0


def loudness(audio: np.ndarray, sample_rate: int, a_s: float, b_s: float) -> float:
    return pyloudnorm.Meter(sample_rate).integrated_loudness(audio[int(a_s * sample_rate):int(b_s * sample_rate)])


@pytest.mark.parametrize("depth_db", [-12.0, -6.0])
def test_music_is_ducked_by_the_set_depth_under_dialogue(depth_db):
    sb = board(Shot(number=1, duration_s=3.0),
               Shot(number=2, duration_s=3.0, speaker="奶奶", dialogue="那你给自己发年终奖没有？"))
    timeline = build_timeline(sb, width=360, height=640, fps=FPS, title_card_s=0, end_card_s=0)
    track = build_soundtrack(timeline, music=music_clip(), ducking_db=depth_db, music_fade_out_s=0.3)
    rate = track.sample_rate
    assert track.audio.shape == (6 * rate, 2) and track.music.shape == track.audio.shape
    (start_s, end_s), = track.dialogue_spans_s
    assert start_s == pytest.approx(3.15, abs=1e-3) and end_s - start_s > 1.6
    open_music = loudness(track.music, rate, 1.4, 2.8)                 # after the fade-in, before dialogue
    ducked_music = loudness(track.music, rate, start_s + 0.3, end_s - 0.1)
    assert ducked_music - open_music == pytest.approx(depth_db, abs=1.0)
    # the whole mix is normalised to -16 LUFS
    assert pyloudnorm.Meter(rate).integrated_loudness(track.audio.astype(np.float64)) == pytest.approx(-16.0, abs=1.0)


def tone(seconds: float, hz: float, sample_rate: int = 48_000) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def peak_hz(audio: np.ndarray, sample_rate: int) -> float:
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
    return float(np.fft.rfftfreq(mono.size, 1 / sample_rate)[np.argmax(spectrum)])


def test_a_recorded_line_replaces_the_placeholder_and_the_music_dips_under_it(tmp_path):
    import soundfile as sf

    sb = board(Shot(number=1, duration_s=2.0, action="灯笼亮了"),
               Shot(number=2, duration_s=3.0, speaker="奶奶", dialogue="那你给自己发年终奖没有？"),
               Shot(number=3, duration_s=1.5, speaker="小雨", dialogue="奶奶！"))
    timeline = build_timeline(sb, width=360, height=640, fps=FPS, title_card_s=0, end_card_s=0)
    sf.write(tmp_path / "Shot 02 grandma.wav", tone(1.5, 1000.0), 48_000)
    recorded = dialogue_files_by_shot([tmp_path / "Shot 02 grandma.wav"])
    assert recorded == {2: tmp_path / "Shot 02 grandma.wav"}
    track = build_soundtrack(timeline, music=music_clip(), ducking_db=-12.0, dialogue_audio=recorded,
                             music_fade_out_s=0.3)
    rate = track.sample_rate
    (a2, b2), (a3, b3) = track.dialogue_spans_s
    assert a2 == pytest.approx(2.15, abs=1e-3) and b2 - a2 == pytest.approx(1.5, abs=1e-3)  # the file, as recorded
    assert a3 == pytest.approx(5.15, abs=1e-3)                  # shot 3: a placeholder voice
    voice = track.audio - track.music
    assert peak_hz(voice[int((a2 + 0.1) * rate):int((b2 - 0.1) * rate)], rate) == pytest.approx(1000.0, abs=5.0)
    assert peak_hz(voice[int((a3 + 0.1) * rate):int((b3 - 0.1) * rate)], rate) != pytest.approx(1000.0, abs=5.0)
    ducked = loudness(track.music, rate, a2 + 0.3, b2 - 0.1)
    open_music = loudness(track.music, rate, 1.0, 1.95)          # after the fade-in, before the line
    assert ducked - open_music == pytest.approx(-12.0, abs=1.0)


def test_dialogue_files_are_matched_to_shots_by_name(tmp_path):
    names = ["shot-3.wav", "Shot_04 grandma.flac", "7.mp3", "take2 shot10.wav", "scene1-shot-012.ogg"]
    assert {n: p.name for n, p in dialogue_files_by_shot(names).items()} == {
        3: "shot-3.wav", 4: "Shot_04 grandma.flac", 7: "7.mp3", 10: "take2 shot10.wav", 12: "scene1-shot-012.ogg"}
    with pytest.raises(ValueError, match=r"'grandma.wav' does not say which shot.*shot-3.wav"):
        dialogue_files_by_shot(["grandma.wav"])
    with pytest.raises(ValueError, match=r"two dialogue files are for shot 3: 'shot-3.wav' and '03.flac'"):
        dialogue_files_by_shot(["shot-3.wav", "03.flac"])
    # a file for a shot the storyboard does not have is refused by the soundtrack, naming the shots
    timeline = build_timeline(board(Shot(number=1, duration_s=1.0, dialogue="一")), width=360, height=640, fps=FPS,
                              title_card_s=0, end_card_s=0)
    with pytest.raises(ValueError, match=r"shot\(s\) \[9\], which are not in the storyboard"):
        build_soundtrack(timeline, dialogue_audio={9: (tone(0.5, 440.0), 48_000)})


def test_changing_one_shot_rerenders_only_that_shot(tmp_path):
    sb = board(Shot(number=1, move="push_in", duration_s=0.5, dialogue="一"),
               Shot(number=2, move="static", duration_s=0.5, dialogue="二"),
               Shot(number=3, move="shake", duration_s=0.5, dialogue="三"),
               Shot(number=4, move="pan_right", duration_s=0.5, transition="dissolve"), title="年夜饭")
    panels = panels_for(sb)
    cache = tmp_path / "cache"
    options = dict(panels=panels, preview=True, cache_dir=cache, music=music_clip())
    first = render_animatic(sb, out_path=tmp_path / "1.mp4", **options)
    assert first.frames_rendered == first.frames and first.frames_cached == 0
    again = render_animatic(sb, out_path=tmp_path / "1b.mp4", **options)
    assert again.frames_rendered == 0 and again.frames_cached == again.frames

    # shot 2 is entered and left by cuts: only its 12 frames are drawn again
    sb.shots[1].dialogue = "二二"
    second = render_animatic(sb, out_path=tmp_path / "2.mp4", **options)
    assert second.shots_rendered == (2,)
    assert second.frames_rendered == expected_frames(sb)[1]
    a, b = decode_frames(tmp_path / "1.mp4"), decode_frames(tmp_path / "2.mp4")
    start = second.timeline.segments[2].start_frame       # title card, shot 1, then shot 2
    end = second.timeline.segments[2].end_frame
    assert len(a) == len(b) == first.frames
    assert all(np.array_equal(x, y) for x, y in zip(a[:start], b[:start]))
    assert all(np.array_equal(x, y) for x, y in zip(a[end:], b[end:]))
    assert not np.array_equal(a[start + 3], b[start + 3])

    # shot 4 is entered by a dissolve from shot 3: changing shot 3 also redraws shot 4's dissolve frames
    sb.shots[2].move = "push_in"
    third = render_animatic(sb, out_path=tmp_path / "3.mp4", **options)
    segment4 = third.timeline.segments[4]
    assert segment4.transition_frames > 0
    assert third.frames_rendered == expected_frames(sb)[2] + segment4.transition_frames
    assert third.shots_rendered == (3, 4)


def test_shot_without_panel_is_refused(tmp_path):
    sb = three_shots()
    panels = panels_for(sb)
    del panels[2]
    with pytest.raises(ValueError, match="shot 2 has no panel"):
        render_animatic(sb, out_path=tmp_path / "x.mp4", panels=panels, preview=True)
    assert not (tmp_path / "x.mp4").exists()


def test_zero_duration_is_refused(tmp_path):
    sb = three_shots()
    sb.shots[1].duration_s = 0.0
    with pytest.raises(ValueError, match="shot 2: duration must be more than 0"):
        render_animatic(sb, out_path=tmp_path / "x.mp4", panels=panels_for(sb), preview=True)
    assert not (tmp_path / "x.mp4").exists()


def test_undecodable_music_is_refused_before_rendering(tmp_path):
    bad = tmp_path / "take.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    sb = three_shots()
    with pytest.raises(ValueError, match="could not be decoded"):
        render_animatic(sb, out_path=tmp_path / "x.mp4", panels=panels_for(sb), preview=True, music=bad)
    assert not (tmp_path / "x.mp4").exists()


class _FileSizeLimit:
    """Make every write past ``limit_bytes`` fail with EFBIG, as a full disk would fail it (restored after)."""

    def __init__(self, limit_bytes: int):
        self.limit = limit_bytes

    def __enter__(self):
        self.saved = resource.getrlimit(resource.RLIMIT_FSIZE)
        self.handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.limit, self.saved[1]))

    def __exit__(self, *exc):
        resource.setrlimit(resource.RLIMIT_FSIZE, self.saved)
        signal.signal(signal.SIGXFSZ, self.handler)


def test_full_disk_leaves_no_file_under_the_final_name(tmp_path):
    sb = three_shots()
    options = dict(panels=panels_for(sb), preview=True, music=music_clip(), cache_dir=tmp_path / "cache")
    # 1) the disk fills while encoding the parts
    with _FileSizeLimit(20_000):
        with pytest.raises(DiskFullError, match="disk is full") as caught:
            render_animatic(sb, out_path=tmp_path / "out" / "a.mp4", srt_path=tmp_path / "out" / "a.srt", **options)
    assert caught.value.errno in (errno.EFBIG, errno.ENOSPC)
    assert not (tmp_path / "out" / "a.mp4").exists() and not (tmp_path / "out" / "a.srt").exists()
    assert no_partials(tmp_path)
    # 2) every part is cached and the disk fills while writing the final MP4
    render_animatic(sb, out_path=tmp_path / "ok.mp4", **options)
    size = (tmp_path / "ok.mp4").stat().st_size
    with _FileSizeLimit(size // 2):
        with pytest.raises(DiskFullError, match="free some space"):
            render_animatic(sb, out_path=tmp_path / "out" / "b.mp4", **options)
    assert not (tmp_path / "out" / "b.mp4").exists()
    assert no_partials(tmp_path)


def test_cancel_stops_and_writes_nothing(tmp_path):
    sb = three_shots()
    stop = threading.Event()
    calls = []

    def progress(fraction, message):
        calls.append(fraction)
        if fraction > 0.3:
            stop.set()

    with pytest.raises(Cancelled):
        render_animatic(sb, out_path=tmp_path / "c.mp4", panels=panels_for(sb), preview=True, cancel=stop,
                        progress=progress, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "c.mp4").exists()
    assert no_partials(tmp_path)
    # finished parts stay usable: the next render takes them from the cache
    result = render_animatic(sb, out_path=tmp_path / "c.mp4", panels=panels_for(sb), preview=True,
                             cache_dir=tmp_path / "cache")
    assert result.frames_cached > 0 and result.frames_rendered + result.frames_cached == result.frames


def test_bad_options_are_refused(tmp_path):
    sb = three_shots()
    panels = panels_for(sb)
    with pytest.raises(ValueError, match="format"):
        render_animatic(sb, out_path=tmp_path / "x.mp4", panels=panels, format="4:3")
    with pytest.raises(ValueError, match="fps"):
        render_animatic(sb, out_path=tmp_path / "x.mp4", panels=panels, fps=60)
    with pytest.raises(ValueError, match=r"\.mp4"):
        render_animatic(sb, out_path=tmp_path / "x.mov", panels=panels)
    with pytest.raises(ValueError, match="no shots"):
        render_animatic(board(), out_path=tmp_path / "x.mp4", panels={})
    with pytest.raises(ValueError, match="ducking_db"):
        render_animatic(sb, out_path=tmp_path / "x.mp4", panels=panels, ducking_db=6.0, preview=True)


def test_yuv_conversion_matches_swscale_bt601_limited_range():
    from lantern_studio.engines.story.encode import to_video_frame

    rng = np.random.default_rng(3)
    smooth = cv2.resize((rng.random((12, 8, 3)) * 255).astype(np.uint8), (360, 640), interpolation=cv2.INTER_CUBIC)
    ours = to_video_frame(smooth).to_ndarray()
    ffmpeg = av.VideoFrame.from_ndarray(smooth, format="rgb24").reformat(format="yuv420p").to_ndarray()
    assert ours.shape == ffmpeg.shape == (960, 360)
    assert np.abs(ours[:640].astype(int) - ffmpeg[:640]).max() <= 1          # luma
    assert np.abs(ours[640:].astype(int) - ffmpeg[640:]).mean() < 1.0        # chroma (filters differ slightly)
    assert ours[:640].min() >= 16 and ours[:640].max() <= 235
