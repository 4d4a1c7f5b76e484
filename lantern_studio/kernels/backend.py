"""Backend selection shared by every kernel family.

Each kernel family (``mix``, ``dsp``, ``composite``, ``transition``, ``fill``) has three bodies: a numpy
``reference``, which is the specification, a numba ``cpu`` body and a ``numba.cuda`` body. Public entry
points take ``backend="auto"|"cpu"|"cuda"|"reference"`` and call :func:`resolve_backend` to turn it into
the body to run.

``numba.cuda`` is imported lazily: importing this module never touches a GPU driver.

CUDA launches go through :func:`grid_1d` and :func:`grid_2d`, which size blocks from the one setting
:data:`THREADS_PER_BLOCK`; :func:`load_cuda` and :func:`device_function` are what a kernel module needs to
run its CUDA body on a GPU and on numba's simulator alike.
"""

from __future__ import annotations

import math
import os
import types

import numba
import numpy as np
from numba import njit, prange

BACKENDS: tuple[str, ...] = ("auto", "cpu", "cuda", "reference")

#: Threads per CUDA block, for every kernel family: 1-D launches use this many, 2-D launches a square of
#: ``isqrt(THREADS_PER_BLOCK)`` on a side. Tests under the simulator lower it so that tiny inputs span
#: several blocks.
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


def grid_1d(n: int) -> tuple[int, int]:
    """``(blocks, threads)`` launching at least one thread per item of ``n`` (one block when ``n`` is 0)."""
    threads = THREADS_PER_BLOCK
    return (max(n, 1) + threads - 1) // threads, threads


def grid_2d(width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((blocks in x, blocks in y), (threads in x, threads in y))`` covering a ``width x height`` image,
    one thread per pixel (``cuda.grid(2)`` gives ``x, y``)."""
    side = max(1, math.isqrt(THREADS_PER_BLOCK))
    return ((width + side - 1) // side, (height + side - 1) // side), (side, side)


def load_cuda(namespace: dict):
    """Import ``numba.cuda`` and bind it as ``cuda`` in a kernel module's globals (``globals()``).

    Kernels must reach ``cuda`` as a module global, not a closure variable: while a kernel runs, numba's
    simulator swaps every global of the kernel's module that is ``numba.cuda`` for its per-thread fake."""
    from numba import cuda

    namespace["cuda"] = cuda
    return cuda


def device_function(fn):
    """The form of an ``@njit`` function that a ``@cuda.jit`` kernel calls.

    On a GPU, the function itself: numba compiles it as a device function. Under the simulator, which runs
    kernels as Python on fake device arrays that numba cannot type, its Python body, with every ``@njit``
    function it calls also replaced by its Python body."""
    if not cuda_simulated():
        return fn
    return _python_body(fn)


_PYTHON_BODIES: dict = {}


def _python_body(fn):
    if fn in _PYTHON_BODIES:
        return _PYTHON_BODIES[fn]
    py = fn.py_func
    namespace = dict(py.__globals__)
    body = types.FunctionType(py.__code__, namespace, py.__name__, py.__defaults__, py.__closure__)
    _PYTHON_BODIES[fn] = body
    for name in py.__code__.co_names:
        value = namespace.get(name)
        if isinstance(value, numba.core.registry.CPUDispatcher):
            namespace[name] = _python_body(value)
    return body


def check_number(name: str, value, *, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False) -> float:
    """``value`` as a finite float within [lo, hi] (``(lo, hi]`` with ``lo_open``), else a ValueError that
    names the option and the bound it broke."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name} must be <= {hi}, got {v}")
    return v


def check_rate(sample_rate) -> int:
    """``sample_rate`` as a positive int (Hz), else a ValueError; bools are refused though they are ints."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    return int(sample_rate)


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
