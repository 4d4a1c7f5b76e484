"""Panel renderers: one interface, two renderers (this module's procedural previz, and
``engines.story.diffusers_panels.DiffusersRenderer`` on local weights).

A renderer answers ``available()`` and ``render(shot, board, *, size, lettering)`` returning a
:class:`RenderedPanel` (an RGBA image plus where each character's head is, so bubbles can point at the
speaker); ``render_many`` renders a list of shots with progress and cancel.

The **previz** renderer draws a clean storyboard panel from the shot and the character bible alone, with no
weights: a background from the scene heading (interior/exterior, day/night, location keywords such as street,
kitchen, living room; the same palette every time the location comes back), the characters as stylised
figures in their bible colours with name tags, framing that follows the shot size, camera-move arrows, a
header with shot number, size, move and duration, and the dialogue in a bubble pointing at the speaker.
It is deterministic (same shot and bible, same pixels) and fast (well under 0.2 s for 1080x1920).

:func:`render_panel` is the one-call entry point the animatic uses per shot.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

from PIL import Image, ImageDraw, ImageFilter

from lantern_studio.engines.jobs import check_cancel
from lantern_studio.engines.story import previz_sets
from lantern_studio.engines.story.bible import appearance
from lantern_studio.engines.story.model import Character, Shot, Storyboard
from lantern_studio.engines.story.text import (INK, draw_bubble, draw_caption, draw_lines, draw_sfx, fit_text, get_font,
                                layout_bubble)

DEFAULT_PANEL_SIZE = (1080, 1920)
MAX_PANEL_SIDE = 8192


@dataclass
class RenderedPanel:
    """A rendered panel: ``image`` (RGBA, ``size``), ``anchors`` maps a character name to the pixel (x, y) of
    their head (where a bubble's tail points); ``renderer`` names who drew it."""

    shot_number: int
    image: Image.Image
    anchors: dict[str, tuple[float, float]] = field(default_factory=dict)
    renderer: str = "previz"


class PanelRenderer(Protocol):
    name: str

    def available(self) -> tuple[bool, str]: ...

    def render(self, shot: Shot, board: Storyboard, *, size: tuple[int, int] = DEFAULT_PANEL_SIZE,
               lettering: bool = True) -> RenderedPanel: ...

    def render_many(self, board: Storyboard, *, size: tuple[int, int] = DEFAULT_PANEL_SIZE,
                    shots: Iterable[Shot] | None = None, lettering: bool = True, progress=None,
                    cancel=None) -> list[RenderedPanel]: ...


def check_size(size) -> tuple[int, int]:
    """``(width, height)`` in pixels, each 64..8192; raise ValueError otherwise."""
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height) in pixels, not {size!r}") from None
    if not (64 <= width <= MAX_PANEL_SIDE and 64 <= height <= MAX_PANEL_SIDE):
        raise ValueError(f"panel size {width}x{height} is outside 64..{MAX_PANEL_SIDE} px per side")
    return width, height


class RendererBase:
    """``render_many`` for renderers that draw one shot at a time."""

    name = "base"

    def render(self, shot: Shot, board: Storyboard, *, size=DEFAULT_PANEL_SIZE, lettering=True) -> RenderedPanel:
        raise NotImplementedError

    def render_many(self, board: Storyboard, *, size=DEFAULT_PANEL_SIZE, shots: Iterable[Shot] | None = None,
                    lettering: bool = True, progress: Callable[[float, str], None] | None = None,
                    cancel=None) -> list[RenderedPanel]:
        """Render ``shots`` (default: all of the board's), reporting progress; stop between panels on cancel.

        Raises ``engines.jobs.Cancelled`` carrying the finished panels as ``.partial`` when cancelled.
        """
        shots = list(board.shots if shots is None else shots)
        done: list[RenderedPanel] = []
        for index, shot in enumerate(shots):
            check_cancel(cancel, f"cancelled after {len(done)} of {len(shots)} panels", done)
            done.append(self.render(shot, board, size=size, lettering=lettering))
            if progress is not None:
                progress((index + 1) / len(shots), f"panel {index + 1}/{len(shots)} (shot {shot.number})")
        return done


# ------------------------------------------------------------------------------------------------
# the setting: what a scene heading says about the place
# ------------------------------------------------------------------------------------------------

_LOCATIONS = (
    ("mountain", ("山路", "山道", "盘山", "山间", "山上", "山顶", "mountain", "hillside", "hill road")),
    ("bridge", ("桥", "bridge")),
    ("river", ("江边", "河边", "河岸", "江岸", "湖边", "岸边", "码头", "江", "河", "river", "riverbank", "bank",
               "lake", "canal", "pier")),
    ("market", ("菜市场", "市场", "集市", "夜市", "庙会", "早市", "摊", "market", "bazaar", "fair", "stalls")),
    ("courtyard", ("四合院", "院子", "庭院", "院落", "天井", "courtyard", "yard")),
    ("classroom", ("教室", "课堂", "学校", "classroom", "school")),
    ("street", ("街", "巷", "胡同", "路口", "马路", "street", "road", "alley", "avenue", "lane")),
    ("kitchen", ("厨房", "灶", "kitchen")),
    ("living", ("客厅", "堂屋", "饭厅", "living room", "lounge", "dining", "home", "家")),
    ("bedroom", ("卧室", "房间", "bedroom")),
    ("pool", ("泳池", "游泳池", "pool")),
    ("garden", ("花园", "阳台", "patio", "garden", "porch")),
    ("garage", ("车库", "garage")),
    ("mansion", ("别墅", "豪宅", "mansion", "palace", "palatial")),
    ("shack", ("小屋", "棚", "shack", "cabin", "hut")),
    ("trailer", ("房车", "trailer", "caravan")),
    ("office", ("办公室", "公司", "office")),
    ("restaurant", ("饭店", "餐厅", "酒吧", "酒店", "restaurant", "diner", "bar", "cafe")),
    ("shop", ("商店", "小店", "店铺", "杂货", "超市", "铺子", "店", "shop", "store", "grocery")),
)
_EXTERIOR_LOCATIONS = {"street", "pool", "garden", "mansion", "river", "bridge", "market", "courtyard", "mountain"}
# what makes a scene a festival scene: red lanterns go up
_FESTIVAL_WORDS = ("灯笼", "花灯", "元宵", "春节", "过年", "新年", "年夜", "除夕", "庙会", "舞狮", "舞龙", "中秋", "灯会",
                   "拜年", "鞭炮", "lantern", "festival", "new year", "lion dance", "temple fair")


@dataclass(frozen=True)
class Setting:
    interior: bool
    time: str            # "day", "night", "dawn", "dusk"
    location: str        # a key of _LOCATIONS or "generic"
    key: str             # stable id of the place (palette and props depend only on it)
    festival: bool = False     # red lanterns go up


def _location_in(text: str) -> str:
    low = f" {text.lower()} "
    for key, words in _LOCATIONS:
        if any((w in text) if re.search(r"[^\x00-\x7f]", w) else re.search(rf"\b{re.escape(w)}\b", low)
               for w in words):
            return key
    return "generic"


