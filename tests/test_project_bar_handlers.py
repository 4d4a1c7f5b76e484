"""The project bar's handlers called directly (no browser), on real projects in a temporary studio home.

What each handler did is read back from disk: the project folders and their manifests, the recent list, the
exported zip (with ``zipfile``, byte for byte against the project's files) and the trash. A refusal must leave
every output as it was (``gr.update()``), say why in the status line and as a warning toast, and change nothing
on disk.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lantern_studio.engines.atomic import atomic_write_bytes
from lantern_studio.engines.music.base import Take
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.project import MANIFEST, Project, recent_projects, remember_project
from lantern_studio.engines.settings import Settings
from lantern_studio.studio import project_bar as bar
from lantern_studio.studio.context import StudioContext

ROOT, CURRENT, RECENT, RENAME, TRASH, STATUS, VERSION = range(bar.SWITCH_SIZE)
UNCHANGED = {"__type__": "update"}


@pytest.fixture
def ctx(tmp_path) -> StudioContext:
    home = tmp_path / "home"
    settings = Settings(home=home, project_dir=home / "projects" / "first", models_dir=tmp_path / "models")
    project = Project.open(settings.project_dir)
    TakeStore(project).save(Take(engine="composer", seed=7, sample_rate=48_000,
                                 audio=np.linspace(-0.5, 0.5, 9_600, dtype=np.float32).reshape(-1, 2)))
    remember_project(settings.home, project)             # as build_project_bar does at startup
    return StudioContext(settings=settings, project=project)


def recent_paths(ctx: StudioContext) -> list[str]:
    return [Path(entry["path"]).name for entry in recent_projects(ctx.settings.home)]


def project_files(root: Path) -> dict[str, str]:
    """sha256 of every regular file of a project folder, by its path inside it (the lock file left out)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink() and p.name != ".lantern.lock"}


def assert_refused(outputs: tuple, status_index: int, *words: str) -> None:
    assert all(value == UNCHANGED for i, value in enumerate(outputs) if i != status_index), outputs
    assert outputs[status_index].startswith("⚠️ ")
    for word in words:
        assert word in outputs[status_index]


# ---- create, open, rename, forget -------------------------------------------------------------------------

def test_create_makes_the_project_folder_and_opens_it_in_this_window_only(ctx):
    out = bar.do_create(ctx, "元宵 lion dance", 3)
    root = Path(out[ROOT])
    assert root.parent == ctx.settings.projects_dir.resolve() and root.is_dir()
    assert json.loads((root / MANIFEST).read_text(encoding="utf-8"))["name"] == "元宵 lion dance"
    assert out[VERSION] == 4 and out[RENAME] == "元宵 lion dance" and "Created" in out[STATUS]
    assert str(root) in out[CURRENT] and out[RECENT]["value"] == str(root)
    assert recent_paths(ctx)[0] == root.name
    assert ctx.project.root.name == "first"             # the studio's startup project is not switched
    assert ctx.project_at(out[ROOT]).root == root


def test_create_refuses_a_name_in_use_and_a_name_without_letters(ctx):
    first = bar.do_create(ctx, "Lantern night", 0)
    before = project_files(Path(first[ROOT]))
    with pytest.warns(UserWarning, match="already exists"):
        assert_refused(bar.do_create(ctx, "Lantern night", 1), STATUS, "already exists", "choose another name")
    assert project_files(Path(first[ROOT])) == before
    with pytest.warns(UserWarning, match="no usable characters"):
        assert_refused(bar.do_create(ctx, "///", 1), STATUS, "no usable characters")
    assert sorted(p.name for p in ctx.settings.projects_dir.iterdir()) == ["Lantern night", "first"]


def test_open_switches_to_a_folder_and_notes_one_outside_the_served_folders(ctx, tmp_path):
    other = bar.do_create(ctx, "second", 0)
    out = bar.do_open(ctx, f"  {ctx.settings.projects_dir / 'first'}  ", 5)
    assert Path(out[ROOT]) == ctx.project.root and out[VERSION] == 6
    assert out[STATUS].startswith("Opened **first**.") and "restarted" not in out[STATUS]
    assert recent_paths(ctx)[:2] == ["first", Path(other[ROOT]).name]

    Project.open(tmp_path / "elsewhere").close()
    out = bar.do_open(ctx, str(tmp_path / "elsewhere"), 6)
    assert Path(out[ROOT]) == (tmp_path / "elsewhere").resolve()
    assert "until the studio is restarted with <code>--project</code>" in out[STATUS]


