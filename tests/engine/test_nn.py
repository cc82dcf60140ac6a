"""engine.nn against torch.nn: modules, parameters, state_dict, reprs, errors, Linear's graph and
initialisation, and every nn.functional op's values, graph and gradients."""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict

import numpy as np
import pytest
from oracle import (
    assert_same_error,
    assert_same_graph,
    assert_same_repr,
    assert_same_tensor,
    check_backward,
    check_program,
    make_leaves,
    require_torch,
)

import engine
from engine import nn
from engine.nn import functional as F

torch = require_torch()
torch.set_num_threads(1)
pytestmark = pytest.mark.torch

rng = np.random.default_rng(7)
X = rng.standard_normal((4, 3))
Y = rng.standard_normal((4, 3))
W = rng.standard_normal((2, 3))
B = rng.standard_normal(2)
TARGET = [0, 2, 1, 2]


def both(build):
    """The same module in both libraries, engine parameters set to torch's values."""
    t = build(torch)
    e = build(engine)
    with engine.no_grad():
        for (en, ep), (tn, tp) in zip(e.named_parameters(), t.named_parameters()):
            assert en == tn
            ep.copy_(engine.tensor(tp.detach().numpy().copy()))
    return e, t


# ----------------------------------------------------------------------------- Parameter
def test_parameter_repr_and_type() -> None:
    for a in (np.array([1.5, -2.0], np.float32), rng.standard_normal((2, 3)), np.array(3.0)):
        e = nn.Parameter(engine.tensor(a))
        t = torch.nn.Parameter(torch.tensor(a))
        assert repr(e) == repr(t)
        assert repr(type(e)) == repr(type(t))
        assert isinstance(e, engine.Tensor) and e.is_leaf and e.requires_grad
    p = nn.Parameter(engine.ones(2), requires_grad=False)
    assert repr(p) == repr(torch.nn.Parameter(torch.ones(2), requires_grad=False))
    out = nn.Parameter(engine.ones(2)) * 2
    assert type(out) is engine.Tensor and out.grad_fn.name() == "MulBackward0"
    base = engine.zeros(3)
    shared = nn.Parameter(base)
    with engine.no_grad():
        shared.add_(1)
    assert base.tolist() == [1.0, 1.0, 1.0]
    assert type(copy.deepcopy(shared)) is nn.Parameter


# ----------------------------------------------------------------------------- Module
class Net:
    """A model with a submodule tree, a buffer, a shared layer and a parameter of its own."""

    @staticmethod
    def build(lib):
        class Model(lib.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.body = lib.nn.Sequential(lib.nn.Linear(3, 5), lib.nn.Tanh(),
                                              lib.nn.Linear(5, 4), lib.nn.ReLU())
                self.head = lib.nn.Linear(4, 2, bias=False)
                self.scale = lib.nn.Parameter(lib.ones(2))
                self.register_buffer("running", lib.zeros(2))
                self.tied = self.head

            def forward(self, x):
                return self.tied(self.body(x)) * self.scale

        return Model()


def test_named_parameters_modules_buffers_like_torch() -> None:
    e, t = both(Net.build)
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in e.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in e.named_children()] == [n for n, _ in t.named_children()]
    assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(e.state_dict()) == list(t.state_dict())
    assert len(list(e.parameters())) == len(list(t.parameters())) == 6
    assert [n for n, _ in e.named_parameters(recurse=False)] == ["scale"]
    assert repr(e) == repr(t)
    assert e.body[0] is e.body[-4] and isinstance(e.body[1:], nn.Sequential)
    assert repr(e.body[1:3]) == repr(t.body[1:3])
    assert e.get_parameter("body.2.bias") is e.body[2].bias


