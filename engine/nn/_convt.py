"""nn.ConvTranspose1d / nn.ConvTranspose2d: torch's transposed convolution layers (weight
(in_channels, out_channels/groups, *kernel), initialised as the convolutions are)."""

from __future__ import annotations

from typing import Any

from engine.nn import functional as F
from engine.nn.layers import _ConvNd, _empty, _ntuple
from engine.tensor import Tensor

__all__ = ["ConvTranspose1d", "ConvTranspose2d"]


class _ConvTransposeNd(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for '
                             f"{type(self).__name__}")
        if groups > 0 and in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        # the convolution's checks and attributes; its parameters are made here instead
        super().__init__(0, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device, dtype)
        nd = self._nd
        self.in_channels = in_channels
        self.transposed = True
        self.output_padding = _ntuple(output_padding, nd)
        self.weight = _empty((in_channels, out_channels // groups) + self.kernel_size, dtype)
        if bias:
            self.bias = _empty((out_channels,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple:  # noqa: A002
        if output_size is None:
            return self.output_padding
        nd = self._nd
        size = list(output_size)[-nd:]
        pad = []
        for d in range(nd):
            in_size = input.shape[input.ndim - nd + d]
            base = ((in_size - 1) * self.stride[d] - 2 * self.padding[d]
                    + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            pad.append(size[d] - base)
        return tuple(pad)

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:  # noqa: A002
        fn = F.conv_transpose2d if self._nd == 2 else F.conv_transpose1d
        p = self._parameters
        return fn(input, p["weight"], p["bias"], self.stride, self.padding,
                  self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """1-d transposed convolution over (N, C, L) input (ConvolutionBackward0)."""

    _nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-d transposed convolution over (N, C, H, W) input (ConvolutionBackward0)."""

    _nd = 2
