"""torch.autograd.functional: jacobian, hessian, vjp, jvp, vhp and hvp built on autograd.grad,
with torch's argument handling (a tensor or a tuple of tensors in, the same shape of result
out) and its detaching of results unless ``create_graph=True``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine import grad_mode
from engine.autograd import grad
from engine.ops.shape import reshape, stack, view
from engine.tensor import Tensor, _make

__all__ = ["jacobian", "hessian", "vjp", "jvp", "vhp", "hvp"]


def _as_tuple(x: Any, arg: str, fn: str) -> tuple[bool, tuple]:
    if isinstance(x, tuple):
        items = x
        is_tuple = True
    elif isinstance(x, list):
        items = tuple(x)
        is_tuple = True
    else:
        items = (x,)
        is_tuple = False
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            if is_tuple:
                raise TypeError(f"The {arg} given to {fn} must be either a Tensor or a tuple of "
                                f"Tensors but the value at index {i} has type {type(t)}.")
            raise TypeError(f"The {arg} given to {fn} must be either a Tensor or a tuple of "
                            f"Tensors but the given {arg} has type {type(t)}.")
    return is_tuple, items


def _prep(inputs: tuple, create_graph: bool) -> tuple:
    """Fresh leaves (or, under create_graph, views that keep the graph) that require grad."""
    out = []
    for t in inputs:
        if create_graph and t.requires_grad:
            out.append(view(t, t.shape))
        else:
            out.append(t.detach().requires_grad_(True))
    return tuple(out)


def _post(x: Any, create_graph: bool) -> Any:
    if isinstance(x, tuple):
        return tuple(_post(v, create_graph) for v in x)
    if x is None or create_graph:
        return x
    return x.detach()


def _shape_result(res: Any, flags: tuple[bool, ...]) -> Any:
    if len(flags) == 1:
        return res if flags[0] else res[0]
    outer, inner = flags
    if not inner:
        res = tuple(r[0] for r in res)
    if not outer:
        res = res[0]
    return res


def _grad(outputs: tuple, inputs: tuple, grad_outputs: tuple, create_graph: bool) -> tuple:
    outs, gos = [], []
    for o, g in zip(outputs, grad_outputs):
        if o is not None and o.requires_grad:
            outs.append(o)
            gos.append(g)
    if not outs:
        return (None,) * len(inputs)
    return grad(outs, inputs, gos, retain_graph=True, create_graph=create_graph,
                allow_unused=True)


def _fill_zeros(grads: tuple, refs: tuple) -> tuple:
    return tuple(g if g is not None else _make(np.zeros_like(r._data))
                 for g, r in zip(grads, refs))


def _input_v(v: Any, inputs: tuple, fn: str) -> tuple:
    """``v`` for a product on the inputs' side (jvp, vhp, hvp): ones when it is None and the
    input is one single-element tensor, as torch allows."""
    if v is None:
        if len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the input to the "
                               "user-provided function is a single Tensor with a single "
                               "element.")
        return (_make(np.ones_like(inputs[0]._data)),)
    return _as_tuple(v, "v", fn)[1]


def _check_v(v: Any, outputs: tuple, fn: str, what: str = "outputs") -> tuple:
    if v is None:
        if len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the user-provided function "
                               "returns a single Tensor with a single element.")
        return (_make(np.ones_like(outputs[0]._data)),)
    _, vs = _as_tuple(v, "v", fn)
    if len(vs) != len(outputs):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(outputs)} but got "
                           f"{len(vs)}.")
    for i, (a, b) in enumerate(zip(vs, outputs)):
        if tuple(a.shape) != tuple(b.shape):
            raise RuntimeError(f"Entry {i} in v has invalid size: should be {b.shape} but got "
                               f"{a.shape}.")
    return vs


def vjp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple:
    """(func(inputs), vᵀ·J): the vector-Jacobian product at ``inputs``."""
    with grad_mode.enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prep(inputs, create_graph)
        outputs = func(*inputs)
        out_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "vjp")
        vs = _check_v(v, outputs, "vjp")
        grads = _fill_zeros(_grad(outputs, inputs, vs, create_graph), inputs)
    return (_shape_result(_post(outputs, create_graph), (out_tuple,)),
            _shape_result(_post(grads, create_graph), (in_tuple,)))


def jvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple:
    """(func(inputs), J·v): the Jacobian-vector product, by the double-backward trick."""
    with grad_mode.enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prep(inputs, create_graph)
        vs = _input_v(v, inputs, "jvp")
        outputs = func(*inputs)
        out_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "jvp")
        dummies = tuple(_make(np.zeros_like(o._data), True) for o in outputs)
        g_in = _grad(outputs, inputs, dummies, True)
        pairs = [(g, vi) for g, vi in zip(g_in, vs) if g is not None and g.requires_grad]
        if pairs:
            res = grad([g for g, _ in pairs], dummies, [vi for _, vi in pairs],
                       retain_graph=True, create_graph=create_graph, allow_unused=True)
        else:
            res = (None,) * len(dummies)
        res = _fill_zeros(res, outputs)
    return (_shape_result(_post(outputs, create_graph), (out_tuple,)),
            _shape_result(_post(res, create_graph), (out_tuple,)))


def jacobian(func: Callable[..., Any], inputs: Any, create_graph: bool = False,
             strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode") -> Any:
    """The Jacobian of ``func`` at ``inputs``: one tensor of shape out.shape + in.shape per
    (output, input) pair, nested as torch nests them."""
    with grad_mode.enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prep(inputs, create_graph)
        outputs = func(*inputs)
        out_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                       "jacobian")
        result = []
        for out in outputs:
            flat = reshape(out, (-1,))
            rows: list[list] = [[] for _ in inputs]
            for j in range(flat.numel()):
                gs = _grad((flat[j],), inputs, (None,), create_graph)
                for k, (g, inp) in enumerate(zip(gs, inputs)):
                    rows[k].append(g if g is not None else
                                   _make(np.zeros_like(inp._data)))
            per_input = []
            for k, inp in enumerate(inputs):
                shape = tuple(out.shape) + tuple(inp.shape)
                if rows[k]:
                    per_input.append(reshape(stack(rows[k]), shape))
                else:
                    per_input.append(_make(np.zeros(shape, out._data.dtype)))
            result.append(tuple(per_input))
    return _shape_result(_post(tuple(result), create_graph), (out_tuple, in_tuple))


def hessian(func: Callable[..., Any], inputs: Any, create_graph: bool = False,
            strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a scalar ``func`` at ``inputs`` (the Jacobian of its gradient)."""
    in_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def jac_func(*inp: Tensor) -> Any:
        out = func(*inp)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError("The function given to hessian should return a single Tensor "
                               "with a single element.")
        return jacobian(func, inp, create_graph=True)

    res = jacobian(jac_func, inputs, create_graph=create_graph)
    return _shape_result(res, (in_tuple, in_tuple))


def vhp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple:
    """(func(inputs), vᵀ·H) for a scalar ``func``."""
    with grad_mode.enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
        inputs = _prep(inputs, create_graph)
        vs = _input_v(v, inputs, "vhp")
        out = func(*inputs)
        out_tuple, outs = _as_tuple(out, "outputs of the user-provided function", "vhp")
        if out_tuple or outs[0].numel() != 1:
            raise RuntimeError("The function given to vhp should return a single Tensor with a "
                               "single element.")
        jac = _grad(outs, inputs, (None,), True)
        pairs = [(g, vi) for g, vi in zip(jac, vs) if g is not None and g.requires_grad]
        res = _grad(tuple(g for g, _ in pairs), inputs, tuple(vi for _, vi in pairs),
                    create_graph) if pairs else (None,) * len(inputs)
        res = _fill_zeros(res, inputs)
    return (_post(outs[0], create_graph), _shape_result(_post(res, create_graph), (in_tuple,)))


def hvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple:
    """(func(inputs), H·v) for a scalar ``func`` (H is symmetric, so this is vhp)."""
    return vhp(func, inputs, v, create_graph, strict)
