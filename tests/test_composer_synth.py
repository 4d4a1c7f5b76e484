"""Instrument synthesis by physical properties on single notes: pitch, glides, decay, pan, reverb tail.

Oracle: a plain FFT peak (parabolic interpolation) for frequencies; energy ratios for decay and pan.
"""

from __future__ import annotations

import numpy as np
import pytest

from lantern_studio.engines.music.arrange import BIG_GONG, SMALL_GONG, tempo_map
from lantern_studio.engines.music.score import Note, Part, Phrase, Score
from lantern_studio.engines.music.synth import Synth, place
from lantern_studio.engines.music.theory import Scale

SR = 48_000


def one_note_score(instrument: str, midi: int, *, beats: float = 4.0, ornament=None, grace=None) -> tuple[Score, Part]:
    score = Score(scale=Scale.make("gong", "A", octave=4), meter="4/4", beats_per_bar=4, bars=2, intro_bars=0,
                  tempo_bpm=tempo_map(bars=2, tempo_bpm=60.0), phrases=[Phrase("合", 0, 2, 0)], motif=())
    part = Part(name="x", role="melody", instrument=instrument,
                notes=[Note(0.0, beats, midi, velocity=100, ornament=ornament, grace_midi=grace)])
    score.parts.append(part)
    return score, part


def centroid_hz(x: np.ndarray, lo: float, hi: float) -> float:
    """Power-weighted mean frequency in a band: with vibrato (FM) the sidebands are symmetric about the
    note's frequency and can be stronger than the carrier, so the centroid is the pitch the ear hears."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    band = (freqs >= lo) & (freqs <= hi)
    return float(np.sum(freqs[band] * spectrum[band]) / np.sum(spectrum[band]))


def peak_hz(x: np.ndarray, lo: float, hi: float) -> float:
    n = len(x)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(n), n=4 * n))
    freqs = np.fft.rfftfreq(4 * n, 1 / SR)
    band = np.flatnonzero((freqs >= lo) & (freqs <= hi))
    k = band[np.argmax(spectrum[band])]
    a, b, c = np.log(spectrum[k - 1: k + 2] + 1e-12)
    return float(freqs[k] + 0.5 * (a - c) / (a - 2 * b + c) * (freqs[1] - freqs[0]))


@pytest.mark.parametrize("instrument", ["guzheng", "pipa", "dizi", "suona", "erhu"])
@pytest.mark.parametrize("midi", [57, 69, 81])
def test_every_melodic_instrument_sounds_its_written_pitch_within_five_cents(instrument, midi):
    score, part = one_note_score(instrument, midi)
    audio = Synth(sample_rate=SR, seed=1).render_part(part, score, 5 * SR)
    expected = 440.0 * 2 ** ((midi - 69) / 12)
    window = audio[int(0.5 * SR): int(3.5 * SR)]
    if instrument in ("guzheng", "pipa"):
        measured = peak_hz(window[: SR], expected / 1.2, expected * 1.2)
    else:
        measured = centroid_hz(window, expected * 2 ** (-1 / 12), expected * 2 ** (1 / 12))
    assert abs(1200 * np.log2(measured / expected)) < 5.0


def test_plucked_strings_decay_and_the_guzheng_rings_longer_than_the_pipa():
    ring = {}
    for instrument in ("guzheng", "pipa"):
        score, part = one_note_score(instrument, 69, beats=1.0)
        audio = Synth(sample_rate=SR, seed=1).render_part(part, score, 4 * SR)
        early = np.sqrt(np.mean(audio[int(0.05 * SR): int(0.25 * SR)] ** 2))
        late = np.sqrt(np.mean(audio[int(0.8 * SR): int(1.0 * SR)] ** 2))
        assert late < early
        ring[instrument] = late / early
    assert ring["guzheng"] > 2 * ring["pipa"]


def test_a_slide_glides_up_into_the_note():
    score, part = one_note_score("guzheng", 69, ornament="slide", grace=67)
    audio = Synth(sample_rate=SR, seed=1).render_part(part, score, 3 * SR)
    start = peak_hz(audio[:int(0.04 * SR)], 350, 470)
    settled = peak_hz(audio[int(0.3 * SR): int(0.8 * SR)], 350, 470)
    assert start < 430.0 and settled == pytest.approx(440.0, rel=0.005)


def test_tremolo_replucks_many_times_a_second():
    score, part = one_note_score("pipa", 69, beats=2.0, ornament="tremolo")
    audio = Synth(sample_rate=SR, seed=1).render_part(part, score, 3 * SR)
    env = np.abs(audio[: 2 * SR]).reshape(-1, 480).max(axis=1)           # 10 ms frames
    onsets = np.flatnonzero((env[1:] > 1.5 * env[:-1]) & (env[1:] > 0.2 * env.max()))
    assert 20 <= len(onsets) <= 36                                         # ~15 plucks a second for 2 s


def test_big_gong_glides_down_and_small_gong_glides_up():
    synth = Synth(sample_rate=SR, seed=1)
    big = synth.hit(BIG_GONG, 0).astype(np.float64)
    small = synth.hit(SMALL_GONG, 0).astype(np.float64)
    big_early, big_late = peak_hz(big[int(0.05 * SR): int(0.35 * SR)], 80, 105), peak_hz(big[int(1.5 * SR): int(1.8 * SR)], 80, 105)
    small_early, small_late = peak_hz(small[: int(0.05 * SR)], 560, 720), peak_hz(small[int(0.4 * SR): int(0.6 * SR)], 560, 720)
    assert big_late < big_early * 0.99
    assert small_late > small_early * 1.03


def test_constant_power_pan_and_a_reverb_tail():
    dry = np.zeros(2 * SR, dtype=np.float32)
    dry[: SR // 2] = np.sin(2 * np.pi * 440 * np.arange(SR // 2) / SR)
    left = place(dry, pan=-1.0, reverb=0.0, sample_rate=SR)
    assert np.max(np.abs(left[:, 1])) < 1e-6 and np.max(np.abs(left[:, 0])) == pytest.approx(1.0, abs=1e-3)
    centre = place(dry, pan=0.0, reverb=0.0, sample_rate=SR)
    np.testing.assert_allclose(centre[:, 0], centre[:, 1], atol=1e-6)
    assert np.sum(centre ** 2) == pytest.approx(np.sum(dry ** 2), rel=1e-3)   # power kept
    wet = place(dry, pan=0.0, reverb=0.3, sample_rate=SR)
    tail = wet[int(0.6 * SR): int(0.9 * SR)]
    assert np.sqrt(np.mean(tail ** 2)) > 1e-3                               # the room rings after the note
    assert np.max(np.abs(centre[int(0.6 * SR):])) == 0.0
