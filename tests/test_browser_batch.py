"""The Storyboard tab's Batch section in a real headless Chromium: add a script, choose a music takes preset and
pages only, start, and get the results listed and written into the project's renders/batch folder."""

from __future__ import annotations

import pytest

from lantern_testkit import open_step

pytestmark = pytest.mark.browser

SCRIPT = "第一场 内景 客厅 夜\n【全景】一家人围坐。\n奶奶：吃饺子！\n【近景】小明笑了。\n"


def test_batch_section_renders_a_script_and_a_music_take_into_the_project(page, studio, tmp_path):
    script = tmp_path / "ep7.txt"
    script.write_text(SCRIPT, encoding="utf-8")
    open_step(page, "Batch")
    page.locator("#batch-uploads input[type=file]").set_input_files(str(script))
    page.locator("#batch-format").get_by_label("1:1", exact=True).check()
    page.locator("#batch-no-video").get_by_role("checkbox").check()
    page.locator("#batch-take-preset input").click()
    page.get_by_role("option", name="dragon-boat", exact=True).click()
    page.locator("#batch-seeds textarea, #batch-seeds input").first.fill("4")
    page.locator("#batch-take-duration input").fill("8")
    page.locator("#batch-start").click()
    page.wait_for_function("() => document.querySelector('#batch-status').innerText.includes('made')",
                           timeout=300_000)
    status = page.locator("#batch-status").inner_text()
    assert "2 made" in status and "0 failed" in status, status
    links = page.locator("#batch-results").inner_text().replace("\n", "")     # names show as stem, then suffix
    assert "pages.pdf" in links and "dragon-boat-s4_mix.wav" in links
    out = studio.project / "renders" / "batch"
    assert (out / "ep7" / "pages.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "dragon-boat-s4" / "dragon-boat-s4_mix.wav").read_bytes()[:4] == b"RIFF"
