"""Mastering to a loudness: integrated loudness (BS.1770) to a target with true peaks under a ceiling.

The one function every part of the studio masters with: composer takes, the mixer's bus, the A/B previews and
the animatic's soundtrack. ``kernels.dsp.normalize_loudness`` applies the gain to the target and then the
look-ahead limiter; when the limiter has to catch peaks it lowers the loudness a little, so the aim is raised by
the shortfall (a secant step, since limiting eats part of each added dB) and the original audio (never an
already limited copy) is normalised again, until the result measures within :data:`TOLERANCE_LU` of the
target. The limiter leaves audio whose true peak is under the ceiling unchanged, so most audio takes one
pass and peaky audio two to four; :data:`MAX_PASSES` bounds it for audio that is all peaks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lantern_studio.kernels import dsp

#: how close to the target the result must measure, in LU (loudness units: dB of K-weighted power)
TOLERANCE_LU = 0.05
MAX_PASSES = 6
#: below this the audio counts as silence and is left alone (BS.1770's absolute gate)
SILENCE_LUFS = -70.0
#: BS.1770 measures in 400 ms blocks: anything shorter has no integrated loudness
MIN_DURATION_S = 0.4


@dataclass(frozen=True)
class Mastered:
    """The mastered audio and what was done to it.

    ``source_lufs`` is the input's integrated loudness (None for silence or under :data:`MIN_DURATION_S`),
    ``gain_db`` the gain applied before the limiter, ``lufs`` the result's integrated loudness (None when the
    audio was left unchanged).
    """

    audio: np.ndarray
    source_lufs: float | None
    gain_db: float
    lufs: float | None


def master_to_loudness(audio: np.ndarray, sample_rate: int, *, target_lufs: float,
                       ceiling_dbtp: float = -1.0) -> Mastered:
    """Bring ``audio`` to ``target_lufs`` with its true peak at or below ``ceiling_dbtp``.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (n, channels), float
        Samples in [-1, 1].
    sample_rate : int
        Hz.
    target_lufs : float
        Integrated loudness target in LUFS (<= 0).
    ceiling_dbtp : float
        True-peak ceiling in dBTP.

    Returns
    -------
    Mastered
        ``audio`` float32 of the input's shape. Silence and audio shorter than one 400 ms measuring block come
        back unchanged (as float32) with ``gain_db`` 0.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[0] < MIN_DURATION_S * sample_rate or not np.any(audio):
        return Mastered(audio, None, 0.0, None)
    source = float(dsp.integrated_loudness(audio, sample_rate))
    if not math.isfinite(source) or source < SILENCE_LUFS:
        return Mastered(audio, None, 0.0, None)
    aim = float(target_lufs)
    out, result, gain_db = audio, source, 0.0
    previous: tuple[float, float] | None = None
    for _ in range(MAX_PASSES):
        out = np.asarray(dsp.normalize_loudness(audio, sample_rate, target_lufs=aim, ceiling_dbtp=ceiling_dbtp),
                         dtype=np.float32)
        gain_db = aim - source
        result = float(dsp.integrated_loudness(out, sample_rate))
        error = float(target_lufs) - result
        if abs(error) <= TOLERANCE_LU:
            break
        # secant step: where limiting eats part of every dB of gain (drums, clicks), d(result)/d(aim) < 1 and
        # a plain `aim += error` would crawl towards the target; the slope of the last two passes corrects it
        slope = 1.0
        if previous is not None and aim != previous[0]:
            slope = min(1.0, max(0.1, (result - previous[1]) / (aim - previous[0])))
        previous = (aim, result)
        aim = min(0.0, aim + error / slope)
    return Mastered(out, source, gain_db, result)
