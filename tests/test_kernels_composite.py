"""lantern_studio.kernels.composite: every body against the numpy reference, the reference against PIL and OpenCV,
sub-pixel smoothness, edges without seams or halos, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lantern_studio.kernels.composite import BLEND_MODES, Layer, affine, composite, premultiply

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------------
# Fixtures: random premultiplied layers and transforms (never zeros, never only the identity)


def random_layer_pixels(rng, h, w, dtype, *, smooth=False):
    """Premultiplied RGBA with a mix of opaque, partial and fully transparent pixels."""
    if smooth:  # low-frequency content: bilinear resampling of it is insensitive to coordinate rounding
        ys, xs = np.mgrid[0:h, 0:w]
        chans = []
        for _ in range(4):
            fx, fy, ph = rng.uniform(0.01, 0.06), rng.uniform(0.01, 0.06), rng.uniform(0, 6.28)
            chans.append(127.5 + 127.5 * np.sin(fx * xs + fy * ys + ph))
        straight = np.stack(chans, axis=-1)
        straight[..., 3] = np.clip(straight[..., 3] * 1.4 - 40, 0, 255)
        straight = np.round(straight).astype(np.uint8)
    else:
        straight = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        alpha = straight[..., 3]
        alpha[rng.random((h, w)) < 0.25] = 255
        alpha[rng.random((h, w)) < 0.15] = 0
    pre = premultiply(straight)
    return pre if dtype == np.uint8 else pre.astype(np.float32) / 255


def random_frame(rng, h, w, channels, dtype):
    if channels == 4:
        pix = premultiply(rng.integers(0, 256, (h, w, 4), dtype=np.uint8))
    else:
        pix = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return pix if dtype == np.uint8 else pix.astype(np.float32) / 255


def random_layers(rng, frame_hw, layer_dtype, *, rotate=True, count=5):
    height, width = frame_hw
    layers = []
    for i in range(count):
        h, w = (int(v) for v in rng.integers(1, 24, 2))
        scale = (rng.uniform(0.4, 2.5) * rng.choice([-1, 1]), rng.uniform(0.4, 2.5) * rng.choice([-1, 1]))  # mirrors too
        matrix = affine(scale=scale, rotation_deg=rng.uniform(-180, 180) if rotate else 0.0,
                        translate=(rng.uniform(-w, width), rng.uniform(-h, height)), origin=(w / 2, h / 2))
        layers.append(Layer(random_layer_pixels(rng, h, w, layer_dtype), matrix,
                            opacity=float(rng.uniform(0.2, 1.0)), blend=BLEND_MODES[i % len(BLEND_MODES)]))
    return layers


def assert_close(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    if expected.dtype == np.uint8:
        # float32 (body) versus float64 (reference) may round a .5 differently, nothing more
        assert diff.max() <= 1, f"max difference {diff.max()}"
        assert (diff > 0).mean() < 0.01, f"{(diff > 0).mean():.2%} of values differ"
    else:
        assert diff.max() <= 2e-5, f"max difference {diff.max()}"


# ----------------------------------------------------------------------------------------------------
# CPU body against the reference


@pytest.mark.parametrize("frame_dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("layer_dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("rotate", [True, False], ids=["rotated", "axis-aligned"])
def test_cpu_matches_reference_on_random_layers(frame_dtype, layer_dtype, channels, rotate):
    rng = np.random.default_rng([channels, rotate, frame_dtype == np.uint8, layer_dtype == np.uint8])
    for height, width in ((37, 53), (1, 9), (29, 1), (64, 47)):
        frame = random_frame(rng, height, width, channels, frame_dtype)
        layers = random_layers(rng, (height, width), layer_dtype, rotate=rotate)
        expected = composite(frame, layers, backend="reference")
        assert not np.array_equal(expected, frame), "the layers must change the frame"
        assert_close(composite(frame, layers, backend="cpu"), expected)


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("layer_dtype", [np.uint8, np.float32])
def test_near_unit_scales_match_reference(channels, layer_dtype):
    # sprites that breathe, captions, slow zooms: horizontal scales within 1/32 of 1 take contiguous runs
    rng = np.random.default_rng([channels, layer_dtype == np.uint8, 32])
    height, width = 61, 307
    frame = random_frame(rng, height, width, channels, np.uint8)
    layers = []
    for i, sx in enumerate((1.0, 0.991, 1.012, 1 / 1.031, 1.0 / 0.97, 0.9, 1.0004)):
        w = int(rng.integers(150, 400))
        matrix = affine(scale=(sx, float(rng.uniform(0.8, 1.2))),
                        translate=(float(rng.uniform(-w / 2, width - w / 2)), float(rng.uniform(-20, height - 10))))
        layers.append(Layer(random_layer_pixels(rng, 40, w, layer_dtype), matrix, opacity=float(rng.uniform(0.3, 1.0)),
                            blend=BLEND_MODES[i % len(BLEND_MODES)]))
    expected = composite(frame, layers, backend="reference")
    assert not np.array_equal(expected, frame)
    assert_close(composite(frame, layers, backend="cpu"), expected)


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("zoom", [1.0, 0.9, 1.13], ids=["unit", "zoom-in", "zoom-out"])
def test_opaque_background_matches_reference(channels, zoom):
    # a declared-opaque background 20% larger than the frame, a layer under it (hidden) and layers over it
    rng = np.random.default_rng([channels, int(zoom * 100)])
    height, width = 47, 83
    frame = random_frame(rng, height, width, channels, np.uint8)
    bg = rng.integers(0, 256, (int(height * 1.3), int(width * 1.3), 4), dtype=np.uint8)
    bg[..., 3] = 255
    under = Layer(random_layer_pixels(rng, 30, 30, np.uint8), affine(translate=(5.5, 3.2)))
    background = Layer(bg, affine(scale=zoom, translate=(-4.37, -6.81)), opaque=True)
    over = [Layer(random_layer_pixels(rng, 20, 60, np.uint8), affine(scale=1.004, translate=(10.3, 20.6))),
            Layer(random_layer_pixels(rng, 9, 17, np.uint8), affine(rotation_deg=20, translate=(40.0, 5.0)),
                  blend="screen")]
    layers = [under, background, *over]
    expected = composite(frame, layers, backend="reference")
    assert_close(composite(frame, layers, backend="cpu"), expected)
    # rows the background covers do not depend on the frame or the hidden layer any more
    other = composite(random_frame(rng, height, width, channels, np.uint8), layers[1:], backend="cpu")
    np.testing.assert_array_equal(other, composite(frame, layers, backend="cpu"))


def test_opaque_is_a_promise_applied_only_to_rows_covered_edge_to_edge():
    rng = np.random.default_rng(3)
    frame = random_frame(rng, 20, 30, 3, np.uint8)
    half = np.zeros((40, 60, 4), np.uint8)
    half[..., 0] = half[..., 3] = 128          # premultiplied 50% red: not opaque, declared opaque
    covering = Layer(half, affine(translate=(-5.0, -5.0)), opaque=True)
    got = composite(frame, [covering], backend="cpu")
    assert (got[..., 0] == 128).all() and (got[..., 1:] == 0).all()   # drawn as if opaque: the frame is hidden
    narrow = Layer(half[:, :20], affine(translate=(3.0, -5.0)), opaque=True)   # does not span a row: no effect
    assert_close(composite(frame, [narrow], backend="cpu"), composite(frame, [narrow], backend="reference"))
    # opacity below 1 or another blend mode turn the promise off
    faded = Layer(half, affine(translate=(-5.0, -5.0)), opacity=0.5, opaque=True)
    assert_close(composite(frame, [faded], backend="cpu"), composite(frame, [faded], backend="reference"))


def test_cpu_matches_reference_for_mixed_layer_dtypes_and_large_layers():
    rng = np.random.default_rng(7)
    frame = random_frame(rng, 41, 67, 3, np.uint8)
    big = random_layer_pixels(rng, 90, 120, np.uint8)
    small = random_layer_pixels(rng, 9, 11, np.float32)
    layers = [Layer(big, affine(scale=0.61, rotation_deg=3.0, translate=(-9.3, -4.6))),
              Layer(small, affine(scale=3.7, translate=(20.25, 5.5)), opacity=0.7, blend="screen"),
              Layer(big, affine(scale=(0.4, 0.9), translate=(30.1, -50.2)), blend="multiply")]
    assert_close(composite(frame, layers, backend="cpu"), composite(frame, layers, backend="reference"))


@pytest.mark.parametrize("rotation_deg", [90.0, 180.0, -90.0, 0.0])
def test_cpu_matches_reference_for_quarter_turns_and_mirrors(rotation_deg):
    rng = np.random.default_rng(int(rotation_deg) % 360)
    frame = random_frame(rng, 33, 40, 3, np.uint8)
    pix = random_layer_pixels(rng, 14, 23, np.uint8)
    layers = [Layer(pix, affine(scale=scale, rotation_deg=rotation_deg, translate=(13.3, 9.8), origin=(11.5, 7.0)))
              for scale in ((1.0, 1.0), (-1.0, 1.0), (1.5, -0.75), (-0.6, -1.7))]
    for layer in layers:
        expected = composite(frame, [layer], backend="reference")
        assert not np.array_equal(expected, frame)
        assert_close(composite(frame, [layer], backend="cpu"), expected)


def test_layers_off_frame_and_zero_size_draw_nothing():
    rng = np.random.default_rng(3)
    frame = random_frame(rng, 15, 21, 3, np.uint8)
    pix = random_layer_pixels(rng, 6, 8, np.uint8)
    layers = [Layer(pix, affine(translate=(30.5, 2.0))),            # wholly right of the frame
              Layer(pix, affine(translate=(-20.0, -30.0))),          # wholly above-left
              Layer(pix, affine(scale=4.0, rotation_deg=45, translate=(100.0, 100.0))),
              Layer(np.zeros((0, 5, 4), np.uint8), affine()),        # zero height
              Layer(np.zeros((5, 0, 4), np.float32), affine()),      # zero width
              Layer(pix, affine(translate=(3.0, 3.0)), opacity=0.0)]  # fully transparent
    for backend in ("cpu", "reference"):
        np.testing.assert_array_equal(composite(frame, layers, backend=backend), frame)
    # partly off-frame on every side: only the overlapping part is drawn, identically by every body
    partly = [Layer(pix, affine(translate=(-4.5, -3.25))), Layer(pix, affine(translate=(17.5, 11.75))),
              Layer(pix, affine(rotation_deg=30, translate=(-3.0, 10.0), origin=(4, 3)))]
    expected = composite(frame, partly, backend="reference")
    assert not np.array_equal(expected, frame)
    assert_close(composite(frame, partly, backend="cpu"), expected)
    assert composite(frame, [], backend="cpu") is not frame


def test_out_argument_and_in_place():
    rng = np.random.default_rng(11)
    frame = random_frame(rng, 12, 10, 4, np.float32)
    layers = random_layers(rng, (12, 10), np.float32)
    expected = composite(frame, layers, backend="reference")
    out = np.zeros_like(frame)
    assert composite(frame, layers, out=out, backend="cpu") is out
    assert_close(out, expected)
    before = frame.copy()
    assert composite(frame, layers, out=frame, backend="cpu") is frame
    assert_close(frame, expected)
    assert not np.array_equal(frame, before)


def test_read_only_and_writable_arrays_mix():
    """np.asarray(PIL image) is read-only; such layers and frames mix with writable ones."""
    rng = np.random.default_rng(12)
    frame = random_frame(rng, 14, 18, 3, np.uint8)
    frozen_frame = frame.copy()
    frozen_frame.flags.writeable = False
    layers = random_layers(rng, (14, 18), np.uint8, count=4)
    frozen = layers[1].image.copy()
    frozen.flags.writeable = False
    mixed = [layers[0], Layer(frozen, layers[1].matrix, layers[1].opacity, layers[1].blend), *layers[2:]]
    expected = composite(frame, layers, backend="reference")
    assert_close(composite(frozen_frame, mixed, backend="cpu"), expected)


def test_auto_backend_runs_without_a_gpu():
    rng = np.random.default_rng(5)
    frame = random_frame(rng, 9, 13, 3, np.uint8)
    layers = random_layers(rng, (9, 13), np.uint8)
    assert_close(composite(frame, layers), composite(frame, layers, backend="reference"))


# ----------------------------------------------------------------------------------------------------
# CUDA body, under numba's simulator in a subprocess (tiny frames, 4x4 blocks so they span several)

_CUDA_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    sys.path.insert(0, {tests!r})
    from test_kernels_composite import random_frame, random_layers
    import lantern_studio.kernels.backend as backend
    from lantern_studio.kernels.composite import composite
    backend.THREADS_PER_BLOCK = 16  # blocks of 4 x 4: the small frames span several
    worst = []
    for seed, (frame_dtype, layer_dtype, channels, rotate) in enumerate([
            (np.uint8, np.uint8, 3, True), (np.float32, np.float32, 4, False),
            (np.uint8, np.float32, 4, True), (np.float32, np.uint8, 3, False)]):
        rng = np.random.default_rng(seed)
        frame = random_frame(rng, 9, 13, channels, frame_dtype)
        layers = random_layers(rng, (9, 13), layer_dtype, rotate=rotate, count=4)
        got = composite(frame, layers, backend="cuda")
        want = composite(frame, layers, backend="reference")
        changed = bool((want != frame).any())
        worst.append([float(np.abs(got.astype(float) - want.astype(float)).max()), str(got.dtype), changed])
    print(json.dumps(worst))
""")


