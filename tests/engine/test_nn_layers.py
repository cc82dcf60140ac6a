"""engine.nn's layers against torch.nn: convolution, pooling, padding, normalisation, embedding,
activations, losses, dropout, lazy and recurrent modules, the containers and the Module API
(values, gradients, grad_fn graphs, reprs, parameter names, init order, errors), plus
gradcheck of every new backward node."""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import pytest
from oracle import assert_same_error, check_program, require_torch

import engine
from engine.autograd import gradcheck, gradgradcheck
from engine.nn import functional as F

torch = require_torch()
torch.set_num_threads(1)
pytestmark = pytest.mark.torch

rng = np.random.default_rng(11)


def r(*shape: int, low: float | None = None, high: float | None = None,
      dtype: type = np.float64) -> np.ndarray:
    if low is not None:
        return rng.uniform(low, high, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


X4 = r(2, 4, 6, 5)
X3 = r(2, 4, 7)

# ----------------------------------------------------------------------------- functional
# (name, program(lib, *leaves), arrays, requires_grad)
FUNCTIONAL = [
    ("conv2d", lambda L, x, w, b: L.nn.functional.conv2d(x, w, b), [X4, r(3, 4, 3, 2), r(3)]),
    ("conv2d_stride_pad_dil", lambda L, x, w: L.nn.functional.conv2d(
        x, w, stride=(2, 1), padding=(1, 2), dilation=(1, 2)), [X4, r(3, 4, 3, 2)]),
    ("conv2d_groups", lambda L, x, w, b: L.nn.functional.conv2d(x, w, b, groups=2),
     [X4, r(6, 2, 2, 2), r(6)]),
    ("conv2d_same_even", lambda L, x, w: L.nn.functional.conv2d(x, w, padding="same"),
     [X4, r(2, 4, 2, 2)]),
    ("conv2d_valid", lambda L, x, w: L.nn.functional.conv2d(x, w, padding="valid"),
     [X4, r(2, 4, 3, 3)]),
    ("conv2d_unbatched", lambda L, x, w: L.nn.functional.conv2d(x, w), [X4[0], r(2, 4, 3, 3)]),
    ("conv1d", lambda L, x, w, b: L.nn.functional.conv1d(x, w, b, stride=2, padding=1),
     [X3, r(3, 4, 3), r(3)]),
    ("conv1d_same", lambda L, x, w: L.nn.functional.conv1d(x, w, padding="same", dilation=2),
     [X3, r(3, 4, 3)]),
    ("max_pool2d", lambda L, x: L.nn.functional.max_pool2d(x, 2), [X4]),
    ("max_pool2d_overlap", lambda L, x: L.nn.functional.max_pool2d(x, 3, 2, 1, ceil_mode=True),
     [X4]),
    ("max_pool2d_dilation", lambda L, x: L.nn.functional.max_pool2d(x, 2, dilation=2), [X4]),
    ("max_pool1d", lambda L, x: L.nn.functional.max_pool1d(x, 2), [X3]),
    ("avg_pool2d", lambda L, x: L.nn.functional.avg_pool2d(x, 2), [X4]),
    ("avg_pool2d_pad", lambda L, x: L.nn.functional.avg_pool2d(
        x, 3, 2, 1, ceil_mode=True, count_include_pad=False), [X4]),
    ("avg_pool1d", lambda L, x: L.nn.functional.avg_pool1d(x, 3, 2), [X3]),
    ("adaptive_avg_pool2d", lambda L, x: L.nn.functional.adaptive_avg_pool2d(x, (4, 3)), [X4]),
    ("adaptive_avg_pool2d_1", lambda L, x: L.nn.functional.adaptive_avg_pool2d(x, 1), [X4]),
    ("adaptive_max_pool2d", lambda L, x: L.nn.functional.adaptive_max_pool2d(x, (4, 3)), [X4]),
    ("pad_constant", lambda L, x: L.nn.functional.pad(x, (1, -1, 2, 0), value=0.5), [X4]),
    ("pad_reflect", lambda L, x: L.nn.functional.pad(x, (1, 2, 2, 1), mode="reflect"), [X4]),
    ("pad_replicate", lambda L, x: L.nn.functional.pad(x, (2, 1), mode="replicate"), [X3]),
    ("batch_norm_train", lambda L, x, w, b: L.nn.functional.batch_norm(
        x, None, None, w, b, True), [X4, r(4), r(4)]),
    ("batch_norm_eval", lambda L, x, w, b: L.nn.functional.batch_norm(
        x, L.tensor(np.linspace(-1, 1, 4)), L.tensor(np.linspace(0.5, 2, 4)), w, b, False),
     [X4, r(4), r(4)]),
    ("layer_norm", lambda L, x, w, b: L.nn.functional.layer_norm(x, (6, 5), w, b),
     [X4, r(6, 5), r(6, 5)]),
    ("group_norm", lambda L, x, w, b: L.nn.functional.group_norm(x, 2, w, b),
     [X4, r(4), r(4)]),
    ("embedding", lambda L, i, w: L.nn.functional.embedding(i, w, padding_idx=1),
     [np.array([[0, 1, 3], [3, 3, 2]]), r(4, 3)]),
    ("gelu", lambda L, x: L.nn.functional.gelu(x), [X3]),
    ("gelu_tanh", lambda L, x: L.nn.functional.gelu(x, approximate="tanh"), [X3]),
    ("silu", lambda L, x: L.nn.functional.silu(x), [X3]),
    ("softplus", lambda L, x: L.nn.functional.softplus(x * 5, beta=2, threshold=3), [X3]),
    ("elu", lambda L, x: L.nn.functional.elu(x, 0.7), [X3]),
    ("selu", lambda L, x: L.nn.functional.selu(x), [X3]),
    ("celu", lambda L, x: L.nn.functional.celu(x, 2.0), [X3]),
    ("leaky_relu", lambda L, x: L.nn.functional.leaky_relu(x, 0.2), [X3]),
    ("hardtanh", lambda L, x: L.nn.functional.hardtanh(x, -0.5, 0.5), [X3]),
    ("relu6", lambda L, x: L.nn.functional.relu6(x * 4), [X3]),
    ("logsigmoid", lambda L, x: L.nn.functional.logsigmoid(x), [X3]),
    ("mish", lambda L, x: L.nn.functional.mish(x), [X3]),
    ("bce", lambda L, p, y: L.nn.functional.binary_cross_entropy(p, y),
     [r(3, 4, low=0.05, high=0.95), r(3, 4, low=0.0, high=1.0)]),
    ("bce_weight_sum", lambda L, p, y: L.nn.functional.binary_cross_entropy(
        p, y, L.tensor(np.linspace(0.5, 2, 4)), reduction="sum"),
     [r(3, 4, low=0.05, high=0.95), r(3, 4, low=0.0, high=1.0)]),
    ("bce_logits", lambda L, x, y: L.nn.functional.binary_cross_entropy_with_logits(x, y),
     [r(3, 4), r(3, 4, low=0.0, high=1.0)]),
    ("bce_logits_pos_weight", lambda L, x, y: L.nn.functional.binary_cross_entropy_with_logits(
        x, y, L.tensor(np.linspace(0.5, 2, 4)), reduction="none",
        pos_weight=L.tensor(np.linspace(2, 3, 4))), [r(3, 4), r(3, 4, low=0.0, high=1.0)]),
    ("smooth_l1", lambda L, x, y: L.nn.functional.smooth_l1_loss(x, y, beta=0.5),
     [r(3, 4), r(3, 4)]),
    ("smooth_l1_none", lambda L, x, y: L.nn.functional.smooth_l1_loss(x, y, reduction="none"),
     [r(3, 4), r(3, 4)]),
    ("huber", lambda L, x, y: L.nn.functional.huber_loss(x, y, reduction="sum", delta=0.6),
     [r(3, 4), r(3, 4)]),
    ("l1", lambda L, x, y: L.nn.functional.l1_loss(x, y), [r(3, 4), r(3, 4)]),
    ("kl_div_batchmean", lambda L, x, y: L.nn.functional.kl_div(
        L.log_softmax(x, 1), y, reduction="batchmean"),
     [r(3, 4), r(3, 4, low=0.0, high=1.0)], [True, False]),
    ("kl_div_log_target", lambda L, x, y: L.nn.functional.kl_div(
        x, y, reduction="sum", log_target=True), [r(3, 4), r(3, 4)], [True, False]),
    ("kl_div_none", lambda L, x, y: L.nn.functional.kl_div(x, y, reduction="none"),
     [r(3, 4), r(3, 4, low=0.0, high=1.0)], [True, False]),
]


@pytest.mark.parametrize("case", FUNCTIONAL, ids=[c[0] for c in FUNCTIONAL])
def test_functional_matches_torch(case: tuple) -> None:
    name, program, arrays = case[:3]
    rg = case[3] if len(case) > 3 else True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_program(program, arrays, requires_grad=rg)


GRADCHECK = [
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, dilation=(1, 2)),
     [(1, 2, 5, 5), (3, 2, 2, 2), (3,)]),
    ("conv2d_groups", lambda x, w: F.conv2d(x, w, groups=2), [(1, 4, 4, 4), (2, 2, 3, 3)]),
    ("conv1d", lambda x, w: F.conv1d(x, w, padding=1), [(2, 2, 5), (3, 2, 3)]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1), [(1, 2, 5, 5)]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [(1, 2, 5, 5)]),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(1, 2, 5, 5)]),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (2, 3)), [(1, 2, 5, 5)]),
    ("pad_constant", lambda x: F.pad(x, (1, -1, 0, 2)), [(1, 2, 3, 3)]),
    ("pad_reflect", lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"), [(1, 2, 3, 4)]),
    ("pad_replicate", lambda x: F.pad(x, (2, 1), mode="replicate"), [(2, 3, 3)]),
    ("batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, True), [(4, 3, 2), (3,),
                                                                            (3,)]),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), [(2, 4, 3), (4,), (4,)]),
    ("embedding", lambda w: F.embedding(engine.tensor([[0, 2], [2, 2]]), w),
     [(3, 2)]),
    ("gelu", F.gelu, [(5,)]),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), [(5,)]),
    ("silu", F.silu, [(5,)]),
    ("softplus", lambda x: F.softplus(x, 2.0, 1.0), [(5,)]),
    ("elu", F.elu, [(5,)]),
    ("celu", lambda x: F.celu(x, 2.0), [(5,)]),
    ("leaky_relu", F.leaky_relu, [(5,)]),
    ("hardtanh", lambda x: F.hardtanh(x * 0.5), [(5,)]),
    ("logsigmoid", F.logsigmoid, [(5,)]),
    ("mish", F.mish, [(5,)]),
    ("bce", lambda p, y: F.binary_cross_entropy(engine.sigmoid(p), engine.sigmoid(y)),
     [(4,), (4,)]),
    ("bce_logits", lambda x, y: F.binary_cross_entropy_with_logits(
        x, y, pos_weight=engine.tensor([1.5, 2.0, 0.5, 1.0], dtype=engine.float64)),
     [(4,), (4,)]),
    ("smooth_l1", lambda x, y: F.smooth_l1_loss(x, y, beta=0.5), [(5,), (5,)]),
    ("huber", lambda x, y: F.huber_loss(x, y, delta=0.5), [(5,), (5,)]),
]


