"""gradviz.qt.training_model: what the training panel draws, decided without a widget."""

import numpy as np

from gradviz.qt.training_model import (
    PairView,
    curve_specs,
    editor_marks,
    legend_specs,
    plot_grid,
    plot_wanted,
    readout_html,
    readout_values,
    run_colour,
)
from gradviz.theme import PLOT_COLOURS


def layout(params=(("w", 1), ("b", 1))):
    run = {"source": "", "params": [], "grad_series": [], "param_series": []}
    col = 0
    for name, width in params:
        run["params"].append({"name": name, "numel": width, "shape": [width], "col": col,
                              "width": width})
        for j in range(width):
            run["grad_series"].append((f"{name}.grad[{j}]", name, col + j))
            run["param_series"].append((f"{name}[{j}]", name, col + j))
        col += width
    runs = {k: dict(run, label=lab) for k, lab in (("zeroed", "with zeroing"),
                                                    ("unzeroed", "without zeroing"))}
    return {"gen": 1, "code": "", "limit": 5, "note": "", "as_written": "zeroed",
            "toggled": [{"line": 7, "text": "w.grad.zero_()", "action": "removed",
                         "kind": "grad.zero_()"}], "runs": runs}


def feed(pair, which, grads, loss):
    grads = np.asarray(grads, float)
    pair.run(which).update({"from": 0, "loss": list(loss), "grads": grads.ravel().tolist(),
                            "params": grads.ravel().tolist(),
                            "status": {"count": len(loss), "state": "ready"}})


def test_colour_means_the_run_and_style_the_parameter():
    pair = PairView(layout())
    curves = curve_specs(pair)
    assert {(c.run_key, c.kind) for c in curves if c.kind == "loss"} == {
        ("zeroed", "loss"), ("unzeroed", "loss")}
    style = {}
    for c in curves:
        if c.param:
            style.setdefault(c.param, set()).add(c.style)
    assert style == {"w": {0}, "b": {1}}  # one style per parameter, the same in both runs
    legend = legend_specs(pair, curves)
    assert [e.text for e in legend] == ["with zeroing (as written)", "without zeroing", "w",
                                        "b"]
    assert all(curves[i].run_key == "unzeroed" for i in legend[1].curves)
    assert {curves[i].param for i in legend[3].curves} == {"b"}
    for theme in PLOT_COLOURS.values():  # runs never share a colour, nor with the marker
        assert len({run_colour(theme, "zeroed"), run_colour(theme, "unzeroed"),
                    theme.marker}) == 3


def test_one_parameter_needs_no_style_entries():
    pair = PairView(layout(params=(("weights", 4),)))
    assert [e.text for e in legend_specs(pair, curve_specs(pair))] == [
        "with zeroing (as written)", "without zeroing"]


def test_plot_grid_trades_columns_for_rows_the_height_lacks():
    assert plot_grid(4, 2000, 1000, 200, 150) == (1, 4)  # wide: one row
    assert plot_grid(4, 500, 1000, 200, 150) == (2, 2)  # narrow and tall: balanced rows
    assert plot_grid(4, 500, 200, 200, 150) == (1, 4)  # narrow and short: one row
    assert plot_grid(3, 450, 1000, 200, 150) == (2, 2)
    assert plot_grid(1, 10, 10, 200, 150) == (1, 1)


def test_readout_and_marks_follow_the_series():
    pair = PairView(layout())
    assert plot_wanted(pair, "loss") and not plot_wanted(pair, "param")
    feed(pair, "zeroed", [[3, 1], [3, 1]], [12, 12])
    feed(pair, "unzeroed", [[3, 1], [6, 2]], [12, 12])
    assert readout_values(pair, 2) == {
        "with zeroing": {"loss": 12.0, "w.grad[0]": 3.0, "b.grad[0]": 1.0},
        "without zeroing": {"loss": 12.0, "w.grad[0]": 6.0, "b.grad[0]": 2.0}}
    c = PLOT_COLOURS["dark"]
    text = readout_html(pair, 2, c, dirty=True)
    assert "Iteration 2</b> of 5" in text and c.unzeroed in text and "Edited" in text
    assert editor_marks(pair, c) == {7: c.removed_line}
    assert [h for h, _ in pair.columns()][:2] == ["loss (with zeroing)",
                                                 "loss (without zeroing)"]
