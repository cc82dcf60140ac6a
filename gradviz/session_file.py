"""``.gradviz`` session files: save and reopen a workspace, and recover it after a crash. No Qt.

A session file is JSON::

    {"format": "gradviz-session", "schema": 1, "app": "gradviz 0.1.0",
     "cells": [code that ran, in order], "editor_text": "...",
     "tensors": [{"name": "x", "dtype": "float32", "shape": [3], "data": "<base64>",
                  "requires_grad": true, "grad": "<base64>" | null}, ...],
     "view": {... layout and view state, as the GUI passes it ...}}

``data`` and ``grad`` hold the values in C order as little-endian bytes, base64-encoded (exact,
and NaN/inf survive). Only **leaf** tensors are stored, by value: tensors made by operations
(with a ``grad_fn``) come back only by running the code again, since their graph cannot be
stored. Loading never executes code; :meth:`SessionState.apply_to` puts the values and the code
history into a :class:`~gradviz.session.Session`.

Autosave: the app calls :func:`mark_running` at start, :func:`write_autosave` now and then, and
:func:`mark_clean_exit` on a normal exit. At the next start, :func:`find_recovery` returns the
autosave a crashed (or killed) session left behind.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "SCHEMA",
    "SessionFileError",
    "SessionState",
    "TensorState",
    "autosave_path",
    "capture",
    "clear_autosave",
    "find_recovery",
    "load_session",
    "mark_clean_exit",
    "mark_running",
    "save_session",
    "state_dir",
    "write_autosave",
]

FORMAT = "gradviz-session"
SCHEMA = 1
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_TENSOR_ELEMENTS = 10_000_000
MAX_NDIM = 32
_DTYPES = ("float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool")
_RESERVED = ("torch", "engine", "np")


class SessionFileError(ValueError):
    """A file that is not a session gradviz can open; the message says what is wrong."""


@dataclass(eq=False)
class TensorState:
    """A leaf tensor by value: ``value`` is an array of one of the engine's dtypes."""

    name: str
    value: np.ndarray
    requires_grad: bool = False
    grad: np.ndarray | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TensorState):
            return NotImplemented
        return (self.name == other.name and self.requires_grad == other.requires_grad
                and _same(self.value, other.value) and
                (self.grad is None) == (other.grad is None)
                and (self.grad is None or _same(self.grad, other.grad)))


