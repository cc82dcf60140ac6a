"""torch.nn.functional for the engine: activations, ``linear`` and the losses, with torch's
graph nodes (AddmmBackward0 / TBackward0, MseLossBackward0, NllLossBackward0 over
LogSoftmaxBackward0), arguments (``reduction=``) and error messages.

Gradient rules are written against the ``xp`` vocabulary, so ``create_graph=True`` differentiates
through them again.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np

from engine._rule import Rule, _nn
from engine.function import Node, record
from engine.nn._act import (  # noqa: E402,F401
    _REDUCTIONS,
    _broadcast_pair,
    _reduction,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    celu,
    dropout,
    elu,
    feature_dropout,
    gelu,
    hardtanh,
    huber_loss,
    kl_div,
    l1_loss,
    leaky_relu,
    logsigmoid,
    mish,
    relu6,
    selu,
    silu,
    smooth_l1_loss,
    softplus,
    softsign,
)
from engine.nn._conv import (  # noqa: E402,F401
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    max_pool1d,
    max_pool2d,
    pad,
)
from engine.nn._norm import batch_norm, embedding, group_norm, layer_norm, one_hot  # noqa: E402,F401
from engine.ops import linalg, pointwise, shape
from engine.ops import reduce as _red
from engine.ops._cascade import full_sum, nll_reduce
from engine.ops._common import needs_grad
from engine.tensor import Size, Tensor, _make, _raise

__all__ = ["relu", "relu_", "sigmoid", "tanh", "softmax", "log_softmax", "linear", "mse_loss",
           "cross_entropy", "nll_loss", "leaky_relu", "gelu", "l1_loss", "dropout", "silu",
           "softplus", "elu", "selu", "celu", "hardtanh", "relu6", "logsigmoid", "softsign",
           "mish", "binary_cross_entropy", "binary_cross_entropy_with_logits", "smooth_l1_loss",
           "huber_loss", "kl_div", "conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d",
           "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
           "pad", "batch_norm", "layer_norm", "group_norm", "embedding", "one_hot",
           "dropout1d", "dropout2d", "dropout3d"]
__all__ += ["conv_transpose1d", "conv_transpose2d"]


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) input (one mask entry per sample and channel)."""
    return feature_dropout(input, p, training, inplace, 3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) input."""
    return feature_dropout(input, p, training, inplace, 4)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) input."""
    return feature_dropout(input, p, training, inplace, 5)


# ----------------------------------------------------------------------------- activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's names
    """max(x, 0) (ReluBackward0); ``inplace=True`` overwrites ``input``."""
    if inplace:
        return input.relu_()
    return pointwise.relu(input)


def relu_(input: Tensor) -> Tensor:  # noqa: A002
    return input.relu_()


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """1 / (1 + exp(-x)) (SigmoidBackward0)."""
    return pointwise.sigmoid(input)


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """Hyperbolic tangent (TanhBackward0)."""
    return pointwise.tanh(input)


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
            dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (SoftmaxBackward0)."""
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    return _red.softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
                dtype: Any = None) -> Tensor:
    """log(softmax(x)) along ``dim`` (LogSoftmaxBackward0)."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    return _red.log_softmax(input, dim, dtype)


