"""Reading a session file (a zip, or the old schema 1 JSON) without running code, all checked."""

from __future__ import annotations

import base64
import binascii
import gc
import json
import math
import os
import zipfile
import zlib
from typing import IO, Any

import numpy as np

from gradviz import safe_io
from gradviz.safe_io import FileError
from gradviz.session_file import limits
from gradviz.session_file.limits import (
    _CHUNK,
    _DTYPES,
    _LE,
    _LITTLE,
    _NP,
    _ZIP_MAGIC,
    FORMAT,
    MAX_NDIM,
    SCHEMA,
    SessionFileError,
)
from gradviz.session_file.state import SessionState, TensorState, _name_problem


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
        if self.total > limits.MAX_TENSOR_BYTES:
            raise _Bad(f"its tensors hold more than a session gradviz opens "
                       f"({safe_io.human_size(limits.MAX_TENSOR_BYTES)})")
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
        if info.file_size > limits.MAX_JSON_BYTES:
            raise _Bad(f"its manifest is {safe_io.human_size(info.file_size)}, larger than "
                       f"gradviz opens ({safe_io.human_size(limits.MAX_JSON_BYTES)})")
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
        with safe_io.open_regular(path, limits.MAX_TENSOR_BYTES + 2 * limits.MAX_JSON_BYTES) as f:
            try:
                head = f.read(4)
                if head in _ZIP_MAGIC:
                    f.seek(0)
                    return _load_zip(f)
                data = head + f.read(limits.MAX_JSON_BYTES + 1 - len(head))
            except OSError as e:
                raise FileError(safe_io.describe_os_error(path, e)) from None
        if len(data) > limits.MAX_JSON_BYTES:
            raise _Bad(f"it is a JSON session larger than gradviz opens "
                       f"({safe_io.human_size(limits.MAX_JSON_BYTES)})")
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

