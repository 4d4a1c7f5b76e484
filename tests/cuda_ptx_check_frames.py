"""Compile the CUDA kernels of kernels.composite, kernels.transition and kernels.fill to PTX (libnvvm, no GPU).

The simulator runs the kernels' Python bodies; this checks that the same bodies, with their shared ``@njit``
scalar helpers as device functions, also type and compile for a real GPU target. Argument types are taken
from real arguments built the way the public entry points build them. Prints "ptx ok" and exits 0 on success;
exits 3 when libnvvm is unavailable.
"""

from __future__ import annotations

import sys
import types as pytypes
from pathlib import Path


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numba
    import numpy as np
    from numba import cuda

    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception as exc:  # noqa: BLE001 - any failure means there is no compiler to check with
        print(f"libnvvm unavailable: {exc}")
        return 3
    import numba.cuda.dispatcher as cuda_dispatcher

    cuda_dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(8, 0))
    import kernels.composite as composite
    import kernels.fill as fill
    import kernels.transition as transition

    def sig(*args):
        return tuple(numba.typeof(a) for a in args)

    jobs = {}
    for dtype in (np.uint8, np.float32):
        frame = np.zeros((9, 13, 3), dtype)
        layer = composite.Layer(np.ones((4, 5, 4), dtype), composite.affine(translate=(2.5, 1.5)))
        packed = composite._pack(frame.shape, [layer])
        pix = packed.images[0].reshape(-1)
        offsets = np.zeros(1, np.int64)
        shapes = np.array([packed.images[0].shape[:2]], np.int64)
        jobs[f"composite[{np.dtype(dtype).name}]"] = (
            composite._cuda_kernel(),
            sig(frame, frame.copy(), pix, offsets, shapes, packed.minv, packed.smul, packed.blend, packed.boxes,
                np.float32(1.0), True))
        color = np.zeros(3, np.float32)
        jobs[f"transition[{np.dtype(dtype).name}]"] = (
            transition._cuda_kernel(), sig(frame, frame, frame.copy(), color, 0, 0.5, 0, 13.0, 0.6, True))
        jobs[f"gradient[{np.dtype(dtype).name}]"] = (
            fill._gradient_cuda_kernel(), sig(frame, color, color, 0.0, 1.0, 4.5, True))
    failures = []
    for name, (kernel, signature) in jobs.items():
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(8, 0))
            assert ".entry" in ptx
        except Exception as exc:  # noqa: BLE001 - report every kernel that fails
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:600]}")
    if failures:
        print("\n".join(failures))
        return 1
    print("ptx ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
