"""Backward: ``backward_steps`` runs the graph one node per ``next()``; ``backward`` drains it.

Order is torch's: a node runs once every node that feeds it gradient has run; among the ready
nodes the most recently created runs first, and AccumulateGrad nodes run as soon as they are
ready. Stopping a ``backward_steps`` generator midway is safe: the ``.grad`` of leaves whose
AccumulateGrad already ran keep what they received, nothing else changes, and the nodes that
ran have freed their saved tensors unless ``retain_graph=True``.
"""

from __future__ import annotations

import heapq
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from engine import _backend, events, grad_mode
from engine._backend import numpy_ops as _numpy_ops
from engine._backend import sum_to as _sum_to
from engine._rule import GENERIC as GENERIC_RULE
from engine._rule import CustomRule, Rule, rule_for
from engine.events import value_of as _value_of
from engine.function import (
    FREED_MESSAGE,
    AccumulateGrad,
    Node,
    _anomaly_enabled,
    _version_message,
    accumulator_of,
    next_node_id,
)
from engine.tensor import Size, Tensor, _make, _own_grad, _quiet, _raise, _up

__all__ = ["backward", "backward_steps", "grad", "set_backward_driver", "check_backward_roots",
           "Rule", "rule_for", "GENERIC_RULE", "CustomRule", "next_node_id",
           "BackwardStep", "GradWalk", "gradcheck",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "Function",
           "FunctionCtx", "once_differentiable", "gradgradcheck", "GradcheckError", "graph",
           "is_anomaly_check_nan_enabled", "restore_grad"]


class BackwardStep:
    """What one node did: ``node``, ``grad_outputs`` (in), ``grad_inputs`` (out, aligned with
    ``node.next_functions``), and for AccumulateGrad the leaf and its grad before and after.

    In ``autograd.grad`` an input's node is not run: its step is ``captured`` (``grad_outputs``
    hold the gradient ``grad()`` returns for that input, nothing flows on, no ``.grad`` moves),
    as torch's engine captures the grad there."""

    __slots__ = ("index", "node", "_gout", "_gin", "variable", "_before", "_after", "captured")

    def __init__(self, index: int, node: Node, gout: Any, gin: tuple, variable: Any = None,
                 before: Any = None, after: Any = None, captured: bool = False) -> None:
        self.index = index
        self.node = node
        self._gout = gout
        self._gin = gin
        self.variable = variable
        self._before = before
        self._after = after
        self.captured = captured

    @property
    def name(self) -> str:
        return self.node.name()

    @property
    def grad_outputs(self) -> tuple[Tensor, ...]:
        if self.node._multi:
            return tuple(_recorded(g) for g in self._gout)
        return (_recorded(self._gout),)

    @property
    def grad_inputs(self) -> tuple[Tensor | None, ...]:
        return tuple(_recorded(g) for g in self._gin)

    @property
    def grad_before(self) -> Tensor | None:
        """For AccumulateGrad: the leaf's ``.grad`` before this step (None if it had none)."""
        return _recorded(self._before)

    @property
    def grad_after(self) -> Tensor | None:
        """For AccumulateGrad: a copy of the leaf's ``.grad`` right after this step."""
        return _recorded(self._after)

    @property
    def is_accumulate(self) -> bool:
        return self.variable is not None

    def __repr__(self) -> str:
        return f"<BackwardStep {self.index}: {self.name}>"


def _wrap(g: Any) -> Tensor | None:
    if g is None or isinstance(g, Tensor):
        return g
    return _make(g)


def _recorded(g: Any) -> Tensor | None:
    # a step's recorded gradient seen as a tensor: no tensor_created event (nothing computed)
    if g is None or isinstance(g, Tensor):
        return g
    _quiet[0] += 1
    try:
        return _make(g)
    finally:
        _quiet[0] -= 1


