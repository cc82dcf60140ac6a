"""Tensor factories with torch's names: randn, zeros, ones, arange, linspace, *_like, ..."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import _dtype
from engine._generator import Generator, default_generator
from engine._sampling import (
    _finish,
    _size,
    normal,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
)
from engine._sampling import _float_np as _float_dtype
from engine.device import check_device
from engine.ops._fma import arange as _torch_arange
from engine.ops._fma import linspace as _torch_linspace
from engine.random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from engine.tensor import Tensor, _make, _up, tensor

__all__ = ["zeros", "ones", "full", "empty", "randn", "rand", "randint", "arange", "linspace",
           "eye", "zeros_like", "ones_like", "full_like", "empty_like", "randn_like",
           "rand_like", "from_numpy", "manual_seed", "initial_seed", "as_tensor", "normal",
           "seed", "get_rng_state", "set_rng_state", "Generator", "default_generator", "randperm",
           "randint_like"]



def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False, **_: Any) -> Tensor:
    return _finish(np.zeros(_size(size), _float_dtype(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False, **_: Any) -> Tensor:
    return _finish(np.ones(_size(size), _float_dtype(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False, **_: Any) -> Tensor:
    return _finish(np.zeros(_size(size), _float_dtype(dtype)), requires_grad)


def full(size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False,
         **_: Any) -> Tensor:
    if dtype is None:
        dt = (np.bool_ if isinstance(fill_value, bool) else
              np.int64 if isinstance(fill_value, int) else _dtype.default_float.np)
    else:
        dt = _dtype.as_dtype(dtype).np
    return _finish(np.full(_size((size,)), fill_value, dtype=dt), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _finish(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None,
           requires_grad: bool = False, **_: Any) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is not None:
        dt = _dtype.as_dtype(dtype).np
    elif all(isinstance(v, (int, np.integer)) for v in (start, end, step)):
        dt = np.int64
    else:
        dt = _dtype.default_float.np
    if np.dtype(dt).kind == "f":
        n = len(np.arange(start, end, step))
        return _finish(_torch_arange(start, step, n, dt), requires_grad)
    return _finish(np.arange(start, end, step).astype(dt), requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None,
             requires_grad: bool = False, **_: Any) -> Tensor:
    return _finish(_torch_linspace(start, end, steps, _float_dtype(dtype)), requires_grad)


def _like(t: Tensor, dtype: Any) -> np.dtype:
    return _dtype.as_dtype(dtype).np if dtype is not None else t._data.dtype


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, **_: Any) -> Tensor:
    return _finish(np.zeros(t._data.shape, _like(t, dtype)), requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, **_: Any) -> Tensor:
    return _finish(np.ones(t._data.shape, _like(t, dtype)), requires_grad)


def empty_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, **_: Any) -> Tensor:
    return _finish(np.zeros(t._data.shape, _like(t, dtype)), requires_grad)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False,
              **_: Any) -> Tensor:
    return _finish(np.full(t._data.shape, fill_value, _like(t, dtype)), requires_grad)


def from_numpy(a: np.ndarray) -> Tensor:
    """A tensor sharing memory with the numpy array ``a``."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    _dtype.from_numpy_dtype(a.dtype)
    return _make(a)


def as_tensor(data: Any, dtype: Any = None, **_: Any) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or data.dtype == _dtype.as_dtype(dtype)):
        return data
    if isinstance(data, np.ndarray) and dtype is None:
        return from_numpy(data)
    return tensor(data, dtype=dtype)


# ----------------------------------------------------------------------------- keywords
# torch's factories take ``device=`` (only cpu here) and ``size=`` as a keyword as well as
# positionally (``torch.rand(size=(2, 3))``); one wrapper handles both for every factory, so
# how values are made (or drawn) stays in the functions above.
_STAR_SIZE = ("zeros", "ones", "empty", "randn", "rand")
_DEVICE_ONLY = ("full", "eye", "randint", "normal", "arange", "linspace", "zeros_like",
                "ones_like", "empty_like", "full_like", "randn_like", "rand_like", "as_tensor")


def _with_keywords(fn: Any, star_size: bool) -> Any:
    import functools


    @functools.wraps(fn)
    def factory(*args: Any, **kwargs: Any) -> Tensor:
        if "device" in kwargs:
            check_device(kwargs.pop("device"))
        kwargs.pop("pin_memory", None)
        kwargs.pop("layout", None)
        if star_size and "size" in kwargs:
            if args:
                raise TypeError(f"{fn.__name__}() received an invalid combination of arguments "
                                "- got both positional sizes and size=")
            args = (kwargs.pop("size"),)
        return fn(*args, **kwargs)

    factory.__wrapped_factory__ = fn  # type: ignore[attr-defined]
    return factory


for _name in _STAR_SIZE + _DEVICE_ONLY:
    _fn = globals().get(_name)
    if _fn is not None and not hasattr(_fn, "__wrapped_factory__"):
        globals()[_name] = _with_keywords(_fn, _name in _STAR_SIZE)
del _name, _fn

_up.zeros, _up.ones = zeros, ones  # Tensor.new_zeros, .new_ones (engine.tensor._up)
