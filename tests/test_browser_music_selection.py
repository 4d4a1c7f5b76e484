"""The takes list in a real headless Chromium: after Generate the newest take is selected and ready to play;
the selected row stays highlighted when the list re-renders; a take another window writes into the same
project shows up without a reload (two pages in one browser context, as two tabs of one browser); starring
the take being heard, or saving its notes, leaves it playing."""

from __future__ import annotations


import pytest

from lantern_testkit import (generate, open_page, open_tab, open_window, screenshot, take_cell, take_metas,
                             wait_for_take, wait_selected)

pytestmark = pytest.mark.browser

HIGHLIGHT = "rgba(226, 87, 60"


def row_backgrounds(page, name: str) -> list[str]:
    """The background colours of every cell in the row holding the take named ``name``."""
    return take_cell(page, name).evaluate(
        "e => [...e.closest('[role=row]').children].map(c => getComputedStyle(c).backgroundColor)")


def highlighted_rows(page) -> list[str]:
    """The names (third cell) of the list's rows whose cells are all in the selection colour."""
    return page.evaluate("""h => [...document.querySelectorAll('#music-takes-table [role=row]')]
      .filter(r => r.children.length > 5 && [...r.children].every(c => getComputedStyle(c).backgroundColor.startsWith(h)))
      .map(r => r.children[2].innerText.trim())""", HIGHLIGHT)


def wait_rows(page, names: list[str]) -> None:
    """Wait until the list's lion-dance rows are exactly ``names``, top to bottom: the search or sort that was
    asked for has reached the page."""
    page.wait_for_function("""names => JSON.stringify([...document.querySelectorAll('#music-takes-table [role=row]')]
      .filter(r => r.children.length > 5).map(r => r.children[2].innerText.trim())
      .filter(n => /^lion-dance s\\d+$/.test(n))) === JSON.stringify(names)""", arg=names)


def test_generate_selects_the_newest_take_and_the_highlight_survives_a_re_render(page, studio, tmp_path):
    seed = 9100
    open_tab(page, "Music")
    generate(page, takes=2, seed=seed)
    newest, older = f"lion-dance s{seed + 1}", f"lion-dance s{seed}"
    # the list's order for these two, by TakeStore.list's rule: by creation time (whole seconds), ties by id
    # (the two takes of one job often share a second, and an id ends in random characters)
    metas = [m for m in take_metas(studio.project) if m["preset"] == "lion-dance" and m["seed"] in (seed, seed + 1)]
    oldest_first = [f"lion-dance s{m['seed']}" for m in sorted(metas, key=lambda m: (m["created"], m["id"]))]
    newest_first = oldest_first[::-1]
    # selected with no click: its panel, its audio in the player, its row highlighted
    wait_selected(page, seed + 1)
    take_id = next(m["id"] for m in take_metas(studio.project)
                   if m["seed"] == seed + 1 and m["preset"] == "lion-dance")
    # the player holds the take's own file (Gradio serves a copy: compare the bytes) and has loaded it
    link = page.locator("#music-selected-audio a[download]").first
    link.wait_for()
    served = page.request.get(link.get_attribute("href"))
    assert served.ok and served.body() == (studio.project / "takes" / take_id / "audio.wav").read_bytes()
    page.wait_for_function("() => /0:0[1-9]|0:[1-5][0-9]/.test(document.querySelector('#music-selected-audio')"
                           ".innerText)")
    assert not page.locator("#music-vary").is_disabled()
    assert highlighted_rows(page) == [newest]

    # the list re-renders (a search, then another sort; the search keeps both rows in view in a studio that
    # other tests filled): the same row is still the highlighted one
    search = page.locator("#music-filter-text textarea, #music-filter-text input").first
    search.fill(f"s{seed // 10}")
    search.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#music-takes-table [role=row]').length <= 4")
    wait_rows(page, newest_first)
    assert highlighted_rows(page) == [newest]
    page.locator("#music-sort input").click()
    page.get_by_role("option", name="oldest first").click()
    wait_rows(page, oldest_first)
    assert highlighted_rows(page) == [newest]
    screenshot(page, tmp_path, "music-newest-selected.png")

    # a click moves the highlight, and a re-render keeps it there
    take_cell(page, older).click()
    wait_selected(page, seed)
    page.locator("#music-sort input").click()
    page.get_by_role("option", name="newest first").click()
    wait_rows(page, newest_first)
    assert highlighted_rows(page) == [older]
    assert all(bg.startswith(HIGHLIGHT) for bg in row_backgrounds(page, older))
    screenshot(page, tmp_path, "music-selection-after-rerender.png")