def _tensor_list(x: Any) -> list:
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _prepare_roots(tensors: list, grad_tensors: list) -> list[tuple[Node, Any]]:
    roots = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not t._requires_grad:
            _raise(RuntimeError(f"element {i} of tensors does not require grad and does not "
                                "have a grad_fn"), tensor=t)
        if g is None:
            if t._data.size != 1:
                _raise(RuntimeError("grad can be implicitly created only for scalar outputs"),
                       tensor=t, node=t.grad_fn)
            if t._data.dtype.kind != "f":
                _raise(RuntimeError("grad can be implicitly created only for real scalar "
                                    "outputs but got " + str(t.dtype)), tensor=t)
            gd = np.ones_like(t._data)
        else:
            gd = g._data if isinstance(g, Tensor) else np.asarray(g, dtype=t._data.dtype)
            if gd.shape != t._data.shape:
                _raise(RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                    f"{Size(gd.shape)!r} and output[{i}] has a shape of "
                                    f"{Size(t._data.shape)!r}."), tensor=t, node=t.grad_fn)
            if gd.dtype != t._data.dtype:
                gd = gd.astype(t._data.dtype)
        node = t.grad_fn if t.grad_fn is not None else accumulator_of(t)
        if isinstance(g, Tensor) and g._requires_grad and gd is g._data:
            gd = g  # create_graph: the result stays a function of grad_outputs
        roots.append((node, gd, t))
    return roots


def check_backward_roots(tensors: Sequence[Tensor], grad_tensors: Sequence[Any]) -> None:
    """Raise what ``backward(tensors, grad_tensors)`` raises before running any node (no grad,
    a non-scalar root without a gradient, a gradient of the wrong shape); else nothing."""
    _prepare_roots(list(tensors), list(grad_tensors) + [None] * (len(tensors) -
                                                               len(grad_tensors)))


def _as_xp(g: Any, create_graph: bool) -> Any:
    if create_graph:
        return g if isinstance(g, Tensor) else _make(g)
    return g._data if isinstance(g, Tensor) else g


def _priority(node: Node) -> int:
    # torch's ready queue: AccumulateGrad first, then the most recently created node
    return -(node._id + (node._priority << 60))


