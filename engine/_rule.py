"""A node's gradient rule as text that can be read and evaluated (numpy only).

Every Node class keeps its ``rule = Rule(words=..., symbols=(...), math=...)`` beside its
``backward``, as PyTorch's ``derivatives.yaml`` keeps one entry per op. ``words`` say it in a
sentence, ``math`` in textbook notation, and each of ``symbols`` is ``<name> = <expression>``:

- ``grad`` is the gradient arriving at the node (``grads``: the list of them for a node with
  several outputs, zeros where an output got none);
- the saved values go by torch's names (``self``, ``other``, ``result``, ``mat2``, ``indices``,
  ``self_sym_sizes``...; ``node._saved_<name>``), the op's attributes by theirs (``alpha``,
  ``dim``, ``keepdim``, ``exponent``...);
- ``optional`` names saved values an op may lack (an absent ``weight``): None then;
- a line whose name starts with ``grad_`` is the gradient of the node's next input, in the
  order of ``next_functions`` (one that evaluates to a list covers the remaining inputs, as
  ``cat`` does); any other line names a value the later lines use;
- the engine then sums every gradient to its input's shape (``sum_to``), which undoes
  broadcasting once, centrally (torch's engine does the same).

An expression is Python over numpy arrays (``+ - * / ** @``, comparisons, ``x.shape``) and the
vocabulary in ``VOCABULARY``: ``sum_to, expand, keep, unsqueeze, reshape, T, mT, permute,
inverse, transpose, sum, mean, where, exp, log, sqrt, sign, sigmoid, softplus, Phi, phi, ...``
(each documented there). ``evaluate`` runs a rule on a node, so a test can check that the text
says what the code does.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.grad_mode import no_grad
from engine.tensor import tensor

__all__ = ["Rule", "CustomRule", "GENERIC", "VOCABULARY", "evaluate", "node_values", "rule_for"]

# Modules above this one (engine.function imports it) put themselves here when they load:
# engine.function its Node (rule_for walks its subclasses), engine.nn.functional itself
# (transpose_of and conv_weight run its forward ops).
_from_function: Any = types.SimpleNamespace(Node=None)
_nn: Any = types.SimpleNamespace(functional=None)


@dataclass(frozen=True)
class Rule:
    """How one kind of node turns the incoming ``grad`` into gradients for its inputs."""

    words: str
    symbols: tuple[str, ...] = ()
    math: str = ""
    optional: tuple[str, ...] = ()  # saved values an op may lack (None then), e.g. ``weight``

    @property
    def gradients(self) -> tuple[str, ...]:
        """The names of the lines that are gradients (``grad_self``...), in edge order."""
        return tuple(s.split(" = ", 1)[0].strip() for s in self.symbols
                     if s.split(" = ", 1)[0].strip().startswith("grad_"))


GENERIC = Rule("Chain rule: multiply the incoming gradient by this node's local derivative, one "
               "result per input.", ("grad_input = grad * d output / d input",),
               "∂L/∂x = ∂L/∂y · ∂y/∂x")
"""The rule of a Node subclass that wrote none (the base class's)."""


class CustomRule:
    """The rule of a custom ``autograd.Function``'s node: its own ``backward`` (a descriptor,
    so each generated ``<Name>Backward`` class names its Function)."""

    words = ("A custom autograd.Function: its own backward(ctx, *grad_outputs), your code, "
             "turns the incoming gradient into one gradient per forward input, using what "
             "forward kept with ctx.save_for_backward.")

    def __get__(self, obj: Any, cls: type | None = None) -> Rule:
        fn = getattr(cls if cls is not None else type(obj), "_fn_cls", None)
        name = fn.__name__ if fn is not None else "Function"
        return Rule(self.words, (f"grads = {name}.backward(ctx, grad)",),
                    "∂L/∂x = backward(ctx, ∂L/∂y)")


# ----------------------------------------------------------------------------- vocabulary
def sum_to(x: Any, shape: Any) -> np.ndarray:
    """``x`` summed over the dims that broadcasting added or stretched, to ``shape``."""
    x = np.asarray(x)
    shape = tuple(shape)
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and x.shape[i + lead] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return x.reshape(shape)


def expand(x: Any, shape: Any) -> np.ndarray:
    """``x`` broadcast to ``shape`` (every copy carries the same value)."""
    return np.broadcast_to(np.asarray(x), tuple(shape)).copy()


def _dims(dim: Any, ndim: int) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    return tuple(sorted(d % ndim if ndim else 0 for d in dims))


def keep(x: Any, dim: Any, keepdim: bool, ndim: int) -> np.ndarray:
    """A reduction's output with its reduced dims put back as size 1 (unless ``keepdim`` kept
    them), so it broadcasts against the ``ndim``-dim input."""
    x = np.asarray(x)
    if keepdim or dim is None and x.ndim == 0:
        return x
    for d in _dims(dim, ndim):
        x = np.expand_dims(x, d)
    return x


def sum(x: Any, dim: Any = None, keepdim: bool = False) -> np.ndarray:  # noqa: A001
    """Sum over ``dim`` (an int, a tuple, or None for all)."""
    x = np.asarray(x)
    return np.asarray(np.sum(x, axis=None if dim is None else _dims(dim, x.ndim),
                             keepdims=keepdim))


def mean(x: Any, dim: Any = None, keepdim: bool = False) -> np.ndarray:
    """Mean over ``dim``."""
    x = np.asarray(x)
    return np.asarray(np.mean(x, axis=None if dim is None else _dims(dim, x.ndim),
                              keepdims=keepdim))


def count(x: Any, dim: Any = None) -> int:
    """How many elements of ``x`` a reduction over ``dim`` combines into one."""
    shape = np.shape(x)
    return int(np.prod([shape[d] for d in _dims(dim, len(shape))]))


def untile(grad: Any, repeats: Any, shape: Any) -> np.ndarray:
    """The sum of ``grad``'s copies of an input of ``shape`` that ``repeat(*repeats)`` tiled:
    block by block."""
    shape = tuple(shape)
    reps = tuple(repeats)
    inner = (1,) * (len(reps) - len(shape)) + shape
    out = np.zeros(inner, np.asarray(grad).dtype)
    for block in np.ndindex(*reps):
        out += np.asarray(grad)[tuple(slice(b * n, (b + 1) * n) for b, n in zip(block, inner))]
    return out.reshape(shape)


def inverse(dims: Any) -> tuple[int, ...]:
    """The permutation that undoes ``dims``."""
    return tuple(int(i) for i in np.argsort(dims))


def Phi(x: Any) -> np.ndarray:  # noqa: N802 - the textbook's name
    """The standard normal CDF."""
    return 0.5 * (1 + _erf(np.asarray(x) / math.sqrt(2)))


def phi(x: Any) -> np.ndarray:
    """The standard normal density."""
    x = np.asarray(x)
    return np.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _erf(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def sigmoid(x: Any) -> np.ndarray:
    """1 / (1 + e⁻ˣ)."""
    return 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))


