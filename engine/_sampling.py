"""torch's random factories and in-place samplers, drawing from engine._generator's stream.

Values are produced in the order torch's CPU kernels produce them: a nullary TensorIterator
walks the output in memory order, so a transposed view is filled along its storage.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine import _dtype
from engine._generator import Generator, default_generator, fma64
from engine.ops.pointwise import _check_inplace
from engine.tensor import Tensor, _make

__all__ = ["rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial",
           "rand_like", "randn_like", "randint_like", "poisson"]

_I64_MAX = 2 ** 63 - 1


def _gen(generator: Generator | None) -> Generator:
    if generator is None:
        return default_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"expected a torch.Generator, but got {type(generator).__name__}")
    return generator


def _size(size: tuple) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)) or (
            len(size) == 1 and hasattr(size[0], "__len__") and not isinstance(size[0], Tensor)):
        size = tuple(size[0])
    out = tuple(int(s) for s in size)
    for s in out:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: "
                               f"[{', '.join(map(str, out))}]")
    return out


def _float_np(dtype: Any) -> np.dtype:
    return _dtype.as_dtype(dtype).np if dtype is not None else _dtype.default_float.np


def _finish(data: np.ndarray, requires_grad: bool) -> Tensor:
    if requires_grad and data.dtype.kind != "f":
        raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                           "gradients")
    return _make(data, bool(requires_grad))


def _memory_order(a: np.ndarray) -> tuple[tuple, tuple]:
    """Axes of ``a`` outermost-first as TensorIterator walks them (largest stride first), and
    that permuted shape."""
    if a.flags.c_contiguous or a.ndim < 2:
        return tuple(range(a.ndim)), a.shape
    perm = tuple(sorted(range(a.ndim), key=lambda d: (-abs(a.strides[d]), d)))
    return perm, tuple(a.shape[d] for d in perm)


def fill(t: Tensor, draw: Any) -> Tensor:
    """Write ``draw(shape_in_memory_order, contiguous)`` into ``t`` in place (no graph)."""
    _check_inplace(t)
    d = t._data
    perm, shape = _memory_order(d)
    values = draw(shape, bool(d.flags.c_contiguous))
    target = d.transpose(perm) if perm != tuple(range(d.ndim)) else d
    target[...] = values
    t._version[0] += 1
    return t


# ----------------------------------------------------------------------------- factories
def rand(*size: Any, generator: Generator | None = None, dtype: Any = None,
         requires_grad: bool = False, **_: Any) -> Tensor:
    """Uniform samples in [0, 1) (torch's bits: 24 for float32, 53 for float64)."""
    dt = _float_np(dtype)
    return _finish(_gen(generator).uniform(_size(size), dt), requires_grad)


def randn(*size: Any, generator: Generator | None = None, dtype: Any = None,
          requires_grad: bool = False, **_: Any) -> Tensor:
    """Standard normal samples, torch's Box-Muller layout."""
    dt = _float_np(dtype)
    return _finish(_gen(generator).normal(_size(size), dt), requires_grad)


def randint(low: int = 0, high: int | None = None, size: Any = None, *args: Any,
            generator: Generator | None = None, dtype: Any = None,
            requires_grad: bool = False, **_: Any) -> Tensor:
    """Integers drawn uniformly from [low, high): ``random() % (high - low) + low``."""
    if high is None or (size is None and isinstance(high, (tuple, list))):
        if size is None and isinstance(high, (tuple, list)):
            low, high, size = 0, low, high
        else:
            low, high = 0, low
    if size is None:
        raise TypeError("randint() missing 1 required positional arguments: \"size\"")
    low, high = int(low), int(high)
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    dt = _dtype.as_dtype(dtype).np if dtype is not None else np.dtype(np.int64)
    data = _gen(generator).random_from_to(_size((size,)), dt, high - low, low)
    return _finish(data, requires_grad)


def randperm(n: int, *, generator: Generator | None = None, dtype: Any = None,
             requires_grad: bool = False, **_: Any) -> Tensor:
    """A random permutation of 0..n-1 (torch's Fisher-Yates on the 32-bit stream)."""
    n = int(n)
    if n < 0:
        raise RuntimeError(f"n must be non-negative, got{n}")
    dt = _dtype.as_dtype(dtype).np if dtype is not None else np.dtype(np.int64)
    return _finish(_gen(generator).randperm(n).astype(dt), requires_grad)


def _like(t: Tensor, dtype: Any) -> np.dtype:
    return _dtype.as_dtype(dtype).np if dtype is not None else t._data.dtype


def rand_like(input: Tensor, *, dtype: Any = None, requires_grad: bool = False,  # noqa: A002
              generator: Generator | None = None, **_: Any) -> Tensor:
    return _finish(_gen(generator).uniform(input._data.shape, _like(input, dtype)),
                   requires_grad)


def randn_like(input: Tensor, *, dtype: Any = None, requires_grad: bool = False,  # noqa: A002
               generator: Generator | None = None, **_: Any) -> Tensor:
    return _finish(_gen(generator).normal(input._data.shape, _like(input, dtype)),
                   requires_grad)


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *,  # noqa: A002
                 dtype: Any = None, requires_grad: bool = False,
                 generator: Generator | None = None, **_: Any) -> Tensor:
    if high is None:
        low, high = 0, low
    data = _gen(generator).random_from_to(input._data.shape, _like(input, dtype),
                                          int(high) - int(low), int(low))
    return _finish(data, requires_grad)


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *,
           generator: Generator | None = None, dtype: Any = None,
           requires_grad: bool = False, **_: Any) -> Tensor:
    """torch.normal's overloads: (float, float, size), (Tensor, float), (float, Tensor),
    (Tensor, Tensor)."""
    g = _gen(generator)
    mt, st = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not mt and not st:
        if size is None:
            raise TypeError("normal() received an invalid combination of arguments - got "
                            "(float, float), but expected (float mean, float std, tuple of "
                            "ints size)")
        data = g.normal(_size((size,)), _float_np(dtype), float(mean), float(std))
        return _finish(data, requires_grad)
    if st and (std._data < 0).any():
        raise RuntimeError("normal expects all elements of std >= 0.0")
    ref = mean if mt else std
    if not ref._data.dtype.kind == "f":
        raise NotImplementedError(f"\"normal_kernel_cpu\" not implemented for "
                                  f"'{_dtype.from_numpy_dtype(ref._data.dtype)._tensor_type[:-6]}'")
    shape = np.broadcast_shapes(mean._data.shape if mt else (), std._data.shape if st else ())
    dt = ref._data.dtype
    if mt and not st:
        out = g.normal(shape, dt, 0.0, float(std))
        out = out + mean._data.astype(dt)
    else:
        out = g.normal(shape, dt, 0.0, 1.0)
        out = out * std._data.astype(dt)
        out = out + (mean._data.astype(dt) if mt else dt.type(mean))
    return _finish(np.asarray(out, dt), requires_grad)


