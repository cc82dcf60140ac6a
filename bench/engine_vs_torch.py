"""Benchmark: the engine against PyTorch (CPU) in one run, interleaved, medians and ratios.

    python bench/engine_vs_torch.py [--quick]

Workloads: the seed notebook's cell (tensor, +2, y*y*2, mean, backward); a chain of 200 small
ops plus backward; a 1,000,000-element elementwise graph plus backward; and the seed workload
with a subscriber recording every event; a small MLP training step (float32 matmuls in MKL's
rounding order). Targets on a 2-core machine: seed and chain at most 0.5x torch's time, the
large graph at most 1.0x, the MLP step at most 3x, recording at most 1.5x of not recording.
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
from engine.trace import Recorder  # noqa: E402

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # the engine's own figures still print
    torch = None

SEED_X = [-1.2643, 1.0159, 0.2505]


def seed(lib) -> Callable[[], None]:
    def run() -> None:
        x = lib.tensor(SEED_X, requires_grad=True)
        y = x + 2
        z = (y * y * 2).mean()
        z.backward()
    return run


def chain(lib, n_ops: int = 200) -> Callable[[], None]:
    x0 = lib.tensor(np.linspace(-1, 1, 16, dtype=np.float32), requires_grad=True)

    def run() -> None:
        x = x0
        for i in range(n_ops // 4):
            x = x * 1.01
            x = x + 0.1
            x = x.sin() if i % 2 else x.tanh()
            x = x - 0.05
        x.sum().backward()
        x0.grad = None
    return run


def large(lib, n: int = 1_000_000) -> Callable[[], None]:
    data = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    x = lib.tensor(data, requires_grad=True)
    w = lib.tensor(data[::-1].copy(), requires_grad=True)

    def run() -> None:
        y = (x * w + 2) * x
        z = (y.tanh() + w * 3).sum()
        z.backward()
        x.grad = None
        w.grad = None
    return run


def mlp(lib) -> Callable[[], None]:
    """A small classifier step (the corpus's sizes): Linear(100, 32), ReLU, Linear(32, 10),
    cross_entropy, backward; float32 matmuls in torch's (MKL's) rounding order."""
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((64, 100)).astype(np.float32))
    t = lib.tensor(rng.integers(0, 10, 64))
    w1 = lib.tensor((rng.standard_normal((32, 100)) * 0.1).astype(np.float32),
                    requires_grad=True)
    w2 = lib.tensor((rng.standard_normal((10, 32)) * 0.1).astype(np.float32),
                    requires_grad=True)

    def run() -> None:
        h = lib.nn.functional.relu(lib.nn.functional.linear(x, w1))
        loss = lib.nn.functional.cross_entropy(lib.nn.functional.linear(h, w2), t)
        loss.backward()
        w1.grad = None
        w2.grad = None
    return run


def recorded(lib) -> Callable[[], None]:
    inner = seed(lib)

    def run() -> None:
        with Recorder():
            inner()
    return run


def measure(fns: dict[str, Callable[[], None]], repeat: int, number: int) -> dict[str, float]:
    """Median seconds per call, the candidates interleaved so machine noise hits all alike."""
    for f in fns.values():
        for _ in range(max(1, number // 10)):
            f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(number):
                f()
            times[k].append((time.perf_counter() - t0) / number)
    return {k: statistics.median(v) for k, v in times.items()}


def fmt(s: float) -> str:
    return f"{s * 1e6:10.1f} us" if s < 1e-2 else f"{s * 1e3:10.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = ap.parse_args()
    r = 3 if args.quick else 15
    rows = []
    plan = [("seed cell", seed, r, 200, 0.5), ("chain of 200 ops", chain, r, 10, 0.5),
            ("1M-element graph", large, max(3, r // 3), 2, 1.0),
            ("MLP step (64x100x32x10)", mlp, r, 20, 3.0)]
    for name, make, repeat, number, target in plan:
        fns = {"engine": make(engine)}
        if torch is not None:
            fns["torch"] = make(torch)
        m = measure(fns, repeat, number)
        ratio = m["engine"] / m["torch"] if torch is not None else float("nan")
        rows.append((name, m["engine"], m.get("torch"), ratio, f"<= {target:.1f}x torch",
                     ratio <= target))
    m = measure({"plain": seed(engine), "recording": recorded(engine)}, r, 200)
    ratio = m["recording"] / m["plain"]
    rows.append(("seed, recording events", m["recording"], None, ratio,
                 "<= 1.5x not recording", ratio <= 1.5))
    print(f"engine vs torch {torch.__version__ if torch else '(torch not installed)'}, "
          f"numpy {np.__version__}, torch threads 1, medians of interleaved runs")
    print(f"{'workload':26} {'engine':>13} {'torch':>13} {'ratio':>7}  target")
    for name, e, t, ratio, target, ok in rows:
        tt = fmt(t) if t is not None else f"{fmt(m['plain'])}*"
        print(f"{name:26} {fmt(e):>13} {tt:>13} {ratio:6.2f}x  {target} "
              f"{'ok' if ok else 'MISSED'}")
    print("* for the recording row the comparison is the engine without a subscriber")


if __name__ == "__main__":
    main()
