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

One iteration's backward can be stepped node by node: "Into backward" runs the next
iteration's forward for the followed run in the kernel and stops at its ``backward()``; its
root becomes the kernel's root, so the window's stepper (F10 / Shift+F10 in the graph view and
Step / Step back here) walks it. The next "Step iteration" (or Play) finishes the iteration
through that walk.
"""

from __future__ import annotations

import html
import math
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPainter,
    QPalette,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGraphicsItem,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gradviz.qt.code_panel import CodeEditor
from gradviz.qt.flow import FlowLayout as _FlowLayout
from gradviz.qt.flow import labelled as _pair
from gradviz.theme import PLOT_COLOURS, PlotColours, theme_for_colours
from gradviz.training.presets import PRESETS, preset
from gradviz.training.table import RUN_LABELS, series_columns, write_series_csv
from gradviz.views import World

__all__ = ["TrainingPanel", "SPEEDS", "RunView", "PairView"]

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

# colour means the run everywhere (with zeroing: blue, without: orange, per theme); line
# style means the parameter (solid, dashed, dotted, ...), the same in both runs
LINE_WIDTH = 3.5
#: dash patterns (in pen widths) of the 1st, 2nd, ... parameter; None: solid
DASHES: tuple[list[float] | None, ...] = (None, [3.0, 1.6], [0.9, 1.4], [3.2, 1.3, 0.9, 1.3],
                                           [5.0, 1.5, 0.9, 1.5, 0.9, 1.5])
_C: PlotColours = PLOT_COLOURS["light"]  # the colours of the theme in use


def _colour(run_key: str, i: int = 0) -> str:
    """A run's colour (``i``, the parameter, is shown by the line style instead)."""
    return _C.zeroed if run_key == "zeroed" else _C.unzeroed


def _pen(run_key: str, i: int, width: float = LINE_WIDTH, colour: str | None = None) -> Any:
    pen = pg.mkPen(color=colour or _colour(run_key), width=width)
    dash = DASHES[i % len(DASHES)]
    if dash is not None:
        pen.setStyle(Qt.CustomDashLine)
        pen.setDashPattern(dash)
    pen.setCapStyle(Qt.FlatCap)
    return pen


