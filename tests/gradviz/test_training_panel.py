"""The training panel: play, pause, step, stepping an iteration's backward, errors, export.

The panel is a view of the kernel's training host; these tests use the in-process kernel
(the host runs here, frame by frame). The play loop through a real kernel process is tested in
test_training_kernel.py."""

import csv
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("PySide6")

from PySide6.QtCore import QPointF, Qt  # noqa: E402

from engine.events import id_of  # noqa: E402
from gradviz.qt.remote_session import InProcessKernel, RemoteSession  # noqa: E402
from gradviz.qt.stepper import KernelStepper  # noqa: E402
from gradviz.qt.training_panel import SPEEDS, TrainingPanel  # noqa: E402


def make_panel():
    kernel = InProcessKernel()
    return TrainingPanel(RemoteSession(kernel)), kernel


@pytest.fixture
def panel(qtbot):
    p, kernel = make_panel()
    qtbot.addWidget(p)
    p.resize(1400, 800)
    p.show()
    yield p
    p.pause()
    kernel.shutdown()


def host(p):
    """The kernel's training host (in-process: reachable for checks)."""
    return p.kernel.agent.training


def grads(p, which):
    r = p.pair.run(which)
    return r.grads[:r.count, 0].tolist()


def test_opens_on_the_seed_loop_with_the_toggled_line(panel):
    assert panel.preset_combo.count() == 4
    assert "weights.grad.zero_()" in panel.code
    assert "line 7" in panel.note_label.text()
    assert "weights.grad.zero_()" in panel.note_label.text()
    assert panel.pair.count == 0
    assert [e.cursor.blockNumber() + 1 for e in panel.editor.extraSelections()] == [7]


def test_step_runs_one_iteration_of_both(panel):
    for _ in range(3):
        panel.step_button.click()
    assert grads(panel, "zeroed") == [3.0, 3.0, 3.0]
    assert grads(panel, "unzeroed") == [3.0, 6.0, 9.0]
    text = panel.readout.text()
    assert "Iteration 3" in text and "weights.grad = 9 (all 4)" in text
    assert panel._markers["grad"].value() == 3
    curve = next(c for c in panel._curves if c.kind == "grad" and c.run_key == "unzeroed")
    x, y = curve.item.getData()
    assert x.tolist() == [1, 2, 3] and y.tolist() == [3.0, 6.0, 9.0]


def test_play_and_pause(panel, qtbot):
    panel.set_speed(60)
    panel.iterations_spin.setValue(1000)
    panel.play_button.click()
    assert panel.playing and panel.play_button.text().endswith("Pause")
    qtbot.waitUntil(lambda: panel.pair.count >= 5, timeout=5000)
    panel.play_button.click()
    assert not panel.playing and panel.play_button.text().endswith("Play")
    n = panel.pair.count
    qtbot.wait(150)
    assert panel.pair.count == n < 1000
    assert panel.pair.zeroed.count == panel.pair.unzeroed.count
    assert grads(panel, "unzeroed") == [3.0 * k for k in range(1, n + 1)]


def test_play_flat_out_finishes_and_stops_the_timer(panel, qtbot):
    panel.set_speed(None)
    assert panel.speed_label.text() == "max" and SPEEDS[panel.speed_slider.value()] is None
    panel.iterations_spin.setValue(3000)
    panel.play()
    qtbot.waitUntil(lambda: not panel.playing, timeout=15000)
    assert panel.pair.zeroed.count == panel.pair.unzeroed.count == 3000
    assert grads(panel, "unzeroed")[-1] == 9000.0
    assert "ran 3000 iterations" in panel.readout.text()
    assert not panel.step_button.isEnabled() and not panel.stop_button.isEnabled()


def test_stop_ends_a_long_run_and_the_window_answers(panel, qtbot):
    panel.set_speed(None)
    panel.iterations_spin.setValue(1_000_000)
    panel.play()
    qtbot.wait(200)
    assert panel.playing and 0 < panel.pair.count < 1_000_000
    panel.stop_button.click()
    assert not panel.playing and not panel.pair.active
    assert "stopped" in panel.readout.text()
    panel.reset_button.click()
    assert panel.pair.count == 0 and panel.pair.active


