"""The graph: Node (a grad_fn), AccumulateGrad, and ``record``, the funnel every op goes through.

A Node mirrors ``torch.autograd.graph.Node``: ``name()``, ``next_functions`` as
``((node, output_nr), ...)`` with ``(None, 0)`` for inputs that need no grad, ``metadata``,
``register_hook`` / ``register_prehook``, and the values it saved for backward as
``saved_tensors`` and torch's ``_saved_<name>`` attributes.
"""

from __future__ import annotations

import itertools
import re
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from engine import events
from engine._dtype import from_numpy_dtype
from engine._rule import GENERIC, Rule, _from_function
from engine.events import Handle
from engine.tensor import (
    Tensor,
    _emit_created,
    _make,
    _quiet,
    _tensor_ids,
    _Version,
)

__all__ = ["Node", "NodeHooks", "AccumulateGrad", "record", "FREED_MESSAGE"]

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward.")

_node_ids = itertools.count(1)


def next_node_id() -> int:
    """The id the next node created will get (nodes are numbered in creation order): a node
    with an id at least this was made after this call."""
    r = repr(_node_ids)  # itertools.count(N)
    return int(r[r.index("(") + 1:r.rindex(")")])


class NodeHooks(NamedTuple):
    """What ``Node.registered_hooks()`` returns."""

    hooks: tuple[Callable, ...]
    prehooks: tuple[Callable, ...]
    tensor_prehooks: tuple[Callable, ...]


NONE_EDGE = (None, 0)
_BACKWARD_SUFFIX = re.compile(r"Backward(?:0|(\d+))$")  # ExpBackward0: Exp; ClampBackward1: Clamp1


class Node:
    """A function in the backward graph (torch's ``grad_fn``). Subclasses define ``backward``.

    ``_saved`` maps torch's saved names to the arrays backward reads (numbers stay numbers);
    ``_saved_src`` keeps, per saved tensor, ``(name, tensor_or_None, version_counter,
    version_when_saved, is_output)`` for the in-place check and for ``create_graph``.
    """

    __slots__ = ("_id", "next_functions", "_saved", "_saved_src", "_meta", "__dict__",
                 "__weakref__")

    # rarely set per node: class defaults, overridden in the instance dict when used
    _freed = False
    _hooks = None
    _prehooks = None
    _tensor_prehooks = None
    _retain = None
    _metadata = None
    _anomaly = None
    _priority = 0  # AccumulateGrad (1) runs first among ready nodes
    _has_hooks = False  # any hook, prehook or retain_grad: backward takes the general path
    _multi = False  # a node with several outputs (unbind, split) gets a list of gradients
    _n_outputs = 1
    rule: Rule = GENERIC  # each op's class states its own, beside its backward

    def backward(self, g: Any, s: dict[str, Any], xp: Any) -> tuple:  # pragma: no cover
        """Gradient rule: from the output's gradient ``g`` and the saved values ``s`` to one
        gradient per edge (None where no gradient flows), in the vocabulary ``xp``."""
        raise NotImplementedError

    def name(self) -> str:
        """The node's PyTorch name, e.g. ``MulBackward0``."""
        return type(self).__name__

    @property
    def metadata(self) -> dict:
        """A dict for user annotations, kept with the node (torch's ``Node.metadata``)."""
        if self._metadata is None:
            self._metadata = {}
        return self._metadata

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        return tuple(fn is not None for fn, _ in self.next_functions)

    def register_hook(self, fn: Callable[[tuple, tuple], tuple | None]) -> Handle:
        """``fn(grad_inputs, grad_outputs)`` runs after the node; it may return new grad_inputs."""
        if self._hooks is None:
            self._hooks = []
            self._has_hooks = True
        self._hooks.append(fn)
        return Handle(self._hooks, fn)

    def register_prehook(self, fn: Callable[[tuple], tuple | None]) -> Handle:
        """``fn(grad_outputs)`` runs before the node; it may return new grad_outputs."""
        if self._prehooks is None:
            self._prehooks = []
            self._has_hooks = True
        self._prehooks.append(fn)
        return Handle(self._prehooks, fn)

    def registered_hooks(self) -> NodeHooks:
        """The hooks on this node, in registration order: ``hooks`` (register_hook),
        ``prehooks`` (register_prehook) and ``tensor_prehooks`` (``Tensor.register_hook`` on
        the node's outputs, run before it)."""
        return NodeHooks(tuple(self._hooks or ()), tuple(self._prehooks or ()),
                         tuple(h[1] if self._multi else h for h in self._tensor_prehooks or ()))

    # ----- saved tensors
    @property
    def is_freed(self) -> bool:
        """True once backward released what the node saved (reading it then raises)."""
        return self._freed

    @property
    def freed_names(self) -> tuple[str, ...]:
        """The names of the saved values backward released (empty while they are kept)."""
        return self.__dict__.get("_freed_names", ()) if self._freed else ()

    @property
    def saved_tensors(self) -> dict[str, Any]:
        """What this node saved for backward, by torch's names (``self``, ``other``, ``result``)."""
        if self._freed:
            raise RuntimeError(FREED_MESSAGE)
        return {k: self._saved_value(k) for k in (self._saved or {})}

    def _saved_value(self, key: str) -> Any:
        for name, t, _, _, _ in self._saved_src:
            if name == key and t is not None:
                return t
        v = self._saved[key]
        return v if isinstance(v, Tensor) else _make(np.asarray(v))

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_saved_"):
            key = attr[7:]
            saved = object.__getattribute__(self, "_saved")
            if saved is not None and key in saved:
                return self._saved_value(key)
            params = object.__getattribute__(self, "__dict__")
            if key in params.get("_freed_names", ()):
                raise RuntimeError(FREED_MESSAGE)
            if key in params:
                return params[key]
            default = getattr(type(self), key, None)  # a parameter's class default (alpha)
            if default is not None and not callable(default) and not key.startswith("_"):
                return default
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{attr}'")

    def _check_versions(self) -> None:
        for entry in self._saved_src:
            c = entry[2]
            if c is not None and c[0] != entry[3]:
                raise RuntimeError(_version_message(self, entry))

    def _release(self) -> None:
        if self._saved:
            self._freed_names = tuple(self._saved)
            self._saved = None
            self._saved_src = ()
            self._freed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"


