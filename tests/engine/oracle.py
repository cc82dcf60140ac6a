"""torch 2.13 as the oracle: build one program in both libraries and compare what torch shows.

``torch = require_torch()`` at the top of a test module imports torch, or skips the module when
torch is missing (with ``GRADVIZ_REQUIRE_TORCH=1`` a missing torch is an error instead).

A *program* is a function ``program(lib, *leaves)`` written once against the torch API and run
with ``lib=torch`` and ``lib=engine``; :func:`check_program` runs it on the same numpy inputs in
both and compares forward values, dtypes, reprs, ``grad_fn`` names, the ``next_functions``
graph and, after backward, every leaf's ``.grad``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import engine

__all__ = ["require_torch", "tolerance", "assert_same_tensor", "assert_same_graph",
           "assert_same_repr", "assert_same_error", "capture_error", "make_leaves",
           "check_program", "check_backward", "torch_repr_as_engine"]


def require_torch() -> ModuleType:
    """Import torch; skip the calling module without it (an error if GRADVIZ_REQUIRE_TORCH=1)."""
    if os.environ.get("GRADVIZ_REQUIRE_TORCH") == "1":
        import torch

        return torch
    return pytest.importorskip("torch")


def _torch() -> ModuleType:
    import torch

    return torch


# ----------------------------------------------------------------------------- values
_TOL = {"float16": (2e-3, 2e-3), "float32": (2e-5, 2e-6), "float64": (1e-10, 1e-12)}


def tolerance(dtype_name: str) -> tuple[float, float]:
    """(rtol, atol) for comparing values of a dtype (integers and bools compare exactly)."""
    return _TOL.get(dtype_name, (0.0, 0.0))


def _dtype_name(t: Any) -> str:
    return str(t.dtype).split(".")[-1]


def assert_same_tensor(e: Any, t: Any, what: str = "value", *, scale: float = 1.0,
                       check_flags: bool = True) -> None:
    """Same shape, dtype, values (dtype tolerance, times ``scale``) and autograd flags."""
    assert isinstance(e, engine.Tensor), f"{what}: engine gave {type(e).__name__}, not a Tensor"
    assert tuple(e.shape) == tuple(t.shape), f"{what}: shape {tuple(e.shape)} != {tuple(t.shape)}"
    assert _dtype_name(e) == _dtype_name(t), f"{what}: dtype {e.dtype} != {t.dtype}"
    if check_flags:
        assert e.requires_grad == t.requires_grad, f"{what}: requires_grad differs"
        assert e.is_leaf == t.is_leaf, f"{what}: is_leaf differs"
    rtol, atol = tolerance(_dtype_name(t))
    ev = e.detach().numpy()
    tv = t.detach().numpy()
    np.testing.assert_allclose(ev, tv, rtol=rtol * scale, atol=atol * scale, equal_nan=True,
                               err_msg=what)


def torch_repr_as_engine(t: Any) -> str:
    """torch's repr: the engine prints torch's words (``dtype=torch.float64``) too."""
    return repr(t)


_NUMBER = re.compile(r"-?(?:\d+\.?\d*(?:e[+-]?\d+)?|inf|nan)")


def assert_same_repr(e: Any, t: Any) -> None:
    """Same repr; printed numbers may differ by one in the last printed digit (values that
    agree within tolerance can round either way), everything else must be identical."""
    expected = torch_repr_as_engine(t)
    got = repr(e)
    if got == expected:
        return
    msg = f"\n--- torch ---\n{expected}\n--- engine ---\n{got}"
    assert _NUMBER.sub("#", got) == _NUMBER.sub("#", expected), msg
    for a, b in zip(_NUMBER.findall(got), _NUMBER.findall(expected)):
        if a == b:
            continue
        digits = b.split("e")[0]
        last = 10.0 ** -(len(digits.split(".")[1]) if "." in digits else 0)
        exp = float("1e" + b.split("e")[1]) if "e" in b else 1.0
        assert len(a) == len(b) and abs(float(a) - float(b)) <= last * exp * 1.01, msg


# ----------------------------------------------------------------------------- graphs
def node_names(fn: Any) -> tuple[str, str] | None:
    """``(type(fn).__name__, fn.name())`` or None."""
    if fn is None:
        return None
    return type(fn).__name__, fn.name()


def assert_same_graph(e_fn: Any, t_fn: Any, leaves: Sequence[tuple[Any, Any]] = (),
                      path: str = "grad_fn") -> None:
    """Compare two backward graphs node by node: names, ``next_functions`` arity, ``(None, 0)``
    positions and output numbers, recursively; shared nodes must be shared in both (one engine
    node per torch node); AccumulateGrad's ``.variable`` must be the matching leaf."""
    leaf_map = {id(t): e for e, t in leaves}
    seen: dict[int, Any] = {}
    keep: list = []  # keep torch nodes alive so their ids stay unique during the walk

    def walk(en: Any, tn: Any, where: str) -> None:
        if tn is None:
            assert en is None, f"{where}: engine has {node_names(en)}, torch has None"
            return
        assert en is not None, f"{where}: engine has None, torch has {node_names(tn)}"
        assert node_names(en) == node_names(tn), \
            f"{where}: engine {node_names(en)} != torch {node_names(tn)}"
        if id(tn) in seen:
            assert seen[id(tn)] is en, f"{where}: torch reuses a node here, the engine does not"
            return
        seen[id(tn)] = en
        keep.append(tn)
        if type(tn).__name__ == "AccumulateGrad":
            tv = tn.variable
            if id(tv) in leaf_map:
                assert en.variable is leaf_map[id(tv)], f"{where}: AccumulateGrad of another leaf"
        enext, tnext = tuple(en.next_functions), tuple(tn.next_functions)
        assert len(enext) == len(tnext), (
            f"{where} ({tn.name()}): {len(enext)} next_functions in the engine, {len(tnext)} in "
            f"torch: engine {[node_names(n) for n, _ in enext]}, torch "
            f"{[node_names(n) for n, _ in tnext]}")
        for i, ((ei, enr), (ti, tnr)) in enumerate(zip(enext, tnext)):
            here = f"{where}.next_functions[{i}]"
            assert enr == tnr, f"{here}: output_nr {enr} != {tnr}"
            walk(ei, ti, here)

    walk(e_fn, t_fn, path)
    # the engine must not share a node where torch has two
    ids = [id(n) for n in seen.values()]
    assert len(ids) == len(set(ids)), f"{path}: the engine shares a node where torch has two"


