"""Writing a session file: a zip of a manifest, ``pack.bin`` and ``.npy`` members, atomically."""

from __future__ import annotations

import gc
import itertools
import json
import os
import sys
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from gradviz import safe_io
from gradviz.safe_io import FileError
from gradviz.session_file import limits
from gradviz.session_file.limits import (
    _CHUNK,
    _DTYPES,
    _LITTLE,
    _NAME,
    FORMAT,
    MAX_NDIM,
    OWN_MEMBER_BYTES,
    SCHEMA,
    SessionFileError,
)
from gradviz.session_file.paths import is_autosave
from gradviz.session_file.state import SessionState, TensorState, _name_problem


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
    if total > limits.MAX_TENSOR_BYTES:
        raise SessionFileError(f"its tensors hold {safe_io.human_size(total)}, more than a "
                               f"session gradviz can reopen "
                               f"({safe_io.human_size(limits.MAX_TENSOR_BYTES)})")
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

