"""The main window's state drawn into widgets: which actions are enabled, the root chooser,
the graph and the stepper's node states, edge labels and step counter on it, the inspector for
a selected node or tensor, and the app's state as JSON for ``--state-json``. A part of
:class:`gradviz.qt.main_window.MainWindow`."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from gradviz import graph as graph_model
from gradviz.qt.stepper import short_values
from gradviz.qt.window_kernel import banner_text
from gradviz.qt.window_parts import WindowParts

if TYPE_CHECKING:
    from gradviz.views import StepView


class WindowGraph(WindowParts):
    """MainWindow's stepping state -> graph, actions and inspector (a mixin: it uses the
    window's session, stepper, actions and panels)."""

    def update_actions(self) -> None:
        """Enable exactly the actions that make sense now (the one place this is decided)."""
        c = self.stepper.cursor
        has_root = self.stepper.root is not None
        can_forward = has_root and (c is None or (c.error is None and not c.at_end))
        self.actions["step"].setEnabled(can_forward)
        self.actions["run"].setEnabled(can_forward)
        self.actions["play"].setEnabled(can_forward or self.stepper.playing)
        self.actions["play"].setText("Pause" if self.stepper.playing else "Play")
        self.actions["step_back"].setEnabled(c is not None and c.position > 0)
        self.actions["reset"].setEnabled(c is not None and (c.position > 0 or c.error is not None))
        key = self.graph_view.selected_key
        self.actions["breakpoint"].setEnabled(graph_model.node_id_of(key) is not None)
        self.actions["save"].setEnabled(True)
        k = self.kernel
        self.actions["stop"].setEnabled(bool(k.running))
        self.actions["restart_kernel"].setEnabled(True)
        if (k.running and not k.paused) or not k.alive or self._viewing_walk:
            for n in ("step", "run", "play", "step_back", "reset"):
                self.actions[n].setEnabled(False)

    def _on_session_changed(self, what: str) -> None:
        if what == "code" and self.session.history:
            self._dirty = True  # a cell ran: the workspace holds work no file has
        if what in ("tensors", "code"):
            self._refresh_timer.start()

    def refresh_roots(self) -> None:
        """Fill the root chooser with the kernel's tensors that require grad; the kernel's
        root (the newest one, a chosen one, or the one a paused backward() walks) is current."""
        candidates = [i for i in self.session.tensors() if i.tensor.requires_grad]
        root_id = self.session.root_id
        self.root_combo.blockSignals(True)
        self.root_combo.clear()
        for info in candidates:
            self.root_combo.addItem(f"{info.name}  {tuple(info.tensor.shape)}", info.tensor.id)
        idx = next((i for i, inf in enumerate(candidates) if inf.tensor.id == root_id), -1)
        if idx < 0 and root_id is not None:
            root = self.session.world.tensor(root_id)
            self.root_combo.addItem(f"(unnamed)  {tuple(root.shape)}", root_id)
            idx = self.root_combo.count() - 1
        self.root_combo.setCurrentIndex(idx)
        self.root_combo.blockSignals(False)
        root = self.stepper.root
        scalar = root is not None and root.numel() == 1
        self.gradient_label.setVisible(root is not None and not scalar)
        self.gradient_edit.setVisible(root is not None and not scalar)

    def _on_root_chosen(self) -> None:
        rid = self.root_combo.currentData()
        if not isinstance(rid, int) or not self.session.world.has_tensor(rid):
            return
        root = self.session.world.tensor(rid)
        text = self.gradient_edit.text().strip() if root.numel() != 1 else ""
        self.stepper.set_root(root, text or None)
        err = (self.session.kernel.last_state or {}).get("reply")
        if isinstance(err, dict) and err.get("error"):
            self.statusBar().showMessage(f"gradient: {err['error']}", 8000)
        self.refresh_graph()

    def refresh_graph(self) -> None:
        """Draw the kernel's root graph as the last update described it."""
        self.refresh_roots()
        root = self.stepper.root
        if root is None:
            self.graph_view.set_graph(graph_model.build_graph([], {}))
            self._apply_stepper_state()
            return
        names = {**self.training_panel_names(), **self.session.names()}  # a training root's
        values = self.actions["show_values"].isChecked()
        g = graph_model.build_graph([root], names,
                                    show_saved=self.actions["show_saved"].isChecked(),
                                    values=values)
        self.graph_view.set_values_mode(values)
        self.graph_view.set_graph(g)
        self._apply_stepper_state()

    def _apply_stepper_state(self) -> None:
        view = self.graph_view
        keys = view.node_items()
        states = {k: st for k, st in self.stepper.node_states().items() if k in keys}
        for key in keys:  # only what changed: a step touches two or three nodes
            want = states.get(key, "idle")
            if view.node_state(key) != want:
                view.set_node_state(key, want)
        labels = {(u, v): t for (u, v), t in self.stepper.edge_labels().items()
                  if u in keys and v in keys}
        for (u, v) in [e for e in view.edge_labels() if e not in labels]:
            view.set_edge_label(u, v, None)
        for (u, v), text in labels.items():
            if view.edge_label(u, v) != text:
                view.set_edge_label(u, v, text)
        c = self.stepper.cursor
        if view.values_mode:  # micrograd-style: each op's output gradient so far
            view.set_node_grads({} if c is None else {
                graph_model.node_key(s.node.id): short_values(s.grad_outputs[0])
                for s in c.steps[:c.position]
                if not s.is_accumulate})
        root = self.stepper.root
        seed = (graph_model.tensor_key(root.id)
                if root is not None and c is not None and c.position > 0 else None)
        view.set_seed_label(seed if seed in keys else None, c.seed if c is not None else "1")
        if (c is None or c.error is None) and self.kernel.alive:
            view.clear_banner()  # (a dead kernel's sentence stays until the restart)
        if c is None:
            self.step_label.setText("")
        else:
            total = len(c.steps) if c.finished and c.error is None else None
            status = "  ✗ error" if c.error is not None else "  ✓ done" if c.at_end else ""
            self.step_label.setText(f"step {c.position}" + (f" of {total}" if total else "")
                                    + status)
        self.update_actions()

    def _on_stepped(self, step: StepView | None) -> None:
        if step is not None:
            self.inspector.show_step(step)
        self.refresh_tensor_views()

    def refresh_tensor_views(self) -> None:
        """Grads changed by stepping: the tensors table and graph labels show them."""
        if hasattr(self.tensor_panel, "refresh"):
            self.tensor_panel.refresh()
        names = self.session.names()
        names.update(self.training_panel_names())
        if graph_model.refresh_labels(self.graph_view.graph, names):
            self.graph_view.refresh()

    def _on_step_failed(self, message: str, node_id: int | None) -> None:
        key = graph_model.node_key(node_id) if node_id is not None else (
            graph_model.tensor_key(self.stepper.root.id) if self.stepper.root is not None
            else None)
        self.graph_view.show_banner(banner_text(message), key)
        self.graph_view.setToolTip(message)
        self.statusBar().showMessage(message, 15000)

    def _on_node_selected(self, key: str) -> None:
        g = getattr(self.graph_view, "graph", None)
        data = g.nodes[key] if g is not None and key in g else {}
        obj = data.get("obj")
        if hasattr(obj, "grad_fn"):
            self.inspector.show_tensor(obj, self.session.names().get(obj.id))
        elif obj is not None:
            c = self.stepper.cursor
            step = None
            if c is not None:
                step = next((s for s in c.steps[:c.position] if s.node.id == obj.id), None)
            if step is not None:
                self.inspector.show_step(step)
            else:
                self.inspector.show_node(obj)
        self.update_actions()

    def _on_tensor_selected(self, name: str) -> None:
        with contextlib.suppress(KeyError):
            self.inspector.show_tensor(self.session.get(name), name)

    def _show_training_root(self, root: Any) -> None:
        if root is not None and hasattr(root, "grad_fn"):
            g = graph_model.build_graph([root], self.training_panel_names())
            self.graph_view.set_graph(g)

    def training_panel_names(self) -> dict[int, str]:
        fn = getattr(self.training_panel, "names", None)
        return fn() if callable(fn) else {}

    def state_json(self) -> dict[str, Any]:
        """The app's state for ``--state-json``: cells, the backward walk, tensors, the error
        shown and whether the kernel lives."""
        lp = self.lesson_panel
        if lp.runner is not None and self._opened_cells:
            cells = lp.cell_statuses()
        else:
            cells = [{"status": "ok" if r.ok else "error",
                      "output": r.output + (r.value_repr + "\n" if r.value_repr else ""),
                      "error": r.error_text or None} for r in self.session.results]
        c = self.stepper.cursor
        backward = None
        if c is not None:
            cur = c.current
            backward = {"root": self.session.names().get(c.root_id) or
                        (c.root.grad_fn_name if c.root is not None else None) or "",
                        "step": c.position,
                        "total": len(c.steps) if c.finished and c.error is None else None,
                        "current": cur.name if cur is not None else None,
                        "paused_in_cell": lp.running_index if self.kernel.paused else None,
                        "done": bool(c.at_end)}
        tensors = {}
        for info in self.session.tensors():
            t = info.tensor
            data = t.numpy()
            grad = t.grad
            tensors[info.name] = {
                "shape": list(t.shape), "requires_grad": bool(t.requires_grad),
                "grad_fn": t.grad_fn_name, "data": data.tolist(),
                "grad": grad.numpy().tolist() if grad is not None else None}
        err = None
        text = self.graph_view._banner.text() if self.graph_view._banner.isVisible() else ""
        if c is not None and c.error is not None:
            err = {"message": f"{getattr(c.error, 'kernel_ename', type(c.error).__name__)}: "
                   f"{c.error}", "node": self._node_name(c.error_node_id)}
        elif self.session.last_error:
            e = self.session.last_error
            err = {"message": e["message"], "node": self._node_name(e.get("node_id"))}
        elif text:
            err = {"message": text, "node": None}
        return {"cells": cells, "backward": backward, "tensors": tensors, "error": err,
                "kernel": {"alive": bool(self.kernel.alive)}}

    def _node_name(self, node_id: int | None) -> str | None:
        if node_id is None:
            return None
        return self.session.world.node(node_id).name()
