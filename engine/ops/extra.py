"""More of torch's tensor API: rounding, inverse trig and hyperbolic functions, log1p / expm1,
sign, prod, std / var, cumsum / cumprod, unique, cross, bitwise and logical ops (each
differentiable op records torch's grad_fn name)."""

from __future__ import annotations

import builtins
from collections import namedtuple
from typing import Any

import numpy as np

from engine import _dtype
from engine._rule import Rule
from engine.function import Node, record
from engine.ops._common import arr, as_tensor_operand, broadcast_error, needs_grad
from engine.ops.reduce import mean
from engine.tensor import Tensor, _make, _raise, _wrap_dim

__all__ = ["ceil", "floor", "round", "trunc", "frac", "asin", "acos", "atan", "atan2", "sinh",
           "cosh", "log1p", "expm1", "sign", "prod", "std", "var", "std_mean", "var_mean",
           "cumsum", "cumprod", "unique", "cross", "bitwise_and", "bitwise_or", "bitwise_xor",
           "bitwise_not", "logical_and", "logical_or", "logical_xor", "logical_not", "trace"]


# ----------------------------------------------------------------------------- nodes
class _Zero:
    """Mixin: a step function's zero gradient."""

    __slots__ = ()

    def backward(self, g, s, xp):
        return (g * 0,)


class CeilBackward0(_Zero, Node):
    rule = Rule("ceil is flat between its steps: no gradient flows back.",
                ("grad_self = 0 * grad",),
                "d ceil(x)/dx = 0")
    pass


class FloorBackward0(_Zero, Node):
    rule = Rule("floor is flat between its steps: no gradient flows back.",
                ("grad_self = 0 * grad",),
                "d floor(x)/dx = 0")
    pass


class RoundBackward0(_Zero, Node):
    rule = Rule("round is flat between its steps: no gradient flows back.",
                ("grad_self = 0 * grad",),
                "d round(x)/dx = 0")
    pass


class RoundBackward1(_Zero, Node):
    rule = Rule("Rounding to some decimals is flat between its steps: no gradient flows back.",
                ("grad_self = 0 * grad",),
                "0")
    pass


class TruncBackward0(_Zero, Node):
    rule = Rule("Truncation toward zero is flat between its steps: no gradient flows back.",
                ("grad_self = 0 * grad",),
                "0")
    pass


class SignBackward0(_Zero, Node):
    rule = Rule("sign(x) is flat between its steps: no gradient flows back.",
                ("grad_self = 0 * grad",),
                "d sign(x)/dx = 0")
    pass


class FracBackward0(Node):
    rule = Rule("The fractional part x − trunc(x) has slope 1 between steps.",
                ("grad_self = grad",),
                "d frac(x)/dx = 1")
    def backward(self, g, s, xp):
        return (g,)


class AsinBackward0(Node):
    rule = Rule("arcsin: one over √(1 − x²).",
                ("grad_self = grad / sqrt(1 - self**2)",),
                "d asin x/dx = 1/√(1 − x²)")
    def backward(self, g, s, xp):
        x = s["self"]
        with np.errstate(all="ignore"):
            return (g / (1 - x * x) ** 0.5,)


class AcosBackward0(Node):
    rule = Rule("arccos: minus one over √(1 − x²).",
                ("grad_self = -grad / sqrt(1 - self**2)",),
                "d acos x/dx = −1/√(1 − x²)")
    def backward(self, g, s, xp):
        x = s["self"]
        with np.errstate(all="ignore"):
            return (-g / (1 - x * x) ** 0.5,)


class AtanBackward0(Node):
    rule = Rule("arctan: one over 1 + x².",
                ("grad_self = grad / (1 + self**2)",),
                "d atan x/dx = 1/(1 + x²)")
    def backward(self, g, s, xp):
        x = s["self"]
        return (g / (1 + x * x),)


