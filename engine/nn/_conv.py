"""Convolution, pooling and padding for engine.nn.functional: numpy kernels (im2col through
``as_strided`` windows and one batched matrix product each way) recorded with torch's nodes
(ConvolutionBackward0, MaxPool2DWithIndicesBackward0, AvgPool2DBackward0,
AdaptiveAvgPool2DBackward0, ConstantPadNdBackward0, ReflectionPad2DBackward0, ...)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from engine import autograd, grad_mode
from engine._rule import Rule
from engine.function import Node, record
from engine.ops import linalg, shape
from engine.ops import reduce as _red
from engine.ops._common import needs_grad
from engine.tensor import Tensor, _make, _raise

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d",
           "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_max_pool2d", "pad"]


def _tuple(v: Any, n: int) -> tuple:
    if isinstance(v, (tuple, list)):
        if len(v) == 1 and n > 1:
            return tuple(int(v[0]) for _ in range(n))
        return tuple(int(a) for a in v)
    return (int(v),) * n


def _dims(shp: tuple) -> str:
    return "[" + ", ".join(str(s) for s in shp) + "]"


def no_double_backward(node: Node) -> None:
    raise NotImplementedError(f"the engine cannot differentiate {node.name()} a second time "
                              "(create_graph=True) yet")


# ----------------------------------------------------------------------------- conv kernels
def _windows(xp: np.ndarray, k: tuple, st: tuple, dl: tuple, out: tuple) -> np.ndarray:
    """(N, C, kh, kw, oh, ow) view of the padded input ``xp``: no copy."""
    n, c = xp.shape[:2]
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, (n, c, k[0], k[1], out[0], out[1]),
                      (s0, s1, s2 * dl[0], s3 * dl[1], s2 * st[0], s3 * st[1]),
                      writeable=False)


def _pad_np(x: np.ndarray, p: tuple) -> np.ndarray:
    if not any(p):
        return x
    out = np.zeros(x.shape[:2] + (x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1]), x.dtype)
    out[:, :, p[0]:p[0] + x.shape[2], p[1]:p[1] + x.shape[3]] = x
    return out


def _out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _col(x: np.ndarray, k: tuple, st: tuple, pd: tuple, dl: tuple, out: tuple) -> np.ndarray:
    """im2col: (N, C*kh*kw, oh*ow), C-contiguous."""
    win = _windows(_pad_np(x, pd), k, st, dl, out)
    n, c = x.shape[:2]
    return win.reshape(n, c * k[0] * k[1], out[0] * out[1])


def _conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, st: tuple, pd: tuple,
                  dl: tuple, groups: int) -> np.ndarray:
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    out = (_out_size(x.shape[2], kh, st[0], pd[0], dl[0]),
           _out_size(x.shape[3], kw, st[1], pd[1], dl[1]))
    col = _col(x, (kh, kw), st, pd, dl, out)
    og = o // groups
    kk = cg * kh * kw
    if groups == 1:
        y = np.matmul(w.reshape(o, kk), col)
    else:
        y = np.empty((n, o, out[0] * out[1]), x.dtype)
        for gi in range(groups):
            y[:, gi * og:(gi + 1) * og] = np.matmul(w[gi * og:(gi + 1) * og].reshape(og, kk),
                                                    col[:, gi * kk:(gi + 1) * kk])
    if b is not None:
        y += b.reshape(1, o, 1)
    return y.reshape(n, o, out[0], out[1])


def _conv_backward(g: np.ndarray, x: np.ndarray, w: np.ndarray, st: tuple, pd: tuple,
                   dl: tuple, groups: int, need: tuple) -> tuple:
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = g.shape[2:]
    g3 = g.reshape(n, o, oh * ow)
    og = o // groups
    kk = cg * kh * kw
    gx = gw = gb = None
    if need[1]:
        col = _col(x, (kh, kw), st, pd, dl, (oh, ow))
        if groups == 1:
            gw = np.einsum("nol,nkl->ok", g3, col, optimize=True).reshape(w.shape)
        else:
            gw = np.empty(w.shape, w.dtype)
            for gi in range(groups):
                gw[gi * og:(gi + 1) * og] = np.einsum(
                    "nol,nkl->ok", g3[:, gi * og:(gi + 1) * og],
                    col[:, gi * kk:(gi + 1) * kk], optimize=True).reshape(og, cg, kh, kw)
    if need[0]:
        if groups == 1:
            dcol = np.matmul(w.reshape(o, kk).T, g3)
        else:
            dcol = np.empty((n, c * kh * kw, oh * ow), x.dtype)
            for gi in range(groups):
                dcol[:, gi * kk:(gi + 1) * kk] = np.matmul(
                    w[gi * og:(gi + 1) * og].reshape(og, kk).T, g3[:, gi * og:(gi + 1) * og])
        dcol = dcol.reshape(n, c, kh, kw, oh, ow)
        gxp = np.zeros((n, c, h + 2 * pd[0], wd + 2 * pd[1]), x.dtype)
        for i in range(kh):
            hi = i * dl[0]
            for j in range(kw):
                wj = j * dl[1]
                gxp[:, :, hi:hi + st[0] * (oh - 1) + 1:st[0],
                    wj:wj + st[1] * (ow - 1) + 1:st[1]] += dcol[:, :, i, j]
        gx = gxp[:, :, pd[0]:pd[0] + h, pd[1]:pd[1] + wd]
        if any(pd):
            gx = np.ascontiguousarray(gx)
    if need[2]:
        gb = g.sum(axis=(0, 2, 3))
    return gx, gw, gb


def _im2col_graph(x: Tensor, k: tuple, st: tuple, pd: tuple, dl: tuple, out: tuple) -> Tensor:
    """im2col from engine ops (padding, advanced indexing, reshape): differentiable again."""
    if any(pd):
        x = pad(x, (pd[1], pd[1], pd[0], pd[0]))
    rows = np.arange(k[0])[:, None] * dl[0] + np.arange(out[0])[None, :] * st[0]
    cols = np.arange(k[1])[:, None] * dl[1] + np.arange(out[1])[None, :] * st[1]
    win = x[:, :, rows[:, None, :, None], cols[None, :, None, :]]  # (N, C, kh, kw, oh, ow)
    n, c = x.shape[:2]
    return shape.reshape(win, (n, c * k[0] * k[1], out[0] * out[1]))


def _conv_backward_graph(node: Node, g: Tensor, x: Tensor, w: Tensor) -> tuple:
    """The convolution's gradients as engine ops (create_graph=True): grad_weight is the
    product of grad with the input's columns, grad_input the adjoint of im2col applied to
    weightᵀ @ grad, so both can be differentiated again."""
    st, pd, dl = node.stride, node.padding, node.dilation
    one_d = x.ndim == 3
    if one_d:
        x, w, g = (shape.unsqueeze(t, 2) for t in (x, w, g))
        st, pd, dl = (1,) + st, (0,) + pd, (1,) + dl
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    oh, ow = g.shape[2:]
    groups = node.groups
    og, kk = o // groups, cg * kh * kw
    g3 = shape.reshape(g, (n, o, oh * ow))
    need = tuple(fn is not None for fn, _ in node.next_functions)
    gx = gw = gb = None
    if need[1]:
        cols = _im2col_graph(x, (kh, kw), st, pd, dl, (oh, ow))
        parts = [_red.sum(linalg.matmul(g3[:, i * og:(i + 1) * og],
                                        shape.transpose(cols[:, i * kk:(i + 1) * kk], 1, 2)),
                          0) for i in range(groups)]
        gw = shape.reshape(parts[0] if groups == 1 else shape.cat(parts, 0), tuple(w.shape))
    if need[0]:
        w2 = shape.reshape(w, (o, kk))
        parts = [linalg.matmul(shape.t(w2[i * og:(i + 1) * og]), g3[:, i * og:(i + 1) * og])
                 for i in range(groups)]
        dcol = parts[0] if groups == 1 else shape.cat(parts, 1)
        x_ = x.detach().requires_grad_()
        with grad_mode.enable_grad():
            cols_ = _im2col_graph(x_, (kh, kw), st, pd, dl, (oh, ow))
        gx, = autograd.grad(cols_, x_, dcol, create_graph=True)
    if need[2]:
        gb = _red.sum(g, (0, 2, 3))
    if one_d:
        gx = None if gx is None else shape.squeeze(gx, 2)
        gw = None if gw is None else shape.squeeze(gw, 2)
    return gx, gw, gb


class ConvolutionBackward0(Node):
    rule = Rule("Convolution: the input gets the transposed convolution of grad with the "
                "weights, the weights the correlation of input and grad, the bias the gradient "
                "summed over all but the channel dim.",
                ("grad_input = conv_input(grad, weight, input.shape, stride, padding, "
                 "dilation, groups)",
                 "grad_weight = conv_weight(grad, input, weight.shape, stride, padding, "
                 "dilation, groups)",
                 "grad_bias = sum(grad, not_channels(grad))"),
                "∂y/∂x: conv_transpose(G, W),  ∂y/∂W: x ⋆ G,  ∂y/∂b: Σ G")
    transposed = False  # ConvTranspose's node: same name, torch's transposed=True

    def backward(self, g, s, xp):
        x, w = s["input"], s["weight"]
        if self.transposed:
            if not isinstance(g, np.ndarray):
                no_double_backward(self)
            return _conv_t_backward(g, x, w, self.stride, self.padding, self.dilation,
                                    self.groups,
                                    tuple(fn is not None for fn, _ in self.next_functions))
        if not isinstance(g, np.ndarray):
            return _conv_backward_graph(self, g, x, w)
        need = tuple(fn is not None for fn, _ in self.next_functions)
        if x.ndim == 3:  # conv1d: computed as a 2-d convolution of height 1
            gx, gw, gb = _conv_backward(g[:, :, None], x[:, :, None], w[:, :, None],
                                        (1,) + self.stride, (0,) + self.padding,
                                        (1,) + self.dilation, self.groups, need)
            gx = None if gx is None else gx[:, :, 0]
            gw = None if gw is None else gw[:, :, 0]
        else:
            gx, gw, gb = _conv_backward(g, x, w, self.stride, self.padding, self.dilation,
                                        self.groups, need)
        return gx, gw, gb


def _conv(input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any,  # noqa: A002
          dilation: Any, groups: int, nd: int) -> Tensor:
    name = f"conv{nd}d"
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}() received an invalid combination of arguments - got "
                        f"({type(input).__name__}, ...)")
    x, w = input._data, weight._data
    if x.ndim not in (nd + 1, nd + 2):
        _raise(RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                            f"{name}, but got input of size: {_dims(x.shape)}"), tensor=input)
    if x.ndim == nd + 1:
        out = _conv(shape.unsqueeze(input, 0), weight, bias, stride, padding, dilation, groups,
                    nd)
        return shape.squeeze(out, 0)
    st = _tuple(stride, nd)
    dl = _tuple(dilation, nd)
    if w.ndim != nd + 2:
        _raise(RuntimeError(f"Expected {nd + 2}-dimensional input for {nd + 2}-dimensional "
                            f"weight {_dims(w.shape)}, but got {nd + 1}-dimensional input of "
                            f"size {_dims(x.shape)} instead"), tensor=weight)
    if x.shape[1] != w.shape[1] * groups:
        _raise(RuntimeError(f"Given groups={groups}, weight of size {_dims(w.shape)}, expected "
                            f"input{_dims(x.shape)} to have {w.shape[1] * groups} channels, "
                            f"but got {x.shape[1]} channels instead"), tensor=input)
    if w.shape[0] % groups:
        _raise(RuntimeError(f"Given groups={groups}, expected weight to be divisible by "
                            f"{groups} at dimension 0, but got weight of size "
                            f"{_dims(w.shape)} instead"), tensor=weight)
    if x.dtype != w.dtype or (bias is not None and bias._data.dtype != x.dtype):
        other = w.dtype if x.dtype != w.dtype else bias._data.dtype
        _raise(RuntimeError(f"Input type ({_tname(x.dtype)}) and weight type "
                            f"({_tname(other)}) should be the same or input should be a "
                            "MKLDNN tensor and weight is a dense tensor"), tensor=input)
    if isinstance(padding, str):
        if padding == "valid":
            pd = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in st):
                _raise(RuntimeError("padding='same' is not supported for strided "
                                    "convolutions"), tensor=input)
            ks = w.shape[2:]
            total = [d * (k - 1) for d, k in zip(dl, ks)]
            pd = tuple(t // 2 for t in total)
            extra = [t - 2 * (t // 2) for t in total]
            if any(extra):
                warnings.warn("Using padding='same' with even kernel lengths and odd dilation "
                              "may require a zero-padded copy of the input be created "
                              "(Triggered internally at /__w/pytorch/pytorch/aten/src/ATen/"
                              "native/Convolution.cpp:1101.)", UserWarning, stacklevel=3)
                pads: list[int] = []
                for e in reversed(extra):
                    pads += [0, e]
                input = pad(input, tuple(pads))  # noqa: A001
                x = input._data
        else:
            _raise(RuntimeError(f"Invalid padding string: '{padding}'"), tensor=input)
    else:
        pd = _tuple(padding, nd)
    padded = tuple(x.shape[2 + i] + 2 * pd[i] for i in range(nd))
    eff = tuple(dl[i] * (w.shape[2 + i] - 1) + 1 for i in range(nd))
    if any(e > p for e, p in zip(eff, padded)):
        _raise(RuntimeError(f"Calculated padded input size per channel: "
                            f"({' x '.join(map(str, padded))}). Kernel size: "
                            f"({' x '.join(map(str, eff))}). Kernel size can't be greater "
                            "than actual input size"), tensor=input)
    b = bias._data if bias is not None else None
    if nd == 1:
        y = _conv_forward(x[:, :, None], w[:, :, None], b, (1,) + st, (0,) + pd, (1,) + dl,
                          groups)[:, :, 0]
    else:
        y = _conv_forward(x, w, b, st, pd, dl, groups)
    if needs_grad(input, weight, bias):
        return record(ConvolutionBackward0, y, (input, weight, bias),
                      {"input": input, "weight": weight}, stride=st, padding=pd, dilation=dl,
                      groups=groups, transposed=False, output_padding=(0,) * nd,
                      bias_sym_sizes_opt=None if bias is None else tuple(bias._data.shape))
    return _make(y)


def _conv_t_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, st: tuple, pd: tuple,
                    op: tuple, dl: tuple, groups: int) -> np.ndarray:
    """Transposed convolution: the input gradient of the convolution whose weight is ``w``
    (C_in, C_out/groups, kh, kw), scattered into an (H-1)*s - 2p + d(k-1) + op + 1 plane."""
    n, _, h, wd = x.shape
    _, cog, kh, kw = w.shape
    out = ((h - 1) * st[0] - 2 * pd[0] + dl[0] * (kh - 1) + op[0] + 1,
           (wd - 1) * st[1] - 2 * pd[1] + dl[1] * (kw - 1) + op[1] + 1)
    like = np.broadcast_to(np.zeros((), x.dtype), (n, cog * groups) + out)
    y = _conv_backward(x, like, w, st, pd, dl, groups, (True, False, False))[0]
    y = np.ascontiguousarray(y)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def _conv_t_backward(g: np.ndarray, x: np.ndarray, w: np.ndarray, st: tuple, pd: tuple,
                     dl: tuple, groups: int, need: tuple) -> tuple:
    """Gradients of a transposed convolution: grad_input is the convolution of grad with
    ``w``; grad_weight the convolution's weight gradient with grad and input swapped."""
    one_d = x.ndim == 3
    if one_d:
        g, x, w = g[:, :, None], x[:, :, None], w[:, :, None]
        st, pd, dl = (1,) + st, (0,) + pd, (1,) + dl
    gx = gw = gb = None
    if need[0]:
        gx = _conv_forward(g, w, None, st, pd, dl, groups)
    if need[1]:
        gw = _conv_backward(x, g, w, st, pd, dl, groups, (False, True, False))[1]
    if need[2]:
        gb = g.sum(axis=(0, 2, 3))
    if one_d:
        gx = None if gx is None else gx[:, :, 0]
        gw = None if gw is None else gw[:, :, 0]
    return gx, gw, gb


