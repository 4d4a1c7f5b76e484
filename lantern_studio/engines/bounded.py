"""Read files from folders the studio does not control without hanging, filling memory or overflowing the stack.

A project folder can hold anything a user (or another program) put there: a FIFO named ``project.json`` would
block an ordinary ``open()`` for ever, a device could be read without end, a sidecar nested ten thousand levels
deep makes ``json.loads`` raise ``RecursionError`` (which the usual ``except ValueError`` does not catch) and
breaks every later ``json.dumps`` of it. So:

- ``read_regular_file`` refuses anything but a regular file before opening it (FIFOs, devices and sockets are
  judged from ``stat``), opens without blocking, checks again on the open descriptor, and reads at most
  ``max_bytes``;
- ``load_json_file`` / ``parse_json`` add a cap on nesting depth.

Every refusal is a ``BoundedInputError`` (a ValueError) that names the file, the limit and what to do.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

#: largest JSON file the studio reads (manifests, take sidecars, trash entries, story files), bytes
MAX_JSON_BYTES = 8 * 1024 * 1024
#: deepest nesting of arrays and objects accepted in those files; the studio writes at most a handful
MAX_JSON_DEPTH = 64


class BoundedInputError(ValueError):
    """A file or text outside the studio's input limits; the message names the limit and what to do."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def read_regular_file(path: str | os.PathLike, *, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``max_bytes`` bytes.

    Special files are refused from their ``stat`` without being opened; the open itself never blocks
    (``O_NONBLOCK``), and the descriptor is checked again, so a file swapped for a FIFO in between is refused too.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    BoundedInputError
        ``path`` is a FIFO, device, socket or folder, or larger than ``max_bytes``.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive whole number, not {max_bytes!r}")
    path = Path(path)
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise BoundedInputError(f"{path} is {_kind(info.st_mode)}, so the studio does not open it as a {what}; "
                                "replace it with a real file (or remove it)")
    if info.st_size > max_bytes:
        raise BoundedInputError(f"{path} is {info.st_size:,} bytes; a {what} may be at most {max_bytes:,} bytes "
                                "(the size limit); it is not read. Restore it from a backup or remove it")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise BoundedInputError(f"{path} is {_kind(opened.st_mode)}, so the studio does not read it as a {what}; "
                                    "replace it with a real file (or remove it)")
        chunks = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise BoundedInputError(f"{path} grew past {max_bytes:,} bytes while it was read; a {what} may be at most "
                                f"{max_bytes:,} bytes (the size limit)")
    return data


def check_json_depth(value: Any, *, max_depth: int = MAX_JSON_DEPTH, what: str = "JSON") -> Any:
    """Return ``value`` when its arrays and objects nest at most ``max_depth`` levels, else raise."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise BoundedInputError(f"the {what} nests arrays or objects more than {max_depth} levels deep (the "
                                    "depth limit); the studio never writes that, so the file is damaged or not "
                                    "the studio's")
        stack.extend((child, depth + 1) for child in children)
    return value


def parse_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH, what: str = "JSON") -> Any:
    """``json.loads`` with the depth limit; every failure is a ``ValueError`` (never ``RecursionError``)."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, (bytes, bytearray)) else data
        value = json.loads(text)
    except UnicodeDecodeError as error:
        raise BoundedInputError(f"the {what} is not UTF-8 text (byte {error.start} is invalid)") from None
    except RecursionError:
        raise BoundedInputError(f"the {what} nests arrays or objects more than {max_depth} levels deep (the depth "
                                "limit); the studio never writes that, so the file is damaged or not the "
                                "studio's") from None
    return check_json_depth(value, max_depth=max_depth, what=what)


def load_json_file(path: str | os.PathLike, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH,
                   what: str = "JSON file") -> Any:
    """Read and parse a JSON file within the size and depth limits.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        A special file, too large, too deep, not UTF-8 or not JSON (``json.JSONDecodeError`` is a ValueError).
    """
    return parse_json(read_regular_file(path, max_bytes=max_bytes, what=what), max_depth=max_depth,
                      what=f"{what} {Path(path).name}")
