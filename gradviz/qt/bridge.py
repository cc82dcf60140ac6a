"""The one place the GUI listens to the engine: engine events and session changes as Qt
signals. Widgets connect to these signals; none of them subscribes to the engine itself."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from engine import events
from engine.events import Event
from gradviz.session import Session


class Bridge(QObject):
    """Re-emits engine events (``event``) and session changes (``changed``: "code", "tensors",
    "cursor") as Qt signals."""

    event = Signal(object)
    changed = Signal(str)

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._handle = events.subscribe(self._on_event)
        session.add_listener(self.changed.emit)
        self.destroyed.connect(lambda *_: self.close())

    def _on_event(self, ev: Event) -> None:
        self.event.emit(ev)

    def close(self) -> None:
        """Stop listening (the window closes, or a test is done)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
