"""The code panel: a Python editor run as notebook cells (``# %%``), the output of each run, and
a transcript of every line the session ran, panel actions included, so the panel always holds
the equivalent program."""

from __future__ import annotations

import keyword
import textwrap
import traceback
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from gradviz.notebook import Cell, is_cell_marker, parse_percent
from gradviz.qt.bridge import Bridge
from gradviz.qt.theming import theme_for, theme_for_palette
from gradviz.theme import Theme, get_theme
from gradviz.workspace import RunResult
from gradviz.workspace import Workspace as Session

__all__ = ["CodePanel", "CodeEditor", "PythonHighlighter", "Cell", "split_cells"]

_BUILTINS = frozenset({"print", "range", "len", "list", "tuple", "dict", "set", "int", "float",
                       "bool", "str", "abs", "min", "max", "sum", "zip", "enumerate", "isinstance",
                       "type", "round", "sorted", "reversed", "map", "filter", "any", "all",
                       "repr", "super", "object", "getattr", "setattr", "hasattr", "iter",
                       "next", "open"})
_KEYWORDS = frozenset(keyword.kwlist) - {"None", "True", "False"}
_CONSTANTS = frozenset({"None", "True", "False"})
_NAMES = frozenset({"torch", "engine", "np", "self"})


def split_cells(text: str) -> list[Cell]:
    """The editor's cells: :func:`gradviz.notebook.parse_percent`, the app's one ``# %%``
    parser (each cell knows its editor lines, :attr:`Cell.line` and :attr:`Cell.end`); text
    without a marker is one cell."""
    return parse_percent(text) or [Cell("code", "", None, 0, text.count("\n") + 1)]


def current_line_colour(pal: QPalette, theme: Theme | None = None) -> QColor:
    """The current line's tint for a palette: its base blended towards its highlight colour
    by the theme's ``current_line_mix`` (14% light, 22% dark), so it belongs to whatever
    theme is in use (``theme`` defaults to the one the palette belongs to)."""
    b, h = pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Highlight)
    t = (theme or theme_for_palette(pal)).ui.current_line_mix
    return QColor.fromRgbF(b.redF() + (h.redF() - b.redF()) * t,
                           b.greenF() + (h.greenF() - b.greenF()) * t,
                           b.blueF() + (h.blueF() - b.blueF()) * t)


def _mono(size: float | None = None) -> QFont:
    f = QFont("DejaVu Sans Mono")
    f.setStyleHint(QFont.StyleHint.Monospace)
    f.setFixedPitch(True)
    if size:
        f.setPointSizeF(size)
    return f