def test_a_failing_run_is_shown_and_the_other_goes_on(panel, qtbot):
    panel.set_code(
        "w = torch.ones(3, requires_grad=True)\n"
        "for i in range(iterations):\n"
        "    loss = (w * w).sum()\n"
        "    loss.backward()\n"
        "    if w.grad[0] > 4:\n"
        "        (w * w).backward()\n"
        "    w.grad.zero_()\n")
    assert "Edited" in panel.readout.text()
    panel.iterations_spin.setValue(6)
    panel.set_speed(None)
    panel.play()
    qtbot.waitUntil(lambda: not panel.playing, timeout=5000)
    z, u = panel.pair.zeroed, panel.pair.unzeroed
    assert z.count == 6 and u.state == "error"
    text = panel.readout.text()
    assert "stopped at iteration 3, line 6" in text
    assert "grad can be implicitly created only for scalar outputs" in text
    marked = {e.cursor.blockNumber() + 1: e.format.background().color().name()
              for e in panel.editor.extraSelections()}
    assert marked == {7: "#ffe08a", 6: "#ffc4c4"}


def test_a_hanging_iteration_is_stopped(panel, qtbot):
    panel.iteration_timeout = 0.3
    panel.set_code(
        "w = torch.ones(2, requires_grad=True)\n"
        "for i in range(iterations):\n"
        "    (w * 2).sum().backward()\n"
        "    while i == 2:\n"
        "        pass\n")
    panel.set_speed(None)
    panel.play()
    qtbot.waitUntil(lambda: not panel.playing, timeout=5000)
    assert all(r.error_kind == "timeout" for r in panel.pair.runs)
    assert "TimeoutError" in panel.readout.text()
    panel.load_preset("seed")  # the panel keeps working
    panel.step_iteration()
    assert grads(panel, "unzeroed") == [3.0]


def test_stepping_one_iterations_backward_shows_the_accumulation(panel, qtbot):
    roots = []
    panel.iteration_root.connect(roots.append)
    panel.step_iteration()
    panel.step_iteration()
    panel.follow("unzeroed")
    root = panel.into_backward()
    assert root is not None and roots[-1] is root
    assert panel.pair.unzeroed.state == "in_backward"
    assert panel.stepper.root.id == root.id == id_of(host(panel).pair.unzeroed.root)
    assert "paused" in panel.backward_label.text()
    names = []
    for _ in range(3):
        names.append(panel.node_button.isEnabled() and panel.backward_step().name)
    assert names == ["SumBackward0", "MulBackward0", "torch::autograd::AccumulateGrad"]
    text = panel.backward_label.text()
    assert "weights.grad" in text and "+=" in text and "9" in text
    assert "not zeroed" in text
    panel.backward_step_back()
    weights = host(panel).pair.unzeroed.namespace["weights"]
    assert weights.grad.tolist() == [6.0] * 4  # in the kernel
    assert panel.session.world.tensor(id_of(weights)).grad.tolist() == [6.0] * 4  # the view
    panel.step_iteration()  # finishes the iteration through the stepped cursor
    assert grads(panel, "unzeroed") == [3.0, 6.0, 9.0]
    assert grads(panel, "zeroed") == [3.0, 3.0, 3.0]
    assert panel.pair.unzeroed.state == "ready"
    assert panel.backward_label.isHidden()


def test_the_windows_stepper_is_used_when_there_is_one(panel):
    own = KernelStepper(panel.session, panel)
    panel.set_stepper(own)
    panel.follow("zeroed")
    root = panel.into_backward()
    assert own.root.id == root.id
    own.step()  # as F10 in the graph view
    own.step()
    own.step()
    panel.step_iteration()
    assert grads(panel, "zeroed") == [3.0]


