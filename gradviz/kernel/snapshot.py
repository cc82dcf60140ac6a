"""Plain-data snapshots of the kernel's tensors, grad_fn nodes and backward walks.

The window never touches an engine object: the kernel turns what it shows into dicts of
numbers and strings (JSON-safe), and the window wraps them in read-only views
(``gradviz.qt.remote``). Arrays larger than ``MAX_ELEMENTS`` travel as their first elements
only, with the true shape, so a 1M-element tensor costs a few kilobytes per update.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import gc
import math
import os
import sys
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from engine import events
from engine.events import id_of
from gradviz.formatting import short_repr

__all__ = ["EAGER_REPRS", "LAZY", "MAX_ELEMENTS", "MODULE_KEY", "SOURCE_KEY", "VALUE_KEY",
           "Snapshotter",
           "annotate_outputs", "array_record", "encode_array", "fill_texts", "module_tree",
           "tensor_texts", "track_engine_modules", "track_engine_sources", "user_frame"]

#: node metadata keys the kernel sets: the nn.Module whose forward made the node (a weakref),
#: the user's (file, line, text) of the op, and a small copy of the op's output value
MODULE_KEY = "gradviz.module"
SOURCE_KEY = "gradviz.source"
VALUE_KEY = "gradviz.value"
#: outputs up to this many elements keep a copy of their value for the micrograd-style view
VALUE_LIMIT = 64

MAX_ELEMENTS = 4096


_NP_NAMES: dict[np.dtype, str] = {}


def encode_array(a: Any, limit: int = MAX_ELEMENTS) -> dict[str, Any] | None:
    """``{"shape", "dtype", "b64", "full"}``: the first ``limit`` values, flattened, as the
    base64 of their bytes (exact, NaN and infinities included; a fraction of a JSON list's
    size and encoding time); a complex array sends its real part."""
    if a is None:
        return None
    arr = np.asarray(a)
    flat = arr.reshape(-1)
    full = flat.size <= limit
    head = flat[:limit]
    if head.dtype.kind == "c":
        head = head.real
    elif head.dtype.kind not in "biuf" or head.dtype.itemsize > 8:
        head = head.astype(np.float64)
    dt = _NP_NAMES.get(head.dtype)
    if dt is None:
        dt = _NP_NAMES[head.dtype] = str(head.dtype)
    return {"shape": list(arr.shape), "dtype": dt,
            "b64": base64.b64encode(np.ascontiguousarray(head).tobytes()).decode("ascii"),
            "full": full}


def _num(v: float) -> float | str:
    f = float(v)
    if math.isfinite(f):
        return f
    return "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")


def array_record(t: Any) -> dict[str, Any] | None:
    """An engine tensor (or array) as an encoded array, or None."""
    if t is None:
        return None
    if hasattr(t, "numpy"):
        t = t.numpy(force=True)
    return encode_array(t)


#: a snapshot computes the reprs of this many unnamed tensors; the others' reprs (torch's repr
#: costs about a millisecond a tensor) are made when the window asks (``tensor_texts``)
EAGER_REPRS = 64


class LazyTexts:
    """The tensors whose repr the snapshots left out: id -> a getter of the tensor (a weak
    reference, or a re-read of a node's saved value), the newest ``cap`` of them, never fewer
    than twice the last snapshot's (a torch node's re-read keeps its graph alive that long;
    stepping a walk makes small snapshots between the big one and the window's asking)."""

    def __init__(self, cap: int = 20_000) -> None:
        self._getters: collections.OrderedDict[int, Callable[[], Any]] = \
            collections.OrderedDict()
        self._cap = cap
        self._count = 0

    def begin(self) -> LazyTexts:
        """A new snapshot starts adding (``table[tid] = getter``)."""
        self._count = 0
        return self

    def __setitem__(self, tid: int, getter: Callable[[], Any]) -> None:
        g = self._getters
        g[tid] = getter
        g.move_to_end(tid)
        self._count += 1
        if len(g) > max(self._cap, 2 * self._count):
            g.popitem(last=False)

    def get(self, tid: int) -> Any:
        """The tensor of ``tid``, or None when it is gone."""
        getter = self._getters.get(tid)
        if getter is None:
            return None
        try:
            return getter()
        except Exception:  # noqa: BLE001 - freed by a backward since
            return None

    def clear(self) -> None:
        self._getters.clear()


#: this process's left-out reprs (a kernel shows one world)
LAZY = LazyTexts()


def getter_of(t: Any) -> Callable[[], Any]:
    """A weak reference to ``t`` when it takes one, else ``t`` kept."""
    try:
        return weakref.ref(t)
    except TypeError:
        return lambda: t


def tensor_texts(ids: Iterable[int], text: Callable[[Any], str] | None = None
                 ) -> list[dict[str, Any]]:
    """``{"id", "repr", "grad_repr"}`` of the tensors a snapshot sent without their reprs
    (``lazy``), by id; ids no longer known are left out."""
    text = text or _repr
    out = []
    for tid in ids:
        t = LAZY.get(int(tid))
        if t is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grad = t.grad if t.grad_fn is None or t.retains_grad else None
        out.append({"id": int(tid), "repr": text(t),
                    "grad_repr": text(grad) if grad is not None else None})
    return out


def fill_texts(msg: Mapping[str, Any], text: Callable[[Any], str] | None = None) -> None:
    """Give an update's ``lazy`` tensor records their reprs now (a walk file is read with no
    kernel to ask); right after the snapshot that made them."""
    lazy = [r for r in msg.get("tensors", ()) if r.get("lazy")]
    got = {r["id"]: r for r in tensor_texts([r["id"] for r in lazy], text)}
    for rec in lazy:
        t = got.get(rec["id"])
        if t is not None:
            rec["repr"] = t["repr"]
            if rec.get("grad_repr") is not None and t.get("grad_repr") is not None:
                rec["grad_repr"] = t["grad_repr"]
            del rec["lazy"]


def short_text(rec: Mapping[str, Any], default: str = "float32") -> str:
    """``tensor([...], size=(2, 3), grad_fn=<MulBackward0>)``: the repr of a tensor record
    (``shape``, ``dtype``, ``grad_fn_name``, ``requires_grad``) until the window asks for
    torch's own."""
    dtype = rec["dtype"]
    extra = "" if dtype == default else f", dtype=torch.{dtype}"
    fn = rec.get("grad_fn_name")
    tail = f", grad_fn=<{fn}>" if fn is not None else (
        ", requires_grad=True" if rec.get("requires_grad") else "")
    return f"tensor([...], size={tuple(rec['shape'])}{extra}{tail})"


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused: a snapshot makes tens of thousands of small
    records, and collections over torch's heap falling inside it cost a third of its time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _repr(t: Any) -> str:
    try:
        return repr(t)
    except Exception as e:  # noqa: BLE001 - a broken repr is still shown
        return f"<unprintable tensor: {type(e).__name__}: {e}>"


class Snapshotter:
    """Collects the tensors and nodes that one update needs, each once, by engine id."""

    def __init__(self, names: Mapping[int, str],
                 namespace: Mapping[str, Any] | None = None) -> None:
        self.names = names
        self.tensors: dict[int, dict[str, Any]] = {}
        self.nodes: dict[int, dict[str, Any]] = {}
        self._mods, self._params, self._pnames = module_tree(namespace)
        self._lazy = LAZY.begin()
        self._eager = EAGER_REPRS

    # ----- tensors
    def tensor(self, t: Any, deep: bool = False, get: Callable[[], Any] | None = None) -> int:
        """Record tensor ``t``; ``deep`` also records its whole graph. Returns its id. ``get``
        reads ``t`` again later (its repr on demand; default a weak reference)."""
        tid = id_of(t)
        rec = self.tensors.get(tid)
        if rec is None:
            fn = t.grad_fn
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a non-leaf's .grad: the view asks, not the user
                grad = t.grad
                rec = {
                    "id": tid, "name": self.names.get(tid),
                    "shape": [int(s) for s in t.shape], "dtype": t.dtype.name,
                    "requires_grad": bool(t.requires_grad), "retains_grad": bool(t.retains_grad),
                    "grad_fn": id_of(fn),
                    "grad_fn_name": fn.name() if fn is not None else None,
                    "version": int(t._version), "hooks": len(t._backward_hooks or ()),
                    "data": array_record(t), "grad": array_record(grad),
                }
                if tid in self.names or self._eager > 0:
                    self._eager -= tid not in self.names
                    rec["repr"] = _repr(t)
                    rec["grad_repr"] = _repr(grad) if grad is not None else None
                else:
                    rec["repr"] = short_text(rec)
                    rec["grad_repr"] = short_text({"shape": rec["grad"]["shape"],
                                                   "dtype": rec["dtype"]}) \
                        if grad is not None else None
                    rec["lazy"] = True
                    self._lazy[tid] = get or getter_of(t)
            pname = self._pnames.get(id(t))
            if pname is not None:
                rec["param"] = pname
            self.tensors[tid] = rec
        if deep and t.grad_fn is not None:
            self.graph(t.grad_fn)
        return tid

    # ----- nodes
    def graph(self, fn: Any) -> None:
        """Record ``fn`` and every node reachable through ``next_functions``."""
        stack = [fn]
        with gc_paused():
            while stack:
                n = stack.pop()
                if n is None or id_of(n) in self.nodes:
                    continue
                self.node(n)
                stack.extend(nxt for nxt, _ in n.next_functions if nxt is not None)

    def node(self, n: Any) -> int:
        nid = id_of(n)
        if nid in self.nodes:
            return nid
        hooks = n.registered_hooks()
        rec: dict[str, Any] = {
            "id": nid, "name": n.name(),
            "next": [[id_of(nxt), int(nr)] for nxt, nr in n.next_functions],
            "hooks": len(hooks.hooks), "prehooks": len(hooks.prehooks),
            "tensor_prehooks": len(hooks.tensor_prehooks),
            "freed": n.is_freed, "freed_names": list(n.freed_names),
            "fn_cls": getattr(getattr(n, "_forward_cls", None), "__name__", None),
            "attrs": {k: _short(v) for k, v in sorted(vars(n).items())
                      if not k.startswith("_")},
        }
        self.nodes[nid] = rec  # before recursing: graphs share nodes
        var = getattr(n, "variable", None)
        if var is not None:
            rec["variable"] = self.tensor(var)
            mod = self._params.get(id(var))
        else:
            mod = node_module(n, self._mods)
        if mod is not None:
            rec["module"] = mod
        node_extras(n, rec)
        rec["saved"] = self._saved(n)
        rec["rule"] = node_rule(n)
        return nid

    def _saved(self, n: Any) -> Any:
        if n.is_freed:
            return []
        try:
            with events.paused():  # a saved array is wrapped in a new tensor at each read
                saved = n.saved_tensors
        except Exception:  # noqa: BLE001 - freed between checks
            return []
        ref = weakref.ref(n)
        if isinstance(saved, Mapping):
            return [[str(k), self._value(v, lambda k=k: _reread(ref, k))]
                    for k, v in saved.items()]
        if isinstance(saved, (tuple, list)):
            return {"list": [self._value(v, lambda i=i: _reread(ref, i))
                             for i, v in enumerate(saved)]}
        return []

    def _value(self, v: Any, get: Callable[[], Any] | None = None) -> Any:
        if id_of(v) is not None and hasattr(v, "grad_fn"):
            return {"tensor": self.tensor(v, get=get)}
        if isinstance(v, (tuple, list)):
            return {"tuple": [self._value(x, None if get is None else
                                          (lambda get=get, i=i: get()[i]))
                              for i, x in enumerate(v)]}
        return {"text": _short(v)}

    # ----- steps
    def steps(self, steps: Iterable[Any]) -> list[dict[str, Any]]:
        out = []
        for s in steps:
            node = s.node
            self.node(node)
            var = s.variable
            gout = s.grad_outputs
            out.append({
                "index": s.index, "node": id_of(node),
                "gout": array_record(gout[0] if len(gout) == 1 else list(gout)),
                "gin": [array_record(g) for g in s.grad_inputs],
                "variable": self.tensor(var) if var is not None else None,
                "before": array_record(s.grad_before) if s.is_accumulate else None,
                "after": array_record(s.grad_after) if s.is_accumulate else None,
            })
        return out

    def payload(self) -> dict[str, Any]:
        annotate_outputs(self.tensors, self.nodes)
        share_rules(self.nodes.values())
        return {"tensors": list(self.tensors.values()), "nodes": list(self.nodes.values())}


def share_rules(nodes: Iterable[dict[str, Any]]) -> None:
    """A rule sent once per payload: the other nodes of its kind name the first one
    (``rule_of``: its id) instead of repeating the text (half a 5,000-node graph's nodes)."""
    first: dict[int, int] = {}
    for rec in nodes:
        rule = rec.get("rule")
        if rule is None:
            continue
        owner = first.setdefault(id(rule), rec["id"])
        if owner != rec["id"]:
            del rec["rule"]
            rec["rule_of"] = owner


def _reread(ref: weakref.ref, key: Any) -> Any:
    """Node ``ref``'s saved value ``key`` read again (None once the node is gone)."""
    n = ref()
    if n is None:
        return None
    with events.paused():
        return n.saved_tensors[key]


def node_rule(n: Any) -> dict[str, Any]:
    """The node's gradient rule as data (``words``, ``symbols``, ``math``): the engine's own
    text, kept beside the op's backward (``gradviz.rules`` for torch-only nodes)."""
    from gradviz.rules import node_rule_record
    return node_rule_record(n)


def _short(v: Any, limit: int = 80) -> str:
    """A saved value that is not a tensor, as the inspector lists it (gradviz.formatting)."""
    return short_repr(v, limit)


# ----------------------------------------------------------------------------- modules, names
def module_tree(namespace: Mapping[str, Any] | None
                ) -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    """(id(module) -> qualified name, id(parameter) -> owning module's name, id(parameter) ->
    its ``named_parameters`` name) over the modules (anything with ``named_modules``) of
    ``namespace``: names relative to the outermost models, prefixed with the variable name when
    there are several."""
    mods: dict[int, str] = {}
    params: dict[int, str] = {}
    pnames: dict[int, str] = {}
    if not namespace:
        return mods, params, pnames
    tops = [(k, v) for k, v in namespace.items() if not k.startswith("_")
            and not isinstance(v, type) and callable(getattr(v, "named_modules", None))
            and callable(getattr(v, "named_parameters", None))]
    inner: set[int] = set()
    for _, m in tops:
        try:
            inner.update(id(sub) for _, sub in m.named_modules() if sub is not m)
        except Exception:  # noqa: BLE001 - not a module after all
            continue
    tops = [(k, m) for k, m in tops if id(m) not in inner]
    prefix = len(tops) > 1
    for k, m in tops:
        try:
            subs = list(m.named_modules())
        except Exception:  # noqa: BLE001
            continue
        for q, sub in subs:
            name = (f"{k}.{q}" if q else k) if prefix else q
            mods.setdefault(id(sub), name)
            for pn, p in sub.named_parameters(recurse=False):
                params.setdefault(id(p), name)
                pnames.setdefault(id(p), f"{name}.{pn}" if name else pn)
    return mods, params, pnames


def node_module(n: Any, mods: Mapping[int, str]) -> str | None:
    """The qualified name of the module whose forward created ``n``, if known."""
    try:
        ref = n.metadata.get(MODULE_KEY)
    except Exception:  # noqa: BLE001
        return None
    m = ref() if ref is not None else None
    return mods.get(id(m)) if m is not None else None


def node_extras(n: Any, rec: dict[str, Any]) -> None:
    """Add the op's source line (``source``: [file, line, text]) and its small output value
    (``value``), when the kernel noted them, to node record ``rec``."""
    try:
        meta = n.metadata
    except Exception:  # noqa: BLE001
        return
    src = meta.get(SOURCE_KEY)
    if src is not None:
        rec["source"] = list(src)
    val = meta.get(VALUE_KEY)
    if val is not None:
        rec["value"] = encode_array(val)


def annotate_outputs(tensors: Mapping[int, dict[str, Any]],
                     nodes: Mapping[int, dict[str, Any]]) -> None:
    """Name each node after the named tensor it made (``var``: ``y`` on y's grad_fn)."""
    for rec in tensors.values():
        name, fn = rec.get("name"), rec.get("grad_fn")
        if name and fn is not None and fn in nodes:
            nodes[fn].setdefault("var", name)


def _library_dirs() -> tuple[str, ...]:
    import site
    import sysconfig

    dirs = {os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # gradviz/
            os.path.dirname(os.__file__), os.path.dirname(os.path.dirname(np.__file__))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        d = sysconfig.get_paths().get(key)
        if d:
            dirs.add(d)
    try:
        dirs.update(site.getsitepackages())
    except AttributeError:  # a virtualenv's old site module
        pass
    eng = sys.modules.get("engine")
    if eng is not None and getattr(eng, "__file__", None):
        dirs.add(os.path.dirname(os.path.abspath(eng.__file__)))
    return tuple(sorted(d.rstrip(os.sep) + os.sep for d in dirs))


_SKIP: tuple[str, ...] = ()


def user_frame(depth: int = 1) -> tuple[str, int, str] | None:
    """(file, line, source text) of the innermost frame of the user's code: the first caller
    outside the standard library, installed packages, gradviz and the engine."""
    global _SKIP
    if not _SKIP:
        _SKIP = _library_dirs()
    try:
        f = sys._getframe(depth + 1)
    except ValueError:
        return None
    skip = _skip_file
    for _ in range(60):
        if f is None:
            return None
        code = f.f_code
        lib = skip.get(code)
        if lib is None:
            fn = code.co_filename
            lib = skip[code] = fn.startswith(_SKIP) or fn.startswith("<frozen")
        if not lib:
            key = (code, f.f_lineno)
            hit = _lines.get(key)
            if hit is None:
                import linecache

                fn = code.co_filename
                hit = (fn, f.f_lineno, linecache.getline(fn, f.f_lineno).strip())
                if len(_lines) < 100_000:
                    _lines[key] = hit
            return hit
        f = f.f_back
    return None


_skip_file: dict[Any, bool] = {}  # code object -> in a library (not the user's code)
_lines: dict[tuple[Any, int], tuple[str, int, str]] = {}


_engine_tracking: dict[str, Any] = {}


def track_engine_modules() -> Callable[[], None]:
    """Tag every node an engine ``nn.Module``'s forward creates with that module (the innermost
    wins), as torch_snapshot.track_modules does for torch. Idempotent; returns the undo."""
    from engine.autograd import next_node_id as next_id
    from engine.nn.modules import Module

    if "call" in _engine_tracking:
        return _untrack_engine_modules
    original = Module.__call__

    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        start = next_id()
        out = original(self, *args, **kwargs)
        _tag_engine(self, start, out)
        return out

    __call__.__wrapped__ = original  # type: ignore[attr-defined]
    Module.__call__ = __call__
    _engine_tracking["call"] = (Module, original)
    return _untrack_engine_modules


def _untrack_engine_modules() -> None:
    cls_orig = _engine_tracking.pop("call", None)
    if cls_orig is not None:
        cls_orig[0].__call__ = cls_orig[1]


def _tag_engine(module: Any, start: int, out: Any) -> None:
    stack: list = []
    todo = [out]
    while todo:
        o = todo.pop()
        fn = getattr(o, "grad_fn", None) if hasattr(o, "requires_grad") else None
        if fn is not None:
            stack.append(fn)
        elif isinstance(o, (tuple, list)):
            todo.extend(o)
        elif isinstance(o, Mapping):
            todo.extend(o.values())
    if not stack:
        return
    ref = weakref.ref(module)
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        nid = id_of(n)
        if nid is None or nid < start or nid in seen or hasattr(n, "variable"):
            continue
        seen.add(nid)
        meta = n.metadata
        if MODULE_KEY not in meta:
            meta[MODULE_KEY] = ref
        stack.extend(f for f, _ in n.next_functions if f is not None)


def track_engine_sources() -> Callable[[], None]:
    """Note on every engine node the user's line that made it and, for small outputs, a copy
    of the value (for the micrograd-style view). Returns the undo."""
    global _SKIP
    from engine import events

    if "sources" in _engine_tracking:
        return _untrack_engine_sources
    _SKIP = _library_dirs()
    _skip_file.clear()

    def on_event(ev: Any) -> None:
        if getattr(ev, "kind", None) != "op_recorded":
            return
        f = sys._getframe(1)
        for _ in range(8):  # up to engine.function.record, whose locals hold the node
            if f is None or f.f_code.co_name == "record":
                break
            f = f.f_back
        if f is None:
            return
        loc = f.f_locals
        node, result = loc.get("node"), loc.get("result")
        if node is None:
            return
        meta = node.metadata
        src = user_frame(1)
        if src is not None:
            meta[SOURCE_KEY] = src
        if hasattr(result, "numel") and result.numel() <= VALUE_LIMIT:
            meta[VALUE_KEY] = np.array(result.numpy(force=True))

    _engine_tracking["sources"] = events.subscribe(on_event)
    return _untrack_engine_sources


def _untrack_engine_sources() -> None:
    h = _engine_tracking.pop("sources", None)
    if h is not None:
        h.remove()
