"""The window's picture of the kernel's workspace, with the Session API the panels use.

``RemoteSession`` looks like ``gradviz.session.Session`` to the panels (both are a
``gradviz.workspace.Workspace``) (``tensors()``,
``names()``, ``run(code)``, ``create_tensor(...)``, ``cursor``) but holds only views of what the
kernel last reported (``gradviz.views``); ``run`` sends the code to the kernel and turns the
event loop until the kernel answers, so the window stays live and Stop works meanwhile.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gradviz.views import KernelError, StepView, TensorView, World
from gradviz.workspace import Change, RunResult, TensorInfo, Workspace

if TYPE_CHECKING:
    from gradviz.qt.kernel_client import KernelClient

__all__ = ["RemoteSession", "CursorView", "InProcessKernel"]

_CELL_LINE = re.compile(r"(?:Cell In\s*\[\d*\]|<cell>|File \"<ipython-input-[^\"]*>\")"
                        r".*?line (\d+)")


def error_from(err: dict[str, Any] | None) -> BaseException | None:
    """An exception object standing for the kernel's error: the builtin class of that name
    when there is one (so ``isinstance(e, SyntaxError)`` holds), else a KernelError."""
    if err is None:
        return None
    ename, evalue = err.get("ename", "Error"), err.get("evalue", "")
    cls = getattr(builtins, ename, None)
    exc: BaseException
    if isinstance(cls, type) and issubclass(cls, BaseException):
        try:
            exc = cls(evalue)
        except Exception:  # noqa: BLE001 - an odd constructor: fall back
            exc = KernelError(ename, evalue, err.get("traceback"))
    else:
        exc = KernelError(ename, evalue, err.get("traceback"))
    exc.kernel_traceback = err.get("traceback") or []  # type: ignore[attr-defined]
    exc.kernel_ename = ename  # type: ignore[attr-defined]
    return exc


def error_line(traceback: list[str]) -> int | None:
    """The cell's line that raised, from IPython's traceback text."""
    line = None
    for chunk in traceback:
        for m in _CELL_LINE.finditer(chunk):
            line = int(m.group(1))
    return line


class CursorView:
    """The kernel's backward walk as the last update described it (read-only; the stepper
    sends the commands)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.walk_id: int | None = None
        self._steps: list[dict[str, Any]] = []
        self.position = 0
        self.finished = False
        self.error: BaseException | None = None
        self.error_node_id: int | None = None
        self.root_id: int | None = None
        self.retain_graph = False
        self.seed = "1"
        self._views: list[StepView] = []  # decoded once: a step's record never changes

    def update(self, walk: dict[str, Any]) -> None:
        if walk["id"] != self.walk_id or walk["from"] == 0:
            self.walk_id = walk["id"]
            self._steps = []
            self._views = []
        self._steps[walk["from"]:] = walk["steps"]
        del self._views[walk["from"]:]
        self.position = walk["position"]
        self.finished = walk["finished"]
        self.root_id = walk["root"]
        self.retain_graph = walk.get("retain_graph", False)
        self.seed = walk.get("seed", "1")
        msg = walk.get("error")
        if msg:
            ename, _, evalue = msg.partition(": ")
            self.error = error_from({"ename": ename, "evalue": evalue})
        else:
            self.error = None
        self.error_node_id = walk.get("error_node")

    @property
    def root(self) -> TensorView | None:
        return self.world.tensor(self.root_id) if self.root_id is not None else None

    @property
    def steps(self) -> list[StepView]:
        views = self._views
        for s in self._steps[len(views):]:
            views.append(StepView(self.world, s))
        return list(views)

    @property
    def current(self) -> StepView | None:
        return self.steps[self.position - 1] if self.position else None

    @property
    def done_node_ids(self) -> set[int]:
        return {s["node"] for s in self._steps[:self.position]}

    @property
    def at_end(self) -> bool:
        return self.finished and self.position == len(self._steps)


