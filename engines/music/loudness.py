"""Loudness mastering for composer takes: integrated loudness to a target with a true-peak ceiling.

TEMPORARY: until ``kernels/dsp.py`` (``normalize_loudness``, ``integrated_loudness``, ``true_peak_db``)
lands, this module carries a small numpy implementation: ITU-R BS.1770-4 K-weighting and gating, a 4x
oversampled true-peak estimate around the loudest samples, and a look-ahead brick-wall limiter made from
a min-filter and a moving average (the averaged gain never exceeds the gain any sample in its window
needs). When the kernel is importable, :func:`master` uses it instead.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

ABS_GATE_LUFS = -70.0


def _k_weighting(sample_rate: int):
    """BS.1770 K-weighting as second-order sections (pre-filter shelf, then RLB high-pass)."""
    # coefficients derived for any rate as in pyloudnorm / BS.1770 annex
    G, Q, fc = 3.99984385397, 0.7071752369554193, 1681.9744509555319
    K = np.tan(np.pi * fc / sample_rate)
    Vh = 10 ** (G / 20.0)
    Vb = Vh ** 0.4996667741545416
    a0 = 1.0 + K / Q + K * K
    shelf_b = [(Vh + Vb * K / Q + K * K) / a0, 2.0 * (K * K - Vh) / a0, (Vh - Vb * K / Q + K * K) / a0]
    shelf_a = [1.0, 2.0 * (K * K - 1.0) / a0, (1.0 - K / Q + K * K) / a0]
    Q2, fc2 = 0.5003270373238773, 38.13547087602444
    K2 = np.tan(np.pi * fc2 / sample_rate)
    hp_b = [1.0, -2.0, 1.0]
    a02 = 1.0 + K2 / Q2 + K2 * K2
    hp_a = [1.0, 2.0 * (K2 * K2 - 1.0) / a02, (1.0 - K2 / Q2 + K2 * K2) / a02]
    return np.array([shelf_b + shelf_a, hp_b + hp_a])


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS of (n,) or (n, c) float audio (BS.1770-4, channel weights 1)."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    channels = np.ascontiguousarray(x.T)                                   # (c, n): filtering runs along rows
    y = signal.sosfilt(_k_weighting(sample_rate).astype(np.float32), channels, axis=1)
    block, hop = int(0.4 * sample_rate), int(0.1 * sample_rate)
    if y.shape[1] < block:
        return float("-inf")
    power = np.concatenate([np.zeros((1, y.shape[0])), np.cumsum((y * y).T, axis=0, dtype=np.float64)])
    starts = np.arange(0, y.shape[1] - block + 1, hop)
    z = (power[starts + block] - power[starts]) / block          # (blocks, channels)
    zsum = z.sum(axis=1)
    with np.errstate(divide="ignore"):
        lj = -0.691 + 10.0 * np.log10(zsum)
    above = lj > ABS_GATE_LUFS
    if not above.any():
        return float("-inf")
    relative = -0.691 + 10.0 * np.log10(zsum[above].mean()) - 10.0
    keep = above & (lj > relative)
    return float(-0.691 + 10.0 * np.log10(zsum[keep].mean()))


def _fractional_filters(taps: int = 24, phases: int = 4) -> np.ndarray:
    """(phases - 1, taps) Kaiser-windowed sinc filters that interpolate at k/phases between samples."""
    n = np.arange(taps) - taps // 2 + 1
    rows = []
    for k in range(1, phases):
        frac = k / phases
        h = np.sinc(n - frac) * np.kaiser(taps, 6.0)
        rows.append(h / h.sum())
    return np.array(rows, dtype=np.float32)


_FRACTIONAL = _fractional_filters()


def true_peak(audio: np.ndarray, *, near_db: float = 3.0, max_candidates: int = 200_000) -> float:
    """Linear true peak of (n,) or (n, c) audio: the sample peak, and 4x oversampled values (windowed-sinc
    interpolation) between the samples within ``near_db`` of it, where inter-sample overs can win."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak == 0.0:
        return 0.0
    taps = _FRACTIONAL.shape[1]
    half = taps // 2
    best = peak
    for c in range(x.shape[1]):
        col = x[:, c]
        idx = np.flatnonzero(np.abs(col) >= peak * 10 ** (-near_db / 20.0))
        idx = idx[(idx >= half) & (idx < len(col) - half)][:max_candidates]
        if not len(idx):
            continue
        # values between idx and idx+1 (and idx-1 and idx): windows start at idx - half + 1 (and one earlier)
        for offset in (0, -1):
            starts = idx + offset - half + 1
            windows = col[starts[:, None] + np.arange(taps)[None, :]]
            best = max(best, float(np.abs(windows @ _FRACTIONAL.T).max()))
    return best


def limit(audio: np.ndarray, *, sample_rate: int, ceiling: float, lookahead_s: float = 0.0015,
          release_s: float = 0.05) -> np.ndarray:
    """Brick-wall limiter: (n, c) float32 whose sample peaks stay at or below ``ceiling`` (linear)."""
    mag = np.abs(audio).max(axis=1)
    need = np.minimum(1.0, ceiling / np.maximum(mag, 1e-12)).astype(np.float32)
    if need.min() >= 1.0:
        return audio
    look = max(1, int(lookahead_s * sample_rate))
    held = ndimage.minimum_filter1d(need, size=2 * look + 1 + int(release_s * sample_rate), mode="nearest",
                                    origin=-int(release_s * sample_rate) // 2)
    held = np.minimum(held, ndimage.minimum_filter1d(need, size=2 * look + 1, mode="nearest"))
    gain = ndimage.uniform_filter1d(held, size=2 * look + 1, mode="nearest")
    out = audio * gain[:, None]
    return np.clip(out, -ceiling, ceiling)


def master(mix: np.ndarray, *, sample_rate: int, target_lufs: float = -16.0, ceiling_dbtp: float = -1.0
           ) -> tuple[np.ndarray, float, float]:
    """Bring ``mix`` (n, 2) to ``target_lufs`` with true peaks at or below ``ceiling_dbtp``.

    Returns (mastered float32 (n, 2), the linear gain applied before limiting, measured LUFS).
    """
    mix = np.asarray(mix, dtype=np.float32)
    loud = integrated_loudness(mix, sample_rate)
    if not np.isfinite(loud):
        raise ValueError("the mix is silent; nothing to bring to loudness")
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    gain = 10.0 ** ((target_lufs - loud) / 20.0)
    out = mix
    for _ in range(3):
        out = limit(mix * np.float32(gain), sample_rate=sample_rate, ceiling=ceiling * 10 ** (-0.3 / 20.0))
        tp = true_peak(out)
        if tp > ceiling:
            out = out * np.float32(ceiling / tp * 0.999)
        loud = integrated_loudness(out, sample_rate)
        if abs(loud - target_lufs) <= 0.1:
            break
        gain *= 10.0 ** ((target_lufs - loud) / 20.0)
    return out.astype(np.float32), float(gain), float(loud)
