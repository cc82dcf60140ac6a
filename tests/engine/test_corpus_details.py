"""Details that teaching programs print: the once-per-process warning of float() on a tensor
that requires grad, lazy modules' UninitializedParameter, ``autograd.Variable`` leaving its
argument alone. Each against torch 2.13."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from oracle import assert_same_error, require_torch

import engine

torch = require_torch()

pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[2]

_SCALAR_PROGRAM = """
import warnings
warnings.simplefilter("always")
import {lib} as torch
x = torch.tensor(2.0, requires_grad=True)
print(int(x), x.item(), bool(x), x.tolist())
with torch.no_grad():
    print(float(x))
print(float(x * 3))
print(float(x), complex(x))
"""


def _run(lib: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _SCALAR_PROGRAM.format(lib=lib)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_float_of_a_tensor_that_requires_grad_warns_once():
    e, t = _run("engine"), _run("torch")
    assert e.returncode == t.returncode == 0, e.stderr + t.stderr
    assert e.stdout == t.stdout
    assert e.stderr.replace("engine", "torch") == t.stderr
    assert t.stderr.count("UserWarning") == 1


def test_lazy_linear_holds_an_uninitialized_parameter():
    out = []
    for lib in (engine, torch):
        lib.manual_seed(0)
        m = lib.nn.LazyLinear(3)
        w = m.weight
        row = [repr(w), str(w), type(w).__name__, isinstance(w, lib.nn.Parameter), repr(m)]
        m(lib.ones(2, 4))
        row += [type(m.weight).__name__, tuple(m.weight.shape), repr(m), m.weight is w]
        out.append(row)
    assert out[0] == out[1]
    assert_same_error(lambda: engine.nn.LazyLinear(2).weight.shape,
                      lambda: torch.nn.LazyLinear(2).weight.shape)
