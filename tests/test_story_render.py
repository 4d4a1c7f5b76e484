"""Rendering: previz panels, lettering (wrapping, bubbles, font coverage), pages (sizes, RTL order, webtoon)
and the exports (PDF, CBZ, director's sheet, the CLI)."""

from __future__ import annotations

import argparse
import math
import re
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_studio.engines.story.pages import (PageSpec, cell_boxes, compose_pages, director_sheet_pages, export_storyboard,
                                 save_cbz, save_pdf)
from lantern_studio.engines.jobs import Cancelled
from lantern_studio.engines.story.panels import (PrevizRenderer, RenderedPanel, letter_panel, parse_setting,
                                  render_panel)
from lantern_studio.engines.story.script import parse_script
from lantern_studio.engines.story.shots import plan_shots
from lantern_studio.engines.story.text import (TextFit, draw_bubble, fit_text, font_path, get_font, layout_bubble, missing_glyphs,
                                require_coverage, wrap_text)
from lantern_testkit import sample_path

NO_START = set("，。！？、；：」』）》")


def _sample(name: str) -> str:
    return sample_path(name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def zh_board() -> Storyboard:
    return plan_shots(parse_script(_sample("nianyefan.txt")))


def _pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", data))


# ------------------------------------------------------------------------------------------------
# fonts and text
# ------------------------------------------------------------------------------------------------


def _pil_missing(text: str, path: Path, index: int) -> list[str]:
    """Independent oracle: a character is missing when FreeType draws it as the font's missing-glyph box."""
    font = ImageFont.truetype(str(path), 24, index=index)

    def bitmap(ch: str) -> bytes:
        image = Image.new("L", (48, 48))
        ImageDraw.Draw(image).text((8, 4), ch, font=font, fill=255)
        return image.tobytes()

    notdef = bitmap("\U0010fffd")
    return sorted({ch for ch in text if not ch.isspace() and bitmap(ch) == notdef})


def test_font_covers_every_character_of_both_samples():
    from lantern_studio.engines.story.text import _face_index

    text = _sample("nianyefan.txt") + _sample("brick-and-steel.fountain") + "“”‘’—…·！？（）【】《》福咚"
    assert missing_glyphs(text) == []
    require_coverage(text)
    path = font_path()
    assert _pil_missing(text, path, _face_index(str(path), "zh")) == []
    # and the check does see what the font lacks (a mahjong tile and an Egyptian hieroglyph)
    strange = "🀄𓀀"
    assert missing_glyphs("好" + strange) == sorted(strange)
    assert _pil_missing("好" + strange, path, _face_index(str(path), "zh")) == sorted(strange)
    with pytest.raises(ValueError, match="no glyph"):
        require_coverage("好🀄")


def test_wrap_respects_width_and_line_break_rules():
    font = get_font(28)
    text = "小雨愣了一下，大家哄堂大笑。窗外烟花炸开，照亮了整条老街！Then the fireworks light up the street."
    lines = wrap_text(text, font, 200)
    assert len(lines) > 3
    for line in lines:
        assert font.getlength(line) <= 200 + 1e-6 or len(line) == 1
        assert line[:1] not in NO_START, f"line starts with closing punctuation: {line!r}"
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    # English breaks between words, never inside one that fits
    words = wrap_text("retirement retirement retirement", font, 220)
    assert all(w.strip() in ("retirement", "retirement retirement") for w in words)


def test_bubble_text_stays_inside_the_bubble():
    image = Image.new("RGBA", (600, 500), (0, 200, 0, 255))
    fit, box = layout_bubble("奶奶，我的新大衣！面粉拍了我一身。", anchor_x=300, top=20, max_width_px=400,
                             max_height_px=200, frame=(600, 500), max_size_px=34)
    bubble = draw_bubble(image, fit, box, tail_to=None, outline_px=3)
    pixels = np.asarray(image.convert("RGB")).astype(int)
    # everything visibly changed (past the faint anti-aliasing halo) is the bubble and its outline
    changed = np.argwhere(np.abs(pixels - [0, 200, 0]).sum(axis=2) > 40)
    x0, y0, x1, y1 = bubble.box
    pad = 3 + 3
    assert changed[:, 1].min() >= x0 - pad and changed[:, 1].max() <= x1 + pad
    assert changed[:, 0].min() >= y0 - pad and changed[:, 0].max() <= y1 + pad
    # the text's ink lies inside the bubble's inner box, away from the outline
    tx0, ty0, tx1, ty1 = bubble.text_box
    assert x0 < tx0 and tx1 < x1 and y0 < ty0 and ty1 < y1
    # the ink of the text: what differs from the same bubble drawn with blank lines
    blank = Image.new("RGBA", (600, 500), (0, 200, 0, 255))
    draw_bubble(blank, TextFit(fit.font, [""] * len(fit.lines), fit.width_px, fit.height_px), box, tail_to=None,
                outline_px=3)
    ink = np.abs(pixels - np.asarray(blank.convert("RGB")).astype(int)).sum(axis=2) > 60
    dark = np.argwhere(ink)
    assert len(dark) > 50
    assert dark[:, 1].min() >= tx0 - 2 and dark[:, 1].max() <= tx1 + 2
    assert dark[:, 0].min() >= ty0 - 2 and dark[:, 0].max() <= ty1 + 2


def test_bubble_tail_points_at_the_speaker():
    image = Image.new("RGBA", (600, 600), (0, 0, 0, 0))
    fit, box = layout_bubble("谁呀？", anchor_x=300, top=20, max_width_px=300, max_height_px=150, frame=(600, 600),
                             max_size_px=30)
    speaker = (450.0, 500.0)
    bubble = draw_bubble(image, fit, box, tail_to=speaker)
    tip = np.array(bubble.tail_tip, dtype=float)
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    direction = (np.array(speaker) - centre) / np.linalg.norm(np.array(speaker) - centre)
    tail = (tip - centre) / np.linalg.norm(tip - centre)
    assert float(direction @ tail) > 0.8          # the tail heads toward the speaker
    assert tip[1] > box[3]                          # and leaves the bubble
    assert image.getpixel((int(tip[0]), int(tip[1]) - 4))[3] > 0


def test_fit_text_shrinks_long_text():
    short = fit_text("好", max_width_px=300, max_height_px=100, max_size_px=40)
    long = fit_text("好" * 200, max_width_px=300, max_height_px=100, max_size_px=40)
    assert long.font.size < short.font.size
    assert long.height_px <= 100 or long.lines[-1].endswith("…")


# ------------------------------------------------------------------------------------------------
# previz panels
# ------------------------------------------------------------------------------------------------


def test_panels_are_the_right_size_deterministic_and_differ_by_shot(zh_board):
    first = render_panel(zh_board.shots[0], zh_board, size=(540, 960))
    assert first.size == (540, 960) and first.mode == "RGBA"
    again = render_panel(zh_board.shots[0], zh_board, size=(540, 960))
    assert np.array_equal(np.asarray(first), np.asarray(again))
    other = render_panel(zh_board.shots[5], zh_board, size=(540, 960))
    assert not np.array_equal(np.asarray(first), np.asarray(other))
    wide = render_panel(zh_board.shots[0], zh_board, size=(1920, 1080))
    assert wide.size == (1920, 1080)
    full = render_panel(zh_board.shots[2], zh_board)
    assert full.size == (1080, 1920)
    with pytest.raises(ValueError, match="outside"):
        render_panel(zh_board.shots[0], zh_board, size=(10, 10))


def test_character_colour_comes_from_the_bible(zh_board):
    shot = zh_board.shots[2]                 # 小雨 speaking, MCU
    board = Storyboard.from_dict(zh_board.to_dict())
    plain = np.asarray(render_panel(shot, board, size=(360, 640), lettering=False).convert("RGB"))
    board.characters["小雨"].color = "#00ff00"
    green = np.asarray(render_panel(shot, board, size=(360, 640), lettering=False).convert("RGB"))
    count = lambda a: int(np.all(a == [0, 255, 0], axis=2).sum())
    assert count(green) > 5000 and count(plain) == 0


def test_speaker_anchor_and_bubble_inside_the_panel(zh_board):
    shot = zh_board.shots[5]                 # 奶奶：谁呀？门没锁。
    panel = PrevizRenderer().render(shot, zh_board, size=(540, 960), lettering=False)
    assert set(panel.anchors) == {"奶奶"}
    x, y = panel.anchors["奶奶"]
    assert 0 < x < 540 and 0 < y < 960
    image = panel.image.copy()
    boxes = letter_panel(image, shot, zh_board, panel.anchors)
    bx0, by0, bx1, by1 = boxes["bubble"]
    tx0, ty0, tx1, ty1 = boxes["text"]
    assert 0 <= bx0 < tx0 < tx1 < bx1 <= 540 and 0 <= by0 < ty0 < ty1 < by1 <= 960
    assert by1 < y                           # the bubble sits above the speaker's head


def test_settings_from_scene_headings():
    night_street = parse_setting("第一场 外景 老街 夜")
    assert (night_street.interior, night_street.time, night_street.location) == (False, "night", "street")
    kitchen = parse_setting("INT. GRANDMA'S KITCHEN - DAY")
    assert (kitchen.interior, kitchen.time, kitchen.location) == (True, "day", "kitchen")
    assert parse_setting("第三场 内景 客厅 夜").location == "living"
    assert parse_setting("EXT. BRICK'S POOL - DAY").location == "pool"


def test_render_many_reports_progress_and_cancels(zh_board):
    seen = []
    panels = PrevizRenderer().render_many(zh_board, shots=zh_board.shots[:3], size=(180, 320),
                                          progress=lambda f, m: seen.append(f))
    assert [p.shot_number for p in panels] == [1, 2, 3] and seen[-1] == 1.0
    flag = threading.Event()

    def stop_after_two(fraction, message):
        if fraction >= 2 / 4:
            flag.set()

    with pytest.raises(Cancelled) as caught:
        PrevizRenderer().render_many(zh_board, shots=zh_board.shots[:4], size=(180, 320), progress=stop_after_two,
                                     cancel=flag)
    assert len(caught.value.partial) == 2


# ------------------------------------------------------------------------------------------------
# pages
# ------------------------------------------------------------------------------------------------


def _solid_board(count: int) -> tuple[Storyboard, dict[int, RenderedPanel]]:
    colors = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (230, 200, 20), (200, 30, 200), (20, 200, 200)]
    shots = [Shot(number=i + 1, scene="INT. ROOM - DAY", size="WS") for i in range(count)]
    board = Storyboard(title="order", language="en", shots=shots, characters={})
    art = {i + 1: RenderedPanel(i + 1, Image.new("RGBA", (90, 160), colors[i % len(colors)] + (255,)))
           for i in range(count)}
    return board, art


