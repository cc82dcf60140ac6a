"""The graph: Node (a grad_fn), AccumulateGrad, and ``record``, the funnel every op goes through.

A Node mirrors ``torch.autograd.graph.Node``: ``name()``, ``next_functions`` as
``((node, output_nr), ...)`` with ``(None, 0)`` for inputs that need no grad, ``metadata``,
``register_hook`` / ``register_prehook``, and the values it saved for backward as
``saved_tensors`` and torch's ``_saved_<name>`` attributes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from engine import events
from engine.events import Handle

__all__ = ["Node", "AccumulateGrad", "record", "FREED_MESSAGE"]

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward.")

_node_ids = itertools.count(1)
_seq = itertools.count()
NONE_EDGE = (None, 0)
_BACKWARD_SUFFIX = re.compile(r"Backward\d*$")


class Saved:
    """One value saved for backward: the array, and the version it had when saved."""

    __slots__ = ("data", "tensor", "counter", "version", "is_output")

    def __init__(self, data: Any, tensor: Any, counter: list | None, is_output: bool) -> None:
        self.data = data
        self.tensor = tensor
        self.counter = counter
        self.version = counter[0] if counter is not None else 0
        self.is_output = is_output


class Node:
    """A function in the backward graph (torch's ``grad_fn``). Subclasses define ``backward``."""

    __slots__ = ("_id", "_seq", "next_functions", "_saved", "_freed", "_meta", "_hooks",
                 "_prehooks", "_tensor_prehooks", "_retain", "_metadata", "_anomaly",
                 "__dict__", "__weakref__")

    #: how ``Node.backward`` computes: arrays (numpy) or tensors (create_graph)
    def backward(self, g: Any, s: dict[str, Any], xp: Any) -> tuple:  # pragma: no cover
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
        self._hooks.append(fn)
        return Handle(self._hooks, fn)

    def register_prehook(self, fn: Callable[[tuple], tuple | None]) -> Handle:
        """``fn(grad_outputs)`` runs before the node; it may return new grad_outputs."""
        if self._prehooks is None:
            self._prehooks = []
        self._prehooks.append(fn)
        return Handle(self._prehooks, fn)

    # ----- saved tensors
    @property
    def saved_tensors(self) -> dict[str, Any]:
        """What this node saved for backward, by torch's names (``self``, ``other``, ``result``)."""
        if self._freed:
            raise RuntimeError(FREED_MESSAGE)
        return {k: _as_tensor(v) for k, v in (self._saved or {}).items()}

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_saved_"):
            key = attr[7:]
            saved = object.__getattribute__(self, "_saved")
            if saved is not None and key in saved:
                if object.__getattribute__(self, "_freed"):
                    raise RuntimeError(FREED_MESSAGE)
                return _as_tensor(saved[key])
            params = object.__getattribute__(self, "__dict__")
            if key in params.get("_freed_names", ()):
                raise RuntimeError(FREED_MESSAGE)
            if key in params:
                return params[key]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{attr}'")

    def _check_versions(self) -> None:
        for sv in self._saved.values():
            if sv.counter is not None and sv.counter[0] != sv.version:
                raise RuntimeError(_version_message(self, sv))

    def _release(self) -> None:
        if self._saved:
            self.__dict__["_freed_names"] = tuple(self._saved)
            self._saved = None
            self._freed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"


def _as_tensor(sv: Saved) -> Any:
    from engine.tensor import Tensor, _make
    if sv.tensor is not None:
        return sv.tensor
    d = sv.data
    return d if isinstance(d, Tensor) else _make(np.asarray(d))


def _version_message(node: Node, sv: Saved) -> str:
    data = np.asarray(sv.data)
    from engine._dtype import from_numpy_dtype
    tname = f"engine.{from_numpy_dtype(data.dtype)._tensor_type}"
    shape = "[" + ", ".join(str(s) for s in data.shape) + "]"
    origin = None
    if sv.is_output:
        origin = node.name()
    elif sv.tensor is not None and sv.tensor.grad_fn is not None:
        origin = sv.tensor.grad_fn.name()
    which = f", which is output 0 of {_BACKWARD_SUFFIX.sub('', origin)}," if origin else ""
    return (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{tname} {shape}]{which} is at version {sv.counter[0]}; expected version "
        f"{sv.version} instead. Hint: enable anomaly detection to find the operation that failed "
        "to compute its gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).")


class AccumulateGrad(Node):
    """The sink of a leaf that requires grad: adds the incoming gradient into ``variable.grad``."""

    __slots__ = ("variable",)

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"


def new_node(cls: type[Node]) -> Node:
    node = cls.__new__(cls)
    node._id = next(_node_ids)
    node._seq = next(_seq)
    node._saved = None
    node._freed = False
    node._hooks = node._prehooks = node._tensor_prehooks = node._retain = None
    node._metadata = None
    node._anomaly = None
    return node


def make_accumulate_grad(variable: Any) -> AccumulateGrad:
    node = new_node(AccumulateGrad)
    node._seq = float("inf")  # torch: AccumulateGrad runs as soon as it is ready
    node.variable = variable
    node.next_functions = ()
    node._meta = ()
    return node


def record(cls: type[Node], out: np.ndarray, inputs: tuple, saved: dict | None = None,
           output_saved: tuple[str, ...] = (), **params: Any) -> Any:
    """Wrap ``out`` in a tensor whose ``grad_fn`` is a new ``cls`` node.

    ``inputs`` are the op's differentiable arguments in torch's edge order (tensors, or Python
    numbers that get ``(None, 0)``); ``saved`` maps torch's saved-value names to tensors, arrays or
    numbers; ``output_saved`` names saved entries that are the output itself.
    """
    from engine.tensor import Tensor, _make
    node = new_node(cls)
    edges = []
    meta = []
    for t in inputs:
        if type(t) is Tensor or isinstance(t, Tensor):
            if t._requires_grad:
                fn = t.grad_fn
                edges.append((fn, t._output_nr) if fn is not None else (t._accumulator(), 0))
                meta.append((t._data.shape, t._data.dtype))
                continue
        edges.append(NONE_EDGE)
        meta.append(None)
    node.next_functions = tuple(edges)
    node._meta = tuple(meta)
    if params:
        node.__dict__.update(params)
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    result = _make(out, True, node)
    if saved or output_saved:
        sv = {}
        for k, v in (saved or {}).items():
            if isinstance(v, Tensor):
                sv[k] = Saved(v._data, v, v._version, False)
            else:
                sv[k] = Saved(v, None, None, False)
        for k in output_saved:
            sv[k] = Saved(out, None, result._version, True)
        node._saved = sv
    if _anomaly_enabled[0]:
        import traceback
        node._anomaly = "".join(traceback.format_stack()[:-2])
    if events._subscribers:
        events.emit("op_recorded", node_id=node._id, name=node.name(), tensor_id=result._id,
                    inputs=tuple(getattr(t, "_id", None) for t in inputs),
                    next_ids=tuple(fn._id if fn is not None else None for fn, _ in edges),
                    shape=tuple(out.shape))
    return result


_anomaly_enabled = [False]
