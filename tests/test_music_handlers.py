"""The Music tab's handlers and the "generate and save a take" job, called directly (no browser): the real
composer, a real project folder in tmp_path; loudness checked with pyloudnorm, pictures with PIL, the list
read back from the project on disk."""

from __future__ import annotations

import threading

import gradio as gr
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from PIL import Image

from lantern_studio.engines.jobs import Cancelled
from lantern_studio.engines.music.base import GenerationRequest
from lantern_studio.engines.music.composer import ComposerEngine
from lantern_studio.engines.music.generate_take import (EngineNotReady, THUMBNAIL_PX, WAVEFORM_PX, finish_and_save,
                                                        generate_takes, waveform_picture)
from lantern_studio.engines.music.musicgen import MusicGenEngine
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.project import Project
from lantern_studio.studio import tab_music
from test_job_progress import window

FILTERS = (False, "all", "", "newest first")
TAKE_S = 11.0


@pytest.fixture(scope="module")
def composer():
    return ComposerEngine()


def request(seed: int, takes: int = 2) -> GenerationRequest:
    return GenerationRequest(preset="lion-dance", duration_s=TAKE_S, seed=seed, takes=takes)


def no_bar(fraction, desc=None):
    """Stands in for gr.Progress: these tests read the status lines the job yields, not the bar."""


# ---- the engine job ---------------------------------------------------------------------------------------------

def test_generate_takes_saves_each_take_with_its_loudness_and_pictures(ctx, composer):
    store = TakeStore(ctx.project)
    seen = []
    takes = generate_takes(composer, request(4100), store, on_saved=lambda take: seen.append(take.id))
    assert [t.seed for t in takes] == [4100, 4101] and seen == [t.id for t in takes]
    for take in takes:
        back = store.load(take.id)
        audio, rate = sf.read(str(store.audio_path(take.id)), always_2d=True, dtype="float64")
        assert rate == back.sample_rate and audio.shape[0] == np.asarray(back.audio).shape[0] > 5 * rate
        assert back.name and back.loudness_lufs == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(audio),
                                                                 abs=0.3)
        for thumb, size in ((False, WAVEFORM_PX), (True, THUMBNAIL_PX)):
            with Image.open(waveform_picture(store, take.id, thumb=thumb)) as picture:
                assert picture.size == size


def test_a_take_without_a_reading_is_measured_before_it_is_saved(ctx, composer):
    take = composer.generate(request(4200, takes=1))[0]
    take.loudness_lufs, take.name = None, ""
    store = TakeStore(ctx.project)
    finish_and_save(store, take)
    saved = store.load(take.id)
    audio = np.asarray(saved.audio, dtype="float64")
    assert saved.loudness_lufs == pytest.approx(pyloudnorm.Meter(saved.sample_rate).integrated_loudness(audio),
                                                abs=0.2)
    assert saved.name == f"lion-dance {take.seed}"


def test_a_stop_keeps_the_saved_takes_and_says_which(ctx, composer):
    store = TakeStore(ctx.project)
    stop = threading.Event()
    with pytest.raises(Cancelled) as stopped:
        generate_takes(composer, request(4300, takes=4), store, cancel=stop, on_saved=lambda take: stop.set())
    assert [t.seed for t in stopped.value.partial] == [4300]
    assert store.ids() == [stopped.value.partial[0].id]


def test_an_engine_that_is_not_ready_makes_nothing(ctx, tmp_path):
    engine = MusicGenEngine(tmp_path / "no-models")
    store = TakeStore(ctx.project)
    with pytest.raises(EngineNotReady, match="musicgen is not ready"):
        generate_takes(engine, GenerationRequest(prompt="drums", duration_s=2.0, seed=1, takes=1), store)
    assert store.ids() == []


# ---- the tab's handlers -----------------------------------------------------------------------------------------

def highlighted_ids(table) -> list[str]:
    """Take ids of the rows the list's value styles as selected, as Gradio sends them to the page."""
    rendered = gr.Dataframe(headers=tab_music.HEADERS, interactive=False).postprocess(table).model_dump()
    styling = rendered["metadata"]["styling"]
    return [row[-1] for row, style in zip(rendered["data"], styling)
            if all("rgba(226, 87, 60" in cell for cell in style)]


def generation(ctx, seed: int, takes: int, win: str):
    """The Generate handler's job for ``takes`` composer takes from ``seed``, started from window ``win``."""
    controls = ("composer", "lion-dance", "", TAKE_S, takes, "fixed", seed, "{}", None)
    return tab_music.do_generate(ctx, str(ctx.project.root), *controls, *FILTERS, window(win), no_bar)


def generate_in(ctx, seed: int, takes: int, win="w1"):
    return list(generation(ctx, seed, takes, win))


