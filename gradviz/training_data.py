"""What the training panel and the kernel's training host share, engine-free (no Qt, no
engine): the ready-made loops (presets), the runs' labels, and the CSV of a pair's series.

The window imports only this module of the training machinery; the runs themselves
(``gradviz.training``) execute in the kernel (``gradviz.kernel.training_host``)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

__all__ = ["Preset", "PRESETS", "RUN_LABELS", "preset", "iter_presets", "series_columns",
           "write_series_csv"]

RUN_LABELS = {"zeroed": "with zeroing", "unzeroed": "without zeroing"}


def series_columns(runs: Iterable[Any]) -> list[tuple[str, np.ndarray]]:
    """(header, values) of every series of the runs (each with ``label``, ``loss_values()``,
    ``grad_series``, ``grad_values(s)``, ``param_series``, ``param_value_series(s)``), loss
    first."""
    runs = list(runs)
    cols: list[tuple[str, np.ndarray]] = []
    for r in runs:
        cols.append((f"loss ({r.label})", r.loss_values()))
    for r in runs:
        for s in r.grad_series:
            cols.append((f"{s.label} ({r.label})", r.grad_values(s)))
    for r in runs:
        for s in r.param_series:
            cols.append((f"{s.label} ({r.label})", r.param_value_series(s)))
    return cols


def write_series_csv(cols: list[tuple[str, np.ndarray]], out: str | TextIO) -> None:
    """The columns as CSV: one row per iteration, one column per series and run (empty where a
    run has no value)."""
    n = max((len(v) for _, v in cols), default=0)
    own = isinstance(out, str)
    f = open(out, "w", newline="", encoding="utf-8") if own else out  # noqa: SIM115
    try:
        w = csv.writer(f)
        w.writerow(["iteration"] + [h for h, _ in cols])
        for k in range(n):
            row: list[Any] = [k + 1]
            for _, v in cols:
                row.append("" if k >= len(v) or np.isnan(v[k]) else repr(float(v[k])))
            w.writerow(row)
    finally:
        if own:
            f.close()


# ============================================================================ presets
@dataclass(frozen=True)
class Preset:
    """A ready-made training loop: ``key``, ``title``, ``code``, default ``iterations``,
    learning rate ``lr`` (substituted as the variable ``lr``), ``speed`` (iterations per
    second when played), whether the loss reads best on a log axis, and a one-line
    ``description``."""

    key: str
    title: str
    code: str
    iterations: int
    lr: float
    speed: float
    log_loss: bool = False
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


SEED = Preset(
    "seed", "(a) The seed lesson: weights.grad.zero_()",
    """\
# The seed lesson: .grad accumulates unless zeroed.
weights = torch.ones(4, requires_grad=True)

for epoch in range(iterations):
    model_output = (weights * 3).sum()
    model_output.backward()
    weights.grad.zero_()
""",
    iterations=10, lr=0.01, speed=2,
    description="d(sum(3w))/dw = 3 every time: zeroed 3, 3, 3; not zeroed 3, 6, 9, ...")

REGRESSION = Preset(
    "regression", "(b) Linear regression with optim.SGD",
    """\
# Fit y = 2x + 1: one Linear layer, plain SGD.
torch.manual_seed(0)
x = torch.linspace(-1, 1, 32).reshape(32, 1)
y = 2 * x + 1
model = torch.nn.Linear(1, 1)
loss_fn = torch.nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=lr)

for epoch in range(iterations):
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
""",
    iterations=100, lr=0.2, speed=20, log_loss=True,
    description="zeroed: the loss falls below 1e-3; not zeroed: each step adds every past "
                "gradient again and the parameters swing back and forth")

MLP = Preset(
    "mlp", "(c) A small MLP on a toy 2-D data set",
    """\
# Two half-moons in 2-D, a 2-16-1 MLP, Adam.
rng = np.random.default_rng(0)
t = rng.uniform(0, np.pi, 64)
upper = np.stack([np.cos(t), np.sin(t)], 1)
lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
points = np.concatenate([upper, lower])
points += 0.1 * rng.normal(size=points.shape)
X = torch.tensor(points, dtype=torch.float32)
labels = np.repeat([[1.0], [-1.0]], 64, axis=0)
Y = torch.tensor(labels, dtype=torch.float32)

torch.manual_seed(0)
hidden = torch.nn.Linear(2, 16)
output = torch.nn.Linear(16, 1)
loss_fn = torch.nn.MSELoss()
params = [*hidden.parameters(), *output.parameters()]
optimizer = torch.optim.Adam(params, lr=lr)

for step in range(iterations):
    optimizer.zero_grad()
    prediction = output(torch.tanh(hidden(X)))
    loss = loss_fn(prediction, Y)
    loss.backward()
    optimizer.step()
""",
    iterations=300, lr=0.02, speed=60, log_loss=True,
    description="the gradient norms of both layers: bounded when zeroed, growing without")

MANUAL = Preset(
    "manual", "(d) Gradient descent by hand: w.grad = None",
    """\
# Gradient descent by hand, then forget the grad.
x = torch.tensor([1.0, 2.0, 3.0, 4.0])
y = torch.tensor([2.0, 4.0, 6.0, 8.0])
w = torch.tensor(0.0, requires_grad=True)

for i in range(iterations):
    loss = ((w * x - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        w -= lr * w.grad
    w.grad = None
""",
    iterations=40, lr=0.02, speed=10, log_loss=True,
    description="w walks to 2 when the grad is reset; with the grads piling up it overshoots "
                "and oscillates")

PRESETS: dict[str, Preset] = {p.key: p for p in (SEED, REGRESSION, MLP, MANUAL)}


def preset(key: str) -> Preset:
    """The preset called ``key`` (seed, regression, mlp, manual)."""
    try:
        return PRESETS[key]
    except KeyError:
        raise KeyError(f"no preset {key!r}; choose one of {', '.join(PRESETS)}") from None


def iter_presets() -> Iterable[Preset]:
    return PRESETS.values()
