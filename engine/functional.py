"""torch.functional: the tensor functions torch keeps there (norm, unique, split, einsum...)
and ``F``, torch.nn.functional, as torch exposes it."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import nn as _nn
from engine.tensor import Size

F = _nn.functional

_NAMES = ("atleast_1d", "atleast_2d", "atleast_3d", "broadcast_shapes", "broadcast_tensors",
          "cartesian_prod", "block_diag", "cdist", "chain_matmul", "einsum", "lu", "norm",
          "meshgrid", "split", "tensordot", "unique", "unique_consecutive", "unravel_index")


def broadcast_shapes(*shapes: Any) -> Any:
    return Size(np.broadcast_shapes(*[tuple(s) if not isinstance(s, int) else (s,)
                                      for s in shapes]))


def broadcast_tensors(*tensors: Any) -> tuple:
    shape = broadcast_shapes(*[t.shape for t in tensors])
    return tuple(t.expand(shape) for t in tensors)


def __getattr__(name: str) -> Any:
    import engine
    if name in _NAMES and hasattr(engine, name):
        return getattr(engine, name)
    raise AttributeError(f"module 'engine.functional' has no attribute '{name}'")
