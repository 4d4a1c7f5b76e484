"""lantern_studio.engines.devices: device choice, memory budgets and out-of-memory recognition."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

from lantern_studio.engines import devices  # noqa: E402


def test_auto_picks_what_torch_sees():
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else "cpu")
    assert devices.resolve_device("auto") == expected
    assert devices.resolve_device(" CPU ") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_a_missing_gpu_says_what_to_use():
    with pytest.raises(devices.DeviceError, match="--device cpu"):
        devices.resolve_device("cuda")
    with pytest.raises(devices.DeviceError, match="--device cpu"):
        devices.resolve_device("cuda:0")


def test_unknown_device_is_refused():
    with pytest.raises(devices.DeviceError, match="unknown device 'tpu'"):
        devices.resolve_device("tpu")
    with pytest.raises(devices.DeviceError):
        devices.resolve_device(None)


def test_cpu_free_memory_is_the_systems_available_memory():
    free = devices.free_memory_bytes("cpu")
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < free <= total
    assert devices.memory_budget_bytes("cpu", 12345) == 12345
    assert devices.memory_budget_bytes("cpu") is not None
    with pytest.raises(ValueError, match="positive"):
        devices.memory_budget_bytes("cpu", 0)


def test_check_fits_refuses_over_budget_with_the_numbers():
    estimate = devices.MemoryEstimate({"weights": 3 * 2**30, "cache": 2**30})
    assert estimate.total_bytes == 4 * 2**30
    devices.check_fits(estimate, budget_bytes=4 * 2**30, device="cuda", what="x", advice="y")
    devices.check_fits(estimate, budget_bytes=None, device="cuda", what="x", advice="y")
    with pytest.raises(devices.InsufficientMemoryError) as error:
        devices.check_fits(estimate, budget_bytes=2**30, device="cuda", what="generating 60 s",
                           advice="Choose a shorter duration.")
    text = str(error.value)
    assert "4.0 GiB" in text and "weights 3.0 GiB" in text and "1.0 GiB" in text and "shorter duration" in text
    assert error.value.needed_bytes == 4 * 2**30 and error.value.budget_bytes == 2**30


def test_out_of_memory_errors_are_recognised():
    assert devices.is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB"))
    assert devices.is_out_of_memory(MemoryError())
    assert devices.is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert devices.is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
                                                 "can't allocate memory: you tried to allocate 10 bytes"))
    assert not devices.is_out_of_memory(RuntimeError("shape mismatch"))
    assert not devices.is_out_of_memory(ValueError("out of memory"))
    devices.release_memory("cpu")   # never fails


def test_precision_and_labels():
    assert devices.bytes_per_parameter("cpu") == 4 and devices.bytes_per_parameter("cuda:0") == 2
    assert not devices.supports_fp16("cpu")
    assert devices.device_label("cpu") == "cpu"
    assert devices.format_bytes(512) == "512 B" and devices.format_bytes(1536) == "1.5 KiB"
