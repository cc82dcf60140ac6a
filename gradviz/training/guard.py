"""How a training run keeps user code from swamping the kernel (no Qt): engine events muted
while the panel plays, printed output bounded, and the user's line of an error found."""

from __future__ import annotations

import contextlib
import io
import traceback
from collections.abc import Iterator

from engine import events as _events
from gradviz.training.loop import FILENAME

__all__ = ["OUTPUT_LIMIT", "BoundedText", "quiet_engine_events", "user_line"]

OUTPUT_LIMIT = 20_000  # characters of print() output kept per run


@contextlib.contextmanager
def quiet_engine_events() -> Iterator[None]:
    """Run a batch of iterations without engine events: the subscribers are set aside and
    put back afterwards, so the engine builds no event at all (as with nobody listening).

    Used while the training panel plays: narrating thousands of iterations op by op to the
    event log and the tensor views would cost more than the iterations themselves, and the
    graph view gets the current root per tick instead."""
    with _events.paused():
        yield


class BoundedText(io.TextIOBase):
    """print() output of a run: keeps the last ``OUTPUT_LIMIT`` characters."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0

    def write(self, s: str) -> int:
        self._parts.append(s)
        self._size += len(s)
        if self._size > 2 * OUTPUT_LIMIT:
            text = "".join(self._parts)[-OUTPUT_LIMIT:]
            self._parts = [text]
            self._size = len(text)
        return len(s)

    def getvalue(self) -> str:
        text = "".join(self._parts)
        return text[-OUTPUT_LIMIT:]


def user_line(exc: BaseException) -> int | None:
    """The line of the training code where ``exc`` was raised (its last frame there)."""
    line = None
    for fr in traceback.extract_tb(exc.__traceback__):
        if fr.filename == FILENAME:
            line = fr.lineno
    return line
