"""The Storyboard tab's steps in a real headless Chromium, on a studio of its own (started through launch.py in a
subprocess, no model weights): each step's screenshot at 1400×1000; a user's mistake is a toast, a status line
and one line in the server's log, never a traceback; prose chapters (English and Chinese) become shot lists with
the speakers read off the excerpts by hand, then panels; the one save line, and another window's newer save
offered as Reload theirs / Keep mine; the Batch step lists the window's project's scripts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lantern_testkit import SAMPLES_DIR, edit_cell, open_step, open_window, screenshot
from test_story_prose import EN_SPEAKERS, ZH_SPEAKERS

pytestmark = pytest.mark.browser

STEPS = ("Script", "Shots", "Voices", "Panels", "Pages", "Animatic", "Batch")
SCRIPT = "INT. TEMPLE FAIR - NIGHT\n\nMEI\nThe lanterns are lit.\n\nGRANDMA\nCome home, child.\n"


def wait_text(page, elem_id: str, text: str, timeout: int = 60_000) -> None:
    page.wait_for_function("([id, t]) => document.querySelector('#' + id).innerText.includes(t)",
                           arg=[elem_id, text], timeout=timeout)


def parse(page, text: str) -> None:
    open_step(page, "Script")
    page.locator("#story-script textarea").fill(text)
    page.locator("#story-parse").click()
    wait_text(page, "story-status", "shots")


# words of the shot list's size, move, cast and speaker cells drawn over two lines (a split word has two boxes)
SPLIT_CELLS = """() => {
  const split = [];
  document.querySelectorAll('#story-shots [data-testid^="cell-"]').forEach(cell => {
    const column = Number(cell.dataset.testid.split('-')[2]);
    if (![2, 3, 5, 6].includes(column)) return;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      for (const m of node.textContent.matchAll(/[^\\s,]+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) split.push(m[0]);
      }
    }
  });
  return split;
}"""


def board(project: Path) -> dict:
    return json.loads((project / "story" / "storyboard.json").read_text(encoding="utf-8"))


def test_a_mistake_is_a_toast_and_one_log_line_and_every_step_fits_the_screen(browser, own_studio, tmp_path):
    context, page = open_window(browser, own_studio.url)
    open_step(page, "Panels")
    page.locator("#story-render-panels").click()            # nothing pasted, nothing parsed
    page.locator(".toast-body").filter(has_text="no shot list yet").first.wait_for()
    wait_text(page, "story-panels-status", "no shot list yet")
    assert page.locator("#story-panels").inner_text().count("Error") == 0
    page.wait_for_timeout(500)
    log = own_studio.log_path.read_text(encoding="utf-8")
    assert "Traceback" not in log, log[-3000:]
    refused = [line for line in log.splitlines() if "no shot list yet" in line]
    assert len(refused) == 1 and refused[0].startswith("lantern studio: refused: "), log[-3000:]

    parse(page, (SAMPLES_DIR / "nianyefan.txt").read_text(encoding="utf-8"))
    open_step(page, "Panels")
    page.locator("#story-render-panels").click()
    # while the job runs its progress is drawn over the gallery it fills, not over the status line
    page.wait_for_function("() => document.querySelector('#story-panels .progress-text')", polling=50)
    overlays = page.evaluate("""() => ['#story-panels', '#story-panels-status'].map(
      id => Array.from(document.querySelectorAll(id + ' .wrap')).some(w => !w.classList.contains('hide')))""")
    assert overlays == [True, False], overlays
    page.wait_for_function("() => document.querySelectorAll('#story-panels img').length >= 10", timeout=120_000)
    wait_text(page, "story-panels-status", "Rendered")
    # one status line per step, each holding one message (the previous one is replaced, not drawn under it)
    assert page.locator("#story-panels-status").inner_text().count("Rendered") == 1
    assert page.locator("#story-save-shots").count() == 0          # one save model: no Save button
    for step in STEPS:
        open_step(page, step)
        if step == "Shots":     # the one-word columns (size, move, cast, speaker) keep each word on one line
            assert page.evaluate(SPLIT_CELLS) == []
        screenshot(page, tmp_path, f"storyboard-step-{step.lower()}.png")
        # no step is the old 4,400-px column
        assert page.evaluate("() => document.documentElement.scrollHeight") < 2600, step
    assert "Traceback" not in own_studio.log_path.read_text(encoding="utf-8")
    context.close()


@pytest.mark.parametrize("name, speakers, narrator", [("mad-tea-party.txt", EN_SPEAKERS, "NARRATOR"),
                                                      ("kongyiji.txt", ZH_SPEAKERS, "旁白")])
def test_a_pasted_prose_chapter_becomes_a_shot_list_with_its_speakers_then_panels(browser, own_studio, tmp_path,
                                                                                 name, speakers, narrator):
    context, page = open_window(browser, own_studio.url)
    text = (SAMPLES_DIR / name).read_text(encoding="utf-8")
    open_step(page, "Script")
    page.locator("#story-prose textarea").fill(text)
    page.locator("#story-from-prose").click()
    wait_text(page, "story-status", "prose")
    status = page.locator("#story-status").inner_text()
    shots_total = int(re.search(r"(\d+) shots", status).group(1))
    saved = board(own_studio.project)
    assert len(saved["shots"]) == shots_total
    assert [s["speaker"] for s in saved["shots"] if s["speaker"] not in ("", narrator)] == speakers
    # the chapter is the project's script now, and the shot list is the ordinary editable one
    assert page.locator("#story-script textarea").input_value() == text
    open_step(page, "Shots")
    first_speaker = saved["shots"][0]["speaker"]
    assert page.locator('#story-shots [data-testid="cell-0-6"]').inner_text().strip() == first_speaker
    open_step(page, "Panels")
    page.locator("#story-render-panels").click()
    page.wait_for_function(f"() => document.querySelectorAll('#story-panels img').length >= {shots_total}",
                           timeout=240_000)
    numbers = sorted(int(p.stem.split("_")[-1]) for p in (own_studio.project / "story" / "panels").glob("*.png"))
    assert numbers[:shots_total] == list(range(1, shots_total + 1))
    screenshot(page, tmp_path, f"storyboard-prose-{Path(name).stem}.png")
    context.close()


def test_one_save_line_and_another_windows_newer_save_is_a_choice(browser, own_studio, tmp_path):
    first_context, first = open_window(browser, own_studio.url)
    parse(first, SCRIPT)
    second_context, second = open_window(browser, own_studio.url)          # loads the board the first just saved
    open_step(first, "Shots")
    open_step(second, "Shots")

    edit_cell(first, "story-shots", 0, 2, "ECU")
    first.wait_for_function("() => /Saved \\d\\d:\\d\\d:\\d\\d/.test("
                            "document.querySelector('#story-shots-status').innerText)")
    assert board(own_studio.project)["shots"][0]["size"] == "ECU"

    edit_cell(second, "story-shots", 1, 2, "EWS")   # the second window still shows the list before that edit
    wait_text(second, "story-shots-status", "another window changed")
    assert board(own_studio.project)["shots"][1]["size"] != "EWS"
    keep = second.locator("#story-keep-mine")
    assert keep.is_visible() and second.locator("#story-reload-theirs").is_visible()
    screenshot(second, tmp_path, "storyboard-save-conflict.png")
    keep.click()
    wait_text(second, "story-shots-status", "Saved")
    saved = board(own_studio.project)
    assert saved["shots"][1]["size"] == "EWS" and saved["shots"][0]["size"] != "ECU"
    assert not keep.is_visible()

    edit_cell(first, "story-shots", 1, 2, "CU")     # now the first window is the stale one
    wait_text(first, "story-shots-status", "another window changed")
    first.locator("#story-reload-theirs").click()
    first.wait_for_function("() => document.querySelector('#story-shots [data-testid=\"cell-1-2\"]')"
                            ".innerText.trim() === 'EWS'")
    assert board(own_studio.project)["shots"][1]["size"] == "EWS"
    first_context.close()
    second_context.close()


def test_the_batch_step_lists_the_windows_project_scripts(browser, own_studio, tmp_path):
    scripts = own_studio.project / "scripts"
    scripts.mkdir(exist_ok=True)
    (scripts / "startup-episode.txt").write_text(SCRIPT, encoding="utf-8")
    context, page = open_window(browser, own_studio.url)
    open_step(page, "Batch")
    wait_text(page, "batch-scripts", "startup-episode.txt")

    # another project in this window: its scripts, not the startup project's
    page.locator("#project-accordion button.label-wrap").click()
    page.locator("#project-new-name textarea, #project-new-name input").first.fill("batch elsewhere")
    page.locator("#project-create").click()
    wait_text(page, "project-status", "Created")
    fresh = Path(page.locator("#project-current code").inner_text().strip())
    page.wait_for_function("() => !document.querySelector('#batch-scripts').innerText.includes('startup-episode')")
    parse(page, "第一场 内景 客厅 夜\n【全景】一家人围坐。\n奶奶：吃饺子！\n")
    open_step(page, "Batch")                        # the script just parsed is listed when the step opens
    page.locator("#batch-scripts").get_by_label("story/script.txt").check()
    page.locator("#batch-no-video").get_by_role("checkbox").check()
    page.locator("#batch-start").click()
    wait_text(page, "batch-status", "made", timeout=300_000)
    assert "1 made" in page.locator("#batch-status").inner_text()
    assert (fresh / "renders" / "batch" / "script" / "pages.pdf").read_bytes().startswith(b"%PDF")
    assert not (own_studio.project / "renders" / "batch").exists()
    screenshot(page, tmp_path, "storyboard-batch-other-project.png")
    context.close()
