"""Normalisation and lookup for engine.nn.functional: batch_norm (NativeBatchNormBackward0),
layer_norm (NativeLayerNormBackward0), group_norm (NativeGroupNormBackward0) and embedding
(EmbeddingBackward0), numpy kernels with torch's statistics and running-stat updates."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine._rule import Rule
from engine.function import Node, record
from engine.nn._conv import _dims, no_double_backward
from engine.ops._common import needs_grad
from engine.tensor import Size, Tensor, _make, _raise

__all__ = ["batch_norm", "layer_norm", "group_norm", "embedding", "one_hot"]


def _arr(t: Tensor | None) -> np.ndarray | None:
    return None if t is None else t._data


def _bump(t: Tensor, values: np.ndarray) -> None:
    t._data[...] = values
    t._version[0] += 1


class NativeBatchNormBackward0(Node):
    rule = Rule("Batch norm: in training the gradient also flows through the batch mean and "
                "variance (every element of a channel moved them), in eval the running "
                "statistics are constants; weight gets Σ grad·x̂, bias Σ grad.",
                ("mu = result1 if training else running_mean",
                 "istd = result2 if training else 1 / sqrt(running_var + eps)",
                 "x_hat = (input - channels(mu, input)) * channels(istd, input)",
                 "w = 1 if weight is None else channels(weight, input)",
                 "dims = not_channels(input)",
                 "grad_input = w * channels(istd, input) * (grad - mean(grad, dims, True) - "
                 "x_hat * mean(grad * x_hat, dims, True)) if training else grad * w * "
                 "channels(istd, input)",
                 "grad_weight = sum(grad * x_hat, dims)",
                 "grad_bias = sum(grad, dims)"),
                "∂L/∂x = w/σ · (G − mean(G) − x̂·mean(G·x̂))",
                optional=("weight", "running_mean", "running_var"))
    def backward(self, g, s, xp):
        if not isinstance(g, np.ndarray):
            no_double_backward(self)
        x, w = s["input"], s.get("weight")
        mean, invstd = s["result1"], s["result2"]
        axes = self._axes
        bshape = self._bshape
        if not self.training:
            mean = s["running_mean"]
            invstd = 1.0 / np.sqrt(s["running_var"] + self.eps)
        mean_b = mean.reshape(bshape)
        inv_b = invstd.reshape(bshape).astype(x.dtype)
        xhat = (x - mean_b) * inv_b
        need = tuple(fn is not None for fn, _ in self.next_functions)
        gb = g.sum(axis=axes)
        gw = (g * xhat).sum(axis=axes)
        gx = None
        if need[0]:
            wb = (w.reshape(bshape) if w is not None else 1.0)
            if self.training:
                n = x.size // x.shape[1]
                gx = (wb * inv_b / n) * (n * g - gb.reshape(bshape) - xhat * gw.reshape(bshape))
            else:
                gx = g * wb * inv_b
            gx = gx.astype(x.dtype, copy=False)
        return (gx, gw if need[1] else None, gb if need[2] else None)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) by the batch statistics (training) or the running ones
    (evaluation); training updates running_mean / running_var in place with ``momentum``
    (the unbiased variance), as torch (NativeBatchNormBackward0)."""
    x = input._data
    if training:
        size = x.size // x.shape[1] if x.ndim > 1 else x.size
        if size == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {Size(x.shape)!r}")
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        n = x.size // x.shape[1]
        if running_mean is not None:
            _bump(running_mean, (1 - momentum) * running_mean._data + momentum * mean)
        if running_var is not None:
            _bump(running_var, (1 - momentum) * running_var._data
                  + momentum * var * (n / max(n - 1, 1)))
        invstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        use_mean, use_inv = mean.astype(x.dtype), invstd
    else:
        use_mean = running_mean._data
        use_inv = (1.0 / np.sqrt(running_var._data + eps)).astype(x.dtype)
        mean = np.zeros((0,), x.dtype)
        invstd = np.zeros((0,), x.dtype)
    out = (x - use_mean.reshape(bshape)) * use_inv.reshape(bshape)
    if weight is not None:
        out = out * weight._data.reshape(bshape)
    if bias is not None:
        out = out + bias._data.reshape(bshape)
    out = out.astype(x.dtype, copy=False)
    if needs_grad(input, weight, bias):
        saved = {"input": input, "weight": weight, "running_mean": running_mean,
                 "running_var": running_var, "result1": mean.astype(x.dtype),
                 "result2": invstd}
        return record(NativeBatchNormBackward0, out, (input, weight, bias),
                      {k: v for k, v in saved.items() if v is not None},
                      training=bool(training), eps=eps, _axes=axes, _bshape=bshape)
    return _make(out)


