"""User code runs in a real kernel process beside the window: hostile code never freezes or
kills the window, Stop and Restart work, and backward() inside code can be stepped.

Each test asserts that the window's event loop keeps turning (a heartbeat never stalls for
more than 0.5 s) and that nothing the user typed is lost."""

from __future__ import annotations

import time

import pytest
from kernel_support import Heartbeat
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from gradviz.qt.main_window import MainWindow


@pytest.fixture
def win(qtbot, kernel, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(tmp_path))
    if not kernel.alive:
        kernel.restart()
        assert kernel.wait_for(lambda: kernel.ready, 60)
    kernel.command_sync("clear")
    kernel.command_sync("pause", on=False)
    w = MainWindow(kernel=kernel, restore_settings=False)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def run_with_stops(win, code: str, stops_at: list[float]):
    """Run ``code`` as a cell; press Stop at each time in ``stops_at`` (seconds)."""
    for t in stops_at:
        QTimer.singleShot(int(t * 1000), win.stop_kernel)
    beat = Heartbeat()
    t0 = time.monotonic()
    res = win.session.run(code)
    return res, time.monotonic() - t0, beat.stop()


def test_while_true_keeps_the_window_live_and_stop_interrupts_it(win):
    win.code_panel.set_source("while True: pass")
    res, elapsed, gap = run_with_stops(win, "while True:\n    pass", [0.8])
    assert res.error_text.startswith("KeyboardInterrupt")
    assert elapsed < 0.8 + 1.0
    assert gap < 0.5
    assert win.code_panel.source() == "while True: pass"  # nothing lost
    assert win.session.run("print(1 + 1)").output == "2\n"  # the kernel goes on


def test_stop_interrupts_time_sleep_within_a_second(win):
    res, elapsed, gap = run_with_stops(win, "import time\ntime.sleep(30)", [0.5])
    assert "KeyboardInterrupt" in res.error_text
    assert elapsed < 0.5 + 1.0 and gap < 0.5


def test_a_cell_that_swallows_stop_gets_a_restart_offer(win, monkeypatch):
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.Yes)
    code = ("import time\nwhile True:\n    try:\n        time.sleep(0.05)\n"
            "    except KeyboardInterrupt:\n        pass")
    res, elapsed, gap = run_with_stops(win, code, [0.5, 1.2])
    assert asked and "Restart the kernel?" in asked[0]
    assert "restarted" in res.error_text
    assert gap < 0.5 and elapsed < 3
    k = win.kernel
    assert k.wait_for(lambda: k.ready, 60)
    assert win.session.run("print('alive')").output == "alive\n"


@pytest.mark.parametrize(("code", "words"), [
    ("import os\nos._exit(3)", "exited with status 3"),
    ("import ctypes\nctypes.string_at(0)", "segmentation fault"),
])
def test_a_dying_kernel_leaves_the_window_and_the_cells(win, code, words):
    win.code_panel.set_source(code)
    res, _elapsed, gap = run_with_stops(win, code, [])
    assert words in res.error_text
    assert not win.kernel.alive and gap < 0.5
    assert words in win.graph_view.banner_text()
    assert "restart the kernel" in win.statusBar().currentMessage()
    assert win.code_panel.source() == code
    win.restart_kernel()
    assert win.kernel.wait_for(lambda: win.kernel.ready, 60)
    assert win.session.run("x = torch.ones(2, requires_grad=True)").ok
    assert [i.name for i in win.session.tensors()] == ["x"]


def test_a_million_printed_lines_show_head_tail_and_a_count(win):
    res, _elapsed, gap = run_with_stops(win, "for i in range(1_000_000):\n    print(i)", [])
    assert res.ok and gap < 0.5
    lines = res.output.splitlines()
    assert lines[0] == "0" and lines[-1] == "999999"
    assert any("more lines not shown" in ln for ln in lines)
    assert len(res.output) < 200_000


def test_a_runaway_allocation_is_a_memory_error_in_the_kernel(win):
    res = win.session.run("blob = bytearray(8 * 2**30)")
    assert res.error_text.startswith("MemoryError")
    assert win.kernel.alive
    assert win.session.run("print('still here')").output == "still here\n"


def test_ipython_behaviour_magics_semicolon_and_main(win):
    assert win.session.run("1 + 1").value_repr == "2"
    assert win.session.run("1 + 1;").value_repr is None
    assert win.session.run("%time y = 3").ok
    assert win.session.run("print(__name__)").output == "__main__\n"
    res = win.session.run("if __name__ == '__main__':\n    print('main ran')")
    assert res.output == "main ran\n"