def test_forward_and_backward_match_torch() -> None:
    e, t = both(Net.build)
    xe, xt = make_leaves([X.astype(np.float32)])
    oe, ot = e(xe[0]), t(xt[0])
    assert_same_tensor(oe, ot, "forward")
    assert_same_graph(oe.grad_fn, ot.grad_fn)
    oe.sum().backward()
    ot.sum().backward()
    for (n, pe), (_, pt) in zip(e.named_parameters(), t.named_parameters()):
        assert_same_tensor(pe.grad, pt.grad, n, check_flags=False)
    assert_same_tensor(xe[0].grad, xt[0].grad, "x.grad", check_flags=False)


def test_zero_grad_train_eval_requires_grad() -> None:
    e, t = both(Net.build)
    for m in (e, t):
        m(m.body[0].weight.new_ones(2, 3)).sum().backward()
    e.zero_grad(set_to_none=False)
    t.zero_grad(set_to_none=False)
    for pe, pt in zip(e.parameters(), t.parameters()):
        assert pe.grad.tolist() == pt.grad.tolist()
        assert pe.grad.requires_grad is pt.grad.requires_grad is False
    e.zero_grad()
    assert all(p.grad is None for p in e.parameters())
    assert e.training and e.body[1].training
    assert e.eval() is e and not e.training and not e.body[1].training
    e.train()
    assert e.body[3].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        e.train("yes")
    e.requires_grad_(False)
    assert not any(p.requires_grad for p in e.parameters())


def test_state_dict_round_trip_and_errors() -> None:
    e, t = both(Net.build)
    sd = e.state_dict()
    assert all(not v.requires_grad for v in sd.values())
    assert sd["body.0.weight"].tolist() == t.state_dict()["body.0.weight"].tolist()
    fresh = Net.build(engine)
    res = fresh.load_state_dict(sd)
    assert repr(res) == "<All keys matched successfully>"
    assert fresh.body[2].weight.tolist() == e.body[2].weight.tolist()
    assert fresh.body[2].weight.is_leaf and fresh.body[2].weight.requires_grad
    # torch's error text: missing, unexpected, size mismatch
    def bad(lib, sd):
        sd = OrderedDict(sd)
        del sd["body.0.bias"]
        sd["extra"] = lib.zeros(1)
        sd["head.weight"] = lib.zeros(3, 3)
        return sd
    tt = Net.build(torch)
    assert_same_error(lambda: Net.build(engine).load_state_dict(bad(engine, sd)),
                      lambda: tt.load_state_dict(bad(torch, tt.state_dict())))
    r = Net.build(engine).load_state_dict({"scale": engine.ones(2), "x": engine.ones(1)},
                                          strict=False)
    assert r.unexpected_keys == ["x"] and "body.0.weight" in r.missing_keys


def test_setattr_getattr_errors_match_torch() -> None:
    def assign_int(lib):
        m = Net.build(lib)
        m.body = 3

    def assign_tensor(lib):
        lib.nn.Linear(2, 2).weight = lib.zeros(2, 2)

    def missing(lib):
        return Net.build(lib).nope

    def no_forward(lib):
        return lib.nn.Module()(1)

    def early(lib):
        class Early(lib.nn.Module):
            def __init__(self) -> None:
                self.w = lib.nn.Parameter(lib.zeros(1))
        Early()

    for fn in (assign_int, missing, no_forward, early):
        assert_same_error(lambda fn=fn: fn(engine), lambda fn=fn: fn(torch))
    ee = pytest.raises(TypeError, assign_tensor, engine)
    te = pytest.raises(TypeError, assign_tensor, torch)
    assert str(ee.value) == str(te.value)
    m = nn.Linear(2, 2)
    m.bias = None
    assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]
    del m.weight
    assert list(m.parameters()) == []