def _same(a: np.ndarray, b: np.ndarray | None) -> bool:
    return (b is not None and a.dtype == b.dtype and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


@dataclass
class SessionState:
    """What a session file holds: the code, the leaf tensors' values and the GUI's view state."""

    cells: list[str] = field(default_factory=list)
    editor_text: str = ""
    tensors: list[TensorState] = field(default_factory=list)
    view: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        """The code editor's text (alias of ``editor_text``)."""
        return self.editor_text

    @classmethod
    def from_session(cls, session: Any, editor_text: str = "",
                     view: dict[str, Any] | None = None) -> SessionState:
        """Capture a :class:`~gradviz.session.Session`: its code history and leaf tensors."""
        tensors = []
        for info in session.tensors():
            t = info.tensor
            if t.grad_fn is not None:
                continue  # re-created only by re-running the code
            g = t._grad
            tensors.append(TensorState(info.name, np.array(t._data, copy=True),
                                       bool(t.requires_grad),
                                       None if g is None else np.array(g._data, copy=True)))
        return cls(list(session.history), editor_text, tensors, dict(view or {}))

    def apply_to(self, session: Any) -> None:
        """Replace ``session``'s workspace with this state: leaf tensors by value (with
        ``requires_grad`` and ``grad``) and the code history as text. Nothing is executed, so
        tensors that code computed (non-leaves) are back only once the code runs again."""
        import engine

        built = {}
        for ts in self.tensors:  # build everything first: a failure leaves the session as is
            t = engine.tensor(ts.value.copy(), requires_grad=ts.requires_grad)
            if ts.grad is not None:
                t.grad = engine.tensor(ts.grad.copy())
            built[ts.name] = t
        session.clear()
        session.history.extend(self.cells)
        session.namespace.update(built)
        session._notify("code")
        session._notify("tensors")


def capture(session: Any, code: str = "", view: dict[str, Any] | None = None) -> SessionState:
    """The state to save for ``session``, with the editor's ``code`` and the GUI's ``view``."""
    return SessionState.from_session(session, code, view)


# --------------------------------------------------------------------------- writing
def _encode(a: np.ndarray) -> str:
    le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return base64.b64encode(le.tobytes()).decode("ascii")


def _to_json(state: SessionState) -> dict[str, Any]:
    from gradviz import __version__

    tensors = []
    for t in state.tensors:
        a = np.asarray(t.value)
        if a.dtype.name not in _DTYPES:
            raise SessionFileError(f"tensor {t.name!r}: dtype {a.dtype} cannot be saved")
        tensors.append({"name": t.name, "dtype": a.dtype.name, "shape": list(a.shape),
                        "data": _encode(a), "requires_grad": bool(t.requires_grad),
                        "grad": None if t.grad is None else _encode(np.asarray(t.grad, a.dtype))})
    return {"format": FORMAT, "schema": SCHEMA, "app": f"gradviz {__version__}",
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "cells": list(state.cells), "editor_text": state.editor_text,
            "tensors": tensors, "view": state.view}


def save_session(path: str | Path, state: SessionState) -> Path:
    """Write ``state`` to ``path`` atomically: a temporary file in the same directory, flushed
    to disk, then renamed over ``path``, so a crash never leaves a half-written session."""
    path = Path(path)
    try:
        text = json.dumps(_to_json(state), ensure_ascii=False, allow_nan=False, indent=1)
    except (TypeError, ValueError) as e:
        raise SessionFileError(f"the session cannot be saved: {e}") from None
    data = text.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        with contextlib.suppress(OSError):
            dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    return path


# --------------------------------------------------------------------------- reading
def _refuse_constant(name: str) -> Any:
    raise SessionFileError(f"the file contains {name}, which is not standard JSON")


def _type_name(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false",
            type(None): "null", int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def _expect(v: Any, kind: type, what: str) -> Any:
    if not isinstance(v, kind) or (kind is not bool and isinstance(v, bool)):
        want = {dict: "an object", list: "a list", str: "text", bool: "true or false"}[kind]
        raise SessionFileError(f"{what} must be {want}, not {_type_name(v)}")
    return v


def _shape(v: Any, what: str) -> tuple[int, ...]:
    _expect(v, list, f"{what} shape")
    if len(v) > MAX_NDIM:
        raise SessionFileError(f"{what} has {len(v)} dimensions (at most {MAX_NDIM})")
    out = []
    for s in v:
        if isinstance(s, float) and not math.isfinite(s):
            raise SessionFileError(f"{what} has a non-finite size in its shape {v}")
        if not isinstance(s, int) or isinstance(s, bool) or s < 0:
            raise SessionFileError(f"{what} shape must be non-negative integers, not {v}")
        out.append(s)
    n = math.prod(out)
    if n > MAX_TENSOR_ELEMENTS:
        raise SessionFileError(f"{what} has {n:,} elements, more than gradviz opens "
                               f"({MAX_TENSOR_ELEMENTS:,})")
    return tuple(out)


def _decode(v: Any, dtype: np.dtype, shape: tuple[int, ...], what: str) -> np.ndarray:
    _expect(v, str, what)
    try:
        raw = base64.b64decode(v.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SessionFileError(f"{what} is not valid base64 data") from None
    want = math.prod(shape) * dtype.itemsize
    if len(raw) != want:
        raise SessionFileError(f"{what} holds {len(raw)} bytes, but shape {list(shape)} of "
                               f"{dtype.name} needs {want}")
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)


def _tensor(v: Any, i: int) -> TensorState:
    _expect(v, dict, f"tensor {i}")
    name = _expect(v.get("name"), str, f"tensor {i} name")
    what = f"tensor {name!r}"
    if not name.isidentifier() or name.startswith("_") or name in _RESERVED:
        raise SessionFileError(f"tensor {i} has the name {name!r}, which is not a usable "
                               "variable name")
    dtype_name = _expect(v.get("dtype"), str, f"{what} dtype")
    if dtype_name not in _DTYPES:
        raise SessionFileError(f"{what} has the unknown dtype {dtype_name!r}")
    dtype = np.dtype(np.bool_ if dtype_name == "bool" else dtype_name)
    shape = _shape(v.get("shape"), what)
    value = _decode(v.get("data"), dtype, shape, f"{what} data")
    rg = _expect(v.get("requires_grad", False), bool, f"{what} requires_grad")
    if rg and dtype.kind != "f":
        raise SessionFileError(f"{what} requires grad but has the integer dtype {dtype_name}")
    grad = v.get("grad")
    if grad is not None:
        if dtype.kind != "f":
            raise SessionFileError(f"{what} has a grad but the integer dtype {dtype_name}")
        grad = _decode(grad, dtype, shape, f"{what} grad")
    return TensorState(name, value, rg, grad)


def _parse(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        if e.pos >= len(text.rstrip()):
            raise SessionFileError("the file is truncated: it ends in the middle of the session "
                                   "(an interrupted save or copy?)") from None
        raise SessionFileError(f"not a gradviz session: not valid JSON (line {e.lineno}, "
                               f"column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise SessionFileError("not a gradviz session: the JSON is nested too deeply") from None
    if not isinstance(doc, dict):
        raise SessionFileError(f"not a gradviz session: the JSON is {_type_name(doc)}, not an "
                               "object")
    return doc


def _state(doc: dict[str, Any]) -> SessionState:
    fmt = doc.get("format")
    if fmt != FORMAT:
        if "nbformat" in doc and "cells" in doc:
            raise SessionFileError("this is a Jupyter notebook, not a gradviz session: open it "
                                   "as a notebook (lesson panel, Open notebook)")
        if fmt is None:
            raise SessionFileError("not a gradviz session: the file has no \"format\" field")
        raise SessionFileError(f"not a gradviz session: the format is {fmt!r}, not {FORMAT!r}")
    schema = doc.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise SessionFileError(f"unknown schema version {schema!r} (this gradviz reads schema "
                               f"{SCHEMA})")
    if schema > SCHEMA:
        raise SessionFileError(f"the file has schema version {schema}, written by a newer "
                               f"gradviz; this version reads schema {SCHEMA}: please update")
    if schema < 1:
        raise SessionFileError(f"unknown schema version {schema} (this gradviz reads schema "
                               f"{SCHEMA})")
    cells = _expect(doc.get("cells", []), list, "cells")
    for i, c in enumerate(cells):
        _expect(c, str, f"cell {i}")
    editor = _expect(doc.get("editor_text", ""), str, "editor_text")
    view = _expect(doc.get("view", {}), dict, "view")
    raw = _expect(doc.get("tensors", []), list, "tensors")
    tensors = [_tensor(t, i) for i, t in enumerate(raw)]
    names = [t.name for t in tensors]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise SessionFileError(f"two tensors are named {dup!r}")
    total = sum(t.value.size for t in tensors)
    if total > MAX_TENSOR_ELEMENTS:
        raise SessionFileError(f"the tensors hold {total:,} elements together, more than "
                               f"gradviz opens ({MAX_TENSOR_ELEMENTS:,})")
    return SessionState(list(cells), editor, tensors, view)


def load_session(path: str | Path) -> SessionState:
    """Read a ``.gradviz`` file. Never runs code. Raises :class:`SessionFileError` saying what
    is wrong for anything that is not a complete, sane session file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SessionFileError(f"the file is {size / 2**20:.0f} MB, larger than a session "
                                   f"gradviz opens ({MAX_FILE_BYTES // 2**20} MB)")
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SessionFileError(f"{path.name} does not exist") from None
    except IsADirectoryError:
        raise SessionFileError(f"{path.name} is a folder, not a session file") from None
    except PermissionError:
        raise SessionFileError(f"{path.name} cannot be read (permission denied)") from None
    if len(data) > MAX_FILE_BYTES:
        raise SessionFileError("the file is larger than a session gradviz opens "
                               f"({MAX_FILE_BYTES // 2**20} MB)")
    if not data.strip():
        raise SessionFileError("the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SessionFileError("not a gradviz session: the file is not UTF-8 text") from None
    return _state(_parse(text))


# --------------------------------------------------------------------------- autosave
def state_dir() -> Path:
    """Where autosave lives: ``$GRADVIZ_STATE_DIR``, else ``~/.local/state/gradviz``."""
    env = os.environ.get("GRADVIZ_STATE_DIR")
    return Path(env) if env else Path.home() / ".local" / "state" / "gradviz"


def autosave_path() -> Path:
    return state_dir() / "autosave.gradviz"


def _marker_path() -> Path:
    return state_dir() / "running.pid"


def write_autosave(state: SessionState) -> Path:
    """Save ``state`` as the autosave (atomically, like :func:`save_session`)."""
    p = autosave_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    return save_session(p, state)


def clear_autosave() -> None:
    """Remove the autosave (after a clean exit, or once it was recovered or declined)."""
    with contextlib.suppress(FileNotFoundError):
        autosave_path().unlink()


def mark_running() -> Path:
    """Write the marker saying a session runs in this process (call at start, after
    :func:`find_recovery`)."""
    p = _marker_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"pid": os.getpid(), "started": time.time()}), encoding="utf-8")
    return p


def mark_clean_exit() -> None:
    """Remove the marker and the autosave: this session ended normally."""
    clear_autosave()
    with contextlib.suppress(FileNotFoundError):
        _marker_path().unlink()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill would terminate the process on Windows
        import ctypes

        k32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        h = k32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not h:
            return False
        code = ctypes.c_ulong()
        try:
            return bool(k32.GetExitCodeProcess(h, ctypes.byref(code))) and code.value == 259
        finally:
            k32.CloseHandle(h)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (dead, not yet reaped) is not running
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def find_recovery() -> Path | None:
    """The autosave left by a session that did not exit cleanly (its marker is there but its
    process is gone), or None. A marker of a process still running (another window, or this
    one) is not a crash."""
    auto = autosave_path()
    marker = _marker_path()
    if not auto.is_file() or not marker.is_file():
        return None
    try:
        pid = json.loads(marker.read_text(encoding="utf-8"))["pid"]
        if not isinstance(pid, int):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        return auto  # an unreadable marker: its writer did not finish cleanly either
    if pid == os.getpid() or _pid_alive(pid):
        return None
    return auto
