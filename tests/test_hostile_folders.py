"""A project folder the user (or another program) filled with traps: links out of the project, a linked
``.trash``, FIFOs and devices where JSON should be, JSON nested ten thousand deep, other programs' ``.partial-*``
files, a folder that is not a project. Nothing outside the project is deleted, moved or followed, nothing hangs,
and each refusal says what to do."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lantern_studio.engines.atomic import OWN_PARTIAL_NAME, TEMP_PREFIX, atomic_write_bytes, remove_stale_partials
from lantern_studio.engines.bounded import BoundedInputError, load_json_file, parse_json, read_regular_file
from lantern_studio.engines.music.base import Take
from lantern_studio.engines.music.takes import TakeNotFound, TakeStore
from lantern_studio.engines.project import Project, ProjectError, TrashPolicy

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(os, "symlink"),
                                reason="FIFOs and symbolic links are POSIX")


def small_take(seed: int) -> Take:
    rng = np.random.default_rng(seed)
    return Take(engine="composer", seed=seed, sample_rate=48_000, id=f"take-{seed:04d}",
                audio=rng.uniform(-0.5, 0.5, (960, 2)).astype(np.float32), prompt=f"p{seed}")


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (links not followed) with the SHA-256 of its bytes: the oracle for 'untouched'."""
    found = {}
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                found[str(path.relative_to(folder))] = "link->" + os.readlink(path)
            else:
                found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture()
def outside(tmp_path):
    """A user's folder outside the project, with files that must survive everything below."""
    folder = tmp_path / "Documents"
    (folder / "deep").mkdir(parents=True)
    (folder / "thesis.txt").write_text("four years of work")
    (folder / "deep" / "photo.png").write_bytes(os.urandom(2048))
    return folder


def run_with_deadline(action, timeout_s: float = 20.0):
    """Run ``action`` in a thread; returns (finished, result or exception, seconds). A hang cannot stall the suite."""
    box: dict = {}

    def target():
        try:
            box["value"] = action()
        except BaseException as error:   # the refusal is the result under test
            box["value"] = error

    start = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return not thread.is_alive(), box.get("value"), time.monotonic() - start