class NativeLayerNormBackward0(Node):
    rule = Rule("Layer norm: the gradient through the normalization (mean and variance over "
                "the normalized dims depend on every element), plus weight and bias summed "
                "over the batch.",
                ("dims = last(input, len(normalized_shape))",
                 "batch = first(input, len(normalized_shape))",
                 "x_hat = (input - result1) * result2",
                 "gw = grad if weight is None else grad * weight",
                 "grad_input = result2 * (gw - mean(gw, dims, True) - x_hat * mean(gw * x_hat, "
                 "dims, True))",
                 "grad_weight = sum(grad * x_hat, batch)",
                 "grad_bias = sum(grad, batch)"),
                "∂L/∂x = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/σ,  ĝ = G·w",
                optional=("weight",))
    def backward(self, g, s, xp):
        if not isinstance(g, np.ndarray):
            no_double_backward(self)
        x = s["input"]
        w = s.get("weight")
        mean, rstd = s["result1"], s["result2"]
        k = self._k
        axes = tuple(range(x.ndim - k, x.ndim))
        lead = tuple(range(x.ndim - k))
        xhat = (x - mean) * rstd
        need = tuple(fn is not None for fn, _ in self.next_functions)
        gx = gw = gb = None
        if need[0]:
            gh = g * w if w is not None else g
            n = int(np.prod([x.shape[a] for a in axes]))
            gx = (rstd / n) * (n * gh - gh.sum(axis=axes, keepdims=True)
                               - xhat * (gh * xhat).sum(axis=axes, keepdims=True))
            gx = gx.astype(x.dtype, copy=False)
        if need[1]:
            gw = (g * xhat).sum(axis=lead)
        if need[2]:
            gb = g.sum(axis=lead)
        return gx, gw, gb


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims (NativeLayerNormBackward0)."""
    ns = (int(normalized_shape),) if isinstance(normalized_shape, int) else \
        tuple(int(v) for v in normalized_shape)
    x = input._data
    k = len(ns)
    if x.ndim < k or tuple(x.shape[x.ndim - k:]) != ns:
        _raise(RuntimeError(f"Given normalized_shape={_dims(ns)}, expected input with shape "
                            f"[*, {', '.join(map(str, ns))}], but got input of size"
                            f"{_dims(x.shape)}"), tensor=input)
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    rstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    out = (x - mean) * rstd
    if weight is not None:
        out = out * weight._data
    if bias is not None:
        out = out + bias._data
    out = out.astype(x.dtype, copy=False)
    if needs_grad(input, weight, bias):
        saved = {"input": input, "result1": mean.astype(x.dtype), "result2": rstd}
        if weight is not None:
            saved["weight"] = weight
        if bias is not None:
            saved["bias"] = bias
        return record(NativeLayerNormBackward0, out, (input, weight, bias), saved,
                      normalized_shape=ns, _k=k)
    return _make(out)


class NativeGroupNormBackward0(Node):
    rule = Rule("Group norm: the layer-norm rule within each group of channels of each sample, "
                "plus the per-channel weight and bias.",
                ("x_hat = reshape((groups_of(input, group) - unsqueeze(result1, -1)) * "
                 "unsqueeze(result2, -1), input.shape)",
                 "gw = groups_of(grad if weight is None else grad * channels(weight, input), "
                 "group)",
                 "xh = groups_of(x_hat, group)",
                 "grad_input = reshape(unsqueeze(result2, -1) * (gw - mean(gw, -1, True) - xh "
                 "* mean(gw * xh, -1, True)), input.shape)",
                 "grad_weight = sum(grad * x_hat, not_channels(input))",
                 "grad_bias = sum(grad, not_channels(input))"),
                "∂L/∂x = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/σ per group",
                optional=("weight",))
    def backward(self, g, s, xp):
        if not isinstance(g, np.ndarray):
            no_double_backward(self)
        x = s["input"]
        w = s.get("weight")
        mean, rstd = s["result1"], s["result2"]
        n, c = x.shape[:2]
        grp = self.group
        xg = x.reshape(n, grp, -1)
        xhat = ((xg - mean[..., None]) * rstd[..., None]).reshape(x.shape)
        need = tuple(fn is not None for fn, _ in self.next_functions)
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = (1, c) + (1,) * (x.ndim - 2)
        gx = gw = gb = None
        if need[0]:
            gh = (g * w.reshape(bshape) if w is not None else g).reshape(n, grp, -1)
            xh = xhat.reshape(n, grp, -1)
            m = gh.shape[-1]
            r = rstd[..., None]
            gx = (r / m) * (m * gh - gh.sum(-1, keepdims=True)
                            - xh * (gh * xh).sum(-1, keepdims=True))
            gx = gx.reshape(x.shape).astype(x.dtype, copy=False)
        if need[1]:
            gw = (g * xhat).sum(axis=axes)
        if need[2]:
            gb = g.sum(axis=axes)
        return gx, gw, gb


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each group of channels of each sample (NativeGroupNormBackward0)."""
    x = input._data
    if x.ndim < 2 or x.shape[1] % num_groups:
        _raise(RuntimeError(f"Expected number of channels in input to be divisible by "
                            f"num_groups, but got input of shape {_dims(x.shape)} and "
                            f"num_groups={num_groups}"), tensor=input)
    n, c = x.shape[:2]
    xg = x.reshape(n, num_groups, -1)
    mean = xg.mean(-1)
    rstd = (1.0 / np.sqrt(xg.var(-1) + eps)).astype(x.dtype)
    out = ((xg - mean[..., None]) * rstd[..., None]).reshape(x.shape)
    bshape = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = out * weight._data.reshape(bshape)
    if bias is not None:
        out = out + bias._data.reshape(bshape)
    out = out.astype(x.dtype, copy=False)
    if needs_grad(input, weight, bias):
        saved = {"input": input, "result1": mean.astype(x.dtype), "result2": rstd}
        if weight is not None:
            saved["weight"] = weight
        return record(NativeGroupNormBackward0, out, (input, weight, bias), saved, N=n, C=c,
                      HxW=x.size // max(n * c, 1), group=num_groups, eps=eps)
    return _make(out)


class EmbeddingBackward0(Node):
    rule = Rule("Embedding lookup: each looked-up row gets the gradient of every position that "
                "used it, added up (the padding_idx row gets none).",
                ("g = put(weight_sym_sizes, reshape(indices, -1), reshape(grad, (-1, "
                 "weight_sym_sizes[1])))",
                 "grad_weight = fill(g, padding_idx, 0) if padding_idx >= 0 else g"),
                "∂/∂W[i] = Σ of G at the positions whose index is i")
    def backward(self, g, s, xp):
        if not isinstance(g, np.ndarray):
            no_double_backward(self)
        idx = s["indices"]
        gw = np.zeros(self.weight_sym_sizes, g.dtype)
        np.add.at(gw, idx.reshape(-1), g.reshape(-1, gw.shape[1]))
        if self.padding_idx >= 0:
            gw[self.padding_idx] = 0
        return (gw,)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by the integer ``input`` (EmbeddingBackward0); the row
    ``padding_idx`` gets no gradient."""
    idx = input._data
    if idx.dtype.kind not in "iu":
        tname = input.type()
        _raise(RuntimeError("Expected tensor for argument #1 'indices' to have one of the "
                            "following scalar types: Long, Int; but got "
                            f"{tname} instead (while checking arguments for embedding)"),
               tensor=input)
    w = weight._data
    if padding_idx is not None:
        if padding_idx > 0:
            assert padding_idx < w.shape[0], "Padding_idx must be within num_embeddings"
        elif padding_idx < 0:
            assert padding_idx >= -w.shape[0], "Padding_idx must be within num_embeddings"
            padding_idx = w.shape[0] + padding_idx
    else:
        padding_idx = -1
    if idx.size and (idx.min() < 0 or idx.max() >= w.shape[0]):
        _raise(IndexError("index out of range in self"), tensor=input)
    if max_norm is not None:
        rows = np.unique(idx)
        norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
        scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        w[rows] = w[rows] * scale[:, None].astype(w.dtype)
        weight._version[0] += 1
    out = w[idx]
    if needs_grad(weight):
        return record(EmbeddingBackward0, out, (weight,), {"indices": input},
                      weight_sym_sizes=w.shape, padding_idx=padding_idx,
                      scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)
    return _make(out)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding with a new last dim of ``num_classes`` (max + 1 by default)."""
    t = tensor._data
    if t.dtype != np.int64:
        _raise(RuntimeError("one_hot is only applicable to index tensor of type LongTensor."),
               tensor=tensor)
    if t.size and t.min() < 0:
        _raise(RuntimeError("Class values must be non-negative."), tensor=tensor)
    if num_classes == -1:
        num_classes = int(t.max()) + 1 if t.size else 0
    elif t.size and t.max() >= num_classes:
        _raise(RuntimeError("Class values must be smaller than num_classes."), tensor=tensor)
    out = np.zeros(t.shape + (num_classes,), np.int64)
    np.put_along_axis(out, t[..., None], 1, axis=-1)
    return _make(out)
