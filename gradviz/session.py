"""The workspace behind the window, with no Qt: a namespace where code runs, the tensors in it,
and the backward cursor that steps through a graph one node at a time.

Every panel action becomes a line of code run here (``y = x + 2``), so the code panel always
shows the equivalent program. The GUI computes no gradients: the engine does, here.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import itertools
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import engine
from engine import Tensor, events
from engine.autograd import BackwardStep, backward_steps, restore_grad
from engine.events import id_of
from gradviz.watchdog import Watchdog
from gradviz.workspace import (  # noqa: F401 - re-exported: the names of the workspace API
    Change,
    RunResult,
    TensorInfo,
    Workspace,
    _check_name,
    format_error,
    install_torch_alias,
)

__all__ = ["Session", "RunResult", "BackwardCursor", "ReplayCursor", "TensorInfo", "format_error",
           "install_torch_alias", "engine_namespace"]

CELL_TIMEOUT_S = 10.0
_cell_ids = itertools.count(1)


def engine_namespace(name: str) -> dict[str, Any]:
    """A fresh namespace for user code on the engine: ``torch``/``engine``/``np`` bound,
    ``__name__`` set to ``name`` and ``import torch`` resolving to the engine (the workspace's
    and the training runs' one setup)."""
    ns: dict[str, Any] = {"torch": engine, "engine": engine, "np": np, "__name__": name,
                          "__builtins__": builtins}
    install_torch_alias(ns)
    return ns


class Session(Workspace):
    """The user's workspace in this process: run code with the engine (or the kernel's
    backend), list tensors, name them, and drive backward steps."""

    def __init__(self) -> None:
        #: the kernel's backend (gradviz.kernel.backend); None: the engine
        self.backend: Any = None
        super().__init__()
        self.cursor: BackwardCursor | None = None

    # ----- listeners (the Qt bridge subscribes here and to engine events)
    def id_of(self, obj: Any) -> int | None:
        """The stable id the kernel names a tensor or node by (events, snapshots, names())."""
        if self.backend is not None:
            return self.backend.tensor_id(obj) if self._is_tensor(obj) \
                else self.backend.node_id(obj)
        return id_of(obj)

    def subscribe_events(self, callback: Callable[[events.Event], None]) -> events.Handle:
        """``callback(event)`` for every engine event of this (in-process) workspace;
        ``handle.remove()`` stops it. The Qt bridge listens here."""
        return events.subscribe(callback)

    def api_missing(self, keys: list[str]) -> set[str] | None:
        """The torch names (``gradviz.notebook.torch_api_uses`` keys) the engine lacks (none
        on another backend)."""
        if self.backend is not None and self.backend.name != "engine":
            return set()
        from gradviz.notebook import missing_in_engine
        return missing_in_engine(keys)

    # ----- namespace
    def reset_namespace(self) -> None:
        self.namespace.clear()
        if self.backend is not None and self.backend.name != "engine":
            self.namespace.update(self.backend.namespace_defaults())
            self.namespace.update({"__name__": "__gradviz__", "__builtins__": builtins})
            return
        self.namespace.update(engine_namespace("__gradviz__"))

    def _is_tensor(self, v: Any) -> bool:
        return self.backend.is_tensor(v) if self.backend is not None else isinstance(v, Tensor)

    def _tid(self, t: Any) -> int:
        return self.backend.tensor_id(t) if self.backend is not None else id_of(t)

    def clear(self) -> None:
        """Forget all code and tensors (a new, empty workspace)."""
        self.reset_namespace()
        self.history.clear()
        self.results.clear()
        self.cursor = None
        self._notify(Change.TENSORS)
        self._notify(Change.CODE)

    def tensors(self) -> list[TensorInfo]:
        """The workspace's named tensors, oldest first."""
        out = [TensorInfo(k, v) for k, v in self.namespace.items()
               if self._is_tensor(v) and not k.startswith("_")]
        out.sort(key=lambda i: self._tid(i.tensor))
        return out

    def names(self) -> dict[int, str]:
        """Tensor id -> the workspace name that refers to it (the newest name wins)."""
        out: dict[int, str] = {}
        for k, v in self.namespace.items():
            if self._is_tensor(v) and not k.startswith("_"):
                out[self._tid(v)] = k
            elif k == "__grads__":
                pass
        return out

    def get(self, name: str) -> Tensor:
        v = self.namespace.get(name)
        if not self._is_tensor(v):
            raise KeyError(f"no tensor named {name!r}")
        return v

    def default_root(self) -> Tensor | None:
        """The newest named tensor with a grad_fn (what the graph view shows first)."""
        best = None
        for info in self.tensors():
            if info.tensor.grad_fn is not None:
                best = info.tensor
        return best

    # ----- running code
    def run(self, source: str, timeout: float | None = CELL_TIMEOUT_S) -> RunResult:
        """Run ``source`` in the workspace like a notebook cell: stdout captured, the value of a
        final expression shown, errors caught (the workspace stays as it was at the error)."""
        res = RunResult(source)
        before = {k: id(v) for k, v in self.namespace.items()}
        buf = io.StringIO()
        try:
            tree = ast.parse(source, filename="<cell>", mode="exec")
        except SyntaxError as e:
            res.error = e
            res.error_text = f"SyntaxError: {e.msg}"
            res.error_line = e.lineno
            self._finish(res, before)
            return res
        last_expr = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last_expr = ast.Expression(tree.body.pop().value)
        timer = Watchdog.get() if timeout else None
        try:
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                if timer:
                    timer.arm(timeout)
                try:
                    exec(compile(tree, "<cell>", "exec"), self.namespace)
                    if last_expr is not None:
                        value = eval(compile(last_expr, "<cell>", "eval"), self.namespace)
                        if value is not None:
                            res.value_repr = repr(value)
                finally:
                    if timer and timer.disarm():
                        timer.absorb()
        except KeyboardInterrupt as e:
            if timer and timer.fired:
                res.error = TimeoutError(f"stopped after {timeout:g} s")
                res.error_text = (f"TimeoutError: the code ran longer than {timeout:g} s and was "
                                  "stopped; the workspace keeps what it did until then")
            else:
                res.error = e
                res.error_text = "KeyboardInterrupt"
        except BaseException as e:  # user code: anything may happen, the app must survive
            if isinstance(e, SystemExit):
                e = RuntimeError("exit() is not available inside gradviz")
            res.error = e
            res.error_text = format_error(e)
            res.error_line = _cell_line(e)
        res.output = buf.getvalue()
        self._finish(res, before)
        return res

    def _finish(self, res: RunResult, before: dict[str, int]) -> None:
        res.new_names = [k for k, v in self.namespace.items()
                         if self._is_tensor(v) and before.get(k) != id(v)]
        self.history.append(res.source)
        self.results.append(res)
        self._notify(Change.CODE)
        self._notify(Change.TENSORS)

    # ----- stepping through backward
    def start_backward(self, root: Tensor, gradient: Tensor | None = None,
                       retain_graph: bool = True) -> BackwardCursor:
        """A cursor over ``root``'s backward, ready to step (nothing runs yet)."""
        self.cursor = BackwardCursor(root, gradient, retain_graph)
        self._notify(Change.CURSOR)
        return self.cursor


def _cell_line(exc: BaseException) -> int | None:
    line = None
    for fr in traceback.extract_tb(exc.__traceback__):
        if fr.filename == "<cell>":
            line = fr.lineno
    return line


class ReplayCursor:
    """What every backward cursor shares: ``steps`` recorded so far, ``position`` applied, and
    stepping back / running / resetting over that record. A subclass runs the next node in
    ``step()``, undoes or redoes one step's effect on ``.grad`` in ``_apply`` and names a
    node's id in ``_node_id`` (the engine's ``events.id_of``, a torch node's stable id)."""

    steps: list
    position: int
    finished: bool
    error: BaseException | None
    error_node_id: int | None

    def step(self) -> Any:  # pragma: no cover - every cursor defines it
        raise NotImplementedError

    def _apply(self, s: Any, forward: bool) -> None:  # pragma: no cover
        raise NotImplementedError

    def _node_id(self, node: Any) -> int:
        return id_of(node)

    @property
    def current(self) -> Any:
        """The step shown as current (the last one applied)."""
        return self.steps[self.position - 1] if self.position else None

    @property
    def done_node_ids(self) -> set[int]:
        return {self._node_id(s.node) for s in self.steps[:self.position]}

    @property
    def at_end(self) -> bool:
        return self.finished and self.position == len(self.steps)

    def step_back(self) -> Any:
        """Undo the last applied step's effect on ``.grad`` (the record is kept for replay)."""
        if self.position == 0:
            return None
        self.position -= 1
        s = self.steps[self.position]
        self._apply(s, forward=False)
        self.error = None
        self.error_node_id = None
        return s

    def run(self, breakpoints: set[int] | frozenset[int] = frozenset(),
            max_steps: int | None = None) -> list:
        """Step until the end, an error, or a node in ``breakpoints`` has just become current."""
        out = []
        while max_steps is None or len(out) < max_steps:
            s = self.step()
            if s is None:
                break
            out.append(s)
            if breakpoints and self._node_id(s.node) in breakpoints:
                break
        return out

    def reset(self) -> None:
        """Back to before the first step: every leaf's grad as it was."""
        while self.position:
            self.step_back()


class BackwardCursor(ReplayCursor):
    """Backward of one root, one node per ``step()``, with ``step_back()`` from recorded state.

    Live state plus time travel: stepping forward runs the engine's ``backward_steps``
    generator; stepping back restores the leaf grads each recorded AccumulateGrad step
    changed; stepping forward again replays the record instead of recomputing.
    """

    def __init__(self, root: Tensor, gradient: Tensor | None = None,
                 retain_graph: bool = True, steps: Iterator[BackwardStep] | None = None
                 ) -> None:
        self.root = root
        self.gradient = gradient
        self.retain_graph = retain_graph
        self.steps: list[BackwardStep] = []
        self.position = 0  # number of steps applied
        self.error: BaseException | None = None
        self.error_node_id: int | None = None
        self.finished = False
        self._initial = self._snapshot_leaves()
        self._gen = steps if steps is not None else backward_steps(root, gradient,
                                                                   retain_graph=retain_graph)

    def _snapshot_leaves(self) -> dict[int, tuple[Tensor, np.ndarray | None]]:
        out = {}
        fn = self.root.grad_fn
        stack = [fn] if fn is not None else []
        seen = set()
        if fn is None and self.root.requires_grad:
            out[id_of(self.root)] = (self.root, _copy_grad(self.root))
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            var = getattr(n, "variable", None)
            if var is not None:
                out[id_of(var)] = (var, _copy_grad(var))
            stack.extend(f for f, _ in n.next_functions if f is not None)
        return out

    def step(self) -> BackwardStep | None:
        """Run (or replay) one node. Returns the step, or None at the end or on an error
        (then ``error`` holds torch's exception and ``error_node_id`` the node)."""
        if self.error is not None:
            return None
        if self.position < len(self.steps):
            s = self.steps[self.position]
            self._apply(s, forward=True)
            self.position += 1
            return s
        if self.finished:
            return None
        try:
            s = next(self._gen)
        except StopIteration:
            self.finished = True
            return None
        except Exception as e:  # torch's errors: shown on the graph, the session survives
            self.error = e
            self.error_node_id = getattr(e, "node_id", None)
            if self.error_node_id is None and self.root.grad_fn is not None and not self.steps:
                self.error_node_id = id_of(self.root.grad_fn)
            self.finished = True
            return None
        self.steps.append(s)
        self.position += 1
        return s

    def _apply(self, s: BackwardStep, forward: bool) -> None:
        if not s.is_accumulate:
            return
        restore_grad(s.variable, s.grad_after if forward else s.grad_before,
                     reason="step" if forward else "step_back")


def _copy_grad(t: Tensor) -> np.ndarray | None:
    g = t.grad
    return None if g is None else g.numpy(force=True).copy()