# ----------------------------------------------------------------------------- highlighting
class PythonHighlighter(QSyntaxHighlighter):
    """Keywords, builtins, numbers, strings (triple-quoted too), comments and cell markers."""

    _IN_TRIPLE = {'"""': 1, "'''": 2}

    def __init__(self, document: QTextDocument, theme: Theme | None = None) -> None:
        super().__init__(document)
        self.theme: Theme | None = None
        self.set_theme(theme or get_theme("light"))

    def set_theme(self, theme: Theme) -> None:
        """The syntax colours of ``theme`` (re-highlights only when they change)."""
        if self.theme is not None and self.theme.syntax == theme.syntax:
            return
        self.theme = theme
        c = theme.syntax
        def fmt(color: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
            f = QTextCharFormat()
            f.setForeground(QColor(color))
            if bold:
                f.setFontWeight(QFont.Weight.Bold)
            f.setFontItalic(italic)
            return f
        self.formats = {"keyword": fmt(c.keyword, True), "builtin": fmt(c.builtin),
                        "constant": fmt(c.constant, True), "number": fmt(c.number),
                        "string": fmt(c.string), "comment": fmt(c.comment, italic=True),
                        "name": fmt(c.name, True), "def": fmt(c.def_, True),
                        "marker": fmt(c.marker, True), "error": fmt(c.error, True)}
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:  # noqa: N802 (Qt's name)
        f = self.formats
        state = self.previousBlockState()
        i, n = 0, len(text)
        self.setCurrentBlockState(0)
        if state in (1, 2):
            quote = '"""' if state == 1 else "'''"
            end = text.find(quote)
            if end < 0:
                self.setFormat(0, n, f["string"])
                self.setCurrentBlockState(state)
                return
            self.setFormat(0, end + 3, f["string"])
            i = end + 3
        prev_word = ""
        while i < n:
            c = text[i]
            if c == "#":
                rest = text[i:]
                kind = ("marker" if not text[:i].strip() and is_cell_marker(text) else
                        "error" if rest.startswith("# ✗") else "comment")
                self.setFormat(i, n - i, f[kind])
                return
            if c in "\"'":
                triple = text[i:i + 3]
                if triple in self._IN_TRIPLE:
                    end = text.find(triple, i + 3)
                    if end < 0:
                        self.setFormat(i, n - i, f["string"])
                        self.setCurrentBlockState(self._IN_TRIPLE[triple])
                        return
                    self.setFormat(i, end + 3 - i, f["string"])
                    i = end + 3
                    continue
                j = i + 1
                while j < n and text[j] != c:
                    j += 2 if text[j] == "\\" else 1
                self.setFormat(i, min(j + 1, n) - i, f["string"])
                i = j + 1
                continue
            if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
                j = i
                while j < n and (text[j].isalnum() or text[j] in "._" or
                                 (text[j] in "+-" and text[j - 1] in "eE")):
                    j += 1
                self.setFormat(i, j - i, f["number"])
                i = j
                continue
            if c.isalpha() or c == "_":
                j = i
                while j < n and (text[j].isalnum() or text[j] == "_"):
                    j += 1
                word = text[i:j]
                after_dot = i > 0 and text[i - 1] == "."
                kind = None
                if word in _KEYWORDS:
                    kind = "keyword"
                elif word in _CONSTANTS:
                    kind = "constant"
                elif prev_word in ("def", "class"):
                    kind = "def"
                elif not after_dot and word in _NAMES:
                    kind = "name"
                elif not after_dot and word in _BUILTINS:
                    kind = "builtin"
                if kind:
                    self.setFormat(i, j - i, f[kind])
                prev_word = word
                i = j
                continue
            i += 1


# ----------------------------------------------------------------------------- the editor
class _LineNumbers(QWidget):
    def __init__(self, editor: CodeEditor) -> None:
        super().__init__(editor)
        self.editor = editor

    def sizeHint(self) -> QSize:
        return QSize(self.editor.line_number_width(), 0)

    def paintEvent(self, event: QPaintEvent) -> None:
        self.editor.paint_line_numbers(event)


#: a line longer than this would freeze the editor's layout (a 40 MB line takes minutes)
MAX_LINE_CHARS = 100_000


def long_line_problem(text: str) -> str | None:
    """A sentence when ``text`` has a line too long to edit, else None."""
    from gradviz.safe_io import find_long_line, human_size

    hit = find_long_line(text, MAX_LINE_CHARS)
    if hit is None:
        return None
    line, length = hit
    return (f"line {line} is {human_size(length)} long, too long to edit here (the limit is "
            f"{MAX_LINE_CHARS:,} characters a line): the text was not inserted")


class CodeEditor(QPlainTextEdit):
    """A monospace Python editor: Shift+Enter asks to run the cell, Ctrl+Enter the line or
    selection; Tab inserts 4 spaces; Enter keeps the indentation; line numbers on the left.
    Text with a line too long to lay out is refused with a sentence (``refused``)."""

    refused = Signal(str)

    run_cell_requested = Signal()
    run_line_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codeEditor")
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setTabChangesFocus(False)
        self.setPlaceholderText("x = torch.tensor([1., 2., 3.], requires_grad=True)\n"
                                "y = (x * x).sum()\ny.backward()\nx.grad\n\n"
                                "Shift+Enter runs the cell, Ctrl+Enter the line")
        self._numbers = _LineNumbers(self)
        self._error_line: int | None = None
        self._marks: dict[int, str] = {}  # 0-based line -> background colour
        self.highlight_current_line = True
        self.highlighter = PythonHighlighter(self.document(), theme_for(self))
        self.blockCountChanged.connect(self._update_margin)
        self.updateRequest.connect(self._update_numbers)
        self.cursorPositionChanged.connect(self._update_selections)
        self.textChanged.connect(self._text_changed)
        self.textChanged.connect(self._update_selections)
        self._update_margin()
        self._update_selections()

    # --- line numbers
    def line_number_width(self) -> int:
        digits = max(2, len(str(max(1, self.blockCount()))))
        return 12 + self.fontMetrics().horizontalAdvance("9") * digits

    def _update_margin(self, *_: Any) -> None:
        self.setViewportMargins(self.line_number_width(), 0, 0, 0)

    def _update_numbers(self, rect: QRect, dy: int) -> None:
        if dy:
            self._numbers.scroll(0, dy)
        else:
            self._numbers.update(0, rect.y(), self._numbers.width(), rect.height())
        if rect.contains(self.viewport().rect()):
            self._update_margin()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        cr = self.contentsRect()
        self._numbers.setGeometry(QRect(cr.left(), cr.top(), self.line_number_width(),
                                        cr.height()))

    def paint_line_numbers(self, event: QPaintEvent) -> None:
        p = QPainter(self._numbers)
        ui = theme_for(self).ui
        p.fillRect(event.rect(), QColor(ui.gutter_bg))
        block = self.firstVisibleBlock()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        height = self.fontMetrics().height()
        current = self.textCursor().blockNumber()
        w = self._numbers.width() - 6
        while block.isValid() and top <= event.rect().bottom():
            bottom = top + round(self.blockBoundingRect(block).height())
            if block.isVisible() and bottom >= event.rect().top():
                n = block.blockNumber()
                if n == self._error_line:
                    color = QColor(ui.error)
                elif n == current:
                    color = QColor(ui.gutter_current)
                else:
                    color = QColor(ui.gutter_text)
                p.setPen(color)
                p.drawText(0, top, w, height, Qt.AlignmentFlag.AlignRight, str(n + 1))
            block = block.next()
            top = bottom
        p.end()

    # --- current line and error line
    def mark_error_line(self, line: int | None) -> None:
        """Tint 0-based ``line`` red (None clears it)."""
        self._error_line = line
        self._update_selections()
        self._numbers.update()

    def mark_lines(self, marks: dict[int, str]) -> None:
        """Background colour per 1-based line (e.g. the training panel's toggled lines)."""
        self._marks = {line - 1: colour for line, colour in marks.items()}
        self._update_selections()

    def error_line(self) -> int | None:
        return self._error_line

    def _text_changed(self) -> None:
        if self._error_line is not None:
            self.mark_error_line(None)

    def _update_selections(self) -> None:
        theme = theme_for(self)
        sels = []
        if self.document().isEmpty():  # keep the placeholder readable
            self.setExtraSelections(sels)
            return
        if self.highlight_current_line:
            cur = QTextEdit.ExtraSelection()
            cur.format.setBackground(current_line_colour(self.palette(), theme))
            cur.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            cur.cursor = self.textCursor()
            cur.cursor.clearSelection()
            sels.append(cur)
        for line, colour in sorted(self._marks.items()):
            block = self.document().findBlockByNumber(line)
            if block.isValid():
                m = QTextEdit.ExtraSelection()
                m.format.setBackground(QColor(colour))
                m.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
                m.cursor = QTextCursor(block)
                sels.append(m)
        if self._error_line is not None:
            block = self.document().findBlockByNumber(self._error_line)
            if block.isValid():
                err = QTextEdit.ExtraSelection()
                err.format.setBackground(QColor(theme.ui.error_line_bg))
                err.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
                err.cursor = QTextCursor(block)
                sels.append(err)
        self.setExtraSelections(sels)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            # a theme switch: the syntax colours, current line and numbers follow it
            self.highlighter.set_theme(theme_for(self))
            self._update_selections()
            self._numbers.update()

    # --- keys
    def event(self, event: QEvent) -> bool:
        # claim Ctrl/Shift+Enter before the window's shortcuts (Ctrl+Enter elsewhere is the
        # lesson's "Next cell"; in the editor it runs the line)
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in (
                Qt.Key.Key_Return, Qt.Key.Key_Enter) and event.modifiers() & (
                Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
                | Qt.KeyboardModifier.MetaModifier):
            event.accept()
            return True
        return super().event(event)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 - Qt's name
        """Paste and drop: refused in a sentence when a line is too long to lay out."""
        problem = long_line_problem(source.text()) if source.hasText() else None
        if problem is not None:
            self.refused.emit(problem)
            return
        super().insertFromMimeData(source)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        mods = event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if mods & Qt.KeyboardModifier.ShiftModifier:
                self.run_cell_requested.emit()
                return
            if mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier):
                self.run_line_requested.emit()
                return
            line = self.textCursor().block().text()[:self.textCursor().positionInBlock()]
            indent = line[:len(line) - len(line.lstrip())]
            if line.rstrip().endswith(":"):
                indent += "    "
            self.textCursor().insertText("\n" + indent)
            self.ensureCursorVisible()
            return
        if key == Qt.Key.Key_Tab and not mods:
            self.textCursor().insertText("    ")
            return
        super().keyPressEvent(event)


