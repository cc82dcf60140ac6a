"""torch.autograd.grad inside a cell, on a real kernel, with Pause at backward() on: it pauses
like backward(), F10 steps the nodes in torch's order, the cell gets torch's result and no
``.grad`` moves (issues 9 and 15)."""

from __future__ import annotations

import ast

import pytest
from kernel_support import Heartbeat
from PySide6.QtCore import QTimer

from gradviz.qt.main_window import MainWindow
from tests.engine.oracle import require_torch
from tests.engine.test_grad_driver import torch_walk

torch = require_torch()

SETUP = ("w = torch.tensor([0.5, -1.0, 0.2], requires_grad=True)\n"
         "b = torch.tensor(0.25, requires_grad=True)\n"
         "x = torch.tensor([1.0, 2.0, 3.0])\n"
         "loss = ((w * x).tanh() ** 2).sum() + b * 3")


@pytest.fixture
def win(qtbot, kernel, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(tmp_path))
    if not kernel.alive:
        kernel.restart()
        assert kernel.wait_for(lambda: kernel.ready, 60)
    kernel.command_sync("clear")
    w = MainWindow(kernel=kernel, restore_settings=False)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    w.set_pause_at_backward(True)
    yield w
    w.set_pause_at_backward(False)
    w.close()


def on_pause(win, drive) -> None:  # noqa: ANN001
    """Call ``drive()`` in the window's loop each time a cell pauses in a walk."""
    def on_state(m: dict) -> None:
        if m.get("paused") and m.get("seq") is None:
            QTimer.singleShot(0, drive)

    return win.kernel.state.connect(on_state)


def test_grad_in_a_cell_pauses_and_f10_steps_torchs_nodes(win) -> None:  # noqa: ANN001
    ns: dict = {"torch": torch}
    exec(SETUP, ns)
    want, want_walk = torch_walk(ns["loss"], [ns["w"], ns["b"]])
    assert win.session.run(SETUP).ok
    names: list[str] = []
    shown: list[str] = []

    def drive() -> None:
        while win.kernel.paused:  # F10 to the end of the walk
            s = win.stepper.step()
            if s is None:
                break
            names.append(s.name)
            shown.append(win.inspector.text())

    conn = on_pause(win, drive)
    beat = Heartbeat()
    res = win.session.run("gw, gb = torch.autograd.grad(loss, [w, b])\n"
                          "print((gw.tolist(), gb.tolist(), w.grad, b.grad))")
    win.kernel.state.disconnect(conn)
    assert beat.stop() < 0.5
    assert res.ok, res.error_text
    acc = "torch::autograd::AccumulateGrad"  # where torch captures a leaf's grad
    assert names == [acc if n == "captured" else n for n, _ in want_walk]
    assert len(shown) == len(names) and all(shown)  # each step shows in the inspector
    captures = [t for t, (n, _) in zip(shown, want_walk) if n == "captured"]
    assert len(captures) == 2 and all("grad() returns this for" in t and ".grad +=" not in t
                                      for t in captures)  # returned, not accumulated
    gw, gb, wgrad, bgrad = ast.literal_eval(res.output)
    assert gw == pytest.approx(want[0].tolist(), rel=1e-5)
    assert gb == pytest.approx(want[1].item(), rel=1e-6)
    assert wgrad is None and bgrad is None  # .grad untouched, as torch
    # the walk log names it; stepping back and replaying moves no .grad
    log = win.kernel.last_state["walk_log"]
    assert log[-1]["root"] == "grad(loss)" and log[-1]["done"]
    win.stepper.step_back()
    win.stepper.step()
    assert win.session.run("print(w.grad, b.grad)").output == "None None\n"


def test_create_graph_then_a_second_grad_and_torchs_error(win) -> None:  # noqa: ANN001
    pauses: list[int] = []

    def drive() -> None:  # F5 through each walk
        pauses.append(win.stepper.cursor.position)
        win.stepper.run()

    conn = on_pause(win, drive)
    code = ("g, = torch.autograd.grad((w ** 3).sum(), w, create_graph=True)\n"
            "gg, = torch.autograd.grad(g.sum(), w)\nprint((g.tolist(), gg.tolist(), w.grad))")
    try:
        assert win.session.run(SETUP).ok
        res = win.session.run(code)
        assert res.ok, res.error_text
        ns: dict = {"torch": torch}
        exec(SETUP, ns)
        exec(code.rsplit("\n", 1)[0], ns)
        g, gg, wgrad = ast.literal_eval(res.output)
        assert g == pytest.approx(ns["g"].tolist(), rel=1e-5)
        assert gg == pytest.approx(ns["gg"].tolist(), rel=1e-5)
        assert wgrad is None
        assert pauses == [0, 0]  # each grad() paused before its first node
        assert [w["root"] for w in win.kernel.last_state["walk_log"][-2:]] == \
            ["grad(SumBackward0)", "grad(SumBackward0)"]
        unused = "u = torch.ones(2, requires_grad=True)\ntorch.autograd.grad(loss, [w, u])"
        res = win.session.run(SETUP + "\n" + unused)
        with pytest.raises(RuntimeError) as want:
            exec(unused, ns)
        assert res.error_text == f"RuntimeError: {want.value}"
        assert len(pauses) == 3  # it paused too; the error comes at the walk's end, as torch's
    finally:
        win.kernel.state.disconnect(conn)
