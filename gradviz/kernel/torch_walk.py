"""Step through torch's own backward, node by node, in torch's real execution order.

How: record, then replay. The first ``step()`` runs the real ``torch.autograd.backward`` with a
pre-hook and a hook on every node of the graph; the pre-hooks fire in torch's execution order
and note each node's grad_outputs (and, for AccumulateGrad, the leaf's ``.grad`` before), the
hooks note its grad_inputs (and the ``.grad`` after). Then every leaf's ``.grad`` goes back to
what it was before, and each ``step()`` applies one recorded node: AccumulateGrad's ``+=``
lands on the leaf exactly when its step is applied, ``step_back()`` restores the value before
(in place into the same tensor torch uses, so references to ``.grad`` stay valid), and at the
end every ``.grad`` is the very tensor torch left. Errors are torch's own, raised by torch's
engine; they surface at the step where the failing node would have run.

Why not pause inside torch's engine (a thread blocked in each pre-hook): a cursor abandoned
midway would leave a thread stuck inside torch holding the graph, Stop (KeyboardInterrupt)
would land on the wrong thread, and user hooks would run on a thread that is not the one the
code called backward() from. Recording runs torch's engine exactly as the code would have,
once, on the calling thread (for CPU graphs torch runs backward on the calling thread).
Hooks a user registered run during the recording (their prints appear at the first step).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from gradviz.session import ReplayCursor

__all__ = ["TorchStep", "TorchCursor", "TorchCall", "TorchGradCall", "record_backward",
           "graph_nodes", "ACCUMULATE"]

ACCUMULATE = "torch::autograd::AccumulateGrad"


def _clone(g: Any) -> Any:
    if g is None:
        return None
    import torch

    with torch.no_grad():
        return g.detach().clone()


class TorchStep:
    """What one node did, with ``engine.autograd.BackwardStep``'s interface: ``node``,
    ``grad_outputs`` (in), ``grad_inputs`` (out, aligned with ``node.next_functions``), and
    for AccumulateGrad the leaf and its grad before and after. Values are detached copies."""

    __slots__ = ("index", "node", "variable", "_gouts_t", "_gins_t", "_before_t", "_after_t",
                 "_after_obj", "captured")

    def __init__(self, index: int, node: Any, gouts: tuple, variable: Any = None,
                 before: Any = None, captured: bool = False) -> None:
        self.index = index
        self.node = node
        self.variable = variable
        #: in autograd.grad: where torch captured an input's grad (the node itself did not run)
        self.captured = captured
        self._gouts_t: tuple = gouts
        self._gins_t: tuple = ()
        self._before_t = before
        self._after_t = None
        self._after_obj = None  # the .grad tensor torch left after this step

    @property
    def name(self) -> str:
        return self.node.name()

    @property
    def is_accumulate(self) -> bool:
        return self.variable is not None

    @property
    def grad_outputs(self) -> tuple:
        return self._gouts_t

    @property
    def grad_inputs(self) -> tuple:
        return self._gins_t

    @property
    def grad_before(self) -> Any:
        return self._before_t

    @property
    def grad_after(self) -> Any:
        return self._after_t

    # numpy views, as the engine's steps hold them
    @property
    def _gout(self) -> Any:
        from gradviz.kernel.torch_snapshot import tensor_array

        return tensor_array(next((g for g in self._gouts_t if g is not None), None))

    @property
    def _gin(self) -> tuple:
        from gradviz.kernel.torch_snapshot import tensor_array

        return tuple(tensor_array(g) for g in self._gins_t)

    @property
    def _before(self) -> Any:
        from gradviz.kernel.torch_snapshot import tensor_array

        return tensor_array(self._before_t)

    @property
    def _after(self) -> Any:
        from gradviz.kernel.torch_snapshot import tensor_array

        return tensor_array(self._after_t)

    def __repr__(self) -> str:
        return f"<BackwardStep {self.index}: {self.name}>"


def _edge_node(t: Any) -> Any:
    """The node backward starts from for ``t``: its grad_fn, or a leaf's AccumulateGrad."""
    if t.grad_fn is not None:
        return t.grad_fn
    if not t.requires_grad:
        return None
    from torch.autograd.graph import get_gradient_edge

    return get_gradient_edge(t).node


