"""Installs the wider tensor API on Tensor and the engine namespace: the ops of
``engine.ops.extra`` and ``engine.linalg`` as methods, numpy-style keyword aliases (``axis=``,
``keepdims=``), ``out=`` on the common functions, bitwise operators and ``format()``."""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

from engine import grad_mode, linalg
from engine._dtype import from_numpy_dtype
from engine._methods import _ip
from engine.ops import extra
from engine.ops._common import numpy_aliases
from engine.ops.pointwise import compare
from engine.tensor import Tensor

#: reductions that take ``dim`` / ``keepdim``, so also numpy's ``axis`` / ``keepdims``
REDUCTIONS = ("sum", "mean", "std", "var", "prod", "max", "min", "amax", "amin", "argmax",
              "argmin", "norm", "cumsum", "cumprod", "softmax", "log_softmax", "all", "any",
              "logsumexp", "median", "std_mean", "var_mean", "nansum", "count_nonzero")
#: functions that take ``out=`` (the result is written into it)
OUT_FUNCTIONS = ("add", "sub", "mul", "div", "matmul", "mm", "mv", "bmm", "sum", "mean", "exp",
                 "log", "sqrt", "abs", "neg", "pow", "clamp", "maximum", "minimum", "sin",
                 "cos", "tanh", "sigmoid", "cat", "stack", "ceil", "floor", "round", "trunc",
                 "sign", "cumsum", "cumprod", "prod", "atan2", "asin", "acos", "atan", "sinh",
                 "cosh", "log1p", "expm1", "addmm", "where", "dot", "subtract", "multiply",
                 "divide", "true_divide", "remainder", "std", "var", "amax", "amin", "square",
                 "reciprocal", "frac", "cross", "bitwise_and", "bitwise_or", "bitwise_xor",
                 "logical_and", "logical_or", "logical_xor", "logical_not", "outer", "eq", "ne",
                 "lt", "le", "gt", "ge", "clip", "concat", "concatenate", "fix", "arange",
                 "linspace", "zeros", "ones", "randn", "rand", "full", "inverse", "det")

_NEW_METHODS = ("ceil", "floor", "round", "trunc", "fix", "frac", "asin", "acos", "atan",
                "arcsin", "arccos", "arctan", "atan2", "arctan2", "sinh", "cosh", "log1p",
                "expm1", "sign", "prod", "std", "var", "cumsum", "cumprod", "unique", "cross",
                "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "logical_and",
                "logical_or", "logical_xor", "logical_not", "trace")
_INPLACE = ("ceil", "floor", "round", "trunc", "frac", "sign", "asin", "acos", "atan", "sinh",
            "cosh", "log1p", "expm1", "cumsum", "cumprod")


def _any_requires_grad(args: Any) -> bool:
    for a in args:
        if isinstance(a, Tensor) and a._requires_grad:
            return True
        if isinstance(a, (list, tuple)) and _any_requires_grad(a):
            return True
    return False


def write_out(out: Tensor, res: Tensor) -> Tensor:
    """Copy ``res`` into ``out`` (resized as torch resizes, with its warning), version + 1."""
    d = out._data
    r = res._data
    if d.shape != r.shape:
        if d.size:
            warnings.warn(
                f"An output with one or more elements was resized since it had shape "
                f"[{', '.join(map(str, d.shape))}], which does not match the required output "
                f"shape [{', '.join(map(str, r.shape))}]. This behavior is deprecated, and in a "
                "future PyTorch release outputs will not be resized unless they have zero "
                "elements. You can explicitly reuse an out tensor t by resizing it, inplace, to "
                "zero elements with t.resize_(0).", UserWarning, stacklevel=3)
        out._data = np.array(r, dtype=d.dtype, copy=True)
    else:
        if r.dtype != d.dtype and not np.can_cast(r.dtype, d.dtype, "same_kind"):
            raise RuntimeError(f"result type {_cap(from_numpy_dtype(r.dtype).name)} can't be "
                               f"cast to the desired output type "
                               f"{_cap(from_numpy_dtype(d.dtype).name)}")
        d[...] = r
    out._version[0] += 1
    return out


