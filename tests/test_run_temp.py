"""Each run owns ``<home>/tmp/run-<pid>`` and deletes only that: a user's files in ``tmp/`` survive, Python's
``tempfile`` and child processes (``TMPDIR``) write into the run folder, and a killed run's folder is removed
by the next run only when it carries the studio's marker and its pid is dead."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lantern_studio.engines.run_temp import MARKER_NAME, RunTempError, sweep_stale_runs
from lantern_testkit import ROOT

CHILD = """
import json, os, subprocess, sys, tempfile
from pathlib import Path
from lantern_studio.engines import run_temp
early = tempfile.TemporaryDirectory()            # finalizers made before the claim, as importing libraries makes them
folder = run_temp.claim(Path(sys.argv[1]) / run_temp.run_folder_name())
scratch = tempfile.NamedTemporaryFile(delete=False)
child_tmp = subprocess.run(["sh", "-c", "echo $TMPDIR"], capture_output=True, text=True).stdout.strip()
print(json.dumps({"folder": str(folder), "scratch": scratch.name, "child_tmp": child_tmp,
                  "exists_while_running": folder.is_dir()}))
"""


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _run(temp_root: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(temp_root)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_run_uses_and_deletes_only_its_own_folder(tmp_path):
    temp_root = tmp_path / "tmp"
    notes = temp_root / "mywork" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("my own notes")
    seen = _run(temp_root)
    folder = Path(seen["folder"])
    assert seen["exists_while_running"] and folder.parent == temp_root
    assert Path(seen["scratch"]).parent == folder and seen["child_tmp"] == str(folder)
    assert not folder.exists()                         # removed at exit, with the scratch file in it
    assert notes.read_text() == "my own notes"         # the user's file beside it is untouched


def test_an_emptied_tmp_folder_is_removed_too(tmp_path):
    _run(tmp_path / "tmp")
    assert not (tmp_path / "tmp").exists()


def test_stale_runs_are_swept_only_when_marked_and_dead(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f"run-{dead}"
    stale.mkdir()
    here = socket.gethostname()
    (stale / MARKER_NAME).write_text(json.dumps({"pid": dead, "host": here}))
    (stale / "upload.wav").write_bytes(b"x" * 100)
    unmarked = tmp_path / f"run-{dead + 1}"          # looks like a run folder but the studio did not make it
    unmarked.mkdir()
    (unmarked / "keep.txt").write_text("keep")
    wrong_pid = tmp_path / f"run-{dead + 2}"         # its marker names another pid
    wrong_pid.mkdir()
    (wrong_pid / MARKER_NAME).write_text(json.dumps({"pid": dead, "host": here}))
    elsewhere = tmp_path / f"run-{dead + 4}"         # a run of another machine (or container) sharing the home
    elsewhere.mkdir()
    (elsewhere / MARKER_NAME).write_text(json.dumps({"pid": dead + 4, "host": here + "-other"}))
    live = tmp_path / f"run-{os.getppid()}"           # a live process's folder
    live.mkdir()
    (live / MARKER_NAME).write_text(json.dumps({"pid": os.getppid(), "host": here}))
    outside = tmp_path.parent / f"outside-{dead}"
    outside.mkdir()
    (outside / "precious.txt").write_text("precious")
    link = tmp_path / f"run-{dead + 3}"               # a link named like a run folder, to a marked folder outside
    (outside / MARKER_NAME).write_text(json.dumps({"pid": dead + 3, "host": here}))
    link.symlink_to(outside, target_is_directory=True)

    removed = sweep_stale_runs(tmp_path)
    assert removed == [stale] and not stale.exists()
    assert (unmarked / "keep.txt").exists() and wrong_pid.exists() and live.exists() and elsewhere.exists()
    assert (outside / "precious.txt").exists() and link.is_symlink()


def test_a_foreign_folder_with_the_run_name_is_refused_not_deleted(tmp_path):
    from lantern_studio.engines.run_temp import claim, run_folder_name

    foreign = tmp_path / run_folder_name()
    foreign.mkdir()
    (foreign / "mine.txt").write_text("mine")
    with pytest.raises(RunTempError, match="not made by Lantern Studio on this machine"):
        claim(foreign, environ={})
    assert (foreign / "mine.txt").read_text() == "mine"


def test_temporary_folders_made_inside_the_run_folder_are_cleaned_before_it_at_exit(tmp_path):
    """A library that deletes its own temporary folder at exit (phonemizer, tempfile.TemporaryDirectory) finds it
    still there: the run folder goes last, so the exit prints no traceback and leaves nothing behind."""
    script = f"""
import tempfile, shutil, weakref
from pathlib import Path
from lantern_studio.engines import run_temp
early = tempfile.TemporaryDirectory()            # finalizers made before the claim, as importing libraries makes them
folder = run_temp.claim(Path({str(tmp_path / "home" / "tmp")!r}) / run_temp.run_folder_name())
class Api: pass
api = Api()
made = tempfile.mkdtemp()
weakref.finalize(api, shutil.rmtree, made)        # phonemizer's own clean-up, made after the claim
keep = tempfile.TemporaryDirectory()
print(made)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.strip().startswith(str(tmp_path / "home" / "tmp" / "run-"))
    assert not (tmp_path / "home" / "tmp").exists() or not any((tmp_path / "home" / "tmp").iterdir())
