"""Recorder: keep the engine's events while a block runs; save and load them as JSON Lines."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from engine import events
from engine.events import Event

__all__ = ["Recorder", "load"]

FORMAT = "gradviz-trace"
VERSION = 1


class Recorder:
    """``with Recorder() as rec: ...`` keeps every event emitted inside the block in
    ``rec.events``. ``rec.save(path)`` writes JSON Lines (never pickle); ``Recorder.load(path)``
    gives back a recorder whose events compare equal to the recorded ones."""

    def __init__(self, kinds: tuple[str, ...] | None = None) -> None:
        self.events: list[Event] = []
        self.kinds = frozenset(kinds) if kinds else None
        self._handle: events.Handle | None = None

    def _on_event(self, ev: Event) -> None:
        if self.kinds is None or ev.kind in self.kinds:
            self.events.append(ev)

    def start(self) -> Recorder:
        if self._handle is None:
            self._handle = events.subscribe(self._on_event)
        return self

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recorder):
            return NotImplemented
        return self.events == other.events

    def of_kind(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def save(self, path: str | os.PathLike) -> None:
        """Write a header line then one event per line; atomic (temporary file, then rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f'{{"format":"{FORMAT}","version":{VERSION}}}\n')
            for ev in self.events:
                f.write(ev.to_json())
                f.write("\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recorder:
        """Read a trace written by ``save``; a foreign or broken file raises ValueError."""
        import json
        rec = cls()
        with open(path, encoding="utf-8") as f:
            header = f.readline()
            try:
                h = json.loads(header)
            except json.JSONDecodeError:
                h = None
            if not isinstance(h, dict) or h.get("format") != FORMAT:
                raise ValueError(f"{path}: not a gradviz trace (first line is not its header)")
            if h.get("version") != VERSION:
                raise ValueError(f"{path}: trace version {h.get('version')} is not supported")
            for n, line in enumerate(f, start=2):
                if not line.strip():
                    continue
                try:
                    rec.events.append(Event.from_json(line))
                except (ValueError, TypeError) as e:
                    raise ValueError(f"{path}:{n}: {e}") from None
        return rec


def load(path: str | os.PathLike) -> Recorder:
    """Shorthand for ``Recorder.load``."""
    return Recorder.load(path)
