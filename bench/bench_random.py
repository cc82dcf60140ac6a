"""Benchmark: the engine's torch-exact random samplers against PyTorch (CPU), side by side.

    python bench/bench_random.py [--quick]

Each workload runs interleaved in both libraries after the same manual_seed; the script also
checks that the numbers are identical, so a speed-up that changed the draws would show here.
"""

from __future__ import annotations

import argparse
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

WORKLOADS: dict[str, Callable] = {
    "randn(1_000_000)": lambda lib: lib.randn(1_000_000),
    "randn(1_000_000, float64)": lambda lib: lib.randn(1_000_000, dtype=lib.float64),
    "rand(1_000_000)": lambda lib: lib.rand(1_000_000),
    "randint(0, 10, (1_000_000,))": lambda lib: lib.randint(0, 10, (1_000_000,)),
    "randperm(60_000)": lambda lib: lib.randperm(60_000),
    "dropout(1000x1000, 0.5)": lambda lib: lib.nn.functional.dropout(lib.ones(1000, 1000), 0.5),
    "Linear(784, 256) init": lambda lib: lib.nn.Linear(784, 256),
    "randn(3) x 1000 calls": lambda lib: [lib.randn(3) for _ in range(1000)],
}


def _time(fn: Callable, lib, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        lib.manual_seed(0)
        t = time.perf_counter()
        fn(lib)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _values(x) -> np.ndarray:
    if isinstance(x, list):
        x = x[-1]
    if hasattr(x, "weight"):
        x = x.weight
    x = x.detach() if hasattr(x, "detach") else x
    return x._data if isinstance(x, engine.Tensor) else x.numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    repeats = 3 if ap.parse_args().quick else 7
    print(f"{'workload':32s} {'engine ms':>10s} {'torch ms':>10s} {'ratio':>7s}  same bits")
    for name, fn in WORKLOADS.items():
        te = _time(fn, engine, repeats)
        if torch is None:
            print(f"{name:32s} {te * 1e3:10.2f}")
            continue
        tt = _time(fn, torch, repeats)
        engine.manual_seed(0)
        torch.manual_seed(0)
        same = _values(fn(engine)).tobytes() == _values(fn(torch)).tobytes()
        print(f"{name:32s} {te * 1e3:10.2f} {tt * 1e3:10.2f} {te / tt:6.1f}x  {same}")


if __name__ == "__main__":
    main()
