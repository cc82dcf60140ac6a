"""The one watchdog of in-process user code (no Qt, no engine): a daemon thread that interrupts
the main thread when an armed deadline passes, so a runaway cell (``Session.run``) or training
iteration (``gradviz.training``) ends in a ``KeyboardInterrupt`` the caller turns into a
TimeoutError sentence."""

from __future__ import annotations

import _thread
import threading
import time

__all__ = ["Watchdog"]


class Watchdog:
    """One daemon thread per process that interrupts the main thread when an armed deadline
    passes. Arming is a float store (cheap enough per iteration); the thread wakes every 50 ms.
    ``fired`` says whether the last armed deadline sent its interrupt."""

    _instance: Watchdog | None = None

    def __init__(self) -> None:
        self._deadline: float | None = None
        self._lock = threading.Lock()
        self.fired = False
        self._thread = threading.Thread(target=self._loop, name="gradviz-watchdog", daemon=True)
        self._thread.start()

    @classmethod
    def get(cls) -> Watchdog | None:
        """The watchdog, from the main thread; None elsewhere (only the main thread can be
        interrupted)."""
        if threading.current_thread() is not threading.main_thread():
            return None
        if cls._instance is None:
            cls._instance = Watchdog()
        return cls._instance

    def _loop(self) -> None:
        while True:
            time.sleep(0.05)
            with self._lock:
                d = self._deadline
                if d is not None and time.monotonic() > d:
                    self._deadline = None
                    self.fired = True
                    _thread.interrupt_main()

    def arm(self, seconds: float | None) -> None:
        """Interrupt the main thread in ``seconds`` (None: never, the kernel's Stop decides)."""
        self.fired = False
        self._deadline = None if seconds is None else time.monotonic() + seconds

    def disarm(self) -> bool:
        """Stop watching; True when the deadline had passed (call :meth:`absorb` then, to
        swallow an interrupt sent but not yet delivered)."""
        with self._lock:
            self._deadline = None
            fired = self.fired
        return fired

    @staticmethod
    def absorb() -> None:
        """Swallow an interrupt that was sent but not yet delivered."""
        try:
            for _ in range(100_000):
                pass
            time.sleep(0.001)
            for _ in range(100_000):
                pass
        except KeyboardInterrupt:
            pass
