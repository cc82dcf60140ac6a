"""build_graph on real torch graphs, the layered layout, crossings and DOT export."""

from __future__ import annotations

import os
import random
import re

import networkx as nx
import pytest

from gradviz.graph import (
    build_graph,
    compute_layout,
    count_crossings,
    format_values,
    layered_layout,
    refresh_labels,
    to_dot,
)

if os.environ.get("GRADVIZ_REQUIRE_TORCH"):
    import torch
else:
    torch = pytest.importorskip("torch")


# --------------------------------------------------------------------------- helpers
def seed_graph(show_saved: bool = False):
    torch.manual_seed(0)
    x = torch.randn(3, requires_grad=True)
    y = x + 2
    z = (y * y * 2).mean()
    g = build_graph(z, names={id(x): "x", id(z): "z"}, show_saved=show_saved)
    return g, x, y, z


def random_dag(n: int, p: float, seed: int) -> nx.DiGraph:
    rng = random.Random(seed)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for v in range(1, n):
        for u in rng.sample(range(v), min(v, 1 + int(rng.random() * 3))):
            if rng.random() < p:
                g.add_edge(u, v)
    return g


def layer_groups(g: nx.DiGraph, pos: dict) -> dict[float, list]:
    groups: dict[float, list] = {}
    for k, (_, y) in pos.items():
        groups.setdefault(round(y, 6), []).append(k)
    return groups


# --------------------------------------------------------------------------- build_graph
@pytest.mark.torch
def test_seed_graph_nodes_and_kinds():
    g, x, y, z = seed_graph()
    kinds = {k: d["kind"] for k, d in g.nodes(data=True)}
    assert kinds[f"t{id(x)}"] == "leaf"
    assert kinds[f"t{id(z)}"] == "output"
    assert g.graph["roots"] == [f"t{id(z)}"]
    labels = sorted(d["label"] for d in g.nodes.values() if d["kind"] in ("grad_fn",
                                                                         "accumulate"))
    assert labels == ["AccumulateGrad", "AddBackward0", "MeanBackward0", "MulBackward0",
                      "MulBackward0"]
    assert f"t{id(y)}" not in g  # intermediate tensors are not nodes (torchviz)
    assert g.nodes[f"t{id(x)}"]["obj"] is x
    assert g.nodes[f"n{id(z.grad_fn)}"]["obj"] is z.grad_fn


@pytest.mark.torch
def test_edges_follow_next_functions_forward():
    g, x, y, z = seed_graph()
    # leaf -> AccumulateGrad -> AddBackward0 -> MulBackward0 -> MulBackward0 -> Mean -> z
    acc = y.grad_fn.next_functions[0][0]
    assert g.has_edge(f"t{id(x)}", f"n{id(acc)}")
    assert g.has_edge(f"n{id(acc)}", f"n{id(y.grad_fn)}")
    assert g.has_edge(f"n{id(z.grad_fn)}", f"t{id(z)}")
    for key, d in g.nodes(data=True):
        if d["kind"] != "grad_fn":
            continue
        fn = d["obj"]
        expected = {f"n{id(nxt)}" for nxt, _ in fn.next_functions if nxt is not None}
        preds = {u for u in g.predecessors(key) if g.nodes[u]["kind"] in ("grad_fn",
                                                                           "accumulate")}
        assert preds == expected
        for i, (nxt, nr) in enumerate(fn.next_functions):
            if nxt is not None:
                e = g.edges[f"n{id(nxt)}", key]
                assert i in e["next_indices"] and e["output_nr"] == nr
    # y * y: one edge standing for both inputs
    mul = y.grad_fn  # AddBackward0 feeds MulBackward0 twice
    (inner,) = [k for k in g.successors(f"n{id(mul)}")]
    assert g.edges[f"n{id(mul)}", inner]["next_indices"] == [0, 1]
    assert g.edges[f"n{id(mul)}", inner]["next_index"] == 0


@pytest.mark.torch
def test_none_edges_skipped_and_constants_absent():
    a = torch.randn(3, requires_grad=True)
    c = torch.randn(3)  # needs no grad: torch shows (None, 0)
    out = (a * c).sum()
    mul = out.grad_fn.next_functions[0][0]
    assert mul.next_functions[1] == (None, 0)
    g = build_graph(out)
    assert len(list(g.predecessors(f"n{id(mul)}"))) == 1
    assert f"t{id(c)}" not in g
    assert g.number_of_nodes() == 5  # a, AccumulateGrad, Mul, Sum, out


