"""The items of the graph scene: node boxes, edges, the bundle of long edges, the zoomed-out
overview tiles and the edge labels. Each paints itself from a shared :class:`GraphStyle`."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from gradviz.qt.graph_style import (
    TEXT_MIN_PX,
    Z_CURRENT,
    Z_EDGE,
    Z_GROUP,
    Z_LABEL,
    Z_NODE,
    GraphStyle,
    blend,
    color,
)

__all__ = ["EdgeBundleItem", "EdgeItem", "EdgeLabelItem", "ModuleBoxItem", "NodeItem",
           "OverviewItem"]


class NodeItem(QGraphicsItem):
    """A rounded box: a bold title line and monospace value lines, painted by state."""

    def __init__(self, key: Hashable, kind: str, label: str, detail: str,
                 style: GraphStyle, cached: bool = True) -> None:
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
        self.setZValue(Z_CURRENT if state in ("current", "error") else Z_NODE)
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
        if st.title_px * lod < TEXT_MIN_PX:  # too small to read: a plain box
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
                p.setPen(QPen(color(st.theme.current_glow, 0.55 * (1 - i / n)), g / n))
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

    def __init__(self, u: Hashable, v: Hashable, kind: str, style: GraphStyle,
                 count: int = 1) -> None:
        super().__init__()
        self.u, self.v = u, v
        self.kind = kind
        self.count = count  # how many next_functions entries this edge stands for
        self.flow = False
        self.raised = False  # drawn above nodes, next to the current node
        self._style = style
        self.setZValue(Z_EDGE)
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
                self.setZValue(Z_EDGE + (0.5 if on else 0.0))
            self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self.geom.bounds

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        st = self._style
        geom = self.geom
        p.setBrush(Qt.BrushStyle.NoBrush)
        if st.title_px * QStyleOptionGraphicsItem.levelOfDetailFromTransform(
                p.worldTransform()) < TEXT_MIN_PX:  # zoomed out: a one-pixel line
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

    def __init__(self, style: GraphStyle) -> None:
        super().__init__()
        self._style = style
        self.setZValue(Z_EDGE - 0.5)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.lines: list[tuple[float, float, float, float]] = []
        self.saved: list[tuple[float, float, float, float]] = []
        self.arrows: list[QPolygonF] = []
        self._bounds = QRectF()
        c = blend(style.theme.edge, style.theme.background, 0.45)  # faint, but opaque
        self._pen = QPen(c, 0)
        self._pen.setCosmetic(True)
        self._saved_pen = QPen(blend(style.theme.edge_saved, style.theme.background, 0.3), 0,
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
        zoomed_out = self._style.title_px * lod < TEXT_MIN_PX
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

    def __init__(self, style: GraphStyle) -> None:
        super().__init__()
        self._style = style
        self.setZValue(Z_EDGE - 1.0)
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

    def __init__(self, text: str, anchor: QPointF, style: GraphStyle, left: bool = False) -> None:
        super().__init__()
        self._style = style
        self.left = left  # drawn to the left of the edge (the seed gradient)
        self.setZValue(Z_LABEL)
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
        if st.label_font.pixelSize() * lod < TEXT_MIN_PX:
            return
        p.setPen(st.label_text)
        p.setFont(st.label_font)
        fm = st.label_fm
        y = r.top() + 0.175 * st.label_font.pixelSize()
        for line, adv in zip(self.lines, self._adv, strict=True):
            p.drawText(QPointF(r.center().x() - adv / 2, y + fm.ascent()), line)
            y += fm.height()


class ModuleBoxItem(QGraphicsItem):
    """A labelled, rounded frame around the nodes an ``nn.Module``'s forward made (nested
    modules nest). Its header (the module's name, e.g. ``layer1.0``) collapses it on click."""

    def __init__(self, name: str, rect: QRectF, depth: int, style: GraphStyle) -> None:
        """``rect``: the whole frame in scene coordinates, the header strip included."""
        super().__init__()
        self.name = name
        self.depth = depth
        self._style = style
        self.setZValue(Z_GROUP + 0.01 * depth)  # inner boxes over outer ones, all under edges
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # the view handles clicks
        self.header_h = style.group_header
        self.rect = QRectF(rect)
        self._bounds = self.rect.adjusted(-2, -2, 2, 2)

    def header_rect(self) -> QRectF:
        """The strip with the module's name: a click there collapses the module."""
        return QRectF(self.rect.left(), self.rect.top(), self.rect.width(), self.header_h)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._bounds

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        st = self._style
        r = self.rect
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(p.worldTransform())
        p.setPen(st.group_pen)
        p.setBrush(st.group_fills[self.depth % len(st.group_fills)])
        rad = st.radius * 1.4
        p.drawRoundedRect(r, rad, rad)
        px = st.group_font.pixelSize()
        if px * lod < TEXT_MIN_PX:
            return
        p.setPen(st.group_text)
        p.setFont(st.group_font)
        p.drawText(QPointF(r.left() + 0.6 * px, r.top() + 0.15 * px + st.group_fm.ascent()),
                   self.name)
