"""Activations, dropout and the extra losses of engine.nn.functional, each recording torch's
node (GeluBackward0, SiluBackward0, SoftplusBackward0, EluBackward0, LeakyReluBackward0,
HardtanhBackward0, LogSigmoidBackward0, BinaryCrossEntropyBackward0,
BinaryCrossEntropyWithLogitsBackward0, SmoothL1LossBackward0, HuberLossBackward0) or
composed of engine ops where torch composes them (dropout, kl_div)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from engine import creation
from engine._rule import Rule
from engine.function import Node, record
from engine.nn._conv import no_double_backward
from engine.ops import pointwise
from engine.ops import reduce as _red
from engine.ops import shape as _shape
from engine.ops._cascade import full_sum
from engine.ops._common import broadcast_error, needs_grad
from engine.ops.select import _np_erf as erf  # elementwise, on arrays
from engine.tensor import Size, Tensor, _make, _raise

__all__ = ["gelu", "silu", "softplus", "elu", "selu", "celu", "leaky_relu", "hardtanh", "relu6",
           "logsigmoid", "softsign", "mish", "dropout", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "smooth_l1_loss", "huber_loss", "kl_div"]

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_SQRT2_PI = math.sqrt(2.0 / math.pi)


def _sig(d: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-d))


# ----------------------------------------------------------------------------- activations
def _gelu_d(x: np.ndarray, approximate: str) -> tuple[np.ndarray, np.ndarray]:
    """GELU's first and second derivatives at ``x``."""
    if approximate == "tanh":
        k = 0.044715
        u1 = _SQRT2_PI * (1 + 3 * k * x * x)
        t = np.tanh(_SQRT2_PI * (x + k * x ** 3))
        sech2 = 1 - t * t
        d1 = 0.5 * (1 + t) + 0.5 * x * sech2 * u1
        d2 = sech2 * (u1 - x * t * u1 * u1 + 0.5 * x * (6 * k * _SQRT2_PI * x))
        return d1, d2
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    d1 = 0.5 * (1 + erf(x * _SQRT1_2)) + x * pdf
    return d1, pdf * (2 - x * x)


class GeluBackward0(Node):
    rule = Rule("GELU x·Φ(x): its slope Φ(x) + x·φ(x) times the gradient; with "
                "approximate='tanh' the slope of 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).",
                ("k = 0.044715",
                 "t = tanh(sqrt(2 / pi) * (self + k * self**3))",
                 "u = sqrt(2 / pi) * (1 + 3 * k * self**2)",
                 "d1 = Phi(self) + self * phi(self) if approximate == 'none' else 0.5 * (1 + "
                 "t) + 0.5 * self * (1 - t**2) * u",
                 "grad_self = grad * d1"),
                "d(x·Φ(x))/dx = Φ(x) + x·φ(x)")
    def backward(self, g, s, xp):
        x = s["self"]
        if not isinstance(g, np.ndarray):  # create_graph: a recorded node, as torch
            return (_gelu_backward(g, x, self.approximate),)
        d1, _ = _gelu_d(x, self.approximate)
        return ((g * d1).astype(x.dtype, copy=False),)


class GeluBackwardBackward0(Node):
    rule = Rule("The GELU gradient rule differentiated again: its inputs are the incoming "
                "gradient (grad_output) and x; the first gets GELU's slope, x gets its "
                "curvature.",
                ("k = 0.044715",
                 "t = tanh(sqrt(2 / pi) * (self + k * self**3))",
                 "u = sqrt(2 / pi) * (1 + 3 * k * self**2)",
                 "d1 = Phi(self) + self * phi(self) if approximate == 'none' else 0.5 * (1 + "
                 "t) + 0.5 * self * (1 - t**2) * u",
                 "d2 = phi(self) * (2 - self**2) if approximate == 'none' else (1 - t**2) * (u "
                 "- self * t * u**2 + 3 * k * sqrt(2 / pi) * self**2)",
                 "grad_grad_output = grad * d1",
                 "grad_self = grad * grad_output * d2"),
                "gelu''(x) = φ(x)·(2 − x²)")
    def backward(self, g, s, xp):
        if not isinstance(g, np.ndarray):
            no_double_backward(self)
        x, go = s["self"], s["grad_output"]
        d1, d2 = _gelu_d(x, self.approximate)
        gg = (g * d1).astype(x.dtype, copy=False) if self.next_functions[0][0] is not None \
            else None
        gx = (g * go * d2).astype(x.dtype, copy=False) \
            if self.next_functions[1][0] is not None else None
        return gg, gx


