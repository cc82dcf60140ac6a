"""Indexing, sorting and splitting ops of torch's tensor API: gather / scatter / index_select,
topk / sort / argsort / kthvalue, split / chunk / unbind (one node with several outputs, as
torch records them), repeat_interleave, all / any, tril / triu, flip / roll, repeat, narrow,
logsumexp, log10 / log2 / exp2, rsqrt. Each differentiable op records torch's grad_fn name."""

from __future__ import annotations

import builtins
import math
from collections import namedtuple
from typing import Any

import numpy as np

from engine import _dtype
from engine._rule import Rule
from engine.function import Node, record
from engine.ops import extra, pointwise, reduce
from engine.ops._common import needs_grad, numpy_aliases
from engine.ops.extra import _unary
from engine.ops.linalg import bmm
from engine.ops.pointwise import _ip, clone, where
from engine.ops.shape import _as_view, _slice, cat, expand, permute, reshape, stack, unsqueeze
from engine.tensor import Tensor, _make, _raise, _wrap_dim

__all__ = ["gather", "scatter", "scatter_add", "index_select", "index_add", "masked_select",
           "topk", "sort", "argsort", "kthvalue", "split", "chunk", "unbind", "tensor_split",
           "repeat_interleave", "all", "any", "tril", "triu", "flip", "fliplr", "flipud",
           "roll", "repeat", "tile", "narrow", "logsumexp", "log10", "log2", "exp2", "rsqrt",
           "nonzero", "argwhere", "isclose", "movedim", "broadcast_to", "diag"]

def return_type(name: str, fields: tuple[str, ...] = ("values", "indices")) -> type:
    """A named tuple that prints as torch's ``torch.return_types.<name>(...)``."""
    base = namedtuple(name, fields)

    def __repr__(self: Any) -> str:
        body = ",\n".join(f"{f}={v!r}" for f, v in zip(fields, self))
        return f"torch.return_types.{name}(\n{body})"

    cls = type(name, (base,), {"__slots__": (), "__repr__": __repr__, "__str__": __repr__,
                               "__module__": "torch.return_types"})
    return cls


_topk = return_type("topk")
_sort = return_type("sort")
_kthvalue = return_type("kthvalue")


