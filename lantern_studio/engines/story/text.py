"""Lettering: CJK-aware wrapping, speech bubbles with tails, captions and sound-effect lettering, drawn with a
real CJK font (``engines.fonts.require_cjk_font``), and a check that the font covers every character used.

Wrapping breaks between any two CJK characters and between Latin words, and follows the usual Chinese and
Japanese line-breaking rules (kinsoku): closing punctuation such as ``，。！？」）`` never starts a line and
opening brackets such as ``「（《`` never end one. Everything here draws on PIL images; nothing is stored.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from lantern_studio.engines.fonts import require_cjk_font

INK = (20, 20, 24, 255)
PAPER = (255, 255, 255, 255)
CAPTION_FILL = (255, 244, 196, 255)

# never at the start of a line
_NO_START = set("，。！？、；：,.!?;:)）」』》〉】〕]}…‥·ー～~%％—–-‐’”'\"" + "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ")
# never at the end of a line
_NO_END = set("（「『《〈【〔([{‘“")


class GlyphCoverageError(ValueError):
    """The font cannot draw some characters of the text; the message lists them and says what to do."""


# ------------------------------------------------------------------------------------------------
# fonts
# ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _face_index(path: str, language: str) -> int:
    """The face of a font collection (.ttc) that suits the language: Simplified Chinese first for zh."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    wanted = {"zh": ("SC", "CN", "GB", "Hei", "Song"), "en": ("SC", "JP", "")}.get(language, ("SC",))
    names = []
    for index in range(32):
        try:
            names.append(ImageFont.truetype(path, 12, index=index).getname()[0])
        except OSError:
            break
    for marker in wanted:
        for index, name in enumerate(names):
            if marker and re.search(rf"\b{marker}\b", name):
                return index
    return 0


def font_path(*, bold: bool = False) -> Path:
    """The CJK font file in use (the bold sibling when one exists and ``bold`` is True)."""
    path = require_cjk_font()
    if bold:
        for candidate in (path.with_name(path.name.replace("Regular", "Bold")),
                          path.with_name(path.name.replace("-Regular", "-Black"))):
            if candidate != path and candidate.is_file():
                return candidate
    return path


@lru_cache(maxsize=64)
def get_font(size_px: int, *, bold: bool = False, language: str = "zh") -> ImageFont.FreeTypeFont:
    """A FreeType font of ``size_px`` pixels from the CJK font (regular or bold)."""
    if size_px < 1:
        raise ValueError(f"font size must be at least 1 px, not {size_px}")
    path = str(font_path(bold=bold))
    return ImageFont.truetype(path, int(size_px), index=_face_index(path, language))


@lru_cache(maxsize=4)
def _cmap(path: str, index: int) -> frozenset[int] | None:
    try:
        from fontTools.ttLib import TTCollection, TTFont
    except ImportError:
        return None
    if path.lower().endswith((".ttc", ".otc")):
        face = TTCollection(path, lazy=True).fonts[index]
    else:
        face = TTFont(path, lazy=True)
    return frozenset(face.getBestCmap().keys())


def missing_glyphs(text: str, *, bold: bool = False, language: str = "zh") -> list[str]:
    """Characters of ``text`` the font has no glyph for (whitespace and control characters are ignored).

    Reads the font's character map with fontTools when it is installed; otherwise compares each character's
    rendering with the font's "missing glyph" box.
    """
    path = str(font_path(bold=bold))
    index = _face_index(path, language)
    wanted = sorted({ch for ch in text if not ch.isspace() and unicodedata.category(ch)[0] != "C"})
    cmap = _cmap(path, index)
    if cmap is not None:
        return [ch for ch in wanted if ord(ch) not in cmap]
    font = ImageFont.truetype(path, 24, index=index)
    notdef = _glyph_bitmap(font, "\U0010fffd")
    return [ch for ch in wanted if _glyph_bitmap(font, ch) == notdef]


