"""Atomic file writes: a crash never leaves a half-written file under a final name.

Every write goes to a temporary file in the same folder, is flushed and fsynced, then renamed into place
(``os.replace`` is atomic on POSIX and Windows for paths on one filesystem).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

TEMP_PREFIX = ".partial-"
# the exact names this studio's writers give their temporaries: ``tempfile.mkstemp`` here (eight characters of
# [a-z0-9_] and the final suffix) and the video encoder (``.partial-<pid>-<thread>-<final name>``); another
# program's ``.partial-something`` matches neither and is never cleaned
OWN_PARTIAL_NAME = re.compile(r"^\.partial-(?:[a-z0-9_]{8}(?:\.[A-Za-z0-9_-]{1,16})?|\d{1,10}-\d{1,24}-[^/\\]{1,255})$")
# a leftover younger than this may belong to a writer that is still running
STALE_PARTIAL_AGE_S = 3600.0


@contextlib.contextmanager
def atomic_output_path(final_path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it onto ``final_path`` only on success.

    Use it for writers that want a path (soundfile, PyAV, PIL). The temporary keeps the final suffix so
    format detection by extension still works. On an exception the temporary is removed and nothing under
    ``final_path`` changes.
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix if suffix is not None else final.suffix,
                                         dir=final.parent)
    os.close(handle)
    temp = Path(temp_name)
    # mkstemp creates owner-only files; give the final file the mode an ordinary open() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    try:
        yield temp
        _fsync_path(temp)
        os.replace(temp, final)
        _fsync_dir(final.parent)
    finally:
        if temp.exists():
            temp.unlink()


def atomic_write_bytes(final_path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``final_path`` atomically and return the final path."""
    with atomic_output_path(final_path) as temp:
        with open(temp, "wb") as stream:
            stream.write(data)
    return Path(final_path)


def atomic_write_text(final_path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(final_path, text.encode("utf-8"))


def atomic_write_json(final_path: str | os.PathLike, value: Any) -> Path:
    return atomic_write_text(final_path, json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def is_partial(path: str | os.PathLike) -> bool:
    """True for the temporary files this module leaves behind only when a process is killed mid-write."""
    return Path(path).name.startswith(TEMP_PREFIX)


def is_own_partial(name: str) -> bool:
    """True when ``name`` (a base name) is one this studio's writers give their temporaries."""
    return bool(OWN_PARTIAL_NAME.match(name))


def remove_stale_partials(folder: str | os.PathLike, *, older_than_s: float = STALE_PARTIAL_AGE_S,
                          now: float | None = None) -> list[Path]:
    """Delete this studio's temporaries left in ``folder`` (not below it) by a killed run; returns what was deleted.

    Only regular files whose names match ``OWN_PARTIAL_NAME`` and that were last changed more than
    ``older_than_s`` seconds ago are deleted: a fresh one may belong to a run that is still writing, and any other
    name, link, folder or special file is left alone. A missing folder is not an error.
    """
    if older_than_s < 0:
        raise ValueError("older_than_s must be zero or more seconds")
    cutoff = (time.time() if now is None else now) - older_than_s
    removed = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if not is_own_partial(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except FileNotFoundError:       # another run cleaned it first
            continue
    return removed


def _fsync_path(path: Path) -> None:
    with open(path, "rb") as stream:
        os.fsync(stream.fileno())


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
