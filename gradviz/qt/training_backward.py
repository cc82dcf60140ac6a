"""The training panel's one iteration's backward, node by node, and what the graph view shows.

"Into backward" runs the next iteration's forward for the followed run in the kernel and stops
at its ``backward()``; its root becomes the kernel's root, so the window's stepper (F10 /
Shift+F10 in the graph view, Step / Step back here) walks it, and the next "Step iteration"
finishes the iteration through that walk. ``BackwardMixin`` is that part of ``TrainingPanel``
(the followed run, the stepper, the root sent to the graph view, the names of the run's
tensors)."""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from gradviz.qt.training_model import RunView, short_values

if TYPE_CHECKING:
    from gradviz.qt.stepper import KernelStepper

__all__ = ["BackwardMixin", "ROOT_EMIT_S"]

ROOT_EMIT_S = 0.5  # graph view updates while playing, at most every ...


class BackwardMixin:
    """Stepping the followed run's backward (a mixin of
    :class:`gradviz.qt.training_panel.TrainingPanel`)."""

    @property
    def stepper(self) -> Any:
        """The window's stepper when there is one (so the graph view's Step and this panel's
        Step drive the same cursor, the kernel's), else the panel's own."""
        st = self._stepper
        if st is None:
            w = self.window()
            cand = getattr(w, "stepper", None) if w is not self else None
            if cand is not None and hasattr(cand, "step") and hasattr(cand, "changed"):
                st = cand
            else:
                if self._own_stepper is None:
                    from gradviz.qt.stepper import KernelStepper  # only without a window

                    self._own_stepper = KernelStepper(self.session, self)
                st = self._own_stepper
        if id(st) not in self._connected_steppers:
            self._connected_steppers.add(id(st))
            st.changed.connect(self._on_stepper_changed)
        return st

    def set_stepper(self, stepper: KernelStepper) -> None:
        """Use ``stepper`` (the main window's) for stepping an iteration's backward."""
        self._stepper = stepper

    @property
    def followed(self) -> str:
        """"zeroed" or "unzeroed": the run the graph view follows."""
        return self.follow_combo.currentData()

    def follow(self, which: str) -> None:
        idx = self.follow_combo.findData(which)
        if idx >= 0:
            self.follow_combo.setCurrentIndex(idx)

    def followed_run(self) -> RunView | None:
        return self.pair.run(self.followed) if self.pair is not None else None

    def into_backward(self) -> Any:
        """Run the followed run's next forward in the kernel and stop at its backward(): the
        root becomes the kernel's root, so the window's stepper (F10) walks it. Returns the
        root (a TensorView; None when there is nothing to step)."""
        self.pause()
        self._ensure_fresh()
        if self.pair is None:
            return None
        self._wait_play_end()
        reply = self._call("training_into", which=self.followed)
        root = None
        if reply and reply.get("root") is not None and self.session.root_id == reply["root"]:
            root = self.session.world.tensor(reply["root"])
            self._emit_root(force=True, root=root)
            self.stepper.changed.emit()
        self._refresh(force=True)
        self._update_backward_label()
        self.state_changed.emit()
        return root

    def backward_step(self) -> Any:
        """One backward node of the paused iteration (entering it first if needed)."""
        run = self._pending_run()
        if run is None:
            if self.into_backward() is None:
                return None
            run = self._pending_run()
        if run is None or self.session.root_id != run.root:
            return None
        s = self.stepper.step()
        self._update_backward_label()
        return s

    def backward_step_back(self) -> Any:
        """Undo one backward node of the paused iteration."""
        run = self._pending_run()
        if run is None or self.session.root_id != run.root:
            return None
        s = self.stepper.step_back()
        self._update_backward_label()
        return s

    def _pending_run(self) -> RunView | None:
        pair = self.pair
        if pair is None:
            return None
        return next((r for r in pair.runs if r.state == "in_backward"), None)

    def _on_stepper_changed(self) -> None:
        if self._pending_run() is not None:
            self._update_backward_label()

    def _walk(self, run: RunView) -> Any:
        """The kernel's backward walk when it walks ``run``'s paused iteration."""
        c = self.session.cursor
        return c if c is not None and c.root_id == run.root else None

    def _update_backward_label(self) -> None:
        run = self._pending_run()
        if run is None:
            self.backward_label.hide()
            self._update_buttons()
            return
        c = self._walk(run)
        k = run.count + 1
        head = (f"<b>Iteration {k}</b> of the run <i>{html.escape(run.label)}</i> is paused "
                "at <code>backward()</code>.")
        if c is None or c.position == 0:
            body = ("Step ▸ runs one backward node (F10 in the graph view); Step iteration "
                    "finishes the iteration.")
        else:
            s = c.current
            body = f"Step {c.position}: <b>{html.escape(s.name)}</b>"
            if s.is_accumulate:
                names = {**self.session.names(), **run.names()}
                name = names.get(s.variable.id, "the leaf")
                before = s.grad_before
                after = s.grad_after
                body += (f" — <code>{html.escape(name)}.grad</code> "
                         f"{html.escape(short_values(before) if before is not None else 'None')}"
                         f" <b>+=</b> {html.escape(short_values(s.grad_outputs[0]))} → "
                         f"<b>{html.escape(short_values(after))}</b>")
                if before is not None and np.any(before.numpy() != 0):
                    body += (f" <span style='color:{self.colours.error}'><b>(lands on a grad "
                             "that was not "
                             "zeroed)</b></span>")
            if c.at_end:
                body += "<br>Backward done: Step iteration finishes the iteration."
            if c.error is not None:
                body += (f"<br><span style='color:{self.colours.error}'>"
                         f"{html.escape(str(c.error))}</span>")
        self.backward_label.setText(head + "<br>" + body)
        self.backward_label.show()
        self._update_buttons()

    def _on_follow_changed(self, *_: Any) -> None:
        self._arrange_plots()
        self._update_boundaries(force=True)
        if self.pair is not None:
            if self._play_token is not None and not self._frame_mode:
                self.kernel.command_side("training_follow", token=self._play_token,
                                         which=self.followed)
            elif self._busy_token is None and self._kernel_ok():
                self.kernel.command_sync("training_follow", which=self.followed)
        self._emit_root(force=True)
        self._update_status()

    def current_root(self) -> Any:
        """The followed run's current root as the kernel last sent it (a TensorView)."""
        return self._root_view

    def _emit_root(self, force: bool = False, root: Any = None) -> None:
        if root is None:
            root = self.current_root()
        if root is None:
            return
        now = time.perf_counter()
        if not force and now - self._last_root_emit < ROOT_EMIT_S:
            return
        if root is self._emitted_root and not force:
            return
        self._last_root_emit = now
        self._emitted_root = root
        self.iteration_root.emit(root)

    def names(self) -> dict[int, str]:
        """Kernel tensor id -> name in the followed run (the graph view labels with it)."""
        run = self.followed_run()
        return run.names() if run is not None else {}