def bernoulli(input: Tensor, p: Any = None, *,  # noqa: A002
              generator: Generator | None = None, **_: Any) -> Tensor:
    """Draws 1 with probability ``input`` (or the scalar ``p``), elementwise."""
    g = _gen(generator)
    dt = input._data.dtype
    if p is None:
        _check_probs(input._data)
        return _make(g.bernoulli_tensor(dt, np.ascontiguousarray(input._data)))
    return _make(g.bernoulli_scalar(input._data.shape, dt, float(p)))


def _check_probs(p: np.ndarray) -> None:
    if p.size and not ((p >= 0) & (p <= 1)).all():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  "
                           "(Could this error message be improved?  If so, please report "
                           "an enhancement request to PyTorch.)")


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator: Generator | None = None, **_: Any) -> Tensor:
    """Sample indices from each row's (unnormalised) probabilities, as torch's CPU kernel."""
    g = _gen(generator)
    p = input._data
    if p.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if p.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{_dtype.from_numpy_dtype(p.dtype)._tensor_type[:-6]}")
    n_cat = p.shape[-1]
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > n_cat:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    rows = p.reshape(-1, n_cat)
    if not replacement or num_samples == 1:
        if not (np.isfinite(rows).all() and (rows >= 0).all()):
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if (rows.sum(axis=1) == 0).any():
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        q = g.exponential(rows.shape, p.dtype, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = (rows / q).astype(p.dtype)
        if num_samples == 1:
            idx = np.argmax(q, axis=1)[:, None]
        else:
            idx = np.argsort(-q, axis=1, kind="stable")[:, :num_samples]
        return _make(idx.astype(np.int64).reshape(p.shape[:-1] + (num_samples,)))
    out = np.empty((rows.shape[0], num_samples), np.int64)
    for i, row in enumerate(rows):
        if (row < 0).any():
            raise RuntimeError("invalid multinomial distribution (encountering probability "
                               "entry < 0)")
        if not np.isfinite(row).all():
            raise RuntimeError("invalid multinomial distribution (encountering probability "
                               "entry = infinity or NaN)")
        cum = np.cumsum(row, dtype=row.dtype)
        total = cum[-1]
        if not total > 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        cum = (cum / total).astype(row.dtype)
        cum[-1] = 1
        u = g._unit_f64(num_samples)
        out[i] = np.searchsorted(cum.astype(np.float64), u, side="left")
    return _make(out.reshape(p.shape[:-1] + (num_samples,)))


def poisson(input: Tensor, generator: Generator | None = None) -> Tensor:  # noqa: A002
    """Poisson samples (numpy's algorithm, seeded from the stream: not torch's numbers)."""
    seed = int(_gen(generator)._u32(1)[0])
    rng = np.random.default_rng(seed)
    return _make(rng.poisson(input._data).astype(input._data.dtype))


# ----------------------------------------------------------------------------- in place
def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *,
            generator: Generator | None = None) -> Tensor:
    """Fill with N(mean, std**2) in torch's order and precision."""
    g = _gen(generator)
    dt = self._data.dtype
    return fill(self, lambda shape, contig: g.normal(shape, dt, float(mean), float(std),
                                                     contig))


