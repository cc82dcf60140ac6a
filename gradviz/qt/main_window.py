"""The main window: graph in the middle, tensors left, inspector right, code and log below,
training and lessons as tabs. Every QAction lives in ``self.actions`` by name; which are
enabled is recomputed in one place (``update_actions``).

``MainWindow`` is assembled from mixins, one job each: ``window_actions`` (actions, toolbar,
menus, shortcut sheet), ``window_layout`` (central widget, docks, ``arrange_panels``),
``window_graph`` (stepping state -> graph, actions and inspector; ``state_json``),
``window_kernel`` (the kernel's signals, Stop, Restart, backend, pause) and ``window_files``
(open, save, autosave, recovery, exports). Here: construction, commands, view settings, the
theme and closing."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QFont,
    QPalette,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStatusBar,
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
from gradviz.qt.window_actions import WindowActions
from gradviz.qt.window_files import UserError, WindowFiles
from gradviz.qt.window_graph import WindowGraph
from gradviz.qt.window_kernel import HINTS, WindowKernel, banner_text
from gradviz.qt.window_layout import WindowLayout
from gradviz.workspace import Workspace as Session

if TYPE_CHECKING:
    from gradviz.theme import Theme

AUTOSAVE_MS = int(os.environ.get("GRADVIZ_AUTOSAVE_MS", "60000"))


class MainWindow(WindowActions, WindowLayout, WindowGraph, WindowKernel, WindowFiles,
                 QMainWindow):
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
    off = QColor(t.ui.disabled or t.text_muted)
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        pal.setColor(QPalette.Disabled, role, off)
    return pal


__all__ = ["HINTS", "MainWindow", "UserError", "banner_text", "qt_palette"]
