"""Module boxes of the graph view: a labelled frame per ``nn.Module`` (nested modules nest),
collapsing a module into one node and expanding it, the context menu's items, and the state a
collapsed module shows for its members. Mixed into :class:`gradviz.qt.graph_view.GraphView`
(it uses the view's scene, layout, node items and ``set_graph``)."""

from __future__ import annotations

from collections.abc import Callable, Hashable

import networkx as nx
from PySide6.QtCore import QPointF, QRectF

from gradviz.graph import MODULE_PREFIX
from gradviz.qt.graph_items import ModuleBoxItem

__all__ = ["ModuleGroupsMixin"]


class ModuleGroupsMixin:
    """Boxes, collapse and expand for a GraphView."""

    def _place_boxes(self) -> QRectF:
        """A labelled frame per expanded module, where the layout put it; returns the area
        they cover."""
        for box in self._boxes.values():
            self._scene.removeItem(box)
        self._boxes = {}
        out = QRectF()
        for name, (x, y, w, h) in self._layout.boxes.items():
            box = ModuleBoxItem(name, QRectF(x, y, w, h), name.count("."), self._style)
            self._boxes[name] = box
            self._scene.addItem(box)
            out = out.united(box.rect)
        return out

    def module_boxes(self) -> dict[str, QRectF]:
        """The module boxes drawn, by qualified name, in scene coordinates."""
        return {k: QRectF(b.rect) for k, b in self._boxes.items()}

    def collapsed_modules(self) -> set[str]:
        """The modules drawn as one node."""
        return set(self._collapsed)

    def collapse_module(self, name: str) -> None:
        """Draw module ``name`` as one node (key ``m:<name>``) with its in and out edges."""
        if name not in self._collapsed:
            self._collapsed.add(name)
            self.set_graph(self._graph)

    def expand_module(self, name: str) -> None:
        """Draw module ``name``'s nodes again (in their box)."""
        drop = {m for m in self._collapsed if m == name or m.startswith(name + ".")}
        if drop:
            self._collapsed -= drop
            self.set_graph(self._graph)

    def shown_graph(self) -> nx.DiGraph:
        """The graph drawn: :attr:`graph` with collapsed modules as single nodes."""
        return self._shown

    def module_at(self, view_pos: QPointF, header_only: bool = False) -> str | None:
        """The innermost module box under a viewport position (its header only, if asked)."""
        sp = self.mapToScene(view_pos.toPoint())
        best: ModuleBoxItem | None = None
        for b in self._boxes.values():
            r = b.header_rect() if header_only else b.rect
            if r.contains(sp) and (best is None or b.depth > best.depth):
                best = b
        return best.name if best is not None else None

    def _module_state(self, mk: Hashable) -> str:
        """A collapsed module's state: error or current if a member is, done once all are."""
        kinds = self._graph.nodes
        members = [k for k, m in self._hidden.items() if m == mk
                   and kinds[k].get("kind") in ("grad_fn", "accumulate")]
        states = {self._member_states.get(k, "idle") for k in members}
        for st in ("error", "current"):
            if st in states:
                return st
        return "done" if states == {"done"} else "idle"

    def module_actions(self, view_pos: QPointF) -> list[tuple[str, Callable[[], None]]]:
        """The context menu's module items at a viewport position: Expand a collapsed module,
        Collapse the module of the node or box there (and each enclosing one)."""
        key = self.node_at(view_pos)
        out: list[tuple[str, Callable[[], None]]] = []
        if key is not None and str(key).startswith(MODULE_PREFIX):
            name = str(key)[len(MODULE_PREFIX):]
            out.append((f"Expand {name}", lambda: self.expand_module(name)))
        else:
            mod = self._shown.nodes[key].get("module") if key is not None else None
            mod = mod or self.module_at(view_pos)
            while mod:
                out.append((f"Collapse {mod}", lambda m=mod: self.collapse_module(m)))
                mod = mod.rsplit(".", 1)[0] if "." in mod else None
        if self._collapsed:
            out.append(("Expand all modules", self.expand_all_modules))
        return out

    def expand_all_modules(self) -> None:
        """Draw every module's nodes again."""
        if self._collapsed:
            self._collapsed.clear()
            self.set_graph(self._graph)
