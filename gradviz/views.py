"""Read-only views of the kernel's tensors, nodes and backward walks, built from its snapshots.

They answer the same questions as the engine's objects (``t.shape``, ``t.grad``,
``t.grad_fn.name()``, ``node.next_functions``, ``step.grad_inputs``...), so the graph builder,
the inspector and the stepper draw them as they drew live tensors, while the window runs none
of the user's code. No Qt here.
"""

from __future__ import annotations

import base64
import enum
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

__all__ = ["DTypeView", "NodeView", "AccumulateGradView", "StepView", "TensorView", "World",
           "decode_array", "KernelError", "RuleView"]


class NodeState(enum.StrEnum):
    """How the graph shows a node while backward is stepped (equal to the plain strings)."""

    IDLE = "idle"
    CURRENT = "current"  # the step just applied
    DONE = "done"  # ran in this walk
    BREAKPOINT = "breakpoint"  # Run stops after it
    ERROR = "error"  # the node (or root) that raised


def decode_array(rec: Mapping[str, Any] | None) -> np.ndarray | None:
    """The array of an encoded record (``gradviz.kernel.snapshot.encode_array``); a record cut
    short keeps its first values, flat."""
    if rec is None:
        return None
    dt = rec.get("dtype", "float64")
    b64 = rec.get("b64")
    if b64 is not None:
        arr = np.frombuffer(base64.b64decode(b64), dtype=dt).copy()
        return arr.reshape(rec["shape"]) if rec.get("full", True) else arr
    try:  # numpy reads the "nan" / "inf" strings itself
        arr = np.array(rec["values"], dtype=dt)
    except (TypeError, ValueError):
        vals = [float(v) if isinstance(v, str) else v for v in rec["values"]]
        try:
            arr = np.array(vals, dtype=dt)
        except TypeError:
            arr = np.array(vals)
    if rec.get("full", True):
        return arr.reshape(rec["shape"])
    return arr


class DTypeView:
    """``torch.float32`` as the kernel named it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypeView) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


class KernelError(Exception):
    """An exception raised in the kernel, by type name and message (never re-raised here)."""

    def __init__(self, ename: str, evalue: str, traceback: list[str] | None = None) -> None:
        super().__init__(evalue)
        self.ename = ename
        self.evalue = evalue
        self.traceback_lines = traceback or []
        self.node_id: int | None = None

    def __str__(self) -> str:
        return self.evalue


class TensorView:
    """One kernel tensor as the last update showed it."""

    def __init__(self, world: World, rec: Mapping[str, Any]) -> None:
        self._world = world
        self._rec = rec
        #: the kernel's stable id of the tensor (``engine.events.id_of``)
        self.id: int = rec["id"]
        self.shape = tuple(rec["shape"])
        self.dtype = DTypeView(rec["dtype"])
        self.requires_grad: bool = rec["requires_grad"]
        self.retains_grad: bool = rec["retains_grad"]
        self._version: int = rec["version"]  # torch's name for the version counter
        #: torch's name: the tensor's hooks (here only how many), None when it has none
        self._backward_hooks: dict[int, None] | None = (
            dict.fromkeys(range(rec["hooks"])) if rec["hooks"] else None)
        self._data_rec = rec["data"]
        self._data_cache: np.ndarray | None = None
        self._grad_cache: TensorView | None | bool = False
        self._texts_cache: Mapping[str, Any] | None = None

    @property
    def _data(self) -> np.ndarray:
        if self._data_cache is None:
            self._data_cache = decode_array(self._data_rec)
        return self._data_cache

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    def dim(self) -> int:
        return self.ndim

    @property
    def name(self) -> str | None:
        return self._rec.get("name")

    @property
    def param_name(self) -> str | None:
        """The parameter's ``named_parameters`` name (``layer1.0.conv1.weight``), if it is one."""
        return self._rec.get("param")

    @property
    def grad_fn(self) -> NodeView | None:
        nid = self._rec["grad_fn"]
        return self._world.node(nid) if nid is not None else None

    @property
    def grad_fn_name(self) -> str | None:
        return self._rec.get("grad_fn_name")

    @property
    def is_leaf(self) -> bool:
        return self._rec["grad_fn"] is None

    @property
    def grad(self) -> TensorView | None:
        if self._grad_cache is False:
            g = self._rec.get("grad")
            if g is None:
                self._grad_cache = None
            elif self._rec.get("lazy"):
                self._grad_cache = ArrayView(g, None, self.dtype,
                                             lambda: self._texts()["grad_repr"])
            else:
                self._grad_cache = ArrayView(g, self._rec.get("grad_repr"), self.dtype)
        return self._grad_cache  # type: ignore[return-value]

    def _texts(self) -> Mapping[str, Any]:
        """``repr`` and ``grad_repr``: the record's, or (a ``lazy`` record: the kernel left
        them out of a big snapshot) asked of the kernel once through ``World.fetch_texts``."""
        if not self._rec.get("lazy"):
            return self._rec
        if self._texts_cache is None:
            got = self._world.texts(self.id)
            self._texts_cache = {"repr": self._rec.get("repr"),
                                 "grad_repr": self._rec.get("grad_repr"), **(got or {})}
        return self._texts_cache

    def numpy(self, force: bool = False) -> np.ndarray:
        return self._data

    def tolist(self) -> Any:
        return self._data.tolist()

    def item(self) -> Any:
        return self._data.reshape(-1)[0].item()

    def detach(self) -> TensorView:
        return self

    def __repr__(self) -> str:
        return self._texts()["repr"]


