"""Prose to shots in a real headless Chromium: paste a novel chapter, choose the prose format, parse it into an
ordinary shot list (narration and each quote's speaker) and render its previz panels."""

from __future__ import annotations

import json
import re

import pytest

from lantern_testkit import SAMPLES_DIR, open_tab, open_step

pytestmark = pytest.mark.browser


def test_pasted_prose_becomes_a_shot_list_and_panels(page, studio):
    text = (SAMPLES_DIR / "mad-tea-party.txt").read_text(encoding="utf-8")
    open_tab(page, "Storyboard")
    page.locator("#story-script textarea").fill(text)
    page.locator("#story-format label").filter(has_text=re.compile(r"^\s*prose\s*$")).click()
    page.locator("#story-parse").click()
    page.wait_for_function("() => document.querySelector('#story-status').innerText.includes('shots')")
    status = page.locator("#story-status").inner_text()
    assert "prose" in status and "1 scenes" in status, status
    shots_total = int(re.search(r"(\d+) shots", status).group(1))

    saved = json.loads((studio.project / "story" / "storyboard.json").read_text(encoding="utf-8"))
    assert len(saved["shots"]) == shots_total
    speakers = [s["speaker"] for s in saved["shots"] if s["speaker"] != "NARRATOR"]
    # one line per quote in the chapter, each with the speaker its attribution names
    assert len(speakers) == len(re.findall(r'"[^"]+"', text))
    assert speakers[:6] == ["Alice", "Alice", "Crowd", "Alice", "March Hare", "Alice"]
    assert set(speakers) == {"Alice", "March Hare", "Hatter", "Crowd"}
    # the bible keeps the characters of scripts parsed earlier in this project (edits survive a re-parse)
    assert {"Alice", "March Hare", "Hatter", "Crowd"} <= {c["name"] for c in saved["characters"]}
    # the shot list in the page is the ordinary editable table
    open_step(page, "Shots")
    assert page.locator('#story-shots [data-testid="cell-0-6"]').inner_text().strip() == "NARRATOR"

    open_step(page, "Panels")
    page.locator("#story-render-panels").click()
    page.wait_for_function(f"() => document.querySelectorAll('#story-panels img').length >= {shots_total}",
                           timeout=180_000)
    assert len(list((studio.project / "story" / "panels").glob("shot_*.png"))) == shots_total


def test_render_panels_on_a_script_not_yet_parsed_parses_it_first(page, studio):
    text = "第一场 外景 老街 夜\n【远景】灯笼一串串亮起来。\n小雨：（小声）三年没回来了……\n"
    open_tab(page, "Storyboard")
    page.locator("#story-script textarea").fill(text)
    open_step(page, "Panels")
    page.locator("#story-render-panels").click()          # no "Parse script" first
    # the status reports the parse, then the gallery holds this script's two panels (not an earlier board's)
    page.wait_for_function("() => document.querySelector('#story-status').innerText.includes('2 shots')",
                           timeout=120_000)
    page.wait_for_function("() => document.querySelectorAll('#story-panels img').length === 2", timeout=120_000)
    saved = json.loads((studio.project / "story" / "storyboard.json").read_text(encoding="utf-8"))
    assert [s["speaker"] for s in saved["shots"]] == ["", "小雨"]
