"""Child processes (ffmpeg) that die with the studio, even when the studio is killed with SIGKILL.

On Linux each child asks the kernel for ``SIGKILL`` when its parent dies (``prctl(PR_SET_PDEATHSIG)``), set
between fork and exec so it covers the whole life of the program that is then run. Elsewhere nothing changes.

``DyingPopen`` is ``subprocess.Popen`` with that set. ``adopt(module)`` makes a library that spawns through
``module.subprocess.Popen`` (pydub does) use it, without changing ``subprocess`` for anyone else.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import types

PR_SET_PDEATHSIG = 1


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    prctl.restype = ctypes.c_int
    return prctl


# resolved once, in the parent: the child between fork and exec only calls it
_PRCTL = _load_prctl()


def death_signal_available() -> bool:
    return _PRCTL is not None


def _preexec_for(parent_pid: int, chained=None):
    def preexec() -> None:
        _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        # the parent may have died between fork and prctl, in which case no signal will ever come
        if os.getppid() != parent_pid:
            os._exit(1)
        if chained is not None:
            chained()
    return preexec


class DyingPopen(subprocess.Popen):
    """``subprocess.Popen`` whose child is killed when this process dies (Linux); same arguments."""

    def __init__(self, *args, **kwargs):
        if _PRCTL is not None:
            kwargs["preexec_fn"] = _preexec_for(os.getpid(), kwargs.get("preexec_fn"))
        super().__init__(*args, **kwargs)


def _subprocess_with_death_signal() -> types.ModuleType:
    proxy = types.ModuleType("subprocess", "subprocess, whose Popen children die with their parent")
    proxy.__dict__.update({k: v for k, v in vars(subprocess).items() if not k.startswith("__")})
    proxy.Popen = DyingPopen
    return proxy


_PROXY = _subprocess_with_death_signal()


def adopt(module: types.ModuleType) -> None:
    """Make ``module`` start its children through ``DyingPopen``: a global bound to ``subprocess`` (under any
    name: ``import subprocess as sp``) becomes a copy of it with that ``Popen``, and a ``Popen`` imported by name
    is replaced. Idempotent."""
    for name, value in list(vars(module).items()):
        if value is subprocess:
            setattr(module, name, _PROXY)
        elif value is subprocess.Popen:
            setattr(module, name, DyingPopen)


def adopt_pydub() -> None:
    """pydub runs ffmpeg from ``pydub.audio_segment`` (encode, decode) and ``pydub.utils`` (probing)."""
    import pydub.audio_segment
    import pydub.utils

    adopt(pydub.audio_segment)
    adopt(pydub.utils)


def adopt_moviepy() -> None:
    """MoviePy (a benchmark peer) runs ffmpeg from its readers and writers."""
    import moviepy.audio.io.ffmpeg_audiowriter
    import moviepy.audio.io.readers
    import moviepy.tools
    import moviepy.video.io.ffmpeg_reader
    import moviepy.video.io.ffmpeg_writer

    for module in (moviepy.audio.io.ffmpeg_audiowriter, moviepy.audio.io.readers, moviepy.tools,
                   moviepy.video.io.ffmpeg_reader, moviepy.video.io.ffmpeg_writer):
        adopt(module)
