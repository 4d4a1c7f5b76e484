"""From a shot list to a timed animatic: segments in frames, eased camera moves and transitions.

The timeline is the single source of timing for the video, the burned-in subtitles, the SRT sidecar and
the soundtrack, so all four agree to the frame.

* Every shot lasts a whole number of frames, ``max(1, round(duration_s * fps))``, counted on its own
  (not from a running total), so changing one shot never shifts the frame count of another.
* A shot's ``transition`` says how it is *entered*: its first ``transition_frames`` frames blend the
  previous segment (held at its end pose, a shake keeps moving) into this one. Transitions therefore
  live inside the incoming shot and the video lasts exactly the sum of its parts.
* An optional title card comes first and an end card last; both are segments like shots.

Camera moves are affine matrices (layer pixels to frame pixels, the convention of
:mod:`kernels.composite`) evaluated at any time, so motion is sub-pixel: nothing is rounded to whole
pixels, the composite kernel resamples bilinearly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lantern_studio.engines.story.model import CAMERA_MOVES, Shot, Storyboard

#: Output formats: name -> (width, height) in pixels.
FORMATS: dict[str, tuple[int, int]] = {"9:16": (1080, 1920), "16:9": (1920, 1080), "1:1": (1080, 1080)}
#: Frame rates offered to users.
FPS_CHOICES: tuple[int, ...] = (24, 25, 30)
#: Length of each transition kind in seconds (a cut has none).
TRANSITION_S: dict[str, float] = {"cut": 0.0, "dissolve": 0.5, "dip": 0.6, "wipe": 0.5}

#: Zoom reached by a push in (and left by a pull out), relative to a panel that just covers the frame.
PUSH_ZOOM = 1.18
#: Zoom held during pans and tilts, so there is panel to travel across.
PAN_ZOOM = 1.15
#: Zoom held during a shake, so its offsets never reveal an edge.
SHAKE_ZOOM = 1.06
#: Shake amplitude as a fraction of the frame's shorter side, and its rotation in degrees.
SHAKE_AMPLITUDE = 0.008
SHAKE_ROTATION_DEG = 0.35


def frame_size(format: str, *, scale: float = 1.0) -> tuple[int, int]:
    """(width, height) in pixels for a format name, scaled and rounded to even numbers (H.264 4:2:0).

    Raises
    ------
    ValueError
        For an unknown format name or a scale outside (0, 1].
    """
    if format not in FORMATS:
        raise ValueError(f"format {format!r} is not one of {', '.join(FORMATS)}")
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"scale must be in (0, 1], got {scale!r}")
    width, height = FORMATS[format]
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def shot_frames(duration_s: float, fps: int) -> int:
    """Frames a shot of ``duration_s`` seconds lasts at ``fps``: ``max(1, round(duration_s * fps))``."""
    return max(1, int(round(float(duration_s) * fps)))


def ease_in_out(progress: float) -> float:
    """Sine ease-in-out on [0, 1]: starts and ends with zero speed (no jolt at cuts)."""
    p = min(max(float(progress), 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * p)


class FrameSpan:
    """Frames ``[start_frame, end_frame)`` at ``fps``, in seconds (for dataclasses with those fields)."""

    start_frame: int
    end_frame: int
    fps: int

    @property
    def start_s(self) -> float:
        return self.start_frame / self.fps

    @property
    def end_s(self) -> float:
        return self.end_frame / self.fps


@dataclass(frozen=True)
class Segment(FrameSpan):
    """A run of frames: the title card, one shot, or the end card.

    ``start_frame`` is inclusive and ``end_frame`` exclusive, both in output frames. ``transition`` is
    how the segment is entered and ``transition_frames`` how many of its first frames blend in the
    previous segment (0 for a cut or the first segment).
    """

    kind: str                      # "title" | "shot" | "end"
    index: int                     # position in the timeline
    start_frame: int
    end_frame: int
    fps: int
    shot: Shot | None = None
    transition: str = "cut"
    transition_frames: int = 0

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    @property
    def label(self) -> str:
        return f"shot {self.shot.number}" if self.shot is not None else f"{self.kind} card"


@dataclass(frozen=True)
class Timeline:
    """Segments laid end to end at ``fps``; ``width`` x ``height`` is the output frame in pixels."""

    width: int
    height: int
    fps: int
    segments: tuple[Segment, ...] = field(default_factory=tuple)

    @property
    def total_frames(self) -> int:
        return self.segments[-1].end_frame if self.segments else 0

    @property
    def duration_s(self) -> float:
        return self.total_frames / self.fps

    def segment_at(self, frame: int) -> Segment:
        """The segment that holds output frame ``frame`` (0-based)."""
        for segment in self.segments:
            if segment.start_frame <= frame < segment.end_frame:
                return segment
        raise ValueError(f"frame {frame} is outside the timeline (0..{self.total_frames - 1})")


def build_timeline(storyboard: Storyboard, *, width: int, height: int, fps: int, title_card_s: float = 2.0,
                   end_card_s: float = 2.0) -> Timeline:
    """Lay a storyboard's shots out in frames, with optional title and end cards.

    Parameters
    ----------
    storyboard : Storyboard
        Its shots in order; each is validated (size, move, transition, a duration above 0 s).
    width, height : int
        Output frame size in pixels (even numbers).
    fps : int
        Frames per second, 1..120.
    title_card_s, end_card_s : float
        Seconds of the title card (shown only when the storyboard has a title) and the end card; 0 leaves
        a card out.

    Returns
    -------
    Timeline

    Raises
    ------
    ValueError
        No shots, an invalid shot, a bad size or frame rate.
    """
    if not isinstance(storyboard, Storyboard):
        raise ValueError(f"storyboard must be an engines.story.model.Storyboard, got {type(storyboard).__name__}")
    if not storyboard.shots:
        raise ValueError("the storyboard has no shots; paste a script or add a shot first")
    if not (isinstance(fps, (int, np.integer)) and 1 <= int(fps) <= 120):
        raise ValueError(f"fps must be a whole number of frames per second in 1..120, got {fps!r}")
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError(f"frame size must be even and at least 2x2 pixels, got {width}x{height}")
    for name, value in (("title_card_s", title_card_s), ("end_card_s", end_card_s)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be 0 (no card) or a positive number of seconds, got {value!r}")
    fps = int(fps)
    for shot in storyboard.shots:
        if not (isinstance(shot.duration_s, (int, float)) and math.isfinite(shot.duration_s)):
            raise ValueError(f"shot {shot.number}: duration must be a number of seconds, got {shot.duration_s!r}")
        shot.validate()
    segments: list[Segment] = []
    cursor = 0

    def add(kind: str, frames: int, shot: Shot | None, transition: str) -> None:
        nonlocal cursor
        if not segments:
            transition = "cut"
        trans_frames = 0
        if transition != "cut":
            # at least one frame, and always leave at least one clean frame of the incoming segment
            trans_frames = min(max(1, int(round(TRANSITION_S[transition] * fps))), max(frames - 1, 0))
            if trans_frames == 0:
                transition = "cut"
        segments.append(Segment(kind=kind, index=len(segments), start_frame=cursor, end_frame=cursor + frames,
                                fps=fps, shot=shot, transition=transition, transition_frames=trans_frames))
        cursor += frames

    if storyboard.title.strip() and title_card_s > 0:
        add("title", shot_frames(title_card_s, fps), None, "cut")
    for shot in storyboard.shots:
        add("shot", shot_frames(shot.duration_s, fps), shot, shot.transition)
    if end_card_s > 0:
        add("end", shot_frames(end_card_s, fps), None, "dip")
    return Timeline(width=int(width), height=int(height), fps=fps, segments=tuple(segments))


# ----------------------------------------------------------------------------------------------------
# Camera


def cover_scale(panel_size: tuple[int, int], frame_size: tuple[int, int]) -> float:
    """Scale at which a panel of ``(width, height)`` just covers a frame of ``(width, height)``."""
    pw, ph = panel_size
    fw, fh = frame_size
    if pw <= 0 or ph <= 0:
        raise ValueError(f"panel size must be positive, got {pw}x{ph}")
    return max(fw / pw, fh / ph)


def camera_view(move: str, t_s: float, duration_s: float, *, seed: int = 0) -> tuple[float, float, float, float]:
    """Where the camera looks at time ``t_s`` of a shot: ``(zoom, cx, cy, rotation_deg)``.

    ``zoom`` is relative to a panel that just covers the frame (1 = cover). ``cx`` and ``cy`` are the
    view centre's offset from the panel centre as a fraction of the *available slack* on that axis
    (-0.5..0.5: -0.5 puts the view against the panel's left/top edge). ``rotation_deg`` is only used by
    a shake. Times past the end hold the end pose (a shake keeps moving).

    Parameters
    ----------
    move : str
        One of :data:`engines.story.model.CAMERA_MOVES`.
    t_s : float
        Seconds since the shot started (may exceed ``duration_s`` while the next shot transitions in).
    duration_s : float
        The shot's length in seconds; the move runs from 0 to ``duration_s`` with sine easing.
    seed : int
        Picks the shake's phases, so one shot always shakes the same way.
    """
    if move not in CAMERA_MOVES:
        raise ValueError(f"camera move {move!r} is not one of {', '.join(CAMERA_MOVES)}")
    if not duration_s > 0:
        raise ValueError(f"duration_s must be more than 0, got {duration_s!r}")
    p = ease_in_out(t_s / duration_s)
    if move == "static":
        return 1.0, 0.0, 0.0, 0.0
    if move == "push_in":
        return 1.0 + (PUSH_ZOOM - 1.0) * p, 0.0, 0.0, 0.0
    if move == "pull_out":
        return PUSH_ZOOM - (PUSH_ZOOM - 1.0) * p, 0.0, 0.0, 0.0
    if move == "pan_left":      # the camera turns left: the view travels from the right edge to the left
        return PAN_ZOOM, 0.5 - p, 0.0, 0.0
    if move == "pan_right":
        return PAN_ZOOM, p - 0.5, 0.0, 0.0
    if move == "tilt_up":       # the camera tilts up: the view travels from the bottom to the top
        return PAN_ZOOM, 0.0, 0.5 - p, 0.0
    if move == "tilt_down":
        return PAN_ZOOM, 0.0, p - 0.5, 0.0
    # shake: a handheld wobble, a sum of incommensurate sines (smooth, never repeating within a shot)
    rng = np.random.default_rng(int(seed) & 0xFFFFFFFF)
    phases = rng.uniform(0, 2 * math.pi, size=6)
    t = float(t_s)
    x = (math.sin(2 * math.pi * 1.3 * t + phases[0]) + 0.5 * math.sin(2 * math.pi * 3.1 * t + phases[1])) / 1.5
    y = (math.sin(2 * math.pi * 1.7 * t + phases[2]) + 0.5 * math.sin(2 * math.pi * 2.3 * t + phases[3])) / 1.5
    r = math.sin(2 * math.pi * 0.9 * t + phases[4])
    return SHAKE_ZOOM, x, y, r * SHAKE_ROTATION_DEG


def camera_matrix(move: str, t_s: float, duration_s: float, *, panel_size: tuple[int, int],
                  frame_size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """The ``(2, 3)`` float64 panel-to-frame affine for a camera move at time ``t_s`` of a shot.

    The panel is scaled about its centre to ``cover_scale * zoom`` and its centre placed at the frame's
    centre, shifted by the view offset (see :func:`camera_view`). A shake's offset is a fraction of the
    frame's shorter side instead of the slack. All values are real numbers: motion is sub-pixel.

    Parameters
    ----------
    panel_size, frame_size : (int, int)
        ``(width, height)`` in pixels.
    """
    zoom, vx, vy, rotation_deg = camera_view(move, t_s, duration_s, seed=seed)
    pw, ph = panel_size
    fw, fh = frame_size
    k = cover_scale(panel_size, frame_size) * zoom
    if move == "shake":
        dx = -vx * SHAKE_AMPLITUDE * min(fw, fh)
        dy = -vy * SHAKE_AMPLITUDE * min(fw, fh)
    else:
        slack_x = max(pw * k - fw, 0.0)      # frame pixels of panel hidden on the x axis
        slack_y = max(ph * k - fh, 0.0)
        dx = -vx * slack_x                   # looking right moves the panel left
        dy = -vy * slack_y
    theta = math.radians(rotation_deg)
    c, s = math.cos(theta) * k, math.sin(theta) * k
    linear = np.array([[c, s], [-s, c]])
    centre = np.array([pw / 2.0, ph / 2.0])
    target = np.array([fw / 2.0 + dx, fh / 2.0 + dy])
    offset = target - linear @ centre
    return np.hstack([linear, offset[:, None]])


def transition_progress(k: int, n: int) -> float:
    """Blend amount of the incoming segment on its ``k``-th transition frame of ``n``: in (0, 1)."""
    return (k + 1) / (n + 1)