def softplus(x: Any) -> np.ndarray:
    """ln(1 + eˣ)."""
    return np.logaddexp(0, x)


def mean_factor(reduction: int, n: int) -> float:
    """A loss's scale: 1/n for reduction='mean' (torch's enum 1), 1 for 'sum' or 'none'."""
    return 1.0 / n if reduction == 1 else 1.0


def rcumsum(x: Any, dim: int) -> np.ndarray:
    """Reverse cumulative sum along ``dim``: element i gets the sum of elements i, i+1, ..."""
    return np.flip(np.cumsum(np.flip(x, dim), dim), dim)


def put(shape: Any, key: Any, values: Any) -> np.ndarray:
    """Zeros of ``shape`` with ``values`` added at ``key`` (a key that repeats adds up)."""
    out = np.zeros(tuple(shape), np.asarray(values).dtype)
    np.add.at(out, key, values)
    return out


def fill(x: Any, key: Any, value: Any) -> np.ndarray:
    """A copy of ``x`` with ``x[key] = value``."""
    out = np.array(x, copy=True)
    out[key] = value
    return out


def take(x: Any, key: Any) -> np.ndarray:
    """``x[key]``."""
    return np.asarray(np.asarray(x)[key])


def gather(x: Any, dim: int, index: Any) -> np.ndarray:
    """``out[i][j] = x[i][index[i][j]]`` along ``dim`` (torch.gather)."""
    return np.take_along_axis(np.asarray(x), np.asarray(index), dim)


def _scatter_key(index: np.ndarray, dim: int) -> tuple:
    grids = list(np.indices(index.shape, sparse=True))
    grids[dim % index.ndim] = index
    return tuple(grids)


def scatter(x: Any, dim: int, index: Any, src: Any) -> np.ndarray:
    """A copy of ``x`` with ``src`` written at ``index`` along ``dim`` (torch.scatter)."""
    index = np.asarray(index)
    out = np.array(x, copy=True)
    src = np.broadcast_to(src, index.shape) if np.ndim(src) == 0 else \
        np.asarray(src)[tuple(slice(0, n) for n in index.shape)]
    out[_scatter_key(index, dim)] = src
    return out


