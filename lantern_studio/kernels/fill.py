"""Frame fills the renderer needs: a solid colour, a linear gradient, and letterbox/pillarbox fitting.

* :func:`fill` is ``numpy.full`` with validation (nothing to gain from a kernel: it is a memset).
* :func:`gradient` has the three bodies (numpy ``reference``, numba ``cpu``, numba ``cuda``); the CPU and
  CUDA bodies share the scalar :func:`_gradient_t`, and :func:`gradient_reference` (numpy, float64) is
  **the specification** they are tested against.
* :func:`letterbox` fits an image inside a frame, centred, with bars of a colour: it is one
  :func:`kernels.composite.composite` call (bilinear, sub-pixel placement, anti-aliased edges) onto a
  :func:`fill`, so it runs on the same backends. Downscales below one half are first box-reduced by an
  integer factor so that bilinear sampling does not alias.

Colours are straight RGB(A) in the frame's units (0..255 for ``uint8``, 0..1 for ``float32``); RGBA
frames are premultiplied, as everywhere in :mod:`kernels`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit, prange

from lantern_studio.kernels.backend import clamp, device_function, grid_2d, load_cuda, resolve_backend
from lantern_studio.kernels.composite import Layer, affine, composite
from lantern_studio.kernels.transition import color_value

__all__ = ["fill", "gradient", "letterbox", "gradient_reference"]


def _check_shape_hw(shape_hw, name: str = "shape_hw") -> tuple[int, int]:
    try:
        height, width = (int(v) for v in shape_hw)
        ok = all(float(v) == int(v) for v in shape_hw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (height, width) in pixels, got {shape_hw!r}") from None
    if not ok or height < 1 or width < 1:
        raise ValueError(f"{name} must be two positive whole numbers (height, width), got {shape_hw!r}")
    return height, width


def _check_format(channels, dtype) -> np.dtype:
    if channels not in (3, 4):
        raise ValueError(f"channels must be 3 (RGB) or 4 (premultiplied RGBA), got {channels!r}")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be uint8 or float32, got {dtype!r}") from None
    if dtype not in (np.uint8, np.float32):
        raise ValueError(f"dtype must be uint8 or float32, got {dtype}")
    return dtype


def _as_dtype(value: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint8:
        return np.clip(np.floor(value + 0.5), 0, 255).astype(np.uint8)
    return value.astype(np.float32)


def fill(shape_hw: tuple[int, int], color, *, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    """A frame of one colour.

    Parameters
    ----------
    shape_hw : (int, int)
        ``(height, width)`` in pixels.
    color : sequence of 3 or 4 numbers
        Straight RGB(A) in the frame's units (0..255 for uint8, 0..1 for float32); missing alpha is opaque.
    channels : {3, 4}
        RGB, or premultiplied RGBA.
    dtype : {numpy.uint8, numpy.float32}

    Returns
    -------
    numpy.ndarray
        ``(height, width, channels)`` of ``dtype``.
    """
    height, width = _check_shape_hw(shape_hw)
    dtype = _check_format(channels, dtype)
    value = _as_dtype(color_value(color, channels=channels, dtype=dtype), dtype)
    return np.broadcast_to(value, (height, width, channels)).copy()


# ----------------------------------------------------------------------------------------------------
# Gradient


def _gradient_geometry(height: int, width: int, angle_deg: float) -> tuple[float, float, float]:
    """(dx, dy, half): unit direction of the gradient and half the frame's extent along it."""
    theta = math.radians(angle_deg)
    dx, dy = math.cos(theta), math.sin(theta)
    half = 0.5 * (abs(width * dx) + abs(height * dy))
    return dx, dy, half


@njit(cache=True)
def _gradient_t(x, y, width, height, dx, dy, half):
    """Position 0..1 of pixel (x, y)'s centre along the gradient (0 at the start colour's corner/side)."""
    s = (x + 0.5 - 0.5 * width) * dx + (y + 0.5 - 0.5 * height) * dy
    return clamp((s + half) / (2.0 * half), 0.0, 1.0)


