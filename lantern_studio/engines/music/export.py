"""Export a take into a folder: the mix and every stem as WAV (24-bit) and FLAC, the mix as MP3, the MIDI
file, and a JSON recipe that makes the take again.

File names carry the take's name and seed, e.g. ``lion-dance-s7_mix.wav``, ``lion-dance-s7_stem-drum.flac``,
``lion-dance-s7.mid``, ``lion-dance-s7_recipe.json``. Every file is written atomically.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from lantern_studio.engines.atomic import atomic_write_bytes, atomic_write_json
from lantern_studio.engines.audio.io import AUDIO_FORMATS, write_audio
from lantern_studio.engines.music.base import Progress, Take
from lantern_studio.engines.safety import sanitize_filename

STEM_FORMATS = ("wav", "flac")


def base_name(take: Take) -> str:
    name = sanitize_filename(take.name or take.preset or take.engine, separator="-", default="take")
    return name if re.search(rf"(^|\D)s{take.seed}(\D|$)|seed{take.seed}", name) else f"{name}_seed{take.seed}"


def export_take(take: Take, folder: str | os.PathLike, *, formats: Sequence[str] = ("wav", "flac", "mp3"),
                stems: bool = True, bit_depth: int = 24, progress: Progress | None = None) -> list[Path]:
    """Write a take's files into ``folder`` (created if missing) and return their paths.

    Parameters
    ----------
    take : Take
        The take; ``take.audio`` (n, 2) float32 and ``take.stems`` at ``take.sample_rate``.
    folder : path
        Output folder.
    formats : sequence of {"wav", "flac", "mp3"}
        Formats for the mix; stems are written in the WAV/FLAC ones among them (MP3 stems are not useful).
    stems : bool
        Also write one file per stem.
    bit_depth : int
        16 or 24 for WAV/FLAC.
    """
    unknown = [f for f in formats if f not in AUDIO_FORMATS]
    if unknown or not formats:
        raise ValueError(f"export formats {list(formats)} must be a non-empty list of {', '.join(AUDIO_FORMATS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = base_name(take)
    jobs = [(folder / f"{base}_mix.{fmt}", take.audio, fmt) for fmt in formats]
    if stems:
        for name, audio in take.stems.items():
            jobs += [(folder / f"{base}_stem-{sanitize_filename(name, separator='-', default='take')}.{fmt}", audio, fmt)
                     for fmt in formats if fmt in STEM_FORMATS]
    written: list[Path] = []
    for i, (path, audio, fmt) in enumerate(jobs):
        if progress:
            progress(i / (len(jobs) + 2), f"writing {path.name}")
        written.append(write_audio(path, audio, take.sample_rate, format=fmt,
                                   bit_depth=bit_depth if fmt != "mp3" else 16))
    if take.midi is not None:
        written.append(atomic_write_bytes(folder / f"{base}.mid", take.midi))
    recipe = {**take.recipe(), "take": take.metadata(),
              "files": sorted(p.name for p in written) + [f"{base}_recipe.json"],
              "reproduce": "ComposerEngine().reproduce(recipe) in engines/music/composer.py remakes this take"
              if take.engine == "composer" else ""}
    written.append(atomic_write_json(folder / f"{base}_recipe.json", recipe))
    if progress:
        progress(1.0, f"exported {len(written)} files to {folder}")
    return written
