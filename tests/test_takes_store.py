"""The persistent take store: round trips, sidecar-last finishing, listing, editing, trash."""

from __future__ import annotations

import json
import os
import threading

import mido
import numpy as np
import pytest
import soundfile as sf

from lantern_studio.engines.atomic import TEMP_PREFIX
from lantern_studio.engines.music.base import Take
from lantern_studio.engines.music.takes import TakeNotFound, TakeStore, check_take_id
from lantern_studio.engines.project import Project


def make_midi() -> bytes:
    midi = mido.MidiFile()
    track = mido.MidiTrack()
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=480))
    midi.tracks.append(track)
    path_bytes = bytearray()

    class Sink:
        def write(self, data):
            path_bytes.extend(data)

    midi.save(file=Sink())
    return bytes(path_bytes)


def make_take(seed: int = 1, *, frames: int = 4800, with_stems: bool = True, **changes) -> Take:
    rng = np.random.default_rng(seed)
    audio = (rng.uniform(-0.9, 0.9, size=(frames, 2))).astype(np.float32)
    parts = {}
    if with_stems:
        parts = {"melody": audio[:, 0].copy() * 0.5, "drums": audio * 0.25}
    fields = dict(engine="composer", seed=seed, sample_rate=48_000, audio=audio, prompt=f"lion dance {seed}",
                  preset="lion-dance", params={"tempo_bpm": 120 + seed, "key": "D"}, stems=parts,
                  midi=make_midi(), summary="4 bars in D", generation_s=0.25)
    fields.update(changes)
    return Take(**fields)


@pytest.fixture
def store(tmp_path) -> TakeStore:
    return TakeStore(Project.open(tmp_path / "proj"))


def test_round_trip_is_bit_exact_and_files_open_in_other_tools(store):
    take = make_take(3)
    folder = store.save(take)
    assert folder == store.project.takes_dir / take.id
    back = store.load(take.id)
    np.testing.assert_array_equal(back.audio, take.audio)
    assert back.audio.dtype == np.float32 and back.audio.shape == take.audio.shape
    assert set(back.stems) == {"melody", "drums"}
    np.testing.assert_array_equal(back.stems["melody"], take.stems["melody"])
    np.testing.assert_array_equal(back.stems["drums"], take.stems["drums"])
    assert back.midi == take.midi
    assert back.recipe() == take.recipe()
    assert back.metadata() == take.metadata()
    # independent readers: soundfile on the WAV, mido on the MIDI, json on the sidecar
    data, rate = sf.read(str(folder / "audio.wav"), dtype="float32")
    assert rate == 48_000
    np.testing.assert_array_equal(data, take.audio)
    assert sf.info(str(folder / "audio.wav")).subtype == "FLOAT"
    notes = [m for m in mido.MidiFile(str(folder / "take.mid")).tracks[0] if m.type == "note_on"]
    assert notes[0].note == 60
    sidecar = json.loads((folder / "take.json").read_text())
    assert sidecar["seed"] == 3 and sidecar["frames"] == 4800 and sidecar["stems"] == ["drums", "melody"]
    assert store.verify(take.id) == []


def test_pcm24_store_is_within_24_bit_quantisation(tmp_path):
    store = TakeStore(Project.open(tmp_path / "p"), subtype="PCM_24")
    take = make_take(5, with_stems=False, midi=None)
    store.save(take)
    back = store.load(take.id)
    assert sf.info(str(store.audio_path(take.id))).subtype == "PCM_24"
    assert np.max(np.abs(back.audio - take.audio)) <= 2.0 ** -23
    assert back.midi is None and back.stems == {}


