"""PyTorch-identical tensor ``repr`` for numpy arrays.

A numpy port of ``torch/_tensor_str.py`` (torch 2.13) restricted to the default print
options (precision 4, threshold 1000, edgeitems 3, linewidth 80, automatic sci mode) and
to dense CPU tensors of real dtypes.  Like torch, floats are formatted as Python floats
(float16/float32 values are widened exactly to float64 first), so every digit matches.
"""

from __future__ import annotations

import math

import numpy as np

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80

_SUPPORTED_DTYPES = frozenset(
    {
        "float16",
        "float32",
        "float64",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "bool",
    }
)
# dtypes torch leaves out of the repr of a non-empty tensor (default float, int64, bool).
_IMPLICIT_DTYPES = frozenset({"float32", "int64", "bool"})
_DEFAULT_FLOAT = "float32"


class _Formatter:
    """Chooses one element width/style for a whole tensor, as ``torch._tensor_str._Formatter``."""

    def __init__(self, values: np.ndarray) -> None:
        self.floating_dtype = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1

        flat = values.reshape(-1)
        if not self.floating_dtype:
            for value in flat.tolist():
                self.max_width = max(self.max_width, len(f"{value}"))
            return

        nonzero_finite = flat[np.isfinite(flat) & (flat != 0)]
        if nonzero_finite.size == 0:
            return
        magnitudes = np.abs(nonzero_finite).astype(np.float64)
        lo, hi = float(magnitudes.min()), float(magnitudes.max())
        self.int_mode = bool(np.all(nonzero_finite == np.ceil(nonzero_finite)))
        self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4

        pyvals = nonzero_finite.tolist()
        if self.sci_mode:
            widths = (len(f"{v:.{PRECISION}e}") for v in pyvals)
        elif self.int_mode:
            widths = (len(f"{v:.0f}") + 1 for v in pyvals)  # +1 for the trailing "."
        else:
            widths = (len(f"{v:.{PRECISION}f}") for v in pyvals)
        self.max_width = max(self.max_width, *widths)

    def format(self, value: float | int | bool) -> str:
        """Format one Python scalar, right-aligned to the common width."""
        if self.floating_dtype:
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{PRECISION}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if math.isfinite(value):
                    ret += "."
            else:
                ret = f"{value:.{PRECISION}f}"
        else:
            ret = f"{value}"
        return (self.max_width - len(ret)) * " " + ret


def _summarized_data(data: np.ndarray) -> np.ndarray:
    """Keep only the elements a summarized print shows (edge items along every axis)."""
    for axis, size in enumerate(data.shape):
        if size > 2 * EDGEITEMS:
            keep = list(range(EDGEITEMS)) + list(range(size - EDGEITEMS, size))
            data = np.take(data, keep, axis=axis)
    return data


def _vector_str(data: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    element_length = fmt.max_width + 2  # includes ", "
    elements_per_line = max(1, (LINEWIDTH - indent) // element_length)
    if summarize and data.shape[0] > 2 * EDGEITEMS:
        items = (
            [fmt.format(v) for v in data[:EDGEITEMS].tolist()]
            + [" ..."]
            + [fmt.format(v) for v in data[-EDGEITEMS:].tolist()]
        )
    else:
        items = [fmt.format(v) for v in data.tolist()]
    lines = [
        ", ".join(items[i : i + elements_per_line]) for i in range(0, len(items), elements_per_line)
    ]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str_with_formatter(
    data: np.ndarray, indent: int, summarize: bool, fmt: _Formatter
) -> str:
    dim = data.ndim
    if dim == 0:
        return fmt.format(data.item())
    if dim == 1:
        return _vector_str(data, indent, summarize, fmt)
    size = data.shape[0]
    if summarize and size > 2 * EDGEITEMS:
        head = [
            _tensor_str_with_formatter(data[i], indent + 1, summarize, fmt)
            for i in range(EDGEITEMS)
        ]
        tail = [
            _tensor_str_with_formatter(data[i], indent + 1, summarize, fmt)
            for i in range(size - EDGEITEMS, size)
        ]
        slices = head + ["..."] + tail
    else:
        slices = [
            _tensor_str_with_formatter(data[i], indent + 1, summarize, fmt) for i in range(size)
        ]
    return "[" + ("," + "\n" * (dim - 1) + " " * (indent + 1)).join(slices) + "]"


def _tensor_str(data: np.ndarray, indent: int) -> str:
    if data.size == 0:
        return "[]"
    summarize = data.size > THRESHOLD
    fmt = _Formatter(_summarized_data(data) if summarize else data)
    return _tensor_str_with_formatter(data, indent, summarize, fmt)


def _add_suffixes(tensor_str: str, suffixes: list[tuple[str, int]], indent: int) -> str:
    """Append ``(text, layout_length)`` suffixes, wrapping like torch at LINEWIDTH."""
    parts = [tensor_str]
    # torch's arithmetic: this is the last line's length + 2 (also without any newline).
    last_line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    for suffix, suffix_len in suffixes:
        if last_line_len + suffix_len + 2 > LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + suffix_len
        else:
            parts.append(", " + suffix)
            last_line_len += suffix_len + 2
    parts.append(")")
    return "".join(parts)


def format_tensor(
    data: np.ndarray,
    *,
    requires_grad: bool = False,
    grad_fn: str | None = None,
    prefix: str = "tensor(",
    dtype_prefix: str = "torch.",
) -> str:
    """torch's repr of a tensor holding `data` (float16/32/64, int8..int64, uint8, bool).

    uint16/32/64 are accepted too.  `grad_fn` is the backward node's class name (e.g.
    ``"MulBackward0"``); when given it is printed instead of ``requires_grad=True``.
    `prefix` may span lines (e.g. ``"Parameter containing:\\ntensor("``); wrapped lines are
    indented by the length of its last line.  The dtype suffix reads
    ``dtype=<dtype_prefix><name>``; line breaks between suffixes fall exactly where torch
    puts them (as if it read ``dtype=torch.<name>``).
    """
    data = np.asarray(data)
    dtype_name = data.dtype.name
    if dtype_name not in _SUPPORTED_DTYPES:
        raise TypeError(f"format_tensor: unsupported dtype {data.dtype}")
    indent = len(prefix.rsplit("\n", 1)[-1])
    # Lines wrap where torch's would: the dtype suffix is laid out with torch's length.
    dtype_suffix = (f"dtype={dtype_prefix}{dtype_name}", len(f"dtype=torch.{dtype_name}"))

    suffixes: list[tuple[str, int]] = []
    if data.size == 0:
        # Shape is printed unless 1-D; dtype is printed unless the default float dtype.
        if data.ndim != 1:
            size = f"size={tuple(int(s) for s in data.shape)}"
            suffixes.append((size, len(size)))
        if dtype_name != _DEFAULT_FLOAT:
            suffixes.append(dtype_suffix)
        tensor_str = "[]"
    else:
        if dtype_name not in _IMPLICIT_DTYPES:
            suffixes.append(dtype_suffix)
        tensor_str = _tensor_str(data, indent)

    if grad_fn is not None:
        grad_suffix = f"grad_fn=<{grad_fn}>"
        suffixes.append((grad_suffix, len(grad_suffix)))
    elif requires_grad:
        suffixes.append(("requires_grad=True", len("requires_grad=True")))

    return _add_suffixes(prefix + tensor_str, suffixes, indent)
