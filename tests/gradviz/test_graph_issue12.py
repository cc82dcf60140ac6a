"""Issue 12 on the graph: text follows the font scale and fit keeps it readable, the legend
keeps off the root and the current node, variable and parameter names on their nodes, the
micrograd-style values view, and a clicked node's source line."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from gradviz.graph import build_graph  # noqa: E402
from gradviz.kernel.snapshot import Snapshotter, track_engine_sources  # noqa: E402
from gradviz.qt.graph_view import GraphView  # noqa: E402
from gradviz.theme import get_theme  # noqa: E402
from gradviz.views import World  # noqa: E402

engine = pytest.importorskip("engine")


def seed_graph(values: bool = False, chain: int = 0):
    """The README's seed example run on the engine with source lines and values noted, as
    the kernel shows it to the window; ``chain`` extra ops make it taller."""
    untrack = track_engine_sources()
    try:
        x = engine.tensor([-1.2643, 1.0159, 0.2505], requires_grad=True)
        y = x + 2
        for _ in range(chain):
            y = y * 1.0
        z = (y * y * 2).mean()
    finally:
        untrack()
    names = {x._id: "x", y._id: "y", z._id: "z"}
    snap = Snapshotter(names)
    snap.tensor(z, deep=True)
    snap.tensor(y)
    p = snap.payload()
    w = World()
    w.update(p["tensors"], p["nodes"])
    return build_graph([w.tensor(z._id)], names, values=values), (x, y, z)


@pytest.fixture
def view(qtbot):
    v = GraphView(theme=get_theme("dark").scaled(2.0))
    qtbot.addWidget(v)
    v.resize(1024, 768)
    v.show()
    qtbot.waitExposed(v)
    return v


def key_of(g, title: str) -> str:
    return next(k for k, d in g.nodes(data=True) if d["label"].split("\n")[0] == title)


def test_text_follows_font_scale_and_fit_keeps_it_at_least_body_size(view):
    g, _ = seed_graph(chain=40)
    view.set_graph(g)
    big = view._style.mono_font.pixelSize()
    box = view.node_item(key_of(g, "MeanBackward0")).w
    view.set_font_scale(1.0)
    assert view._style.mono_font.pixelSize() == pytest.approx(big / 2, abs=1)
    assert view.node_item(key_of(g, "MeanBackward0")).w < 0.6 * box
    view.set_font_scale(2.0)
    view.fit()
    assert not view._whole_visible()  # too tall to fit readable: fit keeps the text size
    smallest = min(view._style.mono_font.pixelSize(), view._style.title_px)
    assert smallest * view.zoom() >= view.body_px() - 1e-6
    assert view.body_px() >= 10 * 96 / 72 * 2 - 1e-6  # the body font follows the scale too
    view.fit(whole=True)
    assert view._whole_visible()


def test_legend_keeps_off_the_root_and_the_current_node(view, qtbot):
    g, (x, y, z) = seed_graph(chain=3)
    view.set_graph(g)
    root = f"t{z._id}"
    mean = key_of(g, "MeanBackward0")
    view.set_edge_label(mean, root, "1")
    view.set_seed_label(root, "1")
    view.fit()
    assert view.legend_visible()

    def covers(key: str) -> bool:
        r = view.mapFromScene(view.node_item(key).sceneBoundingRect()).boundingRect()
        return view._legend.geometry().intersects(r)

    for k in g:  # wherever the view is scrolled, the root and the current node stay clear
        view.set_node_state(k, "current")
        view.center_on_node(k)
        view.set_node_state(k, "current")
        qtbot.wait(1)
        assert not view.legend_visible() or not (covers(root) or covers(k)), k
        view.set_node_state(k, "idle")


def test_variable_names_on_the_node_that_made_them(view):
    g, (x, y, z) = seed_graph()
    view.set_graph(g)
    add = key_of(g, "AddBackward0")
    assert view.node_label(add).split("\n") == ["AddBackward0", "→ y"]
    assert view.node_label(f"t{x._id}").split("\n")[0] == "x"
    assert view.node_label(f"t{z._id}").split("\n")[0] == "z"
    mean = key_of(g, "MeanBackward0")
    assert "→" not in view.node_label(mean)  # z is drawn as its own node already


def test_micrograd_view_shows_data_and_grad_on_every_op(view):
    g, (x, y, z) = seed_graph(values=True)
    view.set_values_mode(True)
    view.set_graph(g)
    add = key_of(g, "AddBackward0")
    lines = view.node_label(add).split("\n")
    assert lines[:2] == ["AddBackward0", "→ y"]
    want = "[" + ", ".join(f"{v:.3g}" for v in (x._data + 2)) + "]"
    assert lines[2] == "data " + want and lines[3] == "grad –"
    z.backward()
    grads = {add: "[0.49, 2.01, 1.5]"}
    view.set_node_grads(grads)
    assert view.node_label(add).split("\n")[3] == "grad [0.49, 2.01, 1.5]"
    for k, d in g.nodes(data=True):  # every op shows its value
        if d["kind"] == "grad_fn":
            assert "\ndata " in view.node_label(k), d["label"]
    view.set_values_mode(False)
    view.set_graph(build_graph([], {}))
    assert view.node_items() == {}


def test_a_click_on_a_node_says_its_source_line(view, qtbot):
    from PySide6.QtCore import Qt

    g, _ = seed_graph()
    view.set_graph(g)
    add = key_of(g, "AddBackward0")
    it = view.node_item(add)
    view.center_on_node(add)
    with qtbot.waitSignal(view.status_message, timeout=2000) as sig:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                         pos=view.mapFromScene(it.scenePos()))
    assert view.selected_key == add
    text = sig.args[0]
    assert text.startswith("AddBackward0 made at line ") and text.endswith(": y = x + 2")
    assert "test_graph_issue12.py" in text


@pytest.mark.torch
def test_torch_nodes_know_their_source_line_and_value():
    import os

    if os.environ.get("GRADVIZ_REQUIRE_TORCH"):
        import torch
    else:
        torch = pytest.importorskip("torch")
    from gradviz.graph import source_text
    from gradviz.kernel.torch_snapshot import IDS, TorchSnapshotter, track_sources

    untrack = track_sources()
    try:
        x = torch.tensor([-1.2643, 1.0159, 0.2505], requires_grad=True)
        y = x + 2
        z = (y * y * 2).mean()
    finally:
        untrack()
    names = {IDS.tensor(x): "x", IDS.tensor(y): "y", IDS.tensor(z): "z"}
    snap = TorchSnapshotter(names, {"x": x, "y": y, "z": z})
    snap.tensor(z, deep=True)
    snap.tensor(y)
    p = snap.payload()
    w = World()
    w.update(p["tensors"], p["nodes"])
    g = build_graph([w.tensor(IDS.tensor(z))], names, values=True)
    add = key_of(g, "AddBackward0")
    assert source_text(g.nodes[add]["source"]).endswith(": y = x + 2")
    assert g.nodes[add]["label"].split("\n")[1:] == [
        "→ y", "data [" + ", ".join(f"{v:.3g}" for v in (x + 2).tolist()) + "]"]
    mean = key_of(g, "MeanBackward0")
    assert g.nodes[mean]["source"][2] == "z = (y * y * 2).mean()"


def test_module_names_as_large_as_the_values_and_readable_after_fit(view):
    g, _ = seed_graph(chain=40)
    for _, d in g.nodes(data=True):  # put the ops in a module, as a forward would
        if d["kind"] == "grad_fn":
            d["module"] = "block"
    view.set_graph(g)
    assert set(view.module_boxes()) == {"block"}
    st = view._style
    assert st.group_font.pixelSize() == st.mono_font.pixelSize()
    view.fit()
    assert st.group_font.pixelSize() * view.zoom() >= view.body_px() - 1e-6