def _contig(a: Any) -> np.ndarray:
    """A C-contiguous array with ``a``'s shape (0-dim stays 0-dim, unlike numpy's)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")


def _a(x: Any) -> Any:
    """The array of a saved index (create_graph hands saved values over as tensors)."""
    return x._data if isinstance(x, Tensor) else x


def _is_np(g: Any) -> bool:
    return isinstance(g, np.ndarray)


def _idx(index: Any, name: str = "index") -> np.ndarray:
    d = index._data if isinstance(index, Tensor) else np.asarray(index)
    if d.dtype != np.int64:
        if d.dtype.kind not in "iu":
            raise RuntimeError(f"{name}(): Expected dtype int64 for index")
        d = d.astype(np.int64)
    return d


# ----------------------------------------------------------------------------- numpy kernels
def _full_index(index: np.ndarray, dim: int) -> tuple:
    """The positions ``index`` addresses along ``dim`` (the other dims count up)."""
    grids = list(np.indices(index.shape, sparse=True))
    grids[dim] = index
    return tuple(grids)


def _np_gather(d: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    if d.ndim == 0:
        return d[()] * np.ones(index.shape, d.dtype) if index.size else np.empty(index.shape,
                                                                                  d.dtype)
    return np.asarray(d[_full_index(index, dim)])


def _np_scatter(d: np.ndarray, dim: int, index: np.ndarray, src: Any,
                reduce: str | None = None) -> np.ndarray:
    out = d.copy()
    if index.size == 0:
        return out
    if index.ndim == 0:
        index = index.reshape(1)
        if isinstance(src, np.ndarray) and src.ndim == 0:
            src = src.reshape(1)
    if out.ndim == 0:
        out = out.reshape(1)
        index = index.reshape(-1)
        dim = 0
    pos = _full_index(index, dim)
    if isinstance(src, np.ndarray) and src.ndim:
        vals = src[tuple(slice(0, n) for n in index.shape)]
    else:
        vals = np.broadcast_to(np.asarray(src, dtype=out.dtype), index.shape)
    if reduce in ("add", "sum"):
        np.add.at(out, pos, vals)
    elif reduce in ("multiply", "prod"):
        np.multiply.at(out, pos, vals)
    else:
        out[pos] = vals
    return out.reshape(d.shape)


def _check_scatter(x: Tensor, dim: int, index: np.ndarray, name: str) -> int:
    d = x._data
    nd = builtins.max(d.ndim, 1)
    dd = _wrap_dim(dim, nd)
    if index.ndim != d.ndim and not (index.ndim <= 1 and d.ndim <= 1):
        _raise(RuntimeError("Index tensor must have the same number of dimensions as "
                            f"{'self' if name != 'gather' else 'input'} tensor"), tensor=x)
    if index.size:
        n = d.shape[dd] if d.ndim else 1
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= n:
            bad = hi if hi >= n else lo
            _raise(RuntimeError(f"index {bad} is out of bounds for dimension {dd} with size "
                                f"{n}"), tensor=x)
    return dd


# ----------------------------------------------------------------------------- nodes
class GatherBackward0(Node):
    rule = Rule("gather: gradients are scatter-added back to where they came from.",
                ("grad_self = scatter_add(zeros(self_sym_sizes), dim, index, grad)",))
    def backward(self, g, s, xp):
        idx = _a(s["index"])
        if _is_np(g):
            z = np.zeros(self.self_sym_sizes, g.dtype)
            return (_np_scatter(z, self.dim, idx, g, "add"),)
        z = _make(np.zeros(self.self_sym_sizes, g._data.dtype))
        return (scatter_add(z, self.dim, _make(idx), g),)


class ScatterBackward0(Node):
    """scatter(dim, index, src): the overwritten positions send nothing back to self."""
    rule = Rule("scatter(dim, index, src): the overwritten positions of self send nothing "
                "back; src gets the gradient at the positions it was written to.",
                ("grad_self = scatter(grad, dim, index, 0)",
                 "grad_src = gather(grad, dim, index)"))

    def backward(self, g, s, xp):
        idx = _a(s["index"])
        if _is_np(g):
            return _np_scatter(g, self.dim, idx, 0), _np_gather(g, self.dim, idx)
        it = _make(idx)
        return scatter(g, self.dim, it, 0.0), gather(g, self.dim, it)


class ScatterBackward1(Node):
    """scatter(dim, index, value)."""
    rule = Rule("scatter(dim, index, value): the overwritten positions were a constant, so "
                "they send nothing back.",
                ("grad_self = scatter(grad, dim, index, 0)",))

    def backward(self, g, s, xp):
        idx = _a(s["index"])
        if _is_np(g):
            return (_np_scatter(g, self.dim, idx, 0),)
        return (scatter(g, self.dim, _make(idx), 0.0),)


class ScatterAddBackward0(Node):
    rule = Rule("scatter_add: self gets the gradient unchanged, src the gradient at the "
                "positions it was added to.",
                ("grad_self = grad",
                 "grad_src = gather(grad, dim, index)"))
    def backward(self, g, s, xp):
        idx = _a(s["index"])
        if _is_np(g):
            return g, _np_gather(g, self.dim, idx)
        return g, gather(g, self.dim, _make(idx))


class IndexSelectBackward0(Node):
    rule = Rule("index_select: gradients are added back at the indices.",
                ("grad_self = index_add(zeros(self_sym_sizes), dim, index, grad)",))
    def backward(self, g, s, xp):
        idx = _a(s["index"])
        key = (slice(None),) * self.dim + (idx,)
        return (xp.index_zeros(g, self.self_sym_sizes, key, True),)


class IndexAddBackward0(Node):
    rule = Rule("index_add: self gets the gradient unchanged, source the gradient of the "
                "slices it was added to (times alpha).",
                ("grad_self = grad",
                 "grad_source = alpha * index_select(grad, dim, index)"))
    def backward(self, g, s, xp):
        idx = _a(s["index"])
        key = (slice(None),) * self.dim + (idx,)
        gs = xp.index(g, key)
        if self.alpha != 1:
            gs = gs * self.alpha
        return g, gs


class MaskedSelectBackward0(Node):
    rule = Rule("masked_select: each picked element gets its gradient back, the others 0.",
                ("grad_self = fill(zeros(self_sym_sizes), expand(mask, self_sym_sizes), grad)",))
    def backward(self, g, s, xp):
        mask = np.broadcast_to(_a(s["mask"]), self.self_sym_sizes)
        return (xp.index_zeros(g, self.self_sym_sizes, mask, False),)


class _ValueSelect:
    """Values picked along ``dim`` at saved indices: the gradient goes back there (0 elsewhere)."""

    def backward(self, g, s, xp):
        idx = _a(s["indices"])
        if _is_np(g):
            return (xp.scatter_dim(g, self.dim, idx, self.self_sym_sizes, self.keepdim),)
        if not self.keepdim:
            g = unsqueeze(g, self.dim)
            idx = np.expand_dims(idx, self.dim)
        z = _make(np.zeros(self.self_sym_sizes, g._data.dtype))
        return (scatter(z, self.dim, _make(idx), g),)


class TopkBackward0(_ValueSelect, Node):
    rule = Rule("topk: each of the k values sends its gradient back to the index it came from, "
                "the others get 0.",
                ("n = len(self_sym_sizes)",
                 "grad_self = scatter(zeros(self_sym_sizes), dim, keep(indices, dim, keepdim, "
                 "n), keep(grad, dim, keepdim, n))"))
    pass


class SortBackward0(_ValueSelect, Node):
    rule = Rule("sort: the gradient is put back in the original order (the saved indices).",
                ("n = len(self_sym_sizes)",
                 "grad_self = scatter(zeros(self_sym_sizes), dim, keep(indices, dim, keepdim, "
                 "n), keep(grad, dim, keepdim, n))"))
    pass


class KthvalueBackward0(_ValueSelect, Node):
    rule = Rule("kthvalue: the gradient goes to the index of the k-th smallest value, 0 "
                "elsewhere.",
                ("n = len(self_sym_sizes)",
                 "grad_self = scatter(zeros(self_sym_sizes), dim, keep(indices, dim, keepdim, "
                 "n), keep(grad, dim, keepdim, n))"))
    pass


class _Pieces:
    """Several outputs, one node: the gradients of the pieces are joined back (zeros for a
    piece that got none)."""

    _multi = True

    def _filled(self, g: list) -> list:
        out = []
        for gi, shape in zip(g, self.piece_shapes):
            if gi is None:
                gi = np.zeros(shape, self._dt)
                if not _is_np(next(x for x in g if x is not None)):
                    gi = _make(gi)
            out.append(gi)
        return out

    def backward(self, g, s, xp):
        parts = self._filled(g)
        if self.stacked:
            if _is_np(parts[0]):
                return (np.stack(parts, axis=self.dim),)
            return (stack(parts, self.dim),)
        if _is_np(parts[0]):
            return (np.concatenate(parts, axis=self.dim),)
        return (cat(parts, self.dim),)


class SplitBackward0(_Pieces, Node):
    rule = Rule("split: the pieces' gradients are concatenated back (zeros for a piece that "
                "got none).",
                ("grad_self = cat(grads, dim)",))
    stacked = False


class SplitWithSizesBackward0(_Pieces, Node):
    rule = Rule("split into given sizes: the pieces' gradients are concatenated back (zeros "
                "for a piece that got none).",
                ("grad_self = cat(grads, dim)",))
    stacked = False


class UnbindBackward0(_Pieces, Node):
    rule = Rule("unbind: the pieces' gradients are stacked back (zeros for a piece that got "
                "none).",
                ("grad_self = stack(grads, dim)",))
    stacked = True


class TrilBackward0(Node):
    rule = Rule("Lower triangle: the gradient passes on and below the diagonal, 0 above.",
                ("grad_self = tril(grad, diagonal)",))
    def backward(self, g, s, xp):
        if _is_np(g):
            return (np.tril(g, self.diagonal),)
        return (tril(g, self.diagonal),)


class TriuBackward0(Node):
    rule = Rule("Upper triangle: the gradient passes on and above the diagonal, 0 below.",
                ("grad_self = triu(grad, diagonal)",))
    def backward(self, g, s, xp):
        if _is_np(g):
            return (np.triu(g, self.diagonal),)
        return (triu(g, self.diagonal),)


class FlipBackward0(Node):
    rule = Rule("flip: the gradient is flipped back.",
                ("grad_self = flip(grad, dims)",))
    def backward(self, g, s, xp):
        if _is_np(g):
            return (np.flip(g, self.dims).copy(),)
        return (flip(g, self.dims),)


class RollBackward0(Node):
    rule = Rule("roll: the gradient is rolled back by the opposite shift.",
                ("grad_self = roll(grad, tuple(-k for k in shifts), dims)",))
    def backward(self, g, s, xp):
        back = tuple(-k for k in self.shifts)
        if _is_np(g):
            return (np.roll(g, back, self.dims) if self.dims else
                    np.roll(g.reshape(-1), back).reshape(g.shape),)
        return (roll(g, back, self.dims or None),)


class RepeatBackward0(Node):
    rule = Rule("repeat: every copy sends its gradient back to the element it copied, so the "
                "copies' gradients are summed.",
                ("grad_self = untile(grad, repeats, self_sym_sizes)",))
    def backward(self, g, s, xp):
        shape = self.self_sym_sizes
        reps = self.repeats
        lead = len(reps) - len(shape)
        inner = (1,) * lead + tuple(shape)
        split = []
        for r, n in zip(reps, inner):
            split += [r, n]
        g = xp.reshape(g, tuple(split))
        g = xp.sum(g, tuple(range(0, 2 * len(reps), 2)), False)
        return (xp.reshape(g, tuple(shape)),)


class LogsumexpBackward0(Node):
    rule = Rule("logsumexp: the gradient times the softmax of the input.",
                ("n = ndim(self)",
                 "grad_self = keep(grad, dim, keepdim, n) * exp(self - keep(result, dim, "
                 "keepdim, n))"),
                "∂ LSE(x)/∂xⱼ = softmax(x)ⱼ")
    def backward(self, g, s, xp):
        r = s["result"]
        if not self.keepdim:
            for d in self.dim:
                g = xp.unsqueeze(g, d)
                r = xp.unsqueeze(r, d)
        return (g * xp.exp(s["self"] - r),)


class Log10Backward0(Node):
    rule = Rule("Base-10 log: divide by the saved input times ln 10.",
                ("grad_self = grad / (self * ln(10))",),
                "d log₁₀x/dx = 1/(x·ln 10)")
    def backward(self, g, s, xp):
        return (g / (s["self"] * math.log(10.0)),)


class Log2Backward0(Node):
    rule = Rule("Base-2 log: divide by the saved input times ln 2.",
                ("grad_self = grad / (self * ln(2))",),
                "d log₂x/dx = 1/(x·ln 2)")
    def backward(self, g, s, xp):
        return (g / (s["self"] * math.log(2.0)),)


class Exp2Backward0(Node):
    rule = Rule("2ˣ: the saved output times ln 2.",
                ("grad_self = grad * result * ln(2)",),
                "d 2ˣ/dx = 2ˣ·ln 2")
    def backward(self, g, s, xp):
        return (g * s["result"] * math.log(2.0),)


class RsqrtBackward0(Node):
    rule = Rule("1/√x: minus half the cube of the saved output.",
                ("grad_self = -0.5 * grad * result**3",),
                "d(x^−½)/dx = −½·x^−³ᐟ²")
    def backward(self, g, s, xp):
        r = s["result"]
        return (g * (r * r * r) * -0.5,)


class TanBackward0(Node):
    rule = Rule("Tangent: 1 + tan², from the saved output.",
                ("grad_self = grad * (1 + result**2)",),
                "d tan x/dx = 1 + tan²x")
    def backward(self, g, s, xp):
        r = s["result"]
        return (g * (r * r + 1),)


class ErfBackward0(Node):
    rule = Rule("Error function: 2/√π · e^(−x²).",
                ("grad_self = grad * 2 / sqrt(pi) * exp(-self**2)",),
                "d erf(x)/dx = 2/√π · e^(−x²)")
    def backward(self, g, s, xp):
        x = s["self"]
        return (g * (2.0 / math.sqrt(math.pi)) * xp.exp(-(x * x)),)


class DiagEmbedBackward0(Node):
    rule = Rule("A vector on a diagonal: each entry gets the gradient of its diagonal position.",
                ("grad_self = diagonal(grad, offset)",))
    def backward(self, g, s, xp):
        n = self.self_sym_sizes[0]
        k = self.offset
        rows = np.arange(n) + builtins.max(-k, 0)
        cols = np.arange(n) + builtins.max(k, 0)
        return (xp.index(g, (rows, cols)),)


class DiagonalBackward0(Node):
    rule = Rule("The diagonal of a matrix: the gradient goes to the diagonal, 0 elsewhere.",
                ("grad_self = diagonal_put(self_sym_sizes, grad, offset)",))
    def backward(self, g, s, xp):
        n = self.self_sym_sizes
        k = self.offset
        m = builtins.min(n[0] - builtins.max(-k, 0), n[1] - builtins.max(k, 0))
        m = builtins.max(m, 0)
        rows = np.arange(m) + builtins.max(-k, 0)
        cols = np.arange(m) + builtins.max(k, 0)
        return (xp.index_zeros(g, n, (rows, cols), False),)


class DiagonalBackward0_copy(DiagonalBackward0):  # noqa: N801 - torch's name for diag(matrix)
    rule = Rule("diag(matrix), a copy of the diagonal: the gradient goes to the diagonal, 0 "
                "elsewhere.",
                ("grad_self = diagonal_put(self_sym_sizes, grad, offset)",))
    pass


# ----------------------------------------------------------------------------- gather/scatter
def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:  # noqa: A002
    """Values of ``input`` at ``index`` along ``dim`` (GatherBackward0)."""
    idx = _idx(index, "gather")
    dd = _check_scatter(input, dim, idx, "gather")
    d = input._data
    for i in range(idx.ndim):
        if i != dd and d.ndim and idx.shape[i] > d.shape[i]:
            _raise(RuntimeError(f"Size does not match at dimension {i} expected index "
                                f"{list(idx.shape)} to be no larger than self "
                                f"{list(d.shape)} apart from dimension {dd}"), tensor=input)
    out = _np_gather(d, dd, idx)
    if needs_grad(input):
        return record(GatherBackward0, out, (input,), {"index": idx}, dim=dd,
                      self_sym_sizes=d.shape, sparse_grad=sparse_grad)
    return _make(out)


def scatter(input: Tensor, dim: int, index: Tensor, src: Any = None, *,  # noqa: A002
            value: Any = None, reduce: str | None = None) -> Tensor:
    """``input`` with ``src`` (a tensor or a number) written at ``index`` along ``dim``
    (ScatterBackward0 for a tensor source, ScatterBackward1 for a number)."""
    if src is None:
        src = value
    idx = _idx(index, "scatter")
    dd = _check_scatter(input, dim, idx, "scatter")
    d = input._data
    if isinstance(src, Tensor):
        sd = src._data
        if sd.dtype != d.dtype:
            _raise(RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype"),
                   tensor=input)
        out = _np_scatter(d, dd, idx, sd, reduce)
        if needs_grad(input, src):
            return record(ScatterBackward0, out, (input, src), {"index": idx}, dim=dd)
        return _make(out)
    out = _np_scatter(d, dd, idx, src, reduce)
    if needs_grad(input):
        return record(ScatterBackward1, out, (input,), {"index": idx}, dim=dd, value=src)
    return _make(out)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:  # noqa: A002
    """``input`` with ``src`` added at ``index`` along ``dim`` (ScatterAddBackward0)."""
    idx = _idx(index, "scatter_add")
    dd = _check_scatter(input, dim, idx, "scatter_add")
    sd = src._data if isinstance(src, Tensor) else np.asarray(src)
    out = _np_scatter(input._data, dd, idx, sd, "add")
    if needs_grad(input, src):
        return record(ScatterAddBackward0, out, (input, src), {"index": idx}, dim=dd)
    return _make(out)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:  # noqa: A002
    """Slices of ``input`` along ``dim`` at ``index`` (IndexSelectBackward0)."""
    idx = _idx(index, "index_select")
    if idx.ndim > 1:
        _raise(IndexError("index_select(): Index is supposed to be a vector"), tensor=input)
    d = input._data
    dd = _wrap_dim(dim, builtins.max(d.ndim, 1))
    idx = idx.reshape(-1)
    n = d.shape[dd] if d.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        _raise(IndexError("index out of range in self"), tensor=input)
    out = np.take(d, idx, axis=dd) if d.ndim else d.reshape(1)[idx].reshape(())
    if needs_grad(input):
        return record(IndexSelectBackward0, _contig(out), (input,),
                      {"index": idx}, dim=dd, self_sym_sizes=d.shape)
    return _make(_contig(out))


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *,  # noqa: A002
              alpha: Any = 1) -> Tensor:
    """``input`` with ``alpha * source`` added at ``index`` along ``dim`` (IndexAddBackward0)."""
    idx = _idx(index, "index_add").reshape(-1)
    d = input._data
    dd = _wrap_dim(dim, builtins.max(d.ndim, 1))
    out = d.copy()
    src = source._data if alpha == 1 else source._data * alpha
    np.add.at(out, (slice(None),) * dd + (idx,), src.astype(d.dtype, copy=False))
    if needs_grad(input, source):
        return record(IndexAddBackward0, out, (input, source), {"index": idx}, dim=dd,
                      alpha=alpha)
    return _make(out)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:  # noqa: A002
    """The elements where ``mask`` is True, as a 1-D tensor (MaskedSelectBackward0)."""
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        _raise(RuntimeError("masked_select: expected BoolTensor for mask"), tensor=input)
    d = input._data
    shape = np.broadcast_shapes(d.shape, m.shape)
    out = _contig(np.broadcast_to(d, shape)[np.broadcast_to(m, shape)])
    if needs_grad(input):
        return record(MaskedSelectBackward0, out, (input,), {"mask": m},
                      self_sym_sizes=shape)
    return _make(out)


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:  # noqa: A002
    """Indices of the non-zero elements: (N, ndim) int64, or one tensor per dim."""
    d = input._data
    idx = np.nonzero(d.reshape(1) if d.ndim == 0 else d)
    if as_tuple:
        return tuple(_make(np.asarray(i, dtype=np.int64)) for i in idx)
    out = np.stack(idx, axis=1).astype(np.int64) if idx else np.zeros((0, 0), np.int64)
    if d.ndim == 0:
        out = out[:, :0]
    return _make(_contig(out))


def argwhere(input: Tensor) -> Tensor:  # noqa: A002
    return nonzero(input)


# ----------------------------------------------------------------------------- sorting
def _sort_indices(d: np.ndarray, dim: int, descending: bool) -> np.ndarray:
    """Stable order along ``dim`` (ties keep their order; NaN counts as the largest)."""
    if not descending:
        return np.argsort(d, axis=dim, kind="stable")
    n = d.shape[dim]
    rev = np.flip(d, dim)
    return (n - 1) - np.flip(np.argsort(rev, axis=dim, kind="stable"), dim)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False  # noqa: A002
         ) -> Any:
    """(values, indices) sorted along ``dim`` (SortBackward0)."""
    if isinstance(dim, bool):  # sort(stable=..., dim, descending) keyword-only in torch
        dim, descending = -1, dim
    d = input._data
    if d.ndim == 0:
        vals, ind, dd = d.copy(), np.zeros((), np.int64), 0
    else:
        dd = _wrap_dim(dim, d.ndim)
        ind = _sort_indices(d, dd, descending).astype(np.int64)
        vals = np.take_along_axis(d, ind, axis=dd)
    if needs_grad(input):
        v = record(SortBackward0, vals, (input,), {"indices": ind}, dim=dd, keepdim=True,
                   self_sym_sizes=d.shape)
    else:
        v = _make(vals)
    return _sort(v, _make(ind))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False  # noqa: A002
            ) -> Tensor:
    """The indices that sort ``input`` along ``dim``."""
    return sort(input, dim, descending, stable).indices


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True  # noqa: A002
         ) -> Any:
    """The ``k`` largest (or smallest) values along ``dim`` and their indices (TopkBackward0)."""
    d = input._data
    dd = _wrap_dim(dim, builtins.max(d.ndim, 1))
    n = d.shape[dd] if d.ndim else 1
    if not 0 <= k <= n:
        _raise(RuntimeError("selected index k out of range"), tensor=input)
    if d.ndim == 0:
        ind = np.zeros((), np.int64) if k else np.zeros((0,), np.int64)
        vals = d.copy() if k else np.zeros((0,), d.dtype)
    else:
        order = _sort_indices(d, dd, largest)
        ind = _contig(np.take(order, np.arange(k), axis=dd)).astype(np.int64)
        vals = np.take_along_axis(d, ind, axis=dd)
    if needs_grad(input):
        v = record(TopkBackward0, vals, (input,), {"indices": ind}, dim=dd, keepdim=True,
                   self_sym_sizes=d.shape)
    else:
        v = _make(vals)
    return _topk(v, _make(ind))


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> Any:  # noqa: A002
    """The ``k``-th smallest value along ``dim`` and its index (KthvalueBackward0)."""
    d = input._data
    dd = _wrap_dim(dim, builtins.max(d.ndim, 1))
    n = d.shape[dd] if d.ndim else 1
    if not 1 <= k <= n:
        _raise(IndexError(f"kthvalue(): selected number k out of range for dimension {dd}"),
               tensor=input)
    if d.ndim == 0:
        ind, vals = np.zeros((), np.int64), d.copy()
    else:
        order = _sort_indices(d, dd, False)
        ind = np.take(order, [k - 1], axis=dd).astype(np.int64)
        vals = np.take_along_axis(d, ind, axis=dd)
        if not keepdim:
            ind = np.squeeze(ind, dd)
            vals = np.squeeze(vals, dd)
    ind = _contig(ind)
    vals = _contig(vals)
    if needs_grad(input):
        v = record(KthvalueBackward0, vals, (input,), {"indices": ind}, dim=dd,
                   keepdim=keepdim or d.ndim == 0, self_sym_sizes=d.shape)
    else:
        v = _make(vals)
    return _kthvalue(v, _make(ind))


# ----------------------------------------------------------------------------- pieces
def _pieces(cls: type, x: Tensor, arrays: list, dim: int, **params: Any) -> tuple:
    """One ``cls`` node whose outputs are ``arrays`` (views of ``x``), output_nr 0, 1, ..."""
    if not needs_grad(x) or not arrays:
        return tuple(_as_view(_make(a), x) for a in arrays)
    first = record(cls, arrays[0], (x,), dim=dim, piece_shapes=tuple(a.shape for a in arrays),
                   _dt=x._data.dtype, self_sym_sizes=x._data.shape, **params)
    node = first.grad_fn
    node._n_outputs = len(arrays)
    outs = [_as_view(first, x)]
    for k, a in enumerate(arrays[1:], 1):
        t = _make(a, True, node)
        t._output_nr = k
        outs.append(_as_view(t, x))
    return tuple(outs)


def _check_dim_tensor(x: Tensor, name: str) -> None:
    if x._data.ndim == 0:
        _raise(RuntimeError(f"{name} expects at least a 1-dimensional tensor"), tensor=x)


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple:
    """Pieces of ``split_size`` along ``dim`` (SplitBackward0), or of the listed sizes
    (SplitWithSizesBackward0)."""
    x = tensor
    _check_dim_tensor(x, "split")
    d = x._data
    dd = _wrap_dim(dim, d.ndim)
    n = d.shape[dd]
    if isinstance(split_size_or_sections, Tensor):
        split_size_or_sections = split_size_or_sections.tolist()
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n or builtins.any(s < 0 for s in sizes):
            _raise(RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                                f"(input tensor's size at dimension {dd}), but got "
                                f"split_sizes=[{', '.join(map(str, sizes))}]"), tensor=x)
        cls, params = SplitWithSizesBackward0, {"split_sizes": tuple(sizes)}
    else:
        size = int(split_size_or_sections)
        if size < 0 or (size == 0 and n):
            _raise(RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                                f"dimension size of {n}"), tensor=x)
        sizes = [builtins.min(size, n - i) for i in range(0, n, size)] if size else [0]
        cls, params = SplitBackward0, {"split_size": size}
    arrays = []
    start = 0
    for s in sizes:
        arrays.append(d[(slice(None),) * dd + (slice(start, start + s),)])
        start += s
    return _pieces(cls, x, arrays, dd, **params)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:  # noqa: A002
    """At most ``chunks`` pieces of equal size (the last smaller) along ``dim``
    (SplitBackward0)."""
    _check_dim_tensor(input, "chunk")
    if chunks <= 0:
        _raise(RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}"),
               tensor=input)
    d = input._data
    dd = _wrap_dim(dim, d.ndim)
    n = d.shape[dd]
    return split(input, -(-n // chunks) if n else 0, dd)


def tensor_split(input: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple:  # noqa: A002
    """numpy.array_split along ``dim`` (SplitWithSizesBackward0)."""
    d = input._data
    dd = _wrap_dim(dim, d.ndim)
    n = d.shape[dd]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    else:
        cuts = [builtins.min(builtins.max(int(i), 0), n) for i in indices_or_sections]
        edges = [0] + cuts + [n]
        sizes = [builtins.max(b - a, 0) for a, b in zip(edges, edges[1:])]
    arrays, start = [], 0
    for s in sizes:
        arrays.append(d[(slice(None),) * dd + (slice(start, start + s),)])
        start += s
    return _pieces(SplitWithSizesBackward0, input, arrays, dd, split_sizes=tuple(sizes))


def unbind(input: Tensor, dim: int = 0) -> tuple:  # noqa: A002
    """The slices along ``dim``, that dim removed (UnbindBackward0)."""
    d = input._data
    if d.ndim == 0:
        _raise(IndexError("Dimension specified as 0 but tensor has no dimensions"),
               tensor=input)
    dd = _wrap_dim(dim, d.ndim)
    arrays = [d[(slice(None),) * dd + (i,)] for i in range(d.shape[dd])]
    return _pieces(UnbindBackward0, input, arrays, dd)


# ----------------------------------------------------------------------------- repeat
def repeat_interleave(input: Any, repeats: Any = None, dim: int | None = None, *,  # noqa: A002
                      output_size: int | None = None) -> Tensor:
    """Each element (or slice along ``dim``) repeated: an int count records torch's chain
    unsqueeze, expand, clone, view; a tensor of counts records IndexSelectBackward0;
    ``repeat_interleave(counts)`` alone gives the indices."""
    if repeats is None:
        counts = _idx(input, "repeat_interleave").reshape(-1)
        return _make(np.repeat(np.arange(counts.size, dtype=np.int64), counts))
    x = input
    if dim is None:
        x = reshape(x, (-1,))
        dd = 0
    else:
        dd = _wrap_dim(dim, builtins.max(x._data.ndim, 1))
    if isinstance(repeats, Tensor) and (repeats._data.ndim > 0 and repeats._data.size != 1):
        counts = _idx(repeats, "repeat_interleave").reshape(-1)
        if counts.size != x._data.shape[dd]:
            _raise(RuntimeError("repeats must have the same size as input along dim, but got "
                                f"repeats.size(0) = {counts.size} and input.size({dd}) = "
                                f"{x._data.shape[dd]}"), tensor=x)
        idx = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
        return index_select(x, dd, _make(idx))
    r = int(repeats.item() if isinstance(repeats, Tensor) else repeats)
    if x._data.ndim == 0:
        x = reshape(x, (1,))
    shape = list(x._data.shape)
    u = unsqueeze(x, dd + 1)
    big = list(u._data.shape)
    big[dd + 1] = r
    e = clone(expand(u, tuple(big)))
    shape[dd] *= r
    return reshape(e, tuple(shape))


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """Tile ``x`` ``sizes`` times per dim (RepeatBackward0)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    reps = tuple(int(s) for s in sizes)
    d = x._data
    if len(reps) < d.ndim:
        _raise(RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                            "of dimensions of tensor"), tensor=x)
    out = np.tile(d, reps)
    if out.shape != tuple(np.array(reps) * np.array((1,) * (len(reps) - d.ndim) + d.shape)):
        out = out.reshape(tuple(np.array(reps) * np.array((1,) * (len(reps) - d.ndim)
                                                           + d.shape)))
    out = _contig(out)
    if needs_grad(x):
        return record(RepeatBackward0, out, (x,), repeats=reps, self_sym_sizes=d.shape)
    return _make(out)