def _conv_transpose(input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any,  # noqa: A002
                    padding: Any, output_padding: Any, groups: int, dilation: Any,
                    nd: int) -> Tensor:
    name = f"conv_transpose{nd}d"
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}() received an invalid combination of arguments - got "
                        f"({type(input).__name__}, ...)")
    x, w = input._data, weight._data
    if x.ndim not in (nd + 1, nd + 2):
        _raise(RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                            f"{name}, but got input of size: {_dims(x.shape)}"), tensor=input)
    if x.ndim == nd + 1:
        out = _conv_transpose(shape.unsqueeze(input, 0), weight, bias, stride, padding,
                              output_padding, groups, dilation, nd)
        return shape.squeeze(out, 0)
    st, pd, op, dl = (_tuple(v, nd) for v in (stride, padding, output_padding, dilation))
    if x.shape[1] != w.shape[0]:
        _raise(RuntimeError(f"Given transposed=1, weight of size {_dims(w.shape)}, expected "
                            f"input{_dims(x.shape)} to have {w.shape[0]} channels, but got "
                            f"{x.shape[1]} channels instead"), tensor=input)
    if any(o >= max(s, d) for o, s, d in zip(op, st, dl)):
        _raise(RuntimeError("output padding must be smaller than either stride or dilation, "
                            f"but got output_padding_height: {op[0]} output_padding_width: "
                            f"{op[-1]} stride_height: {st[0]} stride_width: {st[-1]} "
                            f"dilation_height: {dl[0]} dilation_width: {dl[-1]}"), tensor=input)
    b = bias._data if bias is not None else None
    if nd == 1:
        y = _conv_t_forward(x[:, :, None], w[:, :, None], b, (1,) + st, (0,) + pd, (0,) + op,
                            (1,) + dl, groups)[:, :, 0]
    else:
        y = _conv_t_forward(x, w, b, st, pd, op, dl, groups)
    if needs_grad(input, weight, bias):
        return record(ConvolutionBackward0, y, (input, weight, bias),
                      {"input": input, "weight": weight}, stride=st, padding=pd, dilation=dl,
                      groups=groups, transposed=True, output_padding=op,
                      bias_sym_sizes_opt=None if bias is None else tuple(bias._data.shape))
    return _make(y)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
                     stride: Any = 1, padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """2-D transposed convolution of (N, C_in, H, W) input with (C_in, C_out/groups, kh, kw)
    weight (ConvolutionBackward0, transposed=True)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
                     stride: Any = 1, padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """1-D transposed convolution of (N, C_in, L) input with (C_in, C_out/groups, k) weight."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1)