def uniform_(self: Tensor, from_: float = 0.0, to: float = 1.0, *,
             generator: Generator | None = None, **kw: Any) -> Tensor:
    """Fill with U(from, to): ``bits * (to - from) + from`` as one FMA, as torch."""
    from_ = kw.pop("from", from_)
    g = _gen(generator)
    lo, hi = float(from_), float(to)
    if not lo <= hi:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={lo:g} > to={hi:g}")
    dt = self._data.dtype
    return fill(self, lambda shape, contig: g.uniform(shape, dt, lo, hi))


def bernoulli_(self: Tensor, p: Any = 0.5, *, generator: Generator | None = None) -> Tensor:
    g = _gen(generator)
    dt = self._data.dtype
    if isinstance(p, Tensor):
        pd = np.broadcast_to(p._data, self._data.shape)
        _check_probs(pd)
        return fill(self, lambda shape, contig: g.bernoulli_tensor(
            dt, np.ascontiguousarray(pd.transpose(_memory_order(self._data)[0]))))
    p = float(p)
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p:g}")
    return fill(self, lambda shape, contig: g.bernoulli_scalar(shape, dt, p))


def exponential_(self: Tensor, lambd: float = 1.0, *,
                 generator: Generator | None = None) -> Tensor:
    g = _gen(generator)
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
    dt = self._data.dtype
    return fill(self, lambda shape, contig: g.exponential(shape, dt, float(lambd)))


def _map(fn: Any, x: np.ndarray) -> np.ndarray:
    return np.fromiter(map(fn, x.ravel().tolist()), np.float64, x.size).reshape(x.shape)


def cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *,
            generator: Generator | None = None) -> Tensor:
    g = _gen(generator)
    dt = self._data.dtype

    def draw(shape: tuple, contig: bool) -> np.ndarray:
        u = g._unit_f64(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        return (median + sigma * _map(math.tan, math.pi * (u - 0.5))).astype(dt)
    return fill(self, draw)


def log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *,
                generator: Generator | None = None) -> Tensor:
    g = _gen(generator)
    dt = self._data.dtype

    def draw(shape: tuple, contig: bool) -> np.ndarray:
        z = fma64(g._normal_serial(int(np.prod(shape, dtype=np.int64))), std, mean)
        return _map(math.exp, z).astype(dt).reshape(shape)
    return fill(self, draw)


def geometric_(self: Tensor, p: float, *, generator: Generator | None = None) -> Tensor:
    g = _gen(generator)
    dt = self._data.dtype

    def draw(shape: tuple, contig: bool) -> np.ndarray:
        u = g._unit_f64(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        return np.ceil(_map(math.log, u) / math.log(1.0 - p)).astype(dt)
    return fill(self, draw)


def random_(self: Tensor, from_: int | None = None, to: int | None = None, *,
            generator: Generator | None = None, **kw: Any) -> Tensor:
    """random_() / random_(to) / random_(from, to): torch's integer draws."""
    explicit_from = "from" in kw
    from_ = kw.pop("from", from_)
    g = _gen(generator)
    dt = self._data.dtype
    if from_ is not None and to is None and not explicit_from:
        from_, to = 0, from_
    if from_ is None and to is None:
        return fill(self, lambda shape, contig: g.random_full(shape, dt))
    lo = int(from_ or 0)
    if to is None:
        hi = _I64_MAX + 1 if dt == np.int64 else int(np.iinfo(dt).max) + 1
    else:
        hi = int(to)
    if lo >= hi:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={lo} "
                           f">= to={hi}")
    return fill(self, lambda shape, contig: g.random_from_to(shape, dt, hi - lo, lo))


def tensor_bernoulli(self: Tensor, p: Any = None, *,
                     generator: Generator | None = None) -> Tensor:
    return bernoulli(self, p, generator=generator)


def tensor_multinomial(self: Tensor, num_samples: int, replacement: bool = False, *,
                       generator: Generator | None = None) -> Tensor:
    return multinomial(self, num_samples, replacement, generator=generator)


METHODS = {"normal_": normal_, "uniform_": uniform_, "bernoulli_": bernoulli_,
           "exponential_": exponential_, "cauchy_": cauchy_, "log_normal_": log_normal_,
           "geometric_": geometric_, "random_": random_, "bernoulli": tensor_bernoulli,
           "multinomial": tensor_multinomial}
