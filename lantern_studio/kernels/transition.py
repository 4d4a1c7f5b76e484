"""Transitions between two shots: cross-dissolve, dip to a colour, and a soft-edged directional wipe.

One public entry point, :func:`transition`, with three bodies (numpy ``reference``, numba ``cpu``,
numba ``cuda``). The numpy :func:`reference` (float64) is **the specification**; the other two are tested
against it. Every body computes each output value as

    out = a * wa + b * wb + color * wc

with per-pixel weights ``(wa, wb, wc)`` from :func:`_weights`, a scalar ``@njit`` function shared by
the CPU loop and the CUDA kernel (the reference has its own vectorised numpy weights):

* ``dissolve``: ``wa = 1 - t``, ``wb = t``.
* ``dip``: ``a`` fades to ``color`` over ``t`` in [0, 0.5], then ``color`` to ``b`` over [0.5, 1].
* ``wipe``: ``b`` is revealed from the ``direction`` side (``"left"``: the edge enters at the left
  border and travels right). The edge is a linear ramp ``softness`` x the frame's size along the wipe
  (width for left/right, height for up/down) wide; ``t = 0`` is all ``a`` and ``t = 1`` all ``b``
  exactly, soft edge included. Positions are pixel centres (``x + 0.5``).

RGBA frames are premultiplied (as in :mod:`kernels.composite`), so blending them linearly is right.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit, prange

from lantern_studio.kernels.backend import clamp, device_function, grid_2d, load_cuda, resolve_backend

__all__ = ["TRANSITION_KINDS", "WIPE_DIRECTIONS", "transition", "reference", "color_value"]

TRANSITION_KINDS: tuple[str, ...] = ("dissolve", "dip", "wipe")
WIPE_DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")


def color_value(color, *, channels: int, dtype) -> np.ndarray:
    """A colour in a frame's units, premultiplied, as a ``(channels,)`` float64 array.

    Parameters
    ----------
    color : sequence of 3 or 4 numbers
        Straight (not premultiplied) RGB or RGBA in the frame's units: 0..255 for ``uint8`` frames,
        0..1 for ``float32`` frames. A missing alpha is opaque.
    channels : int
        3 or 4.
    dtype : numpy dtype
        ``uint8`` or ``float32``.
    """
    top = 255.0 if np.dtype(dtype) == np.uint8 else 1.0
    try:
        values = [float(c) for c in color]
    except (TypeError, ValueError):
        raise ValueError(f"color must be 3 or 4 numbers (RGB or RGBA), got {color!r}") from None
    if len(values) not in (3, 4):
        raise ValueError(f"color must be 3 or 4 numbers (RGB or RGBA), got {len(values)}: {color!r}")
    if not all(math.isfinite(v) and 0.0 <= v <= top for v in values):
        raise ValueError(f"color components must be in 0..{top:g} for {np.dtype(dtype).name} frames, got {color!r}")
    alpha = values[3] if len(values) == 4 else top
    rgb = [v * alpha / top for v in values[:3]]
    return np.array(rgb + [alpha] if channels == 4 else rgb, np.float64)


# ----------------------------------------------------------------------------------------------------
# Scalar arithmetic shared by the CPU and CUDA bodies


@njit(cache=True)
def _weights(kind, t, pos, extent, soft_px):
    """Weights (wa, wb, wc) for one pixel; ``pos`` is its centre's distance from the wipe's entry side.

    kind 0 dissolve, 1 dip, 2 wipe. ``extent``: frame size along the wipe, ``soft_px``: edge width.
    """
    if kind == 0:
        return 1.0 - t, t, 0.0
    if kind == 1:
        if t <= 0.5:
            return 1.0 - 2.0 * t, 0.0, 2.0 * t
        return 0.0, 2.0 * t - 1.0, 2.0 - 2.0 * t
    if soft_px > 0.0:
        wb = (t * (extent + soft_px) - pos) / soft_px
        wb = clamp(wb, 0.0, 1.0)
    else:
        wb = 1.0 if pos < t * extent else 0.0
    return 1.0 - wb, wb, 0.0


@njit(cache=True)
def _position(direction, x, y, width, height):
    """Distance of pixel (x, y)'s centre from the side ``b`` enters from (0 left, 1 right, 2 up, 3 down)."""
    if direction == 0:
        return x + 0.5
    if direction == 1:
        return width - (x + 0.5)
    if direction == 2:
        return y + 0.5
    return height - (y + 0.5)