def _run(roots: list, keep_graph: bool, create_graph: bool, keep_before: bool,
         capture: dict | None = None, steps: bool = True, only: list | None = None
         ) -> Iterator[BackwardStep | None]:
    """The engine: execute the graph below ``roots`` one node per iteration (with ``only``,
    backward(inputs=)'s nodes: those nodes and the ones leading to them)."""
    emit = bool(events._subscribers)
    # dependency counts over the reachable graph
    deps: dict[Node, int] = {}
    seen = set()
    stack = []
    for node, _, _ in roots:
        if node not in seen:
            seen.add(node)
            stack.append(node)
    while stack:
        for nxt, _ in stack.pop().next_functions:
            if nxt is not None:
                if nxt in seen:
                    deps[nxt] += 1
                else:
                    deps[nxt] = 1
                    seen.add(nxt)
                    stack.append(nxt)
    if capture is not None:
        needed = _needed(seen, capture)
    elif only is not None:
        needed = _needed(seen, only) | set(only)
    else:
        needed = None
    buffers: dict[Node, Any] = {}
    heap: list = []
    for node, gd, t in roots:
        g = _as_xp(gd, create_graph)
        if node._multi:
            if node not in buffers and node not in deps:
                heapq.heappush(heap, (_priority(node), node))
            _add_slot(buffers, node, t._output_nr, g)
        elif node in buffers:
            buffers[node] = buffers[node] + g
        else:
            buffers[node] = g
            if node not in deps:
                heapq.heappush(heap, (_priority(node), node))
    xp = _backend.tensor_ops if create_graph else _backend.numpy_ops
    if emit:
        t0 = roots[0][2]
        events.emit("backward_started", tensor_id=t0._id, node_id=roots[0][0]._id,
                    gradient=events.value_of(roots[0][1]), retain_graph=keep_graph,
                    create_graph=create_graph, nodes=len(seen))
    freed = []
    index = 0
    state = grad_mode._state
    prev_mode = state.enabled
    pop = heapq.heappop
    push = heapq.heappush
    node = None
    plain = not create_graph
    state.enabled = create_graph  # torch runs backward in this mode; user code between steps
    try:                          # (a stepping generator's caller) gets its own mode back
        while heap:
            node = pop(heap)[1]
            g = buffers.pop(node, None)
            step = None
            gin: tuple = ()
            if capture is not None and node in capture:
                if g is not None and node not in needed:  # type: ignore[operator]
                    # torch: the input's tensor hooks (and retain_grad) run, the node does not
                    g = _call_tensor_pre_hooks(node, g, create_graph)
                    if steps:
                        step = BackwardStep(index, node, g, (None,) * len(node.next_functions),
                                            captured=True)
                        index += 1
                capture[node] = g
            if g is not None and (needed is None or node in needed):
                if emit:
                    events.emit("node_started", node_id=node._id, name=node.name(),
                                index=index,
                                grad_outputs=tuple(_value_of(x) for x in g) if node._multi
                                else (_value_of(g),))
                if type(node) is AccumulateGrad:
                    step = _accumulate(node, g, create_graph, keep_before, index, emit)
                else:
                    if plain and not node._has_hooks:
                        gin = _execute_plain(node, g)
                    else:
                        gin = _execute(node, g, xp, create_graph)
                    if steps:
                        step = BackwardStep(index, node, g, gin)
                    if not keep_graph and node._saved:
                        node._release()
                        if emit:
                            freed.append(node._id)
                if emit:
                    events.emit("node_finished", node_id=node._id, name=node.name(),
                                index=index,
                                grad_inputs=tuple([_value_of(x) for x in gin]),
                                next_ids=tuple([f._id if f is not None else None
                                                for f, _ in node.next_functions]))
                index += 1
            i = 0
            for nxt, nr in node.next_functions:
                if nxt is not None:
                    if gin:
                        gi = gin[i]
                        if gi is not None:
                            if nxt._multi:
                                _add_slot(buffers, nxt, nr, gi)
                            elif nxt in buffers:
                                buffers[nxt] = buffers[nxt] + gi
                            else:
                                buffers[nxt] = gi
                    d = deps[nxt] - 1
                    deps[nxt] = d
                    if not d:
                        push(heap, (-(nxt._id + (nxt._priority << 60)), nxt))
                i += 1
            if steps:
                if step is not None:
                    state.enabled = prev_mode
                    yield step
                    state.enabled = create_graph
            elif g is not None:
                yield None
    except BaseException as exc:
        state.enabled = prev_mode
        if _anomaly_enabled[0] and not hasattr(exc, "forward_traceback") \
                and not isinstance(exc, GeneratorExit):
            _warn_forward_traceback(node)  # torch shows where the failing node was made
        if emit and not isinstance(exc, GeneratorExit):
            events.emit("error", error_type=type(exc).__name__, message=str(exc),
                        node_id=getattr(exc, "node_id", None), tensor_id=None)
        raise
    finally:
        state.enabled = prev_mode
    if emit:
        if freed:
            events.emit("graph_freed", node_ids=tuple(freed))
        events.emit("backward_finished", tensor_id=roots[0][2]._id, steps=index)


def _add_slot(buffers: dict, node: Node, nr: int, g: Any) -> None:
    """Add ``g`` into output ``nr``'s slot of a multi-output node's buffer (a list)."""
    buf = buffers.get(node)
    if buf is None:
        buf = buffers[node] = [None] * node._n_outputs
    buf[nr] = g if buf[nr] is None else buf[nr] + g