def parse_setting(scene: str) -> Setting:
    """Interior/exterior, time of day and location kind from a scene heading (Chinese or English)."""
    from lantern_studio.engines.story.vocabulary import parse_scene_line

    text = scene.strip()
    low = f" {text.lower()} "
    line = parse_scene_line(text)
    location = _location_in(line.place if line and line.place else text)
    upper = text.upper()
    if line and line.int_ext:
        interior = line.int_ext == "INT"
    elif upper.startswith(("EXT", "I/E", "INT./EXT", "INT/EXT")) or "外景" in text:
        interior = False
    elif upper.startswith("INT") or "内景" in text:
        interior = True
    else:
        interior = location not in _EXTERIOR_LOCATIONS
    if line and line.time_of_day:
        time = line.time_of_day
    elif any(w in text for w in ("夜", "晚")) or re.search(r"\b(night|evening|midnight)\b", low):
        time = "night"
    elif any(w in text for w in ("黄昏", "傍晚", "日落")) or re.search(r"\b(dusk|sunset|twilight)\b", low):
        time = "dusk"
    elif any(w in text for w in ("清晨", "黎明", "早晨")) or re.search(r"\b(dawn|sunrise)\b", low):
        time = "dawn"
    else:
        time = "day"
    place = re.sub(r"^\s*(第\s*\S+?[场幕集节]|场景\s*\S+)\s*", "", text)
    place = re.sub(r"\b(INT|EXT|EST|I/E)\.?/?(EXT\.?)?\s*", "", place, flags=re.IGNORECASE)
    place = re.sub(r"(内景|外景|日|夜|晚|白天|黄昏|傍晚)|[-–—]\s*(DAY|NIGHT|EVENING|MORNING|DUSK|LATER|CONTINUOUS)\b",
                   "", place, flags=re.IGNORECASE)
    key = re.sub(r"\s+", " ", place).strip(" -–—.").lower() or location
    festival = any(w in low for w in _FESTIVAL_WORDS)
    return Setting(interior=interior, time=time, location=location, key=key, festival=festival)


def setting_for(shot: Shot, board: Storyboard) -> Setting:
    """The set a shot is drawn in: the scene heading, overridden by the shot's own INT/EXT and time of day
    (what the shot list says, edits included); a heading that names no place takes it from the action or the
    lines (``河边``, ``the market``); lanterns when the scene, the shot or the title is festive."""
    from lantern_studio.engines.story.vocabulary import parse_scene_line

    base = parse_setting(shot.scene or board.title)
    location, interior, time = base.location, base.interior, base.time
    heading = shot.scene.strip()
    line = parse_scene_line(heading) if heading else None
    said_inside = bool(line and line.int_ext) or heading.upper().startswith(("INT", "EXT", "I/E", "EST")) or \
        "内景" in heading or "外景" in heading
    said_time = bool(line and line.time_of_day) or base.time != "day" or bool(
        re.search(r"(?i)\b(day|morning|noon|afternoon)\b|日|白天", heading))
    from lantern_studio.engines.story.shots import is_narrator

    # what the beat shows: the action, or the narration read over it (prose); not what people say
    beat = " ".join((shot.action, shot.dialogue if is_narrator(shot.speaker) else ""))
    words = " ".join((beat, shot.scene, board.title))
    named = _location_in(beat)
    if location == "generic" or (line is None and named != "generic"):
        # a heading that is not a scene line (a prose chapter title) names no place: the beat does
        location = named if named != "generic" else location
        if named != "generic" and not said_inside:
            interior = named not in _EXTERIOR_LOCATIONS
    if not said_time:       # prose says the time in its sentences: 夜里, 月光, at dusk
        if re.search(r"夜|晚上|月光|深夜|(?i:\b(night|midnight|moonlight)\b)", beat):
            time = "night"
        elif re.search(r"黄昏|傍晚|夕阳|(?i:\b(dusk|sunset)\b)", beat):
            time = "dusk"
    if shot.int_ext:
        interior = shot.int_ext == "INT"
    if shot.time_of_day:
        time = shot.time_of_day
    festival = base.festival or any(w in words.lower() for w in _FESTIVAL_WORDS)
    return Setting(interior=interior, time=time, location=location, key=base.key, festival=festival)


def _rgb(hex_color: str) -> tuple[int, int, int]:
    value = hex_color.lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
        raise ValueError(f"colour {hex_color!r} is not #rrggbb")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round(a[i] + (b[i] - a[i]) * t)) for i in range(3))


def _shade(color, factor: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, int(c * factor))) for c in color[:3])


@dataclass(frozen=True)
class Palette:
    sky_top: tuple
    sky_bottom: tuple
    wall: tuple
    floor: tuple
    accent: tuple
    line: tuple
    window_light: tuple


_BASE_PALETTES = {
    "street": ((86, 72, 70), (130, 104, 92), (178, 52, 44)),
    "kitchen": ((226, 214, 186), (150, 112, 84), (70, 130, 120)),
    "living": ((216, 190, 160), (132, 92, 66), (186, 40, 40)),
    "bedroom": ((196, 200, 220), (150, 120, 100), (120, 100, 160)),
    "pool": ((220, 210, 190), (200, 190, 170), (60, 160, 210)),
    "garden": ((200, 196, 170), (120, 150, 90), (200, 120, 60)),
    "garage": ((150, 150, 150), (110, 110, 112), (200, 150, 40)),
    "mansion": ((236, 230, 214), (160, 170, 120), (190, 160, 90)),
    "shack": ((140, 104, 70), (120, 110, 80), (90, 70, 50)),
    "trailer": ((190, 180, 150), (120, 100, 80), (160, 80, 60)),
    "office": ((210, 214, 218), (120, 120, 130), (50, 100, 160)),
    "restaurant": ((200, 160, 120), (110, 70, 50), (200, 60, 50)),
    "river": ((190, 200, 180), (118, 140, 96), (60, 130, 180)),
    "bridge": ((190, 196, 186), (120, 136, 100), (150, 146, 136)),
    "market": ((200, 170, 140), (150, 130, 110), (210, 60, 50)),
    "courtyard": ((190, 184, 172), (156, 150, 140), (170, 40, 40)),
    "mountain": ((170, 180, 160), (120, 140, 90), (90, 120, 80)),
    "shop": ((226, 214, 190), (140, 112, 84), (90, 110, 170)),
    "classroom": ((226, 224, 206), (160, 130, 96), (60, 110, 80)),
}


def palette_for(setting: Setting) -> Palette:
    """The location's palette: fixed per location key, darkened and cooled at night, warmed at dusk."""
    if setting.location in _BASE_PALETTES:
        wall, floor, accent = _BASE_PALETTES[setting.location]
    else:
        h = zlib.crc32(setting.key.encode("utf-8"))
        wall = (170 + h % 60, 160 + (h >> 8) % 60, 150 + (h >> 16) % 60)
        floor = _shade(wall, 0.62)
        accent = (120 + (h >> 4) % 120, 60 + (h >> 12) % 100, 60 + (h >> 20) % 120)
    if setting.time == "night":
        sky = ((14, 18, 48), (58, 44, 92))
        wall, floor = _mix(_shade(wall, 0.55), (40, 50, 90), 0.25), _mix(_shade(floor, 0.5), (30, 35, 70), 0.3)
        light = (255, 204, 110)
    elif setting.time == "dusk":
        sky = ((70, 60, 130), (250, 150, 90))
        wall, floor = _mix(wall, (250, 170, 110), 0.2), _mix(floor, (120, 70, 60), 0.2)
        light = (255, 214, 140)
    elif setting.time == "dawn":
        sky = ((150, 170, 220), (250, 210, 180))
        wall, floor = _mix(wall, (250, 170, 110), 0.2), _mix(floor, (120, 70, 60), 0.2)
        light = (255, 214, 140)
    else:
        sky = ((110, 170, 230), (200, 228, 246))
        light = (230, 242, 255)
    return Palette(sky_top=sky[0], sky_bottom=sky[1], wall=wall, floor=floor, accent=accent,
                   line=_shade(floor, 0.45), window_light=light)


# ------------------------------------------------------------------------------------------------
# the camera: shot size -> zoom and where it looks
# ------------------------------------------------------------------------------------------------

FLOOR_Y = 0.84          # world units: the visible height of a wide shot is 1.0
FIGURE_HEIGHT = 0.46    # an adult, world units
ZOOM = {"EWS": 0.42, "WS": 1.0, "MS": 2.0, "MCU": 3.1, "CU": 5.0, "ECU": 9.5}
# where the frame centre sits on the focus character, as a fraction of their height above the feet
FOCUS_HEIGHT = {"EWS": None, "WS": None, "MS": 0.62, "MCU": 0.78, "CU": 0.86, "ECU": 0.9}