@njit(cache=True)
def _mix(a, b, c, wa, wb, wc, to_u8):
    value = a * wa + b * wb + c * wc
    if to_u8:
        return clamp(value + 0.5, 0.0, 255.0)
    return value


# ----------------------------------------------------------------------------------------------------
# Bodies


@njit(cache=True, fastmath=True)
def _mix_row(a, b, out, tmp, wa, wb, wc, ctile, to_u8):
    """One row, flat (``W * C`` values), scalar weights. ``tmp`` (float32, the row's length) keeps the two
    loops vectorised even when ``out`` is ``a`` or ``b`` (LLVM falls back to scalar code on overlap)."""
    for i in range(a.size):
        tmp[i] = a[i] * wa + b[i] * wb + ctile[i] * wc
    _store_row(tmp, out, to_u8)


@njit(cache=True, fastmath=True)
def _mix_row_columns(a, b, out, tmp, wa_e, wb_e, to_u8):
    """One row, flat, with per-value weights (a left/right wipe: weights vary along the row)."""
    for i in range(a.size):
        tmp[i] = a[i] * wa_e[i] + b[i] * wb_e[i]
    _store_row(tmp, out, to_u8)


@njit(cache=True, fastmath=True)
def _store_row(tmp, out, to_u8):
    if to_u8:
        for i in range(tmp.size):
            out[i] = min(max(tmp[i] + np.float32(0.5), np.float32(0.0)), np.float32(255.0))
    else:
        for i in range(tmp.size):
            out[i] = tmp[i]


