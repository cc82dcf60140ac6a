"""GraphView: draws an autograd graph from :func:`gradviz.graph.build_graph` for a projector.

Rounded boxes coloured by kind (torchviz's colours in the light theme), a bold title and
monospace values, curved edges with arrow heads, optional edge labels (the gradient flowing
along an edge), node states (current, done, breakpoint, error), an error banner, pan (drag),
zoom (wheel, ``+``/``-``), fit (``0``/Home), click to select, hover tooltips, level of detail
when zoomed out, and PNG/SVG export.

Typical use while stepping through backward::

    view = GraphView(theme="light")
    view.set_graph(build_graph(loss, names))      # lays out, fits
    view.set_node_state(key, "current")           # repaints that node only
    view.set_edge_label(u, v, "grad [0.5, 0.5]")  # gradient flowing along u -> v
    refresh_labels(view.graph); view.refresh()    # .grad values appeared on tensors
    view.show_banner(str(err), node_key=key)      # and view.clear_banner()
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import networkx as nx
from PySide6.QtCore import QEvent, QLineF, QMarginsF, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QFontMetricsF,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QStyleOptionGraphicsItem,
    QToolTip,
    QWidget,
)

from gradviz.graph import Layout, compute_layout, gc_paused
from gradviz.qt import guard_none_refcount
from gradviz.theme import Theme, get_theme

guard_none_refcount()

__all__ = ["LEGEND_TEXT", "STATES", "EdgeBundleItem", "EdgeItem", "EdgeLabelItem", "GraphView",
           "Minimap", "NodeItem", "OverviewItem", "walkthrough_caption"]

#: node states accepted by :meth:`GraphView.set_node_state`
STATES = ("idle", "current", "done", "breakpoint", "error")

_PX_PER_PT = 96.0 / 72.0
_TEXT_MIN_PX = 4.5  # below this on screen, text is not drawn
_Z_EDGE, _Z_NODE, _Z_CURRENT, _Z_LABEL = -1.0, 0.0, 1.0, 2.0


def _color(hex_: str, alpha: float = 1.0) -> QColor:
    c = QColor(hex_)
    c.setAlphaF(max(0.0, min(1.0, alpha)))
    return c


def _blend(a: str, b: str, t: float) -> QColor:
    ca, cb = QColor(a), QColor(b)
    return QColor.fromRgbF(ca.redF() + (cb.redF() - ca.redF()) * t,
                           ca.greenF() + (cb.greenF() - ca.greenF()) * t,
                           ca.blueF() + (cb.blueF() - ca.blueF()) * t)


class _Style:
    """Fonts, metrics, pens and brushes derived from a theme, shared by all items."""

    def __init__(self, theme: Theme) -> None:
        self.theme = t = theme
        s = t.font_scale
        self.title_font = QFont(t.font_family)
        self.title_font.setPixelSize(max(6, round(t.title_pt * _PX_PER_PT * s)))
        self.title_font.setBold(True)
        self.mono_font = QFont(t.mono_family)
        self.mono_font.setStyleHint(QFont.StyleHint.Monospace)
        self.mono_font.setPixelSize(max(6, round(t.mono_pt * _PX_PER_PT * s)))
        self.label_font = QFont(t.font_family)
        self.label_font.setPixelSize(max(6, round(t.edge_label_pt * _PX_PER_PT * s)))
        self.label_font.setBold(True)
        self.title_fm = QFontMetricsF(self.title_font)
        self.mono_fm = QFontMetricsF(self.mono_font)
        self.label_fm = QFontMetricsF(self.label_font)
        px = self.title_font.pixelSize()
        self.title_px = float(px)
        self.pad_x = 0.95 * px
        self.pad_y = 0.55 * px
        self.line_gap = 0.15 * px
        self.radius = 0.55 * px
        self.min_width = 5.0 * px
        self.glow = 0.75 * px  # margin around a box for glow and badges
        self.node_gap = 1.8 * px
        self.layer_gap = 2.3 * px
        self.arrow_len = 0.62 * px * max(1.0, t.edge_width / 1.8)
        self.arrow_half = 0.34 * px * max(1.0, t.edge_width / 1.8)
        self.text = QColor(t.text)
        self.text_muted = QColor(t.text_muted)
        self.border_pen = QPen(QColor(t.node_border), t.border_width)
        self.fills = {k: QColor(t.fill(k)) for k in ("grad_fn", "accumulate", "leaf", "output",
                                                      "saved")}
        self.done_fills = {k: _blend(t.fill(k), t.background, t.done_opacity)
                           for k in self.fills}
        self.shadow = _color(t.shadow, t.shadow_alpha)
        # zoomed out: one-pixel outlines so that even tiny boxes and edges stay visible
        self.lod_pens = {k: self._hairline(QColor(t.fill(k)).darker(135)) for k in self.fills}
        self.lod_current = self._hairline(QColor(t.current))
        self.lod_error = self._hairline(QColor(t.error))
        self.lod_edge = self._hairline(QColor(t.edge))
        self.lod_flow = self._hairline(QColor(t.edge_flow))
        self.lod_saved = self._hairline(QColor(t.edge_saved))
        self.edge_pen = QPen(QColor(t.edge), t.edge_width, Qt.PenStyle.SolidLine,
                             Qt.PenCapStyle.RoundCap)
        self.edge_brush = QBrush(QColor(t.edge))
        self.saved_pen = QPen(QColor(t.edge_saved), t.edge_width, Qt.PenStyle.DashLine,
                              Qt.PenCapStyle.FlatCap)
        self.flow_pen = QPen(QColor(t.edge_flow), t.edge_width * 1.9, Qt.PenStyle.SolidLine,
                             Qt.PenCapStyle.RoundCap)
        self.flow_brush = QBrush(QColor(t.edge_flow))
        self.current_pen = QPen(QColor(t.current), max(4.0, t.border_width * 2.2))
        self.glow_colors = [_color(t.current_glow, a) for a in (0.22, 0.38, 0.6)]
        self.error_pen = QPen(QColor(t.error), max(4.0, t.border_width * 2.2))
        self.error_fill = QColor(t.error_fill)
        self.selection_pen = QPen(QColor(t.selection), max(3.0, t.border_width * 1.6),
                                  Qt.PenStyle.DashLine)
        self.done = QColor(t.done)
        self.breakpoint = QColor(t.breakpoint)
        self.error = QColor(t.error)
        self.white = QColor("#ffffff")
        self.label_text = QColor(t.edge_label_text)
        self.label_bg = QColor(t.edge_label_bg)
        self.label_border = QPen(QColor(t.edge_flow), max(1.5, t.edge_width))
        self._adv: dict[tuple[bool, str], float] = {}
        self._measured: dict[str, tuple[list[str], list[float], float, float]] = {}
        self.title_h = self.title_fm.height()
        self.mono_h = self.mono_fm.height()
        self.vector = False  # painting into SVG: no stacked translucent fills

    @staticmethod
    def _hairline(c: QColor) -> QPen:
        pen = QPen(c, 0)
        pen.setCosmetic(True)
        return pen

    def measure(self, label: str) -> tuple[list[str], list[float], float, float]:
        """Lines, line widths and box size of a node label (cached: titles repeat a lot)."""
        m = self._measured.get(label)
        if m is None:
            lines = label.split("\n")
            adv = [self.advance(lines[0], True)]
            adv += [self.advance(s, False) for s in lines[1:]]
            w = max(self.min_width, max(adv) + 2 * self.pad_x)
            h = (2 * self.pad_y + self.title_h
                 + (len(lines) - 1) * (self.mono_h + self.line_gap))
            m = (lines, adv, w, h)
            if len(self._measured) < 50000:
                self._measured[label] = m
        return m

    def advance(self, text: str, title: bool) -> float:
        """Width of ``text`` in the title (bold) or monospace font, cached."""
        key = (title, text)
        a = self._adv.get(key)
        if a is None:
            fm = self.title_fm if title else self.mono_fm
            a = self._adv[key] = fm.horizontalAdvance(text)
        return a


class NodeItem(QGraphicsItem):
    """A rounded box: a bold title line and monospace value lines, painted by state."""

    def __init__(self, key: Hashable, kind: str, label: str, detail: str,
                 style: _Style, cached: bool = True) -> None:
        super().__init__()
        self.key = key
        self.kind = kind
        self.state = "idle"
        self.selected = False
        self._style = style
        self.detail = detail  # the view shows it as the tooltip
        if cached:
            self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._measure(label)

    # ---- content
    def set_label(self, label: str) -> None:
        """Set the text (first line = title) and re-measure the box."""
        self.prepareGeometryChange()
        self._measure(label)
        self.update()

    def _measure(self, label: str) -> None:
        self.label = label
        st = self._style
        self.lines, self._adv, w, h = st.measure(label or str(self.key))
        self.w, self.h = w, h
        self._rect = QRectF(-w / 2, -h / 2, w, h)
        g = st.glow
        self._bounds = QRectF(-w / 2 - g, -h / 2 - g, w + 2 * g, h + 2 * g)

    def set_detail(self, detail: str) -> None:
        """Set the hover text."""
        self.detail = detail

    def set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        self.setZValue(_Z_CURRENT if state in ("current", "error") else _Z_NODE)
        self.update()

    def set_selected(self, on: bool) -> None:
        if on != self.selected:
            self.selected = on
            self.update()

    # ---- QGraphicsItem
    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._bounds

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        st = self._style
        r = self._rect
        state = self.state
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(p.worldTransform())
        fill = st.done_fills[self.kind] if state == "done" else st.fills.get(
            self.kind, st.fills["grad_fn"])
        if state == "error":
            fill = st.error_fill
        if st.title_px * lod < _TEXT_MIN_PX:  # too small to read: a plain box
            p.setPen(st.lod_current if state == "current" else st.lod_error
                     if state == "error" else st.lod_pens.get(self.kind, st.lod_edge))
            p.setBrush(st.glow_colors[-1] if state == "current" else
                       st.error if state == "error" else fill)
            g = st.glow if state == "current" else 0.0
            p.drawRect(r.adjusted(-g, -g, g, g))
            return
        rad = st.radius
        if state == "current" and st.vector:
            # SVG: a halo of thin rings fading outwards (stacked translucent fills come out
            # of SVG renderers as one solid blob)
            p.setBrush(Qt.BrushStyle.NoBrush)
            g = st.glow
            n = 4
            for i in range(n):
                d = g * (i + 0.5) / n
                p.setPen(QPen(_color(st.theme.current_glow, 0.55 * (1 - i / n)), g / n))
                p.drawRoundedRect(r.adjusted(-d, -d, d, d), rad + d, rad + d)
        elif state == "current":
            p.setPen(Qt.PenStyle.NoPen)
            g = st.glow
            for i, c in enumerate(st.glow_colors):
                d = g * (1.0 - i / len(st.glow_colors))
                p.setBrush(c)
                p.drawRoundedRect(r.adjusted(-d, -d, d, d), rad + d, rad + d)
        elif st.shadow.alpha() and state != "done":
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(st.shadow)
            p.drawRoundedRect(r.translated(0, 0.18 * st.title_px), rad, rad)
        p.setBrush(fill)
        p.setPen(st.current_pen if state == "current" else
                 st.error_pen if state == "error" else st.border_pen)
        p.drawRoundedRect(r, rad, rad)
        if self.selected:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(st.selection_pen)
            d = st.glow * 0.55
            p.drawRoundedRect(r.adjusted(-d, -d, d, d), rad + d, rad + d)

        # text: title, then monospace lines, each centred
        p.setPen(st.text_muted if state == "done" else st.text)
        y = r.top() + st.pad_y
        p.setFont(st.title_font)
        p.drawText(QPointF(-self._adv[0] / 2, y + st.title_fm.ascent()), self.lines[0])
        y += st.title_fm.height()
        if len(self.lines) > 1:
            p.setFont(st.mono_font)
            asc = st.mono_fm.ascent()
            step = st.mono_fm.height() + st.line_gap
            for line, adv in zip(self.lines[1:], self._adv[1:], strict=True):
                y += st.line_gap
                p.drawText(QPointF(-adv / 2, y + asc), line)
                y += step - st.line_gap

        # badges
        if state == "done":
            self._badge(p, QPointF(r.right() - 2, r.top() + 2), st.done, "check")
        elif state == "error":
            self._badge(p, QPointF(r.right() - 2, r.top() + 2), st.error, "bang")
        elif state == "breakpoint":
            c = QPointF(r.left() + 1, r.center().y())
            rr = 0.42 * st.title_px
            p.setPen(QPen(st.white, 2.5))
            p.setBrush(st.breakpoint)
            p.drawEllipse(c, rr, rr)

    def _badge(self, p: QPainter, c: QPointF, color: QColor, mark: str) -> None:
        st = self._style
        rr = 0.5 * st.title_px
        p.setPen(QPen(st.white, 2.0))
        p.setBrush(color)
        p.drawEllipse(c, rr, rr)
        pen = QPen(st.white, max(2.0, 0.16 * st.title_px), Qt.PenStyle.SolidLine,
                   Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        if mark == "check":
            path = QPainterPath(c + QPointF(-0.5 * rr, 0.0))
            path.lineTo(c + QPointF(-0.12 * rr, 0.4 * rr))
            path.lineTo(c + QPointF(0.55 * rr, -0.4 * rr))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
        else:
            p.drawLine(c + QPointF(0, -0.55 * rr), c + QPointF(0, 0.12 * rr))
            p.drawPoint(c + QPointF(0, 0.5 * rr))


@dataclass
class _EdgeGeom:
    path: QPainterPath
    arrows: list[QPolygonF]
    bounds: QRectF


class EdgeItem(QGraphicsItem):
    """A curved edge (cubic pieces with vertical tangents) with an arrow head at its target."""

    def __init__(self, u: Hashable, v: Hashable, kind: str, style: _Style,
                 count: int = 1) -> None:
        super().__init__()
        self.u, self.v = u, v
        self.kind = kind
        self.count = count  # how many next_functions entries this edge stands for
        self.flow = False
        self.raised = False  # drawn above nodes, next to the current node
        self._style = style
        self.setZValue(_Z_EDGE)
        self.geom = _EdgeGeom(QPainterPath(), [], QRectF())
        self.ends = ((0.0, 0.0), (0.0, 0.0))

    def set_points(self, points: list[tuple[float, float]]) -> None:
        """Route the edge through ``points`` (from the source's bottom to the target's top)."""
        self.prepareGeometryChange()
        st = self._style
        pts = list(points)
        arrow = self.kind != "saved"
        ex, ey = pts[-1]
        self.ends = (pts[0], (ex, ey - st.arrow_len * 0.85) if arrow else (ex, ey))
        a, h = st.arrow_len, st.arrow_half
        if arrow:
            pts[-1] = (ex, ey - a * 0.85)  # the line ends inside the arrow head
        path = QPainterPath()
        arrows: list[QPolygonF] = []
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        # an input used k times (y * y) is drawn as k parallel curves, each with its arrow
        gap = max(0.8 * st.title_px, 2.6 * h)
        last = len(pts) - 2
        spread = 0.0
        for i in range(self.count):
            dx = (i - (self.count - 1) / 2) * gap
            bow = dx * 1.25  # parallel curves bow apart a little
            spread = max(spread, abs(bow))
            x0, y0 = pts[0]
            path.moveTo(x0 + dx * 0.6, y0)
            for j in range(last + 1):
                x1, y1 = pts[j + 1]
                dy = (y1 - y0) * 0.5
                path.cubicTo(x0 + bow, y0 + dy, x1 + bow, y1 - dy,
                             x1 + (dx if j == last else bow), y1)
                x0, y0 = x1, y1
            if arrow:
                arrows.append(QPolygonF([QPointF(ex + dx, ey), QPointF(ex + dx - h, ey - a),
                                         QPointF(ex + dx + h, ey - a)]))
        m = st.theme.edge_width * 2 + 2 + spread + (h if arrow else 0.0)
        x_lo, x_hi = min(xs) - m, max(xs) + m
        y_lo, y_hi = min(ys) - m, max(max(ys), ey) + m
        self.geom = _EdgeGeom(path, arrows, QRectF(x_lo, y_lo, x_hi - x_lo, y_hi - y_lo))
        self.update()

    def midpoint(self) -> QPointF:
        """The middle of the (first) curve, where a label goes."""
        return self.geom.path.pointAtPercent(0.5)

    def set_flow(self, on: bool) -> None:
        if on != self.flow:
            self.flow = on
            if not self.raised:
                self.setZValue(_Z_EDGE + (0.5 if on else 0.0))
            self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self.geom.bounds

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        st = self._style
        geom = self.geom
        p.setBrush(Qt.BrushStyle.NoBrush)
        if st.title_px * QStyleOptionGraphicsItem.levelOfDetailFromTransform(
                p.worldTransform()) < _TEXT_MIN_PX:  # zoomed out: a one-pixel line
            p.setPen(st.lod_saved if self.kind == "saved" else st.lod_flow if self.flow
                     else st.lod_edge)
            p.drawPath(geom.path)
            return
        if self.kind == "saved":
            p.setPen(st.saved_pen)
            p.drawPath(geom.path)
            return
        p.setPen(st.flow_pen if self.flow else st.edge_pen)
        p.drawPath(geom.path)
        if geom.arrows:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(st.flow_brush if self.flow else st.edge_brush)
            for a in geom.arrows:
                p.drawPolygon(a)


class EdgeBundleItem(QGraphicsItem):
    """Many edges in one item: the long edges left unrouted by the layout, drawn faintly as
    straight lines.

    One item paints them all with a few C++ calls, instead of thousands of Python paint calls
    whenever a region they cross is repainted (every step, on a big graph). The lines are
    one-pixel (Qt's fast path: a wide antialiased line of 800 px costs about a millisecond
    here) and cut to the exposed area; when more than ``MAX_LINES`` cross it, they are a
    hairball that shows nothing, and are left out."""

    MAX_LINES = 600

    def __init__(self, style: _Style) -> None:
        super().__init__()
        self._style = style
        self.setZValue(_Z_EDGE - 0.5)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.lines: list[tuple[float, float, float, float]] = []
        self.saved: list[tuple[float, float, float, float]] = []
        self.arrows: list[QPolygonF] = []
        self._bounds = QRectF()
        c = _blend(style.theme.edge, style.theme.background, 0.45)  # faint, but opaque
        self._pen = QPen(c, 0)
        self._pen.setCosmetic(True)
        self._saved_pen = QPen(_blend(style.theme.edge_saved, style.theme.background, 0.3), 0,
                               Qt.PenStyle.DashLine)
        self._saved_pen.setCosmetic(True)
        self._brush = QBrush(c)

    def set_edges(self, items: Iterable[EdgeItem]) -> None:
        self.prepareGeometryChange()
        self.lines, self.saved, self.arrows = [], [], []
        bounds = QRectF()
        for it in items:
            g = it.geom
            (x1, y1), (x2, y2) = it.ends
            if y1 > y2:
                x1, y1, x2, y2 = x2, y2, x1, y1
            (self.saved if it.kind == "saved" else self.lines).append((x1, y1, x2, y2))
            self.arrows.extend(g.arrows)
            bounds = bounds.united(g.bounds)
        self._bounds = bounds
        self.update()

    @staticmethod
    def _clipped(lines: list[tuple[float, float, float, float]], r: QRectF) -> list[QLineF]:
        """The parts of ``lines`` inside ``r``: long lines are cut to what is exposed."""
        top, bottom, left, right = r.top(), r.bottom(), r.left(), r.right()
        out = []
        for x1, y1, x2, y2 in lines:
            if y2 < top or y1 > bottom or (x1 < left and x2 < left) or (
                    x1 > right and x2 > right):
                continue
            if y1 < top or y2 > bottom:
                slope = (x2 - x1) / (y2 - y1) if y2 != y1 else 0.0
                if y1 < top:
                    x1, y1 = x1 + slope * (top - y1), top
                if y2 > bottom:
                    x2, y2 = x2 - slope * (y2 - bottom), bottom
            out.append(QLineF(x1, y1, x2, y2))
        return out

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._bounds

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        r = option.exposedRect
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(p.worldTransform())
        zoomed_out = self._style.title_px * lod < _TEXT_MIN_PX
        p.setBrush(Qt.BrushStyle.NoBrush)
        lines = self._clipped(self.lines, r)
        saved = self._clipped(self.saved, r) if self.saved else []
        if len(lines) + len(saved) > self.MAX_LINES:
            return
        p.setPen(self._pen)
        p.drawLines(lines)
        if saved:
            p.setPen(self._saved_pen)
            p.drawLines(saved)
        if zoomed_out:
            return
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self._brush)
        # only the arrow heads in view: a path spanning a huge scene is slow to fill
        for a in self.arrows:
            if r.intersects(a.boundingRect()):
                p.drawPolygon(a)


class OverviewItem(QGraphicsItem):
    """Zoomed out, the whole graph in a few batched draws: edges as one-pixel polylines and
    idle boxes as rectangles per kind. Node items are then hidden unless they show a state."""

    def __init__(self, style: _Style) -> None:
        super().__init__()
        self._style = style
        self.setZValue(_Z_EDGE - 1.0)
        self.rects: dict[str, list[QRectF]] = {}
        self.lines: list[QLineF] = []
        self._bounds = QRectF()

    def set_content(self, rects: dict[str, list[QRectF]], lines: list[QLineF],
                    bounds: QRectF) -> None:
        self.prepareGeometryChange()
        self.rects, self.lines, self._bounds = rects, lines, bounds
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._bounds

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        st = self._style
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # one-pixel lines: fast path
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(st.lod_edge)
        p.drawLines(self.lines)
        for kind, rects in self.rects.items():
            p.setPen(st.lod_pens.get(kind, st.lod_edge))
            p.setBrush(st.fills.get(kind, st.fills["grad_fn"]))
            p.drawRects(rects)


class EdgeLabelItem(QGraphicsItem):
    """Small text on a pill next to an edge's midpoint (e.g. the gradient flowing along it)."""

    def __init__(self, text: str, anchor: QPointF, style: _Style, left: bool = False) -> None:
        super().__init__()
        self._style = style
        self.left = left  # drawn to the left of the edge (the seed gradient)
        self.setZValue(_Z_LABEL)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.text = ""
        self.setPos(anchor)
        self.set_text(text)

    def set_text(self, text: str) -> None:
        self.prepareGeometryChange()
        st = self._style
        self.text = text
        self.lines = text.split("\n")
        fm = st.label_fm
        self._adv = [fm.horizontalAdvance(s) for s in self.lines]
        px = st.label_font.pixelSize()
        w = max(self._adv) + 0.9 * px
        h = len(self.lines) * fm.height() + 0.35 * px
        gap = 0.45 * px
        x = -gap - w if self.left else gap
        self._rect = QRectF(x, -h / 2, w, h)  # beside the edge
        self._bounds = self._rect.adjusted(-2, -2, 2, 2)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._bounds

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        st = self._style
        r = self._rect
        p.setPen(st.label_border)
        p.setBrush(st.label_bg)
        p.drawRoundedRect(r, r.height() / 2, r.height() / 2)
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(p.worldTransform())
        if st.label_font.pixelSize() * lod < _TEXT_MIN_PX:
            return
        p.setPen(st.label_text)
        p.setFont(st.label_font)
        fm = st.label_fm
        y = r.top() + 0.175 * st.label_font.pixelSize()
        for line, adv in zip(self.lines, self._adv, strict=True):
            p.drawText(QPointF(r.center().x() - adv / 2, y + fm.ascent()), line)
            y += fm.height()


