"""The Benchmarks tab's History at 1400x1000 in a real browser: a long scenario wraps inside its cell, is drawn
once, and the figure and verdict columns stay on screen."""

from __future__ import annotations

import pytest

from lantern_studio.benchmarks.runner import append_history, table_rows
from lantern_testkit import open_tab, screenshot

pytestmark = pytest.mark.browser

# long, and no phrase in it twice: a cell that drew its text twice would show the phrase twice
SCENARIO = ("12 stereo stems x 95 s @ 44.1 kHz with per-sample gain automation, constant-power pan, mute/solo, "
            "two sends and sidechain ducking under the dialogue stem, into a stereo bus, then a look-ahead "
            "true-peak limiter and K-weighted loudness metering on the master")


def test_a_long_scenario_is_drawn_once_and_the_verdict_stays_on_screen(page, studio, tmp_path):
    row = {"family": "mix", "scenario": SCENARIO, "metric": "realtime_factor", "value": 987.6,
           "spread": [950.0, 1001.0], "device": "cpu", "realtime": True, "roofline_fraction": 0.41,
           "peers": {"pydub (overlay+gain+pan only, measured on the same stems in the same run)": 21.3},
           "ratios": {"pydub (overlay+gain+pan only, measured on the same stems in the same run)": 46.4}}
    verdict = table_rows([row])[0][-1]
    append_history(studio.home / "bench-history.jsonl", [row], {"cpu": "test"}, quick=True)
    page.reload()
    page.wait_for_selector("#lantern-header")
    open_tab(page, "Benchmarks")
    page.get_by_text("History").click()
    history = page.locator("#bench-history")
    cell = history.get_by_text(f"mix: {SCENARIO}", exact=True).filter(visible=True)
    cell.first.wait_for()
    assert cell.count() == 1
    # every phrase of it once in what the table shows
    shown = history.inner_text()
    assert shown.count("sidechain ducking") == 1 and shown.count("K-weighted loudness") == 1
    # the cell wraps (several lines tall) instead of widening the table
    box = cell.first.bounding_box()
    assert box is not None and box["height"] > 2 * 18 and box["x"] + box["width"] <= 1400, box
    for text in ("figure", "verdict", verdict):
        box = history.get_by_text(text, exact=True).filter(visible=True).first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1400, (text, box)
    screenshot(page, tmp_path, "benchmarks-history-long-scenario.png")
