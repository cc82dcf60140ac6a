"""Matrix products: mm, mv, dot, matmul, addmm (torch's names and shape errors)."""

from __future__ import annotations

import numpy as np

from engine._rule import Rule
from engine.function import Node, record
from engine.ops import _fma
from engine.ops._common import annotate, broadcast_error, needs_grad
from engine.ops.pointwise import mul
from engine.ops.shape import expand, reshape, squeeze, transpose, unsafe_view, unsqueeze
from engine.ops.shape import t as _t
from engine.tensor import Tensor, _make, _raise

__all__ = ["mm", "mv", "dot", "bmm", "matmul", "addmm", "outer"]


class MmBackward0(Node):
    rule = Rule("Matrix product A @ B: grad @ Bᵀ for A, Aᵀ @ grad for B.",
                ("grad_self = grad @ T(mat2)",
                 "grad_mat2 = T(self) @ grad"),
                "∂(AB)/∂A: G·Bᵀ,  ∂(AB)/∂B: Aᵀ·G")
    def backward(self, g, s, xp):
        ga = xp.mm(g, xp.t(s["mat2"])) if "mat2" in s else None
        gb = xp.mm(xp.t(s["self"]), g) if "self" in s else None
        return ga, gb


class MvBackward0(Node):
    rule = Rule("Matrix-vector product A @ v: the outer product of grad and v for A, Aᵀ @ grad "
                "for v.",
                ("grad_self = outer(grad, vec)",
                 "grad_vec = T(self) @ grad"),
                "∂(Av)/∂A: g·vᵀ,  ∂(Av)/∂v: Aᵀ·g")
    def backward(self, g, s, xp):
        ga = xp.outer(g, s["vec"]) if "vec" in s else None
        gb = xp.mv(xp.t(s["self"]), g) if "self" in s else None
        return ga, gb


class DotBackward0(Node):
    rule = Rule("Dot product: each vector gets the (scalar) gradient times the other.",
                ("grad_self = grad * tensor",
                 "grad_tensor = grad * self"),
                "∂(a·b)/∂a = b,  ∂(a·b)/∂b = a")
    def backward(self, g, s, xp):
        ga = g * s["tensor"] if "tensor" in s else None
        gb = g * s["self"] if "self" in s else None
        return ga, gb


class AddmmBackward0(Node):
    rule = Rule("beta·bias + alpha·(mat1 @ mat2) (a linear layer): the bias gets beta times "
                "the gradient, summed over the batch; the matrices get the matmul rule times "
                "alpha.",
                ("grad_self = beta * grad",
                 "grad_mat1 = alpha * grad @ T(mat2)",
                 "grad_mat2 = alpha * T(mat1) @ grad"),
                "∂/∂b = β·Σ G,  ∂/∂X = α·G·Wᵀ,  ∂/∂W = α·Xᵀ·G")
    alpha = 1
    beta = 1

    def backward(self, g, s, xp):
        alpha, beta = self.alpha, self.beta
        gb = (g if beta == 1 else g * beta) if self.next_functions[0][0] is not None else None
        ga = g if alpha == 1 else g * alpha
        g1 = xp.mm(ga, xp.t(s["mat2"])) if "mat2" in s else None
        g2 = xp.mm(xp.t(s["mat1"]), ga) if "mat1" in s else None
        return gb, g1, g2


class BmmBackward0(Node):
    rule = Rule("Batched matrix product: the matmul rule per batch.",
                ("grad_self = grad @ mT(mat2)",
                 "grad_mat2 = mT(self) @ grad"),
                "∂(AB)/∂A: G·Bᵀ,  ∂(AB)/∂B: Aᵀ·G")
    def backward(self, g, s, xp):
        ga = xp.matmul(g, xp.transpose(s["mat2"], -1, -2)) if "mat2" in s else None
        gb = xp.matmul(xp.transpose(s["self"], -1, -2), g) if "self" in s else None
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
    out = _fma.mm(da, db)
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
    out = _fma.mv(da, dv)
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


class SqueezeBackward4(Node):
    rule = Rule("A size-1 dim was removed: put it back.",
                ("grad_self = unsqueeze(grad, dim)",))
    def backward(self, g, s, xp):
        return (xp.unsqueeze(g, self.dim),)


