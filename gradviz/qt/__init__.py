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
    if sys.getrefcount(None) - before > -32:
        return False
    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 50
    _guarded = True
    return True


guard_none_refcount()