def test_module_reprs_match_torch() -> None:
    def mods(lib):
        n = lib.nn
        return [n.Linear(2, 3), n.Linear(4, 1, bias=False), n.ReLU(), n.ReLU(inplace=True),
                n.Tanh(), n.Sigmoid(), n.Softmax(dim=1), n.LogSoftmax(0), n.MSELoss(),
                n.MSELoss(reduction="sum"), n.CrossEntropyLoss(), n.NLLLoss(), n.Identity(),
                n.Flatten(), n.LeakyReLU(0.2), n.Sequential(),
                n.Sequential(n.Linear(2, 3), n.ReLU(), n.Sequential(n.Linear(3, 1))),
                n.Sequential(OrderedDict(fc=n.Linear(1, 1), act=n.Sigmoid())),
                n.ModuleList([n.ReLU(), n.ReLU(), n.Tanh()])]
    for me, mt in zip(mods(engine), mods(torch)):
        assert repr(me) == repr(mt)


def test_forward_hooks_and_sequential_editing() -> None:
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    seen = []
    h = seq[0].register_forward_hook(lambda m, args, out: seen.append(out.shape) or out * 0)
    seq[1].register_forward_pre_hook(lambda m, args: seen.append("pre"))
    out = seq(engine.ones(3, 2))
    assert seen == [engine.Size([3, 2]), "pre"] and out.abs().sum().item() == 0
    h.remove()
    assert seq(engine.ones(3, 2)).shape == (3, 2)
    seq.append(nn.Tanh())
    assert len(seq) == 3 and isinstance(seq[-1], nn.Tanh)
    del seq[0]
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    with pytest.raises(IndexError, match="index 5 is out of range"):
        seq[5]


def test_module_double_and_deepcopy() -> None:
    m = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    w = m[0].weight
    assert m.double() is m and m[0].weight is w and w.dtype == engine.float64
    assert m(engine.ones(4, 2, dtype=engine.float64)).dtype == engine.float64
    c = copy.deepcopy(m)
    assert c[0].weight is not w and c[0].weight.tolist() == w.tolist()
    assert isinstance(c[0].weight, nn.Parameter)


# ----------------------------------------------------------------------------- Linear
def _linear_case(lib, x_arr, x_grad, bias=True, transform=None):
    lin = lib.nn.Linear(3, 2, bias=bias, dtype=lib.float64)
    x = lib.tensor(x_arr, requires_grad=x_grad)
    xi = transform(x) if transform else x
    return lin, x, lin(xi)


LINEAR_CASES = {
    "2d": ((4, 3), None), "2d_x_grad": ((4, 3), None), "1d": ((3,), None),
    "3d": ((2, 4, 3), None), "4d": ((1, 2, 4, 3), None),
    "2d_noncontig": ((3, 4), lambda x: x.t()),
    "3d_noncontig": ((2, 3, 4), lambda x: x.transpose(1, 2)),
    "1d_noncontig": ((3, 2), lambda x: x[:, 0]),
}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", list(LINEAR_CASES))
def test_linear_graph_matches_torch(name: str, bias: bool) -> None:
    shape, transform = LINEAR_CASES[name]
    x_arr = rng.standard_normal(shape)
    x_grad = name != "2d"
    (le, xe, oe) = _linear_case(engine, x_arr, x_grad, bias, transform)
    (lt, xt, ot) = _linear_case(torch, x_arr, x_grad, bias, transform)
    with engine.no_grad():
        le.weight.copy_(engine.tensor(lt.weight.detach().numpy()))
        if bias:
            le.bias.copy_(engine.tensor(lt.bias.detach().numpy()))
    (le, xe, oe) = (le, xe, le(transform(xe) if transform else xe))
    leaves = [(le.weight, lt.weight), (xe, xt)] + ([(le.bias, lt.bias)] if bias else [])
    assert_same_tensor(oe, ot, "forward")
    assert_same_graph(oe.grad_fn, ot.grad_fn, leaves)
    check_backward(oe, ot, [le.weight, xe] + ([le.bias] if bias else []),
                   [lt.weight, xt] + ([lt.bias] if bias else []))


