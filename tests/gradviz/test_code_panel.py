"""CodePanel: Shift+Enter / Ctrl+Enter run cells and lines through the session, outputs and
torch's errors show inline, and the transcript holds every line the session ran."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QTextCursor

from gradviz.qt.bridge import Bridge
from gradviz.qt.code_panel import Cell, CodePanel, split_cells
from gradviz.qt.tensor_panel import TensorPanel
from gradviz.session import Session

SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier

TWO_CELLS = """# %% make x
x = torch.tensor([1., 2., 3.], requires_grad=True)
print("made", x.shape)
# %% use it
y = (x * x).sum()
y.backward()
x.grad
"""


@pytest.fixture
def panel(qtbot, session: Session, bridge: Bridge) -> CodePanel:
    p = CodePanel(session, bridge)
    qtbot.addWidget(p)
    p.resize(700, 500)
    p.show()
    return p


def _goto(panel: CodePanel, line: int, column: int = 0) -> None:
    block = panel.editor.document().findBlockByNumber(line)
    cur = QTextCursor(block)
    cur.movePosition(QTextCursor.MoveOperation.Right, n=column)
    panel.editor.setTextCursor(cur)


def test_split_cells() -> None:
    """The editor is split by the app's one percent parser: cells know their editor lines."""
    assert split_cells("a = 1\nb = 2") == [Cell("code", "a = 1\nb = 2")]
    cells = split_cells(TWO_CELLS)
    assert [(c.line, c.end) for c in cells] == [(1, 3), (4, 8)]
    assert cells[0].source == 'x = torch.tensor([1., 2., 3.], requires_grad=True)\n' \
                              'print("made", x.shape)'
    assert cells[1].source.startswith("y = (x * x).sum()")
    pre = split_cells("a = 1\n# %%\nb = 2")
    assert [(c.line, c.source) for c in pre] == [(0, "a = 1"), (2, "b = 2")]
    assert [(c.runs, c.line, c.end) for c in split_cells("")] == [(False, 0, 1)]
    empty = split_cells("# %%\n\n# %% [markdown]\n# note\n# %%\nz = 1")
    assert [(c.kind, c.runs, c.line) for c in empty] == [
        ("code", False, 1), ("markdown", False, 3), ("code", True, 5)]


def test_shift_enter_steps_over_empty_and_markdown_cells(qtbot, panel: CodePanel,
                                                         session: Session) -> None:
    panel.set_source("# %%\n\n# %% [markdown]\n# note\n# %%\nz = 1\n")
    _goto(panel, 1)
    assert panel.run_current_cell() is None and panel.editor.textCursor().blockNumber() == 3
    assert panel.run_current_cell() is None and panel.editor.textCursor().blockNumber() == 5
    assert panel.run_current_cell().ok and session.history == ["z = 1"]


def test_shift_enter_runs_the_cell(qtbot, panel: CodePanel, session: Session) -> None:
    panel.set_source(TWO_CELLS)
    assert panel.source() == TWO_CELLS
    _goto(panel, 2, 3)
    with qtbot.waitSignal(panel.ran) as sig:
        qtbot.keyClick(panel.editor, Qt.Key.Key_Return, SHIFT)
    assert sig.args[0].ok and "x" in session.namespace
    assert panel.source() == TWO_CELLS  # no newline typed
    out = panel.output_text()
    assert "In [1]  cell, lines 2–3  ✓" in out and "made torch.Size([3])" in out
    assert panel.editor.textCursor().blockNumber() == 4  # moved to the next cell
    qtbot.keyClick(panel.editor, Qt.Key.Key_Return, SHIFT)
    assert "tensor([2., 4., 6.])" in panel.output_text()
    assert session.get("x").grad.tolist() == [2.0, 4.0, 6.0]


def test_ctrl_enter_runs_line_then_selection(qtbot, panel: CodePanel, session: Session) -> None:
    panel.set_source("a = torch.ones(2)\n\nb = a * 3\nfor i in range(2):\n    c = b + i\n")
    _goto(panel, 0)
    qtbot.keyClick(panel.editor, Qt.Key.Key_Return, CTRL)
    assert session.history == ["a = torch.ones(2)"]
    assert panel.editor.textCursor().blockNumber() == 2  # skipped the blank line
    qtbot.keyClick(panel.editor, Qt.Key.Key_Return, CTRL)
    assert session.get("b").tolist() == [3.0, 3.0]
    _goto(panel, 4, 4)  # select the indented body only: it runs dedented
    cur = panel.editor.textCursor()
    cur.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
    panel.editor.setTextCursor(cur)
    qtbot.mouseClick(panel.run_line_button, Qt.MouseButton.LeftButton)
    assert session.history[-1] == "c = b + i" and not session.results[-1].ok
    assert "NameError: name 'i' is not defined" in panel.output_text()


