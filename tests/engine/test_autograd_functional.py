"""torch.autograd.functional (jacobian, hessian, vjp, jvp, vhp, hvp) against torch 2.13: the
same values, the same nesting of tuples and the same printed text."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import assert_same_error, require_torch

import engine

torch = require_torch()

pytestmark = pytest.mark.torch

A = np.array([0.3, -1.2, 0.8], np.float32)
B = np.array([1.5, 0.2, -0.4], np.float32)


def _both(fn):
    return fn(engine), fn(torch)


CASES = {
    "jacobian": lambda lib: lib.autograd.functional.jacobian(
        lambda x: x.exp() * 2, lib.tensor(A)),
    "jacobian_tuple_in": lambda lib: lib.autograd.functional.jacobian(
        lambda x, y: 2 * x.exp() + 3 * y, (lib.tensor(A), lib.tensor(B))),
    "jacobian_tuple_out": lambda lib: lib.autograd.functional.jacobian(
        lambda x: (x ** 2, x.sum()), lib.tensor(A)),
    "jacobian_both_tuples": lambda lib: lib.autograd.functional.jacobian(
        lambda x, y: (x * y, (x + y).sum()), (lib.tensor(A), lib.tensor(B))),
    "jacobian_matrix": lambda lib: lib.autograd.functional.jacobian(
        lambda x: x @ x.T, lib.tensor(np.outer(A, B))),
    "hessian": lambda lib: lib.autograd.functional.hessian(
        lambda x: (x ** 3).sum(), lib.tensor(A)),
    "hessian_tuple": lambda lib: lib.autograd.functional.hessian(
        lambda x, y: (x * y ** 2).sum(), (lib.tensor(A), lib.tensor(B))),
    "vjp": lambda lib: lib.autograd.functional.vjp(
        lambda x: x * 2, lib.tensor(A), v=lib.tensor([0.1, 1.0, 0.0001])),
    "vjp_scalar": lambda lib: lib.autograd.functional.vjp(lambda x: x.sin().sum(),
                                                          lib.tensor(A)),
    "jvp": lambda lib: lib.autograd.functional.jvp(
        lambda x: x ** 3, lib.tensor(A), v=lib.tensor(B)),
    "hvp": lambda lib: lib.autograd.functional.hvp(
        lambda x: (x ** 3).sum(), lib.tensor(A), lib.tensor(B)),
    "vhp": lambda lib: lib.autograd.functional.vhp(
        lambda x: (x.exp() * x).sum(), lib.tensor(A), lib.tensor(B)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_functional_vs_torch(name):
    e, t = _both(CASES[name])
    assert repr(e) == repr(t)


def test_create_graph_keeps_the_graph():
    for lib in (engine, torch):
        x = lib.tensor(A.astype(np.float64), requires_grad=True)
        j = lib.autograd.functional.jacobian(lambda v: v ** 3, x, create_graph=True)
        assert j.requires_grad
    e = engine.tensor(A.astype(np.float64), requires_grad=True)
    t = torch.tensor(A.astype(np.float64), requires_grad=True)
    for x, lib in ((e, engine), (t, torch)):
        lib.autograd.functional.jacobian(lambda v: v ** 3, x, create_graph=True).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy())


def test_v_required():
    assert_same_error(
        lambda: engine.autograd.functional.vjp(lambda x: x * 2, engine.tensor(A)),
        lambda: torch.autograd.functional.vjp(lambda x: x * 2, torch.tensor(A)))
