"""A/B preview preparation: every take at the same loudness, true-peak limited, optionally crossfed.

Comparing takes at different loudness makes the louder one sound better. Before two to four takes are
compared, each one is normalised to the same integrated loudness (default -16 LUFS, ITU-R BS.1770 via
``kernels.dsp``) with its true peak held under a ceiling (default -1 dBTP), optionally passed through a
headphone crossfeed, and written as a 16-bit WAV preview that any browser decodes. Previews are cached
by take, audio content and settings, so reopening the same comparison costs nothing.

Previews are for listening only: exports never go through this module (crossfeed is applied to exports
only when the user asks for it there).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import soundfile as sf

from lantern_studio.engines.jobs import Cancel, Progress, check_cancel
from lantern_studio.engines.atomic import atomic_output_path
from lantern_studio.engines.audio.mastering import master_to_loudness
from lantern_studio.kernels import dsp

DEFAULT_TARGET_LUFS = -16.0
DEFAULT_CEILING_DBTP = -1.0
MIN_TAKES, MAX_TAKES = 1, 4
LABELS = ("A", "B", "C", "D")
PREVIEW_SUBTYPE = "PCM_16"



@dataclass(frozen=True)
class PreviewSettings:
    """How previews are made. ``crossfeed_strength`` 0 turns crossfeed off; 1 is the strongest blend."""

    target_lufs: float = DEFAULT_TARGET_LUFS
    ceiling_dbtp: float = DEFAULT_CEILING_DBTP
    crossfeed_strength: float = 0.0

    def validate(self) -> None:
        if not np.isfinite(self.target_lufs) or not -40.0 <= self.target_lufs <= -5.0:
            raise ValueError(f"target loudness {self.target_lufs} LUFS is outside -40 to -5 LUFS; "
                             "-16 LUFS suits headphones, -23 LUFS is broadcast level")
        if not np.isfinite(self.ceiling_dbtp) or not -20.0 <= self.ceiling_dbtp <= 0.0:
            raise ValueError(f"true-peak ceiling {self.ceiling_dbtp} dBTP is outside -20 to 0 dBTP; "
                             "-1 dBTP is the usual choice")
        if not 0.0 <= self.crossfeed_strength <= 1.0:
            raise ValueError(f"crossfeed strength {self.crossfeed_strength} is outside 0-1; use 0 to turn it off")

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Preview:
    """One prepared preview file and what it measures.

    ``gain_db`` is the gain applied before limiting; ``integrated_lufs`` and ``true_peak_dbtp`` are measured
    on the written file's samples.
    """

    take_id: str
    label: str
    name: str
    path: Path
    sample_rate: int
    duration_s: float
    source_lufs: float
    gain_db: float
    integrated_lufs: float
    true_peak_dbtp: float
    crossfeed_strength: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def _stereo_float32(audio: np.ndarray, what: str) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = np.repeat(audio[:, None], 2, axis=1)
    if audio.ndim != 2 or audio.shape[1] not in (1, 2):
        raise ValueError(f"{what}: audio must have shape (n,), (n, 1) or (n, 2), got {audio.shape}")
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, axis=1)
    if audio.shape[0] == 0:
        raise ValueError(f"{what}: the audio is empty; generate or load the take again")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"{what}: audio must be floating point in [-1, 1], got {audio.dtype}")
    if not np.isfinite(audio).all():
        raise ValueError(f"{what}: the audio contains NaN or infinite samples; re-render it")
    return np.ascontiguousarray(audio, dtype=np.float32)


def match_loudness(audio: np.ndarray, sample_rate: int, *, target_lufs: float = DEFAULT_TARGET_LUFS,
                   ceiling_dbtp: float = DEFAULT_CEILING_DBTP, crossfeed_strength: float = 0.0,
                   ) -> tuple[np.ndarray, float, float]:
    """Bring one piece of audio to ``target_lufs`` with its true peak under ``ceiling_dbtp``.

    Mastered with :func:`lantern_studio.engines.audio.mastering.master_to_loudness`: the result measures
    within its ``TOLERANCE_LU`` of the target.

    Parameters
    ----------
    audio : np.ndarray
        float samples, shape (n,) or (n, channels) with 1 or 2 channels; mono is played on both sides.
    sample_rate : int
        Hz.
    target_lufs, ceiling_dbtp : float
        integrated loudness target (LUFS) and true-peak ceiling (dBTP).
    crossfeed_strength : float
        0 (off) to 1; the crossfeed runs before the loudness match so the previews stay matched.

    Returns
    -------
    (matched, source_lufs, gain_db) : tuple
        ``matched`` float32 (n, 2); the loudness measured on the input (after crossfeed) in LUFS; the gain
        applied before limiting in dB. Silent input (below -70 LUFS) comes back unchanged with gain 0.
    """
    PreviewSettings(target_lufs, ceiling_dbtp, crossfeed_strength).validate()
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    stereo = _stereo_float32(audio, "match_loudness")
    if crossfeed_strength > 0:
        stereo = np.ascontiguousarray(dsp.crossfeed(stereo, int(sample_rate), strength=float(crossfeed_strength)),
                                      dtype=np.float32)
    mastered = master_to_loudness(stereo, int(sample_rate), target_lufs=float(target_lufs),
                                  ceiling_dbtp=float(ceiling_dbtp))
    if mastered.source_lufs is None:
        return stereo, float(dsp.integrated_loudness(stereo, int(sample_rate))), 0.0
    return mastered.audio, mastered.source_lufs, mastered.gain_db


def measure_lufs(audio: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness (LUFS, BS.1770) of a take's audio; None for silence."""
    value = float(dsp.integrated_loudness(_stereo_float32(audio, "measure_lufs"), int(sample_rate)))
    return value if np.isfinite(value) else None


