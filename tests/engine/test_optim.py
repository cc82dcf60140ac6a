"""engine.optim against torch.optim: 100 steps of SGD / Adam match torch's parameters (float64,
1e-6); whole training loops (linear regression, 2-layer MLPs) give torch's loss trajectory;
zero_grad, state, reprs, errors and the optimizer events."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import assert_same_error, require_torch

import engine
from engine import nn, optim
from engine.trace import Recorder

torch = require_torch()
torch.set_num_threads(1)
pytestmark = pytest.mark.torch

TOL = 1e-6
rng = np.random.default_rng(3)
W0 = rng.standard_normal((5, 3))
B0 = rng.standard_normal(5)
XS = rng.standard_normal((8, 3))
YS = rng.standard_normal((8, 5))


def _quadratic_run(lib, opt_name: str, kwargs: dict, steps: int = 100):
    w = lib.nn.Parameter(lib.tensor(W0.copy()))
    b = lib.nn.Parameter(lib.tensor(B0.copy()))
    x, y = lib.tensor(XS), lib.tensor(YS)
    opt = getattr(lib.optim, opt_name)([w, b], **kwargs)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((x @ w.t() + b - y) ** 2).mean() + (w ** 4).sum() * 0.01
        if kwargs.get("maximize"):
            loss = -loss
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return [w.detach().numpy().copy(), b.detach().numpy().copy()], np.array(losses)


OPTIMIZERS = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.02, "momentum": 0.9, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.02, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6}),
    ("Adam", {"lr": 0.02, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.02, "amsgrad": True}),
    ("AdamW", {"lr": 0.02}),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=[f"{n}-{k}" for n, k in OPTIMIZERS])
def test_100_steps_match_torch(name: str, kwargs: dict) -> None:
    pe, le = _quadratic_run(engine, name, kwargs)
    pt, lt = _quadratic_run(torch, name, kwargs)
    np.testing.assert_allclose(le, lt, rtol=0, atol=TOL)
    for a, b in zip(pe, pt):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL)


# ----------------------------------------------------------------------------- training loops
def _regression_data():
    r = np.random.default_rng(11)
    x = r.uniform(-1, 1, (32, 2))
    y = x @ np.array([[2.0], [-3.0]]) + 0.5 + 0.1 * r.standard_normal((32, 1))
    return x, y


def _train(lib, model_fn, data, loss_fn, opt_fn, steps: int, init) -> list[float]:
    model = model_fn(lib)
    with lib.no_grad():
        for p, v in zip(model.parameters(), init):
            p.copy_(lib.tensor(v))
    x, y = (lib.tensor(d) for d in data)
    opt = opt_fn(lib, model.parameters())
    crit = loss_fn(lib)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out


def _init_values(model_fn) -> list[np.ndarray]:
    torch.manual_seed(0)
    return [p.detach().numpy().copy() for p in model_fn(torch).parameters()]


def _mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(2, 16, dtype=lib.float64), lib.nn.Tanh(),
                             lib.nn.Linear(16, 1, dtype=lib.float64))


def _linear(lib):
    return lib.nn.Linear(2, 1, dtype=lib.float64)


TRAINING = {
    "linear_regression_sgd": (_linear, lambda lib: lib.nn.MSELoss(),
                              lambda lib, p: lib.optim.SGD(p, lr=0.1)),
    "mlp_sgd_momentum": (_mlp, lambda lib: lib.nn.MSELoss(),
                         lambda lib, p: lib.optim.SGD(p, lr=0.05, momentum=0.9)),
    "mlp_adam": (_mlp, lambda lib: lib.nn.MSELoss(), lambda lib, p: lib.optim.Adam(p, lr=0.01)),
}


@pytest.mark.parametrize("name", list(TRAINING))
def test_training_loss_trajectory_matches_torch(name: str) -> None:
    model_fn, loss_fn, opt_fn = TRAINING[name]
    init = _init_values(model_fn)
    data = _regression_data()
    le = _train(engine, model_fn, data, loss_fn, opt_fn, 100, init)
    lt = _train(torch, model_fn, data, loss_fn, opt_fn, 100, init)
    np.testing.assert_allclose(le, lt, rtol=0, atol=TOL)
    assert le[-1] < 0.5 * le[0]


def test_classifier_mlp_cross_entropy_matches_torch() -> None:
    r = np.random.default_rng(5)
    x = r.standard_normal((24, 4))
    labels = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)

    def model_fn(lib):
        return lib.nn.Sequential(lib.nn.Linear(4, 8, dtype=lib.float64), lib.nn.ReLU(),
                                 lib.nn.Linear(8, 3, dtype=lib.float64))

    init = _init_values(model_fn)
    runs = []
    for lib in (engine, torch):
        runs.append(_train(lib, model_fn, (x, labels), lambda lib: lib.nn.CrossEntropyLoss(),
                           lambda lib, p: lib.optim.SGD(p, lr=0.2, momentum=0.5), 100, init))
    np.testing.assert_allclose(runs[0], runs[1], rtol=0, atol=TOL)
    assert runs[0][-1] < 0.5 * runs[0][0]


# ----------------------------------------------------------------------------- behaviour
def test_step_records_no_graph_and_bumps_versions() -> None:
    w = nn.Parameter(engine.tensor([1.0, 2.0]))
    opt = optim.SGD([w], lr=0.5, momentum=0.9)
    (w * w).sum().backward()
    v = w._version_count
    opt.step()
    assert w.is_leaf and w.grad_fn is None and w.requires_grad
    assert w.tolist() == [0.0, 0.0] and w._version_count == v + 1
    buf = opt.state[w]["momentum_buffer"]
    assert not buf.requires_grad and buf.tolist() == [2.0, 4.0]
    # a saved tensor changed by step() makes the old graph's backward fail, as in torch
    loss = (w * w).sum()
    w.grad = engine.ones(2)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_zero_grad_set_to_none_and_zeros() -> None:
    w = nn.Parameter(engine.tensor([1.0, 2.0]))
    u = nn.Parameter(engine.tensor([3.0]))
    opt = optim.SGD([w, u], lr=0.1)
    (w.sum() * 3).backward()
    assert u.grad is None
    opt.zero_grad(set_to_none=False)
    assert w.grad.tolist() == [0.0, 0.0] and u.grad is None
    opt.zero_grad()
    assert w.grad is None
    w.grad = engine.ones(2)
    opt.step()  # u has no grad: skipped
    assert u.tolist() == [3.0] and w.tolist() == pytest.approx([0.9, 1.9])


def test_step_closure_and_param_groups() -> None:
    w = nn.Parameter(engine.tensor([1.0]))
    b = nn.Parameter(engine.tensor([1.0]))
    opt = optim.SGD([{"params": [w]}, {"params": b, "lr": 1.0}], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * 2 + b).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 3.0
    assert w.item() == pytest.approx(0.8) and b.item() == pytest.approx(0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]


def test_adam_state_and_state_dict_like_torch() -> None:
    def run(lib):
        p = lib.nn.Parameter(lib.tensor([1.0, -2.0], dtype=lib.float64))
        opt = lib.optim.Adam([p], lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            (p ** 2).sum().backward()
            opt.step()
        return opt, p

    (oe, pe), (ot, _) = run(engine), run(torch)
    se, st = oe.state_dict(), ot.state_dict()
    assert list(se["state"][0]) == list(st["state"][0])
    assert se["state"][0]["step"].item() == st["state"][0]["step"].item() == 3.0
    for k in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_allclose(se["state"][0][k].numpy(), st["state"][0][k].numpy(),
                                   rtol=1e-12)
    assert se["param_groups"] == st["param_groups"]
    fresh_p = nn.Parameter(engine.tensor([1.0, -2.0], dtype=engine.float64))
    fresh = optim.Adam([fresh_p], lr=0.5)
    fresh.load_state_dict(se)
    assert fresh.param_groups[0]["lr"] == 0.1
    assert fresh.state[fresh_p]["exp_avg"].tolist() == oe.state[pe]["exp_avg"].tolist()


def test_reprs_match_torch() -> None:
    for name, kwargs in [("SGD", {"lr": 0.1}), ("Adam", {}), ("SGD", {"lr": 0.1, "momentum": 0.9}),
                         ("AdamW", {})]:
        e = getattr(optim, name)([nn.Parameter(engine.ones(2))], **kwargs)
        t = getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2))], **kwargs)
        assert repr(e) == repr(t)
        assert e.defaults == t.defaults
    e = optim.SGD([{"params": [nn.Parameter(engine.ones(1))]},
                   {"params": [nn.Parameter(engine.ones(1))], "lr": 0.5}], lr=0.1)
    t = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.ones(1))]},
                         {"params": [torch.nn.Parameter(torch.ones(1))], "lr": 0.5}], lr=0.1)
    assert repr(e) == repr(t)


def test_errors_match_torch() -> None:
    def params(lib):
        return [lib.nn.Parameter(lib.ones(2))]

    cases = [
        lambda lib: lib.optim.SGD(params(lib), lr=-1),
        lambda lib: lib.optim.SGD(params(lib), lr=0.1, momentum=-1),
        lambda lib: lib.optim.SGD(params(lib), lr=0.1, weight_decay=-1),
        lambda lib: lib.optim.SGD(params(lib), lr=0.1, nesterov=True),
        lambda lib: lib.optim.SGD(params(lib), lr=0.1, momentum=0.9, dampening=0.1,
                                  nesterov=True),
        lambda lib: lib.optim.Adam(params(lib), lr=-1),
        lambda lib: lib.optim.Adam(params(lib), eps=-1),
        lambda lib: lib.optim.Adam(params(lib), betas=(1.0, 0.9)),
        lambda lib: lib.optim.Adam(params(lib), betas=(0.9, -1)),
        lambda lib: lib.optim.Adam(params(lib), weight_decay=-1),
        lambda lib: lib.optim.SGD([], lr=0.1),
        lambda lib: lib.optim.SGD([lib.ones(2, requires_grad=True) * 2], lr=0.1),
    ]
    for case in cases:
        assert_same_error(lambda c=case: c(engine), lambda c=case: c(torch))
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts, but got "
                                        "torch.FloatTensor"):
        optim.SGD(nn.Parameter(engine.ones(2)), lr=0.1)


def test_module_and_optimizer_events(tmp_path) -> None:
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = engine.ones(3, 2)
    with Recorder(kinds=("optimizer_step", "grad_changed")) as rec:
        for _ in range(2):
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
        opt.zero_grad(set_to_none=False)
    kinds = [(e.kind, getattr(e, "reason", None)) for e in rec.events]
    ids = (model.weight._id, model.bias._id)
    steps = [e for e in rec.events if e.kind == "optimizer_step"]
    assert [(e.optimizer, e.step, e.params) for e in steps] == [("SGD", 1, ids), ("SGD", 2, ids)]
    none = [e.tensor_id for e in rec.events if e.kind == "grad_changed" and e.reason == "none"]
    assert none == list(ids)  # the second zero_grad clears both grads
    assert kinds[-2:] == [("grad_changed", "zero_"), ("grad_changed", "zero_")]
    assert [e.tensor_id for e in rec.events[-2:]] == list(ids)
    rec.save(tmp_path / "trace.jsonl")
    assert Recorder.load(tmp_path / "trace.jsonl") == rec  # the events are JSON-able
    # nothing is emitted without a subscriber (and nothing breaks)
    opt.step()
