"""A GraphView's node states, edge labels (the gradient along an edge) and seed label."""

from __future__ import annotations

from collections.abc import Hashable

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QGraphicsItem

from gradviz.graph import MODULE_PREFIX
from gradviz.qt.graph_items import EdgeItem, EdgeLabelItem, NodeItem
from gradviz.qt.graph_style import Z_CURRENT, Z_EDGE

#: node states accepted by :meth:`GraphView.set_node_state`
STATES = ("idle", "current", "done", "breakpoint", "error")


class StatesMixin:
    """Node states, edge labels and the seed gradient label of a GraphView."""

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
