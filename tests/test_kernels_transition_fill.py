"""lantern_studio.kernels.transition and kernels.fill: bodies against the reference, the reference against OpenCV,
hand-checkable endpoints and geometry, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lantern_studio.kernels.fill import fill, gradient, letterbox, letterbox_geometry
from lantern_studio.kernels.transition import TRANSITION_KINDS, WIPE_DIRECTIONS, transition

ROOT = Path(__file__).resolve().parents[1]


def random_pair(rng, height, width, channels, dtype):
    a = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    b = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    if dtype == np.float32:
        return a.astype(np.float32) / 255, b.astype(np.float32) / 255
    return a, b


def assert_close(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    assert diff.max() <= (1 if expected.dtype == np.uint8 else 1e-6), diff.max()


# ----------------------------------------------------------------------------------------------------
# transition


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("channels", [3, 4])
def test_transition_cpu_matches_reference(dtype, channels):
    rng = np.random.default_rng(channels)
    a, b = random_pair(rng, 23, 37, channels, dtype)
    color = (30, 200, 90) if dtype == np.uint8 else (0.1, 0.8, 0.35)
    for kind in TRANSITION_KINDS:
        for direction in WIPE_DIRECTIONS:
            for t in (0.0, 0.13, 0.5, 0.77, 1.0):
                for softness in (0.0, 0.3):
                    options = dict(kind=kind, direction=direction, softness=softness, color=color)
                    expected = transition(a, b, t, backend="reference", **options)
                    assert_close(transition(a, b, t, backend="cpu", **options), expected)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_transition_endpoints_are_exactly_a_and_b(backend):
    rng = np.random.default_rng(1)
    a, b = random_pair(rng, 11, 16, 3, np.uint8)
    for kind in TRANSITION_KINDS:
        for direction in WIPE_DIRECTIONS:
            for softness in (0.0, 0.1, 1.0):
                options = dict(kind=kind, direction=direction, softness=softness, color=(255, 0, 0), backend=backend)
                np.testing.assert_array_equal(transition(a, b, 0.0, **options), a)
                np.testing.assert_array_equal(transition(a, b, 1.0, **options), b)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_dip_reaches_the_colour_half_way(backend):
    rng = np.random.default_rng(2)
    a, b = random_pair(rng, 7, 9, 4, np.float32)
    mid = transition(a, b, 0.5, kind="dip", color=(1.0, 0.5, 0.0, 0.5), backend=backend)
    np.testing.assert_allclose(mid, np.broadcast_to([0.5, 0.25, 0.0, 0.5], mid.shape), atol=1e-6)
    quarter = transition(a, b, 0.25, kind="dip", color=(0.0, 0.0, 0.0), backend=backend)
    np.testing.assert_allclose(quarter, a * 0.5 + np.array([0, 0, 0, 0.5], np.float32), atol=1e-6)


def test_dissolve_matches_opencv_add_weighted():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    a, b = random_pair(rng, 31, 29, 3, np.uint8)
    for t in (0.1, 0.5, 0.9):
        theirs = cv2.addWeighted(a, 1 - t, b, t, 0.0)
        ours = transition(a, b, t, kind="dissolve", backend="reference")
        assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_hard_wipe_splits_the_frame_at_the_edge(backend):
    a = np.zeros((6, 20, 3), np.uint8)
    b = np.full((6, 20, 3), 255, np.uint8)
    half = {"left": (slice(None), slice(0, 10)), "right": (slice(None), slice(10, 20))}
    for direction, revealed in half.items():
        out = transition(a, b, 0.5, kind="wipe", direction=direction, softness=0.0, backend=backend)
        expected = a.copy()
        expected[revealed] = 255
        np.testing.assert_array_equal(out, expected)
    a = np.zeros((20, 6, 3), np.uint8)
    b = np.full((20, 6, 3), 255, np.uint8)
    up = transition(a, b, 0.25, kind="wipe", direction="up", softness=0.0, backend=backend)
    assert (up[:5] == 255).all() and (up[5:] == 0).all()
    down = transition(a, b, 0.25, kind="wipe", direction="down", softness=0.0, backend=backend)
    assert (down[15:] == 255).all() and (down[:15] == 0).all()


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_soft_wipe_edge_is_a_monotonic_ramp_of_the_given_width(backend):
    a = np.zeros((2, 100, 3), np.float32)
    b = np.ones((2, 100, 3), np.float32)
    out = transition(a, b, 0.5, kind="wipe", direction="left", softness=0.2, backend=backend)[0, :, 0]
    assert np.all(np.diff(out) <= 0)                       # b (1.0) on the left, fading to a on the right
    ramp = (out > 0) & (out < 1)
    assert 19 <= ramp.sum() <= 20                          # 0.2 x 100 px wide
    # the ramp's middle sits at t * (width + soft) - soft / 2 = 50 px
    assert abs(np.interp(0.5, out[::-1], (np.arange(100) + 0.5)[::-1]) - 50.0) < 0.5
    previous = None
    for t in np.linspace(0, 1, 11):
        frame = transition(a, b, float(t), kind="wipe", direction="right", softness=0.1, backend=backend)
        if previous is not None:
            assert np.all(frame >= previous)                # b only ever gains ground
        previous = frame


@pytest.mark.parametrize("kwargs, message", [
    (dict(b=np.zeros((4, 5, 3), np.uint8)), "same shape"),
    (dict(b=np.zeros((4, 4, 3), np.float32)), "same shape and dtype"),
    (dict(a=np.zeros((4, 4, 3), np.float64), b=np.zeros((4, 4, 3), np.float64)), "uint8 or float32"),
    (dict(a=np.zeros((4, 4, 2), np.uint8)), r"\(H, W, 3\)"),
    (dict(t=1.5), r"t must be"),
    (dict(t=float("nan")), r"t must be"),
    (dict(kind="zoom"), "kind"),
    (dict(direction="diagonal"), "direction"),
    (dict(softness=-0.1), "softness"),
    (dict(color=(300, 0, 0)), "color components"),
    (dict(color=(1, 2)), "3 or 4"),
    (dict(backend="metal"), "backend"),
    (dict(out=np.zeros((4, 4, 4), np.uint8)), "out must"),
])
def test_transition_bad_input_is_a_clear_value_error(kwargs, message):
    args = dict(a=np.zeros((4, 4, 3), np.uint8), b=np.zeros((4, 4, 3), np.uint8), t=0.5)
    args.update(kwargs)
    a, b, t = args.pop("a"), args.pop("b"), args.pop("t")
    with pytest.raises(ValueError, match=message):
        transition(a, b, t, **args)


# ----------------------------------------------------------------------------------------------------
# fill and gradient


def test_fill_is_the_colour_everywhere():
    np.testing.assert_array_equal(fill((3, 5), (10, 20, 30)), np.full((3, 5, 3), (10, 20, 30), np.uint8))
    rgba = fill((2, 2), (200, 100, 50, 128), channels=4)      # premultiplied: colour x alpha
    np.testing.assert_array_equal(rgba[0, 0], [100, 50, 25, 128])
    opaque = fill((2, 2), (0.25, 0.5, 1.0), channels=4, dtype=np.float32)
    np.testing.assert_allclose(opaque[1, 1], [0.25, 0.5, 1.0, 1.0])
    assert opaque.dtype == np.float32 and opaque.flags.writeable


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("channels", [3, 4])
def test_gradient_cpu_matches_reference(dtype, channels):
    top = (255, 10, 0, 200) if dtype == np.uint8 else (1.0, 0.05, 0.0, 0.8)
    bottom = (0, 90, 255) if dtype == np.uint8 else (0.0, 0.35, 1.0)
    for angle in (90.0, 0.0, 45.0, 200.0, -30.0):
        for shape in ((17, 31), (1, 7), (40, 3)):
            kwargs = dict(angle_deg=angle, channels=channels, dtype=dtype)
            assert_close(gradient(shape, top, bottom, backend="cpu", **kwargs),
                         gradient(shape, top, bottom, backend="reference", **kwargs))


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_gradient_runs_along_its_angle(backend):
    vertical = gradient((64, 10), (0, 0, 0), (255, 255, 255), backend=backend).astype(int)
    assert (vertical == vertical[:, :1]).all()                          # rows are uniform
    expected = np.floor((np.arange(64) + 0.5) / 64 * 255 + 0.5)         # pixel centres along the height
    np.testing.assert_array_equal(vertical[:, 0, 0], expected)
    horizontal = gradient((5, 40), (255, 0, 0), (0, 0, 255), angle_deg=0, backend=backend).astype(int)
    assert (horizontal == horizontal[:1]).all()                         # columns are uniform
    assert np.all(np.diff(horizontal[0, :, 0]) < 0) and np.all(np.diff(horizontal[0, :, 2]) > 0)
    diagonal = gradient((50, 50), (0, 0, 0), (255, 255, 255), angle_deg=45, backend=backend)[..., 0].astype(int)
    assert np.abs(diagonal - diagonal.T).max() <= 1                     # symmetric about the main diagonal
    assert diagonal[0, 0] <= 3 and diagonal[-1, -1] >= 252              # far corners get the end colours


@pytest.mark.parametrize("call, message", [
    (lambda: fill((0, 5), (0, 0, 0)), "positive"),
    (lambda: fill((2.5, 5), (0, 0, 0)), "whole"),
    (lambda: fill((2, 5), (0, 0, 0), channels=2), "channels"),
    (lambda: fill((2, 5), (0, 0, 0), dtype=np.float64), "dtype"),
    (lambda: fill((2, 5), (0, 0, 2.0), dtype=np.float32), "0..1"),
    (lambda: gradient((2, 5), (0, 0, 0), (0, 0, 0), angle_deg=float("inf")), "angle_deg"),
    (lambda: gradient((2, 5), (0, 0, 0), "white"), "color"),
    (lambda: letterbox(np.zeros((4, 4, 2), np.uint8), (8, 8)), "image"),
    (lambda: letterbox(np.zeros((0, 4, 3), np.uint8), (8, 8)), "empty"),
    (lambda: letterbox(np.zeros((4, 4, 3), np.uint8), (8, -1)), "frame_hw"),
])
def test_fill_bad_input_is_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------------------------------
# letterbox / pillarbox


def smooth_image(height, width, seed=0):
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    chans = [127.5 + 127.5 * np.sin(rng.uniform(0.02, 0.08) * xs + rng.uniform(0.02, 0.08) * ys + rng.uniform(0, 6))
             for _ in range(3)]
    return np.round(np.stack(chans, -1)).astype(np.uint8)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_landscape_into_portrait_is_letterboxed_and_matches_opencv_resize(backend):
    cv2 = pytest.importorskip("cv2")
    image = smooth_image(90, 160)                       # 16:9 into a tall frame: scale 0.9, picture 144 x 81
    out = letterbox(image, (321, 144), color=(12, 34, 56), backend=backend)
    assert out.shape == (321, 144, 3) and out.dtype == np.uint8
    scale, left, top = letterbox_geometry((90, 160), (321, 144))
    assert (scale, left, top) == pytest.approx((0.9, 0.0, 120.0))
    assert (out[:119] == (12, 34, 56)).all() and (out[202:] == (12, 34, 56)).all()
    # the picture is a bilinear resize of the image (OpenCV uses the same pixel-centre convention),
    # compared away from its anti-aliased border
    resized = cv2.resize(image, (144, 81), interpolation=cv2.INTER_LINEAR)
    assert np.abs(out[121:200, 1:-1].astype(int) - resized[1:80, 1:-1].astype(int)).max() <= 1


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_portrait_into_landscape_is_pillarboxed(backend):
    image = np.full((200, 100, 4), 255, np.uint8)      # opaque white RGBA
    out = letterbox(image, (50, 100), color=(0, 0, 0, 255), backend=backend)
    assert out.shape == (50, 100, 4)
    # a 25 px wide picture centred: columns 37.5..62.5, bars either side, soft half-pixel edges
    np.testing.assert_array_equal(out[:, :37], np.broadcast_to([0, 0, 0, 255], (50, 37, 4)))
    np.testing.assert_array_equal(out[:, 63:], np.broadcast_to([0, 0, 0, 255], (50, 37, 4)))
    np.testing.assert_array_equal(out[:, 38:62], 255)
    assert 100 < out[0, 37, 0] < 156 and 100 < out[0, 62, 0] < 156   # half-covered edge columns


def test_large_downscale_is_box_filtered_not_aliased():
    cv2 = pytest.importorskip("cv2")
    stripes = np.zeros((400, 400, 3), np.uint8)
    stripes[:, ::2] = 255                              # 1 px stripes: aliasing would show as stripes
    out = letterbox(stripes, (50, 50), backend="cpu").astype(int)
    area = cv2.resize(stripes, (50, 50), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(out[2:-2, 2:-2] - area[2:-2, 2:-2]).max() <= 2
    assert out[2:-2, 2:-2].std() < 2


# ----------------------------------------------------------------------------------------------------
# CUDA bodies, under numba's simulator in a subprocess (tiny frames, 4x4 blocks)

_CUDA_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    import lantern_studio.kernels.backend as backend
    from lantern_studio.kernels.transition import transition
    from lantern_studio.kernels.fill import gradient, letterbox
    backend.THREADS_PER_BLOCK = 16  # blocks of 4 x 4: the small frames span several
    rng = np.random.default_rng(0)
    worst = []
    for dtype, channels in ((np.uint8, 3), (np.float32, 4)):
        a = rng.integers(0, 256, (9, 13, channels), dtype=np.uint8)
        b = rng.integers(0, 256, (9, 13, channels), dtype=np.uint8)
        if dtype == np.float32:
            a, b = a.astype(np.float32) / 255, b.astype(np.float32) / 255
        color = (200, 30, 60) if dtype == np.uint8 else (0.8, 0.1, 0.2)
        for kind, direction, t in (("dissolve", "left", 0.3), ("dip", "left", 0.6), ("wipe", "up", 0.45),
                                   ("wipe", "right", 0.7)):
            opts = dict(kind=kind, direction=direction, softness=0.2, color=color)
            got = transition(a, b, t, backend="cuda", **opts)
            want = transition(a, b, t, backend="reference", **opts)
            worst.append(["transition " + kind, float(np.abs(got.astype(float) - want).max()), str(dtype.__name__)])
        g = dict(angle_deg=30.0, channels=channels, dtype=dtype)
        got = gradient((9, 13), color, color[::-1], backend="cuda", **g)
        want = gradient((9, 13), color, color[::-1], backend="reference", **g)
        worst.append(["gradient", float(np.abs(got.astype(float) - want).max()), str(dtype.__name__)])
        got = letterbox(a, (7, 15), color=color, backend="cuda")
        want = letterbox(a, (7, 15), color=color, backend="reference")
        worst.append(["letterbox", float(np.abs(got.astype(float) - want).max()), str(dtype.__name__)])
    print(json.dumps(worst))
""")


def test_cuda_bodies_match_reference_under_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-c", _CUDA_SCRIPT.format(root=str(ROOT))], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    worst = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(worst) == 12
    for name, max_diff, dtype in worst:
        assert max_diff <= (1 if dtype == "uint8" else 1e-6), (name, max_diff, dtype)