def test_open_refuses_an_empty_path_and_a_folder_without_a_project_and_creates_nothing(ctx, tmp_path):
    with pytest.warns(UserWarning, match="Choose a recent project"):
        assert_refused(bar.do_open(ctx, "   ", 2), STATUS, "Choose a recent project")
    (tmp_path / "plain").mkdir()
    with pytest.warns(UserWarning, match="is not a Lantern Studio project"):
        assert_refused(bar.do_open(ctx, str(tmp_path / "plain"), 2), STATUS, "is not a Lantern Studio project")
    assert list((tmp_path / "plain").iterdir()) == []
    with pytest.warns(UserWarning):
        assert_refused(bar.do_open(ctx, str(tmp_path / "nowhere"), 2), STATUS)
    assert not (tmp_path / "nowhere").exists()


def test_rename_with_the_folder_moves_it_and_the_recent_list_follows(ctx):
    created = bar.do_create(ctx, "draft", 0)
    old_root = Path(created[ROOT])
    files = project_files(old_root)
    out = bar.do_rename(ctx, "Lantern night", True, created[ROOT], 1)
    new_root = Path(out[ROOT])
    assert new_root == old_root.parent / "Lantern night" and not old_root.exists()
    assert project_files(new_root) == {**files, MANIFEST: project_files(new_root)[MANIFEST]}
    assert json.loads((new_root / MANIFEST).read_text(encoding="utf-8"))["name"] == "Lantern night"
    assert "draft" not in recent_paths(ctx) and recent_paths(ctx)[0] == "Lantern night"
    assert ctx.project_at(old_root) is ctx.project_at(new_root)     # a window holding the old folder follows
    assert out[STATUS] == "Renamed to **Lantern night**." and out[VERSION] == 2


def test_rename_of_one_window_leaves_the_other_windows_project_alone(ctx):
    created = bar.do_create(ctx, "draft", 0)
    bar.do_rename(ctx, "Only the name", False, created[ROOT], 1)
    assert Path(created[ROOT]).is_dir() and ctx.project_at(created[ROOT]).name == "Only the name"
    assert ctx.project.name == "first"
    with pytest.warns(UserWarning):
        assert_refused(bar.do_rename(ctx, "first", True, created[ROOT], 2), STATUS, "already exists")
    assert Path(created[ROOT]).is_dir()


def test_forget_removes_an_entry_but_not_the_folder_and_never_the_open_project(ctx):
    other = bar.do_create(ctx, "second", 0)
    bar.do_open(ctx, str(ctx.project.root), 1)
    recent, status = bar.do_forget(ctx, other[ROOT], str(ctx.project.root))
    assert "second" not in recent_paths(ctx) and Path(other[ROOT]).is_dir()
    assert [value for _, value in recent["choices"]] == [str(ctx.project.root)] and "not touched" in status
    with pytest.warns(UserWarning, match="That is the open project"):
        assert_refused(bar.do_forget(ctx, str(ctx.project.root), str(ctx.project.root)), 1, "open project")
    assert recent_paths(ctx) == ["first"]


# ---- export and import ------------------------------------------------------------------------------------

def test_export_writes_every_project_file_into_a_zip_and_the_trash_only_when_asked(ctx):
    project = ctx.project
    trashed = project.move_to_trash(atomic_write_bytes(project.story_dir / "old.txt", b"old draft " * 100))
    on_disk = project_files(project.root)
    path, status = bar.do_export(ctx, False, str(project.root), progress=None)
    assert Path(path).parent == ctx.settings.temp_dir / "exports" and Path(path).name.startswith("first-")
    assert "Exported **first**" in status
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert all(name.startswith("first/") for name in names)
        in_zip = {name[len("first/"):]: hashlib.sha256(archive.read(name)).hexdigest() for name in names}
    assert in_zip == {name: digest for name, digest in on_disk.items() if not name.startswith(".trash/")}
    assert any(name.startswith("takes/") for name in in_zip)

    path, _ = bar.do_export(ctx, True, str(project.root), progress=None)
    with zipfile.ZipFile(path) as archive:
        trash_names = [name for name in archive.namelist() if name.startswith("first/.trash/")]
        assert any(archive.read(name) == b"old draft " * 100 for name in trash_names)
    assert trashed.exists()


