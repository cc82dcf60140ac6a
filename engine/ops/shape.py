"""Shape ops and indexing: views share storage and the version counter with their base."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from engine import grad_mode
from engine._rule import Rule
from engine.function import Node, record
from engine.ops._common import annotate, arr, needs_grad
from engine.ops.pointwise import _check_inplace, clone
from engine.tensor import Tensor, _make, _raise, _wrap_dim

__all__ = ["reshape", "view", "unsafe_view", "alias", "flatten", "t", "permute", "transpose",
           "unsqueeze", "squeeze", "expand", "cat", "stack", "getitem", "setitem"]


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
    rule = Rule("Only the layout changed: the gradient is put back into the input's shape.",
                ("grad_self = reshape(grad, self_sym_sizes)",))
    def backward(self, g, s, xp):
        return (xp.reshape(g, self.self_sym_sizes),)


class UnsafeViewBackward0(ViewBackward0):
    rule = Rule("Only the layout changed: the gradient is put back into the input's shape.",
                ("grad_self = reshape(grad, self_sym_sizes)",))
    pass


class ReshapeAliasBackward0(ViewBackward0):
    rule = Rule("Only the layout changed: the gradient is put back into the input's shape.",
                ("grad_self = reshape(grad, self_sym_sizes)",))
    pass


class AliasBackward0(Node):
    rule = Rule("An alias: the gradient passes through unchanged.",
                ("grad_self = grad",))
    def backward(self, g, s, xp):
        return (g,)


class TBackward0(Node):
    rule = Rule("Transpose: the gradient is transposed back.",
                ("grad_self = T(grad)",))
    def backward(self, g, s, xp):
        return (xp.t(g),)


class PermuteBackward0(Node):
    rule = Rule("Permute: the gradient gets the inverse permutation.",
                ("grad_self = permute(grad, inverse(dims))",))
    def backward(self, g, s, xp):
        inv = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inv[d] = i
        return (xp.permute(g, tuple(inv)),)


class TransposeBackward0(Node):
    rule = Rule("Swap of two dims: swap them back.",
                ("grad_self = transpose(grad, dim0, dim1)",))
    def backward(self, g, s, xp):
        return (xp.transpose(g, self.dim0, self.dim1),)


class UnsqueezeBackward0(Node):
    rule = Rule("A size-1 dim was added: remove it.",
                ("grad_self = squeeze(grad, dim)",))
    def backward(self, g, s, xp):
        return (xp.squeeze(g, self.dim),)


class SqueezeBackward0(Node):
    rule = Rule("Size-1 dims were removed: put them back.",
                ("grad_self = reshape(grad, self_sym_sizes)",))
    def backward(self, g, s, xp):
        return (xp.reshape(g, self.self_sym_sizes),)


class SqueezeBackward1(SqueezeBackward0):
    rule = Rule("A size-1 dim was removed (if it had size 1): put it back.",
                ("grad_self = reshape(grad, self_sym_sizes)",))
    pass


class ExpandBackward0(Node):
    rule = Rule("Broadcast (expand): copies of one element all send gradient back, so it is "
                "summed over the expanded dims.",
                ("grad_self = sum_to(grad, self_sym_sizes)",),
                "∂/∂x of n copies of x = n")
    def backward(self, g, s, xp):
        return (g,)  # summed back to the input's shape centrally


class CatBackward0(Node):
    rule = Rule("Concatenation: each input gets its own slice of the gradient.",
                ("grad_tensors = split(grad, sizes, dim)",))
    def backward(self, g, s, xp):
        out = []
        start = 0
        for n in self.sizes:
            out.append(xp.narrow(g, self.dim, start, n))
            start += n
        return tuple(out)


class StackBackward0(Node):
    rule = Rule("Stack: each input gets its own slice of the gradient.",
                ("grad_tensors = unbind(grad, dim)",))
    def backward(self, g, s, xp):
        return tuple(xp.select(g, self.dim, i) for i in range(len(self.next_functions)))


class SelectBackward0(Node):
    rule = Rule("x[i]: the gradient goes to the selected position, 0 elsewhere.",
                ("grad_self = put(self_sym_sizes, key, grad)",))
    def backward(self, g, s, xp):
        return (xp.index_zeros(g, self.self_sym_sizes, self.key, False),)


class SliceBackward0(SelectBackward0):
    rule = Rule("x[a:b]: the gradient goes to the sliced positions, 0 elsewhere.",
                ("grad_self = put(self_sym_sizes, key, grad)",))
    pass


class IndexBackward0(Node):
    rule = Rule("x[indices]: the gradient goes back to the picked positions; an index picked "
                "twice gets both gradients added.",
                ("grad_self = put(self_sym_sizes, indices, grad)",))
    def backward(self, g, s, xp):
        return (xp.index_zeros(g, self.self_sym_sizes, s["indices"], True),)


class CopySlices(Node):
    rule = Rule("x[indices] = value (in place): the overwritten positions send nothing back to "
                "the old x; value gets the gradient of the positions it filled.",
                ("grad_self = fill(grad, indices, 0)",
                 "grad_src = take(grad, indices)"))
    def name(self) -> str:
        return "torch::autograd::CopySlices"

    def backward(self, g, s, xp):
        key = s["indices"]
        ga = xp.index_fill_zero(g, key) if self.next_functions[0][0] is not None else None
        gv = xp.index(g, key) if self.next_functions[1][0] is not None else None
        return ga, gv


class IndexPutBackward0(CopySlices):
    rule = Rule("x.index_put(indices, values): the replaced positions send nothing back to x; "
                "values get the gradient of the positions they filled.",
                ("grad_self = fill(grad, indices, 0)",
                 "grad_values = take(grad, indices)"))
    def name(self) -> str:
        return "IndexPutBackward0"


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


def _view_strides(x: np.ndarray, shape: tuple) -> bool:
    """True when ``x`` can be seen with ``shape`` without copying (torch's computeStride)."""
    old = x.shape
    if not old or x.size == 0:
        return True
    st = [s // x.itemsize for s in x.strides]
    view_d = len(shape) - 1
    chunk_base = st[-1]
    tensor_numel = 1
    view_numel = 1
    for d in range(len(old) - 1, -1, -1):
        tensor_numel *= old[d]
        if d == 0 or (old[d - 1] != 1 and st[d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or shape[view_d] == 1):
                view_numel *= shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return False
            if d > 0:
                chunk_base = st[d - 1]
                tensor_numel = 1
                view_numel = 1
    return view_d == -1


def _target_shape(x: Tensor, shape: tuple, op: str) -> tuple:
    d = x._data
    try:
        return _infer_shape(_shape_args(shape), d.size)
    except RuntimeError as e:
        annotate(e, op, d.shape, _shape_args(shape))
        _raise(e, tensor=x)


def _view(x: Tensor, shape: tuple, cls: type) -> Tensor:
    out = x._data.reshape(shape)
    if needs_grad(x):
        return _as_view(record(cls, out, (x,), self_sym_sizes=x.shape), x)
    return _as_view(_make(out), x)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """Same data, new shape, as torch does it: a view of a contiguous tensor (ViewBackward0), an
    alias of a strided one that allows it (ReshapeAliasBackward0), else a contiguous copy
    (CloneBackward0, then UnsafeViewBackward0)."""
    shape = _target_shape(x, shape, "reshape")
    d = x._data
    if d.flags.c_contiguous:
        return _view(x, shape, ViewBackward0)
    if _view_strides(d, shape):
        return _view(x, shape, ReshapeAliasBackward0)
    return unsafe_view(clone(x, contiguous=True), shape)


def view(x: Tensor, *shape: Any) -> Tensor:
    """Same storage, new shape (ViewBackward0); torch's error when the strides do not allow it."""
    shape = _target_shape(x, shape, "view")
    d = x._data
    if not d.flags.c_contiguous and not _view_strides(d, shape):
        e = RuntimeError("view size is not compatible with input tensor's size and stride (at "
                         "least one dimension spans across two contiguous subspaces). Use "
                         ".reshape(...) instead.")
        annotate(e, "view", d.shape, shape)
        _raise(e, tensor=x)
    return _view(x, shape, ViewBackward0)


def unsafe_view(x: Tensor, shape: tuple) -> Tensor:
    """torch's ``_unsafe_view``: a reshape of a fresh tensor (UnsafeViewBackward0)."""
    out = x._data.reshape(shape)
    if needs_grad(x):
        return record(UnsafeViewBackward0, out, (x,), self_sym_sizes=x.shape)
    return _make(out)


def alias(x: Tensor) -> Tensor:
    """The same tensor as a new view (AliasBackward0), as ``x[...]`` gives."""
    out = x._data.view()
    if needs_grad(x):
        return _as_view(record(AliasBackward0, out, (x,)), x)
    return _as_view(_make(out), x)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Collapse dims start_dim..end_dim into one (ViewBackward0)."""
    d = x._data
    if d.ndim == 0:
        return reshape(x, 1)
    if d.ndim == 1:
        return x
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
    for i, a in enumerate(ds):
        if a.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be "
                               "concatenated")
    for a in ds[1:]:
        if a.ndim != ds[0].ndim and a.size and ds[0].size:
            raise RuntimeError(f"Tensors must have same number of dimensions: got "
                               f"{ds[0].ndim} and {a.ndim}")
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
def _norm_key(key: Any) -> Any:
    if isinstance(key, Tensor):
        return key._data
    if isinstance(key, tuple):
        return tuple(k._data if isinstance(k, Tensor) else k for k in key)
    if isinstance(key, list):
        return np.asarray([k._data if isinstance(k, Tensor) else k for k in key])
    return key


def _is_int(k: Any) -> bool:
    if isinstance(k, (bool, np.bool_)):
        return False
    if isinstance(k, (int, np.integer)):
        return True
    # a 0-dim integer tensor indexes like an int (SelectBackward0)
    return isinstance(k, Tensor) and k._data.ndim == 0 and k._data.dtype.kind in "iu"


def _view_op(cls: type, out: np.ndarray, src: Tensor, **params: Any) -> Tensor:
    if needs_grad(src):
        return _as_view(record(cls, out, (src,), self_sym_sizes=src.shape, **params), src)
    return _as_view(_make(out), src)


def _select(x: Tensor, dim: int, i: int, real_dim: int) -> Tensor:
    d = x._data
    if d.ndim == 0:
        _raise(IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                          "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"),
               tensor=x)
    size = d.shape[dim]
    if not -size <= i < size:
        _raise(IndexError(f"index {i} is out of bounds for dimension {real_dim} with size "
                          f"{size}"), tensor=x)
    key = (slice(None),) * dim + (i,)
    return _view_op(SelectBackward0, np.asarray(d[key]), x, key=key, dim=dim, index=i)


def _slice(x: Tensor, dim: int, k: slice, force: bool) -> Tensor:
    d = x._data
    if d.ndim == 0:
        _raise(IndexError("slice() cannot be applied to a 0-dim tensor."), tensor=x)
    size = d.shape[dim]
    step = 1 if k.step is None else int(k.step)
    if step <= 0:
        raise ValueError("step must be greater than zero")
    if (not force and k.start in (None, 0) and step == 1
            and (k.stop is None or int(k.stop) >= size)):
        return x  # torch skips a slice that keeps the whole dim
    start, stop, _ = slice(k.start, k.stop, step).indices(size)
    stop = builtins.max(stop, start)
    key = (slice(None),) * dim + (slice(start, stop, step),)
    return _view_op(SliceBackward0, d[key], x, key=key, dim=dim, start=start, end=stop,
                    step=step)


def _index_array(k: Any) -> np.ndarray:
    a = k._data if isinstance(k, Tensor) else np.asarray(
        [v._data if isinstance(v, Tensor) else v for v in k] if isinstance(k, list) else k)
    if a.dtype.kind not in "iub":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    return a


def getitem(x: Tensor, key: Any) -> Tensor:
    """x[key] as torch records it: ints and slices first, one SelectBackward0 / SliceBackward0
    each (in the order given), None as UnsqueezeBackward0; then one IndexBackward0 for all the
    lists, tensors and boolean masks; ``x[...]`` and all-``:`` keys give AliasBackward0."""
    if not isinstance(key, tuple):
        if key is None:
            return unsqueeze(x, 0)
        if key is Ellipsis:
            return alias(x)
        if _is_int(key):
            return _select(x, 0, int(key), 0)
        if isinstance(key, slice):
            return _slice(x, 0, key, True)
        key = (key,)
    ndim = x._data.ndim
    specified = 0
    for k in key:
        if k is None or k is Ellipsis or isinstance(k, (bool, np.bool_)):
            continue
        if not _is_int(k) and not isinstance(k, slice) and _index_array(k).dtype == bool:
            specified += _index_array(k).ndim
        else:
            specified += 1
    if specified > ndim:
        _raise(IndexError(f"too many indices for tensor of dimension {ndim}"), tensor=x)
    cur = x
    dim = real_dim = 0
    adv: dict[int, np.ndarray] = {}
    for k in key:
        if k is None:
            cur = unsqueeze(cur, dim)
            dim += 1
        elif k is Ellipsis:
            dim += ndim - specified
            real_dim += ndim - specified
        elif _is_int(k):
            cur = _select(cur, dim, int(k), real_dim)
            real_dim += 1
        elif isinstance(k, slice):
            cur = _slice(cur, dim, k, False)
            dim += 1
            real_dim += 1
        elif isinstance(k, (bool, np.bool_)):
            cur = unsqueeze(cur, dim)
            adv[dim] = np.zeros(1 if k else 0, dtype=np.int64)
            dim += 1
        else:
            a = _index_array(k)
            adv[dim] = a
            n = a.ndim if a.dtype == bool else 1
            dim += n
            real_dim += n
    if not adv:
        return alias(x) if cur is x else cur
    return _advanced(cur, adv)


def _advanced(x: Tensor, adv: dict) -> Tensor:
    d = x._data
    nkey: list = []
    pos = 0
    which = 0
    for dim in sorted(adv):
        nkey.extend([slice(None)] * (dim - pos))
        a = adv[dim]
        if a.dtype == bool:
            for j in range(a.ndim):
                if dim + j >= d.ndim or a.shape[j] != d.shape[dim + j]:
                    _raise(IndexError(
                        f"The shape of the mask [{', '.join(map(str, a.shape))}] at index {j} "
                        f"does not match the shape of the indexed tensor "
                        f"[{', '.join(map(str, d.shape))}] at index {dim + j}"), tensor=x)
            pos = dim + a.ndim
        else:
            size = d.shape[dim]
            bad = a[(a >= size) | (a < -size)]
            if bad.size:
                _raise(IndexError(f"index {int(bad.flat[0])} is out of bounds for dimension "
                                  f"{which} with size {size}"), tensor=x)
            pos = dim + 1
        nkey.append(a)
        which += 1
    key = tuple(nkey)
    try:
        out = np.array(d[key])
    except IndexError as e:
        _raise(IndexError(str(e)), tensor=x)
    if needs_grad(x):
        return record(IndexBackward0, out, (x,), {"indices": key}, self_sym_sizes=x.shape)
    return _make(out)


def _setitem_through_view(x: Tensor, key: Any) -> bool:
    """True when torch writes ``x[key] = v`` through a view of ``x`` (an int, a None or a
    partial slice in the key), which changes the error raised on a leaf."""
    shape = x._data.shape
    keys = key if isinstance(key, tuple) else (key,)
    dim = 0
    for k in keys:
        if k is None or _is_int(k):
            return True
        if isinstance(k, slice):
            size = shape[dim] if dim < len(shape) else 0
            if not (k.start in (None, 0) and k.step in (None, 1)
                    and (k.stop is None or int(k.stop) >= size)):
                return True
        if k is not Ellipsis:
            dim += 1
    return False


def _is_basic_key(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, slice) or _is_int(k) for k in keys)


def setitem(x: Tensor, key: Any, value: Any) -> None:
    """x[key] = value in place (CopySlices when recorded)."""
    through_view = _setitem_through_view(x, key)
    if through_view and x.grad_fn is None and x._requires_grad:
        if grad_mode._state.enabled:
            _raise(RuntimeError("a view of a leaf Variable that requires grad is being used in "
                                "an in-place operation."), tensor=x)
    key = _norm_key(key)
    _check_inplace(x)
    v = value
    if needs_grad(x, v):
        src_grad_fn = x.grad_fn
        src = _make(x._data.copy(), x._requires_grad, src_grad_fn)
        src._output_nr = x._output_nr
        new = x._data.copy()
        new[key] = arr(v)
        # a write through a view rebases x on CopySlices; a pure advanced index is index_put_
        cls = CopySlices if through_view or _is_basic_key(key) else IndexPutBackward0
        res = record(cls, new, (src, v), {"indices": key})
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