def test_sidecar_is_written_last(store, monkeypatch):
    import lantern_studio.engines.music.takes as takes_module

    order = []
    original_json, original_bytes = takes_module.atomic_write_json, takes_module.atomic_write_bytes
    original_wav = TakeStore._write_wav

    def spy_wav(self, path, audio, rate):
        order.append(path.name)
        return original_wav(self, path, audio, rate)

    monkeypatch.setattr(TakeStore, "_write_wav", spy_wav)
    monkeypatch.setattr(takes_module, "atomic_write_json", lambda p, v: (order.append(p.name), original_json(p, v))[1])
    monkeypatch.setattr(takes_module, "atomic_write_bytes", lambda p, v: (order.append(p.name), original_bytes(p, v))[1])
    store.save(make_take(2))
    assert order[-1] == "take.json"
    assert set(order[:-1]) == {"audio.wav", "melody.wav", "drums.wav", "take.mid"}


def test_a_failing_write_leaves_no_finished_take_and_no_temporaries(store, monkeypatch):
    take = make_take(7)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("lantern_studio.engines.music.takes.atomic_write_json", boom)
    with pytest.raises(OSError):
        store.save(take)
    assert take.id not in store and store.ids() == []
    assert not [p for p in store.project.root.rglob("*") if p.name.startswith(TEMP_PREFIX)]
    # while the project is open elsewhere, recovery only reports the unfinished folder ...
    second = Project.open(store.project.root)
    assert second.recovery.kept == [f"takes/{take.id}"] and not second.recovery.incomplete
    second.close()
    store.project.close()
    # ... and once nobody has it open, moves it to the trash, marked incomplete
    reopened = Project.open(store.project.root)
    assert reopened.recovery.incomplete and "incomplete" in reopened.trash_items()[0].reason
    assert not (reopened.takes_dir / take.id).exists()


def test_incomplete_folders_are_ignored_by_the_store(store):
    store.save(make_take(1))
    half = store.project.takes_dir / "20260101-000000-abcdef"
    half.mkdir()
    (half / "audio.wav").write_bytes(b"RIFF")
    assert len(store.ids()) == 1
    assert "20260101-000000-abcdef" not in store
    assert len(store.list()) == 1


def test_refuses_bad_input_with_messages(store):
    with pytest.raises(ValueError, match="NaN"):
        store.save(make_take(1, audio=np.full((10, 2), np.nan, np.float32)))
    with pytest.raises(ValueError, match="shape"):
        store.save(make_take(1, audio=np.zeros((10, 2, 2), np.float32)))
    with pytest.raises(ValueError, match="dtype"):
        store.save(make_take(1, audio=np.zeros((10, 2), np.int16)))
    with pytest.raises(ValueError, match="stem name"):
        store.save(make_take(1, stems={"../evil": np.zeros(10, np.float32)}))
    with pytest.raises(ValueError, match="take id"):
        store.save(make_take(1, id="../../outside"))
    with pytest.raises(ValueError, match="MIDI"):
        store.save(make_take(1, midi=b"not midi"))
    with pytest.raises(ValueError, match="sample rate"):
        store.save(make_take(1, sample_rate=12.5))
    for bad in ("", ".hidden", "a/b", "a\\b", "x" * 101, "a\x00b", "C:evil"):
        with pytest.raises(ValueError):
            check_take_id(bad)
    take = make_take(9)
    store.save(take)
    with pytest.raises(ValueError, match="already saved"):
        store.save(take)
    store.save(take.with_changes(audio=take.audio * 0.5), overwrite=True)
    np.testing.assert_array_equal(store.load(take.id).audio, take.audio * 0.5)
    # nothing outside the takes folder was written
    assert not (store.project.root.parent / "outside").exists()


def test_load_without_audio_costs_nothing_and_cannot_be_saved_back(store):
    take = make_take(4, frames=48_000)
    store.save(take)
    light = store.load(take.id, with_audio=False)
    assert light.duration_s == pytest.approx(1.0)
    assert light.audio.shape == take.audio.shape and light.audio.strides == (0, 0)
    assert set(light.stems) == {"melody", "drums"}
    with pytest.raises(ValueError, match="placeholder"):
        store.save(light, overwrite=True)
    np.testing.assert_array_equal(store.load(take.id).audio, take.audio)


