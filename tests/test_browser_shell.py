"""The studio opens in a real headless Chromium with its header and tabs; System shows the torch version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from lantern_testkit import open_tab

pytestmark = pytest.mark.browser

TABS = ("Music", "Mixer", "Storyboard", "Benchmarks", "System")


def test_studio_shows_tabs_and_system_findings(page, tmp_path):
    for label in TABS:
        assert page.get_by_role("tab", name=label).count() == 1, f"tab {label} is missing"
    open_tab(page, "System")
    findings = page.locator("#system-findings")
    findings.wait_for()
    # the System tab reports the torch version this very environment has
    page.wait_for_function("v => document.querySelector('#system-findings').innerText.includes(v)",
                           arg=torch.__version__)
    assert "CJK font" in findings.inner_text()
    shot = tmp_path / "system-tab.png"
    if os.environ.get("LANTERN_SCREENSHOTS"):
        shot = Path(os.environ["LANTERN_SCREENSHOTS"]) / "system-tab.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
