"""float32 / float64 sums and means in torch's cascade order: bit-identical to torch 2.13 (on
one thread) for full reductions, reductions along the last dims and along leading dims."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import require_torch

import engine

torch = require_torch()

pytestmark = pytest.mark.torch

RNG = np.random.default_rng(21)
FULL = [(1,), (3,), (7,), (9,), (17,), (63,), (100,), (511,), (512,), (1000,), (4097,),
        (30000,), (32768,), (40, 30)]
DIMS = [((4, 5), 1), ((4, 5), 0), ((100, 3), 0), ((64, 20), 0), ((17, 130), 0), ((130, 17), 1),
        ((5, 300, 7), 1), ((6, 40, 33), 1), ((8, 9, 10), (1, 2)), ((8, 9, 10), (0, 1)),
        ((3, 1, 4), (0, 2))]


def _same(e, t):
    assert e.numpy().tobytes() == t.numpy().tobytes(), (e, t)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_sum_and_mean_bits(dtype):
    for shape in FULL:
        a = (RNG.standard_normal(shape) * 10 + 3).astype(dtype)
        e, t = engine.from_numpy(a), torch.from_numpy(a)
        _same(e.sum(), t.sum())
        _same(e.mean(), t.mean())
    a = (RNG.standard_normal((30, 40)) * 10).astype(dtype)
    _same(engine.from_numpy(a).T.sum(), torch.from_numpy(a).T.sum())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dim_sum_and_mean_bits(dtype):
    for shape, dim in DIMS:
        a = (RNG.standard_normal(shape) * 10 + 3).astype(dtype)
        e, t = engine.from_numpy(a), torch.from_numpy(a)
        _same(e.sum(dim), t.sum(dim))
        _same(e.mean(dim, keepdim=True), t.mean(dim, keepdim=True))


def test_broadcast_gradient_is_summed_in_torch_order():
    a = RNG.standard_normal((200, 30)).astype(np.float32)
    b = RNG.standard_normal(30).astype(np.float32)
    grads = []
    for lib in (engine, torch):
        x = lib.tensor(b, requires_grad=True)
        ((lib.tensor(a) * 3 + x) ** 2).sum().backward()
        grads.append(x.grad)
    _same(*grads)
