"""The main window: graph in the middle, tensors left, inspector right, code and log below,
training and lessons as tabs. Every QAction lives in ``self.actions`` by name; which are
enabled is recomputed in one place (``update_actions``)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QKeySequence,
    QPalette,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSlider,
    QStatusBar,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from gradviz import graph as graph_model
from gradviz.formatting import clip
from gradviz.qt.bridge import Bridge
from gradviz.qt.code_panel import CodePanel
from gradviz.qt.event_log import EventLog
from gradviz.qt.graph_view import GraphView
from gradviz.qt.inspector import Inspector
from gradviz.qt.kernel_client import KernelClient
from gradviz.qt.lesson_panel import LessonPanel
from gradviz.qt.remote_session import InProcessKernel, RemoteSession
from gradviz.qt.stepper import KernelStepper, short_values
from gradviz.qt.tensor_panel import TensorPanel
from gradviz.qt.training_panel import TrainingPanel
from gradviz.workspace import Workspace as Session

if TYPE_CHECKING:
    from gradviz.theme import Theme
    from gradviz.views import StepView

DEFAULTS: dict[str, Any] = {"theme": "light", "font_scale": 1.0, "recent": []}
AUTOSAVE_MS = int(os.environ.get("GRADVIZ_AUTOSAVE_MS", "60000"))


class MainWindow(QMainWindow):
    """gradviz's window over one kernel: it draws what the kernel reports and runs no user
    code. ``kernel`` is a ``KernelClient`` (a process beside the window, the default) or an
    ``InProcessKernel`` (tests); a plain ``Session`` argument asks for the in-process one."""

    def __init__(self, session: Session | RemoteSession | None = None,
                 restore_settings: bool = True,
                 kernel: KernelClient | InProcessKernel | None = None) -> None:
        super().__init__()
        self._owns_kernel = kernel is None
        if isinstance(session, RemoteSession):
            kernel = session.kernel
            self._owns_kernel = False
        else:
            if kernel is None:
                kernel = InProcessKernel() if session is not None else KernelClient()
            session = RemoteSession(kernel)
        self.kernel = kernel
        self.session = session
        self.bridge = Bridge(session, self)
        self.stepper = KernelStepper(session, self)
        self._cell_started: float | None = None
        self.settings = QSettings("gradviz", "gradviz") if restore_settings else None
        self.current_path: Path | None = None
        self.font_scale = 1.0
        self.theme_name = "light"
        self._stop_count = 0
        self._opened_cells = False  # a script, notebook or lesson was opened (its cells count)
        self._viewing_walk = False  # showing a saved walk (gradviz.show), not the kernel
        self.setWindowTitle("gradviz")
        self.setObjectName("MainWindow")
        self.setDockNestingEnabled(True)
        self.setAcceptDrops(True)

        self.graph_view = GraphView()
        self.graph_view.setObjectName("GraphView")
        self.tensor_panel = TensorPanel(session, self.bridge)
        self.code_panel = CodePanel(session, self.bridge)
        self.inspector = Inspector(session, self.bridge)
        self.event_log = EventLog(session, self.bridge)
        self.training_panel = TrainingPanel(session, self.bridge)
        self.lesson_panel = LessonPanel(session, self.bridge)

        self._build_center()
        self.docks: dict[str, QDockWidget] = {}
        self._dock("tensors", "Tensors", self.tensor_panel, Qt.LeftDockWidgetArea)
        self._dock("lessons", "Lessons", self.lesson_panel, Qt.LeftDockWidgetArea)
        self._dock("inspector", "Inspector", self.inspector, Qt.RightDockWidgetArea)
        self._dock("code", "Code", self.code_panel, Qt.BottomDockWidgetArea)
        self._dock("log", "Event log", self.event_log, Qt.BottomDockWidgetArea)
        self._dock("training", "Training", self.training_panel, Qt.BottomDockWidgetArea)
        self.tabifyDockWidget(self.docks["tensors"], self.docks["lessons"])
        self.tabifyDockWidget(self.docks["code"], self.docks["log"])
        self.tabifyDockWidget(self.docks["code"], self.docks["training"])
        self.docks["tensors"].raise_()
        self.docks["code"].raise_()
        # the plots need room: the bottom area grows while the Training tab is up
        self.docks["training"].visibilityChanged.connect(self._on_training_visible)
        self.docks["log"].visibilityChanged.connect(
            lambda on: on and self.event_log.scroll_if_behind())
        self._sized = False
        self.compact = False  # the panel layout arrange_panels() chose

        self.actions: dict[str, QAction] = {}
        self._build_actions()
        self._build_menus()
        self.setStatusBar(QStatusBar())
        self.kernel_label = QLabel("")
        self.kernel_label.setObjectName("KernelLabel")
        self.statusBar().addPermanentWidget(self.kernel_label)
        self._elapsed_timer = QTimer(self)
        self._elapsed_timer.setInterval(200)
        self._elapsed_timer.timeout.connect(self._show_kernel_state)

        self.bridge.changed.connect(self._on_session_changed)
        self._connect_kernel()
        self.stepper.changed.connect(self._apply_stepper_state)
        self.stepper.stepped.connect(self._on_stepped)
        self.stepper.failed.connect(self._on_step_failed)
        self.graph_view.node_selected.connect(self._on_node_selected)
        self.graph_view.status_message.connect(lambda t: self.statusBar().showMessage(t, 15000))
        self.tensor_panel.tensor_selected.connect(self._on_tensor_selected)
        self.training_panel.iteration_root.connect(self._show_training_root)
        self.lesson_panel.cell_ran.connect(lambda _r: self.refresh_graph())
        self.code_panel.stop_requested.connect(self.stop_kernel)
        self.code_panel.editor.refused.connect(lambda m: self.statusBar().showMessage(m, 15000))

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(30)
        self._refresh_timer.timeout.connect(self.refresh_graph)
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.autosave)
        self._recoveries: list[Path] = []
        self._autosave: Any = None
        self._dirty = False  # work since the last save or open
        self._saved_cells: list[str] = []
        #: ask Save / Discard / Cancel before unsaved work goes (off for headless runs)
        self.confirm_discards = restore_settings
        self.code_panel.editor.textChanged.connect(self._mark_dirty)
        self.lesson_panel.before_replace = lambda: self.confirm_discard("open that lesson")
        if self.settings is not None:
            self._restore_settings()
            self._autosave_timer.start()
            from gradviz import session_file
            try:
                self._recoveries = session_file.find_recoveries()  # before our own marker
                self._autosave = session_file.Autosave()
                self._autosave.mark_running()
            except Exception as e:  # noqa: BLE001 - the window runs; said once
                self._autosave = None
                QTimer.singleShot(0, self, lambda m=str(e): self.statusBar().showMessage(
                    f"{m}: work is not saved automatically", 15000))
        self.update_actions()

    # ------------------------------------------------------------------ layout
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

    def _action(self, name: str, text: str, slot: Callable[[], Any],
                shortcut: str | QKeySequence | list | None = None, tip: str = "") -> QAction:
        a = QAction(text, self)
        a.setObjectName(f"action_{name}")
        if shortcut is not None:
            if isinstance(shortcut, list):
                a.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(Qt.ApplicationShortcut)
        if tip:
            a.setToolTip(f"{tip} ({a.shortcut().toString()})" if shortcut else tip)
        a.triggered.connect(lambda _checked=False: self._guard(slot))
        self.addAction(a)
        self.actions[name] = a
        return a

    def _build_actions(self) -> None:
        A = self._action
        A("new", "&New session", self.new_session, QKeySequence.New, "An empty workspace")
        A("open", "&Open…", self.open_dialog, QKeySequence.Open, "Open a script, notebook or "
          "session")
        A("rerun_cells", "Re-run &cells", self.rerun_cells, None,
          "Run a restored session's cells again, so its graphs come back")
        self.actions["rerun_cells"].setEnabled(False)
        A("save", "&Save session", self.save, QKeySequence.Save, "Save the session")
        A("save_as", "Save session &as…", self.save_as, QKeySequence.SaveAs)
        A("export_png", "Export graph as &PNG…", lambda: self.export_graph("png"))
        A("export_svg", "Export graph as &SVG…", lambda: self.export_graph("svg"))
        A("export_dot", "Export graph as Graphviz &DOT…", lambda: self.export_graph("dot"))
        A("export_walk", "Export backward &walk-through…", self.export_walkthrough)
        A("quit", "&Quit", self.close, QKeySequence.Quit)
        A("step", "Step", self.stepper.step, "F10", "Run exactly one backward node")
        A("step_back", "Step back", self.stepper.step_back, "Shift+F10",
          "Undo the last node: grads as they were")
        A("run", "Run", self.stepper.run, "F5", "Run to the end or the next breakpoint")
        A("breakpoint", "Breakpoint", self.toggle_breakpoint, "F9",
          "Toggle a breakpoint on the selected node")
        A("reset", "Reset", self.stepper.reset, "Ctrl+Shift+R", "Back to before backward")
        A("play", "Play", self.toggle_play, "F8", "Step automatically")
        A("next_cell", "Next cell", self.lesson_panel.run_next_cell, "Ctrl+Return",
          "Run the lesson's next cell")
        A("stop", "Stop", self.stop_kernel, "Shift+F5",
          "Interrupt the running cell (twice: offers to restart the kernel)")
        A("restart_kernel", "&Restart kernel", self.restart_kernel, "Ctrl+Shift+F5",
          "A fresh kernel: the workspace empties, cells and editor text stay")
        A("pause_backward", "&Pause at backward()", self._pause_changed, None,
          "Stop inside every backward() code calls, before its first node, to step it")
        self.actions["pause_backward"].setCheckable(True)
        self._backend_group = QActionGroup(self)
        for b, text, tip in (("engine", "Run on gradviz's &engine",
                              "User code runs on gradviz's numpy engine (import torch is it)"),
                             ("torch", "Run on real &PyTorch",
                              "User code runs on the installed PyTorch; backward() steps "
                              "through torch's own nodes")):
            a = A(f"backend_{b}", text, lambda b=b: self.set_backend(b), None, tip)
            a.setCheckable(True)
            self._backend_group.addAction(a)
        A("font_bigger", "Larger text", lambda: self.set_font_scale(self.font_scale * 1.15),
          ["Ctrl+=", "Ctrl++"])
        A("font_smaller", "Smaller text", lambda: self.set_font_scale(self.font_scale / 1.15),
          "Ctrl+-")
        A("font_reset", "Normal text size", lambda: self.set_font_scale(1.0), "Ctrl+0")
        A("fullscreen", "Full screen", self.toggle_fullscreen, "F11")
        A("arrange", "Arrange panels", self.arrange_panels, None,
          "Lay the panels out for this window size and text size")
        self._theme_group = QActionGroup(self)
        for t in ("light", "dark", "high-contrast"):
            a = A(f"theme_{t}", t.replace("-", " ").capitalize(), lambda t=t: self.set_theme(t))
            a.setCheckable(True)
            self._theme_group.addAction(a)
        self.actions["theme_light"].setChecked(True)
        A("shortcuts", "&Keyboard shortcuts", self.show_shortcuts, "F1",
          "Every key gradviz understands")
        A("show_saved", "Show saved tensors", self.refresh_graph)
        self.actions["show_saved"].setCheckable(True)
        A("show_values", "Values on every node (micrograd)", self.refresh_graph, None,
          "Every op's output value and gradient on its node")
        self.actions["show_values"].setCheckable(True)
        A("fit", "Fit graph", self.fit_graph, None, "Fit the graph to the view (0 or Home)")
        A("fit_all", "Show whole graph", lambda: self.graph_view.fit(whole=True), "Shift+0",
          "The whole graph, however small its text gets")

        tb = QToolBar("Backward")
        tb.setObjectName("StepperToolbar")
        tb.setToolButtonStyle(Qt.ToolButtonTextOnly)
        for name in ("step", "step_back", "run", "play", "reset", "breakpoint"):
            tb.addAction(self.actions[name])
        tb.addSeparator()
        tb.addAction(self.actions["stop"])
        tb.addSeparator()
        tb.addWidget(QLabel(" speed "))
        self.speed = QSlider(Qt.Horizontal)
        self.speed.setObjectName("SpeedSlider")
        self.speed.setRange(1, 20)
        self.speed.setValue(4)
        self.speed.setMaximumWidth(140)
        self.speed.valueChanged.connect(
            lambda v: self.stepper.play_timer.setInterval(int(2400 / v)))
        tb.addWidget(self.speed)
        tb.addSeparator()
        tb.addAction(self.actions["fit"])
        self.addToolBar(Qt.TopToolBarArea, tb)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for n in ("new", "open", "save", "save_as"):
            m.addAction(self.actions[n])
        self.recent_menu = m.addMenu("Open &recent")
        m.addSeparator()
        for n in ("export_png", "export_svg", "export_dot", "export_walk"):
            m.addAction(self.actions[n])
        m.addSeparator()
        m.addAction(self.actions["quit"])
        m = mb.addMenu("&Backward")
        for n in ("step", "step_back", "run", "play", "reset", "breakpoint"):
            m.addAction(self.actions[n])
        m = mb.addMenu("&View")
        for n in ("fit", "fit_all", "show_saved", "show_values", "font_bigger", "font_smaller",
                  "font_reset", "fullscreen", "arrange"):
            m.addAction(self.actions[n])
        tm = m.addMenu("&Theme")
        for t in ("light", "dark", "high-contrast"):
            tm.addAction(self.actions[f"theme_{t}"])
        m.addSeparator()
        for d in self.docks.values():
            m.addAction(d.toggleViewAction())
        m = mb.addMenu("&Lesson")
        m.addAction(self.actions["next_cell"])
        m = mb.addMenu("&Kernel")
        for n in ("stop", "restart_kernel", "pause_backward", "rerun_cells"):
            m.addAction(self.actions[n])
        m.addSeparator()
        for n in ("backend_engine", "backend_torch"):
            m.addAction(self.actions[n])
        self._show_backend()
        m = mb.addMenu("&Help")
        m.addAction(self.actions["shortcuts"])

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

    # ------------------------------------------------------------------ state -> widgets
    def update_actions(self) -> None:
        """Enable exactly the actions that make sense now (the one place this is decided)."""
        c = self.stepper.cursor
        has_root = self.stepper.root is not None
        can_forward = has_root and (c is None or (c.error is None and not c.at_end))
        self.actions["step"].setEnabled(can_forward)
        self.actions["run"].setEnabled(can_forward)
        self.actions["play"].setEnabled(can_forward or self.stepper.playing)
        self.actions["play"].setText("Pause" if self.stepper.playing else "Play")
        self.actions["step_back"].setEnabled(c is not None and c.position > 0)
        self.actions["reset"].setEnabled(c is not None and (c.position > 0 or c.error is not None))
        key = self.graph_view.selected_key
        self.actions["breakpoint"].setEnabled(graph_model.node_id_of(key) is not None)
        self.actions["save"].setEnabled(True)
        k = self.kernel
        self.actions["stop"].setEnabled(bool(k.running))
        self.actions["restart_kernel"].setEnabled(True)
        if (k.running and not k.paused) or not k.alive or self._viewing_walk:
            for n in ("step", "run", "play", "step_back", "reset"):
                self.actions[n].setEnabled(False)

    def _on_session_changed(self, what: str) -> None:
        if what == "code" and self.session.history:
            self._dirty = True  # a cell ran: the workspace holds work no file has
        if what in ("tensors", "code"):
            self._refresh_timer.start()

    def refresh_roots(self) -> None:
        """Fill the root chooser with the kernel's tensors that require grad; the kernel's
        root (the newest one, a chosen one, or the one a paused backward() walks) is current."""
        candidates = [i for i in self.session.tensors() if i.tensor.requires_grad]
        root_id = self.session.root_id
        self.root_combo.blockSignals(True)
        self.root_combo.clear()
        for info in candidates:
            self.root_combo.addItem(f"{info.name}  {tuple(info.tensor.shape)}", info.tensor.id)
        idx = next((i for i, inf in enumerate(candidates) if inf.tensor.id == root_id), -1)
        if idx < 0 and root_id is not None:
            root = self.session.world.tensor(root_id)
            self.root_combo.addItem(f"(unnamed)  {tuple(root.shape)}", root_id)
            idx = self.root_combo.count() - 1
        self.root_combo.setCurrentIndex(idx)
        self.root_combo.blockSignals(False)
        root = self.stepper.root
        scalar = root is not None and root.numel() == 1
        self.gradient_label.setVisible(root is not None and not scalar)
        self.gradient_edit.setVisible(root is not None and not scalar)

    def _on_root_chosen(self) -> None:
        rid = self.root_combo.currentData()
        if not isinstance(rid, int) or not self.session.world.has_tensor(rid):
            return
        root = self.session.world.tensor(rid)
        text = self.gradient_edit.text().strip() if root.numel() != 1 else ""
        self.stepper.set_root(root, text or None)
        err = (self.session.kernel.last_state or {}).get("reply")
        if isinstance(err, dict) and err.get("error"):
            self.statusBar().showMessage(f"gradient: {err['error']}", 8000)
        self.refresh_graph()

    def refresh_graph(self) -> None:
        """Draw the kernel's root graph as the last update described it."""
        self.refresh_roots()
        root = self.stepper.root
        if root is None:
            self.graph_view.set_graph(graph_model.build_graph([], {}))
            self._apply_stepper_state()
            return
        names = {**self.training_panel_names(), **self.session.names()}  # a training root's
        values = self.actions["show_values"].isChecked()
        g = graph_model.build_graph([root], names,
                                    show_saved=self.actions["show_saved"].isChecked(),
                                    values=values)
        self.graph_view.set_values_mode(values)
        self.graph_view.set_graph(g)
        self._apply_stepper_state()

    def _apply_stepper_state(self) -> None:
        view = self.graph_view
        keys = view.node_items()
        states = {k: st for k, st in self.stepper.node_states().items() if k in keys}
        for key in keys:  # only what changed: a step touches two or three nodes
            want = states.get(key, "idle")
            if view.node_state(key) != want:
                view.set_node_state(key, want)
        labels = {(u, v): t for (u, v), t in self.stepper.edge_labels().items()
                  if u in keys and v in keys}
        for (u, v) in [e for e in view.edge_labels() if e not in labels]:
            view.set_edge_label(u, v, None)
        for (u, v), text in labels.items():
            if view.edge_label(u, v) != text:
                view.set_edge_label(u, v, text)
        c = self.stepper.cursor
        if view.values_mode:  # micrograd-style: each op's output gradient so far
            view.set_node_grads({} if c is None else {
                graph_model.node_key(s.node.id): short_values(s.grad_outputs[0])
                for s in c.steps[:c.position]
                if not s.is_accumulate})
        root = self.stepper.root
        seed = (graph_model.tensor_key(root.id)
                if root is not None and c is not None and c.position > 0 else None)
        view.set_seed_label(seed if seed in keys else None, c.seed if c is not None else "1")
        if (c is None or c.error is None) and self.kernel.alive:
            view.clear_banner()  # (a dead kernel's sentence stays until the restart)
        if c is None:
            self.step_label.setText("")
        else:
            total = len(c.steps) if c.finished and c.error is None else None
            status = "  ✗ error" if c.error is not None else "  ✓ done" if c.at_end else ""
            self.step_label.setText(f"step {c.position}" + (f" of {total}" if total else "")
                                    + status)
        self.update_actions()

    def _on_stepped(self, step: StepView | None) -> None:
        if step is not None:
            self.inspector.show_step(step)
        self.refresh_tensor_views()

    def refresh_tensor_views(self) -> None:
        """Grads changed by stepping: the tensors table and graph labels show them."""
        if hasattr(self.tensor_panel, "refresh"):
            self.tensor_panel.refresh()
        names = self.session.names()
        names.update(self.training_panel_names())
        if graph_model.refresh_labels(self.graph_view.graph, names):
            self.graph_view.refresh()

    def _on_step_failed(self, message: str, node_id: int | None) -> None:
        key = graph_model.node_key(node_id) if node_id is not None else (
            graph_model.tensor_key(self.stepper.root.id) if self.stepper.root is not None
            else None)
        self.graph_view.show_banner(banner_text(message), key)
        self.graph_view.setToolTip(message)
        self.statusBar().showMessage(message, 15000)

    def _on_node_selected(self, key: str) -> None:
        g = getattr(self.graph_view, "graph", None)
        data = g.nodes[key] if g is not None and key in g else {}
        obj = data.get("obj")
        if hasattr(obj, "grad_fn"):
            self.inspector.show_tensor(obj, self.session.names().get(obj.id))
        elif obj is not None:
            c = self.stepper.cursor
            step = None
            if c is not None:
                step = next((s for s in c.steps[:c.position] if s.node.id == obj.id), None)
            if step is not None:
                self.inspector.show_step(step)
            else:
                self.inspector.show_node(obj)
        self.update_actions()

    def _on_tensor_selected(self, name: str) -> None:
        with contextlib.suppress(KeyError):
            self.inspector.show_tensor(self.session.get(name), name)

    def _show_training_root(self, root: Any) -> None:
        if root is not None and hasattr(root, "grad_fn"):
            g = graph_model.build_graph([root], self.training_panel_names())
            self.graph_view.set_graph(g)

    def training_panel_names(self) -> dict[int, str]:
        fn = getattr(self.training_panel, "names", None)
        return fn() if callable(fn) else {}

    # ------------------------------------------------------------------ commands
    def _guard(self, fn: Callable[[], Any]) -> None:
        """Run a user command; any failure is shown, never fatal."""
        from gradviz.safe_io import FileError

        try:
            fn()
        except (UserError, FileError) as e:  # already a sentence for the user
            QMessageBox.warning(self, "gradviz", str(e))
        except Exception as e:  # the app must survive every user mistake
            QMessageBox.warning(self, "gradviz", f"{type(e).__name__}: {e}")
        self.update_actions()

    def _mark_dirty(self) -> None:
        self._dirty = True

    def load_starter(self, code: str) -> None:
        self.code_panel.set_source(code)
        self.session.run(code)
        self.refresh_graph()

    # ------------------------------------------------------------------ the kernel
    def _connect_kernel(self) -> None:
        k = self.kernel
        self._kernel_conns = [k.started.connect(self._on_kernel_started),
                              k.died.connect(self._on_kernel_died),
                              k.busy.connect(self._on_kernel_busy),
                              k.state.connect(self._on_kernel_state)]
        if getattr(k, "km", True) is None:  # a KernelClient not started yet
            self.kernel_label.setText("kernel starting…")
            QTimer.singleShot(0, k.start)
        else:
            self._on_kernel_started()

    def _on_kernel_started(self) -> None:
        self.kernel_label.setText(self._ready_text())
        if self.settings is not None and not self.settings.value("seen_hint", False):
            self.settings.setValue("seen_hint", True)  # once, on the very first launch
            self.statusBar().showMessage(
                "First time here? Press F10 to run one backward node, Shift+F10 to undo it, "
                "F5 to run to the end; F1 lists every key.", 20000)
        self._stop_count = 0
        if self.actions["pause_backward"].isChecked():
            self.kernel.command("pause", on=True)
        self.kernel.command("state")
        self.update_actions()

    def _on_kernel_died(self, sentence: str) -> None:
        msg = (f"{sentence} Your cells, editor text and layout are kept; restart the kernel "
               "(Kernel ▸ Restart kernel, Ctrl+Shift+F5) to run them again.")
        self.kernel_label.setText("kernel dead")
        self.graph_view.show_banner(msg, None)
        self.statusBar().showMessage(msg, 0)
        self._elapsed_timer.stop()
        self.update_actions()

    def _on_kernel_busy(self, busy: bool) -> None:
        self._cell_started = time.monotonic() if busy else None
        if busy:
            self._elapsed_timer.start()
        else:
            self._elapsed_timer.stop()
            self._stop_count = 0
        self._show_kernel_state()
        self.update_actions()

    def _show_kernel_state(self) -> None:
        k = self.kernel
        if not k.alive:
            self.kernel_label.setText("kernel dead")
        elif k.paused:
            self.kernel_label.setText("PAUSED in backward(): F10 steps, F5 continues")
        elif self._cell_started is not None:
            secs = time.monotonic() - self._cell_started
            self.kernel_label.setText(f"● running {secs:.1f} s  (Shift+F5 stops)")
        else:
            self.kernel_label.setText(self._ready_text() if k.ready else "kernel starting…")

    def _fill_walks(self, msg: dict) -> None:
        log = msg.get("walk_log") or []
        current = (msg.get("walk") or {}).get("id")
        self.walk_combo.blockSignals(True)
        self.walk_combo.clear()
        for w in log:
            self.walk_combo.addItem(f"walk {w['id']}: {w['root']} ({w['steps']} steps)",
                                    w["id"])
        idx = self.walk_combo.findData(current)
        self.walk_combo.setCurrentIndex(idx if idx >= 0 else self.walk_combo.count() - 1)
        self.walk_combo.blockSignals(False)
        self.walk_combo.setVisible(len(log) > 1)

    def _on_walk_chosen(self) -> None:
        wid = self.walk_combo.currentData()
        if isinstance(wid, int):
            self.session.command("select_walk", id=wid)
            self.refresh_graph()

    def _on_kernel_state(self, msg: dict) -> None:
        self.bridge.feed(msg.get("events") or [])
        self._fill_walks(msg)
        self.lesson_panel.mark_paused(bool(msg.get("paused")))
        if msg.get("paused") and msg.get("seq") is None:  # a walk starts: older news goes
            self.statusBar().clearMessage()
        if msg.get("graph_changed") or msg.get("paused") or msg.get("cell_error"):
            self._refresh_timer.start()
        elif msg.get("seq") is None:  # a command's own answer is drawn by whoever sent it
            self.refresh_tensor_views()
            self._apply_stepper_state()
        err = msg.get("cell_error")
        if err and err["message"].startswith("KeyboardInterrupt"):
            self.statusBar().showMessage("stopped: the cell was interrupted (the workspace "
                                         "keeps what it did until then)", 8000)
        elif err:
            node = err.get("node_id")
            key = graph_model.node_key(node) if node is not None else (
                graph_model.tensor_key(err["tensor_id"]) if err.get("tensor_id") is not None
                else None)
            QTimer.singleShot(40, self, lambda: self.graph_view.show_banner(
                banner_text(err["message"]), key))
            self.statusBar().showMessage(err["message"], 15000)
        self._show_kernel_state()

    def state_json(self) -> dict[str, Any]:
        """The app's state for ``--state-json``: cells, the backward walk, tensors, the error
        shown and whether the kernel lives."""
        lp = self.lesson_panel
        if lp.runner is not None and self._opened_cells:
            cells = lp.cell_statuses()
        else:
            cells = [{"status": "ok" if r.ok else "error",
                      "output": r.output + (r.value_repr + "\n" if r.value_repr else ""),
                      "error": r.error_text or None} for r in self.session.results]
        c = self.stepper.cursor
        backward = None
        if c is not None:
            cur = c.current
            backward = {"root": self.session.names().get(c.root_id) or
                        (c.root.grad_fn_name if c.root is not None else None) or "",
                        "step": c.position,
                        "total": len(c.steps) if c.finished and c.error is None else None,
                        "current": cur.name if cur is not None else None,
                        "paused_in_cell": lp.running_index if self.kernel.paused else None,
                        "done": bool(c.at_end)}
        tensors = {}
        for info in self.session.tensors():
            t = info.tensor
            data = t.numpy()
            grad = t.grad
            tensors[info.name] = {
                "shape": list(t.shape), "requires_grad": bool(t.requires_grad),
                "grad_fn": t.grad_fn_name, "data": data.tolist(),
                "grad": grad.numpy().tolist() if grad is not None else None}
        err = None
        text = self.graph_view._banner.text() if self.graph_view._banner.isVisible() else ""
        if c is not None and c.error is not None:
            err = {"message": f"{getattr(c.error, 'kernel_ename', type(c.error).__name__)}: "
                   f"{c.error}", "node": self._node_name(c.error_node_id)}
        elif self.session.last_error:
            e = self.session.last_error
            err = {"message": e["message"], "node": self._node_name(e.get("node_id"))}
        elif text:
            err = {"message": text, "node": None}
        return {"cells": cells, "backward": backward, "tensors": tensors, "error": err,
                "kernel": {"alive": bool(self.kernel.alive)}}

    def _node_name(self, node_id: int | None) -> str | None:
        if node_id is None:
            return None
        return self.session.world.node(node_id).name()

    def stop_kernel(self) -> None:
        """Shift+F5: interrupt; a second Stop on a cell that swallowed it offers a restart."""
        k = self.kernel
        if not k.running:
            return
        self._stop_count = getattr(self, "_stop_count", 0) + 1
        if self._stop_count >= 2:
            ans = QMessageBox.question(
                self, "gradviz", "The cell did not stop (it may catch KeyboardInterrupt). "
                "Restart the kernel? The workspace empties; your cells and text stay.")
            if ans == QMessageBox.Yes:
                self.restart_kernel()
                return
        k.interrupt()
        self.statusBar().showMessage("stopping the running cell…", 3000)

    @property
    def backend(self) -> str:
        """``"engine"`` or ``"torch"``: what the kernel runs user code on."""
        return getattr(self.kernel, "backend", "engine")

    def _ready_text(self) -> str:
        return "kernel ready" + (" · real PyTorch" if self.backend == "torch" else "")

    def _show_backend(self) -> None:
        switchable = hasattr(self.kernel, "set_backend")
        for b in ("engine", "torch"):
            a = self.actions[f"backend_{b}"]
            a.setChecked(b == self.backend)
            a.setEnabled(switchable)

    def set_backend(self, name: str, confirm: bool = True) -> bool:
        """Kernel ▸ Run on …: restart the kernel on ``name``; False (and a sentence) when
        PyTorch is missing or the user cancels. The cells and editor text stay."""
        import importlib.util

        if name == self.backend or not hasattr(self.kernel, "set_backend"):
            self._show_backend()
            return name == self.backend
        if name == "torch" and importlib.util.find_spec("torch") is None:
            self._show_backend()
            QMessageBox.information(
                self, "gradviz", "Running on real PyTorch needs it in gradviz's environment: "
                f"{sys.executable} -m pip install torch")
            return False
        if confirm and self.session.names():
            ans = QMessageBox.question(
                self, "gradviz", f"Run on {'real PyTorch' if name == 'torch' else 'the engine'}? "
                "The kernel restarts: the workspace empties; your cells and editor text stay.")
            if ans != QMessageBox.Yes:
                self._show_backend()
                return False
        self.kernel.set_backend(name)
        self._after_restart()
        self._show_backend()
        self.statusBar().showMessage(
            "code runs on real PyTorch now" if name == "torch" else
            "code runs on gradviz's engine now", 8000)
        return True

    def restart_kernel(self) -> None:
        self.kernel.restart()
        self._after_restart()

    def _after_restart(self) -> None:
        self.session.forget_kernel()
        self.session.history.clear()
        self.session.results.clear()
        self.graph_view.clear_banner()
        self.kernel_label.setText("kernel starting…")
        self.refresh_roots()
        self.refresh_graph()  # the old kernel's graph is gone with it
        self.update_actions()

    def _pause_changed(self) -> None:
        on = self.actions["pause_backward"].isChecked()
        if self.kernel.alive and self.kernel.ready:
            self.kernel.command("pause", on=on)

    def set_pause_at_backward(self, on: bool) -> None:
        """Pause at backward() on or off (the Kernel menu's toggle)."""
        self.actions["pause_backward"].setChecked(on)
        self._pause_changed()

    def step_newest_root(self, n: int | None) -> None:
        """For --step N / --backward: step the newest scalar root (or the paused walk)."""
        scalars = [i.tensor for i in self.session.tensors()
                   if i.tensor.grad_fn is not None and i.tensor.numel() == 1]
        if scalars and not self.kernel.paused:
            root = scalars[-1]
            self.stepper.set_root(root)
            self.refresh_graph()
        if n is None:
            self.stepper.run()
        else:
            for _ in range(n):
                if self.stepper.step() is None:
                    break

    def toggle_breakpoint(self) -> None:
        key = self.graph_view.selected_key
        node_id = graph_model.node_id_of(key)
        if node_id is not None:
            self.stepper.toggle_breakpoint(node_id)

    def toggle_play(self) -> None:
        if self.stepper.playing:
            self.stepper.stop()
        else:
            self.stepper.play(int(2400 / self.speed.value()))

    def shortcut_sheet(self) -> list[tuple[str, str]]:
        """(keys, what they do) for every action that has a shortcut, in menu order."""
        out = []
        for a in self.actions.values():
            keys = ", ".join(k.toString(QKeySequence.NativeText) for k in a.shortcuts())
            if keys:
                out.append((keys, a.text().replace("&", "").rstrip("…")))
        out += [("Shift+Enter / Ctrl+Enter", "Run the editor's cell / line"),
                ("0 or Home, Shift+0", "Fit the graph / show the whole graph")]
        return out

    def show_shortcuts(self) -> None:
        """Help ▸ Keyboard shortcuts (F1): the sheet, large enough for a projector."""
        rows = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{t}</td></tr>"
                       for k, t in self.shortcut_sheet())
        box = QMessageBox(self)
        box.setWindowTitle("gradviz: keyboard shortcuts")
        box.setTextFormat(Qt.RichText)
        box.setText(f"<table cellpadding='3'>{rows}</table>")
        box.setModal(False)
        box.show()
        self._shortcuts_box = box

    def show_walk(self, messages: list[dict], title: str = "") -> None:
        """Draw a saved walk (``gradviz.show``): its graph and every step, at the end. The
        window then views that walk only (the kernel's own workspace no longer replaces it)."""
        self.session.close()
        self._viewing_walk = True
        for msg in messages:
            self.session._on_state(msg)
        self.refresh_graph()
        self.tensor_panel.refresh()
        self.setWindowTitle(f"gradviz — {title}" if title else "gradviz")
        self.statusBar().showMessage("a saved walk: its graph and grads as they ended", 10000)

    def show_panel(self, name: str) -> None:
        """Raise a panel's dock ("training", "lessons", "code", "events", "tensors",
        "inspector"); the Training panel gets a few iterations so its plots show something."""
        key = {"events": "log"}.get(name, name)
        self.docks[key].show()
        self.docks[key].raise_()
        if key == "training" and hasattr(self.training_panel, "run_iterations"):
            self._on_training_visible(True)  # raised while already visible: room all the same
            self.training_panel.run_iterations(30)

    def fit_graph(self) -> None:
        self.graph_view.fit()

    def toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def set_font_scale(self, scale: float) -> None:
        """Presenter mode: scale every font in the window, the graph included."""
        scale = max(0.6, min(3.0, scale))
        self.font_scale = scale
        app = QApplication.instance()
        base = getattr(self, "_base_point_size", None)
        if base is None:
            base = self._base_point_size = QFont().pointSizeF() or 10.0
        f = QFont(app.font()) if app else QFont()
        f.setPointSizeF(base * scale)
        self.setFont(f)
        for d in self.docks.values():
            d.widget().widget().setFont(f)
        self.graph_view.set_font_scale(scale)
        if self.settings is not None:
            self.settings.setValue("font_scale", scale)
        if self._sized and (self.text_columns() < self.COMPACT_COLUMNS) != self.compact:
            self.arrange_panels()  # text grew (or shrank) past what the layout was made for

    def set_theme(self, name: str) -> None:
        from PySide6.QtCore import QEvent

        from gradviz import theme
        from gradviz.qt.theming import set_window_theme
        if name not in theme.THEMES:
            raise ValueError(f"unknown theme {name!r}; choose from {', '.join(theme.THEMES)}")
        self.theme_name = name
        self.actions[f"theme_{name}"].setChecked(True)
        self.graph_view.set_theme(name)
        set_window_theme(self, name)  # the panels read it on the palette change below
        QApplication.instance().setPalette(qt_palette(theme.THEMES[name]))
        # Qt posts the palette change: deliver it now, so the panels are recoloured on return
        QApplication.sendPostedEvents(None, QEvent.Type.ApplicationPaletteChange)
        self.training_panel.set_theme(name)
        if self.settings is not None:
            self.settings.setValue("theme", name)

    # ----- files
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open", str(self.current_path.parent if self.current_path else Path.cwd()),
            "gradviz files (*.py *.ipynb *.gradviz);;All files (*)")
        if path:
            self.open_path(path)

    def open_path(self, path: str | os.PathLike, run_all: bool = False,
                  pause: bool = True) -> None:
        """Open a percent script, a notebook (into the lesson panel) or a saved session."""
        p = Path(path)
        if not self.confirm_discard(f"open {p.name}"):
            return
        if p.suffix == ".gradviz":
            from gradviz import session_file
            rep = self._reply(self.session.command("load_session", path=str(p)))
            self.session.history[:] = rep.get("cells", [])
            self.session.results.clear()
            self.code_panel.set_source(rep.get("editor_text", ""))
            self.current_path = None if session_file.is_autosave(p) else p
            self._saved_cells = list(rep.get("cells", []))
            self._dirty = False
            self.actions["rerun_cells"].setEnabled(bool(self._saved_cells))
            if rep.get("can_rerun"):
                self.statusBar().showMessage(
                    f"opened {p.name}: the leaf tensors are back; Kernel ▸ Re-run cells "
                    "rebuilds the graphs", 10000)
        else:
            self.lesson_panel.open_notebook(p)
            self.gradient_edit.clear()  # a vector from another lesson would not fit here
            self._dirty = False  # what the file holds is saved; cells run from here on are not
            self._opened_cells = True
            self.set_pause_at_backward(pause)  # lessons stop inside backward() by default
            self.docks["lessons"].raise_()
            if run_all:
                while self.lesson_panel.run_next_cell() is not None:
                    pass
        self._add_recent(p)
        self.setWindowTitle(f"gradviz — {p.name}")
        self.refresh_graph()

    def open_lesson(self, which: str, run_all: bool = False, pause: bool = True) -> None:
        from gradviz.lessons import list_lessons
        for info in list_lessons():
            if str(info.number) == str(which).lstrip("0") or info.path.stem.startswith(which):
                self.open_path(info.path, run_all=run_all, pause=pause)
                return
        raise ValueError(f"no lesson {which!r}")

    def session_state(self) -> dict[str, Any]:
        return {"code": self.code_panel.source(), "view": {"theme": self.theme_name,
                                                          "font_scale": self.font_scale}}

    def _reply(self, msg: dict | None) -> dict:
        """A kernel command's answer, or a sentence saying why there is none."""
        if msg is None:
            raise UserError("the kernel is busy running a cell or not running: stop the cell "
                            "(Shift+F5) or restart the kernel, then try again")
        if msg.get("type") == "reply" and not msg.get("ok", True):
            raise UserError(str(msg.get("error", "")).split(": ", 1)[-1])
        return msg.get("reply") or {}

    def save(self) -> bool:
        """Save the session (asks for a name first if it has none); True once saved."""
        from gradviz import session_file
        p = self.current_path
        if p is None or p.suffix != ".gradviz" or session_file.is_autosave(p):
            return self.save_as()
        self._reply(self.session.command(
            "save_session", path=str(p), cells=list(self.session.history),
            editor_text=self.code_panel.source(), view=self.session_state()["view"]))
        self._dirty = False
        self.statusBar().showMessage(f"saved {p}", 4000)
        return True

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Save session", "session.gradviz",
                                              "gradviz session (*.gradviz)")
        if not path:
            return False
        self.current_path = Path(path if path.endswith(".gradviz") else path + ".gradviz")
        return self.save()

    def autosave(self) -> None:
        """This window's automatic save (written by the kernel, where values are whole)."""
        k = self.kernel
        if self._autosave is None or not self._dirty or k.running or not k.alive or \
                getattr(self.session, "busy", False):
            return
        try:
            self._autosave.mark_running()
            self._reply(self.session.command(
                "save_session", path=str(self._autosave.path), autosave=True,
                cells=list(self.session.history), editor_text=self.code_panel.source(),
                view=self.session_state()["view"]))
        except Exception as e:  # noqa: BLE001 - said once in the status bar, never fatal
            self.statusBar().showMessage(f"automatic save failed: {e}", 10000)

    def offer_recovery(self) -> None:
        """After a crash, offer each window's autosave that was left behind."""
        paths, self._recoveries = self._recoveries, []
        for path in paths:
            when = time.strftime("%H:%M, %d %b", time.localtime(path.stat().st_mtime)) \
                if path.exists() else "earlier"
            ans = QMessageBox.question(
                self, "gradviz", "gradviz did not close cleanly: an automatically saved "
                f"session from {when} was kept. Open it?")
            if ans == QMessageBox.Yes:
                from gradviz import session_file

                def recover(p: Path = path) -> None:
                    mine = session_file.adopt_recovery(p, self._autosave)
                    self.open_path(mine)
                    self._dirty = True  # not saved anywhere but the autosave yet
                self._guard(recover)
                return

    def confirm_discard(self, what: str = "continue") -> bool:
        """Before unsaved work is replaced or closed: Save / Discard / Cancel. True to go on."""
        if not self._dirty or not self.confirm_discards:
            return True
        ans = QMessageBox.question(
            self, "gradviz", f"The workspace has unsaved work. Save it before you {what}?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if ans == QMessageBox.Save:
            return self.save()
        return ans == QMessageBox.Discard

    def new_session(self) -> None:
        """File ▸ New: an empty workspace and editor (after Save / Discard / Cancel)."""
        if not self.confirm_discard("start a new session"):
            return
        self.session.clear()
        self.code_panel.set_source("")
        self.current_path = None
        self._dirty = False
        self.setWindowTitle("gradviz")
        self.refresh_graph()

    def rerun_cells(self) -> None:
        """Run a restored session's cells again: its graphs come back."""
        for code in list(self._saved_cells):
            res = self.session.run(code)
            if not res.ok:
                self.statusBar().showMessage(f"re-run stopped: {res.error_text}", 10000)
                break
        self.refresh_graph()

    def export_graph(self, fmt: str, path: str | None = None) -> None:
        """PNG (slide size), SVG or Graphviz DOT of the graph; a failure names the path."""
        from gradviz import safe_io

        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, f"Export graph as {fmt.upper()}",
                                                  f"graph.{fmt}", f"{fmt.upper()} (*.{fmt})")
            if not path:
                return
        safe_io.check_writable(path, action="export")
        if fmt == "dot":
            safe_io.write_text_atomic(path, graph_model.to_dot(self.graph_view.graph),
                                      action="export")
        else:
            ok = (self.graph_view.export_png(path) if fmt == "png"
                  else self.graph_view.export_svg(path))
            if ok is False or not Path(path).is_file() or Path(path).stat().st_size == 0:
                raise UserError(f"cannot export {path}: Qt could not write the image there")
        self.statusBar().showMessage(f"exported {path}", 4000)

    def export_walkthrough(self, folder: str | None = None) -> list[Path]:
        """One PNG per backward step of the chosen root, for slides, written into ``folder``
        whole or not at all: a missing or read-only folder, or a file in its place, is one
        sentence naming it (:class:`UserError`), and a frame that cannot be written (a full
        disk) leaves no partial set behind (the frames are made in a hidden folder there and
        moved into place once all exist)."""
        import shutil
        import tempfile

        from gradviz import safe_io

        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Folder for the step images")
            if not folder:
                return []
        from gradviz.qt.graph_view import walkthrough_caption

        if self.stepper.root is None:
            return []
        where = Path(folder)
        fail = f"cannot export the walk-through into {folder}"
        if where.exists() and not where.is_dir():
            raise UserError(f"{fail}: it is a file, not a folder")
        if not where.exists():
            raise UserError(f"{fail}: the folder does not exist")
        try:
            safe_io.check_writable(where / "step_000.png", action="export")
        except safe_io.FileError as e:
            raise UserError(f"{fail}: {e.reason}") from None
        try:
            work = Path(tempfile.mkdtemp(prefix=".gradviz-walk-", dir=where))
        except OSError as e:
            raise UserError(f"{fail}: {safe_io.describe_os_error(where, e).split(': ', 1)[1]}"
                            ) from None
        out: list[Path] = []
        try:
            self.stepper.run()  # once through, to know n; then every frame from the start
            c = self.stepper.cursor
            n = len(c.steps) if c is not None and c.finished and c.error is None else None
            self.stepper.reset()
            names = []
            i = 0
            while True:
                name = f"step_{i:03d}.png"
                cur = self.stepper.cursor.current if self.stepper.cursor is not None else None
                node = cur.name.replace("torch::autograd::", "") if cur is not None else None
                caption = walkthrough_caption(i, n, node) if i else "before backward()"
                frame = work / name
                if not self.graph_view.export_png(str(frame), caption=caption) \
                        or not frame.is_file() or frame.stat().st_size == 0:
                    raise UserError(f"{fail}: {name} could not be written there (is the disk "
                                    "full?)")
                names.append(name)
                if self.stepper.step() is None:
                    break
                i += 1
            for name in names:  # renames within one folder: all of them, or none
                os.replace(work / name, where / name)
                out.append(where / name)
        except OSError as e:
            for p in out:
                with contextlib.suppress(OSError):
                    p.unlink()
            raise UserError(f"{fail}: {safe_io.describe_os_error(where, e).split(': ', 1)[1]}"
                            ) from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.statusBar().showMessage(f"exported {len(out)} images into {folder}", 4000)
        return out

    def _add_recent(self, p: Path) -> None:
        if self.settings is None:
            return
        recent = [str(p.resolve())] + [r for r in (self.settings.value("recent") or [])
                                       if r != str(p.resolve())]
        self.settings.setValue("recent", recent[:10])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for r in (self.settings.value("recent") or []) if self.settings else []:
            a = self.recent_menu.addAction(r)
            a.triggered.connect(lambda _c=False, r=r: self._guard(lambda: self.open_path(r)))

    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        st = s.value("state")
        if st is not None:
            self.restoreState(st)
        from gradviz import session_file
        clean, warnings = session_file.validate_settings(
            {k: s.value(k) for k in ("theme", "font_scale", "recent") if s.value(k) is not None})
        self.set_theme(str(clean.get("theme", DEFAULTS["theme"])))
        fs = float(clean.get("font_scale", DEFAULTS["font_scale"]))
        if fs != 1.0:
            self.set_font_scale(fs)
        if "recent" in clean:
            s.setValue("recent", clean["recent"])
        if warnings:
            QTimer.singleShot(0, self, lambda: self.statusBar().showMessage(
                " ".join(warnings), 15000))
        self._fill_recent()

    OPENABLE = (".py", ".ipynb", ".gradviz")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(u.toLocalFile().endswith(self.OPENABLE) for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        for u in event.mimeData().urls():
            path = u.toLocalFile()
            if path.endswith(self.OPENABLE):
                self._guard(lambda p=path: self.open_path(p))
                event.acceptProposedAction()
                return

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if not self.confirm_discard("quit"):
            event.ignore()
            return
        self.stepper.stop()
        for sig, conn in zip(("started", "died", "busy", "state"), self._kernel_conns):
            getattr(self.kernel, sig).disconnect(conn)
        self._kernel_conns = []
        if self._owns_kernel:
            self.kernel.shutdown()
        self.session.close()
        if self.settings is not None:
            self.settings.setValue("geometry", self.saveGeometry())
            self.settings.setValue("state", self.saveState())
            if self._autosave is not None:
                with contextlib.suppress(Exception):
                    self._autosave.mark_clean_exit()  # this window's files, no one else's
        self.bridge.close()
        super().closeEvent(event)




class UserError(Exception):
    """A failure already worded for the user (shown as it is)."""


def qt_palette(t: Theme) -> QPalette:
    """The whole window's colours for a gradviz theme (the graph has its own painter)."""
    app = QApplication.instance()
    if t.name == "light":
        return app.style().standardPalette()
    pal = QPalette()
    bg, fg = QColor(t.background), QColor(t.text)
    base = QColor(t.ui.base)
    for role, c in ((QPalette.Window, bg), (QPalette.WindowText, fg), (QPalette.Base, base),
                    (QPalette.AlternateBase, bg), (QPalette.Text, fg), (QPalette.Button, bg),
                    (QPalette.ButtonText, fg), (QPalette.ToolTipBase, base),
                    (QPalette.ToolTipText, fg), (QPalette.PlaceholderText,
                                                 QColor(t.text_muted)),
                    (QPalette.Highlight, QColor(t.selection)),
                    (QPalette.HighlightedText, QColor(t.ui.highlighted_text)),
                    (QPalette.Link, QColor(t.selection))):
        pal.setColor(role, c)
    pal.setColor(QPalette.Disabled, QPalette.Text, QColor(t.text_muted))
    pal.setColor(QPalette.Disabled, QPalette.ButtonText, QColor(t.text_muted))
    pal.setColor(QPalette.Disabled, QPalette.WindowText, QColor(t.text_muted))
    return pal


HINTS = {
    "implicitly created only for scalar": "type a gradient vector above: backward(v) needs one",
    "backward through the graph a second time": "run the forward code again to build a new "
    "graph, or call backward(retain_graph=True) the first time",
    "modified by an inplace operation": "a tensor this node saved was changed in place after "
    "it was saved; use an out-of-place op (x = x * 2, not x.mul_(2))",
    "does not require grad and does not have a grad_fn": "nothing upstream requires grad: "
    "create the leaves with requires_grad=True",
    "Mismatch in shape": "the gradient vector must have the root's shape",
}


def banner_text(message: str, limit: int = 160) -> str:
    """torch's message for the graph banner: its first sentence (the whole text is in the
    status bar and the tooltip) and what to do about it."""
    first = message
    cut = message.find(". ", 40)
    if cut != -1 and len(message) > limit:
        first = message[:cut + 1]
    first = clip(first, limit)
    hint = next((h for k, h in HINTS.items() if k in message), None)
    return f"{first}\n→ {hint}" if hint else first