# ----------------------------------------------------------------------------- linear
def _type_word(t: Tensor) -> str:
    return {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
            "int32": "Int"}.get(t._data.dtype.name, t._data.dtype.name)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """x @ W.T + b, decomposed as torch 2.13 does it.

    2-D input with bias: one AddmmBackward0 (bias, input, TBackward0 of weight). Other
    contiguous input with bias: reshape to 2-D, addmm, view back (ViewBackward0). Otherwise
    matmul with W.T and an in-place add of the bias.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"linear(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    di, dw = input._data, weight._data
    if di.ndim == 0 or dw.ndim == 0:
        _raise(RuntimeError(f"both arguments to linear need to be at least 1D, but they are "
                            f"{di.ndim}D and {dw.ndim}D"), tensor=input)
    if di.dtype != dw.dtype:
        _raise(RuntimeError(f"mat1 and mat2 must have the same dtype, but got "
                            f"{_type_word(input)} and {_type_word(weight)}"), tensor=input)
    if dw.ndim == 2 and bias is not None:
        wt = shape.t(weight)
        if di.ndim == 2:
            return linalg.addmm(bias, input, wt)
        if di.flags.c_contiguous:
            lead = di.shape[:-1]
            n = 1
            for s in lead:
                n *= s
            flat = shape.reshape(input, (n, di.shape[-1]))
            out = linalg.addmm(bias, flat, wt)
            return shape.view(out, lead + (out._data.shape[1],))
    out = linalg.matmul(input, shape.t(weight))
    if bias is not None:
        if needs_grad(out, bias) and not out._requires_grad:
            return pointwise.add(out, bias)
        out.add_(bias)
    return out


# ----------------------------------------------------------------------------- losses
class MseLossBackward0(Node):
    rule = Rule("Mean squared error: 2·(x − y) (over N for the mean); the target gets the "
                "opposite.",
                ("grad_self = grad * 2 * (self - target) * mean_factor(reduction, numel)",
                 "grad_target = -grad_self"),
                "∂ mean((x − y)²)/∂x = 2(x − y)/N")
    def backward(self, g, s, xp):
        d = s["self"] - s["target"]
        norm = 2.0 / self.numel if self.reduction == 1 else 2.0
        gi = d * (g * norm)
        ga = gi if self.next_functions[0][0] is not None else None
        gb = -gi if self.next_functions[1][0] is not None else None
        return ga, gb


def mse_loss(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
             reduce: Any = None, reduction: str = "mean", weight: Tensor | None = None
             ) -> Tensor:
    """Mean (or sum, or each) of (input - target)**2 (MseLossBackward0)."""
    if not isinstance(target, Tensor):
        raise TypeError(f"mse_loss(): argument 'target' (position 2) must be Tensor, not "
                        f"{type(target).__name__}")
    if target._data.shape != input._data.shape:
        warnings.warn(f"Using a target size ({Size(target._data.shape)!r}) that is different to "
                      f"the input size ({Size(input._data.shape)!r}). This will likely lead to "
                      "incorrect results due to broadcasting. Please ensure they have the same "
                      "size.", UserWarning, stacklevel=2)
    r = _reduction(size_average, reduce, reduction)
    a, b = _broadcast_pair(input, target)
    if weight is not None:
        if weight._data.shape != input._data.shape:
            raise ValueError("Weights and input must have the same size.")
        err = pointwise.pow(a - b, 2) * weight
        if r == 0:
            return err
        if r == 2:
            return _red.sum(err)
        return _red.sum(err) / _red.sum(weight)
    da, db = a._data, b._data
    d = da - db
    sq = d * d
    if r == 0:
        out = sq
    elif r == 2:
        out = _full_sum(sq)
    else:
        out = np.asarray(_full_sum(sq) / sq.dtype.type(sq.size)
                         if sq.size else np.float64("nan")).astype(sq.dtype)
    if needs_grad(a, b):
        return record(MseLossBackward0, out, (a, b), {"self": a, "target": b}, reduction=r,
                      numel=int(sq.size))
    return _make(out)


def _full_sum(d: np.ndarray) -> np.ndarray:
    """sum() of all of ``d`` in torch's order (the losses' sum and mean reductions)."""
    return full_sum(d) if d.dtype.kind == "f" else np.asarray(d.sum())


class NllLossBackward0(Node):
    rule = Rule("Negative log-likelihood: −weight[t] at each sample's target class, 0 "
                "elsewhere (divided by the total weight for the mean; ignore_index gets none).",
                ("t = where(target == ignore_index, 0, target)",
                 "w = (1.0 if weight is None else take(weight, t)) * (target != ignore_index)",
                 "scale = 1 / total_weight if reduction == 1 and total_weight != 0 else 1",
                 "g = unsqueeze(grad, 1) if reduction == 0 else grad",
                 "grad_self = -g * scale * onehot(t, self.shape[1], 1) * unsqueeze(w, 1)"),
                "∂(−mean log pₜ)/∂log pⱼ = −1/N if j = t else 0")
    def backward(self, g, s, xp):
        m = self._onehot(s)
        if self.reduction == 0 and m.ndim > 1:
            g = xp.unsqueeze(g, 1)
        return (g * m,)

    def _onehot(self, s: dict) -> np.ndarray:
        """d(loss)/d(input) for a unit upstream gradient: -w[t] at each target (numpy)."""
        x = s["self"]
        x = getattr(x, "_data", x)
        t = s["target"]
        t = getattr(t, "_data", t)
        t_safe, w = _nll_weights(t, x.shape, self._weight_np, self.ignore_index, x.ndim)
        m = np.zeros(x.shape, dtype=x.dtype)
        if x.ndim == 1:
            m[t_safe] = -w
        elif x.ndim == 2:
            m[np.arange(x.shape[0]), t_safe] = -w
        else:
            np.put_along_axis(m, np.expand_dims(t_safe, 1), np.expand_dims(-w, 1), axis=1)
        if self.reduction == 1:
            total = float(np.asarray(getattr(s["total_weight"], "_data", s["total_weight"])))
            if total != 0:  # all targets ignored: torch's kernel writes no gradient at all
                m = m / np.asarray(total, dtype=x.dtype)
        return m.astype(x.dtype, copy=False)


def _nll_weights(t: np.ndarray, xshape: tuple, weight: np.ndarray | None, ignore_index: int,
                 ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets with ignored entries replaced by 0, and each sample's weight (0 if ignored)."""
    keep = t != ignore_index
    if keep.all():
        return t, (weight[t] if weight is not None else np.ones(t.shape))
    t_safe = np.where(keep, t, 0)
    if weight is not None:
        w = weight[t_safe] * keep
    else:
        w = keep.astype(np.float64)
    return t_safe, w


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
             size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
             reduction: str = "mean") -> Tensor:
    """Negative log likelihood of class ``target`` in log-probabilities ``input``:
    (C,) or (N, C) inputs record NllLossBackward0, (N, C, H, W) NllLoss2DBackward0, other
    shapes are viewed as (N, C, 1, -1) first, as torch does."""
    r = _reduction(size_average, reduce, reduction)
    x, t = input._data, target._data
    if x.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {x.ndim})")
    if x.ndim >= 2 and (t.ndim == 0 or x.shape[0] != t.shape[0]):
        raise ValueError(f"Expected input batch_size ({x.shape[0]}) to match target batch_size "
                         f"({t.shape[0] if t.ndim else 1}).")
    if x.ndim <= 2 and (t.ndim > 1 or (x.ndim == 1 and t.ndim != 0)):
        _raise(RuntimeError("0D or 1D target tensor expected, multi-target not supported"),
               tensor=target)
    if t.dtype.kind not in "iu":
        _raise(RuntimeError(f"expected target dtype to be Long or Byte, but got "
                            f"{_type_word(target)}"), tensor=target)
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    if weight is not None:
        if weight._data.ndim != 1 or weight._data.shape[0] != n_classes:
            _raise(RuntimeError(f"weight tensor should be defined either for all {n_classes} "
                                "classes or no classes but got weight tensor of shape: "
                                f"[{', '.join(map(str, weight._data.shape))}]"), tensor=weight)
        if weight._data.dtype != x.dtype:
            _raise(RuntimeError(f"expected scalar type {_type_word(input)} but found "
                                f"{_type_word(weight)}"), tensor=weight)
    if x.ndim <= 2:
        return _nll(input, target, weight, ignore_index, r, NllLossBackward0)
    if x.ndim == 4:
        if t.ndim != 3:
            _raise(RuntimeError("only batches of spatial targets supported (3D tensors) but "
                                f"got targets of dimension: {t.ndim}"), tensor=target)
        if t.shape != x.shape[:1] + x.shape[2:]:
            _raise(RuntimeError(f"size mismatch (got input: {_dims_text(x.shape)} , target: "
                                f"{_dims_text(t.shape)}"), tensor=target)
        return _nll(input, target, weight, ignore_index, r, NllLoss2DBackward0)
    if t.shape != x.shape[:1] + x.shape[2:]:
        want = ", ".join(map(str, x.shape[:1] + x.shape[2:]))
        _raise(RuntimeError(f"Expected target size [{want}], got "
                            f"[{', '.join(map(str, t.shape))}]"), tensor=target)
    n = x.shape[0]
    rest = int(np.prod(x.shape[2:]))
    x4 = shape.view(input, (n, n_classes, 1, rest)) if x.size else \
        shape.reshape(input, (n, n_classes, 1, rest))
    t3 = _make(t.reshape(n, 1, rest))
    out = _nll(x4, t3, weight, ignore_index, r, NllLoss2DBackward0)
    if r == 0:
        return shape.view(out, t.shape)
    return out