def _glyph_bitmap(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    image = Image.new("L", (48, 48))
    ImageDraw.Draw(image).text((8, 4), ch, font=font, fill=255)
    return image.tobytes()


def require_coverage(text: str, *, bold: bool = False, language: str = "zh") -> None:
    """Raise GlyphCoverageError when the font cannot draw every character of ``text``."""
    missing = missing_glyphs(text, bold=bold, language=language)
    if missing:
        shown = " ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in missing[:12])
        raise GlyphCoverageError(f"the font {font_path(bold=bold).name} has no glyph for {shown}; install a font "
                                 "that covers them (e.g. `fonts-noto-cjk`) or change the text")


# ------------------------------------------------------------------------------------------------
# wrapping and fitting
# ------------------------------------------------------------------------------------------------


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _tokens(paragraph: str) -> list[str]:
    """Unbreakable units: one CJK character, or a Latin word with its trailing spaces; punctuation glued."""
    raw = re.findall(r"[^\s\u2E80-\uFFEF]+\s*|[\u2E80-\uFFEF]\s*|\s+", paragraph)
    tokens: list[str] = []
    for token in raw:
        if tokens and (token[0] in _NO_START) and not tokens[-1].endswith(" "):
            tokens[-1] += token
        elif tokens and tokens[-1] and tokens[-1].rstrip()[-1:] in _NO_END:
            tokens[-1] += token
        else:
            tokens.append(token)
    return tokens


def _width(font: ImageFont.FreeTypeFont, text: str) -> float:
    return font.getlength(text)


def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width_px: float) -> list[str]:
    """Break ``text`` into lines no wider than ``max_width_px`` (explicit newlines are kept).

    A single unit wider than the line (a very long word) is split by characters.
    """
    if max_width_px <= 0:
        raise ValueError(f"max_width_px must be above 0, not {max_width_px}")
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for token in _tokens(paragraph.strip()):
            candidate = line + token
            if _width(font, candidate.rstrip()) <= max_width_px or not line:
                if not line and _width(font, token.rstrip()) > max_width_px:
                    # a unit longer than the whole line: split it by characters
                    for ch in token:
                        if line and _width(font, (line + ch).rstrip()) > max_width_px:
                            lines.append(line.rstrip())
                            line = ""
                        line += ch
                    continue
                line = candidate
            else:
                lines.append(line.rstrip())
                line = token.lstrip() if not _is_wide(token[:1] or "a") else token
        lines.append(line.rstrip())
    while lines and lines[-1] == "" and len(lines) > 1:
        lines.pop()
    return lines


def line_height(font: ImageFont.FreeTypeFont, spacing: float = 1.25) -> int:
    ascent, descent = font.getmetrics()
    return int(math.ceil((ascent + descent) * spacing))


@dataclass(frozen=True)
class TextFit:
    font: ImageFont.FreeTypeFont
    lines: list[str]
    width_px: int
    height_px: int


