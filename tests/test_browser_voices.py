"""Voices in a real headless Chromium: parse the Chinese sample, pick a character in the Voices section,
press "Preview voice", and play the audio the page received (fetched back and measured with librosa); a
voice edited in the table is saved into the project at once."""

from __future__ import annotations

import io

import librosa
import numpy as np
import pytest
import soundfile as sf

import json

from lantern_testkit import SAMPLES_DIR, open_tab

pytestmark = pytest.mark.browser


def test_preview_voice_plays_the_characters_voice(page, studio):
    open_tab(page, "Storyboard")
    page.locator("#story-script textarea").fill((SAMPLES_DIR / "nianyefan.txt").read_text(encoding="utf-8"))
    page.locator("#story-parse").click()
    page.wait_for_function("() => document.querySelector('#story-status').innerText.includes('shots')")
    # the voice table lists the bible's characters with their default voices
    page.wait_for_function("() => document.querySelector('#story-voices').innerText.includes('grandma')")
    line = "新年快乐！灯笼亮起来啦，我们一起去看花灯吧。"
    page.locator("#voice-preview-line textarea, #voice-preview-line input").first.fill(line)
    page.locator("#voice-preview").click()
    link = page.locator('#voice-preview-audio a[data-testid="download-link"]')
    link.wait_for(timeout=60_000)
    # it plays: the player's Play button starts a media element whose clock advances
    page.locator('#voice-preview-audio button[aria-label="Play"]').first.click()
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('#voice-preview-audio *'))"
        ".flatMap(e => e.shadowRoot ? Array.from(e.shadowRoot.querySelectorAll('audio, video')) : [e])"
        ".filter(e => e instanceof HTMLMediaElement).some(m => m.currentTime > 0.5)", timeout=20_000)
    # and what it plays is that line in a voice: fetched back, it lasts the line and has a voice's pitch
    body = page.request.get(link.get_attribute("href")).body()
    samples, rate = sf.read(io.BytesIO(body), dtype="float64", always_2d=True)
    mono = samples.mean(axis=1)
    assert 2.0 < mono.shape[0] / rate < 8.0
    f0, voiced, _ = librosa.pyin(mono, fmin=50, fmax=600, sr=rate)
    assert voiced.mean() > 0.2 and 80 < float(np.nanmedian(f0[voiced])) < 450

    # a cell edit in the voice table is saved into the project as it is made
    cell = page.locator('#story-voices [data-testid="cell-0-3"]')
    cell.dblclick()
    page.keyboard.press("Control+a")
    page.keyboard.type("90")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#voice-status').innerText.includes('Saved')")
    saved = json.loads((studio.project / "story" / "storyboard.json").read_text(encoding="utf-8"))
    first = saved["characters"][0]
    assert first["name"] == "小雨" and first["voice_pitch"] == 90
