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
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import gc
import itertools
import json
import keyword
import math
import os
import re
import sys
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from gradviz import safe_io
from gradviz.safe_io import FileError
from gradviz.views import grad_of

if TYPE_CHECKING:
    from gradviz.workspace import Workspace

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

FORMAT = "gradviz-session"
SCHEMA = 2
#: the tensors of one session together, in bytes: saving refuses more, loading too
MAX_TENSOR_BYTES = 8 * 2**30
#: an old (schema 1) JSON session file, and the manifest of a zip one
MAX_JSON_BYTES = 2**30
MAX_NDIM = 64
#: tensors of at least this many bytes get a member of their own
OWN_MEMBER_BYTES = 2**20
_DTYPES = ("float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool")
_NP = {n: np.dtype(n) for n in _DTYPES}
_LE = {d: d.newbyteorder("<") for d in _NP.values()}
_NAME = {d: n for n, d in _NP.items()}
_LITTLE = sys.byteorder == "little"
_RESERVED = ("torch", "engine", "np")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_CHUNK = 16 * 2**20


class SessionFileError(FileError):
    """A session gradviz cannot open or save; the message is one sentence naming the path (or,
    raised before a path is known, the reason alone)."""


@dataclass(eq=False)
class TensorState:
    """A tensor by value: ``value`` is an array of one of the engine's dtypes. ``is_leaf`` is
    False for a tensor that code computed (its ``grad_fn`` name is kept, its graph is not)."""

    name: str
    value: np.ndarray
    requires_grad: bool = False
    grad: np.ndarray | None = None
    is_leaf: bool = True
    grad_fn: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TensorState):
            return NotImplemented
        return (self.name == other.name and self.requires_grad == other.requires_grad
                and self.is_leaf == other.is_leaf and self.grad_fn == other.grad_fn
                and _same(self.value, other.value) and
                (self.grad is None) == (other.grad is None)
                and (self.grad is None or _same(self.grad, other.grad)))


def _same(a: np.ndarray, b: np.ndarray | None) -> bool:
    return (b is not None and a.dtype == b.dtype and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a restored variable, or None."""
    if (not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_")
            or name in _RESERVED):
        return f"the name {name!r}, which is not a usable variable name"
    return None


@dataclass
class SessionState:
    """What a session file holds: the code, the tensors' values and the GUI's view state."""

    cells: list[str] = field(default_factory=list)
    editor_text: str = ""
    tensors: list[TensorState] = field(default_factory=list)
    view: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        """The code editor's text (alias of ``editor_text``)."""
        return self.editor_text

    @property
    def leaves(self) -> list[TensorState]:
        """The leaf tensors: what :meth:`apply_to` puts back."""
        return [t for t in self.tensors if t.is_leaf]

    @property
    def computed(self) -> list[TensorState]:
        """The tensors code computed: back (with their graphs) once the cells run again."""
        return [t for t in self.tensors if not t.is_leaf]

    @property
    def can_rerun(self) -> bool:
        """True when there are cells whose re-run rebuilds the graphs ("Re-run cells")."""
        return bool(self.cells)

    @classmethod
    def from_session(cls, session: Workspace, editor_text: str = "",
                     view: dict[str, Any] | None = None) -> SessionState:
        """Capture a :class:`~gradviz.session.Session` (or a window's view of a kernel's): its
        code history and every named tensor by value, each marked leaf or computed. Names a
        restored workspace could not use (``torch``, ``_x``) are left out. Raises
        :class:`SessionFileError` if a tensor's values are not all there (a window's view of a
        large kernel tensor holds only its first values: save from the kernel then)."""
        tensors = []
        for info in session.tensors():
            if _name_problem(info.name):
                continue
            t = info.tensor
            value = np.array(t.numpy(force=True), copy=True)
            shape = tuple(int(s) for s in t.shape)
            if value.shape != shape:
                if value.size != math.prod(shape):
                    raise SessionFileError(
                        f"tensor {info.name!r} has {math.prod(shape):,} values but only "
                        f"{value.size:,} reached the window; save it from the kernel")
                value = value.reshape(shape)
            fn = t.grad_fn
            fn_name = None
            if fn is not None:
                named = getattr(fn, "name", None)
                fn_name = str(named() if callable(named) else type(fn).__name__)
            g = grad_of(t)
            grad = None if g is None else np.array(g.numpy(force=True), copy=True)
            if grad is not None and grad.shape != value.shape:
                grad = grad.reshape(value.shape) if grad.size == value.size else None
            tensors.append(TensorState(info.name, value, bool(t.requires_grad), grad,
                                       fn is None, fn_name))
        return cls(list(session.history), editor_text, tensors, dict(view or {}))

    def apply_to(self, session: Workspace, computed: bool = False) -> None:
        """Replace ``session``'s workspace with this state: leaf tensors by value (with
        ``requires_grad`` and ``grad``) and the code history as text. Nothing is executed, so
        computed tensors are back only once the cells run again; with ``computed=True`` their
        values come back too, as plain tensors without a graph."""
        import engine

        built = {}
        for ts in self.tensors:  # build everything first: a failure leaves the session as is
            if not ts.is_leaf and not computed:
                continue
            rg = ts.requires_grad and ts.is_leaf
            t = engine.tensor(np.array(ts.value, copy=True), requires_grad=rg)
            if ts.grad is not None and ts.is_leaf:
                t.grad = engine.tensor(np.array(ts.grad, copy=True))
            built[ts.name] = t
        session.clear()
        session.history.extend(self.cells)
        session.namespace.update(built)
        session._notify("code")
        session._notify("tensors")


def capture(session: Workspace, code: str = "", view: dict[str, Any] | None = None) -> SessionState:
    """The state to save for ``session``, with the editor's ``code`` and the GUI's ``view``."""
    return SessionState.from_session(session, code, view)


# --------------------------------------------------------------------------- writing
def _little(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))