def test_cuda_body_matches_reference_under_simulator():
    script = _CUDA_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"))
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    worst = json.loads(result.stdout.strip().splitlines()[-1])
    for max_diff, dtype, changed in worst:
        assert changed
        assert max_diff <= (1 if dtype == "uint8" else 2e-5), worst


# ----------------------------------------------------------------------------------------------------
# The reference against independent oracles


def test_reference_matches_pil_alpha_composite_for_identity_transforms():
    """Layer by layer (PIL rounds to uint8 after each one), with layers inside, covering and partly off-frame."""
    from PIL import Image

    rng = np.random.default_rng(21)
    height, width = 31, 45
    ours = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    for (h, w), (x, y) in zip(((12, 20), (31, 45), (9, 7), (20, 30)), ((3, 4), (0, 0), (38, 24), (-5, -6))):
        straight = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        canvas = np.zeros((height, width, 4), np.uint8)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
        canvas[y0:y1, x0:x1] = straight[y0 - y:y1 - y, x0 - x:x1 - x]
        backdrop = Image.fromarray(np.dstack([ours, np.full((height, width), 255, np.uint8)]))
        theirs = np.asarray(Image.alpha_composite(backdrop, Image.fromarray(canvas)))[..., :3]
        ours = composite(ours, [Layer(premultiply(straight), affine(translate=(x, y)))], backend="reference")
        diff = np.abs(ours.astype(int) - theirs.astype(int))
        assert diff.max() <= 1, diff.max()


