"""The whole path of a graph update, kernel to pixels: the agent's snapshot (records built),
its JSON (size, encode), the window's decode (json.loads, World.update + views + build_graph),
layout and first paint, for the seed graph and a 5,000-node torch graph (25 ResNet-18-shaped
nets, bench_graph.py; also after its backward: freed nodes, parameters with grads), on
real torch and on the engine, beside the 1 s target.

    QT_QPA_PLATFORM=offscreen python3 bench/bench_snapshot.py [--models 25] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_graph import TARGET_MS, resnet18, window  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gradviz.app import STARTER  # noqa: E402
from gradviz.graph import build_graph  # noqa: E402
from gradviz.kernel.agent import Agent  # noqa: E402
from gradviz.views import World  # noqa: E402

BIG = """
torch.manual_seed(0)
nets = torch.nn.ModuleList([resnet18(torch.nn) for _ in range({models})])
x = torch.randn(2, 3, 16, 16)
loss = sum(net(x).logsumexp(1).sum() for net in nets)
"""


def agent_for(backend: str) -> tuple[Agent, dict[str, Any], list[dict[str, Any]]]:
    """An agent over a fresh namespace of ``backend`` (its module and source tracking on),
    whose updates are collected instead of sent."""
    ns: dict[str, Any] = {}
    sent: list[dict[str, Any]] = []
    if backend == "torch":
        from gradviz.kernel.backend import TorchBackend
        from gradviz.kernel.torch_snapshot import track_modules, track_sources

        b: Any = TorchBackend()
        track_modules()
        track_sources()
    else:
        from gradviz.kernel.backend import EngineBackend
        from gradviz.kernel.snapshot import track_engine_modules, track_engine_sources

        b = EngineBackend()
        track_engine_modules()
        track_engine_sources()
    agent = Agent(ns, sent.append, install_driver=False, backend=b)
    ns["resnet18"] = resnet18
    return agent, ns, sent


def measure(backend: str, code: str, profile: bool) -> dict[str, Any]:
    agent, ns, sent = agent_for(backend)
    exec(compile(code, "<cell>", "exec"), ns)  # noqa: S102 - the bench's own code
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    t0 = time.perf_counter()
    agent.send_state()
    t1 = time.perf_counter()
    msg = sent[-1]
    data = json.dumps(msg, allow_nan=False).encode()  # as Channel.send
    t2 = time.perf_counter()
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    gc.collect()
    gc.freeze()  # the kernel's heap set aside: the window is another process
    t2b = time.perf_counter()
    got = json.loads(data)
    t3 = time.perf_counter()
    w = World()
    w.update(got["tensors"], got["nodes"])
    names = {int(k): v for k, v in got["names"].items()}
    g = build_graph([w.tensor(got["root"])], names)
    t4 = time.perf_counter()
    win = window(got, got["root"], False)
    gc.unfreeze()
    return {"nodes": g.number_of_nodes(), "tensors": len(got["tensors"]),
            "lazy": sum(1 for r in got["tensors"] if r.get("lazy")),
            "snapshot": (t1 - t0) * 1000, "encode": (t2 - t1) * 1000, "bytes": len(data),
            "decode": (t3 - t2b) * 1000, "views": (t4 - t3) * 1000, "win": win}


def report(name: str, r: dict[str, Any]) -> None:
    w = r["win"]
    total = r["snapshot"] + r["encode"] + r["decode"] + w["total"]
    print(f"{name}: {r['nodes']} graph nodes, {r['tensors']} tensor records "
          f"({r['lazy']} with their repr on demand)")
    print(f"  kernel: snapshot (records)    {r['snapshot']:8.1f} ms")
    print(f"  kernel: JSON encode           {r['encode']:8.1f} ms   "
          f"{r['bytes'] / 1e6:6.2f} MB")
    print(f"  window: JSON decode           {r['decode']:8.1f} ms")
    print(f"  window: World.update + views  {r['views']:8.1f} ms   (build_graph included)")
    print(f"  window: layout + items        {w['set_graph']:8.1f} ms")
    print(f"  window: first paint           {w['paint']:8.1f} ms")
    verdict = "meets" if total <= TARGET_MS else "misses"
    print(f"  whole path                    {total:8.1f} ms   {verdict} the "
          f"{TARGET_MS:.0f} ms target (window part {w['total']:.1f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=25,
                    help="ResNet-18s summed into one loss (25: about 5,000 nodes)")
    ap.add_argument("--profile", action="store_true", help="cProfile the kernel's side")
    ap.add_argument("--skip-engine", action="store_true")
    ap.add_argument("--skip-torch", action="store_true")
    args = ap.parse_args()
    QApplication.instance() or QApplication([])
    backends = [b for b, skip in (("torch", args.skip_torch), ("engine", args.skip_engine))
                if not skip]
    for backend in backends:
        if backend == "torch":
            try:
                import torch  # noqa: F401
            except ImportError:
                print("torch skipped (not installed)")
                continue
        big = BIG.format(models=args.models)
        for graph, code in (("seed graph", STARTER), ("5,000-node graph", big),
                            ("5,000-node graph after loss.backward()",
                             big + "loss.backward()\n")):
            report(f"{backend}, {graph}", measure(backend, code, args.profile))


if __name__ == "__main__":
    main()