def _gelu_backward(grad: Tensor, x: Tensor, approximate: str) -> Tensor:
    d1, _ = _gelu_d(x._data, approximate)
    out = (grad._data * d1).astype(x._data.dtype, copy=False)
    if needs_grad(grad, x):
        return record(GeluBackwardBackward0, out, (grad, x), {"grad_output": grad, "self": x},
                      approximate=approximate)
    return _make(out)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """x·Φ(x) (exact, with erf) or its tanh approximation (GeluBackward0)."""
    if approximate not in ("none", "tanh"):
        _raise(RuntimeError("approximate argument must be either none or tanh."), tensor=input)
    x = input._data
    if approximate == "tanh":
        out = 0.5 * x * (1 + np.tanh(_SQRT2_PI * (x + 0.044715 * x ** 3)))
    else:
        out = x * 0.5 * (1 + erf(x * _SQRT1_2))
    out = out.astype(x.dtype, copy=False)
    if needs_grad(input):
        return record(GeluBackward0, out, (input,), {"self": input}, approximate=approximate)
    return _make(out)


class SiluBackward0(Node):
    rule = Rule("SiLU x·σ(x): σ(x)·(1 + x·(1 − σ(x))).",
                ("grad_self = grad * sigmoid(self) * (1 + self * (1 - sigmoid(self)))",),
                "d(x·σ(x))/dx = σ(x)(1 + x(1 − σ(x)))")
    def backward(self, g, s, xp):
        x = s["self"]
        sg = 1 / (1 + xp.exp(-x))
        return (g * sg * (1 + x * (1 - sg)),)


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x·σ(x) (SiluBackward0)."""
    x = input._data
    out = (x * _sig(x)).astype(x.dtype, copy=False)
    return _unary(input, out, SiluBackward0, inplace, {"self": input})


def _unary(input: Tensor, out: np.ndarray, cls: type, inplace: bool, saved: dict,  # noqa: A002
           **params: Any) -> Tensor:
    """Record ``cls`` for ``out``; ``inplace`` writes the result into ``input`` (through
    copy_, so the graph stays correct)."""
    if needs_grad(input):
        res = record(cls, out, (input,), saved, **params)
    else:
        res = _make(out)
    if inplace:
        return input.copy_(res)
    return res


class SoftplusBackward0(Node):
    rule = Rule("softplus ln(1 + e^(βx))/β: its derivative is σ(βx) (1 above the threshold, "
                "where softplus is x).",
                ("grad_self = where(beta * self > threshold, grad, grad * sigmoid(beta * self))",),
                "d softplus(x)/dx = σ(βx)")
    def backward(self, g, s, xp):
        x = s["self"]
        bx = x * self.beta
        z = xp.exp(bx)
        return (xp.where(bx > self.threshold, g, g * z / (z + 1)),)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """log(1 + exp(beta·x))/beta, linear above ``threshold`` (SoftplusBackward0)."""
    x = input._data
    bx = x * beta
    with np.errstate(over="ignore"):
        soft = np.log1p(np.exp(np.minimum(bx, threshold))) / beta
    out = np.where(bx > threshold, x, soft).astype(x.dtype, copy=False)
    if needs_grad(input):
        return record(SoftplusBackward0, out, (input,), {"self": input}, beta=beta,
                      threshold=threshold)
    return _make(out)


class EluBackward0(Node):
    rule = Rule("ELU (and SELU): scale for x > 0, alpha·scale·input_scale·e^(x·input_scale) "
                "otherwise.",
                ("grad_self = where(self > 0, grad * scale, grad * alpha * scale * input_scale "
                 "* exp(self * input_scale))",),
                "1 or α·eˣ")
    def backward(self, g, s, xp):
        x = s["self"]
        a, sc, isc = self.alpha, self.scale, self.input_scale
        return (xp.where(x > 0, g * sc, g * (a * sc * isc) * xp.exp(x * isc)),)


class CeluBackward0(EluBackward0):
    rule = Rule("CELU: 1 for x > 0, e^(x/α) otherwise (an ELU with input_scale = 1/α).",
                ("grad_self = where(self > 0, grad * scale, grad * alpha * scale * input_scale "
                 "* exp(self * input_scale))",),
                "1 or e^(x/α)")
    pass


def _elu(input: Tensor, alpha: float, scale: float, input_scale: float, inplace: bool,  # noqa: A002
         cls: type = EluBackward0) -> Tensor:
    x = input._data
    with np.errstate(over="ignore"):
        neg = alpha * scale * np.expm1(np.minimum(x, 0) * input_scale)
    out = np.where(x > 0, x * scale, neg).astype(x.dtype, copy=False)
    return _unary(input, out, cls, inplace, {"self": input}, alpha=alpha, scale=scale,
                  input_scale=input_scale, is_result=False)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """x for x > 0, alpha·(exp(x) − 1) otherwise (EluBackward0)."""
    return _elu(input, alpha, 1.0, 1.0, inplace)


def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """scale·elu(x, alpha) with the self-normalising constants (EluBackward0)."""
    return _elu(input, 1.6732632423543772848170429916717, 1.0507009873554804934193349852946,
                1.0, inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(0, x) + min(0, alpha·(exp(x/alpha) − 1)) (CeluBackward0)."""
    return _elu(input, alpha, 1.0, 1.0 / alpha, inplace, CeluBackward0)