def test_generate_selects_the_newest_take_ready_to_play(ctx):
    updates = generate_in(ctx, 4400, 2)
    status, selected, table, wave, audio_path, info = updates[-1][:6]
    assert status.startswith("Done: 2 of 2")
    store = TakeStore(ctx.project)
    newest = max(store.list(), key=lambda t: t.seed)
    assert selected == newest.id and f"seed `{newest.seed}`" in info
    # the player gets the take's own file, and the row is highlighted in the list's value
    played, rate = sf.read(audio_path, dtype="float32", always_2d=True)
    np.testing.assert_array_equal(played, np.asarray(store.load(newest.id).audio).reshape(played.shape))
    assert highlighted_ids(table) == [newest.id]
    # while the job ran, each saved take was selected as it arrived
    assert [u[1] for u in updates[:-1]] == [t.id for t in sorted(store.list(), key=lambda t: t.seed)]


def test_a_click_selects_and_highlights_that_row(ctx):
    generate_in(ctx, 4500, 2)
    rows = tab_music._rows(ctx, *FILTERS)
    target = rows[1]
    event = gr.SelectData(None, {"index": [1, 2], "value": target[2], "row_value": target})
    selected, table, *detail = tab_music.on_select(ctx, str(ctx.project.root), rows[0][-1], *FILTERS, event)
    assert selected == target[-1] and highlighted_ids(table) == [target[-1]]
    assert detail[1].endswith("audio.wav") and "Select a take" not in detail[2]
    assert len(detail) == tab_music.DETAIL_SIZE
    # a second click on the same row leaves everything as it is (a name being typed is not overwritten)
    again = tab_music.on_select(ctx, str(ctx.project.root), selected, *FILTERS, event)
    assert again == (gr.update(),) * (2 + tab_music.DETAIL_SIZE)
    # a filter change re-renders the list with the same row highlighted
    assert highlighted_ids(tab_music.refresh_table(ctx, str(ctx.project.root), selected, *FILTERS)) == [selected]


def test_stop_in_this_window_keeps_what_is_done(ctx):
    job = generation(ctx, 4600, 4, "w2")
    first = next(job)
    assert first[0].startswith("Saved 1 of 4")
    assert tab_music.stop_generation(window("other")) == "Nothing is being generated."
    assert tab_music.stop_generation(window("w2")).startswith("Stopping")
    last = list(job)[-1]
    kept = len(TakeStore(ctx.project).ids())
    assert last[0] == f"Stopped: {kept} of 4 take(s) saved in the project." and 1 <= kept < 4


def test_a_take_saved_by_another_window_reaches_the_list_on_the_next_check(ctx, composer):
    root = str(ctx.project.root)
    generate_in(ctx, 4700, 1)
    seen, table, picks, trash = tab_music.list_refresh(ctx, root, None, *FILTERS)
    assert tab_music.poll_takes(ctx, root, seen, None, *FILTERS) == (gr.update(),) * 4
    # another window (here: another store on the same folder) saves a take
    other = Project.open(ctx.project.root)
    generate_takes(composer, request(4800, takes=1), TakeStore(other))
    seen2, table2, picks2, _ = tab_music.poll_takes(ctx, root, seen, None, *FILTERS)
    assert seen2 != seen
    seeds = sorted(int(seed) for seed in table2.data["seed"])
    assert seeds == [4700, 4800]
    assert sum("(seed 4800)" in label for label, _ in picks2["choices"]) == 1
    # and a delete there is seen too
    TakeStore(other).delete(next(t.id for t in TakeStore(other).list() if t.seed == 4800))
    seen3, table3, _, _ = tab_music.poll_takes(ctx, root, seen2, None, *FILTERS)
    assert seen3 != seen2 and [int(s) for s in table3.data["seed"]] == [4700]


def test_star_rename_and_delete_act_on_the_selected_take_on_disk(ctx):
    generate_in(ctx, 4900, 1)
    root = str(ctx.project.root)
    store = TakeStore(ctx.project)
    take_id = store.ids()[0]
    view = tab_music.do_star(ctx, root, take_id, *FILTERS)
    assert view[0] == take_id and store.load(take_id, with_audio=False).starred
    tab_music.do_rename(ctx, root, take_id, "moon 月", *FILTERS)
    assert store.load(take_id, with_audio=False).name == "moon 月"
    view = tab_music.do_delete(ctx, root, take_id, *FILTERS)
    assert view[0] is None and store.ids() == [] and [t.id for t in store.trashed()] == [take_id]
    view = tab_music.do_untrash(ctx, root, take_id, *FILTERS)
    assert view[0] == take_id and store.ids() == [take_id] and highlighted_ids(view[1]) == [take_id]


def test_a_window_that_goes_away_stops_its_job(ctx):
    job = generation(ctx, 5000, 4, "gone")
    assert next(job)[0].startswith("Saved 1 of 4")
    job.close()                  # what Gradio does with the generator of a closed window
    # the worker finishes at most the take it was on, then stops: wait for it by the thread's name
    for thread in [t for t in threading.enumerate() if t.name == "lantern-generate"]:
        thread.join(timeout=120)
    assert 1 <= len(TakeStore(ctx.project).ids()) <= 2
