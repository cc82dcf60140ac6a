"""Zooming and fitting a GraphView."""

from __future__ import annotations

from collections.abc import Hashable

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QGraphicsView

from gradviz.qt.graph_style import PX_PER_PT


class ZoomMixin:
    """Zoom steps, readable scale and fit of a GraphView."""

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
        return max(float(px), 10.0 * PX_PER_PT * self._theme.font_scale)

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
