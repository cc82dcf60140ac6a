"""torch.linalg basics: inv, det, slogdet, solve, norm / vector_norm / matrix_norm, svd, svdvals,
qr, cross (each differentiable one records torch's grad_fn name)."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from engine._rule import Rule
from engine.function import Node, record
from engine.ops._common import needs_grad
from engine.ops.extra import cross  # noqa: F401  (torch.linalg.cross)
from engine.ops.pointwise import abs as tabs
from engine.ops.reduce import amax, amin
from engine.ops.reduce import sum as tsum
from engine.ops.select import return_type
from engine.tensor import Tensor, _make, _raise, _wrap_dim

__all__ = ["inv", "det", "slogdet", "solve", "norm", "vector_norm", "matrix_norm", "svd",
           "svdvals", "qr", "cross", "inv_ex", "matrix_rank"]

_svd = return_type("linalg_svd", ("U", "S", "Vh"))  # print as torch.return_types.<name>
_qr = return_type("linalg_qr", ("Q", "R"))
_slogdet = return_type("linalg_slogdet", ("sign", "logabsdet"))
_inv_ex = return_type("linalg_inv_ex", ("inverse", "info"))


def _mT(a: Any, xp: Any) -> Any:
    return xp.transpose(a, -2, -1)


def _xp_inv(xp: Any, a: Any) -> Any:
    return np.linalg.inv(a) if isinstance(a, np.ndarray) else inv(a)


def _xp_solve(xp: Any, a: Any, b: Any) -> Any:
    return np.linalg.solve(a, b) if isinstance(a, np.ndarray) else solve(a, b)


class LinalgInvExBackward0(Node):
    rule = Rule("Matrix inverse: −A⁻ᵀ · grad · A⁻ᵀ (the inverse is saved).",
                ("grad_A = -mT(inverse) @ grad @ mT(inverse)",),
                "d(A⁻¹) = −A⁻¹ dA A⁻¹")
    def backward(self, g, s, xp):
        r = _mT(s["inverse"], xp)
        return (-xp.matmul(xp.matmul(r, g), r),)


class LinalgDetBackward0(Node):
    rule = Rule("Determinant: det(A) times the inverse transpose (Jacobi's formula).",
                ("grad_A = (grad * result)[..., None, None] * mT(inv(A))",),
                "∂ det A/∂A = det(A) A⁻ᵀ")
    def backward(self, g, s, xp):
        a = s["A"]
        det = s["result"]
        ginv = _mT(_xp_inv(xp, a), xp)
        return (xp.unsqueeze(xp.unsqueeze(g * det, -1), -1) * ginv,)


class LinalgSlogdetBackward0(Node):
    rule = Rule("log|det A|: the inverse transpose.",
                ("grad_A = grad[..., None, None] * mT(inv(A))",),
                "∂ log|det A|/∂A = A⁻ᵀ")
    def backward(self, g, s, xp):
        ginv = _mT(_xp_inv(xp, s["A"]), xp)
        return (xp.unsqueeze(xp.unsqueeze(g, -1), -1) * ginv,)


class LinalgSolveExBackward0(Node):
    rule = Rule("Solve A X = B: B gets A⁻ᵀ · grad, A gets minus that times Xᵀ.",
                ("solved = solve(mT(A), grad)",
                 "grad_A = -outer(solved, result) if ndim(result) == 1 else -solved @ mT(result)",
                 "grad_B = solved"),
                "∂/∂B = A⁻ᵀG,  ∂/∂A = −A⁻ᵀG Xᵀ")
    def backward(self, g, s, xp):
        a, x = s["A"], s["result"]
        vec = self._vector
        gb = _xp_solve(xp, _mT(a, xp), g)
        ga = None
        if self.next_functions[0][0] is not None:
            if vec:
                ga = -xp.unsqueeze(gb, -1) * xp.unsqueeze(x, -2)
            else:
                ga = -xp.matmul(gb, _mT(x, xp))
        return ga, (gb if self.next_functions[1][0] is not None else None)


class LinalgVectorNormBackward0(Node):
    rule = Rule("Vector norm ‖x‖ₚ: sign(x)·|x|ᵖ⁻¹/‖x‖ᵖ⁻¹ (x/‖x‖ for the 2-norm); the inf-norm "
                "shares the gradient between the largest |x|.",
                ("n = ndim(self)",
                 "g = keep(grad, dim, keepdim, n)",
                 "r = keep(result, dim, keepdim, n)",
                 "grad_self = g * sign(self) * (abs(self) == r) / sum(abs(self) == r, dim, "
                 "True) if ord in (inf, -inf) else 0 * g * self if ord == 0 else g * "
                 "sign(self) * abs(self)**(ord - 1) * where(r == 0, 0, r**(1 - ord))"),
                "d‖x‖₂/dx = x/‖x‖₂")
    def backward(self, g, s, xp):
        x, r = s["self"], s["result"]
        ord_ = self.ord
        if self.dim is not None and not self.keepdim:
            for d in self.dim:
                g = xp.unsqueeze(g, d)
                r = xp.unsqueeze(r, d)
        with np.errstate(all="ignore"):
            if ord_ == 2:
                return (x * xp.where(r == 0, 0.0, g / r),)
            if ord_ == 1:
                return (g * xp.sign(x),)
            if ord_ in (float("inf"), float("-inf")):
                mask = (x * xp.sign(x)) == r
                cnt = xp.sum(mask * 1.0, self.dim, True) if self.dim is not None else xp.sum(
                    mask * 1.0)
                return (g * xp.sign(x) * mask / cnt,)
            if ord_ == 0:
                return (g * 0 * x,)
            ax = x * xp.sign(x)
            return (g * xp.sign(x) * ax ** (ord_ - 1) * xp.where(r == 0, 0.0, r ** (1 - ord_)),)


def _square(a: Tensor, name: str) -> np.ndarray:
    d = a._data
    if d.ndim < 2:
        _raise(RuntimeError(f"linalg.{name}: The input tensor A must have at least 2 dimensions."),
               tensor=a)
    if d.shape[-1] != d.shape[-2]:
        _raise(RuntimeError(f"linalg.{name}: A must be batches of square matrices, but they are "
                            f"{d.shape[-2]} by {d.shape[-1]} matrices"), tensor=a)
    if d.dtype.kind != "f":
        _raise(RuntimeError(f"linalg.{name}: Expected a floating point or complex tensor as "
                            f"input. Got {a.dtype._tensor_type[:-6]}"), tensor=a)
    return d


def inv(a: Tensor, *, out: Any = None) -> Tensor:
    """The inverse matrix (LinalgInvExBackward0); singular input raises torch's error."""
    d = _square(a, "inv")
    try:
        r = np.asarray(np.linalg.inv(d), dtype=d.dtype)
    except np.linalg.LinAlgError:
        _raise(RuntimeError("linalg.inv: The diagonal element 2 is zero, the inversion could not "
                            "be completed because the input matrix is singular."), tensor=a)
    if needs_grad(a):
        return record(LinalgInvExBackward0, r, (a,), output_saved=("inverse",))
    return _make(r)