@pytest.mark.parametrize("case", GRADCHECK, ids=[c[0] for c in GRADCHECK])
def test_gradcheck(case: tuple) -> None:
    _, fn, shapes = case
    g = np.random.default_rng(3)
    inputs = [engine.tensor(g.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


GRADGRADCHECK = [
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, dilation=(1, 2)),
     [(1, 2, 5, 5), (3, 2, 2, 2), (3,)]),
    ("conv2d_groups", lambda x, w: F.conv2d(x, w, groups=2), [(1, 4, 4, 4), (2, 2, 3, 3)]),
    ("conv1d", lambda x, w: F.conv1d(x, w, padding=1), [(2, 2, 5), (3, 2, 3)]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1), [(1, 2, 4, 4)]),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), [(5,)]),
    ("silu", F.silu, [(5,)]),
    ("softplus", lambda x: F.softplus(x, 2.0, 1.0), [(5,)]),
    ("elu", F.elu, [(5,)]),
    ("logsigmoid", F.logsigmoid, [(5,)]),
    ("huber", lambda x, y: F.huber_loss(x, y, delta=0.5), [(5,), (5,)]),
]


@pytest.mark.parametrize("case", GRADGRADCHECK, ids=[c[0] for c in GRADGRADCHECK])
def test_gradgradcheck(case: tuple) -> None:
    _, fn, shapes = case
    g = np.random.default_rng(4)
    inputs = [engine.tensor(g.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradgradcheck(fn, inputs)


def test_conv_double_backward_matches_torch() -> None:
    """A gradient penalty (WGAN-GP style) through conv2d: d/dw of |d(sum y²)/dx|²."""
    x, w = r(2, 2, 5, 5), r(3, 2, 3, 3)
    grads = []
    for L in (engine, torch):
        xx, ww = L.tensor(x, requires_grad=True), L.tensor(w, requires_grad=True)
        y = L.nn.functional.conv2d(xx, ww, padding=1, stride=(1, 2))
        gx, = L.autograd.grad((y ** 2).sum(), xx, create_graph=True)
        (gx ** 2).sum().backward()
        grads.append(ww.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9, atol=1e-9)


def test_new_nodes_have_rules() -> None:
    from engine._rule import GENERIC
    from engine.nn import _act, _conv, _norm
    nodes = [v for mod in (_act, _conv, _norm) for v in vars(mod).values()
             if isinstance(v, type) and issubclass(v, engine.autograd.graph.Node)
             and v.__name__.endswith(("Backward0", "Slices")) and not v.__name__.startswith("_")]
    assert len(nodes) > 20
    missing = [n.__name__ for n in nodes if n.rule is GENERIC]
    assert not missing


def test_one_hot() -> None:
    for args in ((), (5,)):
        e = F.one_hot(engine.tensor([[0, 2], [1, 3]]), *args)
        t = torch.nn.functional.one_hot(torch.tensor([[0, 2], [1, 3]]), *args)
        assert e.dtype == engine.int64 and e.tolist() == t.tolist()
    for bad, args in (([1.0], ()), ([-1], ()), ([3], (3,))):
        assert_same_error(lambda b=bad, a=args: F.one_hot(engine.tensor(b), *a),
                          lambda b=bad, a=args: torch.nn.functional.one_hot(torch.tensor(b), *a))


@pytest.mark.parametrize("call", [
    lambda L: L.nn.functional.conv2d(L.ones(2, 3, 5, 5), L.ones(4, 2, 3, 3)),
    lambda L: L.nn.functional.conv2d(L.ones(5, 5), L.ones(4, 2, 3, 3)),
    lambda L: L.nn.functional.conv2d(L.ones(1, 3, 2, 2), L.ones(4, 3, 3, 3)),
    lambda L: L.nn.functional.conv2d(L.ones(1, 3, 5, 5), L.ones(4, 3, 3, 3), stride=2,
                                     padding="same"),
    lambda L: L.nn.functional.conv2d(L.ones(1, 3, 5, 5), L.ones(4, 3, 3, 3), padding="foo"),
    lambda L: L.nn.functional.max_pool2d(L.ones(5), 2),
    lambda L: L.nn.functional.binary_cross_entropy(L.ones(3) * 2, L.ones(3)),
    lambda L: L.nn.functional.binary_cross_entropy(L.ones(3) / 2, L.ones(4)),
    lambda L: L.nn.functional.binary_cross_entropy_with_logits(L.ones(3), L.ones(4)),
    lambda L: L.nn.functional.group_norm(L.ones(2, 3, 4), 2),
    lambda L: L.nn.functional.layer_norm(L.ones(2, 3), (4,)),
    lambda L: L.nn.functional.embedding(L.tensor([3]), L.ones(3, 2)),
    lambda L: L.nn.functional.embedding(L.tensor([1.0]), L.ones(3, 2)),
    lambda L: L.nn.functional.pad(L.ones(2, 3), (1, 1, 1, 1), mode="reflect"),
    lambda L: L.nn.functional.dropout(L.ones(2), 1.5),
    lambda L: L.nn.BatchNorm1d(3)(L.ones(1, 3)),
    lambda L: L.nn.BatchNorm1d(3)(L.ones(2, 3, 4, 4)),
    lambda L: L.nn.BatchNorm2d(3)(L.ones(2, 3)),
    lambda L: L.nn.Conv2d(3, 4, 3, groups=2),
    lambda L: L.nn.Conv2d(3, 4, 3, padding="same", stride=2),
    lambda L: L.nn.Conv2d(3, 4, 3, padding="full"),
    lambda L: L.nn.LSTM(3, 4)(L.ones(5, 2, 5)),
    lambda L: L.nn.LSTM(3, 4)(L.ones(5, 2, 3, 1)),
    lambda L: L.nn.GRU(3, 4)(L.ones(5, 2, 3), L.ones(2, 2, 4)),
    lambda L: L.nn.RNNCell(3, 4)(L.ones(5, 2, 3)),
    lambda L: L.nn.RNNCell(3, 4)(L.ones(2, 5)),
])
def test_errors_match_torch(call) -> None:
    assert_same_error(lambda: call(engine), lambda: call(torch))


# ----------------------------------------------------------------------------- modules
def both(build, *, check_names: bool = True):
    """The same module in both libraries: same repr, parameter / buffer / state_dict names and
    shapes; the engine's parameters set to torch's values."""
    t = build(torch)
    e = build(engine)
    assert repr(e) == repr(t)
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(e.state_dict()) == list(t.state_dict())
    with engine.no_grad():
        for (_, ep), (_, tp) in zip(e.named_parameters(), t.named_parameters()):
            assert tuple(ep.shape) == tuple(tp.shape)
            ep.copy_(engine.tensor(tp.detach().numpy().copy()))
    return e, t


def run_both(build, *inputs: np.ndarray, names: bool = True, train: bool = True) -> tuple:
    e, t = both(build)
    e.train(train)
    t.train(train)
    es = [engine.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    ts = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    oe, ot = e(*es), t(*ts)
    if isinstance(ot, tuple):
        oe, ot = oe[0], ot[0]
    np.testing.assert_allclose(oe.detach().numpy(), ot.detach().numpy(), rtol=1e-5, atol=1e-5)
    if ot.grad_fn is not None:
        if names:
            assert oe.grad_fn.name() == type(ot.grad_fn).__name__
        g = rng.standard_normal(tuple(ot.shape)).astype(np.float32)
        oe.backward(engine.tensor(g))
        ot.backward(torch.tensor(g))
        for (n, ep), (_, tp) in zip(e.named_parameters(), t.named_parameters()):
            if tp.grad is not None:
                np.testing.assert_allclose(ep.grad.numpy(), tp.grad.numpy(), rtol=1e-4,
                                           atol=1e-4, err_msg=n)
        for a, b in zip(es, ts):
            if b.grad is not None:
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-4)
    for (n, eb), (_, tb) in zip(e.named_buffers(), t.named_buffers()):
        np.testing.assert_allclose(eb.numpy(), tb.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)
    return e, t


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


MODULES = [
    ("Conv2d", lambda L: L.nn.Conv2d(3, 4, 3, padding=1), [f32(2, 3, 5, 5)]),
    ("Conv2d_all", lambda L: L.nn.Conv2d(4, 4, (3, 2), stride=2, padding=1, dilation=2,
                                         groups=2, bias=False, padding_mode="reflect"),
     [f32(2, 4, 7, 7)]),
    ("Conv2d_same_circular", lambda L: L.nn.Conv2d(2, 3, 3, padding="same",
                                                   padding_mode="circular"), [f32(1, 2, 4, 4)]),
    ("Conv1d", lambda L: L.nn.Conv1d(2, 4, 3, padding="same"), [f32(2, 2, 6)]),
    ("cnn", lambda L: L.nn.Sequential(
        L.nn.Conv2d(3, 4, 3), L.nn.BatchNorm2d(4), L.nn.ReLU(), L.nn.MaxPool2d(2),
        L.nn.Flatten(), L.nn.Linear(16, 3)), [f32(3, 3, 6, 6)]),
    ("BatchNorm1d_cumulative", lambda L: L.nn.BatchNorm1d(3, momentum=None), [f32(4, 3)]),
    ("BatchNorm2d_untracked", lambda L: L.nn.BatchNorm2d(3, affine=False,
                                                         track_running_stats=False),
     [f32(4, 3, 2, 2)]),
    ("LayerNorm", lambda L: L.nn.LayerNorm([2, 3]), [f32(4, 2, 3)]),
    ("LayerNorm_nobias", lambda L: L.nn.LayerNorm(3, bias=False), [f32(4, 3)]),
    ("GroupNorm", lambda L: L.nn.GroupNorm(2, 4), [f32(2, 4, 3)]),
    ("Embedding", lambda L: L.nn.Embedding(5, 3, padding_idx=0), [np.array([[0, 1, 4], [2, 2,
                                                                                          0]])]),
    ("AvgPool2d", lambda L: L.nn.AvgPool2d(2), [f32(1, 2, 4, 4)]),
    ("AdaptiveAvgPool2d", lambda L: L.nn.AdaptiveAvgPool2d((2, 3)), [f32(1, 2, 4, 5)]),
    ("MaxPool2d", lambda L: L.nn.MaxPool2d(3, stride=1, padding=1), [f32(1, 2, 4, 4)]),
    ("MaxPool1d", lambda L: L.nn.MaxPool1d(2), [f32(1, 2, 4)]),
    ("AvgPool1d", lambda L: L.nn.AvgPool1d(2), [f32(1, 2, 4)]),
    ("Unflatten", lambda L: L.nn.Unflatten(1, (2, 2)), [f32(2, 4)]),
    ("ZeroPad2d", lambda L: L.nn.ZeroPad2d(1), [f32(1, 1, 2, 2)]),
    ("ReflectionPad2d", lambda L: L.nn.ReflectionPad2d((1, 0, 1, 2)), [f32(1, 1, 3, 3)]),
] + [(m, lambda L, m=m: eval("L.nn." + m), [f32(2, 4)]) for m in (
    "Softplus()", "Softplus(beta=2.0, threshold=5.0)", "ELU()", "ELU(0.5, inplace=False)",
    "GELU()", "GELU('tanh')", "SiLU()", "LeakyReLU(0.2)", "Softmax(dim=1)", "LogSoftmax(dim=1)",
    "Identity()", "Tanh()", "Sigmoid()", "ReLU6()", "Hardtanh(-2.0, 2.0)", "Mish()", "SELU()",
    "CELU()", "LogSigmoid()", "Softsign()", "Dropout(0.0)")]


@pytest.mark.parametrize("case", MODULES, ids=[c[0] for c in MODULES])
def test_module_matches_torch(case: tuple) -> None:
    _, build, inputs = case
    run_both(build, *inputs)


RNNS = ["RNN(3, 4)", "RNN(3, 4, 2, nonlinearity='relu', batch_first=True)", "LSTM(3, 4)",
        "LSTM(3, 4, 2, bidirectional=True)", "GRU(3, 4, batch_first=True, bidirectional=True)",
        "GRU(3, 4, num_layers=2, bias=False)"]


@pytest.mark.parametrize("spec", RNNS)
def test_rnn_matches_torch(spec: str) -> None:
    build = lambda L: eval("L.nn." + spec)  # noqa: E731
    run_both(build, f32(4, 2, 3), names=False)
    e, t = run_both(build, f32(4, 3), names=False)  # unbatched
    # explicit initial state, and every returned tensor
    h0 = f32(e.num_layers * (2 if e.bidirectional else 1), 2, 4)
    x = f32(2, 4, 3) if e.batch_first else f32(4, 2, 3)
    hx_e = engine.tensor(h0)
    hx_t = torch.tensor(h0)
    if spec.startswith("LSTM"):
        hx_e, hx_t = (hx_e, engine.tensor(h0 * 2)), (hx_t, torch.tensor(h0 * 2))
    oe, he = e(engine.tensor(x), hx_e)
    ot, ht = t(torch.tensor(x), hx_t)
    np.testing.assert_allclose(oe.detach().numpy(), ot.detach().numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(he if isinstance(he, tuple) else (he,), ht if isinstance(ht, tuple) else
                    (ht,)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5,
                                   atol=1e-5)


@pytest.mark.parametrize("spec", ["RNNCell(3, 4)", "LSTMCell(3, 4)", "GRUCell(3, 4)",
                                  "RNNCell(3, 4, nonlinearity='relu', bias=False)",
                                  "LSTMCell(3, 4, bias=False)"])
def test_rnn_cells_match_torch(spec: str) -> None:
    build = lambda L: eval("L.nn." + spec)  # noqa: E731
    run_both(build, f32(2, 3))
    run_both(build, f32(3))


def _init_calls(lib, build) -> list:  # noqa: ANN001
    """The sequence of nn.init functions a module's construction calls (name, shape); calls
    made inside another init function are not counted."""
    calls = []
    depth = [0]
    mod = lib.nn.init
    names = ["uniform_", "normal_", "kaiming_uniform_", "ones_", "zeros_", "constant_",
             "xavier_uniform_"]
    saved = {n: getattr(mod, n) for n in names}

    def wrap(n, fn):  # noqa: ANN001, ANN202
        def inner(tensor, *a, **k):  # noqa: ANN001, ANN202
            if not depth[0]:
                calls.append((n, tuple(tensor.shape)))
            depth[0] += 1
            try:
                return fn(tensor, *a, **k)
            finally:
                depth[0] -= 1
        return inner

    try:
        for n in names:
            setattr(mod, n, wrap(n, saved[n]))
        build(lib)
    finally:
        for n, fn in saved.items():
            setattr(mod, n, fn)
    return calls


@pytest.mark.parametrize("spec", [
    "Conv2d(3, 4, 3)", "Conv1d(2, 4, 3, bias=False)", "Embedding(5, 3, padding_idx=1)",
    "BatchNorm1d(3)", "LayerNorm(4)", "GroupNorm(2, 4)", "LSTM(3, 4, 2, bidirectional=True)",
    "GRUCell(3, 4)", "RNN(2, 3)"])
def test_init_order_matches_torch(spec: str) -> None:
    build = lambda L: eval("L.nn." + spec)  # noqa: E731
    assert _init_calls(engine, build) == _init_calls(torch, build)


def test_lazy_modules_become_their_class() -> None:
    for L in (engine, torch):
        lin = L.nn.LazyLinear(3)
        assert repr(lin) == "LazyLinear(in_features=0, out_features=3, bias=True)"
        w = lin.weight
        y = lin(L.ones(2, 5))
        assert type(lin) is L.nn.Linear and lin.weight is w
        assert tuple(y.shape) == (2, 3) and tuple(lin.weight.shape) == (3, 5)
        assert repr(lin) == "Linear(in_features=5, out_features=3, bias=True)"
        conv = L.nn.LazyConv2d(4, 3, padding=1)
        conv(L.ones(1, 2, 5, 5))
        assert type(conv) is L.nn.Conv2d and tuple(conv.weight.shape) == (4, 2, 3, 3)
        assert repr(conv) == "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"


def test_batchnorm_running_stats_train_eval() -> None:
    e, t = both(lambda L: L.nn.BatchNorm1d(3, momentum=0.3))
    for _ in range(2):
        x = f32(5, 3)
        e(engine.tensor(x))
        t(torch.tensor(x))
    assert int(e.num_batches_tracked) == int(t.num_batches_tracked) == 2
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(e, name).numpy(), getattr(t, name).numpy(),
                                   rtol=1e-6)
    e.eval()
    t.eval()
    x = f32(5, 3)
    np.testing.assert_allclose(e(engine.tensor(x)).detach().numpy(),
                               t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert int(e.num_batches_tracked) == 2
    sd = e.state_dict()
    assert sd["num_batches_tracked"].dtype == engine.int64


def test_dropout_mask_train_and_eval() -> None:
    x = engine.ones(200, 50, requires_grad=True)
    d = engine.nn.Dropout(0.25)
    y = d(x)
    assert y.grad_fn.name() == "MulBackward0"
    vals = set(np.unique(y.detach().numpy()).tolist())
    assert vals <= {0.0, np.float32(1 / 0.75)}
    assert 0.2 < float((y == 0).float().mean()) < 0.3
    y.sum().backward()
    assert np.array_equal(x.grad.numpy() == 0, y.detach().numpy() == 0)
    d.eval()
    assert d(x) is x
    assert F.dropout(x, 0.5, training=False) is x
    z = F.dropout(x, 1.0)
    assert z.grad_fn.name() == "MulBackward0" and float(z.abs().sum()) == 0
    t = torch.nn.functional.dropout(torch.ones(2, requires_grad=True), 1.0)
    assert type(t.grad_fn).__name__ == "MulBackward0"
    c = F.dropout2d(engine.ones(4, 6, 3, 3), 0.5).numpy()
    assert (c.reshape(4, 6, -1).std(-1) == 0).all()  # whole channels kept or dropped


def test_module_api_matches_torch() -> None:
    def build(L):  # noqa: ANN001, ANN202
        nn = L.nn
        return nn.Sequential(OrderedDict(
            c=nn.Conv2d(1, 2, 3), bn=nn.BatchNorm2d(2),
            d=nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.ReLU()})))
    e, t = both(build)
    assert [n for n, _ in e.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in e.named_children()] == [n for n, _ in t.named_children()]
    assert [type(m).__name__ for m in e.modules()] == [type(m).__name__ for m in t.modules()]
    assert len(list(e.parameters(recurse=False))) == 0
    assert list(e.d.keys()) == ["a", "b"] and "a" in e.d and len(e.d) == 2

    def missing(L, m):  # noqa: ANN001, ANN202
        sd = m.state_dict()
        del sd["c.bias"]
        sd["zz"] = L.zeros(1)
        return lambda: m.load_state_dict(sd)

    assert_same_error(missing(engine, e), missing(torch, t))

    def wrong_shape(L, m):  # noqa: ANN001, ANN202
        sd = m.state_dict()
        sd["c.weight"] = L.zeros(3)
        return lambda: m.load_state_dict(sd)

    assert_same_error(wrong_shape(engine, e), wrong_shape(torch, t))
    assert repr(e.load_state_dict(e.state_dict())) == repr(t.load_state_dict(t.state_dict()))
    sd_e, sd_t = e.state_dict(), t.state_dict()
    del sd_e["c.bias"], sd_t["c.bias"]
    assert repr(e.load_state_dict(sd_e, strict=False)) == repr(t.load_state_dict(sd_t,
                                                                                 strict=False))
    for m in (e, t):
        m.register_buffer("extra", m.bn.running_mean * 0, persistent=False)
    assert list(e.state_dict()) == list(t.state_dict())
    assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]
    seen_e, seen_t = [], []
    e.apply(lambda m: seen_e.append(type(m).__name__))
    t.apply(lambda m: seen_t.append(type(m).__name__))
    assert seen_e == seen_t
    e.requires_grad_(False)
    assert not any(p.requires_grad for p in e.parameters())