def _bytes_of(a: np.ndarray) -> memoryview:
    return memoryview(_little(a).reshape(-1).view(np.uint8))


def _compressible(sample: memoryview) -> bool:
    """Deflate a member only when its first bytes shrink to well under their size."""
    head = bytes(sample[:65536])
    return len(head) >= 4096 and len(zlib.compress(head, 1)) < 0.6 * len(head)


def _check_saveable(state: SessionState) -> list[tuple[TensorState, np.ndarray,
                                                      np.ndarray | None]]:
    out = []
    seen: set[str] = set()
    total = 0
    for t in state.tensors:
        if not isinstance(t.name, str):
            raise SessionFileError(f"a tensor has the name {t.name!r}, which is not text")
        problem = _name_problem(t.name)
        if problem:
            raise SessionFileError(f"a tensor has {problem}")
        if t.name in seen:
            raise SessionFileError(f"two tensors are named {t.name!r}")
        seen.add(t.name)
        a = np.asarray(t.value)
        if a.dtype not in _NAME and a.dtype.name not in _DTYPES:
            raise SessionFileError(f"tensor {t.name!r} has the dtype {a.dtype}, which a "
                                   "session cannot hold")
        if a.ndim > MAX_NDIM:
            raise SessionFileError(f"tensor {t.name!r} has {a.ndim} dimensions (at most "
                                   f"{MAX_NDIM})")
        g = None
        if t.grad is not None:
            g = np.asarray(t.grad, a.dtype)
            if g.shape != a.shape:
                raise SessionFileError(f"tensor {t.name!r} has a grad of shape {list(g.shape)} "
                                       f"for its shape {list(a.shape)}")
        total += a.nbytes + (0 if g is None else g.nbytes)
        out.append((t, a, g))
    if total > MAX_TENSOR_BYTES:
        raise SessionFileError(f"its tensors hold {safe_io.human_size(total)}, more than a "
                               f"session gradviz can reopen "
                               f"({safe_io.human_size(MAX_TENSOR_BYTES)})")
    for i, c in enumerate(state.cells):
        if not isinstance(c, str):
            raise SessionFileError(f"cell {i} is not text")
    if not isinstance(state.editor_text, str):
        raise SessionFileError("the editor text is not text")
    return out


def _manifest(state: SessionState, checked: list) -> tuple[dict[str, Any], list, list]:
    """The manifest, the arrays of pack.bin, and the (member, array) of own members."""
    from gradviz import __version__

    entries = []
    pack: list[np.ndarray] = []
    own: list[tuple[str, np.ndarray]] = []
    offset = 0

    def ref(a: np.ndarray) -> list[Any]:
        nonlocal offset
        if a.nbytes >= OWN_MEMBER_BYTES:
            member = f"arrays/{len(own)}.npy"
            own.append((member, a))
            return [member]
        pack.append(a)
        r = ["pack.bin", offset, a.nbytes]
        offset += a.nbytes
        return r

    for t, a, g in checked:
        e: dict[str, Any] = {"name": t.name, "dtype": _NAME.get(a.dtype) or a.dtype.name,
                             "shape": list(a.shape),
                             "requires_grad": bool(t.requires_grad), "leaf": bool(t.is_leaf)}
        if t.grad_fn is not None:
            e["grad_fn"] = str(t.grad_fn)
        e["data"] = ref(a)
        e["grad"] = None if g is None else ref(g)
        entries.append(e)
    doc = {"format": FORMAT, "schema": SCHEMA, "app": f"gradviz {__version__}",
           "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "cells": list(state.cells), "editor_text": state.editor_text,
           "view": state.view, "tensors": entries}
    return doc, pack, own


