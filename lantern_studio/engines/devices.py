"""Compute devices for the model engines: choose one, know how much memory is free, refuse before running
out of it, and recover when it runs out anyway.

Shared by MusicGen and the diffusers panel renderer. torch is imported lazily so that the studio starts
without paying for it; every function here works (and says so) when torch or an accelerator is absent.

- :func:`resolve_device` turns ``"auto" | "cpu" | "cuda" | "cuda:N" | "mps"`` into a usable device name.
- :func:`memory_budget_bytes` is the memory a job may use: a configured budget, or what is free now.
- :class:`MemoryEstimate` + :func:`check_fits` refuse a job whose estimate is over the budget with a message
  that says what to change, instead of letting it crash out of memory.
- :func:`is_out_of_memory` recognises CUDA/MPS/CPU allocation failures; :func:`release_memory` frees caches.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(ValueError):
    """A device that cannot be used here; the message says what to use instead."""


class InsufficientMemoryError(MemoryError):
    """A job refused (or stopped) because it does not fit in memory; the message says what to change."""

    def __init__(self, message: str, *, needed_bytes: int | None = None, budget_bytes: int | None = None):
        super().__init__(message)
        self.needed_bytes = needed_bytes
        self.budget_bytes = budget_bytes


def format_bytes(count: float) -> str:
    """``1536 -> '1.5 KiB'``: a byte count for people."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _torch():
    import torch

    return torch


def cuda_available() -> bool:
    try:
        return bool(_torch().cuda.is_available())
    except Exception:  # a broken driver reads as "no CUDA", never as a crash
        return False


def mps_available() -> bool:
    try:
        backend = getattr(_torch().backends, "mps", None)
        return bool(backend is not None and backend.is_available())
    except Exception:
        return False


def resolve_device(device: str = "auto") -> str:
    """The device to run on.

    Parameters
    ----------
    device : str
        ``"auto"`` (CUDA, else Apple MPS, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Returns
    -------
    str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Raises
    ------
    DeviceError
        For an unknown name, or an accelerator this machine does not have.
    """
    if not isinstance(device, str):
        raise DeviceError(f"device must be a string such as 'auto', 'cpu', 'cuda' or 'mps', not {device!r}")
    name = device.strip().lower()
    if name == "auto":
        if cuda_available():
            return "cuda"
        if mps_available():
            return "mps"
        return "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda_available():
            raise DeviceError("device 'cuda' was asked for but torch sees no CUDA GPU here (no NVIDIA driver, "
                              "or a CPU-only torch build); use --device cpu or --device auto")
        if name != "cuda":
            index_text = name.split(":", 1)[1]
            count = _torch().cuda.device_count()
            if not index_text.isdigit() or int(index_text) >= count:
                raise DeviceError(f"device {device!r} does not exist: this machine has {count} CUDA GPU(s), "
                                  f"numbered 0-{count - 1}")
        return name
    if name == "mps":
        if not mps_available():
            raise DeviceError("device 'mps' was asked for but Apple's Metal backend is not available here; "
                              "use --device cpu or --device auto")
        return "mps"
    raise DeviceError(f"unknown device {device!r}: choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")


def device_kind(device: str) -> str:
    """``"cuda:1" -> "cuda"``."""
    return device.split(":", 1)[0]


def device_label(device: str) -> str:
    """A readable name: the GPU's model for CUDA, ``"Apple MPS"``, or ``"CPU"``."""
    kind = device_kind(device)
    if kind == "cuda" and cuda_available():
        torch = _torch()
        index = torch.device(device).index or 0
        return f"{device} ({torch.cuda.get_device_name(index)})"
    if kind == "mps":
        return "mps (Apple GPU)"
    return "cpu"