class LeakyReluBackward0(Node):
    rule = Rule("Leaky ReLU: slope 1 for x > 0, negative_slope otherwise.",
                ("grad_self = where(self > 0, grad, grad * negative_slope)",),
                "1 or α")
    def backward(self, g, s, xp):
        return (xp.where(s["self"] > 0, g, g * self.negative_slope),)


class LeakyReluBackward1(Node):
    """leaky_relu_'s node: torch saves the result (the input is overwritten)."""

    rule = Rule("In-place leaky ReLU: slope 1 where the result is > 0, negative_slope "
                "otherwise (the result has the input's sign; the input itself is gone).",
                ("grad_self = where(result > 0, grad, grad * negative_slope)",),
                "1 or α")

    def backward(self, g, s, xp):
        return (xp.where(s["result"] > 0, g, g * self.negative_slope),)


def _leaky_relu_result(input: Tensor, negative_slope: float) -> Tensor:  # noqa: A002
    x = input._data
    out = np.where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)
    if needs_grad(input):
        return record(LeakyReluBackward1, out, (input,), output_saved=("result",),
                      negative_slope=negative_slope)
    return _make(out)


def leaky_relu(input: Tensor, negative_slope: float = 0.01,  # noqa: A002
               inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope·x (LeakyReluBackward0; in place
    LeakyReluBackward1, which saves the result as torch does)."""
    if inplace:
        return pointwise.inplace(input, _leaky_relu_result, negative_slope)
    x = input._data
    out = np.where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)
    return _unary(input, out, LeakyReluBackward0, inplace, {"self": input},
                  negative_slope=negative_slope)


class HardtanhBackward0(Node):
    rule = Rule("Hardtanh: the gradient passes strictly inside (min_val, max_val), 0 outside.",
                ("grad_self = where((self <= min_val) | (self >= max_val), 0, grad)",),
                "1 inside, 0 outside")
    def backward(self, g, s, xp):
        x = s["self"]
        return (xp.where((x <= self.min_val) | (x >= self.max_val), 0.0, g),)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,  # noqa: A002
             inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val] (HardtanhBackward0)."""
    x = input._data
    out = np.clip(x, min_val, max_val).astype(x.dtype, copy=False)
    return _unary(input, out, HardtanhBackward0, inplace, {"self": input}, min_val=min_val,
                  max_val=max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """min(max(x, 0), 6) (HardtanhBackward0, as torch)."""
    return hardtanh(input, 0.0, 6.0, inplace)


class LogSigmoidBackward0(Node):
    rule = Rule("log σ(x): its derivative is 1 − σ(x) = σ(−x).",
                ("grad_self = grad * (1 - sigmoid(self))",),
                "d log σ(x)/dx = σ(−x)")
    def backward(self, g, s, xp):
        x = s["self"]
        return (g * (1 - 1 / (1 + xp.exp(-x))),)


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """log σ(x), computed stably (LogSigmoidBackward0)."""
    x = input._data
    out = (np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))).astype(x.dtype, copy=False)
    if needs_grad(input):
        return record(LogSigmoidBackward0, out, (input,), {"self": input,
                                                           "buffer": np.zeros((0,), x.dtype)})
    return _make(out)


