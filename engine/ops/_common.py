"""Helpers shared by the ops: operand unwrapping, dtype promotion, torch's shape errors."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from engine import _dtype, grad_mode
from engine.tensor import Tensor, _make, _raise

_state = None  # set below to grad_mode._state


def arr(x: Any) -> Any:
    """The array behind a tensor; numbers stay numbers."""
    return x._data if isinstance(x, Tensor) else x


def needs_grad(*xs: Any) -> bool:
    """True when an op on ``xs`` must be recorded (grad mode on and some input requires grad)."""
    if not _state.enabled:
        return False
    for x in xs:
        if isinstance(x, Tensor) and x._requires_grad:
            return True
    return False


def check_operand(x: Any, opname: str) -> None:
    if not isinstance(x, (Tensor, int, float, bool, np.ndarray, np.generic)):
        raise TypeError(f"{opname}(): argument 'other' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")


def broadcast_error(a_shape: tuple, b_shape: tuple, opname: str, a: Any = None) -> RuntimeError:
    """torch's message for shapes that do not broadcast (it names the last mismatching dim)."""
    n = max(len(a_shape), len(b_shape))
    msg = None
    for i in range(n - 1, -1, -1):
        off = n - 1 - i
        da = len(a_shape) - 1 - off
        db = len(b_shape) - 1 - off
        sa = a_shape[da] if da >= 0 else 1
        sb = b_shape[db] if db >= 0 else 1
        if sa != sb and sa != 1 and sb != 1:
            msg = (f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) at "
                   f"non-singleton dimension {i}")
            break
    exc = RuntimeError(msg or f"shapes {a_shape} and {b_shape} do not broadcast")
    annotate(exc, opname, a_shape, b_shape)
    return exc


def annotate(exc: BaseException, opname: str, *shapes: tuple) -> None:
    """Attach the op and the operand shapes to an error (torch's text stays the message)."""
    exc.op = opname  # type: ignore[attr-defined]
    exc.shapes = shapes  # type: ignore[attr-defined]
    if hasattr(exc, "add_note"):
        exc.add_note(f"in {opname}: operand shapes "
                     + " and ".join(str(tuple(s)) for s in shapes))


def fail(exc: BaseException, tensor: Any = None) -> None:
    _raise(exc, tensor=tensor)


def promote(a: Any, b: Any) -> np.dtype | None:
    """The dtype torch would give ``a op b`` when numpy could disagree, else None (fast path)."""
    if isinstance(a, Tensor):
        da = a._data.dtype
        if isinstance(b, Tensor):
            db = b._data.dtype
            if da == db:
                return None
            return _dtype.result_type(a, b)
        if da.kind == "f" and isinstance(b, (float, int)):
            return None
        return _dtype.result_type(a, b)
    return _dtype.result_type(a, b)


def as_tensor_operand(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return _make(x)
    return x


def _init() -> None:
    global _state
    _state = grad_mode._state


_init()


# ----------------------------------------------------------------------------- memory layout
# torch's elementwise ops and reductions give their output the memory layout of their inputs
# (TensorIterator's reorder_dimensions), and whether a later reshape is a view, an alias or a
# copy depends on it; numpy decides differently when inputs disagree, so outputs are re-laid.
def _elem_strides(a: np.ndarray, shape: tuple) -> tuple:
    """``a``'s strides in elements once broadcast to ``shape`` (0 on broadcast dims)."""
    lead = len(shape) - a.ndim
    st = [0] * lead
    for i, (n, s) in enumerate(zip(a.shape, a.strides)):
        st.append(0 if (n == 1 and shape[lead + i] != 1) else s // a.itemsize)
    return tuple(st)


def torch_perm(shape: tuple, operands: list) -> list:
    """The dims of ``shape`` from fastest- to slowest-moving, as torch's TensorIterator orders
    them for these operands (first operand that tells two dims apart decides)."""
    strides = [_elem_strides(a, shape) for a in operands]
    ndim = len(shape)
    perm = list(range(ndim - 1, -1, -1))

    def should_swap(d0: int, d1: int) -> int:
        for st in strides:
            s0, s1 = st[d0], st[d1]
            if s0 == 0 or s1 == 0:
                continue
            if s0 < s1:
                return -1
            if s0 > s1:
                return 1
            if shape[d0] > shape[d1]:
                return 1
        return 0

    for i in range(1, ndim):
        d1 = i
        for d0 in range(i - 1, -1, -1):
            c = should_swap(perm[d0], perm[d1])
            if c > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
            elif c < 0:
                break
    return perm


def with_layout(out: np.ndarray, perm: list) -> np.ndarray:
    """``out``'s values in an array whose dims are laid out in memory as ``perm`` says."""
    order = perm[::-1]  # slowest first
    if all(order[i] < order[i + 1] for i in range(len(order) - 1)):
        return out if out.flags.c_contiguous else np.ascontiguousarray(out)
    inv = [0] * len(order)
    for i, d in enumerate(order):
        inv[d] = i
    buf = np.empty(tuple(out.shape[d] for d in order), dtype=out.dtype)
    res = buf.transpose(inv)
    if res.strides == out.strides:
        return out
    res[...] = out
    return res


def torch_layout(out: np.ndarray, *operands: Any) -> np.ndarray:
    """Give an elementwise op's result the layout torch would (contiguous inputs: contiguous)."""
    arrays = [a for a in operands if isinstance(a, np.ndarray) and a.ndim]
    if out.ndim < 2 or all(a.flags.c_contiguous for a in arrays):
        return out if out.flags.c_contiguous else np.ascontiguousarray(out)
    return with_layout(out, torch_perm(out.shape, arrays))


def numpy_aliases(fn: Any) -> Any:
    """Accept ``axis`` for ``dim`` and ``keepdims`` for ``keepdim``, as torch does."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            if "axis" in kwargs:
                if "dim" in kwargs:
                    raise TypeError(f"{fn.__name__}() received an invalid combination of "
                                    "arguments - got both dim and axis")
                kwargs["dim"] = kwargs.pop("axis")
            if "keepdims" in kwargs:
                kwargs["keepdim"] = kwargs.pop("keepdims")
        return fn(*args, **kwargs)
    wrapper.__numpy_aliases__ = True  # type: ignore[attr-defined]
    return wrapper
