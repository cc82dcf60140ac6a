"""Shape ops and indexing: views share storage and the version counter with their base."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.function import Node, record
from engine.ops._common import annotate, arr, needs_grad
from engine.tensor import Tensor, _make, _raise, _wrap_dim

__all__ = ["reshape", "view", "flatten", "t", "permute", "transpose", "unsqueeze", "squeeze",
           "expand", "cat", "stack", "getitem", "setitem"]


def _as_view(out: Tensor, x: Tensor) -> Tensor:
    """Mark ``out`` as a view of ``x``: shared version counter, same base."""
    out._version = x._version
    out._base = x._base if x._base is not None else x
    return out


def _shape_args(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


class ViewBackward0(Node):
    def backward(self, g, s, xp):
        return (xp.reshape(g, self.self_sym_sizes),)


class UnsafeViewBackward0(ViewBackward0):
    pass


class TBackward0(Node):
    def backward(self, g, s, xp):
        return (xp.t(g),)


class PermuteBackward0(Node):
    def backward(self, g, s, xp):
        inv = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inv[d] = i
        return (xp.permute(g, tuple(inv)),)


class TransposeBackward0(Node):
    def backward(self, g, s, xp):
        return (xp.transpose(g, self.dim0, self.dim1),)


class UnsqueezeBackward0(Node):
    def backward(self, g, s, xp):
        return (xp.squeeze(g, self.dim),)


class SqueezeBackward0(Node):
    def backward(self, g, s, xp):
        return (xp.reshape(g, self.self_sym_sizes),)


class SqueezeBackward1(SqueezeBackward0):
    pass


class ExpandBackward0(Node):
    def backward(self, g, s, xp):
        return (g,)  # summed back to the input's shape centrally


class CatBackward0(Node):
    def backward(self, g, s, xp):
        out = []
        start = 0
        for n in self.sizes:
            out.append(xp.narrow(g, self.dim, start, n))
            start += n
        return tuple(out)


class StackBackward0(Node):
    def backward(self, g, s, xp):
        return tuple(xp.select(g, self.dim, i) for i in range(len(self.next_functions)))


class SelectBackward0(Node):
    def backward(self, g, s, xp):
        return (xp.index_zeros(g, self.self_sym_sizes, self.key, False),)


class SliceBackward0(SelectBackward0):
    pass


class IndexBackward0(Node):
    def backward(self, g, s, xp):
        return (xp.index_zeros(g, self.self_sym_sizes, s["indices"], True),)


class CopySlices(Node):
    def backward(self, g, s, xp):
        key = s["indices"]
        ga = xp.index_fill_zero(g, key) if self.next_functions[0][0] is not None else None
        gv = xp.index(g, key) if self.next_functions[1][0] is not None else None
        return ga, gv


# ----------------------------------------------------------------------------- reshaping
def _infer_shape(shape: tuple, numel: int) -> tuple:
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '[{', '.join(map(str, shape))}]' is invalid for input "
                               f"of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '[{', '.join(map(str, shape))}]' is invalid for input of "
                           f"size {numel}")
    return shape


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """Same data, new shape (ViewBackward0)."""
    d = x._data
    try:
        shape = _infer_shape(_shape_args(shape), d.size)
    except RuntimeError as e:
        annotate(e, "view", d.shape, shape)
        _raise(e, tensor=x)
    if shape == d.shape and False:
        return x
    out = d.reshape(shape)
    if needs_grad(x):
        return _as_view(record(ViewBackward0, out, (x,), self_sym_sizes=x.shape), x)
    return _as_view(_make(out), x)


view = reshape


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Collapse dims start_dim..end_dim into one (ViewBackward0)."""
    d = x._data
    if d.ndim == 0:
        return reshape(x, 1)
    s = _wrap_dim(start_dim, d.ndim)
    e = _wrap_dim(end_dim, d.ndim)
    if s == e:
        return x
    n = 1
    for k in d.shape[s:e + 1]:
        n *= k
    return reshape(x, d.shape[:s] + (n,) + d.shape[e + 1:])


def t(x: Tensor) -> Tensor:
    """Transpose of a tensor with at most 2 dims (TBackward0)."""
    d = x._data
    if d.ndim > 2:
        _raise(RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {d.ndim}D"),
               tensor=x)
    out = d.T
    if needs_grad(x):
        return _as_view(record(TBackward0, out, (x,)), x)
    return _as_view(_make(out), x)


