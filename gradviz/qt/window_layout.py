"""The main window's layout: the graph in the middle under its root bar, each panel in a
dock (in a scroll area, so any panel can shrink), and ``arrange_panels``, which lays the docks
out for the window's size and text size (wide, or compact for a projector). A part of
:class:`gradviz.qt.main_window.MainWindow`."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from gradviz.qt.window_parts import WindowParts


class WindowLayout(WindowParts):
    """MainWindow's central widget, docks and panel layout (a mixin of the QMainWindow)."""

    def _build_center(self) -> None:
        center = QWidget()
        lay = QVBoxLayout(center)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        bar = QWidget()
        bar.setObjectName("RootBar")
        row = QHBoxLayout(bar)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(QLabel("Backward from"))
        self.root_combo = QComboBox()
        self.root_combo.setObjectName("RootCombo")
        self.root_combo.setMinimumWidth(120)
        self.root_combo.activated.connect(lambda _i: self._on_root_chosen())
        row.addWidget(self.root_combo)
        self.gradient_label = QLabel("gradient")
        self.gradient_edit = QLineEdit()
        self.gradient_edit.setObjectName("GradientEdit")
        self.gradient_edit.setPlaceholderText(
            "vector for a non-scalar root, e.g. [0.1, 1.0, 0.001]")
        self.gradient_edit.editingFinished.connect(self._on_root_chosen)
        row.addWidget(self.gradient_label)
        row.addWidget(self.gradient_edit, 1)
        self.step_label = QLabel("")
        self.step_label.setObjectName("StepLabel")
        row.addWidget(self.step_label)
        self.walk_combo = QComboBox()
        self.walk_combo.setObjectName("WalkCombo")
        self.walk_combo.setToolTip("Every backward() that ran is kept: pick one to replay it "
                                   "node by node, grads as they were")
        self.walk_combo.activated.connect(self._on_walk_chosen)
        self.walk_combo.hide()
        row.addWidget(self.walk_combo)
        lay.addWidget(bar)
        lay.addWidget(self.graph_view, 1)
        self.setCentralWidget(center)

    def _dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        d = QDockWidget(title, self)
        d.setObjectName(f"dock_{key}")
        # a scroll area lets any panel shrink: the window must fit 1024x768 on a projector
        scroll = QScrollArea()
        scroll.setObjectName(f"scroll_{key}")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setWidget(widget)
        d.setWidget(scroll)
        d.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable
                      | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(area, d)
        self.docks[key] = d

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if not self._sized:  # default proportions once the window has its real size
            self._sized = True
            if self.settings is None or self.settings.value("state") is None:
                self.arrange_panels()

    #: below this many characters of body text across the window, the side panels share one
    #: tabbed column: 1024 px wide at font scale 1.5 is about 114, 1280 px at 1.5 about 142,
    #: 1280 px at 2 about 107; at scale 1 even 1024 px holds about 170
    COMPACT_COLUMNS = 150

    def text_columns(self) -> float:
        """How many characters of body text fit across the window."""
        return self.width() / max(1, self.fontMetrics().averageCharWidth())

    def arrange_panels(self) -> None:
        """Lay the panels out for the window's size and font (View ▸ Arrange panels).

        Wide: Tensors and Lessons tabbed on the left, the Inspector on the right, Code, Event
        log and Training below. Compact (a projector at 1024x768 with large text): no left
        column; the Inspector, Tensors and Lessons are tabs of one wide right column, so no
        panel is squeezed to a sliver and the graph keeps the middle."""
        d = self.docks
        w, h = self.width(), self.height()
        lesson_front = not d["lessons"].visibleRegion().isEmpty()
        for k in ("tensors", "lessons", "inspector"):
            d[k].setFloating(False)
            d[k].show()
        self.compact = self.text_columns() < self.COMPACT_COLUMNS
        if self.compact:
            for k in ("tensors", "lessons"):
                self.addDockWidget(Qt.RightDockWidgetArea, d[k])
                self.tabifyDockWidget(d["inspector"], d[k])
            self.resizeDocks([d["inspector"]], [int(w * 0.42)], Qt.Horizontal)
            self.resizeDocks([d["code"]], [int(h * 0.28)], Qt.Vertical)
        else:
            self.addDockWidget(Qt.LeftDockWidgetArea, d["tensors"])
            self.addDockWidget(Qt.LeftDockWidgetArea, d["lessons"])
            self.tabifyDockWidget(d["tensors"], d["lessons"])
            self.addDockWidget(Qt.RightDockWidgetArea, d["inspector"])
            self.resizeDocks([d["tensors"], d["inspector"]],
                             [int(w * 0.23), int(w * 0.25)], Qt.Horizontal)
            self.resizeDocks([d["code"]], [int(h * 0.26)], Qt.Vertical)
        d["code"].raise_()
        front = "lessons" if lesson_front else "inspector" if self.compact else "tensors"
        d[front].raise_()

    def _on_training_visible(self, visible: bool) -> None:
        h = self.height()
        self.resizeDocks([self.docks["training"] if visible else self.docks["code"]],
                         [int(h * 0.62) if visible else min(230, int(h * 0.3))], Qt.Vertical)
