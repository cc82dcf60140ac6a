"""RMSprop, Adagrad, Adadelta and SGD variants against torch (100-step trajectories, state_dict
round trips), and the lr schedulers' learning rates epoch by epoch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from oracle import require_torch

import engine

torch = require_torch()

pytestmark = pytest.mark.torch


def _dt(x):
    """A dtype's bare name (float32), whatever module prefix it prints with."""
    return str(x.dtype).split(".")[-1]

W0 = np.array([[0.5, -1.2, 0.3], [0.8, 0.1, -0.7]], np.float32)
XS = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)

CASES = {
    "rmsprop": ("RMSprop", {"lr": 0.01}),
    "rmsprop_momentum_centered": ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True,
                                              "weight_decay": 0.01, "alpha": 0.9}),
    "rmsprop_maximize": ("RMSprop", {"lr": 0.001, "maximize": True}),
    "adagrad": ("Adagrad", {"lr": 0.1}),
    "adagrad_decay": ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                                  "initial_accumulator_value": 0.5}),
    "adadelta": ("Adadelta", {}),
    "adadelta_wd": ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.05}),
    "sgd_nesterov": ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True,
                             "weight_decay": 0.01}),
    "sgd_dampening": ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
    "sgd_wd": ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
}


def trajectory(lib, name, kw, steps=100, dtype=np.float64):
    """100 steps on a small tanh model: float64 so that only the update formulas can differ
    (float32 runs drift apart by rounding in the forward and backward passes)."""
    w = lib.nn.Parameter(lib.tensor(W0.astype(dtype)))
    x = lib.tensor(XS.astype(dtype))
    opt = getattr(lib.optim, name)([w], **kw)
    for _ in range(steps):
        opt.zero_grad()
        loss = (lib.tanh(x @ w.T) ** 2).sum() + (w ** 2).sum() * 0.1
        loss.backward()
        opt.step()
    return w.detach().numpy().copy(), opt


@pytest.mark.parametrize("case", list(CASES))
def test_trajectory_matches_torch(case):
    name, kw = CASES[case]
    e, eo = trajectory(engine, name, kw)
    t, to = trajectory(torch, name, kw)
    np.testing.assert_allclose(e, t, rtol=1e-9, atol=1e-10)
    es, ts = eo.state_dict(), to.state_dict()
    assert es["param_groups"] == ts["param_groups"]
    assert list(es["state"]) == list(ts["state"])
    for k in ts["state"].get(0, {}):
        np.testing.assert_allclose(es["state"][0][k].numpy(), ts["state"][0][k].numpy(),
                                   rtol=1e-9, atol=1e-10, err_msg=k)
        assert _dt(es["state"][0][k]) == _dt(ts["state"][0][k])
    assert list(es["state"].get(0, {})) == list(ts["state"].get(0, {}))


