""".gradviz files: save/load round trip, refusal of broken files, atomic writes, crash recovery."""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import engine
from gradviz import session_file as sf
from gradviz.session import Session
from gradviz.session_file import (
    SessionFileError,
    SessionState,
    TensorState,
    load_session,
    save_session,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def session() -> Session:
    s = Session()
    for code in ("x = torch.tensor([1.0, -2.5, 3.0], requires_grad=True)",
                 "y = (x * x).sum()", "y.backward()",
                 "n = torch.arange(6).reshape(2, 3)", "m = torch.tensor([True, False])",
                 "d = torch.tensor(float('nan'), dtype=torch.float64)",
                 "e = torch.zeros(0, 4)"):
        assert s.run(code).ok
    return s


def _snapshot(s: Session) -> list[tuple]:
    return [(i.name, i.tensor._id, i.tensor._data.tobytes(), repr(i.grad)) for i in s.tensors()]


def test_from_session_marks_leaves_and_keeps_the_cells(session):
    state = SessionState.from_session(session, "y = x + 1", {"zoom": 1.5})
    assert [t.name for t in state.tensors] == ["x", "y", "n", "m", "d", "e"]
    assert [t.name for t in state.leaves] == ["x", "n", "m", "d", "e"]
    y = state.tensors[1]
    assert not y.is_leaf and y.grad_fn == "SumBackward0" and float(y.value) == 16.25
    assert state.computed == [y] and state.can_rerun and state.cells[0].startswith("x = ")
    x = state.tensors[0]
    assert x.requires_grad and x.grad.tolist() == [2.0, -5.0, 6.0]
    assert state.cells == session.history and state.editor_text == "y = x + 1"
    assert sf.capture(session, code="y = x + 1", view={"zoom": 1.5}) == state
    assert state.code == "y = x + 1"


def test_save_then_load_gives_back_the_same_state(session, tmp_path):
    view = {"splitters": [200, 600], "graph": {"zoom": 1.25, "pos": {"n12": [0.5, -3]}},
            "theme": "dunkel – ü"}
    state = SessionState.from_session(session, "print(x)\n", view)
    p = save_session(tmp_path / "lesson.gradviz", state)
    with zipfile.ZipFile(p) as zf:
        doc = json.loads(zf.read("manifest.json"))
    assert doc["format"] == "gradviz-session" and doc["schema"] == 2
    assert doc["tensors"][0]["shape"] == [3] and doc["tensors"][0]["dtype"] == "float32"
    assert doc["tensors"][1]["leaf"] is False and doc["tensors"][1]["grad_fn"] == "SumBackward0"
    loaded = load_session(p)
    assert loaded == state
    assert [t.value.dtype.name for t in loaded.tensors] == ["float32", "float32", "int64",
                                                           "bool", "float64", "float32"]
    assert np.isnan(loaded.tensors[4].value) and loaded.tensors[5].value.shape == (0, 4)
    assert sorted(os.listdir(tmp_path)) == ["lesson.gradviz"]  # no temporary left behind


def test_apply_to_restores_leaves_by_value_and_code_text(session, tmp_path):
    p = save_session(tmp_path / "s.gradviz", SessionState.from_session(session))
    target = Session()
    target.run("old = torch.ones(1)")
    seen = []
    target.add_listener(seen.append)
    load_session(p).apply_to(target)
    assert "old" not in target.namespace and "y" not in target.namespace  # y: not a leaf
    x = target.get("x")
    assert repr(x) == "tensor([ 1.0000, -2.5000,  3.0000], requires_grad=True)"
    assert repr(x.grad) == "tensor([ 2., -5.,  6.])" and x.is_leaf
    assert target.get("n").dtype is engine.int64 and target.get("m").dtype is engine.bool
    assert target.history == session.history and {"code", "tensors"} <= set(seen)
    assert target.run("y = (x * x).sum()\ny.backward()\nx.grad").value_repr == (
        "tensor([  4., -10.,  12.])")  # the grad accumulates as in the original session


def test_save_refuses_what_json_cannot_hold_and_keeps_the_old_file(tmp_path):
    p = tmp_path / "s.gradviz"
    save_session(p, SessionState(cells=["a = 1"]))
    before = p.read_bytes()
    for view in ({"zoom": float("nan")}, {"obj": object()}):
        with pytest.raises(SessionFileError, match="cannot be saved"):
            save_session(p, SessionState(view=view))
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["s.gradviz"]


def test_save_is_atomic_when_the_rename_fails(tmp_path, monkeypatch):
    p = tmp_path / "s.gradviz"
    save_session(p, SessionState(cells=["a = 1"]))

    def broken(*_):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(SessionFileError) as info:
        save_session(p, SessionState(cells=["b = 2"]))
    assert str(info.value) == f"cannot save {p}: disk gone"
    monkeypatch.undo()
    assert load_session(p).cells == ["a = 1"] and os.listdir(tmp_path) == ["s.gradviz"]


# --------------------------------------------------------------------------- broken files
def _b64(a: np.ndarray) -> str:
    return base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode()


def _doc(**over) -> dict:
    doc = {"format": "gradviz-session", "schema": 1, "cells": ["x = torch.ones(2)"],
           "editor_text": "", "view": {},
           "tensors": [{"name": "x", "dtype": "float32", "shape": [2],
                        "data": _b64(np.ones(2, np.float32)), "requires_grad": False,
                        "grad": None}]}
    doc.update(over)
    return doc


def _tensor(**over) -> dict:
    t = dict(_doc()["tensors"][0])
    t.update(over)
    return t


def _valid_text() -> str:
    return json.dumps(_doc(), indent=1)


BROKEN: list[tuple[str, object, str]] = [
    ("not json", "this is not JSON", "not valid JSON (line 1, column 1"),
    ("truncated", _valid_text()[:150], "truncated"),
    ("empty", "  \n", "the file is empty"),
    ("binary", b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "neither a zip archive nor UTF-8"),
    ("5000-digit integer", '{"format": "gradviz-session", "schema": ' + "7" * 5000 + "}",
     "Exceeds the limit (4300 digits)"),
    ("2**70 dimension", _doc(tensors=[_tensor(shape=[2**70])]),
     "a dimension of 1180591620717411303424, larger than any tensor can have"),
    ("top-level list", "[1, 2, 3]", "the JSON is a list, not an object"),
    ("nested too deeply", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("NaN constant", _valid_text().replace('"view": {}', '"view": {"z": NaN}'),
     "contains NaN, which is not standard JSON"),
    ("foreign format", _doc(format="excalidraw"), "the format is 'excalidraw'"),
    ("no format", {"schema": 1, "cells": []}, 'no "format" field'),
    ("a notebook", {"cells": [], "nbformat": 4, "metadata": {}}, "this is a Jupyter notebook"),
    ("newer schema", _doc(schema=3), "schema version 3, written by a newer gradviz"),
    ("schema as text", _doc(schema="1"), "unknown schema version '1'"),
    ("schema zero", _doc(schema=0), "unknown schema version 0"),
    ("cells not a list", _doc(cells="x = 1"), "cells must be a list, not text"),
    ("cell not text", _doc(cells=["a = 1", 5]), "cell 1 must be text, not a number"),
    ("view not an object", _doc(view=[1]), "view must be an object, not a list"),
    ("tensors not a list", _doc(tensors={"x": 1}), "tensors must be a list, not an object"),
    ("tensor not an object", _doc(tensors=[3]), "tensor 0 must be an object"),
    ("bad name", _doc(tensors=[_tensor(name="1x")]), "the name '1x', which is not a usable"),
    ("reserved name", _doc(tensors=[_tensor(name="torch")]), "the name 'torch'"),
    ("dunder name", _doc(tensors=[_tensor(name="__class__")]), "the name '__class__'"),
    ("duplicate names", _doc(tensors=[_tensor(), _tensor()]), "two tensors are named 'x'"),
    ("unknown dtype", _doc(tensors=[_tensor(dtype="complex64")]), "unknown dtype 'complex64'"),
    ("infinite shape", _valid_text().replace('"shape": [\n    2\n   ]', '"shape": [1e400]'),
     "non-finite size in its shape"),
    ("negative shape", _doc(tensors=[_tensor(shape=[-2])]), "non-negative integers"),
    ("fractional shape", _doc(tensors=[_tensor(shape=[2.5])]), "non-negative integers"),
    ("boolean shape", _doc(tensors=[_tensor(shape=[True, 2])]), "non-negative integers"),
    ("shape not a list", _doc(tensors=[_tensor(shape=2)]), "shape must be a list"),
    ("too many dims", _doc(tensors=[_tensor(shape=[1] * 70)]), "70 dimensions"),
    ("absurd tensor", _doc(tensors=[_tensor(shape=[100_000, 100_000])]),
     "its tensors hold more than a session gradviz opens (8.0 GB)"),
    ("absurd product", _doc(tensors=[_tensor(shape=[2**40, 2**40])]),
     "more than any tensor can have"),
    ("data length", _doc(tensors=[_tensor(shape=[3])]), "holds 8 bytes, but shape [3]"),
    ("bad base64", _doc(tensors=[_tensor(data="@@not base64@@")]), "not valid base64"),
    ("data not text", _doc(tensors=[_tensor(data=[1.0, 1.0])]), "data must be text"),
    ("grad wrong size", _doc(tensors=[_tensor(grad=_b64(np.ones(5, np.float32)))]),
     "grad holds 20 bytes"),
    ("requires_grad text", _doc(tensors=[_tensor(requires_grad="yes")]),
     "requires_grad must be true or false, not text"),
    ("int requires grad", _doc(tensors=[_tensor(dtype="int32", requires_grad=True)]),
     "requires grad but has the integer dtype int32"),
]


@pytest.mark.parametrize(("content", "message"), [(c, m) for _, c, m in BROKEN],
                         ids=[i for i, _, _ in BROKEN])
def test_broken_files_are_refused_and_the_session_is_left_intact(session, tmp_path, content,
                                                                 message):
    p = tmp_path / "broken.gradviz"
    if isinstance(content, dict):
        content = json.dumps(content)
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    before = _snapshot(session), list(session.history)
    with pytest.raises(SessionFileError) as info:
        load_session(p).apply_to(session)
    assert message in str(info.value) and str(info.value).startswith(f"cannot open {p}: ")
    assert "\n" not in str(info.value)
    assert (_snapshot(session), session.history) == before


def test_huge_files_missing_files_and_folders_are_refused(tmp_path, monkeypatch):
    big = tmp_path / "big.gradviz"
    big.write_text(json.dumps(_doc()), encoding="utf-8")
    monkeypatch.setattr(sf.limits, "MAX_JSON_BYTES", 100)
    with pytest.raises(SessionFileError, match="a JSON session larger than gradviz opens"):
        load_session(big)
    with pytest.raises(SessionFileError, match=r"missing.gradviz: it does not exist$"):
        load_session(tmp_path / "missing.gradviz")
    with pytest.raises(SessionFileError, match="is a folder"):
        load_session(tmp_path)


def test_all_tensors_together_are_capped_when_saving_and_loading(tmp_path, monkeypatch):
    doc = _doc(tensors=[_tensor(), _tensor(name="y")])
    (tmp_path / "s.gradviz").write_text(json.dumps(doc), encoding="utf-8")
    state = load_session(tmp_path / "s.gradviz")
    monkeypatch.setattr(sf.limits, "MAX_TENSOR_BYTES", 12)
    with pytest.raises(SessionFileError, match="more than a session gradviz opens"):
        load_session(tmp_path / "s.gradviz")
    with pytest.raises(SessionFileError) as info:  # never a file it could not reopen
        save_session(tmp_path / "new.gradviz", state)
    assert str(info.value) == (f"cannot save {tmp_path / 'new.gradviz'}: its tensors hold "
                               "16 bytes, more than a session gradviz can reopen (12 bytes)")
    assert not (tmp_path / "new.gradviz").exists()


def test_tensor_state_equality():
    a = TensorState("x", np.array([1.0, np.nan], np.float32), True, None)
    assert a == TensorState("x", np.array([1.0, np.nan], np.float32), True, None)
    assert a != TensorState("x", np.array([1.0, np.nan], np.float64), True, None)
    assert a != TensorState("x", np.array([1.0, np.nan], np.float32), True, np.zeros(2))
    assert a != TensorState("x", np.array([1.0, np.nan], np.float32), True, None, False)


# --------------------------------------------------------------------------- the limits
def test_round_trip_at_the_limits(tmp_path):
    f16 = np.array([0.0, -0.0, 65504, 6e-8, np.nan, np.inf, -np.inf], np.float16)
    tensors = [
        TensorState("scalar", np.array(-0.0)),
        TensorState("empty", np.zeros((0,), np.float32)),
        TensorState("empty2", np.zeros((3, 0, 2), np.int64)),
        TensorState("flags", np.array([[True, False], [False, True]])),
        TensorState("big_ints", np.array([2**63 - 1, -2**63, 0], np.int64)),
        TensorState("f64", np.array([np.nan, np.inf, -np.inf, 5e-324, 1.7976931348623157e308])),
        TensorState("half", f16, True, f16[::-1].copy()),
        TensorState("größe", np.arange(6, dtype=np.float32).reshape(2, 3).T, True,
                    np.full((3, 2), np.nan, np.float32)),
        TensorState("δ_computed", np.ones(2, np.float32), True, None, False, "MulBackward0"),
        TensorState("u8", np.array([0, 255], np.uint8)),
        TensorState("i8", np.array([-128, 127], np.int8)),
    ]
    text = "# ü 🙂 \u2028 line\r\nnext\0 NUL, lone \udc80 surrogate\n" + "x" * 100_000
    state = SessionState(["größe = torch.ones(3)", "print('🙂')", ""], text, tensors,
                         {"ünï": ["cödé", 1.5, None, True], "big": 2**62})
    p = save_session(tmp_path / "grenzfälle ü.gradviz", state)
    back = load_session(p)
    assert back == state and back.editor_text == text and back.view == state.view
    assert [t.value.dtype for t in back.tensors] == [t.value.dtype for t in tensors]
    assert back.tensors[0].value.shape == () and np.signbit(back.tensors[0].value)
    assert back.tensors[7].value.flags.c_contiguous  # a transposed array came back in C order
    assert save_session(p, back) == p and load_session(p) == state  # save what was opened


def test_two_six_million_element_tensors_round_trip_in_binary(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(6_000_000, dtype=np.float32)
    b = np.zeros((2000, 3000), np.float32)
    b[::7, ::5] = np.nan
    state = SessionState(tensors=[TensorState("a", a, True, a * 2),
                                  TensorState("b", b, True, np.ones_like(b))])
    p = save_session(tmp_path / "big.gradviz", state)
    # more than 50 MB of data: once written without a word and then never reopened
    assert sum(t.value.nbytes + t.grad.nbytes for t in state.tensors) > 50 * 2**20
    with zipfile.ZipFile(p) as zf:
        names = zf.namelist()
        assert names[0] == "manifest.json" and sum(n.endswith(".npy") for n in names) == 4
        assert np.array_equal(np.load(io.BytesIO(zf.read("arrays/0.npy"))), a)  # plain .npy
        compressed = {i.filename: i.compress_type for i in zf.infolist()}
    assert compressed["arrays/2.npy"] == zipfile.ZIP_DEFLATED  # the mostly-zero tensor
    assert compressed["arrays/0.npy"] == zipfile.ZIP_STORED  # random data does not shrink
    assert load_session(p) == state


def test_a_hundred_thousand_small_tensors_round_trip(tmp_path):
    n = 100_000
    rows = np.arange(3 * n, dtype=np.float32).reshape(n, 3)
    state = SessionState(tensors=[TensorState(f"t{i}", rows[i]) for i in range(n)])
    p = save_session(tmp_path / "many.gradviz", state)
    t0 = time.perf_counter()
    back = load_session(p)
    took = time.perf_counter() - t0
    assert [t.name for t in back.tensors] == [t.name for t in state.tensors]
    assert np.array_equal(np.stack([t.value for t in back.tensors]), rows)
    assert took < 15, took  # linear (the quadratic duplicate check took minutes here); the
    # speed itself is measured by bench/bench_session_file.py


def test_old_json_sessions_are_still_read(tmp_path):
    p = tmp_path / "old.gradviz"
    doc = _doc(tensors=[_tensor(requires_grad=True, grad=_b64(np.array([1, 2], np.float32)))])
    p.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    state = load_session(p)
    assert state.cells == ["x = torch.ones(2)"] and state.tensors[0].is_leaf
    assert state.tensors[0].grad.tolist() == [1.0, 2.0]
    assert load_session(save_session(tmp_path / "new.gradviz", state)) == state


def _zip(tmp_path: Path, manifest: object, members: dict[str, bytes] | None = None) -> Path:
    p = tmp_path / "z.gradviz"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("manifest.json", manifest if isinstance(manifest, (str, bytes))
                    else json.dumps(manifest))
        for k, v in (members or {}).items():
            zf.writestr(k, v)
    return p


def _ztensor(**over) -> dict:
    t = {"name": "x", "dtype": "float32", "shape": [2], "requires_grad": False, "leaf": True,
         "data": ["pack.bin", 0, 8], "grad": None}
    t.update(over)
    return t


def _zdoc(*tensors: dict) -> dict:
    return {"format": "gradviz-session", "schema": 2, "cells": [], "tensors": list(tensors)}


PACK = {"pack.bin": np.ones(2, np.float32).tobytes()}
BROKEN_ZIPS: list[tuple[str, object, dict, str]] = [
    ("valid", _zdoc(_ztensor()), PACK, ""),
    ("no manifest", None, PACK, "a zip archive but not a gradviz session (no manifest.json)"),
    ("manifest junk", b"\x00\xff junk", PACK, "not valid JSON"),
    ("5000 digits", '{"format": "gradviz-session", "schema": 2, "cells": [], "tensors": '
     '[{"name": "x", "dtype": "float32", "shape": [' + "9" * 5000 + ']}]}', PACK,
     "Exceeds the limit (4300 digits)"),
    ("member missing", _zdoc(_ztensor()), {}, "'pack.bin', which the archive does not hold"),
    ("offset outside", _zdoc(_ztensor(data=["pack.bin", 4, 8])), PACK, "does not fit in pack"),
    ("lying size", _zdoc(_ztensor(shape=[2**70])), PACK,
     "dimension of 1180591620717411303424, larger than any tensor"),
    ("size mismatch", _zdoc(_ztensor(shape=[3])), PACK, "does not fit in pack.bin"),
    ("data as text", _zdoc(_ztensor(data="AACAPwAAgD8=")), PACK, "must be a reference"),
    ("npy too small", _zdoc(_ztensor(data=["arrays/0.npy"])), {"arrays/0.npy": b"\x93NUMPY"},
     "holds 6 bytes, but shape [2] of float32 needs 8"),
    ("npy of another shape", _zdoc(_ztensor(data=["arrays/0.npy"])),
     {"arrays/0.npy": (lambda b: (np.save(b, np.ones((1, 2), np.float32)), b.getvalue())[1])(
         io.BytesIO())}, "holds an array of another shape or dtype"),
    ("duplicate", _zdoc(_ztensor(), _ztensor()), PACK, "two tensors are named 'x'"),
]


@pytest.mark.parametrize(("manifest", "members", "message"),
                         [c[1:] for c in BROKEN_ZIPS], ids=[c[0] for c in BROKEN_ZIPS])
def test_broken_archives_are_refused_in_a_sentence(tmp_path, manifest, members, message):
    if manifest is None:
        p = tmp_path / "z.gradviz"
        with zipfile.ZipFile(p, "w") as zf:
            zf.writestr("pack.bin", b"x")
    else:
        p = _zip(tmp_path, manifest, members)
    if not message:
        assert load_session(p).tensors[0].value.tolist() == [1.0, 1.0]
        return
    with pytest.raises(SessionFileError) as info:
        load_session(p)
    assert str(info.value).startswith(f"cannot open {p}: ") and message in str(info.value)


def test_truncated_and_damaged_archives(tmp_path):
    state = SessionState(["a = 1"], "", [TensorState("a", np.arange(300_000.0))])
    p = save_session(tmp_path / "s.gradviz", state)
    data = p.read_bytes()
    cut = tmp_path / "cut.gradviz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SessionFileError, match=r"cut.gradviz: the file is truncated or damaged"):
        load_session(cut)
    bad = bytearray(data)
    bad[len(data) // 2] ^= 0xFF  # inside the stored .npy member
    (tmp_path / "bad.gradviz").write_bytes(bytes(bad))
    with pytest.raises(SessionFileError, match=r"bad.gradviz: the file is damaged \(Bad CRC"):
        load_session(tmp_path / "bad.gradviz")


def test_forty_megabyte_line_is_refused_quickly(tmp_path):
    p = tmp_path / "line.gradviz"
    p.write_bytes(b'{"format": "gradviz-session", "junk": "' + b"x" * 40_000_000)
    t0 = time.perf_counter()
    with pytest.raises(SessionFileError, match="truncated"):
        load_session(p)
    assert time.perf_counter() - t0 < 10


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev are POSIX")
def test_fifos_devices_and_loops_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.gradviz"
    os.mkfifo(fifo)
    (tmp_path / "a.gradviz").symlink_to(tmp_path / "b.gradviz")
    (tmp_path / "b.gradviz").symlink_to(tmp_path / "a.gradviz")
    for path, words in ((fifo, "it is a named pipe (FIFO), not a file"),
                        (Path("/dev/zero"), "it is a character device, not a file"),
                        (tmp_path / "a.gradviz", "symbolic link that loops")):
        with pytest.raises(SessionFileError) as info:
            load_session(path)
        assert str(info.value).startswith(f"cannot open {path}: ") and words in str(info.value)


def test_unreadable_file_is_refused_in_a_sentence(tmp_path, monkeypatch):
    p = save_session(tmp_path / "s.gradviz", SessionState())
    real_open = os.open

    def denied(path, *a, **k):
        if Path(path) == p:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, *a, **k)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(SessionFileError, match=f"^cannot open {p}: permission denied$"):
        load_session(p)


def test_save_into_a_missing_or_read_only_folder_names_the_path(tmp_path, monkeypatch):
    p = tmp_path / "gone" / "s.gradviz"
    with pytest.raises(SessionFileError, match=f"^cannot save {p}: the folder .*gone does not"):
        save_session(p, SessionState())
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(SessionFileError, match="read-only"):
        save_session(tmp_path / "s.gradviz", SessionState())
    assert os.listdir(tmp_path) == []


def test_save_refuses_names_and_values_it_could_not_reopen(tmp_path):
    p = tmp_path / "s.gradviz"
    for bad, words in ((TensorState("torch", np.ones(1)), "the name 'torch'"),
                       (TensorState("class", np.ones(1)), "the name 'class'"),
                       (TensorState("c", np.ones(1, np.complex64)), "dtype complex64"),
                       (TensorState("g", np.ones(2), True, np.ones(3)), "a grad of shape")):
        with pytest.raises(SessionFileError, match=words):
            save_session(p, SessionState(tensors=[bad]))
    with pytest.raises(SessionFileError, match="two tensors are named 'a'"):
        save_session(p, SessionState(tensors=[TensorState("a", np.ones(1))] * 2))
    with pytest.raises(SessionFileError, match="cell 0 is not text"):
        save_session(p, SessionState(cells=[3]))
    assert not p.exists()


class _View:
    """A window's view of a kernel tensor, its data cut to the first values."""

    def __init__(self, shape, values) -> None:
        self.shape, self._values, self.grad = shape, np.asarray(values), None
        self.grad_fn, self.requires_grad = None, False

    def numpy(self, force: bool = False) -> np.ndarray:
        return self._values


def test_capture_refuses_a_view_that_holds_only_the_first_values():
    class Remote:
        history = ["x = torch.zeros(10000)"]

        def __init__(self, view):
            self.view = view

        def tensors(self):
            from gradviz.session import TensorInfo
            return [TensorInfo("x", self.view)]

    assert sf.capture(Remote(_View((2, 2), [1.0, 2, 3, 4]))).tensors[0].value.shape == (2, 2)
    with pytest.raises(SessionFileError, match="10,000 values but only 3 reached the window"):
        sf.capture(Remote(_View((10000,), [0.0, 0, 0])))


def test_apply_to_with_computed_values(session, tmp_path):
    state = load_session(save_session(tmp_path / "s.gradviz", sf.capture(session)))
    target = Session()
    state.apply_to(target, computed=True)
    y = target.get("y")
    assert y.is_leaf and not y.requires_grad and float(y) == 16.25


# --------------------------------------------------------------------------- settings
def test_validate_settings_falls_back_with_a_warning():
    clean, warnings = sf.validate_settings({"theme": "purple", "font_scale": "abc",
                                            "recent": ["/a.py", 3, "/a.py"], "geometry": "zz",
                                            "other": "kept"})
    assert clean["theme"] == "light" and clean["font_scale"] == 1.0
    assert clean["recent"] == ["/a.py"] and "geometry" not in clean and clean["other"] == "kept"
    assert warnings[0] == ("The setting theme=purple is not a theme gradviz has (light, dark, "
                           "high-contrast); using light.")
    assert warnings[1] == "The setting font_scale=abc is not a number; using 1.0."
    assert len(warnings) == 4 and all(w.endswith(".") and "\n" not in w for w in warnings)
    good, none = sf.validate_settings({"theme": "dark", "font_scale": "1.5",
                                       "recent": "/x.ipynb", "geometry": b"\x01"})
    assert none == [] and good == {"theme": "dark", "font_scale": 1.5, "recent": ["/x.ipynb"],
                                   "geometry": b"\x01"}
    for fs in ("nan", "inf", "-1", "1e400", True, [1]):
        clean, warnings = sf.validate_settings({"font_scale": fs})
        assert clean["font_scale"] == 1.0 and len(warnings) == 1, fs
    assert sf.validate_settings({}) == ({"theme": "light", "font_scale": 1.0, "recent": []}, [])


# --------------------------------------------------------------------------- autosave
@pytest.fixture
def state_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "state"
    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(d))
    return d


def _child(code: str, state: Path) -> subprocess.Popen:
    env = {**os.environ, "GRADVIZ_STATE_DIR": str(state),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    prelude = "import os, time\nfrom gradviz.session_file import *\n"
    return subprocess.Popen([sys.executable, "-c", prelude + code], env=env, cwd=ROOT)


def test_paths_follow_the_environment_and_differ_per_window(state_dir, monkeypatch):
    pid = os.getpid()
    assert sf.autosave_path() == state_dir / f"autosave-{pid}-0.gradviz"
    w1, w2 = sf.Autosave(), sf.Autosave()
    assert len({sf.autosave_path(), w1.path, w2.path}) == 3
    assert w1.marker == state_dir / f"autosave-{pid}-{w1.window}.running"
    monkeypatch.delenv("GRADVIZ_STATE_DIR")
    assert sf.autosave_path().parent == Path.home() / ".local/state/gradviz"


def test_killed_window_is_recovered_whatever_the_others_did(state_dir):
    crash = _child("w = Autosave(7); w.mark_running()\n"
                   "w.write(SessionState(cells=['x = 1'], editor_text='crash me'))\n"
                   "os._exit(1)\n", state_dir)
    clean = _child("a, b = Autosave(1), Autosave(2)\n"
                   "for w in (a, b): w.mark_running(); w.write(SessionState())\n"
                   "a.mark_clean_exit()\n"  # one clean window in a process that then crashes
                   "os._exit(3)\n", state_dir)
    assert crash.wait(timeout=30) == 1 and clean.wait(timeout=30) == 3
    found = sf.find_recoveries()
    assert sorted(p.name for p in found) == sorted([f"autosave-{crash.pid}-7.gradviz",
                                                     f"autosave-{clean.pid}-2.gradviz"])
    crashed = state_dir / f"autosave-{crash.pid}-7.gradviz"
    assert load_session(crashed).editor_text == "crash me"
    assert sf.find_recovery() in found
    sf.discard_recovery(found[0])
    sf.discard_recovery(found[1])
    assert sf.find_recoveries() == [] and os.listdir(state_dir) == []


def test_clean_exit_deletes_only_its_own_autosave(state_dir):
    sf.mark_running()
    sf.write_autosave(SessionState())
    child = _child("mark_running()\nwrite_autosave(SessionState(cells=['x = 1']))\n"
                   "mark_clean_exit()\n", state_dir)
    assert child.wait(timeout=30) == 0
    assert sorted(os.listdir(state_dir)) == [f"autosave-{os.getpid()}-0.gradviz",
                                             f"autosave-{os.getpid()}-0.running"]
    assert sf.find_recoveries() == []  # ours runs
    sf.mark_clean_exit()
    assert os.listdir(state_dir) == []


def test_a_running_window_is_not_a_crash(state_dir):
    sf.mark_running()
    sf.write_autosave(SessionState())
    assert sf.find_recoveries() == []  # our own
    child = _child("mark_running()\nwrite_autosave(SessionState())\n"
                   "open(os.environ['GRADVIZ_STATE_DIR'] + '/ready', 'w').close()\n"
                   "time.sleep(60)\n", state_dir)
    try:
        deadline = time.monotonic() + 30
        while not (state_dir / "ready").exists():
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.02)
        assert sf.find_recoveries() == []  # another window is still open
    finally:
        child.kill()
        child.wait(timeout=30)
    assert sf.find_recoveries() == [state_dir / f"autosave-{child.pid}-0.gradviz"]


def test_a_reused_pid_and_an_unreadable_marker_count_as_crashes(state_dir):
    w = sf.Autosave(5)
    w.write(SessionState())  # writes its marker first
    assert sf.find_recoveries() == []
    doc = json.loads(w.marker.read_text())
    doc["proc_start"] = (doc["proc_start"] or 0) + 1  # same pid, another process
    w.marker.write_text(json.dumps(doc))
    if sf.autosave._proc_start(os.getpid()) is not None:
        assert sf.find_recoveries() == [w.path]
    w.marker.write_text("{garbage")
    assert sf.find_recoveries() == [w.path]


def test_adopting_a_recovery_is_atomic_and_keeps_it_recoverable(state_dir):
    child = _child("w = Autosave(3); w.write(SessionState(cells=['a = 1']))\nos._exit(1)\n",
                   state_dir)
    assert child.wait(timeout=30) == 1
    (found,) = sf.find_recoveries()
    mine = sf.Autosave()
    new = mine.adopt(found)
    assert new == mine.path and load_session(new).cells == ["a = 1"]
    assert not found.exists() and not found.with_suffix(".running").exists()
    with pytest.raises(SessionFileError, match="another window has recovered it already"):
        sf.Autosave().adopt(found)
    assert sf.find_recoveries() == []  # now ours, and we run
    mine.mark_clean_exit()
    assert os.listdir(state_dir) == []


def test_a_users_save_never_goes_into_an_autosave(state_dir, tmp_path):
    p = sf.write_autosave(SessionState(cells=["a = 1"]))
    assert sf.is_autosave(p) and sf.is_autosave(str(p))
    assert not sf.is_autosave(tmp_path / p.name)  # the same name elsewhere is the user's
    assert not sf.is_autosave(state_dir / "mine.gradviz")
    with pytest.raises(SessionFileError, match="automatic save.*another name"):
        save_session(p, SessionState(cells=["b = 2"]))
    assert load_session(p).cells == ["a = 1"]


def test_legacy_single_autosave_is_still_offered(state_dir):
    state_dir.mkdir()
    sf.writing._save(state_dir / "autosave.gradviz", SessionState(cells=["old"]))
    (state_dir / "running.pid").write_text("{garbage", encoding="utf-8")
    assert sf.find_recoveries() == [state_dir / "autosave.gradviz"]
    assert sf.is_autosave(state_dir / "autosave.gradviz")
    sf.discard_recovery(state_dir / "autosave.gradviz")
    assert os.listdir(state_dir) == []


def test_an_unusable_state_folder_says_so(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(blocker / "state"))
    msg = sf.check_state_dir()
    assert msg is not None and msg.startswith(f"cannot keep automatic saves in {blocker}")
    with pytest.raises(SessionFileError, match="cannot keep automatic saves in"):
        sf.mark_running()
    assert sf.find_recoveries() == []
    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(tmp_path / "ok"))
    assert sf.check_state_dir() is None
