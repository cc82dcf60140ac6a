"""Attach torch's operators and methods to Tensor (kept apart so tensor.py stays readable)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import _sampling
from engine._rule import Rule
from engine.function import Node, record
from engine.ops import linalg, pointwise, reduce, shape
from engine.ops._common import needs_grad
from engine.ops.pointwise import _check_inplace, _grad_owner_changed, _ip, inplace
from engine.tensor import Tensor, _make


class ZeroBackward0(Node):
    rule = Rule("zero_() overwrote the values: nothing flows back to the old ones.",
                ("grad_self = 0 * grad",),
                "d(0)/dx = 0")
    def backward(self, g, s, xp):
        return (g * 0,)


class FillBackward2(ZeroBackward0):
    """fill_(number)."""
    rule = Rule("fill_(number) overwrote the values with a constant: no gradient flows back.",
                ("grad_self = 0 * grad",),
                "d(c)/dx = 0")


class FillBackward3(Node):
    """fill_(0-dim tensor): the value gets the summed gradient."""
    rule = Rule("fill_(0-dim tensor): the old values get nothing, the fill value gets the "
                "gradient of every element it filled, summed.",
                ("grad_self = 0 * grad",
                 "grad_value = sum(grad)"))

    def backward(self, g, s, xp):
        return g * 0, xp.sum(g)


class CopyBackwards(Node):
    rule = Rule("copy_(src) replaced the values: the old values get nothing, src gets the "
                "gradient (summed to its shape).",
                ("grad_self = 0 * grad",
                 "grad_src = grad"))
    def backward(self, g, s, xp):
        return g * 0, g

    def name(self) -> str:
        return "torch::autograd::CopyBackwards"


def _zero_op(t: Tensor) -> Tensor:
    out = np.zeros_like(t._data)
    return record(ZeroBackward0, out, (t,)) if needs_grad(t) else _make(out)


def _fill_op(t: Tensor, value: Any) -> Tensor:
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value._data.ndim} dimensions.")
        out = np.full_like(t._data, value._data)
        return record(FillBackward3, out, (t, value)) if needs_grad(t, value) else _make(out)
    out = np.full_like(t._data, value)
    return record(FillBackward2, out, (t,)) if needs_grad(t) else _make(out)


def _copy_op(t: Tensor, src: Any) -> Tensor:
    s = src._data if isinstance(src, Tensor) else np.asarray(src)
    out = np.broadcast_to(s, t._data.shape).astype(t._data.dtype, copy=True)
    return record(CopyBackwards, out, (t, src)) if needs_grad(t, src) else _make(out)


def zero_(self: Tensor) -> Tensor:
    """Fill with zeros in place (the training loop's ``weights.grad.zero_()``)."""
    inplace(self, _zero_op)
    _grad_owner_changed(self, "zero_")
    return self


def fill_(self: Tensor, value: Any) -> Tensor:
    inplace(self, _fill_op, value)
    _grad_owner_changed(self, "fill_")
    return self


def copy_(self: Tensor, src: Any) -> Tensor:
    inplace(self, _copy_op, src)
    return self


def with_no_grad_write(t: Tensor, values: np.ndarray) -> None:
    _check_inplace(t)
    t._data[...] = values
    t._version[0] += 1


def _max(self: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    return reduce.max(self, dim, keepdim)


def _min(self: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    return reduce.min(self, dim, keepdim)


def _expand_as(self: Tensor, other: Tensor) -> Tensor:
    return shape.expand(self, other.shape)


def _view_as(self: Tensor, other: Tensor) -> Tensor:
    return shape.view(self, other.shape)


def _masked_fill(self: Tensor, mask: Tensor, value: Any) -> Tensor:
    return pointwise.where(mask, value, self)


def _nonum(fn: Any) -> Any:
    def method(self: Tensor, *args: Any) -> Tensor:
        return _make(np.asarray(fn(self._data, *[a._data if isinstance(a, Tensor) else a
                                                  for a in args])))
    return method


METHODS: dict[str, Any] = {
    # arithmetic
    "add": lambda self, other, alpha=1: pointwise.add(self, other, alpha=alpha),
    "sub": lambda self, other, alpha=1: pointwise.sub(self, other, alpha=alpha),
    "subtract": lambda self, other, alpha=1: pointwise.sub(self, other, alpha=alpha),
    "mul": pointwise.mul, "multiply": pointwise.mul,
    "div": pointwise.div, "divide": pointwise.div, "true_divide": pointwise.div,
    "pow": pointwise.pow, "neg": pointwise.neg, "negative": pointwise.neg,
    "reciprocal": pointwise.reciprocal,
    "exp": pointwise.exp, "log": pointwise.log, "sin": pointwise.sin, "cos": pointwise.cos,
    "tanh": pointwise.tanh, "sigmoid": pointwise.sigmoid, "relu": pointwise.relu,
    "abs": pointwise.abs, "sqrt": pointwise.sqrt, "square": pointwise.square,
    "maximum": pointwise.maximum, "minimum": pointwise.minimum,
    "clamp": pointwise.clamp, "clip": pointwise.clamp, "clamp_min": pointwise.clamp_min,
    "clamp_max": pointwise.clamp_max, "clone": pointwise.clone,
    "masked_fill": _masked_fill,
    "sign": _nonum(np.sign), "floor": _nonum(np.floor), "ceil": _nonum(np.ceil),
    "round": _nonum(np.round), "isnan": _nonum(np.isnan), "isinf": _nonum(np.isinf),
    "isfinite": _nonum(np.isfinite), "logical_not": _nonum(np.logical_not),
    "eq": lambda self, o: pointwise.compare(self, o, "eq"),
    "ne": lambda self, o: pointwise.compare(self, o, "ne"),
    "lt": lambda self, o: pointwise.compare(self, o, "lt"),
    "le": lambda self, o: pointwise.compare(self, o, "le"),
    "gt": lambda self, o: pointwise.compare(self, o, "gt"),
    "ge": lambda self, o: pointwise.compare(self, o, "ge"),
    "equal": lambda self, o: bool(self._data.shape == o._data.shape
                                  and np.array_equal(self._data, o._data)),
    "allclose": lambda self, o, rtol=1e-05, atol=1e-08, equal_nan=False: bool(
        np.allclose(self._data, o._data, rtol=rtol, atol=atol, equal_nan=equal_nan)),
    # reductions
    "sum": reduce.sum, "mean": reduce.mean, "max": _max, "min": _min, "amax": reduce.amax,
    "amin": reduce.amin, "argmax": reduce.argmax, "argmin": reduce.argmin,
    "softmax": reduce.softmax, "log_softmax": reduce.log_softmax, "norm": reduce.norm,
    # shape
    "reshape": shape.reshape, "view": shape.view, "view_as": _view_as,
    "flatten": shape.flatten, "t": shape.t, "permute": shape.permute,
    "transpose": shape.transpose, "swapaxes": shape.transpose, "unsqueeze": shape.unsqueeze,
    "squeeze": shape.squeeze, "expand": shape.expand, "expand_as": _expand_as,
    "__getitem__": shape.getitem, "__setitem__": shape.setitem,
    # linear algebra
    "matmul": linalg.matmul, "mm": linalg.mm, "mv": linalg.mv, "dot": linalg.dot,
    "outer": linalg.outer,
    # in place
    "zero_": zero_, "fill_": fill_, "copy_": copy_,
    "add_": _ip(lambda t, o, alpha=1: pointwise.add(t, o, alpha=alpha), "add_"),
    "sub_": _ip(lambda t, o, alpha=1: pointwise.sub(t, o, alpha=alpha), "sub_"),
    "mul_": _ip(pointwise.mul, "mul_"), "div_": _ip(pointwise.div, "div_"),
    "pow_": _ip(pointwise.pow, "pow_"), "neg_": _ip(pointwise.neg, "neg_"),
    "exp_": _ip(pointwise.exp, "exp_"), "log_": _ip(pointwise.log, "log_"),
    "sqrt_": _ip(pointwise.sqrt, "sqrt_"), "relu_": _ip(pointwise.relu, "relu_"),
    "tanh_": _ip(pointwise.tanh, "tanh_"), "sigmoid_": _ip(pointwise.sigmoid, "sigmoid_"),
    "clamp_": _ip(pointwise.clamp, "clamp_"), "clamp_min_": _ip(pointwise.clamp_min,
                                                                "clamp_min_"),
    "abs_": _ip(pointwise.abs, "abs_"), "square_": _ip(pointwise.square, "square_"),
}
METHODS.update(_sampling.METHODS)  # normal_, uniform_, bernoulli_, random_, multinomial...

OPERATORS: dict[str, Any] = {
    "__add__": pointwise.add,
    "__radd__": pointwise.add,
    "__sub__": pointwise.sub,
    "__rsub__": pointwise.rsub,
    "__mul__": pointwise.mul,
    "__rmul__": pointwise.mul,
    "__truediv__": pointwise.div,
    "__rtruediv__": pointwise.rdiv,
    "__pow__": pointwise.pow,
    "__rpow__": pointwise.rpow,
    "__matmul__": linalg.matmul,
    "__rmatmul__": lambda self, o: linalg.matmul(o, self),
    "__neg__": pointwise.neg,
    "__pos__": lambda self: self,
    "__abs__": pointwise.abs,
    "__eq__": lambda self, o: pointwise.compare(self, o, "eq"),
    "__ne__": lambda self, o: pointwise.compare(self, o, "ne"),
    "__lt__": lambda self, o: pointwise.compare(self, o, "lt"),
    "__le__": lambda self, o: pointwise.compare(self, o, "le"),
    "__gt__": lambda self, o: pointwise.compare(self, o, "gt"),
    "__ge__": lambda self, o: pointwise.compare(self, o, "ge"),
    "__and__": lambda self, o: pointwise.compare(self, o, "logical_and"),
    "__or__": lambda self, o: pointwise.compare(self, o, "logical_or"),
    "__xor__": lambda self, o: pointwise.compare(self, o, "logical_xor"),
    "__invert__": lambda self: _make(np.asarray(~self._data)),
    "__floordiv__": lambda self, o: pointwise.div(self, o, rounding_mode="floor"),
    "__mod__": lambda self, o: _make(np.asarray(np.mod(self._data, o._data if isinstance(
        o, Tensor) else o))),
    "__iadd__": METHODS["add_"],
    "__isub__": METHODS["sub_"],
    "__imul__": METHODS["mul_"],
    "__itruediv__": METHODS["div_"],
}


def bind() -> None:
    """Install METHODS and OPERATORS on Tensor, plus the ``T`` and ``mT`` properties."""
    for name, fn in {**METHODS, **OPERATORS}.items():
        setattr(Tensor, name, fn)
    Tensor.__hash__ = lambda self: id(self)
    Tensor.T = property(lambda self: shape.permute(self, tuple(range(self._data.ndim))[::-1]),
                        doc="All dims reversed (PermuteBackward0).")
    Tensor.mT = property(lambda self: shape.transpose(self, -2, -1),
                         doc="The last two dims swapped.")