def _tname(dt: np.dtype) -> str:
    return {"float32": "torch.FloatTensor", "float64": "torch.DoubleTensor",
            "float16": "torch.HalfTensor"}.get(dt.name, dt.name)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation of (N, C, H, W) input with (O, C/groups, kh, kw) weight
    (ConvolutionBackward0); ``padding`` may be 'same' or 'valid'."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D cross-correlation of (N, C, L) input with (O, C/groups, k) weight
    (ConvolutionBackward0)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


# ----------------------------------------------------------------------------- pooling
def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    num = size + 2 * p - d * (k - 1) - 1
    o = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


def _pool_args(kernel_size: Any, stride: Any, padding: Any, dilation: Any, nd: int) -> tuple:
    k = _tuple(kernel_size, nd)
    st = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) \
        else _tuple(stride, nd)
    return k, st, _tuple(padding, nd), _tuple(dilation, nd)


def _pad_value(x: np.ndarray, pd: tuple, extra: tuple, value: float) -> np.ndarray:
    h, w = x.shape[-2:]
    out = np.full(x.shape[:-2] + (h + 2 * pd[0] + extra[0], w + 2 * pd[1] + extra[1]), value,
                  x.dtype)
    out[..., pd[0]:pd[0] + h, pd[1]:pd[1] + w] = x
    return out