class Minimap(QWidget):
    """The whole graph in a corner of the view, with the visible part framed: shown when the
    graph at a readable size does not fit; a click or drag there scrolls the view."""

    def __init__(self, view: GraphView) -> None:
        super().__init__(view.viewport())
        self._view = view
        self._image: QImage | None = None
        self._src = QRectF()  # scene rect drawn in the image
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the view")
        self.hide()

    def invalidate(self) -> None:
        self._image = None
        self.update()

    def _target(self) -> QRectF:
        """Where the image goes in the widget (aspect kept, 4 px frame)."""
        src = self._src
        w, h = self.width() - 8, self.height() - 8
        if src.isEmpty() or w <= 0 or h <= 0:
            return QRectF()
        s = min(w / src.width(), h / src.height())
        tw, th = src.width() * s, src.height() * s
        return QRectF(4 + (w - tw) / 2, 4 + (h - th) / 2, tw, th)

    def _render(self) -> None:
        v = self._view
        st = v._style
        self._src = v._bounds
        t = self._target()
        img = QImage(max(1, self.width()), max(1, self.height()),
                     QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(Qt.GlobalColor.transparent)
        self._image = img
        if t.isEmpty():
            return
        s = t.width() / self._src.width()
        p = QPainter(img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.translate(t.left() - self._src.left() * s, t.top() - self._src.top() * s)
        p.scale(s, s)
        pen = QPen(_blend(st.theme.edge, st.theme.background, 0.35), 0)
        pen.setCosmetic(True)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawLines([QLineF(*e.ends[0], *e.ends[1]) for e in v._edges.values()])
        by_kind: dict[str, list[QRectF]] = {}
        for it in v._nodes.values():
            by_kind.setdefault(it.kind, []).append(it.sceneBoundingRect().marginsRemoved(
                _margins(st.glow)))
        for kind, rects in by_kind.items():
            p.setPen(st.lod_pens.get(kind, st.lod_edge))
            p.setBrush(st.fills.get(kind, st.fills["grad_fn"]))
            p.drawRects(rects)
        p.end()

    def map_to_scene(self, pt: QPointF) -> QPointF:
        t = self._target()
        if t.isEmpty():
            return self._src.center()
        s = self._src.width() / t.width()
        return QPointF(self._src.left() + (pt.x() - t.left()) * s,
                       self._src.top() + (pt.y() - t.top()) * s)

    def map_from_scene(self, r: QRectF) -> QRectF:
        t = self._target()
        if t.isEmpty():
            return QRectF()
        s = t.width() / self._src.width()
        return QRectF(t.left() + (r.left() - self._src.left()) * s,
                      t.top() + (r.top() - self._src.top()) * s, r.width() * s, r.height() * s)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        v = self._view
        st = v._style
        if self._image is None or self._image.size() != self.size():
            self._render()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(st.text_muted, 1.5))
        p.setBrush(_color(st.theme.background, 0.92))
        p.drawRoundedRect(QRectF(self.rect()).adjusted(0.75, 0.75, -0.75, -0.75), 5, 5)
        if self._image is not None:
            p.drawImage(0, 0, self._image)
        cur = next((it for it in v._nodes.values() if it.state in ("current", "error")), None)
        if cur is not None:
            r = self.map_from_scene(cur.sceneBoundingRect())
            c = r.center()
            rad = max(4.0, min(r.width(), r.height()) / 2)
            p.setPen(QPen(st.error if cur.state == "error" else QColor(st.theme.current), 2.5))
            p.setBrush(_color(st.theme.current_glow, 0.6))
            p.drawEllipse(c, rad, rad)
        vis = v.mapToScene(v.viewport().rect()).boundingRect()
        p.setPen(QPen(st.selection_pen.color(), 2.0))
        p.setBrush(_color(st.theme.selection, 0.12))
        p.drawRect(self.map_from_scene(vis).intersected(QRectF(self.rect()).adjusted(
            1, 1, -1, -1)))
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self._view.centerOn(self.map_to_scene(event.position()))
        self._view._fitted = False
        self.update()
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.mousePressEvent(event)


def _margins(m: float) -> QMarginsF:
    return QMarginsF(m, m, m, m)


#: the legend in the view's corner while gradients are shown on edges
LEGEND_TEXT = "arrows: forward · purple labels: gradients flowing back"
LEGEND_SHORT = "arrows: forward\npurple: gradients back"


def walkthrough_caption(k: int, n: int | None, node_name: str | None = None) -> str:
    """The caption of a walk-through frame: ``step 3 of 7 · MulBackward0``."""
    text = f"step {k}" + (f" of {n}" if n else "")
    return text + (f" · {node_name}" if node_name else "")


class GraphView(QGraphicsView):
    """Interactive view of an autograd DiGraph (see :func:`gradviz.graph.build_graph`).

    Signals: ``node_selected(str)`` with the clicked node's key.
    """

    node_selected = Signal(str)

    ZOOM_STEP = 1.25
    MIN_SCALE = 0.01
    MAX_SCALE = 8.0
    MAX_FIT_SCALE = 1.5

    def __init__(self, parent: QWidget | None = None, theme: Theme | str = "light") -> None:
        super().__init__(parent)
        self._theme = get_theme(theme) if isinstance(theme, str) else theme
        self._style = _Style(self._theme)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self._graph: nx.DiGraph = nx.DiGraph()
        self._layout = Layout()
        self._nodes: dict[Hashable, NodeItem] = {}
        self._edges: dict[tuple[Hashable, Hashable], EdgeItem] = {}
        self._labels: dict[tuple[Hashable, Hashable], EdgeLabelItem] = {}
        self._selected: Hashable | None = None
        self._banner_node: Hashable | None = None
        self._banner_prev_state = "idle"
        self._press: QPointF | None = None
        self._fitted = True
        self._cached: bool | None = None  # item caches are used only where text is drawn
        self._zoomed_out = False  # text unreadable: the overview item draws idle nodes
        self._overview: list[OverviewItem] = []
        self._bounds = QRectF()  # extent of the drawing, from the layout
        self._bundle: EdgeBundleItem | None = None

        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self._scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)

        self._banner = QLabel(self)
        self._banner.setWordWrap(True)
        self._banner.setTextFormat(Qt.TextFormat.PlainText)
        self._banner.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._banner.hide()
        self._legend = QLabel(LEGEND_TEXT, self.viewport())
        self._legend.setObjectName("GraphLegend")
        self._legend.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._legend.hide()
        self.legend_enabled = True  # shown while gradients label the edges
        self._minimap = Minimap(self)
        self.minimap_enabled = True
        self._seed: tuple[Hashable, str] | None = None
        self._seed_item: EdgeLabelItem | None = None
        self._seed_edge: tuple[Hashable, Hashable] | None = None
        self._last_current: Hashable | None = None
        #: scroll to the current node when it changes (a long chain keeps it in view)
        self.follow_current = True
        self._apply_theme_to_widgets()

    # ------------------------------------------------------------------ graph
    @property
    def graph(self) -> nx.DiGraph:
        """The graph being shown."""
        return self._graph

    @property
    def layout_result(self) -> Layout:
        """The last layout (positions, edge routes, layers)."""
        return self._layout

    def set_graph(self, g: nx.DiGraph, fit: bool | None = None) -> None:
        """Show ``g``, laid out with the previous positions as a seed so old nodes keep their
        relative order. States, edge labels and the selection of surviving keys are kept.
        ``fit`` defaults to fitting when the view was fitted before (or is empty)."""
        states = {k: it.state for k, it in self._nodes.items() if it.state != "idle"}
        labels = {e: it.text for e, it in self._labels.items()}
        previous = dict(self._layout.pos) if self._nodes else None
        do_fit = self._fitted or not self._nodes if fit is None else fit
        self._graph = g
        with gc_paused():
            self._rebuild(previous)
        for k, s in states.items():
            if k in self._nodes:
                self.set_node_state(k, s)
        for (u, v), text in labels.items():
            if (u, v) in self._edges:
                self.set_edge_label(u, v, text)
        if self._seed is not None:
            self.set_seed_label(*self._seed)
        if self._selected not in self._nodes:
            self._selected = None
        elif self._selected is not None:
            self._nodes[self._selected].set_selected(True)
        if self._banner_node is not None and self._banner_node not in self._nodes:
            self._banner_node = None
        self._minimap.invalidate()
        if do_fit:
            self.fit()
        else:
            self._update_cache_mode(force=True)
        self._update_overlays()

    def refresh(self) -> None:
        """Re-read labels and details from the graph's node attributes (e.g. after
        :func:`gradviz.graph.refresh_labels`); relayout only when a box changed size."""
        resized = False
        for k, it in self._nodes.items():
            d = self._graph.nodes[k]
            label = d.get("label", str(k))
            if label != it.label:
                w, h = it.w, it.h
                it.set_label(label)
                resized |= (w, h) != (it.w, it.h)
            if d.get("detail", "") != it.detail:
                it.set_detail(d.get("detail", ""))
        if resized:
            with gc_paused():
                self._place(dict(self._layout.pos))
            self._minimap.invalidate()
            self._update_overlays()

    def _rebuild(self, previous: Mapping | None) -> None:
        self._scene.clear()
        self._seed_item = None
        self._seed_edge = None
        self._bundle = None
        self._overview = []
        self._nodes.clear()
        self._edges.clear()
        self._labels.clear()
        st = self._style
        g = self._graph
        cached = bool(self._cached) and not self._fitted  # fit() sets the cache mode anyway
        for k, d in g.nodes(data=True):
            item = NodeItem(k, d.get("kind", "grad_fn"), d.get("label", str(k)),
                            d.get("detail", ""), st, cached)
            self._nodes[k] = item
            self._scene.addItem(item)
        for u, v, d in g.edges(data=True):
            count = len(d.get("next_indices") or ()) or 1
            item = EdgeItem(u, v, d.get("kind", "grad"), st, count)
            self._edges[(u, v)] = item
            self._scene.addItem(item)
        self._place(previous)

    def _place(self, previous: Mapping | None) -> None:
        st = self._style
        widths = {k: it.w for k, it in self._nodes.items()}
        heights = {k: it.h for k, it in self._nodes.items()}
        lay = compute_layout(self._graph, widths=widths, heights=heights, previous=previous,
                             node_gap=st.node_gap, layer_gap=st.layer_gap)
        self._layout = lay
        pos = lay.pos
        for k, it in self._nodes.items():
            x, y = pos[k]
            it.setPos(x, y)
        # ports: edges leave the bottom and enter the top of a box spread out by direction
        outs: dict[Hashable, list[tuple[float, tuple]]] = {}
        ins: dict[Hashable, list[tuple[float, tuple]]] = {}
        for (u, v) in self._edges:
            route = lay.routes.get((u, v))
            first = route[0] if route else pos[v]
            last = route[-1] if route else pos[u]
            outs.setdefault(u, []).append((first[0], (u, v)))
            ins.setdefault(v, []).append((last[0], (u, v)))
        out_x = self._spread(outs, pos)
        in_x = self._spread(ins, pos)
        for (u, v), item in self._edges.items():
            nu, nv = self._nodes[u], self._nodes[v]
            ux, uy = pos[u]
            vx, vy = pos[v]
            route = lay.routes.get((u, v))
            pts = [(out_x[(u, v)], uy + nu.h / 2)]
            if route:
                pts += route
            pts.append((in_x[(u, v)], vy - nv.h / 2))
            item.set_points(pts)
        # long unrouted edges: hidden as items, drawn together by one bundle item
        bundled = [self._edges[e] for e in lay.unrouted if e in self._edges]
        for it in self._edges.values():
            it.setVisible(self._edge_visible(it))
        if bundled or self._bundle is not None:
            if self._bundle is None:
                self._bundle = EdgeBundleItem(st)
                self._scene.addItem(self._bundle)
            self._bundle.set_edges(bundled)
        for (u, v), lab in self._labels.items():
            lab.setPos(self._edges[(u, v)].midpoint())
        if self._seed_item is not None and self._seed is not None:
            self._seed_item.setPos(self._seed_anchor(self._seed[0]))
        # the drawing's extent, from the layout (itemsBoundingRect asks every item)
        g_ = st.glow
        r = QRectF(-g_, -g_, lay.width + 2 * g_, lay.height + 2 * g_)
        if self._bundle is not None and bundled:
            r = r.united(self._bundle.boundingRect())
        self._bounds = r
        m = 3 * st.title_px
        self._scene.setSceneRect(r.adjusted(-m, -m, m, m))
        self._fill_overview(r)

    def _fill_overview(self, bounds: QRectF) -> None:
        """Batch idle boxes and routed edges into overview tiles of a few hundred nodes, so a
        step repaints one tile, not the whole graph."""
        for tile in self._overview:
            self._scene.removeItem(tile)
        self._overview = []
        n = len(self._nodes)
        if not n or bounds.isEmpty():
            return
        tiles = max(1, n // 256)
        w, h = max(bounds.width(), 1.0), max(bounds.height(), 1.0)
        nx_ = max(1, min(tiles, round(math.sqrt(tiles * w / h))))
        ny_ = max(1, math.ceil(tiles / nx_))
        x0, y0 = bounds.left(), bounds.top()
        cw, ch = w / nx_, h / ny_

        def cell(x: float, y: float) -> int:
            return (min(ny_ - 1, max(0, int((y - y0) / ch))) * nx_
                    + min(nx_ - 1, max(0, int((x - x0) / cw))))

        rects: dict[int, dict[str, list[QRectF]]] = {}
        lines: dict[int, list[QLineF]] = {}
        box: dict[int, list[float]] = {}  # tile bounds: [left, top, right, bottom]

        def grow(c: int, l_: float, t_: float, r_: float, b_: float) -> None:
            bb = box.get(c)
            if bb is None:
                box[c] = [l_, t_, r_, b_]
            else:
                if l_ < bb[0]:
                    bb[0] = l_
                if t_ < bb[1]:
                    bb[1] = t_
                if r_ > bb[2]:
                    bb[2] = r_
                if b_ > bb[3]:
                    bb[3] = b_

        pos = self._layout.pos
        for k, it in self._nodes.items():
            x, y = pos[k]
            c = cell(x, y)
            hw, hh = it.w / 2, it.h / 2
            rects.setdefault(c, {}).setdefault(it.kind, []).append(
                QRectF(x - hw, y - hh, it.w, it.h))
            grow(c, x - hw, y - hh, x + hw, y + hh)
        unrouted = self._layout.unrouted
        routes = self._layout.routes
        for (u, v), it in self._edges.items():
            if (u, v) in unrouted:
                continue
            (xa, ya), (xb, yb) = it.ends
            pts = [(xa, ya), *routes.get((u, v), ()), (xb, yb)]
            for (p0x, p0y), (p1x, p1y) in zip(pts, pts[1:], strict=False):
                c = cell((p0x + p1x) / 2, (p0y + p1y) / 2)
                lines.setdefault(c, []).append(QLineF(p0x, p0y, p1x, p1y))
                grow(c, min(p0x, p1x), min(p0y, p1y), max(p0x, p1x), max(p0y, p1y))
        for c, (left, top, right, bottom) in box.items():
            tile = OverviewItem(self._style)
            tile.set_content(rects.get(c, {}), lines.get(c, []),
                             QRectF(left - 2, top - 2, right - left + 4, bottom - top + 4))
            tile.setVisible(self._zoomed_out)
            self._scene.addItem(tile)
            self._overview.append(tile)

    def _node_visible(self, it: NodeItem) -> bool:
        return not self._zoomed_out or it.state != "idle" or it.selected

    def _edge_visible(self, it: EdgeItem) -> bool:
        if it.flow:
            return True
        return not self._zoomed_out and (it.u, it.v) not in self._layout.unrouted

    def _spread(self, ports: dict, pos: Mapping) -> dict[tuple, float]:
        out: dict[tuple, float] = {}
        for k, lst in ports.items():
            x0 = pos[k][0]
            if len(lst) == 1:
                out[lst[0][1]] = x0
                continue
            lst.sort(key=lambda t: t[0])
            half = max(0.0, self._nodes[k].w / 2 - self._style.radius * 1.5)
            step = min(2 * half / (len(lst) - 1), 1.1 * self._style.title_px)
            start = x0 - step * (len(lst) - 1) / 2
            for i, (_, e) in enumerate(lst):
                out[e] = start + i * step
        return out

    # ------------------------------------------------------------------ items and states
    def node_item(self, key: Hashable) -> NodeItem:
        """The item drawing node ``key``."""
        return self._nodes[key]

    def node_items(self) -> dict[Hashable, NodeItem]:
        """All node items, by key."""
        return dict(self._nodes)

    def edge_item(self, u: Hashable, v: Hashable) -> EdgeItem:
        """The item drawing edge ``u -> v``."""
        return self._edges[(u, v)]

    def set_node_state(self, key: Hashable, state: str) -> None:
        """Set node ``key`` to idle, current, done, breakpoint or error (repaints that item)."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {STATES}")
        item = self._nodes[key]
        if (state == "current") != (item.state == "current"):
            # the current node's edges are drawn over its glow (and its neighbours')
            for u, v in (*self._graph.in_edges(key), *self._graph.out_edges(key)):
                edge = self._edges.get((u, v))
                if edge is not None:
                    edge.raised = state == "current"
                    edge.setZValue(_Z_CURRENT + 0.5 if edge.raised else
                                   _Z_EDGE + (0.5 if edge.flow else 0.0))
        item.set_state(state)
        if self._zoomed_out:
            item.setVisible(self._node_visible(item))
        if state == "current" and key != self._last_current:
            self._last_current = key
            if self.follow_current and not self._whole_visible():
                self.ensure_node_visible(key)
        if state in ("current", "error") or self._minimap.isVisible():
            self._minimap.update()

    def node_state(self, key: Hashable) -> str:
        """The state of node ``key``."""
        return self._nodes[key].state

    def clear_states(self) -> None:
        """Set every node back to idle."""
        for k, it in self._nodes.items():
            if it.state != "idle":
                self.set_node_state(k, "idle")

    def set_edge_label(self, u: Hashable, v: Hashable, text: str | None) -> None:
        """Show ``text`` next to edge ``u -> v`` and highlight the edge; None or "" clears."""
        edge = self._edges[(u, v)]
        lab = self._labels.get((u, v))
        if not text:
            if lab is not None:
                self._scene.removeItem(lab)
                del self._labels[(u, v)]
            edge.set_flow((u, v) == self._seed_edge)
            edge.setVisible(self._edge_visible(edge))
            self._update_overlays()
            return
        if lab is None:
            lab = EdgeLabelItem(text, edge.midpoint(), self._style)
            self._labels[(u, v)] = lab
            self._scene.addItem(lab)
        else:
            lab.set_text(text)
        edge.set_flow(True)
        edge.setVisible(True)
        self._grow_scene(lab)
        self._update_overlays()

    def _grow_scene(self, lab: QGraphicsItem) -> None:
        sr = self._scene.sceneRect()
        lr = lab.sceneBoundingRect()
        if not sr.contains(lr):  # keep long labels inside the scene and the exports
            m = self._style.title_px
            self._scene.setSceneRect(sr.united(lr.adjusted(-m, -m, m, m)))

    # ------------------------------------------------------------------ seed gradient
    def set_seed_label(self, key: Hashable | None, text: str | None) -> None:
        """Show the seed gradient of a backward walk (``"1"``, or the vector ``v`` given to
        ``backward(v)``) on the edge entering root node ``key`` (under the node when none
        enters it), as ``seed 1``. None or "" clears. Kept across :meth:`set_graph` and
        :meth:`clear_edge_labels`."""
        if self._seed_item is not None:
            self._scene.removeItem(self._seed_item)
            self._seed_item = None
        if self._seed_edge is not None:
            e = self._edges.get(self._seed_edge)
            if e is not None and self._seed_edge not in self._labels:
                e.set_flow(False)
                e.setVisible(self._edge_visible(e))
            self._seed_edge = None
        if key is None or not text:
            self._seed = None
            self._update_overlays()
            return
        self._seed = (key, text)
        if key not in self._nodes:
            return
        shown = text if text.startswith("seed") else f"seed {text}"
        self._seed_item = EdgeLabelItem(shown, self._seed_anchor(key), self._style, left=True)
        self._scene.addItem(self._seed_item)
        ins = [e for e in self._graph.in_edges(key) if e in self._edges]
        if ins:
            self._seed_edge = ins[0]
            e = self._edges[ins[0]]
            e.set_flow(True)
            e.setVisible(True)
        self._grow_scene(self._seed_item)
        self._update_overlays()

    def seed_label(self) -> str | None:
        """The seed gradient shown, as passed to :meth:`set_seed_label`."""
        return self._seed[1] if self._seed is not None else None

    def _seed_anchor(self, key: Hashable) -> QPointF:
        ins = [e for e in self._graph.in_edges(key) if e in self._edges]
        if ins:
            return self._edges[ins[0]].midpoint()
        it = self._nodes[key]
        return it.pos() + QPointF(-it.w / 2, it.h / 2 + self._style.title_px)

    def edge_label(self, u: Hashable, v: Hashable) -> str | None:
        """The text shown on edge ``u -> v``, if any."""
        lab = self._labels.get((u, v))
        return lab.text if lab is not None else None

    def edge_labels(self) -> list[tuple[Hashable, Hashable]]:
        """The edges that show a label now."""
        return list(self._labels)

    def clear_edge_labels(self) -> None:
        """Remove every edge label."""
        for u, v in list(self._labels):
            self.set_edge_label(u, v, None)

    # ------------------------------------------------------------------ selection
    @property
    def selected_key(self) -> Hashable | None:
        """The selected node, if any."""
        return self._selected

    def select(self, key: Hashable | None, emit: bool = True) -> None:
        """Select node ``key`` (None clears) and emit ``node_selected``."""
        if self._selected is not None and self._selected in self._nodes:
            self._nodes[self._selected].set_selected(False)
        previous = self._selected
        self._selected = key if key in self._nodes else None
        if self._selected is not None:
            self._nodes[self._selected].set_selected(True)
        if self._zoomed_out:
            for k in (previous, self._selected):
                if k is not None and k in self._nodes:
                    self._nodes[k].setVisible(self._node_visible(self._nodes[k]))
        if self._selected is not None and emit:
            self.node_selected.emit(str(self._selected))

    def node_at(self, view_pos: QPointF) -> Hashable | None:
        """Key of the node under a viewport position, if any."""
        sp = self.mapToScene(view_pos.toPoint())
        for it in self.items(view_pos.toPoint()):
            if isinstance(it, NodeItem) and it._rect.contains(it.mapFromScene(sp)):
                return it.key
        if self._zoomed_out:  # idle nodes are hidden: look them up by position
            x, y = sp.x(), sp.y()
            slack = 2.0 / max(self.zoom(), 1e-9)  # a couple of pixels around tiny boxes
            for k, it in self._nodes.items():
                p = it.pos()
                if abs(x - p.x()) <= it.w / 2 + slack and abs(y - p.y()) <= it.h / 2 + slack:
                    return k
        return None

    def center_on_node(self, key: Hashable) -> None:
        """Scroll so that node ``key`` is in the middle of the view."""
        self.centerOn(self._nodes[key])

    def ensure_node_visible(self, key: Hashable) -> None:
        """Scroll as little as needed to show node ``key``."""
        it = self._nodes[key]
        m = int(2 * self._style.title_px)
        self.ensureVisible(it.sceneBoundingRect(), m, m)

    # ------------------------------------------------------------------ banner
    def show_banner(self, text: str, node_key: Hashable | None = None) -> None:
        """Show an error banner over the view; ``node_key`` is marked red and scrolled to."""
        self.clear_banner()
        self._banner.setText(text)
        self._banner.show()
        self._position_banner()
        if node_key is not None and node_key in self._nodes:
            self._banner_node = node_key
            self._banner_prev_state = self._nodes[node_key].state
            self.set_node_state(node_key, "error")
            self.ensure_node_visible(node_key)

    def clear_banner(self) -> None:
        """Hide the banner and restore the node it marked."""
        self._banner.hide()
        self._banner.setText("")
        if self.viewportMargins().top():
            self.setViewportMargins(0, 0, 0, 0)
        if self._banner_node is not None and self._banner_node in self._nodes:
            it = self._nodes[self._banner_node]
            if it.state == "error":
                self.set_node_state(self._banner_node, self._banner_prev_state)
        self._banner_node = None

    def banner_text(self) -> str:
        """The banner's text ("" when hidden)."""
        return self._banner.text() if not self._banner.isHidden() else ""

    def _position_banner(self) -> None:
        """Put the banner above the viewport, in a top margin, so that it hides no node."""
        m = 8
        w = max(100, self.width() - 2 * m)
        self._banner.setFixedWidth(w)
        b = self._banner
        b.ensurePolished()  # the stylesheet's font size applies from here on
        pv, ph = getattr(self, "_banner_pad", (8, 16))
        text_rect = QFontMetrics(b.font()).boundingRect(
            0, 0, w - 2 * ph - 4, 10_000, int(Qt.TextFlag.TextWordWrap), b.text())
        b.setFixedHeight(text_rect.height() + 2 * pv + 6)
        self._banner.move(m, m)
        top = self._banner.height() + 2 * m
        if self.viewportMargins().top() != top:
            self.setViewportMargins(0, top, 0, 0)

    # ------------------------------------------------------------------ zoom
    def zoom(self) -> float:
        """The current scale (1 = one scene unit per pixel)."""
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        """Zoom by ``factor`` around the anchor (the mouse for the wheel, else the centre)."""
        cur = self.zoom()
        target = max(self.MIN_SCALE, min(self.MAX_SCALE, cur * factor))
        if cur > 0 and target != cur:
            self.scale(target / cur, target / cur)
            self._fitted = False
            self._update_cache_mode()
            self._update_overlays()

    def zoom_in(self) -> None:
        """Zoom in one step around the view's centre."""
        self._zoom_centered(self.ZOOM_STEP)

    def zoom_out(self) -> None:
        """Zoom out one step around the view's centre."""
        self._zoom_centered(1 / self.ZOOM_STEP)

    def _zoom_centered(self, factor: float) -> None:
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.zoom_by(factor)
        self.setTransformationAnchor(anchor)

    def body_px(self) -> float:
        """The size of the window's body text in pixels (the view's font, which follows the
        window's font scale; at least 10 pt times the theme's font scale)."""
        f = self.font()
        px = f.pixelSize() if f.pixelSize() > 0 else f.pointSizeF() * self.logicalDpiY() / 72
        return max(float(px), 10.0 * _PX_PER_PT * self._theme.font_scale)

    def readable_scale(self) -> float:
        """The smallest zoom at which a node's text (its monospace value lines, the smallest
        of it) is as large as the body text: :meth:`fit` never goes below it."""
        smallest = min(self._style.title_px, float(self._style.mono_font.pixelSize()))
        return min(self.MAX_FIT_SCALE, self.body_px() / max(smallest, 1.0))

    def fit(self, whole: bool = False) -> None:
        """Fit the graph in the view (never magnified beyond ``MAX_FIT_SCALE``) without
        shrinking node text below the body text (:meth:`readable_scale`): a graph too big for
        that is centred on the current node (else the selection, else the root) and the
        overview minimap appears. ``whole=True`` shows everything, however small."""
        if not self._nodes:
            self.resetTransform()
            self._fitted = True
            self._update_overlays()
            return
        m = 1.5 * self._style.title_px
        r = self._bounds.adjusted(-m, -m, m, m)
        vp = self.viewport().rect()
        if vp.width() < 2 or vp.height() < 2:
            return
        self._update_overlays()  # the legend's strip at the bottom is kept free
        leg = self._legend.height() + 8 if not self._legend.isHidden() else 0
        s = min(vp.width() / r.width(), (vp.height() - leg) / r.height(), self.MAX_FIT_SCALE)
        if not whole:
            s = max(s, self.readable_scale())
        s = max(s, self.MIN_SCALE)
        self.resetTransform()
        self.scale(s, s)
        self.centerOn(r.center() + QPointF(0, leg / (2 * s)))
        focus = self._focus_key()
        if focus is not None and not self._whole_visible():
            # centre on the focus along the axes the graph (with its labels) overflows
            ex = self.export_rect()
            c, it = ex.center(), self._nodes[focus]
            n = it.scenePos()
            half, m = vp.width() / (2 * s), self._style.glow * 2
            if ex.width() * s <= vp.width():
                x = c.x()
            else:  # the node's left edge in view, then as much of its right-side labels
                x = max(min(n.x() - it.w / 2 - m + half, ex.right() - half),
                        n.x() + it.w / 2 + m - half)
            y = c.y() if ex.height() * s <= vp.height() - leg else n.y()
            self.centerOn(QPointF(x, y + leg / (2 * s)))
        self._fitted = True
        self._update_cache_mode()
        self._update_overlays()

    def _focus_key(self) -> Hashable | None:
        """The node a view too small for the graph shows: current, error, selected, root."""
        for st in ("current", "error"):
            k = next((k for k, it in self._nodes.items() if it.state == st), None)
            if k is not None:
                return k
        if self._selected is not None:
            return self._selected
        outs = [k for k, it in self._nodes.items() if it.kind == "output"]
        if outs:
            return max(outs, key=lambda k: self._nodes[k].pos().y())
        return None

    def _whole_visible(self) -> bool:
        """Whether the whole drawing is inside the viewport."""
        if not self._nodes:
            return True
        vis = self.mapToScene(self.viewport().rect()).boundingRect()
        return vis.adjusted(-1, -1, 1, 1).contains(self._bounds)

    def minimap_visible(self) -> bool:
        """Whether the overview minimap is shown (the graph does not fit the view)."""
        return not self._minimap.isHidden()

    def legend_visible(self) -> bool:
        """Whether the arrows-vs-gradients legend is shown."""
        return not self._legend.isHidden()

    def _update_overlays(self) -> None:
        """Place and show the minimap (bottom right, when the graph does not fit) and the
        legend (bottom left, while gradient labels are shown)."""
        vp = self.viewport().rect()
        mm = self._minimap
        want = (self.minimap_enabled and bool(self._nodes) and not self._whole_visible()
                and vp.width() > 120 and vp.height() > 100)
        if want and not self._bounds.isEmpty():
            side = max(90.0, min(vp.width() * 0.26, vp.height() * 0.34, 360.0))
            b = self._bounds
            if b.width() >= b.height():
                w, h = side, max(40.0, side * b.height() / b.width())
            else:
                w, h = max(40.0, side * b.width() / b.height()), side
            w, h = int(w) + 8, int(h) + 8
            if mm.width() != w or mm.height() != h:
                mm.resize(w, h)
                mm.invalidate()
            mm.move(vp.width() - w - 8, vp.height() - h - 8)
            mm.show()
            mm.raise_()
            mm.update()
        else:
            mm.hide()
        lg = self._legend
        want_legend = self.legend_enabled and bool(self._labels or self._seed_item)
        room = vp.width() - 24 - (mm.width() + 8 if not mm.isHidden() else 0)
        shown = False
        if want_legend:
            # one line if it fits, else two short lines; hidden rather than covering the graph
            for text in (LEGEND_TEXT, LEGEND_SHORT):
                lg.setText(text)
                lg.adjustSize()
                if lg.width() <= min(room, 0.7 * vp.width()) and lg.height() <= 0.2 * vp.height():
                    shown = True
                    break
        if shown:
            lg.move(8, vp.height() - lg.height() - 8)
            lg.show()
            lg.raise_()
        else:
            lg.hide()

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 - Qt API
        super().scrollContentsBy(dx, dy)
        if not self._minimap.isHidden():
            self._minimap.update()

    def _update_cache_mode(self, force: bool = False) -> None:
        """Cache node pixmaps (DeviceCoordinateCache) only when zoomed in enough to draw text:
        zoomed out, boxes are cheaper to paint than their caches are to fill."""
        cached = self._style.title_px * self.zoom() >= _TEXT_MIN_PX
        if cached == self._cached and not force:
            return
        self._cached = cached
        self._zoomed_out = not cached
        mode = (QGraphicsItem.CacheMode.DeviceCoordinateCache if cached
                else QGraphicsItem.CacheMode.NoCache)
        for it in self._nodes.values():
            it.setCacheMode(mode)
            it.setVisible(self._node_visible(it))
        for e in self._edges.values():
            e.setVisible(self._edge_visible(e))
        for tile in self._overview:
            tile.setVisible(self._zoomed_out)

    # ------------------------------------------------------------------ theme
    @property
    def theme(self) -> Theme:
        """The palette in use."""
        return self._theme

    def set_theme(self, theme: Theme | str) -> None:
        """Switch palette (a Theme or a name: light, dark, high-contrast); keeps the font scale."""
        t = get_theme(theme) if isinstance(theme, str) else theme
        if isinstance(theme, str):
            t = t.scaled(self._theme.font_scale)
        self._restyle(t)

    def set_font_scale(self, scale: float) -> None:
        """Scale every font (and so every box); the layout is redone, seeded as before."""
        self._restyle(self._theme.scaled(scale))

    def _restyle(self, theme: Theme) -> None:
        self._theme = theme
        self._style = _Style(theme)
        self._apply_theme_to_widgets()
        if self._nodes:
            self.set_graph(self._graph)

    def _apply_theme_to_widgets(self) -> None:
        t = self._theme
        self.setBackgroundBrush(QColor(t.background))
        pal = self.palette()
        pal.setColor(self.backgroundRole(), QColor(t.background))
        self.setPalette(pal)
        self.setAutoFillBackground(True)  # behind the banner's margin too
        px = round(t.title_pt * _PX_PER_PT * t.font_scale)
        self._banner_pad = (px // 2, px)
        lpx = max(10, round(self.body_px() * 0.8))
        self._legend.setStyleSheet(
            f"QLabel {{ background: {_color(t.background, 0.88).name(QColor.NameFormat.HexArgb)};"
            f" color: {t.text}; border: 1px solid {t.edge_flow}; border-radius: 4px; "
            f"font-size: {lpx}px; padding: 3px 6px; }}")
        self._minimap.invalidate()
        self._banner.setStyleSheet(
            f"QLabel {{ background: {t.banner_bg}; color: {t.banner_text}; "
            f"font-size: {px}px; font-weight: bold; padding: {px // 2}px {px}px; "
            f"border-radius: {px // 3}px; }}")

    # ------------------------------------------------------------------ export
    def export_rect(self) -> QRectF:
        """The part of the scene an export shows: every node, edge and label, with a margin
        (labels to the right of the rightmost edges included)."""
        r = QRectF(self._bounds)
        for lab in (*self._labels.values(), *([self._seed_item] if self._seed_item else [])):
            r = r.united(lab.sceneBoundingRect())
        m = 1.2 * self._style.title_px
        return r.adjusted(-m, -m, m, m) if not r.isEmpty() else QRectF(0, 0, 100, 100)

    def render_image(self, scale: float = 2.0, max_side: int = 16000) -> QImage:
        """The whole drawing rendered into an image, ``scale`` pixels per scene unit."""
        src = self.export_rect()
        s = scale
        longest = max(src.width(), src.height(), 1.0)
        if longest * s > max_side:
            s = max_side / longest
        size = QSize(max(1, math.ceil(src.width() * s)), max(1, math.ceil(src.height() * s)))
        img = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(QColor(self._theme.background))
        p = QPainter(img)
        p.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                         | QPainter.RenderHint.SmoothPixmapTransform)
        self._render_scene(p, QRectF(0, 0, size.width(), size.height()), src)
        p.end()
        return img

    def _render_scene(self, p: QPainter, target: QRectF, src: QRectF) -> None:
        caches = self._without_cache()
        try:
            self._scene.render(p, target, src, Qt.AspectRatioMode.KeepAspectRatio)
        finally:
            for it, mode in caches:
                it.setCacheMode(mode)

    def render_frame(self, width: int = 1920, caption: str | None = None,
                     height: int | None = None, max_zoom: float = 4.0) -> QImage:
        """A slide-sized picture of the graph, ``width`` pixels wide: ``caption`` (e.g.
        :func:`walkthrough_caption`) in a bar on top, the legend under the graph while
        gradients are shown. ``height`` None: 16:9 with a caption (walk-through frames all
        of one size), else as tall as the graph needs (at most 16000 px)."""
        t = self._theme
        width = max(200, int(width))
        pad = round(width * 0.02)
        cap_h = round(width * 0.045) if caption else 0
        legend = self.legend_enabled and bool(self._labels or self._seed_item)
        leg_h = round(width * 0.03) if legend else 0
        src = self.export_rect()
        k = min((width - 2 * pad) / max(src.width(), 1.0), max_zoom)
        if height is None:
            if caption:
                height = round(width * 9 / 16)
            else:
                height = min(16000, math.ceil(src.height() * k) + 2 * pad + leg_h)
        height = max(100, int(height))
        img = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(QColor(t.background))
        p = QPainter(img)
        p.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                         | QPainter.RenderHint.SmoothPixmapTransform)
        area = QRectF(pad, cap_h + pad, width - 2 * pad, height - cap_h - leg_h - 2 * pad)
        k = min(area.width() / max(src.width(), 1.0), area.height() / max(src.height(), 1.0),
                max_zoom)
        tw, th = src.width() * k, src.height() * k
        target = QRectF(area.center().x() - tw / 2, area.center().y() - th / 2, tw, th)
        self._render_scene(p, target, src)
        if caption:
            p.fillRect(QRectF(0, 0, width, cap_h), QColor(t.banner_bg if t.name ==
                                                           "high-contrast" else t.grad_fn))
            f = QFont(t.font_family)
            f.setPixelSize(max(8, round(cap_h * 0.5)))
            f.setBold(True)
            p.setFont(f)
            p.setPen(QColor(t.banner_text if t.name == "high-contrast" else t.text))
            p.drawText(QRectF(pad, 0, width - 2 * pad, cap_h),
                       int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), caption)
        if legend:
            f = QFont(t.font_family)
            f.setPixelSize(max(8, round(leg_h * 0.55)))
            p.setFont(f)
            p.setPen(QColor(t.text_muted))
            p.drawText(QRectF(pad, height - leg_h - pad / 2, width - 2 * pad, leg_h),
                       int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                       LEGEND_TEXT)
        p.end()
        return img

    def export_png(self, path: str, width: float = 1920, caption: str | None = None,
                   height: int | None = None, scale: float | None = None) -> bool:
        """Write the graph as a PNG for slides: ``width`` pixels wide (1920 by default),
        with ``caption`` on top (see :meth:`render_frame`). ``scale`` (or a small number as
        the second argument, as callers of the old ``export_png(path, scale)`` pass) renders
        at that many pixels per scene unit instead, at least ``1920`` px wide."""
        if scale is None and width < 50:
            scale, width = float(width), 1920
        if scale is not None:
            w = self.export_rect().width() * scale
            width = max(1920, round(w))
        return self.render_frame(int(width), caption, height).save(str(path), "PNG")

    def export_svg(self, path: str) -> bool:
        """Write the whole graph as SVG (vector text and shapes; labels to the right of the
        rightmost edges included)."""
        from PySide6.QtSvg import QSvgGenerator

        src = self.export_rect()
        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(QSize(math.ceil(src.width()), math.ceil(src.height())))
        gen.setViewBox(QRectF(0, 0, src.width(), src.height()))
        gen.setResolution(96)
        gen.setTitle("gradviz autograd graph")
        p = QPainter()
        if not p.begin(gen):
            return False
        p.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        p.fillRect(QRectF(0, 0, src.width(), src.height()), QColor(self._theme.background))
        self._style.vector = True  # the glow as rings: SVG viewers fill stacked alphas solid
        try:
            self._render_scene(p, QRectF(0, 0, src.width(), src.height()), src)
        finally:
            self._style.vector = False
            p.end()
        return True

    def _without_cache(self) -> list[tuple[QGraphicsItem, QGraphicsItem.CacheMode]]:
        out = []
        for it in list(self._nodes.values()) + list(self._labels.values()):
            out.append((it, it.cacheMode()))
            it.setCacheMode(QGraphicsItem.CacheMode.NoCache)
        return out

    # ------------------------------------------------------------------ events
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        dy = event.angleDelta().y()
        if dy:
            self.zoom_by(math.pow(1.0015, dy))
            event.accept()
        else:
            super().wheelEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_in()
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom_out()
        elif key in (Qt.Key.Key_0, Qt.Key.Key_Home):
            self.fit(whole=bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
        elif key == Qt.Key.Key_ParenRight:  # Shift+0 on a US keyboard
            self.fit(whole=True)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        super().mouseReleaseEvent(event)
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            return
        moved = (event.position() - self._press).manhattanLength()
        self._press = None
        if moved <= QApplication.startDragDistance():
            key = self.node_at(event.position())
            if key is not None:
                self.select(key)
            else:
                self.select(None)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        # the transform may have been set directly (scale(), setTransform()): catch up with it
        self._update_cache_mode()
        super().paintEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.ToolTip:
            key = self.node_at(QPointF(event.pos()))
            text = self.tooltip_text(key) if key is not None else ""
            if text:
                QToolTip.showText(event.globalPos(), text, self.viewport())
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)

    def tooltip_text(self, key: Hashable) -> str:
        """Hover text of node ``key``: its ``detail`` attribute, else its label."""
        it = self._nodes[key]
        return it.detail or it.label

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if not self._banner.isHidden():
            self._position_banner()
        if self._fitted and self._nodes:
            self.fit()
        self._update_overlays()

    # ------------------------------------------------------------------ misc
    def keys(self) -> Iterable[Hashable]:
        """Keys of the nodes shown."""
        return self._nodes.keys()
