"""Tensor: a numpy array with PyTorch's autograd attributes, operators, reprs and errors."""

from __future__ import annotations

import itertools
import types
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine import _dtype, events, grad_mode
from engine._dtype import dtype as _DType
from engine._printing import format_tensor
from engine.device import CPU, NO_CUDA_MESSAGE, check_device, device
from engine.events import Handle

__all__ = ["Tensor", "Size", "tensor"]

_tensor_ids = itertools.count(1)
#: > 0 while the engine makes throw-away tensors (in-place temporaries): no tensor_created events
_quiet = [0]
# Functions of the layers above that Tensor's methods call (clone, to_dtype from
# engine.ops.pointwise; zeros, ones from engine.creation; legacy_new, type_target from
# engine.legacy; backward from engine.autograd): each of those modules puts its own here when
# it loads, and importing any engine module loads them all first (engine/__init__).
_up: Any = types.SimpleNamespace()
_grad_state = grad_mode._state

SCALAR_WARNING = (
    "Converting a tensor with requires_grad=True to a scalar may lead to unexpected behavior.\n"
    "Consider using tensor.detach() first. (Triggered internally at "
    "/__w/pytorch/pytorch/torch/csrc/autograd/generated/python_variable_methods.cpp:822.)")
_scalar_warned = [False]


def _warn_scalar_once() -> None:
    """torch's TORCH_WARN_ONCE for float()/complex() of a tensor that requires grad."""
    if not _scalar_warned[0]:
        _scalar_warned[0] = True
        warnings.warn(SCALAR_WARNING, UserWarning, stacklevel=3)

NONLEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad field "
    "to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you "
    "access the non-leaf Tensor by mistake, make sure you access the leaf Tensor instead. See "
    "github.com/pytorch/pytorch/pull/30531 for more information.")
LEAF_REQUIRES_GRAD_MESSAGE = (
    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
    "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().")


