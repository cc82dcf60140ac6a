"""dtypes with PyTorch's names, each backed by a numpy dtype, and torch's type promotion."""

from __future__ import annotations

import builtins

import numpy as np

__all__ = ["dtype", "as_dtype", "result_type", "default_float"]


class dtype:
    """A tensor element type, named and printed as in PyTorch (``torch.float32``)."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_tensor_type",
                 "_category")

    def __init__(self, name: str, np_dtype: np.dtype, tensor_type: str, category: int) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.is_signed = self.np.kind in "fi"
        self.itemsize = self.np.itemsize
        self._tensor_type = tensor_type
        self._category = category  # 0 bool, 1 integer, 2 floating point

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self) -> str:
        return self.name


dtype.__module__ = "torch"  # <class 'torch.dtype'>

float16 = dtype("float16", np.float16, "HalfTensor", 2)
float32 = dtype("float32", np.float32, "FloatTensor", 2)
float64 = dtype("float64", np.float64, "DoubleTensor", 2)
uint8 = dtype("uint8", np.uint8, "ByteTensor", 1)
int8 = dtype("int8", np.int8, "CharTensor", 1)
int16 = dtype("int16", np.int16, "ShortTensor", 1)
int32 = dtype("int32", np.int32, "IntTensor", 1)
int64 = dtype("int64", np.int64, "LongTensor", 1)
bool_ = dtype("bool", np.bool_, "BoolTensor", 0)

ALL = (float16, float32, float64, uint8, int8, int16, int32, int64, bool_)
_BY_NP = {d.np: d for d in ALL}
ALIASES = {"half": float16, "float": float32, "double": float64, "short": int16, "int": int32,
           "long": int64, "bool": bool_}
default_float = float32


def as_dtype(d: object) -> dtype:
    """Return the engine dtype for an engine dtype, a numpy dtype or a Python type."""
    if isinstance(d, dtype):
        return d
    if d is builtins.float:
        return default_float
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    try:
        return _BY_NP[np.dtype(d)]
    except (KeyError, TypeError):
        raise TypeError(f"unsupported dtype: {d!r}") from None


def from_numpy_dtype(d: np.dtype) -> dtype:
    """The engine dtype of a numpy array's dtype."""
    try:
        return _BY_NP[d]
    except KeyError:
        raise TypeError(
            f"can't convert np.ndarray of type {d}. The only supported types are: float64, "
            "float32, float16, int64, int32, int16, int8, uint8, and bool.") from None


def _promote(a: np.dtype | None, b: np.dtype | None) -> np.dtype | None:
    if a is None:
        return b
    if b is None or a == b:
        return a
    if (a.kind == "f") != (b.kind == "f"):  # torch: a float beats any integer or bool type
        return a if a.kind == "f" else b
    return np.promote_types(a, b)


def _category(d: np.dtype | None) -> int:
    if d is None:
        return -1
    return 2 if d.kind == "f" else 0 if d.kind == "b" else 1


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    # torch's combine_categories (c10/core/ScalarType + TensorIterator's result_type)
    if higher is not None and higher.kind == "f":
        return higher
    if higher is not None and (higher.kind == "b" or _category(lower) == 2):
        return _promote(higher, lower)
    if higher is not None and _category(lower) <= _category(higher):
        return higher
    if higher is not None:
        return _promote(higher, lower)
    return lower


def result_type(*operands: object) -> np.dtype:
    """torch.result_type: dimensioned tensors outrank 0-dim tensors, which outrank Python numbers,
    unless a lower tier holds a higher category (bool < integer < floating point)."""
    dim = zero = wrapped = None
    for op in operands:
        data = getattr(op, "_data", None)
        if data is not None:
            if data.ndim:
                dim = _promote(dim, data.dtype)
            else:
                zero = _promote(zero, data.dtype)
        elif isinstance(op, np.ndarray):
            dim = _promote(dim, op.dtype)
        elif isinstance(op, (bool, np.bool_)):
            wrapped = _promote(wrapped, np.dtype(np.bool_))
        elif isinstance(op, (int, np.integer)):
            wrapped = _promote(wrapped, np.dtype(np.int64))
        else:
            wrapped = _promote(wrapped, default_float.np)
    return _combine(dim, _combine(zero, wrapped))
