"""Reductions: sum, mean, max, min (whole or along dims), softmax and log_softmax."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from engine import _dtype
from engine._rule import Rule
from engine.function import Node, record
from engine.ops._cascade import torch_sum
from engine.ops._common import needs_grad
from engine.ops.pointwise import maximum, minimum
from engine.tensor import Tensor, _make, _raise, _wrap_dim

__all__ = ["sum", "mean", "max", "min", "amax", "amin", "softmax", "log_softmax", "argmax",
           "argmin", "norm"]

_add_reduce = np.add.reduce
_torch_sum = torch_sum
_max_result = namedtuple("max", ["values", "indices"])  # torch's repr: see ops.select.install
_min_result = namedtuple("min", ["values", "indices"])


def _dims(dim: Any, ndim: int) -> tuple[int, ...]:
    if isinstance(dim, (list, tuple)):
        return tuple(sorted(_wrap_dim(d, ndim) for d in dim))
    return (_wrap_dim(dim, ndim),)


def _unsqueeze_to(g: Any, dims: tuple[int, ...], xp: Any) -> Any:
    for d in dims:
        g = xp.unsqueeze(g, d)
    return g


class SumBackward0(Node):
    rule = Rule("Sum of all elements: each element contributed once, so every one gets the "
                "(scalar) gradient.",
                ("grad_self = expand(grad, self_sym_sizes)",),
                "∂(Σᵢ xᵢ)/∂xⱼ = 1")
    def backward(self, g, s, xp):
        return (xp.expand(g, self.self_sym_sizes),)


class SumBackward1(Node):
    rule = Rule("Sum along dim: the gradient is broadcast back along the summed dims.",
                ("grad_self = expand(keep(grad, dim, keepdim, len(self_sym_sizes)), "
                 "self_sym_sizes)",),
                "∂(Σᵢ xᵢ)/∂xⱼ = 1")
    def backward(self, g, s, xp):
        if not self.keepdim:
            g = _unsqueeze_to(g, self.dim, xp)
        return (xp.expand(g, self.self_sym_sizes),)


class MeanBackward0(Node):
    rule = Rule("Mean of all N elements: each gets the gradient divided by N.",
                ("grad_self = expand(grad, self_sym_sizes) / self_sym_numel",),
                "∂(Σᵢ xᵢ / N)/∂xⱼ = 1/N")
    def backward(self, g, s, xp):
        return (xp.expand(g, self.self_sym_sizes) / self.self_sym_numel,)


class MeanBackward1(Node):
    rule = Rule("Mean along dim: the gradient is broadcast back and divided by the number of "
                "elements averaged (count).",
                ("grad_self = expand(keep(grad, dim, keepdim, len(self_sym_sizes)), "
                 "self_sym_sizes) / count",),
                "∂(Σᵢ xᵢ / n)/∂xⱼ = 1/n")
    def backward(self, g, s, xp):
        if not self.keepdim:
            g = _unsqueeze_to(g, self.dim, xp)
        return (xp.expand(g, self.self_sym_sizes) / self.count,)


class MaxBackward1(Node):
    rule = Rule("Max of all elements: only the maximal element(s) get the gradient (split "
                "evenly between ties).",
                ("mask = (self == result) | (isnan(self) & isnan(result))",
                 "grad_self = where(mask, grad / sum(mask), 0)"),
                "1 at the argmax, 0 elsewhere")
    def backward(self, g, s, xp):
        x, r = s["self"], s["result"]
        mask = (x == r) | (xp.isnan(x) & xp.isnan(r))
        return (mask * (g / xp.sum(mask)),)


class MinBackward1(MaxBackward1):
    rule = Rule("Min of all elements: only the minimal element(s) get the gradient (split "
                "evenly between ties).",
                ("mask = (self == result) | (isnan(self) & isnan(result))",
                 "grad_self = where(mask, grad / sum(mask), 0)"),
                "1 at the argmin, 0 elsewhere")
    pass


class MaxBackward0(Node):
    rule = Rule("Max along dim: each gradient goes back to the index that won, 0 elsewhere.",
                ("n = len(self_sym_sizes)",
                 "grad_self = scatter(zeros(self_sym_sizes), dim, keep(indices, dim, keepdim, "
                 "n), keep(grad, dim, keepdim, n))"),
                "1 at the argmax, 0 elsewhere")
    def backward(self, g, s, xp):
        return (xp.scatter_dim(g, self.dim, s["indices"], self.self_sym_sizes, self.keepdim),)


class MinBackward0(MaxBackward0):
    rule = Rule("Min along dim: each gradient goes back to the index that won, 0 elsewhere.",
                ("n = len(self_sym_sizes)",
                 "grad_self = scatter(zeros(self_sym_sizes), dim, keep(indices, dim, keepdim, "
                 "n), keep(grad, dim, keepdim, n))"),
                "1 at the argmin, 0 elsewhere")
    pass


class AmaxBackward0(Node):
    rule = Rule("amax: the maximal elements along dim share the gradient evenly.",
                ("mask = self == keep(result, dim, keepdim, ndim(self))",
                 "grad_self = mask * keep(grad, dim, keepdim, ndim(self)) / sum(mask, dim, True)"),
                "1/k at each of the k maxima, 0 elsewhere")
    def backward(self, g, s, xp):
        x, r = s["self"], s["result"]
        if not self.keepdim:
            g = _unsqueeze_to(g, self.dim, xp)
            r = _unsqueeze_to(r, self.dim, xp)
        mask = x == r
        return (mask * (g / xp.sum(mask, self.dim, True)),)


class AminBackward0(AmaxBackward0):
    rule = Rule("amin: the minimal elements along dim share the gradient evenly.",
                ("mask = self == keep(result, dim, keepdim, ndim(self))",
                 "grad_self = mask * keep(grad, dim, keepdim, ndim(self)) / sum(mask, dim, True)"),
                "1/k at each of the k minima, 0 elsewhere")
    pass


class SoftmaxBackward0(Node):
    rule = Rule("Softmax along dim: the Jacobian s·(δ − s) applied to grad, from the saved "
                "output s.",
                ("grad_self = result * (grad - sum(grad * result, dim, True))",),
                "∂sᵢ/∂xⱼ = sᵢ(δᵢⱼ − sⱼ)")
    def backward(self, g, s, xp):
        r = s["result"]
        dims = (self.dim,) if len(xp.shape(r)) else ()
        return (r * (g - xp.sum(g * r, dims, True)),)


class LogSoftmaxBackward0(Node):
    rule = Rule("Log-softmax along dim, from the saved output: the gradient minus softmax "
                "times its sum.",
                ("grad_self = grad - exp(result) * sum(grad, dim, True)",),
                "∂(log sᵢ)/∂xⱼ = δᵢⱼ − sⱼ")
    def backward(self, g, s, xp):
        dims = (self.dim,) if len(xp.shape(g)) else ()
        return (g - xp.exp(s["result"]) * xp.sum(g, dims, True),)


class NormBackward1(Node):
    rule = Rule("2-norm: x divided by the saved norm (0 where the norm is 0).",
                ("grad_self = self * where(result == 0, 0, grad / result)",),
                "d‖x‖/dx = x/‖x‖")
    def backward(self, g, s, xp):
        x, r = s["self"], s["result"]
        return (x * xp.where(r == 0, 0.0, g / r),)


def _c(a: Any) -> np.ndarray:
    """A reduction's result: a row-major array, as torch allocates reduction outputs."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _np_sum(d: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    if d.dtype.kind == "f":
        out = _torch_sum(d, axis, keepdims)  # torch's cascade order: the same last digit
        if out is not None:
            return out
    out = np.sum(d, axis=axis, keepdims=keepdims)
    if d.dtype.kind in "bui" and out.dtype != np.int64:
        out = out.astype(np.int64)
    return _c(out)


