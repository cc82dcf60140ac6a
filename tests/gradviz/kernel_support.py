"""What the tests over a real kernel process share: a heartbeat in the window's event loop
(it must never stall). The module-wide ``kernel`` fixture is in conftest.py."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer


class Heartbeat:
    """A 20 ms timer in the window's event loop; ``max_gap`` is its longest stall."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.max_gap = 0.0
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.max_gap = max(self.max_gap, now - self.last)
        self.last = now

    def stop(self) -> float:
        self.timer.stop()
        return self.max_gap
