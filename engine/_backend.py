"""The two vocabularies gradient rules are written in.

``numpy_ops`` works on arrays (plain backward: fast, records nothing); ``tensor_ops`` works on
engine tensors (``create_graph=True``: the backward pass is itself recorded, so gradients can be
differentiated again). A rule uses Python operators plus these functions and runs on either.

Both wrap the ops' kernels and functions, so this module sits just above ``engine.ops`` (and
below ``engine.autograd``, which picks one of them per backward pass).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.ops import _cascade, _fma
from engine.ops import linalg as _la
from engine.ops import pointwise as _pw
from engine.ops import reduce as _red
from engine.ops import shape as _sh
from engine.tensor import _make

__all__ = ["numpy_ops", "tensor_ops", "sum_to"]


def sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Reduce a broadcast gradient back to ``shape`` (the one place broadcasting is undone)."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and g.shape[i + lead] != 1)
    if axes:
        t = _torch_sum(g, axes, True) if g.dtype.kind == "f" else None
        g = t if t is not None else g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    return g


def _torch_sum(g: np.ndarray, axes: tuple, keepdims: bool) -> np.ndarray | None:
    return _cascade.torch_sum(g, axes, keepdims)


class numpy_ops:
    """Gradient-rule functions on numpy arrays."""

    records = False  # a rule run with it records no graph (a rule may ask, as xp.records)

    where = staticmethod(np.where)
    @staticmethod
    def log(a: np.ndarray) -> np.ndarray:
        return _pw.log_f(np.asarray(a))  # float32 through float64, as the forward

    @staticmethod
    def exp(a: np.ndarray) -> np.ndarray:
        return _pw.exp_f(np.asarray(a))

    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    sign = staticmethod(np.sign)
    isnan = staticmethod(np.isnan)
    outer = staticmethod(np.outer)
    @staticmethod
    def pow(a: np.ndarray, e: Any) -> np.ndarray:
        return _pw._pow_scalar(a, e) if isinstance(a, np.ndarray) and np.ndim(e) == 0 \
            else np.power(a, e)

    @staticmethod
    def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 3 and b.ndim == 3:
            return _fma.bmm(a, b)
        return _fma.mm(a, b) if a.ndim == 2 and b.ndim == 2 else np.matmul(a, b)

    sum_to = staticmethod(sum_to)

    @staticmethod
    def sum(a: np.ndarray, dims: Any = None, keepdim: bool = False) -> np.ndarray:
        return np.asarray(np.sum(a, axis=dims, keepdims=keepdim))

    @staticmethod
    def expand(g: np.ndarray, shape: tuple) -> np.ndarray:
        out = np.empty(shape, g.dtype)  # small: a real array is cheaper than a broadcast view
        out[...] = g
        return out

    @staticmethod
    def unsqueeze(g: np.ndarray, d: int) -> np.ndarray:
        return np.expand_dims(g, d)

    @staticmethod
    def squeeze(g: np.ndarray, d: int) -> np.ndarray:
        return np.squeeze(g, d) if g.ndim and g.shape[d] == 1 else g

    @staticmethod
    def reshape(g: np.ndarray, shape: tuple) -> np.ndarray:
        return np.reshape(g, shape)

    @staticmethod
    def t(a: np.ndarray) -> np.ndarray:
        return a.T

    @staticmethod
    def permute(a: np.ndarray, dims: tuple) -> np.ndarray:
        return np.transpose(a, dims)

    @staticmethod
    def transpose(a: np.ndarray, d0: int, d1: int) -> np.ndarray:
        return np.swapaxes(a, d0, d1)

    @staticmethod
    def mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _fma.mm(a, b)

    @staticmethod
    def mv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _fma.mv(a, b)

    @staticmethod
    def narrow(g: np.ndarray, dim: int, start: int, n: int) -> np.ndarray:
        return g[(slice(None),) * dim + (slice(start, start + n),)]

    @staticmethod
    def select(g: np.ndarray, dim: int, i: int) -> np.ndarray:
        return g[(slice(None),) * dim + (i,)]

    @staticmethod
    def index(g: np.ndarray, key: Any) -> np.ndarray:
        return np.asarray(g[key])

    @staticmethod
    def index_zeros(g: np.ndarray, shape: tuple, key: Any, accumulate: bool) -> np.ndarray:
        z = np.zeros(shape, dtype=g.dtype)
        if accumulate:
            np.add.at(z, key, g)
        else:
            z[key] = g
        return z

    @staticmethod
    def index_fill_zero(g: np.ndarray, key: Any) -> np.ndarray:
        z = np.array(g)
        z[key] = 0
        return z

    @staticmethod
    def scatter_dim(g: np.ndarray, dim: int, idx: np.ndarray, shape: tuple,
                    keepdim: bool) -> np.ndarray:
        z = np.zeros(shape, dtype=g.dtype)
        if not keepdim:
            g = np.expand_dims(g, dim)
            idx = np.expand_dims(idx, dim)
        np.put_along_axis(z, idx, g, axis=dim)
        return z

    @staticmethod
    def cast(g: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return g.astype(dtype)

    @staticmethod
    def shape(g: np.ndarray) -> tuple:
        return g.shape

    @staticmethod
    def dtype(g: np.ndarray) -> np.dtype:
        return g.dtype


class tensor_ops:
    """Gradient-rule functions on engine tensors (each call is recorded when grad mode is on)."""

    records = True

    @staticmethod
    def where(c: Any, a: Any, b: Any) -> Any:
        return _pw.where(c, a, b)

    @staticmethod
    def log(a: Any) -> Any:
        return _pw.log(a)

    @staticmethod
    def exp(a: Any) -> Any:
        return _pw.exp(a)

    @staticmethod
    def sin(a: Any) -> Any:
        return _pw.sin(a)

    @staticmethod
    def cos(a: Any) -> Any:
        return _pw.cos(a)

    @staticmethod
    def sign(a: Any) -> Any:
        return _make(np.sign(a._data))

    @staticmethod
    def isnan(a: Any) -> Any:
        return _make(np.isnan(a._data))

    @staticmethod
    def outer(a: Any, b: Any) -> Any:
        return _la.outer(a, b)

    @staticmethod
    def pow(a: Any, e: Any) -> Any:
        return _pw.pow(a, e)

    @staticmethod
    def matmul(a: Any, b: Any) -> Any:
        return _la.matmul(a, b)

    @staticmethod
    def sum(a: Any, dims: Any = None, keepdim: bool = False) -> Any:
        return _red.sum(a) if dims is None else _red.sum(a, dims, keepdim)

    @staticmethod
    def sum_to(g: Any, shape: tuple) -> Any:
        lead = g._data.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                          if s == 1 and g._data.shape[i + lead] != 1)
        if axes:
            g = _red.sum(g, axes, True)
        if lead:
            g = _sh.reshape(g, shape)
        return g

    @staticmethod
    def expand(g: Any, shape: tuple) -> Any:
        return _sh.expand(g, tuple(shape))

    @staticmethod
    def unsqueeze(g: Any, d: int) -> Any:
        return _sh.unsqueeze(g, d)

    @staticmethod
    def squeeze(g: Any, d: int) -> Any:
        return _sh.squeeze(g, d)

    @staticmethod
    def reshape(g: Any, shape: tuple) -> Any:
        return _sh.reshape(g, tuple(shape))

    @staticmethod
    def t(a: Any) -> Any:
        return _sh.t(a)

    @staticmethod
    def permute(a: Any, dims: tuple) -> Any:
        return _sh.permute(a, dims)

    @staticmethod
    def transpose(a: Any, d0: int, d1: int) -> Any:
        return _sh.transpose(a, d0, d1)

    @staticmethod
    def mm(a: Any, b: Any) -> Any:
        return _la.mm(a, b)

    @staticmethod
    def mv(a: Any, b: Any) -> Any:
        return _la.mv(a, b)

    @staticmethod
    def narrow(g: Any, dim: int, start: int, n: int) -> Any:
        return _sh.getitem(g, (slice(None),) * dim + (slice(start, start + n),))

    @staticmethod
    def select(g: Any, dim: int, i: int) -> Any:
        return _sh.getitem(g, (slice(None),) * dim + (i,))

    @staticmethod
    def index(g: Any, key: Any) -> Any:
        return _sh.getitem(g, key)

    @staticmethod
    def index_zeros(g: Any, shape: tuple, key: Any, accumulate: bool) -> Any:
        z = _make(np.zeros(shape, dtype=g._data.dtype))
        if accumulate:
            # scatter-add as a differentiable op: one-hot matrix product keeps it recorded
            flat_idx = np.arange(int(np.prod(shape))).reshape(shape)[key].reshape(-1)
            onehot = np.zeros((flat_idx.size, int(np.prod(shape))), dtype=g._data.dtype)
            onehot[np.arange(flat_idx.size), flat_idx] = 1
            flat = _la.mv(_make(onehot.T.copy()), _sh.reshape(g, (-1,)))
            return _sh.reshape(flat, shape)
        z = _pw.add(z, 0.0)
        _sh.setitem(z, key, g)
        return z

    @staticmethod
    def index_fill_zero(g: Any, key: Any) -> Any:
        z = _pw.clone(g)
        _sh.setitem(z, key, 0.0)
        return z

    @staticmethod
    def scatter_dim(g: Any, dim: int, idx: np.ndarray, shape: tuple, keepdim: bool) -> Any:
        onehot = np.zeros(shape, dtype=g._data.dtype)
        ii = idx if keepdim else np.expand_dims(idx, dim)
        np.put_along_axis(onehot, ii, 1, axis=dim)
        gg = g if keepdim else _sh.unsqueeze(g, dim)
        return _pw.mul(gg, _make(onehot))

    @staticmethod
    def cast(g: Any, dtype: np.dtype) -> Any:
        return _pw.to_dtype(g, dtype)

    @staticmethod
    def shape(g: Any) -> tuple:
        return g._data.shape

    @staticmethod
    def dtype(g: Any) -> np.dtype:
        return g._data.dtype