class Size(tuple):
    """A tensor's shape: a tuple that prints as ``torch.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"torch.Size([{', '.join(str(int(s)) for s in self)}])"

    __str__ = __repr__

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


def _emit_created(t: Tensor) -> None:
    d = t._data
    fn = t.grad_fn
    events.emit("tensor_created", tensor_id=t._id, shape=d.shape,
                dtype=_DTYPE_NAMES.get(d.dtype) or _dtype.from_numpy_dtype(d.dtype).name,
                requires_grad=t._requires_grad, is_leaf=fn is None,
                node_id=fn._id if fn is not None else None,
                name=fn.name() if fn is not None else None,
                value=d.tolist() if d.size <= events.MAX_VALUE_ELEMENTS else None)


_DTYPE_NAMES = {d.np: d.name for d in _dtype.ALL}


class _Version(list):
    """A tensor's version counter, one list shared by the tensor, its views and detach(): the
    engine bumps ``[0]``; read as ``t._version`` it behaves as torch's int (``== 1``, ``int()``,
    arithmetic, repr)."""

    __slots__ = ()

    def __int__(self) -> int:
        return self[0]

    __index__ = __int__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return list.__eq__(self, other)
        return self[0] == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def __lt__(self, other: Any) -> bool:
        return self[0] < int(other)

    def __le__(self, other: Any) -> bool:
        return self[0] <= int(other)

    def __gt__(self, other: Any) -> bool:
        return self[0] > int(other)

    def __ge__(self, other: Any) -> bool:
        return self[0] >= int(other)

    def __add__(self, other: Any) -> Any:  # type: ignore[override]
        return self[0] + other

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        return self[0] - other

    def __rsub__(self, other: Any) -> Any:
        return other - self[0]

    def __repr__(self) -> str:
        return repr(self[0])

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(self[0], spec)


def _make(data: np.ndarray, requires_grad: bool = False, grad_fn: Any = None,
          version: list | None = None, cls: type | None = None) -> Tensor:
    """Fast internal constructor: wrap an ndarray without copying."""
    t = _new(cls or Tensor)
    t._data = data
    t._requires_grad = requires_grad
    t.grad_fn = grad_fn
    t._version = version if version is not None else _Version((0,))
    t._id = next(_tensor_ids)
    if events._subscribers and not _quiet[0]:
        _emit_created(t)
    return t


_new = object.__new__


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        arr = data._data.copy()
    else:
        if isinstance(data, (list, tuple)) and _contains_tensor(data):
            data = _untensor(data)
        arr = np.array(data)
    if dtype is not None:
        return arr.astype(_dtype.as_dtype(dtype).np, copy=False)
    if arr.dtype.kind == "f":
        if not isinstance(data, (np.ndarray, Tensor)) or isinstance(data, np.generic):
            return arr.astype(_dtype.default_float.np, copy=False)
        return arr
    if arr.dtype.kind in "iu" and arr.dtype not in (np.uint8, np.int8, np.int16, np.int32):
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind in "iu":
        return arr if isinstance(data, np.ndarray) else arr.astype(np.int64)
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise TypeError(f"Could not infer dtype of {type(data).__name__}")
    if arr.dtype.kind == "c":
        raise TypeError("complex tensors are not supported by the engine")
    return arr


def _contains_tensor(seq: Sequence) -> bool:
    return any(isinstance(x, Tensor) or (isinstance(x, (list, tuple)) and _contains_tensor(x))
               for x in seq)


def _untensor(seq: Any) -> Any:
    if isinstance(seq, Tensor):
        if seq._data.ndim:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return seq._data.item()
    if isinstance(seq, (list, tuple)):
        return [_untensor(x) for x in seq]
    return seq


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """Build a tensor from nested lists, numbers or arrays (always a copy), as ``torch.tensor``."""
    if device is not None:
        check_device(device)
    if isinstance(data, Tensor):
        warnings.warn(
            "To copy construct from a tensor, it is recommended to use sourceTensor.detach()."
            "clone() or sourceTensor.detach().clone().requires_grad_(True), rather than "
            "torch.tensor(sourceTensor).", UserWarning, stacklevel=2)
    arr = _to_array(data, dtype)
    if isinstance(data, np.ndarray) and arr is data:
        arr = arr.copy()
    if requires_grad and arr.dtype.kind != "f":
        raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                           "gradients")
    return _make(arr, bool(requires_grad))


class Tensor:
    """A multi-dimensional array that can record the operations made on it (PyTorch's Tensor)."""

    __slots__ = ("_data", "_requires_grad", "grad_fn", "_version", "_id", "__weakref__",
                 "__dict__")
    # set on few tensors: class defaults, overridden in the instance dict when used
    _grad = None
    _retains_grad = False
    _hooks = None
    _accum = None
    _output_nr = 0
    _base = None
    __array_priority__ = 1000
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operator

    def __new__(cls, *args: Any, **kwargs: Any) -> Tensor:
        if cls is Tensor:  # torch.Tensor(2, 3), torch.Tensor([1, 2]): legacy float32 factory
            return _up.legacy_new(_dtype.float32, args, kwargs)
        return super().__new__(cls)

    # ----- basic attributes
    @property
    def data(self) -> Tensor:
        """The same storage, detached from the graph, with a version counter of its own."""
        return _make(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Size | int:
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    @property
    def dtype(self) -> _DType:
        return _dtype.from_numpy_dtype(self._data.dtype)

    @property
    def device(self) -> Any:
        """``device(type='cpu')``: engine tensors live in host memory."""
        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def get_device(self) -> int:
        return -1

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    def nelement(self) -> int:
        return int(self._data.size)

    def element_size(self) -> int:
        return self._data.itemsize

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (their grad lands in ``.grad``)."""
        return self.grad_fn is None

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.grad_fn is None and self._data.dtype.kind != "f":
            _raise(RuntimeError("only Tensors of floating point and complex dtype can require "
                                "gradients"), tensor=self)
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Switch gradient tracking for a leaf (in place); refused on non-leaves as in torch."""
        requires_grad = bool(requires_grad)
        if self.grad_fn is not None:
            if requires_grad:
                return self
            _raise(RuntimeError(LEAF_REQUIRES_GRAD_MESSAGE), tensor=self)
        if requires_grad and self._data.dtype.kind != "f":
            _raise(RuntimeError("only Tensors of floating point dtype can require gradients"),
                   tensor=self)
        if requires_grad != self._requires_grad:
            self._requires_grad = requires_grad
            if events._subscribers:
                events.emit("requires_grad_changed", tensor_id=self._id,
                            requires_grad=requires_grad)
        return self

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor in the next backward."""
        if not self._requires_grad:
            _raise(RuntimeError("can't retain_grad on Tensor that has requires_grad=False"),
                   tensor=self)
        if self.grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True
        if self.grad_fn._multi:  # one slot per output
            if self.grad_fn._retain is None:
                self.grad_fn._retain = {}
            self.grad_fn._retain[self._output_nr] = weakref.ref(self)
        else:
            self.grad_fn._retain = weakref.ref(self)
        self.grad_fn._has_hooks = True

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient: None until a backward reaches this leaf."""
        if self.grad_fn is not None and not self._retains_grad and self._grad is None:
            warnings.warn(NONLEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad "
                                f"of type {type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError("assigned grad has data of a different size")
            if value._data.dtype != self._data.dtype:
                raise RuntimeError("assigned grad has data of a different type")
        self._grad = value
        if value is not None:
            _own_grad(self, value)
        if events._subscribers:
            events.emit("grad_changed", tensor_id=self._id,
                        reason="none" if value is None else "assigned",
                        value=events.value_of(value))

    @property
    def _version_count(self) -> int:
        return self._version[0]

    @property
    def output_nr(self) -> int:
        return self._output_nr

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Handle:
        """``hook(grad)`` runs when this tensor's gradient is computed; it may return a new one."""
        if not self._requires_grad:
            _raise(RuntimeError("cannot register a hook on a tensor that doesn't require "
                                "gradient"), tensor=self)
        if self.grad_fn is not None:
            fn = self.grad_fn
            if fn._tensor_prehooks is None:
                fn._tensor_prehooks = []
                fn._has_hooks = True
            entry = (self._output_nr, hook) if fn._multi else hook
            fn._tensor_prehooks.append(entry)
            return Handle(fn._tensor_prehooks, entry)
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return Handle(self._hooks, hook)

    @property
    def _backward_hooks(self) -> dict[int, Callable] | None:
        """The hooks ``register_hook`` put on this tensor, in order (torch's attribute of that
        name); None if none was ever registered."""
        fn = self.grad_fn
        if fn is None:
            hooks = self._hooks
        elif fn._tensor_prehooks is None:
            hooks = None
        elif fn._multi:
            hooks = [h for nr, h in fn._tensor_prehooks if nr == self._output_nr]
        else:
            hooks = fn._tensor_prehooks
        return None if hooks is None else dict(enumerate(hooks))

    # ----- leaving the graph
    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's storage and version counter, outside the graph."""
        return _make(self._data, False, None, self._version)

    def detach_(self) -> Tensor:
        """Make this tensor a leaf that does not require grad, in place."""
        self.grad_fn = None
        self._requires_grad = False
        if events._subscribers:
            events.emit("requires_grad_changed", tensor_id=self._id, requires_grad=False)
        return self

    def numpy(self, *, force: bool = False) -> np.ndarray:
        if self._requires_grad and not force:
            _raise(RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                                "tensor.detach().numpy() instead."), tensor=self)
        return self._data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self._requires_grad:
            _raise(RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                                "tensor.detach().numpy() instead."), tensor=self)
        return self._data if dtype is None else self._data.astype(dtype)

    def item(self) -> float | int | bool:
        if self._data.size != 1:
            _raise(RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted "
                                "to Scalar"), tensor=self)
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __float__(self) -> float:
        if self._requires_grad and _grad_state.enabled:
            _warn_scalar_once()
        return float(self.item())

    def __complex__(self) -> complex:
        if self._requires_grad and _grad_state.enabled:
            _warn_scalar_once()
        return complex(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self._data.item())

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        fn = self.grad_fn
        return format_tensor(self._data, requires_grad=self._requires_grad and fn is None,
                             grad_fn=fn.name() if fn is not None else None)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0 and spec:
            return format(self._data.item(), spec)
        return repr(self)

    def __deepcopy__(self, memo: dict) -> Tensor:
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment.  If you were "
                               "attempting to deepcopy a module, this may be because of a "
                               "torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        t = _make(self._data.copy(), self._requires_grad, cls=type(self))
        if self._grad is not None:
            t._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = t
        return t

    # ----- dtype conversions
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``: self when nothing
        changes; a device other than cpu raises torch's CPU-only error."""
        dt = kwargs.get("dtype")
        if "device" in kwargs:
            check_device(kwargs["device"])
        for a in args:
            if isinstance(a, _DType):
                dt = a
            elif isinstance(a, Tensor):
                dt = a.dtype
            elif isinstance(a, (str, device)):
                check_device(a)
        if kwargs.get("copy"):
            return _up.clone(self) if dt is None else _up.to_dtype(self, _dtype.as_dtype(dt))
        if dt is None or _dtype.as_dtype(dt).np == self._data.dtype:
            return self
        return _up.to_dtype(self, _dtype.as_dtype(dt))

    def type(self, dtype: Any = None, non_blocking: bool = False, **_: Any) -> Any:
        """No argument: the type name (``torch.FloatTensor``); else a converted tensor (a dtype,
        ``engine.DoubleTensor`` or its name)."""
        if dtype is None:
            return f"torch.{self.dtype._tensor_type}"
        target = _up.type_target(dtype)
        return self.to(target if target is not None else dtype)

    def float(self) -> Tensor:
        return self.to(_dtype.float32)

    def double(self) -> Tensor:
        return self.to(_dtype.float64)

    def half(self) -> Tensor:
        return self.to(_dtype.float16)

    def long(self) -> Tensor:
        return self.to(_dtype.int64)

    def int(self) -> Tensor:
        return self.to(_dtype.int32)

    def bool(self) -> Tensor:
        return self.to(_dtype.bool_)

    def cpu(self, memory_format: Any = None) -> Tensor:
        return self

    def cuda(self, device: Any = None, non_blocking: bool = False, **_: Any) -> Tensor:
        """Fails as on a CPU-only torch: ``AssertionError: Torch not compiled with CUDA
        enabled``."""
        raise AssertionError(NO_CUDA_MESSAGE)

    def contiguous(self, memory_format: Any = None) -> Tensor:
        """Self when already laid out row-major, else a contiguous copy (CloneBackward0)."""
        if self._data.flags.c_contiguous:
            return self
        return _up.clone(self, contiguous=True)

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None) -> Tensor:
        return _up.zeros(*size, dtype=dtype or self.dtype)

    def new_ones(self, *size: Any, dtype: Any = None) -> Tensor:
        return _up.ones(*size, dtype=dtype or self.dtype)

    # ----- backward
    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Sequence[Tensor] | None = None) -> None:
        """Compute the gradient of this tensor w.r.t. the graph leaves (adds into ``.grad``)."""
        _up.backward(self, gradient, retain_graph, create_graph, inputs=inputs)


def _own_grad(owner: Tensor, grad: Tensor) -> None:
    """Remember whose ``.grad`` this is, so ``owner.grad.zero_()`` reports a grad change."""
    grad.__dict__["_grad_owner"] = weakref.ref(owner)


def _wrap_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n


def _raise(exc: BaseException, tensor: Tensor | None = None, node: Any = None) -> None:
    """Raise ``exc`` after telling subscribers (the app marks the tensor or node)."""
    if events._subscribers:
        events.emit("error", error_type=type(exc).__name__, message=str(exc),
                    tensor_id=tensor._id if tensor is not None else None,
                    node_id=node._id if node is not None else None)
    raise exc


def _requires_recording(*xs: Any) -> bool:
    if not _grad_state.enabled:
        return False
    for x in xs:
        if isinstance(x, Tensor) and x._requires_grad:
            return True
    return False


# What users see is torch's names: repr(type(t)) is <class 'torch.Tensor'>, torch.Size likewise.
Tensor.__module__ = "torch"
Size.__module__ = "torch"
