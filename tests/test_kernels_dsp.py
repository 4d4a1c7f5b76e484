"""lantern_studio.kernels.dsp: bodies against references, scipy/pyloudnorm and analytic oracles, streaming, bad input.

The CUDA bodies run under numba's simulator in a subprocess (tests/cudasim_dsp.py) on tiny sizes.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import pytest
from scipy import signal

from lantern_studio.kernels import dsp
from lantern_testkit import run_check_script

SR = 48000


def _pink(rng, frames, channels):
    """Pink noise by 1/sqrt(f) spectral shaping of white noise, unit RMS per channel."""
    spectrum = np.fft.rfft(rng.standard_normal((frames, channels)), axis=0)
    f = np.fft.rfftfreq(frames)
    f[0] = f[1]
    pink = np.fft.irfft(spectrum / np.sqrt(f)[:, None], n=frames, axis=0)
    return pink / pink.std(axis=0)


def _sine(freq, seconds, amplitude, channels=2, phase=0.0, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    tone = amplitude * np.sin(2 * np.pi * freq * t + phase)
    return np.repeat(tone[:, None], channels, axis=1) if channels > 1 else tone


# ----------------------------------------------------------------------------------------------- biquads

def _random_sos(rng, sections):
    rows = []
    for _ in range(sections):
        poles = rng.uniform(0.2, 0.95) * np.exp(1j * rng.uniform(0.1, 3.0))
        zeros = rng.uniform(0.1, 1.2) * np.exp(1j * rng.uniform(0.1, 3.0))
        b = np.real(np.poly([zeros, np.conj(zeros)])) * rng.uniform(0.5, 2)
        a = np.real(np.poly([poles, np.conj(poles)]))
        rows.append(np.concatenate([b, a]))
    return np.array(rows)


@pytest.mark.parametrize("frames, channels, sections", [(0, 2, 1), (1, 1, 2), (1001, 2, 3), (777, 5, 1), (4097, 1, 4)])
def test_biquad_matches_scipy_sosfilt(frames, channels, sections):
    rng = np.random.default_rng(frames + channels)
    x = rng.uniform(-1, 1, (frames, channels)).astype(np.float32)
    sos = _random_sos(rng, sections)
    zi = rng.uniform(-0.1, 0.1, (sections, 2, channels))
    if frames:
        want, want_state = signal.sosfilt(sos, x.astype(np.float64), axis=0, zi=zi)
    else:
        want, want_state = x, zi
    for backend in ("cpu", "reference"):
        got, state = dsp.biquad_cascade(x, sos, state=zi, backend=backend)
        assert got.dtype == np.float32 and got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(state, want_state, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_biquad_streaming_equals_one_shot(backend):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 5003).astype(np.float64)
    sos = signal.butter(4, 0.1, output="sos")
    whole, _ = dsp.biquad_cascade(x, sos, backend=backend)
    cuts = [0, 1, 2, 500, 501, 3000, 5003]
    state, parts = None, []
    for a, b in zip(cuts[:-1], cuts[1:]):
        part, state = dsp.biquad_cascade(x[a:b], sos, state=state, backend=backend)
        parts.append(part)
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=0, atol=1e-12)


def test_butterworth_lowpass_is_3_db_down_at_its_cutoff():
    sos = signal.butter(2, 1000, fs=SR, output="sos")
    tone = _sine(1000, 1.0, 0.5, channels=1)
    out, _ = dsp.biquad_cascade(tone, sos, backend="cpu")
    steady = out[SR // 2:]
    assert 20 * np.log10(np.sqrt(2) * steady.std() / 0.5) == pytest.approx(-3.01, abs=0.02)


def test_biquad_bad_input():
    sos = signal.butter(2, 0.2, output="sos")
    with pytest.raises(ValueError, match=r"sos has shape \(6,\)"):
        dsp.biquad_cascade(np.zeros(10), sos[0])
    bad = sos.copy()
    bad[0, 3] = 0
    with pytest.raises(ValueError, match="a0 == 0"):
        dsp.biquad_cascade(np.zeros(10), bad)
    with pytest.raises(ValueError, match=r"state has shape \(1, 2\).*\(1, 2, 2\)"):
        dsp.biquad_cascade(np.zeros((10, 2)), sos, state=np.zeros((1, 2)))
    with pytest.raises(ValueError, match="NaN or inf at frame 4"):
        dsp.biquad_cascade(np.array([0, 0, 0, 0, np.inf]), sos)


# ------------------------------------------------------------------------------------------------ loudness

def test_k_weighting_reproduces_the_bs1770_table_at_48k():
    # ITU-R BS.1770-4, Tables 1 and 2 (pre-filter and RLB filter at 48 kHz)
    table = np.array([[1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
                      [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621]])
    np.testing.assert_allclose(dsp.k_weighting_sos(48000), table, atol=1e-9)


@functools.lru_cache(maxsize=1)
def _ebu_cases():
    rng = np.random.default_rng(3341)
    pink = _pink(rng, 12 * SR, 2)
    bursts = pink * 10 ** (-20 / 20)
    bursts[np.arange(len(bursts)) // SR % 3 == 2] *= 10 ** (-30 / 20)  # every third second 30 dB down: gated
    return {
        "stereo 1 kHz at -23 dBFS": (_sine(1000, 20, 10 ** (-23 / 20)), -23.0),
        "stereo 1 kHz at -33 dBFS": (_sine(1000, 20, 10 ** (-33 / 20)), -33.0),
        # EBU Tech 3341 cases 3 and 4, with their durations (the gates must drop the quiet parts)
        "-36/-23/-36 dBFS relative gate": (np.concatenate([_sine(1000, 10, 10 ** (-36 / 20)),
                                                          _sine(1000, 60, 10 ** (-23 / 20)),
                                                          _sine(1000, 10, 10 ** (-36 / 20))]), -23.0),
        "-72/-36/-23/-36/-72 dBFS": (np.concatenate([_sine(1000, 10, 10 ** (-72 / 20)), _sine(1000, 10, 10 ** (-36 / 20)),
                                                     _sine(1000, 60, 10 ** (-23 / 20)), _sine(1000, 10, 10 ** (-36 / 20)),
                                                     _sine(1000, 10, 10 ** (-72 / 20))]), -23.0),
        "mono 1 kHz at -23 dBFS": (_sine(1000, 10, 10 ** (-23 / 20), channels=1), -26.01),
        "gated pink-noise bursts": (bursts, None),
    }


@pytest.mark.parametrize("name", list(_ebu_cases()))
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_integrated_loudness_matches_pyloudnorm_and_the_ebu_values(name, backend):
    pyln = pytest.importorskip("pyloudnorm")
    audio, expected = _ebu_cases()[name]
    ours = dsp.integrated_loudness(audio.astype(np.float32), SR, backend=backend)
    for filter_class in ("K-weighting", "DeMan"):
        theirs = pyln.Meter(SR, filter_class=filter_class).integrated_loudness(audio)
        assert ours == pytest.approx(theirs, abs=0.1), filter_class
    if expected is not None:
        assert ours == pytest.approx(expected, abs=0.1)


def test_loudness_at_other_rates_and_five_channels():
    pyln = pytest.importorskip("pyloudnorm")
    rng = np.random.default_rng(9)
    for sr in (44100, 22050, 96000):
        x = _pink(rng, 5 * sr, 5) * 0.05
        ours = dsp.integrated_loudness(x, sr, backend="cpu")
        assert ours == pytest.approx(pyln.Meter(sr, filter_class="DeMan").integrated_loudness(x), abs=0.02)


def test_silence_is_minus_infinity_and_short_audio_is_refused():
    assert dsp.integrated_loudness(np.zeros((SR, 2), np.float32), SR) == -math.inf
    assert dsp.loudness_stats(np.zeros(SR), SR)["true_peak_dbtp"] == -math.inf
    with pytest.raises(ValueError, match="at least one 400 ms gating block"):
        dsp.integrated_loudness(np.zeros(SR // 4), SR)
    with pytest.raises(ValueError, match="at most 5 are supported"):
        dsp.integrated_loudness(np.zeros((SR, 6)), SR)
    with pytest.raises(ValueError, match="at least 8000 Hz"):
        dsp.integrated_loudness(np.zeros(4000), 4000)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("frame", [0, 7777, SR + 4799])  # inside a hop, and in the tail after the last hop
def test_loudness_reports_non_finite_samples(backend, frame):
    x = (np.random.default_rng(1).standard_normal((SR + 4800 + 100, 2)) * 0.1).astype(np.float32)
    x[frame, 1] = np.inf if frame else np.nan
    with pytest.raises(ValueError, match=f"NaN or inf at frame {frame}"):
        dsp.integrated_loudness(x, SR, backend=backend)


def test_loudness_stats_windows():
    tone = _sine(1000, 10, 10 ** (-23 / 20))
    tone[: 5 * SR] *= 10 ** (-10 / 20)
    stats = dsp.loudness_stats(tone, SR, backend="cpu")
    # the loud half is a steady -23 LUFS tone: both maxima read it
    assert stats["momentary_max_lufs"] == pytest.approx(-23.0, abs=0.05)
    assert stats["short_term_max_lufs"] == pytest.approx(-23.0, abs=0.05)
    assert stats["true_peak_dbtp"] == pytest.approx(-23.0, abs=0.05)
    assert math.isnan(dsp.loudness_stats(tone[: 2 * SR], SR)["short_term_max_lufs"])


def test_loudness_meter_streaming_equals_one_shot():
    rng = np.random.default_rng(4)
    x = (_pink(rng, 7 * SR + 123, 2) * 0.1).astype(np.float32)
    whole = dsp.loudness_stats(x, SR, backend="cpu")
    meter = dsp.LoudnessMeter(SR, 2)
    cuts = [0, 1, 100, 4800, 4801, 77777, 3 * SR, x.shape[0]]
    for a, b in zip(cuts[:-1], cuts[1:]):
        meter.add(x[a:b])
    streamed = meter.stats()
    for key in ("integrated_lufs", "momentary_max_lufs", "short_term_max_lufs"):
        assert streamed[key] == pytest.approx(whole[key], abs=1e-9)
    with pytest.raises(ValueError, match="exactly 2"):
        meter.add(np.zeros(10))


# ----------------------------------------------------------------------------------------------- true peak

@pytest.mark.parametrize("freq, phase", [(SR / 4, np.pi / 4), (997.0, 0.3), (11025.0, 1.0), (17000.0, 2.2)])
def test_true_peak_of_intersample_tones_is_within_0_2_db_of_analytic(freq, phase):
    amplitude = 0.5
    tone = _sine(freq, 0.5, amplitude, channels=1, phase=phase)
    fade = np.hanning(2 * 2400)  # 50 ms raised-cosine edges: an abrupt start has real overshoot of its own
    tone[:2400] *= fade[:2400]
    tone[-2400:] *= fade[2400:]
    tone = tone.astype(np.float32)
    sample_peak_db = 20 * np.log10(np.abs(tone).max())
    for backend in ("cpu", "reference"):
        tp = dsp.true_peak_db(tone, SR, backend=backend)
        assert tp == pytest.approx(20 * math.log10(amplitude), abs=0.2)
    if freq == SR / 4:
        assert sample_peak_db == pytest.approx(20 * math.log10(amplitude) - 3.01, abs=0.01)  # the test is real


def test_true_peak_cpu_matches_reference_on_random_audio():
    rng = np.random.default_rng(8)
    for frames in (1, 2, 25, 1001):
        x = rng.uniform(-1, 1, (frames, 3)).astype(np.float32)
        assert dsp.true_peak_db(x, SR, backend="cpu") == pytest.approx(dsp.true_peak_db(x, SR, backend="reference"),
                                                                       abs=1e-5)
        np.testing.assert_allclose(dsp._tp_track(x, "cpu"), dsp._tp_track(x, "reference"), rtol=1e-6, atol=1e-7)
    assert dsp.true_peak_db(np.zeros((0, 2), np.float32), SR) == -math.inf


# ----------------------------------------------------------------------------------------------- crossfeed

def test_crossfeed_matches_reference_and_streams():
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (4001, 2)).astype(np.float32)
    ref = dsp.crossfeed(x, SR, strength=0.7, cutoff_hz=650, delay_ms=0.27, backend="reference")
    cpu = dsp.crossfeed(x, SR, strength=0.7, cutoff_hz=650, delay_ms=0.27, backend="cpu")
    np.testing.assert_allclose(cpu, ref, atol=1e-6)
    stream = dsp.CrossfeedStream(SR, strength=0.7, cutoff_hz=650, delay_ms=0.27, backend="cpu")
    parts = [stream.process(x[a:b]) for a, b in [(0, 5), (5, 6), (6, 13), (13, 2000), (2000, 4001)]]
    np.testing.assert_allclose(np.concatenate(parts), cpu, atol=1e-7)


@pytest.mark.parametrize("frames", [0, 1, 2, 15, 16, 17])
def test_crossfeed_and_limiter_on_tiny_inputs(frames):
    rng = np.random.default_rng(frames)
    x = rng.uniform(-1.5, 1.5, (frames, 2)).astype(np.float32)
    np.testing.assert_allclose(dsp.crossfeed(x, SR, delay_ms=0.3, backend="cpu"),
                               dsp.crossfeed(x, SR, delay_ms=0.3, backend="reference"), atol=1e-6)
    limited = dsp.limit(x, SR, ceiling_dbtp=-2.0, backend="cpu")
    np.testing.assert_allclose(limited, dsp.limit(x, SR, ceiling_dbtp=-2.0, backend="reference"), atol=1e-6)
    assert limited.shape == x.shape
    if frames:
        assert dsp.true_peak_db(limited, SR) <= -2.0 + 1e-4


def test_crossfeed_physics():
    strength, delay_ms = 0.5, 0.5
    delay = round(delay_ms * SR / 1000)
    impulse = np.zeros((200, 2), np.float32)
    impulse[50, 0] = 1.0
    out = dsp.crossfeed(impulse, SR, strength=strength, delay_ms=delay_ms, backend="cpu")
    assert out[50, 0] == pytest.approx(1 / (1 + strength))
    assert not out[: 50 + delay, 1].any() and out[50 + delay, 1] > 0  # the other ear hears it `delay` later
    # a hard-left 60 Hz tone: the cross path passes the low-pass almost whole
    tone = np.stack([_sine(60, 1.0, 0.5, channels=1), np.zeros(SR)], axis=1)
    out = dsp.crossfeed(tone, SR, strength=strength, cutoff_hz=700, backend="cpu")[SR // 2:]
    lp_gain = abs(signal.freqz([1, 1], [1, (math.tan(math.pi * 700 / SR) - 1) / (math.tan(math.pi * 700 / SR) + 1)],
                               worN=[60], fs=SR)[1][0]) * math.tan(math.pi * 700 / SR) / (1 + math.tan(math.pi * 700 / SR))
    assert np.abs(out[:, 1]).max() == pytest.approx(0.5 * strength * lp_gain / (1 + strength), rel=0.01)
    np.testing.assert_array_equal(dsp.crossfeed(tone, SR, strength=0.0, backend="cpu"), tone)


def test_crossfeed_bad_input():
    with pytest.raises(ValueError, match=r"exactly 2: shape \(frames, 2\)"):
        dsp.crossfeed(np.zeros(100), SR)
    with pytest.raises(ValueError, match="below the Nyquist"):
        dsp.crossfeed(np.zeros((100, 2)), SR, cutoff_hz=30000)
    with pytest.raises(ValueError, match="strength must be <= 1"):
        dsp.crossfeed(np.zeros((100, 2)), SR, strength=2)


# ----------------------------------------------------------------------------------------------- limiter

@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_limiter_keeps_the_true_peak_under_the_ceiling(backend):
    rng = np.random.default_rng(12)
    x = (_pink(rng, 2 * SR + 7, 2) * 0.6).astype(np.float32)
    out = dsp.limit(x, SR, ceiling_dbtp=-1.0, backend=backend)
    assert dsp.true_peak_db(x, SR) > 3.0
    assert dsp.true_peak_db(out, SR) <= -1.0 + 1e-4
    ratio = out[np.abs(x) > 1e-3] / x[np.abs(x) > 1e-3]
    assert ratio.max() <= 1.0 + 1e-6 and ratio.min() > 0  # a gain, never a boost, never a sign flip


def test_limiter_cpu_matches_reference():
    rng = np.random.default_rng(13)
    x = (rng.standard_normal((3001, 2)) * 0.5).astype(np.float32)
    np.testing.assert_allclose(dsp.limit(x, SR, ceiling_dbtp=-3, lookahead_ms=1.3, release_ms=20, backend="cpu"),
                               dsp.limit(x, SR, ceiling_dbtp=-3, lookahead_ms=1.3, release_ms=20, backend="reference"),
                               atol=1e-6)


def test_limiter_leaves_quiet_audio_alone_and_is_latency_compensated():
    quiet = _sine(440, 0.5, 0.3, channels=1).astype(np.float32)
    np.testing.assert_array_equal(dsp.limit(quiet, SR, ceiling_dbtp=-1.0), quiet)
    spike = quiet.copy()
    spike[12000] = 0.99
    out = dsp.limit(spike, SR, ceiling_dbtp=-6.0, lookahead_ms=5.0, release_ms=50.0)
    window = round(0.005 * SR)
    np.testing.assert_array_equal(out[: 12000 - 2 * window], spike[: 12000 - 2 * window])  # untouched well before
    assert np.argmax(np.abs(out)) == np.argmax(np.abs(spike)) or np.abs(out).max() <= 10 ** (-6 / 20) + 1e-6
    assert abs(out[12000]) <= 10 ** (-6 / 20) + 1e-6


def test_normalize_loudness():
    rng = np.random.default_rng(14)
    x = (_pink(rng, 6 * SR, 2) * 0.01).astype(np.float32)
    out = dsp.normalize_loudness(x, SR, target_lufs=-23.0, ceiling_dbtp=-1.0)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert dsp.integrated_loudness(out, SR) == pytest.approx(-23.0, abs=0.05)
    loud = dsp.normalize_loudness(x, SR, target_lufs=-8.0, ceiling_dbtp=-1.0)
    assert dsp.true_peak_db(loud, SR) <= -1.0 + 1e-4
    assert dsp.integrated_loudness(loud, SR) < -8.0 + 0.05
    silence = np.zeros(SR, np.float32)
    np.testing.assert_array_equal(dsp.normalize_loudness(silence, SR), silence)
    mono = dsp.normalize_loudness(x[:, 0], SR, target_lufs=-20.0)
    assert mono.shape == (6 * SR,)


def test_dsp_bad_input_messages():
    with pytest.raises(ValueError, match="dtype int16"):
        dsp.true_peak_db(np.zeros(10, np.int16), SR)
    with pytest.raises(ValueError, match="channels-first; pass audio.T"):
        dsp.limit(np.zeros((2, 1000)), SR)
    with pytest.raises(ValueError, match="NaN or inf at frame 2"):
        dsp.limit(np.array([0.0, 0.1, np.nan]), SR)
    with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
        dsp.true_peak_db(np.zeros(10), 44100.0)
    with pytest.raises(ValueError, match="lookahead_ms must be >= 0"):
        dsp.limit(np.zeros(10), SR, lookahead_ms=-1)


# ----------------------------------------------------------------------------------------------- CUDA

@pytest.mark.skipif(dsp.resolve_backend("auto") == "cuda" or bool(os.environ.get("NUMBA_ENABLE_CUDASIM")),
                    reason="a GPU (or the simulator) is present")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ValueError, match="backend='cuda' needs an NVIDIA GPU"):
        dsp.true_peak_db(np.zeros(10), SR, backend="cuda")


def test_cuda_bodies_match_reference_under_the_simulator():
    run_check_script("cudasim_dsp.py", "cuda dsp ok", cudasim=True, timeout=300)
