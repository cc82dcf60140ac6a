"""Parameter: a leaf tensor that a Module registers as one of its parameters (torch's name)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import _dtype
from engine.tensor import Tensor, _make

__all__ = ["Parameter", "Buffer"]


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
        from engine._printing import format_tensor
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


Parameter.__module__ = "torch.nn.parameter"  # <class 'torch.nn.parameter.Parameter'>
Buffer.__module__ = "torch.nn.parameter"