def fit_text(text: str, *, max_width_px: float, max_height_px: float, max_size_px: int, min_size_px: int = 10,
             bold: bool = False, language: str = "zh", spacing: float = 1.25) -> TextFit:
    """The largest font size (from ``max_size_px`` down) at which ``text`` wraps into the box.

    At ``min_size_px`` the text is cut with an ellipsis rather than overflowing the box.
    """
    size = int(max_size_px)
    while True:
        font = get_font(size, bold=bold, language=language)
        lines = wrap_text(text, font, max_width_px)
        height = line_height(font, spacing) * len(lines)
        if height <= max_height_px or size <= min_size_px:
            break
        size = max(min_size_px, int(size * 0.9))
    step = line_height(font, spacing)
    max_lines = max(1, int(max_height_px // step))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and _width(font, last + "…") > max_width_px:
            last = last[:-1]
        lines[-1] = last + "…"
    width = max((_width(font, line) for line in lines), default=0)
    return TextFit(font=font, lines=lines, width_px=int(math.ceil(width)), height_px=step * len(lines))


def draw_lines(draw: ImageDraw.ImageDraw, fit: TextFit, box: tuple[float, float, float, float], *,
               fill=INK, align: str = "center", spacing: float = 1.25) -> None:
    """Draw fitted lines centred vertically in ``box`` (x0, y0, x1, y1), aligned left or centre."""
    x0, y0, x1, y1 = box
    step = line_height(fit.font, spacing)
    top = y0 + (y1 - y0 - fit.height_px) / 2
    ascent, descent = fit.font.getmetrics()
    pad = (step - (ascent + descent)) / 2
    for number, line in enumerate(fit.lines):
        width = _width(fit.font, line)
        x = x0 if align == "left" else x0 + (x1 - x0 - width) / 2
        draw.text((x, top + number * step + pad), line, font=fit.font, fill=fill)


# ------------------------------------------------------------------------------------------------
# bubbles, captions, sound effects
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bubble:
    """Where a bubble went: its box, the box its text was drawn in, the tail tip, the fitted text."""

    box: tuple[int, int, int, int]
    text_box: tuple[int, int, int, int]
    tail_tip: tuple[int, int] | None
    fit: TextFit


def layout_bubble(text: str, *, anchor_x: float, top: float, max_width_px: float, max_height_px: float,
                  frame: tuple[int, int], max_size_px: int, language: str = "zh") -> tuple[TextFit, tuple]:
    """Fit ``text`` and place a bubble box centred on ``anchor_x`` below ``top``, kept inside ``frame``."""
    pad_x = max(10, int(max_size_px * 0.9))
    pad_y = max(8, int(max_size_px * 0.6))
    fit = fit_text(text, max_width_px=max_width_px - 2 * pad_x, max_height_px=max_height_px - 2 * pad_y,
                   max_size_px=max_size_px, min_size_px=max(10, max_size_px // 3), language=language)
    width = fit.width_px + 2 * pad_x
    height = fit.height_px + 2 * pad_y
    frame_w, frame_h = frame
    margin = max(6, frame_w // 60)
    x0 = min(max(margin, anchor_x - width / 2), frame_w - margin - width)
    y0 = top
    box = (int(x0), int(y0), int(x0 + width), int(min(frame_h - margin, y0 + height)))
    return fit, box


def draw_bubble(image: Image.Image, fit: TextFit, box: tuple[int, int, int, int], *,
                tail_to: tuple[float, float] | None, outline_px: int = 3, kind: str = "speech") -> Bubble:
    """Draw a speech bubble (rounded, white, ink outline) with a tail toward ``tail_to`` and its text.

    ``kind`` ``"speech"`` or ``"thought"`` (dotted tail) or ``"radio"`` (jagged, for V.O./phone).
    The tail is at most a third of the bubble's height beyond it plus the distance to the speaker, and
    always starts inside the bubble, so the two read as one shape. Returns the :class:`Bubble` drawn.
    """
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    radius = int(min(h / 2, w / 2, max(14, h * 0.45)))
    scale = 2                                   # shapes are drawn at 2x and scaled down: smooth edges
    pad = outline_px * 2 + 4
    tip = None
    left, top, right, bottom = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    tail = None
    if tail_to is not None:
        tx, ty = tail_to
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        # the tail leaves the bubble's bottom (or top) edge on the speaker's side
        base_y = y1 - radius * 0.3 if ty >= cy else y0 + radius * 0.3
        base_x = min(max(tx, x0 + radius), x1 - radius)
        base_x = cx + (base_x - cx) * 0.6
        reach = max(h * 0.6, 18)
        dx, dy = tx - base_x, ty - base_y
        distance = math.hypot(dx, dy) or 1.0
        length = min(distance, reach + h * 0.2)
        tip = (base_x + dx / distance * length, base_y + dy / distance * length)
        half = max(8, min(w, h) * 0.16)
        nx, ny = -dy / distance, dx / distance
        tail = [(base_x + nx * half, base_y + ny * half), (base_x - nx * half, base_y - ny * half), tip]
        left, top = min(left, tip[0] - pad), min(top, tip[1] - pad)
        right, bottom = max(right, tip[0] + pad), max(bottom, tip[1] + pad)
    left, top, right, bottom = int(math.floor(left)), int(math.floor(top)), int(math.ceil(right)), \
        int(math.ceil(bottom))
    layer = Image.new("RGBA", ((right - left) * scale, (bottom - top) * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)

    def s(points):
        return [((x - left) * scale, (y - top) * scale) for x, y in points]

    o = outline_px * scale
    inner = [(x0 - left) * scale, (y0 - top) * scale, (x1 - left) * scale, (y1 - top) * scale]
    outer = [inner[0] - o, inner[1] - o, inner[2] + o, inner[3] + o]
    if kind == "radio":
        _jagged(draw, outer, INK)
        _jagged(draw, inner, PAPER)
    else:
        draw.rounded_rectangle(outer, radius * scale + o, fill=INK)
    if tail is not None and kind != "thought":
        draw.polygon(s(tail), fill=INK)
        draw.line(s(tail + [tail[0]]), fill=INK, width=o * 2, joint="curve")
        # the white inside of the tail, pulled back from the tip so the ink outline shows all round
        draw.polygon(s(tail[:2] + [_toward(tail[2], tail[0], tail[1], outline_px * 1.2)]), fill=PAPER)
    if kind != "radio":
        draw.rounded_rectangle(inner, radius * scale, fill=PAPER)
    if tail is not None and kind == "thought":
        for step in (0.35, 0.65, 0.9):
            px = tail[0][0] + (tail[2][0] - (tail[0][0] + tail[1][0]) / 2) * step + (tail[1][0] - tail[0][0]) / 2
            py = (tail[0][1] + tail[1][1]) / 2 + (tail[2][1] - (tail[0][1] + tail[1][1]) / 2) * step
            r = max(3, h * 0.08 * (1.1 - step))
            draw.ellipse(s([(px - r, py - r), (px + r, py + r)]), fill=PAPER, outline=INK, width=o)
    layer = layer.resize((right - left, bottom - top), Image.Resampling.BOX)     # an exact 2x box filter
    _paste_clipped(image, layer, left, top)
    text_box = (x0 + (w - fit.width_px) // 2, y0 + (h - fit.height_px) // 2,
                x0 + (w + fit.width_px) // 2, y0 + (h + fit.height_px) // 2)
    draw_lines(ImageDraw.Draw(image), fit, box)
    return Bubble(box=box, text_box=text_box, tail_tip=(int(tip[0]), int(tip[1])) if tip else None, fit=fit)


def _toward(tip, a, b, inset):
    """The tail tip pulled back toward its base by ``inset`` px, so the ink line stays visible at the point."""
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    dx, dy = mx - tip[0], my - tip[1]
    distance = math.hypot(dx, dy) or 1.0
    return (tip[0] + dx / distance * inset * 2, tip[1] + dy / distance * inset * 2)


def _jagged(draw: ImageDraw.ImageDraw, box, fill) -> None:
    x0, y0, x1, y1 = box
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    points = []
    for k in range(48):
        angle = 2 * math.pi * k / 48
        r = 1.0 if k % 2 == 0 else 0.9
        points.append((cx + rx * r * math.cos(angle) * 1.04, cy + ry * r * math.sin(angle) * 1.1))
    draw.polygon(points, fill=fill)


def _paste_clipped(image: Image.Image, layer: Image.Image, left: int, top: int) -> None:
    """Composite ``layer`` at (left, top), cutting off whatever falls outside ``image``."""
    crop_x, crop_y = max(0, -left), max(0, -top)
    right = min(layer.width, image.width - left)
    bottom = min(layer.height, image.height - top)
    if right <= crop_x or bottom <= crop_y:
        return
    image.alpha_composite(layer.crop((crop_x, crop_y, right, bottom)), (max(0, left), max(0, top)))


def draw_caption(image: Image.Image, text: str, *, box: tuple[int, int, int, int], max_size_px: int,
                 language: str = "zh", fill=CAPTION_FILL, anchor: str = "bottom") -> tuple[int, int, int, int]:
    """A narration/action caption: a pale box with an ink border and left-aligned text, shrunk to its text.

    Returns the box actually drawn: ``box``'s width, no taller than ``box``, sitting on ``box``'s bottom edge
    (``anchor="bottom"``) or hanging from its top edge (``"top"``).
    """
    x0, y0, x1, y1 = box
    pad = max(8, max_size_px // 2)
    fit = fit_text(text, max_width_px=x1 - x0 - 2 * pad, max_height_px=y1 - y0 - 2 * pad,
                   max_size_px=max_size_px, min_size_px=max(9, max_size_px // 3), language=language)
    height = fit.height_px + 2 * pad
    drawn = (x0, y1 - height, x1, y1) if anchor == "bottom" else (x0, y0, x1, y0 + height)
    draw = ImageDraw.Draw(image)
    border = max(2, max_size_px // 12)
    draw.rectangle(drawn, fill=fill, outline=INK, width=border)
    draw_lines(draw, fit, (x0 + pad, drawn[1] + pad, x1 - pad, drawn[3] - pad), align="left")
    return drawn


def draw_sfx(image: Image.Image, text: str, *, center: tuple[float, float], size_px: int,
             color: tuple[int, int, int] = (255, 214, 10), angle_deg: float = 12.0, language: str = "zh") -> None:
    """Sound-effect lettering: big bold letters in ``color`` with a thick ink outline, tilted by ``angle_deg``."""
    font = get_font(max(8, int(size_px)), bold=True, language=language)
    stroke = max(2, int(size_px * 0.09))
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    layer = Image.new("RGBA", (right - left + 2 * stroke + 4, bottom - top + 2 * stroke + 4), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((-left + stroke + 2, -top + stroke + 2), text, font=font, fill=color + (255,),
                               stroke_width=stroke, stroke_fill=INK)
    layer = layer.rotate(angle_deg, resample=Image.Resampling.BICUBIC, expand=True)
    x = int(center[0] - layer.width / 2)
    y = int(center[1] - layer.height / 2)
    x = min(max(0, x), max(0, image.width - layer.width))
    y = min(max(0, y), max(0, image.height - layer.height))
    image.alpha_composite(layer.crop((0, 0, min(layer.width, image.width - x), min(layer.height, image.height - y))),
                          (x, y))
