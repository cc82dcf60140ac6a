"""torch.save / torch.load without pickle: a zip of one JSON manifest (the container structure)
and one ``.npy`` per tensor, read back with ``allow_pickle=False``. Loading never runs code; what
torch's ``weights_only=True`` load would refuse (modules, arbitrary classes) cannot be stored."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

from engine import _dtype
from engine.device import check_device, device
from engine.nn.parameter import Parameter
from engine.tensor import Size, Tensor, _make

__all__ = ["save", "load", "FORMAT"]

FORMAT = "gradviz-engine-save/1"
_ROOT = "archive/"


def _unsupported_message(name: str) -> str:
    return (
        "Weights only load failed. This file can still be loaded, to do so you have two options, "
        "\x1b[1mdo those steps only if you trust the source of the checkpoint\x1b[0m. \n\t(1) In "
        "PyTorch 2.6, we changed the default value of the `weights_only` argument in "
        "`torch.load` from `False` to `True`. Re-running `torch.load` with `weights_only` set to "
        "`False` will likely succeed, but it can result in arbitrary code execution. Do it only "
        "if you got the file from a trusted source.\n\t(2) Alternatively, to load with "
        "`weights_only=True` please check the recommended steps in the following error message."
        f"\n\tWeightsUnpickler error: Unsupported global: GLOBAL {name} was not an allowed global "
        "by default. Please use `torch.serialization.add_safe_globals([" + name + "])` or the "
        "`torch.serialization.safe_globals([" + name + "])` context manager to allowlist this "
        "global if you trust this class/function.\n\nCheck the documentation of torch.load to "
        "learn more about types accepted by default with weights_only "
        "https://pytorch.org/docs/stable/generated/torch.load.html.")


class _Writer:
    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.seen: dict[int, int] = {}

    def enc(self, obj: Any) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int) and type(obj) is int:
            return obj
        if type(obj) is float:
            return {"float": repr(obj)}
        if isinstance(obj, Tensor):
            return self.tensor(obj)
        if isinstance(obj, Size):
            return {"size": list(obj)}
        if isinstance(obj, _dtype.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, device):
            return {"device": str(obj)}
        if type(obj) in (dict, OrderedDict, defaultdict_type()):
            kind = "odict" if isinstance(obj, OrderedDict) else "dict"
            out = {kind: [[self.enc(k), self.enc(v)] for k, v in obj.items()]}
            meta = getattr(obj, "_metadata", None)
            if kind == "odict" and meta is not None:
                out["metadata"] = self.enc(dict(meta))
            return out
        if type(obj) is list:
            return {"list": [self.enc(v) for v in obj]}
        if type(obj) is tuple:
            return {"tuple": [self.enc(v) for v in obj]}
        cls = type(obj)
        return {"unsupported": f"{cls.__module__}.{cls.__qualname__}"}

    def tensor(self, t: Tensor) -> dict:
        key = id(t)
        if key not in self.seen:
            self.seen[key] = len(self.arrays)
            a = t._data
            self.arrays.append(a if a.flags.c_contiguous else a.copy(order="C"))
        return {"tensor": self.seen[key], "requires_grad": bool(t._requires_grad),
                "parameter": isinstance(t, Parameter)}


def defaultdict_type() -> type:
    from collections import defaultdict
    return defaultdict


def save(obj: Any, f: Any, pickle_module: Any = None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True, _disable_byteorder_record: bool = False
         ) -> None:
    """Write tensors, state_dicts, optimizer state and dict/list/tuple containers of them."""
    w = _Writer()
    manifest = {"format": FORMAT, "root": w.enc(obj)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(_ROOT + "manifest.json", json.dumps(manifest))
        for i, a in enumerate(w.arrays):
            b = io.BytesIO()
            np.save(b, a, allow_pickle=False)
            z.writestr(f"{_ROOT}data/{i}.npy", b.getvalue())
    data = buf.getvalue()
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(data)
    else:
        f.write(data)


class _Reader:
    def __init__(self, z: zipfile.ZipFile) -> None:
        self.z = z
        self.tensors: dict[int, Tensor] = {}

    def dec(self, obj: Any) -> Any:
        if obj is None or isinstance(obj, (bool, int, str)):
            return obj
        ((kind, val), *rest) = obj.items()
        if kind == "float":
            return float(val)
        if kind == "tensor":
            return self.tensor(obj)
        if kind == "size":
            return Size(val)
        if kind == "dtype":
            return _dtype.as_dtype(np.dtype(val) if val != "bool" else np.bool_)
        if kind == "device":
            return device(val)
        if kind in ("dict", "odict"):
            items = [(self.dec(k), self.dec(v)) for k, v in val]
            out = OrderedDict(items) if kind == "odict" else dict(items)
            if rest:
                out._metadata = self.dec(rest[0][1])  # type: ignore[attr-defined]
            return out
        if kind == "list":
            return [self.dec(v) for v in val]
        if kind == "tuple":
            return tuple(self.dec(v) for v in val)
        if kind == "unsupported":
            raise pickle.UnpicklingError(_unsupported_message(val))
        raise pickle.UnpicklingError(f"unknown entry {kind!r} in an engine save file")

    def tensor(self, spec: dict) -> Tensor:
        i = spec["tensor"]
        if i not in self.tensors:
            with self.z.open(f"{_ROOT}data/{i}.npy") as fh:
                arr = np.load(io.BytesIO(fh.read()), allow_pickle=False)
            self.tensors[i] = _make(arr)
        base = self.tensors[i]
        if spec.get("parameter"):
            return Parameter(base, requires_grad=spec["requires_grad"])
        if spec["requires_grad"]:
            t = _make(base._data, version=base._version)
            t.requires_grad_(True)
            return t
        return base


def load(f: Any, map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool | None = None, mmap: bool | None = None,
         **pickle_load_args: Any) -> Any:
    """Read what :func:`save` wrote (never executes code from the file)."""
    if isinstance(map_location, str) or map_location is not None and not callable(
            map_location) and not isinstance(map_location, dict):
        check_device(map_location)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            data = fh.read()
    else:
        data = f.read()
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        manifest = json.loads(z.read(_ROOT + "manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise pickle.UnpicklingError(
            "not a file written by engine.save: the engine reads only its own pickle-free "
            "format (a zip with a JSON manifest and .npy arrays)") from None
    if manifest.get("format") != FORMAT:
        raise pickle.UnpicklingError(f"unknown engine save format {manifest.get('format')!r}")
    with z:
        return _Reader(z).dec(manifest["root"])
