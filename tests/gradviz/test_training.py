"""gradviz.training: zeroing found and toggled, loops run in step, series, errors (no Qt)."""

import io
import textwrap

import numpy as np
import pytest

import engine
from gradviz import training
from gradviz.session import BackwardCursor
from gradviz.training import (
    PRESETS,
    TrainingPair,
    TrainingRun,
    find_zeroing,
    split_loop,
    variant_with_zeroing,
    variant_without_zeroing,
)


def code(s: str) -> str:
    return textwrap.dedent(s).lstrip("\n")


def _has_nn_optim() -> bool:
    nn = getattr(engine, "nn", None)
    optim = getattr(engine, "optim", None)
    return all(hasattr(nn, n) for n in ("Linear", "MSELoss")) and \
        all(hasattr(optim, n) for n in ("SGD", "Adam"))


needs_nn = pytest.mark.skipif(not _has_nn_optim(), reason="engine.nn / engine.optim not there")


# ----------------------------------------------------------------------------- finding zeroing
def test_seed_preset_toggles_the_zero_line():
    sites = find_zeroing(PRESETS["seed"].code)
    assert [(s.line, s.text, s.kind) for s in sites] == [
        (7, "weights.grad.zero_()", "grad.zero_()")]
    v = variant_without_zeroing(PRESETS["seed"].code)
    assert [(t.line, t.text, t.action) for t in v.toggled] == [
        (7, "weights.grad.zero_()", "removed")]
    assert v.source.splitlines()[6] == "    pass"
    assert len(v.source.splitlines()) == len(PRESETS["seed"].code.splitlines())


@pytest.mark.parametrize("key,line,text", [
    ("regression", 10, "optimizer.zero_grad()"),
    ("mlp", 20, "optimizer.zero_grad()"),
    ("manual", 11, "w.grad = None"),
])
def test_presets_toggle_the_line_a_reader_would_name(key, line, text):
    src = PRESETS[key].code
    assert src.splitlines()[line - 1].strip() == text
    assert [(s.line, s.text) for s in find_zeroing(src)] == [(line, text)]


def test_every_kind_of_zeroing_is_found_and_nothing_else():
    src = code("""
        import engine
        w = torch.ones(3, requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.1)
        for i in range(3):
            loss = (w * 2).sum()
            w.zero_()
            loss.backward()
            print(w.grad, w.grad.sum())
            w.grad.zero_()
            w.grad.data.zero_()
            w.grad = None
            opt.zero_grad()
            opt.zero_grad(set_to_none=False)
            model.zero_grad(set_to_none=True)
            for p in [w]:
                p.grad.zero_()
            if w.grad is not None: w.grad.zero_()
            w.grad = torch.zeros_like(w)
            a = 1; w.grad = None; b = 2
    """)
    got = [(s.line, s.kind, s.text) for s in find_zeroing(src)]
    assert got == [
        (9, "grad.zero_()", "w.grad.zero_()"),
        (10, "grad.zero_()", "w.grad.data.zero_()"),
        (11, "grad = None", "w.grad = None"),
        (12, "zero_grad()", "opt.zero_grad()"),
        (13, "zero_grad(set_to_none=...)", "opt.zero_grad(set_to_none=False)"),
        (14, "zero_grad(set_to_none=...)", "model.zero_grad(set_to_none=True)"),
        (16, "grad.zero_()", "p.grad.zero_()"),
        (17, "grad.zero_()", "w.grad.zero_()"),
        (18, "grad = zeros", "w.grad = torch.zeros_like(w)"),
        (19, "grad = None", "w.grad = None"),
    ]
    v = variant_without_zeroing(src)
    lines = v.source.splitlines()
    assert lines[15] == "        pass"  # the for body stays a valid block
    assert lines[16] == "    if w.grad is not None: pass"
    assert lines[18] == "    a = 1; pass; b = 2"
    compile(v.source, "<v>", "exec")
    assert find_zeroing(v.source) == []


