"""The training panel: a training loop run twice side by side, with and without its gradient
zeroing, plotted live per iteration.

The runs (``gradviz.training.TrainingPair``) execute on the GUI thread in bounded batches: a
QTimer tick runs as many iterations as fit in ``BUDGET_S`` (or as the speed allows), then the
plots are updated from the runs' preallocated buffers (curves made once, ``setData`` per tick,
clipped to the view and peak-downsampled). A tick never takes much longer than one
iteration, so Pause and Stop always answer; an iteration that hangs is stopped by the run's
watchdog. While playing, the engine events of the training runs are not forwarded one by one
to the other panels (the bridge's signals are blocked during a batch): the graph view gets the
selected run's current root through ``iteration_root`` a few times per second instead.

One iteration's backward can be stepped node by node: "Into backward" runs the next
iteration's forward for the followed run and stops at its ``backward()``; the root goes to the
graph view (``iteration_root``) and to the window's :class:`Stepper`, so Step / Step back here
and F10 / Shift+F10 in the graph view walk the same BackwardCursor. The next "Step
iteration" (or Play) lets the cursor finish and completes the iteration.
"""

from __future__ import annotations

import html
import math
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QPainter,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gradviz import training
from gradviz.qt.code_panel import CodeEditor
from gradviz.qt.stepper import Stepper, short_values
from gradviz.session import Session
from gradviz.training import PRESETS, TrainingPair, TrainingRun

__all__ = ["TrainingPanel", "SPEEDS"]

# PySide6 6.12's refcount leaks of None and True are guarded by importing gradviz.qt



#: iterations per second offered by the speed slider (None: as fast as the machine goes)
SPEEDS: tuple[float | None, ...] = (0.5, 1, 2, 3, 5, 10, 20, 30, 60, 100, 200, 500, 1000,
                                     None)
TICK_MS = 10
FRAME_S = 0.040  # one plot update per 40 ms while playing flat out (25 per second) ...
BUDGET_MIN_S = 0.006  # ... the iterations get what the redraw leaves, within these bounds
#: samples per pixel drawn of a long series (peak downsampling keeps the extremes): thick
#: antialiased lines cost per point, and one sample per two pixels is plenty at 3.5 px
DOWNSAMPLE_FACTOR = 0.5
BUDGET_S = 0.032
ROOT_EMIT_S = 0.5  # graph view updates while playing, at most every ...

# as written / with zeroing: cool colours, solid; without zeroing: warm colours, dashed
ZEROED_COLOURS = ("#1658c7", "#00897b", "#7b1fa2", "#2e7d32", "#3949ab", "#00838f")
UNZEROED_COLOURS = ("#e8590c", "#c62828", "#ad1457", "#a07800", "#6d4c41", "#d84315")
MARKER_COLOUR = "#ff8f00"
LINE_WIDTH = 3.5
PLOT_BG = "#ffffff"
TEXT = "#1a1a1a"
GRID_ALPHA = 0.25


def _colour(run_key: str, i: int) -> str:
    pal = ZEROED_COLOURS if run_key == "zeroed" else UNZEROED_COLOURS
    return pal[i % len(pal)]


def _pen(run_key: str, i: int, width: float = LINE_WIDTH) -> Any:
    pen = pg.mkPen(color=_colour(run_key, i), width=width)
    if run_key == "unzeroed":
        pen.setStyle(Qt.CustomDashLine)
        pen.setDashPattern([3.0, 1.6])
    pen.setCapStyle(Qt.FlatCap)
    return pen


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-2 <= a < 1e5:
        return f"{v:.4g}"
    return f"{v:.2e}"


class _Group:
    """What one legend entry stands for: its curves, shown or hidden together by a click."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.opts: dict[str, Any] = {}
        self._visible = True

    def isVisible(self) -> bool:  # noqa: N802 - the ItemSample protocol
        return self._visible

    def setVisible(self, visible: bool) -> None:  # noqa: N802
        self._visible = bool(visible)
        for it in self.items:
            it.setVisible(self._visible)


class _Sample(pg.ItemSample):
    """A legend sample drawing one or more line styles side by side, long enough to show a
    dashed line as dashed; a click hides or shows the entry's curves."""

    def __init__(self, group: _Group, pens: list[Any], width: int = 60) -> None:
        super().__init__(group)
        self.pens = pens
        self.w = width
        self.setFixedWidth(width)

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.w, 20)

    def paint(self, p: QPainter, *args: Any) -> None:
        p.setRenderHint(QPainter.Antialiasing)
        if not self.item.isVisible():
            p.setOpacity(0.25)
        n = len(self.pens)
        gap = 6
        seg = (self.w - 4 - gap * (n - 1)) / n
        x = 2.0
        for pen in self.pens:
            p.setPen(pen)
            p.drawLine(QPointF(x, 10), QPointF(x + seg, 10))
            x += seg + gap


class _LegendBox(pg.GraphicsWidget):
    """The plots' one legend, in a cell of its own (beside the plots or under them), so it
    never covers a curve."""

    def __init__(self) -> None:
        super().__init__()
        self.legend = pg.LegendItem(offset=None, sampleType=_Sample, frame=False,
                                    verSpacing=-4, horSpacing=8)
        self.legend.setParentItem(self)
        self.legend.setPos(0, 0)
        self.setCacheMode(QGraphicsItem.DeviceCoordinateCache)  # text is costly to repaint

    def fit(self) -> None:
        self.legend.updateSize()
        r = self.legend.boundingRect()
        w, h = (r.width() + 4, r.height() + 4) if self.legend.items else (1, 1)
        self.setMinimumSize(w, h)
        self.setPreferredSize(w, h)
        self.setMaximumSize(w, h)


