"""Graph events: what the engine did, as immutable records, for whoever subscribed.

With no subscriber, ``emitting()`` is False and the engine builds no event at all.
Every event has ``.kind`` (see KINDS), ``.seq`` (a per-process counter) and kind-specific fields
read as attributes (``event.node_id``, ``event.after``...). Tensors and nodes are named by stable
integer ids (``id_of(tensor)``, ``id_of(node)``), never by ``id()``. Values small enough to show
(at most MAX_VALUE_ELEMENTS elements) are copied as nested lists; larger ones are None.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["Event", "KINDS", "subscribe", "emitting", "emit", "value_of", "Handle", "paused",
           "id_of"]

KINDS = (
    "tensor_created",         # tensor_id, shape, dtype, requires_grad, is_leaf, node_id, value
    "op_recorded",            # node_id, name, tensor_id (output), inputs, next_ids, shape
    "backward_started",       # tensor_id, node_id, gradient, retain_graph, create_graph, nodes
    "node_started",           # node_id, name, index, grad_outputs
    "node_finished",          # node_id, name, index, grad_inputs, next_ids
    "grad_accumulated",       # tensor_id, node_id, before, after
    "backward_finished",      # tensor_id, steps
    "grad_changed",           # tensor_id, reason ("zero_" | "none" | "assigned" | ...), value
    "requires_grad_changed",  # tensor_id, requires_grad
    "graph_freed",            # node_ids
    "optimizer_step",         # optimizer, step, params
    "error",                  # error_type, message, node_id, tensor_id
)

MAX_VALUE_ELEMENTS = 64

_ids = itertools.count(1)
_subscribers: list[Callable[[Event], None]] = []


class Event(Mapping[str, Any]):
    """One immutable event record: ``kind``, ``seq`` and kind-specific fields as attributes."""

    __slots__ = ("_f",)

    def __init__(self, kind: str, seq: int | None = None, **fields: Any) -> None:
        f = {"kind": kind, "seq": next(_ids) if seq is None else seq}
        f.update(fields)
        object.__setattr__(self, "_f", f)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._f[name]
        except KeyError:
            raise AttributeError(f"{self._f['kind']} event has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("events are immutable")

    def __getitem__(self, key: str) -> Any:
        return self._f[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._f)

    def __len__(self) -> int:
        return len(self._f)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return _canon(self._f) == _canon(other._f)

    def __hash__(self) -> int:
        return hash((self._f["kind"], self._f["seq"]))

    def __repr__(self) -> str:
        rest = ", ".join(f"{k}={v!r}" for k, v in self._f.items() if k not in ("kind", "seq"))
        return f"Event({self._f['kind']}#{self._f['seq']}: {rest})"

    def to_json(self) -> str:
        """One JSON line (NaN and infinities as strings so the line stays standard JSON)."""
        return json.dumps(_jsonable(self._f), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, line: str) -> Event:
        f = _unjson(json.loads(line))
        if not isinstance(f, dict) or f.get("kind") not in KINDS or "seq" not in f:
            raise ValueError(f"not an engine event: {line[:80]!r}")
        kind, seq = f.pop("kind"), f.pop("seq")
        return cls(kind, seq, **f)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float):
        if math.isfinite(v):
            return v
        return {"$float": repr(v)}
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    return v


def _unjson(v: Any) -> Any:
    if isinstance(v, dict):
        if len(v) == 1 and "$float" in v:
            return float(v["$float"])
        return {k: _unjson(x) for k, x in v.items()}
    if isinstance(v, list):
        return tuple(_unjson(x) for x in v)
    return v


def _canon(v: Any) -> Any:
    # the form equality is decided on: tuples for sequences, NaN equal to itself
    if isinstance(v, float) and v != v:
        return "nan"
    if isinstance(v, dict):
        return {k: _canon(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return tuple(_canon(x) for x in v)
    if isinstance(v, np.generic):
        return _canon(v.item())
    return v


class Handle:
    """Returned by subscribe() and register_hook(): ``remove()`` undoes the registration."""

    __slots__ = ("_list", "_item")

    def __init__(self, lst: list, item: Any) -> None:
        self._list = lst
        self._item = item

    def remove(self) -> None:
        try:
            self._list.remove(self._item)
        except ValueError:
            pass

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def subscribe(callback: Callable[[Event], None]) -> Handle:
    """Call ``callback(event)`` for every event from now on; ``handle.remove()`` stops it."""
    _subscribers.append(callback)
    return Handle(_subscribers, callback)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Mute events inside the block: the subscribers are set aside, so the engine builds no
    event at all (as with nobody listening); subscriptions made inside are kept afterwards."""
    saved = list(_subscribers)
    _subscribers.clear()
    try:
        yield
    finally:
        added = [s for s in _subscribers if s not in saved]
        _subscribers[:] = saved + added


def id_of(obj: Any) -> int | None:
    """The stable id events name a tensor or node by (``tensor_id``, ``node_id``); None for
    anything else (a number, None, a foreign object)."""
    i = getattr(obj, "_id", None)
    return i if type(i) is int else None


def emitting() -> bool:
    """True when somebody listens (the engine checks this before building an event)."""
    return bool(_subscribers)


def emit(kind: str, **fields: Any) -> None:
    """Build one event and hand it to every subscriber (a failing subscriber is reported, not
    allowed to break the computation)."""
    fields["kind"] = kind
    fields["seq"] = next(_ids)
    ev = _new_event(Event)
    _set_fields(ev, fields)
    for cb in _subscribers if len(_subscribers) == 1 else tuple(_subscribers):
        try:
            cb(ev)
        except Exception as exc:  # a broken view must not break the user's computation
            import warnings
            warnings.warn(f"event subscriber {cb!r} failed: {exc!r}", RuntimeWarning,
                          stacklevel=2)


_new_event = object.__new__
_set_fields = Event._f.__set__  # type: ignore[attr-defined]


def value_of(a: Any) -> Any:
    """A copy of an array's values small enough to show (nested lists), else None."""
    if type(a) is np.ndarray:
        return a.tolist() if a.size <= MAX_VALUE_ELEMENTS else None
    if a is None:
        return None
    data = getattr(a, "_data", a)
    if not isinstance(data, np.ndarray):
        return float(data) if isinstance(data, float) else data
    if data.size > MAX_VALUE_ELEMENTS:
        return None
    return data.tolist()
