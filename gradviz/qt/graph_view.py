"""GraphView: draws an autograd graph from :func:`gradviz.graph.build_graph` for a projector.

Rounded boxes coloured by kind (torchviz's colours in the light theme), a bold title and
monospace values, curved edges with arrow heads, optional edge labels (the gradient flowing
along an edge), node states (current, done, breakpoint, error), an error banner, pan (drag),
zoom (wheel, ``+``/``-``), fit (``0``/Home), click to select, hover tooltips, level of detail
when zoomed out, and PNG/SVG export. Nodes made inside an ``nn.Module`` sit in a labelled box
per module (nested modules nest, laid out by :func:`gradviz.layout.compound_layout`); a click
on a box's header or its context menu collapses it into one node, a click on that node
expands it. In the micrograd-style view (:meth:`GraphView.set_values_mode`) every op shows its
output's data and gradient. A click on a node emits ``status_message`` with its source line.

Files: ``graph_style`` (fonts and pens from a theme), ``graph_items`` (the scene's items),
``graph_minimap``, ``graph_export`` (PNG, SVG, slide frames), ``graph_modules`` (module boxes,
collapse and expand); this one is the scene and view.

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

import networkx as nx
from PySide6.QtCore import QEvent, QLineF, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QMenu,
    QToolTip,
    QWidget,
)

from gradviz.graph import (
    MODULE_PREFIX,
    Layout,
    collapse_modules,
    compound_layout,
    compute_layout,
    gc_paused,
    source_text,
)
from gradviz.qt import guard_none_refcount
from gradviz.qt.graph_export import LEGEND_SHORT, LEGEND_TEXT, ExportMixin, walkthrough_caption
from gradviz.qt.graph_items import (
    EdgeBundleItem,
    EdgeItem,
    EdgeLabelItem,
    ModuleBoxItem,
    NodeItem,
    OverviewItem,
)
from gradviz.qt.graph_minimap import Minimap
from gradviz.qt.graph_modules import ModuleGroupsMixin
from gradviz.qt.graph_style import (
    PX_PER_PT,
    TEXT_MIN_PX,
    Z_CURRENT,
    Z_EDGE,
    GraphStyle,
    color,
)
from gradviz.theme import Theme, get_theme

guard_none_refcount()

__all__ = ["LEGEND_TEXT", "STATES", "EdgeBundleItem", "EdgeItem", "EdgeLabelItem", "GraphView",
           "Minimap", "NodeItem", "OverviewItem", "walkthrough_caption"]

#: node states accepted by :meth:`GraphView.set_node_state`
STATES = ("idle", "current", "done", "breakpoint", "error")


class GraphView(ModuleGroupsMixin, ExportMixin, QGraphicsView):
    """Interactive view of an autograd DiGraph (see :func:`gradviz.graph.build_graph`).

    Signals: ``node_selected(str)`` with the clicked node's key.
    """

    node_selected = Signal(str)
    #: a sentence for the window's status line (a clicked node's source line)
    status_message = Signal(str)

    ZOOM_STEP = 1.25
    MIN_SCALE = 0.01
    MAX_SCALE = 8.0
    MAX_FIT_SCALE = 1.5

    def __init__(self, parent: QWidget | None = None, theme: Theme | str = "light") -> None:
        super().__init__(parent)
        self._theme = get_theme(theme) if isinstance(theme, str) else theme
        self._style = GraphStyle(self._theme)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self._graph: nx.DiGraph = nx.DiGraph()
        self._shown: nx.DiGraph = self._graph  # the graph with collapsed modules as nodes
        self._collapsed: set[str] = set()
        self._boxes: dict[str, ModuleBoxItem] = {}
        self._hidden: dict[Hashable, Hashable] = {}  # node in a collapsed module -> its node
        self._member_states: dict[Hashable, str] = {}
        #: nodes grouped in labelled boxes by the nn.Module that made them
        self.group_modules = True
        #: micrograd-style: every op node shows its output's gradient (see set_node_grads)
        self.values_mode = False
        self._node_grads: dict[Hashable, str] = {}
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
        self._overview_bounds: QRectF | None = None  # set while the tiles wait to be filled
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
        states = {k: it.state for k, it in self._nodes.items() if it.state != "idle"
                  and not str(k).startswith(MODULE_PREFIX)}
        states.update((k, st) for k, st in self._member_states.items() if st != "idle")
        labels = {e: it.text for e, it in self._labels.items()}
        previous = dict(self._layout.pos) if self._nodes else None
        do_fit = self._fitted or not self._nodes if fit is None else fit
        self._graph = g
        with gc_paused():
            self._shown = collapse_modules(g, self._collapsed) if self._collapsed else g
            self._hidden = dict(self._shown.graph.get("collapsed", {}))
            self._member_states = {}
            self._rebuild(previous)
        for k, s in states.items():
            if k in self._nodes or k in self._hidden:
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
            d = self._graph.nodes[k] if k in self._graph else self._shown.nodes[k]
            label = self._label_of(k, d)
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

    def _label_of(self, key: Hashable, d: Mapping) -> str:
        """The node's label, with its gradient line in the micrograd-style view."""
        label = d.get("label", str(key))
        if self.values_mode and d.get("kind") == "grad_fn":
            label += "\ngrad " + self._node_grads.get(key, "–")
        return label

    def set_values_mode(self, on: bool) -> None:
        """Micrograd-style: each op node also shows the gradient of its output (given by
        :meth:`set_node_grads`; ``–`` until backward reaches it). Takes effect at the next
        :meth:`set_graph` or :meth:`refresh`."""
        self.values_mode = bool(on)

    def set_node_grads(self, grads: Mapping[Hashable, str]) -> None:
        """The gradient text of each op node's output so far (``[0.5, 0.5]``), shown in the
        micrograd-style view."""
        grads = dict(grads)
        if grads != self._node_grads:
            self._node_grads = grads
            if self.values_mode:
                self.refresh()

    def node_label(self, key: Hashable) -> str:
        """The text drawn in node ``key``."""
        return self._nodes[key].label

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

    # ------------------------------------------------------------------ items and states
    def node_item(self, key: Hashable) -> NodeItem:
        """The item drawing node ``key``."""
        return self._nodes[key]

    def node_items(self) -> dict[Hashable, NodeItem]:
        """All node items, by key; a node inside a collapsed module maps to that module's
        item (its state still goes through :meth:`set_node_state`)."""
        out = dict(self._nodes)
        for k, mk in self._hidden.items():
            out[k] = self._nodes[mk]
        return out

    def edge_item(self, u: Hashable, v: Hashable) -> EdgeItem:
        """The item drawing edge ``u -> v``."""
        return self._edges[(u, v)]

    def set_node_state(self, key: Hashable, state: str) -> None:
        """Set node ``key`` to idle, current, done, breakpoint or error (repaints that item)."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {STATES}")
        mk = self._hidden.get(key)
        if mk is not None:  # inside a collapsed module: the module node shows the summary
            self._member_states[key] = state
            key, state = mk, self._module_state(mk)
            if self._nodes[key].state == state:
                return
        item = self._nodes[key]
        if (state == "current") != (item.state == "current"):
            # the current node's edges are drawn over its glow (and its neighbours')
            for u, v in (*self._shown.in_edges(key), *self._shown.out_edges(key)):
                edge = self._edges.get((u, v))
                if edge is not None:
                    edge.raised = state == "current"
                    edge.setZValue(Z_CURRENT + 0.5 if edge.raised else
                                   Z_EDGE + (0.5 if edge.flow else 0.0))
        item.set_state(state)
        if self._zoomed_out:
            item.setVisible(self._node_visible(item))
        if state == "current" and key != self._last_current:
            self._last_current = key
            if self.follow_current and not self._whole_visible():
                self.ensure_node_visible(key)
        if state in ("current", "error") or self._minimap.isVisible():
            self._minimap.update()
        if state in ("current", "error") and not self._legend.isHidden():
            self._update_overlays()  # the legend moves off the current node

    def node_state(self, key: Hashable) -> str:
        """The state of node ``key``."""
        if key in self._hidden:
            return self._member_states.get(key, "idle")
        return self._nodes[key].state

    def clear_states(self) -> None:
        """Set every node back to idle."""
        for k, it in self._nodes.items():
            if it.state != "idle" and not str(k).startswith(MODULE_PREFIX):
                self.set_node_state(k, "idle")
        for k in [k for k, st in self._member_states.items() if st != "idle"]:
            self.set_node_state(k, "idle")

    def set_edge_label(self, u: Hashable, v: Hashable, text: str | None) -> None:
        """Show ``text`` next to edge ``u -> v`` and highlight the edge; None or "" clears.
        An edge hidden in a collapsed module is not drawn: nothing to label."""
        edge = self._edges.get((u, v))
        if edge is None and (u in self._hidden or v in self._hidden):
            return
        if edge is None:
            raise KeyError((u, v))
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
        ins = [e for e in self._shown.in_edges(key) if e in self._edges]
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
        ins = [e for e in self._shown.in_edges(key) if e in self._edges]
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
            src = self._shown.nodes[self._selected].get("source")
            if src:
                self.status_message.emit(f"{self._shown.nodes[self._selected].get('label', '')}"
                                         .split("\n", 1)[0] + " made at " + source_text(src))

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
        corner where it covers neither a root (output) node nor the current node; None when
        every corner would."""
        vp = self.viewport().rect()
        keep = [it for it in self._nodes.values()
                if it.kind == "output" or it.state in ("current", "error")]
        rects = [self.mapFromScene(it.sceneBoundingRect()).boundingRect() for it in keep]
        corners = [(8, vp.height() - h - 8), (8, 8), (vp.width() - w - 8, 8)]
        for x, y in corners:
            r = QRect(x, y, w, h)
            if not mm.isHidden() and r.intersects(mm.geometry()):
                continue
            if not any(r.intersects(nr) for nr in rects):
                return x, y
        return None

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 - Qt API
        super().scrollContentsBy(dx, dy)
        if not self._minimap.isHidden():
            self._minimap.update()
        if self.legend_enabled and (self._labels or self._seed_item):
            self._update_overlays()  # the legend keeps off the root and the current node

    def _update_cache_mode(self, force: bool = False) -> None:
        """Cache node pixmaps (DeviceCoordinateCache) only when zoomed in enough to draw text:
        zoomed out, boxes are cheaper to paint than their caches are to fill."""
        cached = self._style.title_px * self.zoom() >= TEXT_MIN_PX
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
        if self._zoomed_out:
            self._ensure_overview()
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
        self._style = GraphStyle(theme)
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
        px = round(t.title_pt * PX_PER_PT * t.font_scale)
        self._banner_pad = (px // 2, px)
        lpx = max(10, round(self.body_px() * 0.8))
        self._legend.setStyleSheet(
            f"QLabel {{ background: {color(t.background, 0.88).name(QColor.NameFormat.HexArgb)};"
            f" color: {t.text}; border: 1px solid {t.edge_flow}; border-radius: 4px; "
            f"font-size: {lpx}px; padding: 3px 6px; }}")
        self._minimap.invalidate()
        self._banner.setStyleSheet(
            f"QLabel {{ background: {t.banner_bg}; color: {t.banner_text}; "
            f"font-size: {px}px; font-weight: bold; padding: {px // 2}px {px}px; "
            f"border-radius: {px // 3}px; }}")

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
            if key is not None and str(key).startswith(MODULE_PREFIX):
                self.expand_module(str(key)[len(MODULE_PREFIX):])
            elif key is not None:
                self.select(key)
            elif (box := self.module_at(event.position(), header_only=True)) is not None:
                self.collapse_module(box)
            else:
                self.select(None)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802 - Qt API
        actions = self.module_actions(QPointF(event.pos()))
        if not actions:
            super().contextMenuEvent(event)
            return
        menu = QMenu(self)
        for text, fn in actions:
            menu.addAction(text, fn)
        menu.exec(event.globalPos())

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
