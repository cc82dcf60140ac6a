"""``.gradviz`` session files: save and reopen a workspace, and recover it after a crash. No Qt.

A session file (schema 2) is a zip archive::

    manifest.json     {"format": "gradviz-session", "schema": 2, "app": "gradviz 0.1.0",
                       "cells": [code that ran, in order], "editor_text": "...",
                       "view": {... layout and view state, as the GUI passes it ...},
                       "tensors": [{"name": "x", "dtype": "float32", "shape": [3],
                                    "requires_grad": true, "leaf": true, "grad_fn": null,
                                    "data": ["pack.bin", offset, nbytes] | ["arrays/0.npy"],
                                    "grad": null | (the same)}, ...]}
    pack.bin          the small tensors' bytes, one after the other (C order, little-endian)
    arrays/<k>.npy    each tensor of 1 MB or more, as a NumPy ``.npy`` file

Members whose bytes compress well are deflated; the others are stored. Files of schema 1 (one
JSON document, the same fields with ``data``/``grad`` as base64 text) are still read.

Every tensor is stored by value, with ``leaf`` telling whether it was a leaf: only leaves come
back into a workspace (:meth:`SessionState.apply_to`); the tensors that code computed come back
when the cells run again (:attr:`SessionState.cells`), since a graph cannot be stored. Loading
never executes code, reads every file without blocking (FIFOs and devices are refused) and is
linear in the file's size. Whatever :func:`save_session` writes, :func:`load_session` reads; a
session too large to reopen is refused when saving, in a sentence, and nothing is written.

Autosave: one autosave per window, ``autosave-<pid>-<window>.gradviz`` beside a marker
``autosave-<pid>-<window>.running`` in :func:`state_dir`. A window calls :meth:`Autosave.
mark_running` at start, :meth:`Autosave.write` now and then and :meth:`Autosave.mark_clean_exit`
on a normal close (which deletes only its own files). At the next start,
:func:`find_recoveries` lists the autosaves of every window whose process is gone. The
module-level functions (``write_autosave``, ``mark_running``...) act on this process's window 0.

The package: :mod:`.limits` (format, dtypes, size limits, the error), :mod:`.state` (what a
session holds), :mod:`.writing` and :mod:`.reading` (the file), :mod:`.settings` (the settings
file), :mod:`.paths` and :mod:`.autosave` (autosaves and recovery).
"""

from __future__ import annotations

from gradviz.session_file.autosave import (
    Autosave,
    adopt_recovery,
    autosave_path,
    check_state_dir,
    clear_autosave,
    discard_recovery,
    find_recoveries,
    find_recovery,
    mark_clean_exit,
    mark_running,
    write_autosave,
)
from gradviz.session_file.limits import (
    FORMAT,
    SCHEMA,
    SessionFileError,
)
from gradviz.session_file.limits import (
    MAX_JSON_BYTES as MAX_JSON_BYTES,
)
from gradviz.session_file.limits import (
    MAX_NDIM as MAX_NDIM,
)
from gradviz.session_file.limits import (
    MAX_TENSOR_BYTES as MAX_TENSOR_BYTES,
)
from gradviz.session_file.limits import (
    OWN_MEMBER_BYTES as OWN_MEMBER_BYTES,
)
from gradviz.session_file.paths import is_autosave, state_dir
from gradviz.session_file.reading import load_session
from gradviz.session_file.settings import (
    FONT_SCALE_RANGE as FONT_SCALE_RANGE,
)
from gradviz.session_file.settings import (
    MAX_RECENT as MAX_RECENT,
)
from gradviz.session_file.settings import (
    SETTINGS_DEFAULTS as SETTINGS_DEFAULTS,
)
from gradviz.session_file.settings import (
    validate_settings,
)
from gradviz.session_file.state import SessionState, TensorState, capture
from gradviz.session_file.writing import save_session
from gradviz.session_file.writing import write_autosave_file as write_autosave_file

__all__ = [
    "FORMAT",
    "SCHEMA",
    "Autosave",
    "SessionFileError",
    "SessionState",
    "TensorState",
    "adopt_recovery",
    "autosave_path",
    "capture",
    "check_state_dir",
    "clear_autosave",
    "discard_recovery",
    "find_recoveries",
    "find_recovery",
    "is_autosave",
    "load_session",
    "mark_clean_exit",
    "mark_running",
    "save_session",
    "state_dir",
    "validate_settings",
    "write_autosave",
]
