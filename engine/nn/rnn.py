"""Recurrent layers for the engine: RNN, LSTM, GRU (num_layers, batch_first, dropout,
bidirectional) and RNNCell, LSTMCell, GRUCell, composed of engine ops (so every step shows in
the graph), with torch's parameter names (``weight_ih_l0``...), initialisation (every parameter
uniform in ±1/sqrt(hidden_size), in registration order), reprs and errors."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from engine import _dtype, autograd, grad_mode
from engine._rule import Rule
from engine.function import Node, record
from engine.nn import functional as F
from engine.nn import init
from engine.nn._conv import no_double_backward
from engine.nn.modules import Module
from engine.nn.parameter import Parameter
from engine.ops import pointwise, shape
from engine.ops._common import needs_grad
from engine.tensor import Tensor, _make

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _param(shp: tuple, dtype: Any) -> Parameter:
    npdt = _dtype.as_dtype(dtype).np if dtype is not None else _dtype.default_float.np
    return Parameter(_make(np.empty(shp, dtype=npdt)))


# ----------------------------------------------------------------------------- one step
def _rnn_step(xw: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, relu: bool) -> Tensor:
    pre = F.linear(h, w_hh, b_hh) + xw
    return pointwise.relu(pre) if relu else pointwise.tanh(pre)


def _lstm_step(xw: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None
               ) -> tuple[Tensor, Tensor]:
    gates = F.linear(h, w_hh, b_hh) + xw
    n = h.shape[-1]
    i = pointwise.sigmoid(gates[..., 0:n])
    f = pointwise.sigmoid(gates[..., n:2 * n])
    g = pointwise.tanh(gates[..., 2 * n:3 * n])
    o = pointwise.sigmoid(gates[..., 3 * n:4 * n])
    c2 = f * c + i * g
    return o * pointwise.tanh(c2), c2


def _gru_step(xw: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    hw = F.linear(h, w_hh, b_hh)
    n = h.shape[-1]
    r = pointwise.sigmoid(xw[..., 0:n] + hw[..., 0:n])
    z = pointwise.sigmoid(xw[..., n:2 * n] + hw[..., n:2 * n])
    cand = pointwise.tanh(xw[..., 2 * n:3 * n] + r * hw[..., 2 * n:3 * n])
    return cand + z * (h - cand)


def _lstm_layer(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                b_hh: Tensor | None, h: Tensor, c: Tensor, reverse: bool
                ) -> tuple[Tensor, Tensor, Tensor]:
    """One LSTM layer-direction over the whole sequence: (output, h_n, c_n)."""
    xw = F.linear(x, w_ih, b_ih)
    seq = x.shape[0]
    hs: list[Tensor] = [None] * seq  # type: ignore[list-item]
    for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
        h, c = _lstm_step(xw[t], h, c, w_hh, b_hh)
        hs[t] = h
    return shape.stack(hs, 0), h, c


class MkldnnRnnLayerBackward0(Node):
    """An LSTM layer-direction as one node, as torch's CPU (oneDNN) path records float32
    LSTMs: inputs (input, w_ih, w_hh, b_ih, b_hh, hx, cx), outputs (output, hy, cy,
    workspace); its gradients are those of the engine ops the layer is made of."""

    _multi = True
    rule = Rule("One LSTM layer (one direction) over the whole sequence: backpropagation "
                "through time, from the last step to the first, through each step's gates "
                "i, f, g, o and the cell state.",
                ("grad_input, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh, grad_hx, grad_cx "
                 "= lstm_layer_backward(grad_output, grad_hy, grad_cy)",),
                "dc_t = dh_t·o_t·(1−tanh²c_t) + dc_{t+1}·f_{t+1}")

    def backward(self, g, s, xp):
        if any(x is not None and not isinstance(x, np.ndarray) for x in g):
            no_double_backward(self)
        names = ("input", "weight0", "weight1", "weight2", "weight3", "hx_", "cx_")
        need = [fn is not None for fn, _ in self.next_functions]
        with grad_mode.enable_grad():
            leaves = [None if s.get(k) is None else _make(np.array(s[k]), True) for k in names]
            outs = _lstm_layer(*leaves, self.reverse)
            # one root (h_n is also inside output): sum(o * g) passes each g on exactly
            terms = [(o * _make(gi)).sum() for o, gi in zip(outs, g[:3]) if gi is not None]
            wanted = [t for t, n in zip(leaves, need) if n]
            total = terms[0]
            for t in terms[1:]:
                total = total + t
            grads = autograd.grad(total, wanted, allow_unused=True) if terms and wanted else ()
        it = iter(grads)
        res = []
        for t, n in zip(leaves, need):
            gi = next(it) if n else None
            if n and gi is None:
                gi = _make(np.zeros_like(t._data))
            res.append(None if gi is None else gi._data)
        return tuple(res)


def _fused_lstm_layer(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                      b_hh: Tensor | None, h: Tensor, c: Tensor, reverse: bool
                      ) -> tuple[Tensor, Tensor, Tensor]:
    """``_lstm_layer`` recorded as one MkldnnRnnLayerBackward0 node (same values)."""
    with grad_mode.no_grad():
        out, hy, cy = _lstm_layer(x, w_ih, w_hh, b_ih, b_hh, h, c, reverse)
    saved = {"input": x, "weight0": w_ih, "weight1": w_hh, "weight2": b_ih, "weight3": b_hh,
             "hx_": h, "cx_": c}
    first = record(MkldnnRnnLayerBackward0, out._data, (x, w_ih, w_hh, b_ih, b_hh, h, c),
                   {k: v for k, v in saved.items() if v is not None}, reverse=reverse,
                   mode=2, hidden_size=h.shape[-1], num_layers=1, has_biases=b_ih is not None,
                   bidirectional=False, batch_first=False, train=True)
    node = first.grad_fn
    node._n_outputs = 4
    rest = []
    for k, t in enumerate((hy, cy), 1):
        r = _make(t._data, True, node)
        r._output_nr = k
        rest.append(r)
    return first, rest[0], rest[1]


# ----------------------------------------------------------------------------- RNN layers
class RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        if (not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1
                or isinstance(dropout, bool)):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", UserWarning,
                          stacklevel=3)
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: "
                            f"{type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size:
            raise NotImplementedError("proj_size is not supported by the engine")
        gate_size = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            for direction in range(dirs):
                layer_in = input_size if layer == 0 else hidden_size * dirs
                params = [_param((gate_size, layer_in), dtype),
                          _param((gate_size, hidden_size), dtype)]
                if bias:
                    params += [_param((gate_size,), dtype), _param((gate_size,), dtype)]
                suffix = "_reverse" if direction == 1 else ""
                names = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
                if bias:
                    names += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
                for name, p in zip(names, params):
                    full = name.format(layer, suffix)
                    setattr(self, full, p)
                    self._flat_weights_names.append(full)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    @property
    def all_weights(self) -> list[list[Parameter]]:
        per = 4 if self.bias else 2
        ws = [getattr(self, n) for n in self._flat_weights_names]
        return [ws[i:i + per] for i in range(0, len(ws), per)]

    def _weights(self, layer: int, direction: int) -> tuple:
        suffix = "_reverse" if direction == 1 else ""
        g = self._parameters
        return (g[f"weight_ih_l{layer}{suffix}"], g[f"weight_hh_l{layer}{suffix}"],
                g.get(f"bias_ih_l{layer}{suffix}"), g.get(f"bias_hh_l{layer}{suffix}"))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _check(self, input: Tensor, hx: Any) -> None:  # noqa: A002
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(self.mode, self.mode)
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D "
                             "instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]}")

    def _hidden_check(self, h: Tensor, expected: tuple, what: str = "hidden") -> None:
        if tuple(h.shape) != expected:
            raise RuntimeError(f"Expected {what} size {expected}, got "
                               f"[{', '.join(str(s) for s in h.shape)}]")

    def forward(self, input: Tensor, hx: Any = None) -> tuple:  # noqa: A002
        self._check(input, hx)
        batched = input.dim() == 3
        x = input
        if not batched:
            x = shape.unsqueeze(x, 1)
        elif self.batch_first:
            x = shape.transpose(x, 0, 1)
        seq, n = x.shape[0], x.shape[1]
        dirs = 2 if self.bidirectional else 1
        lstm = self.mode == "LSTM"
        full = (self.num_layers * dirs, n, self.hidden_size)
        h0 = c0 = None
        if hx is not None:
            if lstm:
                h0, c0 = hx
            else:
                h0 = hx
            if not batched:
                h0 = shape.unsqueeze(h0, 1)
                c0 = shape.unsqueeze(c0, 1) if c0 is not None else None
            self._hidden_check(h0, full)
            if c0 is not None:
                self._hidden_check(c0, full, "cell")
        zeros = _make(np.zeros((n, self.hidden_size), dtype=x._data.dtype))
        h_last: list[Tensor] = []
        c_last: list[Tensor] = []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
                k = layer * dirs + d
                h = h0[k] if h0 is not None else zeros
                c = (c0[k] if c0 is not None else zeros) if lstm else None
                if lstm and layer_in._data.dtype == np.float32 and needs_grad(
                        layer_in, w_ih, w_hh, b_ih, b_hh, h, c):
                    out_d, h, c = _fused_lstm_layer(layer_in, w_ih, w_hh, b_ih, b_hh, h, c,
                                                    d == 1)
                    outs.append(out_d)
                    h_last.append(h)
                    c_last.append(c)
                    continue
                xw = F.linear(layer_in, w_ih, b_ih)
                steps = range(seq - 1, -1, -1) if d == 1 else range(seq)
                hs: list[Tensor] = [None] * seq  # type: ignore[list-item]
                for t in steps:
                    if lstm:
                        h, c = _lstm_step(xw[t], h, c, w_hh, b_hh)
                    elif self.mode == "GRU":
                        h = _gru_step(xw[t], h, w_hh, b_hh)
                    else:
                        h = _rnn_step(xw[t], h, w_hh, b_hh, self.mode == "RNN_RELU")
                    hs[t] = h
                outs.append(shape.stack(hs, 0))
                h_last.append(h)
                if lstm:
                    c_last.append(c)
            layer_out = outs[0] if dirs == 1 else shape.cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_out = F.dropout(layer_out, self.dropout, True)
            layer_in = layer_out
        output = layer_in
        h_n = shape.stack(h_last, 0)
        c_n = shape.stack(c_last, 0) if lstm else None
        if not batched:
            output = shape.squeeze(output, 1)
            h_n = shape.squeeze(h_n, 1)
            c_n = shape.squeeze(c_n, 1) if c_n is not None else None
        elif self.batch_first:
            output = shape.transpose(output, 0, 1)
        if lstm:
            return output, (h_n, c_n)
        return output, h_n


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_(t−1) W_hhᵀ + b_hh) (or relu)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o; returns (output, (h_n, c_n))."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit: gates r, z and the candidate n."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("GRU", *args, **kwargs)


# ----------------------------------------------------------------------------- cells
class RNNCellBase(Module):
    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = _param((num_chunks * hidden_size, input_size), dtype)
        self.weight_hh = _param((num_chunks * hidden_size, hidden_size), dtype)
        if bias:
            self.bias_ih = _param((num_chunks * hidden_size,), dtype)
            self.bias_hh = _param((num_chunks * hidden_size,), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = self.__dict__.get("nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    def _prep(self, input: Tensor, hx: Any) -> tuple[Tensor, bool]:  # noqa: A002
        if input.dim() not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got "
                             f"{input.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} "
                               f"expected {self.input_size}")
        batched = input.dim() == 2
        return (input if batched else shape.unsqueeze(input, 0)), batched

    def _zeros(self, x: Tensor) -> Tensor:
        return _make(np.zeros((x.shape[0], self.hidden_size), dtype=x._data.dtype))


class RNNCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        x, batched = self._prep(input, hx)
        h = self._zeros(x) if hx is None else (hx if batched else shape.unsqueeze(hx, 0))
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        out = _rnn_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh,
                        self.bias_hh, self.nonlinearity == "relu")
        return out if batched else shape.squeeze(out, 0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        x, batched = self._prep(input, hx)
        if hx is None:
            h = c = self._zeros(x)
        else:
            h, c = hx
            if not batched:
                h, c = shape.unsqueeze(h, 0), shape.unsqueeze(c, 0)
        h2, c2 = _lstm_step(F.linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh,
                            self.bias_hh)
        if not batched:
            return shape.squeeze(h2, 0), shape.squeeze(c2, 0)
        return h2, c2


class GRUCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        x, batched = self._prep(input, hx)
        h = self._zeros(x) if hx is None else (hx if batched else shape.unsqueeze(hx, 0))
        out = _gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh,
                        self.bias_hh)
        return out if batched else shape.squeeze(out, 0)