def _call_tensor_pre_hooks(node: Node, g: Any, create_graph: bool) -> Any:
    """What torch runs on a captured input whose node ``autograd.grad`` skips: the tensor's
    hooks (``register_hook``) and its retain_grad, not the node's pre-hooks."""
    if type(node) is AccumulateGrad:
        var = node.variable
        for h in tuple(var._hooks or ()):
            r = h(_wrap(g))
            if r is not None:
                g = _as_xp(r, create_graph)
        return g
    if node._multi:
        return _multi_prehooks(node, g, create_graph, node_hooks=False)
    for h in tuple(node._tensor_prehooks or ()):
        r = h(_wrap(g))
        if r is not None:
            g = _as_xp(r, create_graph)
    t = node._retain() if node._retain is not None else None
    if t is not None:
        gt = g if create_graph else g.copy()
        if t._grad is None:
            t._grad = _wrap(gt)
        else:
            t._grad = _wrap(t._grad if create_graph else t._grad._data) + _wrap(gt)
    return g


def _multi_prehooks(node: Node, g: list, create_graph: bool, node_hooks: bool = True) -> list:
    """Tensor hooks and retain_grad of a multi-output node's outputs, each on its own slot
    (then the node's pre-hooks, if ``node_hooks``)."""
    g = list(g)
    if node._tensor_prehooks:
        for nr, h in tuple(node._tensor_prehooks):
            if g[nr] is not None:
                r = h(_wrap(g[nr]))
                if r is not None:
                    g[nr] = _as_xp(r, create_graph)
    for nr, ref in (node._retain or {}).items():
        t = ref()
        if t is not None and g[nr] is not None:
            gt = g[nr] if create_graph else g[nr].copy()
            if t._grad is None:
                t._grad = _wrap(gt)
            else:
                t._grad = _wrap(t._grad if create_graph else t._grad._data) + _wrap(gt)
    if node._prehooks and node_hooks:
        for h in tuple(node._prehooks):
            r = h(tuple(_wrap(x) for x in g))
            if r is not None:
                g = [_as_xp(x, create_graph) if x is not None else None for x in r]
    return g


def _execute_plain(node: Node, g: np.ndarray) -> tuple:
    """The common case: numpy grads, no hooks, nothing retained (kept lean: it runs per node)."""
    saved = node._saved
    if saved is None:
        exc = RuntimeError(FREED_MESSAGE)
        exc.node_id = node._id  # type: ignore[attr-defined]
        raise exc
    for entry in node._saved_src:
        c = entry[2]
        if c is not None and c[0] != entry[3]:
            exc = RuntimeError(_version_message(node, entry))
            exc.node_id = node._id  # type: ignore[attr-defined]
            raise exc
    grads = node.backward(g, saved, _numpy_ops)
    if len(grads) == 1:  # most nodes have one input
        gi = grads[0]
        m = node._meta[0]
        if gi is None or m is None:
            return (None,)
        if gi.shape != m[0]:
            gi = _sum_to(gi, m[0])
        if gi.dtype is not m[1] and gi.dtype != m[1]:
            gi = gi.astype(m[1])
        out = (gi,)
    else:
        lst = []
        for gi, m in zip(grads, node._meta):
            if gi is None or m is None:
                lst.append(None)
                continue
            if gi.shape != m[0]:
                gi = _sum_to(gi, m[0])
            if gi.dtype is not m[1] and gi.dtype != m[1]:
                gi = gi.astype(m[1])
            lst.append(gi)
        out = tuple(lst)
    if _anomaly_enabled[0]:
        _check_nan(node, out)
    return out


def _needed(nodes: set, capture: dict) -> set:
    """Nodes from which a captured node can be reached (only those run in autograd.grad)."""
    parents: dict[Node, list] = {}
    for n in nodes:
        for nxt, _ in n.next_functions:
            if nxt is not None:
                parents.setdefault(nxt, []).append(n)
    need = set()
    stack = [n for n in capture if n in nodes]
    while stack:
        n = stack.pop()
        for p in parents.get(n, ()):
            if p not in need:
                need.add(p)
                stack.append(p)
    return need