@pytest.mark.parametrize("rtl", [False, True])
def test_page_order_left_to_right_and_manga(rtl):
    board, art = _solid_board(4)
    spec = PageSpec(layout="2x2", rtl=rtl, page_size=(800, 1130), margin_px=40, gutter_px=20)
    page = compose_pages(board, spec=spec, art=art)[0]
    assert page.size == (800, 1130)
    # the page's four quadrants, read by an independent rule: top row first, then right-to-left for manga
    quadrants = {"top-left": (200, 300), "top-right": (600, 300), "bottom-left": (200, 800),
                 "bottom-right": (600, 800)}
    order = (["top-right", "top-left", "bottom-right", "bottom-left"] if rtl
             else ["top-left", "top-right", "bottom-left", "bottom-right"])
    for number, where in enumerate(order, 1):
        expected = art[number].image.getpixel((0, 0))[:3]
        assert page.getpixel(quadrants[where]) == expected, f"shot {number} should be {where}"


def test_layouts_gutters_and_borders():
    for layout, per_page in (("2x2", 4), ("3x2", 6), ("3x3", 9)):
        spec = PageSpec(layout=layout)
        boxes = cell_boxes(spec)
        assert len(boxes) == per_page
        for a in boxes:
            assert spec.margin_px <= a[0] and a[2] <= spec.page_size[0] - spec.margin_px
            for b in boxes:
                if a is not b:       # cells never overlap, and keep a gutter between them
                    overlap_x = min(a[2], b[2]) - max(a[0], b[0])
                    overlap_y = min(a[3], b[3]) - max(a[1], b[1])
                    assert overlap_x <= -spec.gutter_px + 1 or overlap_y <= -spec.gutter_px + 1
    board, art = _solid_board(9)
    pages = compose_pages(board, spec=PageSpec(layout="3x2"), art=art)
    assert len(pages) == 2 and all(p.size == (1240, 1754) for p in pages)
    x0, y0, _, _ = cell_boxes(PageSpec(layout="3x2"))[0]
    assert pages[0].getpixel((x0 + 1, y0 + 20)) == (20, 20, 24)          # the ink border
    with pytest.raises(ValueError, match="layout"):
        PageSpec(layout="4x4").validate()


