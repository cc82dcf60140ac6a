"""How gradviz writes values and shapes in small places (no Qt, no engine): one family.

Each formatter names where it is used; the windows and the graph builder import them from
here instead of keeping a copy each (issue 14)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradviz.views import torch_values

__all__ = ["clip", "short_repr", "shape_text", "size_text", "values_text", "short_values",
           "repr_preview", "compact_values", "number_text", "label_number", "label_values",
           "value_summary", "MAX_LABEL_VALUES", "MAX_DETAIL_VALUES"]

MAX_LABEL_VALUES = 6    # values written into a graph node's label (more: none)
MAX_DETAIL_VALUES = 24  # values written into a graph node's hover text (more: cut)


# ----------------------------------------------------------------------------- text
def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when cut. Used by every
    preview below, the event log's lines and the inspector's attribute values."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def short_repr(v: Any, limit: int = 60) -> str:
    """``repr(v)`` cut at ``limit`` characters (a broken repr gives ``<TypeName>``): the
    inspector's attribute values (60) and the event log's generic fields (40)."""
    try:
        s = repr(v)
    except Exception:  # noqa: BLE001 - a broken repr is still shown
        s = f"<{type(v).__name__}>"
    return clip(s, limit)


# ----------------------------------------------------------------------------- shapes
def _dims(x: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in getattr(x, "shape", x))


def shape_text(x: Any) -> str:
    """A shape as a Python tuple, ``(2, 3)``, ``(3,)``, ``()``, from a tensor or a shape;
    ``(?)`` when there is none. The tensors table's shape column and the graph's labels."""
    try:
        dims = _dims(x)
    except Exception:  # noqa: BLE001 - no shape to read
        return "(?)"
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def size_text(x: Any) -> str:
    """A shape as torch prints ``t.shape``, ``torch.Size([2, 3])``, from a tensor or a shape:
    the inspector's shape rows."""
    return f"torch.Size([{', '.join(map(str, _dims(x)))}])"


# ----------------------------------------------------------------------------- values, 4 digits
def _array_line(a: np.ndarray, limit: int) -> str:
    if a.ndim == 0:
        return f"{a.reshape(-1)[0].item():.4g}"
    flat = a.reshape(-1)
    vals = ", ".join(f"{float(v):.4g}" for v in flat[:limit])
    more = ", …" if flat.size > limit else ""
    return f"[{vals}{more}]" if a.ndim == 1 else f"{list(a.shape)} [{vals}{more}]"


def values_text(t: Any, limit: int = 4) -> str:
    """A tensor's values in a line: ``[0.6667, 0.6667, 0.6667]`` (the first ``limit``),
    ``[2, 3] [0.1, 0.2, 0.3, 0.4, …]`` for a matrix, a number for a scalar, the text itself
    for anything else, ``None`` for None. The inspector's substituted backward rules."""
    if t is None:
        return "None"
    data = t if isinstance(t, (np.ndarray, np.generic)) else None
    if data is None and hasattr(t, "numpy"):
        try:
            data = t.numpy(force=True)
        except Exception:  # noqa: BLE001 - a view of a freed value
            data = None
    if data is None:
        if isinstance(t, (int, float, bool)):
            return repr(t)
        return str(t)
    return _array_line(np.asarray(data), limit)


def short_values(t: Any, limit: int = 4) -> str:
    """A small gradient in a few characters, for an edge label or a step note:
    ``[0.33, 0.33, 0.33]``, ``1``, ``[2, 3] [0.1, 0.2, 0.3, 0.4, …]``; ``""`` for None.
    The stepper's edge labels, the window's walk labels, the training panel's backward notes."""
    if t is None:
        return ""
    return _array_line(np.asarray(t.numpy() if hasattr(t, "numpy") else t), limit)


def repr_preview(value: Any, limit: int = 48) -> str:
    """A one-line preview of a tensor's values as torch prints them (the kernel's repr: the
    window formats no tensor itself), cut at ``limit`` characters; other values as text.
    The tensors table's ``.grad`` column and its tooltips."""
    if value is None:
        return "None"
    text = torch_values(repr(value)) if hasattr(value, "grad_fn") else str(value)
    return clip(" ".join(text.split()), limit)


