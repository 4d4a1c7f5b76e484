"""Backend selection shared by every kernel family.

Each kernel family (``mix``, ``dsp``, ``composite``) has three bodies: a numpy ``reference``, a numba
``cpu`` body and a ``numba.cuda`` body. Public entry points take ``backend="auto"|"cpu"|"cuda"|"reference"``
and call :func:`resolve_backend` to turn it into the body to run.

``numba.cuda`` is imported lazily: importing this module never touches a GPU driver.
"""

from __future__ import annotations

import os

import numba
import numpy as np
from numba import njit, prange

BACKENDS: tuple[str, ...] = ("auto", "cpu", "cuda", "reference")

#: Default CUDA threads per block for 1-D launches. Tests under the simulator lower it (through each
#: family's ``threads_per_block`` keyword or this module-level value) so tiny inputs span several blocks.
THREADS_PER_BLOCK: int = 256


def cuda_simulated() -> bool:
    """True when numba's CUDA simulator is enabled (``NUMBA_ENABLE_CUDASIM=1``)."""
    try:
        from numba import config
    except ImportError:  # pragma: no cover - numba is a hard dependency
        return False
    return bool(getattr(config, "ENABLE_CUDASIM", 0)) or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def cuda_available() -> bool:
    """True when a real CUDA GPU and driver are usable by numba (the simulator does not count)."""
    if cuda_simulated():
        return False
    try:
        from numba import cuda
    except Exception:  # numba without its CUDA part, or a broken driver install
        return False
    try:
        return bool(cuda.is_available())
    except Exception:
        return False


def cpu_tasks() -> int:
    """Parallel work items for a CPU kernel's prange: a few per numba thread, so one stalled thread delays
    little, while scratch allocated once per task stays cheap."""
    return 4 * numba.get_num_threads()


def resolve_backend(backend: str) -> str:
    """Turn a requested backend into the one to run: ``"cpu"``, ``"cuda"`` or ``"reference"``.

    Parameters
    ----------
    backend : str
        ``"auto"`` picks ``"cpu"``, GPU or not: the entry points take and return host (numpy) arrays, and
        with the copies over the bus the numba CPU body beats the CUDA body end to end for every family
        (lantern_studio/benchmarks/RESULTS.md has the GPU figures).
        ``"cuda"`` runs on a GPU, or on numba's simulator when ``NUMBA_ENABLE_CUDASIM=1`` is set.
        ``"cpu"`` runs the numba CPU body; ``"reference"`` the numpy oracle.

    Returns
    -------
    str
        One of ``"cpu"``, ``"cuda"``, ``"reference"``.

    Raises
    ------
    ValueError
        For an unknown name, or ``"cuda"`` when there is neither a GPU nor the simulator.
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "cpu"
    if backend == "cuda" and not (cuda_available() or cuda_simulated()):
        raise ValueError("backend='cuda' needs an NVIDIA GPU with a working CUDA driver (none was found); "
                         "use backend='auto' or 'cpu', or set NUMBA_ENABLE_CUDASIM=1 to run the CUDA body "
                         "on numba's simulator")
    return backend


@njit(cache=True, fastmath={"reassoc"})
def _block_poison(a, lo, hi):
    """Sum of (v - v) over rows [lo, hi): 0.0 when every value is finite, NaN otherwise (vectorised)."""
    acc = 0.0
    for i in range(lo, hi):
        for c in range(a.shape[1]):
            v = a[i, c]
            acc += v - v
    return acc


@njit(parallel=True, cache=True)
def first_nonfinite_row(a):
    """Index of the first row of a 2-D array holding NaN or inf, or -1 (parallel, vectorised).

    Kernels use it to turn non-finite samples into a ValueError that names the frame.
    """
    n = a.shape[0]
    nblocks = (n + 65535) // 65536
    found = np.full(nblocks, -1, dtype=np.int64)
    for b in prange(nblocks):
        lo = b * 65536
        hi = min(n, lo + 65536)
        if _block_poison(a, lo, hi) != 0.0:
            for i in range(lo, hi):
                bad = False
                for c in range(a.shape[1]):
                    v = a[i, c]
                    if not (v - v == 0.0):
                        bad = True
                if bad:
                    found[b] = i
                    break
    for b in range(nblocks):
        if found[b] >= 0:
            return found[b]
    return -1


# ----------------------------------------------------------------------------------------------------
# scalar helpers usable from both bodies: numba 0.68's CUDA target cannot compile the builtin min/max,
# so per-element code shared with @cuda.jit kernels uses these instead.


@njit(cache=True, inline="always")
def smaller(a, b):
    """min(a, b) that also compiles as a CUDA device function."""
    return a if a < b else b


@njit(cache=True, inline="always")
def larger(a, b):
    """max(a, b) that also compiles as a CUDA device function."""
    return a if a > b else b


@njit(cache=True, inline="always")
def clamp(value, low, high):
    """``value`` limited to [low, high]; compiles for the CPU and as a CUDA device function."""
    if value < low:
        return low
    if value > high:
        return high
    return value