def inv_ex(a: Tensor, *, check_errors: bool = False) -> tuple:
    return _inv_ex(inv(a), _make(np.zeros(a._data.shape[:-2], np.int32)))


def det(a: Tensor) -> Tensor:
    """The determinant (LinalgDetBackward0)."""
    d = _square(a, "det")
    r = np.asarray(np.linalg.det(d), dtype=d.dtype)
    if needs_grad(a):
        return record(LinalgDetBackward0, r, (a,), {"A": a}, output_saved=("result",))
    return _make(r)


def slogdet(a: Tensor) -> tuple:
    """(sign, log|det|); log|det| is differentiable (LinalgSlogdetBackward0)."""
    d = _square(a, "slogdet")
    sign, logabs = np.linalg.slogdet(d)
    sign = _make(np.asarray(sign, dtype=d.dtype))
    logabs = np.asarray(logabs, dtype=d.dtype)
    if needs_grad(a):
        return _slogdet(sign, record(LinalgSlogdetBackward0, logabs, (a,), {"A": a}))
    return _slogdet(sign, _make(logabs))


def solve(a: Tensor, b: Tensor, *, left: bool = True) -> Tensor:
    """X with A X = B (LinalgSolveExBackward0); B may be a vector."""
    d = _square(a, "solve")
    bd = b._data
    vec = bd.ndim == 1 or (bd.ndim == d.ndim - 1 and bd.shape == d.shape[:-1])
    try:
        x = np.linalg.solve(d, bd[..., None])[..., 0] if vec else np.linalg.solve(d, bd)
    except np.linalg.LinAlgError:
        _raise(RuntimeError("torch.linalg.solve: The solver failed because the input matrix is "
                            "singular."), tensor=a)
    x = np.asarray(x, dtype=np.result_type(d, bd))
    if needs_grad(a, b):
        return record(LinalgSolveExBackward0, x, (a, b), {"A": a}, output_saved=("result",),
                      _vector=vec)
    return _make(x)


def _ord_value(ord_: Any) -> float:
    return float(ord_)