def test_parameter_containers_repr() -> None:
    def build(L):  # noqa: ANN001, ANN202
        return (L.nn.ParameterList([L.nn.Parameter(L.ones(2, 3)), L.nn.Parameter(L.ones(1))]),
                L.nn.ParameterDict({"a": L.nn.Parameter(L.ones(2))}))
    (pl_e, pd_e), (pl_t, pd_t) = build(engine), build(torch)
    assert repr(pl_e) == repr(pl_t)
    assert repr(pd_e) == repr(pd_t)
    assert [n for n, _ in pl_e.named_parameters()] == [n for n, _ in pl_t.named_parameters()]
    assert len(pl_e) == 2 and len(list(pd_e.parameters())) == 1


@pytest.mark.parametrize("spec", ["BCELoss()", "BCEWithLogitsLoss()", "L1Loss()",
                                  "SmoothL1Loss(beta=0.5)", "HuberLoss(delta=2.0)",
                                  "KLDivLoss(reduction='batchmean')", "MSELoss(reduction='sum')"])
def test_loss_modules(spec: str) -> None:
    e = eval("engine.nn." + spec)
    t = eval("torch.nn." + spec)
    assert repr(e) == repr(t)
    p = rng.uniform(0.1, 0.9, (3, 4)).astype(np.float32)
    y = rng.uniform(0, 1, (3, 4)).astype(np.float32)
    xe, xt = engine.tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)
    le, lt = e(xe, engine.tensor(y)), t(xt, torch.tensor(y))
    np.testing.assert_allclose(le.item(), lt.item(), rtol=1e-5)
    assert le.grad_fn.name() == type(lt.grad_fn).__name__
    le.backward()
    lt.backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)
