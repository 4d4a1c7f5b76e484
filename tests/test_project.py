"""Projects: create/open/rename, migration from format 1, recent list, trash, recovery, zip export/import."""

from __future__ import annotations

import io
import json
import shutil
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lantern_studio.engines.atomic import TEMP_PREFIX, atomic_write_bytes
from lantern_studio.engines.music.base import Take
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.project import (SCHEMA_VERSION, Project, ProjectError, forget_project, import_zip, recent_projects,
                             remember_project)

FIXTURE_V1 = Path(__file__).parent / "fixtures" / "project_v1"


def small_take(seed: int) -> Take:
    rng = np.random.default_rng(seed)
    return Take(engine="composer", seed=seed, sample_rate=48_000,
                audio=rng.uniform(-0.5, 0.5, (960, 2)).astype(np.float32), prompt=f"p{seed}")


# ---- create / open / save ----------------------------------------------------------------------------


def test_create_open_and_manifest_is_valid_json(tmp_path):
    project = Project.create(tmp_path, "春节 Lion Dance / demo")
    assert project.root.parent == tmp_path and project.root.name == "demo"    # last path part, made safe
    assert project.name == "春节 Lion Dance / demo"
    manifest = json.loads((project.root / "project.json").read_text(encoding="utf-8"))
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["name"] == project.name
    for sub in ("takes", "stems", "story", "renders", ".trash"):
        assert (project.root / sub).is_dir()
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(tmp_path, "demo")
    with pytest.raises(ValueError, match="empty"):
        Project.create(tmp_path, "   ")
    with pytest.raises(ProjectError, match="not a Lantern Studio project"):
        Project.open(tmp_path / "nothing", create=False)


def test_update_manifest_autosaves_atomically(tmp_path):
    project = Project.open(tmp_path / "p")
    project.update_manifest(script="story/script.txt", bpm=120)
    reread = Project.open(tmp_path / "p")
    assert reread.manifest["script"] == "story/script.txt" and reread.manifest["bpm"] == 120
    project.update_manifest(bpm=None)
    assert "bpm" not in Project.open(tmp_path / "p").manifest
    with pytest.raises(ValueError, match="schema_version"):
        project.update_manifest(schema_version=9)
    with pytest.raises(TypeError):
        project.update_manifest(bad=object())
    assert json.loads((tmp_path / "p" / "project.json").read_text())["name"] == "p"   # unchanged by the failure
    assert not list((tmp_path / "p").glob(TEMP_PREFIX + "*"))


def test_unreadable_or_newer_manifests_are_refused_with_advice(tmp_path):
    root = tmp_path / "p"
    Project.open(root)
    (root / "project.json").write_text('{"schema_version": 99, "name": "future"}')
    with pytest.raises(ProjectError, match="newer Lantern Studio"):
        Project.open(root)
    (root / "project.json").write_text('{"schema_version": 2, "na')
    with pytest.raises(ProjectError, match="cannot be read"):
        Project.open(root)
    (root / "project.json").write_text("[1, 2]")
    with pytest.raises(ProjectError, match="not a project manifest"):
        Project.open(root)
    (root / "project.json").write_text('{"schema_version": "two"}')
    with pytest.raises(ProjectError, match="format version"):
        Project.open(root)
    other_program = '{"name": "my-web-app", "dependencies": {}}'
    (root / "project.json").write_text(other_program)
    with pytest.raises(ProjectError, match="not a Lantern Studio project"):
        Project.open(root)
    assert (root / "project.json").read_text() == other_program      # refused, not rewritten


def test_rename_display_name_and_folder(tmp_path):
    project = Project.create(tmp_path, "first")
    TakeStore(project).save(small_take(1))
    project.rename("Temple fair")
    assert project.root == tmp_path / "first" and Project.open(project.root).name == "Temple fair"
    project.rename("Temple fair 2", move_folder=True)
    assert project.root == tmp_path / "Temple fair 2" and not (tmp_path / "first").exists()
    assert len(TakeStore(project)) == 1
    Project.create(tmp_path, "taken")
    with pytest.raises(ProjectError, match="already exists"):
        project.rename("taken", move_folder=True)


