"""The training panel's plots (pyqtgraph): the grads, the loss and the parameters of both runs
over the iterations, the 2-D data with each run's decision boundary, one legend, the
iteration marker and the hover line, and the PNG export. Colour means the run, line style the
parameter (decided in :mod:`gradviz.qt.training_model`); the marker and hover line are
neutral. ``PlotsMixin`` is the part of ``TrainingPanel`` that builds and redraws them."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from gradviz.qt.training_model import (
    curve_specs,
    legend_specs,
    numbers,
    plot_grid,
    plot_wanted,
    run_colour,
)
from gradviz.safe_io import FileError, check_writable, write_bytes_atomic
from gradviz.theme import PlotColours

__all__ = ["PlotsMixin", "LINE_WIDTH", "DASHES", "DOWNSAMPLE_FACTOR"]

#: samples per pixel drawn of a long series (peak downsampling keeps the extremes): thick
#: antialiased lines cost per point, and one sample per two pixels is plenty at 3.5 px
DOWNSAMPLE_FACTOR = 0.5
LINE_WIDTH = 3.5
#: dash patterns (in pen widths) of the 1st, 2nd, ... parameter; None: solid
DASHES: tuple[list[float] | None, ...] = (None, [3.0, 1.6], [0.9, 1.4], [3.2, 1.3, 0.9, 1.3],
                                           [5.0, 1.5, 0.9, 1.5, 0.9, 1.5])
TITLES = {"grad": ".grad after backward", "loss": "loss", "param": "parameters",
          "data:zeroed": "boundary: with zeroing", "data:unzeroed": "boundary: without zeroing"}
#: the titles of plots in narrow columns (the boundary's colour names its run)
SHORT_TITLES = {"grad": ".grad", "loss": "loss", "param": "params", "data:zeroed": "boundary",
                "data:unzeroed": "boundary"}
AS_WRITTEN = " (as written)"


def _pen(colours: PlotColours, run_key: str, i: int, width: float = LINE_WIDTH,
         colour: str | None = None) -> Any:
    """The pen of run ``run_key``'s curve of parameter ``i``: the run's colour (or
    ``colour``), the parameter's dash pattern."""
    pen = pg.mkPen(color=colour or run_colour(colours, run_key), width=width)
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

    def __init__(self, group: _Group, pens: list[Any], width: int = 40) -> None:
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


