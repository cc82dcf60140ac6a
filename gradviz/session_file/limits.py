"""What a session file is: its format name, schema, dtypes and size limits, and its error.

:mod:`.writing` and :mod:`.reading` read the size limits as ``limits.MAX_...`` when called, so
that changing them here (as tests do) reaches both."""

from __future__ import annotations

import sys

import numpy as np

from gradviz.safe_io import FileError

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

