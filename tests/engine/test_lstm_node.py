"""A float32 LSTM records one MkldnnRnnLayerBackward0 per layer and direction, as torch's CPU
path does: the graph's node names and edges, values and gradients against torch."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import require_torch

import engine

torch = require_torch()

pytestmark = pytest.mark.torch


def _names(t):
    fn = t.grad_fn
    return (type(fn).__name__, [type(n).__name__ if n is not None else None
                                for n, _ in fn.next_functions])


@pytest.mark.parametrize("kw", [{}, {"bidirectional": True}, {"num_layers": 2},
                                {"bias": False}, {"batch_first": True}])
def test_lstm_graph_values_and_gradients(kw):
    rng = np.random.default_rng(len(kw))
    dirs = 2 if kw.get("bidirectional") else 1
    layers = kw.get("num_layers", 1)
    n = 5 if kw.get("batch_first") else 2
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((layers * dirs, n, 4)).astype(np.float32)
    c0 = rng.standard_normal((layers * dirs, n, 4)).astype(np.float32)
    res = []
    for lib in (engine, torch):
        lib.manual_seed(1)
        lstm = lib.nn.LSTM(3, 4, **kw)
        lx, lh = lib.tensor(x, requires_grad=True), lib.tensor(h0, requires_grad=True)
        out, (h, c) = lstm(lx, (lh, lib.tensor(c0)))
        graph = (_names(out), _names(h), _names(c), [nr for _, nr in h.grad_fn.next_functions],
                 [nr for _, nr in c.grad_fn.next_functions])
        (out.sum() + (h * h).sum() + 2 * c.sum()).backward()
        res.append((graph, [out, h, c, lx.grad, lh.grad] + [p.grad for p in lstm.parameters()]))
    (ge, ve), (gt, vt) = res
    assert ge == gt
    for a, b in zip(ve, vt):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_lstm_without_grad_and_in_float64_keeps_its_steps():
    for dtype in ("float32", "float64"):
        lstm = engine.nn.LSTM(3, 4).to(getattr(engine, dtype))
        x = engine.randn(4, 1, 3, dtype=getattr(engine, dtype))
        with engine.no_grad():
            out, _ = lstm(x)
        assert out.grad_fn is None
    out, _ = engine.nn.LSTM(3, 4).double()(engine.randn(4, 1, 3, dtype=engine.float64))
    assert out.grad_fn.name() == torch.nn.LSTM(3, 4).double()(
        torch.randn(4, 1, 3, dtype=torch.float64))[0].grad_fn.name()
