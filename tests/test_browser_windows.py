"""A studio you can trust with two windows and a bad click, in a real headless Chromium, on a studio of its own
with no model weights: each window writes only into its own project; the Storyboard follows a project switch;
a refused Generate leaves the takes list usable; MusicGen's help is short and its command copies intact;
Continue from the loop continues the take heard (the hidden X); the Mixer's list follows new takes
(the benchmark history's layout is tests/test_browser_benchmarks_history.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lantern_studio.engines.music.musicgen_models import download_command
from lantern_testkit import (SAMPLES_DIR, ab_state, edit_cell, generate, open_step, open_tab, open_window,
                             screenshot, take_metas, wait_selected)

pytestmark = pytest.mark.browser

PRESET = "lion-dance"
TAKE_S = 11


def header_project(page) -> Path:
    return Path(page.locator("#project-current code").inner_text().strip())


def projects_panel(page) -> None:
    if not page.locator("#project-new-name").is_visible():
        page.locator("#project-accordion button.label-wrap").click()
        page.wait_for_selector("#project-new-name")


def wait_status(page, text: str) -> None:
    page.wait_for_function("t => document.querySelector('#project-status').innerText.includes(t)", arg=text,
                           timeout=60_000)


def create_project(page, name: str) -> Path:
    projects_panel(page)
    page.locator("#project-new-name textarea, #project-new-name input").first.fill(name)
    page.locator("#project-create").click()
    wait_status(page, "Created")
    page.wait_for_function("n => document.querySelector('#project-current').innerText.includes(n)", arg=name)
    return header_project(page)


def open_project(page, folder: Path) -> None:
    projects_panel(page)
    page.locator("#project-recent input").first.fill(str(folder))
    page.keyboard.press("Enter")
    page.locator("#project-open").click()
    wait_status(page, "Opened")
    page.wait_for_function("p => document.querySelector('#project-current code').innerText.trim() === p",
                           arg=str(folder))


def test_two_windows_with_two_projects_write_only_into_their_own(browser, own_studio, tmp_path):
    first_context, first = open_window(browser, own_studio.url)
    second_context, second = open_window(browser, own_studio.url)
    startup = own_studio.project.resolve()
    assert header_project(first) == header_project(second) == startup

    other = create_project(second, "second window")
    assert other != startup and (other / "project.json").exists()
    # the first window did not follow: its header still names the startup project
    assert header_project(first) == startup

    open_tab(second, "Music")
    generate(second, takes=1, seed=8100, duration_s=TAKE_S)
    open_tab(first, "Music")
    generate(first, takes=1, seed=8200, duration_s=TAKE_S)
    assert [m["seed"] for m in take_metas(other)] == [8100]
    assert [m["seed"] for m in take_metas(startup)] == [8200]
    # each window lists its own project's takes only
    assert "8100" in second.locator("#music-takes-table").inner_text()
    assert "8200" not in second.locator("#music-takes-table").inner_text()
    assert "8100" not in first.locator("#music-takes-table").inner_text()

    # after a reload the header and the list agree, and the recent list has the project made since start-up
    first.reload()
    first.wait_for_selector("#lantern-header")
    open_tab(first, "Music")
    first.wait_for_function("() => document.querySelector('#music-takes-table').innerText.includes('8200')")
    assert header_project(first) == startup and "8100" not in first.locator("#music-takes-table").inner_text()
    projects_panel(first)
    first.locator("#project-recent input").first.click()
    assert first.get_by_role("option").filter(has_text=str(other)).count() == 1
    first.keyboard.press("Escape")
    screenshot(second, tmp_path, "windows-second.png")
    screenshot(first, tmp_path, "windows-first.png")
    first_context.close()
    second_context.close()


def test_the_storyboard_follows_a_project_switch_and_saves_into_the_shown_project(browser, own_studio, tmp_path):
    context, page = open_window(browser, own_studio.url)
    startup = own_studio.project.resolve()
    open_tab(page, "Storyboard")
    first_script = (SAMPLES_DIR / "nianyefan.txt").read_text(encoding="utf-8")
    page.locator("#story-script textarea").fill(first_script)
    page.locator("#story-parse").click()
    page.wait_for_function("() => document.querySelector('#story-status').innerText.includes('shots')")
    first_board = (startup / "story" / "storyboard.json").read_bytes()

    fresh = create_project(page, "empty story")
    # the new project's storyboard is empty: no old script, no old shot list
    page.wait_for_function("() => document.querySelector('#story-script textarea').value === ''")
    open_step(page, "Shots")
    assert "奶奶" not in page.locator("#story-shots").inner_text()
    screenshot(page, tmp_path, "storyboard-after-switch.png")

    open_step(page, "Script")
    page.locator("#story-script textarea").fill("INT. TEMPLE FAIR - NIGHT\n\nMEI\nThe lanterns are lit.\n")
    page.locator("#story-parse").click()
    page.wait_for_function("() => document.querySelector('#story-status').innerText.includes('shots')")
    open_step(page, "Shots")
    # no column title of the shot list breaks inside a word (a word split over two lines has two line boxes)
    split_words = page.evaluate("""() => {
      const split = []; let words = 0;
      document.querySelectorAll('#story-shots thead th').forEach(th => {
        const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
        let node;
        while ((node = walker.nextNode())) {
          for (const m of node.textContent.matchAll(/\\S+/g)) {
            const range = document.createRange();
            range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
            const rects = Array.from(range.getClientRects()).filter(r => r.width > 0);
            if (rects.length) words += 1;
            if (new Set(rects.map(r => Math.round(r.top))).size > 1) split.push(m[0]);
          }
        }
      });
      return {split, words};
    }""")
    assert split_words["words"] >= 15 and split_words["split"] == [], split_words
    # an edit in the new project lands in the new project; the first project's storyboard is untouched
    edit_cell(page, "story-shots", 0, 2, "ECU")
    page.wait_for_function("() => document.querySelector('#story-shots-status').innerText.includes('Saved')")
    fresh_board = json.loads((fresh / "story" / "storyboard.json").read_text(encoding="utf-8"))
    assert fresh_board["shots"][0]["size"] == "ECU"
    assert (startup / "story" / "storyboard.json").read_bytes() == first_board

    # panels render into the shown project; a click on the last panel picks its shot, and regenerating a
    # previz panel says why it comes out the same
    numbers = [shot["number"] for shot in fresh_board["shots"]]
    open_step(page, "Panels")
    page.locator("#story-render-panels").click()
    page.wait_for_function("n => document.querySelectorAll('#story-panels img').length >= n", arg=len(numbers),
                           timeout=120_000)
    assert sorted(int(p.stem.split("_")[-1]) for p in (fresh / "story" / "panels").glob("*.png")) == numbers
    assert not any(startup.glob("story/panels/*.png"))
    page.locator("#story-panels img").nth(len(numbers) - 1).click()
    page.wait_for_function("n => document.querySelector('#story-regen-shot input').value === String(n)",
                           arg=numbers[-1])
    page.keyboard.press("Escape")
    page.locator("#story-regenerate").click()
    page.locator(".toast-body").filter(has_text="comes out the same").first.wait_for()
    screenshot(page, tmp_path, "storyboard-panel-regenerate.png")

    # back to the first project: its script and its shots come back
    open_project(page, startup)
    page.wait_for_function("t => document.querySelector('#story-script textarea').value === t", arg=first_script)
    open_step(page, "Shots")
    # the shot list shows the first project's shots again (the table draws only the rows in view)
    first_line = next(text for shot in json.loads(first_board)["shots"]
                      for text in (shot.get("dialogue"), shot.get("action")) if text)[:6]
    page.wait_for_function("t => document.querySelector('#story-shots').innerText.includes(t)", arg=first_line)
    assert "lanterns are lit" not in page.locator("#story-shots").inner_text()
    screenshot(page, tmp_path, "storyboard-back-to-first.png")
    context.close()


def test_two_windows_on_one_storyboard_never_silently_undo_each_other(browser, own_studio, tmp_path):
    first_context, first = open_window(browser, own_studio.url)
    shared = create_project(first, "shared story")
    open_tab(first, "Storyboard")
    first.locator("#story-script textarea").fill("INT. TEMPLE FAIR - NIGHT\n\nMEI\nThe lanterns are lit.\n\n"
                                                 "GRANDMA\nCome home, child.\n")
    first.locator("#story-parse").click()
    first.wait_for_function("() => document.querySelector('#story-status').innerText.includes('2 shots')")
    second_context, second = open_window(browser, own_studio.url)
    open_project(second, shared)
    open_step(second, "Shots")
    second.wait_for_function("() => document.querySelector('#story-shots').innerText.includes('Come home')")

    # the first window's edit is saved; the second window, still showing the older list, does not save over it
    open_step(first, "Shots")
    edit_cell(first, "story-shots", 0, 2, "ECU")
    first.wait_for_function("() => document.querySelector('#story-shots-status').innerText.includes('Saved')")
    edit_cell(second, "story-shots", 1, 2, "EWS")
    second.wait_for_function("() => document.querySelector('#story-shots-status').innerText.includes("
                             "'another window changed')")
    saved = json.loads((shared / "story" / "storyboard.json").read_text(encoding="utf-8"))
    assert saved["shots"][0]["size"] == "ECU" and saved["shots"][1]["size"] != "EWS"
    screenshot(second, tmp_path, "storyboard-changed-elsewhere.png")
    first_context.close()
    second_context.close()


def test_a_refused_generate_leaves_the_takes_list_and_musicgen_help_is_short(browser, own_studio, tmp_path):
    context, page = open_window(browser, own_studio.url)
    open_tab(page, "Music")
    generate(page, takes=1, seed=8400, duration_s=TAKE_S)

    # MusicGen without weights: one short line, Generate disabled, the command intact in a code block
    page.locator("#music-engine").get_by_label("musicgen").check()
    page.wait_for_function("() => document.querySelector('#music-engine-status').innerText.includes('not ready')")
    status_line = page.locator("#music-engine-status").inner_text().strip()
    assert "\n" not in status_line and "snapshot_download" not in status_line
    assert page.locator("#music-generate").is_disabled()
    page.locator("#music-melody-panel button.label-wrap").click()
    assert page.locator("#music-generate-melody").is_disabled()
    page.locator("#music-engine-details-panel button.label-wrap").click()
    code = page.locator("#music-engine-details pre code").first
    code.wait_for()
    assert download_command("facebook/musicgen-small") in code.inner_text()
    assert "allow_patterns=['*.bin', '*.json']" in code.inner_text()
    screenshot(page, tmp_path, "music-musicgen-not-ready.png")

    # a Generate that fails inside the job: a toast and a status line; the list and the picker stay usable
    page.locator("#music-engine").get_by_label("composer").check()
    page.wait_for_function("() => !document.querySelector('#music-generate').disabled", timeout=120_000)
    page.locator("#music-seed input").fill("-5")          # a fixed seed below 0: refused inside the job
    page.locator("#music-generate").click()
    page.wait_for_function("() => document.querySelector('#music-status').innerText.includes('0 or more')",
                           timeout=120_000)
    assert page.locator(".toast-body").filter(has_text="0 or more").count() >= 1
    table = page.locator("#music-takes-table")
    assert "8400" in table.inner_text() and "Error" not in table.inner_text()
    assert page.locator("#music-ab-pick label").filter(has_text="(seed 8400)").count() == 1
    assert "Error" not in page.locator("#music-ab-pick").inner_text()
    # the list still takes clicks: selecting the take fills the detail panel
    table.get_by_text(re.compile(r"8400$")).filter(visible=True).first.click()
    wait_selected(page, 8400)
    screenshot(page, tmp_path, "music-refused-generate.png")
    context.close()


def test_continue_from_the_loop_continues_the_hidden_x_and_the_mixer_lists_it(browser, own_studio, tmp_path):
    context, page = open_window(browser, own_studio.url)
    open_tab(page, "Mixer")        # the Mixer's list was read before these takes exist
    open_tab(page, "Music")
    generate(page, takes=2, seed=8500, duration_s=TAKE_S)
    project = own_studio.project
    by_seed = {m["seed"]: m for m in take_metas(project) if m["seed"] in (8500, 8501)}
    assert sorted(by_seed) == [8500, 8501]

    for seed in (8500, 8501):
        page.locator("#music-ab-pick label").filter(has_text=f"(seed {seed})").first.click()
    page.locator("#music-ab-compare").click()
    page.wait_for_function("() => window.lanternAB && window.lanternAB.state().loaded", timeout=120_000)
    # which take each label plays, from the compare summary ("A: <name>: ... LUFS")
    summary = page.locator("#music-ab-status").inner_text()
    label_seed = {line.split(":")[0].strip(): int(re.search(r"(\d{4})", line.split(":")[1]).group(1))
                  for line in summary.splitlines() if "LUFS" in line}
    assert sorted(label_seed.values()) == [8500, 8501]

    page.locator("#lantern-header").click()
    page.keyboard.press("x")
    assert ab_state(page)["active"] == "x"
    page.wait_for_function("() => document.querySelector('#music-ab-heard textarea, #music-ab-heard input')"
                           ".value === 'X (hidden)'")
    page.locator("#ab-reveal").click()
    x_label = page.evaluate("window.lanternAB.revealed()")
    x_take = by_seed[label_seed[x_label]]
    other_take = next(m for m in by_seed.values() if m["id"] != x_take["id"])
    page.wait_for_function("n => (document.querySelector('#music-ab-heard textarea, #music-ab-heard input')"
                           ".value || '').includes(n)", arg=x_take["name"])

    # the list selects the other take; the loop is set in the player; Continue acts on the X being heard
    page.locator("#music-takes-table").get_by_text(other_take["name"], exact=True).filter(visible=True).first.click()
    wait_selected(page, other_take["seed"])
    # the selected take's whole row is highlighted, not only the clicked cell
    clicked = page.locator("#music-takes-table").get_by_text(other_take["name"], exact=True).filter(visible=True).first
    backgrounds = clicked.evaluate("""e => {
      const cell = e.closest('[role=gridcell]'), row = e.closest('[role=row]');
      return [...row.children].filter(c => c !== cell).map(c => getComputedStyle(c).backgroundColor);
    }""")
    assert len(backgrounds) >= 5 and all(bg.startswith("rgba(226, 87, 60") for bg in backgrounds), backgrounds
    assert page.evaluate("window.lanternAB.setLoop(0.5, 2.0)")
    page.wait_for_function("() => document.querySelector('#music-loop-region textarea, #music-loop-region input')"
                           ".value === '0.50-2.00'")
    page.locator("#music-continue-loop").click()
    page.wait_for_function("() => document.querySelector('#music-status').innerText.includes('Done: 1 of 1')",
                           timeout=180_000)
    children = [m for m in take_metas(project) if m.get("relation") == "continue"]
    assert [m["parent_id"] for m in children] == [x_take["id"]]
    screenshot(page, tmp_path, "music-continue-x.png")

    # the Mixer's list has every take made in this window, without a reload
    open_tab(page, "Mixer")
    page.locator("#mixer-take input").first.click()
    options = " | ".join(page.get_by_role("option").all_inner_texts())
    assert all(f"(seed {m['seed']})" in options for m in [*by_seed.values(), *children]), options
    page.keyboard.press("Escape")

    # a soloed stem previews at its level in the mix: the same master gain as the full mix, so quieter
    page.locator("#mixer-use-selected").click()
    page.wait_for_function("s => document.querySelector('#mixer-summary').innerText.includes(`seed ${s}`)",
                           arg=other_take["seed"])
    page.locator("#mixer-stem-0-name").wait_for()
    page.locator("#mixer-render").click()
    page.wait_for_function("() => document.querySelector('#mixer-meter').innerText.trim().startsWith('Integrated')",
                           timeout=120_000)
    full_meter = page.locator("#mixer-meter").inner_text()
    solo_stem = page.locator("[id^='mixer-stem-'][id$='-name']").count() - 1
    page.locator(f"#mixer-stem-{solo_stem}-solo input").check()
    page.wait_for_timeout(500)
    page.locator("#mixer-render").click()
    # the meter shows the queue and a timer while the render runs: wait for the new reading itself
    page.wait_for_function("m => { const t = document.querySelector('#mixer-meter').innerText.trim();"
                           " return t.startsWith('Integrated') && t !== m; }", arg=full_meter.strip(),
                           timeout=120_000)
    solo_meter = page.locator("#mixer-meter").inner_text()

    def reading(meter: str, pattern: str) -> float:
        return float(re.search(pattern, meter).group(1))

    gain = r"master gain ([-+]\d+\.\d) dB"
    lufs = r"Integrated (-?\d+\.\d) LUFS"
    assert reading(solo_meter, gain) == reading(full_meter, gain), (full_meter, solo_meter)
    assert reading(solo_meter, lufs) < reading(full_meter, lufs) - 1.0, (full_meter, solo_meter)
    screenshot(page, tmp_path, "mixer-tab.png")
    context.close()