def _opencv_matrix(matrix):
    """Our layer->frame matrix (pixel centres at +0.5) in OpenCV's convention (centres on integers)."""
    linear, offset = matrix[:, :2], matrix[:, 2]
    return np.hstack([linear, (offset + linear @ [0.5, 0.5] - 0.5)[:, None]])


@pytest.mark.parametrize("seed", range(4))
def test_reference_matches_opencv_warp_affine(seed):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(100 + seed)
    h, w = (int(v) for v in rng.integers(20, 50, 2))
    height, width = 61, 83
    pixels = random_layer_pixels(rng, h, w, np.uint8, smooth=True)
    matrix = affine(scale=(rng.uniform(0.6, 2.2), rng.uniform(0.6, 2.2)), rotation_deg=rng.uniform(-180, 180),
                    translate=(rng.uniform(10, 60), rng.uniform(10, 40)), origin=(w / 2, h / 2))
    frame = np.zeros((height, width, 4), np.uint8)  # transparent: the result is the warped layer itself
    ours = composite(frame, [Layer(pixels, matrix)], backend="reference")
    theirs = cv2.warpAffine(pixels, _opencv_matrix(matrix), (width, height), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    # away from the layer's borders: pixels whose inverse image lies at least 1.5 layer pixels inside
    inv = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    u = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    v = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    interior = (u > 1.5) & (u < w - 1.5) & (v > 1.5) & (v < h - 1.5)
    assert interior.sum() > 100
    diff = np.abs(ours.astype(int) - theirs.astype(int))[interior]
    assert diff.max() <= 1, diff.max()
    # and everywhere, border pixels included, OpenCV's zero border agrees within its 1/32-pixel steps
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 8


def test_affine_matches_opencv_rotation_matrix():
    cv2 = pytest.importorskip("cv2")
    for angle, scale, origin in ((30.0, 1.0, (5.0, 7.0)), (-120.0, 0.75, (40.0, 10.0)), (90.0, 2.0, (0.0, 0.0))):
        ours = affine(scale=scale, rotation_deg=angle, origin=origin)
        theirs = cv2.getRotationMatrix2D(origin, angle, scale)
        np.testing.assert_allclose(ours[:, :2], theirs[:, :2], atol=1e-12)
        np.testing.assert_allclose(ours @ [origin[0], origin[1], 1.0], origin, atol=1e-12)
    moved = affine(scale=(2.0, 3.0), translate=(10.5, -4.25), origin=(1.0, 2.0))
    np.testing.assert_allclose(moved @ [1.0, 2.0, 1.0], [11.5, -2.25])
    np.testing.assert_allclose(moved @ [2.0, 2.0, 1.0], [13.5, -2.25])


def test_premultiply_matches_float_maths():
    rng = np.random.default_rng(2)
    straight = rng.integers(0, 256, (17, 19, 4), dtype=np.uint8)
    exact = straight[..., :3] * (straight[..., 3:4] / 255.0)
    pre = premultiply(straight)
    assert np.abs(pre[..., :3] - exact).max() <= 0.5
    np.testing.assert_array_equal(pre[..., 3], straight[..., 3])
    as_float = premultiply(straight.astype(np.float32) / 255)
    np.testing.assert_allclose(as_float[..., :3], exact / 255, atol=1e-6)


# ----------------------------------------------------------------------------------------------------
# Blend modes on hand-readable fixtures


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_blend_modes_on_opaque_and_half_transparent_pixels(backend):
    frame = np.zeros((2, 3, 3), np.float32)
    frame[:] = (0.8, 0.4, 0.2)
    src = np.zeros((2, 3, 4), np.float32)
    src[0] = (0.5, 1.0, 0.0, 1.0)    # opaque (premultiplied == straight)
    src[1] = (0.25, 0.5, 0.0, 0.5)   # straight (0.5, 1.0, 0.0) at half alpha
    cb = np.array([0.8, 0.4, 0.2])
    cs = np.array([0.5, 1.0, 0.0])
    expected_opaque = {"normal": cs, "multiply": cs * cb, "screen": cs + cb - cs * cb,
                       "add": np.minimum(cs + cb, 1.0)}
    for mode, opaque in expected_opaque.items():
        got = composite(frame, [Layer(src, affine(), blend=mode)], backend=backend)
        np.testing.assert_allclose(got[0, 1], opaque, atol=1e-6, err_msg=mode)
        # half coverage: the blend result mixed half-and-half with the backdrop
        np.testing.assert_allclose(got[1, 1], 0.5 * opaque + 0.5 * cb, atol=1e-6, err_msg=mode)
        # opacity 0.5 on the opaque row gives the same as half alpha
        half = composite(frame, [Layer(src, affine(), opacity=0.5, blend=mode)], backend=backend)
        np.testing.assert_allclose(half[0, 1], 0.5 * opaque + 0.5 * cb, atol=1e-6, err_msg=mode)


def test_rgba_frame_alpha_is_source_over():
    frame = np.zeros((1, 1, 4), np.float32)
    frame[:] = (0.2, 0.0, 0.0, 0.4)  # premultiplied
    src = np.array([[[0.0, 0.3, 0.0, 0.5]]], np.float32)
    for backend in ("reference", "cpu"):
        got = composite(frame, [Layer(src, affine())], backend=backend)[0, 0]
        np.testing.assert_allclose(got, [0.2 * 0.5, 0.3, 0.0, 0.5 + 0.4 * 0.5], atol=1e-6)


# ----------------------------------------------------------------------------------------------------
# Edges: no seams, no halos, no lost border rows or columns


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_opaque_full_frame_layer_replaces_every_pixel(backend):
    rng = np.random.default_rng(9)
    frame = random_frame(rng, 23, 17, 3, np.uint8)
    rgba = np.dstack([rng.integers(0, 256, (23, 17, 3), dtype=np.uint8), np.full((23, 17), 255, np.uint8)])
    np.testing.assert_array_equal(composite(frame, [Layer(rgba, affine())], backend=backend), rgba[..., :3])
    # two opaque halves that abut on a pixel boundary join without a seam
    halves = [Layer(rgba[:, :8].copy(), affine()), Layer(rgba[:, 8:].copy(), affine(translate=(8, 0)))]
    np.testing.assert_array_equal(composite(frame, halves, backend=backend), rgba[..., :3])


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_oversized_moving_background_covers_the_frame_edges(backend):
    """A Ken Burns background 20% larger than the frame leaves no transparent border, at any offset."""
    rng = np.random.default_rng(4)
    height, width = 48, 27
    bg = np.dstack([rng.integers(0, 256, (58, 33, 3), dtype=np.uint8), np.full((58, 33), 255, np.uint8)])
    frame = np.zeros((height, width, 4), np.uint8)
    for i in range(6):
        scale = 1.0 + 0.013 * i
        matrix = affine(scale=scale, rotation_deg=0.7 * i, translate=(-3.1 - 0.37 * i, -4.6 + 0.29 * i),
                        origin=(16.5, 29.0))
        out = composite(frame, [Layer(bg, matrix)], backend=backend)
        assert out[..., 3].min() == 255, f"frame {i}: uncovered pixels at {np.argwhere(out[..., 3] < 255)[:3]}"


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_scaled_cutout_edges_have_no_halo(backend):
    """Premultiplied sampling: the anti-aliased edge of a red cut-out over green mixes only red and green."""
    sprite = np.zeros((10, 12, 4), np.uint8)
    sprite[2:8, 3:9] = (255, 0, 0, 255)   # transparent pixels around it are (0, 0, 0, 0)
    frame = np.zeros((30, 30, 3), np.uint8)
    frame[:] = (0, 255, 0)
    for matrix in (affine(scale=1.7, translate=(3.3, 4.6)), affine(scale=2.3, rotation_deg=33, translate=(14.2, 2.7))):
        out = composite(frame, [Layer(sprite, matrix)], backend=backend).astype(int)
        edge = (out[..., 0] > 0) & (out[..., 0] < 255)
        assert edge.sum() > 10, "the cut-out must have anti-aliased edge pixels"
        assert np.abs(out[..., 0] + out[..., 1] - 255).max() <= 1   # on the red-green line: no dark fringe
        assert out[..., 2].max() == 0


# ----------------------------------------------------------------------------------------------------
# Sub-pixel motion


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("rotation_deg", [0.0, 30.0])
def test_slow_pan_moves_by_exactly_the_sub_pixel_step(backend, rotation_deg):
    """A 0.1 px/frame pan moves the image 0.1 px every frame: no integer-pixel stepping (ffmpeg zoompan)."""
    h, w = 40, 60
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    blob = np.exp(-((xs - 30) ** 2 + (ys - 20) ** 2) / (2 * 4.0 ** 2))
    sprite = np.dstack([blob] * 4).astype(np.float32)   # premultiplied white blob, soft alpha
    frame = np.zeros((50, 90, 3), np.float32)
    step = 0.1
    centroids = []
    for i in range(12):
        matrix = affine(rotation_deg=rotation_deg, translate=(10.0 + step * i, 5.0), origin=(30.0, 20.0))
        out = composite(frame, [Layer(sprite, matrix)], backend=backend)[..., 0].astype(np.float64)
        fy, fx = np.mgrid[0:50, 0:90] + 0.5
        centroids.append((float((out * fx).sum() / out.sum()), float((out * fy).sum() / out.sum())))
    moves = np.diff(np.array(centroids), axis=0)
    np.testing.assert_allclose(moves[:, 0], step, atol=0.004)
    np.testing.assert_allclose(moves[:, 1], 0.0, atol=0.004)
    # and the blob's centre lands where the matrix puts it
    np.testing.assert_allclose(centroids[0], (40.0, 25.0), atol=0.05)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_slow_pan_of_a_ramp_changes_each_pixel_by_the_expected_amount(backend):
    h, w = 8, 64
    ramp = np.broadcast_to(np.linspace(0.1, 0.9, w, dtype=np.float32)[None, :], (h, w))
    sprite = np.dstack([ramp, ramp, ramp, np.ones((h, w), np.float32)]).astype(np.float32)
    slope = float(ramp[0, 1] - ramp[0, 0])  # per layer pixel
    frame = np.zeros((8, 40, 3), np.float32)
    previous = None
    for i in range(10):
        out = composite(frame, [Layer(sprite, affine(translate=(-10.0 + 0.1 * i, 0.0)))], backend=backend)
        if previous is not None:  # the image moved right by 0.1 px: each pixel sees 0.1 px less of the ramp
            np.testing.assert_allclose(out[:, :, 0] - previous[:, :, 0], -0.1 * slope, atol=2e-6)
        previous = out


# ----------------------------------------------------------------------------------------------------
# Bad input


def _layer(**overrides):
    fields = {"image": np.zeros((4, 4, 4), np.uint8), "matrix": affine()}
    fields.update(overrides)
    return Layer(**fields)


@pytest.mark.parametrize("frame, layers, message", [
    (np.zeros((4, 4, 3), np.float64), [_layer()], "uint8"),
    (np.zeros((4, 4, 2), np.uint8), [_layer()], r"\(H, W, 3\)"),
    (np.zeros((4, 4), np.uint8), [_layer()], r"\(H, W, 3\)"),
    (np.zeros((4, 4, 3), np.uint8), [_layer(image=np.zeros((4, 4, 3), np.uint8))], "premultiplied RGBA"),
    (np.zeros((4, 4, 3), np.uint8), [_layer(image=np.zeros((4, 4, 4), np.int16))], "uint8 or float32"),
    (np.zeros((4, 4, 3), np.uint8), [_layer(matrix=np.array([[1.0, 0, 0], [2.0, 0, 0]]))], "not invertible"),
    (np.zeros((4, 4, 3), np.uint8), [_layer(matrix=np.array([[1.0, 0, np.nan], [0, 1, 0]]))], "NaN"),
    (np.zeros((4, 4, 3), np.uint8), [_layer(matrix=np.array([[np.inf, 0, 0], [0, 1, 0]]))], "NaN or infinity"),
    (np.zeros((4, 4, 3), np.uint8), [_layer(matrix=np.eye(3))], r"\(2, 3\)"),
    (np.zeros((4, 4, 3), np.uint8), [_layer(matrix="identity")], r"\(2, 3\)"),
    (np.zeros((4, 4, 3), np.uint8), [_layer(opacity=1.5)], "opacity"),
    (np.zeros((4, 4, 3), np.uint8), [_layer(opacity=float("nan"))], "opacity"),
    (np.zeros((4, 4, 3), np.uint8), [_layer(blend="overlay")], "blend"),
    (np.zeros((4, 4, 3), np.uint8), _layer(), "sequence"),
    (np.zeros((4, 4, 3), np.uint8), [np.zeros((4, 4, 4), np.uint8)], "Layer"),
])
def test_bad_input_is_a_clear_value_error(frame, layers, message):
    with pytest.raises(ValueError, match=message):
        composite(frame, layers, backend="cpu")


def test_bad_options_are_value_errors():
    frame = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="backend"):
        composite(frame, [_layer()], backend="gpu")
    with pytest.raises(ValueError, match="out must match"):
        composite(frame, [_layer()], out=np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="non-zero"):
        affine(scale=0.0)
    with pytest.raises(ValueError, match="finite"):
        affine(rotation_deg=float("nan"))
    with pytest.raises(ValueError, match="pair"):
        affine(translate=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="RGBA"):
        premultiply(np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8 or float32"):
        premultiply(np.zeros((3, 3, 4), np.float64))
