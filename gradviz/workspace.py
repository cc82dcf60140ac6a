"""The workspace API every panel talks to, with no engine and no Qt: code runs somewhere
(``gradviz.session.Session`` in this process, ``gradviz.qt.remote_session.RemoteSession`` in
the kernel), each panel action is a line of code, listeners hear what changed.

The window imports this module, never the engine: ``RunResult``, ``TensorInfo`` and the panel
actions are the same for both workspaces.
"""

from __future__ import annotations

import builtins
import enum
import importlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradviz.views import grad_of

__all__ = ["Workspace", "Change", "RunResult", "TensorInfo", "format_error",
           "install_torch_alias"]


class Change(enum.StrEnum):
    """What changed, as workspace listeners hear it (equal to the plain strings)."""

    CODE = "code"  # a piece of code ran (history, results)
    TENSORS = "tensors"  # the named tensors or their values
    CURSOR = "cursor"  # the backward cursor moved or was replaced
    STATE = "state"  # the kernel reported its state (RemoteSession)


@dataclass
class RunResult:
    """What running one piece of code did."""

    source: str
    output: str = ""
    error: BaseException | None = None
    error_text: str = ""  # torch-style last line, e.g. "RuntimeError: grad can be ..."
    error_line: int | None = None  # 1-based line in ``source`` that raised
    new_names: list[str] = field(default_factory=list)
    value_repr: str | None = None  # repr of a final bare expression, like a notebook

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class TensorInfo:
    """One named tensor of the workspace, as the tensors table shows it."""

    name: str
    tensor: Any  # an engine (or torch) tensor, or a view of a kernel tensor

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)

    @property
    def dtype(self) -> str:
        return self.tensor.dtype.name

    @property
    def grad_fn(self) -> str:
        fn = self.tensor.grad_fn
        return fn.name() if fn is not None else ""

    @property
    def grad(self) -> Any:
        return grad_of(self.tensor)


def format_error(exc: BaseException) -> str:
    """``Type: message`` as torch prints the last line of a traceback."""
    msg = str(exc)
    if isinstance(exc, KeyError):
        msg = repr(exc.args[0]) if exc.args else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _torch_import(real: Callable[..., Any]) -> Callable[..., Any]:
    def __import__(name: str, globals: Mapping[str, Any] | None = None,  # noqa: A002
                   locals: Mapping[str, Any] | None = None,  # noqa: A002
                   fromlist: Sequence[str] | None = (), level: int = 0) -> Any:
        if level == 0 and (name == "torch" or name.startswith("torch.")):
            target = "engine" + name[len("torch"):]
            try:
                mod = importlib.import_module(target)
            except ModuleNotFoundError:
                raise ModuleNotFoundError(f"No module named {name!r} (the gradviz engine has "
                                          f"no {name})", name=name) from None
            return mod if fromlist else importlib.import_module("engine")
        return real(name, globals, locals, fromlist, level)

    __import__._gradviz_torch_alias = True  # type: ignore[attr-defined]
    return __import__


def install_torch_alias(namespace: dict[str, Any]) -> None:
    """Make ``import torch`` (and ``torch.x`` submodules, ``from torch import ...``) inside
    code run in ``namespace`` resolve to the engine, as lesson code expects. Idempotent."""
    b = namespace.get("__builtins__", builtins)
    current = b.get("__import__") if isinstance(b, dict) else getattr(b, "__import__", None)
    if getattr(current, "_gradviz_torch_alias", False):
        return
    table = dict(b) if isinstance(b, dict) else dict(vars(b))
    table["__import__"] = _torch_import(current or builtins.__import__)
    namespace["__builtins__"] = table


