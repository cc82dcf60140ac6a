"""Tests for engine._printing: golden strings, plus torch 2.13 as the oracle."""

from __future__ import annotations

import os
from types import ModuleType

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine._printing import format_tensor


def _import_torch() -> ModuleType:
    """torch, or skip; with GRADVIZ_REQUIRE_TORCH=1 a missing torch is an error."""
    if os.environ.get("GRADVIZ_REQUIRE_TORCH") == "1":
        import torch

        return torch
    return pytest.importorskip("torch")


@pytest.fixture(scope="session")
def torch() -> ModuleType:
    return _import_torch()


def _torch_repr(torch: ModuleType, a: np.ndarray, requires_grad: bool, grad_fn: bool) -> str:
    """torch's repr of `a`; grad_fn=True adds an exact CloneBackward0 node."""
    t = torch.tensor(a)
    if requires_grad or grad_fn:
        t.requires_grad_()
    if grad_fn:
        t = t.clone()
    return repr(t)


def _check(torch: ModuleType, a: np.ndarray, requires_grad: bool = False, grad_fn: bool = False):
    expected = _torch_repr(torch, a, requires_grad, grad_fn)
    got = format_tensor(
        a, requires_grad=requires_grad, grad_fn="CloneBackward0" if grad_fn else None
    )
    assert got == expected, f"\n--- torch ---\n{expected}\n--- engine ---\n{got}"


# ---------------------------------------------------------------- golden (no torch needed)

SEED_LEAF = np.array([-1.2643, 1.0159, 0.2505], dtype=np.float32)
SEED_LOSS = np.array(9.8008, dtype=np.float32)
SEED_GRAD = np.full(4, 3.0, dtype=np.float32)
SEED_OUT = np.array([1.8638, 40.2115, 3.0276], dtype=np.float32)


def test_golden_seed_values() -> None:
    assert (
        format_tensor(SEED_LEAF, requires_grad=True)
        == "tensor([-1.2643,  1.0159,  0.2505], requires_grad=True)"
    )
    assert format_tensor(SEED_LOSS, grad_fn="MeanBackward0") == (
        "tensor(9.8008, grad_fn=<MeanBackward0>)"
    )
    assert format_tensor(SEED_GRAD) == "tensor([3., 3., 3., 3.])"
    assert format_tensor(SEED_OUT) == "tensor([ 1.8638, 40.2115,  3.0276])"


def test_golden_misc() -> None:
    assert format_tensor(np.zeros((0, 3), np.float32)) == "tensor([], size=(0, 3))"
    assert format_tensor(np.zeros(0, np.float32)) == "tensor([])"
    assert format_tensor(np.zeros(0, np.int64)) == "tensor([], dtype=torch.int64)"
    assert format_tensor(np.arange(1001)) == "tensor([   0,    1,    2,  ...,  998,  999, 1000])"
    assert format_tensor(np.array([1e-3, 1.0, 12345.0])) == (
        "tensor([1.0000e-03, 1.0000e+00, 1.2345e+04], dtype=torch.float64)"
    )
    assert format_tensor(np.array([[1.5, np.nan], [-np.inf, -0.0]], np.float32)) == (
        "tensor([[1.5000,    nan],\n        [  -inf, -0.0000]])"
    )
    assert format_tensor(np.array([True, False])) == "tensor([ True, False])"
    assert format_tensor(np.array([1.0, 2.0]), dtype_prefix="engine.") == (
        "tensor([1., 2.], dtype=engine.float64)"
    )
    assert (
        format_tensor(
            np.array([1.0, 2.0], np.float32),
            prefix="Parameter containing:\ntensor(",
            requires_grad=True,
        )
        == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    )


def test_golden_suffix_wrap_uses_torch_layout() -> None:
    # with another prefix ("engine." is one char longer) the line still breaks where torch's does
    a = np.array([9.9e-5, 5e-2])
    assert format_tensor(a, grad_fn="CloneBackward0", dtype_prefix="engine.") == (
        "tensor([9.9000e-05, 5.0000e-02], dtype=engine.float64, grad_fn=<CloneBackward0>)"
    )
    assert format_tensor(a * 10, grad_fn="CloneBackward0", dtype_prefix="engine.") == (
        "tensor([0.0010, 0.5000], dtype=engine.float64, grad_fn=<CloneBackward0>)"
    )


def test_unsupported_dtype() -> None:
    with pytest.raises(TypeError):
        format_tensor(np.array([1 + 2j]))


