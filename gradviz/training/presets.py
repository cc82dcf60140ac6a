"""The ready-made training loops (no Qt, no engine): lesson-like percent scripts in
``gradviz/assets/training/`` (``NN_key.py``: front matter with title, iterations, lr, speed,
log_loss; a markdown cell describing what to watch; the loop as code cells), loaded by key.

Front matter keys: ``title``, ``iterations``, ``lr`` (substituted as the variable ``lr``),
``speed`` (iterations per second when played), ``log_loss`` (the loss reads best on a log axis).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gradviz.notebook import parse_percent, read_front_matter

__all__ = ["Preset", "PRESETS", "PRESETS_DIR", "preset", "iter_presets", "load_preset"]

PRESETS_DIR = Path(__file__).resolve().parent.parent / "assets" / "training"
_NAME = re.compile(r"^\d+_(\w+)$")


@dataclass(frozen=True)
class Preset:
    """A ready-made training loop: ``key``, ``title``, ``code``, default ``iterations``,
    learning rate ``lr``, ``speed`` (iterations per second when played), whether the loss
    reads best on a log axis, and a one-line ``description``."""

    key: str
    title: str
    code: str
    iterations: int
    lr: float
    speed: float
    log_loss: bool = False
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


def load_preset(path: Path) -> Preset:
    """The preset in the percent script ``path`` (its key is the name after ``NN_``)."""
    text = path.read_text(encoding="utf-8")
    meta = read_front_matter(text)
    cells = parse_percent(text)
    code = "\n\n".join(c.source.strip("\n") for c in cells if c.kind == "code") + "\n"
    description = " ".join(" ".join(c.source.split()) for c in cells if c.kind == "markdown")
    m = _NAME.match(path.stem)
    key = m.group(1) if m else path.stem
    return Preset(key, meta.get("title", key), code, int(meta.get("iterations", 100)),
                  float(meta.get("lr", 0.01)), float(meta.get("speed", 10)),
                  meta.get("log_loss", "false").lower() == "true", description)


def _load_all(directory: Path = PRESETS_DIR) -> dict[str, Preset]:
    presets = (load_preset(p) for p in sorted(directory.glob("*.py")) if _NAME.match(p.stem))
    return {p.key: p for p in presets}


PRESETS: dict[str, Preset] = _load_all()


def preset(key: str) -> Preset:
    """The preset called ``key`` (seed, regression, mlp, manual)."""
    try:
        return PRESETS[key]
    except KeyError:
        raise KeyError(f"no preset {key!r}; choose one of {', '.join(PRESETS)}") from None


def iter_presets() -> Iterable[Preset]:
    """Every preset, in the files' order."""
    return PRESETS.values()