def tile(x: Tensor, *dims: Any) -> Tensor:
    """repeat with missing leading counts taken as 1 (RepeatBackward0)."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    dims = tuple(int(s) for s in dims)
    if len(dims) < x._data.ndim:
        dims = (1,) * (x._data.ndim - len(dims)) + dims
    return repeat(x, dims)


# ----------------------------------------------------------------------------- logic
def _bool_reduce(np_fn: Any, name: str) -> Any:
    def op(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A002
        d = input._data
        if dim is None:
            out = np.asarray(np_fn(d))
            if keepdim:
                out = out.reshape((1,) * d.ndim)
        else:
            dims = tuple(dim) if isinstance(dim, (list, tuple)) else (dim,)
            dims = tuple(_wrap_dim(k, builtins.max(d.ndim, 1)) for k in dims) if d.ndim else ()
            out = np.asarray(np_fn(d, axis=dims, keepdims=keepdim)) if d.ndim else \
                np.asarray(np_fn(d))
        if d.dtype == np.uint8:
            out = out.astype(np.uint8)
        return _make(_contig(out))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch.{name}: True where {'every' if name == 'all' else 'some'} element is."
    return op


all = _bool_reduce(np.all, "all")  # noqa: A001
any = _bool_reduce(np.any, "any")  # noqa: A001


def isclose(input: Tensor, other: Any, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
            equal_nan: bool = False) -> Tensor:
    o = other._data if isinstance(other, Tensor) else other
    return _make(np.asarray(np.isclose(input._data, o, rtol=rtol, atol=atol,
                                       equal_nan=equal_nan)))


# ----------------------------------------------------------------------------- layout
def tril(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The lower triangle of the last two dims (TrilBackward0)."""
    d = input._data
    if d.ndim < 2:
        _raise(RuntimeError("tril: input tensor must have at least 2 dimensions"), tensor=input)
    out = np.tril(d, diagonal)
    if needs_grad(input):
        return record(TrilBackward0, out, (input,), diagonal=diagonal)
    return _make(out)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The upper triangle of the last two dims (TriuBackward0)."""
    d = input._data
    if d.ndim < 2:
        _raise(RuntimeError("triu: input tensor must have at least 2 dimensions"), tensor=input)
    out = np.triu(d, diagonal)
    if needs_grad(input):
        return record(TriuBackward0, out, (input,), diagonal=diagonal)
    return _make(out)


def flip(input: Tensor, *dims: Any) -> Tensor:  # noqa: A002
    """Reverse the order along ``dims`` (FlipBackward0)."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    d = input._data
    dd = tuple(_wrap_dim(k, builtins.max(d.ndim, 1)) for k in dims) if d.ndim else ()
    out = np.flip(d, dd).copy() if dd else d.copy()
    if needs_grad(input):
        return record(FlipBackward0, out, (input,), dims=dd)
    return _make(out)