def test_error_from_a_cell_shows_on_the_graph_with_its_node(win, qtbot):
    res = win.session.run("x = torch.ones(3, requires_grad=True)\nq = (x * 2).sum()\n"
                          "q.backward()\nq.backward()")
    assert "backward through the graph a second time" in res.error_text
    assert res.error_line == 4
    qtbot.waitUntil(lambda: "second time" in win.graph_view.banner_text(), timeout=3000)


def test_backward_in_a_cell_pauses_and_steps_like_the_stepper(win, qtbot):
    win.set_pause_at_backward(True)
    win.session.run("x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)\n"
                    "out = (x * x).sum()")
    done = {}

    def drive():
        k = win.kernel
        assert k.paused
        assert win.stepper.root.id == win.session.get("out").id
        assert win.stepper.step() is not None  # SumBackward0
        assert win.stepper.cursor.position == 1
        assert win.session.get("x").grad is None  # not yet accumulated
        win.stepper.run()  # F5: to the end; the cell continues
        done["ok"] = True

    def on_state(m):
        if m.get("paused") and "started" not in done:
            done["started"] = True
            QTimer.singleShot(0, drive)

    win.kernel.state.connect(on_state)
    beat = Heartbeat()
    res = win.session.run("out.backward()\nprint(x.grad)")
    assert beat.stop() < 0.5
    assert done.get("ok") and res.ok
    assert res.output == "tensor([2., 4., 6.])\n"
    c = win.stepper.cursor
    assert c is not None and c.at_end
    assert [s.name for s in c.steps] == ["SumBackward0", "MulBackward0",
                                         "torch::autograd::AccumulateGrad"]
    # the walk can be replayed afterwards: step back restores the grads as they were
    win.stepper.step_back()
    assert win.session.get("x").grad is None
    win.stepper.step()
    assert win.session.get("x").grad.tolist() == [2.0, 4.0, 6.0]


def _torch_outputs(cells) -> list[str]:
    """Each code cell's printed text and final value as real torch (and IPython) show them."""
    import ast
    import contextlib
    import io

    torch = pytest.importorskip("torch")
    ns: dict = {"torch": torch, "__name__": "__main__"}
    out = []
    for c in cells:
        if c.kind != "code":
            continue
        buf = io.StringIO()
        tree = ast.parse(c.source)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        with contextlib.redirect_stdout(buf):
            try:
                exec(compile(tree, "<cell>", "exec"), ns)
                if last is not None:
                    v = eval(compile(ast.Expression(last.value), "<cell>", "eval"), ns)
                    if v is not None:
                        print(repr(v))
            except Exception as e:  # noqa: BLE001 - the lesson's expected errors
                print(f"{type(e).__name__}: {str(e).splitlines()[0]}")
        out.append(buf.getvalue())
    return out


@pytest.mark.torch
@pytest.mark.parametrize("lesson", ["02", "03", "08"])
def test_lessons_stepped_through_every_backward_print_torchs_numbers(win, lesson):
    from gradviz.lessons import list_lessons

    info = next(i for i in list_lessons() if i.path.name.startswith(lesson))
    expected = _torch_outputs(info.cells())
    walks = []

    def step_through():
        n = 0
        while win.kernel.paused:  # F10 until the walk ends and the cell goes on
            if win.stepper.step() is None:
                break
            n += 1
        if n:  # (a poll can see the end of a walk just stepped through: nothing to do)
            walks.append(n)

    busy = {"on": False}

    def poll():  # as a student would: whenever a cell waits in backward(), F10 through it
        if win.kernel.paused and not busy["on"]:
            busy["on"] = True
            try:
                step_through()
            finally:
                busy["on"] = False

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(30)
    beat = Heartbeat()
    try:
        win.open_path(info.path, run_all=True)
    finally:
        timer.stop()
    assert beat.stop() < 0.5
    assert win.actions["pause_backward"].isChecked()  # lessons pause by default
    assert walks  # at least one backward() was stepped node by node
    got = []
    for r in win.lesson_panel.runner.results:
        text = r.output + (r.value_repr + "\n" if r.value_repr is not None else "")
        if r.error is not None:
            text += r.error_text.splitlines()[0] + "\n"
        got.append(text)
    assert got == expected


def test_code_panel_streams_output_while_running_and_stops_from_its_button(win, qtbot):
    panel = win.code_panel
    seen = {}

    def look():
        seen["text"] = panel.output_text()
        seen["stop"] = panel.stop_button.isEnabled()
        seen["label"] = win.kernel_label.text()
        panel.stop_button.click()

    panel.set_source("import time\nprint('first', flush=True)\ntime.sleep(20)")
    QTimer.singleShot(1500, look)
    beat = Heartbeat()
    res = panel.run_current_cell()
    assert beat.stop() < 0.5
    assert "first" in seen["text"]  # shown while the cell still ran
    assert seen["stop"] and "running" in seen["label"]
    assert "KeyboardInterrupt" in res.error_text
    assert not panel.stop_button.isEnabled()
    assert panel.output_text().count("first") == 1


