"""Compile every CUDA kernel of kernels.mix and kernels.dsp to PTX (needs libnvvm, not a GPU).

The simulator runs the kernels' Python bodies; this checks that the same bodies - with their shared
``@njit`` scalar helpers as device functions - also type and compile for a real GPU target.
Prints "ptx ok" and exits 0 on success; exits 3 when libnvvm is unavailable.
"""

from __future__ import annotations

import sys
from pathlib import Path


def prepare_compiler() -> str | None:
    """Make numba compile CUDA device code for a cc 8.0 target with no GPU; return why not, or None."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception as exc:  # noqa: BLE001 - any failure means there is no compiler to check with
        return f"libnvvm unavailable: {exc}"
    import types as pytypes

    import numba.cuda.dispatcher as cuda_dispatcher

    # @njit helpers called from a kernel are compiled as device functions for the *current* device's
    # compute capability; with no GPU here, pretend to have a cc 8.0 device (PTX generation needs no driver).
    cuda_dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(8, 0))
    return None


def compile_all(jobs: dict) -> int:
    """Compile each ``name: (kernel, signature)`` to PTX; print failures or "ptx ok"; return the exit status."""
    from numba import cuda

    failures = []
    for name, (kernel, sig) in jobs.items():
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))
            assert ".entry" in ptx
        except Exception as exc:  # noqa: BLE001 - report every kernel that fails
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:400]}")
    if failures:
        print("\n".join(failures))
        return 1
    print("ptx ok")
    return 0


def main() -> int:
    problem = prepare_compiler()
    if problem:
        print(problem)
        return 3
    from numba import types as t

    import lantern_studio.kernels.dsp as dsp
    import lantern_studio.kernels.mix as mix

    f4, f8, i8, b1 = t.float32, t.float64, t.int64, t.boolean
    a1 = lambda dt: t.Array(dt, 1, "C")  # noqa: E731
    a2 = lambda dt: t.Array(dt, 2, "C")  # noqa: E731
    a3 = lambda dt: t.Array(dt, 3, "C")  # noqa: E731
    _, duck_hops, mix_frames = mix._cuda_kernels()
    k = dsp._cuda_kernels()
    jobs = {
        "mix.duck_hops": (duck_hops, (a1(f4), i8, i8, i8, f8, a1(t.uint8))),
        "mix.mix_frames": (mix_frames, (a1(f4), a1(i8), a2(i8), a1(f8), a1(f8), a1(f8), a1(f8), i8, i8, a1(f8), b1,
                                        f8, a2(f4), a1(t.int32))),
        "dsp.sos_channels": (k["sos_channels"], (a2(f4), a2(f8), a3(f8), a2(f4))),
        "dsp.kweight_hops": (k["kweight_hops"], (a2(f4), a2(f8), i8, i8, a2(f8))),
        "dsp.tp_track": (k["tp_track"], (a2(f4), a2(f8), a1(f8))),
        "dsp.crossfeed_channels": (k["crossfeed_channels"], (a2(f4), a2(f4), i8, f8, f8, f8, a1(f8), a2(f4))),
        "dsp.sliding_min": (k["sliding_min"], (a1(f8), i8, a1(f8))),
        "dsp.limiter_gain": (k["limiter_gain"], (a1(f8), i8, f8, a1(f8), a1(f8))),
        "dsp.apply_gain": (k["apply_gain"], (a2(f4), a1(f8), i8, a2(f4))),
    }
    return compile_all(jobs)


if __name__ == "__main__":
    sys.exit(main())