def test_export_refuses_when_the_exports_folder_cannot_be_made(ctx):
    ctx.settings.temp_dir.mkdir(parents=True)
    (ctx.settings.temp_dir / "exports").write_bytes(b"a file where the folder goes")
    with pytest.warns(UserWarning, match="The export failed"):
        assert_refused(bar.do_export(ctx, False, str(ctx.project.root), progress=None), 1, "The export failed")


def test_import_unpacks_an_export_as_a_new_project_and_opens_it(ctx):
    reports = []
    path, _ = bar.do_export(ctx, False, str(ctx.project.root), progress=lambda f, desc: reports.append((f, desc)))
    assert reports and all(0.0 <= f <= 1.0 for f, _ in reports) and reports[-1][0] == 1.0
    out = bar.do_import(ctx, path, 0, progress=None)
    root = Path(out[ROOT])
    assert root == ctx.settings.projects_dir.resolve() / "first-2" and "Imported and opened" in out[STATUS]
    original = project_files(ctx.project.root)
    imported = project_files(root)
    takes = [name for name in original if name.startswith("takes/")]
    assert takes and all(imported[name] == original[name] for name in takes)
    take = TakeStore(ctx.project_at(root)).load(TakeStore(ctx.project).ids()[0])
    np.testing.assert_array_equal(take.audio, TakeStore(ctx.project).load(take.id).audio)
    assert recent_paths(ctx)[0] == "first-2" and out[VERSION] == 1


def test_import_refuses_no_file_a_file_that_is_not_a_zip_and_a_zip_slip_and_leaves_nothing(ctx, tmp_path):
    before = sorted(p.name for p in ctx.settings.projects_dir.iterdir())
    with pytest.warns(UserWarning, match="Choose a project zip"):
        assert_refused(bar.do_import(ctx, None, 0, progress=None), STATUS, "Choose a project zip")
    not_zip = tmp_path / "notes.zip"
    not_zip.write_bytes(b"these are not the bytes of a zip")
    with pytest.warns(UserWarning, match="The zip was not imported"):
        assert_refused(bar.do_import(ctx, str(not_zip), 0, progress=None), STATUS, "The zip was not imported")
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as archive:
        archive.writestr("p/project.json", json.dumps({"name": "p"}))
        archive.writestr("p/../../escaped.txt", "outside")
    with pytest.warns(UserWarning, match="The zip was not imported"):
        assert_refused(bar.do_import(ctx, str(slip), 0, progress=None), STATUS, "The zip was not imported")
    assert sorted(p.name for p in ctx.settings.projects_dir.iterdir()) == before
    assert not (ctx.settings.home / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()


# ---- the trash and a window's load ------------------------------------------------------------------------

def test_empty_trash_waits_for_the_confirmation_then_deletes_for_good(ctx):
    project = ctx.project
    store = TakeStore(project)
    store.delete(store.ids()[0])
    assert len(project.trash_items()) == 1 and "holds 1 item(s)" in bar.on_load(ctx, str(project.root))[3]
    with pytest.warns(UserWarning, match="Tick 'delete the trash"):
        assert_refused(bar.do_empty(ctx, False, str(project.root)), 2, "cannot be undone")
    assert len(project.trash_items()) == 1
    trash_line, confirm, status = bar.do_empty(ctx, True, str(project.root))
    assert project.trash_items() == [] and not any((project.root / ".trash").iterdir())
    assert trash_line.startswith("The trash is empty.") and confirm is False
    assert status == "Deleted 1 item(s) from the trash for good."


def test_on_load_shows_the_windows_own_project(ctx):
    other = bar.do_create(ctx, "second", 0)
    current, recent, name, trash = bar.on_load(ctx, other[ROOT])
    assert other[ROOT] in current and name == "second" and recent["value"] == other[ROOT]
    assert {value for _, value in recent["choices"]} >= {other[ROOT], str(ctx.project.root)}
    assert trash.startswith("The trash is empty.")
    assert bar.on_load(ctx, None)[2] == "first"          # no window state yet: the startup project
