"""TensorPanel driven like a user: the dialog, the requires_grad checkbox, the op form, the grad
actions; every action lands in the session's history as code."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QMenu, QStyle, QStyleOptionViewItem

from gradviz.formatting import repr_preview as short_values
from gradviz.qt.bridge import Bridge
from gradviz.qt.tensor_panel import CreateTensorDialog, TensorPanel
from gradviz.session import Session

LEAF_MSG = "you can only change requires_grad flags of leaf variables"


@pytest.fixture
def panel(qtbot, session: Session, bridge: Bridge) -> TensorPanel:
    p = TensorPanel(session, bridge)
    qtbot.addWidget(p)
    p.resize(640, 420)
    p.show()
    return p


def _rows(panel: TensorPanel) -> list[str]:
    m = panel.model
    return [m.name_at(r) for r in range(m.rowCount())]


def _cell(panel: TensorPanel, name: str, col: str) -> str:
    m = panel.model
    return m.data(m.index(m.row_of(name), m.COLUMNS.index(col)))


def _checked(panel: TensorPanel, name: str) -> bool:
    m = panel.model
    state = m.data(m.index(m.row_of(name), m.REQUIRES_GRAD), Qt.ItemDataRole.CheckStateRole)
    return state == Qt.CheckState.Checked


def _click_checkbox(qtbot, panel: TensorPanel, name: str) -> None:
    table = panel.table
    index = panel.model.index(panel.model.row_of(name), panel.model.REQUIRES_GRAD)
    opt = QStyleOptionViewItem()
    opt.initFrom(table.viewport())
    opt.rect = table.visualRect(index)
    opt.features = (QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
                    | QStyleOptionViewItem.ViewItemFeature.HasDisplay)
    opt.text = str(index.data())
    r = table.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, opt, table)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=r.center())


def _click_row(qtbot, panel: TensorPanel, name: str) -> None:
    index = panel.model.index(panel.model.row_of(name), 0)
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton,
                     pos=panel.table.visualRect(index).center())


def _ok(dialog: CreateTensorDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_create_tensor_via_dialog(qtbot, panel: TensorPanel, session: Session) -> None:
    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    dialog = panel.findChild(CreateTensorDialog, "createTensorDialog")
    assert dialog is not None and dialog.isVisible()
    dialog.name_edit.setText("a")
    dialog.kind_combo.setCurrentText("values")
    dialog.values_edit.setText("[1., 2., 3.]")
    dialog.requires_grad_check.setChecked(True)
    with qtbot.waitSignal(panel.tensor_selected) as sig:
        qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)
    assert sig.args == ["a"]
    assert not dialog.isVisible()
    assert _rows(panel) == ["a"]
    assert _cell(panel, "a", "shape") == "(3,)" and _checked(panel, "a")
    assert session.history[-1] == "a = torch.tensor([1., 2., 3.], requires_grad=True)"
    assert panel.status_text() == "✓ a = torch.tensor([1., 2., 3.], requires_grad=True)"


def test_dialog_kinds_and_errors(qtbot, panel: TensorPanel, session: Session) -> None:
    dialog = panel.open_create_dialog()
    dialog.name_edit.setText("w")
    dialog.kind_combo.setCurrentText("randn")
    assert dialog.seed_spin.isVisible() and not dialog.values_edit.isVisible()
    dialog.shape_edit.setText("2, 3")
    dialog.seed_spin.setValue(7)
    dialog.dtype_combo.setCurrentText("float64")
    qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)
    assert session.get("w").shape == (2, 3) and _cell(panel, "w", "dtype") == "float64"
    assert "torch.manual_seed(7)" in session.history[-1]

    dialog = panel.open_create_dialog()
    dialog.name_edit.setText("bad")
    dialog.kind_combo.setCurrentText("zeros")
    dialog.shape_edit.setText("two")
    qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "shape" in dialog.error_label.text()

    dialog.kind_combo.setCurrentText("values")
    dialog.values_edit.setText("[1, 2]")
    dialog.dtype_combo.setCurrentText("int64")
    dialog.requires_grad_check.setChecked(True)
    qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.error_label.text().startswith("RuntimeError: Only Tensors of floating point")
    assert "bad" not in session.namespace and "RuntimeError" in panel.status_text()

    dialog.kind_combo.setCurrentText("full")
    assert dialog.fill_spin.isVisible()
    dialog.shape_edit.setText("2")
    dialog.fill_spin.setValue(0.5)
    dialog.dtype_combo.setCurrentText("float32")
    qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and session.get("bad").tolist() == [0.5, 0.5]


def test_requires_grad_checkbox_on_leaf(qtbot, panel: TensorPanel, session: Session) -> None:
    session.run("x = torch.tensor([1., 2.])")
    assert not _checked(panel, "x")
    _click_checkbox(qtbot, panel, "x")
    assert session.get("x").requires_grad and _checked(panel, "x")
    assert session.history[-1] == "x.requires_grad_(True)"
    _click_checkbox(qtbot, panel, "x")
    assert not session.get("x").requires_grad and not _checked(panel, "x")


def test_requires_grad_refused_on_non_leaf(qtbot, panel: TensorPanel, session: Session) -> None:
    session.run("x = torch.tensor([1., 2.], requires_grad=True)\ny = x * 2")
    n = len(session.history)
    _click_checkbox(qtbot, panel, "y")
    assert session.history[n] == "y.requires_grad_(False)"
    assert session.get("y").requires_grad and _checked(panel, "y")
    text = panel.status_text()
    assert text.startswith("y: RuntimeError: ") and LEAF_MSG in text
    assert panel.status.property("error") is True
    assert _rows(panel) == ["x", "y"]


def test_op_form(qtbot, panel: TensorPanel, session: Session) -> None:
    session.run("x = torch.tensor([1., 2., 3.], requires_grad=True)")
    panel.out_edit.setText("y")
    panel.a_combo.setCurrentText("x")
    panel.op_combo.setCurrentIndex(panel.op_combo.findData("*"))
    panel.b_combo.setEditText("3")
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert session.history[-1] == "y = x * 3"
    assert _cell(panel, "y", "grad_fn") == "MulBackward0"
    assert panel.selected_name() == "y"
    assert panel.out_edit.text() == "y1"  # the next suggestion

    panel.op_combo.setCurrentIndex(panel.op_combo.findData("exp"))
    assert not panel.b_combo.isEnabled()
    panel.out_edit.setText("e")
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert session.history[-1] == "e = x.exp()"
    assert _cell(panel, "e", "grad_fn") == "ExpBackward0"

    panel.op_combo.setCurrentIndex(panel.op_combo.findData("+"))
    panel.b_combo.setEditText("y")
    panel.out_edit.setText("s")
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert session.get("s").tolist() == [4.0, 8.0, 12.0]


def test_op_form_errors(qtbot, panel: TensorPanel, session: Session) -> None:
    session.run("a = torch.ones(3)\nb = torch.ones(2)")
    panel.a_combo.setCurrentText("a")
    panel.op_combo.setCurrentIndex(panel.op_combo.findData("+"))
    panel.b_combo.setEditText("b")
    panel.out_edit.setText("c")
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    text = panel.status_text()
    assert text.startswith("c = a + b: RuntimeError: The size of tensor a (3) must match")
    assert "c" not in session.namespace and _rows(panel) == ["a", "b"]

    panel.out_edit.setText("1bad")
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert "not a usable variable name" in panel.status_text()
    panel.out_edit.setText("c")
    panel.b_combo.setEditText("")
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert panel.status_text().startswith("b: ")


def test_grad_actions(qtbot, panel: TensorPanel, session: Session) -> None:
    session.run("x = torch.tensor([1., 2.], requires_grad=True)\ny = x * x\n"
                "y.sum().backward()")
    assert _cell(panel, "x", ".grad") == "[2., 4.]"
    assert not panel.zero_button.isEnabled()
    _click_row(qtbot, panel, "x")
    assert panel.selected_name() == "x" and panel.zero_button.isEnabled()

    qtbot.mouseClick(panel.zero_button, Qt.MouseButton.LeftButton)
    assert session.history[-1] == "x.grad.zero_()" and _cell(panel, "x", ".grad") == "[0., 0.]"
    qtbot.mouseClick(panel.none_button, Qt.MouseButton.LeftButton)
    assert session.history[-1] == "x.grad = None" and _cell(panel, "x", ".grad") == "None"
    qtbot.mouseClick(panel.zero_button, Qt.MouseButton.LeftButton)
    assert panel.status_text() == ("x: AttributeError: 'NoneType' object has no attribute "
                                   "'zero_'")

    _click_row(qtbot, panel, "y")
    qtbot.mouseClick(panel.detach_button, Qt.MouseButton.LeftButton)
    assert session.history[-1] == "y = y.detach()"
    assert _cell(panel, "y", "is_leaf") == "True" and not _checked(panel, "y")
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert session.history[-1] == "del y" and _rows(panel) == ["x"]
    assert panel.selected_name() is None and not panel.delete_button.isEnabled()


def test_context_menu(qtbot, panel: TensorPanel, session: Session) -> None:
    session.run("x = torch.tensor([1., 2.], requires_grad=True)")
    pos = panel.table.visualRect(panel.model.index(0, 0)).center()
    panel.table.customContextMenuRequested.emit(pos)
    menu = panel.findChildren(QMenu)[-1]
    texts = [a.text() for a in menu.actions()]
    assert texts == ["x.grad.zero_()", "x.grad = None", "x = x.detach()", "del x"]
    menu.actions()[3].trigger()
    menu.close()
    assert session.history[-1] == "del x" and _rows(panel) == []


def test_grads_follow_engine_events(qtbot, panel: TensorPanel, session: Session) -> None:
    session.run("x = torch.tensor([1., 2.], requires_grad=True)\nz = (x * 3).sum()")
    cursor = session.start_backward(session.get("z"))
    cursor.run()
    qtbot.waitUntil(lambda: _cell(panel, "x", ".grad") == "[3., 3.]", timeout=2000)
    cursor.reset()
    qtbot.waitUntil(lambda: _cell(panel, "x", ".grad") == "None", timeout=2000)


def test_short_values() -> None:
    """The values part of the tensor's torch repr, on one line, for an engine tensor and for
    the window's view of a kernel tensor alike."""
    import engine
    from gradviz.kernel.snapshot import Snapshotter
    from gradviz.views import World

    def view(t):
        snap = Snapshotter({})
        tid = snap.tensor(t)
        world = World()
        world.update(**snap.payload())
        return world.tensor(tid)

    assert short_values(None) == "None"
    for t, text in ((engine.tensor([1.0, 2.5], requires_grad=True), "[1.0000, 2.5000]"),
                    (engine.tensor([[1, 2], [3, 4]]), "[[1, 2], [3, 4]]"),
                    (engine.tensor(3.0), "3.")):
        assert short_values(t) == text
        assert short_values(view(t)) == text
    long = engine.arange(100)
    assert short_values(long, 20).endswith("…") and len(short_values(long, 20)) == 20
    assert short_values("abc") == "abc"