def test_list_filters_and_sorts(store):
    takes = [make_take(seed, created=f"2026-01-0{seed}T10:00:00", with_stems=False) for seed in (1, 2, 3, 4)]
    for take in takes:
        store.save(take)
    store.update(takes[0].id, starred=True, rating=5, name="Keeper")
    store.update(takes[2].id, rating=3, notes="gong too loud")
    store.save(make_take(5, engine="musicgen", parent_id=takes[0].id, relation="vary", with_stems=False,
                         created="2026-01-05T10:00:00"))
    assert [t.seed for t in store.list()] == [5, 4, 3, 2, 1]
    assert [t.seed for t in store.list(descending=False)] == [1, 2, 3, 4, 5]
    assert [t.seed for t in store.list(starred=True)] == [1]
    assert [t.seed for t in store.list(min_rating=3, sort="rating")] == [1, 3]
    assert [t.seed for t in store.list(engine="musicgen")] == [5]
    assert [t.seed for t in store.list(parent_id=takes[0].id)] == [5]
    assert [t.seed for t in store.list(text="GONG")] == [3]
    assert [t.seed for t in store.list(text="keeper")] == [1]
    with pytest.raises(ValueError, match="sort"):
        store.list(sort="colour")
    with pytest.raises(ValueError, match="rating"):
        store.update(takes[1].id, rating=6)
    with pytest.raises(TakeNotFound):
        store.update("20990101-000000-000000", rating=1)


def test_delete_restore_and_trashed(store):
    keep, gone = make_take(1, with_stems=False), make_take(2, with_stems=False)
    store.save(keep)
    store.save(gone)
    trashed_path = store.delete(gone.id)
    assert trashed_path.is_dir() and gone.id not in store
    assert [t.id for t in store.trashed()] == [gone.id]
    assert [t.id for t in store.list()] == [keep.id]
    store.restore(gone.id)
    assert gone.id in store and store.trashed() == []
    np.testing.assert_array_equal(store.load(gone.id).audio, gone.audio)
    with pytest.raises(TakeNotFound):
        store.restore(gone.id)
    # delete twice (after a re-save with the same id): both copies kept, newest restored first
    store.delete(gone.id)
    store.save(gone.with_changes(notes="second"))
    store.delete(gone.id)
    assert len(store.trashed()) == 2
    store.restore(gone.id)
    assert store.load(gone.id, with_audio=False).notes == "second"
    assert store.project.empty_trash() == 1 and store.trashed() == []


def test_concurrent_saves_and_updates_from_threads(store):
    takes = [make_take(seed, with_stems=False, frames=2400) for seed in range(12)]
    errors = []

    def work(take):
        try:
            store.save(take)
            store.update(take.id, rating=take.seed % 6)
        except Exception as error:   # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(take,)) for take in takes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(store.ids()) == sorted(t.id for t in takes)
    for take in takes:
        assert store.verify(take.id) == []
        assert store.load(take.id, with_audio=False).rating == take.seed % 6


def test_damaged_sidecar_is_reported_not_fatal(store):
    good, bad = make_take(1, with_stems=False), make_take(2, with_stems=False)
    store.save(good)
    store.save(bad)
    (store.project.takes_dir / bad.id / "take.json").write_text("{ not json")
    assert [t.id for t in store.list()] == [good.id]
    assert store.skipped and store.skipped[0][0] == bad.id
    # a flipped byte in the audio is caught by verify()
    audio = store.audio_path(good.id)
    raw = bytearray(audio.read_bytes())
    raw[-1] ^= 0xFF
    with open(audio, "wb") as stream:
        stream.write(raw)
        os.fsync(stream.fileno())
    assert store.verify(good.id) == ["audio.wav does not match its checksum"]
