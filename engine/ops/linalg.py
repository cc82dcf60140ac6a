"""Matrix products: mm, mv, dot, matmul, addmm (torch's names and shape errors)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.function import Node, record
from engine.ops._common import annotate, needs_grad, promote
from engine.tensor import Tensor, _make, _raise

__all__ = ["mm", "mv", "dot", "matmul", "addmm", "outer"]


class MmBackward0(Node):
    def backward(self, g, s, xp):
        ga = xp.mm(g, xp.t(s["mat2"])) if "mat2" in s else None
        gb = xp.mm(xp.t(s["self"]), g) if "self" in s else None
        return ga, gb


class MvBackward0(Node):
    def backward(self, g, s, xp):
        ga = xp.outer(g, s["vec"]) if "vec" in s else None
        gb = xp.mv(xp.t(s["self"]), g) if "self" in s else None
        return ga, gb


class DotBackward0(Node):
    def backward(self, g, s, xp):
        ga = g * s["tensor"] if "tensor" in s else None
        gb = g * s["self"] if "self" in s else None
        return ga, gb


class AddmmBackward0(Node):
    def backward(self, g, s, xp):
        gb = g if self.next_functions[0][0] is not None else None
        g1 = xp.mm(g, xp.t(s["mat2"])) if "mat2" in s else None
        g2 = xp.mm(xp.t(s["mat1"]), g) if "mat1" in s else None
        return gb, g1, g2


class BmmBackward0(Node):
    def backward(self, g, s, xp):
        a, b = s["self"], s["mat2"]
        ga = xp.matmul(g, xp.transpose(b, -1, -2)) if "mat2" in s else None
        gb = xp.matmul(xp.transpose(a, -1, -2), g) if "self" in s else None
        return ga, gb


def _saved2(a: Tensor, b: Tensor, na: str, nb: str) -> dict:
    saved = {}
    if a._requires_grad:
        saved[nb] = b
    if b._requires_grad:
        saved[na] = a
    return saved


def _dtype_check(a: Tensor, b: Tensor, op: str) -> None:
    if a._data.dtype != b._data.dtype:
        _raise(RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                            f"{a.dtype.name.capitalize() if False else _tn(a)} != {_tn(b)}"),
               tensor=a)


def _tn(t: Tensor) -> str:
    return {"float32": "float", "float64": "double", "int64": "long int",
            "int32": "int"}.get(t.dtype.name, t.dtype.name)


def mm(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors (MmBackward0)."""
    da, db = a._data, b._data
    if da.ndim != 2:
        _raise(RuntimeError("self must be a matrix"), tensor=a)
    if db.ndim != 2:
        _raise(RuntimeError("mat2 must be a matrix"), tensor=b)
    if da.shape[1] != db.shape[0]:
        e = RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({da.shape[0]}x{da.shape[1]}"
                         f" and {db.shape[0]}x{db.shape[1]})")
        annotate(e, "mm", da.shape, db.shape)
        _raise(e, tensor=a)
    _dtype_check(a, b, "mm")
    out = da @ db
    if needs_grad(a, b):
        return record(MmBackward0, out, (a, b), _saved2(a, b, "self", "mat2"))
    return _make(out)


def mv(a: Tensor, v: Tensor) -> Tensor:
    """Matrix-vector product (MvBackward0)."""
    da, dv = a._data, v._data
    if da.ndim != 2 or dv.ndim != 1 or da.shape[1] != dv.shape[0]:
        e = RuntimeError(f"size mismatch, got input ({da.shape[0] if da.ndim else 0}), mat "
                         f"({'x'.join(map(str, da.shape))}), vec ({dv.shape[0] if dv.ndim else 0})")
        annotate(e, "mv", da.shape, dv.shape)
        _raise(e, tensor=a)
    _dtype_check(a, v, "mv")
    out = da @ dv
    if needs_grad(a, v):
        return record(MvBackward0, out, (a, v), _saved2(a, v, "self", "vec"))
    return _make(out)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Inner product of two 1-D tensors (DotBackward0)."""
    da, db = a._data, b._data
    if da.ndim != 1 or db.ndim != 1:
        _raise(RuntimeError(f"1D tensors expected, but got {da.ndim}D and {db.ndim}D tensors"),
               tensor=a)
    if da.shape[0] != db.shape[0]:
        e = RuntimeError(f"inconsistent tensor size, expected tensor [{da.shape[0]}] and src "
                         f"[{db.shape[0]}] to have the same number of elements, but got "
                         f"{da.shape[0]} and {db.shape[0]} elements respectively")
        annotate(e, "dot", da.shape, db.shape)
        _raise(e, tensor=a)
    _dtype_check(a, b, "dot")
    out = np.asarray(np.dot(da, db))
    if needs_grad(a, b):
        return record(DotBackward0, out, (a, b), _saved2(a, b, "self", "tensor"))
    return _make(out)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """torch.matmul: dot, mv or mm by the operands' dims; batched products otherwise."""
    if not isinstance(b, Tensor):
        raise TypeError(f"matmul(): argument 'other' (position 2) must be Tensor, not "
                        f"{type(b).__name__}")
    na, nb = a._data.ndim, b._data.ndim
    if na == 0 or nb == 0:
        _raise(RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                            f"{na}D and {nb}D"), tensor=a)
    if na == 1 and nb == 1:
        return dot(a, b)
    if na == 2 and nb == 1:
        return mv(a, b)
    if na == 2 and nb == 2:
        return mm(a, b)
    if na == 1 and nb == 2:
        from engine.ops.shape import squeeze, unsqueeze
        return squeeze(mm(unsqueeze(a, 0), b), 0)
    da, db = a._data, b._data
    try:
        out = np.matmul(da, db)
    except ValueError:
        e = RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                         f"[{da.shape[0]}, {da.shape[-1]}] but got: "
                         f"[{db.shape[0]}, {db.shape[-2] if nb > 1 else db.shape[0]}].")
        annotate(e, "matmul", da.shape, db.shape)
        _raise(e, tensor=a)
    dt = promote(a, b)
    if dt is not None:
        out = out.astype(dt)
    if needs_grad(a, b):
        return record(BmmBackward0, out, (a, b), _saved2(a, b, "self", "mat2"))
    return _make(out)


def addmm(bias: Tensor, m1: Tensor, m2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """bias + m1 @ m2 in one node (AddmmBackward0), as nn.Linear records it."""
    d1, d2 = m1._data, m2._data
    if d1.ndim != 2 or d2.ndim != 2 or d1.shape[1] != d2.shape[0]:
        e = RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({'x'.join(map(str, d1.shape))}"
                         f" and {'x'.join(map(str, d2.shape))})")
        annotate(e, "addmm", d1.shape, d2.shape)
        _raise(e, tensor=m1)
    out = np.asarray(bias._data + d1 @ d2)
    if needs_grad(bias, m1, m2):
        saved = {}
        if m1._requires_grad:
            saved["mat2"] = m2
        if m2._requires_grad:
            saved["mat1"] = m1
        return record(AddmmBackward0, out, (bias, m1, m2), saved, alpha=alpha, beta=beta)
    return _make(out)


def outer(a: Tensor, b: Tensor) -> Tensor:
    """Outer product of two vectors (torch records MulBackward0 over unsqueezed operands)."""
    from engine.ops.pointwise import mul
    from engine.ops.shape import unsqueeze
    return mul(unsqueeze(a, 1), b)


