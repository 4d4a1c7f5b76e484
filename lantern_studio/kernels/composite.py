"""Frame compositing: premultiplied RGBA layers, each with a sub-pixel affine transform, in one pass.

One public entry point, :func:`composite`, with three bodies:

* ``reference`` (:func:`reference`): numpy, float64, one full-frame pass per layer; obviously right and
  slow. It is **the specification**: the other bodies are tested against it.
* ``cpu``: numba ``prange`` over rows; each row is loaded once into a small float32 buffer, every layer
  that can touch the row is blended into it over the columns it can touch (row-level culling: the
  layer's frame bounding box, then the exact column span from the inverse matrix), and the row is
  stored once. No per-layer full-frame temporaries. Within a span, columns whose four taps are all
  inside the layer skip the bounds checks. A layer row that is not rotated (``v`` constant along the
  frame row: pans, zooms, sprites, captions) is sampled separably: its two source rows are blended
  once into a padded float32 row (a vectorised loop), then each column lerps between two texels, in
  contiguous runs when the horizontal scale is near 1 and from per-call column tables otherwise. A
  layer declared ``opaque`` that spans a row replaces it: the frame and the layers under it are not
  read. Rows are dealt to the threads in interleaved bands, so layers in one part of the frame still
  keep every thread busy.
* ``cuda``: one thread per output pixel (2-D grid), looping over the layers.

The per-pixel arithmetic (bilinear sampling with transparent padding, the blend modes) is written once
as small ``@njit`` scalar functions (:func:`_bilinear`, :func:`_bilinear_inside`, :func:`_blend`) that
both the CPU loop and the CUDA kernel call, so the bodies cannot drift apart; the CPU's separable path
is the same bilinear formula factored as lerp(lerp(rows), columns) and is tested against the reference
like the rest. Arithmetic is float32 (float64 for coordinates); ``uint8`` results round to nearest.

Coordinate convention
---------------------
Frame and layer pixels are unit squares: pixel ``(row i, column j)`` covers ``[j, j+1) x [i, i+1)`` and
its centre is ``(j + 0.5, i + 0.5)``. A layer's ``matrix`` is a 2x3 affine mapping layer coordinates
``(x, y)`` to frame coordinates, ``[x', y'] = M[:, :2] @ [x, y] + M[:, 2]``. The identity puts the
layer's top-left corner on the frame's top-left corner, pixel for pixel; a translation of ``(0.1, 0)``
moves the layer exactly a tenth of a pixel to the right (bilinear resampling, no integer stepping).
Each output pixel samples the layer at the inverse image of its centre. Outside the layer the layer is
transparent, so edges are anti-aliased by the sampling itself, and because the pixels are
premultiplied there are no dark or light halos.

Blend modes
-----------
W3C *Compositing and Blending* separable modes with source-over, in premultiplied form
(``cs``/``cb`` premultiplied source/backdrop colour, ``as``/``ab`` their alphas)::

    co = cs (1 - ab) + cb (1 - as) + as ab B(Cb, Cs)      ao = as + ab (1 - as)

    normal   : B = Cs                -> co = cs + cb (1 - as)
    multiply : B = Cs Cb             -> co = cs cb + cs (1 - ab) + cb (1 - as)
    screen   : B = Cs + Cb - Cs Cb   -> co = cs + cb - cs cb
    add      : B = min(1, Cs + Cb)   -> co = cs (1 - ab) + cb (1 - as) + min(as ab, ab cs + as cb)

A layer's ``opacity`` scales its premultiplied pixels (colour and alpha) before blending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numba
import numpy as np
from numba import njit, prange

from lantern_studio.kernels.backend import (clamp, cpu_tasks, device_function, grid_2d, load_cuda, resolve_backend,
                                            smaller)

__all__ = ["BLEND_MODES", "Layer", "composite", "affine", "premultiply", "reference"]

BLEND_MODES: tuple[str, ...] = ("normal", "multiply", "screen", "add")
_BLEND_CODE = {name: code for code, name in enumerate(BLEND_MODES)}

#: Internal blend code of the CPU body: an opaque layer replacing the row (see ``Layer.opaque``).
_REPLACE = 4
#: Rows per band of the CPU body (bands are dealt to the tasks in turn).
_ROWS_PER_BAND = 4


@dataclass(frozen=True)
class Layer:
    """One RGBA layer to draw onto a frame.

    Parameters
    ----------
    image : numpy.ndarray
        ``(h, w, 4)`` ``uint8`` (0..255) or ``float32`` (0..1), **premultiplied** alpha
        (use :func:`premultiply` on straight-alpha pixels). ``h`` or ``w`` may be 0 (draws nothing).
    matrix : numpy.ndarray
        ``(2, 3)`` affine from layer pixel coordinates to frame pixel coordinates (pixel centres at
        ``integer + 0.5``, see the module docstring). Build one with :func:`affine`.
    opacity : float
        0..1, multiplies the layer's premultiplied pixels.
    blend : str
        One of :data:`BLEND_MODES`.
    opaque : bool
        A promise that every pixel's alpha is full (255 or 1.0), as for a background panel. With
        ``opacity=1`` and the normal blend, rows the layer covers edge to edge then skip everything below
        it (the layers and the frame) and skip the alpha arithmetic: a faster draw with the same pixels.
        The promise is not checked: a layer with transparent pixels drawn as opaque covers what is under
        it there.
    """

    image: np.ndarray
    matrix: np.ndarray
    opacity: float = 1.0
    blend: str = "normal"
    opaque: bool = False


# ----------------------------------------------------------------------------------------------------
# Public helpers


def affine(*, scale: float | tuple[float, float] = 1.0, rotation_deg: float = 0.0,
           translate: tuple[float, float] = (0.0, 0.0), origin: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Build a ``(2, 3)`` float64 layer-to-frame matrix: scale and rotate about ``origin``, then translate.

    Parameters
    ----------
    scale : float or (float, float)
        Uniform scale, or ``(sx, sy)``; must be non-zero and finite.
    rotation_deg : float
        Rotation in degrees, positive turns the layer counter-clockwise on screen (as PIL's
        ``Image.rotate`` and OpenCV's ``getRotationMatrix2D`` do).
    translate : (float, float)
        ``(tx, ty)`` in frame pixels (sub-pixel values are honoured).
    origin : (float, float)
        ``(ox, oy)`` pivot in layer pixel coordinates (``(w / 2, h / 2)`` is the layer's centre). The
        pivot lands on ``origin + translate`` in the frame.

    Returns
    -------
    numpy.ndarray
        ``(2, 3)`` float64.
    """
    if np.ndim(scale) == 0:
        sx = sy = scale
    else:
        if len(scale) != 2:
            raise ValueError(f"scale must be a number or a pair (sx, sy), got {scale!r}")
        sx, sy = scale
    values = {"scale x": sx, "scale y": sy, "rotation_deg": rotation_deg}
    for name, pair in (("translate", translate), ("origin", origin)):
        if len(pair) != 2:
            raise ValueError(f"{name} must be a pair (x, y), got {pair!r}")
        values[f"{name} x"], values[f"{name} y"] = pair
    for name, value in values.items():
        if not math.isfinite(float(value)):
            raise ValueError(f"affine: {name} must be a finite number, got {value!r}")
    if float(sx) == 0.0 or float(sy) == 0.0:
        raise ValueError(f"affine: scale must be non-zero (got {sx!r}, {sy!r}); a zero scale hides the layer, "
                         "leave the layer out instead")
    theta = math.radians(float(rotation_deg))
    c, s = math.cos(theta), math.sin(theta)
    # y points down: a counter-clockwise turn on screen is [[c, s], [-s, c]]
    linear = np.array([[c, s], [-s, c]]) @ np.diag([float(sx), float(sy)])
    o = np.array([float(origin[0]), float(origin[1])])
    t = np.array([float(translate[0]), float(translate[1])])
    offset = o + t - linear @ o
    return np.hstack([linear, offset[:, None]])


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """Straight-alpha RGBA to premultiplied RGBA, same dtype.

    Parameters
    ----------
    rgba : numpy.ndarray
        ``(h, w, 4)`` ``uint8`` (rounded to nearest) or ``float32`` in 0..1.

    Returns
    -------
    numpy.ndarray
        ``(h, w, 4)``, same dtype, colour channels multiplied by alpha.
    """
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"premultiply needs an (h, w, 4) RGBA array, got shape {rgba.shape}")
    if rgba.dtype == np.uint8:
        out = rgba.copy()
        alpha = rgba[..., 3:4].astype(np.uint32)
        out[..., :3] = (rgba[..., :3].astype(np.uint32) * alpha + 127) // 255
        return out
    if rgba.dtype == np.float32:
        out = rgba.copy()
        out[..., :3] *= rgba[..., 3:4]
        return out
    raise ValueError(f"premultiply needs uint8 or float32 pixels, got {rgba.dtype}; convert with "
                     ".astype(np.float32) / 255 or keep uint8")


