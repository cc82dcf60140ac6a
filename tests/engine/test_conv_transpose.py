"""nn.ConvTranspose1d/2d and F.conv_transpose1d/2d against torch: values, gradients, the
ConvolutionBackward0 node, gradcheck, the module's parameters and repr; leaky_relu_ in place."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import require_torch

import engine

torch = require_torch()

pytestmark = pytest.mark.torch

CASES = [  # (N, C_in, H, W), C_out, kernel, stride, padding, output_padding, groups, dilation
    ((2, 8, 1, 1), 4, 4, 1, 0, 0, 1, 1),
    ((2, 4, 4, 4), 2, 4, 2, 1, 0, 1, 1),
    ((1, 3, 5, 4), 2, 3, 2, 1, 1, 1, 1),
    ((2, 4, 3, 3), 6, (2, 3), (1, 2), (0, 1), 0, 2, 1),
    ((1, 2, 4, 4), 3, 3, 1, 1, 0, 1, 2),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_transpose2d_values_gradients_and_node(case, dtype):
    xs, cout, k, st, pd, op, groups, dl = case
    rng = np.random.default_rng(xs[1] + cout)
    kk = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((xs[1], cout // groups) + kk).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    res = []
    for lib in (engine, torch):
        lx, lw, lb = (lib.tensor(v, requires_grad=True) for v in (x, w, b))
        y = lib.nn.functional.conv_transpose2d(lx, lw, lb, st, pd, op, groups, dl)
        g = lib.tensor(np.cos(np.arange(y.numel())).reshape(tuple(y.shape)).astype(dtype))
        y.backward(g)
        res.append((y, lx.grad, lw.grad, lb.grad, y.grad_fn.name()))
    e, t = res
    assert e[4] == t[4] == "ConvolutionBackward0"
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a, c in zip(e[:4], t[:4]):
        assert tuple(a.shape) == tuple(c.shape)
        np.testing.assert_allclose(a.detach().numpy(), c.detach().numpy(), rtol=tol, atol=tol)


def test_conv_transpose_gradcheck():
    rng = np.random.default_rng(0)
    x = engine.tensor(rng.standard_normal((1, 2, 3, 3)), requires_grad=True)
    w = engine.tensor(rng.standard_normal((2, 3, 3, 2)), requires_grad=True)
    b = engine.tensor(rng.standard_normal(3), requires_grad=True)
    assert engine.autograd.gradcheck(
        lambda a, c, d: engine.nn.functional.conv_transpose2d(a, c, d, 2, 1, 1), (x, w, b))
    x1 = engine.tensor(rng.standard_normal((2, 2, 5)), requires_grad=True)
    w1 = engine.tensor(rng.standard_normal((2, 1, 3)), requires_grad=True)
    assert engine.autograd.gradcheck(
        lambda a, c: engine.nn.functional.conv_transpose1d(a, c, None, 2), (x1, w1))


def test_conv_transpose1d_matches_torch():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3)).astype(np.float32)
    ys = [lib.nn.functional.conv_transpose1d(lib.tensor(x), lib.tensor(w), None, 2, 1, 1)
          for lib in (engine, torch)]
    np.testing.assert_allclose(ys[0].numpy(), ys[1].numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("args", [(8, 4, 4), (8, 4, 4, 2, 1), (6, 4, 3, 2, 1, 1, 2)])
def test_conv_transpose2d_module_matches_torch(args):
    mods = []
    for lib in (engine, torch):
        lib.manual_seed(3)
        mods.append(lib.nn.ConvTranspose2d(*args))
    e, t = mods
    assert repr(e) == repr(t)
    for (ne, pe), (nt, pt) in zip(e.named_parameters(), t.named_parameters()):
        assert ne == nt and tuple(pe.shape) == tuple(pt.shape)
        assert pe.detach().numpy().tobytes() == pt.detach().numpy().tobytes()
    x = np.random.default_rng(1).standard_normal((2, args[0], 3, 3)).astype(np.float32)
    ye, yt = e(engine.tensor(x)), t(torch.tensor(x))
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    if args == (8, 4, 4, 2, 1):  # output_size picks the output padding
        ye, yt = (m(lib.tensor(x), output_size=[7, 7]) for m, lib in ((e, engine), (t, torch)))
        assert tuple(ye.shape) == tuple(yt.shape) == (2, 4, 7, 7)
        np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5,
                                   atol=1e-5)


def test_leaky_relu_in_place_saves_its_result():
    outs = []
    for lib in (engine, torch):
        x = lib.tensor([-1.0, 0.5, 2.0, -3.0], requires_grad=True)
        h = x * 2
        y = lib.nn.functional.leaky_relu(h, 0.2, inplace=True)
        assert y is h
        (y * y).sum().backward()
        outs.append((y.grad_fn.name(), x.grad.numpy()))
    assert outs[0][0] == outs[1][0] == "LeakyReluBackward1"
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