def _prod(shape: tuple) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _should_fold(a: Tensor, b: Tensor) -> bool:
    """torch's should_fold: fold the bigger operand into a matrix and use mm / mv."""
    a_larger = a._data.ndim >= b._data.ndim
    t1 = a._data if a_larger else np.swapaxes(b._data, -1, -2)
    dim_t2 = b._data.ndim if a_larger else a._data.ndim
    if not (t1.ndim >= 3 and dim_t2 <= 2):
        return False
    if (b if a_larger else a)._requires_grad:
        return True
    if a._data.ndim == 2:
        return False
    if t1.size == 0:
        return True
    st = [x // t1.itemsize for x in t1.strides]
    return all(st[i] == st[i + 1] * t1.shape[i + 1] for i in range(t1.ndim - 2))


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix product of two 3-D tensors (BmmBackward0)."""
    da, db = a._data, b._data
    if da.ndim != 3:
        _raise(RuntimeError("batch1 must be a 3D tensor"), tensor=a)
    if db.ndim != 3:
        _raise(RuntimeError("batch2 must be a 3D tensor"), tensor=b)
    if db.shape[0] != da.shape[0] or db.shape[1] != da.shape[2]:
        e = RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                         f"[{da.shape[0]}, {da.shape[2]}] but got: [{db.shape[0]}, "
                         f"{db.shape[1]}].")
        annotate(e, "bmm", da.shape, db.shape)
        _raise(e, tensor=a)
    _dtype_check(a, b, "bmm")
    out = _fma.bmm(da, db)
    if needs_grad(a, b):
        return record(BmmBackward0, out, (a, b), _saved2(a, b, "self", "mat2"))
    return _make(out)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """torch.matmul, decomposed exactly as torch does it: dot, mv, mm; a bigger operand folded
    into a matrix for mm / mv; otherwise expanded batches through bmm."""
    if not isinstance(b, Tensor):
        raise TypeError(f"matmul(): argument 'other' (position 1) must be Tensor, not "
                        f"{type(b).__name__}")
    na, nb = a._data.ndim, b._data.ndim
    if na == 0 or nb == 0:
        _raise(RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                            f"{na}D and {nb}D"), tensor=a)
    if na == 1 and nb == 1:
        return dot(a, b)
    if na == 2 and nb == 1:
        return mv(a, b)
    if na == 1 and nb == 2:
        # torch: a.unsqueeze(0).mm(b).squeeze_(0)
        m = mm(unsqueeze(a, 0), b)
        out = np.squeeze(m._data, 0)
        if m.grad_fn is None:
            return _make(out)
        res = record(SqueezeBackward4, out, (m,), dim=0)
        res._version[0] = 1
        return res
    if na == 2 and nb == 2:
        return mm(a, b)
    if na == 3 and nb == 3 and a._data.shape[0] != b._data.shape[0]:
        # torch 2.13 drops a batch of one and folds the other operand into a matrix
        if a._data.shape[0] == 1:
            return matmul(squeeze(a, 0), b)
        if b._data.shape[0] == 1:
            return matmul(a, squeeze(b, 0))
    if _should_fold(a, b):
        swap = nb > na
        t1 = transpose(b, -1, -2) if swap else a
        if not swap:
            t2 = b
        elif na == 2:
            t2 = _t(a)
        else:
            t2 = a
        sizes1 = tuple(t1.shape)
        out_shape = sizes1[:-1]
        folded = _prod(out_shape)
        if t2._data.ndim == 2:
            out_shape = out_shape + (t2._data.shape[1],)
            t1f = reshape(t1, (folded, sizes1[-1]))
            out = unsafe_view(mm(t1f, t2), out_shape)
            return transpose(out, -1, -2).contiguous() if swap else out
        t1f = reshape(t1, (folded, sizes1[-1]))
        return unsafe_view(mv(t1f, t2), out_shape)
    sa, sb = a._data.shape, b._data.shape
    n = sa[-2] if na > 1 else 1
    m1 = sa[-1]
    batch_a = sa[:-2] if na > 1 else ()
    m2 = sb[-2] if nb > 1 else sb[0]
    p = sb[-1] if nb > 1 else 1
    batch_b = sb[:-2] if nb > 2 else ()
    try:
        out_batch = tuple(np.broadcast_shapes(batch_a, batch_b))
    except ValueError:
        exc = broadcast_error(batch_a, batch_b, "matmul")
        _raise(exc, tensor=a)
    nbatch = _prod(out_batch)
    a_exp = reshape(expand(a, out_batch + (n, m1)), (nbatch, n, m1))
    if nb == 1:
        b_exp = unsqueeze(reshape(expand(b, out_batch + (m2,)), (nbatch, m2)), 2)
    else:
        b_exp = reshape(expand(b, out_batch + (m2, p)), (nbatch, m2, p))
    out_shape = out_batch + ((n,) if na > 1 else ()) + ((p,) if nb > 1 else ())
    r = bmm(a_exp, b_exp)
    if nb == 1:
        r = squeeze(r, -1)
    return unsafe_view(r, out_shape)


def addmm(bias: Tensor, m1: Tensor, m2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """bias + m1 @ m2 in one node (AddmmBackward0), as nn.Linear records it."""
    d1, d2 = m1._data, m2._data
    if d1.ndim != 2 or d2.ndim != 2 or d1.shape[1] != d2.shape[0]:
        e = RuntimeError("mat1 and mat2 shapes cannot be multiplied "
                         f"({'x'.join(map(str, d1.shape))} and {'x'.join(map(str, d2.shape))})")
        annotate(e, "addmm", d1.shape, d2.shape)
        _raise(e, tensor=m1)
    b = bias._data if isinstance(bias, Tensor) else np.asarray(bias)
    if alpha == 1 and beta == 1 and b.dtype == d1.dtype == d2.dtype == np.float32:
        prod = out = np.asarray(_fma.addmm(b, d1, d2))  # accumulated into C as sgemm does
    else:
        prod = _fma.mm(d1, d2)
        if alpha != 1:
            prod = prod * alpha
        if beta == 0:
            out = np.asarray(np.broadcast_to(np.zeros((), prod.dtype), prod.shape) + prod)
        else:
            out = np.asarray((b if beta == 1 else b * beta) + prod)
    if out.dtype != prod.dtype and prod.dtype.kind == "f":
        out = out.astype(prod.dtype)
    if needs_grad(bias, m1, m2):
        saved = {}
        if m1._requires_grad:
            saved["mat2"] = m2
        if m2._requires_grad:
            saved["mat1"] = m1
        params = {}
        if alpha != 1:
            params["alpha"] = alpha
        if beta != 1:
            params["beta"] = beta
        return record(AddmmBackward0, out, (bias, m1, m2), saved, **params)
    return _make(out)


def outer(a: Tensor, b: Tensor) -> Tensor:
    """Outer product of two vectors (torch records MulBackward0 over unsqueezed operands)."""
    return mul(unsqueeze(a, 1), b)


