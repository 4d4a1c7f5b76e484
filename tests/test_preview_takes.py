"""Engine-level take loop behind the Music tab, on the embedded composer: takes persist and reload with all
their metadata, deleting moves them to the trash and restores them, "restore these settings" remakes the
take sample for sample, variations link to their parent."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lantern_studio.engines.music.base import GenerationRequest, Take
from lantern_studio.engines.music.composer import ComposerEngine
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.project import Project
from lantern_studio.studio.tab_music import request_from_controls, restore_values

DURATION_S = 5.0    # pentatonic-pop makes a whole piece in about 5 s (slower presets need 10-17 s)
PRESET = "pentatonic-pop"


@pytest.fixture(scope="module")
def engine() -> ComposerEngine:
    return ComposerEngine()


@pytest.fixture(scope="module")
def made(engine) -> list[Take]:
    return engine.generate(GenerationRequest(preset=PRESET, prompt="热闹 lively", duration_s=DURATION_S,
                                             seed=11, takes=2))


def _same_take(a: Take, b: Take) -> None:
    for field in dataclasses.fields(Take):
        if field.name in ("audio", "stems", "midi", "params"):
            continue
        assert getattr(a, field.name) == getattr(b, field.name), field.name
    assert a.params == b.params
    np.testing.assert_array_equal(a.audio, b.audio)
    assert sorted(a.stems) == sorted(b.stems)
    for name in a.stems:
        np.testing.assert_array_equal(np.asarray(a.stems[name]), np.asarray(b.stems[name]))
    assert a.midi == b.midi


def test_takes_persist_and_reload_with_all_metadata(tmp_path, made):
    store = TakeStore(Project.open(tmp_path / "p"))
    saved = []
    for take in made:
        take = take.with_changes()
        store.save(take)
        saved.append(take)
    store.update(saved[0].id, starred=True, rating=4, name="keeper 灯", notes="good drums\nsecond line")
    # a fresh store over a freshly opened project: nothing lives only in memory
    reopened = TakeStore(Project.open(tmp_path / "p"))
    loaded = reopened.load(saved[0].id)
    expected = saved[0].with_changes(starred=True, rating=4, name="keeper 灯", notes="good drums\nsecond line")
    _same_take(loaded, expected)
    assert loaded.seed == 11 and loaded.preset == PRESET and loaded.prompt == "热闹 lively"
    assert loaded.loudness_lufs == pytest.approx(made[0].loudness_lufs)
    _same_take(reopened.load(saved[1].id), saved[1])
    assert [t.id for t in reopened.list(starred=True)] == [saved[0].id]
    assert [t.id for t in reopened.list(sort="rating")][0] == saved[0].id
    assert [t.id for t in reopened.list(text="KEEPER")] == [saved[0].id]


def test_delete_goes_to_trash_and_restores(tmp_path, made):
    store = TakeStore(Project.open(tmp_path / "p"))
    for take in made:
        store.save(take)
    victim = made[1]
    store.delete(victim.id)
    assert victim.id not in [t.id for t in store.list()]
    assert victim.id in [t.id for t in store.trashed()]
    store.restore(victim.id)
    assert victim.id in [t.id for t in store.list()] and store.trashed() == []
    _same_take(store.load(victim.id), victim)


def test_restore_settings_remakes_the_take_exactly(engine, made):
    original = made[1]
    controls = restore_values(original)
    request = request_from_controls(*controls)
    assert request.seed == original.seed and request.takes == 1
    (again,) = engine.generate(request)
    np.testing.assert_array_equal(again.audio, original.audio)
    assert again.midi == original.midi
    assert {k: v for k, v in again.params.items() if k != "understood"} == \
        {k: v for k, v in original.params.items() if k != "understood"}


def test_variations_link_to_their_parent_and_persist(tmp_path, engine, made):
    store = TakeStore(Project.open(tmp_path / "p"))
    parent = made[0]
    store.save(parent)
    children = engine.generate(GenerationRequest(mode="vary", parent=parent, variation_strength=0.5, takes=1,
                                                 duration_s=DURATION_S), on_take=store.save)
    (child,) = children
    assert child.parent_id == parent.id and child.relation == "vary"
    assert not np.array_equal(child.audio[: parent.audio.shape[0]], parent.audio[: child.audio.shape[0]])
    assert [t.id for t in store.list(parent_id=parent.id)] == [child.id]
    reloaded = store.load(child.id)
    assert reloaded.parent_id == parent.id and reloaded.relation == "vary"
    # a variation's own settings restore to a request that remakes the variation
    (again,) = engine.generate(request_from_controls(*restore_values(reloaded)))
    np.testing.assert_array_equal(again.audio, reloaded.audio)


# ---- the same loop on MusicGen, with a tiny real model built by audiocraft's builders ------------------

@pytest.fixture(scope="module")
def musicgen(tmp_path_factory):
    from lantern_studio.engines.music import musicgen_tiny
    from lantern_studio.engines.music.musicgen import MusicGenEngine

    models_dir = tmp_path_factory.mktemp("models")
    musicgen_tiny.save_checkpoint(models_dir / "tiny-musicgen", musicgen_tiny.lm_config(),
                                  musicgen_tiny.compression_config())
    return MusicGenEngine(models_dir, device="cpu")


def test_musicgen_takes_persist_compare_mix_and_restore(tmp_path, musicgen):
    from lantern_studio.engines.audio.preview import prepare_previews
    from lantern_studio.engines.audio.session import StemSession
    from lantern_studio.engines.audio.stem_export import export_session

    (model,) = [m.name for m in musicgen.list_models()]
    request = request_from_controls("musicgen", None, "temple fair drums", 3.0, 2, "fixed", 40, "{}", model)
    store = TakeStore(Project.open(tmp_path / "p"))
    takes = musicgen.generate(request, on_take=store.save)
    assert [t.seed for t in takes] == [40, 41] and all(t.model == model for t in takes)
    reloaded = [store.load(t.id) for t in takes]
    for original, again in zip(takes, reloaded):
        _same_take(again, original)
    # loudness-matched previews of the two MusicGen takes
    previews = prepare_previews(reloaded, tmp_path / "previews")
    assert all(abs(p.integrated_lufs + 16.0) <= 0.2 for p in previews)
    # the mixer takes the MusicGen take as one stem and exports it named by take and seed
    session = StemSession.from_take(reloaded[0])
    assert session.names() == ["musicgen"]
    exported = export_session(session, tmp_path / "out", formats=("flac",))
    assert any(p.name.endswith("_seed40_mix.flac") for p in exported.files)
    # restore these settings: the same model, prompt and seed make the same audio
    (again,) = musicgen.generate(request_from_controls(*restore_values(reloaded[1])))
    np.testing.assert_array_equal(again.audio, reloaded[1].audio)