def graph_text(fn: Any, depth: int = 0, seen: set | None = None) -> str:
    """An indented listing of a graph (for failure messages)."""
    seen = set() if seen is None else seen
    if fn is None:
        return "  " * depth + "None\n"
    out = "  " * depth + fn.name() + "\n"
    if id(fn) in seen:
        return out
    seen.add(id(fn))
    for n, _ in fn.next_functions:
        out += graph_text(n, depth + 1, seen)
    return out


# ----------------------------------------------------------------------------- errors
def capture_error(fn: Callable[[], Any]) -> BaseException:
    """The exception ``fn()`` raises (fails the test if it raises none)."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - any type is compared by the caller
        return exc
    raise AssertionError(f"{fn} raised no error")


def _builtin_type(exc: BaseException) -> type:
    for k in type(exc).__mro__:
        if k.__module__ == "builtins":
            return k
    return type(exc)


def assert_same_error(engine_call: Callable[[], Any], torch_call: Callable[[], Any],
                      *, contains: bool = False) -> BaseException:
    """Both calls raise: the same (builtin) exception type and the same message (torch's words,
    ``torch.FloatTensor`` included). Returns the engine's."""
    te = capture_error(torch_call)
    ee = capture_error(engine_call)
    assert _builtin_type(ee) is _builtin_type(te), (
        f"engine raised {type(ee).__name__}: {ee}\ntorch raised {type(te).__name__}: {te}")
    expected = str(te)
    got = str(ee)
    if contains:
        assert got in expected, f"\nengine: {got}\ntorch:  {expected}"
    else:
        assert got == expected, f"\nengine: {got}\ntorch:  {expected}"
    return ee


