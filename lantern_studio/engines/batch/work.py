"""One batch item, run where a worker is: the input files' bytes in, the output files' bytes out.

The item calls the very functions behind ``launch.py compose`` and ``launch.py storyboard`` (their ``run``),
in a scratch folder of the worker's own, so no filesystem is shared with the machine that asked and the
files are exactly those the command line writes. Nothing here knows Ray: a task wraps :func:`run_item`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

from lantern_studio.engines.safety import safe_join

# what the command line's exit statuses mean for a batch: 2 is bad input (the same every time), 1 a failure
# that another try may not meet (a full disk, a worker short of memory)
BAD_INPUT_STATUS = 2


class ItemInputError(Exception):
    """The item's input is wrong; running it again gives the same answer, so it is not retried."""


class ItemFailed(Exception):
    """The item failed in a way another try may not (Ray retries it)."""


def run_item(kind: str, options: Mapping[str, Any], inputs: Mapping[str, bytes], settings: Any, *,
             export_epoch: int | None = None) -> dict[str, bytes]:
    """Run one item in a scratch folder and return ``{relative path: bytes}`` of every file it wrote.

    Parameters
    ----------
    kind : str
        ``"music"`` (``compose``, one seed) or ``"animatic"`` (``storyboard``).
    options : mapping
        The item's options as :mod:`lantern_studio.engines.batch.plan` resolved them.
    inputs : mapping
        ``{name on the worker: bytes}``: the script, music and dialogue files.
    settings : Settings
        Models folder and device, as the command line resolved them.
    export_epoch : int, optional
        The date, in seconds since 1970, stamped into PDFs and CBZs (``SOURCE_DATE_EPOCH``), so every item of a
        batch and a command-line run given the same date write the same bytes.

    Raises
    ------
    ItemInputError
        The command refused the input (its exit status 2), with its message.
    ItemFailed
        The command failed (its exit status 1), with its message.
    """
    with tempfile.TemporaryDirectory(prefix="lantern-batch-") as scratch_name:
        scratch = Path(scratch_name)
        for name, data in inputs.items():
            target = safe_join(scratch / "in", name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        out = scratch / "out"
        with _source_date(export_epoch):
            if kind == "music":
                _call(_compose, _compose_args(options, out), settings)
            elif kind == "animatic":
                music = options.get("music")
                music_path = str(scratch / "in" / music) if music else None
                if options.get("music_preset"):
                    music_path = str(_compose_music(options, scratch / "music", settings))
                _call(_storyboard, _storyboard_args(options, scratch / "in", out, music_path), settings)
            else:
                raise ItemInputError(f"unknown item kind {kind!r}; a batch item is music or animatic")
        return {path.relative_to(out).as_posix(): path.read_bytes()
                for path in sorted(out.rglob("*")) if path.is_file()}


def _compose(args: argparse.Namespace, settings: Any) -> int:
    from lantern_studio.engines.cli.compose import run

    return run(args, settings)


def _storyboard(args: argparse.Namespace, settings: Any) -> int:
    from lantern_studio.engines.cli.storyboard import run

    return run(args, settings)


def _compose_args(options: Mapping[str, Any], out: Path) -> argparse.Namespace:
    """What ``launch.py compose`` parses from ``--engine E --preset P --prompt T --seed N --duration S``."""
    return argparse.Namespace(engine=options["engine"], preset=options.get("preset"), prompt=options.get("prompt"),
                              seed=options["seed"], duration=options["duration_s"], takes=1,
                              model=options.get("model"), melody=None, extend_to=None, out=str(out),
                              project=None, models_dir=None, device=None)


def _compose_music(options: Mapping[str, Any], folder: Path, settings: Any) -> Path:
    """The composer take an animatic with ``music_preset`` runs under: its mix, as ``compose`` writes it."""
    args = _compose_args({"engine": "composer", "preset": options["music_preset"], "prompt": None,
                          "seed": options["music_seed"], "duration_s": options["music_duration_s"]}, folder)
    _call(_compose, args, settings)
    mixes = sorted(folder.glob("*_mix.wav"))
    if not mixes:
        raise ItemFailed(f"the music take for preset {options['music_preset']} wrote no mix")
    return mixes[0]


def _storyboard_args(options: Mapping[str, Any], inputs: Path, out: Path, music: str | None) -> argparse.Namespace:
    """What ``launch.py storyboard SCRIPT --out DIR --format F --fps N [--music M] [--dialogue ...]`` parses."""
    dialogue = [str(inputs / name) for name in options.get("dialogue") or []] or None
    args = argparse.Namespace(script=str(inputs / options["script"]), out=str(out), music=music,
                              dialogue=dialogue, format=options["format"], fps=options["fps"],
                              no_video=bool(options.get("no_video")), project=None, models_dir=None, device=None)
    if options.get("voices"):
        # left out, the command's own default applies, as when --voices is not given
        args.voices = options["voices"]
    return args


def _call(command, args: argparse.Namespace, settings: Any) -> None:
    """Run a command function, keeping what it says on stderr for the error it may become."""
    said = io.StringIO()
    with contextlib.redirect_stderr(_Tee(said, sys.stderr)):
        status = command(args, settings)
    if status == 0:
        return
    lines = [line for line in said.getvalue().splitlines() if line.startswith("error:")]
    message = lines[-1][len("error:"):].strip() if lines else (said.getvalue().strip().splitlines() or ["no message"])[-1]
    raise (ItemInputError if status == BAD_INPUT_STATUS else ItemFailed)(message)


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def _source_date(epoch: int | None):
    if epoch is None:
        yield
        return
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(epoch))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before
