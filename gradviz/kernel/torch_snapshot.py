"""Plain-data snapshots of real torch tensors, grad_fn nodes and backward walks.

The same records as ``gradviz.kernel.snapshot.Snapshotter`` makes for the engine (the window
cannot tell them apart), built from torch's own objects: ``grad_fn``, ``next_functions``,
``node.name()``, ``AccumulateGrad.variable``, the ``_saved_*`` attributes (or a custom
Function's ``saved_tensors``), and ``.detach().cpu().numpy()`` for values.

Ids: torch tensors get a number on first sight, kept per object (a map from ``id()`` checked
by a weak reference, so a reused address gets a new number); nodes cannot be weakly referenced
and their Python wrappers may come and go, so their number lives in the node's own
``metadata`` dict (``"gradviz.id"``), which torch keeps with the C++ node.

Module grouping: :func:`track_modules` installs global forward hooks that tag each node a
module's forward created with that module (``metadata["gradviz.module"]``); a snapshot names
it by its qualified name in the namespace's models (``"layer1.0.conv1"``).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from gradviz.kernel import snapshot as _snapshot
from gradviz.kernel.snapshot import (
    LAZY,
    MAX_ELEMENTS,
    SOURCE_KEY,
    VALUE_KEY,
    VALUE_LIMIT,
    _repr,
    _short,
    annotate_outputs,
    encode_array,
    gc_paused,
    getter_of,
    module_tree,
    node_extras,
    node_rule,
    share_rules,
    short_text,
    user_frame,
)

__all__ = ["TorchIds", "TorchSnapshotter", "IDS", "tensor_array", "track_modules",
           "track_sources",
           "module_names", "node_module"]

ID_KEY = "gradviz.id"
#: torch's repr for unnamed tensors up to this many elements (see TorchSnapshotter._text)
REPR_LIMIT = 64
MODULE_KEY = "gradviz.module"


class TorchIds:
    """Stable small integers for torch tensors and autograd nodes (see the module doc)."""

    def __init__(self) -> None:
        self._tensors: dict[int, tuple[weakref.ref, int]] = {}
        self._tcount = itertools.count(1)
        self._ncount = itertools.count(1)
        self._nodes_nometa: dict[int, tuple[Any, int]] = {}  # nodes without metadata (rare)
        self._saved: dict[tuple[int, str], int] = {}
        self._lock = threading.Lock()

    def tensor(self, t: Any) -> int:
        key = id(t)
        e = self._tensors.get(key)
        if e is not None and e[0]() is t:
            return e[1]
        with self._lock:
            n = next(self._tcount)

            def drop(r: weakref.ref, key: int = key) -> None:
                cur = self._tensors.get(key)
                if cur is not None and cur[0] is r:
                    del self._tensors[key]

            self._tensors[key] = (weakref.ref(t, drop), n)
        return n

    def saved(self, t: Any, node_id: int, key: str) -> int:
        """The id of a saved tensor: torch unpacks most of them into a new tensor object at
        each access, so the id is that of the object when it is a known one, else it stays
        with (node, name)."""
        e = self._tensors.get(id(t))
        if e is not None and e[0]() is t:
            return e[1]
        n = self._saved.get((node_id, key))
        if n is None:
            n = self._saved[(node_id, key)] = self.tensor(t)
        return n

    def node(self, n: Any) -> int:
        try:
            meta = n.metadata
        except Exception:  # noqa: BLE001 - a node type without metadata: kept alive here
            e = self._nodes_nometa.get(id(n))
            if e is not None and e[0] is n:
                return e[1]
            with self._lock:
                nid = next(self._ncount)
                self._nodes_nometa[id(n)] = (n, nid)
            return nid
        nid = meta.get(ID_KEY)
        if nid is None:
            with self._lock:
                nid = meta[ID_KEY] = next(self._ncount)
        return nid


#: the ids of this process (a kernel shows one torch world)
IDS = TorchIds()


_DTYPE_NAMES: dict[Any, str] = {}


def _dtype_name(t: Any) -> str:
    dt = t.dtype
    name = _DTYPE_NAMES.get(dt)
    if name is None:
        name = _DTYPE_NAMES[dt] = str(dt).rsplit(".", 1)[-1]
    return name


_TORCH: list[Any] = []  # the torch module, imported on first use (an import costs microseconds)
_NUMPY_READY: set[Any] = set()  # torch dtypes whose .numpy() is the value as it is


def _torch() -> Any:
    if not _TORCH:
        import torch

        _TORCH.append(torch)
        _NUMPY_READY.update((torch.float32, torch.float64, torch.float16, torch.int64,
                             torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool,
                             torch.complex64, torch.complex128))
    return _TORCH[0]


def tensor_array(t: Any, limit: int | None = None) -> np.ndarray | None:
    """A copy of ``t``'s values as numpy (its first ``limit`` values, flat, if given);
    bfloat16 and other types numpy lacks as float32."""
    if t is None:
        return None
    torch = _torch()
    d = t.detach()
    if (d.dtype in _NUMPY_READY and d.layout == torch.strided and d.device.type == "cpu"
            and not d.is_conj() and not d.is_neg() and type(d) is torch.Tensor):
        a = d.numpy()  # the fast path: a strided CPU tensor's own memory, then copied
        if limit is not None:
            a = a.reshape(-1)[:limit]
        return a.copy()
    with torch.no_grad():
        d = t.detach()
        if getattr(d, "is_sparse", False):
            d = d.to_dense()
        if limit is not None:
            d = d.reshape(-1)[:limit]
        d = d.cpu().resolve_conj().resolve_neg()
        if d.dtype in (torch.bfloat16,) or d.dtype.is_floating_point and d.element_size() == 1:
            d = d.float()
        try:
            return d.numpy().copy()
        except (TypeError, RuntimeError):
            return d.float().numpy().copy()


def array_record(t: Any, limit: int = MAX_ELEMENTS) -> dict[str, Any] | None:
    """A torch tensor as ``snapshot.encode_array`` encodes an array (first ``limit`` values)."""
    if t is None:
        return None
    if isinstance(t, np.ndarray):
        return encode_array(t, limit)
    shape = [int(s) for s in t.shape]
    try:
        head = tensor_array(t, limit)
    except Exception:  # noqa: BLE001 - a tensor torch cannot read back (meta...): shape only
        return {"shape": shape, "dtype": _dtype_name(t), "values": [], "full": False}
    numel = t.numel()
    rec = encode_array(head.reshape(-1))
    rec["shape"] = shape
    rec["full"] = numel <= limit
    return rec


# ----------------------------------------------------------------------------- modules
_tracking: dict[str, Any] = {}
_local = threading.local()


def track_modules() -> Callable[[], None]:
    """Tag every node an ``nn.Module``'s forward creates with that module (the innermost
    module wins). Idempotent; returns a function that removes the hooks."""
    import torch
    from torch.nn.modules import module as nn_module

    if "handles" in _tracking:
        return _untrack
    seq = torch._C._autograd._get_sequence_nr

    def pre(module: Any, args: Any) -> None:
        stack = getattr(_local, "stack", None)
        if stack is None:
            stack = _local.stack = []
        stack.append((module, seq()))

    def post(module: Any, args: Any, output: Any) -> None:
        stack = getattr(_local, "stack", None)
        start = None
        while stack:
            m, s = stack.pop()
            if m is module:
                start = s
                break
        if start is None or not torch.is_grad_enabled():
            return
        _tag(module, start, output)

    _tracking["handles"] = (nn_module.register_module_forward_pre_hook(pre),
                            nn_module.register_module_forward_hook(post))
    return _untrack


def track_sources() -> Callable[[], None]:
    """Note on each node torch records the user's line that made it and, for small outputs, a
    copy of the value (micrograd-style view): a global ``TorchFunctionMode`` that looks at
    each result with a grad_fn. Idempotent; returns the undo."""
    import torch
    from torch.overrides import TorchFunctionMode

    if "sources" in _tracking:
        return _untrack_sources

    class _Sources(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            fn = getattr(out, "grad_fn", None) if isinstance(out, torch.Tensor) else None
            if fn is not None:
                try:
                    meta = fn.metadata
                    if SOURCE_KEY not in meta:
                        src = user_frame(1)
                        if src is not None:
                            meta[SOURCE_KEY] = src
                        if out.numel() <= VALUE_LIMIT:
                            meta[VALUE_KEY] = out.detach().cpu().numpy().copy()
                except Exception:  # noqa: BLE001 - never break the user's op
                    pass
            return out

    mode = _Sources()
    mode.__enter__()
    _tracking["sources"] = mode
    return _untrack_sources


def _untrack_sources() -> None:
    mode = _tracking.pop("sources", None)
    if mode is not None:
        mode.__exit__(None, None, None)


def _untrack() -> None:
    for h in _tracking.pop("handles", ()):
        h.remove()


def _outputs(out: Any, acc: list) -> None:
    if hasattr(out, "grad_fn") and hasattr(out, "requires_grad"):
        fn = out.grad_fn
        if fn is not None:
            acc.append(fn)
    elif isinstance(out, (tuple, list)):
        for o in out:
            _outputs(o, acc)
    elif isinstance(out, Mapping):
        for o in out.values():
            _outputs(o, acc)


def _tag(module: Any, start: int, output: Any) -> None:
    stack: list = []
    _outputs(output, stack)
    if not stack:
        return
    ref = weakref.ref(module)
    seen: set[int] = set()
    keep = []  # the wrappers stay alive while we walk, so their ids stay unique
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        keep.append(n)
        try:
            if n._sequence_nr() < start or n.name() == "torch::autograd::AccumulateGrad":
                continue
            meta = n.metadata
        except Exception:  # noqa: BLE001 - a node without these: not grouped
            continue
        if MODULE_KEY not in meta:
            meta[MODULE_KEY] = ref
        stack.extend(f for f, _ in n.next_functions if f is not None)


def module_names(namespace: Mapping[str, Any] | None) -> tuple[dict[int, str], dict[int, str]]:
    """(id(module) -> qualified name, id(parameter) -> owning module's name) over the
    ``nn.Module``s of ``namespace``; names are relative to the outermost models (prefixed with
    the variable name when there are several)."""
    mods: dict[int, str] = {}
    params: dict[int, str] = {}
    if not namespace:
        return mods, params
    try:
        import torch
    except ImportError:
        return mods, params
    tops = [(k, v) for k, v in namespace.items()
            if isinstance(v, torch.nn.Module) and not k.startswith("_")]
    inner: set[int] = set()
    for _, m in tops:
        for sub in m.modules():
            if sub is not m:
                inner.add(id(sub))
    tops = [(k, m) for k, m in tops if id(m) not in inner]
    prefix = len(tops) > 1
    for k, m in tops:
        for q, sub in m.named_modules():
            name = (f"{k}.{q}" if q else k) if prefix else q
            mods.setdefault(id(sub), name)
            for _pn, p in sub.named_parameters(recurse=False):
                params.setdefault(id(p), name)
    return mods, params


def node_module(n: Any, mods: Mapping[int, str]) -> str | None:
    """The qualified name of the module whose forward created ``n``, if known."""
    try:
        ref = n.metadata.get(MODULE_KEY)
    except Exception:  # noqa: BLE001
        return None
    m = ref() if ref is not None else None
    if m is None:
        return None
    return mods.get(id(m))


# ----------------------------------------------------------------------------- snapshots
class TorchSnapshotter:
    """Collects the tensors and nodes that one update needs, each once, by stable id."""

    def __init__(self, names: Mapping[int, str], namespace: Mapping[str, Any] | None = None,
                 ids: TorchIds = IDS) -> None:
        self.names = names
        self.ids = ids
        self.tensors: dict[int, dict[str, Any]] = {}
        self.nodes: dict[int, dict[str, Any]] = {}
        # one walk of the models (module_names' names, and the parameters' own names)
        self._mods, self._params, self._pnames = module_tree(namespace)
        self._keep: list = []  # node wrappers referenced while this snapshot lives
        self._named = [v for v in (namespace or {}).values() if _is_tensor(v)]
        self._views: dict[tuple, Any] | None = None
        self._ptrs: set[int] = set()
        self._lazy = LAZY.begin()
        self._eager = _snapshot.EAGER_REPRS

    # ----- tensors
    def tensor(self, t: Any, deep: bool = False) -> int:
        """Record tensor ``t``; ``deep`` also records its whole graph. Returns its id."""
        # the kernel's own reads: no TorchFunctionMode (track_sources) sees them
        with _quiet(), gc_paused():
            tid = self.ids.tensor(t)
            if tid not in self.tensors:
                self._record(t, tid)
            if deep and t.grad_fn is not None:
                self.graph(t.grad_fn)
        return tid

    def _record(self, t: Any, tid: int, get: Callable[[], Any] | None = None) -> None:
        fn = t.grad_fn
        # the grad read only where torch does not warn about reading it
        grad = t.grad if fn is None or t.retains_grad else None
        hooks = len(getattr(t, "_backward_hooks", None) or ()) + \
            len(getattr(t, "_post_accumulate_grad_hooks", None) or ())
        rec = {
            "id": tid, "name": self.names.get(tid),
            "shape": [int(s) for s in t.shape], "dtype": _dtype_name(t),
            "requires_grad": bool(t.requires_grad),
            "retains_grad": bool(t.retains_grad),
            "grad_fn": self.ids.node(fn) if fn is not None else None,
            "grad_fn_name": fn.name() if fn is not None else None,
            "version": int(t._version), "hooks": hooks,
            "data": array_record(t), "grad": array_record(grad),
        }
        if self._eager_text(t, tid):
            rec["repr"] = _repr(t)
            rec["grad_repr"] = _repr(grad) if grad is not None else None
        else:  # torch's repr when the window asks (tensor_texts); its size till then
            dflt = str(_default_dtype()).rsplit(".", 1)[-1]
            rec["repr"] = short_text(rec, dflt)
            rec["grad_repr"] = short_text({"shape": rec["grad"]["shape"],
                                           "dtype": rec["dtype"]}, dflt) \
                if grad is not None else None
            rec["lazy"] = True
            self._lazy[tid] = get or getter_of(t)
        pname = self._pnames.get(id(t))
        if pname is not None:
            rec["param"] = pname
        self.tensors[tid] = rec

    def _eager_text(self, t: Any, tid: int) -> bool:
        """Whether the record carries torch's repr now: a named tensor's always, a small
        one's while this snapshot's budget (``EAGER_REPRS``) lasts; a big unnamed tensor's
        (a saved one, say) only when the window asks."""
        if tid in self.names:
            return True
        if self._eager > 0 and t.numel() <= REPR_LIMIT:
            self._eager -= 1
            return True
        return False

    # ----- nodes
    def graph(self, fn: Any) -> None:
        """Record ``fn`` and every node reachable through ``next_functions``."""
        stack = [fn]
        while stack:
            n = stack.pop()
            if n is None or self.ids.node(n) in self.nodes:
                continue
            self.node(n)
            stack.extend(nxt for nxt, _ in n.next_functions if nxt is not None)

    def node(self, n: Any) -> int:
        nid = self.ids.node(n)
        if nid in self.nodes:
            return nid
        self._keep.append(n)
        nexts = n.next_functions
        cls = type(n)
        fwd = getattr(n, "_forward_cls", None)
        rec: dict[str, Any] = {
            "id": nid, "name": n.name(),
            "next": [[self.ids.node(nxt) if nxt is not None else None, int(nr)]
                     for nxt, nr in nexts],
            "hooks": 0, "prehooks": 0, "tensor_prehooks": 0,
            "freed": False, "freed_names": [],
            "fn_cls": getattr(fwd, "__name__", None),
            "attrs": {},
        }
        self.nodes[nid] = rec  # before recursing: graphs share nodes
        var = getattr(n, "variable", None) if rec["name"].endswith("AccumulateGrad") else None
        if var is not None:
            rec["variable"] = self.tensor(var)
            mod = self._params.get(id(var))
        else:
            mod = node_module(n, self._mods)
        if mod is not None:
            rec["module"] = mod
        node_extras(n, rec)
        attrs: dict[str, str] = {}
        saved: Any = []
        if fwd is not None:  # a custom autograd.Function: ctx attributes and saved_tensors
            try:
                attrs.update({k: _short(v) for k, v in sorted(vars(n).items())
                              if not k.startswith("_")})
            except TypeError:
                pass
            try:
                saved = {"list": [self._value(v, (nid, f"saved[{i}]"),
                                              lambda n=n, i=i: n.saved_tensors[i])
                                  for i, v in enumerate(n.saved_tensors)]}
            except RuntimeError:
                rec["freed"] = True
                rec["freed_names"] = ["saved_tensors"]
        else:
            for attr in _saved_attrs(cls, n):
                key = attr[len("_saved_"):]
                try:
                    v = getattr(n, attr)
                except RuntimeError:  # freed by a backward without retain_graph
                    rec["freed"] = True
                    rec["freed_names"].append(key)
                    continue
                except Exception:  # noqa: BLE001 - unreadable: skipped
                    continue
                if _is_tensor(v) or (isinstance(v, (tuple, list)) and v
                                     and all(_is_tensor(x) for x in v)):
                    saved.append([key, self._value(v, (nid, key),
                                                   lambda n=n, a=attr: getattr(n, a))])
                else:
                    attrs[key] = _short(v)
        rec["attrs"] = attrs
        rec["saved"] = saved
        rec["rule"] = node_rule(n)
        return nid

    def _value(self, v: Any, where: tuple[int, str] | None = None,
               get: Callable[[], Any] | None = None) -> Any:
        if _is_tensor(v):
            if where is None:
                return {"tensor": self.tensor(v)}
            return {"tensor": self._saved_tensor(v, *where, get=get)}
        if isinstance(v, (tuple, list)):
            return {"tuple": [self._value(x, None if where is None else
                                          (where[0], f"{where[1]}[{i}]"),
                                          None if get is None else
                                          (lambda get=get, i=i: get()[i]))
                              for i, x in enumerate(v)]}
        return {"text": _short(v)}

    def _saved_tensor(self, t: Any, node_id: int, key: str,
                      get: Callable[[], Any] | None = None) -> int:
        """A saved tensor: a named tensor of the same memory and view is that tensor."""
        if self._views is None:
            self._views = {}
            for obj in self._named:
                k = _view_key(obj)
                if k is not None:
                    self._views.setdefault(k, obj)
            self._ptrs = {k[0] for k in self._views}
        if self._ptrs:
            try:
                ptr = t.data_ptr()
            except Exception:  # noqa: BLE001 - no storage (meta, sparse...)
                ptr = None
            if ptr in self._ptrs:  # the whole key only for a named tensor's memory
                same = self._views.get(_view_key(t))
                if same is not None:
                    return self.tensor(same)
        tid = self.ids.saved(t, node_id, key)
        if tid not in self.tensors:
            self._record(t, tid, get)
        return tid

    # ----- steps
    def steps(self, steps: Iterable[Any]) -> list[dict[str, Any]]:
        with _quiet(), gc_paused():
            return self._steps(steps)

    def _steps(self, steps: Iterable[Any]) -> list[dict[str, Any]]:
        out = []
        for s in steps:
            self.node(s.node)
            var = s.variable
            gouts = s._gouts_t
            first = next((g for g in gouts if g is not None), None)
            rec = {
                "index": s.index, "node": self.ids.node(s.node),
                "gout": array_record(first),
                "gin": [array_record(g) for g in s._gins_t],
                "variable": self.tensor(var) if var is not None else None,
                "before": array_record(s._before_t) if s.is_accumulate else None,
                "after": array_record(s._after_t) if s.is_accumulate else None,
            }
            if len(gouts) > 1:
                rec["gouts"] = [array_record(g) for g in gouts]
            out.append(rec)
        return out

    def payload(self) -> dict[str, Any]:
        annotate_outputs(self.tensors, self.nodes)
        share_rules(self.nodes.values())
        return {"tensors": list(self.tensors.values()), "nodes": list(self.nodes.values())}


_SAVED: dict[type, tuple[str, ...]] = {}


def _saved_attrs(cls: type, n: Any) -> tuple[str, ...]:
    attrs = _SAVED.get(cls)
    if attrs is None:
        attrs = _SAVED[cls] = tuple(a for a in dir(n) if a.startswith("_saved_"))
    return attrs


def _quiet() -> Any:
    """A context without torch-function handling (modes, subclasses' hooks)."""
    return _torch()._C.DisableTorchFunction()


def _default_dtype() -> Any:
    return _torch().get_default_dtype()


def _view_key(t: Any) -> tuple | None:
    try:
        return (t.data_ptr(), tuple(t.shape), tuple(t.stride()), str(t.dtype), str(t.device))
    except Exception:  # noqa: BLE001 - no storage (meta, sparse...)
        return None


def _is_tensor(v: Any) -> bool:
    return isinstance(v, _torch().Tensor)