def fliplr(input: Tensor) -> Tensor:  # noqa: A002
    return flip(input, (1,))


def flipud(input: Tensor) -> Tensor:  # noqa: A002
    return flip(input, (0,))


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:  # noqa: A002
    """Rotate elements along ``dims`` (the flattened tensor without dims) (RollBackward0)."""
    sh = tuple(shifts) if isinstance(shifts, (list, tuple)) else (int(shifts),)
    d = input._data
    if dims is None:
        out = np.roll(d.reshape(-1), sh[0]).reshape(d.shape)
        dd: tuple = ()
    else:
        dd = tuple(dims) if isinstance(dims, (list, tuple)) else (int(dims),)
        dd = tuple(_wrap_dim(k, d.ndim) for k in dd)
        out = np.roll(d, sh, dd)
    out = _contig(out)
    if needs_grad(input):
        return record(RollBackward0, out, (input,), shifts=sh, dims=dd)
    return _make(out)


def narrow(input: Tensor, dim: int, start: Any, length: int) -> Tensor:  # noqa: A002
    """``length`` elements from ``start`` along ``dim``, a view (SliceBackward0)."""
    d = input._data
    dd = _wrap_dim(dim, d.ndim)
    st = int(start.item() if isinstance(start, Tensor) else start)
    n = d.shape[dd]
    if st < 0:
        st += n
    if not (0 <= st <= n) or length < 0 or st + length > n:
        _raise(RuntimeError(f"start ({st}) + length ({length}) exceeds dimension size ({n})."),
               tensor=input)
    return _slice(input, dd, slice(st, st + length), True)