def unblock_fifo(path: Path) -> None:
    """Open the FIFO's other end without blocking, so a reader stuck in open() (a failing test) is released."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


# ---- the trash: a linked .trash, links in takes/ ----------------------------------------------------------


def test_a_linked_trash_is_refused_and_the_outside_files_survive(tmp_path, outside):
    project = Project.open(tmp_path / "p")
    before = snapshot(outside)
    project.close()
    trash = tmp_path / "p" / ".trash"
    trash.rmdir()
    trash.symlink_to(outside, target_is_directory=True)
    project = Project.open(tmp_path / "p")            # opens: only the trash is off
    assert "is a link" in project.trash_problem() and "Remove the link" in project.trash_problem()
    assert project.trash_items() == [] and project.trash_bytes() == 0
    with pytest.raises(ProjectError, match="is a link"):
        project.empty_trash()
    with pytest.raises(ProjectError, match="is a link"):
        project.empty_trash(older_than_s=0)
    with pytest.raises(ProjectError, match="is a link"):
        project.prune_trash(TrashPolicy(max_age_days=1e-9, max_bytes=1))
    script = atomic_write_bytes(project.story_dir / "script.txt", b"scene 1")
    with pytest.raises(ProjectError, match="is a link"):
        project.move_to_trash(script)
    assert script.read_bytes() == b"scene 1"            # not moved either
    store = TakeStore(project)
    store.save(small_take(1))
    with pytest.raises(ProjectError, match="is a link"):
        store.delete("take-0001")
    assert store.ids() == ["take-0001"]
    assert snapshot(outside) == before and trash.is_symlink()


def test_links_and_user_folders_in_takes_are_left_alone(tmp_path, outside):
    root = tmp_path / "p"
    project = Project.open(root)
    story_file = atomic_write_bytes(project.story_dir / "script.txt", b"the real story")
    before_outside, before_story = snapshot(outside), snapshot(project.story_dir)
    (project.takes_dir / "evil").symlink_to(outside, target_is_directory=True)
    (project.takes_dir / "story-link").symlink_to(Path("..") / "story", target_is_directory=True)
    (project.takes_dir / "file-link").symlink_to(outside / "thesis.txt")
    (project.takes_dir / "my-notes").mkdir()
    (project.takes_dir / "my-notes" / "todo.txt").write_text("call the drummer")
    unfinished = project.takes_dir / "20260101-000000-aaaaaa"      # what a killed save leaves: audio, no sidecar
    (unfinished / "stems").mkdir(parents=True)
    (unfinished / "audio.wav").write_bytes(b"RIFF....")
    (unfinished / "stems" / "drums.wav").write_bytes(b"RIFF....")
    project.close()

    reopened = Project.open(root)
    report = reopened.recovery
    assert sorted(report.left_alone) == ["takes/evil", "takes/file-link", "takes/my-notes", "takes/story-link"]
    assert [Path(p).name for p in report.incomplete] == ["20260101-000000-aaaaaa"]
    assert "did not make" in report.summary()
    assert snapshot(outside) == before_outside and snapshot(reopened.story_dir) == before_story
    assert story_file.read_bytes() == b"the real story"
    assert (reopened.takes_dir / "my-notes" / "todo.txt").read_text() == "call the drummer"
    for link in ("evil", "story-link", "file-link"):
        assert (reopened.takes_dir / link).is_symlink()
        with pytest.raises(ProjectError, match="is a link"):
            reopened.move_to_trash(reopened.takes_dir / link)
    # a linked folder holding a take.json is not listed as a take (the link is not followed)
    (outside / "take.json").write_text(json.dumps({"engine": "composer"}))
    (reopened.takes_dir / "linked-take").symlink_to(outside, target_is_directory=True)
    assert TakeStore(reopened).ids() == []
    with pytest.raises(TakeNotFound):
        TakeStore(reopened).delete("linked-take")
    assert reopened.empty_trash() == 1                 # only the unfinished take was ever in the trash
    (outside / "take.json").unlink()
    assert snapshot(outside) == before_outside


def test_a_linked_trash_entry_is_deleted_as_a_link(tmp_path, outside):
    project = Project.open(tmp_path / "p")
    before = snapshot(outside)
    (project.trash_dir / "20200101-000000-000000-abcdef").symlink_to(outside, target_is_directory=True)
    assert project.trash_items() == []                 # not an entry this studio made: nothing to restore
    with pytest.raises(ProjectError, match="not in the project's trash"):
        project.restore_from_trash("20200101-000000-000000-abcdef")
    assert project.empty_trash() == 1
    assert not os.path.lexists(project.trash_dir / "20200101-000000-000000-abcdef") and snapshot(outside) == before


# ---- recovery touches only the studio's own temporaries ----------------------------------------------------


def test_recovery_deletes_only_its_own_temporaries_in_its_own_folders(tmp_path):
    root = tmp_path / "p"
    project = Project.open(root)
    ours = [project.renders_dir / f"{TEMP_PREFIX}abcd1234.mp4", root / f"{TEMP_PREFIX}q9_x0abc.json",
            project.renders_dir / "mixes" / "a" / f"{TEMP_PREFIX}zz99yy88.wav",
            project.renders_dir / f"{TEMP_PREFIX}4242-140001-animatic.mp4",
            project.trash_dir / "20260101-000000-000000-abcdef" / f"{TEMP_PREFIX}entry123.json"]
    theirs = [root / "Documents" / ".partial-x", root / "Documents" / f"{TEMP_PREFIX}abcd1234.wav",
              project.renders_dir / ".partial-x", project.story_dir / ".partial-notes.txt",
              project.trash_dir / f"{TEMP_PREFIX}abcd1234.wav"]
    for path in ours + theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"bytes")
    # a project nested in renders/: its temporaries are its own studio's business
    nested = Project.open(project.renders_dir / "child")
    nested_partial = nested.takes_dir / f"{TEMP_PREFIX}nest1234.wav"
    nested_partial.write_bytes(b"being written by another studio")
    link_partial = project.renders_dir / f"{TEMP_PREFIX}link1234.wav"
    link_partial.symlink_to(root / "Documents" / ".partial-x")
    project.close()

    reopened = Project.open(root)
    assert sorted(reopened.recovery.removed) == sorted(p.relative_to(root).as_posix() for p in ours)
    assert not any(p.exists() for p in ours)
    assert all(p.read_bytes() == b"bytes" for p in theirs)
    assert nested_partial.read_bytes() == b"being written by another studio"
    assert link_partial.is_symlink()
    assert not (project.trash_dir / "20260101-000000-000000-abcdef").exists()   # the entry whose move never happened
    nested.close()


def test_another_studios_unfinished_take_is_left_alone_while_it_has_the_project_open(tmp_path):
    root = tmp_path / "p"
    first = Project.open(root)
    in_progress = first.takes_dir / "take-0009"
    in_progress.mkdir()
    (in_progress / "audio.wav").write_bytes(b"RIFF")
    (first.takes_dir / f"{TEMP_PREFIX}abcd1234.wav").write_bytes(b"RIFF")
    second = Project.open(root)                        # the first still holds its lock
    assert sorted(second.recovery.kept) == [f"takes/{TEMP_PREFIX}abcd1234.wav", "takes/take-0009"]
    assert (in_progress / "audio.wav").exists() and (first.takes_dir / f"{TEMP_PREFIX}abcd1234.wav").exists()
    first.close()
    second.close()


# ---- a folder that is not a project is never adopted -------------------------------------------------------


def test_opening_a_folder_with_files_is_refused_and_changes_nothing(tmp_path, outside):
    before = snapshot(outside)
    names = sorted(p.name for p in outside.iterdir())
    with pytest.raises(ProjectError, match=r"not a Lantern Studio project.*Create a new project.*--project"):
        Project.open(outside)
    assert sorted(p.name for p in outside.iterdir()) == names and snapshot(outside) == before
    # the parent of a project is not a project either: its child's files are never reached
    child = Project.open(tmp_path / "work" / "drama")
    (child.renders_dir / f"{TEMP_PREFIX}abcd1234.mp4").write_bytes(b"in progress")
    with pytest.raises(ProjectError, match="already holds files"):
        Project.open(tmp_path / "work")
    assert (child.renders_dir / f"{TEMP_PREFIX}abcd1234.mp4").read_bytes() == b"in progress"
    child.close()


def test_an_empty_folder_or_an_interrupted_creation_still_becomes_a_project(tmp_path):
    (tmp_path / "empty").mkdir()
    assert Project.open(tmp_path / "empty").manifest["schema_version"] >= 1
    half = tmp_path / "half"
    for sub in ("takes", "stems", ".trash"):
        (half / sub).mkdir(parents=True)
    (half / ".lantern.lock").write_bytes(b"")
    assert (Project.open(half).root / "project.json").is_file()


# ---- special files and bounded JSON --------------------------------------------------------------------------


def test_a_fifo_project_json_is_refused_without_blocking(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    os.mkfifo(root / "project.json")
    try:
        finished, result, seconds = run_with_deadline(lambda: Project.open(root))
    finally:
        unblock_fifo(root / "project.json")
    assert finished, "Project.open blocked on a FIFO"
    assert isinstance(result, ProjectError) and "FIFO" in str(result) and "not open" in str(result)
    assert seconds < 1.0, f"the refusal took {seconds:.2f} s"


def test_a_fifo_or_device_never_blocks_a_read(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    try:
        finished, result, _ = run_with_deadline(lambda: load_json_file(fifo))
    finally:
        unblock_fifo(fifo)
    assert finished and isinstance(result, BoundedInputError) and "FIFO" in str(result)
    if os.path.exists("/dev/zero"):
        with pytest.raises(BoundedInputError, match="device"):
            read_regular_file("/dev/zero", max_bytes=10)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 101)
    with pytest.raises(BoundedInputError, match="at most 100 bytes"):
        read_regular_file(big, max_bytes=100)


def test_json_depth_is_capped_and_never_a_recursion_error():
    assert parse_json(b'{"a": [[1, 2], {"b": null}]}') == {"a": [[1, 2], {"b": None}]}
    assert parse_json("[" * 64 + "]" * 64, max_depth=64) == json.loads("[" * 64 + "]" * 64)
    for depth in (65, 5_000, 200_000):
        with pytest.raises(BoundedInputError, match="64 levels deep"):
            parse_json("[" * depth + "]" * depth, max_depth=64)


def test_one_damaged_take_never_breaks_the_list_and_can_be_trashed(tmp_path):
    project = Project.open(tmp_path / "p")
    store = TakeStore(project)
    for seed in range(1, 5):
        store.save(small_take(seed))
    deep = project.takes_dir / "take-0002" / "take.json"
    deep.write_text('{"engine": ' + "[" * 50_000 + "]" * 50_000 + "}")
    fifo = project.takes_dir / "take-0003" / "take.json"
    fifo.unlink()
    os.mkfifo(fifo)
    huge = project.takes_dir / "take-0004" / "take.json"
    huge.write_bytes(b'{"notes": "' + b"x" * (9 * 1024 * 1024) + b'"}')
    try:
        finished, listed, _ = run_with_deadline(lambda: [t.id for t in store.list()])
        assert finished, "listing takes blocked on a FIFO sidecar"
        assert listed == ["take-0001"]
        damaged = dict(store.damaged())
        assert sorted(damaged) == ["take-0002", "take-0003", "take-0004"]
        assert "depth limit" in damaged["take-0002"] and "FIFO" in damaged["take-0003"]
        assert "size limit" in damaged["take-0004"]
        for take_id in sorted(damaged):
            store.delete(take_id)                      # "move to trash" works on a damaged take
        assert store.ids() == ["take-0001"] and store.damaged() == []
        assert {item.reason for item in project.trash_items()} == {"damaged take deleted"}
        finished, trashed, _ = run_with_deadline(lambda: [t.id for t in store.trashed()])
        assert finished and trashed == []              # damaged sidecars in the trash are skipped, not read forever
    finally:
        for path in project.trash_dir.rglob("take.json"):
            if path.is_fifo():
                unblock_fifo(path)


def test_saving_a_take_that_could_not_be_read_back_is_refused(tmp_path):
    store = TakeStore(Project.open(tmp_path / "p"))
    take = small_take(1)
    nested: list = []
    for _ in range(80):
        nested = [nested]
    take.params = {"deep": nested}
    with pytest.raises(ValueError, match="levels deep"):
        store.save(take)
    assert store.ids() == []


# ---- the trash's cap ------------------------------------------------------------------------------------------


def _entry(project: Project, days_ago: float, size_bytes: int, now: float) -> str:
    when = dt.datetime.fromtimestamp(now - days_ago * 86_400)
    name = when.strftime("%Y%m%d-%H%M%S-%f") + "-" + os.urandom(3).hex()
    folder = project.trash_dir / name
    folder.mkdir()
    (folder / "entry.json").write_text(json.dumps({"original": "story/x.bin", "deleted": when.isoformat()}))
    (folder / "x.bin").write_bytes(b"\0" * size_bytes)
    return name


def test_the_trash_is_pruned_by_age_then_by_size_oldest_first(tmp_path):
    project = Project.open(tmp_path / "p")
    now = time.time()
    old = _entry(project, 40, 10, now)
    middle = [_entry(project, days, 1_000, now) for days in (20, 10, 5)]
    newest = _entry(project, 0.01, 1_000, now)
    pruned = project.prune_trash(TrashPolicy(max_age_days=30, max_bytes=2_900), now=now)
    # the 40-day entry by age, then the two oldest of the rest until at most 2,900 bytes are left
    assert pruned == [old, middle[0], middle[1]]
    assert sorted(p.name for p in project.trash_dir.iterdir()) == sorted([middle[2], newest])
    assert project.trash_bytes() <= 2_900
    assert project.prune_trash(TrashPolicy(max_age_days=30, max_bytes=2_900), now=now) == []


def test_opening_a_project_applies_the_trash_policy_from_the_environment(tmp_path, monkeypatch):
    project = Project.open(tmp_path / "p")
    now = time.time()
    old = _entry(project, 3, 10, now)
    kept = _entry(project, 1, 10, now)
    project.close()
    monkeypatch.setenv("LANTERN_TRASH_MAX_DAYS", "2")
    reopened = Project.open(tmp_path / "p")
    assert reopened.recovery.pruned == [old] and [i.entry for i in reopened.trash_items()] == [kept]
    assert "2 days" in reopened.trash_policy.describe()
    assert "trash" in reopened.recovery.summary()
    monkeypatch.setenv("LANTERN_TRASH_MAX_GB", "lots")
    with pytest.raises(ProjectError, match="LANTERN_TRASH_MAX_GB"):
        Project.open(tmp_path / "p")
    assert TrashPolicy().describe() == "30 days or 5.0 GB, whichever comes first"


# ---- leftovers in an output folder ---------------------------------------------------------------------------


def test_stale_partials_in_an_output_folder_are_cleaned_by_name_and_age(tmp_path):
    now = time.time()
    old, fresh = now - 7_200, now - 60
    files = {f"{TEMP_PREFIX}abcd1234.wav": old, f"{TEMP_PREFIX}abcd5678.flac": fresh, ".partial-x": old,
             f"{TEMP_PREFIX}99-140001-animatic.mp4": old, "take_mix.wav": old}
    for name, when in files.items():
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (when, when))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f"{TEMP_PREFIX}abcd9999.wav").write_bytes(b"x")
    os.utime(tmp_path / "sub" / f"{TEMP_PREFIX}abcd9999.wav", (old, old))
    removed = remove_stale_partials(tmp_path, now=now)
    assert sorted(p.name for p in removed) == [f"{TEMP_PREFIX}99-140001-animatic.mp4", f"{TEMP_PREFIX}abcd1234.wav"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{TEMP_PREFIX}abcd5678.flac", ".partial-x", "take_mix.wav", "sub"])
    assert (tmp_path / "sub" / f"{TEMP_PREFIX}abcd9999.wav").exists()
    assert remove_stale_partials(tmp_path / "missing") == []
    assert OWN_PARTIAL_NAME.match(f"{TEMP_PREFIX}abcd1234") and not OWN_PARTIAL_NAME.match(".partial-x")


# ---- the Music tab's list with a damaged take ---------------------------------------------------------------


def test_the_music_list_shows_a_damaged_take_that_delete_moves_to_the_trash(tmp_path):
    from lantern_studio.engines.settings import Settings
    from lantern_studio.studio import tab_music
    from lantern_studio.studio.context import StudioContext

    settings = Settings(home=tmp_path / "home", project_dir=tmp_path / "p", models_dir=tmp_path / "models")
    ctx = StudioContext(settings=settings, project=Project.open(tmp_path / "p"))
    store = TakeStore(ctx.project)
    for seed in (1, 2):
        store.save(small_take(seed))
    (ctx.project.takes_dir / "take-0002" / "take.json").write_text("[" * 100_000 + "]" * 100_000)
    rows = tab_music._rows(ctx, False, "all", "", "newest first")
    assert all(len(row) == len(tab_music.HEADERS) for row in rows)
    assert [row[-1] for row in rows] == ["take-0001", "take-0002"]
    assert "damaged" in rows[1][2] and "Delete" in rows[1][4]
    info = tab_music._detail(ctx, "take-0002")[2]
    assert "damaged" in info and "Delete" in info and "depth limit" in info
    store.delete("take-0002")                          # what the Delete button calls
    assert [row[-1] for row in tab_music._rows(ctx, False, "all", "", "newest first")] == ["take-0001"]


def test_the_project_bar_shows_the_trash_cap_and_refuses_a_linked_trash(tmp_path, outside):
    from lantern_studio.studio.project_bar import _trash_status

    project = Project.open(tmp_path / "p", trash_policy=TrashPolicy(max_age_days=7, max_bytes=2 * 10**9))
    line = _trash_status(project)
    assert line.startswith("The trash is empty.") and "7 days or 2.0 GB, whichever comes first" in line
    project.move_to_trash(atomic_write_bytes(project.story_dir / "a.txt", b"x" * 1500))
    assert _trash_status(project).startswith("The trash holds 1 item(s), 1.") and "7 days" in _trash_status(project)
    project.close()
    trash = tmp_path / "p" / ".trash"
    for entry in trash.iterdir():
        for item in entry.iterdir():
            item.unlink()
        entry.rmdir()
    trash.rmdir()
    trash.symlink_to(outside, target_is_directory=True)
    line = _trash_status(Project.open(tmp_path / "p"))
    assert line.startswith("⚠️") and "is a link" in line and "thesis" not in line


def test_a_linked_lock_file_is_refused_and_nothing_is_created_outside(tmp_path, outside):
    project = Project.open(tmp_path / "p")
    project.close()
    lock = tmp_path / "p" / ".lantern.lock"
    lock.unlink()
    lock.symlink_to(outside / "made-by-the-studio.lock")          # dangling: O_CREAT would create it out there
    with pytest.raises(ProjectError, match=r"\.lantern\.lock is a link"):
        Project.open(tmp_path / "p")
    assert not (outside / "made-by-the-studio.lock").exists()


def test_fifo_story_files_are_refused_without_blocking(tmp_path):
    from lantern_studio.engines.story import store as story_store

    project = Project.open(tmp_path / "p")
    for name in ("script.txt", "storyboard.json"):
        os.mkfifo(project.story_dir / name)
    try:
        for load in (story_store.load_script, story_store.load_storyboard):
            finished, result, _ = run_with_deadline(lambda: load(project))
            assert finished, f"{load.__name__} blocked on a FIFO"
            assert isinstance(result, story_store.StoryStoreError) and "FIFO" in str(result)
    finally:
        for name in ("script.txt", "storyboard.json"):
            unblock_fifo(project.story_dir / name)


# ---- the Storyboard tab's script caps ------------------------------------------------------------------------


def test_the_storyboard_tab_gives_the_script_caps_message_and_saves_nothing(tmp_path, monkeypatch):
    from lantern_studio.engines.errors import UserInputError
    from lantern_studio.engines.settings import Settings
    from lantern_studio.engines.story import store as story_store
    from lantern_studio.engines.story.shots import PlanOptions
    from lantern_studio.studio import tab_storyboard
    from lantern_studio.studio.context import StudioContext

    settings = Settings(home=tmp_path / "home", project_dir=tmp_path / "p", models_dir=tmp_path / "models")
    ctx = StudioContext(settings=settings, project=Project.open(tmp_path / "p"))
    root = str(ctx.project.root)
    speeds = PlanOptions()
    long_script = "".join(f"甲：第{i}句。\n" for i in range(20_000))
    with pytest.raises(UserInputError, match="20,000 lines; the cap is 10,000 lines"):
        tab_storyboard.on_parse(ctx, root, long_script, "auto", speeds.chars_per_second_zh,
                                speeds.chars_per_second_en, speeds.min_duration_s)
    monkeypatch.setenv("LANTERN_MAX_SHOTS", "3")
    with pytest.raises(UserInputError, match="the cap is 3 shots"):
        tab_storyboard.on_parse(ctx, root, "".join(f"甲：第{i}句。\n" for i in range(12)), "auto",
                                speeds.chars_per_second_zh, speeds.chars_per_second_en, speeds.min_duration_s)
    assert story_store.load_script(ctx.project) == "" and story_store.load_storyboard(ctx.project) is None


def test_exporting_a_project_with_a_fifo_in_it_skips_the_fifo_without_blocking(tmp_path):
    import zipfile

    project = Project.open(tmp_path / "p")
    atomic_write_bytes(project.story_dir / "script.txt", b"scene 1")
    os.mkfifo(project.story_dir / "pipe")
    try:
        finished, result, _ = run_with_deadline(lambda: project.export_zip(tmp_path / "p.zip"))
    finally:
        unblock_fifo(project.story_dir / "pipe")
    assert finished and result == tmp_path / "p.zip"
    names = zipfile.ZipFile(result).namelist()
    assert "p/story/script.txt" in names and "p/story/pipe" not in names


def test_without_flock_a_live_pid_in_the_lock_file_keeps_another_studios_leftovers(tmp_path, monkeypatch):
    import subprocess
    import sys

    from lantern_studio.engines import project as project_module

    monkeypatch.setattr(project_module, "_fcntl", None)         # as on a filesystem without flock
    root = tmp_path / "p"
    first = Project.open(root)
    assert (root / ".lantern.lock").read_text() == f"{os.getpid()}\n"
    first.close()
    assert (root / ".lantern.lock").read_text() == ""          # closed: no studio claims it any more
    leftover = root / "renders" / f"{TEMP_PREFIX}abcd1234.mp4"
    leftover.write_bytes(b"an animatic being encoded")
    hours_ago = time.time() - 7_200                             # old enough for the age rule alone to remove it
    os.utime(leftover, (hours_ago, hours_ago))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (root / ".lantern.lock").write_text(f"{other.pid}\n")   # another studio, alive, opened it last
        report = Project.open(root).recovery
        assert report.kept == [f"renders/{TEMP_PREFIX}abcd1234.mp4"] and leftover.exists()
    finally:
        other.kill()
        other.wait()
    (root / ".lantern.lock").write_text(f"{other.pid}\n")       # that studio is gone now
    report = Project.open(root).recovery
    assert report.removed == [f"renders/{TEMP_PREFIX}abcd1234.mp4"] and not leftover.exists()
