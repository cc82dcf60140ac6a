"""The main window: graph in the middle, tensors left, inspector right, code and log below,
training and lessons as tabs. Every QAction lives in ``self.actions`` by name; which are
enabled is recomputed in one place (``update_actions``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QColor,
    QFont,
    QKeySequence,
    QPalette,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
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

from gradviz.qt.bridge import Bridge
from gradviz.qt.code_panel import CodePanel
from gradviz.qt.event_log import EventLog
from gradviz.qt.graph_view import GraphView
from gradviz.qt.inspector import Inspector
from gradviz.qt.kernel_client import KernelClient
from gradviz.qt.lesson_panel import LessonPanel
from gradviz.qt.remote_session import InProcessKernel, RemoteSession
from gradviz.qt.stepper import KernelStepper
from gradviz.qt.tensor_panel import TensorPanel
from gradviz.qt.training_panel import TrainingPanel
from gradviz.qt.window_files import UserError, WindowFiles
from gradviz.qt.window_graph import WindowGraph
from gradviz.qt.window_kernel import HINTS, WindowKernel, banner_text
from gradviz.workspace import Workspace as Session

if TYPE_CHECKING:
    from gradviz.theme import Theme

AUTOSAVE_MS = int(os.environ.get("GRADVIZ_AUTOSAVE_MS", "60000"))


class MainWindow(WindowGraph, WindowKernel, WindowFiles, QMainWindow):
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
        from gradviz import theme
        if name not in theme.THEMES:
            raise ValueError(f"unknown theme {name!r}; choose from {', '.join(theme.THEMES)}")
        self.theme_name = name
        self.actions[f"theme_{name}"].setChecked(True)
        self.graph_view.set_theme(name)
        QApplication.instance().setPalette(qt_palette(theme.THEMES[name]))
        self.training_panel.set_theme(name)
        if self.settings is not None:
            self.settings.setValue("theme", name)

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




def qt_palette(t: Theme) -> QPalette:
    """The whole window's colours for a gradviz theme (the graph has its own painter)."""
    app = QApplication.instance()
    if t.name == "light":
        return app.style().standardPalette()
    pal = QPalette()
    bg, fg = QColor(t.background), QColor(t.text)
    base = QColor(t.background).lighter(125) if t.name == "dark" else QColor("#ffffff")
    for role, c in ((QPalette.Window, bg), (QPalette.WindowText, fg), (QPalette.Base, base),
                    (QPalette.AlternateBase, bg), (QPalette.Text, fg), (QPalette.Button, bg),
                    (QPalette.ButtonText, fg), (QPalette.ToolTipBase, base),
                    (QPalette.ToolTipText, fg), (QPalette.PlaceholderText,
                                                 QColor(t.text_muted)),
                    (QPalette.Highlight, QColor(t.selection)),
                    (QPalette.HighlightedText, QColor("#ffffff")),
                    (QPalette.Link, QColor(t.selection))):
        pal.setColor(role, c)
    pal.setColor(QPalette.Disabled, QPalette.Text, QColor(t.text_muted))
    pal.setColor(QPalette.Disabled, QPalette.ButtonText, QColor(t.text_muted))
    pal.setColor(QPalette.Disabled, QPalette.WindowText, QColor(t.text_muted))
    return pal


__all__ = ["HINTS", "MainWindow", "UserError", "banner_text", "qt_palette"]