def test_graph_view_follows_the_chosen_run(panel):
    roots = []
    panel.iteration_root.connect(roots.append)
    panel.step_iteration()
    panel.follow("zeroed")
    assert roots[-1].id == panel.pair.zeroed.root == id_of(host(panel).pair.zeroed.root)
    assert roots[-1].grad_fn.name() == "SumBackward0"  # a view of the kernel's graph
    panel.follow("unzeroed")
    assert roots[-1].id == panel.pair.unzeroed.root
    names = panel.names()
    assert names[id_of(host(panel).pair.unzeroed.namespace["weights"])] == "weights"


def test_events_are_not_forwarded_one_by_one_while_playing(panel):
    seen = []
    panel.kernel.state.connect(lambda m: seen.extend(m.get("events") or []))
    panel.step_iteration()
    assert seen  # a single step narrates its events (to the window's event log)
    seen.clear()
    panel.run_iterations(20)
    panel.set_speed(None)
    panel.play()
    panel._tick()
    panel.pause()
    assert seen == []


def test_learning_rate_and_iterations_reach_the_loop(panel):
    panel.load_preset("manual")
    assert panel.lr_edit.text() == "0.02" and panel.iterations_spin.value() == 40
    panel.lr_edit.setText("0.01")
    panel.lr_edit.textEdited.emit("0.01")
    panel.iterations_spin.setValue(7)
    panel.step_iteration()
    assert panel.pair.limit == 7 and host(panel).pair.zeroed.namespace["lr"] == 0.01
    panel.run_iterations(100)
    assert panel.pair.zeroed.count == 7
    assert panel.param_plot.isVisible() and panel.loss_plot.isVisible()


def test_hover_reads_the_values_of_an_iteration(panel, qtbot):
    panel.run_iterations(6)
    qtbot.wait(50)
    vb = panel.grad_plot.getViewBox()
    pos = vb.mapViewToScene(QPointF(2.2, 5.0))
    panel._on_mouse_moved(pos)
    text = panel.readout.text()
    assert "Iteration 2" in text and "under the mouse" in text
    assert "weights.grad = 6 (all 4)" in text
    values = panel.readout_values(2)
    assert values["without zeroing"]["weights.grad[0]"] == 6.0
    assert values["with zeroing"]["weights.grad[0]"] == 3.0
    assert panel._hover_lines["grad"].value() == 2


