"""ffmpeg started by the studio's audio reader dies with the studio, even when the studio is SIGKILLed.

A child interpreter decodes an "MP3" that is a FIFO no byte is written to, through ``engines.audio.io`` (pydub and
imageio-ffmpeg's ffmpeg), so ffmpeg blocks opening it. The child interpreter is then killed with SIGKILL; the
ffmpeg process, found in /proc by the FIFO's unique name on its command line, must be gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from lantern_testkit import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")

CHILD = """
import sys
from pathlib import Path
from lantern_studio.engines.audio import io
io._read_ffmpeg(Path(sys.argv[1]), "mp3", "mp3")
"""


def _pids_with_argument(argument: str) -> list[int]:
    """ffmpeg processes with ``argument`` as one of their command-line words."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in words and b"ffmpeg" in Path(os.fsdecode(words[0])).name.encode():
            pids.append(int(entry.name))
    return pids


def _wait_for(predicate, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def _open_writer(fifo: Path) -> int | None:
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:                  # ENXIO: no reader has it open yet
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_no_ffmpeg_outlives_a_sigkilled_parent(tmp_path):
    fifo = tmp_path / f"never-written-{uuid.uuid4().hex}.mp3"
    os.mkfifo(fifo)
    parent = subprocess.Popen([sys.executable, "-c", CHILD, str(fifo)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    writer = None
    try:
        # pydub opens the file itself first; holding a writer open lets both it and ffmpeg open the FIFO, and
        # ffmpeg then waits for bytes that never come
        writer = _wait_for(lambda: _open_writer(fifo), 60)
        assert writer, "the reader never opened the FIFO"
        ffmpeg = _wait_for(lambda: _pids_with_argument(str(fifo)), 60)
        assert ffmpeg, "the reader never started ffmpeg on the FIFO"
        assert all(_alive(pid) for pid in ffmpeg)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        survivors = _wait_for(lambda: [pid for pid in ffmpeg if _alive(pid)] == [] or None, 10)
        assert survivors, f"ffmpeg {[pid for pid in ffmpeg if _alive(pid)]} outlived its SIGKILLed parent"
    finally:
        if writer:
            os.close(writer)
        if parent.poll() is None:
            parent.kill()
        for pid in _pids_with_argument(str(fifo)):
            os.kill(pid, signal.SIGKILL)      # only the ffmpeg this test started, found by its unique FIFO name


def test_other_callers_of_subprocess_are_unchanged():
    from lantern_studio.engines import children
    from lantern_studio.engines.audio import io

    io._pydub()
    import pydub.audio_segment

    assert pydub.audio_segment.subprocess.Popen is children.DyingPopen
    assert subprocess.Popen is not children.DyingPopen


def test_moviepy_benchmark_peer_spawns_through_the_same_popen():
    from lantern_studio.engines import children

    children.adopt_moviepy()
    import moviepy.audio.io.readers
    import moviepy.video.io.ffmpeg_writer

    assert moviepy.video.io.ffmpeg_writer.sp.Popen is children.DyingPopen
    assert moviepy.audio.io.readers.sp.Popen is children.DyingPopen
    assert moviepy.video.io.ffmpeg_writer.sp.PIPE == subprocess.PIPE       # the rest of subprocess is unchanged
