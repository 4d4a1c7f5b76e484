"""The whole creator loop in a real headless Chromium, on the embedded composer: generate three takes, star
one, compare them loudness-matched with keys 1-3 and space, set a loop, continue from it, mix one take with
a stem muted, export, and check the downloaded files (durations, channel counts, loudness)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from lantern_studio.engines.audio.preview import loop_region
from lantern_testkit import (ab_state, download, generate, open_tab, screenshot, set_number, take_cell, take_folder,
                             take_metas, wait_selected)

pytestmark = pytest.mark.browser

SEED = 7100                   # the three takes are lion-dance s7100, s7101, s7102 (unique in the shared studio)
PRESET = "lion-dance"


def test_generate_star_compare_loop_mix_export(page, studio, tmp_path):
    open_tab(page, "Music")
    generate(page, takes=3, seed=SEED)
    table = page.locator("#music-takes-table")
    for offset in range(3):
        take_cell(page, f"{PRESET} s{SEED + offset}").wait_for()

    # select the second take and star it: the list shows the star, and the project keeps it
    take_cell(page, f"{PRESET} s{SEED + 1}").click()
    wait_selected(page, SEED + 1)
    page.locator("#music-star").click()
    page.wait_for_function("() => document.querySelector('#music-star').innerText.includes('Starred')")
    starred = take_metas(studio.project)
    starred = [m for m in starred if m["seed"] == SEED + 1 and m["preset"] == PRESET]
    assert len(starred) == 1 and starred[0]["starred"] is True
    starred_id = starred[0]["id"]
    page.locator("#music-filter-starred input").check()
    page.wait_for_function("s => !document.querySelector('#music-takes-table').innerText.includes(`s${s}`)",
                           arg=SEED)
    assert f"{PRESET} s{SEED + 1}" in table.inner_text()
    page.locator("#music-filter-starred input").uncheck()

    # A/B/X: pick the three takes, compare; every preview is decoded and matched to -16 LUFS
    for offset in range(3):
        page.locator("#music-ab-pick label").filter(has_text=f"(seed {SEED + offset})").first.click()
    page.locator("#music-ab-compare").click()
    page.wait_for_function("() => window.lanternAB && window.lanternAB.state().loaded", timeout=120_000)
    state = ab_state(page)
    assert state["tracks"] == ["A", "B", "C"] and state["error"] is None
    status = page.locator("#music-ab-status").inner_text()
    levels = [float(line.split(":")[-1].split("LUFS")[0]) for line in status.splitlines() if "LUFS" in line]
    assert len(levels) == 3 and all(abs(level + 16.0) <= 0.2 for level in levels), status

    # keys: space plays, 2 and 3 switch at the running position without stopping
    page.locator("#lantern-header").click()
    page.keyboard.press("Space")
    page.wait_for_function("() => window.lanternAB.state().playing && window.lanternAB.state().position_s > 0.3")
    page.keyboard.press("2")
    page.wait_for_timeout(300)
    page.keyboard.press("3")
    page.wait_for_timeout(200)
    state = ab_state(page)
    assert state["playing"] and state["active"] == 2
    first, second = state["switches"][-2:]
    assert (first["from"], first["to"], second["to"]) == (0, 1, 2)
    assert first["playing"] and second["playing"]
    # the play position kept running through both switches (no restart from zero, no jump)
    assert 0.3 < first["position_s"] < second["position_s"] < state["position_s"]
    assert second["position_s"] - first["position_s"] < 1.5
    active_id = page.locator("#music-ab-active textarea, #music-ab-active input").first.input_value()
    assert (take_folder(studio, active_id) / "take.json").exists()

    # loop 1.0-2.5 s: L turns it on; playback stays inside; the region reaches the Python side
    page.locator("#ab-loop-start").fill("1")
    page.locator("#ab-loop-start").dispatch_event("change")
    page.locator("#ab-loop-end").fill("2.5")
    page.locator("#ab-loop-end").dispatch_event("change")
    page.locator("#lantern-header").click()
    page.keyboard.press("l")
    page.wait_for_timeout(2200)                     # longer than the loop: it must have wrapped
    state = ab_state(page)
    assert state["loop"]["on"] and state["loop"]["start_s"] == 1 and state["loop"]["end_s"] == 2.5
    assert 1.0 <= state["position_s"] < 2.5 and state["playing"]
    assert abs(state["loop"]["length_s"] - 1.5) < 0.01
    assert page.locator("#music-loop-region textarea, #music-loop-region input").first.input_value() == "1.00-2.50"
    page.keyboard.press("Space")
    page.wait_for_function("() => !window.lanternAB.state().playing")
    # the loop the browser plays is the Python recipe (equal-power crossfade into the audio before the start),
    # computed here from the very preview file the player decoded
    # the studio's run folder (<home>/tmp/run-<pid>) holds Gradio's files, the previews among them
    run_folder = studio.home / "tmp" / f"run-{studio.process.pid}"
    preview_file = sorted((run_folder / "lantern" / "previews").glob(f"{active_id}-*.wav"))[-1]
    decoded, rate = sf.read(str(preview_file), dtype="float32", always_2d=True)
    expected = loop_region(decoded, rate, start_s=1.0, end_s=2.5, crossfade_s=0.02)
    def played(channel: int) -> np.ndarray:
        return np.array(page.evaluate("c => window.lanternAB.loopSamples(2, c)", channel), dtype=np.float32)

    for channel in (0, 1):
        assert played(channel).shape == (expected.shape[0],)
        # Chromium decodes 16-bit PCM as x/32767 for positive x (soundfile: x/32768): 3.1e-5 relative,
        # a few 1e-6 absolute inside the crossfade; a wrong recipe is off by 1e-2 or more
        np.testing.assert_allclose(played(channel), expected[:, channel], rtol=4e-5, atol=1e-5)
    # a loop from 0 has nothing before it: the tail blends into the head, which the loop then skips
    assert page.evaluate("window.lanternAB.setLoop(0, 1.5)")
    from_zero = loop_region(decoded, rate, start_s=0.0, end_s=1.5, crossfade_s=0.02)
    np.testing.assert_allclose(played(1), from_zero[:, 1], rtol=4e-5, atol=1e-5)
    assert page.evaluate("window.lanternAB.setLoop(1, 2.5)")
    # X: a hidden take, revealed on request
    page.keyboard.press("x")
    assert ab_state(page)["active"] == "x"
    page.locator("#ab-reveal").click()
    assert page.evaluate("window.lanternAB.revealed()") in ("A", "B", "C")
    assert page.locator("#ab-reveal").inner_text().startswith("X was ")
    page.locator("#lantern-header").click()
    page.keyboard.press("3")                        # back to C, the take the loop continues from
    page.wait_for_function("id => document.querySelector('#music-ab-active textarea, #music-ab-active input')"
                           ".value === id", arg=active_id)

    # continue from the loop: a new take whose parent is the take heard in the player
    page.locator("#music-continue-loop").click()
    page.wait_for_function("() => document.querySelector('#music-status').innerText.includes('Done: 1 of 1')",
                           timeout=180_000)
    children = take_metas(studio.project)
    assert any(m["parent_id"] == active_id and m["relation"] == "continue" for m in children)
    screenshot(page, tmp_path, "music-tab.png")

    # mixer: load the starred take, mute its drum, render, export WAV + FLAC + MP3
    take_cell(page, f"{PRESET} s{SEED + 1}").click()
    wait_selected(page, SEED + 1)
    open_tab(page, "Mixer")
    page.locator("#mixer-use-selected").click()
    page.wait_for_function("s => document.querySelector('#mixer-summary').innerText.includes(`seed ${s}`)",
                           arg=SEED + 1)
    page.locator("#mixer-stem-0-name").wait_for()
    count = page.locator("[id^='mixer-stem-'][id$='-name']").count()
    stem_names = [page.locator(f"#mixer-stem-{i}-name").inner_text().split("\n")[0].strip() for i in range(count)]
    assert "drum" in stem_names
    drum = stem_names.index("drum")
    page.locator(f"#mixer-stem-{drum}-mute input").check()
    page.wait_for_timeout(500)
    page.locator("#mixer-render").click()
    page.wait_for_function("() => document.querySelector('#mixer-meter').innerText.includes('LUFS')",
                           timeout=120_000)
    meter = page.locator("#mixer-meter").inner_text()
    assert "-14.0 LUFS" in meter, meter
    page.locator("#mixer-formats").get_by_label("flac").check()
    page.locator("#mixer-formats").get_by_label("mp3").check()
    page.locator("#mixer-export").click()
    page.locator("#mixer-files a").first.wait_for(timeout=180_000)
    screenshot(page, tmp_path, "mixer-tab.png")

    take_audio, take_rate = sf.read(str(take_folder(studio, starred_id) / "audio.wav"), always_2d=True)
    take_duration_s = take_audio.shape[0] / take_rate
    base = f"{PRESET}-s{SEED + 1}_seed{SEED + 1}"
    links = page.locator("#mixer-files a")
    by_name = {}
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href") or ""
        by_name[Path(href.split("?")[0]).name] = links.nth(i)
    assert f"{base}.zip" in by_name, sorted(by_name)
    meter_ref = pyloudnorm.Meter(take_rate)
    for fmt in ("wav", "flac", "mp3"):
        path = download(page, by_name[f"{base}_mix.{fmt}"])
        audio, rate = sf.read(str(path), always_2d=True, dtype="float64")
        assert rate == take_rate and audio.shape[1] == 2
        assert abs(audio.shape[0] / rate - take_duration_s) < (0.08 if fmt == "mp3" else 1e-6)
        assert abs(meter_ref.integrated_loudness(audio) + 14.0) <= (0.3 if fmt == "mp3" else 0.2)
    archive_path = download(page, by_name[f"{base}.zip"])
    with zipfile.ZipFile(archive_path) as archive:
        names = set(archive.namelist())
        recipe = json.loads(archive.read(f"{base}_recipe.json"))
        melody = archive.extract(f"{base}_stem-melody.wav", tmp_path / "unzipped")
    assert f"{base}.mid" in names and f"{base}_mix.wav" in names
    assert not any("stem-drum" in name for name in names)          # the muted stem is not exported
    assert recipe["seed"] == SEED + 1 and {s["name"]: s["mute"] for s in recipe["stems"]}["drum"] is True
    info = sf.info(melody)
    assert info.channels == 2 and info.subtype == "PCM_24" and abs(info.duration - take_duration_s) < 1e-6
    mixed = sf.read(str(download(page, by_name[f"{base}_mix.wav"])))[0]
    assert np.max(np.abs(mixed)) <= 10 ** (-1.0 / 20) + 1e-3       # the ceiling held


def test_the_same_loop_on_musicgen_when_a_model_is_present(page, studio, tmp_path):
    from lantern_studio.engines.music import musicgen_tiny

    # a tiny real checkpoint (audiocraft's builders, random weights) where the studio looks for models
    musicgen_tiny.save_checkpoint(studio.home / "models" / "tiny-musicgen", musicgen_tiny.lm_config(),
                                  musicgen_tiny.compression_config())
    seed = 7400
    open_tab(page, "Music")
    page.locator("#music-engine").get_by_label("musicgen").check()
    page.wait_for_function("() => document.querySelector('#music-engine-status').innerText.includes('tiny-musicgen')",
                           timeout=120_000)
    assert "ready" in page.locator("#music-engine-status").inner_text()
    page.locator("#music-prompt textarea").fill("temple fair drums")
    set_number(page, "music-duration", 3)
    set_number(page, "music-takes", 2)
    page.locator("#music-seed-mode").get_by_label("fixed").check()
    page.locator("#music-seed input").fill(str(seed))
    page.locator("#music-generate").click()
    page.wait_for_function("() => document.querySelector('#music-status').innerText.includes('Done: 2 of 2')",
                           timeout=300_000)
    metas = take_metas(studio.project)
    mine = sorted((m for m in metas if m["engine"] == "musicgen" and m["seed"] in (seed, seed + 1)),
                  key=lambda m: m["seed"])
    assert [m["model"] for m in mine] == ["tiny-musicgen", "tiny-musicgen"]
    assert all(m["loudness_lufs"] is not None for m in mine)

    for m in mine:
        page.locator("#music-ab-pick label").filter(has_text=f"(seed {m['seed']})").first.click()
    page.locator("#music-ab-compare").click()
    page.wait_for_function("() => window.lanternAB && window.lanternAB.state().loaded", timeout=120_000)
    page.locator("#lantern-header").click()
    page.keyboard.press("Space")
    page.wait_for_function("() => window.lanternAB.state().position_s > 0.3")
    page.keyboard.press("2")
    state = ab_state(page)
    assert state["active"] == 1 and state["playing"] and state["tracks"] == ["A", "B"]
    page.keyboard.press("Space")

    take_cell(page, str(seed)).click()           # by its seed cell: the engine may give both takes one name
    wait_selected(page, seed)
    open_tab(page, "Mixer")
    page.locator("#mixer-use-selected").click()
    page.wait_for_function("s => document.querySelector('#mixer-summary').innerText.includes(`seed ${s}`)", arg=seed)
    assert page.locator("#mixer-stem-0-name").inner_text().startswith("musicgen")
    page.locator("#mixer-export").click()
    page.locator("#mixer-files a").first.wait_for(timeout=180_000)
    links = page.locator("#mixer-files a")
    mix_link = [links.nth(i) for i in range(links.count())
                if (links.nth(i).get_attribute("href") or "").split("?")[0].endswith(f"_seed{seed}_mix.wav")]
    assert len(mix_link) == 1
    audio, rate = sf.read(str(download(page, mix_link[0])), always_2d=True)
    assert rate == 48_000 and audio.shape == (int(round(3.0 * rate)), 2)
    assert abs(pyloudnorm.Meter(rate).integrated_loudness(audio) + 14.0) <= 0.2


def test_take_actions_rename_note_vary_restore_delete_and_stop(page, studio, tmp_path):
    seed = 7500
    open_tab(page, "Music")
    generate(page, takes=1, seed=seed, preset="spring-festival")
    take_cell(page, f"spring-festival s{seed}").click()
    wait_selected(page, seed)
    sidecars = {json.loads(p.read_text())["seed"]: p for p in (studio.project / "takes").glob("*/take.json")}
    sidecar = sidecars[seed]
    take_id = json.loads(sidecar.read_text())["id"]

    page.locator("#music-name textarea, #music-name input").first.fill("moon over the river 月")
    page.locator("#music-rename").click()
    take_cell(page, "moon over the river 月").wait_for()
    page.locator("#music-notes textarea").fill("use for episode 3")
    page.locator("#music-save-notes").click()
    page.wait_for_function("() => document.querySelector('#music-notes textarea').value === 'use for episode 3'")
    for _ in range(50):                 # the save is a server round trip
        meta = json.loads(sidecar.read_text())
        if meta["notes"]:
            break
        page.wait_for_timeout(100)
    assert meta["name"] == "moon over the river 月" and meta["notes"] == "use for episode 3"

    # vary: a child take whose parent column names this take (Vary has its own count)
    set_number(page, "music-vary-count", 1)
    page.locator("#music-vary").click()
    child = None
    for _ in range(1800):               # the take's sidecar is written last: it exists when the take is done
        metas = take_metas(studio.project)
        child = next((m for m in metas if m["parent_id"] == take_id and m["relation"] == "vary"), None)
        if child is not None:
            break
        page.wait_for_timeout(100)
    assert child is not None, page.locator("#music-status").inner_text()
    take_cell(page, child["name"]).wait_for()

    # restore these settings: fixed seed and the take's seed come back into the controls
    page.locator("#music-seed-mode").get_by_label("random").check()
    page.locator("#music-seed input").fill("1")
    set_number(page, "music-duration", 30)
    page.locator("#music-restore").click()
    page.wait_for_function("s => document.querySelector('#music-seed input').value === String(s)", arg=seed)
    page.wait_for_function("() => document.querySelector('#music-duration input[type=number]').value === '11'")
    assert page.locator("#music-seed-mode").get_by_label("fixed").is_checked()
    assert page.locator("#music-takes input[type=number]").input_value() == "1"

    # delete: gone from the list, in the trash, restorable
    page.locator("#music-delete").click()
    take_cell(page, "moon over the river 月").wait_for(state="detached")
    assert not sidecar.exists()
    page.locator("#music-trash-panel").get_by_text("Trash").first.click()       # open the accordion
    page.locator("#music-trash input").click()
    page.get_by_role("option", name=f"moon over the river 月 (seed {seed})", exact=True).click()
    page.locator("#music-untrash").click()
    take_cell(page, "moon over the river 月").wait_for()
    assert json.loads(sidecar.read_text())["notes"] == "use for episode 3"

    # Stop keeps the takes finished so far
    before = len(list((studio.project / "takes").glob("*/take.json")))
    page.locator("#music-seed-mode").get_by_label("random").check()
    set_number(page, "music-takes", 8)
    set_number(page, "music-duration", 60)
    page.locator("#music-generate").click()
    page.wait_for_function("() => document.querySelector('#music-status').innerText.includes('Saved 1 of 8')",
                           timeout=180_000)
    page.locator("#music-stop").click()
    page.wait_for_function("() => document.querySelector('#music-status').innerText.includes('Stopped')",
                           timeout=180_000)
    status = page.locator("#music-status").inner_text()
    kept = int(status.split("Stopped: ")[1].split(" of ")[0])
    assert 1 <= kept < 8
    assert len(list((studio.project / "takes").glob("*/take.json"))) == before + kept


def test_vary_and_continue_without_a_take_say_so_and_leave_the_list_alone(page, studio):
    open_tab(page, "Music")
    before = len(list((studio.project / "takes").glob("*/take.json")))
    # the take actions wait for a selection
    for button in ("#music-vary", "#music-continue", "#music-extend", "#music-delete", "#music-rename"):
        assert page.locator(button).is_disabled(), button
    for button, message in (("#music-continue-loop", "Set a loop in the player first"),):
        page.locator(button).click()
        toast = page.locator(".toast-body").filter(has_text=message).first
        toast.wait_for(timeout=30_000)
        for close in page.locator(".toast-close").all():
            close.click()
        # the refusal is a message: the takes list carries no error mark and nothing was made
        assert page.locator("#music-takes-table .error").count() == 0
    assert len(list((studio.project / "takes").glob("*/take.json"))) == before
