"""The graph's View menu option in the whole window: Values on every node (micrograd)."""

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
    w.resize(1024, 768)
    w.show()
    qtbot.waitExposed(w)
    w.load_starter(STARTER)
    return w


def test_values_option_puts_each_ops_gradient_on_its_node_as_backward_walks(win, qtbot):
    act = win.actions["show_values"]
    view_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    assert act in view_menu.actions() and act.isCheckable() and not act.isChecked()
    out = win.session.get("out")
    mean = f"n{out.grad_fn.id}"
    assert "grad" not in win.graph_view.node_label(mean)
    act.trigger()
    assert win.graph_view.values_mode
    assert win.graph_view.node_label(mean).split("\n")[-1] == "grad –"
    qtbot.keyClick(win, Qt.Key_F10)  # MeanBackward0 runs: its output's gradient is the seed
    assert win.graph_view.node_label(mean).split("\n")[-1] == "grad 1"
    qtbot.keyClick(win, Qt.Key_F10)
    mul = f"n{out.grad_fn.next_functions[0][0].id}"
    k = win.session.get("x").numel()  # out is a mean over x's shape: d out / d input = 1/k
    assert win.graph_view.node_label(mul).split("\n")[-1] == "grad " + (
        "[" + ", ".join(f"{1 / k:.4g}" for _ in range(min(k, 4))) + (", …" if k > 4 else "")
        + "]")
    act.trigger()
    assert not win.graph_view.values_mode
    assert "grad" not in win.graph_view.node_label(mean)