def _edge(t: Any) -> tuple[Any, int]:
    """(node, output_nr) where ``t``'s gradient arrives (torch's gradient edge)."""
    if t.grad_fn is not None:
        return t.grad_fn, t.output_nr
    return _edge_node(t), 0


def graph_nodes(roots: Sequence[Any]) -> list:
    """Every node reachable from the root nodes through ``next_functions`` (each once)."""
    out = []
    seen: set[int] = set()
    stack = [r for r in roots if r is not None]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        out.append(n)
        stack.extend(f for f, _ in n.next_functions if f is not None)
    return out


class TorchCall:
    """One pending ``torch.autograd.backward(...)`` call: the real function and its
    arguments, run once by :func:`record_backward`."""

    def __init__(self, fn: Callable[..., Any], tensors: Any, grad_tensors: Any = None,
                 retain_graph: bool | None = None, inputs: Any = None) -> None:
        import torch

        self.fn = fn
        self.tensors = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
        if grad_tensors is None:
            grads: list = []
        elif isinstance(grad_tensors, (torch.Tensor, float, int)):
            grads = [grad_tensors]
        else:
            grads = list(grad_tensors)
        self.grad_tensors = grads + [None] * (len(self.tensors) - len(grads))
        self.retain_graph = bool(retain_graph)
        self.inputs = inputs

    def __call__(self) -> None:
        kw = {} if self.inputs is None else {"inputs": self.inputs}
        self.fn(self.tensors, self.grad_tensors, retain_graph=self.retain_graph, **kw)


class TorchGradCall:
    """One pending ``torch.autograd.grad(...)`` call: the real function and its arguments, run
    once by :func:`record_backward`; ``result`` is what it returned. ``captures`` are the
    differentiated tensors (their grads are captured, not accumulated)."""

    kind = "grad"

    def __init__(self, fn: Callable[..., Any], outputs: Any, inputs: Any,
                 grad_outputs: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, **kwargs: Any) -> None:
        import torch

        self.fn = fn
        self.tensors = [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)
        if grad_outputs is None:
            grads: list = []
        elif isinstance(grad_outputs, torch.Tensor):
            grads = [grad_outputs]
        else:
            grads = list(grad_outputs)
        self.grad_tensors = grads + [None] * (len(self.tensors) - len(grads))
        self.inputs = inputs
        if isinstance(inputs, torch.Tensor):
            self.captures = [inputs]
        elif isinstance(inputs, dict):
            self.captures = list(inputs.values())
        else:
            self.captures = list(inputs)
        self.grad_outputs = grad_outputs
        self.retain_graph = bool(create_graph if retain_graph is None else retain_graph)
        self._retain_arg = retain_graph
        self.create_graph = create_graph
        self.kwargs = kwargs
        self.result: Any = None

    def __call__(self) -> None:
        self.result = self.fn(self.tensors, self.inputs, self.grad_outputs,
                              retain_graph=self._retain_arg, create_graph=self.create_graph,
                              **self.kwargs)


def _needed(nodes: list, captured: set[int]) -> set[int]:
    """ids of the nodes torch runs in grad(): those from which a captured node is reached."""
    parents: dict[int, list] = {}
    for n in nodes:
        for f, _ in n.next_functions:
            if f is not None:
                parents.setdefault(id(f), []).append(n)
    need: set[int] = set()
    stack = [n for n in nodes if id(n) in captured]
    while stack:
        for p in parents.get(id(stack.pop()), ()):
            if id(p) not in need:
                need.add(id(p))
                stack.append(p)
    return need


class _Record:
    def __init__(self) -> None:
        self.steps: list[TorchStep] = []
        self.error: BaseException | None = None
        self.error_node: Any = None
        self.open: TorchStep | None = None  # pre-hook fired, hook not yet