def _execute(node: Node, g: Any, xp: Any, create_graph: bool) -> tuple:
    if node._multi:
        g = _multi_prehooks(node, g, create_graph)
    elif node._tensor_prehooks:
        for h in tuple(node._tensor_prehooks):
            r = h(_wrap(g))
            if r is not None:
                g = _as_xp(r, create_graph)
    if node._retain is not None and not node._multi:
        t = node._retain()
        if t is not None:
            gt = g if create_graph else g.copy()
            if t._grad is None:
                t._grad = _wrap(gt)
            else:
                t._grad = _wrap(t._grad if create_graph else t._grad._data) + _wrap(gt)
    if node._prehooks and not node._multi:
        for h in tuple(node._prehooks):
            r = h((_wrap(g),))
            if r is not None:
                g = _as_xp(r[0], create_graph)
    saved = node._saved
    if saved is None:
        exc = RuntimeError(FREED_MESSAGE)
        exc.node_id = node._id  # type: ignore[attr-defined]
        raise exc
    try:
        node._check_versions()
    except RuntimeError as exc:
        exc.node_id = node._id  # type: ignore[attr-defined]
        raise
    if create_graph and saved:
        s = dict(saved)
        for name, t, _, _, _ in node._saved_src:
            s[name] = t if t is not None else _make(saved[name], True, node)
        for k, v in s.items():
            if isinstance(v, np.ndarray):
                s[k] = _make(v)
    else:
        s = saved
    grads = node.backward(g, s, xp)
    out = []
    for gi, m in zip(grads, node._meta):
        if gi is None or m is None:
            out.append(None)
            continue
        shape, dt = m
        if xp.shape(gi) != shape:
            gi = xp.sum_to(gi, shape)
        if xp.dtype(gi) != dt:
            gi = xp.cast(gi, dt)
        out.append(gi)
    gin = tuple(out)
    if node._hooks:
        for h in tuple(node._hooks):
            r = h(tuple(_wrap(x) for x in gin),
                  tuple(_wrap(x) for x in g) if node._multi else (_wrap(g),))
            if r is not None:
                gin = tuple(_as_xp(x, create_graph) if x is not None else None for x in r)
    if _anomaly_enabled[0]:
        _check_nan(node, gin)
    return gin


def _accumulate(node: AccumulateGrad, g: Any, create_graph: bool, keep_before: bool,
                index: int, emit: bool) -> BackwardStep:
    var = node.variable
    if node._prehooks and not node._multi:
        for h in tuple(node._prehooks):
            r = h((_wrap(g),))
            if r is not None:
                g = _as_xp(r[0], create_graph)
    if var._hooks:
        for h in tuple(var._hooks):
            r = h(_wrap(g))
            if r is not None:
                g = _as_xp(r, create_graph)
    old = var._grad
    before = None
    if old is not None and (keep_before or emit):
        before = old._data.copy()
    if create_graph:
        gt = g if isinstance(g, Tensor) else _make(g)
        var._grad = gt if old is None else old + gt
    elif old is None:
        gd = g._data if isinstance(g, Tensor) else g
        var._grad = _make(np.array(gd, dtype=var._data.dtype, copy=True))
    elif old._requires_grad:
        var._grad = _make(old._data + g)
    else:
        od = old._data
        if od.flags.writeable and od.shape == np.shape(g):
            od += g
            old._version[0] += 1
        else:
            var._grad = _make(od + g)
    new = var._grad
    if new is not old:
        _own_grad(var, new)
    after = new._data.copy() if keep_before else new._data
    if emit:
        events.emit("grad_accumulated", tensor_id=var._id, node_id=node._id,
                    before=events.value_of(before), after=events.value_of(new._data))
    if node._hooks:
        for h in tuple(node._hooks):
            h((), (_wrap(g),))
    return BackwardStep(index, node, g, (), var, before, after)


