"""Plain-data snapshots of the kernel's tensors, grad_fn nodes and backward walks.

The window never touches an engine object: the kernel turns what it shows into dicts of
numbers and strings (JSON-safe), and the window wraps them in read-only views
(``gradviz.qt.remote``). Arrays larger than ``MAX_ELEMENTS`` travel as their first elements
only, with the true shape, so a 1M-element tensor costs a few kilobytes per update.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from engine.events import id_of

__all__ = ["MAX_ELEMENTS", "Snapshotter", "array_record", "encode_array"]

MAX_ELEMENTS = 4096


def encode_array(a: Any, limit: int = MAX_ELEMENTS) -> dict[str, Any] | None:
    """``{"shape", "dtype", "values", "full"}``: values flattened, at most ``limit`` of them;
    NaN and infinities as the strings torch prints."""
    if a is None:
        return None
    arr = np.asarray(a)
    flat = arr.reshape(-1)
    full = flat.size <= limit
    head = flat[:limit]
    if head.dtype.kind == "b":
        values: list[Any] = [bool(v) for v in head]
    elif head.dtype.kind in "iu":
        values = [int(v) for v in head]
    elif head.dtype.kind == "c":
        values = [_num(v.real) for v in head]
    else:
        values = [_num(v) for v in head.astype(np.float64)]
    return {"shape": list(arr.shape), "dtype": str(arr.dtype), "values": values, "full": full}


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


def _repr(t: Any) -> str:
    try:
        return repr(t)
    except Exception as e:  # noqa: BLE001 - a broken repr is still shown
        return f"<unprintable tensor: {type(e).__name__}: {e}>"


class Snapshotter:
    """Collects the tensors and nodes that one update needs, each once, by engine id."""

    def __init__(self, names: Mapping[int, str]) -> None:
        self.names = names
        self.tensors: dict[int, dict[str, Any]] = {}
        self.nodes: dict[int, dict[str, Any]] = {}

    # ----- tensors
    def tensor(self, t: Any, deep: bool = False) -> int:
        """Record tensor ``t``; ``deep`` also records its whole graph. Returns its id."""
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
                    "data": array_record(t), "repr": _repr(t),
                    "grad": array_record(grad), "grad_repr": _repr(grad) if grad is not None
                    else None,
                }
            self.tensors[tid] = rec
        if deep and t.grad_fn is not None:
            self.graph(t.grad_fn)
        return tid

    # ----- nodes
    def graph(self, fn: Any) -> None:
        """Record ``fn`` and every node reachable through ``next_functions``."""
        stack = [fn]
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
        rec["saved"] = self._saved(n)
        rec["rule"] = node_rule(n)
        return nid

    def _saved(self, n: Any) -> Any:
        if n.is_freed:
            return []
        try:
            saved = n.saved_tensors
        except Exception:  # noqa: BLE001 - freed between checks
            return []
        if isinstance(saved, Mapping):
            return [[str(k), self._value(v)] for k, v in saved.items()]
        if isinstance(saved, (tuple, list)):
            return {"list": [self._value(v) for v in saved]}
        return []

    def _value(self, v: Any) -> Any:
        if id_of(v) is not None and hasattr(v, "grad_fn"):
            return {"tensor": self.tensor(v)}
        if isinstance(v, (tuple, list)):
            return {"tuple": [self._value(x) for x in v]}
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
        return {"tensors": list(self.tensors.values()), "nodes": list(self.nodes.values())}


def node_rule(n: Any) -> dict[str, Any]:
    """The node's gradient rule as data (``words``, ``symbols``, ``math``): the engine's own
    text, kept beside the op's backward (``gradviz.rules`` for torch-only nodes)."""
    from gradviz.rules import node_rule_record
    return node_rule_record(n)


def _short(v: Any, limit: int = 80) -> str:
    try:
        s = repr(v)
    except Exception:  # noqa: BLE001
        s = f"<{type(v).__name__}>"
    return s if len(s) <= limit else s[:limit - 1] + "…"