def softsign(input: Tensor) -> Tensor:  # noqa: A002
    """x / (1 + |x|) (DivBackward0 over engine ops, as torch composes it)."""
    return input / (pointwise.abs(input) + 1)


class MishBackward0(Node):
    rule = Rule("Mish x·tanh(softplus(x)): tanh(sp) + x·σ(x)·(1 − tanh²(sp)).",
                ("t = tanh(softplus(self))",
                 "grad_self = grad * (t + self * sigmoid(self) * (1 - t**2))"),
                "d mish/dx = tanh(sp) + x·σ(x)·sech²(sp)")
    def backward(self, g, s, xp):
        if not isinstance(g, np.ndarray):
            no_double_backward(self)
        x = s["self"]
        sp = np.logaddexp(0, x)
        t = np.tanh(sp)
        return (g * (t + x * (1 - t * t) * _sig(x)),)


def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x·tanh(softplus(x)) (MishBackward0)."""
    x = input._data
    out = (x * np.tanh(np.logaddexp(0, x))).astype(x.dtype, copy=False)
    return _unary(input, out, MishBackward0, inplace, {"self": input})


# ----------------------------------------------------------------------------- dropout
def _noise(input: Tensor, shp: tuple, p: float) -> Tensor:  # noqa: A002
    """torch's dropout mask: an empty tensor drawn with bernoulli_(1 - p), divided by 1 - p."""
    noise = creation.empty(*shp, dtype=input.dtype)
    noise.bernoulli_(1 - p)
    noise._data /= noise._data.dtype.type(1 - p)
    return noise


def dropout(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
            inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1 − p): the input
    times a bernoulli mask, as torch's CPU kernel (MulBackward0)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0 or input._data.size == 0:
        return input
    if p == 1.0:
        zero = _make(np.zeros((), input._data.dtype))
        return input.mul_(zero) if inplace else input * zero
    noise = _noise(input, tuple(input._data.shape), p)
    return input.mul_(noise) if inplace else input * noise


