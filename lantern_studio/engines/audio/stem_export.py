"""Writing a mixer session: the mix and each stem as WAV, FLAC or MP3, the MIDI, a JSON recipe and a zip."""

from __future__ import annotations

import datetime as _dt
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from lantern_studio.engines.jobs import Cancel, Progress, check_cancel
from lantern_studio.engines.atomic import atomic_output_path, atomic_write_bytes, atomic_write_json
from lantern_studio.engines.safety import sanitize_filename

if TYPE_CHECKING:
    from lantern_studio.engines.audio.session import MasterSettings, MixResult, StemSession

EXPORT_FORMATS = ("wav", "flac", "mp3")
MP3_BITRATE_KBPS = 320


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_session` wrote: every file (mix first), the zip, and the recipe path."""

    folder: Path
    files: tuple[Path, ...]
    zip_path: Path | None
    recipe_path: Path
    mix: MixResult

    def by_kind(self) -> dict[str, list[Path]]:
        kinds: dict[str, list[Path]] = {}
        for path in self.files:
            kinds.setdefault(path.suffix.lstrip(".").lower(), []).append(path)
        return kinds


def file_base(session: StemSession) -> str:
    """The session's name as it starts its export's file and folder names: the take's name (else its id),
    safe on every file system."""
    return sanitize_filename(session.take_name or session.take_id or "mix", separator="-", default="mix")


def export_session(session: StemSession, folder: str | os.PathLike, *, formats: Sequence[str] = ("wav",),
                   stems: bool = True, midi: bool = True, make_zip: bool = True, backend: str = "auto",
                   master: MasterSettings | None = None, progress: Progress | None = None,
                   cancel: Cancel | None = None) -> ExportResult:
    """Render and write a session: the mix and (optionally) each stem in every format, the MIDI, a recipe.

    File names carry the take name and seed: ``<take>_seed<seed>_mix.wav``,
    ``<take>_seed<seed>_stem-<name>.flac``, ``<take>_seed<seed>.mid``, ``<take>_seed<seed>_recipe.json``
    and ``<take>_seed<seed>.zip`` holding all of them. WAV and FLAC are 24-bit; MP3 is 320 kbit/s (all
    written by ``engines.audio.io.write_audio``). Stems are written as the mixer hears them (gain, pan,
    ducking) at the master gain, without the master limiter, so they sum back to the unlimited mix (a
    stem louder than full scale at that gain is clipped: lower the master target if that happens).

    Returns
    -------
    ExportResult
    """
    formats = tuple(dict.fromkeys(f.lower().lstrip(".") for f in formats))
    if not formats:
        raise ValueError("pick at least one export format (wav, flac or mp3)")
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {', '.join(unknown)}; use {', '.join(EXPORT_FORMATS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result = session.render(master=master, backend=backend)
    base = file_base(session)
    if session.seed is not None:
        base += f"_seed{int(session.seed)}"
    steps = len(formats) * (1 + (len(session.stems) if stems else 0)) + 2
    done = 0

    def step(message: str) -> None:
        nonlocal done
        done += 1
        check_cancel(cancel, "export stopped; files written so far are complete", written)
        if progress is not None:
            progress(min(done / steps, 1.0), message)

    written: list[Path] = []
    for fmt in formats:
        step(f"writing the mix as {fmt.upper()}")
        written.append(write_audio_file(folder / f"{base}_mix.{fmt}", result.audio, session.sample_rate, fmt))
    if stems:
        gain = 10.0 ** (result.master_gain_db / 20.0) if result.settings.normalize else 1.0
        for stem in session.stems:
            if stem.mute:
                continue
            audio = session.mix_bus(backend=backend, only=stem.name) * np.float32(gain)
            for fmt in formats:
                step(f"writing stem {stem.name} as {fmt.upper()}")
                written.append(write_audio_file(folder / f"{base}_stem-{sanitize_filename(stem.name, separator='-')}.{fmt}", audio,
                                                session.sample_rate, fmt))
    if midi and session.midi is not None:
        written.append(atomic_write_bytes(folder / f"{base}.mid", session.midi))
    recipe = {**session.to_dict(), "exported": _dt.datetime.now().isoformat(timespec="seconds"),
              "meter": result.meter(), "master_gain_db": result.master_gain_db,
              "files": [p.name for p in written]}
    recipe_path = atomic_write_json(folder / f"{base}_recipe.json", recipe)
    written.append(recipe_path)
    step("recipe written")
    zip_path = None
    if make_zip:
        zip_path = folder / f"{base}.zip"
        with atomic_output_path(zip_path, suffix=".zip") as temp:
            with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for path in written:
                    archive.write(path, arcname=path.name)
        step("zip written")
    return ExportResult(folder=folder, files=tuple(written), zip_path=zip_path, recipe_path=recipe_path, mix=result)


def write_audio_file(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, fmt: str) -> Path:
    """Write float audio as WAV (24-bit PCM), FLAC (24-bit) or MP3 through ``engines.audio.io.write_audio``
    (atomic). Samples beyond full scale are clipped first. Returns the path."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}; use {', '.join(EXPORT_FORMATS)}")
    from lantern_studio.engines.audio.io import write_audio

    clipped = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return write_audio(path, clipped, int(sample_rate), format=fmt, bit_depth=16 if fmt == "mp3" else 24,
                       mp3_bitrate_kbps=MP3_BITRATE_KBPS)