class RemoteSession(Workspace):
    """The Session API over a kernel (``KernelClient`` or ``InProcessKernel``)."""

    def __init__(self, kernel: KernelClient | InProcessKernel) -> None:
        self.kernel = kernel
        self.world = World()
        self.world.fetch_texts = self._fetch_texts
        self.state: dict[str, Any] | None = None
        self._names: dict[int, str] = {}
        self._named: list[int] = []
        self.root_id: int | None = None
        self.cursor_view = CursorView(self.world)
        self.has_walk = False
        self.last_error: dict[str, Any] | None = None
        self.busy = False  # inside run(): waiting for the kernel or for the cell
        super().__init__()
        self._conn = kernel.state.connect(self._on_state)

    def close(self) -> None:
        """Stop following the kernel (the window closes)."""
        if self._conn is not None:
            self.kernel.state.disconnect(self._conn)
            self._conn = None

    # ----- the picture
    def reset_namespace(self) -> None:
        self.namespace.clear()

    def _on_state(self, msg: dict[str, Any]) -> None:
        self.state = msg
        self.world.update(msg.get("tensors", ()), msg.get("nodes", ()))
        self._names = {int(k): v for k, v in msg.get("names", {}).items()}
        self._named = list(msg.get("tensors_named", ()))
        self.namespace.clear()
        for tid in self._named:
            name = self._names.get(tid)
            if name:
                self.namespace[name] = self.world.tensor(tid)
        self.root_id = msg.get("root")
        walk = msg.get("walk")
        self.has_walk = walk is not None
        if walk is not None:
            self.cursor_view.update(walk)
        if msg.get("paused"):
            self.last_error = None  # a new walk: the graph shows it, not an older error
        elif msg.get("seq") is None:  # a cell's own update
            self.last_error = msg.get("cell_error")
        self._notify(Change.STATE)

    def forget_kernel(self) -> None:
        """The kernel restarted: nothing it held exists any more (no names, no root, no walk)
        until its first state arrives."""
        self._on_state({})

    def tensors(self) -> list[TensorInfo]:
        return [TensorInfo(self._names[t], self.world.tensor(t)) for t in self._named
                if t in self._names]

    def id_of(self, obj: Any) -> int | None:
        """The kernel's id of a tensor or node view (as ``Session.id_of``)."""
        return getattr(obj, "id", None)

    def names(self) -> dict[int, str]:
        return dict(self._names)

    def get(self, name: str) -> TensorView:
        v = self.namespace.get(name)
        if v is None:
            raise KeyError(f"no tensor named {name!r}")
        return v

    def default_root(self) -> TensorView | None:
        return self.world.tensor(self.root_id) if self.root_id is not None else None

    @property
    def cursor(self) -> CursorView | None:  # type: ignore[override]
        return self.cursor_view if self.has_walk else None

    @cursor.setter
    def cursor(self, value: Any) -> None:
        pass  # the kernel owns the cursor

    # ----- running code
    def run(self, source: str, timeout: float | None = None) -> RunResult:
        """Run ``source`` in the kernel as a cell and wait for it (the window stays live)."""
        res = RunResult(source)
        k = self.kernel
        if not k.alive:
            res.error = RuntimeError(k.death or "the kernel is not running")
            res.error_text = f"KernelDied: {k.death or 'the kernel is not running'} " \
                             "Restart it from the Kernel menu."
            return self._done(res)
        if k.running:
            res.error = RuntimeError("a cell is still running")
            res.error_text = ("Busy: a cell is still running; stop it first (Shift+F5) or "
                              "wait for it")
            return self._done(res, record=False)
        self.busy = True  # (an autosave meanwhile would catch the workspace half-built)
        try:
            if not k.ready:
                k.wait_for(lambda: k.ready or not k.alive, 60)
            before = dict(self.namespace)
            done: dict[str, dict[str, Any]] = {}
            conn = k.finished.connect(lambda m, o: done.__setitem__(m, o))
            try:
                mid = k.execute(source)
                k.wait_for(lambda: mid in done)
            finally:
                k.finished.disconnect(conn)
        finally:
            self.busy = False
        outcome = done.get(mid, {})
        res.output = outcome.get("output", "")
        res.value_repr = outcome.get("value")
        err = outcome.get("error")
        if outcome.get("status") == "dead" or not outcome:
            why = (err or {}).get("evalue") or k.death or "The kernel died."
            res.error = RuntimeError(why)
            res.error_text = f"KernelDied: {why} The window kept your cells" + (
                "." if "restarted" in why else "; restart the kernel from the Kernel menu.")
        elif err is not None:
            res.error = error_from(err)
            evalue = err.get("evalue", "")
            res.error_text = f"{err['ename']}: {evalue}" if evalue else err["ename"]
            res.error_line = error_line(err.get("traceback", []))
        res.new_names = [n for n, v in self.namespace.items()
                         if before.get(n) is None or before[n].id != v.id]
        return self._done(res)

    def _done(self, res: RunResult, record: bool = True) -> RunResult:
        if record:
            self.history.append(res.source)
            self.results.append(res)
        self._notify(Change.CODE)
        self._notify(Change.TENSORS)
        return res

    def clear(self) -> None:
        """A new, empty workspace in the kernel (cells and editor text stay in the window)."""
        if self.kernel.alive and not self.kernel.running:
            self.kernel.command_sync("clear")
        self.history.clear()
        self.results.clear()
        self._notify(Change.TENSORS)
        self._notify(Change.CODE)

    def api_missing(self, keys: list[str]) -> set[str] | None:
        """The torch names (``torch_api_uses`` keys) the kernel's library lacks; None while
        the kernel cannot answer (starting, busy, dead)."""
        if not keys:
            return set()
        msg = self.kernel.command_sync("api_missing", keys=sorted(set(keys)))
        if not msg or not msg.get("ok", True) or not isinstance(msg.get("reply"), dict):
            return None
        return set(msg["reply"].get("missing", ()))

    def _fetch_texts(self, ids: list[int]) -> list[dict[str, Any]] | None:
        """The kernel's reprs of tensors it sent ``lazy`` (None: no answer, e.g. it is busy)."""
        msg = self.kernel.command_sync("tensor_texts", timeout=5.0, ids=list(ids))
        reply = (msg or {}).get("reply") or {}
        return reply.get("tensors")

    def command(self, cmd: str, **args: Any) -> dict[str, Any] | None:
        """A command to the kernel's agent, waited for."""
        return self.kernel.command_sync(cmd, **args)


