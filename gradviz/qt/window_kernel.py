"""The main window's kernel wiring: the kernel's signals (started, died, busy, state) drawn
into the status bar, the walk chooser and the graph's banner; Stop and Restart, the backend
switch (engine or real PyTorch), Pause at backward(), and the stepping commands that go to the
kernel. A part of :class:`gradviz.qt.main_window.MainWindow`."""

from __future__ import annotations

import sys
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from gradviz import graph as graph_model
from gradviz.formatting import clip
from gradviz.qt.window_parts import WindowParts


class WindowKernel(WindowParts):
    """MainWindow's kernel commands and the kernel's news (a mixin: it uses the window's
    kernel, session, stepper, actions and widgets)."""

    def _connect_kernel(self) -> None:
        k = self.kernel
        self._kernel_conns = [k.started.connect(self._on_kernel_started),
                              k.died.connect(self._on_kernel_died),
                              k.busy.connect(self._on_kernel_busy),
                              k.state.connect(self._on_kernel_state)]
        if getattr(k, "km", True) is None:  # a KernelClient not started yet
            self.kernel_label.setText("kernel starting…")
            QTimer.singleShot(0, k.start)
        else:
            self._on_kernel_started()

    def _on_kernel_started(self) -> None:
        self.kernel_label.setText(self._ready_text())
        if self.settings is not None and not self.settings.value("seen_hint", False):
            self.settings.setValue("seen_hint", True)  # once, on the very first launch
            self.statusBar().showMessage(
                "First time here? Press F10 to run one backward node, Shift+F10 to undo it, "
                "F5 to run to the end; F1 lists every key.", 20000)
        self._stop_count = 0
        if self.actions["pause_backward"].isChecked():
            self.kernel.command("pause", on=True)
        self.kernel.command("state")
        self.update_actions()

    def _on_kernel_died(self, sentence: str) -> None:
        msg = (f"{sentence} Your cells, editor text and layout are kept; restart the kernel "
               "(Kernel ▸ Restart kernel, Ctrl+Shift+F5) to run them again.")
        self.kernel_label.setText("kernel dead")
        self.graph_view.show_banner(msg, None)
        self.statusBar().showMessage(msg, 0)
        self._elapsed_timer.stop()
        self.update_actions()

    def _on_kernel_busy(self, busy: bool) -> None:
        self._cell_started = time.monotonic() if busy else None
        if busy:
            self._elapsed_timer.start()
        else:
            self._elapsed_timer.stop()
            self._stop_count = 0
        self._show_kernel_state()
        self.update_actions()

    def _show_kernel_state(self) -> None:
        k = self.kernel
        if not k.alive:
            self.kernel_label.setText("kernel dead")
        elif k.paused:
            self.kernel_label.setText("PAUSED in backward(): F10 steps, F5 continues")
        elif self._cell_started is not None:
            secs = time.monotonic() - self._cell_started
            self.kernel_label.setText(f"● running {secs:.1f} s  (Shift+F5 stops)")
        else:
            self.kernel_label.setText(self._ready_text() if k.ready else "kernel starting…")

    def _fill_walks(self, msg: dict) -> None:
        log = msg.get("walk_log") or []
        current = (msg.get("walk") or {}).get("id")
        self.walk_combo.blockSignals(True)
        self.walk_combo.clear()
        for w in log:
            self.walk_combo.addItem(f"walk {w['id']}: {w['root']} ({w['steps']} steps)",
                                    w["id"])
        idx = self.walk_combo.findData(current)
        self.walk_combo.setCurrentIndex(idx if idx >= 0 else self.walk_combo.count() - 1)
        self.walk_combo.blockSignals(False)
        self.walk_combo.setVisible(len(log) > 1)

    def _on_walk_chosen(self) -> None:
        wid = self.walk_combo.currentData()
        if isinstance(wid, int):
            self.session.command("select_walk", id=wid)
            self.refresh_graph()

    def _on_kernel_state(self, msg: dict) -> None:
        self.bridge.feed(msg.get("events") or [])
        self._fill_walks(msg)
        self.lesson_panel.mark_paused(bool(msg.get("paused")))
        if msg.get("paused") and msg.get("seq") is None:  # a walk starts: older news goes
            self.statusBar().clearMessage()
        if msg.get("graph_changed") or msg.get("paused") or msg.get("cell_error"):
            self._refresh_timer.start()
        elif msg.get("seq") is None:  # a command's own answer is drawn by whoever sent it
            self.refresh_tensor_views()
            self._apply_stepper_state()
        err = msg.get("cell_error")
        if err and err["message"].startswith("KeyboardInterrupt"):
            self.statusBar().showMessage("stopped: the cell was interrupted (the workspace "
                                         "keeps what it did until then)", 8000)
        elif err:
            node = err.get("node_id")
            key = graph_model.node_key(node) if node is not None else (
                graph_model.tensor_key(err["tensor_id"]) if err.get("tensor_id") is not None
                else None)
            QTimer.singleShot(40, self, lambda: self.graph_view.show_banner(
                banner_text(err["message"]), key))
            self.statusBar().showMessage(err["message"], 15000)
        self._show_kernel_state()

    def stop_kernel(self) -> None:
        """Shift+F5: interrupt; a second Stop on a cell that swallowed it offers a restart."""
        k = self.kernel
        if not k.running:
            return
        self._stop_count = getattr(self, "_stop_count", 0) + 1
        if self._stop_count >= 2:
            ans = QMessageBox.question(
                self, "gradviz", "The cell did not stop (it may catch KeyboardInterrupt). "
                "Restart the kernel? The workspace empties; your cells and text stay.")
            if ans == QMessageBox.Yes:
                self.restart_kernel()
                return
        k.interrupt()
        self.statusBar().showMessage("stopping the running cell…", 3000)

    @property
    def backend(self) -> str:
        """``"engine"`` or ``"torch"``: what the kernel runs user code on."""
        return getattr(self.kernel, "backend", "engine")

    def _ready_text(self) -> str:
        return "kernel ready" + (" · real PyTorch" if self.backend == "torch" else "")

    def _show_backend(self) -> None:
        switchable = hasattr(self.kernel, "set_backend")
        for b in ("engine", "torch"):
            a = self.actions[f"backend_{b}"]
            a.setChecked(b == self.backend)
            a.setEnabled(switchable)

    def set_backend(self, name: str, confirm: bool = True) -> bool:
        """Kernel ▸ Run on …: restart the kernel on ``name``; False (and a sentence) when
        PyTorch is missing or the user cancels. The cells and editor text stay."""
        import importlib.util

        if name == self.backend or not hasattr(self.kernel, "set_backend"):
            self._show_backend()
            return name == self.backend
        if name == "torch" and importlib.util.find_spec("torch") is None:
            self._show_backend()
            QMessageBox.information(
                self, "gradviz", "Running on real PyTorch needs it in gradviz's environment: "
                f"{sys.executable} -m pip install torch")
            return False
        if confirm and self.session.names():
            ans = QMessageBox.question(
                self, "gradviz", f"Run on {'real PyTorch' if name == 'torch' else 'the engine'}? "
                "The kernel restarts: the workspace empties; your cells and editor text stay.")
            if ans != QMessageBox.Yes:
                self._show_backend()
                return False
        self.kernel.set_backend(name)
        self._after_restart()
        self._show_backend()
        self.statusBar().showMessage(
            "code runs on real PyTorch now" if name == "torch" else
            "code runs on gradviz's engine now", 8000)
        return True

    def restart_kernel(self) -> None:
        self.kernel.restart()
        self._after_restart()

    def _after_restart(self) -> None:
        self.session.forget_kernel()
        self.session.history.clear()
        self.session.results.clear()
        self.graph_view.clear_banner()
        self.kernel_label.setText("kernel starting…")
        self.refresh_roots()
        self.refresh_graph()  # the old kernel's graph is gone with it
        self.update_actions()

    def _pause_changed(self) -> None:
        on = self.actions["pause_backward"].isChecked()
        if self.kernel.alive and self.kernel.ready:
            self.kernel.command("pause", on=on)

    def set_pause_at_backward(self, on: bool) -> None:
        """Pause at backward() on or off (the Kernel menu's toggle)."""
        self.actions["pause_backward"].setChecked(on)
        self._pause_changed()

    def step_newest_root(self, n: int | None) -> None:
        """For --step N / --backward: step the newest scalar root (or the paused walk)."""
        scalars = [i.tensor for i in self.session.tensors()
                   if i.tensor.grad_fn is not None and i.tensor.numel() == 1]
        if scalars and not self.kernel.paused:
            root = scalars[-1]
            self.stepper.set_root(root)
            self.refresh_graph()
        if n is None:
            self.stepper.run()
        else:
            for _ in range(n):
                if self.stepper.step() is None:
                    break

    def toggle_breakpoint(self) -> None:
        key = self.graph_view.selected_key
        node_id = graph_model.node_id_of(key)
        if node_id is not None:
            self.stepper.toggle_breakpoint(node_id)

    def toggle_play(self) -> None:
        if self.stepper.playing:
            self.stepper.stop()
        else:
            self.stepper.play(int(2400 / self.speed.value()))


HINTS = {
    "implicitly created only for scalar": "type a gradient vector above: backward(v) needs one",
    "backward through the graph a second time": "run the forward code again to build a new "
    "graph, or call backward(retain_graph=True) the first time",
    "modified by an inplace operation": "a tensor this node saved was changed in place after "
    "it was saved; use an out-of-place op (x = x * 2, not x.mul_(2))",
    "does not require grad and does not have a grad_fn": "nothing upstream requires grad: "
    "create the leaves with requires_grad=True",
    "Mismatch in shape": "the gradient vector must have the root's shape",
}


def banner_text(message: str, limit: int = 160) -> str:
    """torch's message for the graph banner: its first sentence (the whole text is in the
    status bar and the tooltip) and what to do about it."""
    first = message
    cut = message.find(". ", 40)
    if cut != -1 and len(message) > limit:
        first = message[:cut + 1]
    first = clip(first, limit)
    hint = next((h for k, h in HINTS.items() if k in message), None)
    return f"{first}\n→ {hint}" if hint else first
