"""The two random draws data loading makes, through the engine's public generator API (so a
bit-exact Generator/randperm/random_ gives torch's shuffles)."""

from __future__ import annotations

from typing import Any

import numpy as np


def draw_seed(generator: Any = None) -> int:
    """``torch.empty((), dtype=torch.int64).random_(generator=generator).item()``."""
    import engine
    t = engine.empty((), dtype=engine.int64)
    if hasattr(t, "random_"):
        return int(t.random_(generator=generator).item())
    rng = (generator or engine.default_generator).rng  # until Tensor.random_ exists
    return int(rng.integers(0, 2 ** 63 - 1))


def randperm(n: int, generator: Any = None) -> list[int]:
    """``torch.randperm(n, generator=generator).tolist()``."""
    import engine
    if hasattr(engine, "randperm"):
        return engine.randperm(n, generator=generator).tolist()
    rng = (generator or engine.default_generator).rng  # until engine.randperm exists
    return [int(i) for i in rng.permutation(n)]


def randint(high: int, size: int, generator: Any) -> list[int]:
    """``torch.randint(high=high, size=(size,), dtype=torch.int64, generator=g).tolist()``."""
    import engine
    return engine.randint(0, high, (size,), dtype=engine.int64, generator=generator).tolist()


def new_generator(seed: int) -> Any:
    import engine
    g = engine.Generator()
    g.manual_seed(seed)
    return g


__all__ = ["draw_seed", "randperm", "randint", "new_generator", "np"]
