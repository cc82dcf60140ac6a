"""Elementwise ops: arithmetic with broadcasting, unary math, comparisons, casts, in-place ops."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import _dtype, events, grad_mode
from engine._rule import Rule
from engine.function import Node, record
from engine.grad_mode import _state as _grad_state
from engine.ops._common import (
    arr,
    as_tensor_operand,
    broadcast_error,
    needs_grad,
    promote,
    torch_layout,
)
from engine.tensor import Tensor, _make, _quiet, _raise, _up

__all__ = ["add", "sub", "rsub", "mul", "div", "rdiv", "neg", "pow", "rpow", "exp", "log",
           "sin", "cos", "tanh", "sigmoid", "relu", "abs", "sqrt", "square", "maximum",
           "minimum", "clamp", "clamp_min", "clamp_max", "where", "to_dtype", "clone",
           "compare", "inplace"]


# ----------------------------------------------------------------------------- nodes
def _quiet_numpy(rule: Any) -> Any:
    """Gradient rules that can meet 0 or negative inputs give inf / nan silently, as torch."""
    def backward(self: Node, g: Any, s: Any, xp: Any) -> Any:
        with np.errstate(all="ignore"):
            return rule(self, g, s, xp)
    return backward


class AddBackward0(Node):
    rule = Rule("Addition a + alpha·b: the first input gets the gradient unchanged, the second "
                "the gradient times alpha.",
                ("grad_self = grad",
                 "grad_other = alpha * grad"),
                "∂(a + α·b)/∂a = 1,  ∂(a + α·b)/∂b = α")
    alpha = 1

    def backward(self, g, s, xp):
        alpha = self.alpha
        return g, (g if alpha == 1 else g * alpha)


class SubBackward0(Node):
    rule = Rule("Subtraction a − alpha·b: the first input gets the gradient, the second minus "
                "alpha times it.",
                ("grad_self = grad",
                 "grad_other = -alpha * grad"),
                "∂(a − α·b)/∂a = 1,  ∂(a − α·b)/∂b = −α")
    alpha = 1

    def backward(self, g, s, xp):
        alpha = self.alpha
        return g, (-g if alpha == 1 else -g * alpha)


class RsubBackward1(Node):
    rule = Rule("A number minus the tensor (c − alpha·x): the gradient flips sign.",
                ("grad_self = -alpha * grad",),
                "∂(c − α·x)/∂x = −α")
    def backward(self, g, s, xp):
        return (-g,)


class MulBackward0(Node):
    rule = Rule("Product: each input gets the gradient times the other input (both saved in "
                "the forward pass).",
                ("grad_self = grad * other",
                 "grad_other = grad * self"),
                "∂(a·b)/∂a = b,  ∂(a·b)/∂b = a")
    def backward(self, g, s, xp):
        return (g * s["other"] if "other" in s else None,
                g * s["self"] if "self" in s else None)


class DivBackward0(Node):
    rule = Rule("Quotient: 1/other for the numerator, −self/other² for the denominator.",
                ("grad_self = grad / other",
                 "grad_other = -grad * self / other**2"),
                "∂(a/b)/∂a = 1/b,  ∂(a/b)/∂b = −a/b²")
    @_quiet_numpy
    def backward(self, g, s, xp):
        other = s["other"]
        ga = g / other if self.next_functions[0][0] is not None else None
        gb = -g * s["self"] / (other * other) if "self" in s else None
        return ga, gb


class ReciprocalBackward0(Node):
    rule = Rule("1/x: minus the square of the saved result.",
                ("grad_self = -grad * result**2",),
                "d(1/x)/dx = −1/x²")
    @_quiet_numpy
    def backward(self, g, s, xp):
        r = s["result"]
        return (g * -(r * r),)


class NegBackward0(Node):
    rule = Rule("Negation: the gradient flips sign.",
                ("grad_self = -grad",),
                "d(−x)/dx = −1")
    def backward(self, g, s, xp):
        return (-g,)


class PowBackward0(Node):
    rule = Rule("Power with a constant exponent n: n·xⁿ⁻¹ (x saved; 0 for n = 0).",
                ("grad_self = grad * exponent * self**(exponent - 1) if exponent != 0 else 0 * "
                 "grad",),
                "d(xⁿ)/dx = n·xⁿ⁻¹")
    @_quiet_numpy
    def backward(self, g, s, xp):
        e = self.exponent
        if e == 0:
            return (g * 0,)
        return (g * (e * xp.pow(s["self"], e - 1)),)


class PowBackward1(Node):
    rule = Rule("Tensor to a tensor power: the power rule for the base, result·ln(base) for "
                "the exponent (0 where the base is 0 and the exponent ≥ 0).",
                ("grad_self = grad * exponent * self**(exponent - 1)",
                 "grad_exponent = grad * where((self == 0) & (exponent >= 0), 0, result * "
                 "log(self))"),
                "∂(aᵇ)/∂a = b·aᵇ⁻¹,  ∂(aᵇ)/∂b = aᵇ·ln a")
    @_quiet_numpy
    def backward(self, g, s, xp):
        base, e = s["self"], s["exponent"]
        ga = g * (e * base ** (e - 1)) if self.next_functions[0][0] is not None else None
        gb = None
        if self.next_functions[1][0] is not None:
            mask = (base == 0) & (e >= 0)
            gb = g * xp.where(mask, 0.0, s["result"] * xp.log(base))
        return ga, gb


class PowBackward2(Node):
    rule = Rule("A number to a tensor power (cˣ): the saved result times ln c.",
                ("grad_exponent = grad * where((base == 0) & (exponent >= 0), 0, result * "
                 "log(base))",),
                "d(cˣ)/dx = cˣ·ln c")
    @_quiet_numpy
    def backward(self, g, s, xp):
        base = self.base
        if base == 0:
            return (g * xp.where(s["exponent"] >= 0, 0.0, s["result"] * np.log(base)),)
        return (g * (s["result"] * float(np.log(base))),)


class ExpBackward0(Node):
    rule = Rule("exp is its own derivative: the saved output is reused.",
                ("grad_self = grad * result",),
                "d(eˣ)/dx = eˣ")
    def backward(self, g, s, xp):
        return (g * s["result"],)


class LogBackward0(Node):
    rule = Rule("Natural log: divide by the saved input.",
                ("grad_self = grad / self",),
                "d(ln x)/dx = 1/x")
    @_quiet_numpy
    def backward(self, g, s, xp):
        return (g / s["self"],)


class SinBackward0(Node):
    rule = Rule("Sine: multiply by the cosine of the saved input.",
                ("grad_self = grad * cos(self)",),
                "d(sin x)/dx = cos x")
    def backward(self, g, s, xp):
        return (g * xp.cos(s["self"]),)


class CosBackward0(Node):
    rule = Rule("Cosine: multiply by minus the sine of the saved input.",
                ("grad_self = grad * -sin(self)",),
                "d(cos x)/dx = −sin x")
    def backward(self, g, s, xp):
        return (g * -xp.sin(s["self"]),)


class TanhBackward0(Node):
    rule = Rule("tanh: 1 − tanh², from the saved output.",
                ("grad_self = grad * (1 - result**2)",),
                "d(tanh x)/dx = 1 − tanh² x")
    def backward(self, g, s, xp):
        r = s["result"]
        return (g * (1 - r * r),)


class SigmoidBackward0(Node):
    rule = Rule("Sigmoid: σ·(1 − σ), from the saved output.",
                ("grad_self = grad * result * (1 - result)",),
                "dσ(x)/dx = σ(x)·(1 − σ(x))")
    def backward(self, g, s, xp):
        r = s["result"]
        return (g * (1 - r) * r,)


class ReluBackward0(Node):
    rule = Rule("ReLU: the gradient passes where the output is positive, else 0.",
                ("grad_self = where(result > 0, grad, 0)",),
                "d relu(x)/dx = 1 if x > 0 else 0")
    def backward(self, g, s, xp):
        return (xp.where(s["result"] <= 0, 0.0, g),)


class AbsBackward0(Node):
    rule = Rule("Absolute value: multiply by the sign of the saved input (0 at 0).",
                ("grad_self = grad * sign(self)",),
                "d|x|/dx = sign(x)")
    def backward(self, g, s, xp):
        return (g * xp.sign(s["self"]),)


class SqrtBackward0(Node):
    rule = Rule("Square root: divide by twice the saved output.",
                ("grad_self = grad / (2 * result)",),
                "d√x/dx = 1/(2√x)")
    @_quiet_numpy
    def backward(self, g, s, xp):
        return (g / (2 * s["result"]),)


class MaximumBackward0(Node):
    rule = Rule("Elementwise max: the larger input gets the gradient (split in half on ties).",
                ("grad_self = where(self == other, grad / 2, where(self > other, grad, 0))",
                 "grad_other = where(self == other, grad / 2, where(other > self, grad, 0))"),
                "∂max(a, b)/∂a = 1 if a > b else 0")
    def backward(self, g, s, xp):
        a, b = s["self"], s["other"]
        half = xp.where(a == b, g / 2, g)
        return xp.where(a < b, 0.0, half), xp.where(a > b, 0.0, half)


class MinimumBackward0(Node):
    rule = Rule("Elementwise min: the smaller input gets the gradient (split in half on ties).",
                ("grad_self = where(self == other, grad / 2, where(self < other, grad, 0))",
                 "grad_other = where(self == other, grad / 2, where(other < self, grad, 0))"),
                "∂min(a, b)/∂a = 1 if a < b else 0")
    def backward(self, g, s, xp):
        a, b = s["self"], s["other"]
        half = xp.where(a == b, g / 2, g)
        return xp.where(a > b, 0.0, half), xp.where(a < b, 0.0, half)


class ClampBackward1(Node):
    rule = Rule("Clamp: the gradient passes where the input was inside [min, max] (the bounds "
                "included), 0 where it was clamped.",
                ("grad_self = where((min is None or self >= min) & (max is None or self <= "
                 "max), grad, 0)",),
                "1 inside, 0 where clamped")
    def backward(self, g, s, xp):
        x = s["self"]
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            mask = (x >= lo) & (x <= hi)
        elif lo is not None:
            mask = x >= lo
        else:
            mask = x <= hi
        return (xp.where(mask, g, 0.0),)


class ClampMinBackward0(Node):
    rule = Rule("clamp(min=...): the gradient passes where self ≥ min.",
                ("grad_self = where(self >= min, grad, 0)",),
                "1 if x ≥ min else 0")
    def backward(self, g, s, xp):
        return (xp.where(s["self"] >= self.min, g, 0.0),)


class ClampMaxBackward0(Node):
    rule = Rule("clamp(max=...): the gradient passes where self ≤ max.",
                ("grad_self = where(self <= max, grad, 0)",),
                "1 if x ≤ max else 0")
    def backward(self, g, s, xp):
        return (xp.where(s["self"] <= self.max, g, 0.0),)


class WhereBackward0(Node):
    rule = Rule("where(condition, self, other): each element's gradient goes to the input it "
                "was taken from.",
                ("grad_self = where(condition, grad, 0)",
                 "grad_other = where(condition, 0, grad)"))
    def backward(self, g, s, xp):
        c = s["condition"]
        return xp.where(c, g, 0.0), xp.where(c, 0.0, g)


class ToCopyBackward0(Node):
    rule = Rule("A dtype cast: the gradient passes through, cast back to the input's dtype.",
                ("grad_self = grad",),
                "dx/dx = 1")
    def backward(self, g, s, xp):
        return (g,)


class CloneBackward0(Node):
    rule = Rule("A copy: the gradient passes through unchanged.",
                ("grad_self = grad",),
                "dx/dx = 1")
    def backward(self, g, s, xp):
        return (g,)


# ----------------------------------------------------------------------------- helpers
def _np_binary(fn: Any, a: Any, b: Any, opname: str, dtype: Any = None) -> np.ndarray:
    if type(a) is Tensor:
        ad = a._data
        tb = type(b)
        if tb is float and ad.dtype.kind == "f":
            out = fn(ad, b)  # numpy keeps a Python float weak, as torch does
            return out if type(out) is np.ndarray else np.asarray(out)
        if (tb is Tensor and b._data.dtype == ad.dtype and b._data.shape == ad.shape
                and ad.flags.c_contiguous and b._data.flags.c_contiguous):
            out = fn(ad, b._data)
            return out if type(out) is np.ndarray else np.asarray(out)
    ad, bd = arr(a), arr(b)
    try:
        out = fn(ad, bd)
    except ValueError as e:
        if "broadcast" in str(e):
            exc = broadcast_error(np.shape(ad), np.shape(bd), opname)
            _raise(exc, tensor=a if isinstance(a, Tensor) else None)
        raise
    dt = promote(a, b) if dtype is None else dtype
    if dt is not None and out.dtype != dt:
        out = out.astype(dt)
    if type(out) is not np.ndarray:
        return np.asarray(out)
    return torch_layout(out, ad, bd)


def _unary_check(x: Any, opname: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{opname}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")
    return x


def _float_data(x: Tensor) -> np.ndarray:
    d = x._data
    return d if d.dtype.kind == "f" else d.astype(_dtype.default_float.np)


# ----------------------------------------------------------------------------- binary ops
def add(a: Any, b: Any, *, alpha: float = 1) -> Tensor:
    """a + alpha * b (AddBackward0; broadcasting adds no node)."""
    if type(b) is np.ndarray:
        b = _make(b)
    if alpha != 1:
        out = _np_binary(lambda x, y: x + alpha * y, a, b, "add")
        if needs_grad(a, b):
            return record(AddBackward0, out, (a, b), alpha=alpha)
        return _make(out)
    out = _np_binary(_np_add, a, b, "add")
    if _grad_state.enabled and (_rg(a) or _rg(b)):
        return record(AddBackward0, out, (a, b))
    return _make(out)


def sub(a: Any, b: Any, *, alpha: float = 1) -> Tensor:
    """a - alpha * b (SubBackward0)."""
    if type(b) is np.ndarray:
        b = _make(b)
    if isinstance(a, Tensor) and a._data.dtype == np.bool_:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or `logical_xor()` operator instead.")
    if alpha != 1:
        out = _np_binary(lambda x, y: x - alpha * y, a, b, "sub")
        if needs_grad(a, b):
            return record(SubBackward0, out, (a, b), alpha=alpha)
        return _make(out)
    out = _np_binary(_np_sub, a, b, "sub")
    if _grad_state.enabled and (_rg(a) or _rg(b)):
        return record(SubBackward0, out, (a, b))
    return _make(out)


def rsub(a: Tensor, b: Any) -> Tensor:
    """b - a for a Python number b (RsubBackward1, one edge)."""
    if isinstance(b, (Tensor, np.ndarray)):
        return sub(as_tensor_operand(b), a)
    out = _np_binary(lambda x, y: y - x, a, b, "rsub")
    if needs_grad(a):
        return record(RsubBackward1, out, (a,), alpha=1)
    return _make(out)


def mul(a: Any, b: Any) -> Tensor:
    """a * b (MulBackward0)."""
    if type(b) is np.ndarray:
        b = _make(b)
    out = _np_binary(_np_mul, a, b, "mul")
    if _grad_state.enabled:
        ra, rb = _rg(a), _rg(b)
        if ra or rb:
            if ra and rb:
                saved = {"other": b, "self": a}
            else:
                saved = {"other": b} if ra else {"self": a}
            return record(MulBackward0, out, (a, b), saved)
    return _make(out)


_np_add, _np_sub, _np_mul = np.add, np.subtract, np.multiply


def _rg(x: Any) -> bool:
    """x is a tensor that requires grad."""
    return isinstance(x, Tensor) and x._requires_grad


def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Tensor:
    """a / b, true division (DivBackward0); integer inputs give floats as in torch."""
    b = as_tensor_operand(b)
    if rounding_mode is not None:
        q = _np_binary(np.floor_divide if rounding_mode == "floor" else
                       (lambda x, y: np.trunc(np.true_divide(x, y))), a, b, "div")
        return _make(q)
    rt = _dtype.result_type(a, b)
    if rt.kind != "f":  # true division of integers gives the default float dtype
        rt = _dtype.default_float.np
    with np.errstate(divide="ignore", invalid="ignore"):
        out = _np_binary(lambda x, y: np.true_divide(x, y, dtype=rt), a, b, "div", rt)
    if needs_grad(a, b):
        saved = {"other": b}
        if isinstance(b, Tensor) and b._requires_grad:
            saved["self"] = a
        return record(DivBackward0, out, (a, b), saved)
    return _make(out)


def rdiv(a: Tensor, b: Any) -> Tensor:
    """b / a for a number b: torch records ReciprocalBackward0 then MulBackward0."""
    if isinstance(b, (Tensor, np.ndarray)):
        return div(as_tensor_operand(b), a)
    return mul(reciprocal(a), b)


def reciprocal(a: Tensor) -> Tensor:
    with np.errstate(divide="ignore"):
        out = np.reciprocal(_float_data(a))
    if needs_grad(a):
        return record(ReciprocalBackward0, out, (a,), output_saved=("result",))
    return _make(out)


def pow(a: Any, exponent: Any) -> Tensor:  # noqa: A001 - torch's name
    """a ** exponent: PowBackward0 for a number exponent, PowBackward1 for a tensor one."""
    if not isinstance(a, Tensor):
        return rpow(exponent, a)
    exponent = as_tensor_operand(exponent)
    if isinstance(exponent, Tensor):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = _np_binary(np.power, a, exponent, "pow")
        if needs_grad(a, exponent):
            return record(PowBackward1, out, (a, exponent), {"self": a, "exponent": exponent},
                          output_saved=("result",))
        return _make(out)
    d = a._data
    if d.dtype.kind in "iub" and isinstance(exponent, float):
        d = d.astype(_dtype.default_float.np)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = _pow_scalar(d, exponent)
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if out.dtype != d.dtype and d.dtype.kind == "f":
        out = out.astype(d.dtype)
    if needs_grad(a):
        return record(PowBackward0, out, (a,), {"self": a}, exponent=exponent)
    return _make(out)


def _pow_scalar(d: np.ndarray, e: Any) -> np.ndarray:
    """``d ** e`` for a number ``e``, with torch's CPU shortcuts for floating ``d`` (x*x, x*x*x,
    sqrt, 1/sqrt, 1/x, 1/(x*x): different roundings than powf)."""
    if d.dtype.kind == "f" and not isinstance(e, complex):
        if e == 2:
            return d * d
        if e == 3:
            return d * d * d
        if e == 0.5:
            return np.sqrt(d)
        if e == -0.5:
            return d.dtype.type(1) / np.sqrt(d)
        if e == -1:
            return d.dtype.type(1) / d
        if e == -2:
            return d.dtype.type(1) / (d * d)
    return np.power(d, e)


def rpow(a: Tensor, base: Any) -> Tensor:
    """base ** a for a number base (PowBackward2)."""
    if isinstance(base, (Tensor, np.ndarray)):
        return pow(as_tensor_operand(base), a)
    d = _float_data(a) if isinstance(base, float) or a._data.dtype.kind == "f" else a._data
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.power(np.asarray(base, dtype=d.dtype), d)
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if needs_grad(a):
        return record(PowBackward2, out, (a,), {"exponent": a}, output_saved=("result",),
                      base=base)
    return _make(out)


def neg(a: Tensor) -> Tensor:
    """-a (NegBackward0)."""
    if a._data.dtype == np.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If "
                           "you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    out = np.negative(a._data)
    if needs_grad(a):
        return record(NegBackward0, np.asarray(out), (a,))
    return _make(np.asarray(out))


# ----------------------------------------------------------------------------- unary math
def _unary(np_fn: Any, cls: type, save_self: bool, save_result: bool, name: str,
           quiet: bool = False) -> Any:
    def op(x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            _unary_check(x, name)
        d = x._data
        if d.dtype.kind != "f":
            d = d.astype(_dtype.default_float.np)
        if quiet:
            out = np_fn(d)
        else:
            with np.errstate(all="ignore"):
                out = np_fn(d)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if not d.flags.c_contiguous:
            out = torch_layout(out, d)
        if _grad_state.enabled and x._requires_grad:
            return record(cls, out, (x,), {"self": x} if save_self else None,
                          output_saved=("result",) if save_result else ())
        return _make(out)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} ({cls.__name__})."
    return op


def _sigmoid(d: np.ndarray) -> np.ndarray:
    out = np.empty_like(d)
    pos = d >= 0
    out[pos] = 1 / (1 + np.exp(-d[pos]))
    e = np.exp(d[~pos])
    out[~pos] = e / (1 + e)
    return out


#: above this many elements numpy's float32 loop is kept (float64 costs 2-5x the time)
_VIA_DOUBLE_MAX = 1 << 17


def _via_double(np_fn: Any) -> Any:
    """``np_fn`` for float32 computed in float64 and rounded once: torch's CPU exp, log and
    tanh (MKL's vector math) are nearly correctly rounded, numpy's float32 loops are not
    (measured on 1M normal samples: 1-4% of elements differ from torch this way, 26-39% with
    numpy's float32 loops)."""
    def fn(d: np.ndarray) -> np.ndarray:
        if d.dtype == np.float32 and d.size <= _VIA_DOUBLE_MAX:
            return np_fn(d.astype(np.float64)).astype(np.float32)
        return np_fn(d)
    fn.__name__ = np_fn.__name__
    return fn


exp_f = _via_double(np.exp)
log_f = _via_double(np.log)
tanh_f = _via_double(np.tanh)
exp = _unary(exp_f, ExpBackward0, False, True, "exp")
log = _unary(log_f, LogBackward0, True, False, "log")
sin = _unary(np.sin, SinBackward0, True, False, "sin")
cos = _unary(np.cos, CosBackward0, True, False, "cos")
tanh = _unary(tanh_f, TanhBackward0, False, True, "tanh", quiet=True)  # never warns
sigmoid = _unary(_sigmoid, SigmoidBackward0, False, True, "sigmoid")
sqrt = _unary(np.sqrt, SqrtBackward0, False, True, "sqrt")


def relu(x: Tensor) -> Tensor:
    """max(x, 0) (ReluBackward0)."""
    out = np.maximum(x._data, 0).astype(x._data.dtype, copy=False)
    if needs_grad(x):
        return record(ReluBackward0, out, (x,), output_saved=("result",))
    return _make(out)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - torch's name
    """|x| (AbsBackward0)."""
    out = np.abs(x._data)
    if needs_grad(x):
        return record(AbsBackward0, out, (x,), {"self": x})
    return _make(out)


def square(x: Tensor) -> Tensor:
    """x ** 2 (torch records PowBackward0)."""
    return pow(x, 2)


def maximum(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise maximum (MaximumBackward0; ties share the gradient)."""
    out = _np_binary(np.maximum, a, b, "maximum")
    if needs_grad(a, b):
        return record(MaximumBackward0, out, (a, b), {"self": a, "other": b})
    return _make(out)


def minimum(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise minimum (MinimumBackward0)."""
    out = _np_binary(np.minimum, a, b, "minimum")
    if needs_grad(a, b):
        return record(MinimumBackward0, out, (a, b), {"self": a, "other": b})
    return _make(out)


def clamp(x: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Clip to [min, max] (ClampBackward1)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    d = x._data
    out = np.clip(d, min, max)
    if out.dtype != d.dtype and d.dtype.kind == "f":
        out = out.astype(d.dtype)
    if needs_grad(x):
        return record(ClampBackward1, np.asarray(out), (x,), {"self": x}, min=min, max=max)
    return _make(np.asarray(out))


def clamp_min(x: Tensor, min: Any) -> Tensor:  # noqa: A002
    """max(x, min) (ClampMinBackward0)."""
    out = np.maximum(x._data, min).astype(x._data.dtype, copy=False)
    if needs_grad(x):
        return record(ClampMinBackward0, out, (x,), {"self": x}, min=min)
    return _make(out)


def clamp_max(x: Tensor, max: Any) -> Tensor:  # noqa: A002
    """min(x, max) (ClampMaxBackward0)."""
    out = np.minimum(x._data, max).astype(x._data.dtype, copy=False)
    if needs_grad(x):
        return record(ClampMaxBackward0, out, (x,), {"self": x}, max=max)
    return _make(out)


def where(condition: Tensor, x: Any, y: Any) -> Tensor:
    """Pick from x where condition holds, else from y (WhereBackward0)."""
    x, y = as_tensor_operand(x), as_tensor_operand(y)
    c = arr(condition)
    try:
        out = np.where(c, arr(x), arr(y))
    except ValueError:
        raise broadcast_error(np.shape(arr(x)), np.shape(arr(y)), "where") from None
    dt = promote(x, y)
    if dt is not None and out.dtype != dt:
        out = out.astype(dt)
    out = torch_layout(out, np.asarray(c), arr(x), arr(y))
    if needs_grad(x, y):
        return record(WhereBackward0, out, (x, y), {"condition": c})
    return _make(out)


def to_dtype(x: Tensor, dtype: Any) -> Tensor:
    """A copy converted to ``dtype`` (ToCopyBackward0)."""
    dt = _dtype.as_dtype(dtype)
    out = x._data.astype(dt.np)
    if needs_grad(x) and dt.is_floating_point:
        return record(ToCopyBackward0, out, (x,))
    return _make(out)


def _dense(d: np.ndarray) -> bool:
    """Non-overlapping and dense: the elements fill a block of memory with no gaps."""
    dims = sorted((s, n) for s, n in zip(d.strides, d.shape) if n != 1)
    expected = d.itemsize
    for s, n in dims:
        if s != expected:
            return False
        expected *= n
    return True


def clone(x: Tensor, *, memory_format: Any = None, contiguous: bool = False) -> Tensor:
    """A copy that stays in the graph (CloneBackward0); like torch it keeps the layout of a
    dense input (a transposed tensor's clone is transposed too), else it is contiguous."""
    d = x._data
    order = "K" if not contiguous and memory_format is None and _dense(d) else "C"
    out = np.array(d, order=order, copy=True)
    if needs_grad(x):
        return record(CloneBackward0, out, (x,))
    return _make(out)


_COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
            "gt": np.greater, "ge": np.greater_equal, "logical_and": np.logical_and,
            "logical_or": np.logical_or, "logical_xor": np.logical_xor}


def compare(a: Any, b: Any, op: str) -> Tensor:
    """A bool tensor (never part of the graph)."""
    b = as_tensor_operand(b)
    ad, bd = arr(a), arr(b)
    try:
        out = _COMPARE[op](ad, bd)
    except ValueError:
        raise broadcast_error(np.shape(ad), np.shape(bd), op) from None
    return _make(np.asarray(out))


# ----------------------------------------------------------------------------- in place
def _check_inplace(t: Tensor) -> None:
    if not grad_mode._state.enabled:
        return
    if t.grad_fn is None and t._requires_grad:
        _raise(RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                            "operation."), tensor=t)
    base = t._base
    if base is not None and base.grad_fn is None and base._requires_grad:
        _raise(RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                            "in-place operation."), tensor=t)


def inplace(t: Tensor, fn: Any, *args: Any, **kwargs: Any) -> Tensor:
    """Run ``fn(t, *args)`` and write the result into ``t``: same storage, version + 1, and when
    recording, ``t.grad_fn`` becomes the new node (torch's rebase of history)."""
    _check_inplace(t)
    if needs_grad(t, *args):
        src = _make(t._data.copy(), t._requires_grad, t.grad_fn)
        src._output_nr = t._output_nr
        res = fn(src, *args, **kwargs)
        _write(t, res._data)
        t.grad_fn = res.grad_fn
        t._requires_grad = True
        t._output_nr = 0
        node = res.grad_fn
        t._version[0] += 1
        if node is not None and node._saved_src:
            # a saved output now lives in t: point the entry at t's storage and counter
            src = []
            for name, st, c, v, is_output in node._saved_src:
                if is_output:
                    node._saved[name] = t._data
                    src.append((name, st, t._version, t._version[0], True))
                else:
                    src.append((name, st, c, v, is_output))
            node._saved_src = tuple(src)
        return t
    _quiet[0] += 1
    try:
        with grad_mode.no_grad():
            res = fn(t, *args, **kwargs)
    finally:
        _quiet[0] -= 1
    _write(t, res._data)
    t._version[0] += 1
    return t


def _write(t: Tensor, data: np.ndarray) -> None:
    d = t._data
    if data.shape != d.shape:
        try:
            np.broadcast_shapes(data.shape, d.shape)
        except ValueError:
            pass
        if np.broadcast_shapes(data.shape, d.shape) != d.shape:
            raise RuntimeError(f"output with shape {list(d.shape)} doesn't match the broadcast "
                               f"shape {list(np.broadcast_shapes(data.shape, d.shape))}")
    if data.dtype != d.dtype and not np.can_cast(data.dtype, d.dtype, "same_kind"):
        raise RuntimeError(f"result type {_dtype.from_numpy_dtype(data.dtype).name.capitalize()}"
                           f" can't be cast to the desired output type "
                           f"{_dtype.from_numpy_dtype(d.dtype).name.capitalize()}")
    d[...] = data

_up.clone, _up.to_dtype = clone, to_dtype  # Tensor.to, .contiguous (engine.tensor._up)


def _grad_owner_changed(t: Tensor, reason: str) -> None:
    ref = t.__dict__.get("_grad_owner")
    owner = ref() if ref is not None else None
    if owner is not None and owner._grad is t and events._subscribers:
        events.emit("grad_changed", tensor_id=owner._id, reason=reason,
                    value=events.value_of(t._data))


def _ip(fn: Any, name: str) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        inplace(self, fn, *args, **kwargs)
        _grad_owner_changed(self, name)
        return self
    method.__name__ = name
    method.__doc__ = f"In-place {name[:-1]}: same storage, version counter + 1."
    return method
