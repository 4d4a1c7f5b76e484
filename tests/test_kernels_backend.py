"""lantern_studio.kernels.backend: the launch shapes every CUDA body uses, the simulator's device functions,
and the shared number check."""

from __future__ import annotations

import numpy as np
import pytest

import lantern_studio.kernels.backend as backend
from lantern_studio.kernels import mix as kmix


@pytest.mark.parametrize("threads", [16, 256])
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 1000])
def test_grid_1d_launches_one_thread_per_item_in_blocks_of_the_setting(monkeypatch, threads, n):
    monkeypatch.setattr(backend, "THREADS_PER_BLOCK", threads)
    blocks, per_block = backend.grid_1d(n)
    assert per_block == threads
    assert blocks * per_block >= max(n, 1) and (blocks - 1) * per_block < max(n, 1)


@pytest.mark.parametrize("threads, side", [(16, 4), (256, 16), (100, 10), (1, 1)])
def test_grid_2d_covers_the_image_with_square_blocks(monkeypatch, threads, side):
    monkeypatch.setattr(backend, "THREADS_PER_BLOCK", threads)
    (bx, by), block = backend.grid_2d(13, 9)
    assert block == (side, side)
    assert bx * side >= 13 and (bx - 1) * side < 13
    assert by * side >= 9 and (by - 1) * side < 9


class _Untypeable:
    """Indexable like the simulator's fake device arrays, and, like them, unknown to numba's typing."""

    def __init__(self, values):
        self._values = np.asarray(values, dtype=np.float64)

    def __getitem__(self, i):
        return self._values[i]


def test_device_function_is_the_njit_function_on_a_gpu_and_python_all_the_way_down_under_the_simulator(monkeypatch):
    monkeypatch.setattr(backend, "cuda_simulated", lambda: False)
    assert backend.device_function(kmix._interp_at) is kmix._interp_at
    monkeypatch.setattr(backend, "cuda_simulated", lambda: True)
    interp = backend.device_function(kmix._interp_at)
    assert interp is not kmix._interp_at
    xs, vs = [0.0, 10.0, 30.0, 35.0], [1.0, -2.0, 4.0, 0.5]
    with pytest.raises(Exception):  # the njit function (and the _bracket it calls) cannot type such an array
        kmix._interp_at(_Untypeable(xs), _Untypeable(vs), 0, 4, 12.5)
    for t in (-3.0, 0.0, 5.0, 12.5, 30.0, 33.0, 40.0):
        assert interp(_Untypeable(xs), _Untypeable(vs), 0, 4, t) == pytest.approx(np.interp(t, xs, vs), abs=1e-12)


def test_check_number_names_the_option_and_the_bound():
    assert backend.check_number("gain", "3.5") == 3.5
    with pytest.raises(ValueError, match="gain must be a number, got 'loud'"):
        backend.check_number("gain", "loud")
    with pytest.raises(ValueError, match="gain must be finite"):
        backend.check_number("gain", float("nan"))
    with pytest.raises(ValueError, match="cutoff must be > 0.0, got 0.0"):
        backend.check_number("cutoff", 0, lo=0.0, lo_open=True)
    with pytest.raises(ValueError, match="pan must be <= 1.0, got 1.5"):
        backend.check_number("pan", 1.5, lo=-1.0, hi=1.0)
