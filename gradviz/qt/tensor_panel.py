"""The tensors panel: the workspace's tensors as a table, a dialog to create one, and a small
form to apply an op. Every action is a Workspace method, so it shows up as a line of code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gradviz.formatting import repr_preview, shape_text
from gradviz.graph_events import EventKind
from gradviz.qt.bridge import Bridge
from gradviz.qt.flow import FlowLayout, labelled
from gradviz.qt.theming import theme_for
from gradviz.views import grad_of
from gradviz.workspace import RunResult, Workspace

__all__ = ["TensorPanel", "CreateTensorDialog", "TensorTableModel",
           "error_color", "muted_color"]

KINDS = ("values", "randn", "zeros", "ones", "arange", "full")
DTYPES = ("float32", "float64", "int64", "bool")
_REFRESH_EVENTS = frozenset({EventKind.GRAD_CHANGED, EventKind.GRAD_ACCUMULATED,
                             EventKind.REQUIRES_GRAD_CHANGED, EventKind.BACKWARD_FINISHED})
_Index = QModelIndex | QPersistentModelIndex


# ----------------------------------------------------------------------------- helpers
def error_color(widget: QWidget) -> str:
    """The red of error text in the widget's theme."""
    return theme_for(widget).ui.error


def muted_color(widget: QWidget) -> str:
    """The grey of secondary text in the widget's theme."""
    return theme_for(widget).ui.muted


def _mono() -> QFont:
    f = QFont("DejaVu Sans Mono")
    f.setStyleHint(QFont.StyleHint.Monospace)
    return f


def _parse_shape(text: str) -> tuple[int, ...]:
    text = text.strip().strip("()[]").strip()
    if not text:
        return ()
    parts = [p.strip() for p in text.replace("x", ",").replace("×", ",").split(",")]
    shape = tuple(int(p) for p in parts if p)
    if any(s < 0 for s in shape):
        raise ValueError("sizes must be ≥ 0")
    return shape


# ----------------------------------------------------------------------------- the table
class TensorTableModel(QAbstractTableModel):
    """Rows of name, shape, dtype, requires_grad (checkable), is_leaf, grad_fn, .grad."""

    COLUMNS = ("name", "shape", "dtype", "requires_grad", "is_leaf", "grad_fn", ".grad")
    REQUIRES_GRAD = 3

    def __init__(self, on_toggle: Callable[[str, bool], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []
        self._on_toggle = on_toggle

    def set_tensors(self, infos: list) -> None:
        """Replace the rows with a snapshot of ``infos`` (Workspace.tensors()); rows that
        read the same are left alone (a backward step changes at most a .grad), so the table
        repaints only what changed."""
        rows = [_row(i.name, i.tensor) for i in infos]
        if len(rows) == len(self._rows) and all(a["name"] == b["name"]
                                                for a, b in zip(rows, self._rows)):
            changed = [i for i, (a, b) in enumerate(zip(rows, self._rows)) if a != b]
            self._rows = rows
            for i in changed:
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.COLUMNS) - 1))
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def name_at(self, row: int) -> str:
        return self._rows[row]["name"]

    def row_of(self, name: str) -> int:
        for i, r in enumerate(self._rows):
            if r["name"] == name:
                return i
        return -1

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        f = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == self.REQUIRES_GRAD:
            f |= Qt.ItemFlag.ItemIsUserCheckable
        return f

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        col = self.COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == "requires_grad":
                return "True" if r["requires_grad"] else "False"
            if col == "is_leaf":
                return "True" if r["is_leaf"] else "False"
            return r[col]
        if role == Qt.ItemDataRole.CheckStateRole and col == "requires_grad":
            return Qt.CheckState.Checked if r["requires_grad"] else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == ".grad":
                return r["grad_tip"]
            if col == "name":
                return r["value_tip"]
            if col == "requires_grad" and not r["is_leaf"]:
                return "computed by an op: torch refuses to change requires_grad here"
        if role == Qt.ItemDataRole.FontRole:
            if col == "name":
                f = QFont()
                f.setBold(True)
                return f
            if col in ("shape", ".grad"):
                return _mono()
        if role == Qt.ItemDataRole.ForegroundRole and col in ("requires_grad", "is_leaf",
                                                              ".grad", "grad_fn"):
            if (col in (".grad", "grad_fn") and r[col] == "None") or (
                    col in ("requires_grad", "is_leaf") and not r[col]):
                parent = self.parent()
                return QColor(theme_for(parent if isinstance(parent, QWidget) else None)
                              .ui.dim)
        return None

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != self.REQUIRES_GRAD:
            return False
        checked = _as_check_state(value) == Qt.CheckState.Checked
        self._on_toggle(self._rows[index.row()]["name"], checked)
        return True