def permute(x: Tensor, *dims: Any) -> Tensor:
    """Reorder dims (PermuteBackward0)."""
    dims = _shape_args(dims)
    d = x._data
    if len(dims) != d.ndim:
        _raise(RuntimeError("permute(sparse_coo): number of dimensions in the tensor input does "
                            "not match the length of the desired ordering of dimensions i.e. "
                            f"input.dim() = {d.ndim} is not equal to len(dims) = {len(dims)}"),
               tensor=x)
    dims = tuple(_wrap_dim(i, d.ndim) for i in dims)
    out = d.transpose(dims)
    if needs_grad(x):
        return _as_view(record(PermuteBackward0, out, (x,), dims=dims), x)
    return _as_view(_make(out), x)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (TransposeBackward0)."""
    d = x._data
    a, b = _wrap_dim(dim0, d.ndim), _wrap_dim(dim1, d.ndim)
    out = np.swapaxes(d, a, b) if d.ndim else d
    if needs_grad(x):
        return _as_view(record(TransposeBackward0, out, (x,), dim0=a, dim1=b), x)
    return _as_view(_make(out), x)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a dim of size 1 (UnsqueezeBackward0)."""
    d = x._data
    ax = _wrap_dim(dim, d.ndim + 1)
    out = np.expand_dims(d, ax)
    if needs_grad(x):
        return _as_view(record(UnsqueezeBackward0, out, (x,), dim=ax), x)
    return _as_view(_make(out), x)


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    """Drop dims of size 1: all (SqueezeBackward0) or the one given (SqueezeBackward1)."""
    d = x._data
    if dim is None:
        out = d.reshape(tuple(s for s in d.shape if s != 1))
        cls = SqueezeBackward0
    else:
        ax = _wrap_dim(dim, d.ndim) if d.ndim else 0
        out = np.squeeze(d, ax) if d.ndim and d.shape[ax] == 1 else d.view()
        cls = SqueezeBackward1
    if needs_grad(x):
        return _as_view(record(cls, out, (x,), self_sym_sizes=x.shape, dim=dim), x)
    return _as_view(_make(out), x)


