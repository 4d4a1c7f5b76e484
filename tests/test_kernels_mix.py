"""lantern_studio.kernels.mix: every body against the numpy reference, pydub as an independent oracle, bad input.

The CUDA body runs under numba's simulator in a subprocess (tests/cudasim_mix.py) on tiny sizes.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

import lantern_studio.kernels.mix as km
from lantern_studio.kernels.mix import Ducking, Stem, mix
from lantern_testkit import run_check_script

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cudasim_mix import random_case, stems_of  # noqa: E402  (shared with the simulator script)


def assert_windows_concatenate(stems, kwargs, whole, edges, *, backend):
    """Mixing the windows between consecutive ``edges`` (frames) gives exactly ``whole``."""
    sr = kwargs["sample_rate"]
    parts = [mix(stems, backend=backend, start_s=a / sr, length_s=(b - a) / sr, **kwargs)
             for a, b in zip(edges[:-1], edges[1:])]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("seed", range(8))
def test_cpu_matches_reference_on_random_sessions(seed):
    stems, kwargs = random_case(np.random.default_rng(seed), max_frames=2500)
    ref = mix(stems, backend="reference", **kwargs)
    cpu = mix(stems, backend="cpu", **kwargs)
    assert cpu.dtype == np.float32 and cpu.shape == ref.shape
    assert np.abs(ref).max() > 0.05  # the case really mixes something
    np.testing.assert_allclose(cpu, ref, rtol=0, atol=2e-6 * max(1.0, float(np.abs(ref).max())))


@pytest.mark.parametrize("seed", range(3))
def test_cpu_matches_reference_at_48k_over_many_blocks(seed):
    # seconds-long stems at 48 kHz: many timeline blocks and ducking hops, gentle ramps (the sub-cell path)
    stems, kwargs = random_case(np.random.default_rng(100 + seed), max_frames=480_001, ducking=True,
                                sample_rate=48000)
    ref = mix(stems, backend="reference", **kwargs)
    cpu = mix(stems, backend="cpu", **kwargs)
    assert ref.shape[0] > 6 * km.BLOCK_FRAMES
    np.testing.assert_allclose(cpu, ref, rtol=0, atol=1e-6 * max(1.0, float(np.abs(ref).max())))
    # windows that cut blocks and ducking hops carry the envelope exactly
    n, block = cpu.shape[0], km.BLOCK_FRAMES
    edges = [0, block // 2 + 3, 3 * block + 5000, n // 2 + 1, n]
    assert_windows_concatenate(stems, kwargs, cpu, edges, backend="cpu")


@pytest.mark.parametrize("seed", range(4))
def test_small_blocks_match_reference_and_windows(monkeypatch, seed):
    # a block of 64 frames (two ducking hops) puts block, hop and anchor edges everywhere
    monkeypatch.setattr(km, "BLOCK_FRAMES", 64)
    stems, kwargs = random_case(np.random.default_rng(200 + seed), max_frames=1500, ducking=True)
    ref = mix(stems, backend="reference", **kwargs)
    whole = mix(stems, backend="cpu", **kwargs)
    np.testing.assert_allclose(whole, ref, rtol=0, atol=2e-6 * max(1.0, float(np.abs(ref).max())))
    n = whole.shape[0]
    edges = [0, 5, 64, 100, n // 2 + 3, n]
    assert_windows_concatenate(stems, kwargs, whole, edges, backend="cpu")


@pytest.mark.parametrize("block", [64, 256])
def test_static_stereo_stems_paired_per_block_match_reference_and_windows(monkeypatch, block):
    # mostly static stereo stems (the CPU body adds them two at a time in blocks they cover whole), some
    # ducked, an odd one out per target, mono and automated stems between them, fades on a few
    monkeypatch.setattr(km, "BLOCK_FRAMES", block)
    rng = np.random.default_rng(block)
    sr, count = 8000, 11
    stems = [rng.uniform(-1, 1, (int(rng.integers(3000, 6000)), 2) if i != 4 else int(rng.integers(3000, 6000)))
             .astype(np.float32) for i in range(count)]
    automation = [None] * count
    automation[6] = np.array([[0.1, -6.0], [0.5, 2.0]])
    offsets = [float(rng.integers(0, 900)) / sr for _ in range(count)]
    # stems 5 and 8 start and end inside timeline blocks that windows cut: a window must still add them
    # the way the whole mix does
    offsets[5] = (block + 10) / sr
    end_8 = int(round(offsets[8] * sr)) + stems[8].shape[0]
    stems = stems_of(stems, gain_db=list(rng.uniform(-9, 3, count)), pan=list(rng.uniform(-1, 1, count)),
                     offset_s=offsets, gain_automation=automation,
                     fade_in_s=[0.05 if i in (2, 7) else 0.0 for i in range(count)],
                     fade_out_s=[0.03 if i == 3 else 0.0 for i in range(count)])
    kwargs = dict(sample_rate=sr, ducking=Ducking(key=0, targets=(1, 3, 5, 8, 9), depth_db=-12.0, threshold_db=-6.0))
    ref = mix(stems, backend="reference", **kwargs)
    whole = mix(stems, backend="cpu", **kwargs)
    np.testing.assert_allclose(whole, ref, rtol=0, atol=2e-6 * max(1.0, float(np.abs(ref).max())))
    n = whole.shape[0]
    edges = sorted({0, 7, block + 20, 5 * block, n // 2 + 1, end_8 - 5, n})
    assert_windows_concatenate(stems, kwargs, whole, edges, backend="cpu")


def test_gently_automated_stereo_stems_paired_per_block_match_reference_and_windows():
    # slow gain and pan rides (a few dB over seconds, as in real sessions) on stereo stems at 48 kHz with the
    # default blocks: the CPU body adds them two at a time along quadratic sub-cells; one static stem and an
    # odd one out per target
    rng = np.random.default_rng(31)
    sr, count, frames = 48000, 7, 5 * 48000 + 17
    stems = [rng.uniform(-1, 1, (frames, 2)).astype(np.float32) for _ in range(count)]
    gain_automation = [np.array([[0.0, -6.0 + i], [4.0, -1.0 * i], [9.0, -3.0]]) for i in range(count)]
    gain_automation[2] = None
    pan_automation = [None] * count
    pan_automation[3] = np.array([[0.5, -0.6], [6.0, 0.4]])
    pan_automation[5] = np.array([[0.0, 0.3], [5.0, -0.2]])
    stems = stems_of(stems, gain_db=list(rng.uniform(-6, 0, count)),
                     pan=[0.0 if a is not None else float(rng.uniform(-1, 1)) for a in pan_automation],
                     gain_automation=gain_automation, pan_automation=pan_automation,
                     offset_s=[0.0, 0.0, 0.01, 0.0, 0.2, 0.0, 0.0])
    kwargs = dict(sample_rate=sr, ducking=Ducking(key=0, targets=(1, 4, 5), depth_db=-9.0))
    ref = mix(stems, backend="reference", **kwargs)
    whole = mix(stems, backend="cpu", **kwargs)
    np.testing.assert_allclose(whole, ref, rtol=0, atol=1e-6 * max(1.0, float(np.abs(ref).max())))
    n, block = whole.shape[0], km.BLOCK_FRAMES
    edges = [0, 1000, block + 4096 + 5, 3 * block - 1, n]
    assert_windows_concatenate(stems, kwargs, whole, edges, backend="cpu")


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_out_buffer_is_reused_and_overwritten(backend):
    stems, kwargs = random_case(np.random.default_rng(7), max_frames=2000, ducking=True)
    expected = mix(stems, backend=backend, **kwargs)
    out = np.full_like(expected, 123.0)  # stale contents must not leak into the mix
    got = mix(stems, backend=backend, out=out, **kwargs)
    assert got is out
    np.testing.assert_array_equal(out, expected)
    for bad in (np.zeros((expected.shape[0], 2), np.float64), np.zeros((expected.shape[0] + 1, 2), np.float32),
                np.zeros((2, expected.shape[0]), np.float32).T):
        with pytest.raises(ValueError, match="out must be a writable C-contiguous float32 array"):
            mix(stems, backend=backend, out=bad, **kwargs)


def test_blocks_that_cut_ducking_hops_match_reference_and_windows(monkeypatch):
    monkeypatch.setattr(km, "BLOCK_FRAMES", 100)  # not a multiple of the 32-frame hop
    stems, kwargs = random_case(np.random.default_rng(31), max_frames=1500, ducking=True)
    ref = mix(stems, backend="reference", **kwargs)
    whole = mix(stems, backend="cpu", **kwargs)
    np.testing.assert_allclose(whole, ref, rtol=0, atol=2e-6 * max(1.0, float(np.abs(ref).max())))
    n = whole.shape[0]
    assert_windows_concatenate(stems, kwargs, whole, [0, 31, 33, 100, n // 2 + 5, n], backend="cpu")


def test_empty_and_one_sample_stems():
    rng = np.random.default_rng(5)
    arrays = [np.zeros((0, 2), np.float32), rng.uniform(-1, 1, 1).astype(np.float32),
              rng.uniform(-1, 1, (1, 2)).astype(np.float32), rng.uniform(-1, 1, 37).astype(np.float32)]
    stems = stems_of(arrays, offset_s=[0.05, 0.0, 0.36, 0.01], gain_db=[0, -3, 2, 1], pan=[0, 0.5, -0.2, 0])
    ref = mix(stems, sample_rate=100, backend="reference")
    cpu = mix(stems, sample_rate=100, backend="cpu")
    assert ref.shape == (38, 2)
    np.testing.assert_allclose(cpu, ref, atol=1e-6)
    # the one-frame stereo stem lands exactly at frame 36
    theta = (-0.2 + 1) * math.pi / 4
    expected = arrays[2][0] * 10 ** (2 / 20) * math.sqrt(2) * np.array([math.cos(theta), math.sin(theta)])
    mono = arrays[3][35] * 10 ** (1 / 20) * math.cos(math.pi / 4)
    np.testing.assert_allclose(cpu[36], expected + mono, atol=1e-6)


def test_no_stems_and_explicit_length():
    assert mix([], sample_rate=48000, backend="cpu").shape == (0, 2)
    out = mix([], sample_rate=1000, length_s=0.25, backend="cpu")
    assert out.shape == (250, 2) and not out.any()


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_windows_concatenate_to_the_whole_mix(backend):
    stems, kwargs = random_case(np.random.default_rng(11), max_frames=3000, ducking=True)
    whole = mix(stems, backend=backend, **kwargs)
    n = whole.shape[0]
    assert n > 100
    edges = [0, 1, n // 7, n // 7 + 1, n // 2, n - 1, n]
    assert_windows_concatenate(stems, kwargs, whole, edges, backend=backend)


def _pydub_segment(samples_int16: np.ndarray, sample_rate: int):
    from pydub import AudioSegment

    channels = 1 if samples_int16.ndim == 1 else samples_int16.shape[1]
    return AudioSegment(samples_int16.astype("<i2").tobytes(), frame_rate=sample_rate, sample_width=2,
                        channels=channels)


def test_simple_mix_matches_pydub_overlay_within_16_bit_rounding():
    pytest.importorskip("pydub")
    from pydub import AudioSegment

    rng = np.random.default_rng(3)
    sr = 1000  # pydub positions overlays in milliseconds: one frame per millisecond keeps offsets exact
    stems_i16, gains, pans, offsets = [], [], [], []
    for i in range(7):
        frames = int(rng.integers(50, 900))
        shape = (frames,) if i % 3 == 0 else (frames, 2)
        stems_i16.append(rng.integers(-2500, 2500, shape).astype(np.int16))
        gains.append(float(rng.uniform(-12, 3)))
        pans.append(float(rng.uniform(-0.9, 0.9)))
        offsets.append(int(rng.integers(0, 400)))
    length = max(o + s.shape[0] for o, s in zip(offsets, stems_i16))

    bus = AudioSegment.silent(duration=length, frame_rate=sr).set_channels(2)
    for s, g, p, o in zip(stems_i16, gains, pans, offsets):
        theta = (p + 1) * math.pi / 4
        scale = 1.0 if s.ndim == 1 else math.sqrt(2)
        seg = _pydub_segment(s, sr).apply_gain(g).apply_gain_stereo(20 * math.log10(scale * math.cos(theta)),
                                                                   20 * math.log10(scale * math.sin(theta)))
        bus = bus.overlay(seg, position=o)
    expected = np.array(bus.get_array_of_samples(), dtype=np.float64).reshape(-1, 2)

    ours = mix(stems_of([s.astype(np.float32) / 32768 for s in stems_i16], gain_db=gains, pan=pans,
                        offset_s=[o / sr for o in offsets]), sample_rate=sr, backend="cpu") * 32768.0
    assert ours.shape == expected.shape
    # pydub floors after each of its two gain stages per stem; we round once at the end
    np.testing.assert_allclose(ours, expected, rtol=0, atol=2 * len(stems_i16) + 1)
    assert np.abs(expected).max() > 1000


def test_constant_power_pan_and_stereo_passthrough():
    x = np.linspace(-0.5, 0.5, 101, dtype=np.float32)
    for p in (-1.0, -0.3, 0.0, 0.7, 1.0):
        out = mix([Stem(x, pan=p)], sample_rate=100, backend="cpu")
        np.testing.assert_allclose((out.astype(np.float64) ** 2).sum(axis=1), x.astype(np.float64) ** 2,
                                   atol=1e-6)
    stereo = np.stack([x, -x[::-1]], axis=1)
    np.testing.assert_allclose(mix([Stem(stereo)], sample_rate=100, backend="cpu"), stereo, atol=1e-6)
    hard_left = mix([Stem(x, pan=-1.0)], sample_rate=100, backend="cpu")
    np.testing.assert_allclose(hard_left[:, 0], x, atol=1e-6)
    assert np.abs(hard_left[:, 1]).max() < 1e-6


def test_gain_automation_is_interpolated_in_db_per_sample():
    sr = 1000
    x = np.ones(2000, np.float32)
    auto = np.array([[0.5, 0.0], [1.5, -40.0]])
    out = mix([Stem(x, pan=-1.0, gain_automation=auto)], sample_rate=sr, backend="cpu")[:, 0]
    t = np.arange(2000) / sr
    expected_db = np.interp(t, auto[:, 0], auto[:, 1])
    np.testing.assert_allclose(20 * np.log10(out), expected_db, atol=1e-4)


def test_fades_are_linear_ramps_over_the_stems_own_frames():
    sr = 1000
    x = np.ones((1000, 2), np.float32)
    out = mix([Stem(x, offset_s=0.2, fade_in_s=0.1, fade_out_s=0.25)], sample_rate=sr, backend="cpu")
    assert out.shape == (1200, 2)
    assert not out[:200].any()
    np.testing.assert_allclose(out[200:300, 0], np.arange(100) / 100, atol=1e-6)
    np.testing.assert_allclose(out[300:950, 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[950:, 0], (249 - np.arange(250)) / 250, atol=1e-6)


def test_mute_and_solo():
    sr = 100
    a, b, c = (np.full(10, v, np.float32) for v in (0.1, 0.2, 0.4))
    def left(**columns):
        stems = stems_of([a, b, c], pan=[-1, -1, -1], **columns)
        return mix(stems, sample_rate=sr, backend="cpu")[0, 0]

    assert left() == pytest.approx(0.7)
    assert left(mute=[False, True, False]) == pytest.approx(0.5)
    assert left(solo=[False, True, False]) == pytest.approx(0.2)
    assert left(solo=[True, True, False], mute=[True, False, False]) == pytest.approx(0.2)  # mute wins


def _per_sample_activity(active, c_att, c_rel):
    """A per-sample one-pole smoother of the key's activity, written plainly."""
    a, out = 0.0, []
    for x in active:
        a += (c_att if x else c_rel) * (x - a)
        out.append(a)
    return np.array(out)


