"""backward_steps: one node per next(), in torch's order, and backward() is the same walk."""

import gc
import os
import weakref

import numpy as np
import pytest

import engine
import engine as torch_like
from engine.autograd import backward_steps


def require_torch():
    if os.environ.get("GRADVIZ_REQUIRE_TORCH") == "1":
        import torch
        return torch
    return pytest.importorskip("torch")


def seed_graph(lib):
    x = lib.tensor([-1.2643, 1.0159, 0.2505], requires_grad=True)
    y = x + 2
    z = (y * y * 2).mean()
    return x, z


def torch_order(root) -> list[str]:
    """Names of the nodes torch executes, in order (a prehook on every reachable node)."""
    order, seen, stack = [], set(), [root.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        n.register_prehook(lambda g, n=n: order.append(n.name()))
        stack.extend(f for f, _ in n.next_functions)
    return order


PROGRAMS = {
    "seed": lambda L, a, b: ((a + 2) * (a + 2) * 2).mean(),
    "shared": lambda L, a, b: (a * b + a.exp() * b).sum(),
    "diamond": lambda L, a, b: ((a * 2).sin() + (a * 3).cos() * b).sum(),
    "long": lambda L, a, b: (((a + b) * a - b).tanh().sigmoid() * a).mean(),
    "matmul": lambda L, a, b: (a.reshape(3, 1) @ b.reshape(1, 3)).relu().sum(),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_order_matches_torch(name):
    torch = require_torch()
    prog = PROGRAMS[name]
    ta = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    tb = torch.tensor([1.5, 0.25, -0.75], requires_grad=True)
    troot = prog(torch, ta, tb)
    expected = torch_order(troot)
    troot.backward()
    ea = engine.tensor([0.5, -1.0, 2.0], requires_grad=True)
    eb = engine.tensor([1.5, 0.25, -0.75], requires_grad=True)
    steps = list(backward_steps(prog(engine, ea, eb)))
    got = [s.name for s in steps]
    assert got == expected
    for e, t in ((ea, ta), (eb, tb)):
        assert (e.grad is None) == (t.grad is None)
        if t.grad is not None:
            np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_seed_chain_step_by_step():
    x, z = seed_graph(torch_like)
    gen = backward_steps(z)
    names = []
    for step in gen:
        names.append(step.name)
        if step.is_accumulate:
            assert step.variable is x
            assert step.grad_before is None
            np.testing.assert_allclose(step.grad_after.numpy(), x.grad.numpy())
        else:
            assert x.grad is None  # a leaf's grad changes only at its AccumulateGrad step
    assert names == ["MeanBackward0", "MulBackward0", "MulBackward0", "AddBackward0",
                     "torch::autograd::AccumulateGrad"]


def test_step_records_grads_in_and_out():
    x = torch_like.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = torch_like.tensor([0.5, -1.0, 4.0], requires_grad=True)
    root = (x * w).sum()
    steps = list(backward_steps(root))
    s0, s1 = steps[0], steps[1]
    assert s0.name == "SumBackward0"
    assert s0.grad_outputs[0].item() == 1.0
    assert s0.grad_inputs[0].tolist() == [1.0, 1.0, 1.0]
    assert s1.name == "MulBackward0"
    assert s1.grad_inputs[0].tolist() == [0.5, -1.0, 4.0]  # d/dx = w
    assert s1.grad_inputs[1].tolist() == [1.0, 2.0, 3.0]  # d/dw = x
    assert [s.index for s in steps] == list(range(len(steps)))


def test_drained_steps_equal_backward():
    xa, za = seed_graph(torch_like)
    for _ in backward_steps(za):
        pass
    xb, zb = seed_graph(torch_like)
    zb.backward()
    assert xa.grad.tolist() == xb.grad.tolist()


def test_accumulate_shows_plus_equals():
    w = torch_like.ones(4, requires_grad=True)
    (w * 3).sum().backward()
    acc = [s for s in backward_steps((w * 3).sum()) if s.is_accumulate][0]
    assert acc.grad_before.tolist() == [3.0] * 4
    assert acc.grad_after.tolist() == [6.0] * 4
    assert acc.grad_outputs[0].tolist() == [3.0] * 4
    # the record is a copy: later accumulation does not rewrite history
    (w * 3).sum().backward()
    assert acc.grad_after.tolist() == [6.0] * 4 and w.grad.tolist() == [9.0] * 4


def test_stopping_midway_is_safe():
    a = torch_like.tensor([1.0, 2.0], requires_grad=True)
    b = torch_like.tensor([3.0, 4.0], requires_grad=True)
    root = (a * 2 + b.exp()).sum()
    gen = backward_steps(root, retain_graph=True)
    seen = []
    for step in gen:
        seen.append(step)
        if step.is_accumulate:
            break
    gen.close()
    done = seen[-1].variable
    other = b if done is a else a
    assert done.grad is not None and other.grad is None
    root.backward()  # retain_graph kept the saved tensors: a full backward still works
    assert other.grad is not None


def test_errors_come_from_first_next():
    z = torch_like.tensor([1.0, 2.0], requires_grad=True) * 2
    gen = backward_steps(z)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        next(gen)
    gen = backward_steps(z, torch_like.ones(3))
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape "
                                           r"of torch.Size\(\[3\]\) and output\[0\] has a shape "
                                           r"of torch.Size\(\[2\]\)\."):
        next(gen)


def test_second_backward_needs_retain_graph_only_where_saved():
    x = torch_like.tensor([1.0, 2.0], requires_grad=True)
    s = (x + 1).sum()
    s.backward()
    s.backward()  # additions save nothing
    assert x.grad.tolist() == [2.0, 2.0]
    p = (x * x).sum()
    p.backward()
    with pytest.raises(RuntimeError, match="^Trying to backward through the graph a second "
                                           "time"):
        p.backward()
    q = (x * x).sum()
    q.backward(retain_graph=True)
    q.backward()


def test_saved_tensors_released_after_backward():
    x = torch_like.randn(1000, requires_grad=True)
    y = x.exp()  # saves its result
    z = (y * x).sum()  # saves both operands
    saved = weakref.ref(z.grad_fn.next_functions[0][0]._saved["other"])
    del y
    z.backward()
    gc.collect()
    assert saved() is None or z.grad_fn.next_functions[0][0]._saved is None
    with pytest.raises(RuntimeError, match="Trying to backward through the graph"):
        z.grad_fn.next_functions[0][0]._saved_other  # noqa: B018


def test_saved_arrays_freed_by_refcount():
    x = torch_like.randn(10_000, requires_grad=True)
    y = x.exp()
    ref = weakref.ref(y.grad_fn._saved["result"])
    root = y.sum()
    del y
    root.backward()
    assert ref() is None


def test_retain_grad_and_nonleaf_warning():
    x = torch_like.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    z = y * 2
    with pytest.warns(UserWarning, match="is not a leaf Tensor is being accessed"):
        assert z.grad is None
    z.sum().backward()
    assert y.grad.tolist() == [2.0, 2.0]


def test_hooks_see_and_replace_grads():
    x = torch_like.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    h = y.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    y.sum().backward()
    assert seen == [[1.0, 1.0]] and x.grad.tolist() == [30.0, 30.0]
    h.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    node_seen = []
    z = x * 2
    z.grad_fn.register_prehook(lambda gout: node_seen.append("pre"))
    z.grad_fn.register_hook(lambda gin, gout: node_seen.append("post"))
    z.sum().backward()
    assert node_seen == ["pre", "post"]


def test_autograd_grad_leaves_dot_grad_alone():
    x = torch_like.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    (g,) = engine.autograd.grad(y, x)
    assert g.tolist() == [2.0, 4.0, 6.0] and x.grad is None
    a = torch_like.tensor(1.0, requires_grad=True)
    b = torch_like.tensor(2.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        engine.autograd.grad(a * 2, [a, b])
    ga, gb = engine.autograd.grad(a * 2, [a, b], allow_unused=True)
    assert ga.item() == 2.0 and gb is None
