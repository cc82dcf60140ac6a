"""The lesson panel: a lesson browser, the current lesson's cells (markdown rendered, code
highlighted), and "Next cell" to run them one at a time in the session.

The panel computes nothing itself: a :class:`~gradviz.lessons.LessonRunner` runs each cell in
the session, and the other panels follow through the bridge. The main window binds Ctrl+Enter
to :meth:`LessonPanel.run_next_cell`.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPalette, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gradviz.lessons import CellRun, LessonInfo, LessonRunner, list_lessons
from gradviz.notebook import Cell, read_notebook, torch_api_uses, unsupported
from gradviz.qt.bridge import Bridge
from gradviz.qt.theming import theme_for
from gradviz.workspace import RunResult
from gradviz.workspace import Workspace as Session

__all__ = ["LessonPanel"]

_MAX_OUTPUT_CHARS = 4000


def _mono(like: QWidget | None = None) -> QFont:
    """The code font, at the point size of ``like``'s font (so it follows the font scale)."""
    f = QFont("DejaVu Sans Mono")
    f.setStyleHint(QFont.StyleHint.Monospace)
    f.setFixedPitch(True)
    if like is not None and like.font().pointSizeF() > 0:
        f.setPointSizeF(like.font().pointSizeF())
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
        #: called when the height changes (the lazy cell list measures the cell again)
        self.on_height: Callable[[], None] | None = None
        self.document().contentsChanged.connect(self._fit)

    def _fit(self, width: int | None = None) -> None:
        """As tall as the text laid out ``width`` wide (the widget's own width by default)."""
        m = self.contentsMargins()
        width = self.viewport().width() if width is None else width - m.left() - m.right()
        if width <= 0:
            return
        self.document().setTextWidth(width)
        h = math.ceil(self.document().size().height()) + m.top() + m.bottom() + 2
        if h != self.height():
            self.setFixedHeight(h)
            if self.on_height is not None:
                self.on_height()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()


#: a line longer than this is shown cut (the cell still runs whole): laying out a 10 MB line
#: would freeze the window
MAX_SHOWN_LINE = 4_000
#: a cell with more lines than this shows the first ones and says how many more there are
MAX_SHOWN_LINES = 2_000


def display_text(source: str) -> str:
    """``source`` as a cell shows it: lines longer than :data:`MAX_SHOWN_LINE` cut with a note
    of how much is not shown, at most :data:`MAX_SHOWN_LINES` lines. Linear in its size."""
    if len(source) <= MAX_SHOWN_LINE and source.count("\n") < MAX_SHOWN_LINES:
        return source
    lines = source.split("\n")
    out = [line if len(line) <= MAX_SHOWN_LINE else
           f"{line[:MAX_SHOWN_LINE]} … [{len(line) - MAX_SHOWN_LINE:,} more characters on this "
           "line are not shown; the cell runs whole]" for line in lines[:MAX_SHOWN_LINES]]
    if len(lines) > MAX_SHOWN_LINES:
        out.append(f"… [{len(lines) - MAX_SHOWN_LINES:,} more lines are not shown; the cell "
                   "runs whole]")
    return "\n".join(out)


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
        self.output.setFont(_mono(self))
        self.output.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.output.setTextFormat(Qt.TextFormat.PlainText)
        self.output.hide()
        if cell.kind == "markdown":
            from gradviz.notebook import sanitize_markdown_images

            # an image that is a FIFO, a device or huge is named, never opened
            self.text.setMarkdown(sanitize_markdown_images(display_text(cell.source), base_dir))
        else:
            self.text.setFont(_mono(self))
            self.text.setLineWrapMode(QTextBrowser.LineWrapMode.WidgetWidth)
            self.text.setPlainText(display_text(cell.source))
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

    def set_font_like(self, like: QWidget) -> None:
        """Take ``like``'s font size (the panel's, after a font scale change)."""
        self.setFont(like.font())
        self.output.setFont(_mono(like))
        if self.cell.kind != "markdown":
            self.text.setFont(_mono(like))

    def fit(self, width: int) -> int:
        """The cell's height ``width`` wide, output and badge included, as laid out: it is
        placed at that width and shown first, so its text wraps as it will be drawn."""
        if self.width() != width:
            self.resize(width, max(self.height(), 1))
        if not self.isVisible():
            self.show()  # lays the children out, the text measures itself (_FitBrowser)
        lay = self.layout()
        lay.activate()
        self.text._fit()
        lay.invalidate()
        h = lay.totalHeightForWidth(width) if lay.hasHeightForWidth() else -1
        return max(h, lay.totalSizeHint().height(), 1)

    def _highlight(self) -> None:
        try:
            from gradviz.qt.code_panel import PythonHighlighter
        except ImportError:  # pragma: no cover - highlighting is a nicety
            return
        self._highlighter = PythonHighlighter(self.text.document(), theme_for(self))

    def set_state(self, state: str) -> None:
        """"" (plain), "next" (runs on Next cell) or "current" (ran last): drawn as a bar."""
        self.state = state
        pal = self.palette()
        accent = pal.color(QPalette.ColorRole.Highlight)
        faint = f"rgba({accent.red()}, {accent.green()}, {accent.blue()}, 80)"
        ui = theme_for(self).ui
        bg = ui.cell_code_bg if self.cell.kind == "code" else "transparent"
        bar = {"current": f"4px solid {accent.name()}", "next": f"4px solid {faint}",
               "running": f"6px solid {ui.cell_running}",
               "paused": f"6px solid {ui.cell_paused}"}.get(
            state, "4px solid transparent")
        self.setStyleSheet(f"QFrame#LessonCell {{ border-left: {bar}; background: {bg}; }}"
                           " QLabel#CellBadge { font-style: italic; }")

    def show_result(self, res: CellRun) -> None:
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
        color = theme_for(self).ui.error if not res.passed else ""
        self.output.setStyleSheet(f"color: {color};" if color else "")
        self.output.setText(text)
        self.output.setVisible(bool(text))

    def clear_result(self) -> None:
        self.output.clear()
        self.output.hide()


