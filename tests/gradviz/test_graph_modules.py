"""Grouping by nn.Module (issue 15): the kernel's module tags and parameter names for the engine
and torch, the graph's module attributes, collapse/expand, the compound layout's boxes, DOT
clusters, and the view's boxes and clicks."""

from __future__ import annotations

import os

import networkx as nx
import pytest

from gradviz.graph import (
    MODULE_PREFIX,
    build_graph,
    collapse_modules,
    compound_layout,
    module_members,
    to_dot,
)
from gradviz.kernel.snapshot import Snapshotter, track_engine_modules, track_engine_sources
from gradviz.views import World


def world_of(payload: dict) -> World:
    w = World()
    w.update(payload["tensors"], payload["nodes"])
    return w


def engine_resnet():
    import engine

    nn = engine.nn

    class Block(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.bn1(self.conv1(x)) + x)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.layer1 = nn.Sequential(Block(2), Block(2))
            self.fc = nn.Linear(2, 3)

        def forward(self, x):
            return self.fc(self.layer1(self.conv(x)).mean((2, 3)))

    return engine, Net()


@pytest.fixture
def engine_graph():
    untrack_m, untrack_s = track_engine_modules(), track_engine_sources()
    try:
        engine, model = engine_resnet()
        x = engine.randn(2, 1, 6, 6)
        y = model(x)
        loss = y.sum()
    finally:
        untrack_m()
        untrack_s()
    names = {loss._id: "loss", y._id: "y"}
    snap = Snapshotter(names, {"model": model, "loss": loss, "y": y})
    snap.tensor(loss, deep=True)
    snap.tensor(y)  # the kernel sends every named tensor
    w = world_of(snap.payload())
    return build_graph([w.tensor(loss._id)], names), model


def test_engine_nodes_carry_their_module_and_parameters_their_names(engine_graph):
    g, model = engine_graph
    kinds = {q: type(m).__name__ for q, m in model.named_modules()}
    by_module: dict[str, set[str]] = {}
    for _, d in g.nodes(data=True):
        if d["kind"] == "grad_fn" and d.get("module"):
            by_module.setdefault(d["module"], set()).add(d["label"].split("\n")[0])
    assert set(by_module) <= set(kinds)
    for q, ops in by_module.items():
        if kinds[q] == "Conv2d":
            assert ops == {"ConvolutionBackward0"}
        elif kinds[q] == "BatchNorm2d":
            assert ops == {"NativeBatchNormBackward0"}
        elif kinds[q] == "ReLU":
            assert ops == {"ReluBackward0"}
    assert "AddBackward0" in by_module["layer1.0"] and "AddBackward0" in by_module["layer1.1"]
    leaves = {d["name"]: d.get("module") for _, d in g.nodes(data=True) if d["kind"] == "leaf"}
    assert set(leaves) == {n for n, _ in model.named_parameters()}
    assert leaves["layer1.1.conv1.weight"] == "layer1.1.conv1"
    members = module_members(g)
    assert {"layer1", "layer1.0", "layer1.0.conv1"} <= set(members)
    assert set(members["layer1.0.conv1"]) < set(members["layer1.0"]) < set(members["layer1"])


def test_engine_nodes_know_their_variable_and_source_line(engine_graph):
    g, _ = engine_graph
    fc = [d for _, d in g.nodes(data=True) if d.get("var") == "y"]
    assert len(fc) == 1 and fc[0]["label"].split("\n")[:2] == ["AddmmBackward0", "→ y"]
    src = [d["source"] for _, d in g.nodes(data=True) if d.get("source")]
    assert src and all(s[0] == __file__ for s in src)
    lines = {s[2] for s in src}
    assert "return self.relu(self.bn1(self.conv1(x)) + x)" in lines and "loss = y.sum()" in lines


def test_collapse_keeps_boundary_edges_and_expanding_restores(engine_graph):
    g, _ = engine_graph
    inner = set(module_members(g)["layer1.0"])
    h = collapse_modules(g, {"layer1.0", "layer1.0.conv1"})
    mk = MODULE_PREFIX + "layer1.0"
    assert mk in h and not inner & set(h) and h.nodes[mk]["module"] == "layer1"
    ins = {u for u, v in g.edges() if v in inner and u not in inner}
    outs = {v for u, v in g.edges() if u in inner and v not in inner}
    assert set(h.predecessors(mk)) == ins and set(h.successors(mk)) == outs
    assert collapse_modules(g, set()) is g
    assert h.number_of_nodes() == g.number_of_nodes() - len(inner) + 1


