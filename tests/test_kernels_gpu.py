"""The CUDA bodies on a real NVIDIA GPU, at the sizes the studio uses, against the numpy references.

The simulator tests (tests/cudasim_*.py and the composite/transition scripts) check the same bodies on
tiny inputs everywhere; these run only where numba finds a GPU and a driver, and skip elsewhere (CI has no
GPU). They catch what the simulator cannot: the compiled device code's float rounding, launch geometry
over millions of threads, and device-side checks. Run them with
``python -m pytest tests/test_kernels_gpu.py`` on a machine with a GPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from lantern_studio.kernels.backend import cuda_available

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cudasim_mix import random_case  # noqa: E402
from test_kernels_composite import assert_close, random_frame, random_layer_pixels  # noqa: E402

pytestmark = pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU with a working driver here")

SR = 48_000


def assert_bus_close(got, want):
    assert got.shape == want.shape and got.dtype == np.float32
    scale = max(1.0, float(np.abs(want).max()))
    assert np.abs(got.astype(np.float64) - want).max() <= 2e-6 * scale


# ----------------------------------------------------------------------------------------------------
# mix


@pytest.mark.parametrize("seed", range(4))
def test_mix_matches_reference_on_random_48k_sessions(seed):
    from lantern_studio.kernels.mix import mix

    stems, kwargs = random_case(np.random.default_rng(500 + seed), max_frames=400_000, ducking=seed % 2 == 0,
                                sample_rate=SR)
    want = mix(stems, backend="reference", **kwargs)
    got = mix(stems, backend="cuda", **kwargs)
    assert_bus_close(got, want)
    edge = want.shape[0] // 3 + 7
    window = mix(stems, backend="cuda", start_s=edge / SR, **kwargs)
    np.testing.assert_allclose(window, got[edge:], rtol=0, atol=1e-6)


def test_mix_of_the_benchmark_session_matches_reference_and_fills_out():
    """16 stereo stems with automation, pan, fades and ducking (the benchmark's session, 12 s)."""
    from lantern_studio.benchmarks.bench_mix import make_session
    from lantern_studio.kernels.mix import mix

    stems, options = make_session(16, 12.0)
    want = mix(stems, backend="reference", **options)
    out = np.full(want.shape, np.nan, np.float32)
    assert mix(stems, backend="cuda", out=out, **options) is out
    assert_bus_close(out, want)


def test_mix_reports_nan_stems_and_overflow_on_the_gpu():
    from lantern_studio.kernels.mix import Stem, mix

    rng = np.random.default_rng(3)
    arrays = [rng.uniform(-1, 1, (SR, 2)).astype(np.float32) for _ in range(3)]
    arrays[2][SR // 2, 1] = np.nan
    with pytest.raises(ValueError, match="stem 2 contains NaN or inf at frame 24000"):
        mix([Stem(a) for a in arrays], sample_rate=SR, backend="cuda")
    arrays[2][SR // 2, 1] = 3e38
    with pytest.raises(ValueError, match="overflowed to inf"):
        mix([Stem(arrays[0]), Stem(arrays[1]), Stem(arrays[2], gain_db=60.0)], sample_rate=SR, backend="cuda")


# ----------------------------------------------------------------------------------------------------
# dsp


@pytest.fixture(scope="module")
def program():
    rng = np.random.default_rng(11)
    t = np.arange(20 * SR) / SR
    tone = 0.3 * np.sin(2 * np.pi * 997 * t)[:, None] * np.array([1.0, 0.6])
    return (tone + 0.05 * rng.standard_normal((t.size, 2))).astype(np.float32)


def test_loudness_and_true_peak_match_reference(program):
    from lantern_studio.kernels import dsp

    assert dsp.integrated_loudness(program, SR, backend="cuda") == pytest.approx(
        dsp.integrated_loudness(program, SR, backend="reference"), abs=1e-6)
    assert dsp.true_peak_db(program, SR, backend="cuda") == pytest.approx(
        dsp.true_peak_db(program, SR, backend="reference"), abs=1e-6)


def test_biquad_streaming_crossfeed_and_limiter_match_reference(program):
    from lantern_studio.kernels import dsp

    sos = dsp.k_weighting_sos(SR)
    whole, _ = dsp.biquad_cascade(program, sos, backend="reference")
    head, state = dsp.biquad_cascade(program[:123_457], sos, backend="cuda")
    tail, _ = dsp.biquad_cascade(program[123_457:], sos, state=state, backend="cuda")
    np.testing.assert_allclose(np.concatenate([head, tail]), whole, rtol=0, atol=1e-5)
    np.testing.assert_allclose(dsp.crossfeed(program, SR, backend="cuda"),
                               dsp.crossfeed(program, SR, backend="reference"), rtol=0, atol=1e-6)
    loud = program * 4
    np.testing.assert_allclose(dsp.limit(loud, SR, backend="cuda"), dsp.limit(loud, SR, backend="reference"),
                               rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------------------------------
# frames


def large_layers(rng, frame_hw, dtype, count=4):
    from lantern_studio.kernels.composite import BLEND_MODES, Layer, affine

    height, width = frame_hw
    layers = []
    for i in range(count):
        h, w = (int(v) for v in rng.integers(200, 900, 2))
        matrix = affine(scale=(rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0)), rotation_deg=rng.uniform(-30, 30),
                        translate=(rng.uniform(-w / 2, width), rng.uniform(-h / 2, height)), origin=(w / 2, h / 2))
        layers.append(Layer(random_layer_pixels(rng, h, w, dtype, smooth=True), matrix,
                            opacity=float(rng.uniform(0.3, 1.0)), blend=BLEND_MODES[i % len(BLEND_MODES)]))
    return layers


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_composite_of_a_1080x1920_frame_matches_reference(dtype):
    from lantern_studio.kernels.composite import composite

    rng = np.random.default_rng(21)
    frame = random_frame(rng, 1920, 1080, 3, dtype)
    layers = large_layers(rng, (1920, 1080), dtype)
    assert_close(composite(frame, layers, backend="cuda"), composite(frame, layers, backend="reference"))


def assert_within_rounding(got, want):
    """As the simulator test does: uint8 within one step (float32 body, float64 reference), float 1e-6."""
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.abs(got.astype(np.float64) - want).max() <= (1 if want.dtype == np.uint8 else 1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_transitions_gradient_and_letterbox_match_reference(dtype):
    from lantern_studio.kernels.fill import gradient, letterbox
    from lantern_studio.kernels.transition import transition

    rng = np.random.default_rng(4)
    a, b = (random_frame(rng, 1920, 1080, 3, dtype) for _ in range(2))
    color = (200, 30, 60) if dtype == np.uint8 else (0.8, 0.1, 0.2)
    for kind, direction, t in (("dissolve", "left", 0.3), ("dip", "left", 0.6), ("wipe", "up", 0.45)):
        opts = dict(kind=kind, direction=direction, softness=0.2, color=color)
        assert_within_rounding(transition(a, b, t, backend="cuda", **opts),
                               transition(a, b, t, backend="reference", **opts))
    g = dict(angle_deg=30.0, channels=3, dtype=dtype)
    assert_within_rounding(gradient((1920, 1080), color, color[::-1], backend="cuda", **g),
                           gradient((1920, 1080), color, color[::-1], backend="reference", **g))
    assert_within_rounding(letterbox(a, (1080, 1920), color=color, backend="cuda"),
                           letterbox(a, (1080, 1920), color=color, backend="reference"))