def test_linear_2d_addmm_graph_shape() -> None:
    lin = nn.Linear(3, 2)
    out = lin(engine.randn(4, 3))
    fn = out.grad_fn
    assert fn.name() == "AddmmBackward0"
    (b, _), (x, _), (t, _) = fn.next_functions
    assert b.name() == "torch::autograd::AccumulateGrad" and b.variable is lin.bias
    assert x is None
    assert t.name() == "TBackward0" and t.next_functions[0][0].variable is lin.weight


def test_linear_errors_match_torch() -> None:
    def call(lib, x, dtype=None):
        lin = lib.nn.Linear(3, 2)
        return lin(lib.tensor(x) if dtype is None else lib.tensor(x, dtype=dtype))
    for x in [np.float32(1.0), np.ones((4, 5), np.float32), np.ones(5, np.float32),
              np.ones((2, 4, 5), np.float32)]:
        assert_same_error(lambda x=x: call(engine, x), lambda x=x: call(torch, x))
    assert_same_error(lambda: call(engine, np.ones((4, 3)), engine.float64),
                      lambda: call(torch, np.ones((4, 3)), torch.float64))


def test_linear_init_scheme_and_manual_seed() -> None:
    engine.manual_seed(123)
    a = nn.Linear(50, 40)
    engine.manual_seed(123)
    b = nn.Linear(50, 40)
    assert a.weight.tolist() == b.weight.tolist() and a.bias.tolist() == b.bias.tolist()
    c = nn.Linear(50, 40)
    assert a.weight.tolist() != c.weight.tolist()
    bound = 1 / np.sqrt(50)
    w = a.weight.detach().numpy()
    assert w.dtype == np.float32 and np.abs(w).max() <= bound
    # kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)): its std is bound/sqrt(3)
    assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound
    assert abs(w.mean()) < 0.05 * bound
    assert np.abs(a.bias.detach().numpy()).max() <= bound
    assert a.weight.is_leaf and a.weight.requires_grad and a.weight.grad is None
    t = torch.nn.Linear(50, 40)
    assert abs(float(t.weight.detach().std()) - w.std()) < 0.1 * bound


def test_init_functions() -> None:
    t = engine.empty(30, 20, requires_grad=True)
    engine.manual_seed(0)
    nn.init.xavier_uniform_(t)
    assert t.is_leaf and t.requires_grad
    assert np.abs(t.detach().numpy()).max() <= np.sqrt(6 / 50)
    nn.init.zeros_(t)
    assert t.abs().sum().item() == 0
    nn.init.constant_(t, 0.5)
    assert t.mean().item() == 0.5
    nn.init.normal_(t, 1.0, 0.01)
    assert abs(t.mean().item() - 1.0) < 0.01
    for name in ("linear", "relu", "tanh", "sigmoid", "selu"):
        assert nn.init.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == \
        torch.nn.init.calculate_gain("leaky_relu", 0.2)
    for fn in ("randn", "rand"):
        engine.manual_seed(5)
        a = getattr(engine, fn)(3, 2)
        engine.manual_seed(5)
        assert getattr(engine, fn)(3, 2).tolist() == a.tolist()
    engine.manual_seed(5)
    r = [engine.randint(0, 10, (5,)).tolist(), engine.empty(4).normal_().tolist(),
         engine.empty(4).uniform_(-1, 1).tolist()]
    engine.manual_seed(5)
    assert r == [engine.randint(0, 10, (5,)).tolist(), engine.empty(4).normal_().tolist(),
                 engine.empty(4).uniform_(-1, 1).tolist()]


# ----------------------------------------------------------------------------- functional
def _t(lib, values, **kw):
    return lib.tensor(values, **kw)