class _CellList(QAbstractScrollArea):
    """The lesson's cells, one under the other, made lazily: only the cells in the viewport
    have a widget (:class:`_CellView`, a few ms each); the others are a height, estimated from
    their text until they have been shown once. Opening 20,000 cells costs a few widgets, not
    20,000 (bench/bench_notebook.py)."""

    SPACING = 6

    def __init__(self, panel: LessonPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.cells: list[Cell] = []
        self.problems: dict[int, list[str]] = {}
        self.base_dir: Path | None = None
        self.views: dict[int, _CellView] = {}
        self._heights: list[int] = []
        self._measured: set[int] = set()
        self._tops: list[int] | None = None  # each cell's top, then the total height
        self._width = 0
        self._laying_out = False
        self.verticalScrollBar().valueChanged.connect(self.relayout)

    # ----- content
    def set_cells(self, cells: list[Cell], problems: dict[int, list[str]],
                  base_dir: Path | None) -> None:
        for v in self.views.values():
            v.hide()
            v.deleteLater()
        self.views = {}
        self.cells, self.problems, self.base_dir = cells, problems, base_dir
        self._width = 0  # estimates are made for the width relayout finds
        self.verticalScrollBar().setValue(0)
        self.relayout()

    def _estimates(self, width: int) -> list[int]:
        """Each cell's height guessed from its text (lines, and long lines wrapped), before
        its widget measures it; linear in the text, no layout."""
        metrics = {}
        for kind, font, spread in (("code", _mono(self), 1.0), ("markdown", self.font(), 1.35)):
            fm = QFontMetrics(font)
            cols = max(10, (width - 24) // max(1, fm.horizontalAdvance("x")))
            metrics[kind] = (cols, fm.lineSpacing() * spread)
        out = []
        for c in self.cells:
            cols, line = metrics[c.kind]
            n = len(c.source)
            rows = (c.source.count("\n") + 1 + n // cols) if n < 100_000 else MAX_SHOWN_LINES
            out.append(int(rows * line) + 24)
        return out

    def _layout_tops(self) -> list[int]:
        if self._tops is None:
            tops, y = [], 0
            for h in self._heights:
                tops.append(y)
                y += h + self.SPACING
            tops.append(max(0, y - self.SPACING))
            self._tops = tops
        return self._tops

    # ----- views
    def view(self, index: int) -> _CellView:
        """The widget of cell ``index``, scrolled into view (made if it was not there)."""
        self.ensure_visible(index)
        return self.views[index]

    def refit(self, index: int) -> None:
        """Cell ``index`` changed what it shows (output, state): measure it again."""
        if index in self.views:
            self._measured.discard(index)
            self.relayout()

    def refit_all(self) -> None:
        """Measure every cell in view again."""
        self._measured.difference_update(self.views)
        self.relayout()

    def refit_later(self, index: int) -> None:
        """As :meth:`refit`, once control is back in the event loop (called from inside a
        cell widget's own layout)."""
        if index in self.views and not self._laying_out:
            self._measured.discard(index)
            QTimer.singleShot(0, self, self.relayout)

    def ensure_visible(self, index: int, margin: int = 24) -> None:
        """Scroll so that cell ``index`` is in view (its top, when it is taller than the
        view)."""
        if not 0 <= index < len(self.cells):
            return
        for _ in range(3):  # its height and the ones above may change once measured
            tops = self._layout_tops()
            bar, vh = self.verticalScrollBar(), self.viewport().height()
            top, bottom = tops[index], tops[index] + self._heights[index]
            y = bar.value()
            if top - margin < y or bottom - top + 2 * margin > vh:
                y = top - margin
            elif bottom + margin > y + vh:
                y = bottom + margin - vh
            if y == bar.value() and index in self.views:
                return
            bar.setValue(max(0, min(y, bar.maximum())))
            self.relayout()

    def relayout(self) -> None:
        """Make the widgets of the cells in view, drop the others, place them."""
        if self._laying_out:
            return
        self._laying_out = True
        try:
            self._relayout()
        finally:
            self._laying_out = False

    def _relayout(self) -> None:
        width = self.viewport().width()
        if width <= 0:
            return
        bar, vh = self.verticalScrollBar(), self.viewport().height()
        if width != self._width:  # estimates (and measures) are for one width
            self._width = width
            self._heights = self._estimates(width)
            self._measured.clear()
            self._tops = None
        for _ in range(4):  # measuring changes heights; a few passes settle it
            tops = self._layout_tops()
            at_end = bar.value() >= bar.maximum() > 0
            bar.blockSignals(True)
            bar.setRange(0, max(0, tops[-1] - vh))
            bar.setPageStep(vh)
            bar.setSingleStep(max(8, QFontMetrics(self.font()).lineSpacing()))
            if at_end:
                bar.setValue(bar.maximum())
            bar.blockSignals(False)
            y0 = bar.value()
            first = max(0, bisect.bisect_right(tops, y0, 0, len(self.cells)) - 1)
            wanted = []
            i = first
            while i < len(self.cells) and tops[i] < y0 + vh:
                wanted.append(i)
                i += 1
            for i in [k for k in self.views if k not in wanted]:
                v = self.views.pop(i)
                v.hide()
                v.deleteLater()
            anchor = (first, y0 - tops[first]) if self.cells else None
            changed = False
            for i in wanted:
                if i not in self.views:
                    v = self.views[i] = self.panel._make_view(i, self.viewport())
                    v.setGeometry(0, tops[i] - y0, width, self._heights[i])
                if i not in self._measured:
                    h = self.views[i].fit(width)
                    self._measured.add(i)
                    if h != self._heights[i]:
                        self._heights[i] = h
                        changed = True
            if not changed:
                break
            self._tops = None
            tops = self._layout_tops()
            if anchor is not None and not at_end:  # the first cell in view stays where it was
                bar.blockSignals(True)
                bar.setRange(0, max(0, tops[-1] - vh))
                bar.setValue(tops[anchor[0]] + anchor[1])
                bar.blockSignals(False)
        tops = self._layout_tops()
        y0 = bar.value()
        for i, v in self.views.items():
            v.setGeometry(0, tops[i] - y0, width, self._heights[i])
            v.show()

    def visible_indices(self) -> list[int]:
        """The cells with a widget now, in order."""
        return sorted(self.views)

    # ----- Qt
    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.relayout()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.relayout()


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
        self._api_uses: list[tuple[int, int, str, str]] = []
        self._api_pending = False
        self.running_index: int | None = None  # the cell the kernel is running now
        self._running_state = "running"  # or "paused" (inside backward())
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
        self._style_title()
        self.warning = QLabel(self)
        self.warning.setObjectName("LessonWarning")
        self.warning.setWordWrap(True)
        self.warning.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning.hide()

        self.cell_list = _CellList(self)

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
        # one row when the panel is wide enough, two in a narrow dock (a projector's font):
        # the panel never grows wider than its dock, so cells and outputs are never cut off
        buttons = self._buttons = QVBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(4)
        self._button_places: list[tuple[int, int]] = []
        for w in (self.next_button, self.reset_button, self.open_button, self.status):
            w.setMinimumWidth(24)
        self._arrange_buttons()

        lesson_box = QWidget(self)
        lb = QVBoxLayout(lesson_box)
        lb.setContentsMargins(0, 0, 0, 0)
        lb.setSpacing(4)
        lb.addWidget(self.title_label)
        lb.addWidget(self.warning)
        lb.addWidget(self.cell_list, 1)
        lb.addLayout(buttons)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.list)
        self.splitter.addWidget(lesson_box)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([150, 500])
        self._list_sized_by_user = False
        self.splitter.splitterMoved.connect(self._on_splitter_moved)
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
        self._api_uses = torch_api_uses(cells)  # read here; the kernel says what is missing
        self.title_label.setText(title)
        self._select_in_list()
        base = self.path.parent if self.path is not None else None
        self.cell_list.set_cells(cells, self._check_api(), base)
        self._update()

    def _check_api(self) -> dict[int, list[str]]:
        """Ask the kernel which of the notebook's torch names its library lacks, show the
        warning, and return the problems per cell. A kernel still starting answers when it is
        up (the warning appears then)."""
        uses = self._api_uses
        missing = self.session.api_missing([key for *_, key in uses]) if uses else set()
        if missing is None:
            self.unsupported = []
            started = getattr(getattr(self.session, "kernel", None), "started", None)
            if started is not None and not self._api_pending:
                self._api_pending = True
                started.connect(self._recheck_api, Qt.ConnectionType.SingleShotConnection)
        else:
            self.unsupported = unsupported(uses, missing)
        self._show_warning()
        problems: dict[int, list[str]] = {}
        for i, line, name in self.unsupported:
            problems.setdefault(i, []).append(f"{name} (line {line})")
        return problems

    def _recheck_api(self) -> None:
        self._api_pending = False
        if self.cells:
            problems = self._check_api()
            if problems:
                self.cell_list.set_cells(self.cells, problems, self.cell_list.base_dir)

    # ------------------------------------------------------------------ cell widgets
    def _make_view(self, index: int, parent: QWidget) -> _CellView:
        """The widget of cell ``index`` as it is now (state and output), for the cell list."""
        v = _CellView(index, self.cells[index], self.cell_list.problems.get(index, ()), parent,
                      self.cell_list.base_dir)
        v.set_state(self.cell_state(index))
        res = self._result(index)
        if res is not None:
            v.show_result(res)
        v.text.on_height = lambda: self.cell_list.refit_later(index)
        return v

    def _result(self, index: int) -> CellRun | None:
        for r in reversed(self.runner.results if self.runner else []):
            if r.cell_index == index:
                return r
        return None

    def cell_state(self, index: int) -> str:
        """"running", "paused", "current" (ran last), "next" (runs on Next cell) or ""."""
        if index == self.running_index:
            return self._running_state
        r = self.runner
        if r is None:
            return ""
        return "current" if index == r.last_index else "next" if index == r.next_index else ""

    def cell_view(self, index: int) -> _CellView:
        """Cell ``index``'s widget, scrolled into view."""
        return self.cell_list.view(index)

    def shown_views(self) -> list[_CellView]:
        """The cell widgets that exist now (the cells in view), in order."""
        return [self.cell_list.views[i] for i in self.cell_list.visible_indices()]

    def _restate(self, index: int | None) -> None:
        v = self.cell_list.views.get(index) if index is not None else None
        if v is not None:
            v.set_state(self.cell_state(index))

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
        ui = theme_for(self).ui
        self.warning.setStyleSheet(
            "QLabel#LessonWarning { padding: 6px; border-radius: 4px; "
            f"background: {ui.warning_bg}; color: {ui.warning_text}; }}")
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
            self.running_index, self._running_state = nxt, "running"
            self.cell_list.ensure_visible(nxt)
            self._restate(nxt)
        try:
            res = self.runner.run_next()
        finally:
            self.running_index = None
        if res is not None and res.cell_index in self.cell_list.views:
            self.cell_list.views[res.cell_index].show_result(res)
            self.cell_list.refit(res.cell_index)
        self._update()
        if res is not None:
            self.cell_ran.emit(res)
        return res

    def mark_paused(self, paused: bool) -> None:
        """The running cell waits inside backward() (or goes on)."""
        i = self.running_index
        if i is not None:
            self._running_state = "paused" if paused else "running"
            self._restate(i)
            self.status.setText("⏸ paused in backward() (F10)" if paused
                                else "running…")
            self._arrange_buttons()

    def cell_statuses(self) -> list[dict]:
        """Each cell's status for ``--state-json``: ok, error, paused, not_run, markdown or
        empty (a code cell with nothing to run)."""
        ran = {r.cell_index: r for r in (self.runner.results if self.runner else [])}
        out = []
        for i, c in enumerate(self.cells):
            if c.kind != "code":
                out.append({"status": "markdown", "output": "", "error": None})
            elif not c.runs:
                out.append({"status": "empty", "output": "", "error": None})
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
        self._clear_results()

    def _clear_results(self) -> None:
        for v in list(self.cell_list.views.values()):
            v.clear_result()
        self.cell_list.refit_all()
        self._update()

    def _on_session_changed(self, what: str) -> None:
        # the workspace was emptied elsewhere (File > New, a session opened): start over
        r = self.runner
        if what == "code" and r is not None and r.position and not self.session.history:
            r.position = 0
            r.last_index = None
            r.results.clear()
            self._clear_results()

    def _update(self) -> None:
        r = self.runner
        nxt = r.next_index if r else None
        cur = r.last_index if r else None
        for i, v in self.cell_list.views.items():
            state = self.cell_state(i)
            if state != v.state:
                v.set_state(state)
        total = sum(c.runs for c in self.cells)
        done = sum(c.runs for c in self.cells[:r.position]) if r else 0
        self.status.setText(f"{done} / {total}" + (" · done" if total and nxt is None else ""))
        self.next_button.setEnabled(nxt is not None)
        self.reset_button.setEnabled(r is not None)
        self._arrange_buttons()
        target = cur if cur is not None else nxt
        if target is not None and self.isVisible():
            self.cell_list.ensure_visible(target)

    def _arrange_buttons(self) -> None:
        """Buttons and status in as few rows as the panel's width holds (they flow)."""
        widgets = (self.next_button, self.reset_button, self.open_button, self.status)
        room, gap = self.width() - 12, 6
        places, row, used = [], 0, 0
        for w in widgets:
            need = w.sizeHint().width()
            if used and used + gap + need > room:
                row, used = row + 1, 0
            places.append((row, 0))
            used += need + (gap if used else 0)
        if places == self._button_places:
            return
        self._button_places = places
        while (item := self._buttons.takeAt(0)) is not None:  # the old rows, emptied
            old = item.layout()
            while old is not None and old.takeAt(0) is not None:
                pass
        for r in range(places[-1][0] + 1):
            line = QHBoxLayout()
            line.setContentsMargins(0, 0, 0, 0)
            line.setSpacing(gap)
            for w, (wr, _) in zip(widgets, places):
                if wr == r:
                    if w is self.status:
                        line.addStretch(1)
                    line.addWidget(w)
            if r != places[-1][0]:  # the status row ends with it, the others with room
                line.addStretch(1)
            self._buttons.addLayout(line)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._arrange_buttons()
        self._fit_list()

    def _on_splitter_moved(self, *_: object) -> None:
        self._list_sized_by_user = True

    def _fit_list(self) -> None:
        """The lesson list takes what the cells can spare: five rows when the panel is tall,
        two and a half when it is short (1024x768 with large text), unless the user dragged
        the divider."""
        if self._list_sized_by_user:
            return
        total = self.splitter.height()
        row = max(1, self.list.sizeHintForRow(0) if self.list.count() else
                  self.fontMetrics().lineSpacing())
        tall = total > 24 * self.fontMetrics().lineSpacing()
        want = int(row * (5.3 if tall else 2.6)) + 2 * self.list.frameWidth()
        want = min(want, max(row, total // 3))
        if total > 0 and abs(self.splitter.sizes()[0] - want) > 2:
            self.splitter.blockSignals(True)
            self.splitter.setSizes([want, max(0, total - want)])
            self.splitter.blockSignals(False)

    def _style_title(self) -> None:
        f = QFont(self.font())
        f.setBold(True)
        f.setPointSizeF(self.font().pointSizeF() * 1.15)
        self.title_label.setFont(f)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and hasattr(self, "cell_list"):
            # the font scale changed: the title and the cells' code follow it
            self._style_title()
            QTimer.singleShot(0, self, self._fit_list)
            for v in self.cell_list.views.values():
                v.set_font_like(self)
            self.cell_list.refit_all()
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._button_places = []
            QTimer.singleShot(0, self, self._arrange_buttons)  # once the new sizes are known
        if event.type() == QEvent.Type.PaletteChange:
            for v in self.cell_list.views.values():
                v.set_state(v.state)
            self._show_warning()
