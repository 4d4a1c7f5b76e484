"""Sound effects made on the spot for the mixer (one-shots a festival mix needs and no take contains)."""

from __future__ import annotations

import numpy as np


def firecrackers(*, sample_rate: int, seed: int, duration_s: float = 2.5, pops_per_s: float = 28.0,
                 peak: float = 0.8) -> np.ndarray:
    """A string of firecrackers as a stereo one-shot: many short cracks, a few louder bangs, spread in space.

    Each crack is a few milliseconds of noise with an exponential decay and its own brightness (a one-pole
    low-pass) and position; the rate thins out towards the end like a real string burning down.

    Parameters
    ----------
    sample_rate : int
        Hz.
    seed : int
        the same seed gives the same one-shot.
    duration_s : float
        length in seconds (0.1-30).
    pops_per_s : float
        average cracks per second at the start (1-200).
    peak : float
        peak sample value of the result (0-1].

    Returns
    -------
    np.ndarray
        float32 (n, 2).
    """
    from scipy.signal import lfilter

    if not isinstance(sample_rate, (int, np.integer)) or not 8000 <= sample_rate <= 384_000:
        raise ValueError(f"sample_rate must be 8000-384000 Hz, got {sample_rate!r}")
    if not 0.1 <= duration_s <= 30.0:
        raise ValueError(f"duration_s must be 0.1-30 s, got {duration_s}")
    if not 1.0 <= pops_per_s <= 200.0:
        raise ValueError(f"pops_per_s must be 1-200, got {pops_per_s}")
    if not 0.0 < peak <= 1.0:
        raise ValueError(f"peak must be in (0, 1], got {peak}")
    rng = np.random.default_rng(int(seed))
    n = int(round(duration_s * sample_rate))
    out = np.zeros((n, 2), dtype=np.float64)
    t = 0.0
    while True:
        rate = pops_per_s * max(0.15, 1.0 - 0.8 * t / duration_s)
        t += rng.exponential(1.0 / rate)
        if t >= duration_s - 0.02:
            break
        bang = rng.random() < 0.08
        length = int(sample_rate * (rng.uniform(0.02, 0.06) if bang else rng.uniform(0.003, 0.012)))
        decay = np.exp(-np.arange(length) / (length / 5.0))
        burst = rng.standard_normal(length) * decay * (1.0 if bang else rng.uniform(0.25, 0.7))
        alpha = rng.uniform(0.3, 0.95)            # brightness: one-pole low-pass coefficient
        burst = lfilter([1.0 - alpha * 0.5], [1.0, -alpha * 0.5], burst)
        pan = rng.uniform(-0.8, 0.8)
        theta = (pan + 1.0) * np.pi / 4.0
        start = int(t * sample_rate)
        end = min(n, start + length)
        out[start:end, 0] += burst[: end - start] * np.cos(theta)
        out[start:end, 1] += burst[: end - start] * np.sin(theta)
    top = float(np.max(np.abs(out)))
    if top > 0:
        out *= peak / top
    return out.astype(np.float32)
