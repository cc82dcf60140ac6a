"""Benchmark: one training step of a 2-layer MLP in the engine and in PyTorch (CPU), same run.

    python bench/bench_training.py [--quick]

A step is ``zero_grad(); loss = loss_fn(model(x), y); loss.backward(); optimizer.step()`` with
Linear(32, 64) -> ReLU -> Linear(64, 10), batch 64, float32. Workloads: SGD + MSELoss (the
target: at most 1.5x torch's time), SGD with momentum + CrossEntropyLoss, Adam + MSELoss.
Runs are interleaved (engine, torch, engine, ...) and each figure is the median of many
repeats of a batch of steps. torch runs on one thread, as the engine does.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import engine  # noqa: E402

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # the engine's own figures still print
    torch = None

BATCH, IN, HIDDEN, OUT = 64, 32, 64, 10
TARGET = 1.5


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = np.random.default_rng(0)
    x = r.standard_normal((BATCH, IN)).astype(np.float32)
    y = r.standard_normal((BATCH, OUT)).astype(np.float32)
    labels = r.integers(0, OUT, BATCH)
    return x, y, labels


def make_step(lib, loss: str, opt: str) -> Callable[[], None]:
    """One training step of the MLP in ``lib`` (weights equal in both libraries)."""
    x_np, y_np, labels = _data()
    lib.manual_seed(0)
    model = lib.nn.Sequential(lib.nn.Linear(IN, HIDDEN), lib.nn.ReLU(),
                              lib.nn.Linear(HIDDEN, OUT))
    r = np.random.default_rng(1)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(r.uniform(-0.1, 0.1, tuple(p.shape)).astype(np.float32)))
    x = lib.tensor(x_np)
    if loss == "mse":
        y = lib.tensor(y_np)
        loss_fn = lib.nn.MSELoss()
    else:
        y = lib.tensor(labels)
        loss_fn = lib.nn.CrossEntropyLoss()
    if opt == "sgd":
        optimizer = lib.optim.SGD(model.parameters(), lr=0.01)
    elif opt == "momentum":
        optimizer = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad()
        out = loss_fn(model(x), y)
        out.backward()
        optimizer.step()
    return step


WORKLOADS = {
    "MLP step, SGD + MSELoss": ("mse", "sgd"),
    "MLP step, SGD momentum + CrossEntropy": ("ce", "momentum"),
    "MLP step, Adam + MSELoss": ("mse", "adam"),
}


def _time(fn: Callable[[], None], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def measure(name: str, repeats: int, inner: int) -> tuple[float, float | None]:
    loss, opt = WORKLOADS[name]
    fe = make_step(engine, loss, opt)
    ft = make_step(torch, loss, opt) if torch is not None else None
    for _ in range(20):  # warm up (torch compiles its optimizer paths on first use)
        fe()
        if ft is not None:
            ft()
    te, tt = [], []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            te.append(_time(fe, inner))
            if ft is not None:
                tt.append(_time(ft, inner))
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(te), (statistics.median(tt) if tt else None)


def check_same_losses(steps: int = 20) -> float:
    """Largest loss difference between the libraries over ``steps`` steps (sanity check)."""
    if torch is None:
        return float("nan")
    worst = 0.0
    for loss, opt in WORKLOADS.values():
        losses = []
        for lib in (engine, torch):
            x_np, y_np, labels = _data()
            model = lib.nn.Sequential(lib.nn.Linear(IN, HIDDEN), lib.nn.ReLU(),
                                      lib.nn.Linear(HIDDEN, OUT))
            r = np.random.default_rng(1)
            with lib.no_grad():
                for p in model.parameters():
                    p.copy_(lib.tensor(r.uniform(-0.1, 0.1, tuple(p.shape)).astype(np.float32)))
            x = lib.tensor(x_np)
            y = lib.tensor(y_np) if loss == "mse" else lib.tensor(labels)
            fn = lib.nn.MSELoss() if loss == "mse" else lib.nn.CrossEntropyLoss()
            o = (lib.optim.SGD(model.parameters(), lr=0.01) if opt == "sgd" else
                 lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if opt == "momentum"
                 else lib.optim.Adam(model.parameters(), lr=1e-3))
            run = []
            for _ in range(steps):
                o.zero_grad()
                lv = fn(model(x), y)
                lv.backward()
                o.step()
                run.append(lv.item())
            losses.append(run)
        worst = max(worst, float(np.max(np.abs(np.array(losses[0]) - np.array(losses[1])))))
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = ap.parse_args(argv)
    repeats, inner = (5, 20) if args.quick else (31, 50)
    print(f"batch {BATCH}, {IN} -> {HIDDEN} -> {OUT}, float32; median of {repeats} x {inner} "
          "steps, interleaved")
    if torch is not None:
        print(f"torch {torch.__version__} (1 thread), numpy {np.__version__}; loss difference "
              f"over 20 steps: {check_same_losses():.1e}")
    print(f"{'workload':40s} {'engine ms':>10s} {'torch ms':>10s} {'ratio':>7s}")
    status = 0
    for i, name in enumerate(WORKLOADS):
        e, t = measure(name, repeats, inner)
        if t is None:
            print(f"{name:40s} {e * 1e3:10.3f} {'-':>10s} {'-':>7s}")
            continue
        ratio = e / t
        mark = ""
        if i == 0:
            mark = "  (target <= 1.5x)" + ("" if ratio <= TARGET else "  MISSED")
            if ratio > TARGET:
                status = 1
        print(f"{name:40s} {e * 1e3:10.3f} {t * 1e3:10.3f} {ratio:6.2f}x{mark}")
    return status


if __name__ == "__main__":
    sys.exit(main())