def _warn_forward_traceback(node: Any) -> None:
    if getattr(node, "_anomaly", None):
        warnings.warn("Error detected in " + node.name() + ". Traceback of forward call that "
                      "caused the error:\n" + node._anomaly, UserWarning, stacklevel=5)


def _check_nan(node: Node, gin: tuple) -> None:
    if not _anomaly_check_nan[0]:
        return
    for i, g in enumerate(gin):
        if g is None:
            continue
        d = g._data if isinstance(g, Tensor) else g
        if np.isnan(d).any():
            msg = f"Function '{node.name()}' returned nan values in its {i}th output."
            if node._anomaly:
                warnings.warn("Error detected in " + node.name() + ". Traceback of forward call "
                              "that caused the error:\n" + node._anomaly, UserWarning,
                              stacklevel=4)
            exc = RuntimeError(msg)
            exc.node_id = node._id  # type: ignore[attr-defined]
            exc.forward_traceback = node._anomaly  # type: ignore[attr-defined]
            raise exc


def backward_steps(tensors: Tensor | Sequence[Tensor], gradient: Any = None,
                   retain_graph: bool | None = None, create_graph: bool = False
                   ) -> Iterator[BackwardStep]:
    """Run backward one node per ``next()``, yielding a BackwardStep for each node executed.

    Draining it is exactly ``backward()``. Errors (non-scalar root, shape mismatch) are raised
    by the first ``next()``.
    """
    tensors = _tensor_list(tensors)
    grads = [gradient] if not isinstance(gradient, (list, tuple)) else list(gradient)
    if len(grads) < len(tensors):
        grads += [None] * (len(tensors) - len(grads))
    if retain_graph is None:
        retain_graph = create_graph
    roots = _prepare_roots(tensors, grads)
    yield from _run(roots, retain_graph, create_graph, keep_before=True)


def restore_grad(tensor: Tensor, value: Any, reason: str = "restored") -> None:
    """Put ``tensor.grad`` back to ``value`` (an array, a tensor, or None), as a time-travelling
    debugger does when it steps back or replays a step. An existing grad of the same shape is
    written in place (whoever holds ``tensor.grad`` sees the change; its ``_version`` moves on),
    else a new grad tensor of the tensor's dtype is made. Emits ``grad_changed`` with ``reason``
    like any other grad write."""
    if isinstance(value, Tensor):
        value = value._data
    old = tensor._grad
    if value is None:
        tensor._grad = None
    elif old is not None and old._data.shape == np.shape(value):
        old._data[...] = value
        old._version[0] += 1
    else:
        grad = _make(np.array(value, dtype=tensor._data.dtype))
        tensor._grad = grad
        _own_grad(tensor, grad)
    if events._subscribers:
        events.emit("grad_changed", tensor_id=tensor._id, reason=reason,
                    value=_value_of(tensor._grad))


BackwardDriver = Callable[[Iterator["BackwardStep"], list, list, bool], None]
_driver: BackwardDriver | None = None


