"""torch.cuda on a CPU-only build: nothing is available, seeding is accepted and does nothing,
and whatever needs a GPU raises torch's ``Torch not compiled with CUDA enabled``."""

from __future__ import annotations

from typing import Any

from engine.device import NO_CUDA_MESSAGE

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all", "seed", "seed_all",
           "synchronize", "current_device", "get_device_name", "empty_cache",
           "memory_allocated", "max_memory_allocated", "memory_reserved", "is_initialized",
           "initial_seed", "get_rng_state", "set_rng_state", "get_device_properties",
           "is_bf16_supported", "set_device", "init"]


def _lazy_init() -> None:
    raise AssertionError(NO_CUDA_MESSAGE)


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return False


def manual_seed(seed: int) -> None:
    """Accepted and ignored, as a CPU-only torch does."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored, as a CPU-only torch does."""


def seed() -> None:
    """Accepted and ignored."""


def seed_all() -> None:
    """Accepted and ignored."""


def empty_cache() -> None:
    """Nothing cached: does nothing."""


def memory_allocated(device: Any = None) -> int:
    return 0


def max_memory_allocated(device: Any = None) -> int:
    return 0


def memory_reserved(device: Any = None) -> int:
    return 0


def synchronize(device: Any = None) -> None:
    _lazy_init()


def current_device() -> int:
    _lazy_init()
    return 0


def get_device_name(device: Any = None) -> str:
    _lazy_init()
    return ""


def get_device_properties(device: Any = None) -> Any:
    _lazy_init()


def initial_seed() -> int:
    _lazy_init()
    return 0


def get_rng_state(device: Any = "cuda") -> Any:
    _lazy_init()


def set_rng_state(new_state: Any, device: Any = "cuda") -> None:
    _lazy_init()


def set_device(device: Any) -> None:
    _lazy_init()


def init() -> None:
    _lazy_init()