def expand(x: Tensor, *sizes: Any) -> Tensor:
    """Broadcast to a bigger shape without copying (ExpandBackward0)."""
    sizes = _shape_args(sizes)
    d = x._data
    if len(sizes) < d.ndim:
        _raise(RuntimeError(f"expand(torch.FloatTensor{{[{', '.join(map(str, d.shape))}]}}, "
                            f"size=[{', '.join(map(str, sizes))}]): the number of sizes provided "
                            f"({len(sizes)}) must be greater or equal to the number of "
                            f"dimensions in the tensor ({d.ndim})"), tensor=x)
    lead = len(sizes) - d.ndim
    target = tuple(d.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    try:
        out = np.broadcast_to(d, target)
    except ValueError:
        for i in range(d.ndim):
            if d.shape[i] != 1 and d.shape[i] != target[i + lead]:
                _raise(RuntimeError(
                    f"The expanded size of the tensor ({target[i + lead]}) must match the "
                    f"existing size ({d.shape[i]}) at non-singleton dimension {i + lead}.  "
                    f"Target sizes: [{', '.join(map(str, sizes))}].  Tensor sizes: "
                    f"[{', '.join(map(str, d.shape))}]"), tensor=x)
        raise
    if needs_grad(x):
        return _as_view(record(ExpandBackward0, out, (x,), self_sym_sizes=x.shape), x)
    return _as_view(_make(out), x)


def cat(tensors: Any, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim (CatBackward0)."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    ds = [arr(x) for x in tensors]
    ndim = max(np.ndim(a) for a in ds)
    ax = _wrap_dim(dim, ndim)
    try:
        out = np.concatenate(ds, axis=ax)
    except ValueError:
        ref = ds[0].shape
        for i, a in enumerate(ds[1:], 1):
            for k in range(len(ref)):
                if k != ax and a.shape[k] != ref[k]:
                    raise RuntimeError(
                        f"Sizes of tensors must match except in dimension {ax}. Expected size "
                        f"{ref[k]} but got size {a.shape[k]} for tensor number {i} in the "
                        "list.") from None
        raise
    if needs_grad(*tensors):
        return record(CatBackward0, out, tuple(tensors), dim=ax,
                      sizes=tuple(a.shape[ax] for a in ds))
    return _make(out)


def stack(tensors: Any, dim: int = 0) -> Tensor:
    """Join tensors along a new dim (StackBackward0)."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    ds = [arr(x) for x in tensors]
    ax = _wrap_dim(dim, np.ndim(ds[0]) + 1)
    try:
        out = np.stack(ds, axis=ax)
    except ValueError:
        for i, a in enumerate(ds[1:], 1):
            if a.shape != ds[0].shape:
                raise RuntimeError(
                    f"stack expects each tensor to be equal size, but got "
                    f"[{', '.join(map(str, ds[0].shape))}] at entry 0 and "
                    f"[{', '.join(map(str, a.shape))}] at entry {i}") from None
        raise
    if needs_grad(*tensors):
        return record(StackBackward0, out, tuple(tensors), dim=ax)
    return _make(out)


# ----------------------------------------------------------------------------- indexing
def _is_basic(key: tuple) -> bool:
    return all(k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice))
               and not isinstance(k, bool) for k in key)


def _norm_key(key: Any) -> Any:
    if isinstance(key, Tensor):
        return key._data
    if isinstance(key, tuple):
        return tuple(k._data if isinstance(k, Tensor) else k for k in key)
    if isinstance(key, list):
        return np.asarray([k._data if isinstance(k, Tensor) else k for k in key])
    return key


def getitem(x: Tensor, key: Any) -> Tensor:
    """x[key]: a chain of SelectBackward0 / SliceBackward0 for ints and slices, as torch records
    it; IndexBackward0 for lists, tensors and boolean masks."""
    key = _norm_key(key)
    tkey = key if isinstance(key, tuple) else (key,)
    d = x._data
    if not _is_basic(tkey):
        try:
            out = d[key]
        except IndexError as e:
            _raise(IndexError(str(e)), tensor=x)
        if needs_grad(x):
            return record(IndexBackward0, np.array(out), (x,), {"indices": key},
                          self_sym_sizes=x.shape)
        return _make(np.array(out))
    if not needs_grad(x):
        try:
            out = d[key]
        except IndexError as e:
            _raise(IndexError(_index_message(e, d.shape, tkey)), tensor=x)
        return _as_view(_make(np.asarray(out) if type(out) is not np.ndarray else out), x)
    # with grad: one node per int/slice, as torch's applySlicing does
    n_real = sum(1 for k in tkey if k is not None and k is not Ellipsis)
    if n_real > d.ndim:
        _raise(IndexError(f"too many indices for tensor of dimension {d.ndim}"), tensor=x)
    cur = x
    dim = 0
    for k in tkey:
        if k is Ellipsis:
            dim += cur._data.ndim - dim - (n_real - _count_before(tkey, k))
            continue
        if k is None:
            cur = unsqueeze(cur, dim)
            dim += 1
            continue
        cd = cur._data
        if isinstance(k, slice):
            start, stop, step = k.indices(cd.shape[dim])
            if step <= 0:
                raise ValueError("step must be greater than zero")
            if start == 0 and stop == cd.shape[dim] and step == 1:
                dim += 1
                continue
            sl = (slice(None),) * dim + (k,)
            cur = _as_view(record(SliceBackward0, cd[sl], (cur,), self_sym_sizes=cur.shape,
                                  key=sl, dim=dim, start=start, end=stop, step=step), x)
            dim += 1
        else:
            size = cd.shape[dim]
            if not -size <= k < size:
                _raise(IndexError(f"index {k} is out of bounds for dimension {dim} with size "
                                  f"{size}"), tensor=x)
            sl = (slice(None),) * dim + (int(k),)
            cur = _as_view(record(SelectBackward0, np.asarray(cd[sl]), (cur,),
                                  self_sym_sizes=cur.shape, key=sl, dim=dim, index=int(k)), x)
    if cur is x:
        cur = _as_view(record(SliceBackward0, d[...], (x,), self_sym_sizes=x.shape,
                              key=(Ellipsis,), dim=0, start=0, end=d.shape[0] if d.ndim else 0,
                              step=1), x) if d.ndim else x
    return cur


def _count_before(tkey: tuple, marker: Any) -> int:
    n = 0
    for k in tkey:
        if k is marker:
            break
        if k is not None:
            n += 1
    return n


def _index_message(e: IndexError, shape: tuple, key: tuple) -> str:
    dim = 0
    for k in key:
        if k is None or k is Ellipsis:
            continue
        if isinstance(k, (int, np.integer)) and dim < len(shape):
            if not -shape[dim] <= k < shape[dim]:
                return (f"index {k} is out of bounds for dimension {dim} with size "
                        f"{shape[dim]}")
        dim += 1
    if dim > len(shape):
        return f"too many indices for tensor of dimension {len(shape)}"
    return str(e)


def setitem(x: Tensor, key: Any, value: Any) -> None:
    """x[key] = value in place (CopySlices when recorded)."""
    from engine.ops.pointwise import _check_inplace
    key = _norm_key(key)
    _check_inplace(x)
    v = value
    if needs_grad(x, v):
        src_grad_fn = x.grad_fn
        src = _make(x._data.copy(), x._requires_grad, src_grad_fn)
        src._output_nr = x._output_nr
        new = x._data.copy()
        new[key] = arr(v)
        res = record(CopySlices, new, (src, v), {"indices": key})
        x._data[...] = new
        x.grad_fn = res.grad_fn
        x._requires_grad = True
        x._output_nr = 0
    else:
        try:
            x._data[key] = arr(v)
        except IndexError as e:
            _raise(IndexError(str(e)), tensor=x)
        except ValueError as e:
            _raise(RuntimeError(str(e)), tensor=x)
    x._version[0] += 1