def record_backward(call: Callable[[], None], roots: Sequence[Any],
                    captures: Sequence[Any] = ()) -> _Record:
    """Run ``call`` (a real backward over the graph below the ``roots`` tensors) with a
    pre-hook and a hook on every node; return what each node did, in execution order.

    ``captures`` (autograd.grad's inputs): torch does not run an input's node unless a
    capture lies below it; it runs the input's tensor hooks and captures the grad there. A
    tensor hook of ours (registered last: it sees what torch captures) notes that as a
    ``captured`` step, in its place in torch's order."""
    rec = _Record()
    lock = threading.Lock()
    nodes = graph_nodes([_edge_node(t) for t in roots])
    handles = []
    edges = {id(t): _edge(t) for t in captures}
    needed = _needed(nodes, {id(e[0]) for e in edges.values() if e[0] is not None})

    def make_capture(node: Any, nr: int) -> Callable:
        def hook(g: Any) -> None:
            with lock:
                close_open()
                last = rec.steps[-1] if rec.steps else None
                if last is not None and last.captured and last.node is node:
                    gouts = list(last._gouts_t) + [None] * (nr + 1 - len(last._gouts_t))
                    gouts[nr] = _clone(g)
                    last._gouts_t = tuple(gouts)
                    return
                gouts = [None] * (nr + 1)
                gouts[nr] = _clone(g)
                rec.steps.append(TorchStep(len(rec.steps), node, tuple(gouts), captured=True))

        return hook

    def close_open() -> None:
        s = rec.open
        if s is not None and s.variable is not None and s._after_t is None:
            s._after_obj = s.variable.grad
            s._after_t = _clone(s._after_obj)
        rec.open = None

    def make(node: Any, acc: bool) -> tuple[Callable, Callable]:
        var = node.variable if acc else None

        def pre(grad_outputs: tuple) -> None:
            with lock:
                close_open()
                s = TorchStep(len(rec.steps), node, tuple(_clone(g) for g in grad_outputs),
                              var, _clone(var.grad) if var is not None else None)
                rec.steps.append(s)
                rec.open = s

        def post(grad_inputs: tuple, grad_outputs: tuple) -> None:
            with lock:
                s = rec.open
                if s is None or s.node is not node:  # another thread's node (devices)
                    s = next((x for x in reversed(rec.steps) if x.node is node), None)
                    if s is None:
                        return
                s._gins_t = tuple(_clone(g) for g in grad_inputs)
                if var is not None:
                    s._after_obj = var.grad
                    s._after_t = _clone(s._after_obj)
                if rec.open is s:
                    rec.open = None

        return pre, post

    try:
        for n in nodes:
            acc = n.name() == ACCUMULATE
            pre, post = make(n, acc)
            handles.append(n.register_prehook(pre))
            handles.append(n.register_hook(post))
        for t in captures:
            node, nr = edges[id(t)]
            if node is not None and id(node) not in needed:
                handles.append(t.register_hook(make_capture(node, nr)))
        try:
            call()
        except Exception as e:  # noqa: BLE001 - torch's error, kept for the step it stops at
            rec.error = e
            s = rec.open
            if s is not None:  # its pre-hook ran, then the node raised: it did not run
                rec.steps.remove(s)
                rec.error_node = s.node
                rec.open = None
        close_open()
    finally:
        for h in handles:
            h.remove()
    for s in rec.steps:  # non-AccumulateGrad: grad_inputs aligned with next_functions
        if s.variable is None and not s._gins_t:
            s._gins_t = tuple(None for _ in s.node.next_functions)
    return rec


