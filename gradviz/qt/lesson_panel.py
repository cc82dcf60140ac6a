"""The lesson panel: a lesson browser, the current lesson's cells (markdown rendered, code
highlighted), and "Next cell" to run them one at a time in the session.

The panel computes nothing itself: a :class:`~gradviz.lessons.LessonRunner` runs each cell in
the session, and the other panels follow through the bridge. The main window binds Ctrl+Enter
to :meth:`LessonPanel.run_next_cell`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QFont, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gradviz.lessons import CellRun, LessonInfo, LessonRunner, list_lessons
from gradviz.notebook import Cell, read_notebook, unsupported_torch_api
from gradviz.qt.bridge import Bridge
from gradviz.session import RunResult, Session

__all__ = ["LessonPanel"]

_MAX_OUTPUT_CHARS = 4000


def _is_dark(widget: QWidget) -> bool:
    return widget.palette().color(QPalette.ColorRole.Base).lightness() < 128


def _mono() -> QFont:
    f = QFont("DejaVu Sans Mono")
    f.setStyleHint(QFont.StyleHint.Monospace)
    f.setFixedPitch(True)
    return f


class _FitBrowser(QTextBrowser):
    """A read-only text view exactly as tall as its text (the scroll area scrolls, not it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().contentsChanged.connect(self._fit)

    def _fit(self) -> None:
        width = self.viewport().width()
        if width <= 0:
            return
        self.document().setTextWidth(width)
        m = self.contentsMargins()
        h = math.ceil(self.document().size().height()) + m.top() + m.bottom() + 2
        if h != self.height():
            self.setFixedHeight(h)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()


class _CellView(QFrame):
    """One cell: rendered markdown, or highlighted code with its output under it."""

    def __init__(self, index: int, cell: Cell, problems: Sequence[str],
                 parent: QWidget | None = None, base_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.cell = cell
        self.state = ""
        self.setObjectName("LessonCell")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 6, 4)
        lay.setSpacing(2)
        self.text = _FitBrowser(self)
        self.badge: QLabel | None = None
        self.output = QLabel(self)
        self.output.setWordWrap(True)
        self.output.setFont(_mono())
        self.output.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.output.setTextFormat(Qt.TextFormat.PlainText)
        self.output.hide()
        if cell.kind == "markdown":
            from gradviz.notebook import sanitize_markdown_images

            # an image that is a FIFO, a device or huge is named, never opened
            self.text.setMarkdown(sanitize_markdown_images(cell.source, base_dir))
        else:
            self.text.setFont(_mono())
            self.text.setLineWrapMode(QTextBrowser.LineWrapMode.WidgetWidth)
            self.text.setPlainText(cell.source)
            self._highlight()
            # a cell's expected error is not named before it runs: the class predicts first
            notes = [f"uses {p}, which the engine lacks" for p in problems]
            if notes:
                self.badge = QLabel(" · ".join(notes), self)
                self.badge.setWordWrap(True)
                self.badge.setObjectName("CellBadge")
                lay.addWidget(self.badge)
        lay.addWidget(self.text)
        lay.addWidget(self.output)
        self.set_state("")

    def _highlight(self) -> None:
        try:
            from gradviz.qt.code_panel import PythonHighlighter
        except ImportError:  # pragma: no cover - highlighting is a nicety
            return
        self._highlighter = PythonHighlighter(self.text.document(), _is_dark(self))

    def set_state(self, state: str) -> None:
        """"" (plain), "next" (runs on Next cell) or "current" (ran last): drawn as a bar."""
        self.state = state
        pal = self.palette()
        accent = pal.color(QPalette.ColorRole.Highlight)
        faint = f"rgba({accent.red()}, {accent.green()}, {accent.blue()}, 80)"
        base = pal.color(QPalette.ColorRole.Base)
        code_bg = base.darker(106) if base.lightness() >= 128 else base.lighter(125)
        bg = code_bg.name() if self.cell.kind == "code" else "transparent"
        bar = {"current": f"4px solid {accent.name()}", "next": f"4px solid {faint}",
               "running": "6px solid #2e7d32", "paused": "6px solid #f9a825"}.get(
            state, "4px solid transparent")
        self.setStyleSheet(f"QFrame#LessonCell {{ border-left: {bar}; background: {bg}; }}"
                           " QLabel#CellBadge { font-style: italic; }")

    def show_result(self, res: CellRun) -> None:
        dark = _is_dark(self)
        text = res.output.rstrip("\n")
        if res.value_repr is not None:
            text = f"{text}\n{res.value_repr}" if text else res.value_repr
        if res.error is not None:
            mark = "✓ as expected: " if res.passed else ""
            text = f"{text}\n{mark}{res.error_text}" if text else mark + res.error_text
        if not res.passed and res.error is None:
            text = f"{text}\n{res.note}" if text else res.note
        if len(text) > _MAX_OUTPUT_CHARS:
            text = text[:_MAX_OUTPUT_CHARS] + "\n…"
        color = ("#ff6b6b" if dark else "#c62828") if not res.passed else ""
        self.output.setStyleSheet(f"color: {color};" if color else "")
        self.output.setText(text)
        self.output.setVisible(bool(text))

    def clear_result(self) -> None:
        self.output.clear()
        self.output.hide()


class LessonPanel(QWidget):
    """Lesson browser plus the current lesson's cells, run one at a time with Next cell."""

    cell_ran = Signal(object)  # the CellRun (a RunResult) of the cell that just ran

    def __init__(self, session: Session, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.bridge = bridge
        self.lessons: list[LessonInfo] = list_lessons()
        self.runner: LessonRunner | None = None
        self.cells: list[Cell] = []
        self.title = ""
        self.path: Path | None = None
        self.unsupported: list[tuple[int, int, str]] = []
        self._views: list[_CellView] = []
        self.running_index: int | None = None  # the cell the kernel is running now
        #: asked before a click replaces the workspace (the window's Save/Discard/Cancel)
        self.before_replace: Callable[[], bool] | None = None

        self.list = QListWidget(self)
        self.list.setObjectName("LessonList")
        for info in self.lessons:
            item = QListWidgetItem(f"{info.number:02d}  {info.title}")
            item.setData(Qt.ItemDataRole.UserRole, str(info.path))
            item.setToolTip(info.path.name)
            self.list.addItem(item)
        self.list.itemActivated.connect(self._on_item)
        self.list.itemClicked.connect(self._on_item)

        self.title_label = QLabel(self)
        self.title_label.setWordWrap(True)
        f = self.title_label.font()
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.title_label.setFont(f)
        self.warning = QLabel(self)
        self.warning.setObjectName("LessonWarning")
        self.warning.setWordWrap(True)
        self.warning.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning.hide()

        self.cells_widget = QWidget()
        self.cells_layout = QVBoxLayout(self.cells_widget)
        self.cells_layout.setContentsMargins(0, 0, 0, 0)
        self.cells_layout.setSpacing(6)
        self.cells_layout.addStretch(1)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.cells_widget)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.next_button = QPushButton("Next cell", self)
        self.next_button.setToolTip("Run the lesson's next code cell (Ctrl+Enter)")
        self.next_button.clicked.connect(self.run_next_cell)
        self.reset_button = QPushButton("Reset", self)
        self.reset_button.setToolTip("Back to the first cell, in an empty workspace")
        self.reset_button.clicked.connect(self.reset)
        self.open_button = QPushButton("Open…", self)
        self.open_button.setToolTip("Open a .py percent script or a Jupyter .ipynb notebook")
        self.open_button.clicked.connect(self._open_dialog)
        self.status = QLabel(self)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for w in (self.next_button, self.reset_button, self.open_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        buttons.addWidget(self.status)

        lesson_box = QWidget(self)
        lb = QVBoxLayout(lesson_box)
        lb.setContentsMargins(0, 0, 0, 0)
        lb.setSpacing(4)
        lb.addWidget(self.title_label)
        lb.addWidget(self.warning)
        lb.addWidget(self.scroll, 1)
        lb.addLayout(buttons)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.list)
        self.splitter.addWidget(lesson_box)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([150, 500])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.splitter)

        bridge.changed.connect(self._on_session_changed)
        if self.lessons:  # show lesson 01 without touching the workspace
            self._show(self.lessons[0].cells(), self.lessons[0].title, self.lessons[0].path)
            self.list.setCurrentRow(0)
        self._update()

    # ------------------------------------------------------------------ loading
    def _on_item(self, item: QListWidgetItem) -> None:
        path = Path(item.data(Qt.ItemDataRole.UserRole))
        if path != self.path:
            if self.before_replace is not None and not self.before_replace():
                self._select_in_list()  # the user kept the work: the list shows it again
                return
            self.load_lesson(path)

    def load_lesson(self, which: LessonInfo | Path | str | int) -> None:
        """Show a lesson (by info, path or number) and start it in an empty workspace."""
        if isinstance(which, int):
            info = next((i for i in self.lessons if i.number == which), None)
            if info is None:
                raise ValueError(f"no lesson {which}")
            which = info
        self.open_notebook(which.path if isinstance(which, LessonInfo) else which)

    def open_notebook(self, path: str | os.PathLike[str]) -> list[tuple[int, int, str]]:
        """Show a ``.py`` percent script or ``.ipynb`` notebook and start it in an empty
        workspace. The torch API it uses that the engine lacks is listed in a warning before
        anything runs (and returned). Raises ValueError, with the panel unchanged, for files
        that cannot be read as a notebook."""
        p = Path(path)
        nb = read_notebook(p)  # read once; a NotebookError (ValueError) is one sentence
        self._show(nb.cells, nb.title, p)
        self.reset()
        return list(self.unsupported)

    def load_cells(self, cells: Sequence[Cell], title: str = "") -> None:
        """Show cells that did not come from a file, ready to run (the workspace is kept)."""
        self._show(list(cells), title, None)

    def _show(self, cells: list[Cell], title: str, path: Path | None) -> None:
        self.cells = cells
        self.title = title
        self.path = path.resolve() if path is not None else None
        self.runner = LessonRunner(self.session, cells)
        self.unsupported = unsupported_torch_api(cells)
        self.title_label.setText(title)
        self._select_in_list()
        self._show_warning()
        for v in self._views:
            self.cells_layout.removeWidget(v)
            v.hide()
            v.deleteLater()
        problems: dict[int, list[str]] = {}
        for i, line, name in self.unsupported:
            problems.setdefault(i, []).append(f"{name} (line {line})")
        base = self.path.parent if self.path is not None else None
        self._views = [_CellView(i, c, problems.get(i, ()), self.cells_widget, base)
                       for i, c in enumerate(cells)]
        for n, v in enumerate(self._views):
            self.cells_layout.insertWidget(n, v)
        self._update()

    def _select_in_list(self) -> None:
        self.list.blockSignals(True)
        try:
            self.list.clearSelection()
            self.list.setCurrentRow(-1)
            for row in range(self.list.count()):
                item = self.list.item(row)
                if self.path is not None and Path(item.data(Qt.ItemDataRole.UserRole)) \
                        .resolve() == self.path:
                    self.list.setCurrentRow(row)
        finally:
            self.list.blockSignals(False)

    def _show_warning(self) -> None:
        if not self.unsupported:
            self.warning.hide()
            self.warning.clear()
            return
        names = sorted({n for _, _, n in self.unsupported})
        lines = [f"cell {i + 1}, line {line}: {name}" for i, line, name in self.unsupported]
        self.warning.setText(
            "This notebook uses PyTorch features the gradviz engine does not have: "
            f"{', '.join(names)}. The cells that use them will fail when they run.\n"
            + "\n".join(lines[:12]) + ("\n…" if len(lines) > 12 else ""))
        dark = _is_dark(self)
        self.warning.setStyleSheet(
            "QLabel#LessonWarning { padding: 6px; border-radius: 4px; "
            + ("background: #4a3b00; color: #ffe08a; }" if dark
               else "background: #fff4ce; color: #5c4400; }"))
        self.warning.show()

    def warning_text(self) -> str:
        """The unsupported-API warning shown above the cells ("" when there is none)."""
        return self.warning.text() if not self.warning.isHidden() else ""

    def _open_dialog(self) -> None:
        start = str(self.path.parent) if self.path else str(Path.cwd())
        path, _ = QFileDialog.getOpenFileName(self, "Open notebook", start,
                                              "Notebooks (*.py *.ipynb);;All files (*)")
        if path:
            try:
                self.open_notebook(path)
            except ValueError as e:
                self.warning.setText(str(e))
                self.warning.show()

    # ------------------------------------------------------------------ running
    @property
    def current_index(self) -> int | None:
        """Index of the cell that ran last (highlighted), or None."""
        return self.runner.last_index if self.runner else None

    def run_next_cell(self) -> RunResult | None:
        """Run the next code cell; None when the lesson is finished (or none is shown)."""
        if self.runner is None or self.running_index is not None:
            return None
        nxt = self.runner.next_index
        if nxt is not None:
            self.running_index = nxt
            self._views[nxt].set_state("running")
        try:
            res = self.runner.run_next()
        finally:
            self.running_index = None
        if res is not None:
            self._views[res.cell_index].show_result(res)
        self._update()
        if res is not None:
            self.cell_ran.emit(res)
        return res

    def mark_paused(self, paused: bool) -> None:
        """The running cell waits inside backward() (or goes on)."""
        i = self.running_index
        if i is not None and i < len(self._views):
            self._views[i].set_state("paused" if paused else "running")
            self.status.setText("PAUSED in backward(): F10 steps, F5 continues" if paused
                                else "running…")

    def cell_statuses(self) -> list[dict]:
        """Each cell's status for ``--state-json``: ok, error, paused, not_run or markdown."""
        ran = {r.cell_index: r for r in (self.runner.results if self.runner else [])}
        out = []
        for i, c in enumerate(self.cells):
            if c.kind != "code":
                out.append({"status": "markdown", "output": "", "error": None})
            elif i == self.running_index:
                out.append({"status": "paused", "output": "", "error": None})
            elif i in ran:
                r = ran[i]
                out.append({"status": "ok" if r.error is None else "error",
                            "output": r.output + (r.value_repr + "\n" if r.value_repr else ""),
                            "error": r.error_text or None})
            else:
                out.append({"status": "not_run", "output": "", "error": None})
        return out

    def reset(self) -> None:
        """Back to the first cell, in an empty workspace."""
        if self.runner is not None:
            self.runner.reset()
        for v in self._views:
            v.clear_result()
        self._update()

    def _on_session_changed(self, what: str) -> None:
        # the workspace was emptied elsewhere (File > New, a session opened): start over
        r = self.runner
        if what == "code" and r is not None and r.position and not self.session.history:
            r.position = 0
            r.last_index = None
            r.results.clear()
            for v in self._views:
                v.clear_result()
            self._update()

    def _update(self) -> None:
        r = self.runner
        nxt = r.next_index if r else None
        cur = r.last_index if r else None
        for v in self._views:
            state = "current" if v.index == cur else "next" if v.index == nxt else ""
            if state != v.state:
                v.set_state(state)
        total = sum(c.kind == "code" for c in self.cells)
        done = sum(c.kind == "code" for c in self.cells[:r.position]) if r else 0
        self.status.setText(f"{done} / {total}" + (" · done" if total and nxt is None else ""))
        self.next_button.setEnabled(nxt is not None)
        self.reset_button.setEnabled(r is not None)
        target = cur if cur is not None else nxt
        if target is not None and self.isVisible():
            self.scroll.ensureWidgetVisible(self._views[target], 0, 24)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            for v in self._views:
                v.set_state(v.state)
            self._show_warning()
