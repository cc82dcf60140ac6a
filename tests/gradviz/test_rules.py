"""gradviz.rules: a rule in words and symbols for every node the engine (and torch) produces."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import engine
from engine.function import Node
from gradviz.rules import GENERIC, RULES, Rule, rule_for, rule_for_node


def _engine_node_classes() -> list[type[Node]]:
    """Every Node subclass defined in the engine package (all its modules imported)."""
    for mod in pkgutil.walk_packages(engine.__path__, "engine."):
        importlib.import_module(mod.name)
    out, stack = [], [Node]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("engine."):
                out.append(sub)
    return out


def test_every_engine_node_has_a_rule() -> None:
    classes = _engine_node_classes()
    assert len(classes) > 50
    missing = []
    for cls in classes:
        node = cls.__new__(cls)
        if rule_for_node(node).generic:
            missing.append(node.name())
    assert missing == []


def test_custom_function_nodes() -> None:
    from engine.autograd import Function

    class Square(Function):
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
    assert rule.name == "BackwardCFunction" and not rule.generic
    assert rule.symbols == ("grads = Square.backward(ctx, grad)",)
    assert "custom autograd.Function" in rule.words


def test_rules_are_complete_records() -> None:
    for name, rule in RULES.items():
        assert isinstance(rule, Rule) and rule.name == name
        assert rule.words.strip() and rule.symbols, name
        assert all(s.strip() for s in rule.symbols), name


def test_named_rules() -> None:
    assert rule_for("MulBackward0").symbols == ("grad_self = grad * other",
                                                "grad_other = grad * self")
    assert rule_for("torch::autograd::AccumulateGrad").symbols == ("x.grad += grad",)
    assert rule_for("AccumulateGrad") is RULES["AccumulateGrad"]
    for name in ("AddmmBackward0", "MseLossBackward0", "NllLossBackward0",
                 "LogSoftmaxBackward0"):
        assert not rule_for(name).generic


def test_generic_fallback() -> None:
    r = rule_for("MyCustomBackward")
    assert r is GENERIC and r.generic and "chain rule" in r.words.lower()


def test_graph_of_seed_example_all_named() -> None:
    x = engine.tensor([-1.0, 1.0, 0.5], requires_grad=True)
    z = ((x + 2) * (x + 2) * 2).mean()
    seen, stack = set(), [z.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        assert not rule_for(n.name()).generic, n.name()
        stack.extend(f for f, _ in n.next_functions)
    assert {n.name() for n in seen} >= {"MeanBackward0", "MulBackward0", "AddBackward0",
                                         "torch::autograd::AccumulateGrad"}


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
            (2 - x / 2) ** 2, x.exp().log().softmax(0), x.reshape(12)[2:5].abs().sqrt()]
    seen, stack = set(), [o.grad_fn for o in outs]
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        stack.extend(f for f, _ in n.next_functions)
    missing = sorted({n.name() for n in seen if rule_for(n.name()).generic})
    assert missing == []
