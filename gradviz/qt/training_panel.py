"""The training panel: a training loop run twice side by side, with and without its gradient
zeroing, plotted live per iteration.

The runs execute in the kernel (``gradviz.kernel.training_host``): this panel is a view. It
sends commands (reset, play, pause, stop, step, into backward, speed, follow) and plots the
series the kernel streams back (only the new points, about 25 messages a second while
playing: curves made once, ``setData`` per redraw, clipped to the view and
peak-downsampled). It never runs user code and never touches an engine object; a slow
iteration delays the plots, never the window, and Stop interrupts it in the kernel.

With a kernel process (``KernelClient``) one ``training_play`` command runs until paused; Pause,
Stop, speed and follow go on the side channel and are taken between iterations. With an
in-process kernel (tests) a timer plays frame by frame.

The panel is split by meaning: ``training_model`` (Qt-free: the runs as views, which curves
and legend entries exist, the plot grid, the readout and notes), ``training_plots`` (the
pyqtgraph plots and the PNG), ``training_controls`` (the controls and their enablement),
``training_backward`` (one iteration's backward node by node, the graph view's root); this
module holds the kernel commands, play / step and the exports.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QLabel,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gradviz.qt.code_panel import CodeEditor
from gradviz.qt.theming import theme_for
from gradviz.qt.training_backward import BackwardMixin
from gradviz.qt.training_controls import SPEEDS, ControlsMixin
from gradviz.qt.training_model import (
    PairView,
    RunView,
    editor_marks,
    note_html,
    numbers,
    readout_html,
    readout_values,
)
from gradviz.qt.training_plots import PlotsMixin
from gradviz.safe_io import FileError
from gradviz.theme import THEMES, PlotColours, get_theme
from gradviz.training.presets import preset
from gradviz.views import World

if TYPE_CHECKING:
    from gradviz.qt.bridge import Bridge
    from gradviz.workspace import Workspace

__all__ = ["TrainingPanel", "SPEEDS", "RunView", "PairView"]

TICK_MS = 10
FRAME_S = 0.040  # one plot update per 40 ms while playing flat out (25 per second) ...
BUDGET_MIN_S = 0.006  # ... the iterations get what the redraw leaves, within these bounds
BUDGET_S = 0.032


class TrainingPanel(ControlsMixin, PlotsMixin, BackwardMixin, QWidget):
    """Run a training loop with and without its zeroing, in step, plotted live: a view of
    the kernel's training host (``gradviz.kernel.training_host``).

    ``session`` is the window's ``RemoteSession`` (its ``kernel`` a ``KernelClient`` or an
    ``InProcessKernel``). ``iteration_root(object)`` carries the root (a ``TensorView``) of
    the followed run's current iteration (for the graph view). ``export_png(path)`` /
    ``export_csv(path)`` save the plots and the series.
    """

    iteration_root = Signal(object)
    state_changed = Signal()

    def __init__(self, session: Workspace, bridge: Bridge | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.bridge = bridge
        self.kernel = session.kernel
        #: an in-process kernel plays frame by frame from a timer (its agent runs here)
        self._frame_mode = hasattr(self.kernel, "agent")
        self.pair: PairView | None = None
        self.preset_key = "seed"
        self._dirty = True
        self._stepper: Any = None
        self._own_stepper: Any = None
        self._connected_steppers: set[int] = set()
        self._curves: list[Any] = []
        self._legend_groups: dict[str, Any] = {}  # legend entry text -> its curves
        self._drawn: dict[tuple[int, bool], int] = {}
        self._tick_end = 0.0
        self._overhead = 0.015
        self._refresh_s = 0.0
        self._status_t = 0.0
        self._last_root_emit = 0.0
        self._emitted_root: Any = None
        self._hover_k: int | None = None
        self._hover_kind = "grad"
        self._errors_shown: tuple[bool, ...] = ()
        self._stop_marks: list[tuple[Any, Any]] = []
        self._xs = np.arange(1, 2, dtype=np.float64)
        self.redraws = 0  # plot updates so far (the bench reads it)
        self.messages = 0  # frames received from the kernel
        self._loading = False
        self._token = 0  # numbers the commands that run user code in the kernel
        self._busy_token: int | None = None  # such a command waited for now
        self._play_token: int | None = None  # the kernel's play in progress
        self._play_on = False  # Play pressed (and not paused since)
        self._play_first = True
        self._stop_wanted = False
        self._refresh_due = False
        self._world = World()  # the followed run's root, as the kernel last sent it
        self._root_view: Any = None
        self._root_names: dict[int, str] = {}
        self._boundary_z: dict[str, np.ndarray] = {}
        self.note_text = ""  # why the last command did nothing (kernel busy, ...)
        #: seconds one iteration may take before its run is stopped (None: no limit; Stop
        #: interrupts a slow iteration, the window never waits for it)
        self.iteration_timeout: float | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self._refresh_now)
        self.kernel.message.connect(self._on_message)
        for name, slot in (("busy", self._on_kernel_busy), ("started", self._on_kernel_gone),
                           ("died", self._on_kernel_gone)):
            sig = getattr(self.kernel, name, None)
            if sig is not None:
                sig.connect(slot)
        self._build_ui()
        self.load_preset("seed")
    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(6)
        root.addWidget(self._build_controls())
        split = QSplitter(Qt.Horizontal)
        left = QSplitter(Qt.Vertical)  # the loop above its notes; both shrink, neither hides
        left.setChildrenCollapsible(False)
        self.editor = CodeEditor()
        self.editor.setPlaceholderText("")
        self.editor.highlight_current_line = False  # only the toggled lines are tinted
        self.editor.textChanged.connect(self._on_code_edited)
        self.editor.setMinimumHeight(60)
        left.addWidget(self.editor)
        notes = QWidget()
        nv = QVBoxLayout(notes)
        nv.setContentsMargins(0, 0, 0, 0)
        nv.setSpacing(4)
        self.note_label = QLabel()
        self.note_label.setObjectName("TrainingNote")
        self.note_label.setWordWrap(True)
        self.note_label.setTextFormat(Qt.RichText)
        nv.addWidget(self.note_label)
        self.backward_label = QLabel()
        self.backward_label.setObjectName("TrainingBackwardNote")
        self.backward_label.setWordWrap(True)
        self.backward_label.setTextFormat(Qt.RichText)
        self.backward_label.hide()
        nv.addWidget(self.backward_label)
        nv.addStretch(1)
        self.notes_scroll = QScrollArea()
        self.notes_scroll.setWidgetResizable(True)
        self.notes_scroll.setFrameShape(QFrame.NoFrame)
        self.notes_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.notes_scroll.setWidget(notes)
        self.notes_scroll.setMinimumHeight(40)
        left.addWidget(self.notes_scroll)
        right = self._build_plots()
        left.addWidget(self.readout_scroll)  # the values under the mouse, beside the plots
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 1)
        left.setStretchFactor(2, 2)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 7)
        split.setSizes([500, 1100])
        split.setChildrenCollapsible(False)
        self.splitter = split
        root.addWidget(split, 1)
        self.theme_name = theme_for(self).name
        self._style_plots()

    def resizeEvent(self, ev: QResizeEvent) -> None:
        super().resizeEvent(ev)
        self._room = None
        self._arrange_plots()

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        """The wrapped controls' rows at ``width`` plus the least the plots and the editor
        need (not their preferred size: a scroll area around the panel uses this)."""
        m = self.layout().contentsMargins()
        inner = width - m.left() - m.right()
        return (self.controls_flow.heightForWidth(inner) + self.layout().spacing()
                + self.splitter.minimumSizeHint().height() + m.top() + m.bottom())

    def changeEvent(self, ev: QEvent) -> None:
        super().changeEvent(ev)
        if ev.type() == QEvent.FontChange:
            self._style_plots()
        elif ev.type() in (QEvent.PaletteChange, QEvent.ApplicationPaletteChange):
            name = theme_for(self).name
            if name != getattr(self, "theme_name", None):
                self.set_theme(name)

    def set_theme(self, name: str) -> None:
        """Colour the plots, notes and marks for theme ``name`` (light, dark, high-contrast);
        a palette change (the window's theme switch) calls it too."""
        if name not in THEMES:
            raise ValueError(f"unknown theme {name!r}; choose one of {', '.join(THEMES)}")
        self.theme_name = name
        self._style_plots()
        if self.pair is not None:
            # what the legend hid stays hidden (asked of the entries: a curve of a hidden
            # plot reports itself invisible too)
            hidden = {t for t, g in self._legend_groups.items() if not g.isVisible()}
            self._build_curves()
            for t in hidden & set(self._legend_groups):
                self._legend_groups[t].setVisible(False)
            self._show_note()
            self._refresh(force=True)

    @property
    def colours(self) -> PlotColours:
        """The plot colours in use."""
        name = getattr(self, "theme_name", "light")
        return get_theme(name if name in THEMES else "light").plots

    # ------------------------------------------------------------------ presets, code
    def load_preset(self, key: str) -> None:
        """Put preset ``key`` (seed, regression, mlp, manual) in the editor and reset."""
        p = preset(key)
        self.pause()
        self.preset_key = key
        idx = self.preset_combo.findData(key)
        if idx >= 0:
            self.preset_combo.setCurrentIndex(idx)
        self._loading = True
        try:
            self.editor.setPlainText(p.code)
        finally:
            self._loading = False
        self.iterations_spin.blockSignals(True)
        self.iterations_spin.setValue(p.iterations)
        self.iterations_spin.blockSignals(False)
        self.lr_edit.setText(f"{p.lr:g}")
        speed = min(range(len(SPEEDS)), key=lambda i: abs((SPEEDS[i] or 1e9) - p.speed))
        self.speed_slider.setValue(speed)
        self._on_speed(speed)
        self.log_loss_check.blockSignals(True)
        self.log_loss_check.setChecked(p.log_loss)
        self.log_loss_check.blockSignals(False)
        self.reset()

    def _on_preset_activated(self, i: int) -> None:
        self.load_preset(self.preset_combo.itemData(i))

    @property
    def code(self) -> str:
        return self.editor.toPlainText()

    def set_code(self, code: str) -> None:
        """Replace the loop in the editor (runs restart on the next Play or Step)."""
        self.editor.setPlainText(code)

    def _on_code_edited(self) -> None:
        if not self._loading:
            self._mark_dirty()

    def _mark_dirty(self, *_: Any) -> None:
        if self._dirty:
            return
        self._dirty = True
        self.pause()
        self._update_status()

    def learning_rate(self) -> float | None:
        """The lr field as a number (None when it does not parse)."""
        try:
            v = float(self.lr_edit.text().strip())
        except ValueError:
            return None
        return v if math.isfinite(v) else None

    # ------------------------------------------------------------------ the kernel
    def _kernel_ok(self) -> bool:
        k = self.kernel
        if not getattr(k, "alive", True):
            self.note_text = "The kernel is not running: restart it (Kernel menu)."
        elif not getattr(k, "ready", True):
            self.note_text = "The kernel is starting…"
        elif getattr(k, "running", None) and not getattr(k, "paused", False):
            self.note_text = "A cell is running: the training waits for it (Shift+F5 stops it)."
        elif getattr(k, "paused", False):
            self.note_text = "A cell is paused in backward(): finish it (F5) first."
        else:
            self.note_text = ""
            return True
        self._update_status()
        return False

    def _call(self, cmd: str, **args: Any) -> dict[str, Any] | None:
        """A command that may run user code in the kernel, waited for (the event loop turns
        meanwhile: Stop answers). Returns its reply, or None when the kernel could not take
        it (the reason in ``note_text``)."""
        if self._busy_token is not None:
            self.note_text = "The kernel is still busy with the last command (■ Stop ends it)."
            self._update_status()
            return None
        if not self._kernel_ok():
            return None
        self._token += 1
        tok = self._busy_token = self._token
        try:
            msg = self.kernel.command_sync(cmd, timeout=None, token=tok, **args)
        finally:
            self._busy_token = None
        if msg is None or msg.get("ok") is False:
            self.note_text = (msg or {}).get("error") or "The kernel did not answer."
            self._update_status()
            return None
        self._after_command()
        return msg.get("reply") or {}

    def _after_command(self) -> None:
        """A Stop that came while a command ran but reached the kernel too late to count."""
        if self._stop_wanted and self._busy_token is None and self._play_token is None:
            self._stop_wanted = False
            if self.pair is not None and self.pair.active and self._kernel_ok():
                self.kernel.command_sync("training_stop")

    def _on_kernel_busy(self, busy: bool) -> None:
        if busy and self.playing:
            self.pause()  # a cell gets the kernel: the training waits

    def _on_kernel_gone(self, *_: Any) -> None:
        """The kernel restarted or died: its pair is gone (the plots stay until Reset)."""
        self.timer.stop()
        self._play_token = None
        self._play_on = False
        self._busy_token = None
        self._dirty = True
        if getattr(self.kernel, "alive", False) and getattr(self.kernel, "ready", False):
            QTimer.singleShot(0, self, self.reset)
        else:
            self._update_status()

    def _on_message(self, msg: dict[str, Any]) -> None:
        if msg.get("type") != "training":
            return
        kind = msg.get("kind")
        if kind == "layout":
            self._on_layout(msg)
            return
        pair = self.pair
        if pair is None or msg.get("gen") != pair.gen:
            return
        if kind == "frame":
            self.messages += 1
            for key, delta in msg.get("runs", {}).items():
                pair.run(key).update(delta)
            root = msg.get("root")
            if root is not None:
                self._on_root(root)
            for key, values in (msg.get("boundary") or {}).items():
                self._boundary_z[key] = numbers(values)
            self._schedule_refresh()
        elif kind == "ended" and msg.get("token") == self._play_token and \
                msg.get("reason") != "budget":
            self._play_token = None
            self._play_on = False
            self._refresh(force=True)
            self._emit_root(force=True)
            self._after_command()
            self.state_changed.emit()

    def _on_layout(self, msg: dict[str, Any]) -> None:
        self.pair = PairView(msg)
        self._world = World()
        self._root_view = None
        self._root_names = {}
        self._boundary_z = {}
        self._xs = np.arange(1, min(self.pair.limit, 4096) + 2, dtype=np.float64)
        self._build_curves()
        self._show_note()

    def _on_root(self, rec: dict[str, Any]) -> None:
        self._world.update(rec.get("tensors", ()), rec.get("nodes", ()), replace=True)
        names = {int(k): v for k, v in rec.get("names", {}).items()}
        run = self.pair.run(rec["run"])
        run._names = names
        if rec["run"] == self.followed:
            self._root_names = names
            self._root_view = self._world.tensor(rec["id"])

    def _schedule_refresh(self) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _refresh_now(self) -> None:
        t = time.perf_counter()
        self._refresh()
        self._emit_root()
        self._refresh_s = time.perf_counter() - t

    # ------------------------------------------------------------------ runs
    def reset(self) -> None:
        """Build both runs again in the kernel from the editor, the lr and the iteration
        count."""
        self.pause()
        lr = self.learning_rate()
        self.lr_edit.setStyleSheet("" if lr is not None else
                                   f"QLineEdit {{ background: {self.colours.error_line} }}")
        reply = self._call("training_reset", code=self.code,
                           lr=lr if lr is not None else 0.01,
                           iterations=self.iterations_spin.value(),
                           iteration_timeout=self.iteration_timeout, follow=self.followed)
        if reply is None:
            return
        self._dirty = False
        self._refresh(force=True)
        self._emit_root(force=True)
        self.state_changed.emit()

    def _ensure_fresh(self) -> None:
        if self._dirty or self.pair is None:
            self.reset()

    def _mark_editor(self) -> None:
        """Tint the toggled lines and the line where a run stopped (see ``editor_marks``)."""
        if self.pair is not None:
            self.editor.mark_lines(editor_marks(self.pair, self.colours))

    def _show_note(self) -> None:
        if self.pair is None:
            return
        self._mark_editor()
        self.note_label.setText(note_html(self.pair, self.colours))

    # ------------------------------------------------------------------ play, step
    @property
    def playing(self) -> bool:
        """Play is on (the kernel runs iterations; Pause stops them)."""
        return self._play_on

    @property
    def kernel_playing(self) -> bool:
        """The kernel is still running a play (a Pause or Stop may be on its way)."""
        return self._play_token is not None or self.timer.isActive()

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        """Run iterations in the kernel at the chosen speed; the plots follow what arrives."""
        self._ensure_fresh()
        self._wait_play_end()
        if self.pair is None or not self.pair.active or self.kernel_playing:
            self._update_status()
            return
        if not self._kernel_ok():
            return
        self._stop_wanted = False
        self._play_on = True
        self._play_first = True
        self._token += 1
        self._play_token = self._token
        if self._frame_mode:
            self._tick_end = 0.0
            self._overhead = 0.015
            self._refresh_s = 0.0
            self.timer.start()
        else:
            self.kernel.command("training_play", token=self._play_token, speed=self.speed)
        self._update_buttons()
        self.state_changed.emit()

    @property
    def speed(self) -> float | None:
        """Iterations per second chosen (None: as fast as possible)."""
        return SPEEDS[self.speed_slider.value()]

    def pause(self) -> None:
        """Stop playing (the runs keep their state; the kernel ends its frame)."""
        if self._play_on or self.timer.isActive():
            self._play_on = False
            if self.timer.isActive():
                self.timer.stop()
                self._play_token = None
            elif self._play_token is not None:
                self.kernel.command_side("training_pause", token=self._play_token)
            self._status_t = 0.0
            self._refresh(force=True)
            self._emit_root(force=True)
            self.state_changed.emit()
        self._update_buttons()

    def stop(self) -> None:
        """End both runs (Reset starts again). A slow iteration is interrupted."""
        self._play_on = False
        self.timer.stop()
        live = self._play_token if self._play_token is not None else self._busy_token
        if live is not None and not self._frame_mode:
            self._stop_wanted = True
            self.kernel.command_side("training_stop", token=live)
        else:
            self._play_token = None
            if self.pair is not None and self._kernel_ok():
                self.kernel.command_sync("training_stop")
        self._refresh(force=True)
        self._update_buttons()
        self.state_changed.emit()

    def step_iteration(self) -> None:
        """Exactly one iteration of both runs (finishing a stepped backward first)."""
        self.pause()
        self._ensure_fresh()
        if self.pair is None:
            return
        self._wait_play_end()
        self._call("training_step")
        self.backward_label.hide()
        self._refresh(force=True)
        self._emit_root(force=True)
        self._update_backward_label()
        self.stepper.changed.emit()
        self.state_changed.emit()

    def _wait_play_end(self, timeout: float = 5.0) -> None:
        """Let a paused play's last frame arrive before the next command."""
        if self._play_token is not None and not self._frame_mode:
            self.kernel.wait_for(lambda: self._play_token is None, timeout)

    def run_iterations(self, n: int) -> int:
        """Run ``n`` iterations of both runs at once (no frames); returns how many ran."""
        self.pause()
        self._ensure_fresh()
        if self.pair is None:
            return 0
        self._wait_play_end()
        before = self.pair.count
        self._call("training_run", n=int(n))
        self._refresh(force=True)
        self._emit_root(force=True)
        self._update_backward_label()
        return self.pair.count - before

    def _tick(self) -> None:
        """In-process kernel: one frame of play per timer tick. Flat out, the frame gets what
        is left of a FRAME_S frame after the last redraw (painting, event handling and the
        plot update measured as they happen), so the plots keep their frame rate."""
        pair = self.pair
        if pair is None or not pair.active or not self._play_on:
            self.timer.stop()
            self._play_token = None
            self._play_on = False
            self._refresh(force=True)
            self._update_buttons()
            return
        now = time.perf_counter()
        if self._tick_end:
            outside = now - self._tick_end
            self._overhead = 0.7 * self._overhead + 0.3 * (outside + self._refresh_s)
        speed = self.speed
        budget = BUDGET_S if speed is not None else \
            min(BUDGET_S, max(BUDGET_MIN_S, FRAME_S - self._overhead))
        self._busy_token = self._play_token
        try:
            self.kernel.command_sync("training_play", token=self._play_token, speed=speed,
                                     budget_s=budget, first=self._play_first)
        finally:
            self._busy_token = None
        self._play_first = False
        t = time.perf_counter()
        self._refresh()
        self._emit_root()
        end = time.perf_counter()
        self._refresh_s = end - t
        self._tick_end = end
        if not pair.active:
            self.pause()
    def leaveEvent(self, ev: QEvent) -> None:
        super().leaveEvent(ev)
        self._hover_k = None
        for h in self._hover_lines.values():
            h.hide()
        self._update_status()

    def readout_values(self, k: int) -> dict[str, dict[str, float]]:
        """Run label -> {series label -> value} at iteration ``k`` (what the hover shows)."""
        return readout_values(self.pair, k)

    def _update_readout(self, k: int) -> None:
        """Values of iteration ``k`` (hovered, else the current one) and each run's state."""
        self.readout.setText(readout_html(
            self.pair, k, self.colours, hover=self._hover_k is not None,
            hover_kind=self._hover_kind, dirty=self._dirty, note=self.note_text))

    # ------------------------------------------------------------------ status
    def _update_status(self) -> None:
        now = time.perf_counter()
        if self.playing and now - self._status_t < 0.2:
            return  # a text relayout per frame costs more than the plots
        self._status_t = now
        self._update_readout(self._hover_k if self._hover_k is not None else
                             (self.pair.count if self.pair is not None else 0))
        self._update_buttons()

    # ------------------------------------------------------------------ speed

    # ------------------------------------------------------------------ export

    def export_csv(self, path: str) -> None:
        """Save every series of both runs, one row per iteration."""
        if self.pair is None:
            raise RuntimeError("nothing to export")
        self.pair.write_csv(path)

    def export(self, kind: str, path: str) -> bool:
        """Export the plots (``"png"``) or the series (``"csv"``) to ``path``; a failure is
        one sentence naming ``path`` beside the export buttons (nothing half written). True
        when the file was written."""
        try:
            self.export_png(path) if kind == "png" else self.export_csv(path)
        except (FileError, RuntimeError) as e:
            self.show_export_status(str(e), error=True)
            return False
        self.show_export_status(f"saved {path}", error=False)
        return True

    def show_export_status(self, text: str, error: bool) -> None:
        c = self.colours
        self.export_status.setText(text)
        self.export_status.setStyleSheet(f"QLabel {{ color: {c.error if error else c.muted}; }}")
        self.export_status.setVisible(bool(text))

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plots", "training.png",
                                              "PNG image (*.png)")
        if path:
            self.export("png", path)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export series", "training.csv",
                                              "CSV (*.csv)")
        if path:
            self.export("csv", path)

    def closeEvent(self, ev: QCloseEvent) -> None:
        self.pause()
        super().closeEvent(ev)






