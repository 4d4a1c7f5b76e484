"""MusicGen "Extend" and melody conditioning in the Music tab, in a real headless Chromium: a tiny MusicGen
checkpoint (audiocraft's builders, random weights) sits in the studio's models folder; one take is generated and
extended to a longer piece, whose parent, relation and length are checked in the project's take store and in its
audio file (read with soundfile). A composer take is then refused for Extend with a message naming Continue, and
its melody stem is refused on a model that is not a melody model with a message saying so."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import soundfile as sf

from lantern_studio.engines.music.presets import all_presets
from lantern_testkit import open_tab, take_metas, wait_for_take, wait_selected

pytestmark = pytest.mark.browser

SEED = 7600                   # unique among the browser tests sharing the studio
MODEL = "tiny-musicgen"


def set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")


def select_take_by_seed(page, seed: int) -> None:
    # the seed cell (the engine may give several takes one name)
    page.locator("#music-takes-table").get_by_text(str(seed), exact=True).filter(visible=True).first.click()
    wait_selected(page, seed)


def error_toast(page, text: str) -> str:
    page.locator(".toast-body").filter(has_text=text).first.wait_for(timeout=60_000)
    message = " | ".join(page.locator(".toast-body").all_inner_texts())
    for close in page.locator(".toast-close").all():       # clear them for the next check
        try:
            close.click(timeout=2_000)
        except Exception:   # it closed by itself meanwhile
            pass
    return message


def test_extend_a_musicgen_take_and_melody_on_a_model_without_melody(page, studio, tmp_path):
    from lantern_studio.engines.music import musicgen_tiny

    musicgen_tiny.save_checkpoint(studio.home / "models" / MODEL, musicgen_tiny.lm_config(),
                                  musicgen_tiny.compression_config())
    open_tab(page, "Music")
    page.locator("#music-engine").get_by_label("musicgen").check()
    page.wait_for_function("m => document.querySelector('#music-engine-status').innerText.includes(m)", arg=MODEL,
                           timeout=120_000)
    page.locator("#music-prompt textarea").fill("lantern parade, gongs")
    set_number(page, "music-duration", 3)
    set_number(page, "music-takes", 1)
    page.locator("#music-seed-mode").get_by_label("fixed").check()
    page.locator("#music-seed input").fill(str(SEED))
    page.get_by_text("Engine parameters").click()
    page.locator("#music-params textarea").fill(json.dumps({"model": MODEL}))
    page.locator("#music-generate").click()
    page.wait_for_function("() => document.querySelector('#music-status').innerText.includes('Done: 1 of 1')",
                           timeout=300_000)
    parent = next(m for m in take_metas(studio.project) if m["engine"] == "musicgen" and m["seed"] == SEED)
    assert parent["model"] == MODEL and abs(parent["duration_s"] - 3.0) < 0.11

    # extend the selected take to 5 s: a new take, child of the first, 5 s long, measured
    select_take_by_seed(page, SEED)
    set_number(page, "music-extend-to", 5)
    page.locator("#music-extend").click()
    child = wait_for_take(page, studio, lambda m: m["parent_id"] == parent["id"], "extended take")
    assert child["relation"] == "extend" and child["engine"] == "musicgen" and child["model"] == MODEL
    assert abs(child["duration_s"] - 5.0) < 0.11, child["duration_s"]
    assert child["loudness_lufs"] is not None
    audio_files = [p for p in (studio.project / "takes" / child["id"]).iterdir()
                   if p.suffix in (".wav", ".flac") and "stem" not in p.name]
    assert audio_files, list((studio.project / "takes" / child["id"]).iterdir())
    info = sf.info(str(audio_files[0]))
    assert abs(info.frames / info.samplerate - child["duration_s"]) < 1e-3
    # the extend job has finished once its take is in the list (its last status follows at once)
    page.locator("#music-takes-table").get_by_text(str(child["seed"]), exact=True).filter(visible=True).first.wait_for()
    page.wait_for_function("() => document.querySelector('#music-status').innerText.includes('Done: 1 of 1')")

    # asking for a piece that is not longer is refused, and nothing is made
    before = len(take_metas(studio.project))
    set_number(page, "music-extend-to", 2)
    page.locator("#music-extend").click()
    assert "choose a length above" in error_toast(page, "Extend to 2")
    assert len(take_metas(studio.project)) == before

    # a composer take: Extend says it is a MusicGen action and points at Continue
    page.locator("#music-engine").get_by_label("composer").check()
    page.locator("#music-params textarea").fill("{}")       # the composer has no "model" parameter
    label = all_presets()["lion-dance"]["name"]         # lion dance is fast: 11 s hold a whole piece
    page.locator("#music-preset input").click()
    page.get_by_role("option").filter(has_text=label).first.click()
    set_number(page, "music-duration", 11)
    page.locator("#music-seed input").fill(str(SEED + 1))
    page.locator("#music-generate").click()
    composer = wait_for_take(page, studio, lambda m: m["engine"] == "composer" and m["seed"] == SEED + 1,
                             "composer take")
    page.wait_for_function("() => document.querySelector('#music-status').innerText.includes('Done: 1 of 1')")
    select_take_by_seed(page, SEED + 1)
    # a composer take cannot be extended: the button is off and says which takes it is for
    page.wait_for_function("() => document.querySelector('#music-extend').innerText.includes('MusicGen takes only')")
    assert page.locator("#music-extend").is_disabled()

    # its melody stem on the tiny model (not a melody model): refused with a message saying so
    assert "melody" in composer["stems"]
    before = len(take_metas(studio.project))
    page.locator("#music-engine").get_by_label("musicgen").check()
    page.wait_for_function("m => document.querySelector('#music-engine-status').innerText.includes(m)", arg=MODEL)
    page.locator("#music-params textarea").fill(json.dumps({"model": MODEL}))
    page.get_by_text("Melody (MusicGen melody models)").click()
    page.locator("#music-melody-source").get_by_label("selected take's melody stem").check()
    page.locator("#music-generate-melody").click()
    message = error_toast(page, "is not a melody model")
    assert MODEL in message and "melody model" in message
    assert len(take_metas(studio.project)) == before
    shot = Path(os.environ.get("LANTERN_SCREENSHOTS", tmp_path)) / "music-extend-melody.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