class Workspace:
    """What every workspace shares: the namespace, the code history, listeners, and the panel
    actions as code. A subclass runs code (``run``) and lists tensors (``tensors``, ``names``,
    ``get``, ``default_root``, ``id_of``)."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {}
        self.history: list[str] = []  # every piece of code that ran, in order
        self.results: list[RunResult] = []
        self._listeners: list[Callable[[str], None]] = []
        self.cursor: Any = None
        self.reset_namespace()

    def reset_namespace(self) -> None:
        self.namespace.clear()

    def run(self, source: str, timeout: float | None = None) -> RunResult:  # pragma: no cover
        raise NotImplementedError

    # ----- listeners (the Qt bridge subscribes here)
    def add_listener(self, fn: Callable[[Change], None]) -> None:
        """``fn(what)`` is called after changes: "code", "tensors", "cursor"."""
        self._listeners.append(fn)

    def _notify(self, what: Change) -> None:
        for fn in tuple(self._listeners):
            fn(what)

    def unique_name(self, base: str = "t") -> str:
        if base not in self.namespace:
            return base
        for i in itertools.count(1):
            if f"{base}{i}" not in self.namespace:
                return f"{base}{i}"
        raise AssertionError  # pragma: no cover

    # ----- panel actions, each one a line of code
    def create_tensor(self, name: str, kind: str, shape: tuple[int, ...] = (),
                      values: str = "", seed: int | None = None, fill: float = 0.0,
                      dtype: str = "float32", requires_grad: bool = False) -> RunResult:
        """Make a tensor from the dialog's choices: kind in values, randn, zeros, ones, arange,
        full."""
        _check_name(name)
        rg = ", requires_grad=True" if requires_grad else ""
        dt = "" if dtype == "float32" and kind != "arange" else f", dtype=torch.{dtype}"
        shp = ", ".join(str(int(s)) for s in shape)
        if kind == "values":
            code = f"{name} = torch.tensor({values.strip()}{dt}{rg})"
        elif kind == "randn":
            code = (f"torch.manual_seed({int(seed)})\n" if seed is not None else "") + \
                   f"{name} = torch.randn({shp}{dt}{rg})"
        elif kind in ("zeros", "ones"):
            code = f"{name} = torch.{kind}({shp}{dt}{rg})"
        elif kind == "arange":
            n = int(np.prod(shape)) if shape else 1
            code = f"{name} = torch.arange({n}, dtype=torch.{dtype})"
            if len(shape) > 1:
                code += f".reshape({shp})"
            if requires_grad:
                code += ".requires_grad_()"
        elif kind == "full":
            code = f"{name} = torch.full(({shp}{',' if len(shape) == 1 else ''}), {fill!r}{dt}{rg})"
        else:
            raise ValueError(f"unknown kind {kind!r}")
        return self.run(code)

    BINARY_OPS = {"+": "{a} + {b}", "-": "{a} - {b}", "*": "{a} * {b}", "/": "{a} / {b}",
                  "**": "{a} ** {b}", "@": "{a} @ {b}", "maximum": "torch.maximum({a}, {b})",
                  "minimum": "torch.minimum({a}, {b})"}
    UNARY_OPS = ("exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "sqrt",
                 "square", "neg", "sum", "mean", "max", "min", "t", "flatten", "clone",
                 "detach", "softmax", "log_softmax")

    def apply_op(self, out: str, op: str, a: str, b: str = "") -> RunResult:
        """``out = a <op> b`` (or ``out = a.op()``) without typing."""
        _check_name(out)
        if op in self.BINARY_OPS:
            expr = self.BINARY_OPS[op].format(a=a, b=b)
        elif op in ("softmax", "log_softmax"):
            expr = f"{a}.{op}(dim=-1)"
        elif op in self.UNARY_OPS:
            expr = f"{a}.{op}()"
        else:
            raise ValueError(f"unknown op {op!r}")
        return self.run(f"{out} = {expr}")

    def set_requires_grad(self, name: str, flag: bool) -> RunResult:
        return self.run(f"{name}.requires_grad_({flag})")

    def zero_grad(self, name: str) -> RunResult:
        return self.run(f"{name}.grad.zero_()")

    def set_grad_none(self, name: str) -> RunResult:
        return self.run(f"{name}.grad = None")

    def detach(self, name: str, out: str | None = None) -> RunResult:
        return self.run(f"{out or name} = {name}.detach()")

    def delete(self, name: str) -> RunResult:
        return self.run(f"del {name}")

    def backward(self, name: str, gradient: str | None = None) -> RunResult:
        return self.run(f"{name}.backward({gradient or ''})")


def _check_name(name: str) -> None:
    if not name.isidentifier() or name in ("torch", "engine", "np"):
        raise ValueError(f"{name!r} is not a usable variable name")
