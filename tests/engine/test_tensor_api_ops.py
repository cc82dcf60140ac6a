"""The wider tensor API against torch 2.13: rounding, inverse trig / hyperbolic, log1p / expm1,
sign, prod, std / var, cumsum / cumprod, cross, trace, linalg (inv, det, slogdet, solve, norms),
unique, bitwise / logical ops, comparisons as functions, numpy aliases, out=, format(), addmm's
beta / alpha. Differentiable ops: values, grad_fn graph, grads, and engine.gradcheck."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from oracle import assert_same_error, assert_same_tensor, check_program, require_torch

import engine

torch = require_torch()

pytestmark = pytest.mark.torch

RNG = np.random.default_rng(7)
X = RNG.uniform(-0.9, 0.9, (2, 3)).astype(np.float32)  # inside asin/acos/log1p domains
Y = RNG.uniform(0.2, 0.9, (2, 3)).astype(np.float32)
X3 = RNG.standard_normal((4, 3)).astype(np.float32)
Y3 = RNG.standard_normal((4, 3)).astype(np.float32)
A = np.array([[2.0, 0.5, 0.1], [0.3, 3.0, -0.4], [0.2, -0.1, 1.5]], np.float32)
B = RNG.standard_normal((3, 2)).astype(np.float32)
V = RNG.standard_normal(3).astype(np.float32)

DIFF = {
    "ceil": (lambda lib, x: x.ceil(), [X]),
    "floor": (lambda lib, x: lib.floor(x), [X]),
    "round": (lambda lib, x: lib.round(x * 3), [X]),
    "round_decimals": (lambda lib, x: x.round(decimals=1), [X]),
    "trunc": (lambda lib, x: lib.trunc(x * 3), [X]),
    "frac": (lambda lib, x: (x * 3).frac(), [X]),
    "sign": (lambda lib, x: lib.sign(x), [X]),
    "asin": (lambda lib, x: lib.asin(x), [X]),
    "acos": (lambda lib, x: x.acos(), [X]),
    "atan": (lambda lib, x: lib.atan(x), [X]),
    "atan2": (lambda lib, x, y: lib.atan2(x, y), [X, Y]),
    "atan2_broadcast": (lambda lib, x, y: lib.atan2(x, y[0]), [X, Y]),
    "sinh": (lambda lib, x: lib.sinh(x), [X]),
    "cosh": (lambda lib, x: x.cosh(), [X]),
    "log1p": (lambda lib, x: lib.log1p(x), [X]),
    "expm1": (lambda lib, x: x.expm1(), [X]),
    "prod": (lambda lib, x: lib.prod(x), [X]),
    "prod_dim": (lambda lib, x: x.prod(1), [X]),
    "prod_keepdim": (lambda lib, x: x.prod(0, keepdim=True), [X]),
    "std": (lambda lib, x: x.std(), [X3]),
    "std_dim": (lambda lib, x: lib.std(x, 1), [X3]),
    "std_unbiased_false": (lambda lib, x: x.std(0, unbiased=False, keepdim=True), [X3]),
    "var": (lambda lib, x: x.var(), [X3]),
    "var_correction0": (lambda lib, x: lib.var(x, dim=1, correction=0), [X3]),
    "var_dims": (lambda lib, x: x.var((0, 1)), [X3]),
    "cumsum": (lambda lib, x: lib.cumsum(x, dim=1), [X3]),
    "cumsum0": (lambda lib, x: x.cumsum(0), [X3]),
    "cumprod": (lambda lib, x: lib.cumprod(x, 1), [Y]),
    "cross": (lambda lib, a, b: lib.cross(a, b, dim=1), [X3, Y3]),
    "linalg_cross": (lambda lib, a, b: lib.linalg.cross(a, b), [X3, Y3]),
    "trace": (lambda lib, a: lib.trace(a), [A]),
    "inv": (lambda lib, a: lib.linalg.inv(a), [A]),
    "inverse": (lambda lib, a: lib.inverse(a), [A]),
    "det": (lambda lib, a: lib.linalg.det(a), [A]),
    "torch_det": (lambda lib, a: lib.det(a), [A]),
    "slogdet": (lambda lib, a: lib.linalg.slogdet(a)[1], [A]),
    "solve": (lambda lib, a, b: lib.linalg.solve(a, b), [A, B]),
    "solve_vector": (lambda lib, a, v: lib.linalg.solve(a, v), [A, V]),
    "linalg_norm": (lambda lib, x: lib.linalg.norm(x), [X3]),
    "vector_norm_dim": (lambda lib, x: lib.linalg.vector_norm(x, dim=1), [X3]),
    "vector_norm_ord1": (lambda lib, x: lib.linalg.vector_norm(x, ord=1), [X3]),
    "vector_norm_ord3": (lambda lib, x: lib.linalg.vector_norm(x, ord=3, dim=0, keepdim=True),
                         [X3]),
    "vector_norm_inf": (lambda lib, x: lib.linalg.vector_norm(x, ord=float("inf")), [X3]),
    "matrix_norm_fro": (lambda lib, a: lib.linalg.matrix_norm(a), [A]),
    "tensor_norm": (lambda lib, x: x.norm(), [X3]),
    "torch_norm_dim": (lambda lib, x: lib.norm(x, dim=1), [X3]),
    "norm_p1": (lambda lib, x: x.norm(p=1), [X3]),
    "functional_norm": (lambda lib, x: lib.functional.norm(x), [X3]),
    "addmm_beta_alpha": (lambda lib, b, m1, m2: lib.addmm(b, m1, m2, beta=2.0, alpha=0.5),
                         [Y, X, A]),
}


@pytest.mark.parametrize("name", list(DIFF))
def test_differentiable_op_vs_torch(name):
    program, arrays = DIFF[name]
    check_program(program, arrays, scale=10.0)


GRADCHECK = ["asin", "acos", "atan", "atan2", "atan2_broadcast", "sinh", "cosh", "log1p",
             "expm1", "frac", "prod", "prod_dim", "std", "std_dim", "var", "var_correction0",
             "cumsum", "cumprod", "cross", "trace", "inv", "det", "slogdet", "solve",
             "solve_vector", "linalg_norm", "vector_norm_dim", "vector_norm_ord3",
             "matrix_norm_fro", "addmm_beta_alpha"]


@pytest.mark.parametrize("name", GRADCHECK)
def test_gradcheck(name):
    program, arrays = DIFF[name]
    leaves = [engine.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    assert engine.autograd.gradcheck(lambda *xs: program(engine, *xs), leaves)


@pytest.mark.parametrize("name", ["asin", "sinh", "cumsum", "prod_dim", "std_dim", "inv", "det",
                                  "cross", "vector_norm_dim"])
def test_second_order(name):
    """create_graph=True: the gradient of the gradient agrees with torch."""
    program, arrays = DIFF[name]
    out = []
    for lib in (engine, torch):
        leaves = [lib.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
        y = (program(lib, *leaves) ** 2).sum()
        (g,) = lib.autograd.grad(y, leaves[0], create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), leaves[0])
        out.append(gg)
    np.testing.assert_allclose(out[0].numpy(), out[1].numpy(), rtol=1e-6, atol=1e-8)


INT = np.array([[6, -3, 0], [5, 12, 7]], np.int64)
BOOL = np.array([[True, False, True], [False, False, True]])

VALUES = {
    "floor_int": lambda lib: lib.floor(lib.tensor(INT)),
    "ceil_int": lambda lib: lib.tensor(INT).ceil(),
    "sign_int": lambda lib: lib.sign(lib.tensor(INT)),
    "round_half_even": lambda lib: lib.round(lib.tensor([0.5, 1.5, 2.5, -0.5, -1.5])),
    "round_decimals": lambda lib: lib.tensor([1.2345, -2.5551]).round(decimals=2),
    "prod_int": lambda lib: lib.prod(lib.tensor(INT), 1),
    "cumsum_int": lambda lib: lib.tensor(INT).cumsum(0),
    "cumsum_dtype": lambda lib: lib.cumsum(lib.tensor(INT), 1, dtype=lib.float64),
    "unique": lambda lib: lib.unique(lib.tensor([3, 1, 2, 3, 1])),
    "unique_all": lambda lib: lib.unique(lib.tensor([3, 1, 2, 3, 1]), return_inverse=True,
                                         return_counts=True),
    "unique_method": lambda lib: lib.tensor([[2.0, 1.0], [1.0, 5.0]]).unique(return_counts=True),
    "unique_dim": lambda lib: lib.tensor([[1, 2], [1, 2], [0, 4]]).unique(dim=0,
                                                                          return_inverse=True),
    "unique_unsorted": lambda lib: lib.unique(lib.tensor([3, 1, 3]), sorted=False),
    "and": lambda lib: lib.tensor(INT) & 3,
    "or": lambda lib: lib.tensor(INT) | lib.tensor(INT)[[1, 0]],
    "or_number": lambda lib: lib.tensor(INT) | 8,
    "xor": lambda lib: lib.tensor(INT) ^ 5,
    "invert": lambda lib: ~lib.tensor(INT),
    "invert_bool": lambda lib: ~lib.tensor(BOOL),
    "bool_and": lambda lib: lib.tensor(BOOL) & lib.tensor(~BOOL),
    "bitwise_and": lambda lib: lib.bitwise_and(lib.tensor(INT), lib.tensor(INT)),
    "bitwise_or_method": lambda lib: lib.tensor(INT).bitwise_or(1),
    "bitwise_xor": lambda lib: lib.bitwise_xor(lib.tensor(BOOL), lib.tensor(BOOL)),
    "bitwise_not": lambda lib: lib.bitwise_not(lib.tensor(INT)),
    "logical_and": lambda lib: lib.logical_and(lib.tensor(INT), lib.tensor(BOOL)),
    "logical_or": lambda lib: lib.tensor(X).logical_or(lib.tensor(INT)),
    "logical_xor": lambda lib: lib.logical_xor(lib.tensor(INT), lib.tensor(0)),
    "logical_xor_int_error": lambda lib: lib.tensor(INT).logical_xor(lib.tensor(BOOL)),
    "logical_not": lambda lib: lib.logical_not(lib.tensor(INT)),
    "eq_fn": lambda lib: lib.eq(lib.tensor(INT), 0),
    "ne_fn": lambda lib: lib.ne(lib.tensor(INT), lib.tensor(INT)),
    "lt_fn": lambda lib: lib.lt(lib.tensor(X), 0.0),
    "le_fn": lambda lib: lib.le(lib.tensor(X), lib.tensor(Y)),
    "gt_fn": lambda lib: lib.gt(lib.tensor(INT), 4),
    "ge_fn": lambda lib: lib.ge(lib.tensor(INT), 5),
    "svdvals": lambda lib: lib.linalg.svdvals(lib.tensor(A)),
    "svd_S": lambda lib: lib.linalg.svd(lib.tensor(A))[1],
    "svd_recon": lambda lib: (lambda u, s, vh: u @ lib.diag(s) @ vh if hasattr(lib, "diag")
                              else u @ (s[:, None] * vh))(*lib.linalg.svd(lib.tensor(A))),
    "qr_recon": lambda lib: (lambda q, r: q @ r)(*lib.linalg.qr(lib.tensor(A))),
    "qr_R_abs": lambda lib: lib.linalg.qr(lib.tensor(A))[1].abs(),
    "matrix_norm_nuc": lambda lib: lib.linalg.matrix_norm(lib.tensor(A), "nuc"),
    "matrix_norm_2": lambda lib: lib.linalg.matrix_norm(lib.tensor(A), 2),
    "matrix_norm_1": lambda lib: lib.linalg.matrix_norm(lib.tensor(A), 1),
    "matrix_norm_inf": lambda lib: lib.linalg.norm(lib.tensor(A), float("inf")),
    "std_mean": lambda lib: lib.std_mean(lib.tensor(X3), 0)[0],
    "var_mean_mean": lambda lib: lib.var_mean(lib.tensor(X3), 1)[1],
    "sum_axis": lambda lib: lib.sum(lib.tensor(X3), axis=1, keepdims=True),
    "mean_axis": lambda lib: lib.tensor(X3).mean(axis=0),
    "max_axis": lambda lib: lib.tensor(X3).max(axis=1).values,
    "std_axis": lambda lib: lib.tensor(X3).std(axis=0, keepdims=True),
    "argmax_axis": lambda lib: lib.argmax(lib.tensor(X3), axis=1),
    "rand_size_kw": lambda lib: lib.zeros(size=(2, 3)),
    "ones_size_kw": lambda lib: lib.ones(size=[4]),
}


def _values(r):
    return r if isinstance(r, tuple) else (r,)


@pytest.mark.parametrize("name", list(VALUES))
def test_values_vs_torch(name):
    e, t = VALUES[name](engine), VALUES[name](torch)
    e, t = _values(e), _values(t)
    assert len(e) == len(t)
    for a, b in zip(e, t):
        assert_same_tensor(a, b, name, scale=10.0)
        if b.dtype.is_floating_point is False:
            assert a.tolist() == b.tolist()


def test_size_keyword_shapes_of_random_factories():
    for f in ("rand", "randn", "zeros", "ones", "empty"):
        e = getattr(engine, f)(size=(2, 3))
        t = getattr(torch, f)(size=(2, 3))
        assert tuple(e.shape) == tuple(t.shape) == (2, 3), f
    assert engine.randint(0, 5, size=(4,)).shape == torch.randint(0, 5, size=(4,)).shape


@pytest.mark.parametrize("call", [
    lambda lib: lib.tensor([1.0]) & 1,
    lambda lib: lib.bitwise_not(lib.tensor([1.5])),
    lambda lib: lib.std(lib.tensor([1, 2])),
    lambda lib: lib.logical_xor(lib.tensor([1]), 0),
    lambda lib: lib.linalg.det(lib.ones(2, 3)),
    lambda lib: lib.linalg.inv(lib.ones(3)),
    lambda lib: lib.cross(lib.ones(2, 2), lib.ones(2, 2), dim=1),
    lambda lib: lib.add(lib.ones(2, requires_grad=True), 1, out=lib.empty(2)),
    lambda lib: f"{lib.ones(2):.2f}",
])
def test_errors_vs_torch(call):
    assert_same_error(lambda: call(engine), lambda: call(torch))


def test_out_keyword():
    def prog(lib):
        res = []
        for fn, args in ((lib.add, (lib.ones(2), lib.tensor([1.0, 2.0]))),
                         (lib.mul, (lib.ones(2), 3.0)),
                         (lib.matmul, (lib.tensor(A), lib.tensor(B))),
                         (lib.sum, (lib.tensor(X3), 1)),
                         (lib.exp, (lib.tensor(X),)),
                         (lib.cumsum, (lib.tensor(X3), 0))):
            o = lib.empty(0)
            r = fn(*args, out=o)
            res.append((r is o, o.tolist(), int(o._version) > 0))
        o = lib.zeros(2)
        lib.add(lib.ones(2), 1, out=o)
        res.append(o.tolist())
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            o = lib.zeros(3)
            lib.add(lib.ones(2), 1, out=o)
        res.append((o.tolist(), [str(m.message).split(" (Triggered")[0] for m in w]))
        return res
    e, t = prog(engine), prog(torch)
    assert e[-1] == t[-1] and e[-2] == t[-2]
    for (ei, ev, ever), (ti, tv, tver) in zip(e[:-2], t[:-2]):
        assert ei == ti and ever == tver
        np.testing.assert_allclose(np.array(ev), np.array(tv), rtol=1e-5)


@pytest.mark.parametrize("spec", ["", ".4f", ".2e", ">10.3f"])
def test_format_zero_dim(spec):
    for v in (engine.tensor(1.23456), engine.tensor(3), engine.tensor(2.5, dtype=engine.float64)):
        t = torch.tensor(v.item(), dtype=getattr(torch, str(v.dtype).split(".")[-1]))
        if spec and v.dtype == engine.int64 and "f" not in spec and "e" not in spec:
            continue
        assert format(v, spec) == format(t, spec)
    assert f"{engine.tensor([1.0, 2.0])}" == f"{torch.tensor([1.0, 2.0])}"


def test_inplace_rounding_methods():
    def prog(lib):
        x = lib.tensor([1.5, -2.7, 0.2])
        x.floor_()
        y = lib.tensor([1.5, -2.7, 0.2])
        y.cumsum_(0)
        return x, y
    for a, b in zip(prog(engine), prog(torch)):
        assert_same_tensor(a, b)


def test_addmm_beta_alpha_value():
    e, t = (lib.addmm(lib.ones(1, 1), lib.ones(1, 1), lib.ones(1, 1), beta=2, alpha=6)
            for lib in (engine, torch))
    assert_same_tensor(e, t)


def test_torch_functional_module():
    assert engine.functional.F is engine.nn.functional
    for name in ("norm", "unique", "broadcast_shapes"):
        assert hasattr(torch.functional, name) and hasattr(engine.functional, name)
    assert tuple(engine.functional.broadcast_shapes((2, 1), (3,))) == tuple(
        torch.functional.broadcast_shapes((2, 1), (3,)))