class TorchCursor(ReplayCursor):
    """A torch backward one node per ``step()``, with ``gradviz.session.BackwardCursor``'s
    interface. Nothing runs until the first ``step()``; then torch's backward runs once,
    recorded (see the module doc), and the steps are applied one by one."""

    def __init__(self, root: Any, gradient: Any = None, retain_graph: bool = True,
                 steps: TorchCall | None = None) -> None:
        self.root = root
        self.gradient = gradient
        self.retain_graph = bool(steps.retain_graph if steps is not None else retain_graph)
        self._call = steps if steps is not None else TorchCall(
            _original_backward(), root, gradient, retain_graph)
        self.steps: list[TorchStep] = []
        self.position = 0
        self.error: BaseException | None = None
        self.error_node_id: int | None = None
        self.finished = False
        self._record: _Record | None = None
        self._error_node: Any = None
        self._leaves: dict[int, list] = {}  # id(var) -> [var, initial grad object, its copy]

    # ----- the BackwardCursor interface (ReplayCursor gives current, run, step_back, reset)
    def _node_id(self, node: Any) -> int:
        from gradviz.kernel.torch_snapshot import IDS

        return IDS.node(node)

    def step(self) -> TorchStep | None:
        """Apply one node. Returns the step, or None at the end or on an error (then
        ``error`` holds torch's exception and ``error_node_id`` the node)."""
        if self.error is not None:
            return None
        if self._record is None:
            self._run()
        rec = self._record
        assert rec is not None
        if self.position < len(self.steps):
            s = self.steps[self.position]
        elif len(self.steps) < len(rec.steps):
            s = rec.steps[len(self.steps)]
            self.steps.append(s)
        else:
            self.finished = True
            if rec.error is not None:
                self._set_error()
            return None
        self._apply(s, forward=True)
        self.position += 1
        return s

    # ----- recording and replay
    def _run(self) -> None:
        roots = self._call.tensors
        leaves = [n.variable for n in graph_nodes([_edge_node(t) for t in roots
                                                   if t.requires_grad])
                  if n.name() == ACCUMULATE]
        for v in leaves:
            g = v.grad
            self._leaves[id(v)] = [v, g, _clone(g)]
        rec = record_backward(self._call, roots, getattr(self._call, "captures", ()))
        self._record = rec
        if rec.error is not None:
            node = rec.error_node
            if node is None and not rec.steps and roots and roots[0].grad_fn is not None:
                node = roots[0].grad_fn
            self._error_node = node
        # every leaf back to its grad before the walk; the steps bring torch's values back
        for v, obj, value in self._leaves.values():
            _set_grad(v, obj, value)

    def _set_error(self) -> None:
        from gradviz.kernel.torch_snapshot import IDS

        rec = self._record
        assert rec is not None and rec.error is not None
        self.error = rec.error
        node = self._error_node
        self.error_node_id = IDS.node(node) if node is not None else None
        try:  # the cell's error names the node too (as the engine's errors do)
            self.error.node_id = self.error_node_id  # type: ignore[attr-defined]
        except AttributeError:
            pass

    def _first_for(self, s: TorchStep) -> bool:
        rec = self._record
        return not any(x.variable is s.variable for x in rec.steps[:s.index])  # type: ignore

    def _apply(self, s: TorchStep, forward: bool) -> None:
        if s.variable is None:
            return
        var = s.variable
        if forward:
            _set_grad(var, s._after_obj, s._after_t)
        elif self._first_for(s):
            entry = self._leaves.get(id(var))
            if entry is not None:
                _set_grad(var, entry[1], entry[2])
            else:
                _set_grad(var, s._after_obj, s._before_t)
        else:
            _set_grad(var, s._after_obj, s._before_t)


def _set_grad(var: Any, obj: Any, value: Any) -> None:
    """``var.grad`` becomes ``obj`` holding ``value`` (None: no grad)."""
    import torch

    if value is None:
        if var.grad is not None:
            var.grad = None
        return
    with torch.no_grad():
        if obj is None or obj.shape != value.shape or obj.dtype != value.dtype:
            obj = value.clone()
        elif obj is not value:
            obj.copy_(value)
    if var.grad is not obj:
        var.grad = obj


def _original_backward() -> Callable[..., Any]:
    import torch

    fn = torch.autograd.backward
    return getattr(fn, "_gradviz_original", fn)
