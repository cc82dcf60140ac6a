"""Read-only views of the kernel's tensors, nodes and backward walks, built from its snapshots.

They answer the same questions as the engine's objects (``t.shape``, ``t.grad``,
``t.grad_fn.name()``, ``node.next_functions``, ``step.grad_inputs``...), so the graph builder,
the inspector and the stepper draw them as they drew live tensors, while the window runs none
of the user's code. No Qt here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["DTypeView", "NodeView", "AccumulateGradView", "StepView", "TensorView", "World",
           "decode_array", "KernelError"]


def decode_array(rec: Mapping[str, Any] | None) -> np.ndarray | None:
    """The array of an encoded record (``gradviz.kernel.snapshot.encode_array``); a record cut
    short keeps its first values, flat."""
    if rec is None:
        return None
    dt = rec.get("dtype", "float64")
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
        self._id: int = rec["id"]
        self.shape = tuple(rec["shape"])
        self.dtype = DTypeView(rec["dtype"])
        self.requires_grad: bool = rec["requires_grad"]
        self.retains_grad: bool = rec["retains_grad"]
        self._version_count: int = rec["version"]
        self._hooks = [None] * rec["hooks"]
        self._data_rec = rec["data"]
        self._data_cache: np.ndarray | None = None
        self._grad_cache: TensorView | None | bool = False

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
    def _grad(self) -> TensorView | None:
        if self._grad_cache is False:
            g = self._rec.get("grad")
            self._grad_cache = None if g is None else ArrayView(g, self._rec.get("grad_repr"),
                                                                self.dtype)
        return self._grad_cache  # type: ignore[return-value]

    grad = _grad

    def numpy(self) -> np.ndarray:
        return self._data

    def tolist(self) -> Any:
        return self._data.tolist()

    def item(self) -> Any:
        return self._data.reshape(-1)[0].item()

    def detach(self) -> TensorView:
        return self

    def __repr__(self) -> str:
        return self._rec["repr"]


class ArrayView(TensorView):
    """A bare array from the kernel (a gradient, a step's grad_outputs) seen as a tensor."""

    def __init__(self, rec: Mapping[str, Any], text: str | None = None,
                 dtype: DTypeView | None = None) -> None:
        self._id = -1
        self.shape = tuple(rec["shape"])
        self.dtype = dtype or DTypeView(_torch_dtype(rec.get("dtype", "float32")))
        self.requires_grad = False
        self.retains_grad = False
        self._version_count = 0
        self._hooks = []
        self._data_rec = rec
        self._data_cache = None
        self._grad_cache = None
        self._text = text
        self._rec = {"grad_fn": None, "repr": text}

    @property
    def grad_fn(self) -> None:
        return None

    @property
    def _grad(self) -> None:
        return None

    grad = _grad

    def __repr__(self) -> str:
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


class NodeView:
    """One grad_fn node (``MulBackward0``...) of the kernel's graph."""

    def __init__(self, world: World, rec: Mapping[str, Any]) -> None:
        self._world = world
        self._rec = rec
        self._id: int = rec["id"]
        self._freed: bool = rec["freed"]
        self._freed_names = tuple(rec.get("freed_names") or ())
        self._hooks = [None] * rec["hooks"]
        self._prehooks = [None] * rec["prehooks"]
        self._tensor_prehooks = [None] * rec["tensor_prehooks"]
        self._fn_cls_name: str | None = rec.get("fn_cls")
        self.attributes: dict[str, str] = dict(rec.get("attrs") or {})

    def name(self) -> str:
        return self._rec["name"]

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
        saved = self._rec.get("saved") or []
        if isinstance(saved, Mapping):
            return tuple(self._world.value(v) for v in saved["list"])
        return {k: self._world.value(v) for k, v in saved}

    def __repr__(self) -> str:
        return f"<{self.name()} object #{self._id}>"


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
        self._gout = decode_array(rec["gout"])
        self._gin = tuple(decode_array(g) for g in rec["gin"])
        self._before = decode_array(rec.get("before"))
        self._after = decode_array(rec.get("after"))
        self._rec = rec

    @property
    def name(self) -> str:
        return self.node.name()

    @property
    def is_accumulate(self) -> bool:
        return self.variable is not None

    def _wrap(self, key: str, a: Any) -> ArrayView | None:
        return None if a is None else ArrayView(a, None, self._dtype())

    def _dtype(self) -> DTypeView | None:
        v = self.variable
        return v.dtype if v is not None else None

    @property
    def grad_outputs(self) -> tuple[ArrayView | None, ...]:
        return (self._wrap("gout", self._rec["gout"]),)

    @property
    def grad_inputs(self) -> tuple[ArrayView | None, ...]:
        return tuple(self._wrap("gin", g) for g in self._rec["gin"])

    @property
    def grad_before(self) -> ArrayView | None:
        return self._wrap("before", self._rec.get("before"))

    @property
    def grad_after(self) -> ArrayView | None:
        return self._wrap("after", self._rec.get("after"))

    def __repr__(self) -> str:
        return f"<BackwardStep {self.index}: {self.name}>"


class World:
    """Every tensor and node the kernel has shown, by id; each update replaces what it sends."""

    def __init__(self) -> None:
        self._tensors: dict[int, Mapping[str, Any]] = {}
        self._nodes: dict[int, Mapping[str, Any]] = {}
        self._tviews: dict[int, TensorView] = {}
        self._nviews: dict[int, NodeView] = {}

    def update(self, tensors: Iterable[Mapping[str, Any]], nodes: Iterable[Mapping[str, Any]],
               replace: bool = False) -> None:
        if replace:
            self._tensors.clear()
            self._nodes.clear()
        for r in tensors:
            self._tensors[r["id"]] = r
        for r in nodes:
            self._nodes[r["id"]] = r
        self._tviews.clear()
        self._nviews.clear()

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
