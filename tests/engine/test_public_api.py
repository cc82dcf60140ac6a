"""The public API a viewer uses instead of the engine's privates: torch's own names where torch
has one (``_version``, ``_backward_hooks``, ``_forward_cls``), the engine's where it has none
(``events.id_of``, ``events.paused``, ``Node.registered_hooks``, ``autograd.restore_grad``)."""

from __future__ import annotations

import pytest
from oracle import require_torch

import engine
from engine import autograd, events

torch = require_torch()


def _both(fn):
    return fn(engine), fn(torch)


def test_version_and_backward_hooks_match_torch() -> None:
    def program(lib):
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        before = (x._backward_hooks, y._backward_hooks)
        x.register_hook(lambda g: g)
        y.register_hook(lambda g: g)
        y.register_hook(lambda g: g * 2)
        z = lib.zeros(3)
        z.add_(1)
        z.mul_(3)
        return before, len(x._backward_hooks), len(y._backward_hooks), int(z._version)

    assert program(engine) == program(torch) == ((None, None), 1, 2, 2)


def test_forward_cls_of_a_custom_function_node_is_the_function() -> None:
    def program(lib):
        class Double(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2

        y = Double.apply(lib.ones(2, requires_grad=True))
        return y.grad_fn._forward_cls is Double

    assert _both(program) == (True, True)


def test_node_hooks_and_freed_saved_values() -> None:
    x = engine.ones(3, requires_grad=True)
    y = x.exp()
    node = y.grad_fn
    assert node.registered_hooks() == ((), (), ()) and not node.is_freed
    post, pre = (lambda gi, go: None), (lambda go: None)
    node.register_hook(post)
    h = node.register_prehook(pre)
    y.register_hook(lambda g: g)
    hooks = node.registered_hooks()
    assert hooks.hooks == (post,) and hooks.prehooks == (pre,) and len(hooks.tensor_prehooks) == 1
    h.remove()
    assert node.registered_hooks().prehooks == ()
    y.sum().backward()
    assert node.is_freed and node.freed_names == ("result",)
    with pytest.raises(RuntimeError, match="second time"):
        node.saved_tensors  # noqa: B018


def test_paused_mutes_events_and_keeps_subscriptions() -> None:
    seen, later = [], []
    with events.subscribe(seen.append):
        x = engine.ones(2, requires_grad=True)
        with events.paused():
            assert not events.emitting()
            (x * 2).sum()
            inner = events.subscribe(later.append)
        n = len(seen)
        y = x * 3
        assert len(seen) > n and later  # both hear what comes after
        inner.remove()
    assert all(e.kind == "tensor_created" for e in seen[:1])
    assert events.id_of(y) == seen[-1].tensor_id and events.id_of(y.grad_fn) == seen[-2].node_id
    assert events.id_of(3.0) is None and events.id_of(None) is None


def test_restore_grad_writes_in_place_and_emits_like_any_grad_write() -> None:
    w = engine.ones(3, requires_grad=True)
    (w * 2).sum().backward()
    g = w.grad
    seen = []
    with events.subscribe(seen.append):
        autograd.restore_grad(w, [1.0, 2.0, 3.0], reason="step_back")
        assert w.grad is g and g.tolist() == [1.0, 2.0, 3.0] and int(g._version) == 1
        autograd.restore_grad(w, None, reason="step_back")
        assert w.grad is None
        autograd.restore_grad(w, engine.tensor([4.0, 5.0, 6.0], dtype=engine.float64))
        assert w.grad.dtype == engine.float32 and w.grad.tolist() == [4.0, 5.0, 6.0]
        w.grad.zero_()  # the new grad knows its owner: zero_ reports too
    kinds = [(e.kind, e.reason) for e in seen if e.kind == "grad_changed"]
    assert kinds == [("grad_changed", "step_back"), ("grad_changed", "step_back"),
                     ("grad_changed", "restored"), ("grad_changed", "zero_")]
    assert seen[0].value == [1.0, 2.0, 3.0] and seen[1].value is None