# ----------------------------------------------------------------------------------------------------
# Validation and packing


# Columns of _Packed.boxes: the rows [_Y0, _Y1) and columns [_X0, _X1) of the frame a layer can touch.
_Y0, _Y1, _X0, _X1 = range(4)


@dataclass(frozen=True)
class _Packed:
    images: list            # C-contiguous (h, w, 4) arrays, one dtype
    minv: np.ndarray        # (n, 6) float64 inverse matrices (frame -> layer)
    smul: np.ndarray        # (n,) float32: opacity / 255 (uint8 pixels) or opacity (float32)
    blend: np.ndarray       # (n,) int64 blend codes
    boxes: np.ndarray       # (n, 4) int64: columns _Y0, _Y1, _X0, _X1 in frame pixels (half-open)
    opaque: np.ndarray      # (n,) bool: promised opaque, opacity 1, normal blend (may replace what is under)


def _check_frame(frame: np.ndarray, name: str = "frame") -> None:
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"{name} must be (H, W, 3) RGB or (H, W, 4) RGBA, got shape {frame.shape}")
    if frame.dtype not in (np.uint8, np.float32):
        raise ValueError(f"{name} must be uint8 (0..255) or float32 (0..1), got {frame.dtype}")


def _check_layer(i: int, layer: Layer) -> tuple[np.ndarray, int]:
    if not isinstance(layer, Layer):
        raise ValueError(f"layers[{i}] must be a kernels.composite.Layer, got {type(layer).__name__}")
    image = layer.image
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 4:
        shape = getattr(image, "shape", None)
        raise ValueError(f"layers[{i}].image must be an (h, w, 4) premultiplied RGBA array, got shape {shape}; "
                         "add an alpha channel (and call premultiply) first")
    if image.dtype not in (np.uint8, np.float32):
        raise ValueError(f"layers[{i}].image must be uint8 or float32, got {image.dtype}")
    matrix = np.asarray(layer.matrix, dtype=np.float64) if _numeric(layer.matrix) else None
    if matrix is None or matrix.shape != (2, 3):
        raise ValueError(f"layers[{i}].matrix must be a (2, 3) numeric affine matrix, got "
                         f"{getattr(layer.matrix, 'shape', layer.matrix)!r}; build one with kernels.composite.affine")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"layers[{i}].matrix contains NaN or infinity: {matrix.tolist()}")
    det = matrix[0, 0] * matrix[1, 1] - matrix[0, 1] * matrix[1, 0]
    size = max(abs(matrix[:, :2]).max(), 1e-300)
    if not abs(det) > 1e-12 * size * size:
        raise ValueError(f"layers[{i}].matrix is not invertible (determinant {det:g}): a zero or degenerate "
                         "scale squashes the layer to a line; leave the layer out instead")
    opacity = layer.opacity
    if not isinstance(opacity, (int, float, np.floating, np.integer)) or not 0.0 <= float(opacity) <= 1.0:
        raise ValueError(f"layers[{i}].opacity must be a number in [0, 1], got {opacity!r}")
    if layer.blend not in _BLEND_CODE:
        raise ValueError(f"layers[{i}].blend must be one of {BLEND_MODES}, got {layer.blend!r}")
    return matrix, _BLEND_CODE[layer.blend]