def _keep_digits(m: re.Match) -> str:
    return m.group(1) or ""


def _version_message(node: Node, entry: tuple) -> str:
    name, tensor, counter, version, is_output = entry
    data = np.asarray(node._saved[name])
    tname = f"torch.{from_numpy_dtype(data.dtype)._tensor_type}"
    shape = "[" + ", ".join(str(s) for s in data.shape) + "]"
    origin = None
    if is_output:
        origin = node.name()
    elif tensor is not None and tensor.grad_fn is not None:
        origin = tensor.grad_fn.name()
    which = (f", which is output 0 of {_BACKWARD_SUFFIX.sub(_keep_digits, origin)},"
             if origin else "")
    hint = ("the backtrace further above shows the operation that failed to compute its "
            "gradient. The variable in question was changed in there or anywhere later. Good "
            "luck!" if _anomaly_enabled[0] else
            "enable anomaly detection to find the operation that failed to compute its gradient, "
            "with torch.autograd.set_detect_anomaly(True, check_nan=False).")
    return (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{tname} {shape}]{which} is at version {counter[0]}; expected version "
        f"{version} instead. Hint: {hint}")


class AccumulateGrad(Node):
    """The sink of a leaf that requires grad: adds the incoming gradient into ``variable.grad``."""

    __slots__ = ("variable",)
    _priority = 1
    rule = Rule("A leaf's sink: adds the incoming gradient into the leaf's .grad (creating it the "
                "first time). Gradients from several paths and several backward() calls add up.",
                ("x.grad += grad",), "x.grad ← x.grad + ∂L/∂x")

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"


_NO_SAVED: dict = {}
_new = object.__new__


def accumulator_of(t: Tensor) -> AccumulateGrad:
    """The AccumulateGrad node of leaf ``t`` (made once, kept while the graph holds it)."""
    acc = t._accum() if t._accum is not None else None
    if acc is None:
        acc = make_accumulate_grad(t)
        t._accum = weakref.ref(acc)
    return acc