def scatter_add(x: Any, dim: int, index: Any, src: Any) -> np.ndarray:
    """A copy of ``x`` with ``src`` added at ``index`` along ``dim`` (torch.scatter_add)."""
    index = np.asarray(index)
    out = np.array(x, copy=True)
    src = np.asarray(src)[tuple(slice(0, n) for n in index.shape)]
    np.add.at(out, _scatter_key(index, dim), src)
    return out


def index_select(x: Any, dim: int, index: Any) -> np.ndarray:
    """The slices of ``x`` at ``index`` along ``dim``."""
    return np.take(np.asarray(x), np.asarray(index), axis=dim)


def index_add(x: Any, dim: int, index: Any, src: Any) -> np.ndarray:
    """A copy of ``x`` with the slices of ``src`` added at ``index`` along ``dim``."""
    out = np.array(x, copy=True)
    key = (slice(None),) * (dim % out.ndim) + (np.asarray(index),)
    np.add.at(out, key, src)
    return out


def split(x: Any, sizes: Any, dim: int) -> list[np.ndarray]:
    """``x`` cut along ``dim`` into pieces of ``sizes``."""
    return np.split(np.asarray(x), np.cumsum(sizes)[:-1], axis=dim)


def unbind(x: Any, dim: int) -> list[np.ndarray]:
    """The slices of ``x`` along ``dim``."""
    return [np.take(x, i, axis=dim) for i in range(np.shape(x)[dim])]


def cat(xs: Any, dim: int) -> np.ndarray:
    """Join along ``dim``."""
    return np.concatenate([np.asarray(x) for x in xs], axis=dim)


def stack(xs: Any, dim: int) -> np.ndarray:
    """Join along a new ``dim``."""
    return np.stack([np.asarray(x) for x in xs], axis=dim)


def cross(a: Any, b: Any, dim: int) -> np.ndarray:
    """The cross product along ``dim`` (the two broadcast first)."""
    a, b = np.broadcast_arrays(a, b)
    return np.cross(a, b, axis=dim)


def diagonal_put(shape: Any, values: Any, offset: int = 0) -> np.ndarray:
    """Zeros of the 2-D ``shape`` with ``values`` on diagonal ``offset``."""
    out = np.zeros(tuple(shape), np.asarray(values).dtype)
    n = len(values)
    r, c = np.arange(n) + max(-offset, 0), np.arange(n) + max(offset, 0)
    out[r, c] = values
    return out


def flat_put(shape: Any, indices: Any, values: Any) -> np.ndarray:
    """Zeros of ``shape`` with ``values`` added at the flat positions ``indices`` of the last
    two dims (a max pool's saved argmax)."""
    shape = tuple(shape)
    lead = int(np.prod(shape[:-2]))
    out = np.zeros((lead, shape[-2] * shape[-1]), np.asarray(values).dtype)
    i2 = np.asarray(indices).reshape(lead, -1)
    rows = np.broadcast_to(np.arange(lead)[:, None], i2.shape)
    np.add.at(out, (rows, i2), np.asarray(values).reshape(lead, -1))
    return out.reshape(shape)


def channels(v: Any, x: Any) -> np.ndarray:
    """A per-channel vector shaped to broadcast over ``x`` (N, C, ...)."""
    x = np.asarray(x)
    return np.asarray(v).reshape((1, -1) + (1,) * (x.ndim - 2))


def not_channels(x: Any) -> tuple[int, ...]:
    """Every dim of ``x`` but the channel dim 1."""
    return (0,) + tuple(range(2, np.ndim(x)))


def last(x: Any, k: int) -> tuple[int, ...]:
    """The last ``k`` dims of ``x``."""
    n = np.ndim(x)
    return tuple(range(n - k, n))


def first(x: Any, k: int) -> tuple[int, ...]:
    """All dims of ``x`` but the last ``k``."""
    return tuple(range(np.ndim(x) - k))


def groups_of(x: Any, group: int) -> np.ndarray:
    """``x`` (N, C, ...) seen as (N, group, C/group·...), the layout group norm normalizes."""
    x = np.asarray(x)
    return x.reshape(x.shape[0], group, -1)