# ---- migration ---------------------------------------------------------------------------------------


def test_version_1_project_opens_migrated(tmp_path):
    root = tmp_path / "old"
    shutil.copytree(FIXTURE_V1, root)
    original_audio = {tid: sf.read(str(root / "takes" / f"{tid}.wav"), dtype="float32")[0] for tid in ("t0001", "t0002")}
    project = Project.open(root)
    assert project.recovery.migrated_from == 1
    assert project.manifest["schema_version"] == SCHEMA_VERSION
    assert project.name == "Lantern Fair (prototype)"
    assert project.manifest["migration_missing_takes"] == ["t0003"]
    assert project.manifest["story"] == {"script": "story/script.txt"}      # unknown keys are kept
    assert json.loads((root / "project.v1.json").read_text())["version"] == 1   # backup of the old manifest
    store = TakeStore(project)
    assert store.ids() == ["t0001", "t0002"]
    first = store.load("t0001")
    assert first.starred and first.rating == 4 and first.notes == "use for the opening"
    assert first.seed == 11 and first.preset == "lion-dance" and first.params == {"tempo_bpm": 128}
    np.testing.assert_array_equal(first.audio, original_audio["t0001"])
    second = store.load("t0002")
    assert second.parent_id == "t0001" and second.relation == "vary" and not second.starred
    assert store.verify("t0001") == [] and store.verify("t0002") == []
    assert not list((root / "takes").glob("*.wav"))           # nothing left flat
    # reopening is a no-op
    again = Project.open(root)
    assert again.recovery.migrated_from is None and TakeStore(again).ids() == ["t0001", "t0002"]


def test_migration_interrupted_half_way_finishes_on_the_next_open(tmp_path):
    root = tmp_path / "old"
    shutil.copytree(FIXTURE_V1, root)
    # simulate a kill after the first take was moved but before its sidecar was written
    (root / "takes" / "t0001").mkdir()
    (root / "takes" / "t0001.wav").rename(root / "takes" / "t0001" / "audio.wav")
    project = Project.open(root)
    assert TakeStore(project).ids() == ["t0001", "t0002"]
    assert TakeStore(project).verify("t0001") == []


# ---- recent projects ----------------------------------------------------------------------------------


def test_recent_projects_list(tmp_path):
    home = tmp_path / "home"
    assert recent_projects(home) == []
    projects = [Project.create(tmp_path, f"p{i}") for i in range(3)]
    for project in projects:
        remember_project(home, project)
    remember_project(home, projects[0])
    listed = recent_projects(home)
    assert [e["name"] for e in listed] == ["p0", "p2", "p1"]
    assert all(e["exists"] for e in listed)
    shutil.rmtree(projects[1].root)
    assert [e["exists"] for e in recent_projects(home)] == [True, True, False]
    forget_project(home, projects[1].root)
    assert [e["name"] for e in recent_projects(home)] == ["p0", "p2"]
    for i in range(20):
        remember_project(home, Project.create(tmp_path, f"many{i}"))
    assert len(recent_projects(home)) == 12
    (home / "recent.json").write_text("garbage")
    assert recent_projects(home) == []


# ---- trash -----------------------------------------------------------------------------------------


def test_trash_keeps_and_restores_files_and_folders(tmp_path):
    project = Project.open(tmp_path / "p")
    script = atomic_write_bytes(project.story_dir / "script.txt", "第一场\n".encode())
    trashed = project.move_to_trash(script)
    assert not script.exists() and trashed.read_text(encoding="utf-8") == "第一场\n"
    atomic_write_bytes(script, b"second version")
    project.move_to_trash(script)
    items = project.trash_items()
    assert [i.original for i in items] == ["story/script.txt", "story/script.txt"]
    assert project.restore_from_trash(items[0]) == script and script.read_bytes() == b"second version"
    with pytest.raises(ProjectError, match="exists again"):
        project.restore_from_trash(items[1])
    script.unlink()
    assert project.restore_from_trash(trashed) == script and script.read_text(encoding="utf-8") == "第一场\n"
    with pytest.raises(ProjectError, match="not inside the project"):
        project.move_to_trash(tmp_path / "elsewhere.txt")
    with pytest.raises(ProjectError, match="not inside the project"):
        project.move_to_trash(project.root / ".." / "x")
    with pytest.raises(ProjectError, match="already in the trash"):
        project.move_to_trash(project.move_to_trash(script))
    assert project.trash_bytes() > 0
    assert project.empty_trash() == 1 and project.trash_items() == []


