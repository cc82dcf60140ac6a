"""The training panel over a real kernel process: the play loop runs in the kernel, streams
its series while the window's event loop keeps turning, and Pause / Stop answer at once, even
in an iteration that sleeps 10 s."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("PySide6")


from kernel_support import Heartbeat  # noqa: E402

from gradviz.qt.remote_session import RemoteSession  # noqa: E402
from gradviz.qt.training_panel import TrainingPanel  # noqa: E402


@pytest.fixture
def panel(qtbot, kernel):
    if not kernel.alive:
        kernel.restart()
        assert kernel.wait_for(lambda: kernel.ready, 60)
    session = RemoteSession(kernel)
    p = TrainingPanel(session)
    p.resize(1200, 700)
    p.show()
    yield p
    p.stop()
    kernel.wait_for(lambda: not p.kernel_playing, 5)
    for sig, slot in ((kernel.message, p._on_message), (kernel.busy, p._on_kernel_busy),
                      (kernel.started, p._on_kernel_gone), (kernel.died, p._on_kernel_gone)):
        sig.disconnect(slot)
    session.close()
    p.close()
    p.deleteLater()


def test_play_streams_from_the_kernel_and_the_window_stays_live(panel, qtbot):
    assert panel.pair is not None and panel.pair.count == 0
    panel.iterations_spin.setValue(3000)
    panel.set_speed(None)
    beat = Heartbeat()
    panel.play()
    assert panel.playing and panel.kernel_playing
    qtbot.waitUntil(lambda: not panel.kernel_playing, timeout=20000)
    assert beat.stop() < 0.5
    z, u = panel.pair.zeroed, panel.pair.unzeroed
    assert z.count == u.count == 3000
    assert u.grads[:3000, 0].tolist() == [3.0 * k for k in range(1, 3001)]
    assert (z.grads[:3000, 0] == 3.0).all()
    assert panel.messages >= 3  # batched: only new points each time
    assert "ran 3000 iterations" in panel.readout.text()
    assert panel.current_root() is not None  # the followed run's graph came along


def test_pause_answers_between_iterations(panel, qtbot):
    panel.iterations_spin.setValue(1_000_000)
    panel.set_speed(None)
    panel.play()
    qtbot.waitUntil(lambda: panel.pair.count > 50, timeout=10000)
    t0 = time.monotonic()
    panel.pause()
    assert not panel.playing
    qtbot.waitUntil(lambda: not panel.kernel_playing, timeout=2000)
    assert time.monotonic() - t0 < 1.0
    n = panel.pair.count
    qtbot.wait(200)
    assert panel.pair.count == n and panel.pair.active
    panel.step_iteration()  # the kernel takes the next command at once
    assert panel.pair.count == n + 1


def test_stop_interrupts_an_iteration_that_sleeps_10_s(panel, qtbot):
    panel.set_code("import time\nw = torch.ones(2, requires_grad=True)\n"
                   "for i in range(iterations):\n"
                   "    (w * 2).sum().backward()\n"
                   "    time.sleep(10)\n"
                   "    w.grad.zero_()\n")
    panel.set_speed(None)
    beat = Heartbeat()
    panel.play()
    qtbot.wait(600)  # inside the first iteration's sleep
    t0 = time.monotonic()
    panel.stop()
    qtbot.waitUntil(lambda: not panel.kernel_playing, timeout=3000)
    assert time.monotonic() - t0 < 1.0
    assert beat.stop() < 0.5
    assert not panel.pair.active
    assert all(r.state == "finished" and r.stop_reason == "stopped" for r in panel.pair.runs)
    assert "stopped" in panel.readout.text()
    panel.load_preset("seed")  # the kernel goes on
    panel.step_iteration()
    assert panel.pair.unzeroed.grads[:1, 0].tolist() == [3.0]


def test_into_backward_is_stepped_by_the_kernels_stepper(panel):
    panel.step_iteration()
    panel.follow("unzeroed")
    root = panel.into_backward()
    assert root is not None and panel.session.root_id == root.id
    names = [panel.backward_step().name for _ in range(3)]
    assert names == ["SumBackward0", "MulBackward0", "torch::autograd::AccumulateGrad"]
    assert "not zeroed" in panel.backward_label.text()
    panel.step_iteration()
    assert panel.pair.unzeroed.grads[:2, 0].tolist() == [3.0, 6.0]
    assert panel.pair.zeroed.grads[:2, 0].tolist() == [3.0, 3.0]


def test_the_windows_f10_steps_a_training_iteration(qtbot, kernel, tmp_path, monkeypatch):
    from gradviz.qt.main_window import MainWindow

    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(tmp_path))
    kernel.command_sync("clear")
    win = MainWindow(kernel=kernel, restore_settings=False)
    try:
        win.resize(1280, 800)
        win.show()
        p = win.training_panel
        assert p.stepper is win.stepper and p.pair is not None
        p.step_iteration()
        root = p.into_backward()
        assert root is not None and win.stepper.root.id == root.id
        qtbot.waitUntil(lambda: any(d.get("name") == "weights" for _, d in
                                    win.graph_view.graph.nodes(data=True)), timeout=3000)
        for _ in range(3):
            win.stepper.step()  # F10
        assert "Step 3" in p.backward_label.text() and "not zeroed" in p.backward_label.text()
        p.step_iteration()
        assert p.pair.unzeroed.grads[:2, 0].tolist() == [3.0, 6.0]
    finally:
        for sig, slot in ((kernel.message, win.training_panel._on_message),
                          (kernel.busy, win.training_panel._on_kernel_busy),
                          (kernel.started, win.training_panel._on_kernel_gone),
                          (kernel.died, win.training_panel._on_kernel_gone)):
            sig.disconnect(slot)
        win.close()
        win.deleteLater()