def _raw(a: np.ndarray) -> bytes:
    """The array's bytes in C order, little-endian."""
    if _LITTLE and a.dtype.byteorder in "=|<":
        return a.tobytes()
    return _little(a).tobytes()


def _pack_chunks(arrays: list[np.ndarray]) -> Iterator[memoryview]:
    """The small arrays' bytes, joined into chunks of about 16 MB (few writes, bounded
    memory)."""
    batch: list[bytes] = []
    size = 0
    for a in arrays:
        batch.append(_raw(a))
        size += a.nbytes
        if size >= _CHUNK:
            yield memoryview(b"".join(batch))
            batch, size = [], 0
    if batch:
        yield memoryview(b"".join(batch))


def _write_member(zf: zipfile.ZipFile, name: str, parts: Any, header: bytes = b"",
                  size: int = 0) -> None:
    """Write a member from ``parts`` (an iterable of buffers, ``size`` bytes together)."""
    parts = iter(parts)
    first = next(parts, memoryview(b""))
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    if _compressible(memoryview(header + bytes(first[:65536]))):
        info.compress_type = zipfile.ZIP_DEFLATED
        level = "compress_level" if sys.version_info >= (3, 13) else "_compresslevel"
        setattr(info, level, 1)
    with zf.open(info, "w", force_zip64=size + len(header) >= 2**31 - 2**20) as f:
        if header:
            f.write(header)
        for p in itertools.chain([first], parts):
            for i in range(0, p.nbytes, _CHUNK):
                f.write(p[i:i + _CHUNK])