@dataclass
class Camera:
    zoom: float
    cx: float
    cy: float
    width: int
    height: int

    def px(self, x: float, y: float) -> tuple[float, float]:
        return ((x - self.cx) * self.zoom * self.height + self.width / 2,
                (y - self.cy) * self.zoom * self.height + self.height / 2)

    def length(self, world: float) -> float:
        return world * self.zoom * self.height

    def box(self, x0, y0, x1, y1) -> list[float]:
        a, b = self.px(x0, y0)
        c, d = self.px(x1, y1)
        return [a, b, c, d]


def _cast(shot: Shot, board: Storyboard) -> list[Character]:
    from lantern_studio.engines.story.shots import is_narrator

    names = list(dict.fromkeys(([shot.speaker] if shot.speaker else []) + list(shot.characters) +
                               ([shot.dual_speaker] if shot.dual_speaker else [])))
    names = [n for n in names if not is_narrator(n)]
    cast = []
    for name in names:
        character = board.characters.get(name)
        if character is None:
            character = Character(name=name, color="#7f8c8d", seed=zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF)
        cast.append(character)
    return cast


def _staging(shot: Shot, board: Storyboard, aspect: float) -> tuple[list[tuple[Character, float, int]], str | None]:
    """Who stands where (world x) facing which way (+1 right, -1 left), and who the camera looks at."""
    cast = _cast(shot, board)
    if not cast:
        return [], None
    close = shot.size in ("MCU", "CU", "ECU")
    order = list(board.characters)
    if close and shot.speaker and not shot.dual_speaker:
        speaker = next(c for c in cast if c.name == shot.speaker)
        index = order.index(speaker.name) if speaker.name in order else 0
        side = -1 if index % 2 == 0 else 1            # shot / reverse shot: alternate sides
        x = 0.5 + side * 0.06 * min(1.0, aspect * 1.4)
        return [(speaker, x, -side)], speaker.name
    if close:
        cast = cast[:2]
    spacing = 0.2 if shot.size != "EWS" else 0.16
    xs = [0.5 + (i - (len(cast) - 1) / 2) * spacing for i in range(len(cast))]
    staged = []
    for i, (character, x) in enumerate(zip(cast, xs)):
        facing = 1 if x < 0.5 else -1 if x > 0.5 else (1 if i % 2 == 0 else -1)
        staged.append((character, x, facing))
    focus = shot.speaker or cast[0].name
    return staged, focus


def _camera(shot: Shot, staged, focus: str | None, size: tuple[int, int]) -> Camera:
    width, height = size
    zoom = ZOOM.get(shot.size, 1.0)
    cx, cy = 0.5, 0.55
    if shot.size == "EWS":
        cy = 0.5
    focus_height = FOCUS_HEIGHT.get(shot.size)
    if len(staged) > 1 and shot.size != "EWS":
        # widen the framing until everyone in the shot fits across the frame
        positions = [x for _, x, _ in staged]
        spread = max(positions) - min(positions) + FIGURE_HEIGHT * 0.45
        zoom = min(zoom, (width / height) * 0.92 / spread)
    if focus_height is not None:
        if staged:
            positions = [x for _, x, _ in staged]
            spot = next((x for c, x, _ in staged if c.name == focus), positions[0])
            cx = spot if len(staged) == 1 else (min(positions) + max(positions)) / 2
            tallest = max(appearance(c).height for c, _, _ in staged)
            cy = FLOOR_Y - FIGURE_HEIGHT * tallest * focus_height
            # leave headroom for the bubble at the top of portrait frames
            cy -= 0.06 / zoom * (height / width)
        else:   # nobody in a close shot: look at the window (inside) or up the street (outside)
            setting = parse_setting(shot.scene)
            cx, cy = (0.23, 0.38) if setting.interior else (0.5, 0.45)
    return Camera(zoom=zoom, cx=cx, cy=cy, width=width, height=height)


# ------------------------------------------------------------------------------------------------
# backgrounds
# ------------------------------------------------------------------------------------------------


def _gradient(size: tuple[int, int], top, bottom) -> Image.Image:
    column = Image.linear_gradient("L").resize((1, size[1]))
    return Image.composite(Image.new("RGB", (1, size[1]), bottom), Image.new("RGB", (1, size[1]), top),
                           column).resize(size, Image.Resampling.NEAREST)


def _rand(key: str, n: int) -> list[float]:
    """``n`` deterministic numbers in [0, 1) from a string."""
    values, state = [], zlib.crc32(key.encode("utf-8")) or 1
    for _ in range(n):
        state = (1103515245 * state + 12345) & 0x7FFFFFFF
        values.append(state / 0x7FFFFFFF)
    return values


def _draw_background(image: Image.Image, cam: Camera, setting: Setting, pal: Palette, language: str) -> None:
    draw = ImageDraw.Draw(image)
    w, h = image.size
    line_w = max(1, int(cam.length(0.003)))
    if setting.interior:
        floor_y = cam.px(0, FLOOR_Y)[1]
        image.paste(_gradient((w, max(1, int(floor_y))), _shade(pal.wall, 1.08), _shade(pal.wall, 0.92)), (0, 0))
        if floor_y < h:
            draw.rectangle([0, max(0, floor_y), w, h], fill=pal.floor)
        draw.line([0, floor_y, w, floor_y], fill=pal.line, width=line_w * 2)
        # floor boards recede toward the middle
        for k in range(-12, 13):
            x_far, _ = cam.px(0.5 + k * 0.08, FLOOR_Y)
            x_near, _ = cam.px(0.5 + k * 0.2, FLOOR_Y + 0.5)
            draw.line([x_far, floor_y, x_near, cam.px(0, FLOOR_Y + 0.5)[1]], fill=_shade(pal.floor, 0.88),
                      width=line_w)
        if not previz_sets.draw_interior(draw, cam, setting.location, pal, line_w, floor_y=FLOOR_Y):
            _interior_props(draw, cam, setting, pal, language, line_w)
        if setting.festival:
            previz_sets.draw_lanterns(draw, cam, line_w, interior=True, night=setting.time == "night")
    else:
        horizon = cam.px(0, 0.62)[1]
        image.paste(_gradient((w, max(1, int(horizon) + 1)), pal.sky_top, pal.sky_bottom), (0, 0))
        ground = pal.floor
        if horizon < h:
            draw.rectangle([0, max(0, horizon), w, h], fill=ground)
        _sky(draw, cam, setting, pal)
        if not previz_sets.draw_exterior(draw, cam, setting.location, pal, line_w, night=setting.time == "night",
                                         rand=_rand(setting.key, 64)):
            _exterior_props(draw, cam, setting, pal, language, line_w, horizon)
        if setting.festival and setting.location != "street":       # the street has its own strings
            previz_sets.draw_lanterns(draw, cam, line_w, interior=False, night=setting.time == "night")


def _sky(draw, cam: Camera, setting: Setting, pal: Palette) -> None:
    if setting.time == "night":
        rand = _rand(setting.key + "stars", 160)
        for i in range(0, 160, 2):
            x, y = -1.5 + rand[i] * 4, -0.6 + rand[i + 1] * 1.1
            px, py = cam.px(x, y)
            r = max(1, cam.length(0.0025))
            draw.ellipse([px - r, py - r, px + r, py + r], fill=(250, 246, 220))
        mx, my = cam.px(0.78, 0.12)
        r = cam.length(0.045)
        draw.ellipse([mx - r, my - r, mx + r, my + r], fill=(250, 240, 200))
        draw.ellipse([mx - r * 0.55, my - r * 1.05, mx + r * 1.3, my + r * 0.8], fill=pal.sky_top)
    elif setting.time == "day":
        sx, sy = cam.px(0.8, 0.1)
        r = cam.length(0.05)
        draw.ellipse([sx - r, sy - r, sx + r, sy + r], fill=(255, 236, 160))
        rand = _rand(setting.key + "clouds", 12)
        for i in range(0, 12, 3):
            cx, cy, s = -0.5 + rand[i] * 2, 0.12 + rand[i + 1] * 0.25, 0.05 + rand[i + 2] * 0.05
            for dx, dy, k in ((0, 0, 1.0), (s * 0.9, s * 0.2, 0.75), (-s * 0.9, s * 0.25, 0.7)):
                px, py = cam.px(cx + dx, cy + dy)
                rr = cam.length(s * k)
                draw.ellipse([px - rr * 1.4, py - rr * 0.8, px + rr * 1.4, py + rr * 0.8], fill=(250, 252, 255))


