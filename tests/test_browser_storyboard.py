"""A creator's flow in a real headless Chromium: paste the Chinese sample, parse it, change a shot's size in the
shot list and save it, render previz panels, render pages and download the PDF."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
from PIL import Image

from lantern_testkit import SAMPLES_DIR, edit_cell, open_step, open_tab

pytestmark = pytest.mark.browser

SAMPLES = SAMPLES_DIR
CHINESE_SAMPLE = SAMPLES / "nianyefan.txt"


def _shot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("LANTERN_SCREENSHOTS"):
        folder = Path(os.environ["LANTERN_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name
    return tmp_path / name


def _sample_text() -> str:
    return CHINESE_SAMPLE.read_text(encoding="utf-8")


def test_chinese_sample_to_edited_shot_list_pages_and_pdf(page, studio, tmp_path):
    text = _sample_text()
    expected_scenes = sum(1 for line in text.splitlines() if re.match(r"^第.场", line))
    open_tab(page, "Storyboard")

    # paste and parse
    page.locator("#story-script textarea").fill(text)
    page.locator("#story-parse").click()
    page.wait_for_function("() => document.querySelector('#story-status').innerText.includes('shots')")
    status = page.locator("#story-status").inner_text()
    assert f"{expected_scenes} scenes" in status, status
    shots_total = int(re.search(r"(\d+) shots", status).group(1))
    assert shots_total >= 10

    # change shot 3's size (it is MCU, a dialogue line) to CU and save it into the project
    open_step(page, "Shots")
    cell = page.locator('#story-shots [data-testid="cell-2-2"]')
    assert cell.inner_text().strip() == "MCU"
    edit_cell(page, "story-shots", 2, 2, "CU")
    # the edit is saved into the project as it is made, without pressing Save
    page.wait_for_function("() => document.querySelector('#story-shots-status').innerText.includes('Saved')")
    saved = json.loads((studio.project / "story" / "storyboard.json").read_text(encoding="utf-8"))
    assert saved["shots"][2]["size"] == "CU"
    assert len(saved["shots"]) == shots_total

    # previz panels for every shot
    open_step(page, "Panels")
    page.locator("#story-render-panels").click()
    page.wait_for_function(f"() => document.querySelectorAll('#story-panels img').length >= {shots_total}",
                           timeout=120_000)
    panel = Image.open(studio.project / "story" / "panels" / "shot_0003.png")
    assert panel.size == (1080, 1920)

    # pages, then download the PDF through the browser
    open_step(page, "Pages")
    page.locator("#story-render-pages").click()
    link = page.locator('#story-downloads a[download="pages.pdf"]')
    link.wait_for(timeout=120_000)
    with page.expect_download() as download_info:
        link.click()
    pdf_path = tmp_path / "pages.pdf"
    download_info.value.save_as(pdf_path)
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF")
    pages_in_pdf = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert pages_in_pdf == math.ceil(shots_total / 4)          # the 2x2 layout: four panels a page
    page_png = studio.project / "story" / "pages" / "page_001.png"
    assert Image.open(page_png).size == (1240, 1754)

    shot = _shot_path(tmp_path, "storyboard-tab.png")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("LANTERN_SCREENSHOTS"):
        Image.open(page_png).save(_shot_path(tmp_path, "storyboard-page-001.png"))
