"""The whole window driven like a user: keys step backward, the graph shows where we are."""

import pytest
from PySide6.QtCore import Qt

from gradviz.app import STARTER
from gradviz.qt.main_window import MainWindow
from gradviz.session import Session


@pytest.fixture
def win(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(tmp_path))
    w = MainWindow(Session(), restore_settings=False)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    w.load_starter(STARTER)
    return w


def names_in_graph(w):
    return sorted(d["label"].split("\n")[0] for _, d in w.graph_view.graph.nodes(data=True)
                  if d["kind"] in ("grad_fn", "accumulate"))


def press(qtbot, w, key, mod=Qt.NoModifier):
    qtbot.keyClick(w, key, mod)


def test_starter_graph_is_the_seed_chain(win):
    assert win.stepper.root.id == win.session.get("out").id
    labels = names_in_graph(win)
    assert labels.count("MulBackward0") == 2
    assert {"AddBackward0", "MeanBackward0", "AccumulateGrad"} <= set(labels)
    assert win.root_combo.currentText().startswith("out")


def test_f10_steps_one_node_and_highlights_it(win, qtbot):
    press(qtbot, win, Qt.Key_F10)
    out = win.session.get("out")
    mean_key = f"n{out.grad_fn.id}"
    assert win.graph_view.node_state(mean_key) == "current"
    press(qtbot, win, Qt.Key_F10)
    mul_key = f"n{out.grad_fn.next_functions[0][0].id}"
    assert win.graph_view.node_state(mul_key) == "current"
    assert win.graph_view.node_state(mean_key) == "done"
    # the gradient that flowed from MeanBackward0 into MulBackward0 is on their edge
    assert win.graph_view.edge_label(mul_key, mean_key).startswith("[0.3333")
    assert "step 2" in win.step_label.text()


def test_run_then_step_back_restores_grads(win, qtbot):
    def x():  # the kernel's x as the window last heard of it
        return win.session.get("x")
    press(qtbot, win, Qt.Key_F5)
    assert x().grad is not None
    grad = x().grad.tolist()
    assert grad == pytest.approx([0.9809, 4.0212, 3.0007], abs=1e-4)
    assert win.stepper.cursor.at_end
    press(qtbot, win, Qt.Key_F10, Qt.ShiftModifier)  # step back over AccumulateGrad
    assert x().grad is None
    press(qtbot, win, Qt.Key_F10)  # replay from the record
    assert x().grad.tolist() == grad


def test_non_scalar_root_shows_torchs_error_on_the_graph(win, qtbot):
    z = win.session.get("z")
    idx = win.root_combo.findData(z.id)
    win.root_combo.setCurrentIndex(idx)
    win._on_root_chosen()
    assert win.gradient_edit.isVisible()
    press(qtbot, win, Qt.Key_F10)
    assert "grad can be implicitly created only for scalar outputs" in win.graph_view.banner_text()
    assert win.graph_view.node_state(f"n{z.grad_fn.id}") == "error"
    assert win.session.get("x") is not None  # the workspace survives
    # with a gradient vector, backward(v) goes through
    win.gradient_edit.setText("[0.1, 1.0, 0.001]")
    win._on_root_chosen()
    press(qtbot, win, Qt.Key_F5)
    assert win.session.get("x").grad is not None
    assert win.graph_view.banner_text() == ""


def test_breakpoint_stops_run(win, qtbot):
    out = win.session.get("out")
    add = out.grad_fn.next_functions[0][0].next_functions[0][0].next_functions[0][0]
    assert add.name() == "AddBackward0"
    win.graph_view.select(f"n{add.id}")
    press(qtbot, win, Qt.Key_F9)
    assert win.graph_view.node_state(f"n{add.id}") == "breakpoint"
    press(qtbot, win, Qt.Key_F5)
    assert win.stepper.cursor.current.node.id == add.id
    assert win.session.get("x").grad is None


def test_code_from_the_code_panel_updates_graph(win, qtbot):
    res = win.session.run("w = torch.ones(4, requires_grad=True)\nloss = (w * 3).sum()")
    assert res.ok
    qtbot.wait(100)
    win.refresh_graph()
    assert win.stepper.root.id == win.session.get("loss").id
    assert "SumBackward0" in names_in_graph(win)


def test_user_mistakes_do_not_lose_the_session(win, qtbot):
    res = win.session.run("out.backward()\nout.backward()")
    assert not res.ok and "Trying to backward through the graph a second time" in res.error_text
    assert set(win.session.names().values()) >= {"x", "y", "z", "out"}
    press(qtbot, win, Qt.Key_F5)  # running into the freed MulBackward0: shown, not fatal
    c = win.stepper.cursor
    assert c is not None and c.error is not None
    assert "Trying to backward through the graph a second time" in win.graph_view.banner_text()


def test_font_scale_and_themes(win, qtbot):
    size = win.font().pointSizeF()
    press(qtbot, win, Qt.Key_Equal, Qt.ControlModifier)
    assert win.font().pointSizeF() > size and win.font_scale > 1
    press(qtbot, win, Qt.Key_Minus, Qt.ControlModifier)
    assert win.font_scale == pytest.approx(1.0)
    for t in ("dark", "high-contrast", "light"):
        win.set_theme(t)
        assert win.graph_view.theme.name == t