# --------------------------------------------------------------- values, torch's style
def _flat_floats(x: Any, out: list[float], cap: int) -> None:
    if len(out) >= cap:
        return
    if isinstance(x, (list, tuple)):
        for item in x:
            _flat_floats(item, out, cap)
    elif isinstance(x, float):
        out.append(x)


def _float_style(sample: list[float]) -> str:
    finite = [abs(f) for f in sample if f == f and f not in (float("inf"), float("-inf"))]
    if all(f.is_integer() for f in finite) and all(f < 1e8 for f in finite):
        return "int"
    nonzero = [f for f in finite if f]
    if nonzero and (max(nonzero) >= 1e8 or min(nonzero) < 1e-4):
        return "sci"
    return "fixed"


def _num(x: float, style: str) -> str:
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if style == "int":
        return f"{int(x)}."
    return f"{x:.4e}" if style == "sci" else f"{x:.4f}"


def compact_values(value: Any, limit: int = 48) -> str:
    """Values from an event (numbers or nested lists) in torch's style, e.g.
    ``[1.0000, 0.3333]``, cut at ``limit`` characters; fast enough for tens of thousands of
    events. The event log's lines."""
    tv = type(value)
    if tv is float:
        return _num(value, _float_style([value]))
    if tv is list and value and type(value[0]) is float:  # the common 1-D case, fast
        head = value[:limit // 3 + 1]
        if all(type(x) is float for x in head):
            style = _float_style(head)
            text = "[" + ", ".join([_num(x, style) for x in head]) + "]"
            return text if len(text) <= limit and len(head) == len(value) else \
                text[:limit - 1] + "…"
    sample: list[float] = []
    _flat_floats(value, sample, limit)
    style = _float_style(sample)
    parts: list[str] = []
    size = 0

    def walk(x: Any) -> bool:  # False once the limit is reached
        nonlocal size
        if size > limit:
            return False
        if isinstance(x, (list, tuple)):
            parts.append("[")
            size += 1
            for i, item in enumerate(x):
                if i:
                    parts.append(", ")
                    size += 2
                if not walk(item):
                    return False
            parts.append("]")
            size += 1
            return True
        text = _num(x, style) if isinstance(x, float) else str(x)
        parts.append(text)
        size += len(text)
        return True

    walk(value)
    return clip("".join(parts), limit)


# ----------------------------------------------------------------------------- single numbers
def number_text(v: float | None) -> str:
    """One number in at most ~9 characters: ``0.3333``, ``1.20e-05``, ``0``; ``–`` for a
    missing or NaN value. The training panel's readouts and step notes."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-2 <= a < 1e5:
        return f"{v:.4g}"
    return f"{v:.2e}"


def label_number(v: Any) -> str:
    """One value in a graph label, 3 digits and a short exponent: ``0.333``, ``1e-5``,
    ``True``, ``7``. The graph's node labels and hover text."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = float(v)
    if f == 0:
        return "0"
    s = f"{f:.3g}"
    return s.replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")


def label_values(a: Any, max_items: int = MAX_LABEL_VALUES) -> list[str]:
    """A small array for a graph node's label: one line per matrix row, ``[]`` when too
    large (``gradviz.graph.format_values``)."""
    arr = np.asarray(a)
    if arr.ndim == 0:
        return [label_number(arr.item())]
    if arr.size > max_items:
        return []
    if arr.ndim == 2 and arr.shape[0] > 1 and arr.shape[1] > 1:
        return ["[" + ", ".join(label_number(v) for v in row) + "]" for row in arr]
    return ["[" + ", ".join(label_number(v) for v in arr.ravel()) + "]"]


def value_summary(arr: np.ndarray, max_items: int = MAX_DETAIL_VALUES) -> str:
    """An array for a graph node's hover text: the first ``max_items`` values, then min, max
    and mean when cut."""
    if arr.ndim == 0:
        return label_number(arr.item())
    flat = arr.ravel()
    s = "[" + ", ".join(label_number(v) for v in flat[:max_items]) + (
        ", …" if flat.size > max_items else "") + "]"
    if flat.size > max_items and np.issubdtype(arr.dtype, np.number):
        s += (f"\n    min {label_number(flat.min())}  max {label_number(flat.max())}  "
              f"mean {label_number(flat.mean())}")
    return s