def _npy_header(a: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    d = np.lib.format.header_data_from_array_1_0(_little(a))
    d["fortran_order"] = False
    np.lib.format.write_array_header_2_0(buf, d)
    return buf.getvalue()


def _write_zip(f: IO[bytes], manifest: bytes, pack: list, own: list) -> None:
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        zf.writestr(zipfile.ZipInfo("manifest.json", date_time=time.localtime()[:6]),
                    manifest, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
        if pack:
            _write_member(zf, "pack.bin", _pack_chunks(pack), size=sum(a.nbytes for a in pack))
        for member, a in own:
            _write_member(zf, member, [_bytes_of(a)], _npy_header(a), a.nbytes)


def _save(path: str | os.PathLike[str], state: SessionState, action: str = "save") -> Path:
    gc_was_on = gc.isenabled()
    gc.disable()  # see load_session
    try:
        return _save_now(path, state, action)
    finally:
        if gc_was_on:
            gc.enable()


def _save_now(path: str | os.PathLike[str], state: SessionState, action: str) -> Path:
    try:
        checked = _check_saveable(state)
        doc, pack, own = _manifest(state, checked)
        manifest = json.dumps(doc, ensure_ascii=True, allow_nan=False,  # before the disk
                              separators=(",", ":")).encode("ascii")
    except SessionFileError as e:
        raise SessionFileError(f"cannot {action} {os.fspath(path)}: {e.reason}", path,
                               e.reason) from None
    except (TypeError, ValueError) as e:
        reason = f"the session cannot be saved ({e})"
        raise SessionFileError(f"cannot {action} {os.fspath(path)}: {reason}", path,
                               reason) from None
    try:
        with safe_io.atomic_write(path, action) as f:
            _write_zip(f, manifest, pack, own)
    except SessionFileError:
        raise
    except FileError as e:
        raise SessionFileError(str(e), path, e.reason) from None
    return Path(path)


def write_autosave_file(path: str | os.PathLike[str], state: SessionState) -> Path:
    """Write ``state`` to an autosave ``path`` (an :class:`Autosave`'s, which a user's save
    refuses), atomically."""
    return _save(path, state, "write the automatic save")


def save_session(path: str | os.PathLike[str], state: SessionState) -> Path:
    """Write ``state`` to ``path`` atomically (a temporary file beside it, flushed to disk,
    then renamed over it), so a failure or a crash never leaves a half-written session. Raises
    :class:`SessionFileError` naming ``path`` for what cannot be saved or written (nothing is
    written then), and for an autosave file: a user's save never goes into an autosave."""
    if is_autosave(path):
        reason = ("it is gradviz's automatic save, which is deleted when its window closes; "
                  "save the session under another name")
        raise SessionFileError(f"cannot save {os.fspath(path)}: {reason}", path, reason)
    return _save(path, state)


# --------------------------------------------------------------------------- reading
class _Bad(Exception):
    """Why a file is refused (load_session adds the path)."""


def _refuse_constant(name: str) -> Any:
    raise _Bad(f"the file contains {name}, which is not standard JSON")


def _type_name(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false",
            type(None): "null", int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def _expect(v: Any, kind: type, what: str) -> Any:
    if not isinstance(v, kind) or (kind is not bool and isinstance(v, bool)):
        want = {dict: "an object", list: "a list", str: "text", bool: "true or false"}[kind]
        raise _Bad(f"{what} must be {want}, not {_type_name(v)}")
    return v


def _shape(v: Any, what: str) -> tuple[int, ...]:
    _expect(v, list, f"{what} shape")
    if len(v) > MAX_NDIM:
        raise _Bad(f"{what} has {len(v)} dimensions (at most {MAX_NDIM})")
    for s in v:
        if type(s) is not int:
            if isinstance(s, float) and not math.isfinite(s):
                raise _Bad(f"{what} has a non-finite size in its shape")
            raise _Bad(f"{what} shape must be non-negative integers, not {v}")
        if s < 0:
            raise _Bad(f"{what} shape must be non-negative integers, not {v}")
        if s >= 2**63:
            raise _Bad(f"{what} has a dimension of {s}, larger than any tensor can have")
    n = math.prod(v)
    if n >= 2**63:
        raise _Bad(f"{what} has a shape of {n:.3g} elements, more than any tensor can have")
    return tuple(v)


class _Arrays:
    """Reads the data of one session file's tensors: base64 text (schema 1) or zip members."""

    def __init__(self, zf: zipfile.ZipFile | None = None) -> None:
        self.zf = zf
        self.members = {i.filename: i for i in zf.infolist()} if zf is not None else {}
        self.pack: bytearray | None = None
        self.total = 0

    def size(self, v: Any, dtype: np.dtype, shape: tuple[int, ...], what: str) -> None:
        """Check a reference's sizes before anything is read (nothing big is allocated for a
        file that lies about its contents)."""
        want = math.prod(shape) * dtype.itemsize
        self.total += want
        if self.total > MAX_TENSOR_BYTES:
            raise _Bad(f"its tensors hold more than a session gradviz opens "
                       f"({safe_io.human_size(MAX_TENSOR_BYTES)})")
        if isinstance(v, str):
            if self.zf is not None:
                raise _Bad(f"{what} must be a reference to a member of the archive")
            if len(v) % 4 == 0:  # else not base64: read() says so
                have = len(v) // 4 * 3 - (2 if v.endswith("==") else v.endswith("="))
                if have != want:
                    raise _Bad(f"{what} holds {have} bytes, but shape {list(shape)} of "
                               f"{dtype.name} needs {want}")
            return
        if self.zf is None or not isinstance(v, list) or not v or not isinstance(v[0], str):
            raise _Bad(f"{what} must be text" if self.zf is None else
                       f"{what} must be a reference to a member of the archive")
        info = self.members.get(v[0])
        if info is None:
            raise _Bad(f"{what} is in {v[0]!r}, which the archive does not hold (damaged?)")
        if len(v) == 3:
            off, n = v[1], v[2]
            if (type(off) is not int or type(n) is not int or off < 0 or n != want
                    or off + n > info.file_size):
                raise _Bad(f"{what} does not fit in {v[0]} (shape {list(shape)} of "
                           f"{dtype.name} needs {want} bytes; damaged?)")
        elif len(v) == 1:
            if not 0 <= info.file_size - want <= 2**16 + 16:
                raise _Bad(f"{what}: {v[0]} holds {info.file_size} bytes, but shape "
                           f"{list(shape)} of {dtype.name} needs {want}")
        else:
            raise _Bad(f"{what} is not a valid reference")

    def read(self, v: Any, dtype: np.dtype, shape: tuple[int, ...], what: str) -> np.ndarray:
        le = _LE[dtype]
        if isinstance(v, str):
            try:
                raw = base64.b64decode(v.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                raise _Bad(f"{what} is not valid base64 data") from None
            want = math.prod(shape) * dtype.itemsize
            if len(raw) != want:
                raise _Bad(f"{what} holds {len(raw)} bytes, but shape {list(shape)} of "
                           f"{dtype.name} needs {want}")
            return np.frombuffer(raw, dtype=le).astype(dtype).reshape(shape)
        assert self.zf is not None
        if math.prod(shape) == 0:
            return np.empty(shape, dtype)
        if len(v) == 3:
            if self.pack is None:
                self.pack = self._member(v[0])
            a = np.frombuffer(self.pack, le, v[2] // dtype.itemsize, v[1]).reshape(shape)
            return a if _LITTLE else a.astype(dtype)
        with self.zf.open(v[0]) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                hshape, fortran, hdtype = np.lib.format.read_array_header_1_0(f)
            else:
                hshape, fortran, hdtype = np.lib.format.read_array_header_2_0(f)
            if tuple(hshape) != shape or fortran or hdtype.newbyteorder("<") != le:
                raise _Bad(f"{what}: {v[0]} holds an array of another shape or dtype")
            out = np.empty(shape, dtype)
            _readinto(f, memoryview(out.reshape(-1).view(np.uint8)), v[0])
        if not _LITTLE:  # a big-endian machine: the bytes read were little-endian
            out = out.view(le).astype(dtype)
        return out

    def _member(self, name: str) -> bytearray:
        assert self.zf is not None
        buf = bytearray(self.members[name].file_size)
        with self.zf.open(name) as f:
            _readinto(f, memoryview(buf), name)
        return buf


def _readinto(f: IO[bytes], view: memoryview, name: str) -> None:
    pos = 0
    while pos < view.nbytes:
        chunk = f.read(min(_CHUNK, view.nbytes - pos))
        if not chunk:
            raise _Bad(f"the archive member {name} is shorter than it says (damaged?)")
        view[pos:pos + len(chunk)] = chunk
        pos += len(chunk)


def _tensor_entry(v: Any, i: int, arrays: _Arrays) -> tuple[Any, ...]:
    if type(v) is not dict:
        raise _Bad(f"tensor {i} must be an object, not {_type_name(v)}")
    name = v.get("name")
    if type(name) is not str:
        _expect(name, str, f"tensor {i} name")
    problem = _name_problem(name)
    if problem:
        raise _Bad(f"tensor {i} has {problem}")
    what = f"tensor {name!r}"
    dtype_name = v.get("dtype")
    if dtype_name not in _DTYPES:
        _expect(dtype_name, str, f"{what} dtype")
        raise _Bad(f"{what} has the unknown dtype {dtype_name!r}")
    dtype = _NP[dtype_name]
    shape = _shape(v.get("shape"), what)
    rg = v.get("requires_grad", False)
    leaf = v.get("leaf", True)
    if type(rg) is not bool:
        _expect(rg, bool, f"{what} requires_grad")
    if type(leaf) is not bool:
        _expect(leaf, bool, f"{what} leaf")
    fn = v.get("grad_fn")
    if fn is not None and type(fn) is not str:
        _expect(fn, str, f"{what} grad_fn")
    if rg and dtype.kind != "f":
        raise _Bad(f"{what} requires grad but has the integer dtype {dtype_name}")
    data = v.get("data")
    arrays.size(data, dtype, shape, f"{what} data")
    grad = v.get("grad")
    if grad is not None:
        if dtype.kind != "f":
            raise _Bad(f"{what} has a grad but the integer dtype {dtype_name}")
        arrays.size(grad, dtype, shape, f"{what} grad")
    return name, dtype, shape, data, rg, grad, leaf, fn, what


def _parse_json(text: str | bytes, what: str = "the file") -> dict[str, Any]:
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        if e.pos >= len(e.doc.rstrip()) or e.msg.startswith("Unterminated string"):
            raise _Bad(f"{what} is truncated: it ends in the middle of the session (an "
                       "interrupted save or copy?)") from None
        raise _Bad(f"it is not a gradviz session: not valid JSON (line {e.lineno}, "
                   f"column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise _Bad("it is not a gradviz session: the JSON is nested too deeply") from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        msg = str(e).split(";")[0]
        raise _Bad(f"it is not a gradviz session it can read: {msg}") from None
    if not isinstance(doc, dict):
        raise _Bad(f"it is not a gradviz session: the JSON is {_type_name(doc)}, not an "
                   "object")
    return doc


def _state(doc: dict[str, Any], arrays: _Arrays) -> SessionState:
    fmt = doc.get("format")
    if fmt != FORMAT:
        if "nbformat" in doc and "cells" in doc:
            raise _Bad("this is a Jupyter notebook, not a gradviz session: open it as a "
                       "notebook (lesson panel, Open notebook)")
        if fmt is None:
            raise _Bad("it is not a gradviz session: the file has no \"format\" field")
        raise _Bad(f"it is not a gradviz session: the format is {fmt!r}, not {FORMAT!r}")
    schema = doc.get("schema")
    if type(schema) is not int or schema < 1:
        raise _Bad(f"unknown schema version {schema!r} (this gradviz reads schema {SCHEMA})")
    if schema > SCHEMA:
        raise _Bad(f"the file has schema version {schema}, written by a newer gradviz; this "
                   f"version reads schema {SCHEMA}: please update")
    cells = _expect(doc.get("cells", []), list, "cells")
    for i, c in enumerate(cells):
        if type(c) is not str:
            _expect(c, str, f"cell {i}")
    editor = _expect(doc.get("editor_text", ""), str, "editor_text")
    view = _expect(doc.get("view", {}), dict, "view")
    raw = _expect(doc.get("tensors", []), list, "tensors")
    entries = [_tensor_entry(t, i, arrays) for i, t in enumerate(raw)]
    seen: set[str] = set()
    for e in entries:
        if e[0] in seen:
            raise _Bad(f"two tensors are named {e[0]!r}")
        seen.add(e[0])
    tensors = []
    for name, dtype, shape, data, rg, grad, leaf, fn, what in entries:
        value = arrays.read(data, dtype, shape, f"{what} data")
        g = None if grad is None else arrays.read(grad, dtype, shape, f"{what} grad")
        tensors.append(TensorState(name, value, rg, g, leaf, fn))
    return SessionState(list(cells), editor, tensors, view)


def _load_zip(f: IO[bytes]) -> SessionState:
    try:
        zf = zipfile.ZipFile(f)
    except zipfile.BadZipFile:
        raise _Bad("the file is truncated or damaged: its zip directory is missing (an "
                   "interrupted save or copy?)") from None
    with zf:
        info = next((i for i in zf.infolist() if i.filename == "manifest.json"), None)
        if info is None:
            raise _Bad("it is a zip archive but not a gradviz session (no manifest.json)")
        if info.file_size > MAX_JSON_BYTES:
            raise _Bad(f"its manifest is {safe_io.human_size(info.file_size)}, larger than "
                       f"gradviz opens ({safe_io.human_size(MAX_JSON_BYTES)})")
        try:
            try:
                manifest = zf.read(info).decode("utf-8")
            except UnicodeDecodeError:
                raise _Bad("its manifest is not valid JSON (not UTF-8 text)") from None
            return _state(_parse_json(manifest, "the manifest"), _Arrays(zf))
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise _Bad(f"the file is damaged ({e})") from None
        except NotImplementedError as e:
            raise _Bad(f"it uses a zip feature gradviz does not read ({e})") from None
        except RuntimeError as e:  # an encrypted member
            raise _Bad(f"it cannot be read ({e})") from None


def load_session(path: str | os.PathLike[str]) -> SessionState:
    """Read a ``.gradviz`` file (a zip archive, or the JSON of schema 1). Never runs code,
    never blocks on a FIFO or device, linear in the file's size. Raises
    :class:`SessionFileError`, one sentence naming ``path``, for anything that is not a
    complete, sane session file."""
    gc_was_on = gc.isenabled()
    gc.disable()  # the many small objects of a large session would trigger it again and again
    try:
        return _load(path)
    finally:
        if gc_was_on:
            gc.enable()


def _load(path: str | os.PathLike[str]) -> SessionState:
    try:
        with safe_io.open_regular(path, MAX_TENSOR_BYTES + 2 * MAX_JSON_BYTES) as f:
            try:
                head = f.read(4)
                if head in _ZIP_MAGIC:
                    f.seek(0)
                    return _load_zip(f)
                data = head + f.read(MAX_JSON_BYTES + 1 - len(head))
            except OSError as e:
                raise FileError(safe_io.describe_os_error(path, e)) from None
        if len(data) > MAX_JSON_BYTES:
            raise _Bad(f"it is a JSON session larger than gradviz opens "
                       f"({safe_io.human_size(MAX_JSON_BYTES)})")
        if not data or data.isspace():
            raise _Bad("the file is empty")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _Bad("it is not a gradviz session (neither a zip archive nor UTF-8 "
                       "JSON text)") from None
        return _state(_parse_json(text), _Arrays())
    except _Bad as e:
        reason = str(e)
        raise SessionFileError(f"cannot open {os.fspath(path)}: {reason}", path,
                               reason) from None
    except FileError as e:
        raise SessionFileError(str(e), path, e.reason) from None
    except MemoryError:
        reason = "there is not enough memory to hold its tensors"
        raise SessionFileError(f"cannot open {os.fspath(path)}: {reason}", path,
                               reason) from None


# --------------------------------------------------------------------------- settings
SETTINGS_DEFAULTS: dict[str, Any] = {"theme": "light", "font_scale": 1.0, "recent": []}
FONT_SCALE_RANGE = (0.5, 4.0)
MAX_RECENT = 10


def validate_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The settings with every bad value replaced by its default, and one warning sentence per
    replaced value (``theme=purple``, ``font_scale=abc``). Values come as the settings file
    gives them (often text); unknown keys are kept as they are."""
    from gradviz.theme import theme_names

    clean = dict(settings)
    warnings: list[str] = []

    def fallback(key: str, shown: Any, why: str) -> None:
        default = SETTINGS_DEFAULTS.get(key)
        clean[key] = list(default) if isinstance(default, list) else default
        text = str(shown)
        text = text if len(text) <= 40 else text[:37] + "..."
        use = f"using {default}" if key in SETTINGS_DEFAULTS else "ignoring it"
        warnings.append(f"The setting {key}={text} {why}; {use}.")

    for key, default in SETTINGS_DEFAULTS.items():
        if settings.get(key) is None:
            clean[key] = default if not isinstance(default, list) else list(default)
    theme = settings.get("theme")
    if theme is not None and theme not in theme_names():
        fallback("theme", theme, f"is not a theme gradviz has ({', '.join(theme_names())})")
    fs = settings.get("font_scale")
    if fs is not None:
        try:
            if isinstance(fs, bool):
                raise TypeError
            value = float(fs)
        except (TypeError, ValueError, OverflowError):
            fallback("font_scale", fs, "is not a number")
        else:
            lo, hi = FONT_SCALE_RANGE
            if not lo <= value <= hi:  # NaN fails too
                fallback("font_scale", fs, f"is outside {lo} to {hi}")
            else:
                clean["font_scale"] = value
    recent = settings.get("recent")
    if recent is not None:
        items = [recent] if isinstance(recent, str) else recent
        if not isinstance(items, (list, tuple)):
            fallback("recent", recent, "is not a list of files")
        else:
            good = [r for r in items if isinstance(r, str) and r and "\0" not in r]
            if len(good) != len(items):
                warnings.append(f"The recent files list held {len(items) - len(good)} "
                                "entries that are not file names; they were dropped.")
            clean["recent"] = list(dict.fromkeys(good))[:MAX_RECENT]
    for key in ("geometry", "state"):
        v = settings.get(key)
        if v is not None and not (isinstance(v, (bytes, bytearray, memoryview))
                                  or type(v).__name__ == "QByteArray"):
            clean.pop(key)
            warnings.append(f"The setting {key} is not saved window layout data; the default "
                            "layout is used.")
    return clean, warnings


# --------------------------------------------------------------------------- autosave
def state_dir() -> Path:
    """Where autosaves live: ``$GRADVIZ_STATE_DIR``, else ``~/.local/state/gradviz``."""
    env = os.environ.get("GRADVIZ_STATE_DIR")
    return Path(env) if env else Path.home() / ".local" / "state" / "gradviz"


_AUTOSAVE = re.compile(r"^autosave-(\d{1,12})-(\d{1,12})\.gradviz$")
_LEGACY_AUTOSAVE = "autosave.gradviz"
_LEGACY_MARKER = "running.pid"
_windows = itertools.count(1)


def _proc_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, Linux), to tell a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read(4096).rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _folder_error(d: Path, e: OSError) -> SessionFileError:
    reason = safe_io.describe_os_error(d, e).split(": ", 1)[1]
    return SessionFileError(f"cannot keep automatic saves in {d}: {reason}", d, reason)


def check_state_dir() -> str | None:
    """None if autosaves can be kept in :func:`state_dir`, else a sentence saying why not
    (the window shows it once: work is then not saved automatically)."""
    d = state_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        if not d.is_dir():
            raise NotADirectoryError(20, "not a folder")
        if not os.access(d, os.W_OK | os.X_OK):
            raise PermissionError(13, "permission denied")
    except OSError as e:
        return str(_folder_error(d, e)) + "; work is not saved automatically"
    return None


class Autosave:
    """One window's autosave: ``autosave-<pid>-<window>.gradviz`` and its marker
    ``autosave-<pid>-<window>.running`` in :func:`state_dir`. ``window`` defaults to a new
    number in this process, so every window gets files of its own."""

    def __init__(self, window: int | None = None) -> None:
        self.pid = os.getpid()
        self.window = next(_windows) if window is None else int(window)

    @property
    def path(self) -> Path:
        return state_dir() / f"autosave-{self.pid}-{self.window}.gradviz"

    @property
    def marker(self) -> Path:
        return self.path.with_suffix(".running")

    def mark_running(self) -> Path:
        """Write the marker saying this window runs (call at start, after
        :func:`find_recoveries`). Raises SessionFileError if the state folder is unusable."""
        d = state_dir()
        doc = {"pid": self.pid, "window": self.window, "started": time.time(),
               "proc_start": _proc_start(self.pid)}
        try:
            d.mkdir(parents=True, exist_ok=True)
            safe_io.write_text_atomic(self.marker, json.dumps(doc))
        except FileError as e:
            raise SessionFileError(f"cannot keep automatic saves in {d}: {e.reason}", d,
                                   e.reason) from None
        except OSError as e:
            raise _folder_error(d, e) from None
        return self.marker

    def write(self, state: SessionState) -> Path:
        """Save ``state`` as this window's autosave (atomically)."""
        if not self.marker.exists():
            self.mark_running()  # an autosave without its marker would look crashed
        return _save(self.path, state, "write the automatic save")

    def clear(self) -> None:
        """Remove this window's autosave (its marker stays while the window runs)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def mark_clean_exit(self) -> None:
        """This window closed normally: remove its autosave and marker (no one else's)."""
        self.clear()
        with contextlib.suppress(FileNotFoundError):
            self.marker.unlink()

    def adopt(self, recovered: str | os.PathLike[str]) -> Path:
        """Take a crashed window's autosave (from :func:`find_recoveries`) as this window's
        own, atomically: of two windows adopting the same file only one gets it, and until
        this window saves or closes it stays recoverable. Returns the path to open."""
        return adopt_recovery(recovered, self)


_default: dict[int, Autosave] = {}


def _window(window: int | Autosave | None) -> Autosave:
    if isinstance(window, Autosave):
        return window
    if window is not None:
        return Autosave(window)
    pid = os.getpid()
    if pid not in _default:
        _default[pid] = Autosave(0)
    return _default[pid]


def autosave_path(window: int | None = None) -> Path:
    """This process's autosave for ``window`` (default 0)."""
    return _window(window).path


def write_autosave(state: SessionState, window: int | None = None) -> Path:
    """Save ``state`` as the autosave of ``window`` (default 0) of this process."""
    return _window(window).write(state)


def clear_autosave(window: int | None = None) -> None:
    """Remove the autosave of ``window`` (default 0) of this process."""
    _window(window).clear()


def mark_running(window: int | None = None) -> Path:
    """Write the marker of ``window`` (default 0) of this process (see
    :meth:`Autosave.mark_running`)."""
    return _window(window).mark_running()


def mark_clean_exit(window: int | None = None) -> None:
    """``window`` (default 0) of this process ended normally: its autosave and marker go."""
    _window(window).mark_clean_exit()


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
    except OverflowError:
        return False
    try:  # a zombie (dead, not yet reaped) is not running
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _marker_alive(marker: Path) -> bool:
    """True when the window that wrote ``marker`` still runs (a reused pid does not count)."""
    try:
        doc = json.loads(safe_io.read_text(marker, 65536))
        pid = doc["pid"]
        if type(pid) is not int:
            raise TypeError
    except (FileError, ValueError, KeyError, TypeError):
        return False  # an unreadable marker: its writer did not finish cleanly either
    if not _pid_alive(pid):
        return False
    started = doc.get("proc_start")
    now = _proc_start(pid)
    return started is None or now is None or started == now


def find_recoveries() -> list[Path]:
    """The autosaves of windows that did not close cleanly (their process is gone), newest
    first: each is offered whatever other windows did. A running window's is not listed."""
    d = state_dir()
    try:
        names = set(os.listdir(d))
    except OSError:
        return []
    found = []
    for name in names:
        m = _AUTOSAVE.match(name)
        if m is None:
            continue
        marker = name[:-len(".gradviz")] + ".running"
        if marker in names and _marker_alive(d / marker):
            continue
        found.append(d / name)
    for name in names:  # markers of dead windows that never autosaved
        if name.endswith(".running") and name[:-len(".running")] + ".gradviz" not in names \
                and name.startswith("autosave-") and not _marker_alive(d / name):
            with contextlib.suppress(OSError):
                (d / name).unlink()
    if _LEGACY_AUTOSAVE in names and _LEGACY_MARKER in names:  # gradviz before per-window
        legacy = d / _LEGACY_MARKER
        try:
            pid = json.loads(safe_io.read_text(legacy, 65536))["pid"]
            dead = type(pid) is not int or (pid != os.getpid() and not _pid_alive(pid))
        except (FileError, ValueError, KeyError, TypeError):
            dead = True
        if dead:
            found.append(d / _LEGACY_AUTOSAVE)

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    return sorted(found, key=mtime, reverse=True)


def find_recovery() -> Path | None:
    """The newest autosave :func:`find_recoveries` lists, or None."""
    found = find_recoveries()
    return found[0] if found else None


def _marker_of(path: Path) -> Path:
    return path.with_name(_LEGACY_MARKER) if path.name == _LEGACY_AUTOSAVE else \
        path.with_suffix(".running")


def adopt_recovery(path: str | os.PathLike[str],
                   window: int | Autosave | None = None) -> Path:
    """Move a crashed window's autosave to be ``window``'s (default: window 0 of this
    process) and drop its marker; returns the new path to open. Raises SessionFileError if
    another window took it first."""
    src = Path(path)
    me = _window(window)
    had_marker = me.marker.exists()
    me.mark_running()
    try:
        if not src.is_file():
            raise FileNotFoundError(errno.ENOENT, "gone", str(src))
        os.rename(src, me.path)
    except OSError as e:
        if not had_marker:
            with contextlib.suppress(OSError):
                me.marker.unlink()
        if isinstance(e, FileNotFoundError):
            reason = "another window has recovered it already, or it was removed"
            raise SessionFileError(f"cannot recover {src}: {reason}", src, reason) from None
        raise SessionFileError(safe_io.describe_os_error(src, e, "recover"), src) from None
    with contextlib.suppress(OSError):
        _marker_of(src).unlink()
    return me.path


def discard_recovery(path: str | os.PathLike[str]) -> None:
    """Delete a crashed window's autosave and its marker (the user declined it)."""
    p = Path(path)
    for q in (p, _marker_of(p)):
        with contextlib.suppress(FileNotFoundError):
            q.unlink()


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