def feature_dropout(input: Tensor, p: float, training: bool, inplace: bool,  # noqa: A002
                    batched_ndim: int) -> Tensor:
    """Dropout of whole channels (dropout1d/2d/3d): one mask entry per (sample, channel)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0 or input._data.size == 0:
        return input
    x = input._data
    if p == 1.0:
        zero = _make(np.zeros((), x.dtype))
        return input.mul_(zero) if inplace else input * zero
    batched = x.ndim == batched_ndim
    shp = x.shape[:2] if batched else x.shape[:1]
    shp = shp + (1,) * (x.ndim - len(shp))
    noise = _noise(input, shp, p)
    return input.mul_(noise) if inplace else input * noise


# ----------------------------------------------------------------------------- losses
def _reduce(out: np.ndarray, r: int) -> np.ndarray:
    if r == 0:
        return out
    if r == 2:
        return np.asarray(full_sum(out), out.dtype)
    return np.asarray(full_sum(out) / out.dtype.type(out.size) if out.size else out.mean(),
                      out.dtype)


def _norm(r: int, numel: int) -> float:
    return 1.0 / numel if r == 1 else 1.0


class BinaryCrossEntropyBackward0(Node):
    rule = Rule("Binary cross-entropy on probabilities p: (p − y)/(p(1 − p)) (times weight, "
                "over N for the mean); the target gets ln(1 − p) − ln p.",
                ("k = grad * mean_factor(reduction, numel(self)) * (1 if weight is None else "
                 "weight)",
                 "grad_self = k * (self - target) / maximum((1 - self) * self, 1e-12)",
                 "grad_target = k * (log(maximum(1 - self, 1e-45)) - log(maximum(self, 1e-45)))"),
                "∂ BCE/∂p = (p − y)/(p(1 − p)) / N",
                optional=("weight",))
    def backward(self, g, s, xp):
        if not isinstance(g, np.ndarray):
            no_double_backward(self)
        x, t = s["self"], s["target"]
        w = s.get("weight")
        gi = (x - t) / np.maximum((1 - x) * x, 1e-12) * (g * _norm(self.reduction, x.size))
        if w is not None:
            gi = gi * w
        gt = None
        if self.next_functions[1][0] is not None:
            gt = (np.log(np.maximum(1 - x, 1e-45)) - np.log(np.maximum(x, 1e-45))) \
                * (g * _norm(self.reduction, x.size))
            if w is not None:
                gt = gt * w
        return gi.astype(x.dtype, copy=False), gt


_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def _reduction(size_average: Any, reduce: Any, reduction: str) -> int:
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = ("mean" if size_average else "sum") if reduce else "none"
        warnings.warn(f"size_average and reduce args will be deprecated, please use "
                      f"reduction='{reduction}' instead.", UserWarning, stacklevel=3)
    try:
        return _REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(f"{reduction} is not a valid value for reduction") from None


def _broadcast_pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    try:
        out = tuple(np.broadcast_shapes(a._data.shape, b._data.shape))
    except ValueError:
        _raise(broadcast_error(a._data.shape, b._data.shape, "broadcast_tensors"), tensor=a)
    if a._data.shape != out:
        a = _shape.expand(a, out)
    if b._data.shape != out:
        b = _shape.expand(b, out)
    return a, b


def l1_loss(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
            reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Mean (or sum, or each) of |input - target| (composed of engine ops)."""
    r = _reduction(size_average, reduce, reduction)
    a, b = _broadcast_pair(input, target)
    err = pointwise.abs(a - b)
    if r == 0:
        return err
    return _red.sum(err) if r == 2 else _red.mean(err)


def _reduction_arg(size_average: Any, reduce: Any, reduction: str) -> int:
    return _reduction(size_average, reduce, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                         size_average: Any = None, reduce: Any = None,
                         reduction: str = "mean") -> Tensor:
    """−(y·log p + (1 − y)·log(1 − p)), logs clamped at −100 (BinaryCrossEntropyBackward0)."""
    r = _reduction_arg(size_average, reduce, reduction)
    x, t = input._data, target._data
    if t.shape != x.shape:
        raise ValueError(f"Using a target size ({Size(t.shape)!r}) that is different to the "
                         f"input size ({Size(x.shape)!r}) is deprecated. Please ensure they "
                         "have the same size.")
    if weight is not None and weight._requires_grad:
        _raise(RuntimeError("The function 'binary_cross_entropy' is not differentiable with "
                            "respect to argument 'weight'. This input cannot have "
                            "requires_grad True."), tensor=weight)
    if x.size and (x.min() < 0 or x.max() > 1):
        _raise(RuntimeError("all elements of input should be between 0 and 1"), tensor=input)
    with np.errstate(divide="ignore"):
        loss = -(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log1p(-x), -100))
    w = None
    if weight is not None:
        w = np.broadcast_to(weight._data, x.shape)
        loss = loss * w
    out = _reduce(loss.astype(x.dtype, copy=False), r)
    if needs_grad(input, target):
        saved = {"self": input, "target": target}
        if weight is not None:
            saved["weight"] = weight
        return record(BinaryCrossEntropyBackward0, out, (input, target), saved, reduction=r)
    return _make(out)