class _Curve:
    """One plotted line: which run, which buffer column, and its PlotDataItem."""

    __slots__ = ("run_key", "kind", "column", "label", "item", "param")

    def __init__(self, run_key: str, kind: str, column: int, label: str, item: Any,
                 param: str) -> None:
        self.run_key = run_key
        self.kind = kind
        self.column = column
        self.label = label
        self.item = item
        self.param = param


class TrainingPanel(QWidget):
    """Run a training loop with and without its zeroing, in step, plotted live.

    ``iteration_root(object)`` carries the root tensor of the followed run's current
    iteration (for the graph view). ``export_png(path)`` / ``export_csv(path)`` save the
    plots and the series.
    """

    iteration_root = Signal(object)
    state_changed = Signal()

    def __init__(self, session: Session, bridge: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.bridge = bridge
        self.pair: TrainingPair | None = None
        self.preset_key = "seed"
        self._dirty = True
        self._stepper: Stepper | None = None
        self._own_stepper: Stepper | None = None
        self._connected_steppers: set[int] = set()
        self._curves: list[_Curve] = []
        self._drawn: dict[tuple[int, bool], int] = {}
        self._credit = 0.0
        self._last_tick = 0.0
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
        self._cursor: Any = None  # the BackwardCursor stepped through a paused iteration
        self._loading = False
        #: seconds one iteration may take before its run is stopped
        self.iteration_timeout = training.ITERATION_TIMEOUT_S
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._build_ui()
        self.load_preset("seed")

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(6)

        top = QHBoxLayout()
        top.addWidget(QLabel("Loop:"))
        self.preset_combo = QComboBox()
        for p in PRESETS.values():
            self.preset_combo.addItem(p.title, p.key)
        self.preset_combo.setToolTip("A ready-made training loop (edit it freely: the editor "
                                     "holds the loop that runs)")
        self.preset_combo.activated.connect(self._on_preset_activated)
        top.addWidget(self.preset_combo, 2)
        top.addSpacing(12)
        top.addWidget(QLabel("Graph view follows:"))
        self.follow_combo = QComboBox()
        self.follow_combo.addItem(training.RUN_LABELS["zeroed"], "zeroed")
        self.follow_combo.addItem(training.RUN_LABELS["unzeroed"], "unzeroed")
        self.follow_combo.setCurrentIndex(1)
        self.follow_combo.setToolTip("The run whose current iteration the graph view shows "
                                     "and whose backward Into backward steps through")
        self.follow_combo.currentIndexChanged.connect(self._on_follow_changed)
        top.addWidget(self.follow_combo, 1)
        top.addSpacing(12)
        self.log_loss_check = QCheckBox("log-scale loss")
        self.log_loss_check.setToolTip("Show the loss on a logarithmic axis")
        self.log_loss_check.toggled.connect(self._on_log_loss)
        top.addWidget(self.log_loss_check)
        root.addLayout(top)

        controls = QHBoxLayout()
        self.play_button = QPushButton("▶ Play")
        self.play_button.setToolTip("Run iterations at the chosen speed (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        self.step_button = QPushButton("Step iteration")
        self.step_button.setToolTip("Run exactly one iteration of both runs")
        self.step_button.clicked.connect(self.step_iteration)
        self.into_button = QPushButton("Into backward")
        self.into_button.setToolTip("Run the next iteration's forward for the followed run and "
                                    "stop at backward(): then Step through its nodes")
        self.into_button.clicked.connect(self.into_backward)
        self.back_button = QPushButton("◂ Step back")
        self.back_button.setToolTip("Undo one backward node (as Shift+F10 in the graph view)")
        self.back_button.clicked.connect(self.backward_step_back)
        self.node_button = QPushButton("Step ▸")
        self.node_button.setToolTip("Run one backward node (as F10 in the graph view)")
        self.node_button.clicked.connect(self.backward_step)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Start both runs again from the code in the editor")
        self.reset_button.clicked.connect(self.reset)
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setToolTip("Stop both runs (Reset starts again)")
        self.stop_button.clicked.connect(self.stop)
        for b in (self.play_button, self.step_button, self.into_button, self.back_button,
                  self.node_button, self.reset_button, self.stop_button):
            controls.addWidget(b)
        controls.addSpacing(10)
        controls.addWidget(QLabel("Speed"))
        self.speed_slider = QSlider(Qt.Horizontal)
        self.speed_slider.setRange(0, len(SPEEDS) - 1)
        self.speed_slider.setMinimumWidth(110)
        self.speed_slider.valueChanged.connect(self._on_speed)
        controls.addWidget(self.speed_slider, 1)
        self.speed_label = QLabel()
        self.speed_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("1000 it/s "))
        controls.addWidget(self.speed_label)
        controls.addWidget(QLabel("Iterations"))
        self.iterations_spin = QSpinBox()
        self.iterations_spin.setRange(1, 1_000_000)
        self.iterations_spin.setAccelerated(True)
        self.iterations_spin.valueChanged.connect(self._mark_dirty)
        controls.addWidget(self.iterations_spin)
        controls.addWidget(QLabel("lr"))
        self.lr_edit = QLineEdit()
        self.lr_edit.setMaximumWidth(self.fontMetrics().horizontalAdvance("0.000001") + 16)
        self.lr_edit.setToolTip("Learning rate: the loop reads it as the variable lr")
        self.lr_edit.textEdited.connect(self._mark_dirty)
        controls.addWidget(self.lr_edit)
        controls.addSpacing(10)
        self.png_button = QPushButton("PNG…")
        self.png_button.setToolTip("Export the plots as a PNG image")
        self.png_button.clicked.connect(self._ask_png)
        self.csv_button = QPushButton("CSV…")
        self.csv_button.setToolTip("Export every series of both runs as CSV")
        self.csv_button.clicked.connect(self._ask_csv)
        controls.addWidget(self.png_button)
        controls.addWidget(self.csv_button)
        root.addLayout(controls)

        split = QSplitter(Qt.Horizontal)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.editor = CodeEditor()
        self.editor.setPlaceholderText("")
        self.editor.highlight_current_line = False  # only the toggled lines are tinted
        self.editor.textChanged.connect(self._on_code_edited)
        lv.addWidget(self.editor, 1)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.setTextFormat(Qt.RichText)
        self.note_label.setStyleSheet("QLabel { background: #fff4d6; border: 1px solid #e0b040;"
                                      " border-radius: 4px; padding: 6px; color: #1a1a1a; }")
        lv.addWidget(self.note_label)
        self.backward_label = QLabel()
        self.backward_label.setWordWrap(True)
        self.backward_label.setTextFormat(Qt.RichText)
        self.backward_label.setStyleSheet("QLabel { background: #eef4ff; border: 1px solid "
                                          "#9bb7e8; border-radius: 4px; padding: 6px; "
                                          "color: #1a1a1a; }")
        self.backward_label.hide()
        lv.addWidget(self.backward_label)
        split.addWidget(left)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.setSpacing(4)
        pg.setConfigOptions(antialias=True)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(PLOT_BG)
        self.plots.setMinimumHeight(180)
        self.plots.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.grad_plot = pg.PlotItem()
        self.loss_plot = pg.PlotItem()
        self.param_plot = pg.PlotItem()
        self._plots = {"grad": self.grad_plot, "loss": self.loss_plot,
                       "param": self.param_plot}
        self._markers: dict[str, Any] = {}
        self._hover_lines: dict[str, Any] = {}
        for kind, plot in self._plots.items():
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.showGrid(x=True, y=True, alpha=GRID_ALPHA)
            plot.setMenuEnabled(True)
            plot.getViewBox().setMouseEnabled(x=True, y=True)
            m = pg.InfiniteLine(angle=90, movable=False,
                                pen=pg.mkPen(MARKER_COLOUR, width=2.5))
            m.setZValue(50)
            plot.addItem(m, ignoreBounds=True)
            self._markers[kind] = m
            h = pg.InfiniteLine(angle=90, movable=False,
                                pen=pg.mkPen("#555555", width=1.2, style=Qt.DotLine))
            h.setZValue(49)
            h.hide()
            plot.addItem(h, ignoreBounds=True)
            self._hover_lines[kind] = h
        self._legend_box = _LegendBox()
        self.legend = self._legend_box.legend
        self._layout_mode = ""
        self._arrange_plots()
        self.plots.scene().sigMouseMoved.connect(self._on_mouse_moved)
        rv.addWidget(self.plots, 1)
        self.readout = QLabel()
        self.readout.setTextFormat(Qt.RichText)
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        rv.addWidget(self.readout)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 7)
        split.setSizes([500, 1100])
        split.setChildrenCollapsible(False)
        self.splitter = split
        root.addWidget(split, 1)
        self._style_plots()

    def _arrange_plots(self) -> None:
        """Side by side when the panel is wide, stacked when it is tall."""
        w, h = max(self.plots.width(), 1), max(self.plots.height(), 1)
        mode = "row" if w > 1.7 * h else "column"
        visible = [k for k in ("grad", "loss", "param") if self._plot_wanted(k)]
        key = mode + ":" + ",".join(visible)
        if key == self._layout_mode:
            return
        self._layout_mode = key
        lay = self.plots.ci
        box = self._legend_box
        for item in (*self._plots.values(), box):
            if item in lay.items:
                lay.removeItem(item)
        n = len(self.legend.items)
        self.legend.setColumnCount(1 if mode == "column" else max(1, min(4, (n + 1) // 2)))
        box.fit()
        for i, k in enumerate(visible):
            if mode == "row":
                lay.addItem(self._plots[k], row=0, col=i)
            else:
                lay.addItem(self._plots[k], row=i, col=0)
        if mode == "row":
            lay.addItem(box, row=1, col=0, colspan=max(1, len(visible)))
        else:
            lay.addItem(box, row=0, col=1, rowspan=max(1, len(visible)))
        for k, plot in self._plots.items():
            plot.setVisible(k in visible)

    def _plot_wanted(self, kind: str) -> bool:
        pair = self.pair
        if kind == "grad":
            return True
        if pair is None:
            return False
        if kind == "loss":
            return pair.count == 0 or any(r.has_loss for r in pair.runs)
        return any(r.param_series and r.params_change for r in pair.runs)

    def resizeEvent(self, ev: Any) -> None:
        super().resizeEvent(ev)
        self._arrange_plots()

    def changeEvent(self, ev: Any) -> None:
        super().changeEvent(ev)
        from PySide6.QtCore import QEvent
        if ev.type() == QEvent.FontChange:
            self._style_plots()

    def _style_plots(self) -> None:
        """Projector-sized fonts, scaled with the panel's font."""
        base = self.font().pointSizeF()
        if base <= 0:
            base = 10.0
        tick = QFont("DejaVu Sans")
        tick.setPointSizeF(base * 1.25)
        label_css = {"color": TEXT, "font-size": f"{base * 1.35:.1f}pt"}
        titles = {"grad": "gradient .grad (after backward)", "loss": "loss",
                  "param": "parameters"}
        ylabels = {"grad": ".grad", "loss": "loss", "param": "value"}
        for kind, plot in self._plots.items():
            plot.setTitle(titles[kind], color=TEXT, size=f"{base * 1.5:.1f}pt", bold=True)
            plot.titleLabel.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
            for ax_name in ("left", "bottom"):
                ax = plot.getAxis(ax_name)
                ax.setStyle(maxTickLevel=1)  # major and minor grid lines: cheaper, calmer
                ax.enableAutoSIPrefix(False)  # "(x1e+18)" in a label reads badly
                ax.label.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
                ax.setTickFont(tick)
                ax.setPen(pg.mkPen("#444444", width=1.5))
                ax.setTextPen(pg.mkPen(TEXT))
            plot.setLabel("bottom", "iteration", **label_css)
            plot.setLabel("left", ylabels[kind], **label_css)
            plot.getAxis("left").setWidth(int(base * 9))
        legend = self.legend
        legend.opts["labelTextSize"] = f"{base * 1.3:.1f}pt"
        legend.opts["labelTextColor"] = pg.mkColor(TEXT)
        for _, label in legend.items:
            label.setText(label.text, size=f"{base * 1.3:.1f}pt", color=TEXT)
        for lbl in (self.note_label, self.readout, self.backward_label):
            f = QFont(self.font())
            f.setPointSizeF(base * 1.15)
            lbl.setFont(f)
        ef = QFont(self.editor.font())
        ef.setPointSizeF(base * 1.2)
        self.editor.setFont(ef)
        self._layout_mode = ""
        self._arrange_plots()

    # ------------------------------------------------------------------ presets, code
    def load_preset(self, key: str) -> None:
        """Put preset ``key`` (seed, regression, mlp, manual) in the editor and reset."""
        p = training.preset(key)
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

    # ------------------------------------------------------------------ runs
    def reset(self) -> None:
        """Build both runs again from the editor, the lr and the iteration count."""
        self.pause()
        self._finish_pending(discard=True)
        lr = self.learning_rate()
        self.lr_edit.setStyleSheet("" if lr is not None else "QLineEdit { background: #ffd7d7 }")
        self.pair = TrainingPair(self.code, lr=lr if lr is not None else 0.01,
                                 iterations=self.iterations_spin.value(),
                                 iteration_timeout=self.iteration_timeout)
        with self._muted():
            self.pair.start()
        self._dirty = False
        self._credit = 0.0
        self._xs = np.arange(1, min(self.pair.limit, 4096) + 2, dtype=np.float64)
        self._build_curves()
        self._show_note()
        self._refresh(force=True)
        self._emit_root(force=True)
        self.state_changed.emit()

    def _ensure_fresh(self) -> None:
        if self._dirty or self.pair is None:
            self.reset()

    def _build_curves(self) -> None:
        """Make every curve once (``setData`` updates them) and the legend: one entry per
        run (solid: with zeroing, dashed: without), and with several parameters one entry
        per parameter (its two colours). A click on an entry hides or shows its curves."""
        for plot in self._plots.values():
            for c in list(plot.listDataItems()):
                plot.removeItem(c)
        self.legend.clear()
        self._errors_shown = ()
        for plot, item in self._stop_marks:
            plot.removeItem(item)
        self._stop_marks = []
        self._curves = []
        self._drawn: dict[tuple[int, bool], int] = {}
        pair = self.pair
        if pair is None:
            return
        names: list[str] = []
        for run in pair.runs:
            for p in run.params:
                if p.name not in names:
                    names.append(p.name)
        index = {n: i for i, n in enumerate(names)}
        run_groups = {"zeroed": _Group(), "unzeroed": _Group()}
        param_groups = {n: _Group() for n in names}
        for run_key, run in (("zeroed", pair.zeroed), ("unzeroed", pair.unzeroed)):
            loss_item = pg.PlotDataItem(pen=_pen(run_key, 0), connect="finite")
            self._add_curve(run_key, "loss", 0, "loss", loss_item, "")
            run_groups[run_key].items.append(loss_item)
            for kind, series in (("grad", run.grad_series), ("param", run.param_series)):
                for s in series:
                    item = pg.PlotDataItem(pen=_pen(run_key, index[s.param]), connect="finite")
                    self._add_curve(run_key, kind, s.column, s.label, item, s.param)
                    run_groups[run_key].items.append(item)
                    param_groups[s.param].items.append(item)
        several = len(names) > 1
        for run_key in ("zeroed", "unzeroed"):
            label = training.RUN_LABELS[run_key] + (
                " (as written)" if pair.as_written == run_key else "")
            pen = _pen(run_key, 0)
            if several:
                pen = pg.mkPen(pen)
                pen.setColor(QColor("#444444"))
            self._legend_entry(_Sample(run_groups[run_key], [pen]), label)
        if several:
            for n in names:
                pens = [_pen("zeroed", index[n]), _pen("unzeroed", index[n])]
                self._legend_entry(_Sample(param_groups[n], pens), n)
        self._layout_mode = ""
        self._arrange_plots()
        self._on_log_loss(self.log_loss_check.isChecked(), refresh=False)
        self._fix_x_range()

    def _legend_entry(self, sample: _Sample, text: str) -> None:
        base = self.font().pointSizeF() or 10.0
        self.legend.addItem(sample, text)
        self.legend.items[-1][1].setText(text, size=f"{base * 1.3:.1f}pt", color=TEXT)

    def _fix_x_range(self) -> None:
        """Every plot spans iterations 1..limit from the start (the curves grow into it)."""
        limit = max(self.pair.limit if self.pair is not None else 1, 1)
        for plot in self._plots.values():
            plot.setXRange(0.5, limit + 0.5, padding=0.02)
            plot.enableAutoRange(axis="y", enable=True)

    def _add_curve(self, run_key: str, kind: str, column: int, label: str, item: Any,
                   param: str) -> None:
        plot = self._plots[kind]
        item.setZValue(5 if run_key == "zeroed" else 10)  # dashes over the solid line
        item.opts["autoDownsampleFactor"] = DOWNSAMPLE_FACTOR
        plot.addItem(item)
        self._curves.append(_Curve(run_key, kind, column, label, item, param))

    def _mark_editor(self) -> None:
        """Toggled lines in amber (removed) or green (zeroing added after), the line where a
        run stopped in red."""
        pair = self.pair
        if pair is None:
            return
        marks: dict[int, str] = {}
        for t in pair.toggled:
            if t.action == "removed":
                marks[t.line] = "#ffe08a"
            elif t.after:
                marks[t.after] = "#d5f5d5"
        for r in pair.runs:
            if r.state == "error" and r.error_line:
                line = self._as_written_line(r, r.error_line)
                if line:
                    marks[line] = "#ffc4c4"
        self.editor.mark_lines(marks)

    def _as_written_line(self, run: TrainingRun, line: int) -> int | None:
        """A line of ``run``'s source as a line of the editor's code."""
        pair = self.pair
        if pair is None or run.source == pair.code:
            return line
        added = [t for t in pair.toggled if t.action == "added"]
        if not added:
            return line  # removed lines became ``pass``: the numbers are the same
        first = added[0].line
        if line < first:
            return line
        if line < first + len(added):
            return added[0].after
        return line - len(added)

    def _show_note(self) -> None:
        pair = self.pair
        if pair is None:
            return
        self._mark_editor()
        text = html.escape(pair.note)
        text = text.replace("`", "")
        lines = []
        for t in pair.toggled:
            verb = "removed from" if t.action == "removed" else "added to"
            where = f"line {t.line}" if t.action == "removed" else f"after line {t.after}"
            lines.append(f"<b>{where}</b>: <code>{html.escape(t.text)}</code> "
                         f"<span style='color:#555'>({verb} the run "
                         f"<i>{'without' if t.action == 'removed' else 'with'} zeroing</i>)"
                         "</span>")
        if lines:
            head = ("Toggled lines (the runs differ only here):" if pair.as_written == "zeroed"
                    else "The loop zeroes nothing; the run <i>with zeroing</i> adds:")
            self.note_label.setText(head + "<br>" + "<br>".join(lines))
        else:
            self.note_label.setText(text)

    # ------------------------------------------------------------------ play, step
    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        """Run iterations on the timer at the chosen speed."""
        self._ensure_fresh()
        self._finish_pending()
        if self.pair is None or not self.pair.active:
            self._update_status()
            return
        self._credit = 1.0  # the first iteration shows at once
        self._last_tick = time.perf_counter()
        self._tick_end = 0.0
        self._overhead = 0.015
        self._refresh_s = 0.0
        self.timer.start()
        self._update_buttons()
        self.state_changed.emit()

    def pause(self) -> None:
        """Stop the timer (the runs keep their state)."""
        if self.timer.isActive():
            self.timer.stop()
            self._status_t = 0.0
            self._refresh(force=True)
            self._emit_root(force=True)
            self.state_changed.emit()
        self._update_buttons()

    def stop(self) -> None:
        """Pause and end both runs (Reset starts again)."""
        self.pause()
        self._finish_pending(discard=True)
        if self.pair is not None:
            for r in self.pair.runs:
                r.stop("stopped")
        self._refresh(force=True)
        self.state_changed.emit()

    def step_iteration(self) -> None:
        """Exactly one iteration of both runs (finishing a stepped backward first)."""
        self.pause()
        self._ensure_fresh()
        if self._finish_pending():
            self._refresh(force=True)
            self._emit_root(force=True)
            return
        if self.pair is None:
            return
        self.pair.step()
        self._refresh(force=True)
        self._emit_root(force=True)
        self.state_changed.emit()

    def run_iterations(self, n: int) -> int:
        """Run ``n`` iterations of both runs at once (no timer); returns how many ran."""
        self._ensure_fresh()
        self._finish_pending()
        if self.pair is None:
            return 0
        with self._muted():
            done = self.pair.advance(n, quiet=True)
        self._refresh(force=True)
        self._emit_root(force=True)
        return done

    def _tick(self) -> None:
        """One timer tick: a batch of iterations, then one plot update. Flat out, the batch
        gets what is left of a FRAME_S frame after the last redraw (painting, event handling
        and the plot update measured as they happen), so the plots keep their frame rate
        whatever the machine's speed, and a tick never blocks for long."""
        pair = self.pair
        if pair is None or not pair.active:
            self.pause()
            return
        now = time.perf_counter()
        dt = now - self._last_tick
        self._last_tick = now
        if self._tick_end:
            outside = now - self._tick_end  # painting and everything else since last tick
            self._overhead = 0.7 * self._overhead + 0.3 * (outside + self._refresh_s)
        speed = SPEEDS[self.speed_slider.value()]
        if speed is None:
            n = 1_000_000
            budget = min(BUDGET_S, max(BUDGET_MIN_S, FRAME_S - self._overhead))
        else:
            self._credit = min(self._credit + speed * dt, max(1.0, speed * 0.25))
            n = int(self._credit)
            if n <= 0:
                self._tick_end = 0.0
                return
            self._credit -= n
            budget = BUDGET_S
        with self._muted():
            pair.advance(n, budget, quiet=True)
        t = time.perf_counter()
        self._refresh()
        end = time.perf_counter()
        self._refresh_s = end - t
        self._tick_end = end
        if not pair.active:
            self.pause()
        else:
            self._emit_root()

    def _muted(self) -> Any:
        return _Muted(self.bridge)

    # ------------------------------------------------------------------ backward stepping
    @property
    def stepper(self) -> Stepper:
        """The window's stepper when there is one (so the graph view's Step and this panel's
        Step drive the same cursor), else the panel's own."""
        st = self._stepper
        if st is None:
            w = self.window()
            cand = getattr(w, "stepper", None) if w is not self else None
            if isinstance(cand, Stepper):
                st = cand
            else:
                if self._own_stepper is None:
                    self._own_stepper = Stepper(self.session, self)
                st = self._own_stepper
        if id(st) not in self._connected_steppers:
            self._connected_steppers.add(id(st))
            st.changed.connect(self._on_stepper_changed)
        return st

    def set_stepper(self, stepper: Stepper | None) -> None:
        """Use ``stepper`` (the main window's) for stepping an iteration's backward."""
        self._stepper = stepper

    @property
    def followed(self) -> str:
        """"zeroed" or "unzeroed": the run the graph view follows."""
        return self.follow_combo.currentData()

    def follow(self, which: str) -> None:
        idx = self.follow_combo.findData(which)
        if idx >= 0:
            self.follow_combo.setCurrentIndex(idx)

    def followed_run(self) -> TrainingRun | None:
        return self.pair.run(self.followed) if self.pair is not None else None

    def into_backward(self) -> Any:
        """Run the followed run's next forward and stop at its backward(): the root goes to
        the graph view and the stepper. Returns the root (None when nothing to step)."""
        self.pause()
        self._ensure_fresh()
        pair = self.pair
        if pair is None:
            return None
        run = pair.run(self.followed)
        if run.state != "in_backward":
            self._finish_pending()
            other = pair.zeroed if run is pair.unzeroed else pair.unzeroed
            if other.active and other.count < run.count:
                other.run_to(run.count)
            root = pair.begin_iteration(self.followed)
        else:
            root = run.root
        if run.state == "in_backward" and root is not None:
            self._emit_root(force=True, root=root)
            gradient = _gradient_arg(run.backward_args, run.backward_kwargs)
            self.stepper.set_root(root, gradient)
        self._refresh(force=True)
        self._update_backward_label()
        self.state_changed.emit()
        return root if run.state == "in_backward" else None

    def backward_step(self) -> Any:
        """One backward node of the paused iteration (entering it first if needed)."""
        run = self._pending_run()
        if run is None:
            if self.into_backward() is None:
                return None
            run = self._pending_run()
        st = self.stepper
        if st.root is not run.root:
            st.set_root(run.root, _gradient_arg(run.backward_args, run.backward_kwargs))
        s = st.step()
        self._remember_cursor()
        self._update_backward_label()
        return s

    def backward_step_back(self) -> Any:
        """Undo one backward node of the paused iteration."""
        run = self._pending_run()
        if run is None:
            return None
        s = self.stepper.step_back() if self.stepper.root is run.root else None
        self._update_backward_label()
        return s

    def _pending_run(self) -> TrainingRun | None:
        pair = self.pair
        if pair is None:
            return None
        for r in pair.runs:
            if r.state == "in_backward":
                return r
        return None

    def _remember_cursor(self) -> None:
        run = self._pending_run()
        c = self.session.cursor
        if run is not None and c is not None and c.root is run.root:
            self._cursor = c

    def _finish_pending(self, discard: bool = False) -> bool:
        """Complete an iteration paused in its backward (through the cursor the teacher
        stepped, if any). True when there was one."""
        run = self._pending_run()
        if run is None:
            return False
        self._remember_cursor()
        c = self._cursor
        cursor = c if c is not None and c.root is run.root else None
        key = "zeroed" if run is self.pair.zeroed else "unzeroed"
        if discard:
            run.stop("stopped")
        else:
            self.pair.finish_iteration(key, cursor)
        self._cursor = None
        if self.stepper.root is run.root and self.session.cursor is cursor and cursor is not None:
            self.stepper.changed.emit()
        self.backward_label.hide()
        return True

    def _on_stepper_changed(self) -> None:
        self._remember_cursor()
        if self._pending_run() is not None:
            self._update_backward_label()

    def _update_backward_label(self) -> None:
        run = self._pending_run()
        if run is None:
            self.backward_label.hide()
            self._update_buttons()
            return
        c = self.session.cursor
        k = run.count + 1
        head = (f"<b>Iteration {k}</b> of the run <i>{html.escape(run.label)}</i> is paused "
                "at <code>backward()</code>.")
        if c is None or c.root is not run.root or c.position == 0:
            body = ("Step ▸ runs one backward node (F10 in the graph view); Step iteration "
                    "finishes the iteration.")
        else:
            s = c.current
            body = f"Step {c.position}: <b>{html.escape(s.name)}</b>"
            if s.is_accumulate:
                names = run.names()
                name = names.get(s.variable._id, "the leaf")
                before = s.grad_before
                after = s.grad_after
                body += (f" — <code>{html.escape(name)}.grad</code> "
                         f"{html.escape(short_values(before) if before is not None else 'None')}"
                         f" <b>+=</b> {html.escape(short_values(s._gout))} → "
                         f"<b>{html.escape(short_values(after))}</b>")
                if before is not None and np.any(np.asarray(before._data) != 0):
                    body += (" <span style='color:#b71c1c'><b>(lands on a grad that was not "
                             "zeroed)</b></span>")
            if c.at_end:
                body += "<br>Backward done: Step iteration finishes the iteration."
            if c.error is not None:
                body += f"<br><span style='color:#b71c1c'>{html.escape(str(c.error))}</span>"
        self.backward_label.setText(head + "<br>" + body)
        self.backward_label.show()
        self._update_buttons()

    # ------------------------------------------------------------------ graph view
    def _on_follow_changed(self, *_: Any) -> None:
        self._emit_root(force=True)
        self._update_status()

    def current_root(self) -> Any:
        run = self.followed_run()
        return run.root if run is not None else None

    def _emit_root(self, force: bool = False, root: Any = None) -> None:
        if root is None:
            root = self.current_root()
        if root is None:
            return
        now = time.perf_counter()
        if not force and now - self._last_root_emit < ROOT_EMIT_S:
            return
        if root is self._emitted_root and not force:
            return
        self._last_root_emit = now
        self._emitted_root = root
        self.iteration_root.emit(root)

    def names(self) -> dict[int, str]:
        """Tensor id -> name in the followed run (the graph view labels tensors with it)."""
        run = self.followed_run()
        return run.names() if run is not None else {}

    # ------------------------------------------------------------------ plots
    def _refresh(self, force: bool = False) -> None:
        pair = self.pair
        if pair is None:
            return
        if len(self._xs) < pair.count + 1:
            self._xs = np.arange(1, 2 * pair.count + 2, dtype=np.float64)
        log_loss = self.log_loss_check.isChecked()
        runs = {"zeroed": pair.zeroed, "unzeroed": pair.unzeroed}
        self._arrange_plots()
        shown = {k for k, p in self._plots.items() if p.isVisible()}
        drawn = self._drawn
        for c in self._curves:
            run = runs[c.run_key]
            n = run.count
            key = (id(c.item), c.kind in shown)
            if not force and drawn.get(key) == n:
                continue
            drawn[key] = n
            if c.kind not in shown:
                continue
            if n == 0:
                c.item.setData([], [])
                continue
            x = self._xs[:n]
            if c.kind == "grad":
                y = run.grads[:n, c.column]
            elif c.kind == "param":
                y = run.param_values[:n, c.column]
            else:
                y = run.loss[:n]
                if log_loss:
                    y = np.where(y > 0, y, np.nan)
            c.item.setData(x, y, connect="finite")
        k = pair.count
        for m in self._markers.values():
            m.setValue(k)
            m.setVisible(k > 0)
        self.redraws += 1
        errors = tuple(r.state == "error" for r in pair.runs)
        if errors != self._errors_shown:
            self._errors_shown = errors
            self._mark_editor()
            self._mark_stops()
        self._update_status()

    def _mark_stops(self) -> None:
        """A red cross where a run stopped on an error, at the end of its curves."""
        for plot, item in self._stop_marks:
            plot.removeItem(item)
        self._stop_marks = []
        pair = self.pair
        if pair is None:
            return
        for key, run in (("zeroed", pair.zeroed), ("unzeroed", pair.unzeroed)):
            if run.state != "error" or run.count == 0:
                continue
            for kind, plot in self._plots.items():
                curve = next((c for c in self._curves
                              if c.run_key == key and c.kind == kind), None)
                if curve is None:
                    continue
                n = run.count
                y = (run.loss[:n] if kind == "loss" else run.grads[:n, curve.column]
                     if kind == "grad" else run.param_values[:n, curve.column])
                if kind == "loss" and self.log_loss_check.isChecked():
                    with np.errstate(all="ignore"):
                        y = np.log10(np.where(y > 0, y, np.nan))
                ok = np.flatnonzero(np.isfinite(y))
                if not len(ok):
                    continue
                i = ok[-1]
                mark = pg.ScatterPlotItem([i + 1.0], [y[i]], symbol="x", size=22,
                                          pen=pg.mkPen("#b71c1c", width=3),
                                          brush=pg.mkBrush("#b71c1c"))
                mark.setZValue(40)
                plot.addItem(mark, ignoreBounds=True)
                self._stop_marks.append((plot, mark))

    def _on_log_loss(self, on: bool, refresh: bool = True) -> None:
        self.loss_plot.setLogMode(x=False, y=bool(on))
        if refresh:
            self._fix_x_range()
            self._refresh(force=True)
            self._mark_stops()

    def _on_mouse_moved(self, pos: Any) -> None:
        for kind, plot in self._plots.items():
            if not plot.isVisible() or not plot.sceneBoundingRect().contains(pos):
                continue
            vb = plot.getViewBox()
            if not vb.sceneBoundingRect().contains(pos):
                continue
            x = vb.mapSceneToView(pos).x()
            k = int(round(x))
            n = self.pair.count if self.pair is not None else 0
            if n == 0:
                return
            k = max(1, min(n, k))
            self._hover_k = k
            self._hover_kind = kind
            for h in self._hover_lines.values():
                h.setValue(k)
                h.show()
            self._update_readout(k)
            return
        self._hover_k = None
        self._hover_kind = "grad"
        for h in self._hover_lines.values():
            h.hide()
        self._update_readout(self.pair.count if self.pair is not None else 0)

    def leaveEvent(self, ev: Any) -> None:
        super().leaveEvent(ev)
        self._hover_k = None
        for h in self._hover_lines.values():
            h.hide()
        self._update_status()

    def readout_values(self, k: int) -> dict[str, dict[str, float]]:
        """Run label -> {series label -> value} at iteration ``k`` (what the hover shows)."""
        out: dict[str, dict[str, float]] = {}
        if self.pair is None:
            return out
        for r in self.pair.runs:
            vals: dict[str, float] = {}
            if 1 <= k <= r.count:
                if r.has_loss:
                    vals["loss"] = float(r.loss[k - 1])
                for s in r.grad_series:
                    vals[s.label] = float(r.grads[k - 1, s.column])
                if r.params_change:
                    for s in r.param_series:
                        vals[s.label] = float(r.param_values[k - 1, s.column])
            out[r.label] = vals
        return out

    def _update_readout(self, k: int) -> None:
        """Values of iteration ``k`` (hovered, else the current one) and each run's state."""
        pair = self.pair
        if pair is None:
            return
        rows = []
        for key, r in (("zeroed", pair.zeroed), ("unzeroed", pair.unzeroed)):
            colour = _colour(key, 0)
            head = f"<span style='color:{colour}'><b>{html.escape(r.label)}</b></span>"
            parts = []
            if 1 <= k <= r.count:
                if r.has_loss:
                    parts.append(f"loss {_fmt(float(r.loss[k - 1]))}")
                if self._hover_kind == "param" and r.params_change:
                    parts.extend(_group(r.params, r.param_values[k - 1], ""))
                else:
                    parts.extend(_group(r.params, r.grads[k - 1], ".grad"))
            values = " · ".join(html.escape(p) for p in parts) if parts else "–"
            rows.append(f"{head}: {values}{self._state_text(r)}")
        if k <= 0:
            title = "<b>Iteration 0</b> <i>(nothing run yet: Play or Step iteration)</i>"
        elif self._hover_k is not None:
            title = f"<b>Iteration {k}</b> <i>(under the mouse; current {pair.count})</i>"
        else:
            title = f"<b>Iteration {k}</b> of {pair.limit}"
        if self._dirty:
            rows.append("<span style='color:#8a5a00'><b>Edited:</b> Play or Step restarts both "
                        "runs from the editor.</span>")
        self.readout.setText(title + "<br>" + "<br>".join(rows))

    def _state_text(self, r: TrainingRun) -> str:
        if r.state == "error":
            where = f" at iteration {r.error_iteration}" if r.error_iteration else ""
            if r.error_line:
                src = r.source.splitlines()
                text = src[r.error_line - 1].strip() if r.error_line <= len(src) else ""
                where += f", line {r.error_line} <code>{html.escape(text)}</code>"
            return (f"<br>&nbsp;&nbsp;<span style='color:#b71c1c'><b>stopped{where}:</b> "
                    f"{html.escape(r.error or '')}</span>")
        if r.state == "in_backward":
            return " <i>(paused in backward)</i>"
        if r.state == "finished":
            return f" <span style='color:#555'>— {html.escape(r.stop_reason)}</span>"
        return ""

    # ------------------------------------------------------------------ status
    def _update_status(self) -> None:
        now = time.perf_counter()
        if self.playing and now - self._status_t < 0.2:
            return  # a text relayout per frame costs more than the plots
        self._status_t = now
        self._update_readout(self._hover_k if self._hover_k is not None else
                             (self.pair.count if self.pair is not None else 0))
        self._update_buttons()

    def _update_buttons(self) -> None:
        pair = self.pair
        active = pair is not None and pair.active
        fresh_ok = self._dirty or active
        text = "❚❚ Pause" if self.playing else "▶ Play"
        if self.play_button.text() != text:
            self.play_button.setText(text)
        self.play_button.setEnabled(self.playing or fresh_ok)
        self.step_button.setEnabled(fresh_ok)
        self.into_button.setEnabled(fresh_ok and self._pending_run() is None)
        pending = self._pending_run() is not None
        self.node_button.setEnabled(fresh_ok)
        self.back_button.setEnabled(pending)
        self.stop_button.setEnabled(active)

    # ------------------------------------------------------------------ speed
    def _on_speed(self, i: int) -> None:
        s = SPEEDS[i]
        self.speed_label.setText("max" if s is None else f"{s:g} it/s")

    def set_speed(self, per_second: float | None) -> None:
        """Choose the nearest speed (None: as fast as possible)."""
        if per_second is None:
            self.speed_slider.setValue(len(SPEEDS) - 1)
            return
        i = min(range(len(SPEEDS) - 1), key=lambda j: abs(SPEEDS[j] - per_second))
        self.speed_slider.setValue(i)

    # ------------------------------------------------------------------ export
    def export_png(self, path: str) -> bool:
        """Save the plots as they are shown (PNG)."""
        return bool(self.plots.grab().save(path, "PNG"))

    def export_csv(self, path: str) -> None:
        """Save every series of both runs, one row per iteration."""
        if self.pair is None:
            raise RuntimeError("nothing to export")
        self.pair.write_csv(path)

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plots", "training.png",
                                              "PNG image (*.png)")
        if path:
            self.export_png(path)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export series", "training.csv",
                                              "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def closeEvent(self, ev: Any) -> None:
        self.pause()
        super().closeEvent(ev)


class _Muted:
    """Block the bridge's signals for a batch of iterations (restores the previous state)."""

    def __init__(self, bridge: Any) -> None:
        self.bridge = bridge
        self.was = False

    def __enter__(self) -> _Muted:
        b = self.bridge
        if b is not None and hasattr(b, "blockSignals"):
            self.was = b.blockSignals(True)
        return self

    def __exit__(self, *exc: object) -> None:
        b = self.bridge
        if b is not None and hasattr(b, "blockSignals"):
            b.blockSignals(self.was)


def _gradient_arg(args: tuple, kwargs: dict[str, Any]) -> Any:
    if args:
        return args[0]
    return kwargs.get("gradient")


def _group(params: list[Any], row: np.ndarray, suffix: str) -> list[str]:
    """``weights.grad = 3`` when every element is equal, else the values in brackets."""
    out = []
    for p in params:
        seg = row[p.col:p.col + p.width]
        if p.width == 1 and p.numel > 1:
            out.append(f"‖{p.name}{suffix}‖ = {_fmt(float(seg[0]))}")
        elif p.width == 1:
            out.append(f"{p.name}{suffix} = {_fmt(float(seg[0]))}")
        elif np.all(seg == seg[0]):
            out.append(f"{p.name}{suffix} = {_fmt(float(seg[0]))} (all {p.width})")
        else:
            out.append(f"{p.name}{suffix} = [{', '.join(_fmt(float(v)) for v in seg)}]")
    return out