def _cap(name: str) -> str:
    return {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
            "bool": "Bool", "float16": "Half", "uint8": "Byte"}.get(name, name.capitalize())


def with_out(fn: Any, name: str) -> Any:
    """``fn(..., out=t)``: compute, then write into ``t`` (refused when autograd would record)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = kwargs.pop("out", None)
        if out is None:
            return fn(*args, **kwargs)
        if grad_mode._state.enabled and (_any_requires_grad(args)
                                         or _any_requires_grad(kwargs.values())):
            raise RuntimeError(f"{name}(): functions with out=... arguments don't support "
                               "automatic differentiation, but one of the arguments requires "
                               "grad.")
        res = fn(*args, **kwargs)
        if isinstance(out, (tuple, list)) and isinstance(res, tuple):
            for o, r in zip(out, res):
                write_out(o, r)
            return out
        return write_out(out, res)
    wrapper.__with_out__ = True  # type: ignore[attr-defined]
    return wrapper


def _format(self: Tensor, spec: str) -> str:
    if self._data.ndim == 0 and type(self) is Tensor:
        return format(self._data.item(), spec)
    if spec:
        raise TypeError("unsupported format string passed to Tensor.__format__")
    return str(self)


def _bitwise_op(fn: Any) -> Any:
    def op(self: Tensor, other: Any) -> Tensor:
        return fn(self, other)
    return op


def _compare_fn(compare: Any, op: str) -> Any:
    def fn(input: Any, other: Any) -> Tensor:  # noqa: A002 - torch's name
        return compare(input, other, op)
    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op} as a bool tensor (torch.{op})."
    return fn


def _inplace_method(name: str) -> Any:
    return _ip(getattr(extra, name), name + "_")


def install(namespace: dict) -> None:
    """Bind the new methods on Tensor and the functions in ``namespace`` (engine's globals)."""
    for name in _NEW_METHODS:
        setattr(Tensor, name, getattr(extra, name))
        namespace[name] = getattr(extra, name)
    for name in _INPLACE:
        setattr(Tensor, name + "_", _inplace_method(name))
    for name in ("std_mean", "var_mean"):
        namespace[name] = getattr(extra, name)
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        namespace[op] = _compare_fn(compare, op)
    namespace.update(greater=namespace["gt"], greater_equal=namespace["ge"],
                     less=namespace["lt"], less_equal=namespace["le"],
                     not_equal=namespace["ne"])
    Tensor.norm = linalg.tensor_norm
    namespace["norm"] = linalg.tensor_norm
    namespace["inverse"] = linalg.inv
    namespace["det"] = linalg.det
    namespace["logdet"] = lambda a: linalg.slogdet(a)[1]
    namespace["slogdet"] = linalg.slogdet
    Tensor.inverse = linalg.inv
    Tensor.det = linalg.det
    Tensor.__and__ = Tensor.__rand__ = _bitwise_op(extra.bitwise_and)
    Tensor.__or__ = Tensor.__ror__ = _bitwise_op(extra.bitwise_or)
    Tensor.__xor__ = Tensor.__rxor__ = _bitwise_op(extra.bitwise_xor)
    Tensor.__invert__ = extra.bitwise_not
    Tensor.__format__ = _format
    for name in REDUCTIONS:
        m = getattr(Tensor, name, None)
        if m is not None and not hasattr(m, "__numpy_aliases__"):
            setattr(Tensor, name, numpy_aliases(m))
        f = namespace.get(name)
        if f is not None and callable(f) and not hasattr(f, "__numpy_aliases__"):
            namespace[name] = numpy_aliases(f)
    for name in OUT_FUNCTIONS:
        f = namespace.get(name)
        if f is not None and callable(f) and not hasattr(f, "__with_out__"):
            namespace[name] = with_out(f, name)