def transpose_of(op: str, grad: Any, shape: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    """The transpose of the linear map ``x ↦ engine.nn.functional.<op>(x, *args)`` on inputs
    of ``shape``, applied to ``grad``: the gradient of any linear op (padding, pooling, a
    convolution in one argument). Built column by column from the forward, so only for small
    sizes."""
    F = _nn.functional
    fn: Callable[..., Any] = getattr(F, op)
    shape = tuple(shape)
    grad = np.asarray(grad, dtype=np.float64)
    out = np.zeros(int(np.prod(shape)))
    with no_grad():
        for i in range(out.size):
            e = np.zeros(out.size)
            e[i] = 1
            col = fn(tensor(e.reshape(shape)), *args, **kwargs)
            out[i] = float((col.numpy() * grad).sum())
    return out.reshape(shape)


def conv_input(grad: Any, weight: Any, input_shape: Any, stride: Any, padding: Any,
               dilation: Any, groups: int) -> np.ndarray:
    """The transpose of ``x ↦ conv(x, weight)`` applied to ``grad`` (a transposed conv)."""
    op = "conv1d" if len(input_shape) == 3 else "conv2d"
    return transpose_of(op, grad, input_shape, tensor(np.asarray(weight, np.float64)),
                        None, stride, padding, dilation, groups)


def conv_weight(grad: Any, input: Any, weight_shape: Any, stride: Any, padding: Any,  # noqa: A002
                dilation: Any, groups: int) -> np.ndarray:
    """The transpose of ``w ↦ conv(input, w)`` applied to ``grad`` (input and grad
    correlated)."""
    F = _nn.functional
    x = tensor(np.asarray(input, np.float64))
    op = F.conv1d if x.ndim == 3 else F.conv2d
    weight_shape = tuple(weight_shape)
    out = np.zeros(int(np.prod(weight_shape)))
    with no_grad():
        for i in range(out.size):
            e = np.zeros(out.size)
            e[i] = 1
            col = op(x, tensor(e.reshape(weight_shape)), None, stride, padding,
                     dilation, groups)
            out[i] = float((col.numpy() * np.asarray(grad)).sum())
    return out.reshape(weight_shape)


def onehot(index: Any, n: int, dim: int = 1) -> np.ndarray:
    """1.0 where a new axis ``dim`` of size ``n`` equals ``index``, else 0."""
    index = np.expand_dims(np.asarray(index), dim)
    shape = [1] * index.ndim
    shape[dim] = n
    return (index == np.arange(n).reshape(shape)).astype(np.float64)


def unpadded(shape: Any, pad: Any) -> tuple[int, ...]:
    """The shape a padding ``pad`` (last dim first, as F.pad) was applied to."""
    out = list(shape)
    for i in range(len(pad) // 2):
        out[len(out) - 1 - i] -= pad[2 * i] + pad[2 * i + 1]
    return tuple(out)


def constant_pad(x: Any, pad: Any) -> np.ndarray:
    """``x`` zero-padded by ``pad`` (last dim first; a negative pad crops), as F.pad."""
    x = np.asarray(x)
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        for lo_side, p in ((True, pad[2 * i]), (False, pad[2 * i + 1])):
            if p < 0:
                n = x.shape[d]
                key = [slice(None)] * x.ndim
                key[d] = slice(-p, None) if lo_side else slice(0, n + p)
                x = x[tuple(key)]
            elif p > 0:
                width = [(0, 0)] * x.ndim
                width[d] = (p, 0) if lo_side else (0, p)
                x = np.pad(x, width)
    return x


VOCABULARY: dict[str, Any] = {
    # numbers and elementwise math
    "pi": math.pi, "inf": math.inf, "ln": np.log, "exp": np.exp, "log": np.log,
    "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tan": np.tan, "sinh": np.sinh,
    "cosh": np.cosh, "tanh": np.tanh, "sign": np.sign, "abs": np.abs, "where": np.where,
    "isnan": np.isnan, "maximum": np.maximum, "minimum": np.minimum, "clip": np.clip,
    "sigmoid": sigmoid, "softplus": softplus, "Phi": Phi, "phi": phi, "erf": _erf,
    # shapes and reductions
    "sum_to": sum_to, "expand": expand, "keep": keep, "sum": sum, "mean": mean,
    "count": count, "untile": untile,
    "unsqueeze": np.expand_dims, "squeeze": np.squeeze, "reshape": np.reshape,
    "T": np.transpose, "mT": lambda a: np.swapaxes(a, -1, -2), "permute": np.transpose,
    "inverse": inverse, "transpose": np.swapaxes, "flip": np.flip, "roll": np.roll,
    "tril": np.tril, "triu": np.triu, "diagonal": np.diagonal, "diagonal_put": diagonal_put,
    "cumsum": np.cumsum, "rcumsum": rcumsum, "ndim": np.ndim, "numel": np.size,
    "last": last, "first": first, "channels": channels, "not_channels": not_channels,
    "groups_of": groups_of,
    # picking and placing
    "zeros": np.zeros, "put": put, "fill": fill, "take": take, "gather": gather,
    "scatter": scatter, "scatter_add": scatter_add, "index_select": index_select,
    "index_add": index_add, "split": split, "unbind": unbind, "cat": cat, "stack": stack,
    "flat_put": flat_put, "onehot": onehot, "unpadded": unpadded, "constant_pad": constant_pad,
    "ones": np.ones,
    # linear algebra
    "outer": np.outer, "cross": cross, "eye": np.eye, "inv": np.linalg.inv,
    "solve": np.linalg.solve, "det": np.linalg.det,
    # losses and linear ops
    "mean_factor": mean_factor, "transpose_of": transpose_of, "conv_input": conv_input,
    "conv_weight": conv_weight,
}


# ----------------------------------------------------------------------------- lookup
_PREFIX = "torch::autograd::"


def rule_for(name: str) -> Rule | None:
    """The rule of the engine's node called ``name`` (``MulBackward0``,
    ``torch::autograd::AccumulateGrad`` or ``AccumulateGrad``...), or None for a name the
    engine never creates."""
    exact: dict[str, Rule] = {}
    short: dict[str, Rule] = {}
    stack = [_from_function.Node]
    while stack:
        for cls in stack.pop().__subclasses__():
            stack.append(cls)
            if not cls.__module__.startswith("engine.") or getattr(cls, "_fn_cls", None):
                continue
            n = cls.name(cls.__new__(cls))
            exact.setdefault(n, cls.rule)
            short.setdefault(n.removeprefix(_PREFIX), cls.rule)
    return exact.get(name) or short.get(name.removeprefix(_PREFIX))


# ----------------------------------------------------------------------------- evaluation
def node_values(node: Any) -> dict[str, Any]:
    """What a rule's names stand for on ``node``: its saved values by torch's names and its
    attributes (class defaults such as ``alpha = 1`` included)."""
    out: dict[str, Any] = {}
    for cls in reversed(type(node).__mro__):
        for k, v in vars(cls).items():
            if not k.startswith("_") and not callable(v) and not isinstance(v, (property, Rule,
                                                                                CustomRule)):
                out[k] = v
    out.update({k: (v._data if hasattr(v, "_data") else v) for k, v in vars(node).items()
                if not k.startswith("_")})
    out.update({k: (v._data if hasattr(v, "_data") else v)
                for k, v in (node._saved or {}).items()})
    out.pop("rule", None)
    return out


def evaluate(rule: Rule, values: Mapping[str, Any], grad: Any,
             needed: tuple[bool, ...] | None = None) -> list[Any]:
    """Run ``rule``'s symbols with ``grad`` and ``values`` (``node_values``): one result per
    ``grad_`` line, in order, a list-valued line spread over the inputs it covers; a line for
    an input that ``needed`` says needs no gradient gives None unevaluated (its saved values
    may be missing, as in torch). Raises NameError for a name neither the values nor the
    vocabulary define."""
    scope: dict[str, Any] = dict.fromkeys(rule.optional)
    scope.update(values)
    scope["grad"] = grad
    scope["grads"] = grad
    env = {"__builtins__": {"len": len, "range": range, "tuple": tuple, "list": list,
                            "int": int, "float": float, "max": max, "min": min}}
    env.update(VOCABULARY)
    out: list[Any] = []
    last_grad = rule.gradients[-1] if rule.gradients else None
    for line in rule.symbols:
        if " = " not in line:  # "x.grad += grad": a statement, not a value
            continue
        name, expr = (p.strip() for p in line.split(" = ", 1))
        k = len(out)
        spreads = name == last_grad and needed is not None and len(needed) - k > 1
        if name.startswith("grad_") and needed is not None and k < len(needed) \
                and not needed[k] and not spreads:
            out.append(None)
            continue
        with np.errstate(all="ignore"):
            value = eval(expr, env, scope)  # noqa: S307 - the engine's own rule texts
        scope[name] = value
        if name.startswith("grad_"):
            if isinstance(value, list):
                out.extend(value)
            else:
                out.append(value)
    return out
