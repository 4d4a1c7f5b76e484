"""The one mastering function: loudness to a target under a true-peak ceiling, checked with independent
meters (pyloudnorm for BS.1770 loudness, scipy's polyphase resampler for 4x-oversampled true peaks)."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from lantern_studio.engines.audio.mastering import MIN_DURATION_S, TOLERANCE_LU, master_to_loudness

RATE = 48_000


def true_peak_dbtp(audio: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(resample_poly(audio, 4, 1, axis=0)))))


def drum_hits(seconds: float, *, level: float, seed: int = 0) -> np.ndarray:
    """Sparse loud clicks on a quiet tone: peaky audio the limiter has to catch, which costs loudness."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    audio = 0.05 * np.sin(2 * np.pi * 220 * t)
    for start in rng.integers(0, len(t) - 2000, size=int(seconds * 4)):
        audio[start:start + 2000] += level * np.exp(-np.arange(2000) / 300) * rng.choice([-1, 1])
    return np.stack([audio, 0.8 * audio], axis=1).astype(np.float32)


@pytest.mark.parametrize("target_lufs", [-23.0, -16.0, -9.0])
def test_peaky_audio_reaches_the_target_under_the_ceiling(target_lufs):
    audio = drum_hits(6.0, level=0.9)
    mastered = master_to_loudness(audio, RATE, target_lufs=target_lufs, ceiling_dbtp=-1.0)
    meter = pyloudnorm.Meter(RATE, filter_class="DeMan")       # the BS.1770 filter at any rate, as ours
    assert meter.integrated_loudness(mastered.audio) == pytest.approx(target_lufs, abs=TOLERANCE_LU + 0.03)
    assert mastered.lufs == pytest.approx(target_lufs, abs=TOLERANCE_LU)
    assert true_peak_dbtp(mastered.audio) <= -1.0 + 0.1
    assert mastered.source_lufs == pytest.approx(meter.integrated_loudness(audio), abs=0.1)
    assert mastered.audio.shape == audio.shape and mastered.audio.dtype == np.float32


def test_quiet_audio_under_the_ceiling_is_only_gained():
    t = np.arange(4 * RATE) / RATE
    audio = (0.01 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    mastered = master_to_loudness(audio, RATE, target_lufs=-30.0)
    ratio = mastered.audio / np.where(audio == 0, 1, audio)
    assert np.allclose(ratio[np.abs(audio) > 1e-3], 10 ** (mastered.gain_db / 20), rtol=1e-4)


def test_silence_and_clips_shorter_than_a_measuring_block_come_back_unchanged():
    silent = np.zeros((RATE, 2), dtype=np.float32)
    assert master_to_loudness(silent, RATE, target_lufs=-16.0).lufs is None
    short = drum_hits(MIN_DURATION_S * 0.9, level=0.5)
    mastered = master_to_loudness(short, RATE, target_lufs=-16.0)
    assert mastered.lufs is None and mastered.gain_db == 0.0 and np.array_equal(mastered.audio, short)