def test_error_shows_torch_text_and_keeps_tensors(qtbot, panel: CodePanel,
                                                  session: Session) -> None:
    session.run("x = torch.tensor([1., 2.], requires_grad=True)")
    panel.set_source("# %%\ny = x * 2\n\ny.backward()\nz = 1\n")
    _goto(panel, 1)
    res = panel.run_current_cell()
    assert res is not None and not res.ok
    assert res.error_text == "RuntimeError: grad can be implicitly created only for scalar " \
                             "outputs"
    out = panel.output_text()
    assert "line 4:  y.backward()" in out and res.error_text in out
    assert panel.editor.error_line() == 3  # 0-based editor line of y.backward()
    assert set(session.names().values()) == {"x", "y"} and "z" not in session.namespace
    assert session.get("x").tolist() == [1.0, 2.0]
    panel.editor.insertPlainText(" ")
    assert panel.editor.error_line() is None  # editing clears the mark

    panel.set_source("y = (")
    res = panel.run_current_cell()
    assert res.error_text.startswith("SyntaxError") and "line 1:" in panel.output_text()


def test_run_all_stops_at_first_error(qtbot, panel: CodePanel, session: Session) -> None:
    panel.set_source("# %%\na = torch.ones(2)\n# %%\nb = a @ torch.ones(3)\n# %%\nc = a + 1\n")
    qtbot.mouseClick(panel.run_all_button, Qt.MouseButton.LeftButton)
    assert "a" in session.namespace and "c" not in session.namespace
    assert panel.editor.error_line() == 3
    assert "RuntimeError" in panel.output_text()
    qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert panel.output_text() == ""


def test_transcript_holds_panel_actions(qtbot, panel: CodePanel, session: Session,
                                        bridge: Bridge) -> None:
    tensors = TensorPanel(session, bridge)
    qtbot.addWidget(tensors)
    panel.set_source("x = torch.tensor([1., 2.], requires_grad=True)")
    qtbot.keyClick(panel.editor, Qt.Key.Key_Return, SHIFT)
    tensors.out_edit.setText("y")
    tensors.a_combo.setCurrentText("x")
    tensors.op_combo.setCurrentIndex(tensors.op_combo.findData("*"))
    tensors.b_combo.setEditText("x")
    qtbot.mouseClick(tensors.apply_button, Qt.MouseButton.LeftButton)
    session.set_requires_grad("y", False)
    session.zero_grad("x")
    lines = panel.transcript_text().split("\n")
    assert lines == ["x = torch.tensor([1., 2.], requires_grad=True)", "y = x * x",
                     "y.requires_grad_(False)",
                     "# ✗ RuntimeError: you can only change requires_grad flags of leaf "
                     "variables. If you want to use a computed variable in a subgraph that "
                     "doesn't require differentiation use var_no_grad = var.detach().",
                     "x.grad.zero_()",
                     "# ✗ AttributeError: 'NoneType' object has no attribute 'zero_'"]
    panel.tabs.setCurrentWidget(panel.transcript)
    session.clear()
    assert panel.transcript_text() == ""
    session.run("k = 1\nm = 2")
    assert panel.transcript_text() == "k = 1\nm = 2"


def test_editor_keys_and_highlighting(qtbot, panel: CodePanel) -> None:
    panel.set_source("")
    qtbot.keyClicks(panel.editor, "for i in range(3):")
    qtbot.keyClick(panel.editor, Qt.Key.Key_Return)
    qtbot.keyClicks(panel.editor, "x = i")
    qtbot.keyClick(panel.editor, Qt.Key.Key_Return)
    qtbot.keyClick(panel.editor, Qt.Key.Key_Tab)
    assert panel.source() == "for i in range(3):\n    x = i\n        "
    panel.set_source('for i in range(3):  # loop\n    s = "for"\n')
    fmts = panel.editor.document().firstBlock().layout().formats()
    spans = {(r.start, r.length): (r.format.fontWeight(), r.format.fontItalic()) for r in fmts}
    assert spans[(0, 3)][0] == QFont.Weight.Bold  # keyword
    assert spans[(20, 6)][1]  # the comment, italic
    second = panel.editor.document().findBlockByNumber(1).layout().formats()
    assert [(r.start, r.length) for r in second][-1] == (8, 5)  # "for" as a string


def test_font_follows_panel(qtbot, panel: CodePanel) -> None:
    f = QFont(panel.font())
    f.setPointSizeF(20)
    panel.setFont(f)
    assert panel.editor.font().pointSizeF() == pytest.approx(23.0)
    assert panel.editor.font().fixedPitch()


def test_current_line_colour_follows_the_theme(qtbot, panel: CodePanel) -> None:
    from PySide6.QtGui import QPalette

    from gradviz.qt.code_panel import current_line_colour

    ed = panel.editor
    ed.setPlainText("x = 1\ny = 2\n")

    def line_bg():
        sel = ed.extraSelections()[0]
        return QColor(sel.format.background().color())

    light = line_bg()
    assert light.lightness() > 200  # a pale tint on a light base
    dark = QPalette(ed.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#25272c"))
    dark.setColor(QPalette.ColorRole.Highlight, QColor("#64b5f6"))
    ed.setPalette(dark)  # what a switch to the dark theme sends
    assert line_bg().lightness() < 90  # no pale glare on the dark background
    assert line_bg() == current_line_colour(dark)
    assert ed.highlighter.formats["keyword"].foreground().color().lightness() > 128
