"""Mixer bad input in a real headless Chromium: a file that is not audio, a 2-hour upload and a 6-channel file
are refused with clear messages and nothing is lost; a mono 44.1 kHz file is accepted (resampled, said so);
a firecracker one-shot and ducking render to the target; the session survives a page reload."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lantern_testkit import open_tab
from lantern_testkit import generate, screenshot, take_cell

pytestmark = pytest.mark.browser

SEED = 7300
PRESET = "dragon-boat"


def silent_flac(path: Path, *, seconds: float, sample_rate: int = 8000) -> Path:
    """A real FLAC file of silence (tiny on disk however long it is), written in blocks."""
    block = np.zeros(sample_rate * 60, dtype=np.int16)
    with sf.SoundFile(str(path), "w", samplerate=sample_rate, channels=1, format="FLAC", subtype="PCM_16") as out:
        left = int(seconds * sample_rate)
        while left > 0:
            out.write(block[: min(left, block.size)])
            left -= block.size
    return path


def toast(page, text: str):
    item = page.locator(".toast-body").filter(has_text=text).first
    item.wait_for(timeout=60_000)
    return item.inner_text()


def stem_names(page) -> list[str]:
    count = page.locator("[id^='mixer-stem-'][id$='-name']").count()
    return [page.locator(f"#mixer-stem-{i}-name").inner_text().split("\n")[0].strip() for i in range(count)]


def upload(page, path: Path) -> None:
    # Gradio's UploadButton keeps its file input just before the button
    page.locator("#mixer-upload").locator("xpath=preceding-sibling::input[@type='file'][1]").set_input_files(str(path))


def test_mixer_refuses_bad_uploads_and_keeps_everything(page, studio, tmp_path):
    open_tab(page, "Music")
    generate(page, takes=1, seed=SEED, preset=PRESET)
    take_cell(page, f"{PRESET} s{SEED}").click()
    page.wait_for_function("s => document.querySelector('#music-selected-info').innerText.includes(`seed ${s}`)",
                           arg=SEED)
    open_tab(page, "Mixer")
    page.locator("#mixer-use-selected").click()
    page.wait_for_function("s => document.querySelector('#mixer-summary').innerText.includes(`seed ${s}`)", arg=SEED)
    page.locator("#mixer-stem-0-name").wait_for()
    before = stem_names(page)
    assert before

    # not audio (a text file named .wav): refused by its content
    fake = tmp_path / "song.wav"
    fake.write_text("Verse 1: lanterns over the river\n" * 50, encoding="utf-8")
    upload(page, fake)
    message = toast(page, "song.wav")
    assert "not a recognised file" in message and "WAV" in message and "unchanged" in message
    # a two-hour file: refused from its header, with the limit
    upload(page, silent_flac(tmp_path / "two-hours.flac", seconds=2 * 3600))
    message = toast(page, "two-hours.flac")
    assert "2:00:00 long" in message and "15:00" in message
    # six channels: refused, says what to do
    surround = tmp_path / "surround.wav"
    sf.write(str(surround), np.zeros((48_000, 6), dtype=np.float32), 48_000)
    upload(page, surround)
    assert "Mix it down to stereo" in toast(page, "6 channels")
    assert stem_names(page) == before                  # nothing changed

    # a mono 44.1 kHz bell: accepted, resampled, and the message says both
    t = np.arange(44_100) / 44_100
    sf.write(str(tmp_path / "bell.wav"), 0.3 * np.sin(2 * np.pi * 880 * t) * np.exp(-3 * t), 44_100)
    upload(page, tmp_path / "bell.wav")
    message = toast(page, "Added bell")
    assert "resampled from 44100 Hz to 48000 Hz" in message and "mono" in message
    page.wait_for_function("n => document.querySelectorAll(\"[id^='mixer-stem-'][id$='-name']\").length === n",
                           arg=len(before) + 1)
    assert stem_names(page) == before + ["bell"]

    # a firecracker one-shot at 1 s, ducking under the melody, render
    page.locator("#mixer-sfx-offset input").fill("1")
    page.locator("#mixer-add-sfx").click()
    page.wait_for_function("n => document.querySelectorAll(\"[id^='mixer-stem-'][id$='-name']\").length === n",
                           arg=len(before) + 2)
    page.locator("#mixer-duck-key input").click()
    page.get_by_role("option", name="melody", exact=True).click()
    page.locator("#mixer-render").click()
    page.wait_for_function("() => document.querySelector('#mixer-meter').innerText.includes('LUFS')",
                           timeout=120_000)
    assert "-14.0 LUFS" in page.locator("#mixer-meter").inner_text()
    screenshot(page, tmp_path, "mixer-tab-added-stems.png")

    # the session is in the project: a fresh page loads it back with the added stems and the ducking key
    sessions = [json.loads(p.read_text()) for p in (studio.project / "stems").glob("*/session.json")]
    mine = [s for s in sessions if s["seed"] == SEED]
    assert len(mine) == 1 and mine[0]["master"]["duck_key"] == "melody"
    page.reload()
    page.wait_for_selector("#lantern-header")
    open_tab(page, "Mixer")
    page.locator("#mixer-take input").click()
    page.get_by_role("option").filter(has_text=f"(seed {SEED})").first.click()
    page.locator("#mixer-load").click()
    page.wait_for_function("s => document.querySelector('#mixer-summary').innerText.includes(`seed ${s}`)", arg=SEED)
    page.locator("#mixer-stem-0-name").wait_for()
    assert stem_names(page) == before + ["bell", "firecrackers"]
