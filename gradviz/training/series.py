"""What a training run records per iteration, in preallocated numpy buffers (no Qt).

For iteration ``k`` (1-based, as "iteration k" in the lesson):

* grads: every parameter's ``.grad`` right after the iteration's last ``backward()``, before
  any ``step()`` or zeroing later in the body (the value the seed lesson prints: 3, 6, 9 / 3, 3,
  3); if the iteration ran no capturable backward, the ``.grad`` at the end of the iteration.
  Tensors of at most ``ELEMENT_LIMIT`` elements are recorded element by element, larger ones by
  their norm;
* loss: a scalar variable named ``loss`` at the end of the iteration, else the scalar root of
  the iteration's backward;
* params: the parameters' values at the end of the iteration (after the optimizer's step).

The buffers grow by doubling; :class:`RunSeries` is the part of a run the views and the CSV
read (``x``, ``loss_values()``, ``grad_values(s)``, ``param_value_series(s)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import Tensor
from gradviz.views import grad_of

__all__ = ["ELEMENT_LIMIT", "Series", "RunSeries"]

#: tensors with at most this many elements are plotted element by element, larger by norm
ELEMENT_LIMIT = 4


@dataclass
class Series:
    """One plotted line of a run: ``label`` (``weights.grad[0]``, ``‖fc1.weight.grad‖``,
    ``loss``), the ``param`` it belongs to ("" for the loss), its ``kind`` ("grad", "param",
    "loss") and its ``column`` in the run's buffer."""

    label: str
    param: str
    kind: str
    column: int


@dataclass
class _Param:
    name: str
    getter: Callable[[], Any]
    numel: int
    shape: tuple[int, ...]
    col: int  # first column in grads/params buffers
    width: int  # numel if element-wise, else 1 (norm)
    last: Tensor | None = None


def _elem_labels(name: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [name]
    return [f"{name}[{', '.join(str(i) for i in idx)}]" for idx in np.ndindex(*shape)]


class RunSeries:
    """The recorded series of one run: ``params`` (columns), ``grad_series`` and
    ``param_series`` (one :class:`Series` per plotted line), the ``grads``/``param_values``
    buffers (iteration x column) and ``loss``; ``count`` rows are filled."""

    count: int

    def __init__(self) -> None:
        self.count = 0  # iterations completed
        self.params: list[_Param] = []
        self.grad_series: list[Series] = []
        self.param_series: list[Series] = []
        self.has_optimizer = False
        self._params_moved = False
        self._cap = 0
        self._width = 0
        self.grads = np.empty((0, 0))
        self.param_values = np.empty((0, 0))
        self.loss = np.empty(0)
        self._nan_row: np.ndarray = np.empty(0)

    def _columns(self, found: list[tuple[str, Callable[[], Any], Tensor]]) -> None:
        """One column (or one per element) for each found ``(name, getter, tensor)``."""
        col = 0
        self.params = []
        self.grad_series = []
        self.param_series = []
        for name, getter, t in found:
            shape = tuple(t.shape)
            numel = t.numel()
            width = numel if numel <= ELEMENT_LIMIT else 1
            p = _Param(name, getter, numel, shape, col, width)
            self.params.append(p)
            if width == numel:
                glabels = _elem_labels(name + ".grad", shape)
                plabels = _elem_labels(name, shape)
            else:
                glabels = [f"‖{name}.grad‖"]
                plabels = [f"‖{name}‖"]
            for j in range(width):
                self.grad_series.append(Series(glabels[j], name, "grad", col + j))
                self.param_series.append(Series(plabels[j], name, "param", col + j))
            col += width
        self._width = col
        self._nan_row = np.full(col, np.nan)

    def _alloc(self, cap: int) -> None:
        w = self._width
        grads = np.full((cap, w), np.nan)
        params = np.full((cap, w), np.nan)
        loss = np.full(cap, np.nan)
        n = self._cap
        if n:
            grads[:n] = self.grads[:n]
            params[:n] = self.param_values[:n]
            loss[:n] = self.loss[:n]
        self.grads, self.param_values, self.loss = grads, params, loss
        self._cap = cap

    def _write(self, buf: np.ndarray, k: int, grad: bool) -> bool:
        """Write row ``k`` of grads (or params); False when a present value is not finite."""
        row = buf[k]
        missing = None
        for p in self.params:
            t = p.getter()
            if grad and t is not None:
                t = grad_of(t) if isinstance(t, Tensor) else None
            if not isinstance(t, Tensor) or t.numel() != p.numel:
                row[p.col:p.col + p.width] = np.nan
                missing = [] if missing is None else missing
                missing.append(p)
                continue
            d = t.numpy(force=True)
            if p.width == p.numel:
                row[p.col:p.col + p.width] = d.reshape(-1)
            else:
                f = d.reshape(-1).astype(np.float64)
                row[p.col] = math.sqrt(float(np.dot(f, f)))
        if missing is None:  # the common case: one reduction for the whole row
            return math.isfinite(row.sum()) or bool(np.isfinite(row).all())
        return all(np.isfinite(row[p.col:p.col + p.width]).all()
                   for p in self.params if p not in missing)


    def _nonfinite_name(self, row: np.ndarray, suffix: str, k: int) -> str:
        for p in self.params:
            seg = row[p.col:p.col + p.width]
            if np.isinf(seg).any() or (np.isnan(seg).any() and not np.isnan(seg).all()):
                name = f"{p.name}.{suffix}" if suffix else p.name
                return f"{name} is not finite at iteration {k + 1}"
            if np.isnan(seg).all():
                t = p.getter()
                if suffix:
                    t = grad_of(t) if isinstance(t, Tensor) else None
                if isinstance(t, Tensor) and not np.isfinite(t.numpy(force=True)).all():
                    name = f"{p.name}.{suffix}" if suffix else p.name
                    return f"{name} is not finite at iteration {k + 1}"
        return f"a value is not finite at iteration {k + 1}"

    # ----- what the views read
    @property
    def x(self) -> np.ndarray:
        """Iteration numbers 1..count."""
        return np.arange(1, self.count + 1, dtype=np.float64)

    def grad_values(self, series: Series | int) -> np.ndarray:
        c = series.column if isinstance(series, Series) else series
        return self.grads[:self.count, c]

    def param_value_series(self, series: Series | int) -> np.ndarray:
        c = series.column if isinstance(series, Series) else series
        return self.param_values[:self.count, c]

    def loss_values(self) -> np.ndarray:
        return self.loss[:self.count]

    @property
    def has_loss(self) -> bool:
        return bool(self.count) and not np.isnan(self.loss[:self.count]).all()

    @property
    def params_change(self) -> bool:
        """True when an optimizer exists or the parameters moved."""
        return self.has_optimizer or self._params_moved

    def grad_of(self, name: str, iteration: int) -> np.ndarray:
        """Recorded grad values (elements or norm) of parameter ``name`` at ``iteration``
        (1-based)."""
        p = next(p for p in self.params if p.name == name)
        return self.grads[iteration - 1, p.col:p.col + p.width].copy()