class Atan2Backward0(Node):
    rule = Rule("atan2(y, x), the angle of the point (x, y): each input gets the other over "
                "the squared radius (with a minus sign for x).",
                ("grad_self = grad * other / (self**2 + other**2)",
                 "grad_other = -grad * self / (self**2 + other**2)"),
                "∂atan2(y, x)/∂y = x/(x² + y²),  ∂/∂x = −y/(x² + y²)")
    def backward(self, g, s, xp):
        a, b = s["self"], s["other"]
        with np.errstate(all="ignore"):
            r = a * a + b * b
            return g * b / r, -g * a / r


class SinhBackward0(Node):
    rule = Rule("sinh: multiply by cosh of the saved input.",
                ("grad_self = grad * cosh(self)",),
                "d sinh x/dx = cosh x")
    def backward(self, g, s, xp):
        x = s["self"]
        return (g * ((xp.exp(x) + xp.exp(-x)) * 0.5),)


class CoshBackward0(Node):
    rule = Rule("cosh: multiply by sinh of the saved input.",
                ("grad_self = grad * sinh(self)",),
                "d cosh x/dx = sinh x")
    def backward(self, g, s, xp):
        x = s["self"]
        return (g * ((xp.exp(x) - xp.exp(-x)) * 0.5),)


class Log1PBackward0(Node):
    rule = Rule("log(1 + x): one over 1 + x.",
                ("grad_self = grad / (1 + self)",),
                "d ln(1 + x)/dx = 1/(1 + x)")
    def backward(self, g, s, xp):
        with np.errstate(all="ignore"):
            return (g / (s["self"] + 1),)


class Expm1Backward0(Node):
    rule = Rule("exp(x) − 1: its derivative eˣ is the saved result plus 1.",
                ("grad_self = grad * (result + 1)",),
                "d(eˣ − 1)/dx = eˣ")
    def backward(self, g, s, xp):
        return (g * (s["result"] + 1),)


class ProdBackward0(Node):
    """Whole-tensor product: each element gets the product of the others."""
    rule = Rule("Product of all elements: each gets the product of the others, computed as the "
                "result over itself (nan where an element is 0; torch multiplies the others "
                "there).",
                ("grad_self = grad * result / self",),
                "∂(Πᵢ xᵢ)/∂xⱼ = Πᵢ≠ⱼ xᵢ")

    def backward(self, g, s, xp):
        with np.errstate(all="ignore"):
            return (g * s["result"] / s["self"],)


class ProdBackward1(Node):
    rule = Rule("Product along dim: each element gets the product of the others in its slice, "
                "computed as the result over itself (nan where an element is 0; torch "
                "multiplies the others there).",
                ("n = ndim(self)",
                 "grad_self = keep(grad, dim, keepdim, n) * keep(result, dim, keepdim, n) / self"),
                "∂(Πᵢ xᵢ)/∂xⱼ = Πᵢ≠ⱼ xᵢ")
    def backward(self, g, s, xp):
        r = s["result"]
        if not self.keepdim:
            g = xp.unsqueeze(g, self.dim)
            r = xp.unsqueeze(r, self.dim)
        with np.errstate(all="ignore"):
            return (g * r / s["self"],)


class VarBackward0(Node):
    rule = Rule("Variance: 2·(x − mean)/(N − correction), N the number of elements reduced.",
                ("N = count(self, dim)",
                 "grad_self = keep(grad, dim, keepdim, ndim(self)) * 2 * (self - mean(self, "
                 "dim, True)) / max(N - correction, 0)"),
                "∂ var/∂xᵢ = 2(xᵢ − x̄)/(N − c)")
    def backward(self, g, s, xp):
        x = s["self"]
        dims = self.dim
        mean = xp.sum(x, dims, True) * (1.0 / self._n)
        if dims is not None and not self.keepdim:
            for d in dims:
                g = xp.unsqueeze(g, d)
        return (g * (x - mean) * (2.0 / builtins.max(self._n - self.correction, 0)),)