def _window(draw, cam, x0, y0, x1, y1, pal: Palette, setting: Setting, line_w: int) -> None:
    frame = _shade(pal.wall, 0.6)
    draw.rectangle(cam.box(x0 - 0.01, y0 - 0.01, x1 + 0.01, y1 + 0.01), fill=frame)
    # looking out: the night sky with a few stars, or daylight
    inside = (26, 32, 72) if setting.time == "night" else (250, 190, 130) if setting.time == "dusk" \
        else (170, 210, 240)
    draw.rectangle(cam.box(x0, y0, x1, y1), fill=inside)
    if setting.time == "night":
        for k, (fx, fy) in enumerate(((0.2, 0.3), (0.7, 0.2), (0.45, 0.7), (0.8, 0.6))):
            px, py = cam.px(x0 + (x1 - x0) * fx, y0 + (y1 - y0) * fy)
            r = max(1, cam.length(0.004))
            draw.ellipse([px - r, py - r, px + r, py + r], fill=(250, 240, 200))
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    draw.line(cam.box(mx, y0, mx, y1), fill=frame, width=line_w * 2)
    draw.line(cam.box(x0, my, x1, my), fill=frame, width=line_w * 2)


def _interior_props(draw, cam: Camera, setting: Setting, pal: Palette, language: str, line_w: int) -> None:
    loc, wall, accent = setting.location, pal.wall, pal.accent
    dark = _shade(wall, 0.55)
    if loc == "kitchen":
        # wall tiles, upper cabinets, a counter with a stove and a steaming pot
        for k in range(-20, 40):
            x = -1.0 + k * 0.05
            draw.line(cam.box(x, 0.42, x, 0.62), fill=_shade(wall, 0.9), width=line_w)
        for k in range(0, 5):
            y = 0.42 + k * 0.05
            draw.line(cam.box(-1.5, y, 2.5, y), fill=_shade(wall, 0.9), width=line_w)
        for k in range(-6, 10):
            x = k * 0.16
            draw.rectangle(cam.box(x + 0.01, 0.16, x + 0.15, 0.38), fill=_shade(accent, 1.1), outline=dark,
                           width=line_w)
        draw.rectangle(cam.box(-1.5, 0.62, 2.5, FLOOR_Y), fill=_shade(accent, 0.8), outline=dark, width=line_w)
        draw.rectangle(cam.box(-1.5, 0.6, 2.5, 0.635), fill=(200, 196, 190), outline=dark, width=line_w)
        draw.ellipse(cam.box(0.62, 0.53, 0.76, 0.61), fill=(80, 80, 86), outline=INK, width=line_w)
        draw.rectangle(cam.box(0.63, 0.5, 0.75, 0.58), fill=(96, 96, 104), outline=INK, width=line_w)
        for k in range(3):
            x = 0.66 + k * 0.03
            draw.arc(cam.box(x - 0.01, 0.42, x + 0.02, 0.5), 200, 340, fill=(245, 245, 245), width=line_w * 2)
        _window(draw, cam, 0.18, 0.2, 0.36, 0.4, pal, setting, line_w)
    elif loc in ("living", "restaurant", "generic", "bedroom", "office", "trailer"):
        _window(draw, cam, 0.12, 0.2, 0.34, 0.52, pal, setting, line_w)
        # a door, a picture, a lamp
        draw.rectangle(cam.box(0.86, 0.3, 1.0, FLOOR_Y), fill=_shade(accent, 0.7), outline=dark, width=line_w)
        draw.ellipse(cam.box(0.975, 0.57, 0.99, 0.585), fill=(220, 190, 90))
        if loc == "living":
            # sofa, TV, and a red diamond with 福 for the festival
            draw.rounded_rectangle(cam.box(0.36, 0.6, 0.82, 0.78), radius=cam.length(0.02),
                                   fill=_shade(accent, 0.85), outline=INK, width=line_w)
            draw.rounded_rectangle(cam.box(0.36, 0.54, 0.82, 0.66), radius=cam.length(0.03),
                                   fill=_shade(accent, 1.0), outline=INK, width=line_w)
            draw.rectangle(cam.box(-0.3, 0.42, 0.04, 0.62), fill=(30, 30, 36), outline=INK, width=line_w)
            glow = (120, 170, 220) if setting.time != "night" else (110, 150, 230)
            draw.rectangle(cam.box(-0.285, 0.435, 0.025, 0.605), fill=glow)
            draw.rectangle(cam.box(-0.2, 0.62, -0.06, 0.7), fill=_shade(wall, 0.5))
            cx, cy, r = 0.59, 0.33, 0.07
            points = [cam.px(cx, cy - r), cam.px(cx + r, cy), cam.px(cx, cy + r), cam.px(cx - r, cy)]
            draw.polygon(points, fill=(200, 30, 36), outline=(240, 200, 80))
            if language == "zh":
                font = get_font(max(8, int(cam.length(0.06))), bold=True)
                px, py = cam.px(cx, cy)
                draw.text((px, py), "福", font=font, fill=(250, 214, 90), anchor="mm")
        elif loc == "restaurant":
            for k in range(-2, 4):
                x = k * 0.32
                draw.ellipse(cam.box(x - 0.1, 0.66, x + 0.1, 0.7), fill=(240, 236, 226), outline=dark, width=line_w)
                draw.rectangle(cam.box(x - 0.01, 0.68, x + 0.01, FLOOR_Y - 0.03), fill=dark)
        elif loc == "bedroom":
            draw.rounded_rectangle(cam.box(0.42, 0.6, 0.84, 0.78), radius=cam.length(0.015), fill=(240, 240, 250),
                                   outline=INK, width=line_w)
            draw.rectangle(cam.box(0.42, 0.52, 0.46, 0.78), fill=_shade(accent, 0.7))
        elif loc == "office":
            draw.rectangle(cam.box(0.4, 0.6, 0.8, 0.64), fill=(150, 120, 90), outline=INK, width=line_w)
            draw.rectangle(cam.box(0.52, 0.48, 0.68, 0.58), fill=(30, 30, 36), outline=INK, width=line_w)
        elif loc == "trailer":
            draw.rectangle(cam.box(-1.5, 0.0, 2.5, 0.1), fill=_shade(wall, 0.7))
            draw.rectangle(cam.box(0.38, 0.62, 0.8, 0.66), fill=(180, 150, 110), outline=INK, width=line_w)
            for k in range(5):
                x = 0.42 + k * 0.08
                draw.rectangle(cam.box(x, 0.6, x + 0.03, 0.62), fill=(190, 140, 40))
        else:
            draw.rectangle(cam.box(0.5, 0.26, 0.7, 0.4), fill=_shade(accent, 1.1), outline=dark, width=line_w * 2)
    elif loc == "garage":
        draw.rectangle(cam.box(-0.6, 0.15, 0.1, FLOOR_Y), fill=_shade(wall, 0.8), outline=dark, width=line_w)
        for k in range(8):
            y = 0.2 + k * 0.08
            draw.line(cam.box(-0.6, y, 0.1, y), fill=dark, width=line_w)
        _car(draw, cam, 0.55, FLOOR_Y, 0.5, (190, 40, 40), line_w)
        for k in range(4):
            x = 0.9 + k * 0.05
            draw.rectangle(cam.box(x, 0.35, x + 0.02, 0.5), fill=(90, 90, 96))
    else:   # shack, mansion interiors and anything else: panelling
        for k in range(-20, 40):
            x = -1.0 + k * 0.07
            draw.line(cam.box(x, 0.0, x, FLOOR_Y), fill=_shade(wall, 0.85), width=line_w)
        _window(draw, cam, 0.62, 0.22, 0.8, 0.42, pal, setting, line_w)


