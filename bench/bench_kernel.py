"""The window over its kernel: time to show, time to the seed graph, and a backward step's
round trip (key to repaint) on a 1,000-node graph, each beside its target.

    python bench/bench_kernel.py [--nodes 1000] [--steps 60]

Targets (issue "User code runs in a kernel beside the window"): the window shows within 1.5 s
of launch, the seed graph within 3 s, a step round trip within 16 ms on 1,000 nodes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

T0 = time.perf_counter()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--steps", type=int, default=60)
    args = p.parse_args()

    from PySide6.QtWidgets import QApplication

    from gradviz.app import STARTER
    from gradviz.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    win = MainWindow(restore_settings=False)
    win.resize(1280, 800)
    win.show()
    app.processEvents()
    shown = time.perf_counter() - T0
    win.load_starter(STARTER)
    app.processEvents()
    seed = time.perf_counter() - T0
    n_seed = win.graph_view.graph.number_of_nodes()

    # a chain: x -> (mul, add) * k -> sum, about --nodes grad_fn nodes
    k = max(1, (args.nodes - 3) // 2)
    win.session.run(f"x = torch.randn(8, requires_grad=True)\ny = x\nfor _ in range({k}):\n"
                    "    y = y * 1.0001 + 0.001\nloss = y.sum()")
    win.refresh_graph()
    app.processEvents()
    n_nodes = sum(1 for _, d in win.graph_view.graph.nodes(data=True)
                  if d["kind"] in ("grad_fn", "accumulate"))
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        win.stepper.step()
        app.processEvents()  # the repaint
        times.append((time.perf_counter() - t) * 1000)
    kernel_ms = [win.kernel.last_state.get("build_ms", 0.0)]
    win.close()

    print(f"window shown after launch     {shown:6.2f} s   (target 1.5 s)")
    print(f"seed graph drawn ({n_seed} nodes)   {seed:6.2f} s   (target 3 s)")
    print(f"step round trip, {n_nodes} nodes: median {statistics.median(times):.1f} ms, "
          f"p90 {sorted(times)[int(len(times) * 0.9)]:.1f} ms   (target 16 ms); "
          f"kernel side {kernel_ms[0]:.1f} ms")


if __name__ == "__main__":
    main()
