"""gradcheck and gradgradcheck: compare the engine's gradients with finite differences.

``gradcheck(fn, inputs)`` builds, for every input that requires grad and every floating output,
the Jacobian twice: numerically by central differences (each input element moved by +-eps) and
analytically with one ``autograd.grad`` per output element. It returns True when they agree
(``allclose(analytical, numerical, rtol, atol)``), else raises torch's ``GradcheckError``
("Jacobian mismatch for output 0 with respect to input 0, numerical: ... analytical: ...")
with a last line naming the first mismatching input element and output element.
``gradgradcheck`` does the same for the gradients themselves (``create_graph=True``).
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine._printing import format_tensor
from engine.creation import default_generator
from engine.tensor import Tensor, _make

# engine.autograd, which imports this module at its top, puts itself here (for autograd.grad)
_up: Any = types.SimpleNamespace(autograd=None)

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "get_numerical_jacobian",
           "get_analytical_jacobian"]


class GradcheckError(RuntimeError):
    """Raised by gradcheck when the analytical and numerical gradients disagree."""


def _as_tuple(x: Any) -> tuple:
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _diff_outputs(out: Any) -> tuple[Tensor, ...]:
    return tuple(o for o in _as_tuple(out)
                 if isinstance(o, Tensor) and o._data.dtype.kind == "f")


def _fmt(a: np.ndarray) -> str:
    return format_tensor(a)


def _index(shape: tuple, flat: int) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def get_numerical_jacobian(fn: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6
                           ) -> list[list[np.ndarray]]:
    """``J[i][o]``: d(output o)/d(input i) by central differences, shape (numel_i, numel_o)."""
    inputs = _as_tuple(inputs)
    diff = [x for x in inputs if isinstance(x, Tensor) and x._requires_grad]

    def outputs() -> list[np.ndarray]:
        return [np.array(o._data, dtype=np.float64, copy=True)
                for o in _diff_outputs(fn(*inputs))]

    base = outputs()
    jac: list[list[np.ndarray]] = []
    for x in diff:
        d = x._data
        cols = [np.zeros((d.size, o.size)) for o in base]
        flat = d.reshape(-1) if d.flags.c_contiguous else None
        for j in range(d.size):
            idx = _index(d.shape, j)
            orig = (flat[j] if flat is not None else d[idx]).copy()
            _set(d, flat, idx, j, orig + eps)
            plus = outputs()
            _set(d, flat, idx, j, orig - eps)
            minus = outputs()
            _set(d, flat, idx, j, orig)
            for k, (p, m) in enumerate(zip(plus, minus)):
                cols[k][j] = ((p - m) / (2 * eps)).reshape(-1)
        jac.append(cols)
    return jac


def _set(d: np.ndarray, flat: np.ndarray | None, idx: tuple, j: int, v: Any) -> None:
    if flat is not None:
        flat[j] = v
    else:
        d[idx] = v


def get_analytical_jacobian(fn: Callable[..., Any], inputs: Sequence[Any]
                            ) -> tuple[list[list[np.ndarray]], list[Tensor]]:
    """``J[i][o]`` from the engine's backward (one ``autograd.grad`` per output element)."""
    autograd = _up.autograd
    inputs = _as_tuple(inputs)
    diff = [x for x in inputs if isinstance(x, Tensor) and x._requires_grad]
    outs = _diff_outputs(fn(*inputs))
    jac = [[np.zeros((x._data.size, o._data.size)) for o in outs] for x in diff]
    for k, o in enumerate(outs):
        if not o._requires_grad:
            continue
        for e in range(o._data.size):
            go = np.zeros(o._data.shape, dtype=o._data.dtype)
            go.reshape(-1)[e] = 1
            grads = autograd.grad(o, diff, _make(go), retain_graph=True, allow_unused=True)
            for i, g in enumerate(grads):
                if g is not None:
                    jac[i][k][:, e] = np.asarray(g._data, dtype=np.float64).reshape(-1)
    return jac, list(outs)


def _mismatch(a: np.ndarray, n: np.ndarray, rtol: float, atol: float) -> tuple[int, int]:
    bad = ~np.isclose(a, n, rtol=rtol, atol=atol)
    j, e = np.argwhere(bad)[0]
    return int(j), int(e)