def test_multiline_zero_grad_keeps_line_numbers():
    src = code("""
        w = torch.ones(2, requires_grad=True)
        for i in range(2):
            (w * w).sum().backward()
            opt.zero_grad(
                set_to_none=True)
            x = 1
    """)
    v = variant_without_zeroing(src)
    assert [(t.line, t.text) for t in v.toggled] == [(4, "opt.zero_grad( set_to_none=True)")]
    assert v.source.splitlines()[3] == "    pass"
    assert v.source.splitlines()[5] == "    x = 1"
    compile(v.source, "<v>", "exec")


# ----------------------------------------------------------------------------- adding zeroing
def test_a_loop_without_zeroing_gets_it_after_backward_at_the_end_of_the_block():
    src = code("""
        weights = torch.ones(4, requires_grad=True)

        for epoch in range(3):
            model_output = (weights * 3).sum()
            model_output.backward()
            print(weights.grad)
    """)
    v = variant_with_zeroing(src)
    assert [(t.line, t.text, t.action, t.after) for t in v.toggled] == [
        (7, "weights.grad.zero_()", "added", 6)]
    assert v.source.splitlines()[6] == "    weights.grad.zero_()"
    assert v.source.splitlines()[5] == "    print(weights.grad)"


def test_a_loop_with_an_optimizer_gets_zero_grad_after_step():
    src = code("""
        model = torch.nn.Linear(1, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for epoch in range(3):
            loss = model(x).sum()
            loss.backward()
            optimizer.step()
            print(loss)
    """)
    v = variant_with_zeroing(src)
    assert [(t.line, t.text, t.after) for t in v.toggled] == [(7, "optimizer.zero_grad()", 6)]
    assert v.source.splitlines()[6] == "    optimizer.zero_grad()"
    assert v.source.splitlines()[7] == "    print(loss)"


def test_modules_and_manual_updates_get_module_zero_grad():
    src = code("""
        net = nn.Linear(2, 1)
        b = torch.zeros(1).requires_grad_()
        for i in range(3):
            loss = (net(x) + b).sum()
            loss.backward()
            with torch.no_grad():
                for p in net.parameters():
                    p -= 0.1 * p.grad
    """)
    v = variant_with_zeroing(src)
    assert [t.text for t in v.toggled] == ["net.zero_grad()", "b.grad.zero_()"]
    assert v.source.splitlines()[8:10] == ["    net.zero_grad()", "    b.grad.zero_()"]


def test_pair_note_names_the_toggled_lines():
    p = TrainingPair(PRESETS["seed"].code, iterations=3)
    assert p.as_written == "zeroed"
    assert p.note == "Without zeroing: removed line 7 `weights.grad.zero_()`."
    p2 = TrainingPair(variant_without_zeroing(PRESETS["seed"].code).source, iterations=3)
    assert p2.as_written == "unzeroed"
    assert p2.note == "With zeroing: added `weights.grad.zero_()` after line 7."


def test_split_loop_and_refusals():
    parts = split_loop("a = 1\nfor i in range(2):\n    pass\nprint(a)\n")
    assert len(parts.setup) == 1 and parts.loop.lineno == 2 and len(parts.after) == 1
    with pytest.raises(ValueError, match="no loop"):
        split_loop("x = 1\n")
    with pytest.raises(SyntaxError):
        find_zeroing("for i in range(3)\n  pass")


# ----------------------------------------------------------------------------- the seed series
def test_seed_series_unzeroed_is_3k_and_zeroed_is_3():
    n = 25
    p = TrainingPair(PRESETS["seed"].code, iterations=n).run_all()
    k = np.arange(1, n + 1)
    assert p.zeroed.count == p.unzeroed.count == n
    assert [s.label for s in p.zeroed.grad_series] == [f"weights.grad[{i}]" for i in range(4)]
    for i in range(4):
        np.testing.assert_array_equal(p.unzeroed.grad_values(i), 3.0 * k)
        np.testing.assert_array_equal(p.zeroed.grad_values(i), np.full(n, 3.0))
    np.testing.assert_array_equal(p.zeroed.x, k)
    # no loss variable: the backward root model_output is the loss; nothing steps
    np.testing.assert_array_equal(p.zeroed.loss_values(), np.full(n, 12.0))
    assert not p.zeroed.params_change and not p.unzeroed.params_change
    assert p.zeroed.state == p.unzeroed.state == "finished"


