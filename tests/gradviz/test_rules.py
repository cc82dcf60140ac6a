"""gradviz.rules: the engine's rule for every node it creates, a small table only for the nodes
real torch creates and the engine does not, and the rule carried in the kernel's node records
(engine and torch backends) for the window to read."""

from __future__ import annotations

import json

import numpy as np
import pytest

import engine
from engine._rule import evaluate, sum_to
from engine._rule import rule_for as engine_rule_for
from gradviz.kernel.snapshot import Snapshotter
from gradviz.rules import GENERIC, TORCH_ONLY, Rule, rule_for, rule_for_node
from gradviz.views import World


def test_the_table_repeats_no_engine_rule() -> None:
    assert TORCH_ONLY, "torch-only rules"
    for name, rule in TORCH_ONLY.items():
        assert engine_rule_for(name) is None, name  # the engine keeps its own beside its op
        assert isinstance(rule, Rule) and rule.words.strip() and rule.symbols, name


def test_lookup_prefers_the_engines_rule() -> None:
    y = engine.tensor([1.0, 2.0], requires_grad=True) * 3
    assert rule_for("MulBackward0") is type(y.grad_fn).rule
    assert rule_for_node(y.grad_fn) is type(y.grad_fn).rule
    assert rule_for("torch::autograd::AccumulateGrad").symbols == ("x.grad += grad",)
    assert rule_for("ThresholdBackward0") is TORCH_ONLY["ThresholdBackward0"]
    r = rule_for("MyCustomBackward")
    assert r is GENERIC and "chain rule" in r.words.lower()


def test_custom_function_nodes() -> None:
    class Square(engine.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    y = Square.apply(engine.tensor([3.0], requires_grad=True))
    rule = rule_for_node(y.grad_fn)
    assert rule.symbols == ("grads = Square.backward(ctx, grad)",)
    assert "custom autograd.Function" in rule.words


def test_engine_snapshot_carries_the_rule() -> None:
    x = engine.tensor([[0.5, -1.0], [2.0, 0.1]], requires_grad=True)
    g = engine.nn.functional.gelu(x, approximate="tanh").sum()
    snap = Snapshotter({})
    snap.tensor(g, deep=True)
    payload = json.loads(json.dumps(snap.payload()))  # JSON-safe, as the kernel sends it
    world = World()
    world.update(payload["tensors"], payload["nodes"])
    gelu = g.grad_fn.next_functions[0][0]
    view = world.node(gelu._id)
    assert view.name() == "GeluBackward0"
    rule = type(gelu).rule
    assert view.rule.symbols == rule.symbols and view.rule.words == rule.words
    assert view.rule.math == rule.math and not view.rule.generic
    assert "approximate='tanh'" in view.rule.words
    acc = world.node(gelu.next_functions[0][0]._id)
    assert acc.rule.symbols == ("x.grad += grad",)
    assert world.node(10 ** 9).rule.generic  # a node the kernel never sent


def test_graph_of_seed_example_all_named() -> None:
    x = engine.tensor([-1.0, 1.0, 0.5], requires_grad=True)
    z = ((x + 2) * (x + 2) * 2).mean()
    seen, stack = set(), [z.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        assert rule_for_node(n) is not GENERIC, n.name()
        stack.extend(f for f, _ in n.next_functions)
    assert {n.name() for n in seen} >= {"MeanBackward0", "MulBackward0", "AddBackward0",
                                         "torch::autograd::AccumulateGrad"}


# ----------------------------------------------------------------------------- torch
# one row per torch-only rule: how real torch makes that node
_TORCH_ROWS = {
    "RsubBackward0": lambda t, a: t.rsub(a, a.detach().exp().requires_grad_(), alpha=1.5),
    "SqueezeBackward2": lambda t, a: a.reshape(3, 1, 4, 1).squeeze((1, 3)),
    "SqueezeBackward3": lambda t, a: (a.reshape(3, 1, 4) * 1).squeeze_(),
    "SqueezeBackward5": lambda t, a: (a.reshape(3, 1, 4, 1) * 1).squeeze_((1, 3)),
    "ThresholdBackward0": lambda t, a: t.nn.functional.threshold(a, 0.2, -1.0),
}
# as_strided's rule names the storage positions it reads; no vocabulary word computes them
NOT_EVALUATED = {"AsStridedBackward0"}


def test_every_torch_only_rule_has_a_row() -> None:
    assert set(TORCH_ONLY) - NOT_EVALUATED == set(_TORCH_ROWS)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(_TORCH_ROWS))
def test_torch_only_rules_evaluate_to_torchs_gradient(name: str) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    a = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    out = _TORCH_ROWS[name](torch, a)
    node = out.grad_fn
    assert node.name() == name
    values = {}
    for attr in dir(node):
        if attr.startswith("_saved_"):
            v = getattr(node, attr)
            values[attr[7:]] = v.detach().numpy() if isinstance(v, torch.Tensor) else v
    grad = np.random.default_rng(1).standard_normal(tuple(out.shape))
    want = node(torch.tensor(grad))
    want = want if isinstance(want, tuple) else (want,)
    got = evaluate(TORCH_ONLY[name], values, grad)
    assert len(got) == len(node.next_functions)
    for w, g, (fn, _) in zip(want, got, node.next_functions):
        if fn is None or w is None:
            continue
        w = w.detach().numpy()
        np.testing.assert_allclose(sum_to(np.broadcast_to(g, np.broadcast_shapes(
            np.shape(g), w.shape)), w.shape), w, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.torch
def test_common_torch_graphs_have_rules() -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    torch.manual_seed(0)
    x = torch.randn(3, 4, requires_grad=True)
    w = torch.randn(2, 4, requires_grad=True)
    b = torch.randn(2, requires_grad=True)
    y = torch.tensor([0, 1, 1])
    outs = [F.mse_loss(F.linear(x, w, b), torch.zeros(3, 2)), F.cross_entropy(x, y),
            F.nll_loss(F.log_softmax(x, 1), y), F.binary_cross_entropy_with_logits(x, x.detach()),
            F.binary_cross_entropy(torch.sigmoid(x), torch.rand(3, 4)), x.tanh().relu().sum(),
            (2 - x / 2) ** 2, x.exp().log().softmax(0), x.reshape(12)[2:5].abs().sqrt(),
            F.dropout(x, 0.5), F.threshold(x, 0.1, 0.0), x.reshape(3, 1, 4).squeeze((1, 0)),
            torch.rsub(x, w[0])]
    seen, stack = set(), [o.grad_fn for o in outs]
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        stack.extend(f for f, _ in n.next_functions)
    missing = sorted({n.name() for n in seen if rule_for(n.name()) is GENERIC})
    assert missing == []


@pytest.mark.torch
def test_torch_snapshot_carries_the_rule() -> None:
    torch = pytest.importorskip("torch")
    from gradviz.kernel.torch_snapshot import TorchSnapshotter
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    z = torch.nn.functional.threshold(x * 2, 0.5, 0.0).sum()
    snap = TorchSnapshotter({})
    snap.tensor(z, deep=True)
    payload = json.loads(json.dumps(snap.payload()))
    world = World()
    world.update(payload["tensors"], payload["nodes"])
    by_name = {r["name"]: world.node(r["id"]) for r in payload["nodes"]}
    assert by_name["MulBackward0"].rule.symbols == engine_rule_for("MulBackward0").symbols
    assert by_name["ThresholdBackward0"].rule.symbols == TORCH_ONLY["ThresholdBackward0"].symbols
    assert by_name["torch::autograd::AccumulateGrad"].rule.symbols == ("x.grad += grad",)
