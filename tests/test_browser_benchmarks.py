"""The Benchmarks tab in a real browser: run one quick family, see the table, the ratio chart and the history."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lantern_testkit import open_tab

pytestmark = pytest.mark.browser


def test_quick_mix_benchmark_from_the_tab(page, studio, tmp_path):
    open_tab(page, "Benchmarks")
    families = page.locator("#bench-families")
    for label in ("dsp", "composite", "composer", "musicgen", "animatic", "speech", "batch"):
        families.get_by_label(label, exact=True).uncheck()
    page.locator("#bench-run").click()
    table = page.locator("#bench-table")
    page.wait_for_function("() => document.querySelector('#bench-table').innerText.includes('stereo stems')",
                           timeout=240_000)
    text = table.inner_text()
    assert "stereo stems" in text and "real time" in text
    page.locator("#bench-chart img").wait_for()
    # the run is recorded in the studio's history file, with the same rows the table shows
    runs = [json.loads(line) for line in (studio.home / "bench-history.jsonl").read_text().splitlines()]
    assert runs[-1]["quick"] is True and {row["family"] for row in runs[-1]["rows"]} == {"mix"}
    assert any(peer.startswith("pydub") for peer in runs[-1]["rows"][0]["peers"])
    shot = Path(os.environ.get("LANTERN_SCREENSHOTS", tmp_path)) / "benchmarks-tab.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