def test_export_png_and_csv(panel, tmp_path):
    panel.run_iterations(4)
    png = tmp_path / "plots.png"
    assert panel.export_png(str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "series.csv"
    panel.export_csv(str(out))
    rows = list(csv.reader(out.open()))
    col = rows[0].index("weights.grad[0] (without zeroing)")
    assert [r[col] for r in rows[1:]] == ["3.0", "6.0", "9.0", "12.0"]


def test_legend_and_styles(panel):
    legend = panel.legend
    labels = [lbl.text for _, lbl in legend.items]
    assert labels == ["with zeroing (as written)", "without zeroing"]
    # colour means the run; one parameter: both runs solid
    zeroed = next(c for c in panel._curves if c.run_key == "zeroed").item.opts["pen"]
    unzeroed = next(c for c in panel._curves if c.run_key == "unzeroed").item.opts["pen"]
    assert zeroed.style() == Qt.SolidLine == unzeroed.style()
    assert zeroed.color() != unzeroed.color() and zeroed.widthF() >= 3


def test_several_parameters_get_one_entry_each_and_a_click_hides_them(panel):
    panel.load_preset("regression")
    labels = [lbl.text for _, lbl in panel.legend.items]
    assert labels == ["with zeroing (as written)", "without zeroing", "model.weight",
                      "model.bias"]
    panel.run_iterations(3)
    sample = panel.legend.items[3][0]  # model.bias: its grad and value curves, both runs
    items = [c.item for c in panel._curves if c.param == "model.bias"]
    assert len(items) == 4
    sample.item.setVisible(False)
    assert not any(i.isVisible() for i in items)
    assert all(c.item.isVisible() for c in panel._curves if c.param == "model.weight")
    assert panel.param_plot.isVisible()


def test_window_stepper_is_found_without_wiring(qtbot):
    from PySide6.QtWidgets import QMainWindow

    p, kernel = make_panel()
    win = QMainWindow()
    win.stepper = KernelStepper(p.session, win)
    win.setCentralWidget(p)
    qtbot.addWidget(win)
    assert p.stepper is win.stepper
    root = p.into_backward()
    assert win.stepper.root.id == root.id
    win.stepper.step()
    assert "Step 1" in p.backward_label.text()  # the panel follows the window's F10
    kernel.shutdown()


def test_redraws_keep_up_while_playing(panel, qtbot):
    panel.set_speed(None)
    panel.iterations_spin.setValue(1_000_000)
    panel.play()
    r0, t0 = panel.redraws, time.perf_counter()
    qtbot.wait(1000)
    panel.pause()
    rate = (panel.redraws - r0) / (time.perf_counter() - t0)
    assert rate > 5  # the plots keep updating while playing flat out (the bench measures)
    for r in panel.pair.runs:  # each run's own rows (a run may lag the other by a frame)
        assert r.count > 0 and np.isfinite(r.grads[:r.count]).all(), r.label


def test_error_lines_of_the_variant_map_back_to_the_editor(panel, qtbot):
    panel.set_code(
        "w = torch.ones(2, requires_grad=True)\n"
        "opt = torch.optim.SGD([w], lr=0.1)\n"
        "for i in range(iterations):\n"
        "    loss = (w * w).sum()\n"
        "    loss.backward()\n"
        "    opt.step()\n"
        "    if i == 1:\n"
        "        raise ValueError('late')\n")
    panel.run_iterations(5)
    assert panel.pair.as_written == "unzeroed"
    assert "added" in panel.note_label.text() and "opt.zero_grad()" in panel.note_label.text()
    assert panel.pair.zeroed.error_line == 9 and panel.pair.unzeroed.error_line == 8
    marked = {e.cursor.blockNumber() + 1: e.format.background().color().name()
              for e in panel.editor.extraSelections()}
    assert marked == {6: "#d5f5d5", 8: "#ffc4c4"}


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_a_diverging_run_stops_with_a_cross_and_the_other_goes_on(panel):
    panel.load_preset("manual")
    panel.lr_edit.setText("0.2")
    panel.lr_edit.textEdited.emit("0.2")
    panel.iterations_spin.setValue(200)
    panel.run_iterations(200)
    z, u = panel.pair.zeroed, panel.pair.unzeroed
    assert z.state == "error" and z.error_kind == "nan" and u.count == 200
    assert "FloatingPointError" in panel.readout.text()
    kinds = {plot for plot, _ in panel._stop_marks}
    assert panel.loss_plot in kinds and panel.grad_plot in kinds


# ---------------------------------------------------------------- projector (issue 12)
def test_colour_by_run_and_line_style_by_parameter(panel):
    panel.load_preset("mlp")
    c = panel.colours
    by_run: dict = {}
    by_param: dict = {}
    for cur in panel._curves:
        pen = cur.item.opts["pen"]
        by_run.setdefault(cur.run_key, set()).add(pen.color().name())
        if cur.param:
            by_param.setdefault(cur.param, set()).add((pen.style(), tuple(pen.dashPattern())))
    assert by_run == {"zeroed": {c.zeroed}, "unzeroed": {c.unzeroed}}  # the loss too
    assert all(len(v) == 1 for v in by_param.values())  # a parameter: one style, both runs
    assert len({next(iter(v)) for v in by_param.values()}) == len(by_param) == 4
    marker = panel._markers["grad"].pen.color().name()
    assert marker not in (c.zeroed, c.unzeroed) and marker == c.marker  # neutral


def test_dark_theme_plots_and_notes_have_no_glare(panel):
    from gradviz.theme import PLOT_COLOURS
    panel.set_theme("dark")
    dark = PLOT_COLOURS["dark"]
    assert panel.plots.backgroundBrush().color().name() == dark.background
    for lbl in (panel.note_label, panel.backward_label):
        assert "#fff" not in lbl.styleSheet() and dark.note_bg in panel.note_label.styleSheet()
    img = panel.render_plots(400)
    from PySide6.QtGui import QColor
    light = sum(QColor(img.pixel(x, y)).lightness() > 200
                for x in range(0, img.width(), 9) for y in range(0, img.height(), 9))
    assert light < 0.05 * (img.width() // 9) * (img.height() // 9)
    # a palette switch (the window's theme menu) is followed without a call
    from PySide6.QtGui import QPalette
    pal = QPalette(panel.palette())
    pal.setColor(QPalette.Window, QColor("#ffffff"))
    pal.setColor(QPalette.WindowText, QColor("#000000"))
    panel.setPalette(pal)
    assert panel.theme_name == "high-contrast"


def test_fits_the_windows_dock_at_1024x768_at_every_font_scale(qtbot, tmp_path, monkeypatch):
    """In the window's Training dock (1024x768, font scale 1, 1.5, 2; the seed loop and the
    MLP's four plots), the panel needs no scrolling: lr, the exports and Play are in sight, and
    every plot keeps more than its title."""
    from PySide6.QtGui import QColor

    from gradviz.qt.main_window import MainWindow
    from gradviz.session import Session
    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(tmp_path))
    w = MainWindow(Session(), restore_settings=False)
    qtbot.addWidget(w)
    w.resize(1024, 768)
    w.show()
    p = w.training_panel
    viewport = w.docks["training"].widget().viewport()
    for theme, scale, key in (("light", 1.0, "seed"), ("dark", 1.5, "mlp"),
                              ("high-contrast", 2.0, "seed"), ("dark", 2.0, "mlp")):
        w.set_theme(theme)
        w.set_font_scale(scale)
        w.show_panel("training")
        p.load_preset(key)
        p.run_iterations(5)
        qtbot.wait(30)
        where = (theme, scale, key)
        assert p.height() <= viewport.height() and p.width() <= viewport.width(), where
        for wd in (p.lr_edit, p.png_button, p.csv_button, p.play_button, p.iterations_spin):
            r = wd.rect().translated(wd.mapTo(viewport, wd.rect().topLeft()))
            assert viewport.rect().contains(r), (where, wd)
        line = p.fontMetrics().height()
        for k, plot in p._plot_items().items():
            if plot.isVisible():
                assert plot.getViewBox().height() > 1.5 * line, (where, k)  # not just a title
                bottom = p.plots.mapTo(viewport, p.plots.mapFromScene(
                    plot.sceneBoundingRect().bottomRight()))
                assert bottom.y() <= viewport.height(), (where, k)
        assert p.loss_plot.isVisible()
        if key == "mlp":
            assert p._data_plots[p.followed].isVisible()  # the 2-D data and its boundary
        if theme == "dark":  # no white or cream block anywhere (light text is fine)
            img = p.grab().toImage()
            for x0 in range(0, img.width() - 24, 24):
                for y0 in range(0, img.height() - 24, 24):
                    light = sum(QColor(img.pixel(x, y)).lightness() > 190
                                for x in range(x0, x0 + 24, 4) for y in range(y0, y0 + 24, 4))
                    assert light < 0.6 * 36, (where, x0, y0)
    w.set_theme("light")
    w.close()


def test_curves_stay_visible_when_the_theme_is_set_before_the_panel_shows(qtbot):
    p, kernel = make_panel()
    qtbot.addWidget(p)
    p.run_iterations(2)
    p.set_theme("dark")  # the plots are not shown yet: their curves report invisible
    p.resize(1200, 700)
    p.show()
    assert all(c.item.isVisible() for c in p._curves if c.kind == "grad")
    p._legend_groups["without zeroing"].setVisible(False)  # a legend click
    p.set_theme("high-contrast")
    assert not any(c.item.isVisible() for c in p._curves if c.run_key == "unzeroed")
    assert all(c.item.isVisible() for c in p._curves if c.run_key == "zeroed"
               and c.kind == "grad")
    kernel.shutdown()


@pytest.mark.parametrize("kind", ["png", "csv"])
@pytest.mark.parametrize("where", ["missing", "read-only"])
def test_export_into_a_folder_that_cannot_take_it_says_so_and_writes_nothing(
        panel, tmp_path, monkeypatch, kind, where):
    import os
    folder = tmp_path / "slides"
    if where == "read-only":
        folder.mkdir()
        folder.chmod(0o500)
        if os.access(folder, os.W_OK):  # root ignores permissions: ask as a user would
            real = os.access
            monkeypatch.setattr(os, "access", lambda f, m, *a, **k: False if os.fspath(f) ==
                                str(folder) and m & os.W_OK else real(f, m, *a, **k))
    target = folder / f"training.{kind}"
    panel.run_iterations(2)
    assert panel.export(kind, str(target)) is False
    msg = panel.export_status.text()
    assert msg.startswith(f"cannot export {target}: ") and "\n" not in msg
    assert msg.count(". ") == 0 and not panel.export_status.isHidden()
    assert not target.exists()
    if where == "read-only":
        assert list(folder.iterdir()) == []
    ok = tmp_path / f"ok.{kind}"
    assert panel.export(kind, str(ok)) and ok.stat().st_size > 0
    assert panel.export_status.text() == f"saved {ok}"


def test_mlp_shows_data_and_a_boundary_that_trains(panel):
    panel.load_preset("mlp")
    assert panel._has_data()
    dp = panel._data_plots[panel.followed]
    assert dp.isVisible() and not panel._data_plots["zeroed"].isVisible()
    assert len(panel._points[panel.followed].data) == 128
    panel.run_iterations(1)
    first = panel.boundary_values(panel.followed).copy()
    panel.follow("zeroed")
    assert panel._data_plots["zeroed"].isVisible()
    panel.run_iterations(40)
    z = panel.boundary_values("zeroed")
    assert z.shape == (panel.BOUNDARY_RES,) * 2 and not np.allclose(z, first)
    # the boundary separates the classes: the prediction's sign matches most labels there
    d = panel._data
    pts, lab, lo, hi = d["points"], d["labels"], d["lo"], d["hi"]
    n = panel.BOUNDARY_RES
    ij = np.clip(np.round((pts - lo) / (hi - lo) * (n - 1)).astype(int), 0, n - 1)
    assert np.mean(np.sign(z[ij[:, 0], ij[:, 1]]) == lab) > 0.75
    panel.load_preset("seed")
    assert not panel._has_data() and not dp.isVisible()


def test_ticks_never_overlap(panel):
    from PySide6.QtGui import QFont, QFontMetricsF
    f = QFont(panel.font())
    f.setPointSizeF(20)
    panel.setFont(f)
    ax = panel.grad_plot.getAxis("bottom")
    size = 200.0
    (major, _), = ax.tickSpacing(0.5, 1000.5, size)
    fm = QFontMetricsF(ax.style["tickFont"])
    assert size / (1000 / major) > fm.horizontalAdvance("1000")  # room for each label


def test_png_export_is_slide_wide(panel, tmp_path):
    from PySide6.QtGui import QImage
    panel.run_iterations(3)
    png = tmp_path / "t.png"
    assert panel.export_png(str(png))
    assert QImage(str(png)).width() >= 1920


def test_png_export_scales_the_legend_with_the_plots(panel):
    """pyqtgraph's legend keeps its screen size under transformations: on a slide-wide
    export it must grow with the titles, not stay a thumbnail's."""
    from PySide6.QtGui import QColor
    panel.run_iterations(3)
    box = panel._legend_box.sceneBoundingRect()
    view = panel.plots.mapToScene(panel.plots.viewport().rect()).boundingRect()
    bg = QColor(panel.colours.background)

    def ink_rows(width):
        img = panel.render_plots(width)
        k = img.width() / view.width()
        top, bottom = int((box.top() - view.top()) * k), int((box.bottom() - view.top()) * k)
        rows = 0
        for y in range(max(top, 0), min(bottom, img.height())):
            if any(abs(QColor(img.pixel(x, y)).lightness() - bg.lightness()) > 60
                   for x in range(0, img.width(), 3)):
                rows += 1
        return rows, img.width()

    small, w1 = ink_rows(1920)
    big, w2 = ink_rows(3840)
    assert small > 0 and 1.6 < big / small < 2.4, (small, big)
    assert panel.legend.flags() & panel.legend.GraphicsItemFlag.ItemIgnoresTransformations
