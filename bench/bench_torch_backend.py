"""Kernel side of the torch backend on a ResNet-18-sized graph (torch's own layers, random
weights, no downloads): nodes, time to snapshot the graph (the window's state message), to
record torch's backward node by node and replay it, beside torch's plain backward.

    python3 bench/bench_torch_backend.py
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gradviz.kernel.torch_snapshot import TorchSnapshotter, track_modules  # noqa: E402
from gradviz.kernel.torch_walk import TorchCursor, graph_nodes  # noqa: E402


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.down is None else self.down(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)


def resnet18(width: int = 8) -> nn.Module:
    layers = [nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]
    c = width
    for i, n in enumerate((2, 2, 2, 2)):
        cout = width * 2 ** i
        for j in range(n):
            layers.append(Block(c, cout, 2 if (j == 0 and i > 0) else 1))
            c = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


def main() -> None:
    torch.manual_seed(0)
    track_modules()
    model = resnet18()
    x = torch.randn(2, 3, 32, 32)
    t0 = time.perf_counter()
    losses = [model(x).logsumexp(1).sum() for _ in range(11)]  # ~11 ResNet-18 graphs in one
    loss = sum(losses[1:], losses[0])
    fwd = time.perf_counter() - t0
    nodes = len(graph_nodes([loss.grad_fn]))
    t0 = time.perf_counter()
    snap = TorchSnapshotter({}, {"model": model})
    snap.tensor(loss, deep=True)
    msg = json.dumps(snap.payload())
    t_snap = time.perf_counter() - t0
    t0 = time.perf_counter()
    loss.backward(retain_graph=True)
    t_plain = time.perf_counter() - t0
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    c = TorchCursor(loss, retain_graph=True)
    c.step()
    t_record = time.perf_counter() - t0
    t0 = time.perf_counter()
    c.run()
    c.reset()
    t_replay = time.perf_counter() - t0
    t0 = time.perf_counter()
    steps = json.dumps(snap.steps(c.steps))
    t_steps = time.perf_counter() - t0
    grouped = sum(1 for r in snap.payload()["nodes"] if "module" in r)
    print(f"graph: {nodes} nodes ({grouped} grouped by module), forward {fwd * 1e3:.0f} ms")
    print(f"snapshot of the graph: {t_snap * 1e3:.0f} ms, {len(msg) / 1e6:.2f} MB JSON")
    print(f"torch backward plain:  {t_plain * 1e3:.0f} ms")
    print(f"recorded (1st step):   {t_record * 1e3:.0f} ms; replay of all {len(c.steps)} steps "
          f"and back: {t_replay * 1e3:.0f} ms; steps as JSON: {t_steps * 1e3:.0f} ms, "
          f"{len(steps) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