# ---------------------------------------------------------------- torch oracle: fixed cases

F32, F64 = np.float32, np.float64
NAN, INF = np.nan, np.inf
_rng = np.random.default_rng(1234)

EDGE_CASES: dict[str, np.ndarray] = {
    "seed_leaf": SEED_LEAF,
    "seed_loss": SEED_LOSS,
    "seed_grad": SEED_GRAD,
    "seed_out": SEED_OUT,
    "scalar_int_mode": np.array(3.0, F32),
    "scalar_neg_zero": np.array(-0.0, F32),
    "scalar_nan": np.array(NAN, F64),
    "scalar_sci": np.array(1e10, F32),
    "scalar_tiny": np.array(1e-5, F32),
    "scalar_int": np.array(-7),
    "scalar_bool": np.array(True),
    "scalar_uint8": np.array(200, np.uint8),
    "max_1e8": np.array([1e8], F32),
    "above_1e8": np.array([1e8 + 8], F32),
    "min_1e-4": np.array([1e-4, 0.05], F64),
    "below_1e-4": np.array([9.9e-5, 0.05], F64),
    "ratio_1000": np.array([1.0, 1000.0], F32),
    "ratio_1001": np.array([1.0, 1001.0], F32),
    "ratio_frac": np.array([0.1, 100.5], F32),
    "int_mode_big": np.array([1.0, -99999999.0], F64),
    "int_mode_nonfinite": np.array([1.0, NAN, INF, -INF], F32),
    "nonfinite_only": np.array([NAN, INF, -INF], F32),
    "zeros": np.zeros((2, 3), F32),
    "neg_zeros": np.array([0.0, -0.0, 1.0], F32),
    "neg_zero_frac": np.array([-0.0, 0.5], F32),
    "nan_frac": np.array([NAN, 1.5, -2.25], F64),
    "sci_nonfinite": np.array([NAN, -INF, 1e-7, 3e5], F32),
    "rounding_f32": np.array([0.00015, 1.23455, 2.5e-5, 0.1], F32),
    "rounding_half_even": np.array([0.12345, 0.00005, 2.5], F64),
    "denormal": np.array([5e-324, 1.0], F64),
    "huge_range": np.array([1e-300, 1e300], F64),
    "f16": np.array([65504.0, 0.1, -3.0, 6e-8], np.float16),
    "f16_int": np.array([2048.0, -1.0], np.float16),
    "int8": np.array([-128, 0, 127], np.int8),
    "int16": np.arange(-40, 40, 3, dtype=np.int16),
    "int32": np.array([[1, -20], [300, 4000]], np.int32),
    "uint8": np.array([0, 255], np.uint8),
    "int64_big": np.array([-(2**63), 2**63 - 1], np.int64),
    "bool_2d": np.array([[True, False], [False, False]]),
    "empty_1d": np.zeros(0, F32),
    "empty_2d": np.zeros((0, 3), F32),
    "empty_3d_f64": np.zeros((2, 0, 1), F64),
    "empty_int": np.zeros((3, 0), np.int64),
    "empty_bool": np.zeros(0, bool),
    "empty_f16": np.zeros(0, np.float16),
    "wrap_1d": _rng.standard_normal(25).astype(F32),
    "wrap_1d_f64_suffix": _rng.standard_normal(29),
    "wrap_2d": _rng.standard_normal((3, 30)).astype(F32) * 100,
    "wrap_sci": _rng.standard_normal(20) * 1e6,
    "wrap_ints": np.arange(100) * 123457,
    "nested_3d": _rng.standard_normal((2, 3, 4)).astype(F32),
    "nested_4d": _rng.standard_normal((2, 2, 2, 3)).astype(F32),
    "nested_5d": np.arange(32, dtype=F32).reshape(2, 2, 2, 2, 2),
    "singleton_dims": np.ones((1, 1, 1), F32),
    "sum_arange": np.arange(1001),
    "sum_1d_float": _rng.standard_normal(1001).astype(F32),
    "sum_2d_mixed": _rng.standard_normal((2, 3, 200)).astype(F32),
    "sum_3d": _rng.standard_normal((10, 10, 11)),
    "sum_4d": _rng.standard_normal((7, 7, 7, 7)).astype(F32),
    "sum_5d": _rng.standard_normal((2, 2, 2, 2, 70)).astype(F32),
    "sum_hidden_outlier": np.concatenate([np.ones(500), [1e9], np.ones(500)]).astype(F32),
    "sum_bool": np.zeros((40, 40), bool),
    "sum_int8": (np.arange(2000) % 200 - 100).astype(np.int8),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_match_torch(torch: ModuleType, name: str) -> None:
    a = EDGE_CASES[name]
    _check(torch, a)
    if a.dtype.kind == "f":
        _check(torch, a, requires_grad=True)
        _check(torch, a, grad_fn=True)


@pytest.mark.torch
def test_seed_scalar_mean_backward(torch: ModuleType) -> None:
    loss = torch.tensor([9.8008], requires_grad=True).mean()
    assert format_tensor(SEED_LOSS, grad_fn="MeanBackward0") == repr(loss)


@pytest.mark.torch
def test_parameter_prefix(torch: ModuleType) -> None:
    for a in (SEED_LEAF, _rng.standard_normal((3, 30)), np.array(2.5, F32)):
        expected = repr(torch.nn.Parameter(torch.tensor(a)))
        got = format_tensor(a, requires_grad=True, prefix="Parameter containing:\ntensor(")
        assert got == expected


# ---------------------------------------------------------------- torch oracle: hypothesis

FLOAT_DTYPES = [np.float16, np.float32, np.float64]
ALL_DTYPES = [*FLOAT_DTYPES, np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_]
SPECIALS = [0.0, -0.0, NAN, INF, -INF]


@st.composite
def small_shapes(draw: st.DrawFn) -> tuple[int, ...]:
    ndim = draw(st.integers(0, 4))
    max_side = {0: 0, 1: 40, 2: 12, 3: 6, 4: 4}[ndim]
    return tuple(draw(st.lists(st.integers(0, max_side), min_size=ndim, max_size=ndim)))


@st.composite
def float_values(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """float64 values across magnitudes: uniform-scale, integral, or wild, plus specials."""
    mode = draw(st.sampled_from(["scaled", "integral", "wild"]))
    if mode == "scaled":
        exp = draw(st.integers(-9, 10))
        elements = st.floats(-10.0, 10.0).map(lambda x: x * 10.0**exp)
    elif mode == "integral":
        elements = st.integers(-(10 ** draw(st.integers(0, 10))), 10**9).map(float)
    else:
        elements = st.floats(allow_nan=True, allow_infinity=True)
    if draw(st.booleans()):
        elements = st.one_of(elements, st.sampled_from(SPECIALS))
    return draw(hnp.arrays(np.float64, shape, elements=elements))


@st.composite
def small_arrays(draw: st.DrawFn) -> np.ndarray:
    shape = draw(small_shapes())
    dtype = draw(st.sampled_from(ALL_DTYPES))
    if dtype in FLOAT_DTYPES:
        with np.errstate(over="ignore"):
            return draw(float_values(shape)).astype(dtype)
    return draw(hnp.arrays(dtype, shape))


@st.composite
def large_arrays(draw: st.DrawFn) -> np.ndarray:
    """Arrays over the 1000-element threshold, so torch summarizes them."""
    ndim = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 14)) for _ in range(ndim - 1)]
    inner = 1001 // int(np.prod(shape)) + 1
    shape.append(draw(st.integers(inner, inner + 20)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, np.bool_]))
    if dtype is np.bool_:
        return rng.random(shape) < 0.5
    if dtype is np.int64:
        return rng.integers(-(10 ** draw(st.integers(0, 12))), 10**6, size=shape)
    a = rng.standard_normal(shape) * 10.0 ** draw(st.integers(-6, 9))
    if draw(st.booleans()):
        a = np.round(a)
    flat = a.reshape(-1)
    for special in draw(st.lists(st.sampled_from(SPECIALS), max_size=4)):
        flat[rng.integers(flat.size)] = special
    return a.astype(dtype)


@pytest.mark.torch
@settings(max_examples=250, deadline=None)
@given(a=small_arrays(), grad=st.sampled_from(["none", "requires_grad", "grad_fn"]))
def test_random_small_arrays_match_torch(torch: ModuleType, a: np.ndarray, grad: str) -> None:
    if a.dtype.kind != "f":
        grad = "none"  # torch only lets float tensors require grad
    _check(torch, a, requires_grad=grad == "requires_grad", grad_fn=grad == "grad_fn")


@pytest.mark.torch
@settings(max_examples=40, deadline=None)
@given(a=large_arrays(), requires_grad=st.booleans())
def test_random_large_arrays_match_torch(
    torch: ModuleType, a: np.ndarray, requires_grad: bool
) -> None:
    _check(torch, a, requires_grad=requires_grad and a.dtype.kind == "f")