def supports_fp16(device: str) -> bool:
    """Whether half precision is the sensible choice for inference on ``device``.

    CUDA GPUs of compute capability 7.0 or newer (tensor cores) and Apple MPS: yes; CPU: no.
    """
    kind = device_kind(device)
    if kind == "cuda" and cuda_available():
        torch = _torch()
        major, _ = torch.cuda.get_device_capability(torch.device(device).index or 0)
        return major >= 7
    return kind == "mps"


def bytes_per_parameter(device: str) -> int:
    """Bytes a weight takes on ``device`` in the precision the engines load it (2 for fp16, else 4)."""
    return 2 if device_kind(device) in ("cuda", "mps") else 4


def _available_system_memory() -> int | None:
    try:
        import psutil  # type: ignore[import-not-found]

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def free_memory_bytes(device: str) -> int | None:
    """Memory free for new allocations on ``device`` right now, or None when it cannot be known.

    CUDA: the driver's free memory plus what torch holds cached but unused; MPS: the recommended working set
    minus what is allocated; CPU: the system's available memory.
    """
    kind = device_kind(device)
    if kind == "cuda" and cuda_available():
        torch = _torch()
        index = torch.device(device).index or 0
        free, _total = torch.cuda.mem_get_info(index)
        cached_unused = torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index)
        return int(free + max(cached_unused, 0))
    if kind == "mps" and mps_available():
        torch = _torch()
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):
            return _available_system_memory()
    return _available_system_memory()


def memory_budget_bytes(device: str, configured_bytes: int | None = None) -> int | None:
    """The memory a job may use: ``configured_bytes`` when set, else what is free on ``device`` now."""
    if configured_bytes is not None:
        if configured_bytes <= 0:
            raise ValueError(f"memory budget must be a positive number of bytes, not {configured_bytes}")
        return int(configured_bytes)
    return free_memory_bytes(device)


@dataclass(frozen=True)
class MemoryEstimate:
    """An estimate of the peak memory a job needs, in bytes, by part (e.g. weights, cache, decoding)."""

    parts: dict[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return int(sum(self.parts.values()))

    def describe(self) -> str:
        detail = ", ".join(f"{name} {format_bytes(value)}" for name, value in self.parts.items())
        return f"{format_bytes(self.total_bytes)} ({detail})"


def check_fits(estimate: MemoryEstimate, *, budget_bytes: int | None, device: str, what: str,
               advice: str) -> None:
    """Raise :class:`InsufficientMemoryError` when ``estimate`` is over ``budget_bytes``.

    Parameters
    ----------
    estimate : MemoryEstimate
        What the job needs.
    budget_bytes : int or None
        What it may use (None: unknown, so the job is allowed and out-of-memory is caught instead).
    device : str
        For the message.
    what : str
        The job, for the message (e.g. ``"generating 60 s with facebook/musicgen-large"``).
    advice : str
        What the user can change, for the message.
    """
    if budget_bytes is None or estimate.total_bytes <= budget_bytes:
        return
    raise InsufficientMemoryError(
        f"Not enough memory on {device} for {what}: it needs about {estimate.describe()}, but only "
        f"{format_bytes(budget_bytes)} is available. {advice}",
        needed_bytes=estimate.total_bytes, budget_bytes=budget_bytes)


def is_out_of_memory(error: BaseException) -> bool:
    """True for an allocation failure from torch (CUDA, MPS) or the CPU allocator."""
    if isinstance(error, MemoryError):
        return True
    try:
        torch = _torch()
        oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
        if oom_type is not None and isinstance(error, oom_type):
            return True
    except ImportError:
        pass
    if isinstance(error, RuntimeError):
        text = str(error).lower()
        return "out of memory" in text or "failed to allocate" in text or "can't allocate memory" in text
    return False


def release_memory(device: str) -> None:
    """Collect garbage and return cached accelerator memory to the driver (after unloading or an OOM)."""
    gc.collect()
    kind = device_kind(device)
    try:
        torch = _torch()
    except ImportError:
        return
    if kind == "cuda" and cuda_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()
    elif kind == "mps" and mps_available():
        torch.mps.empty_cache()
