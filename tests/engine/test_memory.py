"""Long training loops must not grow memory: graphs and saved tensors die with their tensors."""

import gc
import tracemalloc

import engine as torch


def seed_loop(n: int, weights: torch.Tensor) -> None:
    for _ in range(n):
        out = (weights * 3).sum()
        out.backward()
        weights.grad.zero_()


def test_seed_training_loop_10000_iterations_flat_memory():
    weights = torch.ones(4, requires_grad=True)
    seed_loop(500, weights)  # warm up caches
    gc.collect()
    tracemalloc.start()
    try:
        seed_loop(1000, weights)
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        seed_loop(10_000, weights)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - first < 64 * 1024, f"memory grew by {after - first} bytes"
    assert weights.grad.tolist() == [0.0] * 4


def test_graphs_are_freed_without_the_cycle_collector():
    gc.disable()
    try:
        tracemalloc.start()
        x = torch.randn(100_000, requires_grad=True)
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(20):
            y = (x.exp() * x).sum()  # saves two 400 kB arrays per iteration
            y.backward()
        del y
        now, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    # x.grad (400 kB) stays; 20 iterations of saved arrays must not
    assert now - base < 2_000_000, f"{now - base} bytes still held"