class _Axis(pg.AxisItem):
    """An axis whose tick count follows its tick font: labels never run into each other
    ("20406080"), whatever the font scale."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802
        if self._tickSpacing is not None or not math.isfinite(maxVal - minVal) \
                or maxVal <= minVal or size <= 0:
            return super().tickSpacing(minVal, maxVal, size)
        fm = QFontMetricsF(self.style.get("tickFont") or self.font())
        if self.orientation in ("bottom", "top"):
            texts = self.tickStrings([minVal, maxVal, (minVal + maxVal) / 2], 1.0,
                                     max((maxVal - minVal) / 10, 1e-12))
            widest = max(fm.horizontalAdvance(t) for t in texts) if texts else 20.0
            room = widest + fm.horizontalAdvance("00")
        else:
            room = fm.height() * 1.9
        n = max(1.0, size / max(room, 1.0))
        raw = (maxVal - minVal) / n
        mag = 10 ** math.floor(math.log10(raw))
        major = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
        if self.orientation in ("bottom", "top") and self.logMode is False:
            major = max(major, 1.0) if maxVal - minVal > 3 else major  # iterations
        return [(major, 0)]


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


def _numbers(values: list[Any]) -> np.ndarray:
    """A flat list from the kernel (non-finite numbers as strings) as float64."""
    return np.asarray(values, dtype=np.float64) if values else np.empty(0)


class _Series:
    """One plotted line of a run (as ``gradviz.training.Series``)."""

    __slots__ = ("label", "param", "kind", "column")

    def __init__(self, label: str, param: str, kind: str, column: int) -> None:
        self.label, self.param, self.kind, self.column = label, param, kind, column


class _Param:
    """A parameter of a run: its name, size and columns in the series buffers."""

    __slots__ = ("name", "numel", "shape", "col", "width")

    def __init__(self, rec: dict[str, Any]) -> None:
        self.name = rec["name"]
        self.numel = int(rec["numel"])
        self.shape = tuple(rec["shape"])
        self.col = int(rec["col"])
        self.width = int(rec["width"])


class _Toggled:
    """A line one run has and the other has not (as ``gradviz.training.ToggledLine``)."""

    __slots__ = ("line", "text", "action", "kind", "after")

    def __init__(self, rec: dict[str, Any]) -> None:
        self.line, self.text, self.action = rec["line"], rec["text"], rec["action"]
        self.kind, self.after = rec["kind"], rec.get("after")


class RunView:
    """One run of the kernel's training pair as its messages describe it: the series in
    buffers grown by doubling, the state and error (read like ``gradviz.training.
    TrainingRun``; nothing here runs)."""

    def __init__(self, key: str, layout: dict[str, Any]) -> None:
        self.key = key
        self.label: str = layout["label"]
        self.source: str = layout["source"]
        self.params = [_Param(p) for p in layout["params"]]
        self.grad_series = [_Series(a, b, "grad", c) for a, b, c in layout["grad_series"]]
        self.param_series = [_Series(a, b, "param", c) for a, b, c in layout["param_series"]]
        self.width = sum(p.width for p in self.params)
        self.count = 0
        self.state = "new"
        self.error: str | None = None
        self.error_kind: str | None = None
        self.error_line: int | None = None
        self.editor_line: int | None = None
        self.error_iteration: int | None = None
        self.stop_reason = ""
        self.params_change = False
        self.root: int | None = None  # the kernel's id of the current iteration's root
        self._names: dict[int, str] = {}
        self._cap = 0
        self.grads = np.empty((0, self.width))
        self.param_values = np.empty((0, self.width))
        self.loss = np.empty(0)

    def _grow(self, n: int) -> None:
        if n <= self._cap:
            return
        cap = max(16, self._cap * 2, n)
        for name in ("grads", "param_values"):
            buf = np.full((cap, self.width), np.nan)
            buf[:self._cap] = getattr(self, name)[:self._cap]
            setattr(self, name, buf)
        loss = np.full(cap, np.nan)
        loss[:self._cap] = self.loss[:self._cap]
        self.loss = loss
        self._cap = cap

    def update(self, delta: dict[str, Any]) -> None:
        """New rows from ``delta["from"]`` on, and the run's status."""
        n0 = int(delta["from"])
        loss = _numbers(delta["loss"])
        k = len(loss)
        if k:
            self._grow(n0 + k)
            w = self.width
            self.loss[n0:n0 + k] = loss
            if w:
                self.grads[n0:n0 + k] = _numbers(delta["grads"]).reshape(k, w)
                self.param_values[n0:n0 + k] = _numbers(delta["params"]).reshape(k, w)
        st = delta.get("status") or {}
        for name in ("count", "state", "error", "error_kind", "error_line", "editor_line",
                     "error_iteration", "stop_reason", "params_change", "root"):
            if name in st:
                setattr(self, name, st[name])
        self.count = min(self.count, n0 + k) if k or n0 < self.count else self.count

    @property
    def active(self) -> bool:
        return self.state in ("ready", "in_backward")

    @property
    def has_loss(self) -> bool:
        return bool(self.count) and not np.isnan(self.loss[:self.count]).all()

    @property
    def x(self) -> np.ndarray:
        return np.arange(1, self.count + 1, dtype=np.float64)

    def loss_values(self) -> np.ndarray:
        return self.loss[:self.count]

    def grad_values(self, series: _Series | int) -> np.ndarray:
        c = series.column if isinstance(series, _Series) else series
        return self.grads[:self.count, c]

    def param_value_series(self, series: _Series | int) -> np.ndarray:
        c = series.column if isinstance(series, _Series) else series
        return self.param_values[:self.count, c]

    def grad_of(self, name: str, iteration: int) -> np.ndarray:
        p = next(p for p in self.params if p.name == name)
        return self.grads[iteration - 1, p.col:p.col + p.width].copy()

    def names(self) -> dict[int, str]:
        """Kernel tensor id -> name in this run (from the last root the kernel sent)."""
        return dict(self._names)


class PairView:
    """The kernel's training pair: both runs, the code as written, the toggled lines."""

    def __init__(self, layout: dict[str, Any]) -> None:
        self.gen: int = layout["gen"]
        self.code: str = layout["code"]
        self.limit: int = int(layout["limit"])
        self.note: str = layout["note"]
        self.as_written: str = layout["as_written"]
        self.toggled = [_Toggled(t) for t in layout["toggled"]]
        self.zeroed = RunView("zeroed", layout["runs"]["zeroed"])
        self.unzeroed = RunView("unzeroed", layout["runs"]["unzeroed"])
        self.runs = (self.zeroed, self.unzeroed)
        self.data: dict[str, Any] | None = layout.get("data")

    def run(self, which: str) -> RunView:
        if which in ("zeroed", RUN_LABELS["zeroed"]):
            return self.zeroed
        if which in ("unzeroed", RUN_LABELS["unzeroed"]):
            return self.unzeroed
        raise KeyError(which)

    @property
    def count(self) -> int:
        return max(r.count for r in self.runs)

    @property
    def active(self) -> bool:
        return any(r.active for r in self.runs)

    def columns(self) -> list[tuple[str, np.ndarray]]:
        return series_columns(self.runs)

    def write_csv(self, out: Any) -> None:
        write_series_csv(self.columns(), out)