def movedim(input: Tensor, source: Any, destination: Any) -> Tensor:  # noqa: A002
    """Move dims to new positions (PermuteBackward0)."""
    nd = input._data.ndim
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [_wrap_dim(s, nd) for s in src]
    dst = [_wrap_dim(s, nd) for s in dst]
    order = [i for i in range(nd) if i not in src]
    for s, t in sorted(zip(dst, src)):
        order.insert(s, t)
    return permute(input, tuple(order))


def broadcast_to(input: Tensor, size: Any) -> Tensor:  # noqa: A002
    return expand(input, tuple(size))


def diag(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    """A 1-D tensor as a diagonal matrix (DiagEmbedBackward0), or a matrix's diagonal
    (DiagonalBackward0)."""
    d = input._data
    if d.ndim == 1:
        out = np.diag(d, diagonal)
        if needs_grad(input):
            return record(DiagEmbedBackward0, out, (input,), offset=diagonal,
                          self_sym_sizes=d.shape)
        return _make(out)
    if d.ndim != 2:
        _raise(RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {d.ndim}D"), tensor=input)
    out = np.diag(d, diagonal).copy()
    if needs_grad(input):
        return record(DiagonalBackward0_copy, out, (input,), offset=diagonal,
                      self_sym_sizes=d.shape)
    return _make(out)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:  # noqa: A002
    """The diagonal of a matrix, a view (DiagonalBackward0)."""
    d = input._data
    if d.ndim != 2 or (_wrap_dim(dim1, 2), _wrap_dim(dim2, 2)) != (0, 1):
        raise NotImplementedError("diagonal: the engine supports the diagonal of a matrix")
    out = np.diagonal(d, offset)
    if needs_grad(input):
        return _as_view(record(DiagonalBackward0, out, (input,), offset=offset,
                               self_sym_sizes=d.shape), input)
    return _as_view(_make(out), input)


# ----------------------------------------------------------------------------- pointwise
def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:  # noqa: A002
    """log(sum(exp(x))) along ``dim``, computed stably (LogsumexpBackward0)."""
    d = input._data
    if d.dtype.kind != "f":
        d = d.astype(_dtype.default_float.np)
    dims = tuple(dim) if isinstance(dim, (list, tuple)) else (dim,)
    dims = tuple(sorted(_wrap_dim(k, builtins.max(d.ndim, 1)) for k in dims)) if d.ndim else ()
    if d.ndim == 0:
        out = d.copy()
    else:
        m = np.amax(d, axis=dims, keepdims=True)
        m = np.where(np.isinf(m), 0, m).astype(d.dtype)
        with np.errstate(all="ignore"):
            out = np.log(np.sum(np.exp(d - m), axis=dims, keepdims=True)) + m
        if not keepdim:
            out = np.squeeze(out, dims)
        out = _contig(out.astype(d.dtype, copy=False))
    if needs_grad(input):
        return record(LogsumexpBackward0, out, (input,), {"self": input},
                      output_saved=("result",), dim=dims, keepdim=keepdim or d.ndim == 0)
    return _make(out)


_erf_each = np.frompyfunc(math.erf, 1, 1)


def _np_erf(d: np.ndarray) -> np.ndarray:
    """Elementwise error function (numpy has none): math.erf per element."""
    return np.asarray(_erf_each(d), dtype=np.float64).astype(d.dtype, copy=False)


tan = _unary(np.tan, TanBackward0, "tan", save_self=False, save_result=True)
erf = _unary(_np_erf, ErfBackward0, "erf")
log10 = _unary(np.log10, Log10Backward0, "log10")
log2 = _unary(np.log2, Log2Backward0, "log2")
exp2 = _unary(np.exp2, Exp2Backward0, "exp2", save_self=False, save_result=True)
rsqrt = _unary(lambda d: 1 / np.sqrt(d), RsqrtBackward0, "rsqrt", save_self=False,
               save_result=True)


# ----------------------------------------------------------------------------- binding
_FUNCTIONS = ("gather", "scatter", "scatter_add", "index_select", "index_add", "masked_select",
              "nonzero", "argwhere", "topk", "sort", "argsort", "kthvalue", "split", "chunk",
              "tensor_split", "unbind", "repeat_interleave", "all", "any", "isclose", "tril",
              "triu", "flip", "fliplr", "flipud", "roll", "narrow", "movedim",
              "broadcast_to", "diag", "diagonal", "logsumexp", "log10", "log2", "exp2",
              "rsqrt", "tan", "erf", "tile")
_METHODS = _FUNCTIONS[:-1] + ("repeat", "tile")
_INPLACE = ("scatter", "scatter_add", "index_add", "tril", "triu", "log10", "log2", "exp2",
            "rsqrt", "tan", "erf")
#: in-place methods torch also offers as functions (torch.sin_(t))
_TORCH_INPLACE = ("abs_", "acos_", "asin_", "atan_", "ceil_", "clamp_", "clamp_min_",
                  "clamp_max_", "cos_", "cosh_", "exp_", "expm1_", "floor_", "frac_", "log_",
                  "log10_", "log1p_", "log2_", "neg_", "reciprocal_", "relu_", "round_",
                  "rsqrt_", "sigmoid_", "sin_", "sinh_", "sqrt_", "square_", "tan_", "tanh_",
                  "trunc_", "fill_", "zero_", "exp2_", "fix_", "negative_", "arcsin_",
                  "arccos_", "arctan_", "clip_", "erf_")


def _torch_inplace(name: str) -> Any:
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:  # noqa: A002
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}(t, ...) is t.{name}(...)."
    return fn


class MaskedFillBackward0(Node):
    rule = Rule("masked_fill: filled positions get no gradient.",
                ("grad_self = where(mask, 0, grad)",))
    def backward(self, g, s, xp):
        return (xp.where(s["mask"], 0, g),)


class MaskedFillBackward1(Node):
    rule = Rule("masked_fill with a tensor value: the filled positions send their gradient to "
                "the value, the others to self.",
                ("grad_self = where(mask, 0, grad)",
                 "grad_value = sum(where(mask, grad, 0))"))
    def backward(self, g, s, xp):
        m = s["mask"]
        return xp.where(m, 0, g), xp.sum(xp.where(m, g, 0))


def masked_fill(input: Tensor, mask: Tensor, value: Any) -> Tensor:  # noqa: A002
    """``input`` with ``value`` where ``mask`` is True (MaskedFillBackward0; a tensor value:
    MaskedFillBackward1)."""
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        _raise(RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with "
                            f"dtype {_dtype.from_numpy_dtype(m.dtype)}"), tensor=input)
    d = input._data
    if isinstance(value, Tensor):
        if value._data.ndim:
            _raise(RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but "
                                f"got tensor with {value._data.ndim} dimension(s)."),
                   tensor=input)
        v = value._data
    else:
        v = value
    out = np.where(m, np.asarray(v).astype(d.dtype), d)
    if out.shape != d.shape:
        _raise(RuntimeError(f"The size of tensor a ({d.shape[-1] if d.ndim else 1}) must match "
                            "the size of tensor b"), tensor=input)
    if isinstance(value, Tensor) and needs_grad(input, value):
        return record(MaskedFillBackward1, out, (input, value), {"mask": m})
    if needs_grad(input):
        return record(MaskedFillBackward0, out, (input,), {"mask": m})
    return _make(out)


