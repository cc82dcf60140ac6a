"""Shared setup for the gradviz tests: Qt runs offscreen, before anything imports Qt."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

try:  # pads None's refcount against the PySide6 6.12 leak on Python < 3.12
    import gradviz.qt  # noqa: F401, E402
except ImportError:  # pragma: no cover - PySide6 missing: Qt tests are skipped anyway
    pass


import pytest  # noqa: E402

from gradviz.session import Session  # noqa: E402


@pytest.fixture
def session() -> Session:
    """A fresh workspace (a test module may override it with a prepared one)."""
    return Session()


@pytest.fixture
def bridge(session: Session):
    """The Qt bridge over ``session``, closed after the test."""
    from gradviz.qt.bridge import Bridge
    b = Bridge(session)
    yield b
    b.close()


@pytest.fixture(scope="module")
def kernel():
    """One real kernel for the module (a 3 GB memory cap, so the cap test is quick)."""
    from gradviz.qt.kernel_client import KernelClient

    k = KernelClient(env={"GRADVIZ_KERNEL_MEMORY_MB": "3000"})
    k.start()
    assert k.wait_for(lambda: k.ready, 60), "the kernel did not start"
    yield k
    k.shutdown()