class TrainingPanel(QWidget):
    """Run a training loop with and without its zeroing, in step, plotted live: a view of
    the kernel's training host (``gradviz.kernel.training_host``).

    ``session`` is the window's ``RemoteSession`` (its ``kernel`` a ``KernelClient`` or an
    ``InProcessKernel``). ``iteration_root(object)`` carries the root (a ``TensorView``) of
    the followed run's current iteration (for the graph view). ``export_png(path)`` /
    ``export_csv(path)`` save the plots and the series.
    """

    iteration_root = Signal(object)
    state_changed = Signal()

    def __init__(self, session: Any, bridge: Any = None, parent: QWidget | None = None) -> None:
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
        self._curves: list[_Curve] = []
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

        # every control in one wrapping flow: at 1024x768 and font 2 they take more rows,
        # none leaves the screen
        flow = _FlowLayout(spacing=6)
        self.controls_flow = flow
        self.preset_combo = QComboBox()
        for p in PRESETS.values():
            self.preset_combo.addItem(p.title, p.key)
        self.preset_combo.setToolTip("A ready-made training loop (edit it freely: the editor "
                                     "holds the loop that runs)")
        self.preset_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.preset_combo.setMinimumContentsLength(22)
        self.preset_combo.activated.connect(self._on_preset_activated)
        flow.addWidget(_pair("Loop:", self.preset_combo))
        self.follow_combo = QComboBox()
        self.follow_combo.addItem(RUN_LABELS["zeroed"], "zeroed")
        self.follow_combo.addItem(RUN_LABELS["unzeroed"], "unzeroed")
        self.follow_combo.setCurrentIndex(1)
        self.follow_combo.setToolTip("The run whose current iteration the graph view shows "
                                     "and whose backward Into backward steps through")
        self.follow_combo.currentIndexChanged.connect(self._on_follow_changed)
        flow.addWidget(_pair("Graph follows:", self.follow_combo))
        self.log_loss_check = QCheckBox("log-scale loss")
        self.log_loss_check.setToolTip("Show the loss on a logarithmic axis")
        self.log_loss_check.toggled.connect(self._on_log_loss)
        flow.addWidget(self.log_loss_check)

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
            flow.addWidget(b)
        self.speed_slider = QSlider(Qt.Horizontal)
        self.speed_slider.setRange(0, len(SPEEDS) - 1)
        self.speed_slider.setMinimumWidth(110)
        self.speed_slider.valueChanged.connect(self._on_speed)
        self.speed_label = QLabel()
        self.speed_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("1000 it/s "))
        speed = _pair("Speed", self.speed_slider)
        speed.layout().addWidget(self.speed_label)
        flow.addWidget(speed)
        self.iterations_spin = QSpinBox()
        self.iterations_spin.setRange(1, 1_000_000)
        self.iterations_spin.setAccelerated(True)
        self.iterations_spin.valueChanged.connect(self._mark_dirty)
        flow.addWidget(_pair("Iterations", self.iterations_spin))
        self.lr_edit = QLineEdit()
        self.lr_edit.setToolTip("Learning rate: the loop reads it as the variable lr")
        self.lr_edit.textEdited.connect(self._mark_dirty)
        flow.addWidget(_pair("lr", self.lr_edit))
        self.png_button = QPushButton("PNG…")
        self.png_button.setToolTip("Export the plots as a PNG image (1920 pixels wide)")
        self.png_button.clicked.connect(self._ask_png)
        self.csv_button = QPushButton("CSV…")
        self.csv_button.setToolTip("Export every series of both runs as CSV")
        self.csv_button.clicked.connect(self._ask_csv)
        flow.addWidget(self.png_button)
        flow.addWidget(self.csv_button)
        root.addLayout(flow)

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
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)
        split.addWidget(left)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.setSpacing(4)
        pg.setConfigOptions(antialias=True)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumHeight(150)
        self.plots.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

        def plot() -> Any:
            return pg.PlotItem(axisItems={"bottom": _Axis("bottom"), "left": _Axis("left")})
        self.grad_plot = plot()
        self.loss_plot = plot()
        self.param_plot = plot()
        self._plots = {"grad": self.grad_plot, "loss": self.loss_plot,
                       "param": self.param_plot}
        # the MLP's 2-D data and decision boundary, one map per run (TensorFlow Playground's
        # picture: the prediction as an image under the labelled points)
        self._data_plots: dict[str, Any] = {}
        self._boundary: dict[str, Any] = {}
        self._points: dict[str, Any] = {}
        self._boundary_t = 0.0
        for run_key in ("zeroed", "unzeroed"):
            dp = plot()
            dp.setMenuEnabled(False)
            dp.setAspectLocked(True)
            dp.getViewBox().setMouseEnabled(x=False, y=False)
            img = pg.ImageItem()
            img.setZValue(0)
            dp.addItem(img)
            pts = pg.ScatterPlotItem(size=7, pxMode=True)
            pts.setZValue(10)
            dp.addItem(pts)
            dp.hide()
            self._data_plots[run_key] = dp
            self._boundary[run_key] = img
            self._points[run_key] = pts
        self._markers: dict[str, Any] = {}
        self._hover_lines: dict[str, Any] = {}
        for kind, plot_ in self._plots.items():
            plot_.setClipToView(True)
            plot_.setDownsampling(auto=True, mode="peak")
            plot_.setMenuEnabled(True)
            plot_.getViewBox().setMouseEnabled(x=True, y=True)
            m = pg.InfiniteLine(angle=90, movable=False)
            m.setZValue(50)
            plot_.addItem(m, ignoreBounds=True)
            self._markers[kind] = m
            h = pg.InfiniteLine(angle=90, movable=False)
            h.setZValue(49)
            h.hide()
            plot_.addItem(h, ignoreBounds=True)
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
        self.readout_scroll = QScrollArea()
        self.readout_scroll.setWidgetResizable(True)
        self.readout_scroll.setFrameShape(QFrame.NoFrame)
        self.readout_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.readout_scroll.setWidget(self.readout)
        rv.addWidget(self.readout_scroll)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 7)
        split.setSizes([500, 1100])
        split.setChildrenCollapsible(False)
        self.splitter = split
        root.addWidget(split, 1)
        self.theme_name = theme_for_colours(self.palette().color(QPalette.Window).name(),
                                            self.palette().color(QPalette.WindowText).name())
        self._style_plots()

    def _plot_items(self) -> dict[str, Any]:
        """Every plot that can be shown, by key: grad, loss, param, data:zeroed, ..."""
        out = dict(self._plots)
        out.update({f"data:{k}": p for k, p in self._data_plots.items()})
        return out

    def _arrange_plots(self) -> None:
        """The plots in a grid of as many columns as plots about 22 characters wide fit (in
        balanced rows), the legend in a row of its own under them."""
        w = max(self.plots.width(), 1)
        visible = [k for k in ("grad", "loss", "param") if self._plot_wanted(k)]
        if self._has_data():
            visible.append(f"data:{self.followed}")  # the followed run's boundary
        n = max(1, len(visible))
        # as many columns as fit plots about 22 characters wide
        cell = 22 * self.fontMetrics().averageCharWidth()
        cols = max(1, min(n, int(w // max(cell, 1))))
        cols = math.ceil(n / math.ceil(n / cols))  # balanced rows: 2 + 2, not 3 + 1
        mode = "row"  # the legend in a row of its own under the plots: no width taken
        key = f"{mode}:{cols}:" + ",".join(visible)
        if key == self._layout_mode:
            return
        self._layout_mode = key
        lay = self.plots.ci
        box = self._legend_box
        for item in (*self._plot_items().values(), box):
            if item in lay.items:
                lay.removeItem(item)
        n_leg = len(self.legend.items)
        for c in range(max(1, n_leg), 0, -1):  # as many legend columns as the width holds
            self.legend.setColumnCount(c)
            box.fit()
            if box.minimumWidth() <= w - 24:
                break
        items = self._plot_items()
        rows = math.ceil(n / cols)
        for i, k in enumerate(visible):
            lay.addItem(items[k], row=i // cols, col=i % cols)
        lay.addItem(box, row=rows, col=0, colspan=cols)
        for i in range(cols):
            lay.layout.setColumnStretchFactor(i, 1)
        for i in range(cols, 4):
            lay.layout.setColumnStretchFactor(i, 0)
        for k, plot in items.items():
            plot.setVisible(k in visible)
        # plots never collapse to a title: each row keeps room for a title, ticks and a
        # few grid lines (the panel scrolls rather than squash them)
        line = self.fontMetrics().height()
        self.plots.setMinimumHeight(int(rows * (8.5 * line + 20)
                                        + box.minimumHeight() + 10))
        self.updateGeometry()

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

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        """The wrapped controls' rows at ``width`` plus the least the plots and the editor
        need (not their preferred size: a scroll area around the panel uses this)."""
        m = self.layout().contentsMargins()
        inner = width - m.left() - m.right()
        return (self.controls_flow.heightForWidth(inner) + self.layout().spacing()
                + self.splitter.minimumSizeHint().height() + m.top() + m.bottom())

    def changeEvent(self, ev: Any) -> None:
        super().changeEvent(ev)
        if ev.type() == QEvent.FontChange:
            self._style_plots()
        elif ev.type() in (QEvent.PaletteChange, QEvent.ApplicationPaletteChange):
            pal = self.palette()
            name = theme_for_colours(pal.color(QPalette.Window).name(),
                                     pal.color(QPalette.WindowText).name())
            if name != getattr(self, "theme_name", None):
                self.set_theme(name)

    def set_theme(self, name: str) -> None:
        """Colour the plots, notes and marks for theme ``name`` (light, dark, high-contrast);
        a palette change (the window's theme switch) calls it too."""
        global _C
        if name not in PLOT_COLOURS:
            raise ValueError(f"unknown theme {name!r}; choose one of {', '.join(PLOT_COLOURS)}")
        self.theme_name = name
        _C = PLOT_COLOURS[name]
        self._style_plots()
        if self.pair is not None:
            vis = {c.param: c.item.isVisible() for c in self._curves}
            self._build_curves()
            for c in self._curves:
                c.item.setVisible(vis.get(c.param, True))
            self._show_note()
            self._refresh(force=True)

    @property
    def colours(self) -> PlotColours:
        """The plot colours in use."""
        return PLOT_COLOURS.get(getattr(self, "theme_name", "light"), _C)

    def _style_plots(self) -> None:
        """Projector-sized fonts, scaled with the panel's font; colours of the theme."""
        c = self.colours
        base = self.font().pointSizeF()
        if base <= 0:
            base = 10.0
        self.plots.setBackground(c.background)
        tick = QFont("DejaVu Sans")
        tick.setPointSizeF(base * 1.0)
        tick_fm = QFontMetricsF(tick)
        label_css = {"color": c.text, "font-size": f"{base * 1.0:.1f}pt"}
        titles = {"grad": ".grad after backward", "loss": "loss",
                  "param": "parameters", "data:zeroed": "boundary: with zeroing",
                  "data:unzeroed": "boundary: without zeroing"}
        for kind, plot in self._plot_items().items():
            colour = c.text
            if kind.startswith("data:"):
                colour = _colour(kind[5:])
            plot.setTitle(titles[kind], color=colour, size=f"{base * 1.1:.1f}pt", bold=True)
            plot.titleLabel.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
            _narrow_title(plot.titleLabel)  # a long title never widens its column
            plot.showGrid(x=not kind.startswith("data:"), y=not kind.startswith("data:"),
                          alpha=c.grid_alpha)
            for ax_name in ("left", "bottom"):
                ax = plot.getAxis(ax_name)
                ax.setStyle(maxTickLevel=1, hideOverlappingLabels=True)
                ax.enableAutoSIPrefix(False)  # "(x1e+18)" in a label reads badly
                ax.label.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
                ax.setTickFont(tick)
                ax.setPen(pg.mkPen(c.axis, width=1.5))
                ax.setTextPen(pg.mkPen(c.text))
            if not kind.startswith("data:"):
                plot.setLabel("bottom", "iteration", **label_css)
            left = plot.getAxis("left")
            left.setStyle(autoExpandTextSpace=True)
            left.setWidth(int(tick_fm.horizontalAdvance("-0.00") + 8))  # grows if it must
        for m in self._markers.values():
            m.setPen(pg.mkPen(c.marker, width=2.0, style=Qt.DashLine))
        for h in self._hover_lines.values():
            h.setPen(pg.mkPen(c.hover, width=1.2, style=Qt.DotLine))
        legend = self.legend
        legend.opts["labelTextSize"] = f"{base * 1.05:.1f}pt"
        legend.opts["labelTextColor"] = pg.mkColor(c.text)
        for _, label in legend.items:
            label.setText(label.text, size=f"{base * 1.05:.1f}pt", color=c.text)
        for lbl in (self.note_label, self.readout, self.backward_label):
            f = QFont(self.font())
            f.setPointSizeF(base * 1.0)
            lbl.setFont(f)
        self.note_label.setStyleSheet(
            f"QLabel {{ background: {c.note_bg}; border: 1px solid {c.note_border}; "
            f"border-radius: 4px; padding: 6px; color: {c.text}; }}")
        self.backward_label.setStyleSheet(
            f"QLabel {{ background: {c.info_bg}; border: 1px solid {c.info_border}; "
            f"border-radius: 4px; padding: 6px; color: {c.text}; }}")
        self.readout.setStyleSheet(f"QLabel {{ color: {c.text}; }}")
        ef = QFont(self.editor.font())
        ef.setPointSizeF(base * 1.1)
        self.editor.setFont(ef)
        fm = self.fontMetrics()
        self.lr_edit.setFixedWidth(int(fm.horizontalAdvance("0.000001") + 16))
        self.speed_label.setMinimumWidth(fm.horizontalAdvance("1000 it/s "))
        self._layout_mode = ""
        self._arrange_plots()

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
                self._boundary_z[key] = _numbers(values)
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
        self._setup_data()
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
        for run_key in ("zeroed", "unzeroed"):  # colour: the run
            label = RUN_LABELS[run_key] + (
                " (as written)" if pair.as_written == run_key else "")
            self._legend_entry(_Sample(run_groups[run_key], [_pen(run_key, 0)]), label)
        if several:  # line style: the parameter, drawn in a neutral colour
            for n in names:
                pens = [_pen("zeroed", index[n], colour=self.colours.muted)]
                self._legend_entry(_Sample(param_groups[n], pens), n)
        self._layout_mode = ""
        self._arrange_plots()
        self._on_log_loss(self.log_loss_check.isChecked(), refresh=False)
        self._fix_x_range()

    def _legend_entry(self, sample: _Sample, text: str) -> None:
        base = self.font().pointSizeF() or 10.0
        self.legend.addItem(sample, text)
        self.legend.items[-1][1].setText(text, size=f"{base * 1.05:.1f}pt",
                                         color=self.colours.text)

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
                marks[t.line] = self.colours.removed_line
            elif t.after:
                marks[t.after] = self.colours.added_line
        for r in pair.runs:
            if r.state == "error" and r.editor_line:
                marks[r.editor_line] = self.colours.error_line
        self.editor.mark_lines(marks)

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
                         f"<span style='color:{self.colours.muted}'>({verb} the run "
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
    # ------------------------------------------------------------------ backward stepping
    @property
    def stepper(self) -> Any:
        """The window's stepper when there is one (so the graph view's Step and this panel's
        Step drive the same cursor, the kernel's), else the panel's own."""
        st = self._stepper
        if st is None:
            w = self.window()
            cand = getattr(w, "stepper", None) if w is not self else None
            if cand is not None and hasattr(cand, "step") and hasattr(cand, "changed"):
                st = cand
            else:
                if self._own_stepper is None:
                    from gradviz.qt.stepper import KernelStepper  # only without a window

                    self._own_stepper = KernelStepper(self.session, self)
                st = self._own_stepper
        if id(st) not in self._connected_steppers:
            self._connected_steppers.add(id(st))
            st.changed.connect(self._on_stepper_changed)
        return st

    def set_stepper(self, stepper: Any) -> None:
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

    def followed_run(self) -> RunView | None:
        return self.pair.run(self.followed) if self.pair is not None else None

    def into_backward(self) -> Any:
        """Run the followed run's next forward in the kernel and stop at its backward(): the
        root becomes the kernel's root, so the window's stepper (F10) walks it. Returns the
        root (a TensorView; None when there is nothing to step)."""
        self.pause()
        self._ensure_fresh()
        if self.pair is None:
            return None
        self._wait_play_end()
        reply = self._call("training_into", which=self.followed)
        root = None
        if reply and reply.get("root") is not None and self.session.root_id == reply["root"]:
            root = self.session.world.tensor(reply["root"])
            self._emit_root(force=True, root=root)
            self.stepper.changed.emit()
        self._refresh(force=True)
        self._update_backward_label()
        self.state_changed.emit()
        return root

    def backward_step(self) -> Any:
        """One backward node of the paused iteration (entering it first if needed)."""
        run = self._pending_run()
        if run is None:
            if self.into_backward() is None:
                return None
            run = self._pending_run()
        if run is None or self.session.root_id != run.root:
            return None
        s = self.stepper.step()
        self._update_backward_label()
        return s

    def backward_step_back(self) -> Any:
        """Undo one backward node of the paused iteration."""
        run = self._pending_run()
        if run is None or self.session.root_id != run.root:
            return None
        s = self.stepper.step_back()
        self._update_backward_label()
        return s

    def _pending_run(self) -> RunView | None:
        pair = self.pair
        if pair is None:
            return None
        return next((r for r in pair.runs if r.state == "in_backward"), None)

    def _on_stepper_changed(self) -> None:
        if self._pending_run() is not None:
            self._update_backward_label()

    def _walk(self, run: RunView) -> Any:
        """The kernel's backward walk when it walks ``run``'s paused iteration."""
        c = self.session.cursor
        return c if c is not None and c.root_id == run.root else None

    def _update_backward_label(self) -> None:
        run = self._pending_run()
        if run is None:
            self.backward_label.hide()
            self._update_buttons()
            return
        c = self._walk(run)
        k = run.count + 1
        head = (f"<b>Iteration {k}</b> of the run <i>{html.escape(run.label)}</i> is paused "
                "at <code>backward()</code>.")
        if c is None or c.position == 0:
            body = ("Step ▸ runs one backward node (F10 in the graph view); Step iteration "
                    "finishes the iteration.")
        else:
            s = c.current
            body = f"Step {c.position}: <b>{html.escape(s.name)}</b>"
            if s.is_accumulate:
                names = {**self.session.names(), **run.names()}
                name = names.get(s.variable._id, "the leaf")
                before = s.grad_before
                after = s.grad_after
                body += (f" — <code>{html.escape(name)}.grad</code> "
                         f"{html.escape(short_values(before) if before is not None else 'None')}"
                         f" <b>+=</b> {html.escape(short_values(s._gout))} → "
                         f"<b>{html.escape(short_values(after))}</b>")
                if before is not None and np.any(np.asarray(before._data) != 0):
                    body += (f" <span style='color:{self.colours.error}'><b>(lands on a grad "
                             "that was not "
                             "zeroed)</b></span>")
            if c.at_end:
                body += "<br>Backward done: Step iteration finishes the iteration."
            if c.error is not None:
                body += (f"<br><span style='color:{self.colours.error}'>"
                         f"{html.escape(str(c.error))}</span>")
        self.backward_label.setText(head + "<br>" + body)
        self.backward_label.show()
        self._update_buttons()

    # ------------------------------------------------------------------ graph view
    def _on_follow_changed(self, *_: Any) -> None:
        self._arrange_plots()
        self._update_boundaries(force=True)
        if self.pair is not None:
            if self._play_token is not None and not self._frame_mode:
                self.kernel.command_side("training_follow", token=self._play_token,
                                         which=self.followed)
            elif self._busy_token is None and self._kernel_ok():
                self.kernel.command_sync("training_follow", which=self.followed)
        self._emit_root(force=True)
        self._update_status()

    def current_root(self) -> Any:
        """The followed run's current root as the kernel last sent it (a TensorView)."""
        return self._root_view

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
        """Kernel tensor id -> name in the followed run (the graph view labels with it)."""
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
        self._update_boundaries(force)
        self.redraws += 1
        errors = tuple(r.state == "error" for r in pair.runs)
        if errors != self._errors_shown:
            self._errors_shown = errors
            self._mark_editor()
            self._mark_stops()
        self._update_status()

    # ------------------------------------------------------------------ 2-D data, boundary
    BOUNDARY_RES = 48
    BOUNDARY_S = 0.25  # while playing, the boundary maps are redrawn at most this often

    def _has_data(self) -> bool:
        return bool(getattr(self, "_data", None))

    def _setup_data(self) -> None:
        """The 2-D labelled data the kernel found in the runs (the MLP preset: ``X`` (N, 2),
        ``Y`` (N, 1) of +-1 and a model): place the points and the boundary's grid."""
        self._data = {}
        pair = self.pair
        if pair is None or not pair.data:
            return
        d = pair.data
        pts = _numbers(d["points"]).reshape(-1, 2)
        lab = _numbers(d["labels"])
        lo, hi = np.asarray(d["lo"], float), np.asarray(d["hi"], float)
        self.BOUNDARY_RES = n = int(d["res"])
        self._data = {"points": pts, "labels": lab, "lo": lo, "hi": hi}
        c = self.colours
        self._grid_rect = QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
        pos = lab.reshape(-1) > 0
        brushes = [pg.mkBrush(c.pos if p_ else c.neg) for p_ in pos]
        for run_key in ("zeroed", "unzeroed"):
            pts_item = self._points[run_key]
            pts_item.setData(pos=pts, brush=brushes, pen=pg.mkPen(c.background, width=1.2),
                             symbol=["o" if p_ else "s" for p_ in pos])
            dp = self._data_plots[run_key]
            dp.setXRange(lo[0], hi[0], padding=0)
            dp.setYRange(lo[1], hi[1], padding=0)
            self._boundary[run_key].setImage(np.zeros((n, n)), levels=(-1, 1))
            self._boundary[run_key].setRect(self._grid_rect)
        self._boundary_t = 0.0

    def _update_boundaries(self, force: bool = False) -> None:
        """Redraw each run's prediction on the grid (computed in the kernel): the image under
        the points."""
        if not self._has_data():
            return
        now = time.perf_counter()
        if not force and now - self._boundary_t < self.BOUNDARY_S:
            return
        self._boundary_t = now
        lut = self._boundary_lut()
        n = self.BOUNDARY_RES
        for run_key, z in self._boundary_z.items():
            if not self._data_plots[run_key].isVisible() or z.size != n * n:
                continue
            z = np.nan_to_num(np.clip(z.reshape(n, n), -1, 1), nan=0.0)
            self._boundary[run_key].setImage(z, levels=(-1, 1), lut=lut)

    def _boundary_lut(self) -> np.ndarray:
        """-1 -> a pale tint of the negative class, 0 -> the background, +1 -> positive."""
        c = self.colours
        bg = np.array(QColor(c.background).getRgb()[:3], float)
        neg = np.array(QColor(c.neg).getRgb()[:3], float)
        pos = np.array(QColor(c.pos).getRgb()[:3], float)
        t = np.linspace(-1, 1, 256)[:, None]
        strength = 0.45 if self.theme_name != "high-contrast" else 0.35
        col = np.where(t < 0, bg + (neg - bg) * (-t) * strength, bg + (pos - bg) * t * strength)
        return np.clip(col, 0, 255).astype(np.uint8)

    def boundary_values(self, run_key: str) -> np.ndarray | None:
        """The prediction image of run ``run_key`` (None without 2-D data)."""
        img = self._boundary.get(run_key)
        return None if img is None or img.image is None or not self._has_data() \
            else np.asarray(img.image)

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
                                          pen=pg.mkPen(self.colours.error, width=3),
                                          brush=pg.mkBrush(self.colours.error))
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
        note = (f"<br><span style='color:{self.colours.warn}'><b>{html.escape(self.note_text)}"
                "</b></span>") if self.note_text else ""
        if pair is None:
            self.readout.setText("<b>Iteration 0</b>" + (note or " <i>(the kernel has not "
                                                          "built the runs yet)</i>"))
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
            rows.append(f"<span style='color:{self.colours.warn}'><b>Edited:</b> Play or Step "
                        "restarts both "
                        "runs from the editor.</span>")
        self.readout.setText(title + "<br>" + "<br>".join(rows) + note)

    def _state_text(self, r: RunView) -> str:
        if r.state == "error":
            where = f" at iteration {r.error_iteration}" if r.error_iteration else ""
            if r.error_line:
                src = r.source.splitlines()
                text = src[r.error_line - 1].strip() if r.error_line <= len(src) else ""
                where += f", line {r.error_line} <code>{html.escape(text)}</code>"
            return (f"<br>&nbsp;&nbsp;<span style='color:{self.colours.error}'>"
                    f"<b>stopped{where}:</b> "
                    f"{html.escape(r.error or '')}</span>")
        if r.state == "in_backward":
            return " <i>(paused in backward)</i>"
        if r.state == "finished":
            return (f" <span style='color:{self.colours.muted}'>— "
                    f"{html.escape(r.stop_reason)}</span>")
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
        if self._play_token is not None and not self._frame_mode:
            self.kernel.command_side("training_speed", token=self._play_token, speed=s)

    def set_speed(self, per_second: float | None) -> None:
        """Choose the nearest speed (None: as fast as possible)."""
        if per_second is None:
            self.speed_slider.setValue(len(SPEEDS) - 1)
            return
        i = min(range(len(SPEEDS) - 1), key=lambda j: abs(SPEEDS[j] - per_second))
        self.speed_slider.setValue(i)

    # ------------------------------------------------------------------ export
    def render_plots(self, width: int = 1920) -> QImage:
        """The plots as shown, redrawn ``width`` pixels wide (vector text and lines, not a
        scaled screenshot)."""
        view = self.plots
        src = QRectF(view.viewport().rect())
        if src.width() < 2 or src.height() < 2:
            src = QRectF(0, 0, 1200, 500)
        k = width / src.width()
        img = QImage(int(width), max(1, round(src.height() * k)),
                     QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(QColor(self.colours.background))
        p = QPainter(img)
        p.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing
                         | QPainter.SmoothPixmapTransform)
        view.scene().render(p, QRectF(0, 0, img.width(), img.height()),
                            view.mapToScene(view.viewport().rect()).boundingRect())
        p.end()
        return img

    def export_png(self, path: str, width: int = 1920) -> bool:
        """Save the plots as shown, ``width`` pixels wide (1920 by default: slide size)."""
        return bool(self.render_plots(width).save(path, "PNG"))

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


def short_values(t: Any, limit: int = 4) -> str:
    """A small gradient in a few characters: ``[0.33, 0.33, 0.33]`` (as the stepper's)."""
    if t is None:
        return ""
    a = np.asarray(getattr(t, "_data", t))
    if a.ndim == 0:
        return f"{a.item():.4g}"
    flat = a.reshape(-1)
    vals = ", ".join(f"{v:.4g}" for v in flat[:limit])
    more = ", …" if flat.size > limit else ""
    return f"[{vals}{more}]" if a.ndim == 1 else f"{list(a.shape)} [{vals}{more}]"


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


def _narrow_title(label: Any) -> None:
    """Let a plot title be cut rather than widen its column (pyqtgraph sets a label's
    minimum width to its text's)."""
    def update_min() -> None:
        r = label.itemRect()
        label.setMinimumWidth(10)
        label.setMinimumHeight(r.height())
        label._sizeHint = {Qt.MinimumSize: (10, r.height()),
                           Qt.PreferredSize: (r.width(), r.height()),
                           Qt.MaximumSize: (-1, -1), Qt.MinimumDescent: (0, 0)}
        label.updateGeometry()
    label.updateMin = update_min
    update_min()
