"""The graph window on a 5,000-node real torch graph: ResNet-18-sized forwards (torch's own
layers, random weights, no downloads, small inputs), grouped by nn.Module, laid out and
painted offscreen. Prints the kernel's snapshot, the window's build, layout and paint times
and the total against the 1 s target; then the same for the engine backend.

    QT_QPA_PLATFORM=offscreen python3 bench/bench_graph.py [--models 25] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtGui import QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gradviz.graph import build_graph, compound_layout  # noqa: E402
from gradviz.qt.graph_view import GraphView  # noqa: E402
from gradviz.views import World  # noqa: E402

TARGET_MS = 1000.0


def resnet18(nn, width: int = 8):
    """ResNet-18's shape (stem, 4 stages of 2 basic blocks, pool, fc) from ``nn``'s layers."""

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

        def forward(self, x):
            idt = x if self.down is None else self.down(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + idt)

    layers = [nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]
    c = width
    for i, n in enumerate((2, 2, 2, 2)):
        cout = width * 2 ** i
        for j in range(n):
            layers.append(Block(c, cout, 2 if (j == 0 and i > 0) else 1))
            c = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


def torch_payload(models: int) -> tuple[dict, int, float]:
    import torch

    from gradviz.kernel.torch_snapshot import IDS, TorchSnapshotter, track_modules

    torch.manual_seed(0)
    track_modules()
    nets = torch.nn.ModuleList([resnet18(torch.nn) for _ in range(models)])
    x = torch.randn(2, 3, 16, 16)
    loss = sum(net(x).logsumexp(1).sum() for net in nets)
    t0 = time.perf_counter()
    snap = TorchSnapshotter({IDS.tensor(loss): "loss"}, {"nets": nets, "loss": loss})
    snap.tensor(loss, deep=True)
    payload = json.loads(json.dumps(snap.payload()))
    return payload, IDS.tensor(loss), (time.perf_counter() - t0) * 1000


def engine_payload(models: int) -> tuple[dict, int, float]:
    import engine
    from gradviz.kernel.snapshot import Snapshotter, track_engine_modules

    engine.manual_seed(0)
    untrack = track_engine_modules()
    nets = engine.nn.ModuleList([resnet18(engine.nn) for _ in range(models)])
    x = engine.randn(2, 3, 16, 16)
    loss = sum(net(x).logsumexp(1).sum() for net in nets)
    untrack()
    t0 = time.perf_counter()
    snap = Snapshotter({loss._id: "loss"}, {"nets": nets, "loss": loss})
    snap.tensor(loss, deep=True)
    payload = json.loads(json.dumps(snap.payload()))
    return payload, loss._id, (time.perf_counter() - t0) * 1000


def window(payload: dict, root: int, profile: bool) -> dict[str, float]:
    """The window's side: views, build_graph, set_graph (layout + items), first paint."""
    view = GraphView(theme="light")
    view.resize(1024, 768)
    view.show()
    QApplication.processEvents()
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    t0 = time.perf_counter()
    w = World()
    w.update(payload["tensors"], payload["nodes"])
    g = build_graph([w.tensor(root)], {root: "loss"})
    t1 = time.perf_counter()
    view.set_graph(g)
    t2 = time.perf_counter()
    img = QImage(1024, 768, QImage.Format.Format_ARGB32_Premultiplied)
    p = QPainter(img)
    view.render(p)
    p.end()
    t3 = time.perf_counter()
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    st = view._style
    items = {k: it for k, it in view.node_items().items()}
    groups = {k: m for k, m in g.nodes(data="module") if m}
    t4 = time.perf_counter()
    compound_layout(g, groups, widths={k: it.w for k, it in items.items()},
                    heights={k: it.h for k, it in items.items()}, node_gap=st.node_gap,
                    layer_gap=st.layer_gap, pad=st.group_pad, header=st.group_header)
    t5 = time.perf_counter()
    view.fit(whole=True)
    t6 = time.perf_counter()
    p = QPainter(img)
    view.render(p)
    p.end()
    t7 = time.perf_counter()
    out = {"nodes": g.number_of_nodes(), "modules": len(view.module_boxes()),
           "build": (t1 - t0) * 1000, "set_graph": (t2 - t1) * 1000, "layout": (t5 - t4) * 1000,
           "paint": (t3 - t2) * 1000, "paint_whole": (t7 - t6) * 1000,
           "total": (t3 - t0) * 1000}
    view.close()
    view.deleteLater()
    QApplication.processEvents()
    return out


def report(name: str, snap_ms: float, r: dict[str, float]) -> None:
    print(f"{name}: {r['nodes']} nodes in {r['modules']} module boxes")
    print(f"  kernel snapshot (JSON)    {snap_ms:8.1f} ms")
    print(f"  views + build_graph       {r['build']:8.1f} ms")
    print(f"  layout (compound)         {r['layout']:8.1f} ms   (inside set_graph)")
    print(f"  set_graph (layout+items)  {r['set_graph']:8.1f} ms")
    print(f"  first paint 1024x768      {r['paint']:8.1f} ms")
    print(f"  paint, whole graph fitted {r['paint_whole']:8.1f} ms")
    verdict = "meets" if r["total"] <= TARGET_MS else "misses"
    print(f"  window total              {r['total']:8.1f} ms   {verdict} the "
          f"{TARGET_MS:.0f} ms target")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=25,
                    help="ResNet-18s summed into one loss (25: about 5,000 nodes)")
    ap.add_argument("--profile", action="store_true", help="cProfile the window's side")
    ap.add_argument("--skip-engine", action="store_true")
    ap.add_argument("--skip-torch", action="store_true")
    args = ap.parse_args()
    QApplication.instance() or QApplication([])
    try:
        if args.skip_torch:
            raise ImportError
        payload, root, snap_ms = torch_payload(args.models)
    except ImportError:
        print("torch skipped (not installed or --skip-torch)")
    else:
        report("torch", snap_ms, window(payload, root, args.profile))
        del payload
    if not args.skip_engine:
        payload, root, snap_ms = engine_payload(args.models)
        report("engine", snap_ms, window(payload, root, False))


if __name__ == "__main__":
    main()