def _dims_text(shp: tuple) -> str:
    return "[" + ", ".join(map(str, shp)) + "]"


class NllLoss2DBackward0(NllLossBackward0):
    rule = Rule("Negative log-likelihood per pixel (N, C, H, W): −weight[t] at each pixel's "
                "target class, 0 elsewhere (divided by the total weight for the mean).",
                ("t = where(target == ignore_index, 0, target)",
                 "w = (1.0 if weight is None else take(weight, t)) * (target != ignore_index)",
                 "scale = 1 / total_weight if reduction == 1 and total_weight != 0 else 1",
                 "g = unsqueeze(grad, 1) if reduction == 0 else grad",
                 "grad_self = -g * scale * onehot(t, self.shape[1], 1) * unsqueeze(w, 1)"),
                "∂(−mean log pₜ)/∂log pⱼ = −1/N if j = t else 0")
    pass


#: nll_loss adds its picked values in ATen's cascade (a Python loop) up to this many targets
_NLL_CASCADE_MAX = 1 << 16


def _nll(input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int, r: int,
         cls: type) -> Tensor:
    x, t = input._data, target._data
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= n_classes))
    if bad.any():
        raise IndexError(f"Target {int(t[bad].reshape(-1)[0])} is out of bounds.")
    w_np = None if weight is None else weight._data
    t_safe, w = _nll_weights(t, x.shape, w_np, ignore_index, x.ndim)
    if x.ndim == 1:
        picked = x[t_safe]
    elif x.ndim == 2:
        picked = x[np.arange(x.shape[0]), t_safe]
    else:
        picked = np.squeeze(np.take_along_axis(x, np.expand_dims(t_safe, 1), axis=1), 1)
    w = w.astype(x.dtype, copy=False)
    losses = -(picked * w)
    total = np.asarray(w.sum(), dtype=x.dtype)
    if r == 0:
        out = np.array(losses, dtype=x.dtype, order="C")
        total = np.asarray(0.0, dtype=x.dtype)
    elif x.dtype.kind == "f" and keep.size <= _NLL_CASCADE_MAX:
        flat_keep = np.asarray(keep).reshape(-1)
        index = np.flatnonzero(flat_keep)
        vals = np.asarray(picked).reshape(-1)[index]
        wk = None if w_np is None else np.asarray(w).reshape(-1)[index]
        tot_l, tot_w = nll_reduce(vals, index, flat_keep.size, wk)
        total = np.asarray(tot_w if tot_w is not None else len(index), dtype=x.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.asarray(tot_l if r == 2 else tot_l / total[()], dtype=x.dtype)
    elif r == 2:
        out = np.asarray(losses.sum(), dtype=x.dtype)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.asarray(losses.sum() / total, dtype=x.dtype)
    if needs_grad(input):
        return record(cls, out, (input,),
                      {"self": input, "target": target, "total_weight": total},
                      reduction=r, ignore_index=ignore_index, weight=weight, _weight_np=w_np)
    return _make(out)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                  size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over the class dim, then nll_loss (NllLossBackward0 over
    LogSoftmaxBackward0); float ``target`` of the input's shape holds class probabilities."""
    r = _reduction(size_average, reduce, reduction)
    reduction = ("none", "mean", "sum")[r]
    class_dim = 0 if input.ndim == 1 else 1
    if input.ndim == 0:
        raise ValueError("Expected 1 or more dimensions (got 0)")
    logp = _red.log_softmax(input, class_dim)
    n_classes = input._data.shape[class_dim]
    if target._data.dtype.kind == "f" and target._data.shape == input._data.shape:
        tgt = target
        if label_smoothing > 0:
            tgt = target * (1 - label_smoothing) + label_smoothing / n_classes
        prod = logp * tgt
        if weight is not None:
            wshape = [1] * input.ndim
            wshape[class_dim] = n_classes
            prod = prod * shape.reshape(weight, tuple(wshape))
        if r == 2:
            return -_red.sum(prod)
        if r == 0:
            return -_red.sum(prod, class_dim)
        return -_red.sum(prod) / (input._data.size / n_classes)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing <= 0:
        return nll
    if weight is not None:
        wshape = [1] * input.ndim
        wshape[class_dim] = n_classes
        smooth = -_red.sum(logp * shape.reshape(weight, tuple(wshape)), class_dim)
    else:
        smooth = -_red.sum(logp, class_dim)
    ignore = target._data == ignore_index
    if ignore.any():
        smooth = pointwise.where(_make(ignore), 0.0, smooth)
    if r == 1:
        keep = ~ignore
        if weight is not None:
            denom = float(weight._data[target._data[keep]].sum())
        else:
            denom = float(keep.sum())
        ret = _red.sum(smooth) / denom
    elif r == 2:
        ret = _red.sum(smooth)
    else:
        ret = smooth
    return nll * (1 - label_smoothing) + ret * (label_smoothing / n_classes)


_nn.functional = sys.modules[__name__]  # engine._rule's transpose_of, conv_weight run it
