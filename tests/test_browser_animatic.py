"""A creator's flow in a real headless Chromium: paste the Chinese sample, make the shots, upload a music
file and a recorded line, render the quick preview of the animatic and download the MP4 and its SRT
(decoded with PyAV)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from lantern_testkit import open_tab, open_step, sample_path

pytestmark = pytest.mark.browser

CHINESE_SAMPLE = sample_path("nianyefan.txt")


def _screenshot_path(tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("LANTERN_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def test_chinese_sample_to_preview_mp4_with_music_and_srt(page, studio, tmp_path):
    rate = 44_100
    t = np.arange(3 * rate) / rate
    music = tmp_path / "tune.wav"
    soundfile.write(music, np.stack([0.2 * np.sin(2 * np.pi * 392 * t)] * 2, axis=1), rate)

    open_tab(page, "Storyboard")
    page.locator("#story-script textarea").fill(CHINESE_SAMPLE.read_text(encoding="utf-8"))
    page.locator("#story-parse").click()
    page.wait_for_function("() => document.querySelector('#story-status').innerText.includes('shots')")

    open_step(page, "Animatic")
    page.locator("#animatic-music-source").get_by_label("An audio file").check()
    page.locator("#animatic-music-file input[type=file]").set_input_files(str(music))
    line = tmp_path / "shot-2.wav"       # a recorded line for shot 2, found by its file name
    soundfile.write(line, 0.3 * np.sin(2 * np.pi * 1000 * t[:rate]), rate)
    page.locator("#animatic-dialogue input[type=file]").set_input_files(str(line))
    page.wait_for_timeout(500)
    page.locator("#animatic-preview").click()
    page.wait_for_function("() => document.querySelector('#animatic-status').innerText.includes('ready')",
                           timeout=300_000)
    status = page.locator("#animatic-status").inner_text()
    assert "360×640" in status and "24 fps" in status, status
    assert "Recorded dialogue for shot 2." in status, status
    page.locator("#animatic-video").scroll_into_view_if_needed()
    page.screenshot(path=str(_screenshot_path(tmp_path, "animatic-preview.png")), full_page=False)

    files = {}
    for suffix in (".mp4", ".srt"):
        link = page.locator(f'#animatic-downloads a[download$="{suffix}"]').first
        link.wait_for(timeout=60_000)
        with page.expect_download() as download_info:
            link.click()
        files[suffix] = tmp_path / f"animatic{suffix}"
        download_info.value.save_as(files[suffix])

    with av.open(str(files[".mp4"])) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (360, 640)
        assert video.average_rate == 24
        assert len(container.streams.audio) == 1
        frames = sum(1 for _ in container.decode(video=0))
    assert frames > 24 * 30                                   # the whole sample, title to end card
    srt = files[".srt"].read_text(encoding="utf-8")
    assert "三年没回来了" in srt and "-->" in srt
