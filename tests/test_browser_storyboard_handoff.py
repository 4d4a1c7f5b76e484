"""In a real headless Chromium: make shots from a short Chinese script, press Export timeline under the
animatic and download the zip; OpenTimelineIO and json read what is inside."""

from __future__ import annotations

import json
import zipfile

import opentimelineio as otio
import pytest

from lantern_testkit import open_tab, open_step

pytestmark = pytest.mark.browser

SCRIPT = "第一场 内景 客厅 夜\n【全景】一家人围坐，桌上摆满了饺子。\n奶奶：吃饺子！\n小雨：（笑）奶奶，我来了！\n"


def test_export_timeline_downloads_a_zip_with_every_format(page, studio, tmp_path):
    open_tab(page, "Storyboard")
    page.locator("#story-script textarea").fill(SCRIPT)
    page.locator("#story-parse").click()
    page.wait_for_function("() => document.querySelector('#story-status').innerText.includes('shots')")
    open_step(page, "Animatic")
    page.locator("#handoff-export").click()
    page.wait_for_function("() => document.querySelector('#handoff-status').innerText.includes('exported')",
                           timeout=300_000)
    status = page.locator("#handoff-status").inner_text()
    assert "剪映" in status and "OpenTimelineIO" in status and "24 fps" in status, status
    link = page.locator('#handoff-download a[download$=".zip"]').first
    link.wait_for(timeout=60_000)
    with page.expect_download() as download_info:
        link.click()
    archive = tmp_path / "timeline.zip"
    download_info.value.save_as(archive)
    with zipfile.ZipFile(archive) as bundle:
        names = bundle.namelist()
        assert any(n.endswith(".xml") for n in names) and any(n.endswith(".edl") for n in names)
        timeline = otio.adapters.read_from_string(bundle.read(next(n for n in names if n.endswith(".otio")))
                                                  .decode("utf-8"), adapter_name="otio_json")
        content = json.loads(bundle.read(next(n for n in names if n.endswith("draft_content.json"))))
    shots = [c for c in timeline.video_tracks()[0].find_clips() if c.metadata["lantern"]["kind"] == "shot"]
    assert len(shots) >= 3
    markers = {m.name for c in shots for m in c.markers}
    assert "吃饺子！" in markers
    texts = {json.loads(m["content"])["text"].replace("\n", "") for m in content["materials"]["texts"]}
    assert texts == markers