@njit(parallel=True, cache=True)
def _gradient_cpu(out, c0, c1, dx, dy, half, to_u8):
    height, width, channels = out.shape
    for y in prange(height):
        for x in range(width):
            t = _gradient_t(x, y, width, height, dx, dy, half)
            for c in range(channels):
                value = c0[c] + (c1[c] - c0[c]) * t
                if to_u8:
                    value = min(max(value + 0.5, 0.0), 255.0)
                out[y, x, c] = value


cuda = None  # numba.cuda, bound by load_cuda on first use


@lru_cache(maxsize=1)
def _gradient_cuda_kernel():
    load_cuda(globals())
    gradient_t = device_function(_gradient_t)
    clamp_ = device_function(clamp)

    @cuda.jit
    def kernel(out, c0, c1, dx, dy, half, to_u8):
        x, y = cuda.grid(2)
        height = out.shape[0]
        width = out.shape[1]
        if y >= height or x >= width:
            return
        t = gradient_t(x, y, width, height, dx, dy, half)
        for c in range(out.shape[2]):
            value = c0[c] + (c1[c] - c0[c]) * t
            if to_u8:
                value = clamp_(value + 0.5, 0.0, 255.0)
            out[y, x, c] = value

    return kernel


def gradient_reference(shape_hw, top_color, bottom_color, *, angle_deg: float = 90.0, channels: int = 3,
                       dtype=np.uint8) -> np.ndarray:
    """The numpy oracle for :func:`gradient` (float64), inputs already validated."""
    height, width = shape_hw
    c0 = color_value(top_color, channels=channels, dtype=dtype)
    c1 = color_value(bottom_color, channels=channels, dtype=dtype)
    dx, dy, half = _gradient_geometry(height, width, angle_deg)
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    s = (xs - width / 2) * dx + (ys - height / 2) * dy
    t = np.clip((s + half) / (2 * half), 0.0, 1.0)[..., None]
    return _as_dtype(c0 + (c1 - c0) * t, np.dtype(dtype))


def gradient(shape_hw: tuple[int, int], top_color, bottom_color, *, angle_deg: float = 90.0, channels: int = 3,
             dtype=np.uint8, backend: str = "auto") -> np.ndarray:
    """A linear gradient across the whole frame.

    Parameters
    ----------
    shape_hw : (int, int)
        ``(height, width)`` in pixels.
    top_color, bottom_color : sequence of 3 or 4 numbers
        Start and end colours, straight RGB(A) in the frame's units (0..255 uint8, 0..1 float32).
    angle_deg : float
        Direction the gradient runs, in degrees clockwise from "left to right" on screen: 90 (default)
        runs top to bottom, 0 left to right, 45 top-left to bottom-right. As in CSS, the gradient line
        is long enough that the two far corners get exactly the start and end colours; each pixel takes
        the colour at its centre.
    channels : {3, 4}
    dtype : {numpy.uint8, numpy.float32}
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    numpy.ndarray
        ``(height, width, channels)`` of ``dtype`` (uint8 rounded to nearest).
    """
    height, width = _check_shape_hw(shape_hw)
    dtype = _check_format(channels, dtype)
    if not isinstance(angle_deg, (int, float, np.floating, np.integer)) or not math.isfinite(float(angle_deg)):
        raise ValueError(f"angle_deg must be a finite number of degrees, got {angle_deg!r}")
    c0 = color_value(top_color, channels=channels, dtype=dtype)
    c1 = color_value(bottom_color, channels=channels, dtype=dtype)
    body = resolve_backend(backend)
    if body == "reference":
        return gradient_reference((height, width), top_color, bottom_color, angle_deg=float(angle_deg),
                                  channels=channels, dtype=dtype)
    dx, dy, half = _gradient_geometry(height, width, float(angle_deg))
    out = np.empty((height, width, channels), dtype)
    to_u8 = dtype == np.uint8
    if body == "cuda":
        kernel = _gradient_cuda_kernel()  # binds the module's ``cuda``
        d_out = cuda.device_array(out.shape, dtype)
        kernel[grid_2d(width, height)](d_out, cuda.to_device(c0), cuda.to_device(c1), dx, dy, half, to_u8)
        return d_out.copy_to_host()
    _gradient_cpu(out, c0, c1, dx, dy, half, to_u8)
    return out


