"""create_graph=True: gradients that are themselves differentiable. Second (and third)
derivatives of a set of expressions, Hessians and Hessian-vector products, through
``autograd.grad`` and ``backward``, match torch's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from oracle import require_torch

import engine

torch = require_torch()
torch.set_num_threads(1)
pytestmark = pytest.mark.torch

rng = np.random.default_rng(2)
POS = rng.uniform(0.5, 2.0, 5)
ANY = rng.standard_normal(5)
A = rng.standard_normal((3, 5))
T = rng.standard_normal(5)


def c(lib, a):
    return lib.tensor(a)


EXPRESSIONS = {
    "cube": (lambda lib, x: (x ** 3).sum(), ANY),
    "sin_cos": (lambda lib, x: (lib.sin(x) * lib.cos(x)).sum(), ANY),
    "exp_over_quadratic": (lambda lib, x: (lib.exp(x) / (1 + x ** 2)).sum(), ANY),
    "tanh": (lambda lib, x: lib.tanh(x).sum(), ANY),
    "sigmoid": (lambda lib, x: (lib.sigmoid(x) * x).sum(), ANY),
    "log_sqrt": (lambda lib, x: (lib.log(x) * lib.sqrt(x)).sum(), POS),
    "reciprocal": (lambda lib, x: (1 / x).sum(), POS),
    "x_pow_x": (lambda lib, x: (x ** x).sum(), POS),
    "softmax": (lambda lib, x: (lib.softmax(x, 0) * c(lib, T)).sum(), ANY),
    "log_softmax": (lambda lib, x: (lib.log_softmax(x, 0) * c(lib, T)).sum(), ANY),
    "matvec_tanh": (lambda lib, x: lib.tanh(c(lib, A) @ x).sum(), ANY),
    "variance": (lambda lib, x: ((x - x.mean()) ** 2).mean(), ANY),
    "norm": (lambda lib, x: x.norm() * x.sum(), ANY),
    "mse_loss": (lambda lib, x: lib.nn.functional.mse_loss(x * x, c(lib, T)), ANY),
    "cross_entropy": (lambda lib, x: lib.nn.functional.cross_entropy(
        (c(lib, A) * x).reshape(1, 3, 5).transpose(1, 2).reshape(5, 3),
        lib.tensor([0, 2, 1, 1, 0])), ANY),
    "mlp": (lambda lib, x: _mlp(lib)(x.reshape(1, 5)).sum(), ANY),
}


def _mlp(lib):
    r = np.random.default_rng(9)
    lin1 = lib.nn.Linear(5, 4, dtype=lib.float64)
    lin2 = lib.nn.Linear(4, 1, dtype=lib.float64)
    with lib.no_grad():
        for p in (*lin1.parameters(), *lin2.parameters()):
            p.copy_(lib.tensor(r.standard_normal(tuple(p.shape))))
    return lib.nn.Sequential(lin1, lib.nn.Tanh(), lin2)


def _derivatives(lib, fn, x0):
    """(gradient, Hessian) of fn at x0, the Hessian row by row from the gradient's graph."""
    x = lib.tensor(x0, requires_grad=True)
    y = fn(lib, x)
    (g,) = lib.autograd.grad(y, x, create_graph=True)
    rows = []
    for i in range(x0.size):
        (h,) = lib.autograd.grad(g[i], x, retain_graph=True, allow_unused=True)
        rows.append(np.zeros(x0.size) if h is None else h.detach().numpy().copy())
    return g, np.array(rows)


@pytest.mark.parametrize("name", list(EXPRESSIONS))
def test_second_derivatives_match_torch(name: str) -> None:
    fn, x0 = EXPRESSIONS[name]
    ge, he = _derivatives(engine, fn, x0)
    gt, ht = _derivatives(torch, fn, x0)
    assert ge.requires_grad and ge.grad_fn is not None
    np.testing.assert_allclose(ge.detach().numpy(), gt.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(he, ht, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["cube", "log_sqrt", "matvec_tanh", "mlp"])
def test_backward_create_graph_then_backward_again(name: str) -> None:
    fn, x0 = EXPRESSIONS[name]
    out = []
    for lib in (engine, torch):
        x = lib.tensor(x0, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about the .grad reference cycle
            fn(lib, x).backward(create_graph=True)
        g = x.grad
        assert g.requires_grad and g.grad_fn is not None
        x.grad = None
        (g * lib.tensor(T)).sum().backward()  # Hessian-vector product lands in x.grad
        out.append((g.detach().numpy().copy(), x.grad.detach().numpy().copy()))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-10)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-9, atol=1e-12)


def test_d2y_dx2_and_third_derivative_of_a_scalar() -> None:
    res = []
    for lib in (engine, torch):
        x = lib.tensor(1.5, dtype=lib.float64, requires_grad=True)
        y = x ** 4 + lib.sin(x) * x
        (d1,) = lib.autograd.grad(y, x, create_graph=True)
        (d2,) = lib.autograd.grad(d1, x, create_graph=True)
        (d3,) = lib.autograd.grad(d2, x)
        res.append([d1.item(), d2.item(), d3.item()])
    np.testing.assert_allclose(res[0], res[1], rtol=1e-12)
    x = 1.5
    assert res[0][1] == pytest.approx(12 * x ** 2 + 2 * np.cos(x) - x * np.sin(x))


def test_gradient_graph_reaches_the_input_and_prints_like_torch() -> None:
    shown = []
    for lib in (engine, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        (g,) = lib.autograd.grad((x ** 3).sum(), x, create_graph=True)
        seen, stack, leaves = set(), [g.grad_fn], []
        while stack:
            n = stack.pop()
            if n is None or n in seen:
                continue
            seen.add(n)
            if hasattr(n, "variable"):
                leaves.append(n.variable)
            stack.extend(f for f, _ in n.next_functions)
        assert any(v is x for v in leaves)
        shown.append(repr(g))
    assert shown[0] == shown[1]


def test_grad_outputs_requiring_grad_stay_in_the_graph() -> None:
    res = []
    for lib in (engine, torch):
        x = lib.tensor(ANY, requires_grad=True)
        v = lib.tensor(T, requires_grad=True)
        (g,) = lib.autograd.grad(lib.tanh(x) * x, x, v, create_graph=True)
        gx, gv = lib.autograd.grad((g * g).sum(), (x, v))
        res.append((gx.numpy().copy(), gv.numpy().copy()))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-10)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-10)


def test_custom_function_double_backward_matches_torch() -> None:
    def make(lib):
        class Exp(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                r = x.exp()
                ctx.save_for_backward(r)
                return r

            @staticmethod
            def backward(ctx, grad):
                (r,) = ctx.saved_tensors
                return grad * r

        return Exp

    res = []
    for lib in (engine, torch):
        x = lib.tensor(ANY, requires_grad=True)
        y = make(lib).apply(x * 2).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (h,) = lib.autograd.grad(g.sum(), x)
        res.append((g.detach().numpy().copy(), h.numpy().copy()))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-12)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-12)
    np.testing.assert_allclose(res[0][1], 4 * np.exp(2 * ANY), rtol=1e-12)