def test_large_tensors_are_recorded_by_norm():
    src = code("""
        w = torch.ones(10, requires_grad=True)
        for i in range(iterations):
            (w * 2).sum().backward()
    """)
    p = TrainingPair(src, iterations=3).run_all()
    assert [s.label for s in p.unzeroed.grad_series] == ["‖w.grad‖"]
    np.testing.assert_allclose(p.unzeroed.grad_values(0), 2 * np.sqrt(10) * np.arange(1, 4))
    np.testing.assert_allclose(p.zeroed.grad_values(0), np.full(3, 2 * np.sqrt(10)))


def test_runs_are_seeded_alike_and_keep_their_own_random_numbers():
    src = code("""
        w = torch.randn(3, requires_grad=True)
        for i in range(iterations):
            loss = (w * torch.randn(3)).sum()
            loss.backward()
            w.grad.zero_()
    """)
    engine.manual_seed(123)
    outside = engine.randn(2).tolist()
    engine.manual_seed(123)
    p = TrainingPair(src, iterations=20).start()
    p.advance(7)
    p.advance(13)
    assert engine.randn(2).tolist() == outside  # the session's random numbers untouched
    np.testing.assert_array_equal(p.zeroed.loss_values(), p.unzeroed.loss_values())
    np.testing.assert_array_equal(p.zeroed.param_values[:20], p.unzeroed.param_values[:20])


def test_learning_rate_and_iterations_are_variables():
    src = code("""
        w = torch.tensor(1.0, requires_grad=True)
        seen = []
        for i in range(iterations):
            seen.append(lr)
            loss = w * w
            loss.backward()
            with torch.no_grad():
                w -= lr * w.grad
            w.grad = None
    """)
    p = TrainingPair(src, lr=0.25, iterations=4).run_all()
    assert p.zeroed.namespace["seen"] == [0.25] * 4
    np.testing.assert_allclose(p.zeroed.param_value_series(0), [0.5, 0.25, 0.125, 0.0625])
    assert p.zeroed.params_change


def test_loop_variable_break_continue_and_code_after_the_loop():
    src = code("""
        w = torch.ones(2, requires_grad=True)
        for i, scale in enumerate([1.0, 2.0, 3.0, 4.0]):
            if i == 1:
                continue
            (w * scale).sum().backward()
            for j in range(3):
                if j == 1:
                    break
            if i == 2:
                break
            w.grad.zero_()
        print("after", i)
    """)
    p = TrainingPair(src, iterations=10).run_all()
    r = p.zeroed
    assert r.state == "finished" and r.count == 3
    assert "broke" in r.stop_reason
    assert r.namespace["i"] == 2 and r.namespace["j"] == 1
    assert "after 2" in r.output
    # iteration 2 ran no backward: its grads are read at its end (zeroed by iteration 1)
    np.testing.assert_array_equal(r.grads[:3, 0], [1.0, 0.0, 3.0])


# ----------------------------------------------------------------------------- failures
def test_an_exception_stops_that_run_only_with_torchs_message():
    src = code("""
        w = torch.ones(3, requires_grad=True)
        for i in range(iterations):
            loss = (w * w).sum()
            loss.backward()
            if w.grad[0] > 4:
                (w * w).backward()
            w.grad.zero_()
    """)
    p = TrainingPair(src, iterations=6).run_all()
    assert p.zeroed.state == "finished" and p.zeroed.count == 6
    r = p.unzeroed
    assert r.state == "error" and r.error_kind == "exception"
    assert r.error == "RuntimeError: grad can be implicitly created only for scalar outputs"
    assert r.error_line == 6 and r.error_iteration == 3 and r.count == 2


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_nan_stops_the_run():
    src = code("""
        w = torch.tensor([1.0], requires_grad=True)
        for i in range(iterations):
            loss = (w ** 2).sum()
            loss.backward()
            with torch.no_grad():
                w -= 1.5 * w.grad
            w.grad.zero_()
    """)
    p = TrainingPair(src, iterations=500).run_all()
    r = p.zeroed  # |1 - 3| = 2 per step: overflows; without zeroing it only oscillates
    assert r.state == "error" and r.error_kind == "nan"
    assert "not finite" in r.error or "loss is inf" in r.error
    assert r.count < 500 and p.unzeroed.state == "finished" and p.unzeroed.count == 500