def boxes_ok(lay, g: nx.DiGraph, widths: dict, heights: dict) -> None:
    members = module_members(g)
    for name, (x, y, w, h) in lay.boxes.items():
        for k in g:
            px, py = lay.pos[k]
            rect = (px - widths[k] / 2, py - heights[k] / 2, px + widths[k] / 2,
                    py + heights[k] / 2)
            inside = x - 1e-6 <= rect[0] and rect[2] <= x + w + 1e-6 and \
                y - 1e-6 <= rect[1] and rect[3] <= y + h + 1e-6
            apart = rect[2] <= x or rect[0] >= x + w or rect[3] <= y or rect[1] >= y + h
            assert inside if k in members[name] else apart, (name, k)
    names = list(lay.boxes)
    for a in names:
        for b in names:
            if a < b and not b.startswith(a + ".") and not a.startswith(b + "."):
                ax, ay, aw, ah = lay.boxes[a]
                bx, by, bw, bh = lay.boxes[b]
                assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay


def test_compound_layout_nests_boxes_without_overlaps(engine_graph):
    g, _ = engine_graph
    widths = {k: 60.0 + 7 * len(str(d["label"]).split("\n")[0]) for k, d in g.nodes(data=True)}
    heights = {k: 30.0 + 12 * d["label"].count("\n") for k, d in g.nodes(data=True)}
    groups = {k: m for k, m in g.nodes(data="module") if m}
    lay = compound_layout(g, groups, widths=widths, heights=heights, node_gap=20, layer_gap=30)
    assert set(lay.boxes) == set(module_members(g))
    boxes_ok(lay, g, widths, heights)
    for u, v in g.edges():  # edges still point down
        assert lay.pos[u][1] < lay.pos[v][1]


def test_dot_has_nested_clusters(engine_graph):
    g, _ = engine_graph
    dot = to_dot(g)
    assert dot.count("subgraph") == len(module_members(g))
    assert dot.count("{") == dot.count("}")
    i, j = dot.index('"cluster_layer1"'), dot.index('"cluster_layer1.0.conv1"')
    assert i < j


# --------------------------------------------------------------------------- torch
def torch_resnet(torch):
    class Block(torch.nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = torch.nn.BatchNorm2d(c)
            self.relu = torch.nn.ReLU()

        def forward(self, x):
            return self.relu(self.bn1(self.conv1(x)) + x)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
            self.layer1 = torch.nn.Sequential(Block(4), Block(4))
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(self.layer1(self.conv1(x)).mean((2, 3)))

    return Net()


@pytest.mark.torch
def test_torch_resnet_grouped_by_torch_module_names():
    if os.environ.get("GRADVIZ_REQUIRE_TORCH"):
        import torch
    else:
        torch = pytest.importorskip("torch")
    from gradviz.kernel.torch_snapshot import IDS, TorchSnapshotter, track_modules

    untrack = track_modules()
    try:
        torch.manual_seed(0)
        model = torch_resnet(torch)
        loss = model(torch.randn(2, 1, 5, 5)).sum()
    finally:
        untrack()
    names = {IDS.tensor(loss): "loss"}
    snap = TorchSnapshotter(names, {"model": model, "loss": loss})
    snap.tensor(loss, deep=True)
    w = world_of(snap.payload())
    g = build_graph([w.tensor(IDS.tensor(loss))], names)
    torch_names = {q for q, _ in model.named_modules() if q}
    members = module_members(g)
    assert set(members) == torch_names
    leaves = {d["name"] for _, d in g.nodes(data=True) if d["kind"] == "leaf"}
    assert leaves == {n for n, _ in model.named_parameters()}
    convs = {d["module"] for _, d in g.nodes(data=True)
             if d["label"].split("\n")[0] == "ConvolutionBackward0"}
    assert convs == {q for q, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}


# --------------------------------------------------------------------------- the view
@pytest.fixture
def view(qtbot):
    pytest.importorskip("PySide6")
    pytest.importorskip("pytestqt")
    from gradviz.qt.graph_view import GraphView

    v = GraphView()
    qtbot.addWidget(v)
    v.resize(1024, 768)
    v.show()
    qtbot.waitExposed(v)
    return v


def test_view_draws_boxes_collapses_on_header_click_expands_on_node_click(view, qtbot,
                                                                          engine_graph):
    from PySide6.QtCore import Qt

    g, _ = engine_graph
    view.set_graph(g)
    boxes = view.module_boxes()
    assert set(boxes) == set(module_members(g))
    for k, it in view.node_items().items():  # every node sits inside each of its boxes
        m = g.nodes[k].get("module")
        while m:
            assert boxes[m].contains(it.sceneBoundingRect().center())
            m = m.rsplit(".", 1)[0] if "." in m else None
    view.fit(whole=True)
    view.zoom_by(1.0)
    r = boxes["layer1.0"]
    view.centerOn(r.center())
    head = view.mapFromScene(r.left() + 0.5 * r.width(), r.top() + 2)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=head)
    assert view.collapsed_modules() == {"layer1.0"}
    mk = MODULE_PREFIX + "layer1.0"
    assert mk in view.node_items() and "layer1.0" not in view.module_boxes()
    assert "layer1" in view.module_boxes()  # the enclosing box stays, around the module node
    it = view.node_item(mk)
    view.centerOn(it)
    texts = [t for t, _ in view.module_actions(view.mapFromScene(it.scenePos()).toPointF())]
    assert texts == ["Expand layer1.0", "Expand all modules"]
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.mapFromScene(it.scenePos()))
    assert view.collapsed_modules() == set() and "layer1.0" in view.module_boxes()
    conv = next(k for k in view.node_items() if g.nodes[k].get("module") == "layer1.0.conv1"
                and g.nodes[k]["kind"] == "grad_fn")
    view.centerOn(view.node_item(conv))
    p = view.mapFromScene(view.node_item(conv).scenePos()).toPointF()
    texts = [t for t, _ in view.module_actions(p)]
    assert texts == ["Collapse layer1.0.conv1", "Collapse layer1.0", "Collapse layer1"]
    dict(view.module_actions(p))["Collapse layer1"]()
    assert MODULE_PREFIX + "layer1" in view.node_items()