class ArrayView(TensorView):
    """A bare array from the kernel (a gradient, a step's grad_outputs) seen as a tensor."""

    def __init__(self, rec: Mapping[str, Any], text: str | None = None,
                 dtype: DTypeView | None = None,
                 fetch_text: Callable[[], str | None] | None = None) -> None:
        self.id = -1
        self.shape = tuple(rec["shape"])
        self.dtype = dtype or DTypeView(_torch_dtype(rec.get("dtype", "float32")))
        self.requires_grad = False
        self.retains_grad = False
        self._version = 0
        self._backward_hooks = None
        self._data_rec = rec
        self._data_cache = None
        self._grad_cache = None
        self._text = text
        self._fetch_text = fetch_text
        self._rec = {"grad_fn": None, "repr": text}

    @property
    def grad_fn(self) -> None:
        return None

    @property
    def grad(self) -> None:
        return None

    def __repr__(self) -> str:
        if self._fetch_text is not None:
            self._text, self._fetch_text = self._fetch_text(), None
            self._rec = {"grad_fn": None, "repr": self._text}
        if self._text:
            return self._text
        return _tensor_text(self._data, self._data_rec, self.dtype)


def _torch_dtype(np_name: str) -> str:
    return {"float32": "float32", "float64": "float64", "int64": "int64", "int32": "int32",
            "bool": "bool", "float16": "float16"}.get(np_name, np_name)


def _tensor_text(a: np.ndarray, rec: Mapping[str, Any], dtype: DTypeView) -> str:
    """``tensor([...])`` for an array the kernel sent without its repr."""
    if not rec.get("full", True):
        vals = ", ".join(f"{v:.4f}" for v in a[:6])
        return f"tensor([{vals}, ...])  # shape {tuple(rec['shape'])}"
    with np.printoptions(precision=4, suppress=False, threshold=1000, edgeitems=3):
        body = np.array2string(a, separator=", ", prefix="tensor(")
    extra = "" if dtype.name in ("float32", "int64", "bool") else f", dtype={dtype}"
    return f"tensor({body}{extra})"


class RuleView:
    """A node's gradient rule as the kernel sent it: ``words``, ``symbols`` (``grad_self =
    grad * other``...), ``math``; ``generic`` for a node whose op states none."""

    def __init__(self, rec: Mapping[str, Any] | None) -> None:
        rec = rec or {}
        self.words: str = rec.get("words") or ("Chain rule: multiply the incoming gradient by "
                                               "this node's local derivative.")
        self.symbols: tuple[str, ...] = tuple(rec.get("symbols") or ())
        self.math: str = rec.get("math") or ""
        self.generic: bool = bool(rec.get("generic", not rec))

    def __repr__(self) -> str:
        return f"<RuleView {self.symbols!r}>"