def _numeric(value) -> bool:
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except Exception:
        return False


def _inverse(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2].reshape(6)


def _frame_box(matrix: np.ndarray, h: int, w: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Frame rows/columns (half-open, clipped) that the layer's bilinear footprint can touch, in the order of
    the box columns ``_Y0, _Y1, _X0, _X1``."""
    # the footprint is the layer rectangle grown by half a layer pixel (taps reach half a pixel beyond)
    corners = np.array([[-0.5, -0.5], [w + 0.5, -0.5], [-0.5, h + 0.5], [w + 0.5, h + 0.5]])
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    x0 = max(int(math.floor(mapped[:, 0].min())) - 1, 0)
    x1 = min(int(math.ceil(mapped[:, 0].max())) + 1, width)
    y0 = max(int(math.floor(mapped[:, 1].min())) - 1, 0)
    y1 = min(int(math.ceil(mapped[:, 1].max())) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return 0, 0, 0, 0
    return y0, y1, x0, x1


def _pack(frame_shape: tuple[int, ...], layers: Sequence[Layer]) -> _Packed:
    height, width = frame_shape[:2]
    checked = [(layer, *_check_layer(i, layer)) for i, layer in enumerate(layers)]
    visible = []
    for layer, matrix, code in checked:
        h, w = layer.image.shape[:2]
        if h == 0 or w == 0 or float(layer.opacity) == 0.0:
            continue
        box = _frame_box(matrix, h, w, height, width)
        if box[_Y1] <= box[_Y0]:
            continue  # wholly off-frame
        visible.append((layer, matrix, code, box))
    use_float = any(layer.image.dtype == np.float32 for layer, *_ in visible)
    images, minv, smul, blend, boxes, opaque = [], [], [], [], [], []
    for layer, matrix, code, box in visible:
        image = layer.image
        if use_float and image.dtype == np.uint8:
            image = image.astype(np.float32) * np.float32(1 / 255)
        images.append(np.ascontiguousarray(image))
        minv.append(_inverse(matrix))
        smul.append(float(layer.opacity) / (255.0 if image.dtype == np.uint8 else 1.0))
        blend.append(code)
        boxes.append(box)
        opaque.append(bool(layer.opaque) and code == 0 and float(layer.opacity) == 1.0)
    n = len(images)
    return _Packed(images, np.array(minv, np.float64).reshape(n, 6), np.array(smul, np.float32),
                   np.array(blend, np.int64), np.array(boxes, np.int64).reshape(n, 4), np.array(opaque, np.bool_))


# ----------------------------------------------------------------------------------------------------
# Scalar arithmetic shared by the CPU and CUDA bodies (no allocation, no exceptions)
#
# Flat indices are unsigned: numba wraps negative signed indices (``i < 0 -> i + n``), a compare and
# select per load that also stops LLVM from vectorising contiguous loops. Every index here is known
# to be in range, so it is converted to uint64 once and offset with the unsigned constants below.

_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(4)
_U5 = np.uint64(5)
_U6 = np.uint64(6)
_U7 = np.uint64(7)


@njit(cache=True, fastmath=True)
def _bilinear(pix, base, h, w, u, v):
    """Bilinear sample of RGBA pixels at layer index coordinates (u, v); transparent outside.

    ``pix`` is flat; pixel (row, col) channel c lives at ``base + (row * w + col) * 4 + c``. Index
    coordinates put pixel centres on integers (``u = x - 0.5``). Returns raw (unscaled) r, g, b, a.
    """
    fu = math.floor(u)
    fv = math.floor(v)
    ax = np.float32(u - fu)
    ay = np.float32(v - fv)
    one = np.float32(1.0)
    iu = int(fu)
    iv = int(fv)
    r = np.float32(0.0)
    g = np.float32(0.0)
    b = np.float32(0.0)
    a = np.float32(0.0)
    for dy in range(2):
        row = iv + dy
        if row < 0 or row >= h:
            continue
        wy = ay if dy == 1 else one - ay
        for dx in range(2):
            col = iu + dx
            if col < 0 or col >= w:
                continue
            wgt = wy * (ax if dx == 1 else one - ax)
            i = np.uint64(base + (row * w + col) * 4)
            r += wgt * pix[i]
            g += wgt * pix[i + _U1]
            b += wgt * pix[i + _U2]
            a += wgt * pix[i + _U3]
    return r, g, b, a


@njit(cache=True, fastmath=True)
def _bilinear_inside(pix, base, w, u, v):
    """:func:`_bilinear` for ``0 <= u < w - 1`` and ``0 <= v < h - 1`` (all four taps inside)."""
    iu = int(u)
    iv = int(v)
    ax = np.float32(u - iu)
    ay = np.float32(v - iv)
    one = np.float32(1.0)
    i00 = np.uint64(base + (iv * w + iu) * 4)
    i10 = i00 + np.uint64(w * 4)
    w00 = (one - ax) * (one - ay)
    w01 = ax * (one - ay)
    w10 = (one - ax) * ay
    w11 = ax * ay
    r = w00 * pix[i00] + w01 * pix[i00 + _U4] + w10 * pix[i10] + w11 * pix[i10 + _U4]
    g = w00 * pix[i00 + _U1] + w01 * pix[i00 + _U5] + w10 * pix[i10 + _U1] + w11 * pix[i10 + _U5]
    b = w00 * pix[i00 + _U2] + w01 * pix[i00 + _U6] + w10 * pix[i10 + _U2] + w11 * pix[i10 + _U6]
    a = w00 * pix[i00 + _U3] + w01 * pix[i00 + _U7] + w10 * pix[i10 + _U3] + w11 * pix[i10 + _U7]
    return r, g, b, a


@njit(cache=True, fastmath=True)
def _blend(mode, sr, sg, sb, sa, br, bg, bb, ba):
    """Premultiplied source (s) onto premultiplied backdrop (b), float32; see the module docstring."""
    one = np.float32(1.0)
    ia = one - sa
    oa = sa + ba * ia
    if mode == 0:  # normal
        return sr + br * ia, sg + bg * ia, sb + bb * ia, oa
    if mode == _REPLACE:  # an opaque layer over the whole row (CPU only): the backdrop is not read
        return sr, sg, sb, one
    if mode == 1:  # multiply
        ib = one - ba
        return (sr * br + sr * ib + br * ia, sg * bg + sg * ib + bg * ia,
                sb * bb + sb * ib + bb * ia, oa)
    if mode == 2:  # screen
        return sr + br - sr * br, sg + bg - sg * bg, sb + bb - sb * bb, oa
    # add (linear dodge, clipped per colour)
    ib = one - ba
    k = sa * ba
    return (sr * ib + br * ia + smaller(k, ba * sr + sa * br), sg * ib + bg * ia + smaller(k, ba * sg + sa * bg),
            sb * ib + bb * ia + smaller(k, ba * sb + sa * bb), oa)


@njit(cache=True, fastmath=True)
def _store(value, to_u8):
    """Frame value (0..1) to the output's range: rounded and clipped to 0..255 for uint8 frames."""
    if to_u8:
        return clamp(value * np.float32(255.0) + np.float32(0.5), np.float32(0.0), np.float32(255.0))
    return value


@njit(cache=True, fastmath=True)
def _span(a, b, lo, hi, xa, xb):
    """Columns ``x`` in ``[xa, xb)`` where ``lo < a * x + b < hi``, widened by a column on each side."""
    if a == 0.0:
        if lo < b and b < hi:
            return xa, xb
        return xa, xa
    t1 = (lo - b) / a
    t2 = (hi - b) / a
    if t1 > t2:
        t1, t2 = t2, t1
    t1 = max(t1, xa - 2.0)
    t2 = min(t2, xb + 2.0)
    s = max(int(math.floor(t1)) - 1, xa)
    e = min(int(math.ceil(t2)) + 2, xb)
    if e < s:
        e = s
    return s, e


@njit(cache=True, fastmath=True)
def _inside(ub, du, vb, dv, x, wlim, hlim):
    """Whether all four bilinear taps of column ``x`` are inside the layer (``wlim``/``hlim`` carry a margin)."""
    u = ub + x * du
    v = vb + x * dv
    return u >= 0.0 and u < wlim and v >= 0.0 and v < hlim


# ----------------------------------------------------------------------------------------------------
# CPU body


@njit(cache=True, fastmath=True, inline="always")
def _blend_run_loop(buf, channels, pix, h, w, ub, du, vb, dv, x0, x1, mode, sm, inside):
    """Blend one layer into columns ``[x0, x1)`` of a row buffer (``channels`` floats per pixel)."""
    one = np.float32(1.0)
    for x in range(x0, x1):
        u = ub + x * du
        v = vb + x * dv
        if inside:
            r, g, b, a = _bilinear_inside(pix, 0, w, u, v)
        else:
            r, g, b, a = _bilinear(pix, 0, h, w, u, v)
        j = np.uint64(x * channels)
        ba = buf[j + _U3] if channels == 4 else one
        r, g, b, a = _blend(mode, r * sm, g * sm, b * sm, a * sm, buf[j], buf[j + _U1], buf[j + _U2], ba)
        buf[j] = r
        buf[j + _U1] = g
        buf[j + _U2] = b
        if channels == 4:
            buf[j + _U3] = a


@njit(cache=True, fastmath=True)
def _blend_run(buf, channels, pix, h, w, ub, du, vb, dv, x0, x1, mode, sm):
    """Edge columns: every tap checked (few columns per row, one generic loop)."""
    _blend_run_loop(buf, channels, pix, h, w, ub, du, vb, dv, x0, x1, mode, sm, False)


@njit(cache=True, fastmath=True)
def _blend_run_inside(buf, channels, pix, h, w, ub, du, vb, dv, x0, x1, mode, sm):
    """Interior columns. The loop is inlined with constants per channel count, and for the normal
    blend mode (the common case), so that per-pixel code carries no branches; other modes share one
    copy per channel count (each copy costs compile time)."""
    if channels == 3:
        if mode == 0:
            _blend_run_loop(buf, 3, pix, h, w, ub, du, vb, dv, x0, x1, 0, sm, True)
        else:
            _blend_run_loop(buf, 3, pix, h, w, ub, du, vb, dv, x0, x1, mode, sm, True)
    else:
        if mode == 0:
            _blend_run_loop(buf, 4, pix, h, w, ub, du, vb, dv, x0, x1, 0, sm, True)
        else:
            _blend_run_loop(buf, 4, pix, h, w, ub, du, vb, dv, x0, x1, mode, sm, True)


@njit(cache=True, fastmath=True, inline="always")
def _lerp_texels_blend(buf, channels, tmp, j0, ax, x, mode):
    """Frame column ``x``: lerp by ``ax`` between the ``tmp`` texels at ``j0`` and ``j0 + 4``, blend into ``buf``."""
    one = np.float32(1.0)
    r = tmp[j0] + ax * (tmp[j0 + _U4] - tmp[j0])
    g = tmp[j0 + _U1] + ax * (tmp[j0 + _U5] - tmp[j0 + _U1])
    b = tmp[j0 + _U2] + ax * (tmp[j0 + _U6] - tmp[j0 + _U2])
    a = tmp[j0 + _U3] + ax * (tmp[j0 + _U7] - tmp[j0 + _U3])
    j = np.uint64(x * channels)
    ba = buf[j + _U3] if channels == 4 else one
    r, g, b, a = _blend(mode, r, g, b, a, buf[j], buf[j + _U1], buf[j + _U2], ba)
    buf[j] = r
    buf[j + _U1] = g
    buf[j + _U2] = b
    if channels == 4:
        buf[j + _U3] = a


@njit(cache=True, fastmath=True, inline="always")
def _rowwise_loop(buf, channels, tmp, col_i, col_w, x0, x1, mode):
    """Horizontal half of :func:`_blend_run_rowwise`: lerp between two texels of ``tmp``, blend."""
    for x in range(x0, x1):
        _lerp_texels_blend(buf, channels, tmp, np.uint64(col_i[x]), col_w[x], x, mode)


@njit(cache=True, fastmath=True, inline="always")
def _run_loop(buf, channels, tmp, ub, du, k, xs, xe, mode):
    """Columns [xs, xe) whose left texel is column ``x + k``: contiguous loads that vectorise."""
    for x in range(xs, xe):
        _lerp_texels_blend(buf, channels, tmp, np.uint64((x + k + 1) * 4), np.float32(ub + x * du - (x + k)), x, mode)


@njit(cache=True, fastmath=True, inline="always")
def _rowwise_loop_by_mode(buf, channels, tmp, col_i, col_w, x0, x1, mode):
    """:func:`_rowwise_loop` specialised as :func:`_run_loop_by_mode` is."""
    if mode == 0:
        _rowwise_loop(buf, channels, tmp, col_i, col_w, x0, x1, 0)
    elif mode == _REPLACE:
        _rowwise_loop(buf, channels, tmp, col_i, col_w, x0, x1, _REPLACE)
    else:
        _rowwise_loop(buf, channels, tmp, col_i, col_w, x0, x1, mode)


@njit(cache=True, fastmath=True, inline="always")
def _run_loop_by_mode(buf, channels, tmp, ub, du, k, xs, xe, mode):
    """:func:`_run_loop` with the blend mode a constant in the common cases (normal, replace), so their
    copies compile without the other modes' branches; ``channels`` is a constant at each call site."""
    if mode == 0:
        _run_loop(buf, channels, tmp, ub, du, k, xs, xe, 0)
    elif mode == _REPLACE:
        _run_loop(buf, channels, tmp, ub, du, k, xs, xe, _REPLACE)
    else:
        _run_loop(buf, channels, tmp, ub, du, k, xs, xe, mode)


@njit(cache=True, fastmath=True)
def _rowwise_runs(buf, channels, tmp, ub, du, x0, x1, c0, c1, mode):
    """Horizontal half of :func:`_blend_run_rowwise` for a scale near 1 (``|du - 1|`` small): the left
    texel of column ``x`` is ``x + k`` with ``k = floor(ub + x * (du - 1))`` constant over long runs, so
    each run is one contiguous loop instead of a gather per column."""
    g = du - 1.0
    x = x0
    while x < x1:
        k = int(math.floor(ub + x * du)) - x
        if x + k < c0 - 1 or x + k >= c1:
            x += 1   # no tap inside the padded span: the layer adds nothing here
            continue
        xe = min(x1, c1 - k)
        if g > 0.0:
            xe = min(xe, int(math.ceil((k + 1 - ub) / g)))
        elif g < 0.0:
            xe = min(xe, int(math.floor((k - ub) / g)) + 1)
        xe = max(xe, x + 1)
        if channels == 3:
            _run_loop_by_mode(buf, 3, tmp, ub, du, k, x, xe, mode)
        else:
            _run_loop_by_mode(buf, 4, tmp, ub, du, k, x, xe, mode)
        x = xe


#: Horizontal scales within this of 1 take the contiguous runs of :func:`_rowwise_runs` (runs of 32+
#: columns); other scales gather per column, which is faster when runs would be short.
_RUNS_MAX_SLOPE = 1.0 / 32.0


@njit(cache=True, fastmath=True)
def _row_columns(ub, du, x0, x1, c0, c1, col_i, col_w):
    """For frame columns [x0, x1): the ``tmp`` index of the left texel and the horizontal weight. Columns
    whose taps fall outside the padded span read the transparent padding texel with weight 0."""
    for x in range(x0, x1):
        u = ub + x * du
        fu = math.floor(u)
        iu = int(fu)
        if iu < c0 - 1 or iu >= c1:
            col_i[x] = c0 * 4
            col_w[x] = np.float32(0.0)
        else:
            col_i[x] = (iu + 1) * 4
            col_w[x] = np.float32(u - fu)


@njit(cache=True, fastmath=True)
def _blend_run_rowwise(buf, channels, tmp, pix, h, w, ub, du, v, x0, x1, mode, sm, col_i, col_w, cached):
    """Blend a layer row whose ``v`` does not change along the frame row (no rotation or shear).

    Same bilinear arithmetic, split in two: the two source rows are blended once into ``tmp`` (a
    zero-padded float32 row, contiguous and vectorised), then each column interpolates horizontally
    between two ``tmp`` texels. Axis-aligned layers (pans, zooms, sprites, captions) take this path;
    rotated ones take :func:`_blend_run_inside` and :func:`_blend_run`. The column indices and weights
    (``col_i``, ``col_w``) depend only on ``ub``, ``du`` and the span, which are the same on every row of
    an unrotated layer: they are computed once and kept while ``cached`` = (ub, x0, x1) still matches.
    """
    one = np.float32(1.0)
    zero = np.float32(0.0)
    fv = math.floor(v)
    iv = int(fv)
    ay = np.float32(v - fv)
    w0 = (one - ay) * sm if 0 <= iv < h else zero
    w1 = ay * sm if 0 <= iv + 1 < h else zero
    r0 = min(max(iv, 0), h - 1) * w * 4
    r1 = min(max(iv + 1, 0), h - 1) * w * 4
    # source columns the frame columns [x0, x1) read (u is monotonic in x)
    lo = int(math.floor(ub + x0 * du))
    hi = int(math.floor(ub + (x1 - 1) * du))
    if lo > hi:
        lo, hi = hi, lo
    c0 = max(lo, 0)
    c1 = min(hi + 2, w)
    if c1 <= c0:
        return
    # tmp[(col + 1) * 4 + channel]: columns c0 - 1 and c1 are transparent padding
    for e in range(4):
        tmp[c0 * 4 + e] = zero
        tmp[(c1 + 1) * 4 + e] = zero
    p0 = pix[r0 + c0 * 4:r0 + c1 * 4]
    p1 = pix[r1 + c0 * 4:r1 + c1 * 4]
    t = tmp[(c0 + 1) * 4:(c1 + 1) * 4]
    for e in range(t.size):
        t[e] = w0 * p0[e] + w1 * p1[e]
    if abs(du - 1.0) <= _RUNS_MAX_SLOPE:
        _rowwise_runs(buf, channels, tmp, ub, du, x0, x1, c0, c1, mode)
        return
    if not (cached[0] == ub and cached[1] == x0 and cached[2] == x1):
        _row_columns(ub, du, x0, x1, c0, c1, col_i, col_w)
        cached[0] = ub
        cached[1] = x0
        cached[2] = x1
    if channels == 3:
        _rowwise_loop_by_mode(buf, 3, tmp, col_i, col_w, x0, x1, mode)
    else:
        _rowwise_loop_by_mode(buf, 4, tmp, col_i, col_w, x0, x1, mode)


@njit(cache=True, fastmath=True)
def _covers_row(m, h, w, py, width):
    """Whether an unrotated layer (inverse matrix ``m``) has all four bilinear taps inside itself on every
    column of the frame row at ``py``."""
    if m[3] != 0.0 or m[0] == 0.0:
        return False
    v = m[4] * py + m[5] - 0.5
    if not (v >= 0.0 and v < h - 1.0):
        return False
    u0 = m[0] * 0.5 + m[1] * py + m[2] - 0.5
    u1 = u0 + (width - 1) * m[0]
    return min(u0, u1) >= 0.0 and max(u0, u1) < w - 1.0


@njit(parallel=True, cache=True, fastmath=True)
def _composite_cpu(frame, out, channels, images, shapes, minv, smul, blend, boxes, opaque, frame_scale, to_u8,
                   rows_per_band, n_tasks, max_w):
    """``frame``/``out``: ``(H, W * channels)`` views; one float32 row buffer per task.

    Rows go to ``n_tasks`` tasks in bands of ``rows_per_band``, dealt out in turn (task k takes bands k,
    k + n_tasks, ...): numba's prange hands each thread a contiguous range of tasks, so contiguous row
    ranges would leave a thread idle whenever the layers sit in one part of the frame (sprites near the
    bottom), and scratch allocated per task rather than per band avoids page faults in the loop.
    """
    height = frame.shape[0]
    row_len = frame.shape[1]
    n = len(images)
    n_bands = (height + rows_per_band - 1) // rows_per_band
    n_tasks = min(n_tasks, n_bands)
    for task in prange(n_tasks):
        buf = np.empty(row_len, np.float32)
        tmp = np.empty((max_w + 2) * 4, np.float32)
        col_i = np.empty((n, row_len // channels), np.int64)
        col_w = np.empty((n, row_len // channels), np.float32)
        cached = np.full((n, 3), -1.0)  # (ub, x0, x1); x0 = -1 never matches (and no NaN under fastmath)
        for j in range((n_bands - task + n_tasks - 1) // n_tasks * rows_per_band):
            y = (task + (j // rows_per_band) * n_tasks) * rows_per_band + j % rows_per_band
            if y >= height:
                continue
            py = y + 0.5
            # the topmost opaque layer that covers this row edge to edge hides everything under it
            k_start = 0
            replace = False
            for k in range(n - 1, -1, -1):
                if opaque[k] and _covers_row(minv[k], shapes[k, 0], shapes[k, 1], py, row_len // channels):
                    k_start = k
                    replace = True
                    break
            if not replace:
                for i in range(row_len):
                    buf[i] = frame[y, i] * frame_scale
            for k in range(k_start, n):
                if y < boxes[k, _Y0] or y >= boxes[k, _Y1]:
                    continue
                pix = images[k]
                h = shapes[k, 0]
                w = shapes[k, 1]
                du = minv[k, 0]
                dv = minv[k, 3]
                ub = minv[k, 0] * 0.5 + minv[k, 1] * py + minv[k, 2] - 0.5
                vb = minv[k, 3] * 0.5 + minv[k, 4] * py + minv[k, 5] - 0.5
                # columns whose bilinear footprint can touch the layer: -1 < u < w and -1 < v < h
                s1, e1 = _span(du, ub, -1.0, float(w), boxes[k, _X0], boxes[k, _X1])
                s2, e2 = _span(dv, vb, -1.0, float(h), boxes[k, _X0], boxes[k, _X1])
                ts = max(s1, s2)
                te = min(e1, e2)
                if te <= ts:
                    continue
                if dv == 0.0:
                    mode = _REPLACE if (replace and k == k_start) else blend[k]
                    _blend_run_rowwise(buf, channels, tmp, pix, h, w, ub, du, vb, ts, te, mode, smul[k], col_i[k],
                                       col_w[k], cached[k])
                    continue
                # columns where all four taps are inside: 0 <= u < w - 1 and 0 <= v < h - 1, checked
                # with the loop's own arithmetic at both ends (u and v are monotonic in x)
                wlim = w - 1.0 - 1e-6
                hlim = h - 1.0 - 1e-6
                i1, j1 = _span(du, ub, 0.0, wlim, ts, te)
                i2, j2 = _span(dv, vb, 0.0, hlim, ts, te)
                is_ = max(i1, i2)
                ie = min(j1, j2)
                while is_ < ie and not _inside(ub, du, vb, dv, is_, wlim, hlim):
                    is_ += 1
                while ie > is_ and not _inside(ub, du, vb, dv, ie - 1, wlim, hlim):
                    ie -= 1
                if ie <= is_:
                    is_ = te
                    ie = te
                mode = blend[k]
                sm = smul[k]
                _blend_run(buf, channels, pix, h, w, ub, du, vb, dv, ts, is_, mode, sm)
                _blend_run_inside(buf, channels, pix, h, w, ub, du, vb, dv, is_, ie, mode, sm)
                _blend_run(buf, channels, pix, h, w, ub, du, vb, dv, ie, te, mode, sm)
            for i in range(row_len):
                out[y, i] = _store(buf[i], to_u8)


def _readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view: inputs always reach numba with one type, whether the caller's array is writable
    or not (``np.asarray`` of a PIL image is not), so there is one compiled specialisation and the layer
    list is homogeneous."""
    view = array.view()
    view.flags.writeable = False
    return view


def _run_cpu(frame: np.ndarray, out: np.ndarray, packed: _Packed) -> None:
    images = numba.typed.List([_readonly(image.reshape(-1)) for image in packed.images])
    shapes = np.array([image.shape[:2] for image in packed.images], np.int64).reshape(-1, 2)
    height, width, channels = frame.shape
    frame_scale = np.float32(1.0 / 255.0 if frame.dtype == np.uint8 else 1.0)
    flat_out = out.reshape(height, width * channels)
    if not np.shares_memory(flat_out, out):  # out was not contiguous: compute into a copy
        flat_out = np.empty((height, width * channels), out.dtype)
    _composite_cpu(_readonly(frame.reshape(height, width * channels)), flat_out, channels, images, shapes,
                   packed.minv, packed.smul, packed.blend, packed.boxes, packed.opaque, frame_scale,
                   out.dtype == np.uint8, _ROWS_PER_BAND, cpu_tasks(), int(shapes[:, 1].max()))
    if not np.shares_memory(flat_out, out):
        out[...] = flat_out.reshape(out.shape)


# ----------------------------------------------------------------------------------------------------
# CUDA body


cuda = None  # numba.cuda, bound by load_cuda on first use


@lru_cache(maxsize=1)
def _cuda_kernel():
    load_cuda(globals())
    bilinear = device_function(_bilinear)
    blend_px = device_function(_blend)
    store = device_function(_store)

    @cuda.jit
    def kernel(frame, out, pix, offsets, shapes, minv, smul, blend, boxes, frame_scale, to_u8):
        x, y = cuda.grid(2)
        height = frame.shape[0]
        width = frame.shape[1]
        channels = frame.shape[2]
        if y >= height or x >= width:
            return
        br = frame[y, x, 0] * frame_scale
        bg = frame[y, x, 1] * frame_scale
        bb = frame[y, x, 2] * frame_scale
        ba = np.float32(1.0)
        if channels == 4:
            ba = frame[y, x, 3] * frame_scale
        px = x + 0.5
        py = y + 0.5
        for k in range(blend.shape[0]):
            if y < boxes[k, _Y0] or y >= boxes[k, _Y1] or x < boxes[k, _X0] or x >= boxes[k, _X1]:
                continue
            u = minv[k, 0] * px + minv[k, 1] * py + minv[k, 2] - 0.5
            v = minv[k, 3] * px + minv[k, 4] * py + minv[k, 5] - 0.5
            r, g, b, a = bilinear(pix, offsets[k], shapes[k, 0], shapes[k, 1], u, v)
            sm = smul[k]
            br, bg, bb, ba = blend_px(blend[k], r * sm, g * sm, b * sm, a * sm, br, bg, bb, ba)
        out[y, x, 0] = store(br, to_u8)
        out[y, x, 1] = store(bg, to_u8)
        out[y, x, 2] = store(bb, to_u8)
        if channels == 4:
            out[y, x, 3] = store(ba, to_u8)

    return kernel


def _run_cuda(frame: np.ndarray, out: np.ndarray, packed: _Packed) -> None:
    kernel = _cuda_kernel()  # binds the module's ``cuda``
    dtype = packed.images[0].dtype if packed.images else np.uint8
    flat = [image.reshape(-1) for image in packed.images]
    offsets = np.cumsum([0] + [f.size for f in flat[:-1]], dtype=np.int64) if flat else np.zeros(0, np.int64)
    pix = np.concatenate(flat) if flat else np.zeros(4, dtype)
    shapes = np.array([image.shape[:2] for image in packed.images], np.int64).reshape(-1, 2)
    d_frame = cuda.to_device(np.ascontiguousarray(frame))
    d_out = cuda.device_array(out.shape, out.dtype)
    grid, block = grid_2d(frame.shape[1], frame.shape[0])
    frame_scale = np.float32(1.0 / 255.0 if frame.dtype == np.uint8 else 1.0)
    kernel[grid, block](d_frame, d_out, cuda.to_device(pix), cuda.to_device(offsets), cuda.to_device(shapes),
                        cuda.to_device(packed.minv), cuda.to_device(packed.smul), cuda.to_device(packed.blend),
                        cuda.to_device(packed.boxes), frame_scale, out.dtype == np.uint8)
    out[...] = d_out.copy_to_host()


# ----------------------------------------------------------------------------------------------------
# numpy reference


def reference(frame: np.ndarray, layers: Sequence[Layer]) -> np.ndarray:
    """The numpy oracle: same contract as :func:`composite` (inputs already validated), float64 maths."""
    height, width, channels = frame.shape
    scale = 1 / 255 if frame.dtype == np.uint8 else 1.0
    acc = np.ones((height, width, 4))
    acc[..., :channels] = frame.astype(np.float64) * scale
    py, px = np.mgrid[0:height, 0:width] + 0.5
    for i, layer in enumerate(layers):
        matrix, code = _check_layer(i, layer)
        image = layer.image.astype(np.float64) * (1 / 255 if layer.image.dtype == np.uint8 else 1.0)
        h, w = image.shape[:2]
        if h == 0 or w == 0:
            continue
        m = _inverse(matrix)
        u = m[0] * px + m[1] * py + m[2] - 0.5   # layer index coordinates of each frame pixel centre
        v = m[3] * px + m[4] * py + m[5] - 0.5
        u0 = np.floor(u).astype(np.int64)
        v0 = np.floor(v).astype(np.int64)
        fu = (u - u0)[..., None]
        fv = (v - v0)[..., None]
        src = np.zeros((height, width, 4))
        for dy, wy in ((0, 1 - fv), (1, fv)):
            for dx, wx in ((0, 1 - fu), (1, fu)):
                rows, cols = v0 + dy, u0 + dx
                ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
                tap = np.where(ok[..., None], image[np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)], 0.0)
                src += wy * wx * tap
        src *= float(layer.opacity)
        cs, sa = src[..., :3], src[..., 3:4]
        cb, ba = acc[..., :3], acc[..., 3:4]
        if layer.blend == "normal":
            co = cs + cb * (1 - sa)
        elif layer.blend == "multiply":
            co = cs * cb + cs * (1 - ba) + cb * (1 - sa)
        elif layer.blend == "screen":
            co = cs + cb - cs * cb
        else:  # add
            co = cs * (1 - ba) + cb * (1 - sa) + np.minimum(sa * ba, ba * cs + sa * cb)
        acc = np.concatenate([co, sa + ba * (1 - sa)], axis=2)
    result = acc[..., :channels]
    if frame.dtype == np.uint8:
        return np.clip(np.floor(result * 255 + 0.5), 0, 255).astype(np.uint8)
    return result.astype(np.float32)


# ----------------------------------------------------------------------------------------------------
# Entry point


def composite(frame: np.ndarray, layers: Sequence[Layer], *, out: np.ndarray | None = None,
              backend: str = "auto") -> np.ndarray:
    """Draw premultiplied RGBA layers, in order, onto a frame in one pass per output pixel.

    Parameters
    ----------
    frame : numpy.ndarray
        ``(H, W, 3)`` RGB or ``(H, W, 4)`` premultiplied RGBA background, ``uint8`` (0..255) or
        ``float32`` (0..1). Not modified (unless it is also ``out``).
    layers : sequence of Layer
        Drawn bottom to top. ``uint8`` and ``float32`` layers may be mixed (``uint8`` ones are then
        converted to float32). Zero-size, fully transparent and off-frame layers draw nothing.
    out : numpy.ndarray, optional
        Array of the frame's shape and dtype to write into (may be ``frame`` itself).
    backend : {"auto", "cpu", "cuda", "reference"}
        Body to run; see :func:`kernels.backend.resolve_backend`.

    Returns
    -------
    numpy.ndarray
        The composited frame, same shape and dtype as ``frame`` (``out`` when given). Colours are
        blended in 0..1 float32 (float64 in the reference); ``uint8`` output is rounded to nearest.

    Raises
    ------
    ValueError
        Wrong shape, channel count or dtype; a matrix that is not ``(2, 3)``, holds NaN/inf or is not
        invertible; opacity outside ``[0, 1]``; an unknown blend mode or backend.
    """
    _check_frame(frame)
    if isinstance(layers, Layer) or not isinstance(layers, Sequence):
        raise ValueError("layers must be a sequence (list or tuple) of Layer objects")
    if out is not None:
        _check_frame(out, "out")
        if out.shape != frame.shape or out.dtype != frame.dtype:
            raise ValueError(f"out must match the frame: shape {frame.shape} {frame.dtype}, got {out.shape} {out.dtype}")
    body = resolve_backend(backend)
    packed = _pack(frame.shape, layers)  # validates every layer
    if body == "reference":
        result = reference(frame, layers)
        if out is None:
            return result
        out[...] = result
        return out
    if out is None:
        out = np.empty_like(frame)
    if not packed.images:
        if out is not frame:
            out[...] = frame
        return out
    if body == "cuda":
        _run_cuda(frame, out, packed)
        return out
    _run_cpu(np.ascontiguousarray(frame), out, packed)
    return out