class BinaryCrossEntropyWithLogitsBackward0(Node):
    rule = Rule("BCE on logits z: σ(z) − y (with pos_weight: (1 − y) − lw·(1 − σ(z))), times "
                "weight, over N for the mean.",
                ("k = grad * mean_factor(reduction, numel(self)) * (1 if weight is None else "
                 "weight)",
                 "lw = 1 if pos_weight is None else (pos_weight - 1) * target + 1",
                 "grad_self = k * ((1 - target) - lw * (1 - sigmoid(self)))",
                 "grad_target = k * (-self + (0 if pos_weight is None else (pos_weight - 1) * "
                 "softplus(-self)))"),
                "∂ BCE/∂z = (σ(z) − y)/N",
                optional=("weight", "pos_weight"))
    def backward(self, g, s, xp):
        if not isinstance(g, np.ndarray):
            no_double_backward(self)
        x, t = s["self"], s["target"]
        w, pw = s.get("weight"), s.get("pos_weight")
        k = g * _norm(self.reduction, x.size)
        sg = _sig(x)
        if pw is not None:
            lw = (pw - 1) * t + 1
            gi = (1 - t) - lw * (1 - sg)
        else:
            gi = sg - t
        gi = gi * k
        gt = None
        if self.next_functions[1][0] is not None:
            sp = np.logaddexp(0, -x)  # softplus(-x)
            gt = -x + ((pw - 1) * sp if pw is not None else 0)
            gt = gt * k
            if w is not None:
                gt = gt * w
        if w is not None:
            gi = gi * w
        return gi.astype(x.dtype, copy=False), gt


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None, size_average: Any = None,
                                     reduce: Any = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of σ(input), computed stably from the logits
    (BinaryCrossEntropyWithLogitsBackward0); ``pos_weight`` weighs the positive term."""
    r = _reduction_arg(size_average, reduce, reduction)
    x, t = input._data, target._data
    if t.shape != x.shape:
        raise ValueError(f"Target size ({Size(t.shape)!r}) must be the same as input size "
                         f"({Size(x.shape)!r})")
    for name, v in (("weight", weight), ("pos_weight", pos_weight)):
        if v is not None and v._requires_grad:
            _raise(RuntimeError("The function 'binary_cross_entropy_with_logits' is not "
                                f"differentiable with respect to argument '{name}'. This input "
                                "cannot have requires_grad True."), tensor=v)
    sp = np.logaddexp(0, -x)  # log(1 + exp(-x)) = max(-x, 0) + log1p(exp(-|x|))
    if pos_weight is not None:
        lw = (pos_weight._data - 1) * t + 1
        loss = (1 - t) * x + lw * sp
    else:
        loss = (1 - t) * x + sp
    if weight is not None:
        loss = loss * weight._data
    out = _reduce(np.asarray(loss).astype(x.dtype, copy=False), r)
    if needs_grad(input, target):
        saved = {"self": input, "target": target}
        if weight is not None:
            saved["weight"] = weight
        if pos_weight is not None:
            saved["pos_weight"] = pos_weight
        return record(BinaryCrossEntropyWithLogitsBackward0, out, (input, target), saved,
                      reduction=r)
    return _make(out)


def _pair(input: Tensor, target: Tensor, name: str) -> tuple[Tensor, Tensor]:  # noqa: A002
    if target._data.shape != input._data.shape:
        warnings.warn(f"Using a target size ({Size(target._data.shape)!r}) that is different "
                      f"to the input size ({Size(input._data.shape)!r}). This will likely lead "
                      "to incorrect results due to broadcasting. Please ensure they have the "
                      "same size.", UserWarning, stacklevel=3)
    return _broadcast_pair(input, target)


class SmoothL1LossBackward0(Node):
    rule = Rule("Smooth L1: the error d = x − y over beta inside ±beta, ±1 outside (over N for "
                "the mean); the target gets the opposite.",
                ("d = self - target",
                 "k = grad * mean_factor(reduction, numel(d))",
                 "grad_self = k * clip(d / beta, -1, 1)",
                 "grad_target = -grad_self"),
                "∂/∂x = d/β if |d| < β else sign(d)")
    def backward(self, g, s, xp):
        d = s["self"] - s["target"]
        b = self.beta
        k = g * _norm(self.reduction, self._numel)
        gi = xp.where(d < -b, -k, xp.where(d > b, k, d / b * k))
        ga = gi if self.next_functions[0][0] is not None else None
        gb = -gi if self.next_functions[1][0] is not None else None
        return ga, gb


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
                   reduce: Any = None, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5·d²/beta where |d| < beta, else |d| − 0.5·beta (SmoothL1LossBackward0)."""
    r = _reduction_arg(size_average, reduce, reduction)
    if beta == 0.0:
        return l1_loss(input, target, reduction=("none", "mean", "sum")[r])
    a, b = _pair(input, target, "smooth_l1_loss")
    d = a._data - b._data
    ad = np.abs(d)
    loss = np.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta).astype(d.dtype, copy=False)
    out = _reduce(loss, r)
    if needs_grad(a, b):
        return record(SmoothL1LossBackward0, out, (a, b), {"self": a, "target": b},
                      reduction=r, beta=beta, _numel=d.size)
    return _make(out)


