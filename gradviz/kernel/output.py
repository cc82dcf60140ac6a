"""Bounded cell output: the first lines and the last lines of what a cell prints, and a
count of the rest, so printing ten million lines keeps memory and traffic flat."""

from __future__ import annotations

import collections
from typing import Any, TextIO

__all__ = ["BoundedStream", "HEAD_LINES", "TAIL_LINES"]

HEAD_LINES = 2000
TAIL_LINES = 200


class BoundedStream:
    """Wraps a text stream: forwards the first ``head`` lines of a cell, keeps the last
    ``tail`` of the rest, and on ``end_cell()`` writes how many were left out, then the tail."""

    def __init__(self, stream: TextIO, head: int = HEAD_LINES, tail: int = TAIL_LINES) -> None:
        self._stream = stream
        self._head = head
        self._tail: collections.deque[str] = collections.deque(maxlen=tail)
        self._partial = ""
        self.lines = 0
        self.dropped = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def start_cell(self) -> None:
        self.lines = self.dropped = 0
        self._tail.clear()
        self._partial = ""

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            return self._stream.write(text)
        if self.lines < self._head:
            n = text.count("\n")
            if self.lines + n <= self._head:
                self.lines += n
                return self._stream.write(text)
            keep = text.split("\n")
            room = self._head - self.lines
            self._stream.write("\n".join(keep[:room]) + "\n")
            self.lines = self._head
            text = "\n".join(keep[room:])
        self._overflow(text)
        return len(text)

    def _overflow(self, text: str) -> None:
        text = self._partial + text
        parts = text.split("\n")
        self._partial = parts.pop()
        self.dropped += len(parts)
        self._tail.extend(parts[-(self._tail.maxlen or 1):])

    def end_cell(self) -> None:
        if self._partial:
            self._tail.append(self._partial)
            self.dropped += 1
            self._partial = ""
        if self.dropped:
            shown = len(self._tail)
            left = self.dropped - shown
            if left > 0:
                self._stream.write(f"… {left:,} more lines not shown …\n")
            self._stream.write("\n".join(self._tail) + "\n")
        self._stream.flush()
        self.start_cell()

    def flush(self) -> None:
        self._stream.flush()
