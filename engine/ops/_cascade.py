"""torch's summation order for float32 / float64 sums on the CPU, so that printed losses agree
to the last digit.

ATen sums floating-point tensors with a cascade: the reduced elements are walked in memory
order as vectors of ``LANES`` (AVX512: 16 float32 or 8 float64), four vectors side by side
(instruction-level parallelism), and the running sums are kept on four levels, each level
adding up ``2**level_power`` sums of the level below before it is flushed upward. Lanes are
folded at the end, after a scalar tail. Reductions along the fastest dim use that per row;
reductions along a slower dim add whole rows (one lane per output column). All of it is
elementwise float arithmetic in the tensor's dtype, so numpy reproduces it exactly.

``torch_sum`` returns None for layouts it does not model and for more than ``GRAIN_SIZE``
elements (the caller then uses numpy's sum).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["torch_sum"]

_VEC_BYTES = 32
_NUM_LEVELS = 4
#: torch splits bigger reductions between its threads, so their order depends on the thread
#: count; above this the engine keeps numpy's (faster) sum
GRAIN_SIZE = 32768


def _ceil_log2(n: int) -> int:
    return 0 if n <= 1 else (n - 1).bit_length()


def _seq(a: np.ndarray, axis: int) -> np.ndarray:
    """Sequential sum along ``axis`` (left to right, as a plain loop adds)."""
    n = a.shape[axis]
    if n == 0:
        shape = list(a.shape)
        del shape[axis]
        return np.zeros(shape, a.dtype)
    idx = [slice(None)] * a.ndim
    if a.size <= 1 << 18:  # one accumulate call; bigger arrays loop to spare the temporary
        idx[axis] = -1
        return np.add.accumulate(a, axis=axis)[tuple(idx)]
    idx[axis] = 0
    acc = a[tuple(idx)].copy()
    for i in range(1, n):
        idx[axis] = i
        acc += a[tuple(idx)]
    return acc


def _multi_row_sum(rows: np.ndarray) -> np.ndarray:
    """ATen's multi_row_sum: ``rows`` is (batch, size, K); the cascade runs along ``size``
    for each of the K columns; returns (batch, K)."""
    size = rows.shape[1]
    power = max(4, _ceil_log2(size) // _NUM_LEVELS)
    step = 1 << power
    m = size // step
    zero = np.zeros((rows.shape[0], rows.shape[2]), rows.dtype)
    if m:
        chunks = _seq(rows[:, :m * step].reshape(rows.shape[0], m, step, rows.shape[2]), 2)
        levels = [zero]
        cur = chunks
        for _ in range(1, _NUM_LEVELS - 1):
            full = cur.shape[1] // step
            rest = _seq(cur[:, full * step:], 1)
            levels.append(rest)
            cur = _seq(cur[:, :full * step].reshape(cur.shape[0], full, step, cur.shape[2]), 2)
        levels.append(_seq(cur, 1))
    else:
        levels = [zero, zero, zero, zero]
    acc0 = _seq(rows[:, m * step:], 1) if size > m * step else zero.copy()
    for lv in levels[1:]:
        acc0 = acc0 + lv
    return acc0


def _row_sum(items: np.ndarray) -> np.ndarray:
    """ATen's row_sum over (batch, n, W) items (W lanes each): four interleaved partial sums
    through multi_row_sum, the leftover items onto the first, then the four folded; (batch, W)."""
    b, n, w = items.shape
    n_ilp = n // 4
    partial = _multi_row_sum(items[:, :n_ilp * 4].reshape(b, n_ilp, 4 * w)).reshape(b, 4, w)
    p0 = partial[:, 0].copy()
    for i in range(n_ilp * 4, n):
        p0 += items[:, i]
    for k in range(1, 4):
        p0 += partial[:, k]
    return p0


_ORDERS: dict[int, np.ndarray] = {}
_acc = np.add.accumulate  # strictly left to right


def _short_order(n: int) -> np.ndarray:
    """For fewer elements than lanes, row_sum is one sequential sum in this order: element 0,
    the leftovers past the first four, then elements 1, 2, 3 (a leading 0 for torch's +0)."""
    order = _ORDERS.get(n)
    if order is None:
        idx = list(range(n)) if n < 4 else [0] + list(range(4, n)) + [1, 2, 3]
        order = _ORDERS[n] = np.asarray(idx, dtype=np.intp)
    return order


def _inner(rows: np.ndarray) -> np.ndarray:
    """Sum of each row of a (batch, n) array whose rows are contiguous."""
    b, n = rows.shape
    lanes = _VEC_BYTES // rows.dtype.itemsize
    if n < lanes:
        if n < 4:
            return _acc(rows, axis=1)[:, -1] + rows.dtype.type(0)
        return _acc(rows[:, _short_order(n)], axis=1)[:, -1] \
            + rows.dtype.type(0)
    if n < lanes * 64:  # fewer than 16 rows of 4 vectors: multi_row_sum is one plain sum
        nv = n // lanes
        n_ilp = nv // 4
        vecs = rows[:, :nv * lanes].reshape(b, nv, lanes)
        parts = [np.zeros((b, 1, lanes), rows.dtype)]
        if n_ilp:
            p = _acc(vecs[:, :n_ilp * 4].reshape(b, n_ilp, 4, lanes), axis=1)[:, -1]
            parts += [p[:, :1], vecs[:, n_ilp * 4:], p[:, 1:]]
        else:
            parts.append(vecs)
        vec = _acc(np.concatenate(parts, axis=1), axis=1)[:, -1]
        seq = np.concatenate([np.zeros((b, 1), rows.dtype), rows[:, nv * lanes:], vec], axis=1)
        return _acc(seq, axis=1)[:, -1]
    nv = n // lanes
    vec = _row_sum(rows[:, :nv * lanes].reshape(b, nv, lanes))
    seq = np.concatenate([np.zeros((b, 1), rows.dtype), rows[:, nv * lanes:], vec], axis=1)
    return _acc(seq, axis=1)[:, -1]


def _outer(slab: np.ndarray) -> np.ndarray:
    """Column sums of (batch, n, C) slabs (rows of C contiguous elements)."""
    b, n, c = slab.shape
    lanes = _VEC_BYTES // slab.dtype.itemsize
    group = 4 * lanes if c >= lanes else 4
    head = (c // group) * group
    out = np.empty((b, c), slab.dtype)
    if head:
        out[:, :head] = _multi_row_sum(slab[:, :, :head]) + slab.dtype.type(0)
    if head < c:
        out[:, head:] = _row_sum(slab[:, :, head:]) + slab.dtype.type(0)
    return out


def torch_sum(d: np.ndarray, axes: Any, keepdims: bool) -> np.ndarray | None:
    """``d.sum(axes)`` added in torch's order, or None when the layout is not modelled."""
    if d.dtype not in (np.float32, np.float64) or d.size == 0 or d.ndim == 0 \
            or d.size > GRAIN_SIZE:
        return None
    nd = d.ndim
    if axes is None and d.flags.c_contiguous and d.size < _VEC_BYTES // d.itemsize:
        flat = d.reshape(d.size)  # the common tiny case, kept short
        if d.size >= 4:
            flat = flat[_short_order(d.size)]
        res = np.asarray(_acc(flat)[-1] + d.dtype.type(0))
        return res.reshape((1,) * nd) if keepdims else res
    red = set(range(nd)) if axes is None else {a % nd for a in (
        (axes,) if isinstance(axes, int) else axes)}
    out_shape = tuple(1 if i in red else n for i, n in enumerate(d.shape))
    big = [i for i in range(nd) if d.shape[i] != 1]
    rbig = [i for i in big if i in red]
    if not rbig:  # only size-1 dims reduced
        res = d.reshape(out_shape) + d.dtype.type(0)
    elif len(rbig) == len(big):  # everything: one run in memory order
        if d.flags.c_contiguous:
            flat = d.reshape(1, d.size)
        elif d.flags.f_contiguous:
            flat = d.T.reshape(1, d.size)
        else:
            return None
        res = _inner(flat).reshape(out_shape)
    else:
        if not d.flags.c_contiguous:
            return None
        pos = [big.index(i) for i in rbig]
        if pos != list(range(pos[0], pos[0] + len(pos))):
            return None  # reduced dims not one block
        lead = int(np.prod([d.shape[i] for i in big[:pos[0]]]))
        n = int(np.prod([d.shape[i] for i in rbig]))
        c = int(np.prod([d.shape[i] for i in big[pos[-1] + 1:]]))
        if c == 1:
            res = _inner(d.reshape(lead, n)).reshape(out_shape)
        else:
            res = _outer(d.reshape(lead, n, c)).reshape(out_shape)
    if not keepdims:
        res = res.reshape(tuple(n for i, n in enumerate(d.shape) if i not in red))
    return res if res.flags.c_contiguous else np.ascontiguousarray(res)


def full_sum(d: np.ndarray) -> np.ndarray:
    """The sum of all of ``d`` (0-d, ``d``'s dtype) as torch's ``sum()`` adds it."""
    res = torch_sum(d, None, False)
    if res is None:
        res = np.asarray(np.add.reduce(d, axis=None), d.dtype)
    return res


_NLL_LEVELS = 8


def nll_reduce(values: np.ndarray, index: np.ndarray, n: int,
               weights: np.ndarray | None) -> tuple[Any, Any]:
    """ATen's nll_loss sum: for each kept item (value, flat index in a batch of ``n``, weight),
    ``loss[0] -= value * weight`` and ``wsum[0] += weight``, then levels 0..6 flushed upward
    while the index has zero bits under each level's mask; at the end the eight levels are
    added to 0 in order. Returns (loss, total weight) as scalars of ``values``' dtype
    (total weight None without weights)."""
    t = values.dtype.type
    power = max(4, _ceil_log2(n) // _NLL_LEVELS)
    mask0 = (1 << power) - 1
    loss = [t(0)] * _NLL_LEVELS
    wsum = [t(0)] * _NLL_LEVELS
    vals = values.tolist()
    ws = weights.tolist() if weights is not None else None
    for i, b in enumerate(index.tolist()):
        if ws is None:
            loss[0] = t(loss[0] - t(vals[i]))
        else:
            loss[0] = t(loss[0] - t(t(vals[i]) * t(ws[i])))
            wsum[0] = t(wsum[0] + t(ws[i]))
        for j in range(_NLL_LEVELS - 1):
            if b & (mask0 << (j * power)):
                break
            loss[j + 1] = t(loss[j + 1] + loss[j])
            wsum[j + 1] = t(wsum[j + 1] + wsum[j])
            loss[j] = t(0)
            wsum[j] = t(0)
    tot_l = t(0)
    tot_w = t(0)
    for j in range(_NLL_LEVELS):
        tot_l = t(tot_l + loss[j])
        tot_w = t(tot_w + wsum[j])
    return tot_l, (tot_w if ws is not None else None)