class HuberLossBackward0(Node):
    rule = Rule("Huber loss: the error d = x − y inside ±delta, ±delta outside (over N for the "
                "mean); the target gets the opposite.",
                ("d = self - target",
                 "k = grad * mean_factor(reduction, numel(d))",
                 "grad_self = k * clip(d, -delta, delta)",
                 "grad_target = -grad_self"),
                "∂/∂x = d if |d| < δ else δ·sign(d)")
    def backward(self, g, s, xp):
        d = s["self"] - s["target"]
        dl = self.delta
        k = g * _norm(self.reduction, self._numel)
        gi = xp.where(d < -dl, -dl * k, xp.where(d > dl, dl * k, d * k))
        ga = gi if self.next_functions[0][0] is not None else None
        gb = -gi if self.next_functions[1][0] is not None else None
        return ga, gb


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight: Tensor | None = None) -> Tensor:
    """0.5·d² where |d| < delta, else delta·(|d| − 0.5·delta) (HuberLossBackward0)."""
    r = _reduction_arg(None, None, reduction)
    a, b = _pair(input, target, "huber_loss")
    d = a._data - b._data
    ad = np.abs(d)
    loss = np.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta)).astype(d.dtype,
                                                                             copy=False)
    if weight is not None:
        raise NotImplementedError("huber_loss(weight=...) is not supported by the engine yet")
    out = _reduce(loss, r)
    if needs_grad(a, b):
        return record(HuberLossBackward0, out, (a, b), {"self": a, "target": b},
                      reduction=r, delta=delta, _numel=d.size)
    return _make(out)


def kl_div(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Pointwise target·(log target − input) (exp(target)·(target − input) with
    ``log_target``), then the reduction; 'batchmean' divides the sum by the batch size."""
    if size_average is not None or reduce is not None:
        reduction = ("none", "mean", "sum")[_reduction_arg(size_average, reduce, reduction)]
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns "
                      "with the KL div math definition.'mean' will be changed to behave the "
                      "same as 'batchmean' in the next major release.", UserWarning,
                      stacklevel=2)
    if reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if log_target:
        out = pointwise.exp(target) * (target - input)
    else:
        t = target._data
        with np.errstate(divide="ignore", invalid="ignore"):
            xlogy = np.where(t == 0, 0.0, t * np.log(t)).astype(t.dtype, copy=False)
        if target._requires_grad:
            logt = pointwise.log(pointwise.where(target == 0, 1.0, target))
            first = target * logt
        else:
            first = _make(xlogy)
        out = first - target * input
    if reduction == "none":
        return out
    if reduction == "mean":
        return _red.mean(out)
    total = _red.sum(out)
    if reduction == "batchmean" and input.ndim != 0:
        return total / input._data.shape[0]
    return total