def _as_check_state(value: Any) -> Qt.CheckState:
    if isinstance(value, Qt.CheckState):
        return value
    return Qt.CheckState(int(value))


def _row(name: str, t: Any) -> dict[str, Any]:
    grad = grad_of(t)
    fn = t.grad_fn
    return {
        "name": name,
        "shape": shape_text(t.shape),
        "dtype": t.dtype.name if hasattr(t.dtype, "name") else str(t.dtype),
        "requires_grad": bool(t.requires_grad),
        "is_leaf": fn is None,
        "grad_fn": fn.name() if fn is not None else "None",
        ".grad": repr_preview(grad, 40),
        "grad_tip": "None" if grad is None else repr_preview(grad, 400),
        "value_tip": repr_preview(t, 400),
    }


# ----------------------------------------------------------------------------- the dialog
class CreateTensorDialog(QDialog):
    """Name, kind, shape, values / seed / fill, dtype and requires_grad of a new tensor.

    ``submit(kwargs) -> RunResult`` runs the creation; on an error the dialog stays open and
    shows torch's message."""

    def __init__(self, submit: Callable[[dict[str, Any]], RunResult | str],
                 suggested_name: str = "x", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("createTensorDialog")
        self.setWindowTitle("New tensor")
        self._submit = submit
        self.name_edit = QLineEdit(suggested_name, objectName="nameEdit")
        self.kind_combo = QComboBox(objectName="kindCombo")
        self.kind_combo.addItems(KINDS)
        self.values_edit = QLineEdit("[1., 2., 3.]", objectName="valuesEdit")
        self.values_edit.setPlaceholderText("[1., 2., 3.]  or  [[1., 2.], [3., 4.]]")
        self.shape_edit = QLineEdit("3", objectName="shapeEdit")
        self.shape_edit.setPlaceholderText("e.g. 3  or  2, 3  (empty: a scalar)")
        self.seed_spin = QSpinBox(objectName="seedSpin")
        self.seed_spin.setRange(0, 2**31 - 1)
        self.fill_spin = QDoubleSpinBox(objectName="fillSpin")
        self.fill_spin.setRange(-1e9, 1e9)
        self.fill_spin.setDecimals(4)
        self.fill_spin.setValue(1.0)
        self.dtype_combo = QComboBox(objectName="dtypeCombo")
        self.dtype_combo.addItems(DTYPES)
        self.requires_grad_check = QCheckBox("requires_grad", objectName="requiresGradCheck")
        self.requires_grad_check.setChecked(True)
        self.error_label = QLabel(objectName="dialogError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {error_color(self)};")
        self.error_label.hide()

        self.form = QFormLayout()
        self.form.addRow("Name", self.name_edit)
        self.form.addRow("Kind", self.kind_combo)
        self.form.addRow("Values", self.values_edit)
        self.form.addRow("Shape", self.shape_edit)
        self.form.addRow("Seed", self.seed_spin)
        self.form.addRow("Fill value", self.fill_spin)
        self.form.addRow("dtype", self.dtype_combo)
        self.form.addRow("", self.requires_grad_check)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.setObjectName("dialogButtons")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(self.form)
        lay.addWidget(self.error_label)
        lay.addWidget(self.buttons)
        self.kind_combo.currentTextChanged.connect(self._kind_changed)
        self._kind_changed(self.kind_combo.currentText())
        self.resize(460, self.sizeHint().height())

    def _kind_changed(self, kind: str) -> None:
        self.form.setRowVisible(self.values_edit, kind == "values")
        self.form.setRowVisible(self.shape_edit, kind != "values")
        self.form.setRowVisible(self.seed_spin, kind == "randn")
        self.form.setRowVisible(self.fill_spin, kind == "full")

    def choices(self) -> dict[str, Any]:
        """The fields as ``Workspace.create_tensor`` keyword arguments (ValueError if bad)."""
        name = self.name_edit.text().strip()
        if not name.isidentifier():
            raise ValueError(f"{name!r} is not a usable variable name")
        kind = self.kind_combo.currentText()
        kw: dict[str, Any] = {"name": name, "kind": kind,
                              "dtype": self.dtype_combo.currentText(),
                              "requires_grad": self.requires_grad_check.isChecked()}
        if kind == "values":
            if not self.values_edit.text().strip():
                raise ValueError("type the values, e.g. [1., 2., 3.]")
            kw["values"] = self.values_edit.text()
        else:
            try:
                kw["shape"] = _parse_shape(self.shape_edit.text())
            except ValueError:
                raise ValueError(f"shape {self.shape_edit.text()!r}: write sizes like 2, 3"
                                 ) from None
        if kind == "randn":
            kw["seed"] = self.seed_spin.value()
        if kind == "full":
            kw["fill"] = self.fill_spin.value()
        return kw

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def accept(self) -> None:
        """Run the creation; close only if it worked."""
        try:
            res = self._submit(self.choices())
        except ValueError as e:
            self.show_error(f"ValueError: {e}")
            return
        err = res if isinstance(res, str) else res.error_text
        if err:
            self.show_error(err)
            return
        self.show_error("")
        super().accept()


# ----------------------------------------------------------------------------- the panel
class TensorPanel(QWidget):
    """The workspace's tensors: table, New tensor… dialog, grad actions and an op form.

    Signals: ``tensor_selected(str)`` with the name of the row the user selected."""

    tensor_selected = Signal(str)

    def __init__(self, session: Workspace, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tensorPanel")
        self.session = session
        self.bridge = bridge
        self.dialog: CreateTensorDialog | None = None
        self._suggested_out = ""
        self._combo_names: list[str] | None = None

        # --- toolbar
        self.new_button = QPushButton("New tensor…", objectName="newTensorButton")
        self.new_button.setToolTip("Create a tensor: typed values, randn, zeros, ones, arange, "
                                   "full")
        self.zero_button = QPushButton("grad.zero_()", objectName="zeroGradButton")
        self.none_button = QPushButton("grad = None", objectName="gradNoneButton")
        self.detach_button = QPushButton("detach", objectName="detachButton")
        self.delete_button = QPushButton("del", objectName="deleteButton")
        for b, tip in ((self.zero_button, "x.grad.zero_(): fill the selected tensor's grad "
                        "with zeros"),
                       (self.none_button, "x.grad = None: forget the selected tensor's grad"),
                       (self.detach_button, "x = x.detach(): cut the selected tensor from its "
                        "graph"),
                       (self.delete_button, "del x: remove the name from the workspace")):
            b.setToolTip(tip)
        # buttons and the op form wrap into rows: a narrow dock at 1280x800 cuts none
        top = FlowLayout(spacing=4)
        self.buttons_flow = top
        top.addWidget(self.new_button)
        for b in (self.zero_button, self.none_button, self.detach_button, self.delete_button):
            top.addWidget(b)

        # --- table
        self.model = TensorTableModel(self._toggle_requires_grad, self)
        self.table = QTableView(objectName="tensorTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        hh.setHighlightSections(False)
        # what backward is about first: name, grad_fn, .grad, then the rest (scrolls)
        for i, col in enumerate(("name", "grad_fn", ".grad")):
            hh.moveSection(hh.visualIndex(TensorTableModel.COLUMNS.index(col)), i)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        # --- op form: out = a op b
        self.out_edit = QLineEdit(objectName="opOut")
        self.out_edit.setMaximumWidth(90)
        self.a_combo = QComboBox(objectName="opA")
        self.op_combo = QComboBox(objectName="opOp")
        for op in Workspace.BINARY_OPS:
            self.op_combo.addItem(op, op)
        self.op_combo.insertSeparator(self.op_combo.count())
        for op in Workspace.UNARY_OPS:
            self.op_combo.addItem(f".{op}()", op)
        self.op_combo.setCurrentIndex(self.op_combo.findData("*"))
        self.b_combo = QComboBox(objectName="opB")
        self.b_combo.setEditable(True)
        self.b_combo.setMinimumContentsLength(4)
        self.b_combo.lineEdit().setPlaceholderText("name or number")
        self.apply_button = QPushButton("Apply", objectName="opApply")
        self.apply_button.setDefault(True)
        for c in (self.a_combo, self.b_combo):
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            c.setMinimumWidth(70)
        eq = QLabel("=")
        eq.setAlignment(Qt.AlignmentFlag.AlignCenter)
        form = FlowLayout(spacing=4)
        self.form_flow = form
        form.addWidget(labelled("", self.out_edit, eq, self.a_combo))
        form.addWidget(labelled("", self.op_combo, self.b_combo))
        form.addWidget(self.apply_button)
        self.op_combo.currentIndexChanged.connect(self._op_changed)
        self.apply_button.clicked.connect(self.apply_op)
        self.out_edit.returnPressed.connect(self.apply_op)

        # --- status line
        self.status = QLabel(objectName="tensorStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setMinimumHeight(self.fontMetrics().height() * 2)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addLayout(form)
        lay.addWidget(self.status)
        self.table.setMinimumHeight(self.fontMetrics().height() * 5)

        self.new_button.clicked.connect(self.open_create_dialog)
        self.zero_button.clicked.connect(lambda: self._on_selected(self.session.zero_grad))
        self.none_button.clicked.connect(lambda: self._on_selected(self.session.set_grad_none))
        self.detach_button.clicked.connect(lambda: self._on_selected(self.session.detach))
        self.delete_button.clicked.connect(lambda: self._on_selected(self.session.delete))

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(40)
        self._timer.timeout.connect(self.refresh)
        bridge.changed.connect(self._on_changed)
        bridge.events.connect(self._on_events)
        self._op_changed()
        self.refresh()

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        """The wrapped rows at ``width`` plus the least the table and status need (a scroll
        area around the panel gives it at least its viewport's height)."""
        lay = self.layout()
        m = lay.contentsMargins()
        inner = width - m.left() - m.right()
        return (self.buttons_flow.heightForWidth(inner) + self.form_flow.heightForWidth(inner)
                + self.table.minimumHeight() + self.status.minimumHeight()
                + 3 * lay.spacing() + m.top() + m.bottom())

    # ------------------------------------------------------------------ refreshing
    def _on_changed(self, what: str) -> None:
        if what == "tensors":
            self.refresh()

    def _on_events(self, evs: list) -> None:
        for ev in evs:
            self._on_event(ev)

    def _on_event(self, ev: Any) -> None:
        if ev.kind in _REFRESH_EVENTS and not self._timer.isActive():
            self._timer.start()

    def refresh(self) -> None:
        """Re-read the workspace's tensors (keeps the selection by name)."""
        self._timer.stop()
        selected = self.selected_name()
        infos = self.session.tensors()
        self.model.set_tensors(infos)
        names = [i.name for i in infos]
        if names != self._combo_names:  # refilling the combos costs a relayout
            self._combo_names = names
            self._fill_combo(self.a_combo, names)
            self._fill_combo(self.b_combo, names, keep_text=True)
        if not self.out_edit.text() or self.out_edit.text() == self._suggested_out:
            self._suggested_out = self.session.unique_name("y")
            self.out_edit.setText(self._suggested_out)
        if selected is not None:
            self.select(selected, emit=False)
        self._update_buttons()

    @staticmethod
    def _fill_combo(combo: QComboBox, names: list[str], keep_text: bool = False) -> None:
        current = combo.currentText()
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(names)
        if current in names or (keep_text and current):
            if current in names:
                combo.setCurrentIndex(names.index(current))
            else:
                combo.setEditText(current)
        combo.blockSignals(False)

    # ------------------------------------------------------------------ selection
    def selected_name(self) -> str | None:
        """The name of the selected row, if any."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.name_at(rows[0].row())

    def select(self, name: str, emit: bool = True) -> bool:
        """Select the row of ``name``; emits ``tensor_selected`` if ``emit``."""
        row = self.model.row_of(name)
        if row < 0:
            return False
        sm = self.table.selectionModel()
        sm.blockSignals(not emit)
        self.table.selectRow(row)
        sm.blockSignals(False)
        self._update_buttons()
        return True

    def _selection_changed(self, *_: Any) -> None:
        self._update_buttons()
        name = self.selected_name()
        if name is not None:
            self.tensor_selected.emit(name)

    def _update_buttons(self) -> None:
        name = self.selected_name()
        has = name is not None
        for b in (self.zero_button, self.none_button, self.detach_button, self.delete_button):
            b.setEnabled(has)

    def _context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        name = self.model.name_at(index.row())
        menu = QMenu(self)
        for text, fn in ((f"{name}.grad.zero_()", self.session.zero_grad),
                         (f"{name}.grad = None", self.session.set_grad_none),
                         (f"{name} = {name}.detach()", self.session.detach),
                         (f"del {name}", self.session.delete)):
            act = QAction(text, menu)
            act.triggered.connect(lambda _=False, fn=fn, name=name: self._act(fn, name))
            menu.addAction(act)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    # ------------------------------------------------------------------ actions
    def _on_selected(self, fn: Callable[[str], RunResult]) -> None:
        name = self.selected_name()
        if name is None:
            self.show_status("select a tensor first", error=True)
            return
        self._act(fn, name)

    def _act(self, fn: Callable[..., RunResult], name: str, *args: Any) -> RunResult | None:
        """Run one session action about tensor ``name`` and report it in the status line."""
        try:
            res = fn(name, *args)
        except (ValueError, KeyError) as e:
            self.show_status(f"{name}: {type(e).__name__}: {e}", error=True)
            return None
        self.report(res, name)
        return res

    def report(self, res: RunResult, name: str) -> None:
        """Show ``res`` in the status line: the code that ran, or torch's error in red."""
        if res.ok:
            self.show_status("✓ " + res.source.strip().splitlines()[-1])
        else:
            self.show_status(f"{name}: {res.error_text}", error=True)

    def show_status(self, text: str, error: bool = False) -> None:
        """One line under the form: grey for what ran, red (boxed) for an error."""
        if error:
            bg = theme_for(self).ui.error_bg
            self.status.setStyleSheet(
                f"color: {error_color(self)}; background: {bg}; font-weight: bold; "
                f"border-left: 4px solid {error_color(self)}; padding: 4px 6px;")
        else:
            self.status.setStyleSheet(f"color: {muted_color(self)}; padding: 4px 6px;")
        self.status.setText(text)
        self.status.setProperty("error", error)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "status"):
            # a theme switch: the status line takes the new theme's grey or red
            self.show_status(self.status.text(), bool(self.status.property("error")))

    def status_text(self) -> str:
        return self.status.text()

    def _toggle_requires_grad(self, name: str, flag: bool) -> None:
        # the table is refreshed from the session right after: refused changes snap back
        self._act(self.session.set_requires_grad, name, flag)

    def open_create_dialog(self) -> CreateTensorDialog:
        """Open the New tensor dialog (non-blocking) and return it."""
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = CreateTensorDialog(self._create, self.session.unique_name("x"), self)
        self.dialog.open()
        return self.dialog

    def _create(self, kw: dict[str, Any]) -> RunResult:
        res = self.session.create_tensor(**kw)
        self.report(res, kw["name"])
        if res.ok:
            self.select(kw["name"])
        return res

    def _op_changed(self, *_: Any) -> None:
        op = self.op_combo.currentData()
        self.b_combo.setEnabled(op in Workspace.BINARY_OPS)

    def apply_op(self) -> RunResult | None:
        """``out = a op b`` from the form."""
        out = self.out_edit.text().strip()
        a = self.a_combo.currentText().strip()
        op = self.op_combo.currentData()
        b = self.b_combo.currentText().strip() if op in Workspace.BINARY_OPS else ""
        if not a:
            self.show_status("create a tensor first (New tensor…)", error=True)
            return None
        if op in Workspace.BINARY_OPS and not b:
            self.show_status("b: type a tensor name or a number", error=True)
            return None
        try:
            res = self.session.apply_op(out, op, a, b)
        except ValueError as e:
            self.show_status(f"{out}: ValueError: {e}", error=True)
            return None
        self.report(res, res.source.strip())
        if res.ok:
            self.select(out)
        return res