def test_a_runaway_iteration_is_stopped_by_the_watchdog():
    src = code("""
        w = torch.ones(2, requires_grad=True)
        for i in range(iterations):
            (w * 2).sum().backward()
            while i == 1:
                pass
    """)
    p = TrainingPair(src, iterations=5, iteration_timeout=0.3).run_all()
    for r in p.runs:
        assert r.state == "error" and r.error_kind == "timeout"
        assert r.count == 1 and r.error_line in (4, 5)
        assert r.error.startswith("TimeoutError: the iteration ran longer than 0.3 s")
    # the interpreter is fine afterwards
    assert TrainingPair(PRESETS["seed"].code, iterations=2).run_all().zeroed.count == 2


def test_setup_and_syntax_errors():
    r = TrainingRun("w = torch.ones(2)\nx = 1 / 0\nfor i in range(2):\n    pass\n").start()
    assert r.state == "error" and r.error == "ZeroDivisionError: division by zero"
    assert r.error_line == 2 and r.error_iteration is None
    r = TrainingRun("for i in range(2)\n    pass\n").start()
    assert r.state == "error" and r.error.startswith("SyntaxError") and r.error_line == 1
    r = TrainingRun("x = 1\n").start()
    assert r.state == "error" and "no loop" in r.error
    p = TrainingPair("x = (\n", iterations=2).run_all()
    assert all(r.state == "error" for r in p.runs)


def test_import_torch_in_the_loop_means_the_engine():
    src = "import torch\nw = torch.ones(2, requires_grad=True)\nfor i in range(2):\n" \
          "    (w * 2).sum().backward()\n"
    p = TrainingPair(src, iterations=2).run_all()
    assert p.zeroed.namespace["torch"] is engine
    np.testing.assert_array_equal(p.unzeroed.grads[:2, 0], [2.0, 4.0])


def test_print_output_is_captured_not_shown(capsys):
    src = "for i in range(iterations):\n    print('iteration', i)\n"
    p = TrainingPair(src, iterations=3).run_all()
    assert capsys.readouterr().out == ""
    assert p.zeroed.output.splitlines() == ["iteration 0", "iteration 1", "iteration 2"]


# ----------------------------------------------------------------------------- stepping backward
def test_an_iterations_backward_steps_through_a_cursor_and_lands_on_a_nonzero_grad():
    p = TrainingPair(PRESETS["seed"].code, iterations=5).start()
    p.step()
    p.step()
    root = p.begin_iteration("unzeroed")
    r = p.unzeroed
    assert r.state == "in_backward" and r.root is root and root.item() == 12.0
    assert p.zeroed.count == 2 and r.count == 2
    w = r.namespace["weights"]
    c = BackwardCursor(root)
    steps = c.run()
    acc = [s for s in steps if s.is_accumulate]
    assert [s.name for s in steps][:2] == ["SumBackward0", "MulBackward0"]
    assert acc[0].grad_before.tolist() == [6.0] * 4 and acc[0].grad_after.tolist() == [9.0] * 4
    c.step_back()
    assert w.grad.tolist() == [6.0] * 4
    p.finish_iteration("unzeroed", c)
    assert r.state == "ready" and r.count == 3 and p.zeroed.count == 3
    np.testing.assert_array_equal(r.grads[:3, 0], [3.0, 6.0, 9.0])
    np.testing.assert_array_equal(p.zeroed.grads[:3, 0], [3.0, 3.0, 3.0])
    # without a cursor the backward runs in one go
    p.begin_iteration("zeroed")
    p.finish_iteration("zeroed")
    assert p.zeroed.count == 4 and p.unzeroed.count == 4
    np.testing.assert_array_equal(r.grads[:4, 0], [3.0, 6.0, 9.0, 12.0])


def test_backward_inside_a_try_gets_its_error_at_its_line():
    src = code("""
        w = torch.ones(3, requires_grad=True)
        caught = []
        for i in range(2):
            try:
                (w * 2).backward()
            except RuntimeError as e:
                caught.append(str(e))
    """)
    r = TrainingRun(src, limit=2).start()
    r.step()
    r.step()
    assert r.namespace["caught"] == ["grad can be implicitly created only for scalar "
                                     "outputs"] * 2


