"""``python launch.py compose``: make festival tunes from the command line and write their files.

Calls the same engines as the Music tab: the embedded composer by default, MusicGen with
``--engine musicgen``. Prints what it understood and made, and every file it wrote. ``--out`` (and ``--project``,
when given) are checked before anything is generated; with ``--project`` every take is also saved into that
project's takes, as the Music tab saves them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from lantern_studio.engines.music.base import GenerationRequest

DEFAULT_DURATION_S = 30.0
DEFAULT_PRESET = "spring-festival"


def _progress(fraction: float, message: str) -> None:
    print(f"  [{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)


def _engine(args: Any, settings: Any):
    if args.engine == "composer":
        from lantern_studio.engines.music.composer import ComposerEngine

        return ComposerEngine()
    try:
        from lantern_studio.engines.music.musicgen import MusicGenEngine
    except ImportError as error:
        raise RuntimeError(f"the MusicGen engine is not available in this build ({error}); use --engine composer "
                           "(the default), which needs no model weights") from None
    kwargs = {"default_model": args.model} if args.model else {}
    return MusicGenEngine(settings.models_dir, device=settings.device, **kwargs)


def build_request(args: Any) -> GenerationRequest:
    """The generation request for parsed ``compose`` arguments (raises ValueError for bad input)."""
    prompt = (args.prompt or "").strip()
    if args.prompt is not None and not prompt:
        raise ValueError("--prompt is empty; describe the tune (e.g. --prompt '舞狮，越来越快') or use --preset")
    melody, melody_rate = None, None
    if getattr(args, "melody", None):
        if args.engine != "musicgen":
            raise ValueError("--melody is for MusicGen melody models; add --engine musicgen --model <a melody model> "
                             "or leave --melody out")
        from lantern_studio.engines.audio.integrity import read_complete_audio

        path = Path(args.melody).expanduser()
        if not path.is_file():
            raise ValueError(f"--melody {args.melody}: no such file; give an audio file (WAV, FLAC, MP3, Ogg)")
        melody, melody_rate = read_complete_audio(path)      # a truncated melody is refused, not half-used
        if melody.ndim == 2 and melody.shape[1] > 2:          # surround: the melody's pitch is in every channel
            melody = melody.mean(axis=1, dtype=np.float32)
    extend_to = getattr(args, "extend_to", None)
    if extend_to is not None:
        if args.engine != "musicgen":
            raise ValueError("--extend-to is a MusicGen action (long form); with the composer, ask for the whole "
                             "--duration at once")
        duration = float(args.duration if args.duration is not None else DEFAULT_DURATION_S)
        if not float(extend_to) > duration:
            raise ValueError(f"--extend-to {float(extend_to):g} s must be longer than the take's --duration "
                             f"{duration:g} s")
    preset = args.preset
    if not preset and not prompt and args.engine == "composer":
        preset = DEFAULT_PRESET
        print(f"no --preset or --prompt: using the {DEFAULT_PRESET} preset", file=sys.stderr)
    return GenerationRequest(prompt=prompt, preset=preset, seed=args.seed, takes=int(args.takes or 1),
                             duration_s=float(args.duration if args.duration is not None else DEFAULT_DURATION_S),
                             params={"model": args.model} if args.engine == "musicgen" and args.model else {},
                             melody=melody, melody_sample_rate=melody_rate)


def extend_requests(takes: list[Any], args: Any) -> list[GenerationRequest]:
    """For ``--extend-to SECONDS``: one long-form request per take, with the take as its parent."""
    seconds = getattr(args, "extend_to", None)
    if seconds is None:
        return []
    return [GenerationRequest(mode="extend", parent=take, duration_s=float(seconds), seed=take.seed, takes=1,
                              params={"model": take.model} if take.model else {}) for take in takes]


def _report(take: Any, files: list[Path]) -> None:
    lufs = take.loudness_lufs       # measured before the take was written (None: silence)
    print(f"\n{take.name}  (seed {take.seed}, {take.duration_s:.1f} s, "
          + (f"{lufs:.1f} LUFS" if lufs is not None else "silent: no loudness")
          + f", made in {take.generation_s:.2f} s)")
    if take.parent_id:
        print(f"  {take.relation or 'child'} of {take.parent_id}")
    if take.summary:
        print("  " + take.summary.replace("\n", "\n  "))
    for path in files:
        print(f"  wrote {path}")


def _open_store(args: Any):
    """The take store of ``--project`` (opened, or created in a new or empty folder), or None without it."""
    if not getattr(args, "project", None):
        return None
    from lantern_studio.engines.music.takes import TakeStore
    from lantern_studio.engines.project import Project

    return TakeStore(Project.open(Path(args.project).expanduser()))


def run(args: Any, settings: Any) -> int:
    """Run the ``compose`` command; returns the process exit code (0 made files, 2 bad input, 1 failure)."""
    from lantern_studio.engines.cli.checks import check_output_folder, clean_output_leftovers
    from lantern_studio.engines.music.export import export_take
    from lantern_studio.engines.music.generate_take import ensure_loudness
    from lantern_studio.engines.project import ProjectError

    try:
        out = check_output_folder(args.out)
        request = build_request(args)
        store = _open_store(args)
        engine = _engine(args, settings)
        status = engine.available()
        if not status.ready:
            print(f"error: {status.message}", file=sys.stderr)
            return 2
        print(f"{engine.name}: {status.message}", file=sys.stderr)
        takes = engine.generate(request, progress=_progress)
        if not takes:
            print("error: no take was made", file=sys.stderr)
            return 1
        extended = []
        for job in extend_requests(takes, args):
            extended.extend(engine.generate(job, progress=_progress))
    except (ValueError, RuntimeError) as error:       # ProjectError is a RuntimeError
        print(f"error: {error}", file=sys.stderr)
        return 2
    clean_output_leftovers([out])
    for take in [*takes, *extended]:
        ensure_loudness(take)    # the same meter as the Music tab, so the exported sidecar has it too
        try:
            files = export_take(take, out)
            if store is not None:
                files.append(store.save(take))
        except (OSError, ProjectError) as error:
            print(f"error: {take.name or take.id} could not be written: {error}", file=sys.stderr)
            return 1
        _report(take, files)
    return 0