class MaxPool2DWithIndicesBackward0(Node):
    rule = Rule("Max pooling: each window's gradient goes to the element that was its max "
                "(result1, the saved argmax; overlapping windows add up).",
                ("grad_self = flat_put(self.shape, result1, grad)",),
                "1 at each window's argmax, 0 elsewhere")
    def backward(self, g, s, xp):
        x = s["self"]
        idx = s["result1"]
        if not isinstance(g, np.ndarray):  # create_graph: a recorded scatter-add of grad
            shp = tuple(x.shape)
            lead = int(np.prod(shp[:-2]))
            i2 = idx._data.reshape(lead, -1)
            rows = np.broadcast_to(np.arange(lead)[:, None], i2.shape)
            g2 = xp.reshape(g, (lead, i2.shape[1]))
            gx = xp.index_zeros(g2, (lead, shp[-2] * shp[-1]), (rows, i2), True)
            return (xp.reshape(gx, shp),)
        shp = x.shape
        h, w = shp[-2:]
        gx = np.zeros(shp[:-2] + (h * w,), g.dtype)
        lead = int(np.prod(shp[:-2]))
        gx2 = gx.reshape(lead, h * w)
        g2 = g.reshape(lead, -1)
        i2 = idx.reshape(lead, -1)
        k, st, dl = self.kernel_size, self.stride, self.dilation
        if dl[0] * (k[0] - 1) < st[0] and dl[1] * (k[1] - 1) < st[1] and not any(self.padding):
            np.put_along_axis(gx2, i2, g2, axis=1)  # windows do not overlap: indices unique
        else:
            rows = np.broadcast_to(np.arange(lead)[:, None], i2.shape)
            np.add.at(gx2, (rows, i2), g2)
        return (gx.reshape(shp),)