class StdBackward0(Node):
    rule = Rule("Standard deviation: (x − mean)/((N − correction)·std), from the saved std.",
                ("N = count(self, dim)",
                 "n = ndim(self)",
                 "grad_self = keep(grad, dim, keepdim, n) * (self - mean(self, dim, True)) / "
                 "(keep(result, dim, keepdim, n) * max(N - correction, 0))"),
                "∂ std/∂xᵢ = (xᵢ − x̄)/((N − c)·std)")
    def backward(self, g, s, xp):
        x, r = s["self"], s["result"]
        dims = self.dim
        mean = xp.sum(x, dims, True) * (1.0 / self._n)
        if dims is not None and not self.keepdim:
            for d in dims:
                g = xp.unsqueeze(g, d)
                r = xp.unsqueeze(r, d)
        with np.errstate(all="ignore"):
            return (g * (x - mean) / (r * builtins.max(self._n - self.correction, 0)),)


class CumsumBackward0(Node):
    rule = Rule("Cumulative sum: element i fed every later sum, so it gets the reversed "
                "cumulative sum of the gradient.",
                ("grad_self = rcumsum(grad, dim)",),
                "∂(Σⱼ≤ₖ xⱼ)/∂xᵢ = 1 for k ≥ i")
    def backward(self, g, s, xp):
        d = self.dim
        # reversed cumulative sum: total - cumsum + g
        return (xp.sum(g, (d,), True) - _xp_cumsum(xp, g, d) + g,)


class CumprodBackward0(Node):
    rule = Rule("Running product: element i feeds every later product, each divided by x_i.",
                ("grad_self = rcumsum(grad * result, dim) / self",),
                "∂(Πⱼ≤ₖ xⱼ)/∂xᵢ = Πⱼ≤ₖ xⱼ / xᵢ for k ≥ i")
    def backward(self, g, s, xp):
        d = self.dim
        gr = g * s["result"]
        with np.errstate(all="ignore"):
            return ((xp.sum(gr, (d,), True) - _xp_cumsum(xp, gr, d) + gr) / s["self"],)


class LinalgCrossBackward0(Node):
    rule = Rule("Cross product a × b: a gets b × grad, b gets grad × a.",
                ("grad_self = cross(other, grad, dim)",
                 "grad_other = cross(grad, self, dim)"))
    def backward(self, g, s, xp):
        d = self.dim
        ga = _xp_cross(xp, s["other"], g, d) if "other" in s else None
        gb = _xp_cross(xp, g, s["self"], d) if "self" in s else None
        return ga, gb


class TraceBackward0(Node):
    rule = Rule("Trace: the (scalar) gradient lands on the diagonal, 0 elsewhere.",
                ("grad_self = grad * eye(self_sym_sizes[0], self_sym_sizes[1])",),
                "∂ tr(A)/∂A = I")
    def backward(self, g, s, xp):
        n, m = self.self_sym_sizes
        eye = np.eye(n, m, dtype=xp.dtype(g))
        if xp.records:
            eye = _make(eye)
        return (eye * g,)


def _xp_cumsum(xp: Any, g: Any, d: int) -> Any:
    if isinstance(g, np.ndarray):
        return np.cumsum(g, axis=d)
    return cumsum(g, d)


def _xp_cross(xp: Any, a: Any, b: Any, d: int) -> Any:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return np.cross(a, b, axis=d)
    return cross(as_tensor_operand(a), as_tensor_operand(b), dim=d)