def preview_key(take_id: str, audio: np.ndarray, settings: PreviewSettings) -> str:
    """A short name that changes whenever the take's audio or the preview settings change."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(str(take_id).encode("utf-8"))
    digest.update(np.ascontiguousarray(audio).tobytes())
    digest.update(settings.key().encode("utf-8"))
    return digest.hexdigest()


def _safe_stem(text: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in str(text))
    return keep.strip("-")[:48] or "take"


def prepare_previews(takes: Sequence[Any], out_dir: str | os.PathLike, *,
                     settings: PreviewSettings | None = None, progress: Progress | None = None,
                     cancel: Cancel | None = None) -> list[Preview]:
    """Loudness-match two to four takes (one is allowed, for auditioning) and write their preview files.

    Parameters
    ----------
    takes : sequence
        1-4 objects with ``id``, ``name``, ``audio`` (float (n,) or (n, 2)) and ``sample_rate`` attributes
        (``engines.music.base.Take`` is one). They must share one sample rate, so switching keeps the play
        position.
    out_dir : path
        folder for the preview WAVs (the studio uses the project's cache); created when missing.
    settings : PreviewSettings
        target loudness, true-peak ceiling and crossfeed strength.
    progress, cancel : callables
        ``progress(fraction, message)``; ``cancel()`` True stops before the next take (raises
        ``engines.jobs.Cancelled`` with the finished previews; files already written stay valid cache entries).

    Returns
    -------
    list of Preview
        in the order given, labelled A, B, C, D.
    """
    settings = settings or PreviewSettings()
    settings.validate()
    takes = list(takes)
    if not MIN_TAKES <= len(takes) <= MAX_TAKES:
        raise ValueError(f"pick {MIN_TAKES}-{MAX_TAKES} takes to compare, got {len(takes)}")
    ids = [str(getattr(take, "id", "")) for take in takes]
    if len(set(ids)) != len(ids):
        raise ValueError("the same take is picked twice; pick different takes to compare")
    rates = {int(getattr(take, "sample_rate", 0)) for take in takes}
    if len(rates) != 1 or min(rates) <= 0:
        raise ValueError(f"the picked takes have different sample rates ({sorted(rates)} Hz); compare takes made "
                         "at one sample rate")
    sample_rate = rates.pop()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    previews: list[Preview] = []
    for index, take in enumerate(takes):
        check_cancel(cancel, "preview preparation stopped", previews)
        name = str(getattr(take, "name", "") or take.id)
        if progress is not None:
            progress(index / len(takes), f"matching loudness of {name}")
        audio = _stereo_float32(take.audio, f"take {name}")
        key = preview_key(take.id, audio, settings)
        path = out_dir / f"{_safe_stem(take.id)}-{key}.wav"
        meta_path = path.with_suffix(".json")
        cached = _read_cached(meta_path, path)
        if cached is None:
            matched, source_lufs, gain_db = match_loudness(
                audio, sample_rate, target_lufs=settings.target_lufs, ceiling_dbtp=settings.ceiling_dbtp,
                crossfeed_strength=settings.crossfeed_strength)
            with atomic_output_path(path, suffix=".wav") as temp:
                sf.write(temp, matched, sample_rate, subtype=PREVIEW_SUBTYPE, format="WAV")
            written, _ = sf.read(path, dtype="float32", always_2d=True)
            stats = dsp.loudness_stats(written, sample_rate)
            cached = {"source_lufs": float(source_lufs), "gain_db": float(gain_db),
                      "integrated_lufs": float(stats["integrated_lufs"]),
                      "true_peak_dbtp": float(stats["true_peak_dbtp"])}
            with atomic_output_path(meta_path, suffix=".json") as temp:
                temp.write_text(json.dumps(cached, sort_keys=True), encoding="utf-8")
        previews.append(Preview(take_id=str(take.id), label=LABELS[index], name=name, path=path,
                                sample_rate=sample_rate, duration_s=audio.shape[0] / sample_rate,
                                crossfeed_strength=settings.crossfeed_strength, **cached))
    if progress is not None:
        progress(1.0, "previews ready")
    return previews


def _read_cached(meta_path: Path, audio_path: Path) -> dict[str, float] | None:
    if not (meta_path.exists() and audio_path.exists()):
        return None
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
        return {k: float(data[k]) for k in ("source_lufs", "gain_db", "integrated_lufs", "true_peak_dbtp")}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def loop_region(audio: np.ndarray, sample_rate: int, *, start_s: float, end_s: float,
                crossfade_s: float = 0.02) -> np.ndarray:
    """Cut ``[start_s, end_s)`` out of ``audio`` so that playing it in a loop has no click at the seam.

    The last ``crossfade_s`` of the region are blended (equal power) into the audio just *before*
    ``start_s``, so the sample after the loop's last one is exactly the one that follows it in the
    original: the wrap is continuous. When the region starts at 0 there is nothing before it; the tail is
    then blended with the region's own first ``crossfade_s``, which are dropped from the head (the loop
    is ``crossfade_s`` shorter).

    Parameters
    ----------
    audio : np.ndarray
        float samples, shape (n,) or (n, channels).
    sample_rate : int
        Hz.
    start_s, end_s : float
        region in seconds, 0 <= start_s < end_s <= duration.
    crossfade_s : float
        crossfade length in seconds (0-0.5, and at most half the region); 0 cuts without blending.

    Returns
    -------
    np.ndarray
        float32, the same channel layout as ``audio``.
    """
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2) or audio.shape[0] == 0:
        raise ValueError(f"audio must have shape (n,) or (n, channels) with n > 0, got {audio.shape}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    duration_s = audio.shape[0] / sample_rate
    if not (np.isfinite(start_s) and np.isfinite(end_s)) or not 0 <= start_s < end_s <= duration_s + 1e-9:
        raise ValueError(f"loop region {start_s:g}-{end_s:g} s must satisfy 0 <= start < end <= {duration_s:.3f} s "
                         "(the take's length); drag the loop handles inside the take")
    if not 0 <= crossfade_s <= 0.5:
        raise ValueError(f"crossfade_s must be between 0 and 0.5 s, got {crossfade_s}")
    start = int(round(start_s * sample_rate))
    end = min(int(round(end_s * sample_rate)), audio.shape[0])
    if end - start < 2:
        raise ValueError("the loop region is shorter than two samples; make it longer")
    region = np.array(audio[start:end], dtype=np.float32)
    fade = min(int(round(crossfade_s * sample_rate)), (end - start) // 2)
    if fade == 0:
        return region
    t = (np.arange(fade, dtype=np.float64) + 0.5) / fade
    fade_in = np.sin(0.5 * np.pi * t).astype(np.float32)
    fade_out = np.cos(0.5 * np.pi * t).astype(np.float32)
    if audio.ndim == 2:
        fade_in, fade_out = fade_in[:, None], fade_out[:, None]
    pre = min(fade, start)
    if pre == fade:
        before = np.asarray(audio[start - fade:start], dtype=np.float32)
        region[-fade:] = region[-fade:] * fade_out + before * fade_in
        return region
    head = region[:fade].copy()
    region = region[fade:]
    region[-fade:] = region[-fade:] * fade_out + head * fade_in
    return region