def test_advance_keeps_the_runs_in_step_and_bounded_in_time():
    p = TrainingPair(PRESETS["seed"].code, iterations=100_000).start()
    done = p.advance(1_000_000, budget_s=0.05)
    assert 0 < done < 100_000
    assert abs(p.zeroed.count - p.unzeroed.count) <= done
    p.advance(10)
    assert p.zeroed.count == p.unzeroed.count
    p.stop()
    assert not p.active and p.zeroed.stop_reason == "stopped"


def test_csv_has_every_series_of_both_runs():
    p = TrainingPair(PRESETS["seed"].code, iterations=3).run_all()
    buf = io.StringIO()
    p.write_csv(buf)
    rows = buf.getvalue().splitlines()
    head = rows[0].split(",")
    assert head[:3] == ["iteration", "loss (with zeroing)", "loss (without zeroing)"]
    assert "weights.grad[0] (without zeroing)" in head
    assert len(rows) == 4
    col = head.index("weights.grad[3] (without zeroing)")
    assert [float(r.split(",")[col]) for r in rows[1:]] == [3.0, 6.0, 9.0]


def test_names_map_tensor_ids_to_run_names():
    p = TrainingPair(PRESETS["seed"].code, iterations=2).run_all()
    names = p.unzeroed.names()
    assert names[p.unzeroed.namespace["weights"]._id] == "weights"
    assert names[p.unzeroed.root._id] == "model_output"


# ----------------------------------------------------------------------------- presets that train
def test_manual_preset_converges_only_with_zeroing():
    pr = PRESETS["manual"]
    p = TrainingPair(pr.code, lr=pr.lr, iterations=pr.iterations).run_all()
    assert (p.zeroed.loss_values()[-10:] < 1e-6).all()
    # without zeroing w swings around 2: the loss passes near 0 but never stays there
    assert (p.unzeroed.loss_values()[-10:] > 1e-3).sum() >= 8
    assert p.unzeroed.loss_values()[-10:].max() > 10
    np.testing.assert_allclose(p.zeroed.param_value_series(0)[-1], 2.0, atol=1e-4)


@needs_nn
def test_regression_preset_converges_only_with_zeroing():
    pr = PRESETS["regression"]
    p = TrainingPair(pr.code, lr=pr.lr, iterations=pr.iterations).run_all()
    z, u = p.zeroed, p.unzeroed
    assert z.state == "finished" and z.count == pr.iterations, z.error
    assert u.count == pr.iterations or u.error_kind == "nan", u.error
    assert (z.loss_values() < 1e-3).any() and z.loss_values()[-1] < 1e-3
    assert not (u.loss_values() < 1e-3).any()
    assert z.has_optimizer and z.params_change
    assert [s.label for s in z.grad_series] == ["model.weight.grad[0, 0]", "model.bias.grad[0]"]


@needs_nn
def test_mlp_preset_trains_and_the_unzeroed_grads_grow():
    pr = PRESETS["mlp"]
    p = TrainingPair(pr.code, lr=pr.lr, iterations=120).run_all()
    z, u = p.zeroed, p.unzeroed
    assert z.state == "finished", z.error
    assert z.loss_values()[-1] < z.loss_values()[0]
    assert len(z.grad_series) == 4 and z.grad_series[0].label.startswith("‖")
    assert u.grads[u.count - 1, 0] > 10 * z.grads[z.count - 1, 0]


def test_presets_are_complete():
    assert list(PRESETS) == ["seed", "regression", "mlp", "manual"]
    for pr in PRESETS.values():
        assert find_zeroing(pr.code), pr.key
        split_loop(pr.code)
        assert pr.iterations > 0 and pr.lr > 0
    assert training.preset("seed") is PRESETS["seed"]
    with pytest.raises(KeyError):
        training.preset("nope")


