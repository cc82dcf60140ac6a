"""Parameter: a leaf tensor that a Module registers as one of its parameters (torch's name)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import _dtype
from engine._printing import format_tensor
from engine.tensor import Tensor, _make

__all__ = ["Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"]


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning it to a Module attribute registers it.

    ``Parameter(data)`` shares ``data``'s storage and requires grad by default; it prints as
    ``Parameter containing:\\ntensor(...)``. Results of operations on it are plain tensors.
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            arr = np.empty((0,), dtype=_dtype.default_float.np)
            version = None
        elif isinstance(data, Tensor):
            arr = data._data
            version = data._version
        else:
            raise TypeError(f"Parameter(): argument 'data' must be Tensor, not "
                            f"{type(data).__name__}")
        if requires_grad and arr.dtype.kind != "f":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients")
        return _make(arr, bool(requires_grad), None, version, cls=cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __repr__(self) -> str:
        return format_tensor(self._data, requires_grad=self._requires_grad,
                             prefix="Parameter containing:\ntensor(")

    __str__ = __repr__

    def __reduce_ex__(self, proto: Any) -> Any:
        return (Parameter, (_make(self._data.copy()), self._requires_grad))


class Buffer(Tensor):
    """Marks a tensor to register as a module buffer (``torch.nn.Buffer``)."""

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Tensor:
        if data is None:
            data = _make(np.empty((0,), dtype=_dtype.default_float.np))
        t = _make(data._data, data._requires_grad, None, data._version, cls=cls)
        t.persistent = persistent
        return t

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


_UNINIT = ("Can't access the shape of an uninitialized parameter or buffer. This error "
           "usually happens in `load_state_dict` when trying to load an uninitialized parameter "
           "into an initialized one. Call `forward` to initialize the parameters before "
           "accessing their attributes.")


class _Uninitialized:
    """A lazy module's parameter before its first forward: no shape yet, prints its class."""

    cls_to_become: type = Tensor

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    __str__ = __repr__

    @property
    def shape(self) -> Any:
        raise RuntimeError(_UNINIT)

    def size(self, dim: Any = None) -> Any:
        raise RuntimeError(_UNINIT)

    def numel(self) -> int:
        raise RuntimeError(_UNINIT)

    def dim(self) -> int:
        raise RuntimeError(_UNINIT)

    def materialize(self, shape: Any, device: Any = None, dtype: Any = None) -> None:
        """Give the parameter its shape (uninitialised values) and make it a plain one."""
        shape = tuple(shape) if not isinstance(shape, int) else (shape,)
        dt = self._data.dtype if dtype is None else _dtype.as_dtype(dtype).np
        self._data = np.empty(shape, dtype=dt)
        self._version[0] += 1
        self.__class__ = self.cls_to_become


class UninitializedParameter(_Uninitialized, Parameter):
    """``nn.parameter.UninitializedParameter``: what ``nn.LazyLinear`` holds before its first
    call (``materialize(shape)`` turns it into a Parameter)."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device: Any = None,
                dtype: Any = None) -> UninitializedParameter:
        dt = _dtype.default_float.np if dtype is None else _dtype.as_dtype(dtype).np
        return _make(np.empty((0,), dtype=dt), bool(requires_grad), None, None, cls=cls)


class UninitializedBuffer(_Uninitialized, Tensor):
    """``nn.parameter.UninitializedBuffer``: a lazy module's buffer before its first call."""

    def __new__(cls, requires_grad: bool = False, device: Any = None,
                dtype: Any = None, persistent: bool = True) -> UninitializedBuffer:
        dt = _dtype.default_float.np if dtype is None else _dtype.as_dtype(dtype).np
        return _make(np.empty((0,), dtype=dt), bool(requires_grad), None, None, cls=cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


Parameter.__module__ = "torch.nn.parameter"  # <class 'torch.nn.parameter.Parameter'>
UninitializedParameter.__module__ = UninitializedBuffer.__module__ = "torch.nn.parameter"
Buffer.__module__ = "torch.nn.parameter"
