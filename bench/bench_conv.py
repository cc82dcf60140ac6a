"""Conv2d forward plus backward on a (32, 3, 32, 32) batch, 16 filters 3x3, padding 1: the
engine beside torch (1 thread and default threads), interleaved runs, medians.

    python3 bench/bench_conv.py [--reps N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine  # noqa: E402


def step_engine(x: np.ndarray, conv: engine.nn.Conv2d) -> None:
    xt = engine.tensor(x, requires_grad=True)
    conv.zero_grad()
    out = conv(xt)
    out.sum().backward()


def step_torch(torch, x, conv) -> None:  # noqa: ANN001
    xt = torch.tensor(x, requires_grad=True)
    conv.zero_grad()
    out = conv(xt)
    out.sum().backward()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    x = np.random.default_rng(0).standard_normal((32, 3, 32, 32)).astype(np.float32)
    conv_e = engine.nn.Conv2d(3, 16, 3, padding=1)
    try:
        import torch
    except ImportError:
        torch = None
    times: dict[str, list[float]] = {"engine": []}
    threads_default = None
    if torch is not None:
        threads_default = torch.get_num_threads()
        conv_t = torch.nn.Conv2d(3, 16, 3, padding=1)
        times["torch (1 thread)"] = []
        times[f"torch ({threads_default} threads)"] = []
    for _ in range(3):  # warm up
        step_engine(x, conv_e)
        if torch is not None:
            step_torch(torch, x, conv_t)
    for _ in range(args.reps):
        t0 = time.perf_counter()
        step_engine(x, conv_e)
        times["engine"].append(time.perf_counter() - t0)
        if torch is not None:
            torch.set_num_threads(1)
            t0 = time.perf_counter()
            step_torch(torch, x, conv_t)
            times["torch (1 thread)"].append(time.perf_counter() - t0)
            torch.set_num_threads(threads_default)
            t0 = time.perf_counter()
            step_torch(torch, x, conv_t)
            times[f"torch ({threads_default} threads)"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print("Conv2d(3, 16, 3, padding=1) forward + backward on (32, 3, 32, 32), median of "
          f"{args.reps} interleaved runs")
    for k, v in med.items():
        print(f"  {k:<22} {v:8.2f} ms")
    if torch is not None:
        for k, v in med.items():
            if k != "engine":
                print(f"  engine / {k:<13} {med['engine'] / v:6.2f}x")


if __name__ == "__main__":
    main()
