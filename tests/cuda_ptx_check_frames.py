"""Compile the CUDA kernels of kernels.composite, kernels.transition and kernels.fill to PTX (libnvvm, no GPU).

Same check as ``cuda_ptx_check.py`` (whose set-up it reuses) for the frame kernels. Argument types are taken
from real arguments built the way the public entry points build them. Prints "ptx ok" and exits 0 on success;
exits 3 when libnvvm is unavailable.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cuda_ptx_check import compile_all, prepare_compiler  # noqa: E402


def main() -> int:
    problem = prepare_compiler()
    if problem:
        print(problem)
        return 3
    import numba
    import numpy as np

    import lantern_studio.kernels.composite as composite
    import lantern_studio.kernels.fill as fill
    import lantern_studio.kernels.transition as transition

    def sig(*args):
        return tuple(numba.typeof(a) for a in args)

    jobs = {}
    for dtype in (np.uint8, np.float32):
        name = np.dtype(dtype).name
        frame = np.zeros((9, 13, 3), dtype)
        layer = composite.Layer(np.ones((4, 5, 4), dtype), composite.affine(translate=(2.5, 1.5)))
        packed = composite._pack(frame.shape, [layer])
        shapes = np.array([packed.images[0].shape[:2]], np.int64)
        jobs[f"composite[{name}]"] = (
            composite._cuda_kernel(),
            sig(frame, frame.copy(), packed.images[0].reshape(-1), np.zeros(1, np.int64), shapes, packed.minv,
                packed.smul, packed.blend, packed.boxes, np.float32(1.0), True))
        color = np.zeros(3, np.float32)
        jobs[f"transition[{name}]"] = (
            transition._cuda_kernel(), sig(frame, frame, frame.copy(), color, 0, 0.5, 0, 13.0, 0.6, True))
        jobs[f"gradient[{name}]"] = (fill._gradient_cuda_kernel(), sig(frame, color, color, 0.0, 1.0, 4.5, True))
    return compile_all(jobs)


if __name__ == "__main__":
    sys.exit(main())
