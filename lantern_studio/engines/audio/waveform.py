"""Waveform pictures of a take: a min/max envelope per pixel column, drawn with numpy and PIL.

The studio shows one beside every take (a thumbnail) and a wider one above the A/B player.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from lantern_studio.engines.atomic import atomic_output_path

DEFAULT_COLOR = (226, 87, 60)          # lantern red
DEFAULT_BACKGROUND = (252, 246, 236)   # paper
MAX_SIZE_PX = 8192


def _as_frames(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim == 1:
        return audio[:, None]
    if audio.ndim == 2 and audio.shape[1] in (1, 2):
        return audio
    raise ValueError(f"audio must have shape (n,) or (n, channels) with 1 or 2 channels, got {audio.shape}; "
                     "pass samples in rows and channels in columns")


def envelope(audio: np.ndarray, *, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum sample value in each of ``columns`` equal slices of ``audio``.

    Parameters
    ----------
    audio : np.ndarray
        float samples, shape (n,) or (n, channels); channels are folded together (the envelope covers all).
    columns : int
        number of slices (pixel columns), >= 1.

    Returns
    -------
    (lows, highs) : tuple of np.ndarray
        float32 arrays of shape (columns,). Columns past the end of a short signal are 0.
    """
    frames = _as_frames(audio)
    if not isinstance(columns, (int, np.integer)) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    n = frames.shape[0]
    lows = np.zeros(columns, dtype=np.float32)
    highs = np.zeros(columns, dtype=np.float32)
    if n == 0:
        return lows, highs
    if not np.isfinite(frames).all():
        raise ValueError("audio contains NaN or infinite samples; re-render the take before drawing it")
    edges = np.linspace(0, n, columns + 1).astype(np.int64)
    starts = np.minimum(edges[:-1], n - 1)
    flat_min = frames.min(axis=1)
    flat_max = frames.max(axis=1)
    # reduceat over the slice starts gives each slice's extreme in one pass
    lows[:] = np.minimum.reduceat(flat_min, starts)
    highs[:] = np.maximum.reduceat(flat_max, starts)
    return lows, highs


def waveform_image(audio: np.ndarray, *, width_px: int = 480, height_px: int = 72,
                   color: tuple[int, int, int] = DEFAULT_COLOR,
                   background: tuple[int, int, int] = DEFAULT_BACKGROUND) -> Image.Image:
    """Draw the waveform of ``audio`` as an RGB image.

    Parameters
    ----------
    audio : np.ndarray
        float samples in [-1, 1], shape (n,) or (n, channels).
    width_px, height_px : int
        image size in pixels (2-8192 each).
    color, background : tuple of int
        RGB colours of the envelope and the background.

    Returns
    -------
    PIL.Image.Image
        RGB image, ``width_px`` x ``height_px``; a faint centre line marks silence.
    """
    for name, value in (("width_px", width_px), ("height_px", height_px)):
        if not isinstance(value, (int, np.integer)) or not 2 <= value <= MAX_SIZE_PX:
            raise ValueError(f"{name} must be an integer between 2 and {MAX_SIZE_PX}, got {value!r}")
    lows, highs = envelope(audio, columns=int(width_px))
    lows = np.clip(lows, -1.0, 1.0)
    highs = np.clip(highs, -1.0, 1.0)
    middle = (height_px - 1) / 2.0
    # sample value +1 is the top row, -1 the bottom row
    top = np.floor(middle - highs * middle).astype(np.int64)
    bottom = np.ceil(middle - lows * middle).astype(np.int64)
    rows = np.arange(height_px)[:, None]
    inside = (rows >= top[None, :]) & (rows <= bottom[None, :])
    pixels = np.empty((height_px, width_px, 3), dtype=np.uint8)
    pixels[:] = np.asarray(background, dtype=np.uint8)
    centre = int(round(middle))
    faint = (np.asarray(background, dtype=np.float32) * 0.7 + np.asarray(color, dtype=np.float32) * 0.3)
    pixels[centre, :] = faint.astype(np.uint8)
    pixels[inside] = np.asarray(color, dtype=np.uint8)
    return Image.fromarray(pixels)


def write_waveform_png(audio: np.ndarray, path: str | os.PathLike, *, width_px: int = 480,
                       height_px: int = 72) -> Path:
    """Draw the waveform of ``audio`` and write it as a PNG at ``path`` (atomically); return the path."""
    image = waveform_image(audio, width_px=width_px, height_px=height_px)
    path = Path(path)
    with atomic_output_path(path, suffix=".png") as temp:
        image.save(temp, format="PNG")
    return path
