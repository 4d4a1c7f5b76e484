"""Loudness mastering for composer takes, with the per-frame gain the stems need to add up to the master.

The mastering itself is :func:`lantern_studio.engines.audio.mastering.master_to_loudness`, shared by the whole
studio; this adds the gain the master applied to every frame, so stems scaled by it still sum to the mix.
"""

from __future__ import annotations

import numpy as np

from lantern_studio.engines.audio.mastering import master_to_loudness


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
    mastered = master_to_loudness(mix, sample_rate, target_lufs=target_lufs, ceiling_dbtp=ceiling_dbtp)
    if mastered.lufs is None:
        raise ValueError("the mix is silent; nothing to bring to loudness (check that the parts have notes)")
    gain = 10.0 ** (mastered.gain_db / 20.0)
    return mastered.audio, applied_gain(mix, mastered.audio, silent_gain=gain), mastered.lufs


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