def make_accumulate_grad(variable: Any) -> AccumulateGrad:
    node = AccumulateGrad.__new__(AccumulateGrad)
    node._id = next(_node_ids)
    node.variable = variable
    node.next_functions = ()
    node._meta = ()
    node._saved = _NO_SAVED
    node._saved_src = ()
    return node


def record(cls: type[Node], out: np.ndarray, inputs: tuple, saved: dict | None = None,
           output_saved: tuple[str, ...] = (), **params: Any) -> Any:
    """Wrap ``out`` in a tensor whose ``grad_fn`` is a new ``cls`` node.

    ``inputs`` are the op's differentiable arguments in torch's edge order (tensors, or Python
    numbers that get ``(None, 0)``); ``saved`` maps torch's saved-value names to tensors, arrays or
    numbers; ``output_saved`` names saved entries that are the output itself.
    """
    node = _new(cls)
    node._id = next(_node_ids)
    if len(inputs) == 1:  # unary ops: the input is a tensor that requires grad
        t = inputs[0]
        fn = t.grad_fn
        edges = ((fn, t._output_nr) if fn is not None else (accumulator_of(t), 0),)
        d = t._data
        node._meta = ((d.shape, d.dtype),)
    elif len(inputs) == 2:
        a, b = inputs
        if isinstance(a, Tensor) and a._requires_grad:
            fn = a.grad_fn
            ea = (fn, a._output_nr) if fn is not None else (accumulator_of(a), 0)
            d = a._data
            ma = (d.shape, d.dtype)
        else:
            ea = NONE_EDGE
            ma = None
        if isinstance(b, Tensor) and b._requires_grad:
            fn = b.grad_fn
            eb = (fn, b._output_nr) if fn is not None else (accumulator_of(b), 0)
            d = b._data
            mb = (d.shape, d.dtype)
        else:
            eb = NONE_EDGE
            mb = None
        edges = (ea, eb)
        node._meta = (ma, mb)
    else:
        edges = []
        meta = []
        for t in inputs:
            if isinstance(t, Tensor) and t._requires_grad:
                fn = t.grad_fn
                edges.append((fn, t._output_nr) if fn is not None else (accumulator_of(t), 0))
                d = t._data
                meta.append((d.shape, d.dtype))
            else:
                edges.append(NONE_EDGE)
                meta.append(None)
        edges = tuple(edges)
        node._meta = tuple(meta)
    node.next_functions = edges
    if params:
        node.__dict__.update(params)
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    result = _new(Tensor)
    result._data = out
    result._requires_grad = True
    result.grad_fn = node
    result._version = _Version((0,))
    result._id = next(_tensor_ids)
    if events._subscribers and not _quiet[0]:
        _emit_created(result)
    if saved or output_saved:
        sv = {}
        src = []
        if saved:
            for k, v in saved.items():
                if isinstance(v, Tensor):
                    sv[k] = v._data
                    c = v._version
                    src.append((k, v, c, c[0], False))
                else:
                    sv[k] = v
        for k in output_saved:
            sv[k] = out
            src.append((k, None, result._version, 0, True))
        node._saved = sv
        node._saved_src = tuple(src)
    else:
        node._saved = _NO_SAVED
        node._saved_src = ()
    if _anomaly_enabled[0]:
        node._anomaly = _forward_stack()
    if events._subscribers:
        events.emit("op_recorded", node_id=node._id, name=node.name(), tensor_id=result._id,
                    inputs=tuple([getattr(t, "_id", None) for t in inputs]),
                    next_ids=tuple([fn._id if fn is not None else None for fn, _ in edges]),
                    shape=tuple(out.shape))
    return result


_anomaly_enabled = [False]
_ENGINE_DIR = __file__.rsplit("function.py", 1)[0]


def _forward_stack() -> str:
    """The Python stack of the op being recorded, without the engine's own innermost frames
    (torch's ops are C++, so its forward traceback ends at the user's line; engine.nn frames
    stay, as torch.nn's do)."""
    import traceback
    frames = traceback.extract_stack()[:-2]
    nn_dir = _ENGINE_DIR + "nn"
    while frames and frames[-1].filename.startswith(_ENGINE_DIR) \
            and not frames[-1].filename.startswith(nn_dir):
        frames.pop()
    return "".join(traceback.format_list(frames))


_from_function.Node = Node  # engine._rule.rule_for walks its subclasses