class InProcessKernel:
    """A kernel in this process, for tests: the same interface as ``KernelClient``, the agent
    called directly. (Pause at backward() needs a real kernel: here backward runs through.)"""

    def __init__(self) -> None:
        from PySide6.QtCore import QObject, Signal

        from gradviz.kernel.agent import Agent

        class _Signals(QObject):
            state = Signal(dict)
            finished = Signal(str, dict)
            started = Signal()
            died = Signal(str)
            busy = Signal(bool)
            stream = Signal(str, str, str)
            message = Signal(dict)

        self._sig = _Signals()
        for name in ("state", "finished", "started", "died", "busy", "stream", "message"):
            setattr(self, name, getattr(self._sig, name))
        self.alive = True
        self.ready = True
        self.paused = False
        self.running: dict[str, Any] = {}
        self.death: str | None = None
        self.last_state: dict[str, Any] | None = None
        self._replies: dict[int, dict[str, Any]] = {}
        self._seq = 0
        self._n = 0
        self.namespace: dict[str, Any] = {}
        self.agent = Agent(self.namespace, self._send, install_driver=False)
        self.agent.session.reset_namespace()
        from gradviz.kernel.training_host import TrainingHost

        self.agent.training = TrainingHost(self.agent, interrupts=False)

    def _send(self, msg: dict[str, Any]) -> None:
        import json

        msg = json.loads(json.dumps(msg))  # what a real kernel would deliver
        if msg.get("type") == "state":
            self.last_state = msg
            if msg.get("seq") is not None:
                self._replies[msg["seq"]] = msg
            self.state.emit(msg)
        elif msg.get("type") == "reply" and msg.get("seq") is not None:
            self._replies[msg["seq"]] = msg
        else:
            self.message.emit(msg)  # e.g. the training host's series

    def execute(self, code: str) -> str:
        self._n += 1
        mid = f"inproc-{self._n}"
        res = self.agent.run_cell(code)
        out: dict[str, Any] = {"status": "ok" if res.ok else "error", "output": res.output,
                               "value": res.value_repr, "error": None, "elapsed": 0.0}
        if res.error is not None:
            ename, _, evalue = res.error_text.partition(": ")
            tb = [f"Cell In[{self._n}], line {res.error_line}"] if res.error_line else []
            out["error"] = {"ename": ename, "evalue": evalue, "traceback": tb}
        self.finished.emit(mid, out)
        return mid

    def command(self, cmd: str, **args: Any) -> int:
        self._seq += 1
        if cmd == "pause":  # nobody could step a paused backward() in this same thread
            args["on"] = False
        self.agent.handle({"cmd": cmd, "seq": self._seq, **args})
        return self._seq

    def command_side(self, cmd: str, **args: Any) -> int:
        """As ``KernelClient.command_side``; here the agent is called at once."""
        return self.command(cmd, **args)

    def command_sync(self, cmd: str, timeout: float | None = None, **args: Any
                     ) -> dict[str, Any] | None:
        seq = self.command(cmd, **args)
        return self._replies.pop(seq, None)

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        return bool(predicate())

    def interrupt(self) -> None:
        pass

    def restart(self) -> None:
        self.namespace.clear()
        self.agent.session.reset_namespace()
        self.agent.cursor = None
        self.agent.root = None
        self.started.emit()

    def start(self) -> None:
        self.started.emit()

    def shutdown(self) -> None:
        if self.alive:
            self.alive = False
            self.agent.close()
