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
collapse and expand), ``graph_placement`` (items and their places), ``graph_states`` (node
states, edge and seed labels), ``graph_overlays`` (banner, minimap and legend placement),
``graph_zoom`` (zoom and fit); this one is the scene and view: graph, selection, theme, events.

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
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
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
    gc_paused,
    source_text,
)
from gradviz.qt import guard_none_refcount
from gradviz.qt.graph_export import LEGEND_TEXT, ExportMixin, walkthrough_caption
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
from gradviz.qt.graph_overlays import OverlaysMixin
from gradviz.qt.graph_placement import PlacementMixin
from gradviz.qt.graph_states import STATES, StatesMixin
from gradviz.qt.graph_style import (
    PX_PER_PT,
    TEXT_MIN_PX,
    GraphStyle,
    color,
)
from gradviz.qt.graph_zoom import ZoomMixin
from gradviz.theme import Theme, get_theme

guard_none_refcount()

__all__ = ["LEGEND_TEXT", "STATES", "EdgeBundleItem", "EdgeItem", "EdgeLabelItem", "GraphView",
           "Minimap", "NodeItem", "OverviewItem", "walkthrough_caption"]

class GraphView(PlacementMixin, StatesMixin, OverlaysMixin, ZoomMixin, ModuleGroupsMixin,
                ExportMixin, QGraphicsView):
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
