"""autograd.grad and backward(inputs=) through the backward driver (a debugger steps them like
backward()): the walk is torch's order (the nodes torch runs; in grad() a captured step where
torch captures an input's grad), the result is torch's, grad() moves no ``.grad``; the
engine's own grad() calls run plainly."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.autograd import set_backward_driver
from tests.engine.oracle import require_torch

torch = require_torch()


def program(lib):  # noqa: ANN001, ANN201
    w = lib.tensor([0.5, -1.0, 0.2], requires_grad=True)
    b = lib.tensor(0.25, requires_grad=True)
    x = lib.tensor([1.0, 2.0, 3.0])
    h = (w * x).tanh()
    loss = (h * h).sum() + b * 3
    return loss, w, b, h


def torch_walk(loss, inputs, grad=None, **kw):  # noqa: ANN001, ANN003, ANN201
    """What torch's engine does in grad(): each node its pre-hook sees run, and each input's
    tensor hook where torch captures its grad (the input's node itself does not run).
    ``grad``: torch's own autograd.grad when a test has patched it."""
    seen, stack, log, handles = set(), [loss.grad_fn], [], []
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        handles.append(n.register_prehook(lambda g, n=n: log.append((n.name(), None))))
        stack.extend(f for f, _ in n.next_functions)
    for t in inputs:
        handles.append(t.register_hook(lambda g: log.append(("captured", g.tolist()))))
    out = (grad or torch.autograd.grad)(loss, inputs, **kw)
    for h in handles:
        h.remove()
    return out, log


def assert_same_walk(got: list, want: list) -> None:
    assert [n for n, _ in got] == [n for n, _ in want]
    for (_, g), (_, t) in zip(got, want):
        if t is not None:
            np.testing.assert_allclose(g, t, rtol=1e-5)


class Recorder:
    """A driver that drains the walk, noting each step."""

    def __init__(self) -> None:
        self.walks: list[list] = []

    def __call__(self, steps, tensors, grads, retain_graph) -> None:  # noqa: ANN001
        walk = []
        self.walks.append(walk)
        for s in steps:
            walk.append(("captured", s.grad_outputs[0].tolist()) if s.captured
                        else (s.name, None))
            assert not s.captured or s.variable is None  # nothing accumulates


@pytest.fixture
def recorder():
    rec = Recorder()
    previous = set_backward_driver(rec)
    yield rec
    set_backward_driver(previous)


def test_grad_walks_torchs_nodes_and_captures_then_returns_torchs_grads(recorder) -> None:
    loss_t, w_t, b_t, h_t = program(torch)
    want, want_walk = torch_walk(loss_t, [w_t, b_t])
    loss, w, b, h = program(engine)
    got = engine.autograd.grad(loss, [w, b])
    assert len(recorder.walks) == 1
    assert_same_walk(recorder.walks[0], want_walk)
    for g, t in zip(got, want):
        np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-5)
    assert w.grad is None and b.grad is None
    # an intermediate input that the walk also runs through
    loss_t, w_t, b_t, h_t = program(torch)
    want, want_walk = torch_walk(loss_t, [h_t, w_t])
    loss, w, b, h = program(engine)
    got = engine.autograd.grad(loss, [h, w])
    # h's node runs (w is below it): h's grad is that step's grad_output, no step of its own
    assert [n for n, _ in want_walk].count("captured") == 2
    assert_same_walk(recorder.walks[-1], [s for s in want_walk[:-1] if s[0] != "captured"] +
                     want_walk[-1:])
    for g, t in zip(got, want):
        np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-5)


def test_create_graph_then_a_second_grad_and_torchs_errors(recorder) -> None:
    def second(lib):  # noqa: ANN001, ANN202
        w = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        loss = (w * w * w).sum()
        (g,) = lib.autograd.grad(loss, w, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), w)
        return g, gg, w

    g_t, gg_t, _ = second(torch)
    g, gg, w = second(engine)
    assert len(recorder.walks) == 2 and all(recorder.walks)
    assert g.requires_grad and g.grad_fn is not None
    np.testing.assert_allclose(g.detach().numpy(), g_t.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(gg.numpy(), gg_t.numpy(), rtol=1e-5)
    assert w.grad is None

    def unused(lib):  # noqa: ANN001, ANN202
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        u = lib.tensor([3.0], requires_grad=True)
        return lib.autograd.grad((a * 2).sum(), [a, u])

    with pytest.raises(RuntimeError) as want:
        unused(torch)
    n = len(recorder.walks)
    with pytest.raises(RuntimeError) as got:
        unused(engine)
    assert str(got.value) == str(want.value)
    assert len(recorder.walks) == n + 1  # the walk ran to its end, then torch's error


def test_the_engines_own_grad_calls_are_not_walks(recorder) -> None:
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    jac = engine.autograd.functional.jacobian(lambda v: v * v, x)
    np.testing.assert_allclose(jac.numpy(), np.diag([2.0, 4.0]))
    assert recorder.walks == []


def test_backward_with_inputs_walks_only_torchs_nodes(recorder) -> None:
    def run(lib):  # noqa: ANN001, ANN202
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        v = lib.tensor([3.0, 4.0], requires_grad=True)
        h = w * v
        loss = (h * h).sum()
        log: list[str] = []
        if lib is torch:  # the nodes torch's engine runs, by their pre-hooks
            seen, stack = set(), [loss.grad_fn]
            while stack:
                node = stack.pop()
                if node is not None and node not in seen:
                    seen.add(node)
                    node.register_prehook(lambda g, node=node: log.append(node.name()))
                    stack.extend(f for f, _ in node.next_functions)
        lib.autograd.backward(loss, inputs=[h, v])
        return h, v, w, log

    h_t, v_t, w_t, want = run(torch)
    n = len(recorder.walks)
    h, v, w, _ = run(engine)
    assert [s for s, _ in recorder.walks[n]] == want  # w's AccumulateGrad does not run
    assert h.retains_grad and w.grad is None and w_t.grad is None
    np.testing.assert_allclose(h.grad.numpy(), h_t.grad.numpy())
    np.testing.assert_allclose(v.grad.numpy(), v_t.grad.numpy())
