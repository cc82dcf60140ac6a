"""torch.autograd.Function for the engine: user-defined forward and backward.

::

    class Exp(engine.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            result = x.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad):
            (result,) = ctx.saved_tensors
            return grad * result

    y = Exp.apply(x)          # y.grad_fn is an ExpBackward node, as torch names it

``forward`` runs with grad mode off; ``backward`` gets engine tensors and returns one gradient
(or None) per forward argument. The node is the ``ctx``: what forward stores on it is there in
backward, ``saved_tensors`` come back as tensors (a saved output keeps this node as its
grad_fn, so ``create_graph=True`` differentiates through a custom backward too).
One differentiable output per Function is supported.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from engine import grad_mode
from engine._rule import CustomRule
from engine.function import FREED_MESSAGE, Node, record
from engine.tensor import Tensor, _make

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


class FunctionCtx:
    """What ``forward`` gets as ``ctx`` (and ``backward`` gets back as the node)."""

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError("save_for_backward can only save variables, but argument "
                                f"{tensors.index(t)} is of type {type(t).__name__}")
        self.__dict__["_to_save"] = tensors

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        self.__dict__["_non_differentiable"] = {id(t) for t in tensors}

    def mark_dirty(self, *tensors: Tensor) -> None:
        self.__dict__["_dirty"] = tensors

    def set_materialize_grads(self, value: bool) -> None:
        self.__dict__["materialize_grads"] = bool(value)

    @property
    def saved_tensors(self) -> tuple:
        return tuple(self.__dict__.get("_to_save", ()))

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        return self.__dict__.get("_needs_input_grad", ())


class _ForwardCtx(FunctionCtx):
    """The ctx object while forward runs (its attributes move to the node afterwards)."""


class BackwardCFunction(Node):
    """Base of the generated ``<Name>Backward`` node classes."""

    rule = CustomRule()  # "grads = <Name>.backward(ctx, grad)": the user's own code

    _fn_cls: Any = None

    @property
    def _forward_cls(self) -> Any:
        """The Function subclass this node runs the backward of (torch's attribute)."""
        return self._fn_cls

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        return self.__dict__.get("_needs_input_grad", ())

    @property
    def saved_tensors(self) -> tuple:
        """The tensors forward saved, in order (a saved output has this node as grad_fn)."""
        if self._freed:
            raise RuntimeError(FREED_MESSAGE)
        names = self.__dict__.get("_save_names", ())
        saved = self._saved or {}
        out = []
        for name in names:
            if name is None:
                out.append(None)
                continue
            t = None
            for n, src, _, _, is_output in self._saved_src:
                if n == name:
                    t = src if not is_output else _make(saved[name], True, self)
                    break
            if t is None:
                v = saved[name]
                t = v if isinstance(v, Tensor) else _make(np.asarray(v))
            out.append(t)
        return tuple(out)

    save_for_backward = FunctionCtx.save_for_backward
    mark_non_differentiable = FunctionCtx.mark_non_differentiable
    mark_dirty = FunctionCtx.mark_dirty
    set_materialize_grads = FunctionCtx.set_materialize_grads

    def backward(self, g: Any, s: dict, xp: Any) -> tuple:  # the engine's rule
        create_graph = xp.records  # tensor_ops, not numpy_ops
        gt = g if isinstance(g, Tensor) else _make(g)
        result = self._fn_cls.backward(self, gt)
        if not isinstance(result, tuple):
            result = (result,)
        positions = self.__dict__["_tensor_positions"]
        n_args = self.__dict__["_n_args"]
        if len(result) != n_args:
            if len(result) > n_args and all(r is None for r in result[n_args:]):
                result = result[:n_args]
            else:
                raise RuntimeError(f"function {self.name()} returned an incorrect number of "
                                   f"gradients (expected {n_args}, got {len(result)})")
        for i, r in enumerate(result):
            if r is not None and i not in positions:
                raise RuntimeError(f"function {self.name()} returned a gradient different than "
                                   f"None at position {i + 1}, but the corresponding forward "
                                   "input was not a Variable")
        out = []
        for k, i in enumerate(positions):
            r = result[i]
            m = self._meta[k]
            if r is None or m is None:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                r = _make(np.asarray(r, dtype=m[1]))
            shape = m[0]
            if r._data.shape != shape and not _expandable(shape, r._data.shape):
                raise RuntimeError(
                    f"Function {self.name()} returned an invalid gradient at index {k} - got "
                    f"[{', '.join(map(str, r._data.shape))}] but expected shape compatible with "
                    f"[{', '.join(map(str, shape))}]")
            out.append(r if create_graph else r._data)
        return tuple(out)


def _expandable(shape: tuple, to: tuple) -> bool:
    """True when a tensor of ``shape`` broadcasts to ``to`` (torch's is_expandable_to)."""
    if len(shape) > len(to):
        return False
    for a, b in zip(reversed(shape), reversed(to)):
        if a != b and a != 1:
            return False
    return True


class _FunctionMeta(type):
    """Gives every Function subclass its node class, ``<ClassName>Backward``."""

    def __init__(cls, name: str, bases: tuple, attrs: dict) -> None:
        super().__init__(name, bases, attrs)
        cls._backward_cls = type(f"{name}Backward", (BackwardCFunction,),
                                 {"_fn_cls": cls, "__module__": cls.__module__})


class Function(metaclass=_FunctionMeta):
    """Base class of custom autograd operations (torch.autograd.Function).

    Subclasses define static ``forward(ctx, *args)`` (or ``forward(*args)`` plus
    ``setup_context(ctx, inputs, output)``) and ``backward(ctx, *grads)``; call ``apply``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Legacy autograd function with non-static forward method is "
                           "deprecated. Please use new-style autograd function with static "
                           "forward method. (Example: "
                           "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)")

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> Any:
        return _SingleLevelFunction_setup_context_not_overridden

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward "
                                  "mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        ctx = _ForwardCtx()
        needs = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        ctx.__dict__["_needs_input_grad"] = needs
        custom_setup = cls.setup_context is not Function.setup_context
        with grad_mode.no_grad():
            if custom_setup:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        recording = grad_mode.is_grad_enabled() and any(needs)
        if not recording:
            return output
        is_tuple = isinstance(output, tuple)
        outs = output if is_tuple else (output,)
        nd = ctx.__dict__.get("_non_differentiable", set())
        diff = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and id(o) not in nd]
        if not diff:
            return output
        if len(diff) > 1:
            raise NotImplementedError(
                f"{cls.__name__}: the engine's custom Function supports one differentiable "
                "output (mark the others with ctx.mark_non_differentiable)")
        k = diff[0]
        out_t = outs[k]
        if out_t._data.dtype.kind != "f":
            return output
        positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        tensor_args = tuple(args[i] for i in positions)
        to_save = ctx.__dict__.get("_to_save", ())
        saved: dict[str, Any] = {}
        out_saved: list[str] = []
        names: list[str | None] = []
        for j, t in enumerate(to_save):
            if t is None:
                names.append(None)
                continue
            name = str(j)
            names.append(name)
            if t is out_t:
                out_saved.append(name)
            else:
                saved[name] = t
        params = {key: v for key, v in ctx.__dict__.items()
                  if key not in ("_to_save", "_non_differentiable")}
        params["_save_names"] = tuple(names)
        params["_tensor_positions"] = positions
        params["_n_args"] = len(args)
        result = record(cls._backward_cls, out_t._data, tensor_args, saved or None,
                        tuple(out_saved), **params)
        if not is_tuple:
            return result
        return outs[:k] + (result,) + outs[k + 1:]


class _NotOverridden:
    pass


_SingleLevelFunction_setup_context_not_overridden = _NotOverridden()


def once_differentiable(fn: Any) -> Any:
    """Decorator for ``backward``: run it with grad mode off (its result is not differentiable
    again)."""
    @functools.wraps(fn)
    def wrapper(ctx: Any, *args: Any) -> Any:
        with grad_mode.no_grad():
            return fn(ctx, *args)
    return wrapper