def _car(draw, cam, x, floor, length, color, line_w) -> None:
    body = [cam.px(x - length / 2, floor - 0.06), cam.px(x - length / 2, floor - 0.13),
            cam.px(x - length * 0.25, floor - 0.14), cam.px(x - length * 0.15, floor - 0.22),
            cam.px(x + length * 0.2, floor - 0.22), cam.px(x + length * 0.32, floor - 0.14),
            cam.px(x + length / 2, floor - 0.12), cam.px(x + length / 2, floor - 0.06)]
    draw.polygon(body, fill=color, outline=INK, width=line_w)
    draw.polygon([cam.px(x - length * 0.12, floor - 0.2), cam.px(x + 0.0, floor - 0.2),
                  cam.px(x + 0.0, floor - 0.145), cam.px(x - length * 0.2, floor - 0.145)], fill=(170, 210, 230))
    for wx in (x - length * 0.3, x + length * 0.3):
        draw.ellipse(cam.box(wx - 0.045, floor - 0.09, wx + 0.045, floor), fill=(30, 30, 30))
        draw.ellipse(cam.box(wx - 0.02, floor - 0.065, wx + 0.02, floor - 0.025), fill=(160, 160, 160))


def _exterior_props(draw, cam: Camera, setting: Setting, pal: Palette, language: str, line_w: int,
                    horizon: float) -> None:
    loc, night = setting.location, setting.time == "night"
    if loc in ("street", "generic", "shack", "mansion", "garden", "pool"):
        _skyline(draw, cam, setting, pal, line_w)
        if loc == "street":
            _street_lanterns_and_paving(draw, cam, pal, night, line_w)
        if loc == "pool":
            _pool(draw, cam, line_w)
        if loc == "mansion":
            _mansion(draw, cam, line_w)
        if loc == "shack":
            _shack(draw, cam, line_w)
        if loc == "garden":
            _picket_fence(draw, cam, line_w)
    if night and loc == "street":
        _fireworks(draw, cam, line_w)


def _skyline(draw, cam: Camera, setting: Setting, pal: Palette, line_w: int) -> None:
    """A row of buildings along the horizon, x from -2 to 3 (wider than any framing): old houses with tiled
    roofs on a street, else mixed, with trees among them in gardens, by pools and in unnamed places. Widths,
    heights and lit windows come from the place's key, so a place looks the same in every shot."""
    loc, night = setting.location, setting.time == "night"
    rand = _rand(setting.key, 200)
    x = -2.0
    i = 0
    while x < 3.0:
        width = 0.18 + rand[i % 200] * 0.2
        top = 0.2 + rand[(i + 1) % 200] * 0.22 if loc == "street" else 0.4 + rand[(i + 1) % 200] * 0.15
        if loc in ("garden", "pool", "generic") and rand[(i + 2) % 200] < 0.5:
            _tree(draw, cam, x + width / 2, night, line_w)
        else:
            base = _shade(pal.wall, 0.8 + rand[(i + 3) % 200] * 0.3)
            draw.rectangle(cam.box(x, top, x + width - 0.01, 0.62), fill=base, outline=_shade(base, 0.6),
                           width=line_w)
            if loc == "street":
                roof = (60, 60, 70) if not night else (30, 30, 44)
                draw.polygon([cam.px(x - 0.03, top + 0.01), cam.px(x + width + 0.02, top + 0.01),
                              cam.px(x + width - 0.04, top - 0.05), cam.px(x + 0.03, top - 0.05)], fill=roof)
            _facade_windows(draw, cam, x, top, width, base, pal, rand, i, night)
        x += width
        i += 4


def _tree(draw, cam: Camera, tx: float, night: bool, line_w: int) -> None:
    draw.rectangle(cam.box(tx - 0.01, 0.5, tx + 0.01, 0.62), fill=(90, 60, 40))
    tone = (40, 70, 60) if night else (70, 130, 70)
    draw.ellipse(cam.box(tx - 0.07, 0.38, tx + 0.07, 0.54), fill=tone, outline=_shade(tone, 0.7), width=line_w)


def _facade_windows(draw, cam: Camera, x: float, top: float, width: float, base, pal: Palette, rand: list[float],
                    i: int, night: bool) -> None:
    """Up to three rows of two windows on the building at ``x``, none reaching below y = 0.6 (the building
    stands on 0.62); at night about 70 % are lit, picked by the building's draws from ``rand``."""
    for row in range(3):
        for col in range(2):
            wy = top + 0.05 + row * 0.07
            wx = x + 0.03 + col * (width - 0.08) / 1.5
            if wy + 0.04 > 0.6:
                continue
            lit = night and rand[(i * 7 + row * 3 + col) % 200] < 0.7
            draw.rectangle(cam.box(wx, wy, wx + 0.04, wy + 0.04), fill=pal.window_light if lit else _shade(base, 0.6))


def _street_lanterns_and_paving(draw, cam: Camera, pal: Palette, night: bool, line_w: int) -> None:
    """Two strings of red lanterns across the street (sagging as a sine along the string, glowing at night)
    and paving lines that converge on the horizon."""
    for row, y in enumerate((0.16, 0.3)):
        for k in range(-20, 40):
            lx = -1.5 + k * 0.11 + row * 0.05
            ly = y + 0.02 * math.sin(k * 1.3)
            px, py = cam.px(lx, ly)
            r = cam.length(0.018)
            if night:
                glow = cam.length(0.035)
                draw.ellipse([px - glow, py - glow, px + glow, py + glow], fill=(120, 50, 60))
            draw.ellipse([px - r, py - r * 1.2, px + r, py + r * 1.2], fill=(220, 40, 40),
                         outline=(250, 200, 90), width=max(1, line_w))
        draw.line(cam.box(-1.5, y - 0.02, 3.0, y - 0.02), fill=(40, 30, 30), width=line_w)
    for k in range(-30, 60):
        x0, y0 = cam.px(-1.5 + k * 0.06, 0.62)
        x1, y1 = cam.px(-1.5 + k * 0.12 - 1.2, 1.4)
        draw.line([x0, y0, x1, y1], fill=_shade(pal.floor, 0.85), width=line_w)


def _pool(draw, cam: Camera, line_w: int) -> None:
    draw.rectangle(cam.box(-0.4, 0.7, 1.4, 0.95), fill=(60, 160, 210), outline=(230, 230, 230), width=line_w * 3)
    for k in range(6):
        y = 0.74 + k * 0.035
        draw.line(cam.box(-0.3 + k * 0.05, y, 0.2 + k * 0.05, y), fill=(150, 210, 240), width=line_w)


def _mansion(draw, cam: Camera, line_w: int) -> None:
    """A white front with a pediment and six columns."""
    draw.rectangle(cam.box(0.1, 0.18, 0.9, 0.62), fill=(240, 236, 222), outline=INK, width=line_w)
    draw.polygon([cam.px(0.05, 0.19), cam.px(0.5, 0.05), cam.px(0.95, 0.19)], fill=(200, 190, 170), outline=INK)
    for k in range(6):
        cx = 0.17 + k * 0.133
        draw.rectangle(cam.box(cx - 0.015, 0.22, cx + 0.015, 0.62), fill=(250, 248, 240), outline=INK,
                       width=line_w)


def _shack(draw, cam: Camera, line_w: int) -> None:
    """A plank hut with a pitched roof and a dark door."""
    draw.rectangle(cam.box(0.2, 0.36, 0.8, 0.7), fill=(130, 90, 56), outline=INK, width=line_w)
    for k in range(12):
        x = 0.2 + k * 0.05
        draw.line(cam.box(x, 0.36, x, 0.7), fill=(100, 66, 40), width=line_w)
    draw.polygon([cam.px(0.15, 0.37), cam.px(0.5, 0.25), cam.px(0.85, 0.37)], fill=(90, 80, 70), outline=INK)
    draw.rectangle(cam.box(0.45, 0.52, 0.56, 0.7), fill=(60, 40, 26))


