"""Helpers shared by the ops: operand unwrapping, dtype promotion, torch's shape errors."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import _dtype
from engine.tensor import Tensor, _raise

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
        from engine.tensor import _make
        return _make(x)
    return x


def _init() -> None:
    global _state
    from engine import grad_mode
    _state = grad_mode._state


_init()