def set_backward_driver(driver: BackwardDriver | None) -> BackwardDriver | None:
    """Let ``driver(steps, tensors, grad_tensors, retain_graph)`` drain every ``backward()``
    and the user code's ``grad()`` (``steps`` a ``GradWalk`` then) instead of the plain loop
    (a debugger pauses there and steps the walk one node at a time).

    ``steps`` is the ``backward_steps`` generator of that call; the driver must exhaust it (or
    raise). Returns the previous driver; ``None`` restores the plain loop."""
    global _driver
    previous, _driver = _driver, driver
    return previous


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None,
             retain_graph: bool | None = None, create_graph: bool = False,
             grad_variables: Any = None, inputs: Sequence[Tensor] | None = None) -> None:
    """Accumulate the gradient of ``tensors`` into the ``.grad`` of the graph's leaves."""
    tensors = _tensor_list(tensors)
    if grad_tensors is None:
        grad_tensors = grad_variables
    grads = [grad_tensors] if not isinstance(grad_tensors, (list, tuple)) else list(grad_tensors)
    if len(grads) < len(tensors):
        grads += [None] * (len(tensors) - len(grads))
    if retain_graph is None:
        retain_graph = create_graph
    only = None
    if inputs is not None:  # torch: only these inputs' nodes (and those leading there) run
        inputs = _tensor_list(inputs)
        if not inputs:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
        for t in inputs:
            if not t._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            if t.grad_fn is not None:
                t.retain_grad()
        only = [t.grad_fn if t.grad_fn is not None else accumulator_of(t) for t in inputs]
    global _driver
    if _driver is not None and not create_graph:
        driver = _driver
        _driver = None  # a backward inside the driver (a hook, say) runs plainly
        try:
            driver(_backward_walk(tensors, grads, retain_graph, only), tensors, grads,
                   retain_graph)
        finally:
            _driver = driver
        return
    roots = _prepare_roots(tensors, grads)
    for _ in _run(roots, retain_graph, create_graph, keep_before=False, steps=False,
                  only=only):
        pass


def _backward_walk(tensors: list, grads: list, retain_graph: bool, only: list | None
                   ) -> Iterator[BackwardStep]:
    """``backward_steps`` of a ``backward()`` call (``only``: its inputs' nodes)."""
    roots = _prepare_roots(tensors, grads)
    yield from _run(roots, retain_graph, False, keep_before=True, only=only)  # type: ignore[misc]


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool | None = None, materialize_grads: bool = False
         ) -> tuple[Tensor | None, ...]:
    """Return d(outputs)/d(inputs) without touching any ``.grad``.

    With a backward driver set (``set_backward_driver``), a call from outside the engine is
    driven like ``backward()``: the driver gets the walk (the nodes torch runs, then a
    ``captured`` step per input) and the result is what the walk captured. The engine's own
    callers (jacobian, gradcheck) run plainly."""
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads"
                         "=True, but got: allow_unused=False.")
    outputs = _tensor_list(outputs)
    inputs = _tensor_list(inputs)
    if not inputs:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    grads = ([grad_outputs] if not isinstance(grad_outputs, (list, tuple))
             else list(grad_outputs))
    if len(grads) < len(outputs):
        grads += [None] * (len(outputs) - len(grads))
    if retain_graph is None:
        retain_graph = create_graph
    roots = _prepare_roots(outputs, grads)
    for t in inputs:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    targets = [t.grad_fn if t.grad_fn is not None else accumulator_of(t) for t in inputs]
    capture: dict = {n: None for n in targets}
    result: list = []
    global _driver
    driver = _driver
    if driver is not None and not _engine_caller():
        _driver = None  # a grad or backward inside the driver (a hook, say) runs plainly
        try:
            driver(GradWalk(_grad_walk(roots, retain_graph, create_graph, capture, inputs,
                                       targets, bool(allow_unused) or materialize_grads,
                                       materialize_grads, result, True), inputs),
                   outputs, grads, retain_graph)
        finally:
            _driver = driver
        if len(result) != len(inputs):
            raise RuntimeError("the backward driver did not finish the grad() walk")
        return tuple(result)
    for _ in _grad_walk(roots, retain_graph, create_graph, capture, inputs, targets,
                        bool(allow_unused) or materialize_grads, materialize_grads, result,
                        False):
        pass
    return tuple(result)