def test_presets_are_the_lesson_like_files_in_assets(tmp_path):
    from gradviz.training.presets import PRESETS_DIR, load_preset
    files = sorted(PRESETS_DIR.glob("*.py"))
    assert [load_preset(f).key for f in files] == list(PRESETS)
    text = files[0].read_text(encoding="utf-8")
    assert text.startswith("# ---\n# title:") and "# %%\n" in text
    seed = PRESETS["seed"]
    assert seed.title.startswith("(a) The seed lesson") and seed.iterations == 10
    assert "3, 6, 9" in seed.description and "# %%" not in seed.code
    # a new file is a new preset: front matter and cells are all it takes
    (tmp_path / "07_tiny.py").write_text(
        "# ---\n# title: Tiny\n# iterations: 3\n# lr: 0.5\n# log_loss: true\n# ---\n\n"
        "# %% [markdown]\n# Watch it.\n\n# %%\nw = torch.ones(1, requires_grad=True)\n"
        "for i in range(iterations):\n    (w * lr).sum().backward()\n")
    tiny = load_preset(tmp_path / "07_tiny.py")
    assert (tiny.key, tiny.title, tiny.iterations, tiny.lr, tiny.log_loss, tiny.description) \
        == ("tiny", "Tiny", 3, 0.5, True, "Watch it.")
    p = TrainingPair(tiny.code, lr=tiny.lr, iterations=tiny.iterations).run_all()
    assert p.unzeroed.grad_values(0).tolist() == [0.5, 1.0, 1.5]


def test_window_side_of_training_imports_no_engine():
    import subprocess
    import sys
    code = ("import sys, gradviz.training.presets, gradviz.training.table, gradviz.training; "
            "print('engine' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize("where", ["missing", "read-only"])
def test_csv_into_a_folder_that_cannot_take_it_names_the_path_and_writes_nothing(
        tmp_path, where, monkeypatch):
    import os

    from gradviz.safe_io import FileError
    folder = tmp_path / "out"
    if where == "read-only":
        folder.mkdir()
        folder.chmod(0o500)
        if os.access(folder, os.W_OK):  # root ignores permissions: ask as a user would
            real = os.access
            monkeypatch.setattr(os, "access", lambda f, m, *a, **k: False if os.fspath(f) ==
                                str(folder) and m & os.W_OK else real(f, m, *a, **k))
    target = folder / "series.csv"
    p = TrainingPair(PRESETS["seed"].code, iterations=2).run_all()
    with pytest.raises(FileError) as e:
        p.write_csv(str(target))
    msg = str(e.value)
    assert str(target) in msg and msg.count(". ") == 0 and "\n" not in msg
    assert not target.exists()
    if where == "read-only":
        assert list(folder.iterdir()) == []


def test_the_panels_model_imports_no_qt_and_no_engine():
    """gradviz.qt.training_model is the panel's Qt-free logic: checked on its imports (the
    gradviz.qt package itself imports PySide6 for a guard, so sys.modules cannot tell)."""
    import ast
    from pathlib import Path

    import gradviz
    src = Path(gradviz.__file__).parent / "qt" / "training_model.py"
    names = set()
    for node in ast.walk(ast.parse(src.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    assert not {n for n in names if n.split(".")[0] in ("PySide6", "pyqtgraph", "engine")}
    assert not {n for n in names if n.startswith("gradviz.qt")}


def test_cells_and_training_runs_share_one_watchdog_and_one_namespace_setup():
    from gradviz.session import Session, engine_namespace
    from gradviz.watchdog import Watchdog
    s = Session()
    res = s.run("x = 1\nwhile True:\n    pass", timeout=0.3)
    assert res.error_text.startswith("TimeoutError: the code ran longer than 0.3 s")
    assert s.namespace["x"] == 1
    assert s.run("y = x + 1").error is None and s.namespace["y"] == 2  # no late interrupt
    run = TrainingRun(code("""
        w = torch.ones(1, requires_grad=True)
        for i in range(3):
            while True:
                pass
        """), iteration_timeout=0.3).start()
    run.step()
    assert run.state == "error" and run.error_kind == "timeout"
    assert Watchdog.get() is Watchdog._instance  # the same thread served both
    ns = engine_namespace("__x__")
    exec("import torch\nt = torch.ones(2)", ns)
    assert ns["torch"] is engine and ns["__name__"] == "__x__"
    assert run.namespace["torch"] is engine and run.namespace["__name__"] == "__training__"