def _control_rate_activity(active, attack_frames, release_frames, hop):
    """The module notes' envelope written plainly: a hop is active when any of its frames is, the hops are
    smoothed with per-hop coefficients, and the activity runs linearly inside each hop to the hop's value."""
    c_att, c_rel = 1 - math.exp(-hop / attack_frames), 1 - math.exp(-hop / release_frames)
    env, a = [0.0], 0.0
    for h in range(-(-active.size // hop)):
        x = float(active[h * hop:(h + 1) * hop].any())
        a += (c_att if x else c_rel) * (x - a)
        env.append(a)
    return np.array([env[t // hop] + (env[t // hop + 1] - env[t // hop]) * (t % hop + 1) / hop
                     for t in range(active.size)])


def test_ducking_follows_the_attack_release_recursion():
    sr = 1000
    rng = np.random.default_rng(2)
    key = np.zeros(3000, np.float32)
    key[500:1400] = rng.uniform(0.2, 1.0, 900) * rng.choice([-1, 1], 900)
    key[2000:2100] = 0.5
    key[2500] = 0.5  # one active frame makes its hop active
    music = np.full((3000, 2), 0.25, np.float32)
    duck = Ducking(key=0, targets=(1,), depth_db=-18.0, threshold_db=-20.0, attack_s=0.02, release_s=0.2)
    depth = 10 ** (-18 / 20)
    active = np.abs(key) > 10 ** (-20 / 20)
    expected_gain = 1 + (depth - 1) * _control_rate_activity(active, 0.02 * sr, 0.2 * sr, km.DUCK_HOP)
    for backend in ("cpu", "reference"):
        out = mix([Stem(key), Stem(music)], sample_rate=sr, ducking=duck, backend=backend)
        music_only = out - mix([Stem(key), Stem(np.zeros_like(music))], sample_rate=sr, backend=backend)
        np.testing.assert_allclose(music_only[:, 0], 0.25 * expected_gain, atol=2e-6)
    # fully ducked after a long key: the depth is reached
    assert music_only[1399, 0] == pytest.approx(0.25 * depth, rel=1e-3)
    assert music_only[2520, 0] < 0.25 * 0.9


def test_control_rate_ducking_tracks_a_per_sample_smoother_at_48k():
    """At 48 kHz the hops are 0.67 ms: with the key switching on hop edges, the envelope equals a per-sample
    smoother at every hop's end and stays within 0.1% of the depth of it inside the hops."""
    sr, hop = 48_000, km.DUCK_HOP
    rng = np.random.default_rng(9)
    active = np.zeros(sr, bool)
    t = 0
    while t < active.size:  # on and off runs of whole hops, 2-300 ms long
        run = int(rng.integers(3, 450)) * hop
        active[t:t + run] = rng.random() < 0.5
        t += run
    key = np.where(active, 0.5, 0.0).astype(np.float32)
    music = np.full((sr, 2), 0.5, np.float32)  # a centred stereo stem passes at unity
    duck = Ducking(key=0, targets=(1,), depth_db=-20.0, threshold_db=-30.0, attack_s=0.01, release_s=0.25)
    gain = mix([Stem(key, gain_db=-200.0), Stem(music)], sample_rate=sr, ducking=duck, backend="cpu")[:, 0] / 0.5
    c_att, c_rel = 1 - math.exp(-1 / (0.01 * sr)), 1 - math.exp(-1 / (0.25 * sr))
    per_sample = 1 + (0.1 - 1) * _per_sample_activity(active.astype(float), c_att, c_rel)
    ends = np.arange(hop - 1, sr, hop)
    np.testing.assert_allclose(gain[ends], per_sample[ends], atol=2e-6)
    assert np.abs(gain - per_sample).max() < 1e-3 * 0.9
    assert gain.min() < 0.11 and gain.max() > 0.99  # the depth is reached, and the release recovers


def test_ducking_is_off_when_the_key_is_muted():
    key = np.full(100, 0.9, np.float32)
    music = np.full(100, 0.3, np.float32)
    duck = Ducking(key=0, targets=(1,))
    out = mix([Stem(key, mute=True), Stem(music, pan=-1)], sample_rate=100, ducking=duck, backend="cpu")
    np.testing.assert_allclose(out[:, 0], 0.3, atol=1e-6)


# -------------------------------------------------------------------------------------------- bad input

def _arrays():
    return [np.zeros((100, 2), np.float32), np.zeros(80, np.float32), np.zeros((50, 2), np.float32)]


def _stems(**columns):
    return stems_of(_arrays(), **columns)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_name_the_stem(backend, bad):
    arrays = _arrays()
    arrays[2][17, 1] = bad
    stems = stems_of(arrays)
    with pytest.raises(ValueError, match=r"stem 2 contains NaN or inf at frame 17.*nan_to_num"):
        mix(stems, sample_rate=100, backend=backend)


def test_non_finite_key_stem_is_reported_even_when_only_the_envelope_reads_it():
    arrays = _arrays()
    arrays[1][5] = np.nan
    stems = stems_of(arrays)
    with pytest.raises(ValueError, match="stem 1 contains NaN"):
        mix(stems, sample_rate=100, ducking=Ducking(key=1, targets=(0,)), start_s=0.5, backend="cpu")


@pytest.mark.parametrize("stem, message", [
    (np.zeros((100, 3), np.float32), r"stem 1 has shape \(100, 3\).*mono \(frames,\) or stereo"),
    (np.zeros((2, 400), np.float32), r"stem 1 has shape \(2, 400\).*channels-first.*x\.T"),
    (np.zeros((4, 4, 2), np.float32), r"stem 1 has shape"),
    (np.zeros(100, np.int16), r"stem 1 has dtype int16.*32768"),
])
def test_malformed_stems(stem, message):
    with pytest.raises(ValueError, match=message):
        mix([Stem(np.zeros(10, np.float32)), Stem(stem)], sample_rate=100, backend="cpu")


@pytest.mark.parametrize("columns, message", [
    (dict(offset_s=[0, -0.5, 0]), r"stem 1 has offset -0.5 s.*>= 0"),
    (dict(gain_automation=[None, np.array([[0.0, 0], [0.5, -6], [0.4, -3]]), None]),
     r"gain_automation for stem 1 is out of order: breakpoint 2 at 0.4 s"),
    (dict(pan_automation=[np.array([[0.0, 0.0], [0.0, 1.0]]), None, None]), r"pan_automation for stem 0 is out of order"),
    (dict(pan_automation=[np.array([[0.0, 2.0]]), None, None]), r"outside \[-1.0, 1.0\]"),
    (dict(gain_automation=[np.array([[0.0, np.nan]]), None, None]), r"contains NaN"),
    (dict(gain_automation=[np.zeros(3), None, None]), r"\(k, 2\) array"),
    (dict(sample_rate=[100, 100, 44100]), r"stem 2 is at 44100 Hz but the mix runs at 100 Hz.*resample"),
    (dict(gain_db=[0, "loud", 0]), r"stem 1's gain_db must be a number"),
    (dict(pan=[0, 1.5, 0]), r"stem 1's pan must be <= 1.0"),
    (dict(pan=[0.5, 0, 0], pan_automation=[np.array([[0, 0.1]]), None, None]), r"both pan=0.5 and pan_automation"),
    (dict(fade_in_s=[0, -1, 0]), r"stem 1's fade_in_s must be >= 0"),
])
def test_bad_stems_raise_with_the_fix(columns, message):
    with pytest.raises(ValueError, match=message):
        mix(_stems(**columns), sample_rate=100, backend="cpu")


@pytest.mark.parametrize("kwargs, message", [
    (dict(ducking=Ducking(key=1, targets=(1,))), r"cannot duck itself"),
    (dict(ducking=Ducking(key=5, targets=(1,))), r"ducking.key is 5 but there are 3 stems"),
    (dict(ducking=Ducking(key=0, targets=(1,), depth_db=6.0)), r"depth_db must be <= 0"),
    (dict(length_s=-1), r"length_s must be >= 0"),
])
def test_bad_options_raise_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mix(_stems(), sample_rate=100, backend="cpu", **kwargs)


def test_bad_sample_rate_backend_and_container():
    with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
        mix(_stems(), sample_rate=0)
    with pytest.raises(ValueError, match="backend must be one of"):
        mix(_stems(), sample_rate=100, backend="gpu")
    with pytest.raises(ValueError, match="stems must be a list or tuple of kernels.mix.Stem"):
        mix(np.zeros((10, 2), np.float32), sample_rate=100)
    with pytest.raises(ValueError, match=r"stem 1 is a ndarray, not a kernels.mix.Stem; wrap the samples: Stem\(audio\)"):
        mix([Stem(np.zeros(10, np.float32)), np.zeros(10, np.float32)], sample_rate=100)


def test_huge_gain_overflow_is_reported_not_returned():
    with pytest.raises(ValueError, match="overflowed to inf"):
        mix([Stem(np.ones(10, np.float32), gain_db=1000.0)], sample_rate=100, backend="cpu")


# ----------------------------------------------------------------------------------------------- CUDA

def test_auto_runs_the_cpu_body_even_where_a_gpu_is_found(monkeypatch):
    """Host arrays in and out: the CPU body beat the GPU in every family on an H200 (benchmarks/RESULTS.md)."""
    import lantern_studio.kernels.backend as backend

    monkeypatch.setattr(backend, "cuda_available", lambda: True)
    assert backend.resolve_backend("auto") == "cpu"
    assert backend.resolve_backend("cuda") == "cuda"


def test_cuda_body_matches_reference_under_the_simulator():
    run_check_script("cudasim_mix.py", "cuda mix ok", cudasim=True, timeout=300)


def test_every_cuda_kernel_compiles_to_ptx():
    """The simulator runs Python; this compiles the real CUDA target (needs libnvvm, not a GPU)."""
    run_check_script("cuda_ptx_check.py", "ptx ok", may_skip=True)
