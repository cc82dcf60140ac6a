"""Where autosaves live (:func:`state_dir`) and what they are named (:func:`is_autosave`)."""

from __future__ import annotations

import os
import re
from pathlib import Path


def state_dir() -> Path:
    """Where autosaves live: ``$GRADVIZ_STATE_DIR``, else ``~/.local/state/gradviz``."""
    env = os.environ.get("GRADVIZ_STATE_DIR")
    return Path(env) if env else Path.home() / ".local" / "state" / "gradviz"


_AUTOSAVE = re.compile(r"^autosave-(\d{1,12})-(\d{1,12})\.gradviz$")
_LEGACY_AUTOSAVE = "autosave.gradviz"


def is_autosave(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is an autosave file in :func:`state_dir` (any window's): Save must
    then ask for a new name instead of writing there."""
    p = Path(path)
    if not (_AUTOSAVE.match(p.name) or p.name == _LEGACY_AUTOSAVE):
        return False
    try:
        return os.path.samefile(p.parent, state_dir())
    except OSError:
        return os.path.abspath(p.parent) == os.path.abspath(state_dir())

