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


#: MKL's sgemm runs the contraction in blocks of at most this many terms (measured: up to 384
#: one fused chain; 385..768 two equal halves, each its own chain, added at the end)
_KC = 384
#: products are precomputed in one array up to this many float64 elements
_PRODUCTS = 1 << 19


def _chain(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum over k of a[:, k] * b[k] as one fused multiply-add chain, k ascending."""
    m, k = a.shape
    acc = np.zeros((m, b.shape[1]), np.float32)
    if k == 0:
        return acc
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    if m * k * b.shape[1] <= _PRODUCTS:
        prods = a64.T[:, :, None] * b64[:, None, :]  # (k, m, n), exact in float64
        for i in range(k):
            np.add(acc, prods[i], out=acc, casting="unsafe")
    else:
        for i in range(k):
            np.add(acc, a64[:, i:i + 1] * b64[i], out=acc, casting="unsafe")
    return acc


def mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D arrays, float32 in torch's (MKL sgemm's) order where it is known:
    both output dims above one and at most 768 contraction terms; numpy's product otherwise."""
    if a.dtype != np.float32 or b.dtype != np.float32 or a.ndim != 2 or b.ndim != 2:
        return a @ b
    m, k = a.shape
    n = b.shape[1]
    if m < 2 or n < 2 or k > 2 * _KC:
        return a @ b
    if k <= _KC:
        return _chain(a, b)
    h = (k + 1) // 2
    return _chain(a[:, :h], b[:h]) + _chain(a[:, h:], b[h:])


def bmm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched ``a @ b`` (3-D), float32 as torch's CPU bmm: below 400 multiply-adds per
    matrix a plain (unfused) loop over k, otherwise one sgemm per batch entry."""
    if a.dtype != np.float32 or b.dtype != np.float32 or a.ndim != 3 or b.ndim != 3:
        return np.matmul(a, b)
    _, m, k = a.shape
    n = b.shape[2]
    if k * m * n < 400:
        acc = np.zeros((a.shape[0], m, n), np.float32)
        for i in range(k):
            acc += a[:, :, i:i + 1] * b[:, i:i + 1, :]
        return acc
    if m < 2 or n < 2 or k > 2 * _KC:
        return np.matmul(a, b)
    return np.stack([mm(x, y) for x, y in zip(a, b)]) if len(a) else np.matmul(a, b)
