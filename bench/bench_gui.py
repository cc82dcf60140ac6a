"""Benchmark of the graph pipeline: build_graph, layout, first paint and one step.

Not a test: prints a table. Graphs are synthetic torch computations with about N grad_fn
nodes: a chain, a binary tree (N/2 leaves) and a DAG whose ops reuse earlier values and a few
parameters (long edges). Targets: 1,000 grad_fn nodes laid out and painted within 300 ms, a
step (one node's state changed and repainted) within 16 ms.

    QT_QPA_PLATFORM=offscreen python bench/bench_gui.py [--sizes 100 1000 5000] [--kinds ...]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gradviz.graph import build_graph, compute_layout  # noqa: E402
from gradviz.qt.graph_view import GraphView  # noqa: E402


def chain(n: int) -> torch.Tensor:
    """A chain of n grad_fn nodes."""
    y = torch.randn(4, requires_grad=True)
    for i in range(n - 1):
        y = y * 1.01 if i % 2 else y + 0.5
    return y.sum()


def tree(n: int) -> torch.Tensor:
    """A binary reduction over n/2 leaves: about n grad_fn nodes."""
    xs = [torch.randn(2, requires_grad=True) * 1.0 for _ in range(n // 2 + 1)]
    while len(xs) > 1:
        nxt = [xs[i] * xs[i + 1] if i % 4 else xs[i] + xs[i + 1]
               for i in range(0, len(xs) - 1, 2)]
        if len(xs) % 2:
            nxt.append(xs[-1])
        xs = nxt
    return xs[0].sum()


def dag(n: int, seed: int = 0) -> torch.Tensor:
    """Ops mixing the last value with a recent one or a shared parameter (long edges)."""
    rng = random.Random(seed)
    ws = [torch.randn(3, requires_grad=True) for _ in range(max(2, n // 20))]
    vals = [ws[0] * 1.0]
    for i in range(n - 2):
        b = rng.choice(vals[-30:]) if rng.random() < 0.5 else rng.choice(ws)
        vals.append(vals[-1] * b if i % 3 == 0 else vals[-1] + b)
    return vals[-1].sum()


KINDS = {"chain": chain, "tree": tree, "dag": dag}


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f}"


def bench_one(app: QApplication, kind: str, n: int, steps: int = 20) -> dict[str, float]:
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    torch.manual_seed(0)
    root = KINDS[kind](n)
    t = time.perf_counter()
    g = build_graph(root)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    compute_layout(g)
    t_layout = time.perf_counter() - t

    view = GraphView()
    view.resize(1280, 800)
    view.show()
    app.processEvents()
    t = time.perf_counter()
    view.set_graph(g)  # items + layout with measured widths + fit
    t_items = time.perf_counter() - t
    t = time.perf_counter()
    view.grab()
    t_paint = time.perf_counter() - t

    # steps: walk backward's order over the visible nodes, current -> done, then repaint
    vis = view.mapToScene(view.viewport().rect()).boundingRect()
    fns = [k for k, d in g.nodes(data=True) if d["kind"] in ("grad_fn", "accumulate")
           and vis.contains(view.node_item(k).scenePos())] or list(g.nodes)
    app.processEvents()
    times = []
    prev = None
    for k in fns[:steps]:
        t = time.perf_counter()
        if prev is not None:
            view.set_node_state(prev, "done")
        view.set_node_state(k, "current")
        app.processEvents()  # the view repaints the two items' regions
        times.append(time.perf_counter() - t)
        prev = k
    t_step = statistics.median(times)

    t = time.perf_counter()
    view.zoom_in()
    view.grab()
    t_zoom = time.perf_counter() - t
    view.close()
    view.deleteLater()
    app.processEvents()
    nf = sum(1 for d in g.nodes.values() if d["kind"] == "grad_fn")
    return {"fn": nf, "nodes": g.number_of_nodes(), "edges": g.number_of_edges(),
            "build": t_build, "layout": t_layout, "items": t_items, "paint": t_paint,
            "step": t_step, "zoom": t_zoom}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per graph up to 1,000 nodes (the best is shown); 1 above")
    args = ap.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    head = (f"{'graph':>6} {'N':>5} {'grad_fn':>7} {'nodes':>6} {'edges':>6} | "
            f"{'build':>8} {'layout':>8} {'set_graph':>9} {'1st paint':>9} "
            f"{'lay+paint':>9} {'step':>7} {'zoom+paint':>10}   (ms)")
    print(head)
    print("-" * len(head))
    for kind in args.kinds:
        for n in args.sizes:
            runs = [bench_one(app, kind, n) for _ in range(args.repeat if n <= 1000 else 1)]
            r = {k: min(run[k] for run in runs) for k in runs[0]}
            total = r["items"] + r["paint"]
            flag = ""
            if r["fn"] >= 900 and r["fn"] <= 1100:
                flag = "  ok" if total <= 0.3 else "  > 300 ms"
            print(f"{kind:>6} {n:>5} {r['fn']:>7} {r['nodes']:>6} {r['edges']:>6} | "
                  f"{ms(r['build'])} {ms(r['layout'])} {ms(r['items']):>9} "
                  f"{ms(r['paint']):>9} {ms(total):>9} {r['step'] * 1e3:7.2f} "
                  f"{ms(r['zoom']):>10}{flag}", flush=True)
    print("\nset_graph = items + layout with measured widths + fit; lay+paint = set_graph + "
          "1st paint; step = median of one node current->done + repaint; best of --repeat "
          "runs up to 1,000 nodes. Load on this machine: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