class PlotsMixin:
    """The plots of :class:`gradviz.qt.training_panel.TrainingPanel` (a mixin: it reads the
    panel's ``pair``, ``colours``, ``followed`` and ``log_loss_check``)."""

    def _build_plots(self) -> QWidget:
        """The plots and their legend (the right of the splitter; the readout is made here,
        placed by the panel)."""
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
        # two lines of values stay in sight (the rest scrolls); the panel places it under
        # the editor, so the plots get the whole height of their column
        self.readout_scroll.setMinimumHeight(2 * self.fontMetrics().height() + 6)
        return right

    def _plot_items(self) -> dict[str, Any]:
        """Every plot that can be shown, by key: grad, loss, param, data:zeroed, ..."""
        out = dict(self._plots)
        out.update({f"data:{k}": p for k, p in self._data_plots.items()})
        return out

    def _arrange_plots(self) -> None:
        """The plots in a grid (see :func:`~gradviz.qt.training_model.plot_grid`): columns
        about 22 characters wide, more of them when the room below the controls holds fewer
        rows, the legend in a row of its own under them with as many columns as fit."""
        w = max(self.plots.width(), 1)
        visible = [k for k in ("grad", "loss", "param") if self._plot_wanted(k)]
        if self._has_data():
            visible.append(f"data:{self.followed}")  # the followed run's boundary
        n = max(1, len(visible))
        fm = self.fontMetrics()
        line = fm.height()
        row_h = 5 * line + 10  # a title, ticks and a few grid lines: never just a title
        room = getattr(self, "_room", None)
        if room is None:  # measured again after a resize, a font change or a new row
            room = self._room = self._plot_room()
        key = f"{int(w)}:{int(room // max(row_h, 1))}:" + ",".join(visible)
        if key == self._layout_mode:
            return
        self._layout_mode = key
        lay = self.plots.ci
        box = self._legend_box
        for item in (*self._plot_items().values(), box):
            if item in lay.items:
                lay.removeItem(item)
        # "(as written)" goes when the legend needs a row less without it
        if self._fit_legend(w, short=True) < self._fit_legend(w, short=False):
            self._fit_legend(w, short=True)
        rows, cols = plot_grid(n, w, room - box.minimumHeight() - 10,
                               22 * fm.averageCharWidth(), row_h)
        self._fit_titles(visible, w / cols, (room - box.minimumHeight()) / rows >= 7 * line)
        items = self._plot_items()
        for i, k in enumerate(visible):
            lay.addItem(items[k], row=i // cols, col=i % cols)
        lay.addItem(box, row=rows, col=0, colspan=cols)
        for i in range(cols):
            lay.layout.setColumnStretchFactor(i, 1)
        for i in range(cols, 4):
            lay.layout.setColumnStretchFactor(i, 0)
        for k, plot in items.items():
            plot.setVisible(k in visible)
        self.plots.setMinimumHeight(int(rows * row_h + box.minimumHeight() + 10))
        self.updateGeometry()

    def _fit_legend(self, w: float, short: bool) -> int:
        """As many legend columns as ``w`` holds; ``short``: the as-written run's entry
        without "(as written)" (the note beside the editor says it too). Returns the rows."""
        box = self._legend_box
        size = f"{(self.font().pointSizeF() or 10.0) * 0.9:.1f}pt"
        for group_text, (_, label) in zip(self._legend_groups, self.legend.items):
            text = group_text[:-len(AS_WRITTEN)] if short and group_text.endswith(AS_WRITTEN) \
                else group_text
            if label.text != text:
                label.setText(text, size=size, color=self.colours.text)
        for c in range(max(1, len(self.legend.items)), 0, -1):
            self.legend.setColumnCount(c)
            box.fit()
            if box.minimumWidth() <= w - 8:
                break
        return math.ceil(len(self.legend.items) / max(self.legend.columnCount, 1))

    def _fit_titles(self, visible: list[str], col_w: float, x_label: bool) -> None:
        """Full titles where the column holds them, short ones elsewhere; the "iteration"
        label under the x axis only where a row has room for it."""
        c = self.colours
        base = self.font().pointSizeF() or 10.0
        f = QFont(self.font())
        f.setPointSizeF(base * 1.1)
        f.setBold(True)
        fm = QFontMetricsF(f)
        items = self._plot_items()
        for kind in visible:
            plot = items[kind]
            full = TITLES[kind]
            title = full if fm.horizontalAdvance(full) + 60 <= col_w else SHORT_TITLES[kind]
            if plot.titleLabel.text != title:
                colour = run_colour(c, kind[5:]) if kind.startswith("data:") else c.text
                plot.setTitle(title, color=colour, size=f"{base * 1.1:.1f}pt", bold=True)
                _narrow_title(plot.titleLabel)
            if not kind.startswith("data:"):
                plot.showLabel("bottom", x_label)

    def _plot_room(self) -> float:
        """The height the plots and their legend may take: what the panel's window (the
        dock's scroll area, else the panel) leaves below the controls."""
        area = self.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        h = area.viewport().height() if area is not None else self.height()
        m = self.layout().contentsMargins() if self.layout() is not None else None
        used = self.controls_flow.heightForWidth(max(self.width() - 12, 1)) + 6
        used += (m.top() + m.bottom()) if m is not None else 0
        return max(float(h - used), 0.0)

    def _plot_wanted(self, kind: str) -> bool:
        return plot_wanted(self.pair, kind)

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
        for kind, plot in self._plot_items().items():
            colour = c.text
            if kind.startswith("data:"):
                colour = run_colour(c, kind[5:])
            plot.setTitle(TITLES[kind], color=colour, size=f"{base * 1.1:.1f}pt", bold=True)
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
        legend.opts["labelTextSize"] = f"{base * 0.9:.1f}pt"
        legend.opts["labelTextColor"] = pg.mkColor(c.text)
        for _, label in legend.items:
            label.setText(label.text, size=f"{base * 0.9:.1f}pt", color=c.text)
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
        self.readout_scroll.setMinimumHeight(2 * self.readout.fontMetrics().height() + 6)
        ef = QFont(self.editor.font())
        ef.setPointSizeF(base * 1.1)
        self.editor.setFont(ef)
        fm = self.fontMetrics()
        self.lr_edit.setFixedWidth(int(fm.horizontalAdvance("0.000001") + 16))
        self.speed_label.setMinimumWidth(fm.horizontalAdvance("1000 it/s "))
        self._layout_mode = ""
        self._room = None
        self._arrange_plots()

    def _build_curves(self) -> None:
        """Make every curve once (``setData`` updates them) and the legend, as
        :func:`~gradviz.qt.training_model.curve_specs` and ``legend_specs`` say. A click on an
        entry hides or shows its curves."""
        for plot in self._plots.values():
            for c in list(plot.listDataItems()):
                plot.removeItem(c)
        self.legend.clear()
        self._errors_shown = ()
        for plot, item in self._stop_marks:
            plot.removeItem(item)
        self._stop_marks = []
        self._curves = []
        self._legend_groups: dict[str, _Group] = {}
        self._drawn: dict[tuple[int, bool], int] = {}
        pair = self.pair
        if pair is None:
            return
        self._setup_data()
        c = self.colours
        specs = curve_specs(pair)
        for sp in specs:
            item = pg.PlotDataItem(pen=_pen(c, sp.run_key, sp.style), connect="finite")
            self._add_curve(sp.run_key, sp.kind, sp.column, sp.label, item, sp.param)
        for entry in legend_specs(pair, specs):
            group = _Group()
            group.items = [self._curves[i].item for i in entry.curves]
            self._legend_groups[entry.text] = group
            if entry.run_key is not None:  # colour: the run
                pens = [_pen(c, entry.run_key, 0)]
            else:  # line style: the parameter, drawn in a neutral colour
                pens = [_pen(c, "zeroed", entry.style, colour=c.muted)]
            self._legend_entry(_Sample(group, pens), entry.text)
        self._layout_mode = ""
        self._room = None
        self._arrange_plots()
        self._on_log_loss(self.log_loss_check.isChecked(), refresh=False)
        self._fix_x_range()

    def _legend_entry(self, sample: _Sample, text: str) -> None:
        base = self.font().pointSizeF() or 10.0
        self.legend.addItem(sample, text)
        self.legend.items[-1][1].setText(text, size=f"{base * 0.9:.1f}pt",
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
        pts = numbers(d["points"]).reshape(-1, 2)
        lab = numbers(d["labels"])
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

    def _on_mouse_moved(self, pos: QPointF) -> None:
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
        # pyqtgraph's legend ignores transformations (constant size on screen): scaled
        # with the rest for the export, so its text is as large as the titles' on a slide
        flag = QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations
        self.legend.setFlag(flag, False)
        try:
            view.scene().render(p, QRectF(0, 0, img.width(), img.height()),
                                view.mapToScene(view.viewport().rect()).boundingRect())
        finally:
            self.legend.setFlag(flag, True)
        p.end()
        return img

    def export_png(self, path: str, width: int = 1920) -> bool:
        """Save the plots as shown, ``width`` pixels wide (1920 by default: slide size),
        whole or not at all: a folder that cannot take it is a
        :class:`gradviz.safe_io.FileError` naming ``path``, and nothing is written."""
        check_writable(path, action="export")  # before the costly render
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.WriteOnly)
        if not self.render_plots(max(int(width), 1920)).save(buf, "PNG"):
            raise FileError(f"cannot export {path}: the image could not be encoded as PNG",
                            path)
        buf.close()
        write_bytes_atomic(path, bytes(data), action="export")
        return True