@pytest.mark.torch
def test_labels_names_shapes_values_and_grad():
    g, x, y, z = seed_graph()
    leaf = g.nodes[f"t{id(x)}"]["label"].split("\n")
    assert leaf[0] == "x" and leaf[1] == "(3,)" and leaf[2].startswith("[")
    out = g.nodes[f"t{id(z)}"]["label"].split("\n")
    assert out[0] == "z" and out[1] == "()"
    assert "grad" not in g.nodes[f"t{id(x)}"]["label"]
    assert "MulBackward0" in g.nodes[f"n{id(z.grad_fn.next_functions[0][0])}"]["detail"]
    z.backward()
    changed = refresh_labels(g)
    assert f"t{id(x)}" in changed
    assert g.nodes[f"t{id(x)}"]["label"].split("\n")[-1].startswith("grad [")
    # unnamed tensors are titled by their shape
    g2 = build_graph(torch.randn(2, 2, requires_grad=True).sum())
    titles = [d["label"].split("\n")[0] for d in g2.nodes.values() if d["kind"] == "leaf"]
    assert titles == ["(2, 2)"]


def test_format_values():
    assert format_values(2.0) == ["2"]
    assert format_values([1.0, -0.5]) == ["[1, -0.5]"]
    assert format_values([[1, 2], [3, 4]]) == ["[1, 2]", "[3, 4]"]
    assert format_values(list(range(100))) == []


@pytest.mark.torch
def test_show_saved_and_multiple_roots():
    g, x, y, z = seed_graph(show_saved=True)
    saved = [k for k, d in g.nodes(data=True) if d["kind"] == "saved"]
    assert saved
    for k in saved:
        (fn,) = list(g.successors(k))
        assert g.nodes[fn]["kind"] == "grad_fn"
        assert g.edges[k, fn]["kind"] == "saved"
    a = torch.randn(2, requires_grad=True)
    r1, r2 = (a * 2).sum(), (a + 1).sum()
    g2 = build_graph([r1, r2], names={id(a): "a"})
    assert g2.graph["roots"] == [f"t{id(r1)}", f"t{id(r2)}"]
    leaves = [k for k, d in g2.nodes(data=True) if d["kind"] == "leaf"]
    assert leaves == [f"t{id(a)}"]  # shared, once


def test_engine_objects_use_stable_ids():
    engine = pytest.importorskip("engine")
    if not hasattr(engine, "randn"):
        pytest.skip("engine has no randn yet")
    x = engine.randn(3, requires_grad=True)
    z = ((x + 2) * 3).sum()
    g = build_graph(z, names={x._id: "x"})
    assert f"t{x._id}" in g and f"n{z.grad_fn._id}" in g
    assert g.nodes[f"t{x._id}"]["label"].startswith("x\n")


@pytest.mark.torch
def test_to_dot_is_plausible():
    g, x, y, z = seed_graph(show_saved=True)
    dot = to_dot(g)
    assert dot.startswith('digraph "autograd" {') and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    assert len(re.findall(r'^\s+"[^"]+" -> "[^"]+"', dot, re.M)) == g.number_of_edges()
    for k in g.nodes:
        assert f'"{k}" [label=' in dot
    assert "fillcolor=lightblue" in dot and "fillcolor=darkolivegreen1" in dot
    assert "fillcolor=orange" in dot and "style=dashed" in dot
    assert '\\n' in dot and "\n(3,)" not in dot  # newlines in labels are escaped


# --------------------------------------------------------------------------- layout
def test_layers_respect_edges_and_outputs_at_bottom():
    g = random_dag(60, 0.7, seed=1)
    lay = compute_layout(g)
    for u, v in g.edges():
        assert lay.layers[u] < lay.layers[v]
        assert lay.pos[u][1] < lay.pos[v][1]
    sinks = [k for k in g if g.out_degree(k) == 0]
    bottom = max(lay.layers.values())
    assert all(lay.layers[k] == bottom for k in sinks)


@pytest.mark.torch
def test_torch_graph_leaves_on_top_output_at_bottom():
    g, x, y, z = seed_graph()
    pos = layered_layout(g)
    assert pos[f"t{id(x)}"][1] == min(p[1] for p in pos.values())
    assert pos[f"t{id(z)}"][1] == max(p[1] for p in pos.values())