FUNCTIONAL = {
    "relu": (lambda lib, a: lib.nn.functional.relu(a), [X]),
    "sigmoid": (lambda lib, a: lib.nn.functional.sigmoid(a), [X]),
    "tanh": (lambda lib, a: lib.nn.functional.tanh(a), [X]),
    "softmax": (lambda lib, a: lib.nn.functional.softmax(a, dim=1), [X]),
    "log_softmax": (lambda lib, a: lib.nn.functional.log_softmax(a, dim=0), [X]),
    "linear": (lambda lib, x, w, b: lib.nn.functional.linear(x, w, b), [X, W, B]),
    "linear_nobias": (lambda lib, x, w: lib.nn.functional.linear(x, w), [X, W]),
    "mse_mean": (lambda lib, a, b: lib.nn.functional.mse_loss(a, b), [X, Y]),
    "mse_sum": (lambda lib, a, b: lib.nn.functional.mse_loss(a, b, reduction="sum"), [X, Y]),
    "mse_none": (lambda lib, a, b: lib.nn.functional.mse_loss(a, b, reduction="none"), [X, Y]),
    "mse_target_grad": (lambda lib, a, b: lib.nn.functional.mse_loss(a * 2, b), [X, Y]),
    "ce_mean": (lambda lib, a: lib.nn.functional.cross_entropy(a, _t(lib, TARGET)), [X]),
    "ce_sum": (lambda lib, a: lib.nn.functional.cross_entropy(a, _t(lib, TARGET),
                                                              reduction="sum"), [X]),
    "ce_none": (lambda lib, a: lib.nn.functional.cross_entropy(a, _t(lib, TARGET),
                                                               reduction="none"), [X]),
    "ce_weight": (lambda lib, a: lib.nn.functional.cross_entropy(
        a, _t(lib, TARGET), weight=_t(lib, [1.0, 2.0, 3.0], dtype=a.dtype)), [X]),
    "ce_ignore": (lambda lib, a: lib.nn.functional.cross_entropy(a, _t(lib, [0, -100, 1, 2])),
                  [X]),
    "ce_1d": (lambda lib, a: lib.nn.functional.cross_entropy(a, _t(lib, 1)), [X[0].copy()]),
    "ce_1d_none": (lambda lib, a: lib.nn.functional.cross_entropy(a, _t(lib, 1),
                                                                  reduction="none"),
                   [X[0].copy()]),
    "ce_3d": (lambda lib, a: lib.nn.functional.cross_entropy(a, _t(lib, [[0, 1], [2, 2]])),
              [rng.standard_normal((2, 3, 2))]),
    "ce_4d_none": (lambda lib, a: lib.nn.functional.cross_entropy(
        a, _t(lib, [[[0, 1]], [[2, 2]]]), reduction="none"), [rng.standard_normal((2, 3, 1, 2))]),
    "nll": (lambda lib, a: lib.nn.functional.nll_loss(a, _t(lib, TARGET)), [X]),
    "nll_all_ignored": (lambda lib, a: lib.nn.functional.nll_loss(a, _t(lib, [-100] * 4)), [X]),
    "mse_module": (lambda lib, a, b: lib.nn.MSELoss()(a, b), [X, Y]),
    "ce_module": (lambda lib, a: lib.nn.CrossEntropyLoss(reduction="sum")(a, _t(lib, TARGET)),
                  [X]),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(FUNCTIONAL))
def test_functional_matches_torch(name: str, dtype: type) -> None:
    program, arrays = FUNCTIONAL[name]
    check_program(program, [a.astype(dtype) for a in arrays])


def test_cross_entropy_graph_is_nll_over_log_softmax() -> None:
    a = engine.randn(4, 3, requires_grad=True)
    loss = F.cross_entropy(a, engine.tensor(TARGET))
    fn = loss.grad_fn
    assert fn.name() == "NllLossBackward0"
    assert fn.next_functions[0][0].name() == "LogSoftmaxBackward0"
    assert fn._saved_reduction == 1 and fn._saved_ignore_index == -100
    assert fn._saved_total_weight.item() == 4.0 and fn._saved_weight is None
    mse = F.mse_loss(a, engine.zeros(4, 3)).grad_fn
    assert mse.name() == "MseLossBackward0" and mse._saved_reduction == 1