class NodeView:
    """One grad_fn node (``MulBackward0``...) of the kernel's graph."""

    def __init__(self, world: World, rec: Mapping[str, Any]) -> None:
        self._world = world
        self._rec = rec
        #: the kernel's stable id of the node (``engine.events.id_of``)
        self.id: int = rec["id"]
        #: True once backward released what the node saved
        self.is_freed: bool = rec["freed"]
        #: the names of the released saved values
        self.freed_names: tuple[str, ...] = tuple(rec.get("freed_names") or ())
        self._fn_cls_name: str | None = rec.get("fn_cls")
        self.attributes: dict[str, str] = dict(rec.get("attrs") or {})

    def name(self) -> str:
        return self._rec["name"]

    def registered_hooks(self) -> HooksView:
        """How many hooks the node has, as ``engine.function.Node.registered_hooks()`` lists
        them (one None per hook)."""
        r = self._rec
        return HooksView((None,) * r["hooks"], (None,) * r["prehooks"],
                         (None,) * r["tensor_prehooks"])

    @property
    def rule(self) -> RuleView:
        """The op's gradient rule in words, symbols and math (the engine's text)."""
        rec = self._rec.get("rule")
        if rec is None and self._rec.get("rule_of") is not None:  # shared with a node of its kind
            rec = self._world.node(self._rec["rule_of"])._rec.get("rule")
        return RuleView(rec)

    @property
    def module(self) -> str | None:
        """Qualified name of the ``nn.Module`` whose forward made this node (``layer1.0``)."""
        return self._rec.get("module")

    @property
    def source(self) -> tuple[str, int, str] | None:
        """(file, line, text) of the user's code that made this node, when the kernel knows."""
        src = self._rec.get("source")
        return (str(src[0]), int(src[1]), str(src[2])) if src else None

    @property
    def var_name(self) -> str | None:
        """The name of the variable holding this node's output (``y`` for ``y.grad_fn``)."""
        return self._rec.get("var")

    @property
    def output_value(self) -> np.ndarray | None:
        """The op's output value, kept by the kernel for small outputs."""
        return decode_array(self._rec.get("value"))

    @property
    def next_functions(self) -> tuple[tuple[NodeView | None, int], ...]:
        return tuple((self._world.node(i) if i is not None else None, nr)
                     for i, nr in self._rec["next"])

    @property
    def saved_tensors(self) -> Any:
        return self._saved(self._rec.get("saved") or [])

    @property
    def saved_when_ran(self) -> Any:
        """What the node had saved when it ran (its ``saved_tensors`` are freed since; the
        window kept them), else its ``saved_tensors``."""
        return self._saved(self._rec.get("saved_when_ran") or self._rec.get("saved") or [])

    def _saved(self, saved: Any) -> Any:
        if isinstance(saved, Mapping):
            out: Any = tuple(self._world.value(v) for v in saved["list"])
            values = out
        else:
            out = {k: self._world.value(v) for k, v in saved}
            values = out.values()
        self._world.saved_together(v.id for v in values if isinstance(v, TensorView))
        return out

    def __repr__(self) -> str:
        return f"<{self.name()} object #{self.id}>"


class AccumulateGradView(NodeView):
    """The AccumulateGrad node of a leaf."""

    @property
    def variable(self) -> TensorView:
        return self._world.tensor(self._rec["variable"])


class StepView:
    """One recorded backward step (``engine.autograd.BackwardStep``)."""

    def __init__(self, world: World, rec: Mapping[str, Any]) -> None:
        self._world = world
        self.index: int = rec["index"]
        self.node = world.node(rec["node"])
        self.variable = world.tensor(rec["variable"]) if rec.get("variable") is not None \
            else None
        self._rec = rec
        self._grads: dict[str, Any] = {}  # decoded once: a step's record never changes

    @property
    def name(self) -> str:
        return self.node.name()

    @property
    def captured(self) -> bool:
        """In ``torch.autograd.grad``: this input's gradient was captured here and is what
        grad() returns; nothing is accumulated into ``.grad``."""
        return bool(self._rec.get("captured"))

    @property
    def is_accumulate(self) -> bool:
        return self.variable is not None

    def _wrap(self, key: str, a: Any) -> ArrayView | None:
        if key not in self._grads:
            self._grads[key] = None if a is None else ArrayView(a, None, self._dtype())
        return self._grads[key]

    def _dtype(self) -> DTypeView | None:
        v = self.variable
        return v.dtype if v is not None else None

    @property
    def grad_outputs(self) -> tuple[ArrayView | None, ...]:
        return (self._wrap("gout", self._rec["gout"]),)

    @property
    def grad_inputs(self) -> tuple[ArrayView | None, ...]:
        return tuple(self._wrap(f"gin{i}", g) for i, g in enumerate(self._rec["gin"]))

    @property
    def grad_before(self) -> ArrayView | None:
        return self._wrap("before", self._rec.get("before"))

    @property
    def grad_after(self) -> ArrayView | None:
        return self._wrap("after", self._rec.get("after"))

    def __repr__(self) -> str:
        return f"<BackwardStep {self.index}: {self.name}>"


class HooksView(NamedTuple):
    """A node's hooks, counted: ``hooks``, ``prehooks``, ``tensor_prehooks`` (Nones)."""

    hooks: tuple[None, ...]
    prehooks: tuple[None, ...]
    tensor_prehooks: tuple[None, ...]