# ----------------------------------------------------------------------------- the panel
class CodePanel(QWidget):
    """Editor + output + transcript over a Session.

    Signals: ``ran(RunResult)`` after each run started from this panel."""

    ran = Signal(object)
    stop_requested = Signal()

    def __init__(self, session: Session, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codePanel")
        self.session = session
        self.bridge = bridge
        self._runs = 0
        self._transcript_count = 0

        self.editor = CodeEditor()
        self.editor.run_cell_requested.connect(self.run_current_cell)
        self.editor.run_line_requested.connect(self.run_current_line)

        self.output = QPlainTextEdit(objectName="codeOutput")
        self.output.setReadOnly(True)
        self.output.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.output.setMaximumBlockCount(5000)
        self.output.setPlaceholderText("Output of the cells you run appears here.")
        self.transcript = QPlainTextEdit(objectName="transcript")
        self.transcript.setReadOnly(True)
        self.transcript.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.transcript.setPlaceholderText("Every line the workspace ran, panel actions "
                                           "included.")
        self._transcript_hl = PythonHighlighter(self.transcript.document(), theme_for(self))

        self.tabs = QTabWidget(objectName="codeTabs")
        self.tabs.addTab(self.output, "Output")
        self.tabs.addTab(self.transcript, "Transcript")

        self.run_cell_button = QPushButton("▶ Run cell", objectName="runCellButton")
        self.run_cell_button.setToolTip("Run the cell under the cursor (Shift+Enter)")
        self.run_line_button = QPushButton("Run line", objectName="runLineButton")
        self.run_line_button.setToolTip("Run the current line or the selection (Ctrl+Enter)")
        self.run_all_button = QPushButton("Run all", objectName="runAllButton")
        self.clear_button = QPushButton("Clear output", objectName="clearOutputButton")
        self.stop_button = QPushButton("■ Stop", objectName="stopButton")
        self.stop_button.setToolTip("Interrupt the running cell (Shift+F5)")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_requested.emit)
        self.hint = QLabel("Shift+Enter: cell · Ctrl+Enter: line · # %% starts a cell",
                           objectName="codeHint")
        self.run_cell_button.clicked.connect(self.run_current_cell)
        self.run_line_button.clicked.connect(self.run_current_line)
        self.run_all_button.clicked.connect(self.run_all)
        self.clear_button.clicked.connect(self.clear_output)
        bar = QHBoxLayout()
        for b in (self.run_cell_button, self.run_line_button, self.run_all_button,
                  self.stop_button):
            bar.addWidget(b)
        bar.addSpacing(8)
        bar.addWidget(self.hint, 1)
        bar.addWidget(self.clear_button)

        self.splitter = QSplitter(Qt.Orientation.Vertical, objectName="codeSplitter")
        self.splitter.addWidget(self.editor)
        self.splitter.addWidget(self.tabs)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(bar)
        lay.addWidget(self.splitter, 1)

        self._apply_fonts()
        bridge.changed.connect(self._on_changed)
        self._sync_transcript()

    # ------------------------------------------------------------------ layout, fonts, theme
    def resizeEvent(self, event: QResizeEvent) -> None:
        """Side by side in a wide, short dock; stacked otherwise."""
        super().resizeEvent(event)
        wide = event.size().width() > 1.8 * event.size().height()
        want = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != want:
            self.splitter.setOrientation(want)
            total = event.size().width() if wide else event.size().height()
            self.splitter.setSizes([total * 3 // 5, total * 2 // 5])


    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._apply_fonts()
        elif event.type() == QEvent.Type.PaletteChange:
            theme = theme_for(self)
            self.editor.highlighter.set_theme(theme)
            self._transcript_hl.set_theme(theme)
            self.hint.setStyleSheet(f"color: {theme.ui.muted};")

    def _apply_fonts(self) -> None:
        size = max(self.font().pointSizeF(), 9.0) * 1.15
        mono = _mono(size)
        for w in (self.editor, self.output, self.transcript):
            w.setFont(mono)
            w.setTabStopDistance(w.fontMetrics().horizontalAdvance(" ") * 4)
        self.editor._update_margin()
        self.hint.setStyleSheet(f"color: {theme_for(self).ui.muted};")

    # ------------------------------------------------------------------ source
    def set_source(self, text: str) -> None:
        """Replace the editor's text (the cursor goes to the start); text with a line too long
        to edit is refused with a sentence and the editor keeps what it had."""
        problem = long_line_problem(text)
        if problem is not None:
            self.editor.refused.emit(problem)
            return
        self.editor.setPlainText(text)
        self.editor.moveCursor(QTextCursor.MoveOperation.Start)

    def source(self) -> str:
        return self.editor.toPlainText()

    def cells(self) -> list[Cell]:
        return split_cells(self.source())

    def current_cell(self) -> Cell:
        """The cell under the cursor (a marker line belongs to the cell it starts)."""
        line = self.editor.textCursor().blockNumber()
        cells = self.cells()
        return next((c for c in cells if line < c.end), cells[-1])

    # ------------------------------------------------------------------ running
    def run_current_cell(self) -> RunResult | None:
        """Run the cell under the cursor, then move to the next cell (like a notebook)."""
        cell = self.current_cell()
        res = self._run(cell.source, cell.line, "cell") if cell.runs else None
        nxt = [c for c in self.cells() if c.line > cell.line]
        if nxt and (res is None or res.ok):
            self._goto_line(nxt[0].line)
        return res

    def run_current_line(self) -> RunResult | None:
        """Run the selection, or the current line and move to the next non-empty line."""
        cur = self.editor.textCursor()
        if cur.hasSelection():
            doc = self.editor.document()
            first = doc.findBlock(cur.selectionStart()).blockNumber()
            text = cur.selectedText().replace("\u2029", "\n")
            return self._run(textwrap.dedent(text), first, "selection")
        line = cur.blockNumber()
        res = self._run(cur.block().text().strip(), line, "line")
        block = cur.block().next()
        while block.isValid() and not block.text().strip():
            block = block.next()
        if block.isValid() and res is not None and res.ok:
            self._goto_line(block.blockNumber())
        return res

    def run_all(self) -> list[RunResult]:
        """Run every cell in order, stopping at the first error."""
        out = []
        for c in self.cells():
            res = self._run(c.source, c.line, "cell") if c.runs else None
            if res is None:
                continue
            out.append(res)
            if not res.ok:
                break
        return out

    def _goto_line(self, line: int) -> None:
        block = self.editor.document().findBlockByNumber(line)
        if block.isValid():
            self.editor.setTextCursor(QTextCursor(block))

    def _run(self, source: str, first_line: int, what: str) -> RunResult | None:
        if not source.strip():
            return None
        self._runs += 1
        kernel = getattr(self.session, "kernel", None)
        streamed = {"any": False}
        conn = None
        if kernel is not None and hasattr(kernel, "stream"):
            self._show_header(source, first_line, what)

            def live(_mid: str, _name: str, text: str) -> None:
                streamed["any"] = True
                self._write(text)
                self.output.ensureCursorVisible()

            conn = kernel.stream.connect(live)
        self.stop_button.setEnabled(True)
        self.run_cell_button.setEnabled(False)
        self.run_all_button.setEnabled(False)
        try:
            res = self.session.run(source)
        finally:
            if conn is not None:
                kernel.stream.disconnect(conn)
            self.stop_button.setEnabled(False)
            self.run_cell_button.setEnabled(True)
            self.run_all_button.setEnabled(True)
        self._show_result(res, first_line, what, header=conn is None,
                          output=not streamed["any"])
        if not res.ok and res.error_line is not None:
            self.editor.mark_error_line(first_line + res.error_line - 1)
        else:
            self.editor.mark_error_line(None)
        self.tabs.setCurrentWidget(self.output)
        self.ran.emit(res)
        return res

    # ------------------------------------------------------------------ output
    def clear_output(self) -> None:
        self.output.clear()

    def output_text(self) -> str:
        return self.output.toPlainText()

    def _write(self, text: str, color: str | None = None, bold: bool = False) -> None:
        cur = self.output.textCursor()
        cur.movePosition(QTextCursor.MoveOperation.End)
        f = QTextCharFormat()
        if color:
            f.setForeground(QColor(color))
        f.setFontWeight(QFont.Weight.Bold if bold else QFont.Weight.Normal)
        cur.insertText(text, f)

    def _show_header(self, source: str, first_line: int, what: str) -> None:
        muted = theme_for(self).ui.muted
        if not self.output.document().isEmpty():
            self._write("\n")
        last = first_line + source.rstrip().count("\n") + 1
        where = f"line {first_line + 1}" if last == first_line + 1 else \
            f"lines {first_line + 1}–{last}"
        self._write(f"In [{self._runs}]  {what}, {where}\n", muted, bold=True)

    def _show_result(self, res: RunResult, first_line: int, what: str, header: bool = True,
                     output: bool = True) -> None:
        ui = theme_for(self).ui
        muted, red, value = ui.muted, ui.error, ui.value
        if header:
            if not self.output.document().isEmpty():
                self._write("\n")
            last = first_line + res.source.rstrip().count("\n") + 1
            where = f"line {first_line + 1}" if last == first_line + 1 else \
                f"lines {first_line + 1}–{last}"
            self._write(f"In [{self._runs}]  {what}, {where}  ", muted, bold=True)
            if res.ok:
                self._write("✓\n", ui.ok, bold=True)
            else:
                self._write("✗\n", red, bold=True)
        if res.output and output:
            self._write(res.output if res.output.endswith("\n") else res.output + "\n")
        if res.value_repr is not None:
            self._write(res.value_repr + "\n", value)
        if not res.ok:
            for line in self._traceback_lines(res, first_line):
                self._write(line + "\n", red)
            self._write(res.error_text + "\n", red, bold=True)
        elif not header:
            self._write("✓ done\n", ui.ok, bold=True)
        self.output.moveCursor(QTextCursor.MoveOperation.End)
        self.output.ensureCursorVisible()

    def _traceback_lines(self, res: RunResult, first_line: int) -> list[str]:
        """The cell's frames of the traceback, with editor line numbers and their code."""
        src = res.source.split("\n")
        frames: list[tuple[int, str]] = []
        if res.error is not None and not isinstance(res.error, SyntaxError):
            for fr in traceback.extract_tb(res.error.__traceback__):
                if fr.filename == "<cell>" and fr.lineno is not None:
                    frames.append((fr.lineno, fr.name))
        if not frames and res.error_line is not None:
            frames.append((res.error_line, "<cell>"))
        if not frames:
            return []
        out = ["Traceback (most recent call last):"]
        for lineno, name in frames:
            code = src[lineno - 1].strip() if 0 < lineno <= len(src) else ""
            where = "" if name == "<module>" or name == "<cell>" else f", in {name}"
            out.append(f"  line {first_line + lineno}{where}:  {code}")
        return out

    # ------------------------------------------------------------------ transcript
    def _on_changed(self, what: str) -> None:
        if what == "code":
            self._sync_transcript()

    def transcript_text(self) -> str:
        return self.transcript.toPlainText()

    def _sync_transcript(self) -> None:
        hist = self.session.history
        results = self.session.results
        if len(hist) < self._transcript_count:
            self.transcript.clear()
            self._transcript_count = 0
        parts = []
        for i in range(self._transcript_count, len(hist)):
            src = hist[i].rstrip("\n")
            res = results[i] if i < len(results) else None
            if "\n" in src and (self._transcript_count or parts):
                src = "\n" + src
            if res is not None and not res.ok:
                src += f"\n# ✗ {res.error_text.splitlines()[0] if res.error_text else 'error'}"
            parts.append(src)
        self._transcript_count = len(hist)
        if parts:
            self.transcript.appendPlainText("\n".join(parts))
            self.transcript.moveCursor(QTextCursor.MoveOperation.End)
