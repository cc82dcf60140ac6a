"""The engine's graph events as the window receives them: typed kinds and read-only records.

The kernel sends each engine event as one JSON line (``engine.events.Event.to_json``); the
window turns it into a ``GraphEvent`` here, without importing the engine. A ``GraphEvent``
reads like the engine's ``Event`` (``ev.kind``, ``ev.seq``, ``ev.node_id``, ``ev.get(...)``),
so a widget handles both (an in-process session delivers the engine's own records). No Qt.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["EventKind", "KINDS", "GraphEvent"]


class EventKind(enum.StrEnum):
    """What happened; equal to the engine's kind strings (``EventKind.GRAD_CHANGED ==
    "grad_changed"``)."""

    TENSOR_CREATED = "tensor_created"  # tensor_id, shape, dtype, requires_grad, is_leaf, ...
    OP_RECORDED = "op_recorded"  # node_id, name, tensor_id (output), inputs, next_ids, shape
    BACKWARD_STARTED = "backward_started"  # tensor_id, node_id, gradient, retain_graph, ...
    NODE_STARTED = "node_started"  # node_id, name, index, grad_outputs
    NODE_FINISHED = "node_finished"  # node_id, name, index, grad_inputs, next_ids
    GRAD_ACCUMULATED = "grad_accumulated"  # tensor_id, node_id, before, after
    BACKWARD_FINISHED = "backward_finished"  # tensor_id, steps
    GRAD_CHANGED = "grad_changed"  # tensor_id, reason ("zero_", "assigned", "step"...), value
    REQUIRES_GRAD_CHANGED = "requires_grad_changed"  # tensor_id, requires_grad
    GRAPH_FREED = "graph_freed"  # node_ids
    OPTIMIZER_STEP = "optimizer_step"  # optimizer, step, params
    ERROR = "error"  # error_type, message, node_id, tensor_id


#: every kind, in the engine's order
KINDS: tuple[EventKind, ...] = tuple(EventKind)


class GraphEvent(Mapping[str, Any]):
    """One event record from the kernel: ``kind`` (an EventKind), ``seq`` and the kind's
    fields as attributes and items. Immutable."""

    __slots__ = ("_fields",)

    def __init__(self, kind: EventKind | str, seq: int, **fields: Any) -> None:
        f = {"kind": EventKind(kind), "seq": seq, **fields}
        object.__setattr__(self, "_fields", f)

    @classmethod
    def from_json(cls, line: str) -> GraphEvent:
        """Parse one line the kernel sent (NaN and infinities travel as ``{"$float": ...}``)."""
        f = _unjson(json.loads(line))
        if not isinstance(f, dict) or f.get("kind") not in EventKind._value2member_map_ \
                or "seq" not in f:
            raise ValueError(f"not an engine event: {line[:80]!r}")
        return cls(f.pop("kind"), f.pop("seq"), **f)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(f"{self._fields['kind']} event has no field {name!r}") \
                from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("events are immutable")

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        rest = ", ".join(f"{k}={v!r}" for k, v in self._fields.items() if k not in ("kind", "seq"))
        return f"GraphEvent({self.kind}#{self.seq}: {rest})"


def _unjson(v: Any) -> Any:
    if isinstance(v, dict):
        if len(v) == 1 and "$float" in v:
            return float(v["$float"])
        return {k: _unjson(x) for k, x in v.items()}
    if isinstance(v, list):
        return tuple(_unjson(x) for x in v)
    return v
