"""torch.device on a CPU-only build: ``device('cpu')``, parsing of ``'cuda:1'``, and the errors a
CPU-only torch raises when a tensor is asked to live elsewhere."""

from __future__ import annotations

from typing import Any

__all__ = ["device", "check_device", "get_default_device", "set_default_device",
           "NO_CUDA_MESSAGE"]

NO_CUDA_MESSAGE = "Torch not compiled with CUDA enabled"
_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
          "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
          "privateuseone")


class device:  # noqa: N801 - torch's name
    """Where a tensor lives: ``device(type='cpu')``; ``device('cuda:0')`` can be named only."""

    __slots__ = ("type", "index")

    def __init__(self, type: Any = None, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool):
            if type < 0:
                raise RuntimeError("Device index must not be negative")
            raise RuntimeError("Cannot access accelerator device when none is available.")
        if not isinstance(type, str):
            n = _type_name(type)
            raise TypeError(f"device() received an invalid combination of arguments - got ({n}), "
                            "but expected one of:\n * (torch.device device)\n      didn't match "
                            f"because some of the arguments have invalid types: (!{n}!)\n"
                            " * (str type, int index = -1)\n")
        name, _, idx = type.partition(":")
        if name not in _TYPES:
            raise RuntimeError(f"Expected one of {', '.join(_TYPES)} device type at start of "
                               f"device string: {type}")
        if _:
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            if index is not None:
                raise RuntimeError("type (string) must not include an index because index was "
                                   f"passed explicitly: {type}")
            index = int(idx)
        if index is not None and index < 0:
            raise RuntimeError("Device index must not be negative")
        self.type = name
        self.index = index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, device) and other.type == self.type
                and other.index == self.index)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self) -> Any:
        return (device, (self.type, self.index))

    def __enter__(self) -> device:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _type_name(x: Any) -> str:
    return x.__class__.__name__


CPU = device("cpu")
_default = [CPU]


def check_device(dev: Any) -> device:
    """``dev`` as a device the engine can hold tensors on (cpu), else torch's CPU-only error."""
    if dev is None:
        return _default[0]
    d = dev if isinstance(dev, device) else device(dev)
    if d.type == "cpu":
        return CPU
    if d.type == "cuda":
        raise AssertionError(NO_CUDA_MESSAGE)
    if d.type == "mps":
        raise RuntimeError("PyTorch is not linked with support for mps devices")
    raise RuntimeError(f"PyTorch is not linked with support for {d.type} devices")


def get_default_device() -> device:
    """The device new tensors are made on (always cpu here)."""
    return _default[0]


def set_default_device(dev: Any) -> None:
    """Accepts ``'cpu'`` (or None); other devices fail as on a CPU-only torch."""
    _default[0] = check_device(dev)