# ----------------------------------------------------------------------------- unary
def _check(x: Any, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")
    return x


def _float(d: np.ndarray) -> np.ndarray:
    return d if d.dtype.kind == "f" else d.astype(_dtype.default_float.np)


def _unary(np_fn: Any, cls: type, name: str, *, keep_int: bool = False,
           save_self: bool = True, save_result: bool = False) -> Any:
    def op(x: Tensor) -> Tensor:
        _check(x, name)
        d = x._data
        if not (keep_int and d.dtype.kind in "iub"):
            d = _float(d)
        with np.errstate(all="ignore"):
            out = np.asarray(np_fn(d))
        if keep_int and out.dtype != d.dtype and d.dtype.kind in "iu":
            out = out.astype(d.dtype)
        if needs_grad(x):
            return record(cls, out, (x,), {"self": x} if save_self else None,
                          output_saved=("result",) if save_result else ())
        return _make(out)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} ({cls.__name__})."
    return op


ceil = _unary(np.ceil, CeilBackward0, "ceil", keep_int=True, save_self=False)
floor = _unary(np.floor, FloorBackward0, "floor", keep_int=True, save_self=False)
trunc = _unary(np.trunc, TruncBackward0, "trunc", keep_int=True, save_self=False)
fix = trunc
frac = _unary(lambda d: d - np.trunc(d), FracBackward0, "frac", save_self=False)
asin = _unary(np.arcsin, AsinBackward0, "asin")
acos = _unary(np.arccos, AcosBackward0, "acos")
atan = _unary(np.arctan, AtanBackward0, "atan")
sinh = _unary(np.sinh, SinhBackward0, "sinh")
cosh = _unary(np.cosh, CoshBackward0, "cosh")
log1p = _unary(np.log1p, Log1PBackward0, "log1p")
expm1 = _unary(np.expm1, Expm1Backward0, "expm1", save_self=False, save_result=True)
arcsin, arccos, arctan = asin, acos, atan


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 per element, in the input's dtype (SignBackward0)."""
    _check(x, "sign")
    d = x._data
    out = np.sign(d) if d.dtype != np.bool_ else d.copy()
    if needs_grad(x):
        return record(SignBackward0, out, (x,))
    return _make(np.asarray(out))


