"""Fuzzing the project loader: manifests, take sidecars, v1 manifests and zip archives drawn by hypothesis.

The property each time: the studio either opens/loads what it is given, or refuses it with its own error type
(ProjectError / ValueError / TakeNotFound) — never a crash with another exception, never a file written
outside the target folder. ``LANTERN_FUZZ_SCALE`` multiplies the example budgets (CI uses 1).
Findings are pinned as regression tests at the bottom.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lantern_studio.engines.music.base import Take
from lantern_studio.engines.music.takes import TakeNotFound, TakeStore
from lantern_studio.engines.project import Project, ProjectError, import_zip

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
SCALE = max(1, int(os.environ.get("LANTERN_FUZZ_SCALE", "1")))
FUZZ = settings(max_examples=60 * SCALE, deadline=None, derandomize=not bool(os.environ.get("LANTERN_FUZZ_RANDOM")),
                suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)
MANIFEST_KEYS = ["schema_version", "version", "name", "title", "created", "modified", "takes", "story"]
manifests = st.dictionaries(st.sampled_from(MANIFEST_KEYS) | st.text(max_size=8), json_values, max_size=8)
SIDECAR_KEYS = ["id", "engine", "seed", "sample_rate", "frames", "channels", "stems", "has_midi", "params",
                "created", "starred", "rating", "name", "notes", "duration_s", "files", "parent_id", "loudness_lufs"]
sidecars = st.dictionaries(st.sampled_from(SIDECAR_KEYS), json_values, max_size=12)


def _fresh(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)


@FUZZ
@given(content=st.one_of(manifests.map(lambda m: json.dumps(m).encode()), st.binary(max_size=200)))
def test_any_manifest_opens_or_is_refused_cleanly(content):
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp) / "p"
        root.mkdir()
        (root / "project.json").write_bytes(content)
        try:
            project = Project.open(root)
        except ProjectError:
            assert (root / "project.json").read_bytes() == content or (root / "project.v1.json").exists()
            return
        assert isinstance(project.manifest, dict) and project.manifest["schema_version"] == 2
        json.loads((root / "project.json").read_text(encoding="utf-8"))
        TakeStore(project).list()
        project.close()


@FUZZ
@given(v1=st.fixed_dictionaries({"version": st.just(1)}, optional={
    "title": json_values, "created": json_values,
    "takes": st.lists(st.fixed_dictionaries({}, optional={k: json_values | st.text(max_size=10) for k in
                                                           ["id", "seed", "engine", "params", "favorite", "rating",
                                                            "parent", "created", "elapsed_s"]}), max_size=3)
    | json_values}))
def test_any_v1_manifest_migrates_or_is_refused(v1):
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp) / "p"
        (root / "takes").mkdir(parents=True)
        (root / "project.json").write_text(json.dumps(v1))
        for entry in v1.get("takes") or [] if isinstance(v1.get("takes"), list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str) and "/" not in entry["id"] \
                    and entry["id"] not in ("", ".", ".."):
                import soundfile as sf

                try:
                    sf.write(str(root / "takes" / f"{entry['id']}.wav"), np.zeros((10, 2), np.float32), 48_000)
                except (OSError, RuntimeError, ValueError):
                    pass
        try:
            project = Project.open(root)
        except ProjectError:
            return
        store = TakeStore(project)
        for take in store.list():
            assert store.verify(take.id) == []
        project.close()


@FUZZ
@given(sidecar=sidecars)
def test_any_take_sidecar_lists_or_is_skipped(sidecar):
    with tempfile.TemporaryDirectory() as temp:
        project = Project.open(Path(temp) / "p")
        store = TakeStore(project)
        real = Take(engine="composer", seed=1, sample_rate=48_000, audio=np.zeros((100, 2), np.float32))
        store.save(real)
        folder = project.takes_dir / "fuzzed"
        folder.mkdir()
        (folder / "take.json").write_text(json.dumps(sidecar))
        listed = store.list(sort="rating")
        assert real.id in [t.id for t in listed]
        try:
            store.load("fuzzed")
        except (ProjectError, TakeNotFound):
            pass
        try:
            store.update("fuzzed", rating=3)
        except (ProjectError, TakeNotFound):
            pass
        store.verify(real.id)
        project.close()


member_names = st.one_of(
    st.sampled_from(["p/project.json", "p/takes/a/take.json", "p/takes/a/audio.wav", "p/story/s.txt",
                     "../x", "p/../../x", "/abs", "C:/x", "C:x", "p\\..\\x", "p/./q", "p//q", "p/", "", "..",
                     "p/.partial-x", "p/.lantern.lock", "p/" + "a" * 260]),
    st.text(alphabet=st.sampled_from(list("ab./\\:\x00 灯")), min_size=1, max_size=12))


@FUZZ
@given(members=st.lists(st.tuples(member_names, st.binary(max_size=40)), max_size=6),
       with_manifest=st.booleans())
def test_any_zip_imports_or_is_refused_and_never_writes_outside(members, with_manifest):
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            if with_manifest:
                archive.writestr("p/project.json", json.dumps({"schema_version": 2, "name": "f"}))
            for name, data in members:
                try:
                    archive.writestr(name or "noname", data)
                except (ValueError, IndexError):   # zipfile's own writer rejects some names (a lone NUL)
                    pass
        (temp / "in.zip").write_bytes(buffer.getvalue())
        parent = temp / "projects"
        before = sorted(p.name for p in temp.iterdir())
        try:
            project = import_zip(temp / "in.zip", parent)
        except (ValueError, ProjectError):
            pass
        else:
            assert parent in project.root.parents
            for path in project.root.rglob("*"):
                assert parent.resolve() in path.resolve().parents
            project.close()
        assert sorted(p.name for p in temp.iterdir() if p.name != "projects") == [n for n in before if n != "projects"]
        leftovers = [p.name for p in parent.iterdir()] if parent.exists() else []
        assert not [n for n in leftovers if n.startswith(".partial-")]


# ---- regression tests for what the fuzzers found ----------------------------------------------------------


def test_regression_sidecar_with_non_numeric_frames_is_a_project_error(tmp_path):
    project = Project.open(tmp_path / "p")
    folder = project.takes_dir / "bad"
    folder.mkdir()
    (folder / "take.json").write_text(json.dumps({"id": "bad", "frames": "many", "stems": "drums"}))
    with pytest.raises(ProjectError, match="damaged"):
        TakeStore(project).load("bad")
    assert TakeStore(project).list() == []


def test_regression_sidecar_that_is_not_an_object_is_skipped(tmp_path):
    project = Project.open(tmp_path / "p")
    folder = project.takes_dir / "bad"
    folder.mkdir()
    (folder / "take.json").write_text("[]")
    store = TakeStore(project)
    assert store.list() == [] and store.skipped[0][0] == "bad"


@pytest.mark.parametrize("sidecar", [{}, {"id": None}, {"stems": "drums"}, {"params": [1]}, {"rating": True},
                                     {"sample_rate": 0}, {"channels": 99}, {"files": {"audio.wav": 3}}])
def test_regression_sidecars_hypothesis_found_are_refused_not_crashing(tmp_path, sidecar):
    project = Project.open(tmp_path / "p")
    folder = project.takes_dir / "found"
    folder.mkdir()
    (folder / "take.json").write_text(json.dumps(sidecar))
    store = TakeStore(project)
    assert store.list() == [] or [t.id for t in store.list()] == ["found"]
    try:
        take = store.load("found", with_audio=False)
    except ProjectError as error:
        assert "damaged" in str(error)
    else:
        assert take.id == "found"


@pytest.mark.parametrize("created", [9.223372036854776e18, 6.77680361916768e16, -62135510401, float("1e308"), "x", []])
def test_regression_v1_manifest_with_impossible_created_time_migrates(tmp_path, created):
    root = tmp_path / "p"
    root.mkdir()
    (root / "project.json").write_text(json.dumps({"version": 1, "created": created}))
    project = Project.open(root)
    assert project.manifest["schema_version"] == 2 and isinstance(project.manifest["created"], str)


@pytest.mark.parametrize("entry", [{"elapsed_s": [None]}, {"params": True}, {"seed": "7"}, {"parent": 3},
                                   {"rating": 99}, {"favorite": "yes"}, {"model": {}}, {"elapsed_s": 1e300}])
def test_regression_v1_take_entries_with_wrong_types_migrate_with_defaults(tmp_path, entry):
    import soundfile as sf

    root = tmp_path / "p"
    (root / "takes").mkdir(parents=True)
    sf.write(str(root / "takes" / "0.wav"), np.zeros((100, 2), np.float32), 48_000)
    (root / "project.json").write_text(json.dumps({"version": 1, "takes": [{"id": "0", **entry}]}))
    store = TakeStore(Project.open(root))
    assert store.ids() == ["0"] and store.verify("0") == []
    take = store.load("0")
    assert 0 <= take.rating <= 5 and isinstance(take.params, dict) and isinstance(take.seed, int)


def test_regression_v1_take_with_unreadable_audio_is_trashed_marked(tmp_path):
    root = tmp_path / "p"
    (root / "takes").mkdir(parents=True)
    (root / "takes" / "bad.wav").write_bytes(b"RIFF not really")
    (root / "project.json").write_text(json.dumps({"version": 1, "takes": [{"id": "bad"}]}))
    project = Project.open(root)
    assert project.manifest["migration_damaged_takes"] == ["bad"]
    assert TakeStore(project).ids() == []
    assert [item.original for item in project.trash_items()] == ["takes/bad"]