def test_walkthrough_export(win, tmp_path):
    files = win.export_walkthrough(str(tmp_path))
    # the start, then one picture per node: Mean, Mul, Mul, Add, AccumulateGrad
    assert len(files) == 1 + 5
    assert all(f.stat().st_size > 1000 for f in files)


def test_fits_a_1024x768_projector(win, qtbot):
    win.resize(1024, 768)
    qtbot.wait(50)
    assert win.width() <= 1024 and win.height() <= 768


def test_large_text_on_a_projector_gives_the_side_panels_one_wide_column(win, qtbot):
    """1024x768 at font scale 2: Tensors and Inspector used to be ~230 px slivers showing only
    the name column; now they share one right column wide enough for name, grad_fn and .grad."""
    from PySide6.QtWidgets import QApplication
    win.resize(1024, 768)
    qtbot.wait(50)
    win.set_font_scale(2.0)
    QApplication.processEvents()
    assert win.compact
    d = win.docks
    right = {k for k in d if win.dockWidgetArea(d[k]) == Qt.RightDockWidgetArea}
    assert {"inspector", "tensors", "lessons"} <= right
    assert d["inspector"].width() >= 0.38 * win.width()
    d["tensors"].raise_()
    QApplication.processEvents()
    table = win.tensor_panel.table
    cols = [win.tensor_panel.model.COLUMNS.index(c) for c in ("name", "grad_fn", ".grad")]
    right_edge = max(table.columnViewportPosition(c) + table.columnWidth(c) for c in cols)
    assert right_edge <= table.viewport().width() + 1  # the three columns backward is about
    assert win.graph_view.width() >= 0.5 * win.width()  # the graph keeps the middle
    win.set_font_scale(1.0)
    win.resize(1600, 1000)
    qtbot.wait(50)
    win.arrange_panels()
    assert not win.compact
    assert win.dockWidgetArea(d["tensors"]) == Qt.LeftDockWidgetArea
    assert win.dockWidgetArea(d["inspector"]) == Qt.RightDockWidgetArea


def test_dark_theme_colours_the_whole_window(win):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication
    win.set_theme("dark")
    assert QApplication.instance().palette().color(QPalette.Window).lightness() < 80
    win.set_theme("light")
    assert QApplication.instance().palette().color(QPalette.Window).lightness() > 180


def test_ctrl_enter_runs_the_line_in_the_editor_and_the_lesson_cell_elsewhere(win, qtbot):
    editor = win.code_panel.editor
    win.lesson_panel.load_lesson(1)
    before = win.lesson_panel.current_index
    win.graph_view.setFocus()
    qtbot.keyClick(win.graph_view, Qt.Key_Return, Qt.ControlModifier)
    assert win.lesson_panel.current_index != before  # the lesson advanced
    editor.setPlainText("w_from_line = torch.ones(2)")
    editor.setFocus()
    idx = win.lesson_panel.current_index
    qtbot.keyClick(editor, Qt.Key_Return, Qt.ControlModifier)
    assert "w_from_line" in win.session.namespace
    assert win.lesson_panel.current_index == idx  # the editor kept the key


def test_save_then_open_session_through_the_window(win, tmp_path, qtbot):
    win.session.run("w = torch.tensor([1.5, -2.0], requires_grad=True)")
    path = tmp_path / "class.gradviz"
    win.current_path = path
    win.save()
    assert path.exists()
    win.session.run("del w")
    win.open_path(path)
    w = win.session.get("w")
    assert w.tolist() == [1.5, -2.0] and w.requires_grad


def test_broken_session_file_is_refused_and_the_session_stays(win, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    bad = tmp_path / "bad.gradviz"
    bad.write_text('{"format": "gradviz-session", "schema": 1, "cells": [')
    win._guard(lambda: win.open_path(bad))
    assert shown and "truncated" in shown[0]
    assert win.session.get("out") is not None


def test_drop_a_notebook_opens_it(win, qtbot):
    from pathlib import Path

    from PySide6.QtCore import QMimeData, QPoint, QUrl
    from PySide6.QtGui import QDropEvent
    nb = Path(__file__).resolve().parents[1] / "data" / "seed_notebook.ipynb"
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(nb))])
    ev = QDropEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    win.dropEvent(ev)
    assert "seed_notebook" in win.windowTitle()
    while win.lesson_panel.run_next_cell() is not None:
        pass
    assert win.session.get("weights").grad.tolist() == [0.0] * 4  # the right approach ran


def test_help_lists_the_shortcuts_and_themes_show_which_is_on(win):
    sheet = dict(win.shortcut_sheet())
    assert sheet["F10"] == "Step" and sheet["Shift+F5"] == "Stop"
    assert "F1" in sheet
    win.set_theme("dark")
    assert win.actions["theme_dark"].isChecked()
    assert not win.actions["theme_light"].isChecked()
    win.set_theme("light")  # the palette is the application's: later tests expect light
    win.show_shortcuts()
    assert "Shift+F10" in win._shortcuts_box.text()
    win._shortcuts_box.close()