# ----------------------------------------------------------------------------- programs
def make_leaves(arrays: Sequence[Any], requires_grad: bool | Sequence[bool] = True
                ) -> tuple[list, list]:
    """The same leaves in both libraries: engine tensors and torch tensors from numpy arrays
    (numbers stay Python numbers)."""
    torch = _torch()
    if isinstance(requires_grad, bool):
        requires_grad = [requires_grad] * len(arrays)
    es, ts = [], []
    for a, rg in zip(arrays, requires_grad):
        if isinstance(a, np.ndarray):
            rg = rg and a.dtype.kind == "f"
            es.append(engine.tensor(a.copy(), requires_grad=rg))
            ts.append(torch.tensor(a.copy(), requires_grad=rg))
        else:
            es.append(a)
            ts.append(a)
    return es, ts


def _first(out: Any) -> Any:
    if isinstance(out, tuple) and not isinstance(out, engine.Tensor):
        return out[0]
    return out


def check_backward(e_out: Any, t_out: Any, e_leaves: Sequence[Any], t_leaves: Sequence[Any],
                   seed: int = 0, grad_scale: float = 1.0) -> None:
    """Run backward in both (a fixed random ``gradient`` for non-scalar outputs) and compare
    every leaf's ``.grad``."""
    torch = _torch()
    if not t_out.requires_grad:
        assert not e_out.requires_grad
        return
    if t_out.numel() == 1 and t_out.dim() == 0:
        t_out.backward()
        e_out.backward()
    else:
        rng = np.random.default_rng(seed)
        g = rng.standard_normal(tuple(t_out.shape)).astype(t_out.detach().numpy().dtype)
        t_out.backward(torch.tensor(g))
        e_out.backward(engine.tensor(g))
    for i, (e, t) in enumerate(zip(e_leaves, t_leaves)):
        if not isinstance(t, torch.Tensor) or not t.is_leaf:
            continue
        if t.grad is None:
            assert e.grad is None, f"leaf {i}: engine has a grad, torch has None"
        else:
            assert e.grad is not None, f"leaf {i}: engine grad is None, torch has one"
            assert_same_tensor(e.grad, t.grad, f"grad of leaf {i}", scale=grad_scale,
                               check_flags=False)


def check_program(program: Callable[..., Any], arrays: Sequence[Any], *,
                  requires_grad: bool | Sequence[bool] = True, backward: bool = True,
                  repr_check: bool = True, seed: int = 0, scale: float = 1.0) -> tuple:
    """Run ``program(lib, *leaves)`` in torch and the engine on the same inputs and compare the
    forward value, dtype, flags, repr, grad_fn graph and (after backward) the leaves' grads.
    A program returning a tuple (``max(dim)``) is compared on its first element, and the rest
    as values. Returns ``(engine_out, torch_out)``."""
    torch = _torch()
    e_leaves, t_leaves = make_leaves(arrays, requires_grad)
    t_out = program(torch, *t_leaves)
    e_out = program(engine, *e_leaves)
    if isinstance(t_out, tuple):
        assert len(e_out) == len(t_out)
        for k, (ei, ti) in enumerate(zip(e_out[1:], t_out[1:]), 1):
            assert_same_tensor(ei, ti, f"output[{k}]")
        assert type(e_out).__name__ == type(t_out).__name__
        for field in ("values", "indices"):
            if hasattr(t_out, field):
                assert_same_tensor(getattr(e_out, field), getattr(t_out, field), field)
        e_out, t_out = e_out[0], t_out[0]
    assert_same_tensor(e_out, t_out, "forward", scale=scale)
    pairs = [(e, t) for e, t in zip(e_leaves, t_leaves) if isinstance(t, torch.Tensor)]
    try:
        assert_same_graph(e_out.grad_fn, t_out.grad_fn, pairs)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- torch ---\n{graph_text(t_out.grad_fn)}--- engine ---\n"
                             f"{graph_text(e_out.grad_fn)}") from None
    if repr_check:
        assert_same_repr(e_out, t_out)
    if backward:
        check_backward(e_out, t_out, e_leaves, t_leaves, seed, grad_scale=scale)
    return e_out, t_out


def rand_array(rng: np.random.Generator, shape: tuple, dtype: Any = np.float32,
               low: float | None = None, high: float | None = None) -> np.ndarray:
    """Random values of ``shape``; uniform in [low, high] when given, else standard normal."""
    if low is not None:
        a = rng.uniform(low, high if high is not None else low + 1, shape)
    else:
        a = rng.standard_normal(shape)
    return np.asarray(a, dtype=dtype)

