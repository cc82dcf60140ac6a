"""The one place the GUI hears about the engine: graph events and session changes as Qt
signals. Widgets connect to these signals; none of them subscribes to the engine itself, and
this module imports no engine: the kernel's events arrive through ``feed`` (JSON lines, read
as ``gradviz.graph_events.GraphEvent``), an in-process session's through its
``subscribe_events`` (the engine's own records, which read alike).

Engine events arrive in batches (``events(list)``), once per turn of the event loop or before
any ``changed``: a training loop emits tens of thousands of events, and one Qt signal per
event would cost more than the loop itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from gradviz.graph_events import GraphEvent

if TYPE_CHECKING:
    from gradviz.workspace import Workspace


class Bridge(QObject):
    """Re-emits graph events (``events``: a list of GraphEvent-like records, in order) and
    session changes (``changed``: "code", "tensors", "cursor") as Qt signals."""

    events = Signal(list)
    changed = Signal(str)

    def __init__(self, session: Workspace, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._pending: list[Any] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.flush)
        subscribe = getattr(session, "subscribe_events", None)
        self._handle = subscribe(self._on_event) if subscribe is not None else None
        session.add_listener(self._on_session_changed)
        self.destroyed.connect(lambda *_: self.close())

    def _on_event(self, ev: Any) -> None:
        self._pending.append(ev)
        if len(self._pending) == 1:
            self._timer.start()

    def flush(self) -> None:
        """Deliver the events queued so far (widgets see them before any ``changed``)."""
        if self._pending:
            batch, self._pending = self._pending, []
            self.events.emit(batch)

    def feed(self, records: list) -> None:
        """Engine events that happened in the kernel (JSON records), delivered in order."""
        if records:
            self.flush()
            self.events.emit([GraphEvent.from_json(r) if isinstance(r, str) else r
                              for r in records])

    def _on_session_changed(self, what: str) -> None:
        self.flush()
        self.changed.emit(what)

    def close(self) -> None:
        """Stop listening (the window closes, or a test is done)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