def _picket_fence(draw, cam: Camera, line_w: int) -> None:
    for k in range(-20, 40):
        x = -1.5 + k * 0.08
        draw.line(cam.box(x, 0.62, x, 0.7), fill=(250, 250, 250), width=line_w * 2)
    draw.line(cam.box(-1.5, 0.64, 3.0, 0.64), fill=(250, 250, 250), width=line_w * 2)


def _fireworks(draw, cam: Camera, line_w: int) -> None:
    """Two bursts of 16 rays over the old street, each ray from 0.02 to 0.07 world units out from its centre
    (a wide shot is 1.0 high)."""
    for k in range(2):
        fx, fy = cam.px(0.2 + k * 0.55, 0.08 + k * 0.05)
        colors = ((255, 200, 80), (255, 90, 120))
        for ray in range(16):
            angle = 2 * math.pi * ray / 16
            r0, r1 = cam.length(0.02), cam.length(0.07)
            draw.line([fx + r0 * math.cos(angle), fy + r0 * math.sin(angle),
                       fx + r1 * math.cos(angle), fy + r1 * math.sin(angle)], fill=colors[k], width=line_w * 2)


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------


_EXPRESSIONS = (
    ("smile", ("笑", "开心", "高兴", "laugh", "smil", "grin", "举杯", "raised", "cheer")),
    ("surprise", ("惊", "愣", "啊", "surpris", "shock", "gasp", "oh crap")),
    ("sad", ("哭", "伤心", "难过", "小声", "sad", "cry", "whisper", "quiet")),
    ("angry", ("怒", "生气", "吼", "angry", "shout", "yell")),
)


def expression(shot: Shot, name: str) -> str:
    text = (shot.parenthetical if name == shot.speaker else "") + " " + (shot.action if name in shot.characters
                                                                         else "")
    low = text.lower()
    for mood, words in _EXPRESSIONS:
        if any(w in text or w in low for w in words):
            return mood
    return "neutral"