@njit(parallel=True, cache=True)
def _transition_cpu(a, b, out, color, kind, t, direction, extent, soft_px, to_u8):
    """``a``, ``b``, ``out``: ``(H, W * C)`` views. Weights come from :func:`_weights` once per row (or
    once per column for left/right wipes), then each row is one flat float32 loop."""
    height = a.shape[0]
    row_len = a.shape[1]
    channels = color.size
    width = row_len // channels
    ctile = np.empty(row_len, np.float32)
    for i in range(row_len):
        ctile[i] = color[i % channels]
    along_x = kind == 2 and direction <= 1
    wa_e = np.empty(row_len if along_x else 0, np.float32)
    wb_e = np.empty(row_len if along_x else 0, np.float32)
    if along_x:
        for x in range(width):
            wa, wb, wc = _weights(kind, t, _position(direction, x, 0, width, height), extent, soft_px)
            for c in range(channels):
                wa_e[x * channels + c] = wa
                wb_e[x * channels + c] = wb
    rows_per_task = 8
    for task in prange((height + rows_per_task - 1) // rows_per_task):
        tmp = np.empty(row_len, np.float32)
        for y in range(task * rows_per_task, min(height, (task + 1) * rows_per_task)):
            if along_x:
                _mix_row_columns(a[y], b[y], out[y], tmp, wa_e, wb_e, to_u8)
            else:
                wa, wb, wc = _weights(kind, t, _position(direction, 0, y, width, height), extent, soft_px)
                _mix_row(a[y], b[y], out[y], tmp, np.float32(wa), np.float32(wb), np.float32(wc), ctile, to_u8)


cuda = None  # numba.cuda, bound by load_cuda on first use


@lru_cache(maxsize=1)
def _cuda_kernel():
    load_cuda(globals())
    position = device_function(_position)
    weights = device_function(_weights)
    mix = device_function(_mix)

    @cuda.jit
    def kernel(a, b, out, color, kind, t, direction, extent, soft_px, to_u8):
        x, y = cuda.grid(2)
        height = a.shape[0]
        width = a.shape[1]
        if y >= height or x >= width:
            return
        pos = position(direction, x, y, width, height)
        wa, wb, wc = weights(kind, t, pos, extent, soft_px)
        for c in range(a.shape[2]):
            out[y, x, c] = mix(a[y, x, c], b[y, x, c], color[c], wa, wb, wc, to_u8)

    return kernel


def reference(a: np.ndarray, b: np.ndarray, t: float, *, kind: str = "dissolve", color=(0, 0, 0),
              direction: str = "left", softness: float = 0.05) -> np.ndarray:
    """The numpy oracle (float64), same contract as :func:`transition`; inputs already validated."""
    height, width, channels = a.shape
    c = color_value(color, channels=channels, dtype=a.dtype)
    if kind == "dissolve":
        wa, wb, wc = 1 - t, t, 0.0
    elif kind == "dip":
        wa, wb, wc = (1 - 2 * t, 0.0, 2 * t) if t <= 0.5 else (0.0, 2 * t - 1, 2 - 2 * t)
    else:
        along_x = direction in ("left", "right")
        extent = float(width if along_x else height)
        centres = np.arange(width if along_x else height) + 0.5
        pos = centres if direction in ("left", "up") else extent - centres
        soft = softness * extent
        if soft > 0:
            wb = np.clip((t * (extent + soft) - pos) / soft, 0.0, 1.0)
        else:
            wb = (pos < t * extent).astype(np.float64)
        wb = wb[None, :, None] if along_x else wb[:, None, None]
        wa, wc = 1 - wb, 0.0
    value = a.astype(np.float64) * wa + b.astype(np.float64) * wb + c * wc
    if a.dtype == np.uint8:
        return np.clip(np.floor(value + 0.5), 0, 255).astype(np.uint8)
    return value.astype(np.float32)


def transition(a: np.ndarray, b: np.ndarray, t: float, *, kind: str = "dissolve", color=(0, 0, 0),
               direction: str = "left", softness: float = 0.05, out: np.ndarray | None = None,
               backend: str = "auto") -> np.ndarray:
    """Blend from frame ``a`` (``t = 0``) to frame ``b`` (``t = 1``).

    Parameters
    ----------
    a, b : numpy.ndarray
        ``(H, W, 3)`` RGB or ``(H, W, 4)`` premultiplied RGBA, same shape, both ``uint8`` (0..255) or
        both ``float32`` (0..1).
    t : float
        Progress in ``[0, 1]``.
    kind : {"dissolve", "dip", "wipe"}
        Cross-dissolve; dip to ``color`` (``a`` reaches ``color`` at ``t = 0.5``); directional wipe.
    color : sequence of 3 or 4 numbers
        Dip colour, straight RGB(A) in the frames' units (0..255 for uint8, 0..1 for float32).
    direction : {"left", "right", "up", "down"}
        Wipe: the side ``b`` enters from.
    softness : float
        Wipe: edge width as a fraction (0..1) of the frame's size along the wipe; 0 is a hard edge.
    out : numpy.ndarray, optional
        Array shaped like ``a`` to write into (may be ``a`` or ``b``).
    backend : {"auto", "cpu", "cuda", "reference"}
        Body to run.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``a``; ``uint8`` results are rounded to nearest.
    """
    _check_transition_args(a, b, t, kind=kind, direction=direction, softness=softness)
    height, width, channels = a.shape
    c = color_value(color, channels=channels, dtype=a.dtype)
    if out is not None and (not isinstance(out, np.ndarray) or out.shape != a.shape or out.dtype != a.dtype):
        raise ValueError(f"out must be an array of shape {a.shape} and dtype {a.dtype}")
    body = resolve_backend(backend)
    t = float(t)
    if body == "reference":
        result = reference(a, b, t, kind=kind, color=color, direction=direction, softness=float(softness))
        if out is None:
            return result
        out[...] = result
        return out
    if out is None:
        out = np.empty_like(a)
    kind_code = TRANSITION_KINDS.index(kind)
    dir_code = WIPE_DIRECTIONS.index(direction)
    extent = float(width if direction in ("left", "right") else height)
    soft_px = float(softness) * extent
    to_u8 = a.dtype == np.uint8
    if body == "cuda":
        out[...] = _transition_on_cuda(a, b, c, kind_code, t, dir_code, extent, soft_px, to_u8)
        return out
    _transition_on_cpu(a, b, out, c, kind_code, t, dir_code, extent, soft_px, to_u8)
    return out


def _check_transition_args(a, b, t, *, kind: str, direction: str, softness) -> None:
    """Raise ValueError, naming the argument and what it should be, for anything ``transition`` cannot blend."""
    for name, frame in (("a", a), ("b", b)):
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] not in (3, 4):
            raise ValueError(f"{name} must be an (H, W, 3) or (H, W, 4) array, got {getattr(frame, 'shape', type(frame))}")
        if frame.dtype not in (np.uint8, np.float32):
            raise ValueError(f"{name} must be uint8 or float32, got {frame.dtype}")
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(f"a and b must have the same shape and dtype, got {a.shape} {a.dtype} and {b.shape} {b.dtype}; "
                         "letterbox or convert one of them first")
    if not isinstance(t, (int, float, np.floating, np.integer)) or not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must be a number in [0, 1], got {t!r}")
    if kind not in TRANSITION_KINDS:
        raise ValueError(f"kind must be one of {TRANSITION_KINDS}, got {kind!r}")
    if direction not in WIPE_DIRECTIONS:
        raise ValueError(f"direction must be one of {WIPE_DIRECTIONS}, got {direction!r}")
    if not isinstance(softness, (int, float, np.floating, np.integer)) or not 0.0 <= float(softness) <= 1.0:
        raise ValueError(f"softness must be a fraction in [0, 1], got {softness!r}")


