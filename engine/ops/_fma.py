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


#: MKL's sgemm (two threads, as on this machine) runs the contraction in blocks of at most
#: this many terms, measured: up to 384 one fused chain into C; longer contractions are split
#: in two halves (the first ceil), one per thread, each half as one chain, two equal chains
#: (up to 768), or chains of 384 and the rest, added into its own C (the first thread's is
#: the real C), and the second thread's C added to the first's at the end
_KC = 384
#: contractions longer than this are not modelled (measured up to 4000)
_K_MAX = 4096
#: products are precomputed in one array up to this many float64 elements
_PRODUCTS = 1 << 19
#: the fused chain costs a numpy pass over the output per term; above this many
#: multiply-adds numpy's (BLAS) product is used instead
BUDGET = 1 << 21


def _chain(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum over k of a[:, k] * b[k] as one fused multiply-add chain, k ascending."""
    m, k = a.shape
    acc = np.zeros((m, b.shape[1]), np.float32)
    if k == 0:
        return acc
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    add = np.add
    if m * k * b.shape[1] <= _PRODUCTS:
        # (k, m, n) products, exact in float64 (no index is summed)
        for p in np.einsum("mk,kn->kmn", a64, b64):
            add(acc, p, out=acc, casting="unsafe")
    else:
        for i in range(k):
            np.add(acc, a64[:, i:i + 1] * b64[i], out=acc, casting="unsafe")
    return acc


#: MKL's sgemv for a matrix times a vector with few columns, measured: rows in blocks of four
#: take term 0 fused into term 1, then the odd terms (1, 5, 3) and the even ones (2, 6, 4) in
#: two chains added at the end; the last ``rows % 4`` rows add term 0 last, unfused
_GEMV_ODD = (5, 3)
_GEMV_EVEN = (2, 6, 4)
GEMV_MAX_K = 7


def _gemv_sum(p: list, first: np.ndarray, k: int) -> np.ndarray:
    """The odd chain from ``first`` (terms 0 and 1) through 5, 3; the even chain 2, 6, 4."""
    odd = first
    for i in _GEMV_ODD:
        if i < k:
            odd = odd + p[i]
    even = [i for i in _GEMV_EVEN if i < k]
    if not even:
        return odd
    acc = p[even[0]]
    for i in even[1:]:
        acc = acc + p[i]
    return odd + acc


def mv(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``a @ v`` (2-D times 1-D) in float32 as torch's CPU mv for up to ``GEMV_MAX_K``
    columns; numpy's product otherwise."""
    if a.dtype != np.float32 or v.dtype != np.float32 or a.ndim != 2 or v.ndim != 1 \
            or not 0 < a.shape[1] <= GEMV_MAX_K:
        return a @ v
    m, k = a.shape
    if not a.flags.c_contiguous and a.flags.f_contiguous:  # columns: one fused chain, k up
        return _chain(a, v[:, None])[:, 0]
    out = np.empty(m, np.float32)
    head = m - m % 4
    for rows, fused in ((slice(0, head), True), (slice(head, m), False)):
        sub = a[rows]
        if not len(sub):
            continue
        wide = [sub[:, i].astype(np.float64) * np.float64(v[i]) for i in range(k)]
        p = [w.astype(np.float32) for w in wide]
        if k == 1:
            out[rows] = p[0]
        elif fused:
            out[rows] = _gemv_sum(p, (wide[1] + p[0]).astype(np.float32), k)
        else:
            out[rows] = p[0] + _gemv_sum(p, p[1], k)
    return out


def _dot16(a: np.ndarray, bt: np.ndarray) -> np.ndarray:
    """Rows of ``a`` against rows of ``bt`` as MKL's small dot kernel: 16 lanes along k (the
    last vector zero-padded), one fused chain per lane, lanes folded by halves."""
    m, k = a.shape
    n = bt.shape[0]
    kp = -(-k // 16) * 16
    prods = np.zeros((m, n, kp), np.float64)
    prods[:, :, :k] = a.astype(np.float64)[:, None, :] * bt.astype(np.float64)[None, :, :]
    acc = np.zeros((m, n, 16), np.float32)
    for s in range(0, kp, 16):
        np.add(acc, prods[:, :, s:s + 16], out=acc, casting="unsafe")
    while acc.shape[2] > 1:
        h = acc.shape[2] // 2
        acc = acc[:, :, :h] + acc[:, :, h:]
    return acc[:, :, 0]


def _small_nt(m: int, k: int, n: int) -> bool:
    """Where MKL takes its dot kernel for a @ b with b a transposed (k-contiguous) matrix,
    measured on torch 2.13's MKL: a few output columns, short contractions."""
    if k > 31:
        return False
    return (n == 2 and m <= 15) or (n == 3 and m <= 10) or (5 <= n <= 11 and m < n and k <= n)


def mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D arrays, float32 in torch's (MKL sgemm's) order where it is known:
    both output dims above one and at most 768 contraction terms, or one output column and
    few terms (sgemv); numpy's product otherwise."""
    if a.dtype != np.float32 or b.dtype != np.float32 or a.ndim != 2 or b.ndim != 2:
        return a @ b
    m, k = a.shape
    n = b.shape[1]
    if n == 1 and m > 1:
        return mv(a, b[:, 0])[:, None]
    if m == 1 and n < 16 and k < 256:  # a row times a narrow matrix: one chain, measured
        return _chain(a, b)
    if m < 2 or n < 2 or k > _K_MAX or m * n * k > BUDGET:
        return a @ b
    if b.flags.f_contiguous and not b.flags.c_contiguous and a.flags.c_contiguous \
            and _small_nt(m, k, n):
        return _dot16(a, b.T)
    return _gemm(a, b, None)


def _thread_part(a: np.ndarray, b: np.ndarray, c: np.ndarray | None) -> np.ndarray:
    """One thread's share of the contraction, its chains added into ``c`` in turn."""
    k = a.shape[1]
    nb = -(-k // _KC)
    if nb <= 2:
        q, r = divmod(k, nb)
        sizes = [q + 1] * r + [q] * (nb - r)
    else:
        sizes = [_KC] * (k // _KC) + ([k % _KC] if k % _KC else [])
    s = 0
    for size in sizes:
        part = _chain(a[:, s:s + size], b[s:s + size])
        c = part if c is None else c + part
        s += size
    return c


def _gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray | None) -> np.ndarray:
    """``c + a @ b`` (``c`` None: no C) in sgemm's blocking."""
    k = a.shape[1]
    if k <= _KC:
        part = _chain(a, b)
        return part if c is None else c + part
    h = (k + 1) // 2
    return _thread_part(a[:, :h], b[:h], c) + _thread_part(a[:, h:], b[h:], None)


def addmm(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``c + a @ b`` (beta = alpha = 1) as sgemm accumulates into C (see ``_gemm``); where
    ``mm`` takes another kernel or numpy's, C is added after."""
    if a.dtype == np.float32 and b.dtype == np.float32 and a.ndim == 2 and b.ndim == 2 \
            and np.asarray(c).dtype == np.float32:
        m, k = a.shape
        n = b.shape[1]
        if m >= 2 and n >= 2 and k <= _K_MAX and m * n * k <= BUDGET and not (
                b.flags.f_contiguous and not b.flags.c_contiguous and a.flags.c_contiguous
                and _small_nt(m, k, n)):
            return np.asarray(_gemm(a, b, np.broadcast_to(c, (m, n))))
    return c + mm(a, b)


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
    if m < 2 or n < 2 or k > _K_MAX:
        return np.matmul(a, b)
    return np.stack([mm(x, y) for x, y in zip(a, b)]) if len(a) else np.matmul(a, b)


def axpy(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """``x + alpha * y`` as torch's ``x.add(y, alpha=alpha)`` computes it on the CPU: alpha
    rounded to the dtype, one fused multiply-add; float32 and float64, else plain numpy."""
    x = np.asarray(x)
    dt = x.dtype
    if alpha == 1 or dt not in (np.float32, np.float64) or np.asarray(y).dtype != dt:
        return x + y if alpha == 1 else x + alpha * y
    a = dt.type(alpha)
    return (fma32 if dt == np.float32 else fma64)(y, a, x).astype(dt, copy=False)


def arange(start: float, step: float, n: int, dt: np.dtype) -> np.ndarray:
    """torch.arange's CPU values for a floating ``dt``: in double, vectors of 32 bytes whose
    base ``start + step*i`` is fused and rounded to ``dt``, each lane ``base + j*step`` fused
    again; pairs of vectors, then a scalar tail ``start + step*i``."""
    dt = np.dtype(dt)
    if dt not in (np.float32, np.float64):
        return (start + step * np.arange(n)).astype(dt)
    lanes = 32 // dt.itemsize
    out = np.empty(n, dt)
    nvec = (n // (2 * lanes)) * 2  # the vector loop runs two vectors at a time
    head = nvec * lanes
    s64, st64 = np.float64(start), np.float64(step)
    if nvec:
        base = fma64(st64, np.arange(0, head, lanes, dtype=np.float64), s64).astype(dt)
        out[:head] = fma64(np.arange(lanes, dtype=np.float64)[None, :], st64,
                           base.astype(np.float64)[:, None]).astype(dt).reshape(-1)
    if head < n:
        out[head:] = fma64(st64, np.arange(head, n, dtype=np.float64), s64).astype(dt)
    return out
