"""Which autograd library the kernel's user code runs on: the engine (default) or real torch.

A backend tells the agent what a tensor is and what its id is, how to snapshot its objects,
how to step a backward, and how to route the code's ``backward()`` calls to the agent (for
Pause at backward()). ``get_backend("torch")`` says in one sentence how to install torch when
it is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["Backend", "EngineBackend", "TorchBackend", "get_backend", "backend_name",
           "TORCH_MISSING"]

TORCH_MISSING = ("The torch backend needs PyTorch, which is not installed here: install it "
                 "with `pip install torch` (CPU only: `pip install torch --index-url "
                 "https://download.pytorch.org/whl/cpu`), or run gradviz with --backend "
                 "engine.")

#: ``callback(steps, tensors, grad_tensors, retain_graph)`` takes over a backward() call
Driver = Callable[[Any, list, list, bool], None]


class Backend:
    """The interface (the engine's behaviour by default)."""

    name = "engine"

    def is_tensor(self, v: Any) -> bool:
        from engine import Tensor

        return isinstance(v, Tensor)

    def tensor_id(self, t: Any) -> int:
        from engine.events import id_of

        return id_of(t)

    def node_id(self, n: Any) -> int:
        from engine.events import id_of

        return id_of(n)

    def numel(self, t: Any) -> int:
        return int(t.numel())

    def namespace_defaults(self) -> dict[str, Any]:
        """The names a fresh workspace has."""
        import numpy as np

        import engine

        return {"torch": engine, "engine": engine, "np": np}

    def snapshotter(self, names: Mapping[int, str],
                    namespace: Mapping[str, Any] | None = None) -> Any:
        from gradviz.kernel.snapshot import Snapshotter

        return Snapshotter(names, namespace)

    def cursor(self, root: Any, gradient: Any = None, retain_graph: bool = True,
               steps: Any = None) -> Any:
        """A cursor (``gradviz.session.BackwardCursor``'s interface) over root's backward;
        ``steps`` is what the driver received for a backward() in code."""
        from gradviz.session import BackwardCursor

        return BackwardCursor(root, gradient, retain_graph, steps=steps)

    def check_roots(self, tensors: Sequence[Any], grads: Sequence[Any]) -> None:
        """Raise what backward(tensors, grads) raises before running any node."""
        from engine.autograd import check_backward_roots

        check_backward_roots(tensors, grads)

    def make_gradient(self, text: str, like: Any) -> Any:
        """The gradient a user typed (``"torch.ones(3)"``, ``"[1., 2.]"``) for root ``like``."""
        import engine

        return engine.tensor(eval(text, {"torch": engine, "__builtins__": {}}),  # noqa: S307
                             dtype=like.dtype)

    def same_values(self, a: Any, b: Any) -> bool:
        return bool((a.numpy(force=True) == b.numpy(force=True)).all())

    def leaf_grads(self, cursor: Any) -> dict[int, tuple[Any, Any]]:
        """The current ``.grad`` of every leaf of ``cursor``'s graph, to restore later."""
        from gradviz.views import grad_of

        out = {}
        for tid, (t, _g) in cursor._initial.items():
            g = grad_of(t)
            out[tid] = (t, None if g is None else g.numpy(force=True).copy())
        return out

    def restore_grads(self, grads: Mapping[int, tuple[Any, Any]]) -> None:
        """Put back what ``leaf_grads`` took."""
        from engine.autograd import restore_grad

        for t, g in grads.values():
            restore_grad(t, g)

    def install_driver(self, driver: Driver) -> Callable[[], None]:
        """Route the code's backward() calls to ``driver``; returns the undo."""
        from engine.autograd import set_backward_driver

        previous = set_backward_driver(driver)

        def undo() -> None:
            set_backward_driver(previous)

        return undo

    def install(self) -> None:
        """Process-wide setup at kernel start (``import torch`` as the engine); nn.Module
        forwards tag the nodes they create, ops note the user's line (graph grouping, source)."""
        from gradviz.kernel import torch_alias
        from gradviz.kernel.snapshot import track_engine_modules, track_engine_sources

        torch_alias.install()
        track_engine_modules()
        track_engine_sources()

    def default_root(self, session: Any) -> Any:
        """The root shown first: the newest named tensor with a grad_fn."""
        return session.default_root()


class EngineBackend(Backend):
    """gradviz's numpy engine, ``import torch`` resolving to it."""


class TorchBackend(Backend):
    """Real PyTorch: torch's own graph, its own backward stepped node by node."""

    name = "torch"

    def __init__(self) -> None:
        try:
            import torch
        except ImportError as e:
            raise ImportError(TORCH_MISSING) from e
        self.torch = torch
        from gradviz.kernel.torch_snapshot import IDS

        self.ids = IDS

    def is_tensor(self, v: Any) -> bool:
        return isinstance(v, self.torch.Tensor)

    def tensor_id(self, t: Any) -> int:
        return self.ids.tensor(t)

    def node_id(self, n: Any) -> int:
        return self.ids.node(n)

    def namespace_defaults(self) -> dict[str, Any]:
        import numpy as np

        return {"torch": self.torch, "np": np}

    def snapshotter(self, names: Mapping[int, str],
                    namespace: Mapping[str, Any] | None = None) -> Any:
        from gradviz.kernel.torch_snapshot import TorchSnapshotter

        return TorchSnapshotter(names, namespace, self.ids)

    def cursor(self, root: Any, gradient: Any = None, retain_graph: bool = True,
               steps: Any = None) -> Any:
        from gradviz.kernel.torch_walk import TorchCursor

        return TorchCursor(root, gradient, retain_graph, steps=steps)

    def check_roots(self, tensors: Sequence[Any], grads: Sequence[Any]) -> None:
        """torch's errors before any node runs: no grad, a non-scalar root without a
        gradient, a gradient of the wrong shape (torch's own ``_make_grads`` words)."""
        for i, t in enumerate(tensors):
            if not t.requires_grad:
                raise RuntimeError(f"element {i} of tensors does not require grad and does "
                                   "not have a grad_fn")
        from torch.autograd import _make_grads

        gs = list(grads) + [None] * (len(tensors) - len(grads))
        gs = [g if g is None or isinstance(g, self.torch.Tensor) else self.torch.tensor(g)
              for g in gs]
        _make_grads(tuple(tensors), tuple(gs), is_grads_batched=False)

    def make_gradient(self, text: str, like: Any) -> Any:
        torch = self.torch
        v = eval(text, {"torch": torch, "__builtins__": {}})  # noqa: S307
        return torch.as_tensor(v, dtype=like.dtype)

    def same_values(self, a: Any, b: Any) -> bool:
        return a.shape == b.shape and bool((a == b).all())

    def leaf_grads(self, cursor: Any) -> dict[int, tuple[Any, Any]]:
        from gradviz.kernel.torch_walk import ACCUMULATE, _clone, _edge_node, graph_nodes

        out = {}
        for n in graph_nodes([_edge_node(cursor.root)]):
            if n.name() == ACCUMULATE:
                v = n.variable
                out[self.ids.tensor(v)] = (v, _clone(v.grad))
        return out

    def restore_grads(self, grads: Mapping[int, tuple[Any, Any]]) -> None:
        for t, g in grads.values():
            t.grad = g

    def install_driver(self, driver: Driver) -> Callable[[], None]:
        """Patch ``torch.autograd.backward`` (``Tensor.backward`` calls it) so each call of
        the code goes to ``driver(call, tensors, grads, retain_graph)``; create_graph and
        calls made while a driver runs (a hook's backward) run plainly. ``torch.autograd.grad``
        likewise (``_install_grad_driver``)."""
        torch = self.torch
        import torch.autograd as ta

        from gradviz.kernel.torch_walk import TorchCall

        original = getattr(ta.backward, "_gradviz_original", ta.backward)
        state = {"busy": False}

        def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
                     create_graph: bool = False, grad_variables: Any = None,
                     inputs: Any = None) -> None:
            if grad_tensors is None:
                grad_tensors = grad_variables
            if create_graph or state["busy"]:
                return original(tensors, grad_tensors, retain_graph, create_graph,
                                inputs=inputs)
            call = TorchCall(original, tensors, grad_tensors,
                             create_graph if retain_graph is None else retain_graph, inputs)
            state["busy"] = True
            try:
                driver(call, call.tensors, call.grad_tensors, call.retain_graph)
            finally:
                state["busy"] = False

        backward._gradviz_original = original  # type: ignore[attr-defined]
        backward.__doc__ = original.__doc__
        backward.__wrapped__ = original  # type: ignore[attr-defined]
        previous = ta.backward
        ta.backward = backward
        torch.autograd.backward = backward
        undo_grad = self._install_grad_driver(driver, state)

        def undo() -> None:
            undo_grad()
            if ta.backward is backward:
                ta.backward = previous if previous is not backward else original

        return undo

    def _install_grad_driver(self, driver: Driver, state: dict) -> Callable[[], None]:
        """Patch ``torch.autograd.grad`` likewise: the code's calls go to ``driver`` as a
        ``TorchGradCall`` (create_graph included) and return what torch's grad returned; torch's
        own calls (jacobian, gradcheck), batched grads, GradientEdge arguments and calls that
        torch refuses before running anything (they raise at once) run plainly."""
        import sys

        import torch.autograd as ta

        from gradviz.kernel.torch_walk import TorchGradCall

        tensor = self.torch.Tensor
        original = getattr(ta.grad, "_gradviz_original", ta.grad)

        def grad(outputs: Any, inputs: Any, grad_outputs: Any = None,
                 retain_graph: bool | None = None, create_graph: bool = False,
                 only_inputs: bool = True, allow_unused: bool | None = None,
                 is_grads_batched: bool = False, materialize_grads: bool = False) -> Any:
            kw = {"only_inputs": only_inputs, "allow_unused": allow_unused,
                  "is_grads_batched": is_grads_batched, "materialize_grads": materialize_grads}
            caller = sys._getframe(1).f_globals.get("__name__", "")
            outs = [outputs] if isinstance(outputs, tensor) else outputs
            ins = ([inputs] if isinstance(inputs, tensor) else
                   list(inputs.values()) if isinstance(inputs, dict) else inputs)
            plain = (state["busy"] or is_grads_batched or caller == "torch"
                     or caller.startswith("torch.")
                     or not isinstance(outs, (list, tuple))
                     or not isinstance(ins, (list, tuple)) or not ins
                     or not all(isinstance(t, tensor) for t in [*outs, *ins])
                     or not all(t.requires_grad for t in [*outs, *ins])
                     or (materialize_grads and allow_unused is False))
            if plain:
                return original(outputs, inputs, grad_outputs, retain_graph, create_graph, **kw)
            call = TorchGradCall(original, outputs, inputs, grad_outputs, retain_graph,
                                 create_graph, **kw)
            state["busy"] = True
            try:
                driver(call, call.tensors, call.grad_tensors, call.retain_graph)
            finally:
                state["busy"] = False
            return call.result

        grad._gradviz_original = original  # type: ignore[attr-defined]
        grad.__doc__ = original.__doc__
        grad.__wrapped__ = original  # type: ignore[attr-defined]
        previous = ta.grad
        ta.grad = grad

        def undo() -> None:
            if ta.grad is grad:
                ta.grad = previous if previous is not grad else original

        return undo

    def default_root(self, session: Any) -> Any:
        """The named tensor whose grad_fn torch made last (its sequence number)."""
        best, best_nr = None, -1
        for info in session.tensors():
            fn = info.tensor.grad_fn
            if fn is not None:
                nr = fn._sequence_nr()
                if nr >= best_nr:
                    best, best_nr = info.tensor, nr
        return best

    def install(self) -> None:
        """Nothing aliased; nn.Module forwards tag the nodes they create (module grouping),
        ops note the user's line (the graph's source line on click)."""
        from gradviz.kernel.torch_snapshot import track_modules, track_sources

        track_modules()
        track_sources()


def backend_name(argv: list[str] | None = None) -> tuple[str, list[str]]:
    """The backend asked for (``--backend NAME`` / ``--backend=NAME`` in ``argv``, else
    ``GRADVIZ_BACKEND``, else engine) and ``argv`` without that option."""
    name = os.environ.get("GRADVIZ_BACKEND") or "engine"
    rest: list[str] = []
    args = list(argv or [])
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--backend" and i + 1 < len(args):
            name = args[i + 1]
            i += 2
            continue
        if a.startswith("--backend="):
            name = a.split("=", 1)[1]
        else:
            rest.append(a)
        i += 1
    return name, rest


def get_backend(name: str | None = None) -> Backend:
    """The backend called ``name`` ("engine" or "torch"); ImportError with one sentence on
    installing torch when torch is asked for and missing."""
    name = (name or "engine").lower()
    if name == "engine":
        return EngineBackend()
    if name == "torch":
        return TorchBackend()
    raise ValueError(f"unknown backend {name!r} (choose engine or torch)")