def test_no_overlaps_given_widths():
    g = random_dag(80, 0.8, seed=2)
    rng = random.Random(0)
    widths = {k: rng.uniform(40, 260) for k in g}
    for k in list(g)[:10]:
        g.nodes[k]["width"] = 300.0  # attribute used when no widths mapping entry
        del widths[k]
    gap = 20.0
    pos = layered_layout(g, widths=widths, node_gap=gap)
    w = {k: widths.get(k, g.nodes[k].get("width")) for k in g}
    for nodes in layer_groups(g, pos).values():
        nodes.sort(key=lambda k: pos[k][0])
        for a, b in zip(nodes, nodes[1:]):
            assert pos[b][0] - pos[a][0] >= (w[a] + w[b]) / 2 + gap - 1e-6


def test_barycenter_sweeps_reduce_crossings():
    g = random_dag(70, 0.9, seed=3)
    before = compute_layout(g, sweeps=0)
    after = compute_layout(g)
    c0 = count_crossings(g, before.pos, before.routes)
    c1 = count_crossings(g, after.pos, after.routes)
    assert c0 > 0
    assert c1 < c0
    assert after.crossings <= before.crossings


def test_count_crossings_simple_cases():
    g = nx.DiGraph([("a", "d"), ("b", "c")])
    crossed = {"a": (0, 0), "b": (10, 0), "c": (0, 10), "d": (10, 10)}
    straight = {"a": (0, 0), "b": (10, 0), "c": (10, 10), "d": (0, 10)}
    assert count_crossings(g, crossed) == 1
    assert count_crossings(g, straight) == 0
    # edges sharing an endpoint do not cross
    g2 = nx.DiGraph([("a", "c"), ("a", "d")])
    assert count_crossings(g2, {"a": (5, 0), "c": (0, 10), "d": (10, 10)}) == 0


def test_long_edges_get_routes_within_budget():
    g = nx.DiGraph([(0, 1), (1, 2), (2, 3), (3, 4), (0, 4)])
    lay = compute_layout(g)
    assert len(lay.routes[(0, 4)]) == 3  # one bend point per layer crossed
    ys = [p[1] for p in lay.routes[(0, 4)]]
    assert ys == sorted(ys) and lay.pos[0][1] < ys[0] and ys[-1] < lay.pos[4][1]
    capped = compute_layout(g, max_dummies=0)
    assert (0, 4) in capped.unrouted and not capped.routes


def test_chain_is_vertical_and_tree_parent_centred():
    chain = nx.DiGraph([(i, i + 1) for i in range(6)])
    pos = layered_layout(chain)
    assert len({round(p[0], 6) for p in pos.values()}) == 1
    tree = nx.DiGraph([("a", "c"), ("b", "c")])
    pos = layered_layout(tree, widths={"a": 100, "b": 100, "c": 100})
    assert pos["c"][0] == pytest.approx((pos["a"][0] + pos["b"][0]) / 2)


def test_stable_when_the_graph_grows():
    g = random_dag(50, 0.8, seed=4)
    old = layered_layout(g)
    grown = g.copy()
    sinks = [k for k in g if g.out_degree(k) == 0]
    for i, s in enumerate(sinks[:3]):  # a few new ops on top of the old outputs
        grown.add_edge(s, f"new{i}")
        grown.add_edge(f"new{i}", "loss")
    grown.add_edge(5, "side")
    new = compute_layout(grown, previous=old)
    by_layer: dict[int, list] = {}
    for k in g:
        by_layer.setdefault(new.layers[k], []).append(k)
    checked = 0
    for nodes in by_layer.values():
        now = sorted(nodes, key=lambda k: new.pos[k][0])
        before = sorted(nodes, key=lambda k: old[k][0])
        assert now == before
        checked += len(nodes) > 1
    assert checked > 3


def test_cycles_and_empty_graphs_do_not_break():
    assert layered_layout(nx.DiGraph()) == {}
    g = nx.DiGraph([(0, 1), (1, 2), (2, 0), (2, 3)])
    pos = layered_layout(g)
    assert set(pos) == {0, 1, 2, 3}
    single = nx.DiGraph()
    single.add_node("only")
    assert list(layered_layout(single)) == ["only"]
