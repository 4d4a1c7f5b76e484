"""``python launch.py compose``: make festival tunes from the command line and write their files.

Calls the same engines as the Music tab: the embedded composer by default, MusicGen with
``--engine musicgen``. Prints what it understood and made, and every file it wrote.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from engines.music.base import GenerationRequest

DEFAULT_DURATION_S = 30.0
DEFAULT_PRESET = "spring-festival"


def _progress(fraction: float, message: str) -> None:
    print(f"  [{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)


def _engine(args: Any, settings: Any):
    if args.engine == "composer":
        from engines.music.composer import ComposerEngine

        return ComposerEngine()
    try:
        from engines.music.musicgen import MusicGenEngine
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
        from engines.audio.io import read_audio

        melody, melody_rate = read_audio(args.melody)
    preset = args.preset
    if not preset and not prompt and args.engine == "composer":
        preset = DEFAULT_PRESET
        print(f"no --preset or --prompt: using the {DEFAULT_PRESET} preset", file=sys.stderr)
    return GenerationRequest(prompt=prompt, preset=preset, seed=args.seed, takes=int(args.takes or 1),
                             duration_s=float(args.duration if args.duration is not None else DEFAULT_DURATION_S),
                             params={"model": args.model} if args.engine == "musicgen" and args.model else {},
                             melody=melody, melody_sample_rate=melody_rate)


def run(args: Any, settings: Any) -> int:
    """Run the ``compose`` command; returns the process exit code (0 made files, 2 bad input, 1 failure)."""
    from engines.music.export import export_take

    out = Path(args.out).expanduser()
    try:
        request = build_request(args)
        engine = _engine(args, settings)
        status = engine.available()
        if not status.ready:
            print(f"error: {status.message}", file=sys.stderr)
            return 2
        print(f"{engine.name}: {status.message}", file=sys.stderr)
        takes = engine.generate(request, progress=_progress)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not takes:
        print("error: no take was made", file=sys.stderr)
        return 1
    for take in takes:
        files = export_take(take, out)
        print(f"\n{take.name}  (seed {take.seed}, {take.duration_s:.1f} s, "
              f"{take.loudness_lufs if take.loudness_lufs is not None else float('nan'):.1f} LUFS, "
              f"made in {take.generation_s:.2f} s)")
        if take.summary:
            print("  " + take.summary.replace("\n", "\n  "))
        for path in files:
            print(f"  wrote {path}")
    return 0
