"""LessonPanel driven like a teacher: pick a lesson, Next cell, Reset, open a notebook."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTextBrowser

from gradviz.lessons import CellRun, list_lessons
from gradviz.qt.bridge import Bridge
from gradviz.qt.lesson_panel import LessonPanel
from gradviz.session import Session

SEED = Path(__file__).resolve().parents[1] / "data" / "seed_notebook.ipynb"


@pytest.fixture
def panel(qtbot, session: Session, bridge: Bridge) -> LessonPanel:
    p = LessonPanel(session, bridge)
    qtbot.addWidget(p)
    p.resize(420, 700)
    p.show()
    return p


def _states(panel: LessonPanel) -> dict[int, str]:
    states = {i: panel.cell_state(i) for i in range(len(panel.cells))}
    assert all(v.state == states[v.index] for v in panel.shown_views())  # drawn as they are
    return {i: s for i, s in states.items() if s}


def test_starts_on_lesson_01_without_touching_the_workspace(qtbot, session, bridge):
    session.run("keep = torch.ones(2)")
    p = LessonPanel(session, bridge)
    qtbot.addWidget(p)
    assert p.list.count() == len(list_lessons()) >= 9
    assert p.list.item(0).text().startswith("01  ") and p.list.currentRow() == 0
    assert p.title_label.text() == list_lessons()[0].title
    assert "keep" in session.namespace and p.warning_text() == ""
    assert _states(p) == {1: "next"} and p.status.text() == "0 / 6"


def test_markdown_is_rendered_beside_the_code(panel):
    md, code = panel.cell_view(0), panel.cell_view(1)
    assert isinstance(md.text, QTextBrowser)
    assert md.text.toPlainText().startswith("01 · Tracking the history")  # heading, no "#"
    assert "**" not in md.text.toPlainText()
    assert code.text.toPlainText().startswith("import torch")
    assert 20 < md.text.height() < 600 and code.text.height() > 20


def test_next_cell_runs_highlights_and_signals(panel, session, qtbot):
    with qtbot.waitSignal(panel.cell_ran) as sig:
        res = panel.run_next_cell()
    assert isinstance(res, CellRun) and sig.args == [res] and res.passed
    assert res.cell_index == 1 and _states(panel) == {1: "current", 3: "next"}
    assert session.get("out").grad_fn.name() == "MeanBackward0"
    res = panel.run_next_cell()
    assert "grad_fn=<AddBackward0>" in panel.cell_view(3).output.text()
    assert panel.status.text() == "2 / 6"
    while panel.run_next_cell() is not None:
        pass
    assert not panel.next_button.isEnabled() and panel.status.text() == "6 / 6 · done"
    assert panel.run_next_cell() is None


def test_expected_error_is_shown_as_expected(panel):
    panel.load_lesson(3)
    view = panel.cell_view(panel.runner.cells.index(next(
        c for c in panel.runner.cells if c.expect_error)))
    assert view.badge is None  # the answer is not given away before the cell runs
    results = [panel.run_next_cell() for _ in range(2)]
    assert all(r.passed for r in results)
    out = panel.cell_view(results[1].cell_index).output.text()
    assert out == ("✓ as expected: RuntimeError: grad can be implicitly created only for "
                   "scalar outputs")


def test_reset_and_choosing_a_lesson_start_from_an_empty_workspace(panel, session, qtbot):
    panel.run_next_cell()
    panel.reset()
    assert "x" not in session.namespace and _states(panel) == {1: "next"}
    assert panel.shown_views() and all(not v.output.isVisible() for v in panel.shown_views())
    panel.run_next_cell()
    item = panel.list.item(4)
    rect = panel.list.visualItemRect(item)
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.title == list_lessons()[4].title and panel.list.currentRow() == 4
    assert "out" not in session.namespace and session.history == []


def test_workspace_cleared_elsewhere_restarts_the_lesson(panel, session):
    panel.run_next_cell()
    panel.run_next_cell()
    session.clear()
    assert panel.runner.position == 0 and _states(panel) == {1: "next"}


def test_open_seed_notebook_runs_with_cell_7_raising(panel, session):
    assert panel.open_notebook(SEED) == []
    assert panel.title == "seed notebook" and panel.list.currentRow() == -1
    results = []
    while (r := panel.run_next_cell()) is not None:
        results.append(r)
    assert len(results) == 14 and all(r.passed for r in results)
    assert [r.error_text for r in results if r.error] == [
        "RuntimeError: grad can be implicitly created only for scalar outputs"]


def test_unsupported_api_is_warned_before_anything_runs(panel, session, tmp_path):
    p = tmp_path / "fft.py"
    p.write_text("# %% [markdown]\n# FFT\n\n# %%\nimport torch\nx = torch.ones(4)\n"
                 "y = torch.fft.fft(x)\n", encoding="utf-8")
    found = panel.open_notebook(p)
    assert found == [(1, 3, "torch.fft.fft")]
    assert "torch.fft.fft" in panel.warning_text() and "cell 2, line 3" in panel.warning_text()
    assert session.history == [] and panel.cell_view(1).badge is not None
    res = panel.run_next_cell()
    assert not res.passed and "fft" in res.error_text
    assert panel.cell_view(1).output.text().endswith(res.error_text)


def test_broken_notebook_is_refused_and_the_panel_kept(panel, session, tmp_path):
    panel.run_next_cell()
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": [', encoding="utf-8")
    before = (panel.title, panel.cells)
    with pytest.raises(ValueError, match="bad.ipynb: it is not a valid notebook"):
        panel.open_notebook(bad)
    assert (panel.title, panel.cells) == before and "out" in session.namespace
    with pytest.raises(ValueError, match="not a notebook"):
        panel.open_notebook(tmp_path / "notes.txt")


def test_lesson_files_opened_by_path_select_the_list_row(panel):
    info = list_lessons()[6]
    panel.open_notebook(info.path)
    assert panel.list.currentRow() == 6 and panel.title == info.title


def test_a_markdown_image_that_is_a_fifo_is_named_not_opened(panel, tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.png")
    nb = tmp_path / "lesson.py"
    nb.write_text("# %% [markdown]\n# ![diagram](pipe.png)\n\n# %%\nx = 1\n")
    panel.open_notebook(nb)  # returns: the FIFO is never read
    text = panel.cell_view(0).text.toPlainText()
    assert "diagram" in text or "pipe.png" in text


def test_a_20000_cell_notebook_opens_lazily_scrolls_to_the_end_and_runs(panel, session, tmp_path):
    """Only the cells in view get a widget (bench/bench_notebook.py times the opening)."""
    p = tmp_path / "big.py"
    p.write_text("".join(f"# %% [markdown]\n# Step {i}: look at *x*\n\n" for i in range(19_999))
                 + "# %%\nlast = torch.ones(3) * 7\nprint('the last cell ran')\n",
                 encoding="utf-8")
    panel.open_notebook(p)
    assert len(panel.cells) == 20_000 and panel.status.text() == "0 / 1"
    assert 19_999 in panel.cell_list.views  # the next cell to run is in view
    bar = panel.cell_list.verticalScrollBar()
    bar.setValue(0)  # the user drags the scroll bar to the top
    shown = panel.shown_views()
    assert 0 < len(shown) < 100 and shown[0].index == 0
    assert "Step 0" in shown[0].text.toPlainText()
    bar.setValue(bar.maximum())  # and to the bottom
    last = panel.cell_list.views.get(19_999)
    assert last is not None and last.isVisible() and len(panel.shown_views()) < 100
    assert last.text.toPlainText().startswith("last = torch.ones(3) * 7")
    assert last.geometry().bottom() <= panel.cell_list.viewport().height()
    bar.setValue(0)
    res = panel.run_next_cell()  # Next cell runs the last cell, and scrolls to it
    assert res.passed and res.cell_index == 19_999 and session.get("last").tolist() == [7.0] * 3
    view = panel.cell_list.views[19_999]
    assert view.isVisible() and view.output.text() == "the last cell ran"
    assert view.geometry().bottom() <= panel.cell_list.viewport().height()  # not clipped
    assert _states(panel) == {19_999: "current"}


def test_a_ten_megabyte_line_is_shown_cut_and_runs_whole(panel, session, tmp_path):
    p = tmp_path / "long.py"
    p.write_text("# %%\ns = '" + "x" * 10_000_000 + "'\nn = len(s)\n", encoding="utf-8")
    panel.open_notebook(p)
    shown = panel.cell_view(0).text.toPlainText()
    assert len(shown) < 10_000 and "9,996,006 more characters on this line are not shown; " \
        "the cell runs whole" in shown and shown.endswith("n = len(s)")
    assert panel.run_next_cell().passed and session.namespace["n"] == 10_000_000


def test_outputs_are_not_clipped(panel):
    """Every cell in view is as tall as what it shows, output included."""
    while panel.run_next_cell() is not None:
        pass
    for v in panel.shown_views():
        need = v.fit(v.width())
        assert v.height() >= need and v.text.height() >= v.text.document().size().height()
        if v.output.isVisible():
            assert v.output.height() >= v.output.heightForWidth(v.output.width())


def test_a_narrow_dock_gets_the_buttons_in_two_rows_and_nothing_cut(panel, qtbot):
    narrow = panel.next_button.sizeHint().width() + panel.reset_button.sizeHint().width() + 40
    panel.resize(narrow, 700)
    qtbot.wait(10)
    assert panel.minimumSizeHint().width() <= narrow  # the dock's scroll area never cuts it
    for b in (panel.next_button, panel.reset_button, panel.open_button):
        assert b.width() >= b.sizeHint().width() and b.geometry().right() <= narrow
    assert panel.open_button.y() > panel.next_button.y()  # the second row
    assert all(v.geometry().right() <= panel.cell_list.viewport().width()
               for v in panel.shown_views())


def test_cell_code_and_the_title_follow_the_font_scale(qtbot, panel: LessonPanel) -> None:
    """Presenter mode (Ctrl+= or --font-scale 2): the lesson's code grows with the rest of the
    window; it used to stay at the base size, unreadable from the back row."""
    from PySide6.QtGui import QFont
    panel.load_lesson(3)
    qtbot.waitUntil(lambda: bool(panel.shown_views()), timeout=3000)
    code = next(v for v in panel.shown_views() if v.cell.kind == "code")
    base = panel.font().pointSizeF()
    assert code.text.font().pointSizeF() == pytest.approx(base)
    big = QFont(panel.font())
    big.setPointSizeF(base * 2)
    panel.setFont(big)
    qtbot.waitUntil(lambda: panel.title_label.font().pointSizeF() > base * 2, timeout=3000)
    for v in panel.shown_views():
        if v.cell.kind == "code":
            assert v.text.font().pointSizeF() == pytest.approx(base * 2)
            assert v.text.font().fixedPitch()
    panel.cell_list.ensure_visible(len(panel.cells) - 1)  # a view made later is big too
    qtbot.wait(50)
    last = [v for v in panel.shown_views() if v.cell.kind == "code"][-1]
    assert last.text.font().pointSizeF() == pytest.approx(base * 2)
