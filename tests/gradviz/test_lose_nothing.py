"""The window never drops work: Save / Discard / Cancel before anything replaces or closes
unsaved work, a user's save never lands in an autosave, saves and exports that fail say so
naming the path, and what the kernel holds is saved whole."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from gradviz.qt.main_window import MainWindow
from gradviz.session import Session


@pytest.fixture
def win(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(tmp_path / "state"))
    w = MainWindow(Session(), restore_settings=False)
    qtbot.addWidget(w, before_close_func=lambda w: setattr(w, "confirm_discards", False))
    w.show()
    w.session.run("x = torch.tensor([1.5, -2.0], requires_grad=True)\ny = (x * x).sum()")
    w.confirm_discards = True
    return w


def answer(monkeypatch, button):
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or button)
    return asked


def test_cancel_keeps_the_workspace_when_opening_a_lesson(win, monkeypatch):
    asked = answer(monkeypatch, QMessageBox.Cancel)
    from gradviz.lessons import list_lessons
    win.open_path(list_lessons()[1].path)
    assert asked and "unsaved work" in asked[0]
    assert win.session.get("x").tolist() == [1.5, -2.0]


def test_a_lesson_click_asks_first(win, monkeypatch):
    asked = answer(monkeypatch, QMessageBox.Cancel)
    lp = win.lesson_panel
    lp._on_item(lp.list.item(2))
    assert asked and "lesson" in asked[0]
    assert "x" in win.session.namespace


def test_save_then_quit_asks_nothing_and_the_file_reopens(win, tmp_path, monkeypatch):
    path = tmp_path / "class.gradviz"
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(path), ""))
    asked = answer(monkeypatch, QMessageBox.Save)
    win.new_session()  # unsaved: Save is chosen, the dialog names the file
    assert asked and path.exists()
    assert win.session.tensors() == []
    asked.clear()
    win.open_path(path)
    assert not asked  # nothing was unsaved
    assert win.session.get("x").tolist() == [1.5, -2.0]
    assert win.actions["rerun_cells"].isEnabled()
    win.rerun_cells()
    assert win.session.get("y").grad_fn.name() == "SumBackward0"


def test_big_tensors_are_saved_whole_by_the_kernel(win, tmp_path, monkeypatch):
    answer(monkeypatch, QMessageBox.Discard)
    win.session.run("big = torch.arange(6_000_000, dtype=torch.float32)")
    win.current_path = tmp_path / "big.gradviz"
    assert win.save()
    win.session.run("del big")
    win.open_path(tmp_path / "big.gradviz")
    res = win.session.run("print(float(big[-1]), big.shape)")
    assert res.output == "5999999.0 torch.Size([6000000])\n"


def test_a_users_save_never_goes_into_an_autosave(win, tmp_path, monkeypatch):
    from gradviz import session_file
    auto = session_file.Autosave()
    win.current_path = auto.path
    target = tmp_path / "mine.gradviz"
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(target), ""))
    assert win.save()
    assert target.exists() and not auto.path.exists()


def test_quitting_with_unsaved_work_asks_and_cancel_keeps_the_window(win, monkeypatch):
    asked = answer(monkeypatch, QMessageBox.Cancel)
    assert not win.close()
    assert asked and "quit" in asked[0] and win.isVisible()


def test_failed_exports_and_saves_name_the_path(win, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    missing = tmp_path / "no" / "such" / "graph.png"
    win._guard(lambda: win.export_graph("png", str(missing)))
    assert shown and str(missing.parent) in shown[-1]
    win.current_path = tmp_path / "nowhere" / "s.gradviz"
    win._guard(win.save)
    assert "nowhere" in shown[-1] and "Error" not in shown[-1].split(":")[0]


def test_a_40_mb_line_is_refused_in_a_sentence_and_the_editor_keeps_its_text(win, qtbot):
    import time

    from PySide6.QtCore import QMimeData
    win.code_panel.set_source("x = 1")
    t = time.monotonic()
    win.code_panel.set_source("y = '" + "a" * 40_000_000 + "'")
    mime = QMimeData()
    mime.setText("z = " + "1" * 40_000_000)
    win.code_panel.editor.insertFromMimeData(mime)
    assert time.monotonic() - t < 2
    assert win.code_panel.source() == "x = 1"
    assert "too long to edit" in win.statusBar().currentMessage()


def test_a_fifo_named_like_a_script_or_session_is_refused_not_waited_on(win, tmp_path,
                                                                        monkeypatch):
    import os
    import time
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    answer(monkeypatch, QMessageBox.Discard)
    for name in ("lesson.py", "class.gradviz"):
        fifo = tmp_path / name
        os.mkfifo(fifo)
        t = time.monotonic()
        win._guard(lambda f=fifo: win.open_path(f))
        assert time.monotonic() - t < 2
        assert shown and "FIFO" in shown[-1] and str(fifo) in shown[-1]
    assert win.session.get("x").tolist() == [1.5, -2.0]