def _max_pool2d_np(x: np.ndarray, k: tuple, st: tuple, pd: tuple, dl: tuple,
                   ceil_mode: bool) -> tuple[np.ndarray, np.ndarray]:
    h, w = x.shape[-2:]
    oh = _pool_out(h, k[0], st[0], pd[0], dl[0], ceil_mode)
    ow = _pool_out(w, k[1], st[1], pd[1], dl[1], ceil_mode)
    need_h = (oh - 1) * st[0] + dl[0] * (k[0] - 1) + 1
    need_w = (ow - 1) * st[1] + dl[1] * (k[1] - 1) + 1
    extra = (max(0, need_h - h - 2 * pd[0]), max(0, need_w - w - 2 * pd[1]))
    x4 = x.reshape((-1,) + x.shape[-3:])
    lo = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = _pad_value(x4, pd, extra, lo) if any(pd) or any(extra) else x4
    win = _windows(xp, k, st, dl, (oh, ow))  # (N, C, kh, kw, oh, ow)
    n, c = x4.shape[:2]
    flat = win.reshape(n, c, k[0] * k[1], oh, ow)
    arg = np.argmax(flat, axis=2)
    out = np.take_along_axis(flat, arg[:, :, None], axis=2)[:, :, 0]
    ki, kj = np.divmod(arg, k[1])
    rows = np.arange(oh)[:, None] * st[0] + ki * dl[0] - pd[0]
    cols = np.arange(ow)[None, :] * st[1] + kj * dl[1] - pd[1]
    idx = (rows * w + cols).astype(np.int64)
    nan = np.isnan(flat).any(axis=2) if x.dtype.kind == "f" else None
    if nan is not None and nan.any():
        out = np.where(nan, np.nan, out)
    return out.reshape(x.shape[:-2] + (oh, ow)), idx.reshape(x.shape[:-2] + (oh, ow))


def _check_pool_input(x: np.ndarray, name: str, nd: int, t: Tensor) -> None:
    if x.ndim not in (nd + 1, nd + 2):
        _raise(RuntimeError(f"non-empty {nd + 1}D or {nd + 2}D (batch mode) tensor expected "
                            "for input"), tensor=t)


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
               ) -> Any:
    """Max over each window (MaxPool2DWithIndicesBackward0); ``return_indices`` also gives
    each maximum's flat position in its input plane."""
    k, st, pd, dl = _pool_args(kernel_size, stride, padding, dilation, 2)
    x = input._data
    _check_pool_input(x, "max_pool2d", 2, input)
    if any(p * 2 > kk for p, kk in zip(pd, k)):
        _raise(RuntimeError(f"pad should be at most half of effective kernel size, but got "
                            f"pad={pd[0]}, kernel_size={k[0]} and dilation={dl[0]}"),
               tensor=input)
    out, idx = _max_pool2d_np(x, k, st, pd, dl, ceil_mode)
    if needs_grad(input):
        res = record(MaxPool2DWithIndicesBackward0, out, (input,),
                     {"self": input, "result1": idx}, kernel_size=k, stride=st, padding=pd,
                     dilation=dl, ceil_mode=ceil_mode)
    else:
        res = _make(out)
    if return_indices:
        return res, _make(idx)
    return res


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
               ) -> Any:
    """Max over 1-d windows: max_pool2d of the input with a height-1 dim (torch's graph:
    SqueezeBackward1 over MaxPool2DWithIndicesBackward0 over UnsqueezeBackward0)."""
    k, st, pd, dl = (_tuple(a, 1)[0] if a is not None else None
                     for a in (kernel_size, stride, padding, dilation))
    x = shape.unsqueeze(input, -2)
    r = max_pool2d(x, (1, k), (1, st if st is not None else k), (0, pd), (1, dl), ceil_mode,
                   return_indices)
    if return_indices:
        return shape.squeeze(r[0], -2), _make(r[1]._data[..., 0, :])
    return shape.squeeze(r, -2)


