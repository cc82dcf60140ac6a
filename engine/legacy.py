"""Spellings older tutorials use: ``FloatTensor([1, 2])``, ``isinstance(x, LongTensor)``,
``torch.Tensor(2, 3)``, ``autograd.Variable`` and the deprecated ``torch.range``."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

from engine import _dtype
from engine.device import check_device
from engine.tensor import Size, Tensor, _make, _up, tensor

__all__ = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor",
           "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor", "Variable", "range_",
           "legacy_new", "RANGE_WARNING"]

RANGE_WARNING = (
    "torch.range is deprecated and will be removed in a future release because its behavior is "
    "inconsistent with Python's range builtin. Instead, use torch.arange, which produces values "
    "in [start, end).")

_SIGNATURES = (" * (*, torch.device device = None)\n"
               "{kw} * (torch.Storage storage)\n"
               " * (Tensor other)\n"
               " * (tuple of ints size, *, torch.device device = None)\n"
               " * (object data, *, torch.device device = None)\n")


def _options(dt: _dtype.dtype) -> str:
    name = {"float32": "float", "float64": "double", "int64": "long int", "int32": "int",
            "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
            "float16": "c10::Half", "bool": "bool"}[dt.name]
    return (f"TensorOptions(dtype={name}, device=cpu, layout=Strided, requires_grad=false "
            "(default), pinned_memory=false (default), memory_format=(nullopt))")


def legacy_new(dt: _dtype.dtype, args: tuple, kwargs: dict) -> Tensor:
    """torch's legacy constructor ``torch.<Type>Tensor(*args)``: sizes, data or a tensor."""
    bad = [k for k in kwargs if k != "device"]
    if bad:
        got = ", ".join([type(a).__name__ for a in args]
                        + [f"{k}={_kwtype(v)}" for k, v in kwargs.items()])
        kw = (f"      didn't match because some of the keywords were incorrect: "
              f"{', '.join(bad)}\n")
        raise TypeError(f"new() received an invalid combination of arguments - got ({got}), "
                        f"but expected one of:\n" + _SIGNATURES.format(kw=kw))
    if "device" in kwargs:
        check_device(kwargs["device"])
    if not args:
        return _make(np.zeros((0,), dt.np))
    if len(args) == 1 and isinstance(args[0], Tensor):
        other = args[0]
        if other._data.dtype != dt.np:
            raise TypeError(f"expected {_options(dt)} (got {_options(other.dtype)})")
        return _make(other._data, version=other._version)
    if len(args) == 1 and isinstance(args[0], Size):
        args = tuple(args[0])
    if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args):
        return _make(np.zeros(tuple(int(a) for a in args), dt.np))
    if len(args) == 1:
        data = args[0]
        if isinstance(data, str):
            raise TypeError("new(): invalid data type 'str'")
        return tensor(np.asarray(data).astype(dt.np) if isinstance(data, np.ndarray) else data,
                      dtype=dt)
    raise TypeError(f"new() received an invalid combination of arguments - got "
                    f"({', '.join(type(a).__name__ for a in args)}), but expected one of:\n"
                    + _SIGNATURES.format(kw=""))


def _kwtype(v: Any) -> str:
    if isinstance(v, _dtype.dtype):
        return "torch.dtype"
    return type(v).__name__


class _LegacyType(type):
    """``FloatTensor(...)`` builds a float32 tensor; ``isinstance(t, FloatTensor)`` checks dtype."""

    dtype: _dtype.dtype

    def __call__(cls, *args: Any, **kwargs: Any) -> Tensor:
        return legacy_new(cls.dtype, args, kwargs)

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, Tensor) and obj._data.dtype == cls.dtype.np

    def __repr__(cls) -> str:
        return f"<class '{Tensor.__module__.split('.')[0]}.{cls.__name__}'>"  # as Tensor prints


def _legacy(dt: _dtype.dtype) -> type:
    return _LegacyType(dt._tensor_type, (), {"dtype": dt, "__module__": "engine",
                                              "__doc__": f"Legacy constructor of {dt.name} "
                                                         "tensors."})


FloatTensor = _legacy(_dtype.float32)
DoubleTensor = _legacy(_dtype.float64)
HalfTensor = _legacy(_dtype.float16)
LongTensor = _legacy(_dtype.int64)
IntTensor = _legacy(_dtype.int32)
ShortTensor = _legacy(_dtype.int16)
CharTensor = _legacy(_dtype.int8)
ByteTensor = _legacy(_dtype.uint8)
BoolTensor = _legacy(_dtype.bool_)
BY_NAME = {c.__name__: c for c in (FloatTensor, DoubleTensor, HalfTensor, LongTensor, IntTensor,
                                    ShortTensor, CharTensor, ByteTensor, BoolTensor)}


def type_target(t: Any) -> _dtype.dtype | None:
    """The dtype ``Tensor.type(t)`` converts to: a dtype, a legacy class or its name."""
    if isinstance(t, _LegacyType):
        return t.dtype
    if isinstance(t, str):
        mod, _, name = t.rpartition(".")
        if mod in ("torch", "engine") and name in BY_NAME:
            return BY_NAME[name].dtype
        raise ValueError(f"invalid type: '{t}'")
    return None


def Variable(data: Any, requires_grad: bool = False, volatile: bool = False) -> Tensor:  # noqa: N802
    """``autograd.Variable(t)``: a new leaf sharing ``t``'s storage (``t`` itself is left as it
    was), requiring grad when asked."""
    if not isinstance(data, Tensor):
        raise TypeError("Variable data has to be a tensor, but got "
                        f"{type(data).__name__}")
    out = data.detach()
    if requires_grad:
        out.requires_grad_(True)
    return out


def range_(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None,
           requires_grad: bool = False, **kwargs: Any) -> Tensor:
    """The deprecated ``torch.range``: like arange but includes ``end``; default float dtype."""
    if end is None:
        raise TypeError('range() missing 1 required positional arguments: "end"')
    warnings.warn(RANGE_WARNING, UserWarning, stacklevel=2)
    if "device" in kwargs:
        check_device(kwargs["device"])
    dt = _dtype.as_dtype(dtype) if dtype is not None else _dtype.default_float
    n = int(np.floor((end - start) / step)) + 1
    data = (start + np.arange(max(n, 0)) * step).astype(dt.np)
    out = _make(data)
    if requires_grad:
        out.requires_grad_(True)
    return out

_up.legacy_new, _up.type_target = legacy_new, type_target  # Tensor(...), .type (tensor._up)
