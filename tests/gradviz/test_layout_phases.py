"""Each phase of gradviz.layout on its own: cycles, layers, dummies, ordering, coordinates."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from gradviz.layout import (
    assign_layers,
    assign_x,
    assign_y,
    break_cycles,
    compute_layout,
    group_order,
    initial_order,
    insert_dummies,
    layer_crossings,
    reduce_crossings,
)


def random_edges(n: int, seed: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(u, v) for v in range(1, n) for u in rng.sample(range(v), min(v, 2))
            if rng.random() < 0.8]


def test_break_cycles_leaves_an_acyclic_graph():
    edges = [(0, 1), (1, 2), (2, 0), (2, 3), (3, 1)]
    succ = [[] for _ in range(4)]
    for u, v in edges:
        succ[u].append(v)
    back = break_cycles(4, succ)
    fixed = [(v, u) if (u, v) in back else (u, v) for u, v in edges]
    assert back and nx.is_directed_acyclic_graph(nx.DiGraph(fixed))


def test_layers_point_down_and_sinks_share_the_bottom():
    edges = random_edges(40, 1)
    layer = assign_layers(40, edges)
    assert all(layer[u] < layer[v] for u, v in edges)
    outs = {u for u, _ in edges}
    assert {layer[v] for v in range(40) if v not in outs} == {max(layer)}


def test_dummies_make_every_edge_join_adjacent_layers():
    edges = [(0, 1), (1, 2), (2, 3), (0, 3)]
    pg = insert_dummies(assign_layers(4, edges), edges, budget=100)
    assert pg.total == 6 and pg.chains[3] == [4, 5]
    for u in range(pg.total):
        assert all(pg.layer[w] == pg.layer[u] + 1 for w in pg.lsucc[u])
    capped = insert_dummies(assign_layers(4, edges), edges, budget=1)
    assert capped.chains[3] is None and capped.total == 4


def test_sweeps_never_end_worse_than_the_initial_order():
    edges = random_edges(80, 3)
    pg = insert_dummies(assign_layers(80, edges), edges, budget=10_000)
    start = initial_order(pg)
    c0 = layer_crossings(start, pg.lsucc)
    order, c1 = reduce_crossings(pg, start, sweeps=12)
    assert c1 == layer_crossings(order, pg.lsucc) and c1 < c0
    assert sorted(map(sorted, order)) == sorted(map(sorted, start))  # same nodes per layer


def test_group_order_keeps_groups_side_by_side_and_nested():
    nodes = [10, 11, 12, 13, 14, 15]
    keyv = [0.0, 5.0, 1.0, 4.0, 2.0, 3.0]
    paths = {10: ("a",), 11: ("a",), 12: ("b", "b.0"), 13: ("b", "b.1"), 14: ("b", "b.0")}
    got = [nodes[j] for j in group_order(nodes, keyv, paths)]
    assert got.index(11) - got.index(10) == 1 or got.index(10) - got.index(11) == 1
    b = [got.index(k) for k in (12, 13, 14)]
    assert max(b) - min(b) == 2  # group b is contiguous
    assert abs(got.index(12) - got.index(14)) == 1  # and b.0 inside it


def test_grouped_layout_keeps_each_module_contiguous_in_every_layer():
    g = nx.DiGraph()
    for i in range(6):  # two modules side by side, interleaved by insertion order
        g.add_edge(f"x{i}", f"y{i}")
        g.add_edge(f"y{i}", "out")
    groups = {f"{c}{i}": ("m0" if i % 2 else "m1") for i in range(6) for c in "xy"}
    lay = compute_layout(g, groups=groups)
    for c in "xy":
        xs = sorted((lay.pos[f"{c}{i}"][0], groups[f"{c}{i}"]) for i in range(6))
        runs = [m for k, (_, m) in enumerate(xs) if k == 0 or xs[k - 1][1] != m]
        assert len(runs) == 2


def test_coordinates_keep_separation_and_chains_straight():
    edges = [(0, 2), (1, 2), (2, 3), (3, 4)]
    pg = insert_dummies(assign_layers(5, edges), edges, budget=10)
    order, _ = reduce_crossings(pg, initial_order(pg), sweeps=4)
    width = [100.0, 60.0, 80.0, 80.0, 80.0]
    x = assign_x(pg, order, width, node_gap=20.0, coord_iters=3)
    assert x[1] - x[0] >= 80 + 20 - 1e-6 or x[0] - x[1] >= 80 + 20 - 1e-6
    assert abs(x[2] - (x[0] + x[1]) / 2) < 1e-6  # centred under its inputs
    assert x[2] == x[3] == x[4]
    ys, heights = assign_y(pg, order, x, [40.0, 60.0, 30.0, 30.0, 30.0], layer_gap=50.0)
    assert heights[0] == 60.0 and ys[1] - ys[0] >= 30 + 15 + 50


def test_tree_layout_centres_each_node_over_its_inputs_and_refuses_non_trees():
    from gradviz.layout import tree_layout

    nodes = ["w", "acc", "b", "accb", "op", "out"]
    edges = [("w", "acc"), ("b", "accb"), ("acc", "op"), ("accb", "op"), ("op", "out")]
    sizes = {"w": 80.0, "acc": 60.0, "b": 50.0, "accb": 60.0, "op": 90.0, "out": 0.0}
    lay = tree_layout(nodes, edges, sizes, dict.fromkeys(nodes, 30.0), 20.0, 40.0,
                      is_out=lambda k: k == "out")
    assert lay is not None
    assert lay.pos["op"][0] == pytest.approx((lay.pos["acc"][0] + lay.pos["accb"][0]) / 2)
    assert lay.pos["w"][0] == lay.pos["acc"][0] and lay.pos["out"][0] == lay.pos["op"][0]
    assert lay.pos["w"][1] < lay.pos["acc"][1] < lay.pos["op"][1] < lay.pos["out"][1]
    assert lay.pos["accb"][0] - lay.pos["acc"][0] >= 60 + 20
    assert tree_layout(["a", "b", "c"], [("a", "b"), ("a", "c")], {}, {}, 1.0, 1.0) is None