class AvgPool2DBackward0(Node):
    rule = Rule("Average pooling: each window's gradient is spread evenly over its elements "
                "(divided by the window size, or divisor_override): the transpose of the "
                "averaging.",
                ("grad_self = transpose_of('avg_pool2d', grad, self_sizes, kernel_size, "
                 "stride, padding, ceil_mode, count_include_pad, divisor_override)",),
                "∂ mean(window)/∂xᵢ = 1/|window|")
    def backward(self, g, s, xp):
        if not isinstance(g, np.ndarray):
            no_double_backward(self)
        shp = self.self_sizes
        k, st, pd = self.kernel_size, self.stride, self.padding
        oh, ow = g.shape[-2:]
        g = g / self._div
        h, w = shp[-2:]
        hp = max(h + 2 * pd[0], (oh - 1) * st[0] + k[0])
        wp = max(w + 2 * pd[1], (ow - 1) * st[1] + k[1])
        gxp = np.zeros(shp[:-2] + (hp, wp), g.dtype)
        for i in range(k[0]):
            for j in range(k[1]):
                gxp[..., i:i + st[0] * (oh - 1) + 1:st[0], j:j + st[1] * (ow - 1) + 1:st[1]] += g
        return (np.ascontiguousarray(gxp[..., pd[0]:pd[0] + h, pd[1]:pd[1] + w]),)


def _avg_divisor(size: int, o: int, k: int, s: int, p: int, include_pad: bool) -> np.ndarray:
    start = np.arange(o) * s - p
    end = np.minimum(start + k, size + p)
    full = end - start
    start = np.maximum(start, 0)
    end = np.minimum(end, size)
    return full if include_pad else end - start


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over each window (AvgPool2DBackward0)."""
    k, st, pd, _ = _pool_args(kernel_size, stride, padding, 1, 2)
    x = input._data
    _check_pool_input(x, "avg_pool2d", 2, input)
    if any(p * 2 > kk for p, kk in zip(pd, k)):
        _raise(RuntimeError(f"pad should be at most half of effective kernel size, but got "
                            f"pad={pd[0]}, kernel_size={k[0]} and dilation=1"), tensor=input)
    h, w = x.shape[-2:]
    oh = _pool_out(h, k[0], st[0], pd[0], 1, ceil_mode)
    ow = _pool_out(w, k[1], st[1], pd[1], 1, ceil_mode)
    extra = (max(0, (oh - 1) * st[0] + k[0] - h - 2 * pd[0]),
             max(0, (ow - 1) * st[1] + k[1] - w - 2 * pd[1]))
    x4 = x.reshape((-1,) + x.shape[-3:])
    xp = _pad_value(x4, pd, extra, 0) if any(pd) or any(extra) else x4
    win = _windows(xp, k, st, (1, 1), (oh, ow))
    total = win.sum(axis=(2, 3))
    if divisor_override:
        div = np.asarray(divisor_override, dtype=x.dtype)
    else:
        dh = _avg_divisor(h, oh, k[0], st[0], pd[0], count_include_pad)
        dw = _avg_divisor(w, ow, k[1], st[1], pd[1], count_include_pad)
        div = np.outer(dh, dw).astype(x.dtype)
    out = (total / div).astype(x.dtype, copy=False).reshape(x.shape[:-2] + (oh, ow))
    if needs_grad(input):
        return record(AvgPool2DBackward0, out, (input,), {"self": input}, kernel_size=k,
                      stride=st, padding=pd, ceil_mode=ceil_mode,
                      count_include_pad=count_include_pad, divisor_override=divisor_override,
                      self_sizes=x.shape, _div=div)
    return _make(out)


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Mean over 1-d windows (SqueezeBackward1 over AvgPool2DBackward0, as torch)."""
    k = _tuple(kernel_size, 1)[0]
    st = k if stride is None else _tuple(stride, 1)[0]
    x = shape.unsqueeze(input, -2)
    r = avg_pool2d(x, (1, k), (1, st), (0, _tuple(padding, 1)[0]), ceil_mode,
                   count_include_pad)
    return shape.squeeze(r, -2)


class AdaptiveAvgPool2DBackward0(Node):
    rule = Rule("Adaptive average pooling: each output cell averaged its own window of the "
                "input, so that window gets the cell's gradient divided by its size.",
                ("grad_self = transpose_of('adaptive_avg_pool2d', grad, self_sym_sizes, "
                 "grad.shape[-2:])",),
                "∂ mean(window)/∂xᵢ = 1/|window|")
    def backward(self, g, s, xp):
        if not isinstance(g, np.ndarray):
            no_double_backward(self)
        shp = self.self_sym_sizes
        gx = np.zeros(shp, g.dtype)
        for i, (h0, h1) in enumerate(self._rows):
            for j, (w0, w1) in enumerate(self._cols):
                gx[..., h0:h1, w0:w1] += g[..., i:i + 1, j:j + 1] / ((h1 - h0) * (w1 - w0))
        return (gx,)


