"""The animatic: a storyboard as a video with camera moves, transitions, subtitles and music.

:func:`render_animatic` is the one entry point. It reads top to bottom:

1. lay the shots out in frames (:mod:`engines.story.timeline`) and time the subtitles from them
   (:mod:`engines.story.subtitles`);
2. split the video into *parts*: each segment's transition-in frames (which also show the previous
   segment) and its body; each part has a key, a hash of everything that decides its pixels;
3. for each part not already in the cache, render its frames with the composite kernel (the panel as a
   layer moved by a sub-pixel eased camera matrix, the subtitle as a second layer; transitions by the
   transition kernel) and hand them to the encoder thread, which encodes while the next frame renders;
4. build the soundtrack (:mod:`engines.story.soundtrack`), join the parts and the AAC audio into the MP4
   (:mod:`engines.story.encode`), write the SRT and the GIF.

Changing one shot changes the keys of that shot's parts (and of the transition into the next shot, when
it has one), so re-rendering redoes only those frames; everything else is copied from the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
from PIL import Image, ImageDraw

from lantern_studio.engines.jobs import Progress, cancel_requested, check_cancel, no_progress
from lantern_studio.engines.story.encode import (CRF_FINAL, CRF_PREVIEW, PRESET_FINAL, PRESET_PREVIEW, AudioTrackJob,
                                                 SegmentEncoder, VideoSettings, explain_write_error, mux_final,
                                                 write_gif)
from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_studio.engines.story.soundtrack import build_soundtrack
from lantern_studio.engines.story.subtitles import Cue, SubtitleStyle, build_cues, load_font, render_subtitle, write_srt
from lantern_studio.engines.story.timeline import (FORMATS, FPS_CHOICES, Segment, Timeline, build_timeline, camera_matrix,
                                    frame_size, transition_progress)

__all__ = ["AnimaticResult", "render_animatic", "prune_cache", "RENDER_VERSION", "PREVIEW_SCALE"]

#: Bumped whenever the rendering changes, so old cache entries are not reused.
RENDER_VERSION = 1
#: Preview renders at this fraction of the format's size.
PREVIEW_SCALE = 1 / 3
#: Panels are requested this much larger than the frame, so a full push-in stays sharp.
PANEL_OVERSCAN = 1.18
#: A cache folder is trimmed to this size after each render, oldest unused parts first.
CACHE_MAX_BYTES = 4 * 1024**3
#: Card colours (RGB): a deep lantern red fading to near-black.
CARD_TOP = (122, 18, 24)
CARD_BOTTOM = (18, 8, 10)



@dataclass(frozen=True)
class AnimaticResult:
    """What :func:`render_animatic` wrote and how it went.

    ``frames_rendered``: frames composited and encoded in this run; ``frames_cached``: frames copied from
    the cache. ``shots_rendered``: numbers of the shots whose frames were (at least partly) rendered.
    """

    video_path: Path
    srt_path: Path | None
    gif_path: Path | None
    width: int
    height: int
    fps: int
    frames: int
    duration_s: float
    frames_rendered: int
    frames_cached: int
    parts_rendered: int
    parts_cached: int
    shots_rendered: tuple[int, ...]
    cues: int
    loudness_lufs: float | None
    render_s: float
    timeline: Timeline = field(repr=False)
    voice_files: tuple[Path, ...] = ()      # one WAV per spoken line, then the dialogue stem

    def to_dict(self) -> dict[str, Any]:
        return {"video_path": str(self.video_path), "srt_path": str(self.srt_path) if self.srt_path else None,
                "gif_path": str(self.gif_path) if self.gif_path else None, "width": self.width,
                "height": self.height, "fps": self.fps, "frames": self.frames, "duration_s": self.duration_s,
                "frames_rendered": self.frames_rendered, "frames_cached": self.frames_cached,
                "parts_rendered": self.parts_rendered, "parts_cached": self.parts_cached,
                "shots_rendered": list(self.shots_rendered), "cues": self.cues,
                "loudness_lufs": self.loudness_lufs, "render_s": self.render_s}


# ----------------------------------------------------------------------------------------------------
# Panels and cards


def _to_rgba_array(image: Any, what: str) -> np.ndarray:
    """A panel given as PIL image, array or path -> straight-alpha RGBA uint8 (h, w, 4)."""
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise ValueError(f"{what}: panel file {str(path)!r} does not exist")
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGBA")
        except Exception as error:
            raise ValueError(f"{what}: panel file {path.name!r} is not a readable image ({error})") from error
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGBA"))
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ValueError(f"{what}: a panel array must be (h, w, 3) or (h, w, 4) uint8, got {image.shape} "
                             f"{image.dtype}")
        if image.shape[2] == 3:
            image = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=2)
        return np.ascontiguousarray(image)
    raise ValueError(f"{what}: a panel must be a PIL image, a uint8 array or an image file path, "
                     f"got {type(image).__name__}")


def _panel_source(panels: Any, storyboard: Storyboard) -> Callable[[Shot, tuple[int, int]], np.ndarray]:
    """A function shot, size -> opaque RGBA uint8 panel, from the ``panels`` argument."""
    if panels is None:
        try:
            from lantern_studio.engines.story.panels import render_panel
        except ImportError as error:
            raise ValueError("no panels were given and the panel renderer (engines.story.panels) is not "
                             "available; pass panels={shot number: image}") from error

        def source(shot: Shot, size: tuple[int, int]) -> np.ndarray:
            # clean panels: the animatic draws the dialogue as subtitles and needs no previz arrows
            image = render_panel(shot, storyboard, size=size, lettering=False, header=False)
            return _to_rgba_array(image, f"shot {shot.number}")
        return source
    if callable(panels):
        def source(shot: Shot, size: tuple[int, int]) -> np.ndarray:
            return _to_rgba_array(panels(shot, storyboard, size), f"shot {shot.number}")
        return source
    if isinstance(panels, Mapping):
        missing = [shot.number for shot in storyboard.shots if shot.number not in panels]
        if missing:
            raise ValueError(f"shot {missing[0]} has no panel" + (f" (nor shots {missing[1:]})" if missing[1:] else "")
                             + "; render the storyboard's panels first, or leave panels out to draw previz "
                             "panels")

        def source(shot: Shot, size: tuple[int, int]) -> np.ndarray:
            panel = panels[shot.number]
            if panel is None:
                raise ValueError(f"shot {shot.number} has no panel (it is None); render its panel first")
            return _to_rgba_array(panel, f"shot {shot.number}")
        return source
    raise ValueError(f"panels must be None, a mapping of shot number to image, or a callable "
                     f"(shot, storyboard, size) -> image; got {type(panels).__name__}")


def _flatten(rgba: np.ndarray) -> np.ndarray:
    """Make a panel opaque over black and premultiply it (transparent panel corners read as black)."""
    from lantern_studio.kernels.composite import premultiply

    if np.all(rgba[..., 3] == 255):
        return rgba
    out = premultiply(rgba)
    out[..., 3] = 255
    return out


def _card(kind: str, storyboard: Storyboard, size: tuple[int, int]) -> np.ndarray:
    """The title or end card as an opaque RGBA uint8 image of ``size`` (width, height)."""
    width, height = size
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    top, bottom = np.array(CARD_TOP, np.float32), np.array(CARD_BOTTOM, np.float32)
    rgb = (top * (1 - ramp) + bottom * ramp)[:, None, :].repeat(width, axis=1)
    image = Image.fromarray(np.round(rgb).astype(np.uint8)).convert("RGBA")
    draw = ImageDraw.Draw(image)
    language = storyboard.language
    short = min(width, height)
    if kind == "title":
        texts = [(storyboard.title.strip(), 0.11), ]
    else:
        texts = [("完" if language == "zh" else "The End", 0.09), (storyboard.title.strip(), 0.04)]
    from lantern_studio.engines.story.subtitles import wrap_text
    y_blocks = []
    for text, rel in texts:
        if not text:
            continue
        font = load_font(max(8, int(round(short * rel))), language)
        lines = wrap_text(text, font, width * 0.84)
        y_blocks.append((font, lines))
    ascent_total = sum(len(lines) * sum(font.getmetrics()) * 1.15 for font, lines in y_blocks)
    y = (height - ascent_total) / 2
    for font, lines in y_blocks:
        line_h = sum(font.getmetrics()) * 1.15
        for line in lines:
            w = font.getlength(line)
            draw.text(((width - w) / 2, y), line, font=font, fill=(250, 222, 160, 255),
                      stroke_width=max(1, font.size // 24), stroke_fill=(40, 8, 8, 255))
            y += line_h
    return np.asarray(image)


# ----------------------------------------------------------------------------------------------------
# Keys


def _digest(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def _shot_look(shot: Shot) -> dict[str, Any]:
    """The fields of a shot that decide its pixels (its number does not: renumbering keeps the cache)."""
    data = shot.to_dict()
    data.pop("number", None)
    return data


def _shake_seed(shot: Shot | None) -> int:
    if shot is None:
        return 0
    text = json.dumps(_shot_look(shot), sort_keys=True, ensure_ascii=False)
    return int(_digest(text.encode("utf-8"))[:8], 16)


@dataclass
class _SegmentState:
    """What is needed to draw any frame of one segment."""

    segment: Segment
    panel: np.ndarray            # premultiplied opaque RGBA uint8
    move: str
    cues: list[tuple[int, int, np.ndarray, tuple[int, int]]]   # (start, end) local frames, image, position
    description: str             # canonical text of everything that decides the pixels
    seed: int

    def layers_at(self, k: int, frame_wh: tuple[int, int]):
        from lantern_studio.kernels.composite import Layer, affine

        seg = self.segment
        duration_s = seg.frames / seg.fps
        # the move spans the shot's frames: the last frame reaches the end pose
        span_s = max(seg.frames - 1, 1) / seg.fps
        t_s = k / seg.fps
        matrix = camera_matrix(self.move, t_s * (duration_s / span_s) if k < seg.frames else t_s, duration_s,
                               panel_size=(self.panel.shape[1], self.panel.shape[0]), frame_size=frame_wh,
                               seed=self.seed)
        layers = [Layer(self.panel, matrix, opaque=True)]   # panels are flattened to opaque
        cue_index = -1
        for i, (start, end, image, (x, y)) in enumerate(self.cues):
            if start <= k < end and image.size:
                layers.append(Layer(image, affine(translate=(x, y))))
                cue_index = i
        return layers, (matrix.tobytes(), cue_index)


# ----------------------------------------------------------------------------------------------------
# The entry point


def _coerce_storyboard(storyboard: Storyboard | Mapping) -> Storyboard:
    if isinstance(storyboard, Storyboard):
        return storyboard
    if isinstance(storyboard, Mapping):
        return Storyboard.from_dict(dict(storyboard))
    raise ValueError(f"storyboard must be a Storyboard or its dict, got {type(storyboard).__name__}")


def storyboard_as_rendered(storyboard, *, format: str, fps: int, voices=None) -> Storyboard:
    """The storyboard as the animatic (and every export of its timeline) renders it.

    A Storyboard or its dict; with ``voices`` (shot number -> spoken line), each voiced shot is lengthened to its
    line plus a breath. ``format`` and ``fps`` are checked here, so a bad one is refused before any work.
    """
    storyboard = _coerce_storyboard(storyboard)
    if voices:
        from lantern_studio.engines.story.voices import fit_shots_to_speech

        storyboard = fit_shots_to_speech(storyboard, voices)
    if format not in FORMATS:
        raise ValueError(f"format {format!r} is not one of {', '.join(FORMATS)}")
    if fps not in FPS_CHOICES:
        raise ValueError(f"fps must be one of {', '.join(map(str, FPS_CHOICES))}, got {fps!r}")
    return storyboard


def render_animatic(storyboard: Storyboard | Mapping, *, out_path: str | os.PathLike, panels: Any = None,
                    music: Any = None, format: str = "9:16", fps: int = 24, preview: bool = False,
                    gif_path: str | os.PathLike | None = None, srt_path: str | os.PathLike | None = None,
                    ducking_db: float = -12.0, progress: Progress | None = None,
                    cancel: Callable[[], bool] | threading.Event | None = None,
                    cache_dir: str | os.PathLike | None = None, dialogue_audio: Mapping | None = None,
                    placeholders: bool = True, title_card_s: float = 2.0, end_card_s: float = 2.0,
                    target_lufs: float = -16.0, backend: str = "auto", voices: Mapping | None = None,
                    voices_dir: str | os.PathLike | None = None) -> AnimaticResult:
    """Render a storyboard to an H.264 + AAC MP4, with an optional SRT sidecar and GIF.

    Parameters
    ----------
    storyboard : Storyboard or dict
        The shots (each with its camera move, transition, duration and dialogue) in order.
    out_path : path
        The MP4 to write. It appears only when the whole video is written (atomic rename).
    panels : None, mapping or callable
        ``None`` draws previz panels with :func:`engines.story.panels.render_panel`; a mapping of shot
        number to PIL image / ``(h, w, 3|4)`` uint8 array / image path; or a callable
        ``(shot, storyboard, (width, height)) -> image``. Panels are fitted to cover the frame.
    music : path or (audio, sample_rate), optional
        A music take (float32 ``(n, c)`` with its rate in Hz) or an audio file; looped or trimmed to length.
    format : {"9:16", "16:9", "1:1"}
        1080x1920 (default), 1920x1080 or 1080x1080.
    fps : {24, 25, 30}
    preview : bool
        A fast, low-resolution render (a third of the size, faster encoder settings).
    gif_path, srt_path : path, optional
        Also write a looping GIF (270 px wide, 10 fps) and an SRT with the subtitle cues.
    ducking_db : float
        How far the music drops under dialogue (dB, -60..0).
    progress : callable(fraction, message), optional
    cancel : callable returning bool, or threading.Event, optional
        Checked between frames; when set, rendering stops with ``engines.jobs.Cancelled`` and nothing is
        written under ``out_path`` (parts already finished stay in the cache).
    cache_dir : path, optional
        Folder of encoded parts keyed by content; a later render reuses every unchanged part. Without it
        the parts live in a temporary folder that is removed afterwards.
    dialogue_audio : mapping of shot number to path or (audio, sample_rate), optional
        Recorded dialogue; other lines are spoken from ``voices``, else placeholder tones if ``placeholders``.
    voices : mapping of shot number to engines.speech.base.SpeechClip, optional
        Lines spoken in the characters' voices (:func:`engines.story.voices.speak_lines`). Each voiced shot
        lasts at least its line plus a breath, and its subtitle is timed to the speech.
    voices_dir : path, optional
        Also write one WAV per spoken line (``shot-03_小雨.wav``) and ``dialogue-stem.wav`` there.
    title_card_s, end_card_s : float
        Seconds of the title card (when the storyboard has a title) and the end card; 0 leaves one out.
    target_lufs : float
        Loudness of the finished soundtrack.
    backend : {"auto", "cpu", "cuda", "reference"}
        Body of the composite kernel.

    Returns
    -------
    AnimaticResult

    Raises
    ------
    ValueError
        Bad input: no shots, a shot without a panel, a 0 s duration, an unknown format or fps, undecodable music.
    engines.story.encode.DiskFullError
        The disk filled up while writing; nothing is left under the final names.
    engines.jobs.Cancelled
        ``cancel`` said stop.
    """
    started = time.perf_counter()
    storyboard = storyboard_as_rendered(storyboard, format=format, fps=fps, voices=voices)
    out_path = _mp4_path(out_path)
    cancel_requested(cancel)            # a cancel that is neither an Event nor a callable is refused before any work
    report = progress or no_progress
    frames = _plan_frames(storyboard, panels, format=format, fps=int(fps), preview=preview,
                          title_card_s=title_card_s, end_card_s=end_card_s)
    # the soundtrack first: bad music fails before minutes of rendering
    report(0.0, "mixing the soundtrack")
    soundtrack, cues = _soundtrack_and_cues(frames, storyboard, music=music, ducking_db=ducking_db,
                                            dialogue_audio=dialogue_audio, placeholders=placeholders,
                                            target_lufs=target_lufs, voices=voices)
    with _parts_cache(cache_dir) as (cache, shared):
        counts = _encode_mp4(frames, storyboard, cues, soundtrack, cache, out_path, report=report, cancel=cancel,
                             backend=backend, prune=shared)
        files = _write_sidecars(storyboard, cues, soundtrack, out_path, srt_path=srt_path, gif_path=gif_path,
                                voices=voices, voices_dir=voices_dir, report=report)
    report(1.0, "done")
    return AnimaticResult(video_path=out_path, width=frames.settings.width, height=frames.settings.height, fps=int(fps),
                          frames=frames.timeline.total_frames, duration_s=frames.timeline.duration_s, cues=len(cues),
                          loudness_lufs=soundtrack.loudness_lufs, render_s=time.perf_counter() - started,
                          timeline=frames.timeline, **counts, **files)


def _mp4_path(out_path: str | os.PathLike) -> Path:
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".mp4":
        raise ValueError(f"out_path must end in .mp4, got {out_path.name!r}")
    return out_path


@dataclass(frozen=True)
class _FramePlan:
    """What decides the pixels: the timeline in frames, where panels come from, the subtitle look and the
    encoder settings (whose width and height are the frame's)."""

    timeline: Timeline
    source: Callable[[Shot, tuple[int, int]], np.ndarray]
    style: SubtitleStyle
    settings: VideoSettings


def _plan_frames(storyboard: Storyboard, panels: Any, *, format: str, fps: int, preview: bool,
                 title_card_s: float, end_card_s: float) -> _FramePlan:
    """Lay the shots out in frames of the format's size (a third of it for a preview, with faster encoder
    settings)."""
    width, height = frame_size(format, scale=PREVIEW_SCALE if preview else 1.0)
    timeline = build_timeline(storyboard, width=width, height=height, fps=fps, title_card_s=title_card_s,
                              end_card_s=end_card_s)
    settings = VideoSettings(width=width, height=height, fps=fps, preset=PRESET_PREVIEW if preview else PRESET_FINAL,
                             crf=CRF_PREVIEW if preview else CRF_FINAL)
    return _FramePlan(timeline=timeline, source=_panel_source(panels, storyboard),
                      style=SubtitleStyle.for_frame(width, height), settings=settings)


def _soundtrack_and_cues(frames: _FramePlan, storyboard: Storyboard, *, music: Any, ducking_db: float,
                         dialogue_audio: Mapping | None, placeholders: bool, target_lufs: float,
                         voices: Mapping | None) -> tuple[Any, list[Cue]]:
    """The mixed soundtrack, and the subtitle cues timed to its speech (a voiced line's subtitle follows
    the voice, not the shot)."""
    soundtrack = build_soundtrack(frames.timeline, music=music, ducking_db=ducking_db, dialogue_audio=dialogue_audio,
                                  placeholders=placeholders, target_lufs=target_lufs, language=storyboard.language,
                                  voices=voices)
    cues = build_cues(frames.timeline, style=frames.style, language=storyboard.language,
                      speech_spans_s=soundtrack.speech_spans_s)
    return soundtrack, cues


@contextlib.contextmanager
def _parts_cache(cache_dir: str | os.PathLike | None) -> Iterator[tuple[Path, bool]]:
    """The folder of encoded parts and whether it outlives this render: the caller's ``cache_dir`` (kept, and
    trimmed after the render), else a temporary folder removed on the way out."""
    if cache_dir is not None:
        cache = Path(cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
        yield cache, True
        return
    with tempfile.TemporaryDirectory(prefix="lantern-animatic-") as temp:
        yield Path(temp), False


def _encode_mp4(frames: _FramePlan, storyboard: Storyboard, cues: list[Cue], soundtrack, cache: Path, out_path: Path,
                *, report: Progress, cancel: Callable[[], bool] | threading.Event | None, backend: str,
                prune: bool) -> dict[str, Any]:
    """Render the parts not in ``cache``, join them with the AAC soundtrack into ``out_path`` and return the
    render's counts (:class:`AnimaticResult`'s fields of those names). The AAC track encodes on its own
    thread while the frames render."""
    with tempfile.TemporaryDirectory(prefix="lantern-animatic-audio-") as work:
        audio_job = AudioTrackJob(soundtrack.audio, soundtrack.sample_rate, Path(work) / "soundtrack.m4a")
        try:
            parts, stats = _render_parts(frames.timeline, storyboard, frames.source, cues, frames.style,
                                         frames.settings, cache, report, cancel, backend)
        except BaseException:
            audio_job.wait()
            raise
        audio_file = audio_job.result()
        check_cancel(cancel, "the render was cancelled; nothing was written")
        report(0.92, "writing the MP4")
        mux_final(parts, out_path, settings=frames.settings, audio_file=audio_file, cancel=cancel)
    if prune:
        prune_cache(cache, keep=parts)
    return {**stats, "shots_rendered": tuple(sorted(stats["shots_rendered"]))}


def _write_sidecars(storyboard: Storyboard, cues: list[Cue], soundtrack, out_path: Path, *,
                    srt_path: str | os.PathLike | None, gif_path: str | os.PathLike | None, voices: Mapping | None,
                    voices_dir: str | os.PathLike | None, report: Progress) -> dict[str, Any]:
    """The files asked for beside the MP4, as :class:`AnimaticResult`'s ``srt_path``, ``gif_path`` and
    ``voice_files``: the SRT (the subtitle cues), the GIF (made from the finished MP4) and one WAV per
    voiced line; ``None`` or ``()`` for each not asked for."""
    written_srt = None
    if srt_path is not None:
        try:
            written_srt = write_srt(cues, srt_path)
        except OSError as error:
            raise explain_write_error(error, srt_path) from error
    written_gif = None
    if gif_path is not None:
        report(0.96, "writing the GIF")
        written_gif = write_gif(out_path, gif_path)
    voice_files: tuple[Path, ...] = ()
    if voices_dir is not None and voices:
        voice_files = _write_voice_files(storyboard, voices, soundtrack, Path(voices_dir))
    return {"srt_path": written_srt, "gif_path": written_gif, "voice_files": voice_files}


def _write_voice_files(storyboard: Storyboard, voices: Mapping, soundtrack, folder: Path) -> tuple[Path, ...]:
    """The per-line WAVs and the dialogue stem (at the soundtrack's rate, before the loudness gain)."""
    from lantern_studio.engines.audio.io import write_audio
    from lantern_studio.engines.story.voices import write_line_files

    try:
        files = write_line_files(storyboard, voices, folder)
        if soundtrack.dialogue is not None:
            stem = soundtrack.dialogue
            peak = float(np.max(np.abs(stem))) if stem.size else 0.0
            files.append(write_audio(folder / "dialogue-stem.wav", stem / peak * 0.98 if peak > 0.98 else stem,
                                     soundtrack.sample_rate))
    except OSError as error:
        raise explain_write_error(error, folder) from error
    return tuple(files)


def prune_cache(cache_dir: str | os.PathLike, *, keep=(), max_bytes: int = CACHE_MAX_BYTES) -> int:
    """Trim a render cache to ``max_bytes``: parts in ``keep`` are marked as just used, then the least
    recently used parts are deleted until the folder fits. Returns the number of files deleted."""
    cache = Path(cache_dir)
    now = time.time()
    for path in keep:
        try:
            os.utime(path, (now, now))
        except OSError:
            pass
    parts = []
    for path in cache.glob("*.mp4"):
        try:
            stat = path.stat()
        except OSError:
            continue
        parts.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in parts)
    deleted = 0
    for _, size, path in sorted(parts):
        if total <= max_bytes:
            break
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        deleted += 1
    return deleted


def _segment_state(segment: Segment, storyboard: Storyboard, source, cues: list[Cue], style: SubtitleStyle,
                   frame_wh: tuple[int, int]) -> _SegmentState:
    width, height = frame_wh
    panel_wh = (int(round(width * PANEL_OVERSCAN)), int(round(height * PANEL_OVERSCAN)))
    if segment.shot is None:
        panel = _card(segment.kind, storyboard, frame_wh)
        move = "static"
        look: dict[str, Any] = {"card": segment.kind, "title": storyboard.title, "language": storyboard.language}
    else:
        panel = _flatten(source(segment.shot, panel_wh))
        move = segment.shot.move
        look = _shot_look(segment.shot)
    if panel.shape[0] < 2 or panel.shape[1] < 2:
        raise ValueError(f"{segment.label}: the panel is empty ({panel.shape[1]}x{panel.shape[0]} pixels)")
    local_cues = []
    cue_text = []
    for cue in cues:
        if segment.start_frame <= cue.start_frame < segment.end_frame:
            image, position = render_subtitle(cue.lines, frame_width=width, frame_height=height, style=style,
                                              language=storyboard.language)
            local_cues.append((cue.start_frame - segment.start_frame, cue.end_frame - segment.start_frame, image,
                               position))
            cue_text.append([cue.start_frame - segment.start_frame, cue.end_frame - segment.start_frame,
                             list(cue.lines)])
    description = json.dumps({"look": look, "frames": segment.frames, "fps": segment.fps, "move": move,
                              "panel": _digest(str(panel.shape).encode(), panel.tobytes()), "cues": cue_text,
                              "style": [style.font_px, style.stroke_px, style.margin_x_px,
                                        style.margin_bottom_px, style.line_gap_px],
                              "language": storyboard.language}, sort_keys=True, ensure_ascii=False)
    return _SegmentState(segment=segment, panel=panel, move=move, cues=local_cues, description=description,
                         seed=_shake_seed(segment.shot))


def _render_parts(timeline: Timeline, storyboard: Storyboard, source, cues: list[Cue], style: SubtitleStyle,
                  settings: VideoSettings, cache: Path, report: Progress, cancel, backend: str):
    """Render (or find in the cache) every part; returns the part files in order and counts."""
    from lantern_studio.kernels.composite import composite

    frame_wh = (timeline.width, timeline.height)
    base = json.dumps({"version": RENDER_VERSION, "video": settings.key()}, sort_keys=True)
    background = np.zeros((timeline.height, timeline.width, 3), np.uint8)
    total = max(timeline.total_frames, 1)
    stats = {"frames_rendered": 0, "frames_cached": 0, "parts_rendered": 0, "parts_cached": 0,
             "shots_rendered": set()}
    paths: list[Path] = []
    encoder: SegmentEncoder | None = None
    done = 0
    previous: _SegmentState | None = None
    try:
        for segment in timeline.segments:
            check_cancel(cancel, "the render was cancelled; nothing was written")
            report(0.02 + 0.9 * done / total, f"{segment.label}: preparing")
            state = _segment_state(segment, storyboard, source, cues, style, frame_wh)
            n_trans = segment.transition_frames if previous is not None else 0
            plan = []
            if n_trans:
                key = _digest(base.encode(), b"trans", segment.transition.encode(), str(n_trans).encode(),
                              previous.description.encode("utf-8"), state.description.encode("utf-8"))
                plan.append((key, 0, n_trans, True))
            key = _digest(base.encode(), b"body", str(n_trans).encode(), state.description.encode("utf-8"))
            plan.append((key, n_trans, segment.frames, False))
            for key, k0, k1, is_transition in plan:
                path = cache / f"{key}.mp4"
                paths.append(path)
                if path.is_file():
                    stats["frames_cached"] += k1 - k0
                    stats["parts_cached"] += 1
                    done += k1 - k0
                    continue
                if encoder is None:
                    encoder = SegmentEncoder(settings)
                encoder.begin(path)
                last_signature = None
                last_frame = None
                for k in range(k0, k1):
                    check_cancel(cancel, "the render was cancelled; nothing was written")
                    layers, signature = state.layers_at(k, frame_wh)
                    if is_transition:
                        prev_layers, prev_signature = previous.layers_at(previous.segment.frames + k, frame_wh)
                        signature = (signature, prev_signature, k)
                    if signature == last_signature:
                        frame = last_frame        # a held frame (static camera, same subtitle): draw it once
                    else:
                        frame = composite(background, layers, backend=backend)
                        if is_transition:
                            before = composite(background, prev_layers, backend=backend)
                            frame = _transition(before, frame, transition_progress(k, n_trans),
                                                segment.transition, backend)
                    last_signature, last_frame = signature, frame
                    encoder.put(frame)
                    stats["frames_rendered"] += 1
                    done += 1
                    if done % 12 == 0:
                        report(0.02 + 0.9 * done / total, f"{segment.label}: frame {k + 1} of {segment.frames}")
                encoder.end()
                stats["parts_rendered"] += 1
                if segment.shot is not None:
                    stats["shots_rendered"].add(segment.shot.number)
            previous = state
        if encoder is not None:
            encoder.close()
            encoder = None
    except BaseException:
        if encoder is not None:
            encoder.abort()
        raise
    return paths, stats


def _transition(a: np.ndarray, b: np.ndarray, t: float, kind: str, backend: str) -> np.ndarray:
    """Blend two RGB frames with the transition kernel: ``t`` = 0 is all ``a``, 1 all ``b``."""
    from lantern_studio.kernels.transition import transition

    return transition(a, b, float(t), kind=kind, color=(0, 0, 0), direction="left", softness=0.05,
                      out=a, backend=backend)