def test_a_take_made_in_another_window_shows_up_without_a_reload(browser, studio, tmp_path):
    context, watcher = open_window(browser, studio.url)
    maker = open_page(context, studio.url)
    for page in (watcher, maker):
        open_tab(page, "Music")
    seed = 9200
    generate(maker, takes=1, seed=seed)
    # the watcher never reloads: its list and its compare picker gain the take within a few timer ticks
    take_cell(watcher, f"lion-dance s{seed}").wait_for(timeout=20_000)
    watcher.locator("#music-ab-pick label").filter(has_text=f"(seed {seed})").first.wait_for(timeout=10_000)
    screenshot(watcher, tmp_path, "music-other-window-take.png")
    # the watcher's Mixer lists it too when its tab is opened
    open_tab(watcher, "Mixer")
    watcher.locator("#mixer-take input").first.click()
    watcher.get_by_role("option").filter(has_text=f"(seed {seed})").first.wait_for(timeout=10_000)
    watcher.keyboard.press("Escape")
    open_tab(watcher, "Music")

    # a delete in the maker window leaves the watcher's list too
    wait_selected(maker, seed)
    maker.locator("#music-delete").click()
    take_cell(watcher, f"lion-dance s{seed}").wait_for(state="detached", timeout=20_000)
    context.close()


# the selected take's media element: the one with a source, in the waveform's shadow root (Gradio keeps an
# empty second one beside it)
PLAYER_WATCH = """() => {
  const media = Array.from(document.querySelectorAll('#music-selected-audio *'))
    .flatMap(e => e.shadowRoot ? Array.from(e.shadowRoot.querySelectorAll('audio, video')) : [e])
    .filter(e => e instanceof HTMLMediaElement && e.src);
  window.lanternPlayer = media[0];
  return media.length;
}"""


def test_starring_and_saving_notes_do_not_interrupt_the_take_being_heard(page, studio):
    seed = 9300
    open_tab(page, "Music")
    generate(page, takes=1, seed=seed, duration_s=20)
    wait_selected(page, seed)
    page.wait_for_function("() => /0:[1-5][0-9]/.test(document.querySelector('#music-selected-audio').innerText)")
    assert page.evaluate(PLAYER_WATCH) >= 1
    page.locator('#music-selected-audio button[aria-label="Play"]').first.click()
    page.wait_for_function("() => window.lanternPlayer.currentTime > 0.5", timeout=30_000, polling=100)

    def still_playing() -> None:
        # the same element goes on from where it was: not paused, not rewound, not replaced by a reload
        before = page.evaluate("() => window.lanternPlayer.currentTime")
        page.wait_for_function("t => window.lanternPlayer.isConnected && !window.lanternPlayer.paused && "
                               "window.lanternPlayer.currentTime > t + 0.3", arg=before, timeout=15_000,
                               polling=100)

    page.locator("#music-star").click()
    page.wait_for_function("() => document.querySelector('#music-star').innerText.includes('Starred')")
    still_playing()
    notes = page.locator("#music-notes textarea").first
    notes.fill("keep the gong roll")
    page.locator("#music-save-notes").click()

    def saved() -> dict:
        return next(m for m in take_metas(studio.project) if m["seed"] == seed and m["preset"] == "lion-dance")

    wait_for_take(page, studio, lambda m: m["seed"] == seed and m["preset"] == "lion-dance"
                  and m["notes"] == "keep the gong roll", "take with the saved notes", timeout_s=30)
    page.wait_for_timeout(500)          # the view that the save sent back has reached the page
    still_playing()
    assert saved()["starred"] is True and saved()["notes"] == "keep the gong roll"
