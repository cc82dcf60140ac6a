"""Laying a GraphView's graph out: its items, their places, and the zoomed-out overview."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping

from PySide6.QtCore import QLineF, QRectF

from gradviz.graph import compound_layout, compute_layout
from gradviz.qt.graph_items import EdgeBundleItem, EdgeItem, NodeItem, OverviewItem


class PlacementMixin:
    """Builds and places a GraphView's items (mixed into GraphView)."""

    def _rebuild(self, previous: Mapping | None) -> None:
        self._scene.clear()
        self._seed_item = None
        self._seed_edge = None
        self._bundle = None
        self._overview = []
        self._boxes = {}
        self._nodes.clear()
        self._edges.clear()
        self._labels.clear()
        st = self._style
        g = self._shown
        cached = bool(self._cached) and not self._fitted  # fit() sets the cache mode anyway
        for k, d in g.nodes(data=True):
            item = NodeItem(k, d.get("kind", "grad_fn"), self._label_of(k, d),
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
        groups = ({k: m for k, m in self._shown.nodes(data="module") if m}
                  if self.group_modules else None)
        if groups:
            lay = compound_layout(self._shown, groups, widths=widths, heights=heights,
                                  previous=previous, node_gap=st.node_gap,
                                  layer_gap=st.layer_gap, pad=st.group_pad,
                                  header=st.group_header)
        else:
            lay = compute_layout(self._shown, widths=widths, heights=heights, previous=previous,
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
        r = r.united(self._place_boxes())
        if self._bundle is not None and bundled:
            r = r.united(self._bundle.boundingRect())
        self._bounds = r
        m = 3 * st.title_px
        self._scene.setSceneRect(r.adjusted(-m, -m, m, m))
        # the overview tiles are only drawn zoomed out: filled when first needed
        for tile in self._overview:
            self._scene.removeItem(tile)
        self._overview = []
        self._overview_bounds: QRectF | None = r
        if self._zoomed_out:
            self._ensure_overview()

    def _ensure_overview(self) -> None:
        if getattr(self, "_overview_bounds", None) is not None:
            bounds, self._overview_bounds = self._overview_bounds, None
            self._fill_overview(bounds)

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
