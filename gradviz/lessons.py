"""Lessons: the percent-format scripts in ``gradviz/assets/lessons`` (inside the package, so
wheels ship them) and a runner that steps through a lesson's code cells in a
:class:`~gradviz.session.Session`, one cell per call. No Qt.

A cell marked ``# expect: RuntimeError`` is meant to raise: it passes when it raises that
error (the class sees torch's real message) and fails when it does not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from gradviz.notebook import Cell, read_front_matter, read_notebook
from gradviz.workspace import RunResult, install_torch_alias
from gradviz.workspace import Workspace as Session

__all__ = [
    "LESSONS_DIR",
    "CellRun",
    "LessonInfo",
    "LessonRunner",
    "install_torch_alias",
    "list_lessons",
    "load_lesson",
]

LESSONS_DIR = Path(__file__).resolve().parent / "assets" / "lessons"
_NUMBER = re.compile(r"^(\d+)")


@dataclass(frozen=True)
class LessonInfo:
    """One lesson file: its path, number (from the file name) and title (from front matter)."""

    path: Path
    number: int
    title: str

    def cells(self) -> list[Cell]:
        return load_lesson(self.path)


def list_lessons(directory: Path | None = None) -> list[LessonInfo]:
    """The lessons in ``gradviz/assets/lessons`` (``NN_name.py``), by number."""
    d = directory or LESSONS_DIR
    out = []
    for p in sorted(d.glob("*.py")):
        m = _NUMBER.match(p.name)
        if not m:
            continue
        text = p.read_text(encoding="utf-8")
        title = read_front_matter(text).get("title") or p.stem[m.end():].strip("_").replace(
            "_", " ").capitalize()
        out.append(LessonInfo(p, int(m.group(1)), title))
    out.sort(key=lambda i: (i.number, i.path.name))
    return out


def load_lesson(path: Path | str) -> list[Cell]:
    """A lesson's cells."""
    return read_notebook(path).cells


# --------------------------------------------------------------------------- running
@dataclass
class CellRun(RunResult):
    """A :class:`RunResult` for a lesson cell: which cell, and whether it did what the lesson
    meant (ran cleanly, or raised the error it expects)."""

    cell_index: int = -1
    expect_error: str | None = None
    passed: bool = True
    note: str = ""  # why it did not pass, in words for the class


class LessonRunner:
    """Steps through ``cells`` in ``session``: each :meth:`run_next` runs the next code cell.

    ``position`` is the index (in ``cells``) of the next cell to look at; markdown and empty
    cells are skipped.
    """

    def __init__(self, session: Session, cells: Sequence[Cell]) -> None:
        self.session = session
        self.cells = list(cells)
        self.position = 0
        self.last_index: int | None = None  # the cell that ran last
        self.results: list[CellRun] = []

    @property
    def next_index(self) -> int | None:
        """Index of the code cell the next :meth:`run_next` will run, or None at the end."""
        for i in range(self.position, len(self.cells)):
            if self.cells[i].runs:
                return i
        return None

    @property
    def done(self) -> bool:
        return self.next_index is None

    def run_next(self) -> CellRun | None:
        """Run the next code cell; None when none is left."""
        i = self.next_index
        if i is None:
            self.position = len(self.cells)
            return None
        cell = self.cells[i]
        install_torch_alias(self.session.namespace)
        res = self.session.run(cell.source)
        out = CellRun(**{f.name: getattr(res, f.name) for f in fields(RunResult)},
                      cell_index=i, expect_error=cell.expect_error)
        if cell.expect_error is None:
            out.passed = res.error is None
            if res.error is not None:
                out.note = f"unexpected error: {res.error_text}"
        elif res.error is None:
            out.passed = False
            out.note = f"expected {cell.expect_error}, but the cell ran without error"
        elif not cell.expects(res.error):
            out.passed = False
            out.note = f"expected {cell.expect_error}, got {res.error_text}"
        self.position = i + 1
        self.last_index = i
        self.results.append(out)
        return out

    def run_all(self) -> list[CellRun]:
        """Run every remaining code cell (stops at nothing: each cell's result says)."""
        out = []
        while (r := self.run_next()) is not None:
            out.append(r)
        return out

    def reset(self) -> None:
        """Back to the first cell, in an empty workspace (the session is cleared)."""
        self.position = 0
        self.last_index = None
        self.results.clear()
        self.session.clear()