def gradcheck(func: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, *, raise_exception: bool = True, nondet_tol: float = 0.0,
              check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
              check_batched_grad: bool = False, check_batched_forward_grad: bool = False,
              check_forward_ad: bool = False, check_backward_ad: bool = True,
              fast_mode: bool = False, masked: Any = None) -> bool:
    """True when ``func``'s backward agrees with finite differences on ``inputs`` (float64
    inputs recommended); else raises GradcheckError (or returns False with
    ``raise_exception=False``) naming the output, the input and the first mismatching element."""
    tupled = _as_tuple(inputs)
    diff_idx = [i for i, x in enumerate(tupled) if isinstance(x, Tensor) and x._requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of them have requires_grad=True.")
    for i in diff_idx:
        if tupled[i]._data.dtype != np.float64:
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating "
                          "point or complex. This check will likely fail if all the inputs are "
                          "not of double precision floating point or complex. ", UserWarning,
                          stacklevel=2)

    def fail(msg: str) -> bool:
        if raise_exception:
            raise GradcheckError(msg)
        return False

    outs = _diff_outputs(func(*tupled))
    numerical = get_numerical_jacobian(func, tupled, eps)
    for k, o in enumerate(outs):
        if not o._requires_grad:
            for i in range(len(diff_idx)):
                if not np.allclose(numerical[i][k], 0.0, rtol=rtol, atol=atol):
                    return fail("Numerical gradient for function expected to be zero")
    analytical, _ = get_analytical_jacobian(func, tupled)
    for i, xi in enumerate(diff_idx):
        x = tupled[xi]
        for k, o in enumerate(outs):
            a, n = analytical[i][k], numerical[i][k]
            if a.shape == n.shape and np.allclose(a, n, rtol=rtol, atol=atol):
                continue
            j, e = _mismatch(a, n, rtol, atol)
            return fail(
                f"Jacobian mismatch for output {k} with respect to input {xi},\n"
                f"numerical:{_fmt(n)}\nanalytical:{_fmt(a)}\n\n"
                f"First mismatch: input {xi} element {list(_index(x._data.shape, j))} -> output "
                f"{k} element {list(_index(o._data.shape, e))}: numerical {float(n[j, e])!r}, "
                f"analytical {float(a[j, e])!r}\n")
    again, _ = get_analytical_jacobian(func, tupled)
    for i in range(len(diff_idx)):
        for k in range(len(outs)):
            if np.abs(again[i][k] - analytical[i][k]).max(initial=0.0) > nondet_tol:
                return fail("Backward is not reentrant, i.e., running backward with same input "
                            "and grad_output multiple times gives different values, although "
                            "analytical gradient matches numerical gradient.The tolerance for "
                            f"nondeterminism was {nondet_tol}.")
    return True


def gradgradcheck(func: Callable[..., Any], inputs: Any, grad_outputs: Any = None,
                  eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, *,
                  gen_non_contig_grad_outputs: bool = False, raise_exception: bool = True,
                  nondet_tol: float = 0.0, check_undefined_grad: bool = True,
                  check_grad_dtypes: bool = False, check_batched_grad: bool = False,
                  check_fwd_over_rev: bool = False, check_rev_over_rev: bool = True,
                  fast_mode: bool = False, masked: bool = False) -> bool:
    """gradcheck of the gradients: ``autograd.grad(func(inputs), inputs, grad_outputs,
    create_graph=True)`` against finite differences (second derivatives)."""
    autograd = _up.autograd
    tupled = _as_tuple(inputs)
    if grad_outputs is None:
        outs = [o for o in _diff_outputs(func(*tupled)) if o._requires_grad]
        gos = tuple(_make(default_generator.uniform(o._data.shape, np.float64, -1.0, 1.0)
                          .astype(o._data.dtype), True) for o in outs)
    else:
        gos = _as_tuple(grad_outputs)
    n_out = len(gos)
    diff_in = {i for i, x in enumerate(tupled) if isinstance(x, Tensor) and x._requires_grad}

    def new_func(*args: Any) -> tuple:
        in_args = args[:-n_out] if n_out else args
        outs = [o for o in _diff_outputs(func(*in_args)) if o._requires_grad]
        diff = [x for i, x in enumerate(in_args) if i in diff_in]
        gis = autograd.grad(outs, diff, list(args[-n_out:]) if n_out else None,
                            create_graph=True, allow_unused=True)
        return tuple(g for g in gis if g is not None)

    return gradcheck(new_func, tupled + gos, eps, atol, rtol, raise_exception=raise_exception,
                     nondet_tol=nondet_tol)
