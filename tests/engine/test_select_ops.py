"""Indexing, sorting and splitting ops against torch 2.13: gather / scatter / index_select,
topk / sort / kthvalue, split / chunk / unbind (one node, several outputs), repeat_interleave,
all / any, tril / triu, flip / roll, repeat, logsumexp, log10 / log2 / exp2 / rsqrt,
masked_fill, torch.linalg.matmul, torch.accelerator, deterministic flags. Values, grad_fn
graphs, grads, and engine.gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import assert_same_error, assert_same_tensor, check_program, require_torch

import engine

torch = require_torch()

pytestmark = pytest.mark.torch

RNG = np.random.default_rng(11)
X = RNG.standard_normal((4, 5)).astype(np.float32)
P = RNG.uniform(0.3, 2.0, (3, 4)).astype(np.float32)
S = RNG.standard_normal((3, 2)).astype(np.float32)
T3 = RNG.standard_normal((2, 3, 4)).astype(np.float32)
W = np.arange(1, 6, dtype=np.float32)  # weights that tell the pieces apart


def _idx(lib, a):
    return lib.tensor(np.asarray(a, np.int64))


DIFF = {
    "gather": (lambda lib, x: x.gather(1, _idx(lib, [[0, 2], [1, 1], [4, 0], [3, 3]])), [X]),
    "gather_dim0": (lambda lib, x: lib.gather(x, 0, _idx(lib, [[0, 3, 1, 2, 0]])), [X]),
    "scatter_src": (lambda lib, x, s: x.scatter(1, _idx(lib, [[0, 1], [2, 3], [1, 0]]), s),
                    [P, S]),
    "scatter_value": (lambda lib, x: lib.scatter(x, 0, _idx(lib, [[0, 1, 2, 0]]), 2.5), [P]),
    "scatter_add": (lambda lib, x, s: x.scatter_add(1, _idx(lib, [[0, 0], [2, 3], [1, 1]]), s),
                    [P, S]),
    "scatter_inplace": (lambda lib, x: (x * 1).scatter_(1, _idx(lib, [[0], [2], [3]]), 0.5),
                        [P]),
    "index_select": (lambda lib, x: x.index_select(0, _idx(lib, [2, 0, 2])), [X]),
    "index_select_fn": (lambda lib, x: lib.index_select(x, 1, _idx(lib, [4, 1])), [X]),
    "masked_select": (lambda lib, x: x.masked_select(x > 0), [X]),
    "masked_fill": (lambda lib, x: x.masked_fill(x > 0.5, 0.0), [X]),
    "masked_fill_": (lambda lib, x: (x * 2).masked_fill_(x < 0, -1.0), [X]),
    "topk": (lambda lib, x: x.topk(2), [X]),
    "topk_smallest": (lambda lib, x: lib.topk(x, 3, dim=0, largest=False), [X]),
    "sort": (lambda lib, x: x.sort(), [X]),
    "sort_desc": (lambda lib, x: lib.sort(x, dim=0, descending=True), [X]),
    "kthvalue": (lambda lib, x: x.kthvalue(2, 1), [X]),
    "kthvalue_keepdim": (lambda lib, x: lib.kthvalue(x, 3, 0, keepdim=True), [X]),
    "unbind": (lambda lib, x: lib.stack([p * float(i + 1) for i, p in enumerate(x.unbind())]),
               [X]),
    "unbind_partial": (lambda lib, x: lib.unbind(x, 1)[3] * 2, [X]),
    "split": (lambda lib, x: lib.cat([p * float(i + 1) for i, p in enumerate(x.split(2, 1))], 1),
              [X]),
    "split_sizes": (lambda lib, x: lib.split(x, [1, 3])[1].exp(), [X]),
    "chunk": (lambda lib, x: lib.cat([p * float(i + 1) for i, p in enumerate(x.chunk(3))]),
              [X]),
    "repeat_interleave": (lambda lib, x: x.repeat_interleave(2, dim=0), [S]),
    "repeat_interleave_flat": (lambda lib, x: lib.repeat_interleave(x, 3), [S]),
    "repeat_interleave_tensor": (lambda lib, x: x.repeat_interleave(_idx(lib, [2, 0, 1]), dim=0),
                                 [S]),
    "repeat": (lambda lib, x: x.repeat(2, 1, 3), [S]),
    "tile": (lambda lib, x: lib.tile(x, (2,)), [S]),
    "tril": (lambda lib, x: x.tril(), [X]),
    "triu": (lambda lib, x: lib.triu(x, 1), [X]),
    "flip": (lambda lib, x: x.flip(0), [X]),
    "flip_dims": (lambda lib, x: lib.flip(x, [0, 1]), [X]),
    "roll": (lambda lib, x: x.roll(2, 1), [X]),
    "roll_flat": (lambda lib, x: lib.roll(x, -3), [X]),
    "narrow": (lambda lib, x: x.narrow(1, 1, 3), [X]),
    "logsumexp": (lambda lib, x: x.logsumexp(1), [X]),
    "logsumexp_keepdim": (lambda lib, x: lib.logsumexp(x, dim=0, keepdim=True), [X]),
    "log10": (lambda lib, x: x.log10(), [P]),
    "log2": (lambda lib, x: lib.log2(x), [P]),
    "exp2": (lambda lib, x: x.exp2(), [X]),
    "rsqrt": (lambda lib, x: lib.rsqrt(x), [P]),
    "tan": (lambda lib, x: x.tan(), [X]),
    "erf": (lambda lib, x: lib.erf(x), [X]),
    "sin_": (lambda lib, x: lib.sin_(x * 1), [X]),
    "linalg_matmul": (lambda lib, a, b: lib.linalg.matmul(a, b), [X, X.T.copy()]),
    "bmm": (lambda lib, a: lib.bmm(a, a.transpose(1, 2)), [T3]),
    "movedim": (lambda lib, a: lib.movedim(a, 0, 2), [T3]),
    "diag": (lambda lib, v: lib.diag(v), [W]),
    "diag_of_matrix": (lambda lib, x: x.diag(1), [X]),
    "diagonal": (lambda lib, x: x.diagonal() * 2, [X]),
}


@pytest.mark.parametrize("name", list(DIFF))
def test_differentiable_op_vs_torch(name):
    program, arrays = DIFF[name]
    check_program(program, arrays, scale=10.0)


GRADCHECK = ["gather", "scatter_src", "scatter_value", "scatter_add", "index_select",
             "masked_select", "masked_fill", "topk", "sort_desc", "kthvalue", "unbind", "split",
             "split_sizes", "chunk", "repeat_interleave", "repeat_interleave_tensor", "repeat",
             "tril", "flip", "roll_flat", "logsumexp", "log10", "log2", "exp2", "rsqrt", "tan",
             "erf", "diag",
             "diag_of_matrix", "unbind_partial"]


@pytest.mark.parametrize("name", GRADCHECK)
def test_gradcheck(name):
    program, arrays = DIFF[name]
    leaves = [engine.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    assert engine.autograd.gradcheck(lambda *xs: program(engine, *xs), leaves)


@pytest.mark.parametrize("name", ["gather", "scatter_src", "topk", "unbind", "split", "logsumexp",
                                  "index_select", "rsqrt"])
def test_second_order(name):
    """create_graph=True through the new nodes agrees with torch."""
    program, arrays = DIFF[name]
    out = []
    for lib in (engine, torch):
        leaves = [lib.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
        r = program(lib, *leaves)
        r = r[0] if isinstance(r, tuple) else r
        y = (r ** 3).sum()
        (g,) = lib.autograd.grad(y, leaves[0], create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), leaves[0])
        out.append(gg)
    np.testing.assert_allclose(out[0].numpy(), out[1].numpy(), rtol=1e-6, atol=1e-8)


def test_pieces_share_one_node():
    for lib in (engine, torch):
        x = lib.tensor(X, requires_grad=True)
        parts = x.unbind(0)
        assert parts[0].grad_fn is parts[3].grad_fn
        assert [p.output_nr for p in parts] == [0, 1, 2, 3]
    ex = engine.tensor(X, requires_grad=True)
    tx = torch.tensor(X, requires_grad=True)
    got = []
    for x in (ex, tx):
        a, b, c = x.split([1, 2, 1])
        b.retain_grad()
        seen: list = []
        c.register_hook(lambda g, seen=seen: seen.append(g.sum().item()) or g * 10)
        (a.sum() + (b * 2).sum() + c.sum()).backward()
        got.append((x.grad.numpy().copy(), b.grad.numpy().copy(), seen))
    for e, t in zip(got[0], got[1]):
        np.testing.assert_allclose(e, t)


VALUES = {
    "all": lambda lib: lib.all(lib.tensor([[True, False], [True, True]])),
    "all_dim": lambda lib: lib.tensor([[1, 0], [2, 3]]).all(dim=1),
    "any_keepdim": lambda lib: lib.any(lib.tensor([[0.0, 0.0], [0.0, 1.0]]), 0, keepdim=True),
    "any_uint8": lambda lib: lib.tensor([0, 1], dtype=lib.uint8).any(),
    "argsort": lambda lib: lib.tensor([3.0, 1.0, 2.0, 1.0]).argsort(descending=True),
    "sort_ties": lambda lib: lib.sort(lib.tensor([2, 1, 2, 1, 0]), stable=True)[1],
    "repeat_interleave_counts": lambda lib: lib.repeat_interleave(lib.tensor([2, 0, 3])),
    "nonzero": lambda lib: lib.tensor([[0, 1], [2, 0]]).nonzero(),
    "nonzero_tuple": lambda lib: lib.nonzero(lib.tensor([0, 3, 0, 4]), as_tuple=True)[0],
    "isclose": lambda lib: lib.isclose(lib.tensor([1.0, 2.0]), lib.tensor([1.0 + 1e-9, 2.1])),
    "where_method": lambda lib: lib.tensor([1.0, -2.0]).where(lib.tensor([True, False]), 0.0),
    "scatter_one_hot": lambda lib: lib.zeros(4).scatter_(0, lib.tensor(2), value=1),
    "split_int": lambda lib: lib.arange(7).split(3)[2],
    "chunk_last": lambda lib: lib.arange(10).chunk(4)[-1],
    "tensor_split": lambda lib: lib.arange(7).tensor_split(3)[1],
}


@pytest.mark.parametrize("name", list(VALUES))
def test_values_vs_torch(name):
    e, t = VALUES[name](engine), VALUES[name](torch)
    assert_same_tensor(e, t, name)
    assert repr(e) == repr(t)


def test_return_types_and_counts():
    for name, args in (("topk", (2,)), ("sort", ()), ("kthvalue", (2,)), ("max", (1,))):
        e = getattr(engine.tensor(X), name)(*args)
        t = getattr(torch.tensor(X), name)(*args)
        assert type(e).__name__ == type(t).__name__ == name
        assert repr(e) == repr(t)
    assert len(engine.tensor(X).split(2, 1)) == len(torch.tensor(X).split(2, 1)) == 3
    assert len(engine.tensor(X).chunk(3, 1)) == len(torch.tensor(X).chunk(3, 1))


def test_errors_vs_torch():
    for call in (lambda lib: lib.tensor(X).topk(9),
                 lambda lib: lib.tensor(X).gather(1, _idx(lib, [[7]])),
                 lambda lib: lib.tensor(X).split([1, 2]),
                 lambda lib: lib.tensor(X).index_select(0, _idx(lib, [9]))):
        assert_same_error(lambda c=call: c(engine), lambda c=call: c(torch))


def test_accelerator_and_deterministic_flags():
    for lib in (engine, torch):
        assert lib.accelerator.is_available() is False
        assert lib.accelerator.current_accelerator() is None
        assert lib.accelerator.device_count() == 0
    assert_same_error(lambda: engine.accelerator.synchronize(),
                      lambda: torch.accelerator.synchronize())
    try:
        for lib in (engine, torch):
            lib.use_deterministic_algorithms(True, warn_only=True)
            assert lib.are_deterministic_algorithms_enabled()
            assert lib.is_deterministic_algorithms_warn_only_enabled()
            assert lib.get_deterministic_debug_mode() == 1
    finally:
        for lib in (engine, torch):
            lib.use_deterministic_algorithms(False)


def test_linalg_return_types_print_as_torch():
    a = np.array([[2.0, 1.0], [1.0, 3.0]], np.float32)
    for name in ("svd", "qr", "slogdet"):
        e = getattr(engine.linalg, name)(engine.tensor(a))
        t = getattr(torch.linalg, name)(torch.tensor(a))
        assert repr(e).split("(")[0] == repr(t).split("(")[0]
        assert len(e) == len(t)
