"""More sets for the previz renderer: river bank, bridge, market, courtyard and mountain road outside; shop and
classroom inside; and red lanterns for festival scenes, hung across an exterior or from an interior's ceiling.

Every function draws in world units through the renderer's camera (``cam.px``/``cam.box``/``cam.length``): the
floor line is at y = 0.84, the horizon at 0.62, a wide shot shows a height of 1.0. They only draw; the choice
of set is :func:`engines.story.panels.setting_for`'s.
"""

from __future__ import annotations

import math

from lantern_studio.engines.story.text import INK

EXTERIOR_SETS = ("river", "bridge", "market", "courtyard", "mountain")
INTERIOR_SETS = ("shop", "classroom")
LANTERN_RED = (222, 32, 36)
LANTERN_GOLD = (250, 200, 90)


def _shade(color, factor: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, int(c * factor))) for c in color[:3])


def _water(draw, cam, y0: float, y1: float, night: bool, line_w: int, rand) -> None:
    base = (24, 40, 84) if night else (70, 140, 190)
    draw.rectangle(cam.box(-2.0, y0, 3.0, y1), fill=base)
    ripple = (60, 80, 130) if night else (170, 210, 235)
    for k in range(40):
        x = -1.5 + rand[k % len(rand)] * 4.0
        y = y0 + 0.01 + rand[(k * 3 + 1) % len(rand)] * (y1 - y0 - 0.02)
        draw.line(cam.box(x, y, x + 0.06, y), fill=ripple, width=line_w)


def _willow(draw, cam, x: float, ground: float, night: bool, line_w: int) -> None:
    trunk = (70, 50, 36)
    draw.line(cam.box(x, ground, x + 0.01, ground - 0.16), fill=trunk, width=line_w * 3)
    leaf = (40, 70, 50) if night else (90, 150, 80)
    for k in range(7):
        sx = x - 0.06 + k * 0.02
        draw.arc(cam.box(sx - 0.02, ground - 0.2, sx + 0.05, ground - 0.04), 180, 300, fill=leaf, width=line_w * 2)


def draw_exterior(draw, cam, location: str, pal, line_w: int, *, night: bool, rand) -> bool:
    """Draw an exterior set for ``location`` behind the figures; False when the location is not one of
    EXTERIOR_SETS (the renderer's own sets take it)."""
    if location not in EXTERIOR_SETS:
        return False
    ground = pal.floor
    if location in ("river", "bridge"):
        # far bank at the horizon, water, and the near bank the figures stand on
        draw.rectangle(cam.box(-2.0, 0.6, 3.0, 0.655), fill=_shade(ground, 0.8))
        for k in range(8):
            _willow(draw, cam, -0.9 + k * 0.36, 0.63, night, line_w)
        _water(draw, cam, 0.655, 0.79, night, line_w, rand)
        draw.rectangle(cam.box(-2.0, 0.79, 3.0, 1.6), fill=ground)
        draw.line(cam.box(-2.0, 0.79, 3.0, 0.79), fill=_shade(ground, 0.6), width=line_w * 2)
        if location == "bridge":
            stone = (150, 146, 136) if not night else (80, 80, 96)
            cx, span, top = 0.5, 0.5, 0.5
            deck = [cam.px(cx - span - 0.08, 0.66), cam.px(cx - span * 0.6, top + 0.02), cam.px(cx, top - 0.02),
                    cam.px(cx + span * 0.6, top + 0.02), cam.px(cx + span + 0.08, 0.66),
                    cam.px(cx + span * 0.8, 0.7), cam.px(cx - span * 0.8, 0.7)]
            draw.polygon(deck, fill=stone, outline=INK)
            water = (24, 40, 84) if night else (70, 140, 190)
            draw.chord(cam.box(cx - span * 0.55, top + 0.06, cx + span * 0.55, 0.86), 180, 360, fill=water)
            for k in range(9):
                px = cx - span * 0.8 + k * span * 0.2
                lift = 0.05 * math.cos((px - cx) / span * math.pi / 2)
                draw.line(cam.box(px, top + 0.03 - lift, px, top - 0.03 - lift), fill=_shade(stone, 0.6),
                          width=line_w * 2)
        return True
    if location == "mountain":
        far = (120, 130, 160) if not night else (40, 44, 76)
        near = (80, 110, 90) if not night else (26, 36, 44)
        for layer, (color, base, height) in enumerate(((far, 0.62, 0.3), (near, 0.66, 0.2))):
            points = [cam.px(-2.0, base)]
            for k in range(0, 26):
                x = -2.0 + k * 0.2
                peak = height * (0.5 + 0.5 * math.sin(k * 1.7 + layer * 2.1)) * (0.6 + 0.4 * rand[k % len(rand)])
                points.append(cam.px(x, base - peak))
            points.append(cam.px(3.0, base))
            draw.polygon(points, fill=color)
        draw.rectangle(cam.box(-2.0, 0.66, 3.0, 1.6), fill=ground)
        road = (150, 140, 120) if not night else (70, 70, 80)
        path = [(0.5 + 0.25 * math.sin(t * 0.5), 0.66 + t * 0.03) for t in range(0, 12)]
        for (x0, y0), (x1, y1) in zip(path, path[1:]):
            w0, w1 = 0.01 + (y0 - 0.66) * 0.5, 0.01 + (y1 - 0.66) * 0.5
            draw.polygon([cam.px(x0 - w0, y0), cam.px(x0 + w0, y0), cam.px(x1 + w1, y1), cam.px(x1 - w1, y1)],
                         fill=road)
        return True
    draw.rectangle(cam.box(-2.0, 0.62, 3.0, 1.6), fill=ground)
    if location == "market":
        stripes = ((210, 50, 44), (245, 240, 230)) if not night else ((150, 40, 44), (120, 116, 130))
        for k in range(-6, 10):
            x = k * 0.3
            draw.rectangle(cam.box(x + 0.02, 0.5, x + 0.28, 0.62), fill=(130, 96, 60), outline=INK, width=line_w)
            for s in range(6):
                sx = x + s * 0.045
                draw.polygon([cam.px(sx, 0.44), cam.px(sx + 0.045, 0.44), cam.px(sx + 0.05, 0.5),
                              cam.px(sx - 0.005, 0.5)], fill=stripes[s % 2])
            for g in range(4):
                gx = x + 0.05 + g * 0.055
                draw.ellipse(cam.box(gx, 0.52, gx + 0.04, 0.56), fill=((230, 160, 40), (90, 160, 60),
                                                                      (200, 60, 40), (240, 220, 120))[g])
        return True
    if location == "courtyard":
        wall = (176, 170, 160) if not night else (70, 70, 86)
        draw.rectangle(cam.box(-2.0, 0.36, 3.0, 0.62), fill=wall)
        for k in range(-20, 40):
            y = 0.38 + (k % 6) * 0.04
            draw.line(cam.box(-2.0, y, 3.0, y), fill=_shade(wall, 0.88), width=line_w)
        roof = (60, 64, 74) if not night else (30, 30, 40)
        draw.polygon([cam.px(-2.0, 0.36), cam.px(3.0, 0.36), cam.px(3.0, 0.31), cam.px(-2.0, 0.31)], fill=roof)
        draw.ellipse(cam.box(0.36, 0.4, 0.64, 0.68), fill=_shade(ground, 0.7), outline=INK, width=line_w)
        for k in range(-30, 60):
            x0, y0 = cam.px(-1.5 + k * 0.08, 0.62)
            x1, y1 = cam.px(-1.5 + k * 0.16 - 1.2, 1.4)
            draw.line([x0, y0, x1, y1], fill=_shade(ground, 0.85), width=line_w)
        return True
    return False


