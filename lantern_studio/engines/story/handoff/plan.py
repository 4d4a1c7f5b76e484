"""The neutral description of an editor hand-off, built from the animatic's own timeline.

Every format writer (OTIO, FCP 7 XML, CMX 3600 EDL, 剪映 draft) reads one :class:`HandoffPlan`, and the plan
is made by the same functions the animatic renders with: :func:`engines.story.timeline.build_timeline` lays
out the segments, :func:`engines.story.timeline.camera_matrix` gives the camera at each keyframe,
:func:`engines.story.subtitles.build_cues` times the subtitles, and
the soundtrack places the dialogue (:func:`animatic_dialogue`). So an export and the MP4 agree to the
frame.

Editors place audio on frame boundaries, so each dialogue clip here starts on the frame at or before the
animatic's start and its media begins with the few samples of silence up to the line: the sound lands on
the same sample as in the animatic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from lantern_studio.engines.story.model import Storyboard
from lantern_studio.engines.story.timeline import (FORMATS, Segment, Timeline, build_timeline, camera_matrix,
                                                  cover_scale)

#: Camera keyframes per second of a smooth move (pans, tilts, pushes), linear between them: the sine ease
#: of the animatic stays within a fraction of a pixel of it at 1080p.
MOVE_KEYS_PER_S = 6.0
#: A shake is sampled every this many frames (its wobble has components up to 3.1 Hz).
SHAKE_KEY_EVERY_FRAMES = 2


@dataclass(frozen=True)
class CameraKey:
    """Where the panel sits at one frame of its clip.

    ``scale``: the panel's size relative to a panel that just covers the frame (1 = cover).
    ``x``, ``y``: the panel centre's offset from the frame centre, as fractions of the frame's width
    and height (right and down are positive). ``rotation_deg``: clockwise on screen.
    """

    frame: int
    scale: float
    x: float
    y: float
    rotation_deg: float

    def to_dict(self) -> dict[str, float]:
        return {"frame": self.frame, "scale": self.scale, "x": self.x, "y": self.y,
                "rotation_deg": self.rotation_deg}


@dataclass(frozen=True)
class VideoClip:
    """One segment of the animatic: a shot's panel, or the title or end card, on frames
    ``[start_frame, start_frame + frames)``. ``transition`` says how it is entered, over its first
    ``transition_frames`` frames (the previous clip held at its last pose blends into this one)."""

    index: int
    kind: str                      # "title" | "shot" | "end"
    shot_number: int | None
    name: str
    start_frame: int
    frames: int
    media: str                     # path relative to the export folder, POSIX separators
    panel_size: tuple[int, int]    # (width, height) in pixels
    move: str
    transition: str
    transition_frames: int
    keys: tuple[CameraKey, ...]
    image: np.ndarray = field(repr=False, compare=False)   # opaque RGBA uint8 (h, w, 4)

    @property
    def end_frame(self) -> int:
        return self.start_frame + self.frames


@dataclass(frozen=True)
class AudioClip:
    """A dialogue line or the music bed, on frames ``[start_frame, start_frame + frames)``; its media is
    ``audio`` (float32 ``(n, 2)``), exactly ``frames`` long, written to ``media``."""

    name: str
    shot_number: int | None
    start_frame: int
    frames: int
    media: str
    recorded: bool                 # a recorded or spoken line (not a placeholder tone), or the music
    sound_start_s: float           # where the sound itself starts and ends on the timeline, in seconds
    sound_end_s: float
    audio: np.ndarray = field(repr=False, compare=False)

    @property
    def end_frame(self) -> int:
        return self.start_frame + self.frames


@dataclass(frozen=True)
class VolumeKey:
    """The music's gain at ``time_s`` seconds from the start of the timeline; linear in dB between keys."""

    time_s: float
    gain_db: float

    def to_dict(self) -> dict[str, float]:
        return {"time_s": self.time_s, "gain_db": self.gain_db}


