"""Every op's gradient against float64 central finite differences (the engine alone).

Each case computes ``L = sum(w * f(inputs))`` for a fixed random ``w`` and compares the engine's
``.grad`` of every input with ``(L(x + h) - L(x - h)) / 2h``, element by element. Inputs stay
away from kinks (relu, abs, clamp, max); ties, where the subgradient is a convention, are
compared with torch instead (skipped without torch).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import engine

H = 1e-6


def _inputs(shapes: tuple, kind: str, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        if kind == "positive":
            a = rng.uniform(0.5, 2.0, s)
        elif kind == "distinct":  # well apart, and away from 0 and the clamp bounds
            n = int(np.prod(s)) if s else 1
            a = ((rng.permutation(n) - n / 2 + 0.25) * 0.37).reshape(s)
            a = a + 0.013 * rng.standard_normal(s) + (np.arange(n).reshape(s) * 1e-3 if s else 0)
        else:
            a = rng.standard_normal(s)
        out.append(np.asarray(a, dtype=np.float64))
    return out


def check_fd(fn: Callable[..., Any], arrays: list[np.ndarray], seed: int = 1,
             rtol: float = 1e-6, atol: float = 1e-8, h: float = H) -> None:
    xs = [engine.tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*xs)
    w = np.random.default_rng(seed).standard_normal(tuple(out.shape))
    (out * engine.tensor(w)).sum().backward()

    def loss(vals: list[np.ndarray]) -> float:
        with engine.no_grad():
            r = fn(*[engine.tensor(v) for v in vals])
            return float((r.numpy() * w).sum())

    for i, a in enumerate(arrays):
        num = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus = [v.copy() for v in arrays]
            minus = [v.copy() for v in arrays]
            plus[i][idx] += h
            minus[i][idx] -= h
            num[idx] = (loss(plus) - loss(minus)) / (2 * h)
        g = xs[i].grad
        assert g is not None, f"input {i} got no gradient"
        assert g.dtype == engine.float64 and tuple(g.shape) == a.shape
        np.testing.assert_allclose(g.numpy(), num, rtol=rtol, atol=atol * max(1, np.abs(num).max()),
                                   err_msg=f"gradient of input {i}")


CASES: list[tuple[str, Callable[..., Any], tuple, str]] = [
    # arithmetic, with broadcasting and numbers on either side
    ("add", lambda x, y: x + y, ((2, 3), (2, 3)), "normal"),
    ("add_bcast", lambda x, y: x + y, ((3, 1), (4,)), "normal"),
    ("add_alpha", lambda x, y: x.add(y, alpha=-1.5), ((2, 3), (3,)), "normal"),
    ("add_num", lambda x: 2 + x + 1.5, ((3,),), "normal"),
    ("sub", lambda x, y: x - y, ((2, 1, 3), (4, 1)), "normal"),
    ("rsub", lambda x: 2 - x, ((3,),), "normal"),
    ("sub_alpha", lambda x, y: x.sub(y, alpha=2), ((2, 3), (2, 3)), "normal"),
    ("mul", lambda x, y: x * y, ((2, 3), (2, 3)), "normal"),
    ("mul_bcast", lambda x, y: x * y, ((2, 1, 3), (4, 1)), "normal"),
    ("mul_num", lambda x: 3 * x * 0.5, ((3,),), "normal"),
    ("mul_self", lambda x: x * x, ((3,),), "normal"),
    ("div", lambda x, y: x / y, ((2, 3), (2, 3)), "positive"),
    ("div_bcast", lambda x, y: x / y, ((4, 3), (3,)), "positive"),
    ("rdiv", lambda x: 2 / x, ((3,),), "positive"),
    ("div_num", lambda x: x / 4, ((3,),), "normal"),
    ("pow2", lambda x: x ** 2, ((2, 3),), "normal"),
    ("pow3", lambda x: x.pow(3), ((2, 3),), "normal"),
    ("pow_frac", lambda x: x ** 1.5, ((2, 3),), "positive"),
    ("pow_neg", lambda x: x ** -2, ((2, 3),), "positive"),
    ("pow_tensor", lambda x, y: x ** y, ((2, 3), (2, 3)), "positive"),
    ("pow_tensor_bcast", lambda x, y: x ** y, ((2, 3), (3,)), "positive"),
    ("rpow", lambda x: 2 ** x, ((2, 3),), "normal"),
    ("square", lambda x: x.square(), ((2, 3),), "normal"),
    ("neg", lambda x: -x, ((2, 3),), "normal"),
    # unary
    ("exp", lambda x: x.exp(), ((2, 3),), "normal"),
    ("log", lambda x: x.log(), ((2, 3),), "positive"),
    ("sin", lambda x: x.sin(), ((2, 3),), "normal"),
    ("cos", lambda x: x.cos(), ((2, 3),), "normal"),
    ("tanh", lambda x: x.tanh(), ((2, 3),), "normal"),
    ("sigmoid", lambda x: x.sigmoid(), ((2, 3),), "normal"),
    ("relu", lambda x: x.relu(), ((2, 3),), "distinct"),
    ("abs", lambda x: x.abs(), ((2, 3),), "distinct"),
    ("sqrt", lambda x: x.sqrt(), ((2, 3),), "positive"),
    # matrix products
    ("mm", lambda a, b: a @ b, ((2, 3), (3, 4)), "normal"),
    ("mv", lambda a, v: a.mv(v), ((2, 3), (3,)), "normal"),
    ("dot", lambda v, w: v.dot(w), ((3,), (3,)), "normal"),
    ("matmul_vm", lambda v, b: v @ b, ((3,), (3, 4)), "normal"),
    ("matmul_3d_2d", lambda a, b: a @ b, ((2, 3, 4), (4, 2)), "normal"),
    ("matmul_2d_3d", lambda a, b: a @ b, ((3, 4), (2, 4, 2)), "normal"),
    ("matmul_3d_1d", lambda a, v: a @ v, ((2, 3, 4), (4,)), "normal"),
    ("matmul_1d_3d", lambda v, b: v @ b, ((4,), (2, 4, 3)), "normal"),
    ("matmul_bmm", lambda a, b: a @ b, ((2, 3, 4), (2, 4, 2)), "normal"),
    ("matmul_bcast", lambda a, b: a @ b, ((2, 1, 3, 4), (3, 4, 2)), "normal"),
    # reductions
    ("sum", lambda x: x.sum(), ((2, 3),), "normal"),
    ("sum_dim", lambda x: x.sum(1), ((2, 3, 4),), "normal"),
    ("sum_dims_keepdim", lambda x: x.sum((0, 2), keepdim=True), ((2, 3, 4),), "normal"),
    ("mean", lambda x: x.mean(), ((2, 3),), "normal"),
    ("mean_dim", lambda x: x.mean(-1), ((2, 3),), "normal"),
    ("mean_keepdim", lambda x: x.mean(0, keepdim=True), ((2, 3),), "normal"),
    ("max", lambda x: x.max(), ((2, 3),), "distinct"),
    ("min", lambda x: x.min(), ((2, 3),), "distinct"),
    ("max_dim", lambda x: x.max(1).values, ((2, 3, 4),), "distinct"),
    ("max_dim_keepdim", lambda x: x.max(0, keepdim=True)[0], ((2, 3),), "distinct"),
    ("min_dim", lambda x: x.min(-1).values, ((2, 3),), "distinct"),
    ("maximum", lambda x, y: engine.maximum(x, y), ((2, 3), (2, 3)), "distinct"),
    ("maximum_bcast", lambda x, y: engine.maximum(x, y), ((2, 3), (3,)), "distinct"),
    ("minimum_bcast", lambda x, y: engine.minimum(x, y), ((3, 1), (1, 4)), "distinct"),
    ("softmax", lambda x: x.softmax(-1), ((2, 3),), "normal"),
    ("softmax_dim0", lambda x: engine.softmax(x, 0), ((3, 2),), "normal"),
    ("log_softmax", lambda x: x.log_softmax(1), ((2, 3),), "normal"),
    # shape ops
    ("reshape", lambda x: x.reshape(3, 2) * 1, ((2, 3),), "normal"),
    ("reshape_t", lambda x: x.t().reshape(-1), ((2, 3),), "normal"),
    ("view", lambda x: x.view(-1), ((2, 3),), "normal"),
    ("flatten", lambda x: x.flatten(1), ((2, 3, 2),), "normal"),
    ("t", lambda x: x.t(), ((2, 3),), "normal"),
    ("T", lambda x: x.T, ((2, 3),), "normal"),
    ("transpose", lambda x: x.transpose(0, 2), ((2, 3, 4),), "normal"),
    ("permute", lambda x: x.permute(2, 0, 1), ((2, 3, 4),), "normal"),
    ("unsqueeze", lambda x: x.unsqueeze(1), ((2, 3),), "normal"),
    ("squeeze", lambda x: x.squeeze(), ((2, 1, 3),), "normal"),
    ("squeeze_dim", lambda x: x.squeeze(1), ((2, 1, 3),), "normal"),
    ("expand", lambda x: x.expand(4, 2, 3), ((2, 1),), "normal"),
    ("contiguous", lambda x: x.t().contiguous(), ((2, 3),), "normal"),
    # indexing
    ("index_int", lambda x: x[1], ((3, 4),), "normal"),
    ("index_chain", lambda x: x[0, 1:], ((3, 4),), "normal"),
    ("index_slice_step", lambda x: x[::2, 1], ((5, 3),), "normal"),
    ("index_list_repeat", lambda x: x[[0, 2, 0]], ((3, 2),), "normal"),
    ("index_mixed", lambda x: x[1:, [0, 0, 2]], ((3, 4),), "normal"),
    ("index_mask", lambda x: x[engine.tensor([[True, False], [False, True], [True, True]])],
     ((3, 2),), "normal"),
    ("index_none", lambda x: x[None, :, 0], ((3, 2),), "normal"),
    # joining
    ("cat", lambda x, y: engine.cat([x, y, x], 1), ((2, 3), (2, 1)), "normal"),
    ("stack", lambda x, y: engine.stack([x, y], -1), ((2, 3), (2, 3)), "normal"),
    # clamp / where
    ("clamp", lambda x: x.clamp(-0.5, 0.5), ((3, 4),), "distinct"),
    ("clamp_min", lambda x: x.clamp_min(0.1), ((3, 4),), "distinct"),
    ("clamp_max_kw", lambda x: x.clamp(max=0.2), ((3, 4),), "distinct"),
    ("where", lambda x, y: engine.where(x > 0, x, y), ((2, 3), (3,)), "distinct"),
    ("where_num", lambda x: engine.where(x > 0, x * 2, 0.0), ((2, 3),), "distinct"),
    # casts, clone
    ("clone", lambda x: x.clone() * x, ((3,),), "normal"),
    # compositions
    ("mlp", lambda x, w, b: ((x @ w + b).tanh() ** 2).mean(0), ((4, 3), (3, 2), (2,)),
     "normal"),
    ("reuse", lambda x: (x * x.exp() + x.sin()).sum(0), ((2, 3),), "normal"),
]


@pytest.mark.parametrize("fn,shapes,kind", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_gradient_matches_finite_differences(fn: Callable[..., Any], shapes: tuple,
                                             kind: str) -> None:
    check_fd(fn, _inputs(shapes, kind, seed=len(shapes)))


def test_cast_gradient_matches_finite_differences() -> None:
    """float64 -> float32 -> float64 (two ToCopyBackward0): float32 rounding needs a wide step."""
    check_fd(lambda x: x.float().double() * x.double() * 3, _inputs(((3,),), "normal", 2),
             rtol=1e-4, h=1e-2)


def test_inplace_gradient_matches_finite_differences() -> None:
    def fn(x: Any, y: Any) -> Any:
        h = x * 1.0
        h.mul_(y)
        h[0] = h[0] * 2
        h.add_(y.exp())
        return h.clamp_(-5, 5)

    check_fd(fn, _inputs(((2, 3), (3,)), "normal", 3))


# ----------------------------------------------------------------------------- ties vs torch
def _torch() -> Any:
    if os.environ.get("GRADVIZ_REQUIRE_TORCH") == "1":
        import torch

        return torch
    return pytest.importorskip("torch")


TIES: list[tuple[str, Callable[..., Any], list]] = [
    ("max_all", lambda L, x: x.max(), [[1.0, 3.0, 3.0, 2.0]]),
    ("min_all", lambda L, x: x.min(), [[[1.0, 0.5], [0.5, 0.5]]]),
    ("max_dim", lambda L, x: x.max(1).values, [[[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]]),
    ("min_dim", lambda L, x: x.min(0).values, [[[1.0, 0.0], [1.0, 0.0]]]),
    ("maximum", lambda L, x, y: L.maximum(x, y), [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]]),
    ("minimum", lambda L, x, y: L.minimum(x, y), [[1.0, 2.0, 3.0], [1.0, 5.0, 3.0]]),
    ("maximum_bcast", lambda L, x, y: L.maximum(x, y), [[[1.0, 2.0], [2.0, 2.0]], [2.0]]),
    ("relu_zero", lambda L, x: x.relu(), [[0.0, -1.0, 1.0]]),
    ("abs_zero", lambda L, x: x.abs(), [[0.0, -1.0, 1.0]]),
    ("clamp_bounds", lambda L, x: x.clamp(0.0, 1.0), [[0.0, 1.0, 0.5, 2.0]]),
    ("clamp_min_bound", lambda L, x: x.clamp_min(0.0), [[0.0, 1.0, -1.0]]),
    ("sqrt_zero", lambda L, x: x.sqrt(), [[0.0, 4.0]]),
    ("pow_zero_base", lambda L, x, y: x ** y, [[0.0, 2.0], [2.0, 0.0]]),
]


@pytest.mark.parametrize("fn,values", [c[1:] for c in TIES], ids=[c[0] for c in TIES])
def test_ties_and_kinks_follow_torch(fn: Callable[..., Any], values: list) -> None:
    torch = _torch()
    grads = []
    for L in (engine, torch):
        xs = [L.tensor(np.array(v, dtype=np.float64), requires_grad=True) for v in values]
        out = fn(L, *xs)
        out.backward(L.ones_like(out))
        grads.append([x.grad.numpy() if x.grad is not None else None for x in xs])
    for ge, gt in zip(*grads):
        np.testing.assert_array_equal(ge, gt)