def test_webtoon_strip():
    board, art = _solid_board(3)
    spec = PageSpec(layout="webtoon", webtoon_panels_per_strip=3, webtoon_width_px=400)
    strips = compose_pages(board, spec=spec, art=art)
    assert len(strips) == 1
    strip = strips[0]
    panel_h = round(400 / (90 / 160))
    assert strip.width == 400 and strip.height == spec.margin_px * 2 + 3 * panel_h + 2 * spec.gutter_px * 3
    tops = [spec.margin_px + i * (panel_h + 3 * spec.gutter_px) for i in range(3)]
    assert [strip.getpixel((200, t + panel_h // 2)) for t in tops] == [art[i].image.getpixel((0, 0))[:3]
                                                                      for i in (1, 2, 3)]


# ------------------------------------------------------------------------------------------------
# exports
# ------------------------------------------------------------------------------------------------


def test_pdf_cbz_and_sheet(tmp_path, zh_board):
    spec = PageSpec(layout="3x3", rtl=True, page_size=(620, 877), margin_px=30, gutter_px=12, dpi=75)
    pages = compose_pages(zh_board, spec=spec)
    assert len(pages) == math.ceil(len(zh_board.shots) / 9)
    pdf = save_pdf(pages, tmp_path / "pages.pdf", dpi=75)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and _pdf_pages(data) == len(pages)
    assert b"/MediaBox [ 0 0 595.2 841.92 ]" in data or b"/MediaBox [0 0 595.2 841.92]" in data   # A4 at 75 dpi
    cbz = save_cbz(pages, tmp_path / "pages.cbz", board=zh_board, rtl=True)
    with zipfile.ZipFile(cbz) as archive:
        names = archive.namelist()
        assert names == [f"{i:03d}.png" for i in range(1, len(pages) + 1)] + ["ComicInfo.xml"]
        info = archive.read("ComicInfo.xml").decode("utf-8")
        assert "<Manga>YesAndRightToLeft</Manga>" in info and "<Title>年夜饭</Title>" in info
        first = Image.open(archive.open("001.png"))
        assert first.size == (620, 877)
    sheet = director_sheet_pages(zh_board, page_size=(620, 877), rows_per_page=4)
    assert len(sheet) == math.ceil(len(zh_board.shots) / 4)
    sheet_pdf = save_pdf(sheet, tmp_path / "sheet.pdf")
    assert _pdf_pages(sheet_pdf.read_bytes()) == len(sheet)
    with pytest.raises(ValueError, match="no pages"):
        save_pdf([], tmp_path / "empty.pdf")


def test_export_storyboard_writes_everything(tmp_path):
    board = plan_shots(parse_script("INT. KITCHEN - NIGHT\n\nGRANDMA\nWho's there?\n\nMAYA\nIt's me!\n\n"
                                    "They hug. BANG! The door slams.\n"))
    result = export_storyboard(board, tmp_path / "out", panel_size=(270, 480))
    for path in result.files():
        assert path.is_file() and path.stat().st_size > 0
    assert [Image.open(p).size for p in result.panels] == [(270, 480)] * len(board.shots)
    assert result.shot_list_csv.read_text(encoding="utf-8").startswith("#,scene,size")


def test_cli_writes_shot_list_panels_and_pages(tmp_path, capsys):
    from lantern_studio.engines.cli.storyboard import run

    script = tmp_path / "short.txt"
    script.write_text("第一场 内景 客厅 夜\n【全景】一家人围坐。\n奶奶：吃饺子！\n小雨：（笑）好！\n", encoding="utf-8")
    args = argparse.Namespace(script=str(script), out=str(tmp_path / "out"), music=None, format="1:1", fps=24,
                              no_video=True, project=str(tmp_path / "proj"), models_dir=None, device=None)
    assert run(args, None) == 0
    out = tmp_path / "out"
    for name in ("shots.json", "shots.csv", "pages.pdf", "pages.cbz", "storyboard-sheet.pdf",
                 "pages/page_001.png", "panels/shot_0003.png"):
        assert (out / name).is_file(), name
    assert Image.open(out / "panels" / "shot_0001.png").size == (1080, 1080)
    assert (tmp_path / "proj" / "story" / "storyboard.json").is_file()
    assert "1 scenes, 2 dialogue lines" in capsys.readouterr().out
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    args.script = str(empty)
    assert run(args, None) == 2
    assert "empty" in capsys.readouterr().err


def test_bubble_near_the_edges_is_clipped_not_an_error():
    image = Image.new("RGBA", (200, 150), (0, 0, 0, 255))
    fit, box = layout_bubble("Hello there, far corner", anchor_x=190, top=100, max_width_px=180,
                             max_height_px=60, frame=(200, 150), max_size_px=20)
    bubble = draw_bubble(image, fit, box, tail_to=(260.0, 400.0))
    assert image.size == (200, 150) and bubble.tail_tip is not None
    assert image.getpixel((min(199, (box[0] + box[2]) // 2), min(149, (box[1] + box[3]) // 2)))[:3] != (0, 0, 0)