def _draw_figure(draw: ImageDraw.ImageDraw, cam: Camera, character: Character, x: float, facing: int, *,
                 speaking: bool, mood: str) -> tuple[float, float]:
    """Draw one stylised figure standing at world x on the floor; return the pixel centre of its head."""
    look = appearance(character)
    body = _rgb(look.body_color)
    dark = _shade(body, 0.62)
    skin = _rgb(look.skin)
    hair = _rgb(look.hair_color)
    trousers = (52, 54, 66)
    H = FIGURE_HEIGHT * look.height
    b = look.build
    out = max(1, min(int(cam.length(H * 0.01)), max(2, min(cam.width, cam.height) // 150)))

    def P(dx, dy):         # figure-local: dx across (x H), dy up from the feet (x H)
        return cam.px(x + dx * H, FLOOR_Y - dy * H)

    def box(dx0, dy0, dx1, dy1):
        a, c = P(dx0, dy0), P(dx1, dy1)
        return [min(a[0], c[0]), min(a[1], c[1]), max(a[0], c[0]), max(a[1], c[1])]

    lean = 0.13 if look.stooped else 0.0

    def U(dx, dy):         # the upper body: an older figure leans forward and sinks from the hips up
        t = max(0.0, dy - 0.45) / 0.45
        return P(dx + facing * lean * t, dy - lean * 0.4 * t)

    # legs and shoes
    for side in (-1, 1):
        draw.rounded_rectangle(box(side * 0.075 - 0.045, 0.47, side * 0.075 + 0.045, 0.02),
                               radius=cam.length(H * 0.02), fill=trousers, outline=INK, width=out)
        draw.ellipse(box(side * 0.075 - 0.05 + facing * 0.02, 0.045, side * 0.075 + 0.06 + facing * 0.02, -0.005),
                     fill=(30, 30, 30))
    # arms behind the torso edges
    for side in (-1, 1):
        sx = side * 0.16 * b
        draw.line([U(sx, 0.76), U(sx + side * 0.05, 0.5)], fill=INK, width=int(cam.length(H * 0.085)) + 2 * out)
        draw.line([U(sx, 0.76), U(sx + side * 0.05, 0.5)], fill=dark, width=int(cam.length(H * 0.085)))
        hx, hy = U(sx + side * 0.05, 0.47)
        r = cam.length(H * 0.035)
        draw.ellipse([hx - r, hy - r, hx + r, hy + r], fill=skin, outline=INK, width=out)
    # torso: shoulders wider than hips
    torso = [U(-0.17 * b, 0.8), U(0.17 * b, 0.8), U(0.13 * b, 0.45), U(-0.13 * b, 0.45)]
    draw.polygon(torso, fill=body, outline=INK, width=out)
    draw.polygon([U(-0.035, 0.8), U(0.035, 0.8), U(0.0, 0.74)], fill=skin)
    # neck and head
    draw.polygon([U(-0.03, 0.84), U(0.03, 0.84), U(0.03, 0.78), U(-0.03, 0.78)], fill=skin)
    head_r = 0.085
    hx, hy = U(0, 0.9)
    r = cam.length(H * head_r)
    if look.hair_style == "long":
        draw.rounded_rectangle([hx - r * 1.15, hy - r * 0.9, hx + r * 1.15, hy + r * 1.9], radius=r * 0.6,
                               fill=hair, outline=INK, width=out)
    draw.ellipse([hx - r, hy - r, hx + r, hy + r], fill=skin, outline=INK, width=out)
    _hair(draw, look.hair_style, hair, body, hx, hy, r, facing, out)
    _face(draw, hx, hy, r, facing, speaking=speaking, mood=mood, out=out)
    return hx, hy


def _hair(draw, style: str, hair, body, hx, hy, r, facing, out) -> None:
    top = [hx - r * 1.04, hy - r * 1.08, hx + r * 1.04, hy + r * 0.5]
    if style in ("short", "spiky", "long", "bob", "bun"):
        draw.chord(top, 180, 360, fill=hair, outline=INK, width=out)
        draw.chord([hx - r * 1.04, hy - r * 1.1, hx + r * 1.04, hy + r * 0.1], 150 if facing > 0 else 200,
                   340 if facing > 0 else 30, fill=hair)
    if style == "bob":
        for side in (-1, 1):
            draw.rounded_rectangle([hx + side * r * 0.72 - r * 0.32, hy - r * 0.4, hx + side * r * 0.72 + r * 0.32,
                                    hy + r * 0.55], radius=r * 0.25, fill=hair)
    if style == "bun":
        draw.ellipse([hx - r * 0.34 - facing * r * 0.4, hy - r * 1.5, hx + r * 0.34 - facing * r * 0.4,
                      hy - r * 0.82], fill=hair, outline=INK, width=out)
    if style == "spiky":
        for k in range(5):
            px = hx - r * 0.8 + k * r * 0.4
            draw.polygon([(px - r * 0.22, hy - r * 0.75), (px + r * 0.22, hy - r * 0.75),
                          (px + facing * r * 0.1, hy - r * 1.35)], fill=hair)
    if style == "cap":
        draw.chord([hx - r * 1.05, hy - r * 1.12, hx + r * 1.05, hy + r * 0.3], 180, 360, fill=body, outline=INK,
                   width=out)
        brim_x = hx + facing * r * 0.9
        draw.rounded_rectangle([min(hx, brim_x + facing * r * 0.6), hy - r * 0.5,
                                max(hx, brim_x + facing * r * 0.6), hy - r * 0.3], radius=r * 0.1,
                               fill=_shade(body, 0.7))


def _face(draw, hx, hy, r, facing, *, speaking: bool, mood: str, out: int) -> None:
    ex = r * 0.36
    shift = facing * r * 0.22
    er = max(1.5, r * 0.1)
    for side in (-1, 1):
        cx, cy = hx + shift + side * ex, hy - r * 0.05
        if mood == "smile":
            draw.arc([cx - er * 1.5, cy - er, cx + er * 1.5, cy + er * 1.4], 200, 340, fill=INK, width=max(1, out))
        else:
            scale = 1.35 if mood == "surprise" else 1.0
            draw.ellipse([cx - er * scale, cy - er * scale * 1.2, cx + er * scale, cy + er * scale * 1.2], fill=INK)
        brow_y = cy - r * (0.32 if mood == "surprise" else 0.24)
        tilt = {"angry": 0.12, "sad": -0.1}.get(mood, 0.0) * r * side
        draw.line([cx - er * 1.6, brow_y - tilt, cx + er * 1.6, brow_y + tilt], fill=INK, width=max(1, out))
    mx, my = hx + shift, hy + r * 0.45
    if speaking or mood == "surprise":
        mw, mh = r * (0.18 if mood == "surprise" else 0.22), r * (0.2 if mood == "surprise" else 0.14)
        draw.ellipse([mx - mw, my - mh, mx + mw, my + mh], fill=(120, 30, 40), outline=INK, width=max(1, out))
    elif mood == "sad":
        draw.arc([mx - r * 0.22, my, mx + r * 0.22, my + r * 0.25], 200, 340, fill=INK, width=max(1, out))
    else:
        span = 0.3 if mood == "smile" else 0.2
        draw.arc([mx - r * span, my - r * 0.2, mx + r * span, my + r * 0.1], 20, 160, fill=INK, width=max(1, out))
    draw.ellipse([hx + shift + facing * r * 0.05 - r * 0.05, hy + r * 0.12, hx + shift + facing * r * 0.05 +
                  r * 0.05, hy + r * 0.22], fill=_shade((200, 140, 110), 1.0))


# ------------------------------------------------------------------------------------------------
# overlays: header, move arrows, lettering
# ------------------------------------------------------------------------------------------------

MOVE_LABELS = {"static": "static", "push_in": "push in", "pull_out": "pull out", "pan_left": "pan left",
               "pan_right": "pan right", "tilt_up": "tilt up", "tilt_down": "tilt down", "shake": "shake"}


def _arrow(draw, start, end, *, width: int, color=(255, 255, 255, 235), outline=INK) -> None:
    (x0, y0), (x1, y1) = start, end
    angle = math.atan2(y1 - y0, x1 - x0)
    head = width * 3.2
    base = (x1 - head * math.cos(angle), y1 - head * math.sin(angle))
    left = (base[0] + head * 0.6 * math.cos(angle + math.pi / 2), base[1] + head * 0.6 * math.sin(angle + math.pi / 2))
    right = (base[0] - head * 0.6 * math.cos(angle + math.pi / 2), base[1] - head * 0.6 * math.sin(angle + math.pi / 2))
    draw.line([start, base], fill=outline, width=width + 4)
    draw.polygon([(x1, y1), left, right], fill=outline)
    draw.line([start, base], fill=color, width=width)
    inset = 2.5
    draw.polygon([(x1 - inset * math.cos(angle) * 1.5, y1 - inset * math.sin(angle) * 1.5),
                  (left[0] + inset * math.cos(angle), left[1] + inset * math.sin(angle)),
                  (right[0] + inset * math.cos(angle), right[1] + inset * math.sin(angle))], fill=color)


def draw_move(image: Image.Image, move: str) -> None:
    """Camera-move arrows over the panel: inward corners for push in, outward for pull out, a long arrow for
    pans and tilts, zigzags for shake."""
    if move == "static":
        return
    w, h = image.size
    unit = min(w, h)
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    width = max(3, unit // 90)
    cx, cy = w / 2, h / 2
    if move in ("push_in", "pull_out"):
        for sx in (-1, 1):
            for sy in (-1, 1):
                outer = (cx + sx * w * 0.4, cy + sy * h * 0.36)
                inner = (cx + sx * w * 0.27, cy + sy * h * 0.25)
                a, b = (outer, inner) if move == "push_in" else (inner, outer)
                _arrow(draw, a, b, width=width)
        box = [cx - w * 0.27, cy - h * 0.25, cx + w * 0.27, cy + h * 0.25]
        if move == "pull_out":
            box = [cx - w * 0.4, cy - h * 0.36, cx + w * 0.4, cy + h * 0.36]
        _dashed_rect(draw, box, width=max(2, width // 2))
    elif move in ("pan_left", "pan_right"):
        y = h * 0.82
        a, b = (w * 0.2, y), (w * 0.8, y)
        _arrow(draw, *((b, a) if move == "pan_left" else (a, b)), width=width * 2)
    elif move in ("tilt_up", "tilt_down"):
        x = w * 0.88
        a, b = (x, h * 0.7), (x, h * 0.3)
        _arrow(draw, *((a, b) if move == "tilt_up" else (b, a)), width=width * 2)
    elif move == "shake":
        for sx in (-1, 1):
            points = []
            for k in range(9):
                points.append((cx + sx * w * (0.42 + (0.03 if k % 2 else -0.03)), cy - h * 0.2 + k * h * 0.05))
            draw.line(points, fill=INK, width=width + 4, joint="curve")
            draw.line(points, fill=(255, 255, 255, 235), width=width, joint="curve")
    image.alpha_composite(layer)


def _dashed_rect(draw, box, *, width: int) -> None:
    x0, y0, x1, y1 = box
    dash = width * 6
    for (ax, ay, bx, by) in ((x0, y0, x1, y0), (x1, y0, x1, y1), (x1, y1, x0, y1), (x0, y1, x0, y0)):
        length = math.hypot(bx - ax, by - ay)
        steps = int(length // (dash * 2)) + 1
        for k in range(steps):
            t0, t1 = k * dash * 2 / length, min(1.0, (k * dash * 2 + dash) / length)
            draw.line([ax + (bx - ax) * t0, ay + (by - ay) * t0, ax + (bx - ax) * t1, ay + (by - ay) * t1],
                      fill=(255, 255, 255, 220), width=width)


def draw_header(image: Image.Image, shot: Shot, board: Storyboard) -> int:
    """The top strip: shot number, size, move, duration and the scene. Returns its height in pixels."""
    w, h = image.size
    unit = min(w, h)
    size = max(10, int(unit * 0.036))
    small = max(9, int(size * 0.62))
    bar = int(size * 0.3 + size * 1.3 + small * 1.6)
    layer = Image.new("RGBA", (w, bar), (16, 18, 26, 205))
    draw = ImageDraw.Draw(layer)
    font = get_font(size, bold=True, language=board.language)
    font_small = get_font(small, language=board.language)
    pad = int(size * 0.5)
    label = f"{shot.number}"
    draw.text((pad, pad * 0.6), label, font=font, fill=(255, 214, 10))
    x = pad + font.getlength(label) + pad
    detail = f"{shot.size} · {MOVE_LABELS.get(shot.move, shot.move)}"
    draw.text((x, pad * 0.6), detail, font=font, fill=(255, 255, 255))
    seconds = f"{shot.duration_s:.1f} s"
    draw.text((w - pad - font.getlength(seconds), pad * 0.6), seconds, font=font, fill=(255, 255, 255))
    scene = shot.scene or board.title
    while scene and font_small.getlength(scene) > w - 2 * pad:
        scene = scene[:-2] + "…"
    draw.text((pad, pad * 0.6 + size * 1.3), scene, font=font_small, fill=(200, 206, 220))
    image.alpha_composite(layer, (0, 0))
    return bar


def letter_panel(image: Image.Image, shot: Shot, board: Storyboard, anchors: dict[str, tuple[float, float]], *,
                 top_px: int = 0, caption: bool = True) -> dict[str, tuple]:
    """Letter a panel in place: dialogue bubbles pointing at the speakers, the action as a caption, the sound
    effect, a title card's text. Returns the boxes drawn (``{"bubble": ..., "caption": ..., ...}``)."""
    w, h = image.size
    unit = min(w, h)
    language = board.language
    boxes: dict[str, tuple] = {}
    margin = max(6, int(unit * 0.035))
    text_size = max(11, int(unit * 0.052))
    if shot.kind == "title" and shot.action:
        fit = fit_text(shot.action, max_width_px=w * 0.8, max_height_px=h * 0.5, max_size_px=int(unit * 0.08),
                       bold=True, language=language)
        draw = ImageDraw.Draw(image)
        box = (int(w * 0.1), int(h * 0.25), int(w * 0.9), int(h * 0.75))
        draw_lines(draw, fit, box, fill=(255, 255, 255, 255))
        boxes["title"] = box
        return boxes
    voices = [(shot.speaker, shot.dialogue, shot.parenthetical, shot.extension)]
    if shot.dual_speaker:
        voices.append((shot.dual_speaker, shot.dual_dialogue, "", ""))
    voices = [v for v in voices if v[1]]
    from lantern_studio.engines.story.shots import is_narrator

    narration = [v for v in voices if is_narrator(v[0])]
    voices = [v for v in voices if not is_narrator(v[0])]
    for speaker, words, parenthetical, _ in narration:     # narration: a caption at the top, no bubble
        box = (margin, top_px + margin, w - margin, top_px + margin + int(h * 0.22))
        drawn = draw_caption(image, words, box=box, max_size_px=int(text_size * 0.85), language=language,
                             anchor="top")
        boxes["narration"] = drawn
        top_px = drawn[3]
    top = top_px + margin
    for index, (speaker, words, parenthetical, extension) in enumerate(voices):
        if parenthetical:
            words = (f"（{parenthetical}）" if language == "zh" else f"({parenthetical}) ") + words
        anchor = anchors.get(speaker)
        slot_w = (w - 2 * margin) / len(voices)
        anchor_x = anchor[0] if anchor else margin + slot_w * (index + 0.5)
        if len(voices) > 1:
            anchor_x = margin + slot_w * (index + 0.5)
        fit, box = layout_bubble(words, anchor_x=anchor_x, top=top, max_width_px=min(slot_w, w * 0.86),
                                 max_height_px=h * 0.3, frame=(w, h), max_size_px=text_size, language=language)
        if anchor is not None:
            tail_to = (anchor[0], max(anchor[1] - unit * 0.05, box[3] + unit * 0.02))
        else:   # off screen: point out of the frame's bottom edge
            tail_to = ((box[0] + box[2]) / 2, min(h, box[3] + unit * 0.12))
        kind = "radio" if extension.upper().replace(".", "") in ("VO", "OS", "OC", "PHONE", "画外音") else "speech"
        bubble = draw_bubble(image, fit, box, tail_to=tail_to, outline_px=max(2, unit // 220), kind=kind)
        boxes[f"bubble:{speaker}" if index else "bubble"] = bubble.box
        boxes[f"text:{speaker}" if index else "text"] = bubble.text_box
    if caption and shot.action and shot.kind != "dialogue":
        box = (margin, int(h * 0.62), w - margin, h - margin)
        boxes["caption"] = draw_caption(image, shot.action, box=box, max_size_px=int(text_size * 0.82),
                                        language=language)
    if shot.sfx:
        draw_sfx(image, shot.sfx, center=(w * 0.7, top_px + h * (0.3 if voices else 0.22)),
                 size_px=int(unit * 0.13), language=language)
        boxes["sfx"] = (w * 0.7, top_px + h * 0.3)
    return boxes


# ------------------------------------------------------------------------------------------------
# the previz renderer
# ------------------------------------------------------------------------------------------------


class PrevizRenderer(RendererBase):
    """Procedural storyboard panels from the shot and the character bible; no weights, deterministic."""

    name = "previz"

    def available(self) -> tuple[bool, str]:
        return True, "previz renderer: built in, no weights needed"

    def render(self, shot: Shot, board: Storyboard, *, size=DEFAULT_PANEL_SIZE, lettering: bool = True,
               header: bool | None = None) -> RenderedPanel:
        """Draw ``shot`` at ``size`` (width, height). ``lettering`` adds the bubbles, caption and sound effect;
        ``header`` (default: same as lettering) adds the shot number/size/move/duration strip and move arrows.
        """
        if not isinstance(shot, Shot) or not isinstance(board, Storyboard):
            raise ValueError("render needs a Shot and the Storyboard it belongs to")
        shot.validate()
        width, height = check_size(size)
        header = lettering if header is None else header
        setting = setting_for(shot, board)
        pal = palette_for(setting)
        staged, focus = _staging(shot, board, width / height)
        cam = _camera(shot, staged, focus, (width, height))
        image = Image.new("RGBA", (width, height), pal.wall + (255,))
        if shot.kind == "title":
            image.paste(_gradient((width, height), (14, 14, 20), (40, 36, 52)), (0, 0))
            anchors: dict[str, tuple[float, float]] = {}
        else:
            background = Image.new("RGB", (width, height))
            soft = shot.size in ("CU", "ECU", "MCU")
            if soft:     # a shallow depth of field: the background drawn small and scaled up
                factor = 4 if shot.size != "MCU" else 3
                small_cam = Camera(cam.zoom, cam.cx, cam.cy, max(16, width // factor), max(16, height // factor))
                small = Image.new("RGB", (small_cam.width, small_cam.height))
                _draw_background(small, small_cam, setting, pal, board.language)
                background = small.filter(ImageFilter.GaussianBlur(1.0)).resize((width, height),
                                                                                 Image.Resampling.BILINEAR)
            else:
                _draw_background(background, cam, setting, pal, board.language)
            image.paste(background, (0, 0))
            draw = ImageDraw.Draw(image)
            anchors = {}
            # far figures first so nearer ones overlap them
            for character, x, facing in sorted(staged, key=lambda item: abs(item[1] - cam.cx), reverse=True):
                speaking = character.name in (shot.speaker, shot.dual_speaker) and bool(shot.dialogue)
                anchors[character.name] = _draw_figure(draw, cam, character, x, facing, speaking=speaking,
                                                       mood=expression(shot, character.name))
            self._name_tags(image, cam, staged, anchors, board)
        top = 0
        if header:
            top = draw_header(image, shot, board)
            draw_move(image, shot.move)
        if lettering:
            letter_panel(image, shot, board, anchors, top_px=top)
        return RenderedPanel(shot_number=shot.number, image=image, anchors=anchors, renderer=self.name)

    @staticmethod
    def _name_tags(image: Image.Image, cam: Camera, staged, anchors, board: Storyboard) -> None:
        w, h = image.size
        unit = min(w, h)
        size = max(10, int(unit * 0.036))
        font = get_font(size, bold=True, language=board.language)
        draw = ImageDraw.Draw(image)
        placed: list[list[float]] = []
        for character, x, _ in staged:
            look = appearance(character)
            feet_y = cam.px(x, FLOOR_Y)[1]
            head = anchors[character.name]
            # under the feet when they are in frame, else at chest height
            y = feet_y + size * 0.4 if feet_y + size * 2 < h else min(h - size * 2.2, head[1] + cam.length(
                FIGURE_HEIGHT * look.height * 0.3))
            label = character.name
            tw = font.getlength(label)
            x0 = min(max(4, head[0] - tw / 2 - size * 0.5), w - tw - size - 4)
            box = [x0, y, x0 + tw + size, y + size * 1.5]
            while any(box[0] < p[2] and p[0] < box[2] and box[1] < p[3] and p[1] < box[3] for p in placed):
                box[1] += size * 1.7          # tags never cover each other: stagger them downward
                box[3] += size * 1.7
            y = box[1]
            placed.append(box)
            draw.rounded_rectangle(box, radius=size * 0.4, fill=_rgb(character.color), outline=INK,
                                   width=max(1, size // 10))
            draw.text((x0 + size * 0.5, y + size * 0.72), label, font=font, fill=(255, 255, 255), anchor="lm")


_DEFAULT = PrevizRenderer()


def render_panel(shot: Shot, storyboard: Storyboard, *, size: tuple[int, int] = DEFAULT_PANEL_SIZE,
                 lettering: bool = True, header: bool | None = None) -> Image.Image:
    """One previz panel for ``shot`` as an RGBA image of ``size`` (width, height) pixels.

    Deterministic: the same shot and bible give the same pixels. ``lettering=False`` leaves out bubbles,
    captions and sound effects (the animatic draws subtitles itself); ``header=False`` leaves out the shot
    strip and move arrows.
    """
    return _DEFAULT.render(shot, storyboard, size=size, lettering=lettering, header=header).image
