"""Shared setup for the gradviz tests: Qt runs offscreen, before anything imports Qt."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

try:  # pads None's refcount against the PySide6 6.12 leak on Python < 3.12
    import gradviz.qt  # noqa: F401, E402
except ImportError:  # pragma: no cover - PySide6 missing: Qt tests are skipped anyway
    pass