def draw_interior(draw, cam, location: str, pal, line_w: int, *, floor_y: float) -> bool:
    """Draw an interior set for ``location`` on the back wall; False when it is not one of INTERIOR_SETS."""
    if location == "shop":
        shelf = _shade(pal.accent, 0.7)
        for row in range(4):
            y = 0.2 + row * 0.1
            draw.rectangle(cam.box(-1.5, y + 0.07, 2.5, y + 0.085), fill=shelf, outline=INK, width=line_w)
            for k in range(-20, 40):
                x = k * 0.07 + (row % 2) * 0.03
                color = ((200, 60, 50), (60, 120, 190), (230, 190, 60), (80, 160, 90))[(k + row) % 4]
                draw.rectangle(cam.box(x, y + 0.02, x + 0.045, y + 0.07), fill=color)
        draw.rectangle(cam.box(-1.5, 0.64, 0.3, floor_y), fill=(150, 110, 70), outline=INK, width=line_w)
        draw.rectangle(cam.box(-1.5, 0.62, 0.32, 0.65), fill=(120, 86, 56), outline=INK, width=line_w)
        return True
    if location == "classroom":
        draw.rectangle(cam.box(0.05, 0.2, 0.95, 0.48), fill=(34, 66, 50), outline=(120, 90, 60), width=line_w * 4)
        draw.line(cam.box(0.15, 0.3, 0.5, 0.3), fill=(220, 230, 220), width=line_w)
        draw.line(cam.box(0.15, 0.36, 0.7, 0.36), fill=(220, 230, 220), width=line_w)
        for row in range(2):
            for k in range(-4, 8):
                x = k * 0.28 + row * 0.14
                y = 0.68 + row * 0.1
                draw.rectangle(cam.box(x, y, x + 0.2, y + 0.025), fill=(186, 140, 90), outline=INK, width=line_w)
                draw.line(cam.box(x + 0.02, y + 0.025, x + 0.02, y + 0.08), fill=INK, width=line_w)
                draw.line(cam.box(x + 0.18, y + 0.025, x + 0.18, y + 0.08), fill=INK, width=line_w)
        return True
    return False


def _lantern(draw, cam, x: float, y: float, size: float, line_w: int, *, night: bool) -> None:
    px, py = cam.px(x, y)
    r = cam.length(size)
    if night:
        glow = r * 1.9
        draw.ellipse([px - glow, py - glow, px + glow, py + glow], fill=(120, 50, 60))
    draw.ellipse([px - r, py - r * 1.2, px + r, py + r * 1.2], fill=LANTERN_RED, outline=LANTERN_GOLD,
                 width=max(1, line_w))
    draw.rectangle([px - r * 0.5, py - r * 1.35, px + r * 0.5, py - r * 1.15], fill=LANTERN_GOLD)
    draw.line([px, py + r * 1.2, px, py + r * 1.7], fill=LANTERN_GOLD, width=max(1, line_w))


def draw_lanterns(draw, cam, line_w: int, *, interior: bool, night: bool) -> None:
    """Red festival lanterns: two rows strung across an exterior, or a pair hung from an interior's ceiling."""
    if interior:
        for x in (0.28, 0.72):
            draw.line(cam.box(x, -0.2, x, 0.08), fill=INK, width=line_w)
            _lantern(draw, cam, x, 0.12, 0.04, line_w, night=night)
        return
    for row, y in enumerate((0.14, 0.26)):
        draw.line(cam.box(-1.5, y - 0.025, 3.0, y - 0.025), fill=(40, 30, 30), width=line_w)
        for k in range(-20, 40):
            _lantern(draw, cam, -1.5 + k * 0.13 + row * 0.06, y + 0.015 * math.sin(k * 1.3), 0.02, line_w,
                     night=night)
