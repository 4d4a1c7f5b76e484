"""Numba kernels: pure array functions with numpy reference, CPU and CUDA bodies.

Families: :mod:`kernels.mix`, :mod:`kernels.dsp`, :mod:`kernels.composite`. Backend selection lives in
:mod:`kernels.backend`.
"""

from lantern_studio.kernels.backend import BACKENDS, cuda_available, resolve_backend

__all__ = ["BACKENDS", "cuda_available", "resolve_backend"]
