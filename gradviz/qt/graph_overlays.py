"""A GraphView's overlays: the error banner, and where the minimap and legend sit."""

from __future__ import annotations

from collections.abc import Hashable

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QWidget

from gradviz.qt.graph_export import LEGEND_SHORT, LEGEND_TEXT


class OverlaysMixin:
    """The banner, minimap and legend over a GraphView."""

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
        spot = self._legend_spot(lg.width(), lg.height(), mm) if shown else None
        if spot is not None:
            lg.move(*spot)
            lg.show()
            lg.raise_()
        else:
            lg.hide()

    def _legend_spot(self, w: int, h: int, mm: QWidget) -> tuple[int, int] | None:
        """Where the legend goes: bottom left, else top left, else top right, the first
        corner where it covers no node; None (hidden) when every corner would cover one: a
        node's text matters more than the legend. The scene's index answers which nodes a
        corner covers (no walk over every node on each update)."""
        vp = self.viewport().rect()
        nodes = {id(it) for it in self._nodes.values()}
        for x, y in ((8, vp.height() - h - 8), (8, 8), (vp.width() - w - 8, 8)):
            r = QRect(x, y, w, h)
            if not mm.isHidden() and r.intersects(mm.geometry()):
                continue
            if not any(id(it) in nodes for it in self.scene().items(self.mapToScene(r))):
                return x, y
        return None