def _transition_on_cuda(a, b, c, kind_code, t, dir_code, extent, soft_px, to_u8) -> np.ndarray:
    """The blended frame from the CUDA body, one thread per pixel, copied back to the host."""
    kernel = _cuda_kernel()  # binds the module's ``cuda``
    height, width = a.shape[:2]
    d_out = cuda.device_array(a.shape, a.dtype)
    kernel[grid_2d(width, height)](cuda.to_device(np.ascontiguousarray(a)), cuda.to_device(np.ascontiguousarray(b)),
                                   d_out, cuda.to_device(c), kind_code, t, dir_code, extent, soft_px, to_u8)
    return d_out.copy_to_host()


def _transition_on_cpu(a, b, out, c, kind_code, t, dir_code, extent, soft_px, to_u8) -> None:
    """Blend into ``out`` with the CPU body, which works on rows of ``W * channels`` values.

    A non-contiguous ``out`` gets a contiguous copy to write into, copied back at the end.
    """
    height, width, channels = a.shape
    flat = (height, width * channels)
    a2 = np.ascontiguousarray(a).reshape(flat).view()
    b2 = np.ascontiguousarray(b).reshape(flat).view()
    a2.flags.writeable = b2.flags.writeable = False   # one numba type whether the caller's arrays are writable
    out2 = out.reshape(flat)
    if not np.shares_memory(out2, out):  # out was not contiguous: compute into a copy
        out2 = np.empty(flat, out.dtype)
    _transition_cpu(a2, b2, out2, c, kind_code, t, dir_code, extent, soft_px, to_u8)
    if not np.shares_memory(out2, out):
        out[...] = out2.reshape(out.shape)