def sum(x: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:  # noqa: A001
    """Sum of all elements (SumBackward0) or along ``dim`` (SumBackward1)."""
    d = x._data if dtype is None else x._data.astype(_dtype.as_dtype(dtype).np)
    shape = x.shape
    if dim is None:
        out = _np_sum(d, None, False)
        if needs_grad(x):
            return record(SumBackward0, out, (x,), self_sym_sizes=shape)
        return _make(out)
    dims = _dims(dim, d.ndim) if d.ndim else ()
    out = _np_sum(d, dims, keepdim)
    if needs_grad(x):
        return record(SumBackward1, out, (x,), dim=dims, keepdim=keepdim, self_sym_sizes=shape)
    return _make(out)


def mean(x: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Mean of all elements (MeanBackward0) or along ``dim`` (MeanBackward1)."""
    d = x._data if dtype is None else x._data.astype(_dtype.as_dtype(dtype).np)
    if d.dtype.kind != "f":
        _raise(RuntimeError("mean(): could not infer output dtype. Input dtype must be either a "
                            "floating point or complex dtype. Got: "
                            f"{_dtype.from_numpy_dtype(d.dtype)._tensor_type[:-6]}"), tensor=x)
    shape = x.shape
    if dim is None:
        tot = _torch_sum(d, None, False) if d.size else None
        if tot is not None:  # torch: the cascade sum, then one division
            out = np.asarray(tot / d.dtype.type(d.size))
        else:
            out = np.asarray(_add_reduce(d, axis=None) / d.dtype.type(d.size or 1)
                             if d.size else np.mean(d))
        if needs_grad(x):
            return record(MeanBackward0, out, (x,), self_sym_sizes=shape,
                          self_sym_numel=int(d.size))
        return _make(out)
    dims = _dims(dim, d.ndim) if d.ndim else ()
    tot = _torch_sum(d, dims, keepdim) if dims and d.size else None
    if tot is not None:
        count = 1
        for i in dims:
            count *= d.shape[i]
        out = _c(tot / d.dtype.type(count))
    else:
        out = _c(np.mean(d, axis=dims, keepdims=keepdim))
    if needs_grad(x):
        count = 1
        for i in dims:
            count *= shape[i]
        return record(MeanBackward1, out, (x,), dim=dims, keepdim=keepdim,
                      self_sym_sizes=shape, count=count)
    return _make(out)


def _extreme(x: Tensor, dim: Any, keepdim: bool, is_max: bool) -> Any:
    d = x._data
    if dim is None:
        if d.size == 0:
            _raise(RuntimeError(f"{'max' if is_max else 'min'}(): Expected reduction dim to be "
                                "specified for input.numel() == 0. Specify the reduction dim "
                                "with the 'dim' argument."), tensor=x)
        out = np.asarray(np.max(d) if is_max else np.min(d))
        if needs_grad(x):
            cls = MaxBackward1 if is_max else MinBackward1
            return record(cls, out, (x,), {"self": x}, output_saved=("result",))
        return _make(out)
    if isinstance(dim, Tensor):
        return maximum_like(x, dim, is_max)
    ax = _wrap_dim(dim, d.ndim)
    if d.ndim and d.shape[ax] == 0:
        _raise(IndexError(f"{'max' if is_max else 'min'}(): Expected reduction dim {ax} to have "
                          "non-zero size."), tensor=x)
    idx = np.argmax(d, axis=ax, keepdims=True) if is_max else np.argmin(d, axis=ax,
                                                                          keepdims=True)
    vals = np.take_along_axis(d, idx, axis=ax)
    if not keepdim and d.ndim:
        vals = np.squeeze(vals, ax)
        idx = np.squeeze(idx, ax)
    vals = _c(vals)
    idx = _c(idx.astype(np.int64))
    if needs_grad(x):
        cls = MaxBackward0 if is_max else MinBackward0
        v = record(cls, vals, (x,), {"indices": idx}, dim=ax, keepdim=keepdim,
                   self_sym_sizes=x.shape)
    else:
        v = _make(vals)
    res = _max_result if is_max else _min_result
    return res(v, _make(idx))


def maximum_like(x: Tensor, other: Tensor, is_max: bool) -> Tensor:
    return maximum(x, other) if is_max else minimum(x, other)


def max(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Largest element (MaxBackward1), or (values, indices) along ``dim`` (MaxBackward0)."""
    return _extreme(x, dim, keepdim, True)


def min(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Smallest element (MinBackward1), or (values, indices) along ``dim`` (MinBackward0)."""
    return _extreme(x, dim, keepdim, False)


def _amax(x: Tensor, dim: Any, keepdim: bool, is_max: bool) -> Tensor:
    d = x._data
    dims = _dims(dim if dim not in (None, ()) else tuple(range(d.ndim)), d.ndim) if d.ndim else ()
    out = _c((np.amax if is_max else np.amin)(d, axis=dims, keepdims=keepdim))
    if needs_grad(x):
        return record(AmaxBackward0 if is_max else AminBackward0, out, (x,), {"self": x},
                      output_saved=("result",), dim=dims, keepdim=keepdim)
    return _make(out)


def amax(x: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    return _amax(x, dim, keepdim, True)


def amin(x: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    return _amax(x, dim, keepdim, False)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    d = x._data
    if dim is None:
        return _make(np.asarray(np.argmax(d), dtype=np.int64))
    return _make(np.asarray(np.argmax(d, axis=_wrap_dim(dim, d.ndim), keepdims=keepdim),
                            dtype=np.int64))


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    d = x._data
    if dim is None:
        return _make(np.asarray(np.argmin(d), dtype=np.int64))
    return _make(np.asarray(np.argmin(d, axis=_wrap_dim(dim, d.ndim), keepdims=keepdim),
                            dtype=np.int64))


def _softmax_np(d: np.ndarray, ax: int) -> np.ndarray:
    m = np.max(d, axis=ax, keepdims=True)
    e = np.exp(d - m)
    return e / np.sum(e, axis=ax, keepdims=True)


def softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (SoftmaxBackward0)."""
    d = x._data if dtype is None else x._data.astype(_dtype.as_dtype(dtype).np)
    ax = _wrap_dim(dim, d.ndim)
    out = _c(_softmax_np(d, ax)) if d.ndim else np.ones_like(d)
    if needs_grad(x):
        return record(SoftmaxBackward0, np.asarray(out), (x,), output_saved=("result",), dim=ax)
    return _make(np.asarray(out))


def log_softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """log(softmax(x)) computed stably along ``dim`` (LogSoftmaxBackward0)."""
    d = x._data if dtype is None else x._data.astype(_dtype.as_dtype(dtype).np)
    ax = _wrap_dim(dim, d.ndim)
    if d.ndim:
        m = np.max(d, axis=ax, keepdims=True)
        sh = d - m
        out = _c(sh - np.log(np.sum(np.exp(sh), axis=ax, keepdims=True)))
    else:
        out = np.zeros_like(d)
    if needs_grad(x):
        return record(LogSoftmaxBackward0, np.asarray(out), (x,), output_saved=("result",),
                      dim=ax)
    return _make(np.asarray(out))


def norm(x: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
    """The 2-norm of all elements (NormBackward1); other norms are not implemented."""
    if p not in ("fro", 2, 2.0) or dim is not None:
        raise NotImplementedError("torch.norm (engine) supports the 2-norm over all elements only")
    d = x._data
    out = np.asarray(np.sqrt(np.sum(d * d)), dtype=d.dtype)
    if needs_grad(x):
        return record(NormBackward1, out, (x,), {"self": x}, output_saved=("result",))
    return _make(out)
