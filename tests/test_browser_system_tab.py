"""The System tab at 1400x1000 in a real browser: every finding's details (long paths, download commands)
wrap inside the table, so nothing is cut off at its right edge."""

from __future__ import annotations

import pytest

from lantern_testkit import open_tab, screenshot

pytestmark = pytest.mark.browser


def test_every_finding_is_readable_inside_the_table(page, tmp_path):
    open_tab(page, "System")
    table = page.locator("#system-findings")
    table.get_by_text("ffmpeg", exact=True).filter(visible=True).first.wait_for()
    overflow = page.evaluate("""() => {
      const table = document.querySelector('#system-findings');
      const right = table.getBoundingClientRect().right;
      return [...table.querySelectorAll('[role=gridcell]')]
        .filter(cell => cell.getBoundingClientRect().width > 0)
        .map(cell => {
          const text = cell.querySelector('span, div') || cell;
          return {text: cell.innerText.slice(0, 60), right: cell.getBoundingClientRect().right,
                  scroll: text.scrollWidth - text.clientWidth};
        })
        .filter(c => c.right > right + 1 || c.scroll > 1);
    }""")
    assert overflow == []
    screenshot(page, tmp_path, "system-tab-1400.png")