# ---- recovery -------------------------------------------------------------------------------------------


def test_recovery_cleans_partials_and_unfinished_takes_only_when_nobody_has_the_project(tmp_path):
    root = tmp_path / "p"
    first = Project.open(root)
    store = TakeStore(first)
    done = small_take(1)
    store.save(done)
    (first.renders_dir / f"{TEMP_PREFIX}abcd1234.mp4").write_bytes(b"half a video")
    (first.takes_dir / done.id / f"{TEMP_PREFIX}x1y2z3w4.wav").write_bytes(b"RIFF")
    unfinished = first.takes_dir / "20260101-000000-aaaaaa"
    unfinished.mkdir()
    (unfinished / "audio.wav").write_bytes(b"RIFF....")
    second = Project.open(root)                      # the first studio is still running: touch nothing
    assert len(second.recovery.kept) == 3 and not second.recovery.removed
    assert (first.renders_dir / f"{TEMP_PREFIX}abcd1234.mp4").exists()
    first.close()
    second.close()
    third = Project.open(root)
    report = third.recovery
    assert sorted(report.removed) == sorted([f"renders/{TEMP_PREFIX}abcd1234.mp4", f"takes/{done.id}/{TEMP_PREFIX}x1y2z3w4.wav"])
    assert len(report.incomplete) == 1 and "removed 2" in report.summary()
    assert not [p for p in root.rglob(TEMP_PREFIX + "*")]
    assert TakeStore(third).ids() == [done.id] and TakeStore(third).verify(done.id) == []
    item = third.trash_items()[0]
    assert item.original == "takes/20260101-000000-aaaaaa" and item.reason.startswith("incomplete")
    third.close()
    assert Project.open(root).recovery.clean


# ---- zip export / import ---------------------------------------------------------------------------------


def test_export_and_import_round_trip(tmp_path):
    project = Project.create(tmp_path / "projects", "fair")
    store = TakeStore(project)
    takes = [small_take(i) for i in range(3)]
    for take in takes:
        store.save(take)
    store.delete(takes[2].id)
    atomic_write_bytes(project.story_dir / "script.txt", "灯笼\n".encode())
    (project.renders_dir / f"{TEMP_PREFIX}junk.mp4").write_bytes(b"x")
    fractions = []
    archive = project.export_zip(tmp_path / "out" / "fair.zip", progress=lambda f, m: fractions.append(f))
    assert fractions and fractions[-1] == pytest.approx(1.0) and fractions == sorted(fractions)
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        assert z.testzip() is None
    assert "fair/project.json" in names and f"fair/takes/{takes[0].id}/audio.wav" in names
    assert not any(TEMP_PREFIX in n or ".trash" in n or ".lantern.lock" in n for n in names)
    imported = import_zip(archive, tmp_path / "projects")
    assert imported.root == tmp_path / "projects" / "fair-2"
    other = TakeStore(imported)
    assert sorted(other.ids()) == sorted(t.id for t in takes[:2])
    for take in takes[:2]:
        np.testing.assert_array_equal(other.load(take.id).audio, take.audio)
        assert other.verify(take.id) == []
    assert (imported.story_dir / "script.txt").read_text(encoding="utf-8") == "灯笼\n"
    with pytest.raises(ValueError, match="inside the project"):
        project.export_zip(project.root / "self.zip")
    with_trash = project.export_zip(tmp_path / "out" / "all.zip", include_trash=True)
    assert any("/.trash/" in n for n in zipfile.ZipFile(with_trash).namelist())