@dataclass(frozen=True)
class SubtitleCue:
    """A subtitle on frames ``[start_frame, start_frame + frames)``; ``lines`` as the animatic wraps them."""

    index: int
    shot_number: int
    start_frame: int
    frames: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class HandoffPlan:
    """Everything an editor timeline needs, in frames at ``fps`` on a ``width`` x ``height`` canvas."""

    name: str
    language: str
    width: int
    height: int
    fps: int
    total_frames: int
    sample_rate: int
    video: tuple[VideoClip, ...]
    dialogue: tuple[AudioClip, ...]
    music: AudioClip | None
    music_keys: tuple[VolumeKey, ...]    # the ducking under the dialogue
    music_fade_in_s: float
    music_fade_out_s: float
    ducking_db: float
    cues: tuple[SubtitleCue, ...]

    @property
    def duration_s(self) -> float:
        return self.total_frames / self.fps

    def samples(self, frames: int) -> int:
        """Samples in ``frames`` frames (whole for every offered frame rate at 48 kHz)."""
        return frames * self.sample_rate // self.fps


def camera_keys(segment: Segment, move: str, panel_size: tuple[int, int], frame_size: tuple[int, int],
                seed: int) -> tuple[CameraKey, ...]:
    """Keyframes of a segment's camera move, read off the animatic's own camera matrices.

    The animatic evaluates the move so that the segment's last frame reaches the end pose; keys are
    taken at the same times. A static camera has one key.
    """
    frames = segment.frames
    if move == "static" or frames == 1:
        picks = [0]
    elif move == "shake":
        picks = list(range(0, frames, SHAKE_KEY_EVERY_FRAMES))
    else:
        count = min(frames, max(2, int(math.ceil(segment.duration_s * MOVE_KEYS_PER_S)) + 1))
        picks = [int(round(v)) for v in np.linspace(0, frames - 1, count)]
    if move != "static" and picks[-1] != frames - 1:
        picks.append(frames - 1)
    duration_s = frames / segment.fps
    span_s = max(frames - 1, 1) / segment.fps
    fw, fh = frame_size
    pw, ph = panel_size
    cover = cover_scale(panel_size, frame_size)
    keys = []
    for k in sorted(set(picks)):
        t_s = k / segment.fps * (duration_s / span_s)
        matrix = camera_matrix(move, t_s, duration_s, panel_size=panel_size, frame_size=frame_size, seed=seed)
        a, b = matrix[0, 0], matrix[0, 1]
        centre_x, centre_y = matrix @ np.array([pw / 2.0, ph / 2.0, 1.0])
        keys.append(CameraKey(frame=k, scale=float(math.hypot(a, b) / cover),
                              x=float((centre_x - fw / 2.0) / fw), y=float((centre_y - fh / 2.0) / fh),
                              # the matrix [[c, s], [-s, c]] turns the panel counter-clockwise on screen
                              rotation_deg=float(-math.degrees(math.atan2(b, a)))))
    return tuple(keys)


def ducking_keys(spans_s: list[tuple[float, float]], *, depth_db: float, duration_s: float, attack_s: float,
                 release_s: float) -> tuple[VolumeKey, ...]:
    """Volume keys that dip the music by ``depth_db`` under each span of dialogue.

    The mix kernel's one-pole ducking settles within three time constants, so each dip starts at the
    line, reaches ``depth_db`` three attack constants later, holds to the line's end and recovers over
    three release constants. Lines closer together than the recovery share one dip.
    """
    if depth_db >= 0 or not spans_s:
        return ()
    down_s, up_s = 3 * attack_s, 3 * release_s
    merged: list[list[float]] = []
    for start_s, end_s in sorted(spans_s):
        if merged and start_s <= merged[-1][1] + up_s:
            merged[-1][1] = max(merged[-1][1], end_s)
        else:
            merged.append([start_s, end_s])
    keys: list[VolumeKey] = []
    for start_s, end_s in merged:
        times = (start_s, min(start_s + down_s, end_s), end_s, min(end_s + up_s, duration_s))
        for time_s, gain_db in zip(times, (0.0, depth_db, depth_db, 0.0)):
            if not keys or time_s > keys[-1].time_s:
                keys.append(VolumeKey(time_s=round(time_s, 6), gain_db=gain_db))
    return tuple(keys)