@pytest.mark.torch
def test_refusal_text_is_torchs(qtbot, panel: TensorPanel, session: Session) -> None:
    torch = pytest.importorskip("torch")
    t = torch.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError) as exc:
        t.requires_grad_(False)
    session.run("x = torch.tensor([1., 2.], requires_grad=True)\ny = x * 2")
    _click_checkbox(qtbot, panel, "y")
    assert panel.status_text() == f"y: RuntimeError: {exc.value}"


def test_narrow_dock_shows_grad_columns_buttons_and_form(qtbot, session: Session,
                                                         bridge: Bridge) -> None:
    from PySide6.QtWidgets import QScrollArea

    session.run("x = torch.tensor([1., 2.], requires_grad=True)\ny = (x * x).sum()\n"
                "y.backward()")
    p = TensorPanel(session, bridge)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(p)
    qtbot.addWidget(scroll)
    scroll.resize(290, 460)  # the Tensors dock of a 1280x800 window
    scroll.show()
    qtbot.wait(10)
    assert p.width() <= scroll.viewport().width()
    for w in (p.new_button, p.zero_button, p.none_button, p.detach_button, p.delete_button,
              p.out_edit, p.a_combo, p.op_combo, p.b_combo, p.apply_button):
        r = w.rect().translated(w.mapTo(p, w.rect().topLeft()))
        assert p.rect().contains(r), w.objectName()  # wrapped into rows, none cut
    hh = p.table.horizontalHeader()
    cols = p.model.COLUMNS
    assert [hh.logicalIndex(i) for i in range(3)] == [cols.index(c) for c in
                                                      ("name", "grad_fn", ".grad")]
    # grad_fn starts inside the visible table, right after the names
    assert hh.sectionViewportPosition(cols.index("grad_fn")) < p.table.viewport().width() / 2
