"""The backward stepper: turns the kernel's backward walk (``CursorView`` of ``StepView``s) into
what the graph view shows (current node, finished nodes, gradients on edges, errors on the
responsible node), and forwards Step / Step back / Run / Reset to the kernel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from gradviz.formatting import short_values  # noqa: F401 - re-exported
from gradviz.graph import node_key, tensor_key
from gradviz.views import NodeState

if TYPE_CHECKING:
    from gradviz.qt.remote_session import RemoteSession
    from gradviz.views import TensorView
    from gradviz.workspace import Workspace


class Stepper(QObject):
    """What every stepper shows: breakpoints, playing, node states and edge labels of
    ``cursor`` (``root`` and ``cursor`` come from the subclass)."""

    changed = Signal()
    stepped = Signal(object)  # the current step (a StepView) or None
    failed = Signal(str, object)  # torch's message, node id (or None)

    root: Any = None
    cursor: Any = None

    def __init__(self, session: Workspace, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.breakpoints: set[int] = set()
        self.play_timer = QTimer(self)
        self.play_timer.setInterval(600)
        self.play_timer.timeout.connect(self._play_tick)

    def step(self) -> Any:  # pragma: no cover - the subclass forwards it
        raise NotImplementedError

    def toggle_breakpoint(self, node_id: int) -> None:
        self.breakpoints ^= {node_id}
        self.changed.emit()

    def play(self, interval_ms: int | None = None) -> None:
        if interval_ms:
            self.play_timer.setInterval(interval_ms)
        self.play_timer.start()
        self.changed.emit()

    def stop(self) -> None:
        if self.play_timer.isActive():
            self.play_timer.stop()
            self.changed.emit()

    @property
    def playing(self) -> bool:
        return self.play_timer.isActive()

    def _play_tick(self) -> None:
        s = self.step()
        c = self.cursor
        if s is None or c is None or c.error is not None or s.node.id in self.breakpoints:
            self.stop()

    # ----- what the graph shows
    def node_states(self) -> dict[str, NodeState]:
        """Graph key -> the NodeState of every node not idle."""
        out: dict[str, NodeState] = {node_key(i): NodeState.BREAKPOINT for i in self.breakpoints}
        c = self.cursor
        if c is None:
            return out
        for s in c.steps[:c.position]:
            out[node_key(s.node.id)] = NodeState.DONE
        cur = c.current
        if cur is not None:
            out[node_key(cur.node.id)] = NodeState.CURRENT
        if c.error is not None:
            if c.error_node_id is not None:
                out[node_key(c.error_node_id)] = NodeState.ERROR
            elif self.root is not None:
                out[tensor_key(self.root.id)] = NodeState.ERROR
        return out

    def edge_labels(self) -> dict[tuple[str, str], str]:
        """Gradients flowing along edges so far: (from key, to key) -> text."""
        out: dict[tuple[str, str], str] = {}
        c = self.cursor
        if c is None:
            return out
        for s in c.steps[:c.position]:
            node = s.node
            if s.is_accumulate:
                out[(tensor_key(s.variable.id), node_key(node.id))] = "+= " + short_values(
                    s.grad_outputs[0])
                continue
            for (nxt, _), gi in zip(node.next_functions, s.grad_inputs):
                if nxt is not None and gi is not None:
                    out[(node_key(nxt.id), node_key(node.id))] = short_values(gi)
        return out


class KernelStepper(Stepper):
    """The stepper over a kernel: the kernel owns the root and the cursor; this forwards
    Step / Step back / Run / Reset and reports the kernel's answer as ``Stepper`` does."""

    def __init__(self, session: RemoteSession, parent: QObject | None = None) -> None:
        super().__init__(session, parent)
        self._root_id: int | None = None
        self.gradient_text: str | None = None

    @property
    def root(self) -> Any:  # type: ignore[override]
        s = self.session
        return s.world.tensor(s.root_id) if s.root_id is not None else None

    @root.setter
    def root(self, value: Any) -> None:
        pass  # the kernel decides; set_root asks it

    @property
    def cursor(self) -> Any:
        c = self.session.cursor
        return c if c is not None and c.root_id == self.session.root_id else None

    def set_root(self, root: TensorView | None, gradient: Any = None) -> None:
        rid = root.id if root is not None else None
        text = gradient if isinstance(gradient, str) or gradient is None else None
        if rid == self.session.root_id and text == self.gradient_text and \
                self.session.state is not None and self.session.state.get("root_chosen"):
            return
        self.stop()
        self.gradient_text = text
        self.session.command("set_root", root=rid, gradient=text)
        self.changed.emit()

    def _do(self, cmd: str, **args: Any) -> Any:
        if self.session.command(cmd, **args) is None:
            self.stop()
            return None
        c = self.cursor
        self.changed.emit()
        if c is not None and c.error is not None:
            self.failed.emit(f"{getattr(c.error, 'kernel_ename', type(c.error).__name__)}: "
                             f"{c.error}", c.error_node_id)
        self.stepped.emit(c.current if c is not None else None)
        return c

    def step(self) -> Any:
        before = self.cursor.position if self.cursor is not None else 0
        c = self._do("step")
        if c is None or c.position == before:
            return None
        return c.current

    def step_back(self) -> Any:
        c = self.cursor
        if c is None or c.position == 0:
            return None
        c = self._do("step_back")
        return c.current if c is not None else None

    def run(self) -> list:
        before = self.cursor.position if self.cursor is not None else 0
        self.session.command("breakpoints", ids=sorted(self.breakpoints))
        c = self._do("run")
        return [] if c is None else c.steps[before:c.position]

    def reset(self) -> None:
        self.stop()
        self._do("reset")

    def toggle_breakpoint(self, node_id: int) -> None:
        self.breakpoints ^= {node_id}
        self.session.command("breakpoints", ids=sorted(self.breakpoints))
        self.changed.emit()