def _frame_aligned(audio: np.ndarray, start_sample: int, *, fps: int, sample_rate: int) -> tuple[int, int, np.ndarray]:
    """``(start_frame, frames, media)``: the clip widened to whole frames, silence before and after."""
    per_frame = sample_rate // fps
    start_frame = start_sample // per_frame
    end_frame = -(-(start_sample + audio.shape[0]) // per_frame)
    media = np.zeros(((end_frame - start_frame) * per_frame, audio.shape[1]), np.float32)
    lead = start_sample - start_frame * per_frame
    media[lead:lead + audio.shape[0]] = audio
    return start_frame, end_frame - start_frame, media


def animatic_dialogue(timeline: Timeline, n_samples: int, *, sample_rate: int, dialogue_audio: Mapping | None,
                      placeholders: bool, language: str, voices: Mapping | None,
                      ) -> tuple[list[tuple[int, int, np.ndarray]], dict[int, tuple[float, float]]]:
    """The animatic's dialogue as it mixes it: ``[(shot number, start sample, float32 (n, 2) audio)]`` per
    line, and shot number -> ``(start_s, end_s)`` of audible speech (which the subtitles follow).

    :mod:`engines.story.soundtrack` hands over its lines one by one where it offers ``dialogue_clips``;
    otherwise each line is cut from its summed ``dialogue_bus``, where every line lies inside its own shot.
    """
    from lantern_studio.engines.story import soundtrack

    options = dict(sample_rate=sample_rate, dialogue_audio=dialogue_audio, placeholders=placeholders,
                   language=language, voices=voices)
    if hasattr(soundtrack, "dialogue_clips"):
        clips = soundtrack.dialogue_clips(timeline, n_samples, **options)
        return ([(clip.shot_number, clip.start_sample, clip.audio) for clip in clips],
                soundtrack.speech_spans(clips, sample_rate=sample_rate))
    speech_spans_s: dict[int, tuple[float, float]] = {}
    bus, spans = soundtrack.dialogue_bus(timeline, n_samples, speech_spans=speech_spans_s, **options)
    shot_starts_s = [(segment.start_s, segment.shot.number) for segment in timeline.segments if segment.shot]
    lines = []
    for start_s, end_s in spans:
        number = [n for shot_start_s, n in shot_starts_s if shot_start_s <= (start_s + end_s) / 2][-1]
        a, b = int(round(start_s * sample_rate)), int(round(end_s * sample_rate))
        lines.append((number, a, bus[a:b]))
    return lines, speech_spans_s


def music_bed(music: Any, n_samples: int, *, sample_rate: int) -> np.ndarray:
    """The animatic's music bed before ducking and fades: float32 ``(n_samples, 2)``, looped or trimmed to
    length (:func:`engines.story.soundtrack.fit_music`) and set by a plain gain to the soundtrack's bed
    loudness, so the editor starts from the level the animatic mixes at."""
    from lantern_studio.engines.story.soundtrack import MUSIC_BED_LUFS, fit_music, load_music
    from lantern_studio.kernels.dsp import integrated_loudness

    bed = fit_music(load_music(music, sample_rate=sample_rate), n_samples, sample_rate=sample_rate)
    lufs = float(integrated_loudness(bed, sample_rate)) if bed.shape[0] >= 0.4 * sample_rate else float("nan")
    if math.isfinite(lufs):       # silence, or too short to measure (one 400 ms block), stays as it is
        bed = bed * np.float32(10 ** ((MUSIC_BED_LUFS - lufs) / 20))
    return np.ascontiguousarray(bed, dtype=np.float32)


def build_plan(storyboard: Storyboard | Mapping, *, panels: Any = None, music: Any = None,
               dialogue_audio: Mapping | None = None, format: str = "9:16", fps: int = 24,
               ducking_db: float = -12.0, title_card_s: float = 2.0, end_card_s: float = 2.0,
               placeholders: bool = True, music_fade_in_s: float = 1.0, music_fade_out_s: float = 2.0,
               voices: Mapping | None = None) -> HandoffPlan:
    """The hand-off description of a storyboard, from the same timeline, panels and sound as the animatic.

    Parameters are those of :func:`engines.story.animatic.render_animatic` (full size, no preview): with
    ``voices``, each voiced shot lasts its line as in the animatic and its subtitle follows the speech.

    Raises
    ------
    ValueError
        No shots, a shot without a panel, an unknown format or frame rate, undecodable music or dialogue.
    """
    from lantern_studio.engines.story.animatic import storyboard_as_rendered
    from lantern_studio.engines.story.soundtrack import SAMPLE_RATE

    storyboard = storyboard_as_rendered(storyboard, format=format, fps=fps, voices=voices)
    if not (math.isfinite(ducking_db) and -60.0 <= ducking_db <= 0.0):
        raise ValueError(f"ducking_db must be between -60 and 0 dB, got {ducking_db!r}")
    width, height = FORMATS[format]
    timeline = build_timeline(storyboard, width=width, height=height, fps=int(fps), title_card_s=title_card_s,
                              end_card_s=end_card_s)
    fps = timeline.fps
    video = _video_clips(timeline, storyboard, panels, (width, height))

    sample_rate = SAMPLE_RATE
    n_samples = timeline.total_frames * sample_rate // fps
    lines, speech_spans_s = animatic_dialogue(timeline, n_samples, sample_rate=sample_rate,
                                              dialogue_audio=dialogue_audio, placeholders=placeholders,
                                              language=storyboard.language, voices=voices)
    recorded = set(dialogue_audio or {}) | set(voices or {})
    cues = _subtitle_cues(timeline, storyboard, (width, height), speech_spans_s)
    dialogue = tuple(_dialogue_clip(number, start_sample, audio, recorded=number in recorded, fps=fps,
                                    sample_rate=sample_rate) for number, start_sample, audio in lines)

    music_clip = None
    keys: tuple[VolumeKey, ...] = ()
    duration_s = timeline.duration_s
    fade_in_s = min(music_fade_in_s, duration_s / 2)
    fade_out_s = min(music_fade_out_s, duration_s / 2)
    if music is not None:
        music_clip = _music_clip(music, timeline, n_samples, sample_rate=sample_rate)
        keys = _music_ducking(dialogue, depth_db=float(ducking_db), duration_s=duration_s)
    return HandoffPlan(name=storyboard.title.strip() or "Storyboard", language=storyboard.language, width=width,
                       height=height, fps=fps, total_frames=timeline.total_frames, sample_rate=sample_rate,
                       video=video, dialogue=dialogue, music=music_clip, music_keys=keys,
                       music_fade_in_s=fade_in_s if music is not None else 0.0,
                       music_fade_out_s=fade_out_s if music is not None else 0.0, ducking_db=float(ducking_db),
                       cues=cues)


def _video_clips(timeline: Timeline, storyboard: Storyboard, panels: Any,
                 frame_size: tuple[int, int]) -> tuple[VideoClip, ...]:
    """One clip per segment: the title and end cards as drawn by the animatic, each shot's panel flattened at
    the animatic's overscan size, with the camera keys of its move."""
    from lantern_studio.engines.story.animatic import PANEL_OVERSCAN, _card, _flatten, _panel_source, _shake_seed

    width, height = frame_size
    source = _panel_source(panels, storyboard)
    panel_wh = (int(round(width * PANEL_OVERSCAN)), int(round(height * PANEL_OVERSCAN)))
    video = []
    for segment in timeline.segments:
        if segment.shot is None:
            image = _card(segment.kind, storyboard, (width, height))
            move, media, name = "static", f"media/{segment.kind}_card.png", segment.label
        else:
            image = _flatten(source(segment.shot, panel_wh))
            move, media = segment.shot.move, f"media/shot_{segment.shot.number:04d}.png"
            name = f"Shot {segment.shot.number}" + (f" · {segment.shot.speaker}" if segment.shot.speaker else "")
        size = (int(image.shape[1]), int(image.shape[0]))
        if size[0] < 2 or size[1] < 2:
            raise ValueError(f"{segment.label}: the panel is empty ({size[0]}x{size[1]} pixels)")
        video.append(VideoClip(index=segment.index, kind=segment.kind,
                               shot_number=segment.shot.number if segment.shot else None, name=name,
                               start_frame=segment.start_frame, frames=segment.frames, media=media, panel_size=size,
                               move=move, transition=segment.transition, transition_frames=segment.transition_frames,
                               keys=camera_keys(segment, move, size, (width, height), _shake_seed(segment.shot)),
                               image=image))
    return tuple(video)


def _subtitle_cues(timeline: Timeline, storyboard: Storyboard, frame_size: tuple[int, int],
                   speech_spans_s: Any) -> tuple[SubtitleCue, ...]:
    """The animatic's subtitle cues (timed to the speech where there is some) in frames."""
    from lantern_studio.engines.story.subtitles import SubtitleStyle, build_cues

    style = SubtitleStyle.for_frame(*frame_size)
    return tuple(SubtitleCue(index=cue.index, shot_number=cue.shot_number, start_frame=cue.start_frame,
                             frames=cue.end_frame - cue.start_frame, lines=tuple(cue.lines))
                 for cue in build_cues(timeline, style=style, language=storyboard.language,
                                       speech_spans_s=speech_spans_s))


def _dialogue_clip(number: int, start_sample: int, audio: np.ndarray, *, recorded: bool, fps: int,
                   sample_rate: int) -> AudioClip:
    """Shot ``number``'s line as a clip on whole frames; ``sound_*_s`` keep where the sound itself is."""
    start_frame, frames, media = _frame_aligned(audio, start_sample, fps=fps, sample_rate=sample_rate)
    return AudioClip(name=f"Line · shot {number}", shot_number=number, start_frame=start_frame, frames=frames,
                     media=f"media/dialogue_shot_{number:04d}.wav", recorded=recorded,
                     sound_start_s=start_sample / sample_rate,
                     sound_end_s=(start_sample + audio.shape[0]) / sample_rate, audio=media)


def _music_clip(music: Any, timeline: Timeline, n_samples: int, *, sample_rate: int) -> AudioClip:
    """The music looped or trimmed to the whole timeline."""
    bed = music_bed(music, n_samples, sample_rate=sample_rate)
    return AudioClip(name="Music", shot_number=None, start_frame=0, frames=timeline.total_frames,
                     media="media/music.wav", recorded=True, sound_start_s=0.0, sound_end_s=timeline.duration_s,
                     audio=np.ascontiguousarray(bed, dtype=np.float32))


def _music_ducking(dialogue: tuple[AudioClip, ...], *, depth_db: float, duration_s: float) -> tuple[VolumeKey, ...]:
    """The music's volume keys: down ``depth_db`` under each line's sound, with the mixer's default attack
    and release."""
    from lantern_studio.kernels.mix import Ducking

    defaults = Ducking(key=1, targets=(0,))
    return ducking_keys([(c.sound_start_s, c.sound_end_s) for c in dialogue], depth_db=depth_db,
                        duration_s=duration_s, attack_s=defaults.attack_s, release_s=defaults.release_s)


def gain_at(keys: tuple[VolumeKey, ...], time_s: float) -> float:
    """The music's gain in dB at ``time_s`` under ``keys`` (the end keys hold before and after them)."""
    if not keys:
        return 0.0
    return float(np.interp(time_s, [k.time_s for k in keys], [k.gain_db for k in keys]))
