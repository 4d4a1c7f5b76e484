"""Subtitles: cues timed from the timeline, an SRT sidecar, and burned-in subtitle layers.

One list of :class:`Cue` drives both outputs, so the burned-in text and the SRT file agree to the frame.
A shot's dialogue is wrapped to the frame's safe width; when it needs more than ``max_lines`` lines it
is split into several cues that share the shot's time in proportion to their length (per-line timing),
each starting and ending on a frame boundary.

Burned-in text is drawn with PIL in a CJK-capable font (:func:`engines.fonts.require_cjk_font`), white with
a dark outline, centred inside the safe margins (a vertical video keeps clear of the bottom fifth, where
phone apps put their buttons), and handed to the composite kernel as a small premultiplied layer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lantern_studio.engines.atomic import atomic_write_text
from lantern_studio.engines.fonts import require_cjk_font
from lantern_studio.engines.story.timeline import FrameSpan, Timeline

#: Punctuation that must not start a line (it is kept with the character before it).
_NO_LINE_START = set("，。！？、；：,.!?;:…—）》」』】”’)]}%~～·")
#: Punctuation that must not end a line (it is carried to the next line with what follows).
_NO_LINE_END = set("（《「『【“‘([{")
_LATIN_WORD = re.compile(r"[A-Za-z0-9'’\-_]+\s*|\s+")


@dataclass(frozen=True)
class Cue(FrameSpan):
    """One subtitle: ``lines`` shown from ``start_frame`` (inclusive) to ``end_frame`` (exclusive)."""

    index: int                 # 1-based, as in SRT
    start_frame: int
    end_frame: int
    fps: int
    lines: tuple[str, ...]
    shot_number: int

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class SubtitleStyle:
    """Sizes in output pixels for a frame of ``width`` x ``height``."""

    font_px: int
    stroke_px: int
    margin_x_px: int
    margin_bottom_px: int
    line_gap_px: int
    max_lines: int = 2

    @classmethod
    def for_frame(cls, width: int, height: int, *, max_lines: int = 2) -> "SubtitleStyle":
        """Readable defaults: text ~5.5% of the shorter side; margins inside the title-safe area."""
        short = min(width, height)
        font_px = max(8, int(round(short * 0.055)))
        vertical = height > width
        return cls(font_px=font_px, stroke_px=max(1, int(round(font_px / 11))),
                   margin_x_px=int(round(width * (0.08 if vertical else 0.1))),
                   margin_bottom_px=int(round(height * (0.2 if vertical else 0.08))),
                   line_gap_px=max(1, int(round(font_px * 0.25))), max_lines=max_lines)


@lru_cache(maxsize=16)
def load_font(size_px: int, language: str = "zh") -> ImageFont.FreeTypeFont:
    """A CJK-capable font at ``size_px``; the Simplified Chinese face of a collection when there is one.

    Raises
    ------
    engines.fonts.FontNotFoundError
        No CJK font on this machine (the message says how to install one).
    """
    path = require_cjk_font()
    wanted = {"zh": " SC", "ja": " JP", "ko": " KR"}.get(language, " SC")
    if path.suffix.lower() == ".ttc":
        for index in range(8):
            try:
                font = ImageFont.truetype(str(path), size_px, index=index)
            except OSError:
                break
            if wanted in font.getname()[0]:
                return font
    return ImageFont.truetype(str(path), size_px)


def _tokens(text: str) -> list[str]:
    """Break units: latin words (with their trailing space) or single characters, punctuation attached."""
    units: list[str] = []
    pos = 0
    while pos < len(text):
        match = _LATIN_WORD.match(text, pos)
        if match:
            units.append(match.group(0))
            pos = match.end()
        else:
            units.append(text[pos])
            pos += 1
    tokens: list[str] = []
    carry = ""
    for unit in units:
        if carry:
            unit = carry + unit
            carry = ""
        if unit and unit[-1] in _NO_LINE_END and len(unit) == 1:
            carry = unit
            continue
        if tokens and unit[0] in _NO_LINE_START:
            tokens[-1] += unit
        else:
            tokens.append(unit)
    if carry:
        tokens.append(carry)
    return tokens


def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width_px: float) -> list[str]:
    """Greedy line wrapping by measured width; CJK breaks between characters, latin between words.

    Closing punctuation never starts a line and opening punctuation never ends one. A single unit wider
    than the line (a very long word) gets a line of its own.
    """
    text = " ".join(text.split())
    if not text:
        return []
    lines: list[str] = []
    current = ""
    for token in _tokens(text):
        candidate = current + token
        if current and font.getlength(candidate.rstrip()) > max_width_px:
            lines.append(current.rstrip())
            current = token.lstrip()
        else:
            current = candidate
    if current.strip():
        lines.append(current.rstrip())
    return lines


_SENTENCE = re.compile(r"[^。！？!?…；;]+[。！？!?…；;”’」』）)]*|[。！？!?…；;]+")


def chunk_dialogue(text: str, font: ImageFont.FreeTypeFont, max_width_px: float, *,
                   max_lines: int = 2) -> list[tuple[str, ...]]:
    """Split a line of dialogue into subtitle cues of at most ``max_lines`` wrapped lines each.

    Whole sentences are packed into a cue while they fit; a sentence too long for one cue is cut at
    line ends. Returns each cue's wrapped lines.
    """
    text = " ".join(text.split())
    sentences = [m.group(0).strip() for m in _SENTENCE.finditer(text) if m.group(0).strip()]
    chunks: list[tuple[str, ...]] = []
    current = ""
    for sentence in sentences:
        joiner = " " if current and _LATIN_WORD.match(current[-1]) and _LATIN_WORD.match(sentence[0]) else ""
        if current and len(wrap_text(current + joiner + sentence, font, max_width_px)) <= max_lines:
            current = current + joiner + sentence
            continue
        if current:
            chunks.append(tuple(wrap_text(current, font, max_width_px)))
            current = ""
        lines = wrap_text(sentence, font, max_width_px)
        while len(lines) > max_lines:
            chunks.append(tuple(lines[:max_lines]))
            lines = lines[max_lines:]
        current = "".join(lines) if not any(" " in line for line in lines) else " ".join(lines)
    if current:
        chunks.append(tuple(wrap_text(current, font, max_width_px)))
    return chunks


def build_cues(timeline: Timeline, *, style: SubtitleStyle, language: str = "zh",
               speech_spans_s: Mapping[int, tuple[float, float]] | None = None) -> list[Cue]:
    """Subtitle cues for every shot with dialogue, timed to the shot's frames, or to its speech.

    A shot whose wrapped dialogue fits ``style.max_lines`` lines is one cue spanning the shot. Longer
    dialogue is split into chunks of ``max_lines`` lines, each shown for a share of the shot proportional
    to its characters (at least one frame each). A shot in ``speech_spans_s`` (shot number ->
    ``(start_s, end_s)`` in which its line is audible) shows its cues from the frame nearest the speech's
    start to the frame nearest its end, instead of for the whole shot.
    """
    spoken = dict(speech_spans_s or {})
    font = load_font(style.font_px, language)
    max_width = timeline.width - 2 * style.margin_x_px
    cues: list[Cue] = []
    for segment in timeline.segments:
        shot = segment.shot
        if shot is None or not shot.dialogue.strip():
            continue
        chunks = chunk_dialogue(shot.dialogue, font, max_width, max_lines=style.max_lines)
        first_frame, frames = segment.start_frame, segment.frames
        if shot.number in spoken:
            start_s, end_s = spoken[shot.number]
            a = min(max(int(round(start_s * timeline.fps)), segment.start_frame), segment.end_frame - 1)
            b = min(max(int(round(end_s * timeline.fps)), a + 1), segment.end_frame)
            first_frame, frames = a, b - a
        chunks = chunks[:frames]                  # never more cues than frames
        weights = np.array([max(1, sum(len(line) for line in chunk)) for chunk in chunks], dtype=np.float64)
        bounds = np.round(np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * frames)
        bounds = bounds.astype(int)
        for i in range(1, len(bounds)):           # at least one frame per cue, staying inside the shot
            bounds[i] = min(max(bounds[i], bounds[i - 1] + 1), frames - (len(bounds) - 1 - i))
        for i, chunk in enumerate(chunks):
            cues.append(Cue(index=len(cues) + 1, start_frame=first_frame + int(bounds[i]),
                            end_frame=first_frame + int(bounds[i + 1]), fps=timeline.fps, lines=chunk,
                            shot_number=shot.number))
    return cues


def srt_timestamp(seconds: float) -> str:
    """``HH:MM:SS,mmm`` for a time in seconds (rounded to the millisecond)."""
    total_ms = int(round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{ms:03d}"


def srt_text(cues: list[Cue]) -> str:
    """The cues as SubRip text (UTF-8, blank line between cues, numbered from 1)."""
    blocks = [f"{n}\n{srt_timestamp(cue.start_s)} --> {srt_timestamp(cue.end_s)}\n{cue.text}\n"
              for n, cue in enumerate(cues, start=1)]
    return "\n".join(blocks)


def write_srt(cues: list[Cue], path: str | Path) -> Path:
    """Write the cues as an SRT file, atomically. Returns the path."""
    return atomic_write_text(path, srt_text(cues))


def render_subtitle(lines: tuple[str, ...] | list[str], *, frame_width: int, frame_height: int,
                    style: SubtitleStyle, language: str = "zh") -> tuple[np.ndarray, tuple[int, int]]:
    """Draw subtitle lines as a premultiplied RGBA image and say where it goes in the frame.

    Returns
    -------
    image : numpy.ndarray
        ``(h, w, 4)`` uint8, premultiplied alpha: white text with a near-black outline.
    position : (int, int)
        ``(x, y)`` of the image's top-left corner in frame pixels (bottom-centred in the safe area).
    """
    from lantern_studio.kernels.composite import premultiply

    font = load_font(style.font_px, language)
    lines = [line for line in lines if line]
    if not lines:
        return np.zeros((0, 0, 4), np.uint8), (0, 0)
    pad = style.stroke_px + 2
    ascent, descent = font.getmetrics()
    line_h = ascent + descent
    widths = [int(math.ceil(font.getlength(line))) for line in lines]
    width = max(widths) + 2 * pad
    height = len(lines) * line_h + (len(lines) - 1) * style.line_gap_px + 2 * pad
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        x = pad + (width - 2 * pad - widths[i]) / 2
        y = pad + i * (line_h + style.line_gap_px)
        draw.text((x, y), line, font=font, fill=(255, 255, 255, 255), stroke_width=style.stroke_px,
                  stroke_fill=(16, 16, 16, 235))
    x0 = (frame_width - width) // 2
    y0 = frame_height - style.margin_bottom_px - height
    return premultiply(np.asarray(image)), (int(x0), int(max(y0, 0)))