def vector_norm(x: Tensor, ord: Any = 2, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
                dtype: Any = None) -> Tensor:
    """The ``ord``-norm of the elements (over ``dim``) (LinalgVectorNormBackward0)."""
    d = x._data
    if d.dtype.kind != "f":
        _raise(RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as "
                            f"input. Got {x.dtype._tensor_type[:-6]}"), tensor=x)
    p = _ord_value(ord)
    dims = None
    if dim is not None:
        dims = tuple(sorted(_wrap_dim(i, d.ndim) for i in (dim if isinstance(dim, (list, tuple))
                                                           else (dim,))))
    a = np.abs(d)
    with np.errstate(all="ignore"):
        if p == float("inf"):
            r = np.max(a, axis=dims, keepdims=keepdim)
        elif p == float("-inf"):
            r = np.min(a, axis=dims, keepdims=keepdim)
        elif p == 0:
            r = np.sum(a != 0, axis=dims, keepdims=keepdim).astype(d.dtype)
        elif p == 1:
            r = np.sum(a, axis=dims, keepdims=keepdim)
        elif p == 2:
            r = np.sqrt(np.sum(a * a, axis=dims, keepdims=keepdim))
        else:
            r = np.sum(a ** p, axis=dims, keepdims=keepdim) ** (1.0 / p)
    r = np.asarray(r, dtype=d.dtype)
    if dims is None and keepdim:
        r = r.reshape((1,) * d.ndim)
    if needs_grad(x):
        return record(LinalgVectorNormBackward0, r, (x,), {"self": x}, output_saved=("result",),
                      ord=p, dim=dims if dims is not None else None,
                      keepdim=keepdim or dims is None)
    return _make(r)


def svdvals(a: Tensor) -> Tensor:
    """Singular values, descending (values only: not differentiable in the engine)."""
    return _make(np.asarray(np.linalg.svd(a._data, compute_uv=False), dtype=a._data.dtype))


def matrix_norm(a: Tensor, ord: Any = "fro", dim: tuple = (-2, -1),  # noqa: A002
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """'fro' (LinalgVectorNormBackward0 over the two dims), 'nuc', 2, -2, 1, -1, inf, -inf."""
    if ord == "fro":
        return vector_norm(a, 2, dim, keepdim)
    d = a._data
    d0, d1 = (_wrap_dim(i, d.ndim) for i in dim)
    if ord in ("nuc", 2, -2):
        m = np.moveaxis(d, (d0, d1), (-2, -1))
        s = np.linalg.svd(m, compute_uv=False)
        r = s.sum(-1) if ord == "nuc" else (s.max(-1) if ord == 2 else s.min(-1))
    else:
        inner, outer_ = (d0, d1) if ord in (1, -1) else (d1, d0)
        if ord not in (1, -1, float("inf"), float("-inf")):
            raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
        colsum = tsum(tabs(a), inner, True)
        red = amax if ord in (1, float("inf")) else amin
        out = red(colsum, outer_, True)
        if not keepdim:
            out = out.squeeze(builtins.max(d0, d1)).squeeze(builtins.min(d0, d1))
        return out
    r = np.asarray(r, dtype=d.dtype)
    if keepdim:
        r = np.expand_dims(np.expand_dims(r, builtins.min(d0, d1)), builtins.max(d0, d1))
    return _make(r)


def norm(x: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
         dtype: Any = None) -> Tensor:
    """torch.linalg.norm: vector 2-norm by default; matrix norms for a string ord or 2 dims."""
    if ord is None:
        if dim is None or not isinstance(dim, (list, tuple)) or len(dim) == 1:
            return vector_norm(x, 2, dim, keepdim)
        return matrix_norm(x, "fro", tuple(dim), keepdim)
    if isinstance(ord, str) or (isinstance(dim, (list, tuple)) and len(dim) == 2) or (
            dim is None and x._data.ndim == 2):
        return matrix_norm(x, ord, tuple(dim) if dim is not None else (-2, -1), keepdim)
    return vector_norm(x, ord, dim, keepdim)


def svd(a: Tensor, full_matrices: bool = True, *, driver: Any = None) -> tuple:
    """U, S, Vh with A = U diag(S) Vh (values only: not differentiable in the engine)."""
    u, s, vh = np.linalg.svd(a._data, full_matrices=full_matrices)
    dt = a._data.dtype
    return _svd(_make(u.astype(dt)), _make(s.astype(dt)), _make(vh.astype(dt)))


def qr(a: Tensor, mode: str = "reduced") -> tuple:
    """Q, R with A = Q R (values only: not differentiable in the engine)."""
    q, r = np.linalg.qr(a._data, mode="complete" if mode == "complete" else "reduced")
    dt = a._data.dtype
    return _qr(_make(q.astype(dt)), _make(r.astype(dt)))


def matrix_rank(a: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False,
                tol: Any = None) -> Tensor:
    return _make(np.asarray(np.linalg.matrix_rank(a._data), dtype=np.int64))


def tensor_norm(x: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False,
                dtype: Any = None) -> Tensor:
    """``torch.norm`` / ``Tensor.norm``: p-norm of the elements (LinalgVectorNormBackward0),
    'fro' and 'nuc' as matrix norms."""
    if p == "fro":
        if dim is None or not isinstance(dim, (list, tuple)) or len(dim) != 2:
            return vector_norm(x, 2, dim, keepdim)
        return matrix_norm(x, "fro", tuple(dim), keepdim)
    if p == "nuc":
        return matrix_norm(x, "nuc", tuple(dim) if dim is not None else (-2, -1), keepdim)
    return vector_norm(x, 2 if p is None else p, dim, keepdim)