def test_export_cancel_writes_nothing(tmp_path):
    project = Project.open(tmp_path / "p")
    TakeStore(project).save(small_take(1))
    with pytest.raises(ProjectError, match="cancelled"):
        project.export_zip(tmp_path / "x.zip", cancel=lambda: True)
    assert not (tmp_path / "x.zip").exists() and not list(tmp_path.glob(TEMP_PREFIX + "*"))


def _zip_with(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    raw = buffer.getvalue()
    # zipfile refuses to write NUL in names: put it in the raw bytes (local header and central directory)
    return raw.replace(b"NULBYTE", b"\x00" * len(b"NULBYTE"))    # same length keeps the offsets right


MANIFEST_BYTES = json.dumps({"schema_version": 2, "name": "evil"}).encode()


@pytest.mark.parametrize("member", [
    "evil/../../escaped.txt", "../escaped.txt", "/tmp/escaped.txt", "C:/escaped.txt", "C:escaped.txt",
    "evil\\..\\..\\escaped.txt", "evil/takes/NULBYTE.txt", "evil/" + "a" * 300 + ".txt",
])
def test_import_refuses_zip_slip(tmp_path, member):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip_with({"evil/project.json": MANIFEST_BYTES, member: b"pwned"}))
    parent = tmp_path / "projects"
    with pytest.raises(ValueError, match="refused"):
        import_zip(archive, parent)
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()
    assert not parent.exists() or not list(parent.iterdir())


def test_import_refuses_symlinks_bombs_and_non_projects(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip_with({"evil/project.json": MANIFEST_BYTES}, symlink="evil/takes/link"))
    with pytest.raises(ValueError, match="symbolic link"):
        import_zip(archive, tmp_path / "projects")
    archive.write_bytes(_zip_with({"evil/project.json": MANIFEST_BYTES, "evil/big.bin": b"\0" * (8 << 20)}))
    with pytest.raises(ValueError, match="zip bomb"):
        import_zip(archive, tmp_path / "projects")
    with pytest.raises(ValueError, match="GB"):
        import_zip(archive, tmp_path / "projects", max_bytes=1000)
    archive.write_bytes(_zip_with({"readme.txt": b"hello"}))
    with pytest.raises(ValueError, match="no project.json"):
        import_zip(archive, tmp_path / "projects")
    archive.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a zip"):
        import_zip(archive, tmp_path / "projects")
    archive.write_bytes(_zip_with({"evil/project.json": b"{ broken"}))
    with pytest.raises(ProjectError):
        import_zip(archive, tmp_path / "projects")
    assert not (tmp_path / "projects").exists() or not list((tmp_path / "projects").iterdir())


def test_import_of_a_version_1_zip_migrates(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for path in FIXTURE_V1.rglob("*"):
            if path.is_file():
                z.write(path, "old/" + path.relative_to(FIXTURE_V1).as_posix())
    (tmp_path / "old.zip").write_bytes(buffer.getvalue())
    project = import_zip(tmp_path / "old.zip", tmp_path / "projects", name="从旧版导入")
    assert project.root.name == "从旧版导入" and project.recovery.migrated_from == 1
    assert TakeStore(project).ids() == ["t0001", "t0002"]


def test_interrupted_imports_are_cleaned_after_an_hour(tmp_path):
    import os
    import time

    project = Project.open(tmp_path / "src")
    archive = project.export_zip(tmp_path / "src.zip")
    parent = tmp_path / "projects"
    old, fresh = parent / f"{TEMP_PREFIX}import-old00000", parent / f"{TEMP_PREFIX}import-new00000"
    for folder in (old, fresh):
        (folder / "takes").mkdir(parents=True)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    import_zip(archive, parent)
    assert not old.exists() and fresh.exists()


def test_import_refuses_foreign_or_newer_manifests_and_leaves_nothing(tmp_path):
    for manifest, message in (({"name": "web app"}, "not a Lantern Studio project"),
                              ({"schema_version": 7}, "newer Lantern Studio")):
        archive = tmp_path / "x.zip"
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("x/project.json", json.dumps(manifest))
        with pytest.raises(ProjectError, match=message):
            import_zip(archive, tmp_path / "projects")
        assert not list((tmp_path / "projects").iterdir())