def test_every_backward_is_kept_and_an_earlier_one_replays(win):
    win.session.run("x = torch.tensor([1.0, 2.0], requires_grad=True)\n"
                    "(x * 3).sum().backward()\n(x * x).sum().backward()")
    log = win.kernel.last_state["walk_log"]
    assert len(log) == 2 and all(w["done"] for w in log)
    assert win.walk_combo.isVisible() and win.walk_combo.count() == 2
    assert win.session.get("x").grad.tolist() == [5.0, 7.0]  # as the code left them
    win.walk_combo.setCurrentIndex(0)
    win._on_walk_chosen()
    c = win.stepper.cursor
    assert [s.name for s in c.steps] == ["SumBackward0", "MulBackward0",
                                         "torch::autograd::AccumulateGrad"]
    win.stepper.step_back()  # undo walk 1's AccumulateGrad: x.grad as before walk 1's add
    assert win.session.get("x").grad is None
    win.stepper.step()
    assert win.session.get("x").grad.tolist() == [3.0, 3.0]
    # the next cell sees the grads the code left, not the replay's
    assert win.session.run("print(x.grad)").output == "tensor([5., 7.])\n"


def test_kernel_menu_switches_to_real_pytorch_and_back(win, qtbot, monkeypatch):
    """Kernel ▸ Run on real PyTorch: the kernel restarts on the installed torch, a backward
    pauses and steps torch's own nodes, the editor text stays; back to the engine likewise."""
    from tests.engine.oracle import require_torch
    real = require_torch()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    win.code_panel.set_source("# my notes stay")
    win.session.run("w = torch.ones(2, requires_grad=True)")
    try:
        assert win.set_backend("torch")
        assert win.actions["backend_torch"].isChecked() and win.backend == "torch"
        assert win.kernel.wait_for(lambda: win.kernel.ready, 60)
        assert not win.session.names()  # a fresh workspace, as the question said
        assert win.graph_view.graph.number_of_nodes() == 0
        assert win.code_panel.source() == "# my notes stay"
        assert "real PyTorch" in win.kernel_label.text()
        res = win.session.run("import torch\nprint(torch.__version__, torch.__file__)")
        assert res.output.split()[0] == real.__version__
        assert res.output.split()[1] == real.__file__
        win.set_pause_at_backward(True)
        names: list[str] = []
        started = []

        def drive():
            names.extend(win.stepper.step().name for _ in range(2))
            win.stepper.run()

        def on_state(m):
            if m.get("paused") and not started:
                started.append(True)
                QTimer.singleShot(0, drive)

        conn = win.kernel.state.connect(on_state)
        res = win.session.run("x = torch.tensor([1., 2.], requires_grad=True)\n"
                              "loss = (x * x).sum()\nloss.backward()\nprint(x.grad)")
        win.kernel.state.disconnect(conn)
        assert names == ["SumBackward0", "MulBackward0"]  # torch's own nodes, stepped
        assert res.ok and res.output == "tensor([2., 4.])\n"
    finally:
        win.set_pause_at_backward(False)
        assert win.set_backend("engine")
        assert win.kernel.wait_for(lambda: win.kernel.ready, 60)
    res = win.session.run("import torch\nprint(torch.__name__, type(torch.ones(1)).__module__)")
    assert "engine" in res.output


def test_a_big_graphs_reprs_come_from_the_kernel_when_shown(win):
    """Past the snapshot's repr budget (0 here, as in a 5,000-node graph) a saved tensor
    arrives with its size only; the window asks the kernel for the engine's own repr."""
    s = win.session
    s.run("import gradviz.kernel.snapshot as _snap\n_snap.EAGER_REPRS = 0")
    try:
        res = s.run("a = torch.arange(6.).reshape(2, 3).requires_grad_()\n"
                    "out = ((a * 3).exp() * a - 30).relu().sum()\n"
                    "print(repr(out.grad_fn.next_functions[0][0].saved_tensors['result']))")
        relu = s.get("out").grad_fn.next_functions[0][0]
        v = relu.saved_tensors["result"]
        assert s.world._tensors[v.id].get("lazy")
        text = repr(v)
        assert text == res.output.strip() and "[...]" not in text
    finally:
        s.run("_snap.EAGER_REPRS = 64")