class World:
    """Every tensor and node the kernel has shown, by id; each update replaces what it sends."""

    def __init__(self) -> None:
        self._tensors: dict[int, Mapping[str, Any]] = {}
        self._nodes: dict[int, Mapping[str, Any]] = {}
        self._tviews: dict[int, TensorView] = {}
        self._nviews: dict[int, NodeView] = {}
        self._texts: dict[int, Mapping[str, Any] | None] = {}  # fetched reprs, this update
        self._beside: dict[int, list[int]] = {}
        self._generation = 0
        #: asks the kernel for the reprs of tensors sent ``lazy`` (ids -> records with
        #: ``id``, ``repr``, ``grad_repr``); None (no kernel to ask): their short text stays
        self.fetch_texts: Callable[[list[int]], Iterable[Mapping[str, Any]] | None] | None = None

    def texts(self, tid: int) -> Mapping[str, Any] | None:
        """The kernel's ``repr`` and ``grad_repr`` of a lazily sent tensor, or None; asked
        together with the lazy tensors saved beside it (a node's saved tensors are shown
        together), once per update."""
        if tid in self._texts:
            return self._texts[tid]
        if self.fetch_texts is None:
            return None
        ids = [tid] + [i for i in self._beside.get(tid, ()) if i != tid and i not in self._texts]
        gen = self._generation
        try:
            got = self.fetch_texts(ids)  # (the window's event loop turns while it waits)
        except Exception:  # noqa: BLE001 - no answer: the short text stays
            got = None
        if got is None:
            return None
        if gen != self._generation:  # an update came meanwhile: the answer may be stale
            return next(({k: r.get(k) for k in ("repr", "grad_repr") if r.get(k) is not None}
                         for r in got if r.get("id") == tid), None)
        for i in ids:
            self._texts.setdefault(i, None)
        for r in got:
            if r.get("id") in self._texts:
                self._texts[r["id"]] = {k: r.get(k) for k in ("repr", "grad_repr")
                                        if r.get(k) is not None}
        return self._texts[tid]

    def saved_together(self, ids: Iterable[int]) -> None:
        """Note tensors shown together (a node's saved ones): their reprs are asked at once."""
        group = [i for i in ids if self._tensors.get(i, {}).get("lazy")]
        if len(group) > 1:
            for i in group:
                self._beside[i] = group

    def update(self, tensors: Iterable[Mapping[str, Any]], nodes: Iterable[Mapping[str, Any]],
               replace: bool = False) -> None:
        if replace:
            self._tensors.clear()
            self._nodes.clear()
        for r in tensors:
            self._tensors[r["id"]] = r
        for r in nodes:
            old = self._nodes.get(r["id"])
            if old is not None and r.get("freed") and not r.get("saved"):
                # what the node saved is gone in the kernel once it ran: keep what it used
                kept = old.get("saved") or old.get("saved_when_ran")
                if kept:
                    r = {**r, "saved_when_ran": kept}
            self._nodes[r["id"]] = r
        self._tviews.clear()
        self._nviews.clear()
        self._texts.clear()
        self._beside.clear()
        self._generation += 1

    def tensor(self, tid: int) -> TensorView:
        v = self._tviews.get(tid)
        if v is None:
            rec = self._tensors.get(tid)
            if rec is None:
                rec = {"id": tid, "name": None, "shape": [], "dtype": "float32",
                       "requires_grad": False, "retains_grad": False, "grad_fn": None,
                       "version": 0, "hooks": 0, "repr": f"<tensor #{tid}>",
                       "data": {"shape": [0], "dtype": "float32", "values": [], "full": True},
                       "grad": None}
            v = self._tviews[tid] = TensorView(self, rec)
        return v

    def has_tensor(self, tid: int) -> bool:
        return tid in self._tensors

    def node(self, nid: int) -> NodeView:
        v = self._nviews.get(nid)
        if v is None:
            rec = self._nodes.get(nid) or {"id": nid, "name": "?", "next": [], "hooks": 0,
                                            "prehooks": 0, "tensor_prehooks": 0,
                                            "freed": False}
            cls = AccumulateGradView if rec.get("variable") is not None else NodeView
            v = self._nviews[nid] = cls(self, rec)
        return v

    def value(self, v: Mapping[str, Any]) -> Any:
        if "tensor" in v:
            return self.tensor(v["tensor"])
        if "tuple" in v:
            return tuple(self.value(x) for x in v["tuple"])
        return v.get("text")


def grad_of(t: Any) -> Any:
    """``t.grad`` of an engine tensor or a view, without torch's warning about reading a
    non-leaf's grad (a view reads every tensor's grad; the user did not ask)."""
    if t.grad_fn is None or t.retains_grad:
        return t.grad
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return t.grad


def torch_values(text: str) -> str:
    """The values part of a torch repr: ``tensor([1., 2.], requires_grad=True)`` gives
    ``[1., 2.]``, ``tensor(3.)`` gives ``3.``; other text is returned as it is."""
    if not text.startswith("tensor("):
        return text
    depth = 0
    for i, ch in enumerate(text[7:], 7):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            if depth == 0:
                return text[7:i]
            depth -= 1
        elif ch == "," and depth == 0:
            return text[7:i]
    return text[7:]
