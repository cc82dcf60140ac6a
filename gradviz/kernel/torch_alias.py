"""``import torch`` (and ``torch.x``) resolve to the engine inside the kernel process."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec

__all__ = ["install"]


class _TorchAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``torch`` and ``torch.<sub>`` as ``engine`` and ``engine.<sub>``."""

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name != "torch" and not name.startswith("torch."):
            return None
        try:
            found = importlib.util.find_spec("engine" + name[len("torch"):])
        except ModuleNotFoundError:
            found = None
        if found is None:
            return None  # "No module named 'torch.xyz'", as a torch without it would say
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return importlib.import_module("engine" + spec.name[len("torch"):])

    def exec_module(self, module: ModuleType) -> None:
        return None


def install() -> None:
    """Put the alias first on ``sys.meta_path`` (idempotent); a real torch is never loaded."""
    if not any(isinstance(f, _TorchAlias) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchAlias())
    import engine

    sys.modules.setdefault("torch", engine)
