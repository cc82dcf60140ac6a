"""How gradviz writes numbers in small places (no Qt): edge labels, step notes, readouts."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["short_values"]


def short_values(t: Any, limit: int = 4) -> str:
    """A small gradient in a few characters, for an edge label or a step note:
    ``[0.33, 0.33, 0.33]``, ``1``, ``[2, 3] [0.1, 0.2, 0.3, 0.4, …]``; ``""`` for None."""
    if t is None:
        return ""
    a = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
    if a.ndim == 0:
        return f"{a.item():.4g}"
    flat = a.reshape(-1)
    vals = ", ".join(f"{v:.4g}" for v in flat[:limit])
    more = ", …" if flat.size > limit else ""
    return f"[{vals}{more}]" if a.ndim == 1 else f"{list(a.shape)} [{vals}{more}]"