def _adaptive_bounds(size: int, o: int) -> list[tuple[int, int]]:
    return [((i * size) // o, -(-((i + 1) * size) // o)) for i in range(o)]


def _adaptive_size(output_size: Any, x: np.ndarray, nd: int) -> tuple:
    os_ = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * nd
    return tuple(x.shape[-nd + i] if v is None else int(v) for i, v in enumerate(os_))


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """Average over the windows that split each plane into ``output_size`` cells
    (AdaptiveAvgPool2DBackward0; a 1x1 output is a mean over the last two dims, as torch)."""
    x = input._data
    _check_pool_input(x, "adaptive_avg_pool2d", 2, input)
    oh, ow = _adaptive_size(output_size, x, 2)
    if (oh, ow) == (1, 1):
        return _red.mean(input, (-2, -1), True)
    h, w = x.shape[-2:]
    rows, cols = _adaptive_bounds(h, oh), _adaptive_bounds(w, ow)
    if h % oh == 0 and w % ow == 0:
        out = x.reshape(x.shape[:-2] + (oh, h // oh, ow, w // ow)).mean(axis=(-3, -1))
    else:
        out = np.empty(x.shape[:-2] + (oh, ow), x.dtype)
        for i, (h0, h1) in enumerate(rows):
            for j, (w0, w1) in enumerate(cols):
                out[..., i, j] = x[..., h0:h1, w0:w1].mean(axis=(-2, -1))
    out = out.astype(x.dtype, copy=False)
    if needs_grad(input):
        return record(AdaptiveAvgPool2DBackward0, out, (input,), {"self": input},
                      self_sym_sizes=x.shape, _rows=rows, _cols=cols)
    return _make(out)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """Adaptive average over the last dim (SqueezeBackward1 over AdaptiveAvgPool2DBackward0)."""
    o = _tuple(output_size, 1)[0]
    x = shape.unsqueeze(input, -2)
    r = adaptive_avg_pool2d(x, (1, o))
    return shape.squeeze(r, -2)


class AdaptiveMaxPool2DBackward0(MaxPool2DWithIndicesBackward0):
    rule = Rule("Adaptive max pooling: each cell's gradient goes to the element that was the "
                "max of its window (result1, the saved argmax).",
                ("grad_self = flat_put(self.shape, result1, grad)",),
                "1 at each window's argmax, 0 elsewhere")
    kernel_size = (2, 1)  # windows may overlap: always scatter-add
    stride = (1, 1)
    padding = (0, 0)
    dilation = (1, 1)


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False  # noqa: A002
                        ) -> Any:
    """Max over the adaptive windows (AdaptiveMaxPool2DBackward0)."""
    x = input._data
    oh, ow = _adaptive_size(output_size, x, 2)
    h, w = x.shape[-2:]
    out = np.empty(x.shape[:-2] + (oh, ow), x.dtype)
    idx = np.empty(x.shape[:-2] + (oh, ow), np.int64)
    for i, (h0, h1) in enumerate(_adaptive_bounds(h, oh)):
        for j, (w0, w1) in enumerate(_adaptive_bounds(w, ow)):
            win = x[..., h0:h1, w0:w1].reshape(x.shape[:-2] + (-1,))
            a = np.argmax(win, axis=-1)
            out[..., i, j] = np.take_along_axis(win, a[..., None], -1)[..., 0]
            r, c = np.divmod(a, w1 - w0)
            idx[..., i, j] = (r + h0) * w + c + w0
    if needs_grad(input):
        res = record(AdaptiveMaxPool2DBackward0, out, (input,), {"self": input, "result1": idx})
    else:
        res = _make(out)
    return (res, _make(idx)) if return_indices else res


# ----------------------------------------------------------------------------- padding
class ConstantPadNdBackward0(Node):
    rule = Rule("Constant padding: the border was a constant, so the gradient is cut back to "
                "the input's region (a negative pad's cropped part gets 0).",
                ("grad_self = constant_pad(grad, tuple(-p for p in pad))",))
    def backward(self, g, s, xp):
        key = [slice(None)] * len(self._shape)
        pads = self.pad
        for i in range(len(pads) // 2):
            d = len(self._shape) - 1 - i
            lo, hi = pads[2 * i], pads[2 * i + 1]
            key[d] = slice(max(lo, 0), g.shape[d] - max(hi, 0) if hi > 0 else None)
        gi = xp.index(g, tuple(key))
        if any(p < 0 for p in pads):
            if not isinstance(g, np.ndarray):
                no_double_backward(self)
            full = np.zeros(self._shape, g.dtype)
            key2 = [slice(None)] * len(self._shape)
            for i in range(len(pads) // 2):
                d = len(self._shape) - 1 - i
                lo, hi = pads[2 * i], pads[2 * i + 1]
                key2[d] = slice(max(-lo, 0), self._shape[d] - max(-hi, 0))
            full[tuple(key2)] = gi
            gi = full
        return (gi,)


class _IndexPad:
    """Reflection / replication padding's rule: each output element copied one input element,
    so gradients are scatter-added back (a mixin for the Node classes below)."""

    __slots__ = ()

    def backward(self, g, s, xp):
        if not isinstance(g, np.ndarray):
            no_double_backward(self)
        for d, idx, size in reversed(self._maps):
            moved = np.moveaxis(g, d, 0)
            acc = np.zeros((size,) + moved.shape[1:], g.dtype)
            np.add.at(acc, idx, moved)
            g = np.moveaxis(acc, 0, d)
        return (np.ascontiguousarray(g),)


class ReflectionPad1DBackward0(_IndexPad, Node):
    rule = Rule("Reflection padding: each padded element copied one input element, so the "
                "gradient of every copy is added back to the element it copied.",
                ("grad_self = transpose_of('pad', grad, unpadded(grad.shape, padding), "
                 "padding, 'reflect')",))
    pass


class ReflectionPad2DBackward0(_IndexPad, Node):
    rule = Rule("Reflection padding: each padded element copied one input element, so the "
                "gradient of every copy is added back to the element it copied.",
                ("grad_self = transpose_of('pad', grad, unpadded(grad.shape, padding), "
                 "padding, 'reflect')",))
    pass


class ReflectionPad3DBackward0(_IndexPad, Node):
    rule = Rule("Reflection padding: each padded element copied one input element, so the "
                "gradient of every copy is added back to the element it copied.",
                ("grad_self = transpose_of('pad', grad, unpadded(grad.shape, padding), "
                 "padding, 'reflect')",))
    pass


class ReplicationPad1DBackward0(_IndexPad, Node):
    rule = Rule("Replication padding: each padded element copied one input element, so the "
                "gradient of every copy is added back to the element it copied.",
                ("grad_self = transpose_of('pad', grad, unpadded(grad.shape, padding), "
                 "padding, 'replicate')",))
    pass


class ReplicationPad2DBackward0(_IndexPad, Node):
    rule = Rule("Replication padding: each padded element copied one input element, so the "
                "gradient of every copy is added back to the element it copied.",
                ("grad_self = transpose_of('pad', grad, unpadded(grad.shape, padding), "
                 "padding, 'replicate')",))
    pass


class ReplicationPad3DBackward0(_IndexPad, Node):
    rule = Rule("Replication padding: each padded element copied one input element, so the "
                "gradient of every copy is added back to the element it copied.",
                ("grad_self = transpose_of('pad', grad, unpadded(grad.shape, padding), "
                 "padding, 'replicate')",))
    pass


class CopySlices(_IndexPad, Node):  # circular padding: torch builds it from slice copies
    rule = Rule("Circular padding: each padded element copied one input element, so the "
                "gradient of every copy is added back to the element it copied.",
                ("grad_self = transpose_of('pad', grad, unpadded(grad.shape, padding), "
                 "padding, 'circular')",))
    pass


_PAD_NODES = {("reflect", 1): ReflectionPad1DBackward0, ("reflect", 2): ReflectionPad2DBackward0,
              ("reflect", 3): ReflectionPad3DBackward0,
              ("replicate", 1): ReplicationPad1DBackward0,
              ("replicate", 2): ReplicationPad2DBackward0,
              ("replicate", 3): ReplicationPad3DBackward0}


def _pad_index(size: int, lo: int, hi: int, mode: str) -> np.ndarray:
    pos = np.arange(-lo, size + hi)
    if mode == "reflect":
        period = 2 * (size - 1)
        m = np.mod(pos, period) if period else np.zeros_like(pos)
        return np.where(m >= size, period - m, m)
    if mode == "replicate":
        return np.clip(pos, 0, size - 1)
    return np.mod(pos, size)


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None  # noqa: A002
        ) -> Tensor:
    """Pad the last len(pad)//2 dims: ``pad=(left, right, top, bottom, ...)``, last dim first
    (ConstantPadNdBackward0; reflect / replicate record ReflectionPad2DBackward0 etc.)."""
    pads = tuple(int(p) for p in pad)
    x = input._data
    if len(pads) % 2:
        _raise(RuntimeError("Padding length must be divisible by 2"), tensor=input)
    if len(pads) // 2 > x.ndim:
        _raise(RuntimeError("Padding length should be less than or equal to two times the "
                            "input dimension but got padding length "
                            f"{len(pads)} and input of dimension {x.ndim}"), tensor=input)
    npairs = len(pads) // 2
    if mode == "constant":
        v = 0.0 if value is None else value
        out_shape = list(x.shape)
        src = [slice(None)] * x.ndim
        dst = [slice(None)] * x.ndim
        for i in range(npairs):
            d = x.ndim - 1 - i
            lo, hi = pads[2 * i], pads[2 * i + 1]
            n = x.shape[d] + lo + hi
            if n < 0:
                _raise(RuntimeError(f"The input size {x.shape[d]}, plus negative padding {lo} "
                                    f"and {hi} resulted in a negative output size, which is "
                                    "invalid. Check dimension {d} of your input."), tensor=input)
            out_shape[d] = n
            src[d] = slice(max(-lo, 0), x.shape[d] - max(-hi, 0))
            dst[d] = slice(max(lo, 0), n - max(hi, 0))
        out = np.full(out_shape, v, x.dtype)
        out[tuple(dst)] = x[tuple(src)]
        if needs_grad(input):
            return record(ConstantPadNdBackward0, out, (input,), pad=pads, _shape=x.shape)
        return _make(out)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise ValueError(f'Padding mode "{mode}" doesn\'t take in value argument.')
    if not (x.ndim - 1 <= npairs + 1 <= x.ndim) or npairs > 3:
        raise NotImplementedError(
            f"Padding size {len(pads)} is not supported for {x.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    out = x
    maps = []
    for i in range(npairs):
        d = x.ndim - 1 - i
        lo, hi = pads[2 * i], pads[2 * i + 1]
        if mode == "reflect" and (lo >= x.shape[d] or hi >= x.shape[d]):
            _raise(RuntimeError(f"Argument #4: Padding size should be less than the "
                                f"corresponding input dimension, but got: padding ({lo}, {hi}) "
                                f"at dimension {d} of input {_dims(x.shape)}"), tensor=input)
        idx = _pad_index(x.shape[d], lo, hi, mode)
        out = np.take(out, idx, axis=d)
        maps.append((d, idx, x.shape[d]))
    out = np.ascontiguousarray(out)
    if needs_grad(input):
        cls = CopySlices if mode == "circular" else _PAD_NODES[(mode, npairs)]
        return record(cls, out, (input,), padding=pads, _maps=tuple(maps))
    return _make(out)