VALUES_ONLY = {
    "ce_label_smoothing": (lambda lib, a: lib.nn.functional.cross_entropy(
        a, _t(lib, [0, -100, 1, 2]), label_smoothing=0.2), [X]),
    "ce_label_smoothing_weight_none": (lambda lib, a: lib.nn.functional.cross_entropy(
        a, _t(lib, [0, -100, 1, 2]), weight=_t(lib, [1.0, 2.0, 3.0], dtype=lib.float64),
        label_smoothing=0.2, reduction="none"), [X]),
    "ce_probabilities": (lambda lib, a, b: lib.nn.functional.cross_entropy(a, b.softmax(1)),
                         [X, Y]),
    "ce_probabilities_smoothing": (lambda lib, a, b: lib.nn.functional.cross_entropy(
        a, b.softmax(1), label_smoothing=0.1, reduction="none"), [X, Y]),
    "mse_weight": (lambda lib, a, b: lib.nn.functional.mse_loss(
        a, b, weight=_t(lib, np.abs(Y))), [X, Y]),
    "mse_broadcast": (lambda lib, a, b: lib.nn.functional.mse_loss(a, b), [X[0].copy(), Y]),
}


@pytest.mark.parametrize("name", list(VALUES_ONLY))
def test_functional_values_and_grads_match_torch(name: str) -> None:
    program, arrays = VALUES_ONLY[name]
    el, tl = make_leaves(arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eo, to = program(engine, *el), program(torch, *tl)
    assert_same_tensor(eo, to)
    check_backward(eo, to, el, tl)


def test_functional_errors_match_torch() -> None:
    a = X.astype(np.float32)

    def nll(lib, target, x=a, **kw):
        return lib.nn.functional.nll_loss(lib.tensor(x), lib.tensor(target), **kw)

    cases = [
        lambda lib: nll(lib, [0, 1, 2]),
        lambda lib: nll(lib, [0, 1, 2, 3]),
        lambda lib: nll(lib, [0, 1, 2, -1]),
        lambda lib: nll(lib, [0.0, 1.0, 2.0, 1.0]),
        lambda lib: nll(lib, [[0, 1, 2, 1]]),
        lambda lib: nll(lib, 0, x=np.float32(1.0)),
        lambda lib: nll(lib, [0, 1, 1, 1], weight=lib.ones(2)),
        lambda lib: nll(lib, [[0, 1, 1], [2, 2, 1]], x=np.ones((2, 3, 2), np.float32)),
        lambda lib: lib.nn.functional.cross_entropy(lib.tensor(a), lib.zeros(4, 2)),
        lambda lib: lib.nn.functional.mse_loss(lib.tensor(a), lib.zeros(4, 3),
                                               reduction="avg"),
        lambda lib: lib.nn.functional.mse_loss(lib.tensor(a), lib.zeros(5, 3)),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in cases:
            assert_same_error(lambda c=case: c(engine), lambda c=case: c(torch))


def test_functional_warnings_match_torch() -> None:
    with pytest.warns(UserWarning, match=r"Using a target size \(torch.Size\(\[3\]\)\)"):
        F.mse_loss(engine.zeros(4, 3), engine.zeros(3))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = F.softmax(engine.tensor(X))
    assert_same_tensor(out, torch.softmax(torch.tensor(X), 1), check_flags=False)


def test_inplace_relu_and_repr() -> None:
    x = engine.tensor([-1.0, 2.0], requires_grad=True) * 1
    y = nn.ReLU(inplace=True)(x)
    assert y is x and x.grad_fn.name() == "ReluBackward0"
    xt = torch.tensor([-1.0, 2.0], requires_grad=True) * 1
    assert_same_repr(y, torch.nn.ReLU(inplace=True)(xt))
