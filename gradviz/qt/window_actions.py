"""The main window's actions: every QAction by name in ``self.actions`` (its text, keys,
tooltip and slot, run through ``_guard``), the stepper toolbar, the menus, and the keyboard
shortcut sheet (Help ▸ Keyboard shortcuts). A part of
:class:`gradviz.qt.main_window.MainWindow`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QMessageBox, QSlider, QToolBar

from gradviz.qt.window_parts import WindowParts


class WindowActions(WindowParts):
    """MainWindow's actions, toolbar, menus and shortcut sheet (a mixin: the slots are the
    window's methods)."""

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
