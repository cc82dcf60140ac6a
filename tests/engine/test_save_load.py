"""engine.save / engine.load round trips (tensors, Parameters, state_dicts, optimizer state,
containers; paths and file objects), a pickle-free file, and torch's weights_only refusal."""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict

import pytest
from oracle import assert_same_error, assert_same_tensor, require_torch

import engine

torch = require_torch()

pytestmark = pytest.mark.torch


def roundtrip(lib, obj, tmp_path=None):
    if tmp_path is not None:
        path = tmp_path / f"{lib.__name__}.pt"
        lib.save(obj, path)
        return lib.load(path)
    buf = io.BytesIO()
    lib.save(obj, buf)
    buf.seek(0)
    return lib.load(buf)


def payload(lib):
    return {
        "x": lib.tensor([[1.5, -2.0], [3.0, 4.0]]),
        "i": lib.arange(5),
        "b": lib.tensor([True, False]),
        "d": lib.tensor(2.5, dtype=lib.float64),
        "p": lib.nn.Parameter(lib.ones(2)),
        "g": lib.tensor([1.0], requires_grad=True),
        "meta": (1, 2.5, "name", None, True, [3, 4.0]),
        7: [lib.zeros(0), lib.tensor(3)],
        "shape": lib.Size([2, 3]),
        "dtype": lib.float64,
    }


def describe(x):
    if isinstance(x, (engine.Tensor, torch.Tensor)):
        return (type(x).__name__, str(x.dtype).split(".")[-1], tuple(x.shape), x.tolist(),
                x.requires_grad)
    if isinstance(x, dict):
        return (type(x).__name__, [(k, describe(v)) for k, v in x.items()])
    if isinstance(x, (list, tuple)) and not isinstance(x, (engine.Size, torch.Size)):
        return (type(x).__name__, [describe(v) for v in x])
    if isinstance(x, (engine.Size, torch.Size)):
        return ("Size", list(x))
    if isinstance(x, (engine.dtype, torch.dtype)):
        return ("dtype", str(x).split(".")[-1])
    return x


@pytest.mark.parametrize("where", ["buffer", "path"])
def test_roundtrip_containers(where, tmp_path):
    tp = tmp_path if where == "path" else None
    e = roundtrip(engine, payload(engine), tp)
    t = roundtrip(torch, payload(torch), tp)
    assert describe(e) == describe(t)
    assert repr(e["p"]) == repr(t["p"])


def test_state_dict_and_optimizer_roundtrip(tmp_path):
    """Save model and optimizer mid-training, load into fresh ones, continue: same as torch."""
    def run(lib):
        lib.manual_seed(0)
        model = lib.nn.Linear(3, 2)
        with lib.no_grad():
            model.weight.copy_(lib.tensor([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]))
            model.bias.copy_(lib.tensor([0.01, -0.02]))
        opt = lib.optim.Adam(model.parameters(), lr=0.1)
        x = lib.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])

        def step(m, o):
            o.zero_grad()
            loss = m(x).pow(2).mean()
            loss.backward()
            o.step()
            return loss.item()

        step(model, opt)
        path = tmp_path / f"ckpt_{lib.__name__}.pt"
        lib.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 1}, path)
        ck = lib.load(path)
        m2 = lib.nn.Linear(3, 2)
        m2.load_state_dict(ck["model"])
        o2 = lib.optim.Adam(m2.parameters(), lr=0.1)
        o2.load_state_dict(ck["opt"])
        losses = [step(m2, o2) for _ in range(3)]
        return (type(ck["model"]).__name__, list(ck["model"]), ck["epoch"], losses,
                m2.weight.detach().tolist(), describe(ck["opt"]["state"]))
    e, t = run(engine), run(torch)
    assert e[:3] == t[:3]
    assert e[3] == pytest.approx(t[3], rel=1e-5)
    assert sum(e[4], []) == pytest.approx(sum(t[4], []), rel=1e-4, abs=1e-6)
    assert e[5][0] == t[5][0] and [k for k, _ in e[5][1]] == [k for k, _ in t[5][1]]


def test_single_tensor_and_list():
    e = roundtrip(engine, engine.tensor([1.0, 2.0]))
    t = roundtrip(torch, torch.tensor([1.0, 2.0]))
    assert_same_tensor(e, t)
    e = roundtrip(engine, [engine.tensor(1), (engine.tensor([2.0]),)])
    t = roundtrip(torch, [torch.tensor(1), (torch.tensor([2.0]),)])
    assert describe(e) == describe(t)


def test_ordered_dict_type_kept():
    e = roundtrip(engine, OrderedDict(a=engine.ones(1)))
    assert type(e) is OrderedDict and list(e) == ["a"]


class Custom:
    pass


def test_unsupported_object_refused_as_weights_only():
    def go(lib):
        buf = io.BytesIO()
        lib.save({"obj": Custom()}, buf)
        buf.seek(0)
        return lib.load(buf)
    err = assert_same_error(lambda: go(engine), lambda: go(torch))
    assert isinstance(err, pickle.UnpicklingError)


def test_file_is_pickle_free_zip():
    buf = io.BytesIO()
    engine.save({"w": engine.ones(2, 2)}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        names = z.namelist()
    assert all(n.endswith((".json", ".npy")) for n in names)


def test_foreign_file_refused():
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        engine.load(buf)
    with pytest.raises(pickle.UnpicklingError):
        engine.load(io.BytesIO(b"\x80\x04not a zip"))
