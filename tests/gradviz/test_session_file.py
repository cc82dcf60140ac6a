""".gradviz files: save/load round trip, refusal of broken files, atomic writes, crash recovery."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
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
    find_recovery,
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


def test_from_session_keeps_leaves_only(session):
    state = SessionState.from_session(session, "y = x + 1", {"zoom": 1.5})
    assert [t.name for t in state.tensors] == ["x", "n", "m", "d", "e"]
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
    doc = json.loads(p.read_text(encoding="utf-8"))
    assert doc["format"] == "gradviz-session" and doc["schema"] == 1
    assert doc["tensors"][0]["shape"] == [3] and doc["tensors"][0]["dtype"] == "float32"
    loaded = load_session(p)
    assert loaded == state
    assert [t.value.dtype.name for t in loaded.tensors] == ["float32", "int64", "bool",
                                                           "float64", "float32"]
    assert np.isnan(loaded.tensors[3].value) and loaded.tensors[4].value.shape == (0, 4)
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

    monkeypatch.setattr(sf.os, "replace", broken)
    with pytest.raises(OSError, match="disk gone"):
        save_session(p, SessionState(cells=["b = 2"]))
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
    ("binary", b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "not UTF-8"),
    ("top-level list", "[1, 2, 3]", "the JSON is a list, not an object"),
    ("nested too deeply", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("NaN constant", _valid_text().replace('"view": {}', '"view": {"z": NaN}'),
     "contains NaN, which is not standard JSON"),
    ("foreign format", _doc(format="excalidraw"), "the format is 'excalidraw'"),
    ("no format", {"schema": 1, "cells": []}, 'no "format" field'),
    ("a notebook", {"cells": [], "nbformat": 4, "metadata": {}}, "this is a Jupyter notebook"),
    ("newer schema", _doc(schema=2), "schema version 2, written by a newer gradviz"),
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
    ("too many dims", _doc(tensors=[_tensor(shape=[1] * 40)]), "40 dimensions"),
    ("absurd tensor", _doc(tensors=[_tensor(shape=[100_000, 100_000])]),
     "10,000,000,000 elements, more than gradviz opens"),
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
    assert message in str(info.value)
    assert (_snapshot(session), session.history) == before


def test_huge_files_missing_files_and_folders_are_refused(tmp_path):
    big = tmp_path / "big.gradviz"
    with open(big, "wb") as f:
        f.truncate(sf.MAX_FILE_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(SessionFileError, match="larger than a session gradviz opens"):
        load_session(big)
    with pytest.raises(SessionFileError, match="missing.gradviz does not exist"):
        load_session(tmp_path / "missing.gradviz")
    with pytest.raises(SessionFileError, match="is a folder"):
        load_session(tmp_path)


def test_all_tensors_together_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(sf, "MAX_TENSOR_ELEMENTS", 3)
    doc = _doc(tensors=[_tensor(), _tensor(name="y")])
    (tmp_path / "s.gradviz").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SessionFileError, match="4 elements together"):
        load_session(tmp_path / "s.gradviz")


def test_tensor_state_equality():
    a = TensorState("x", np.array([1.0, np.nan], np.float32), True, None)
    assert a == TensorState("x", np.array([1.0, np.nan], np.float32), True, None)
    assert a != TensorState("x", np.array([1.0, np.nan], np.float64), True, None)
    assert a != TensorState("x", np.array([1.0, np.nan], np.float32), True, np.zeros(2))


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


def test_paths_follow_the_environment(state_dir, monkeypatch):
    assert sf.autosave_path() == state_dir / "autosave.gradviz"
    monkeypatch.delenv("GRADVIZ_STATE_DIR")
    assert sf.autosave_path() == Path.home() / ".local/state/gradviz/autosave.gradviz"


def test_killed_session_autosave_is_recovered(state_dir):
    child = _child("mark_running()\nwrite_autosave(SessionState(cells=['x = 1'], "
                   "editor_text='crash me'))\nos._exit(1)\n", state_dir)
    assert child.wait(timeout=30) == 1
    found = find_recovery()
    assert found == sf.autosave_path()
    assert load_session(found).editor_text == "crash me"
    sf.clear_autosave()
    assert find_recovery() is None


def test_clean_exit_leaves_nothing_to_recover(state_dir):
    child = _child("mark_running()\nwrite_autosave(SessionState(cells=['x = 1']))\n"
                   "mark_clean_exit()\n", state_dir)
    assert child.wait(timeout=30) == 0
    assert find_recovery() is None and not sf.autosave_path().exists()


def test_a_running_session_is_not_a_crash(state_dir):
    sf.mark_running()
    sf.write_autosave(SessionState())
    assert find_recovery() is None  # our own marker
    child = _child("mark_running()\nwrite_autosave(SessionState())\n"
                   "open(os.environ['GRADVIZ_STATE_DIR'] + '/ready', 'w').close()\n"
                   "time.sleep(60)\n", state_dir)
    try:
        deadline = time.monotonic() + 30
        while not (state_dir / "ready").exists():
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.02)
        assert find_recovery() is None  # another window is still open
    finally:
        child.kill()
        child.wait(timeout=30)
    assert find_recovery() == sf.autosave_path()
    sf.mark_clean_exit()
    assert find_recovery() is None


def test_unreadable_marker_counts_as_a_crash(state_dir):
    sf.write_autosave(SessionState())
    (state_dir / "running.pid").write_text("{garbage", encoding="utf-8")
    assert find_recovery() == sf.autosave_path()