# ----------------------------------------------------------------------------------------------------
# Letterbox / pillarbox


def _box_reduce(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor x factor`` blocks (premultiplied pixels average correctly channel by channel)."""
    h, w, c = image.shape
    hh, ww = h // factor, w // factor
    blocks = image[:hh * factor, :ww * factor].reshape(hh, factor, ww, factor, c)
    mean = blocks.mean(axis=(1, 3), dtype=np.float32)
    return _as_dtype(mean, image.dtype)


def letterbox_geometry(image_hw: tuple[int, int], frame_hw: tuple[int, int]) -> tuple[float, float, float]:
    """``(scale, left, top)``: how :func:`letterbox` places an image (frame pixels, sub-pixel exact)."""
    h, w = image_hw
    height, width = frame_hw
    scale = min(height / h, width / w)
    return scale, (width - w * scale) / 2, (height - h * scale) / 2


def letterbox(image: np.ndarray, frame_hw: tuple[int, int], *, color=(0, 0, 0), backend: str = "auto") -> np.ndarray:
    """Fit an image inside a frame, centred, keeping its aspect ratio; bars fill the rest.

    A wider image gets bars above and below (letterbox), a taller one at the sides (pillarbox).

    Parameters
    ----------
    image : numpy.ndarray
        ``(h, w, 3)`` RGB or ``(h, w, 4)`` premultiplied RGBA, ``uint8`` or ``float32``.
    frame_hw : (int, int)
        ``(height, width)`` of the result in pixels.
    color : sequence of 3 or 4 numbers
        Bar colour, straight RGB(A) in the image's units (0..255 uint8, 0..1 float32).
    backend : {"auto", "cpu", "cuda", "reference"}
        Passed to :func:`kernels.composite.composite`.

    Returns
    -------
    numpy.ndarray
        ``(height, width, channels)`` with the image's channels and dtype. The image is resampled
        bilinearly (after an integer box reduction for downscales below 1/2); its edges are
        anti-aliased against the bars. An RGBA image is drawn over the bar colour.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image must be an (h, w, 3) or (h, w, 4) array, got {getattr(image, 'shape', type(image))}")
    if image.dtype not in (np.uint8, np.float32):
        raise ValueError(f"image must be uint8 or float32, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty (shape {image.shape}); there is nothing to fit")
    height, width = _check_shape_hw(frame_hw, "frame_hw")
    channels = image.shape[2]
    frame = fill((height, width), color, channels=channels, dtype=image.dtype)
    scale, left, top = letterbox_geometry(image.shape[:2], (height, width))
    factor = int(math.floor(1.0 / scale)) if scale < 0.5 else 1
    if factor > 1 and min(image.shape[0], image.shape[1]) >= factor:
        reduced = _box_reduce(image, factor)
        # the reduced image covers the same frame rectangle, minus the cropped remainder
        sx = image.shape[1] * scale / (image.shape[1] // factor * factor) * factor
        sy = image.shape[0] * scale / (image.shape[0] // factor * factor) * factor
        image = reduced
        matrix = affine(scale=(sx, sy), translate=(left, top))
    else:
        matrix = affine(scale=scale, translate=(left, top))
    if channels == 3:
        opaque = np.empty(image.shape[:2] + (4,), image.dtype)
        opaque[..., :3] = image
        opaque[..., 3] = 255 if image.dtype == np.uint8 else 1.0
        image = opaque
    return composite(frame, [Layer(image, matrix)], backend=backend)
