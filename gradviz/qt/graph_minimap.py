"""The minimap: the whole graph in a corner of the view, the visible part framed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from gradviz.qt.graph_style import blend, color, margins

if TYPE_CHECKING:
    from gradviz.qt.graph_view import GraphView

__all__ = ["Minimap"]


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
        pen = QPen(blend(st.theme.edge, st.theme.background, 0.35), 0)
        pen.setCosmetic(True)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawLines([QLineF(*e.ends[0], *e.ends[1]) for e in v._edges.values()])
        box_pen = QPen(blend(st.theme.edge, st.theme.background, 0.5), 0)
        box_pen.setCosmetic(True)
        p.setPen(box_pen)
        for b in v._boxes.values():  # module boxes, faintly
            p.drawRect(b.rect)
        by_kind: dict[str, list[QRectF]] = {}
        for it in v._nodes.values():
            by_kind.setdefault(it.kind, []).append(it.sceneBoundingRect().marginsRemoved(
                margins(st.glow)))
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
        p.setBrush(color(st.theme.background, 0.92))
        p.drawRoundedRect(QRectF(self.rect()).adjusted(0.75, 0.75, -0.75, -0.75), 5, 5)
        if self._image is not None:
            p.drawImage(0, 0, self._image)
        cur = next((it for it in v._nodes.values() if it.state in ("current", "error")), None)
        if cur is not None:
            r = self.map_from_scene(cur.sceneBoundingRect())
            c = r.center()
            rad = max(4.0, min(r.width(), r.height()) / 2)
            p.setPen(QPen(st.error if cur.state == "error" else QColor(st.theme.current), 2.5))
            p.setBrush(color(st.theme.current_glow, 0.6))
            p.drawEllipse(c, rad, rad)
        vis = v.mapToScene(v.viewport().rect()).boundingRect()
        p.setPen(QPen(st.selection_pen.color(), 2.0))
        p.setBrush(color(st.theme.selection, 0.12))
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
