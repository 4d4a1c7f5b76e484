"""The temporary folder of one studio or command run: ``<LANTERN_HOME>/tmp/run-<pid>``.

Everything temporary a run makes goes there: Gradio's uploads and outputs (``GRADIO_TEMP_DIR``), Python's
``tempfile`` (pydub's scratch files included) and child processes' temp files (``TMPDIR``, read by ffmpeg and
others). A run deletes only the folder it created; anything else under ``tmp/`` (a user's own notes) is never
touched. A run that was killed leaves its folder behind: the next run removes it, but only when the folder
carries this studio's marker file, written on this machine (a home shared with a container or another computer
sees other pids), and no process with that pid is alive any more.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
import weakref
from pathlib import Path

MARKER_NAME = ".lantern-run.json"
RUN_NAME = re.compile(r"^run-(\d{1,10})$")


class RunTempError(RuntimeError):
    """The run's temporary folder cannot be made; the message says what is in the way."""


def run_folder_name(pid: int | None = None) -> str:
    return f"run-{os.getpid() if pid is None else int(pid)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # alive, owned by someone else
        return True
    return True


def _is_own_run_folder(path: Path) -> int | None:
    """The pid of the run that made ``path``, if it is a real folder named ``run-<pid>`` holding our marker."""
    match = RUN_NAME.match(path.name)
    if match is None or path.is_symlink() or not path.is_dir():
        return None
    marker = path / MARKER_NAME
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        recorded_pid, recorded_host = recorded.get("pid"), recorded.get("host")
    except (OSError, ValueError, AttributeError):
        return None
    pid = int(match.group(1))
    return pid if recorded_pid == pid and recorded_host == socket.gethostname() else None


def sweep_stale_runs(temp_root: str | os.PathLike) -> list[Path]:
    """Remove the folders under ``temp_root`` left by studio runs that are no longer alive; return them.

    Only folders named ``run-<pid>`` that hold this studio's marker (recording that same pid) are candidates,
    and only when that pid is not running; everything else is left alone.
    """
    root = Path(temp_root)
    removed = []
    if root.is_symlink() or not root.is_dir():
        return removed
    for entry in root.iterdir():
        pid = _is_own_run_folder(entry)
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def claim(run_dir: str | os.PathLike, *, environ: dict | None = None) -> Path:
    """Create this run's folder, point ``tempfile`` and child processes (``TMPDIR``) at it, sweep stale runs'
    folders beside it, and remove it when the interpreter exits.

    Raises
    ------
    RunTempError
        A file, link or foreign folder already has the run folder's name.
    """
    env = os.environ if environ is None else environ
    folder = Path(run_dir)
    root = folder.parent
    root.mkdir(parents=True, exist_ok=True)
    sweep_stale_runs(root)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise RunTempError(f"{folder} is in the way of the studio's temporary folder; move it elsewhere and start "
                           "again")
    if folder.exists():
        if _is_own_run_folder(folder) is None:
            raise RunTempError(f"{folder} exists but was not made by Lantern Studio on this machine; move it "
                               "elsewhere and start again")
        shutil.rmtree(folder)            # a dead run's leftover whose pid this process now has
    folder.mkdir()
    marker = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    (folder / MARKER_NAME).write_text(json.dumps(marker), encoding="utf-8")
    tempfile.tempdir = str(folder)
    env["TMPDIR"] = str(folder)
    # a finalizer, not an atexit hook: at exit Python runs finalizers newest first, so the finalizers of temporary
    # folders made inside this one (tempfile's, phonemizer's) run before it and find their folders still there
    owner = _RunFolderOwner()
    _OWNERS.append(owner)
    weakref.finalize(owner, release, folder)
    return folder


class _RunFolderOwner:
    """Lives until the interpreter exits (kept in ``_OWNERS``); its finalizer deletes the run folder."""


_OWNERS: list[_RunFolderOwner] = []


def release(run_dir: str | os.PathLike) -> None:
    """Delete this run's folder (only if it is ours), then ``tmp/`` itself if that left it empty."""
    folder = Path(run_dir)
    if _is_own_run_folder(folder) == os.getpid():
        shutil.rmtree(folder, ignore_errors=True)
    if tempfile.tempdir == str(folder):
        tempfile.tempdir = None
    try:
        folder.parent.rmdir()            # only succeeds when empty: a user's files there keep it
    except OSError:
        pass
