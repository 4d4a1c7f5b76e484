"""Voices in a real headless Chromium: parse the Chinese sample, pick a character in the Voices section,
press "Preview voice", and play the audio the page received (fetched back and measured with librosa); a
voice edited in the table is saved into the project at once."""

from __future__ import annotations

import io
import json

import pytest
import soundfile as sf

from lantern_testkit import SAMPLES_DIR, edit_cell, median_f0_hz, open_tab, open_step

pytestmark = pytest.mark.browser

# Gradio's player keeps its media element in the waveform's shadow root, outside the document
PLAYED_WATCH = """() => {
  window.lanternPlayedS = 0;
  const media = Array.from(document.querySelectorAll('#voice-preview-audio *'))
    .flatMap(e => e.shadowRoot ? Array.from(e.shadowRoot.querySelectorAll('audio, video')) : [e])
    .filter(e => e instanceof HTMLMediaElement);
  for (const m of media) {
    m.addEventListener('timeupdate', () => { window.lanternPlayedS = Math.max(window.lanternPlayedS, m.currentTime); });
  }
  return media.length;
}"""


def test_preview_voice_plays_the_characters_voice(page, studio):
    open_tab(page, "Storyboard")
    page.locator("#story-script textarea").fill((SAMPLES_DIR / "nianyefan.txt").read_text(encoding="utf-8"))
    page.locator("#story-parse").click()
    page.wait_for_function("() => document.querySelector('#story-status').innerText.includes('shots')")
    # the voice table lists the bible's characters with their default voices
    open_step(page, "Voices")
    page.wait_for_function("() => document.querySelector('#story-voices').innerText.includes('grandma')")
    line = "新年快乐！灯笼亮起来啦，我们一起去看花灯吧。"
    page.locator("#voice-preview-line textarea, #voice-preview-line input").first.fill(line)
    page.locator("#voice-preview").click()
    link = page.locator('#voice-preview-audio a[data-testid="download-link"]')
    link.wait_for(timeout=60_000)
    # the player has loaded the file (its duration shows) before Play is pressed
    page.wait_for_function("() => !['', '0:00'].includes("
                           "document.querySelector('#voice-preview-audio #duration').innerText.trim())",
                           timeout=30_000)
    # it plays: the player's Play button starts a media element whose clock advances. A listener records the
    # furthest position, since on a loaded machine the 3 s preview can end (and rewind) between two polls.
    page.evaluate(PLAYED_WATCH)
    page.locator('#voice-preview-audio button[aria-label="Play"]').first.click()
    page.wait_for_function("() => window.lanternPlayedS > 0.5", timeout=30_000, polling=100)
    # and what it plays is that line in a voice: fetched back, it lasts the line and has a voice's pitch
    body = page.request.get(link.get_attribute("href")).body()
    samples, rate = sf.read(io.BytesIO(body), dtype="float64", always_2d=True)
    mono = samples.mean(axis=1)
    assert 2.0 < mono.shape[0] / rate < 8.0
    assert 80 < median_f0_hz(mono, rate) < 450

    # a cell edit in the voice table is saved into the project as it is made
    edit_cell(page, "story-voices", 0, 3, "90")
    page.wait_for_function("() => document.querySelector('#voice-status').innerText.includes('Saved')")
    saved = json.loads((studio.project / "story" / "storyboard.json").read_text(encoding="utf-8"))
    first = saved["characters"][0]
    assert first["name"] == "小雨" and first["voice_pitch"] == 90
