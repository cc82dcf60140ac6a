"""Same seed, same numbers: every sampler draws torch's bits (compared with real torch).

Each case runs one program against ``torch`` and against ``engine`` after ``manual_seed`` (or on
a seeded ``Generator``) and compares dtypes, shapes and the raw bytes of every result, then
checks that both generators end in the same state (same draws consumed).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import engine
from tests.engine.oracle import require_torch

torch = require_torch()

SEEDS = (0, 1, 2024)
SIZES = (1, 3, 15, 16, 17, 100, 1000)
FLOATS = ("float32", "float64")


def _np(x: Any) -> np.ndarray:
    if isinstance(x, engine.Tensor):
        return x._data
    return x.detach().numpy()


def assert_bits(e: Any, t: Any, what: str = "") -> None:
    a, b = _np(e), _np(t)
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs torch {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), (
        f"{what}: {np.count_nonzero(a != b)} of {a.size} differ\nengine {a.ravel()[:6]}\n"
        f"torch  {b.ravel()[:6]}")


def both(program: Any, seed: int, what: str = "") -> None:
    """Run ``program(lib)`` after ``lib.manual_seed(seed)``; results and end states equal."""
    out = []
    for lib in (engine, torch):
        lib.manual_seed(seed)
        r = program(lib)
        out.append((r if isinstance(r, (tuple, list)) else (r,), lib.get_rng_state()))
    (er, es), (tr, ts) = out
    for i, (e, t) in enumerate(zip(er, tr)):
        assert_bits(e, t, f"{what} result {i}")
    assert_bits(es, ts, f"{what} rng state after")


def dt(lib: Any, name: str) -> Any:
    return getattr(lib, name)


# ----------------------------------------------------------------------------- stream
@pytest.mark.parametrize("seed", SEEDS + (2 ** 40 + 7, -1))
def test_state_bytes_and_initial_seed(seed):
    engine.manual_seed(seed)
    torch.manual_seed(seed)
    assert engine.initial_seed() == torch.initial_seed()
    s = engine.get_rng_state()
    assert repr(s.dtype) == "torch.uint8" and s.shape == (5056,)
    assert_bits(s, torch.get_rng_state(), "fresh state")
    engine.rand(700)
    torch.rand(700)
    assert_bits(engine.get_rng_state(), torch.get_rng_state(), "state after 700 draws")


def test_state_round_trip_through_torch_bytes():
    torch.manual_seed(3)
    torch.randn(5, dtype=torch.float64)  # leaves a cached normal sample in the state
    ts = torch.get_rng_state()
    engine.set_rng_state(engine.tensor(ts.numpy()))
    assert_bits(engine.get_rng_state(), ts, "state copied from torch")
    assert_bits(engine.randn(3, dtype=engine.float64), torch.randn(3, dtype=torch.float64))
    s = engine.get_rng_state()
    a = engine.rand(10)
    engine.set_rng_state(s)
    assert_bits(engine.rand(10), a, "replay after set_rng_state")
    with pytest.raises(RuntimeError, match="Expected a CPUGeneratorImplState of size 5056"):
        engine.set_rng_state(engine.zeros(10, dtype=engine.uint8))


def test_generator_objects():
    eg, tg = engine.Generator(), torch.Generator()
    assert eg.initial_seed() == tg.initial_seed() == 67280421310721
    assert_bits(eg.get_state(), tg.get_state(), "default Generator state")
    assert eg.manual_seed(7) is eg
    tg.manual_seed(7)
    engine.manual_seed(0)
    torch.manual_seed(0)
    res = {}
    for lib, g in ((engine, eg), (torch, tg)):
        res[lib] = (lib.randn(20, generator=g), lib.rand(3, generator=g),
                    lib.randint(0, 5, (4,), generator=g), lib.randperm(9, generator=g),
                    lib.empty(5).normal_(generator=g), lib.randn(2))  # last one: default gen
    for e, t in zip(res[engine], res[torch]):
        assert_bits(e, t, "generator draw")
    eg2 = engine.Generator().set_state(eg.get_state())
    tg2 = torch.Generator().set_state(tg.get_state())
    assert_bits(engine.rand(4, generator=eg2), torch.rand(4, generator=tg2))
    assert repr(type(eg)) == repr(type(tg)) == "<class 'torch._C.Generator'>"


# ----------------------------------------------------------------------------- floats
@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize("seed", SEEDS)
def test_rand_randn_all_sizes(seed, name):
    def program(lib: Any) -> Any:
        d = dt(lib, name)
        return [f(n, dtype=d) for n in SIZES for f in (lib.rand, lib.randn)]
    both(program, seed, f"rand/randn {name}")


def test_normal_cache_carries_between_calls():
    both(lambda lib: [lib.randn(3, dtype=lib.float64), lib.randn(1), lib.randn(2, 3),
                      lib.randn(16), lib.randn(5)], 11, "cached Box-Muller sample")


@pytest.mark.parametrize("name", FLOATS)
def test_normal_overloads_and_uniform(name):
    def program(lib: Any) -> Any:
        d = dt(lib, name)
        m = lib.tensor(np.linspace(-1, 1, 17), dtype=d)
        s = lib.tensor(np.linspace(0.1, 2, 17), dtype=d)
        return [lib.normal(0.5, 2.5, (n,), dtype=d) for n in (3, 17, 100)] + [
            lib.normal(m, s), lib.normal(m, 0.3), lib.normal(1.5, s),
            lib.normal(m[:5], s[:5]), lib.normal(m[:5], 0.3), lib.normal(-2.0, s[:5]),
            lib.empty(4, 7, dtype=d).uniform_(-0.37, 0.81),
            lib.empty(3, dtype=d).uniform_(2, 5), lib.empty(40, dtype=d).normal_(3.0, 0.25),
            lib.empty(7, dtype=d).normal_(-1.0, 4.0),
            lib.empty(6, 5, dtype=d).t().normal_(),  # non-contiguous: serial, memory order
            lib.empty(6, 5, dtype=d).t().uniform_()]
    both(program, 5, f"normal/uniform {name}")


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_like_samplers(seed):
    def program(lib: Any) -> Any:
        x = lib.zeros(4, 5)
        xd = lib.zeros(17, dtype=lib.float64)
        return (lib.rand_like(x), lib.randn_like(x), lib.randn_like(xd), lib.rand_like(xd),
                lib.randint_like(x, 10), lib.randint_like(xd, -3, 3))
    both(program, seed, "*_like")


# ----------------------------------------------------------------------------- integers
@pytest.mark.parametrize("seed", SEEDS)
def test_randint_random_(seed):
    def program(lib: Any) -> Any:
        return (lib.randint(10, (15,)), lib.randint(-5, 5, (3, 4)),
                lib.randint(0, 2 ** 40, (6,)), lib.randint(0, 7, (5,), dtype=lib.float32),
                lib.randint(3, (4,), dtype=lib.int32),
                lib.empty(5, dtype=lib.int64).random_(),
                lib.empty(5, dtype=lib.float32).random_(),
                lib.empty(5, dtype=lib.float64).random_(),
                lib.empty(4, dtype=lib.int32).random_(),
                lib.empty(6, dtype=lib.uint8).random_(),
                lib.empty(6, dtype=lib.bool).random_(),
                lib.empty(5).random_(100), lib.empty(5, dtype=lib.int64).random_(-4, 9),
                lib.empty((), dtype=lib.int64).random_())
    both(program, seed, "randint/random_")


@pytest.mark.parametrize("n", (0, 1, 2, 3, 15, 16, 17, 100, 1000, 60000))
def test_randperm(n):
    both(lambda lib: lib.randperm(n), 0, f"randperm({n})")
    for seed in (1, 77):
        eg, tg = engine.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        assert_bits(engine.randperm(n, generator=eg), torch.randperm(n, generator=tg))
        assert_bits(eg.get_state(), tg.get_state())


# ----------------------------------------------------------------------------- others
@pytest.mark.parametrize("seed", SEEDS)
def test_bernoulli_exponential(seed):
    def program(lib: Any) -> Any:
        p32 = lib.tensor(np.linspace(0, 1, 20), dtype=lib.float32)
        p64 = lib.tensor(np.linspace(0, 1, 20))
        return (lib.bernoulli(p32), lib.bernoulli(p64), lib.bernoulli(lib.zeros(17), 0.3),
                lib.empty(18).bernoulli_(0.25), lib.empty(20).bernoulli_(p32),
                lib.empty(3, 20, dtype=lib.float64).bernoulli_(p64),
                p32.bernoulli(), lib.empty(30).exponential_(),
                lib.empty(1000, dtype=lib.float64).exponential_(2.5),
                lib.empty(3).exponential_(0.5))
    both(program, seed, "bernoulli/exponential")


@pytest.mark.parametrize("seed", SEEDS)
def test_multinomial(seed):
    def program(lib: Any) -> Any:
        p = lib.tensor([0.1, 0.2, 0.3, 0.15, 0.25])
        p2 = lib.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
        return (lib.multinomial(p, 1), lib.multinomial(p, 3), lib.multinomial(p, 5),
                lib.multinomial(p, 12, replacement=True), lib.multinomial(p2, 2),
                lib.multinomial(p2, 7, True), lib.multinomial(p2.double(), 1, True),
                p.multinomial(4, replacement=True), lib.multinomial(p2, 3))
    both(program, seed, "multinomial")


@pytest.mark.parametrize("p", (0.0, 0.2, 0.5, 1.0))
def test_dropout_masks(p):
    def program(lib: Any) -> Any:
        x = lib.ones(4, 25, requires_grad=True)
        d = lib.nn.Dropout(p)
        y = d(x)
        y.sum().backward()
        return (y.detach(), x.grad, lib.nn.functional.dropout(lib.ones(3, 5), p),
                lib.nn.functional.dropout(lib.ones(7, dtype=lib.float64), p, training=True))
    both(program, 9, f"dropout p={p}")


def test_nn_init_and_linear_default_init():
    def program(lib: Any) -> Any:
        init = lib.nn.init
        out = []
        for shape in ((3, 5), (16, 8), (10, 100)):
            for fn in (lambda w: init.kaiming_uniform_(w, a=math.sqrt(5)),
                       init.kaiming_uniform_, init.kaiming_normal_,
                       lambda w: init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
                       init.xavier_uniform_, init.xavier_normal_,
                       lambda w: init.xavier_uniform_(w, gain=init.calculate_gain("tanh")),
                       lambda w: init.normal_(w, 0.0, 0.02), lambda w: init.uniform_(w, -3, 3),
                       init.trunc_normal_, lambda w: init.trunc_normal_(w, 0, 1, 1.0, 3.0),
                       lambda w: init.trunc_normal_(w, std=0.02)):
                out.append(fn(lib.empty(*shape)))
        lin = lib.nn.Linear(5, 3)
        lin2 = lib.nn.Linear(100, 20, bias=True)
        return out + [lin.weight.detach(), lin.bias.detach(), lin2.weight.detach(),
                      lin2.bias.detach()]
    both(program, 0, "nn.init / Linear")


def test_conv_style_kaiming_uniform_4d():
    both(lambda lib: lib.nn.init.kaiming_uniform_(lib.empty(8, 3, 3, 3), a=math.sqrt(5)), 4)


# ----------------------------------------------------------------------------- notebook
def _run_cells(lib: Any, cells: list[str]) -> str:
    buf = io.StringIO()
    ns: dict[str, Any] = {}
    with contextlib.redirect_stdout(buf):
        for src in cells:
            src = src.replace("import torch", "")
            ns["torch"] = lib
            try:
                exec(compile(src, "<cell>", "exec"), ns)  # noqa: S102 - the notebook's cells
            except Exception as exc:  # noqa: BLE001 - the notebook shows the error
                print(f"{type(exc).__name__}: {exc}")
    return buf.getvalue()


def test_seed_notebook_with_manual_seed_prints_torchs_numbers():
    nb = json.loads((Path(__file__).parents[1] / "data" / "seed_notebook.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    cells.insert(1, "torch.manual_seed(0)\n")
    cells.append("print(torch.randn(2, 3), torch.rand(4), torch.randint(0, 10, (5,)))\n"
                 "print(torch.nn.Linear(3, 2).weight)\n")
    printed = _run_cells(engine, cells)
    assert printed == _run_cells(torch, cells)
    assert "tensor([ 1.5410, -0.2934, -2.1788], requires_grad=True)" in printed