def _masked_fill_(self: Tensor, mask: Tensor, value: Any) -> Tensor:
    return _ip(masked_fill, "masked_fill_")(self, mask, value)


def _where_method(self: Tensor, condition: Tensor, other: Any) -> Tensor:
    return where(condition, self, other)


def install(namespace: dict) -> None:
    """Bind these ops as Tensor methods and as functions in ``namespace`` (engine's globals)."""
    reduce._max_result = return_type("max")
    reduce._min_result = return_type("min")
    g = globals()
    for name in _METHODS:
        fn = g[name]
        if name in ("all", "any", "logsumexp"):
            fn = numpy_aliases(fn)
        setattr(Tensor, name, fn)
    for name in _FUNCTIONS:
        if name not in namespace:
            fn = g[name]
            namespace[name] = numpy_aliases(fn) if name in ("all", "any", "logsumexp") else fn
    for name in _INPLACE:
        setattr(Tensor, name + "_", _ip(g[name], name + "_"))
    for name, f in (("clamp_max_", pointwise.clamp_max), ("cos_", pointwise.cos),
                    ("sin_", pointwise.sin), ("reciprocal_", pointwise.reciprocal),
                    ("fix_", extra.trunc), ("negative_", pointwise.neg),
                    ("arcsin_", extra.asin), ("arccos_", extra.acos), ("arctan_", extra.atan),
                    ("clip_", pointwise.clamp)):
        if not hasattr(Tensor, name):
            setattr(Tensor, name, _ip(f, name))
    for name in _TORCH_INPLACE:
        namespace.setdefault(name, _torch_inplace(name))
    Tensor.moveaxis = movedim
    namespace.setdefault("moveaxis", movedim)
    Tensor.masked_fill = masked_fill
    namespace["masked_fill"] = masked_fill
    Tensor.masked_fill_ = _masked_fill_
    Tensor.where = _where_method
    Tensor.bmm = bmm
    namespace.setdefault("bmm", bmm)
