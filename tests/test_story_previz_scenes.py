"""Previz that shows the scene: outside or inside, day or night, the set the scene line or the action names,
lanterns for festival scenes, and characters that look their age. Checked on the rendered pixels with numpy and
OpenCV (luminance of the sky band, saturated red blobs, each character's clothing and hair pixels)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lantern_studio.engines.story.model import Character, Shot, Storyboard
from lantern_studio.engines.story.panels import render_panel, setting_for
from lantern_studio.engines.story.script import parse_script
from lantern_studio.engines.story.shots import plan_shots

SIZE = (360, 640)
GRANDMA = Character("奶奶", "白发，七十岁", "#2e86ab", 7)
CHILD = Character("小宝", "小孩，六岁", "#d1495b", 9)
CAST = {c.name: c for c in (GRANDMA, CHILD)}


def _panel(scene: str, action: str = "", cast: list[str] | None = None, **fields) -> np.ndarray:
    shot = Shot(number=1, scene=scene, size="WS", action=action, characters=list(cast or []), **fields)
    board = Storyboard(title="", language="zh", shots=[shot], characters=dict(CAST))
    return np.asarray(render_panel(shot, board, size=SIZE, lettering=False, header=False).convert("RGB"))


def _luma(pixels: np.ndarray) -> np.ndarray:
    return pixels[..., :3].astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])


def _sky_band(pixels: np.ndarray) -> np.ndarray:
    return pixels[: pixels.shape[0] // 8]


def test_night_exterior_has_a_dark_sky_and_no_room_walls():
    night_out = _sky_band(_panel("外 江边 夜", "小雨看江"))
    day_out = _sky_band(_panel("外 江边 日", "小雨看江"))
    night_in = _sky_band(_panel("内 客厅 夜", "小雨看电视"))
    # the night sky is well below the day sky in luminance, and blue (a sky), where an interior's band is wall
    assert _luma(night_out).mean() < 0.35 * _luma(day_out).mean()
    assert _luma(night_out).mean() < 60
    blue_minus_red = lambda band: float(band[..., 2].astype(int).mean() - band[..., 0].astype(int).mean())
    assert blue_minus_red(night_out) > 20 and blue_minus_red(day_out) > 40
    assert blue_minus_red(night_in) < 10                      # a warm wall, not a sky
    # no walls: the band's rows change from top to bottom (a gradient sky with stars), as an open sky does
    assert np.abs(np.diff(night_out.mean(axis=(1, 2)))).sum() > 5


def test_scene_words_in_any_order_pick_exterior_and_night():
    board = plan_shots(parse_script("外 老街 夜\n灯笼亮了。"))
    setting = setting_for(board.shots[0], board)
    assert (setting.interior, setting.time, setting.location) == (False, "night", "street")
    # the shot list's own fields win over the heading: an edited row is drawn as edited
    shot = Shot(number=1, scene="第一场 老街", int_ext="EXT", time_of_day="dawn")
    assert setting_for(shot, Storyboard(shots=[shot])).interior is False
    assert setting_for(shot, Storyboard(shots=[shot])).time == "dawn"


def _red_blobs(pixels: np.ndarray) -> int:
    hsv = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    mask = (((hue <= 8) | (hue >= 172)) & (sat >= 150) & (val >= 120)).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return int(sum(1 for area in stats[1:, cv2.CC_STAT_AREA] if area >= 12))


@pytest.mark.parametrize("scene,action", [("外 河边 夜", "元宵节，大家放花灯"), ("内景 客厅 夜", "除夕夜，门口挂着灯笼"),
                                          ("EXT. PARK - NIGHT", "Lanterns for the festival")])
def test_festival_scenes_have_red_lanterns(scene, action):
    festive = _red_blobs(_panel(scene, action))
    plain = _red_blobs(_panel(scene, "小雨一个人走着"))
    assert festive >= 2 and festive > plain + 1


SETS = [  # scene line, action, a colour only that set paints, the least share of the frame it covers
    ("外 江边 日", "", (70, 140, 190), 0.04),          # water
    ("日 外 石桥", "", (150, 146, 136), 0.02),         # the stone bridge
    ("日 外 菜市场", "", (210, 50, 44), 0.005),        # awning stripes
    ("内景 教室 日", "", (34, 66, 50), 0.05),          # the blackboard
    ("内景 小店 日", "", (60, 120, 190), 0.005),       # goods on the shelves
    ("晨 外 山路", "", (120, 130, 160), 0.03),         # far mountains
    ("外 日", "两人走在山路上", (120, 130, 160), 0.03),  # the place from the action when the heading names none
]


@pytest.mark.parametrize("scene,action,color,share", SETS, ids=[s[0] + s[1] for s in SETS])
def test_sets_come_from_the_scene_line_and_the_action(scene, action, color, share):
    pixels = _panel(scene, action)
    match = np.all(np.abs(pixels.astype(int) - np.array(color)) <= 2, axis=-1).mean()
    assert match >= share
    other = _panel("内景 客厅 日")
    assert np.all(np.abs(other.astype(int) - np.array(color)) <= 2, axis=-1).mean() < share


def _figure_box(pixels: np.ndarray, hex_color: str) -> tuple[int, int, int, int]:
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    ys, xs = np.nonzero(np.all(pixels.astype(int) == rgb, axis=-1))
    assert len(ys) > 50, f"no clothing of colour {hex_color} found"
    return xs.min(), ys.min(), xs.max(), ys.max()


def test_characters_of_different_ages_differ_in_height_and_hair():
    pixels = _panel("外 四合院 日", "奶奶和小宝在院子里", ["奶奶", "小宝"])
    grandma, child = _figure_box(pixels, GRANDMA.color), _figure_box(pixels, CHILD.color)
    # both stand on the same floor; the child's shoulders are much lower
    assert child[1] - grandma[1] > 0.05 * SIZE[1]
    grey = np.all(np.abs(pixels.astype(int) - np.array([201, 201, 201])) <= 1, axis=-1)

    def hair_above(box) -> int:
        x0, y0, x1, _ = box
        return int(grey[max(0, y0 - 60):y0, x0:x1 + 1].sum())

    assert hair_above(grandma) > 30 and hair_above(child) == 0


def test_previz_is_deterministic():
    first = _panel("外 河边 夜", "元宵节放花灯", ["奶奶", "小宝"])
    second = _panel("外 河边 夜", "元宵节放花灯", ["奶奶", "小宝"])
    assert np.array_equal(first, second)


def test_prose_beats_take_the_place_and_time_from_the_narration():
    board = plan_shots(parse_script("第一章 回家\n夜里，小雨拖着行李箱走进老街，巷口的灯笼一串串亮起来。\n"
                                    "奶奶在厨房里包饺子，擀面杖咚咚作响，锅里的水已经开了。\n", format="prose"))
    street, kitchen = (setting_for(shot, board) for shot in board.shots)
    assert (street.interior, street.location, street.time, street.festival) == (False, "street", "night", True)
    assert (kitchen.interior, kitchen.location) == (True, "kitchen")


def test_the_diffusers_prompt_names_the_same_scene(tmp_path):
    from lantern_studio.engines.story.diffusers_panels import DiffusersRenderer

    shot = Shot(number=1, scene="外 河边 夜", action="元宵节，大家放花灯")
    prompt, _ = DiffusersRenderer(tmp_path / "no-model-needed").build_prompt(shot, Storyboard(shots=[shot]))
    assert "exterior" in prompt and "night" in prompt and "red lanterns" in prompt
