"""Bench: the training panel plays 10,000 iterations of the seed loop through the kernel, with
the plots live.

    python bench/bench_training_panel.py [--iterations N] [--size 1400x800] [--check]
                                         [--in-process]

Target (issue 9): at least 1,000 iterations per second (each iteration runs both loops, with
and without zeroing) while the plots are redrawn at least 20 times per second. The runs
execute in a kernel process (``python -m gradviz.kernel``, driven by ``KernelClient``) and
stream their series to the panel, shown offscreen (QT_QPA_PLATFORM=offscreen unless set) at
the given size over a ``RemoteSession`` as in the window; it plays flat out ("max" speed)
and the Qt event loop runs as in the app. ``--in-process`` uses the in-process kernel instead
(the host plays frame by frame in this process, as in the widget tests). Measured: wall time,
the window process's CPU time, iterations per second, the kernel's messages per second, plot
updates per second (``setData`` rounds) and paints of the plot widget per second; the load
average is printed because other processes on a 2-core machine slow every figure down.
``--check`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_IPS = 1000.0
TARGET_RPS = 20.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=10_000)
    ap.add_argument("--size", default="1400x800")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--json", action="store_true", help="print one JSON line only")
    ap.add_argument("--in-process", action="store_true",
                    help="the in-process kernel (frame by frame) instead of a kernel process")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))

    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    import gradviz.qt  # noqa: F401  (PySide6 refcount guard)
    from gradviz.qt.bridge import Bridge
    from gradviz.qt.kernel_client import KernelClient
    from gradviz.qt.remote_session import InProcessKernel, RemoteSession
    from gradviz.qt.training_panel import TrainingPanel

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if args.in_process:
        kernel = InProcessKernel()
    else:
        env = {"PYTHONPATH": str(Path(__file__).resolve().parents[1]) + os.pathsep
               + os.environ.get("PYTHONPATH", "")}
        kernel = KernelClient(env=env)
        kernel.start()
        if not kernel.wait_for(lambda: kernel.ready, 60):
            print("the kernel did not start")
            return 1
    session = RemoteSession(kernel)
    bridge = Bridge(session)
    panel = TrainingPanel(session, bridge)
    panel.resize(w, h)
    panel.show()

    class PaintCounter(QObject):
        paints = 0

        def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802 - Qt's name
            if ev.type() == QEvent.Paint:
                PaintCounter.paints += 1
            return False

    counter = PaintCounter()
    panel.plots.viewport().installEventFilter(counter)
    panel.load_preset("seed")
    panel.iterations_spin.setValue(args.iterations)
    panel.set_speed(None)
    panel.reset()
    for _ in range(5):
        app.processEvents()

    PaintCounter.paints = 0
    redraws0 = panel.redraws
    messages0 = panel.messages
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    c0 = time.process_time()
    t0 = time.perf_counter()
    panel.play()
    while panel.kernel_playing:
        app.processEvents()
        if time.perf_counter() - t0 > 600:
            break
    wall = time.perf_counter() - t0
    for _ in range(5):
        app.processEvents()
    cpu = time.process_time() - c0
    pair = panel.pair
    n = pair.count
    redraws = panel.redraws - redraws0
    messages = panel.messages - messages0
    ok_values = (pair.unzeroed.grads[n - 1, 0] == 3.0 * n and
                 bool((pair.zeroed.grads[:n, 0] == 3.0).all()) and
                 pair.zeroed.count == pair.unzeroed.count == args.iterations)
    result = {
        "iterations": n,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "iterations_per_s": round(n / wall, 1),
        "redraws_per_s": round(redraws / wall, 1),
        "messages_per_s": round(messages / wall, 1),
        "kernel": "in-process" if args.in_process else "process",
        "paints_per_s": round(PaintCounter.paints / wall, 1),
        "iterations_per_cpu_s": round(n / cpu, 1) if cpu else None,
        "load_avg_1min": round(load, 2),
        "values_ok": ok_values,
        "size": f"{w}x{h}",
    }
    met = (result["iterations_per_s"] >= TARGET_IPS and
           result["redraws_per_s"] >= TARGET_RPS and ok_values)
    result["targets_met"] = met
    if args.json:
        print(json.dumps(result))
    else:
        print(f"seed loop, {n} iterations (x2 runs) in the kernel ({result['kernel']}) with "
              f"the plots live at {w}x{h}:")
        print(f"  {result['iterations_per_s']:.0f} iterations/s (target {TARGET_IPS:.0f}), "
              f"{result['redraws_per_s']:.1f} plot updates/s and {result['paints_per_s']:.1f} "
              f"paints/s (target {TARGET_RPS:.0f}); {result['messages_per_s']:.1f} kernel "
              "messages/s")
        print(f"  wall {wall:.2f} s, window CPU {cpu:.2f} s, load average {load:.2f}")
        print(f"  values: unzeroed grad at iteration {n} = {pair.unzeroed.grads[n - 1, 0]:g}, "
              f"zeroed = {pair.zeroed.grads[n - 1, 0]:g} ({'ok' if ok_values else 'WRONG'})")
        print("  targets met" if met else "  TARGET MISSED")
    # tear down before the QApplication goes (locals die in an arbitrary order otherwise)
    panel.plots.viewport().removeEventFilter(counter)
    panel.close()
    bridge.close()
    session.close()
    kernel.shutdown()
    panel.deleteLater()
    del panel, counter
    app.processEvents()
    gc.collect()
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
