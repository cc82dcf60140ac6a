"""torch.accelerator on a CPU-only build: no accelerator is available, ``current_accelerator()``
is None, and whatever needs a device raises torch's error."""

from __future__ import annotations

from typing import Any

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index",
           "current_device_idx", "set_device_index", "set_device_idx", "current_stream",
           "set_stream", "synchronize", "empty_cache", "memory_allocated",
           "max_memory_allocated", "memory_reserved", "max_memory_reserved", "memory_stats",
           "reset_peak_memory_stats", "reset_accumulated_memory_stats", "device_index"]

_NONE = "Cannot access accelerator device when none is available."


def is_available() -> bool:
    """False: the engine runs on the CPU only."""
    return False


def current_accelerator(check_available: bool = False) -> Any:
    """None: there is no accelerator."""
    return None


def device_count() -> int:
    return 0


def _unavailable(*_: Any, **__: Any) -> Any:
    raise RuntimeError(_NONE)


current_device_index = current_device_idx = _unavailable
set_device_index = set_device_idx = _unavailable
current_stream = set_stream = synchronize = empty_cache = _unavailable
memory_allocated = max_memory_allocated = memory_reserved = max_memory_reserved = _unavailable
memory_stats = reset_peak_memory_stats = reset_accumulated_memory_stats = _unavailable


class device_index:
    """Context manager that would select an accelerator; raises as torch's does without one."""

    def __init__(self, device: Any) -> None:
        self.device = device

    def __enter__(self) -> None:
        if self.device is not None:
            raise RuntimeError(_NONE)

    def __exit__(self, *exc: object) -> None:
        return None
