"""Checks the commands make before any work or write: a wrong path costs nothing and prints no traceback.

- ``check_output_folder``: ``--out`` is a folder that exists or can be made, and can be written.
- ``clean_output_leftovers``: this studio's temporaries that a killed run left in an output folder (exact names,
  older than an hour; another program's files and fresh ones are left alone).
- ``script_limits``: the script caps from the environment (``engines.safety.Limits``) with the command's
  ``--max-script-lines`` / ``--max-shots`` on top.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable

from lantern_studio.engines.atomic import remove_stale_partials
from lantern_studio.engines.safety import Limits


def check_output_folder(path: str | os.PathLike, *, option: str = "--out") -> Path:
    """``path`` when it is a folder that exists or can be made, and can be written; ValueError saying why not."""
    path = Path(path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{option} {path} is a file, not a folder; give a folder to write into (it is made "
                             "if missing)")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{option} {path}: this folder cannot be written; choose another folder")
        return path
    if path.is_symlink():
        raise ValueError(f"{option} {path} is a link to nothing; remove it or give another folder")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{option} {path} cannot be made: {parent} is a file, not a folder; give another folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path} cannot be made: {parent} cannot be written; choose another folder")
    return path


def clean_output_leftovers(folders: Iterable[Path]) -> int:
    """Delete this studio's stale temporaries in ``folders`` (not below them); print and return how many."""
    removed = 0
    for folder in folders:
        try:
            removed += len(remove_stale_partials(folder))
        except OSError as error:        # a leftover we may not delete is reported, never fatal
            print(f"note: could not clean leftovers in {folder}: {error}", file=sys.stderr)
    if removed:
        print(f"removed {removed} unfinished temporary file(s) an interrupted run left in the output folder",
              file=sys.stderr)
    return removed


def check_audio_input(path: str | os.PathLike, *, option: str) -> None:
    """Decode an audio input (``--music``, a ``--dialogue`` file) in full now, so a damaged, truncated or special
    file fails before any output is written (ValueError naming the option, the file and what to do)."""
    from lantern_studio.engines.audio.integrity import read_complete_audio

    try:
        read_complete_audio(path)
    except ValueError as error:           # AudioFileError is a ValueError
        raise ValueError(f"{option}: {error}") from None


def script_limits(args: Any) -> Limits:
    """``Limits.from_environ()`` with ``--max-script-lines`` and ``--max-shots`` when given (ValueError if bad)."""
    import dataclasses

    limits = Limits.from_environ()
    changes = {}
    for option, name in (("max_script_lines", "max_script_lines"), ("max_shots", "max_shots")):
        value = getattr(args, option, None)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{option.replace('_', '-')} must be a whole number of at least 1, not {value!r}")
            changes[name] = value
    return dataclasses.replace(limits, **changes) if changes else limits