@pytest.mark.parametrize("case", ["rmsprop", "adagrad", "adadelta"])
def test_float32_trajectory_close_to_torch(case):
    name, kw = CASES[case]
    e, _ = trajectory(engine, name, kw, 20, np.float32)
    t, _ = trajectory(torch, name, kw, 20, np.float32)
    np.testing.assert_allclose(e, t, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad", "Adadelta"])
def test_defaults_and_initial_state(name):
    def prog(lib):
        opt = getattr(lib.optim, name)([lib.nn.Parameter(lib.ones(2))])
        sd = opt.state_dict()
        return opt.defaults, sd["param_groups"], {k: {n: v.tolist() for n, v in s.items()}
                                                  for k, s in sd["state"].items()}
    assert prog(engine) == prog(torch)


def test_load_state_dict_continues_like_torch():
    def prog(lib):
        w = lib.nn.Parameter(lib.tensor(W0.copy()))
        opt = lib.optim.RMSprop([w], lr=0.01, momentum=0.5)
        for _ in range(3):
            opt.zero_grad()
            (w ** 3).sum().backward()
            opt.step()
        sd = opt.state_dict()
        w2 = lib.nn.Parameter(w.detach().clone())
        o2 = lib.optim.RMSprop([w2], lr=0.5)
        o2.load_state_dict(sd)
        for _ in range(3):
            o2.zero_grad()
            (w2 ** 3).sum().backward()
            o2.step()
        return w2.detach().numpy().copy(), o2.param_groups[0]["lr"]
    (e, elr), (t, tlr) = prog(engine), prog(torch)
    np.testing.assert_allclose(e, t, rtol=1e-5, atol=1e-6)
    assert elr == tlr


@pytest.mark.parametrize("name,kw", [
    ("RMSprop", {"lr": -1}), ("RMSprop", {"alpha": -0.1}), ("Adagrad", {"lr_decay": -1}),
    ("Adadelta", {"rho": 1.5}), ("SGD", {"lr": 0.1, "nesterov": True}),
])
def test_invalid_hyperparameters(name, kw):
    errs = []
    for lib in (engine, torch):
        with pytest.raises(ValueError) as info:
            getattr(lib.optim, name)([lib.nn.Parameter(lib.ones(1))], **kw)
        errs.append(str(info.value))
    assert errs[0] == errs[1]


SCHEDULERS = {
    "step": ("StepLR", {"step_size": 3, "gamma": 0.5}),
    "multistep": ("MultiStepLR", {"milestones": [2, 5, 5, 8], "gamma": 0.1}),
    "exponential": ("ExponentialLR", {"gamma": 0.9}),
    "cosine": ("CosineAnnealingLR", {"T_max": 5, "eta_min": 0.001}),
    "cosine_long": ("CosineAnnealingLR", {"T_max": 3}),
    "lambda": ("LambdaLR", {"lr_lambda": lambda e: 1.0 / (e + 1)}),
}


def lr_history(lib, name, kw, epochs=14):
    w = lib.nn.Parameter(lib.ones(2))
    opt = lib.optim.SGD([{"params": [w]}, {"params": [lib.nn.Parameter(lib.ones(1))],
                                          "lr": 0.3}], lr=0.1)
    sched = getattr(lib.optim.lr_scheduler, name)(opt, **kw)
    out = [sched.get_last_lr()]
    for _ in range(epochs):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr() + [g["lr"] for g in opt.param_groups])
    return out, sched.last_epoch, [g["initial_lr"] for g in opt.param_groups]


@pytest.mark.parametrize("case", list(SCHEDULERS))
def test_scheduler_lrs_match_torch(case):
    name, kw = SCHEDULERS[case]
    e, t = lr_history(engine, name, kw), lr_history(torch, name, kw)
    assert e[1:] == t[1:]
    np.testing.assert_allclose(np.array(e[0][1:]), np.array(t[0][1:]), rtol=1e-12)
    assert e[0][0] == t[0][0]


def test_reduce_lr_on_plateau():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.7]

    def prog(lib, **kw):
        opt = lib.optim.SGD([lib.nn.Parameter(lib.ones(1))], lr=1.0)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
        out = []
        for m in metrics:
            opt.step()
            sched.step(lib.tensor(m))
            out.append((sched.get_last_lr(), sched.num_bad_epochs, sched.best))
        return out
    for kw in ({"patience": 2}, {"patience": 1, "factor": 0.5, "cooldown": 2, "min_lr": 0.2},
               {"mode": "max", "patience": 1, "threshold_mode": "abs", "threshold": 0.01}):
        assert prog(engine, **kw) == prog(torch, **kw)


def test_scheduler_step_before_optimizer_warns_as_torch():
    def prog(lib):
        opt = lib.optim.SGD([lib.nn.Parameter(lib.ones(1))], lr=1.0)
        sched = lib.optim.lr_scheduler.StepLR(opt, 1)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            sched.step()
        return [str(m.message) for m in w]
    assert prog(engine) == prog(torch) and prog(engine)


def test_import_paths():
    from engine.optim import SGD  # noqa: F401
    from engine.optim.lr_scheduler import StepLR  # noqa: F401
    assert engine.optim.lr_scheduler.StepLR is StepLR