class GradWalk:
    """The walk ``grad()`` hands a backward driver: an iterator of BackwardSteps like
    ``backward_steps``; ``kind`` (``"grad"``) lets a debugger name it, ``inputs`` are the
    differentiated tensors."""

    kind = "grad"

    def __init__(self, steps: Iterator[BackwardStep | None], inputs: list) -> None:
        self._steps = steps
        self.inputs = inputs

    def __iter__(self) -> GradWalk:
        return self

    def __next__(self) -> BackwardStep:
        return next(self._steps)  # type: ignore[return-value]

    def close(self) -> None:
        self._steps.close()  # type: ignore[attr-defined]


def _engine_caller() -> bool:
    """Whether grad() was called from the engine itself (jacobian, gradcheck, backward(inputs=))
    rather than from the user's code."""
    name = sys._getframe(2).f_globals.get("__name__", "")
    return name == "engine" or name.startswith("engine.")


def _grad_walk(roots: list, retain_graph: bool, create_graph: bool, capture: dict,
               inputs: list, targets: list, allow_unused: bool, materialize: bool, result: list,
               steps: bool) -> Iterator[BackwardStep | None]:
    """``autograd.grad``'s run, one node per iteration; at its end ``result`` holds what grad()
    returns (or torch's error for an input the graph does not reach is raised)."""
    yield from _run(roots, retain_graph, create_graph, False, capture, steps=steps)
    out = []
    for i, (t, n) in enumerate(zip(inputs, targets)):
        g = capture.get(n)
        if n._multi and g is not None:
            g = g[t._output_nr]
        if g is None:
            if materialize:
                out.append(_make(np.zeros_like(t._data)))
                continue
            if not allow_unused:
                raise RuntimeError(f"The differentiated Tensor at index {i} appears to not have "
                                   "been used in the graph. Set allow_unused=True if this is "
                                   "the desired behavior.")
            out.append(None)
        else:
            out.append(g if isinstance(g, Tensor) else _make(np.array(g, copy=True)))
    result.extend(out)


# ----------------------------------------------------------------------------- anomaly
def is_anomaly_enabled() -> bool:
    return _anomaly_enabled[0]


class set_detect_anomaly:
    """Turn anomaly detection on or off (immediately, and for a ``with`` block)."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = (_anomaly_enabled[0], _anomaly_check_nan[0])
        _anomaly_enabled[0] = bool(mode)
        _anomaly_check_nan[0] = bool(check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _anomaly_enabled[0], _anomaly_check_nan[0] = self.prev


class detect_anomaly:
    """Record forward tracebacks and raise on NaN produced in backward, naming the node."""

    def __init__(self, check_nan: bool = True) -> None:
        self.prev = (False, True)
        self.check_nan = bool(check_nan)
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", UserWarning, stacklevel=2)

    def __enter__(self) -> None:
        self.prev = (_anomaly_enabled[0], _anomaly_check_nan[0])
        _anomaly_enabled[0] = True
        _anomaly_check_nan[0] = self.check_nan

    def __exit__(self, *exc: object) -> None:
        _anomaly_enabled[0], _anomaly_check_nan[0] = self.prev


def is_anomaly_check_nan_enabled() -> bool:
    return _anomaly_check_nan[0]


_anomaly_check_nan = [True]


def gradcheck(*args: Any, **kwargs: Any) -> bool:
    """Compare backward with finite differences (see engine.gradcheck.gradcheck)."""
    return _gc(*args, **kwargs)


from engine.custom_function import (  # noqa: E402
    Function,
    FunctionCtx,
    once_differentiable,
)
from engine.gradcheck import GradcheckError, gradgradcheck  # noqa: E402,F401
from engine.gradcheck import _up as _gradcheck_up  # noqa: E402
from engine.gradcheck import gradcheck as _gc  # noqa: E402


class graph:  # torch.autograd.graph.Node for isinstance checks
    Node = Node


from engine.legacy import Variable  # noqa: E402,F401  (torch.autograd.Variable)

_up.backward = backward  # Tensor.backward (engine.tensor._up)
_gradcheck_up.autograd = sys.modules[__name__]  # gradcheck's autograd.grad
