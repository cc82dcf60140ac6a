"""Qt (PySide6) widgets of gradviz.

Importing this package guards against a PySide6 6.12 bug on CPython < 3.12: every wrapped
C++ method that returns ``void`` drops a reference to ``None`` without taking one, so after
enough calls (a few thousand paints) the interpreter aborts with "deallocating None".
:func:`guard_none_refcount` detects the leak and pads ``None``'s reference count, which makes
``None`` as good as immortal, as it is on Python 3.12+.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["guard_none_refcount"]

_guarded = False


def guard_none_refcount() -> bool:
    """Pad ``None``'s refcount if PySide6 leaks it here; return True when the guard is active."""
    global _guarded
    if _guarded:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    from PySide6.QtCore import QPointF

    p = QPointF()
    before = sys.getrefcount(None)
    for _ in range(64):
        p.setX(1.0)  # a void method
    if sys.getrefcount(None) - before <= -32:
        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 50
        _guarded = True
    _guard_bool_refcount()
    return _guarded


def _guard_bool_refcount() -> None:
    """The same bug for ``True``: every ``SignalInstance.emit`` drops a reference to it."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        s = Signal(object)

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(64):
        probe.s.emit(1)
    if sys.getrefcount(True) - before <= -32:
        for b in (True, False):
            ctypes.c_ssize_t.from_address(id(b)).value += 1 << 50


guard_none_refcount()
