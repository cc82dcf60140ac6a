"""Fused multiply-add in float32, as torch's compiled CPU kernels do it.

ATen's CPU kernels are built with FMA enabled, so the compiler fuses ``a * b + c`` into one
rounding. For float32 that is reproduced exactly (up to a double rounding with probability
about 2**-29 per element) by computing in float64, where the product is exact, and rounding
once to float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fma32", "fma64", "linspace"]


def fma32(a: Any, b: Any, c: Any) -> np.ndarray:
    """``a * b + c`` in float32 with one rounding."""
    f = np.float64
    return (np.asarray(a, f) * np.asarray(b, f) + np.asarray(c, f)).astype(np.float32)


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = 134217729.0 * x  # Veltkamp: 2**27 + 1
    hi = c - (c - x)
    return hi, x - hi


def fma64(a: Any, b: Any, c: Any) -> np.ndarray:
    """``a * b + c`` in float64 from error-free transformations (Dekker's product, Knuth's
    sum): the product's and the sum's rounding errors are added back before the last rounding."""
    a, b, c = (np.asarray(v, np.float64) for v in (a, b, c))
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s = p + c
    bb = s - p
    t = (p - (s - bb)) + (c - bb)
    return s + (t + e)


def linspace(start: float, end: float, steps: int, dt: np.dtype) -> np.ndarray:
    """torch.linspace's CPU values: ``start + step*i`` in the first half and
    ``end - step*(steps-1-i)`` in the second, each fused, with ``step`` rounded to ``dt``."""
    dt = np.dtype(dt)
    if dt.kind != "f" or steps < 2:
        return np.linspace(start, end, steps).astype(dt)
    lo_v = dt.type(start)
    hi_v = dt.type(end)
    step = (hi_v - lo_v) / dt.type(steps - 1)
    if dt not in (np.float32, np.float64):
        return np.linspace(start, end, steps).astype(dt)
    fma = fma32 if dt == np.float32 else fma64
    half = steps // 2
    out = np.empty(steps, dt)
    out[:half] = fma(step, np.arange(half, dtype=np.float64), lo_v)
    out[half:] = fma(-step, np.arange(steps - half - 1, -1, -1, dtype=np.float64), hi_v)
    return out