def test_a_collapsed_module_shows_its_members_states_and_gives_them_back(view, engine_graph):
    g, _ = engine_graph
    view.set_graph(g)
    members = [k for k in module_members(g)["layer1.0"]  # the nodes backward runs
               if g.nodes[k]["kind"] in ("grad_fn", "accumulate")]
    view.set_node_state(members[0], "done")
    view.collapse_module("layer1.0")
    mk = MODULE_PREFIX + "layer1.0"
    assert view.node_items()[members[0]] is view.node_item(mk)  # the window's key lookups
    assert view.node_state(members[0]) == "done" and view.node_state(mk) == "idle"
    view.set_node_state(members[1], "current")
    assert view.node_state(mk) == "current"
    for k in members:
        view.set_node_state(k, "done")
    assert view.node_state(mk) == "done"
    inner = next(iter(e for e in g.edges() if e[0] in members and e[1] in members))
    view.set_edge_label(*inner, "[1.0]")  # not drawn while collapsed: nothing to label
    assert view.edge_label(*inner) is None
    view.expand_module("layer1.0")
    assert all(view.node_state(k) == "done" for k in members)
    view.clear_states()
    assert all(view.node_state(k) == "idle" for k in members)


def test_exports_draw_the_module_boxes(view, engine_graph, tmp_path):
    from PySide6.QtGui import QImage

    g, _ = engine_graph
    view.set_graph(g)
    assert view.export_rect().contains(view.module_boxes()["layer1"])
    png, svg = tmp_path / "g.png", tmp_path / "g.svg"
    assert view.export_png(str(png)) and view.export_svg(str(svg))
    assert not QImage(str(png)).isNull()
    text = svg.read_text()
    assert "layer1.0.conv1" in text and "stroke-dasharray" in text  # names and dashed frames


def test_the_inspector_names_a_parameter_as_the_graph_does(qtbot, engine_graph):
    """A module parameter has no variable of its own: the inspector calls it `0.weight`
    (named_parameters), as its graph node does, not `tensor #39`."""
    from gradviz.qt.bridge import Bridge
    from gradviz.qt.inspector import Inspector
    from gradviz.session import Session

    g, model = engine_graph
    session = Session()
    insp = Inspector(session, Bridge(session))
    qtbot.addWidget(insp)
    view = next(d["obj"] for _, d in g.nodes(data=True)
                if d["kind"] == "leaf" and d["name"] == "layer1.1.conv1.weight")
    insp.show_tensor(view)
    text = insp.text()
    assert "layer1.1.conv1.weight" in text and "tensor #" not in text.split("\n")[0]