def round(x: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - torch's name
    """Round half to even (RoundBackward0; RoundBackward1 with ``decimals``)."""
    _check(x, "round")
    d = x._data
    out = np.asarray(np.round(d, decimals))
    if needs_grad(x):
        return record(RoundBackward1 if decimals else RoundBackward0, out, (x,),
                      decimals=decimals)
    return _make(out)


def atan2(a: Tensor, b: Any) -> Tensor:
    """Angle of (b, a) in radians (Atan2Backward0)."""
    b = as_tensor_operand(b)
    ad, bd = _float(arr(a)), arr(b)
    if isinstance(bd, np.ndarray):
        bd = _float(bd)
    try:
        out = np.asarray(np.arctan2(ad, bd))
    except ValueError:
        raise broadcast_error(np.shape(ad), np.shape(bd), "atan2") from None
    if needs_grad(a, b):
        return record(Atan2Backward0, out, (a, b), {"self": a, "other": b})
    return _make(out)


arctan2 = atan2


# ----------------------------------------------------------------------------- reductions
_var_mean = namedtuple("var_mean", ["var", "mean"])  # torch returns a plain tuple


def _dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        return tuple(sorted(_wrap_dim(d, ndim) for d in dim))
    return (_wrap_dim(dim, ndim),)


def prod(x: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Product of all elements (ProdBackward0) or along ``dim`` (ProdBackward1)."""
    _check(x, "prod")
    d = x._data if dtype is None else x._data.astype(_dtype.as_dtype(dtype).np)
    if dim is None:
        out = np.asarray(np.prod(d))
        if d.dtype.kind in "biu":
            out = out.astype(np.int64)
        if needs_grad(x):
            return record(ProdBackward0, out, (x,), {"self": x}, output_saved=("result",))
        return _make(out)
    dd = _wrap_dim(dim, d.ndim)
    out = np.asarray(np.prod(d, axis=dd, keepdims=keepdim)) if d.ndim else d.copy()
    if d.dtype.kind in "biu":
        out = out.astype(np.int64)
    if needs_grad(x):
        return record(ProdBackward1, out, (x,), {"self": x}, output_saved=("result",), dim=dd,
                      keepdim=keepdim)
    return _make(out)


def _correction(dim: Any, unbiased: Any, correction: Any) -> tuple[Any, float]:
    if isinstance(dim, bool):  # std(True): the unbiased overload
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, float(correction)


def _var_impl(x: Tensor, dim: Any, unbiased: Any, keepdim: bool, correction: Any,
              cls: type, name: str) -> Tensor:
    _check(x, name)
    dim, corr = _correction(dim, unbiased, correction)
    d = x._data
    if d.dtype.kind != "f":
        _raise(RuntimeError("std and var only support floating point and complex dtypes"),
               tensor=x)
    dims = _dims(dim, d.ndim) if d.ndim else None
    n = d.size if dims is None else int(np.prod([d.shape[i] for i in dims]))
    with np.errstate(all="ignore"):
        mean = np.mean(d, axis=dims, keepdims=True)
        v = np.sum((d - mean) ** 2, axis=dims, keepdims=keepdim) / builtins.max(n - corr, 0)
        out = np.asarray(np.sqrt(v) if cls is StdBackward0 else v).astype(d.dtype)
    if dims is None and keepdim:
        out = out.reshape((1,) * d.ndim)
    if needs_grad(x):
        return record(cls, out, (x,), {"self": x},
                      output_saved=("result",) if cls is StdBackward0 else (), dim=dims,
                      keepdim=keepdim or dims is None, correction=corr, _n=n)
    return _make(out)


def var(x: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None) -> Tensor:
    """Variance with Bessel's correction by default (VarBackward0)."""
    return _var_impl(x, dim, unbiased, keepdim, correction, VarBackward0, "var")


def std(x: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None) -> Tensor:
    """Standard deviation with Bessel's correction by default (StdBackward0)."""
    return _var_impl(x, dim, unbiased, keepdim, correction, StdBackward0, "std")


def std_mean(x: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None) -> tuple:
    return (std(x, dim, unbiased, keepdim, correction=correction),
            mean(x) if dim is None else mean(x, dim, keepdim))


def var_mean(x: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None) -> tuple:
    return (var(x, dim, unbiased, keepdim, correction=correction),
            mean(x) if dim is None else mean(x, dim, keepdim))


def _cum(x: Tensor, dim: int, dtype: Any, np_fn: Any, cls: type, name: str) -> Tensor:
    _check(x, name)
    d = x._data
    if dtype is not None:
        d = d.astype(_dtype.as_dtype(dtype).np)
    dd = _wrap_dim(dim, d.ndim)
    out = np.asarray(np_fn(d, axis=dd) if d.ndim else d.copy())
    if d.dtype.kind in "biu" and dtype is None:
        out = out.astype(np.int64)
    if needs_grad(x):
        saved = {"self": x} if cls is CumprodBackward0 else None
        return record(cls, out, (x,), saved,
                      output_saved=("result",) if cls is CumprodBackward0 else (), dim=dd)
    return _make(out)


def cumsum(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sum along ``dim`` (CumsumBackward0)."""
    return _cum(x, dim, dtype, np.cumsum, CumsumBackward0, "cumsum")


def cumprod(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running product along ``dim`` (CumprodBackward0)."""
    return _cum(x, dim, dtype, np.cumprod, CumprodBackward0, "cumprod")


def trace(x: Tensor) -> Tensor:
    """Sum of the diagonal of a matrix (TraceBackward0)."""
    d = x._data
    if d.ndim != 2:
        _raise(RuntimeError(f"trace: expected a matrix, but got tensor with dim {d.ndim}"),
               tensor=x)
    out = np.asarray(np.trace(d))
    if d.dtype.kind in "biu":
        out = out.astype(np.int64)
    if needs_grad(x):
        return record(TraceBackward0, out, (x,), self_sym_sizes=d.shape)
    return _make(out)


def unique(x: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim: int | None = None) -> Any:
    """The distinct values, sorted (as torch does on CPU), with inverse indices and counts."""
    d = x._data
    if dim is None:
        vals, inv, counts = np.unique(d.reshape(-1), return_inverse=True, return_counts=True)
        inv = inv.reshape(d.shape)
    else:
        dd = _wrap_dim(dim, d.ndim)
        vals, inv, counts = np.unique(d, axis=dd, return_inverse=True, return_counts=True)
        inv = inv.reshape(-1)
    out = [_make(np.asarray(vals))]
    if return_inverse:
        out.append(_make(np.asarray(inv, dtype=np.int64)))
    if return_counts:
        out.append(_make(np.asarray(counts, dtype=np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def cross(a: Tensor, b: Tensor, dim: int | None = None) -> Tensor:
    """Cross product of 3-vectors along ``dim`` (LinalgCrossBackward0)."""
    da, db = arr(a), arr(b)
    if dim is None:
        dim = next((i for i, n in enumerate(np.broadcast_shapes(da.shape, db.shape)) if n == 3),
                   -1)
    nd = builtins.max(da.ndim, db.ndim)
    dd = _wrap_dim(dim, nd)
    shp = np.broadcast_shapes(da.shape, db.shape)
    if shp[dd] != 3:
        _raise(RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                            f"{da.shape[dd - nd + da.ndim] if da.ndim else 0} and "
                            f"{db.shape[dd - nd + db.ndim] if db.ndim else 0}"), tensor=a)
    out = np.asarray(np.cross(np.broadcast_to(da, shp), np.broadcast_to(db, shp), axis=dd))
    if needs_grad(a, b):
        saved = {}
        if isinstance(a, Tensor) and a._requires_grad:
            saved["other"] = b
        if isinstance(b, Tensor) and b._requires_grad:
            saved["self"] = a
        return record(LinalgCrossBackward0, out, (a, b), saved, dim=dd)
    return _make(out)


# ----------------------------------------------------------------------------- bits and logic
def _bitwise(np_fn: Any, name: str) -> Any:
    def op(a: Any, b: Any) -> Tensor:
        ad, bd = arr(as_tensor_operand(a)), arr(as_tensor_operand(b))
        for v in (ad, bd):
            if (isinstance(v, np.ndarray) and v.dtype.kind == "f") or isinstance(v, float):
                raise NotImplementedError(f'"{name}_cpu" not implemented for \'Float\'')
        out = np.asarray(np_fn(ad, bd))
        dt = _dtype.result_type(a, b)
        return _make(out.astype(dt) if out.dtype != dt else out)
    op.__name__ = name
    op.__doc__ = f"Elementwise {name} of integer or bool tensors."
    return op


bitwise_and = _bitwise(np.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(np.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(np.bitwise_xor, "bitwise_xor")


def bitwise_not(x: Tensor) -> Tensor:
    d = x._data
    if d.dtype.kind == "f":
        raise NotImplementedError("\"bitwise_not_cpu\" not implemented for 'Float'")
    return _make(np.asarray(np.invert(d)))


def _logical(np_fn: Any, name: str) -> Any:
    def op(a: Any, b: Any) -> Tensor:
        if not isinstance(b, Tensor):
            raise TypeError(f"{name}(): argument 'other' (position 2) must be Tensor, not "
                            f"{type(b).__name__}")
        return _make(np.asarray(np_fn(arr(as_tensor_operand(a)), arr(as_tensor_operand(b)))))
    op.__name__ = name
    return op


logical_and = _logical(np.logical_and, "logical_and")
logical_or = _logical(np.logical_or, "logical_or")
logical_xor = _logical(np.logical_xor, "logical_xor")


def logical_not(x: Tensor) -> Tensor:
    return _make(np.asarray(np.logical_not(x._data)))
