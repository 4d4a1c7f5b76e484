"""Loudness mastering for composer takes: integrated loudness to a target under a true-peak ceiling.

Built on ``kernels.dsp`` (BS.1770 loudness, the 4x-oversampled true-peak meter and the look-ahead
limiter). The limiter lowers loudness a little when it has to catch peaks, so the gain is corrected and
the limiter run again until the result is within 0.1 LU of the target (two or three passes at most; the
limiter leaves audio whose true peak is under the ceiling unchanged).
"""

from __future__ import annotations

import numpy as np

from lantern_studio.kernels import dsp

TOLERANCE_LU = 0.1


def master(mix: np.ndarray, *, sample_rate: int, target_lufs: float = -16.0, ceiling_dbtp: float = -1.0
           ) -> tuple[np.ndarray, float, float]:
    """Bring ``mix`` (n, 2) float32 to ``target_lufs`` with true peaks at or below ``ceiling_dbtp``.

    Returns
    -------
    (mastered, gain, lufs) : tuple
        float32 (n, 2); float32 (n,) the gain the master applied to every frame (loudness gain times the
        limiter's gain reduction: multiply the stems by it and they still add up to the mastered mix); the
        measured integrated loudness of the result.

    Raises
    ------
    ValueError
        When the mix is silent.
    """
    mix = np.asarray(mix, dtype=np.float32)
    loud = dsp.integrated_loudness(mix, sample_rate)
    if not np.isfinite(loud):
        raise ValueError("the mix is silent; nothing to bring to loudness (check that the parts have notes)")
    aim = float(target_lufs)
    out, result = mix, loud
    for _ in range(4):
        gain = 10.0 ** ((aim - loud) / 20.0)
        out = dsp.limit(mix * np.float32(gain), sample_rate, ceiling_dbtp=ceiling_dbtp)
        result = dsp.integrated_loudness(out, sample_rate)
        if abs(result - target_lufs) <= TOLERANCE_LU:
            break
        aim = min(0.0, aim + (target_lufs - result))
    return out.astype(np.float32, copy=False), applied_gain(mix, out, silent_gain=gain), float(result)


def applied_gain(before: np.ndarray, after: np.ndarray, *, silent_gain: float | None = None) -> np.ndarray:
    """(n,) float32 per-frame gain g with ``after ~= g * before`` (the limiter links channels, so one g per
    frame). Silent frames of ``before`` get ``silent_gain`` (default: the median gain of the others)."""
    before = np.asarray(before, dtype=np.float32)
    after = np.asarray(after, dtype=np.float32)
    energy = before[:, 0] * before[:, 0]
    cross = after[:, 0] * before[:, 0]
    for c in range(1, before.shape[1]):
        energy += before[:, c] * before[:, c]
        cross += after[:, c] * before[:, c]
    known = energy > np.float32(1e-10)
    if not known.any():
        return np.ones(len(before), dtype=np.float32)
    gain = np.divide(cross, energy, out=np.zeros_like(energy), where=known)
    fill = float(np.median(gain[known])) if silent_gain is None else float(silent_gain)
    gain[~known] = fill
    return gain
