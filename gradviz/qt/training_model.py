"""What the training panel shows, without Qt: the kernel's pair of runs as views (series in
buffers grown by doubling), which curves exist and how each is drawn (colour means the run,
line style the parameter), the legend, the plot grid, the hover readout, the notes and the
editor's marks, and the CSV. The widgets (``training_plots``, ``training_controls``,
``training_panel``) draw what this module decides."""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from gradviz.formatting import number_text as fmt_value  # re-exported
from gradviz.formatting import short_values  # noqa: F401 - re-exported
from gradviz.theme import PlotColours
from gradviz.training.table import RUN_LABELS, series_columns, write_series_csv

__all__ = ["RunView", "PairView", "CurveSpec", "LegendSpec", "RUNS", "run_colour",
           "curve_specs", "legend_specs", "plot_wanted", "plot_grid", "readout_values",
           "readout_html", "note_html", "editor_marks", "fmt_value", "short_values",
           "group_values", "numbers"]

RUNS = ("zeroed", "unzeroed")


def numbers(values: list[Any]) -> np.ndarray:
    """A flat list from the kernel (non-finite numbers as strings) as float64."""
    return np.asarray(values, dtype=np.float64) if values else np.empty(0)


class _Series:
    """One plotted line of a run (as ``gradviz.training.Series``)."""

    __slots__ = ("label", "param", "kind", "column")

    def __init__(self, label: str, param: str, kind: str, column: int) -> None:
        self.label, self.param, self.kind, self.column = label, param, kind, column


class _Param:
    """A parameter of a run: its name, size and columns in the series buffers."""

    __slots__ = ("name", "numel", "shape", "col", "width")

    def __init__(self, rec: dict[str, Any]) -> None:
        self.name = rec["name"]
        self.numel = int(rec["numel"])
        self.shape = tuple(rec["shape"])
        self.col = int(rec["col"])
        self.width = int(rec["width"])


class _Toggled:
    """A line one run has and the other has not (as ``gradviz.training.ToggledLine``)."""

    __slots__ = ("line", "text", "action", "kind", "after")

    def __init__(self, rec: dict[str, Any]) -> None:
        self.line, self.text, self.action = rec["line"], rec["text"], rec["action"]
        self.kind, self.after = rec["kind"], rec.get("after")


class RunView:
    """One run of the kernel's training pair as its messages describe it: the series in
    buffers grown by doubling, the state and error (read like ``gradviz.training.
    TrainingRun``; nothing here runs)."""

    def __init__(self, key: str, layout: dict[str, Any]) -> None:
        self.key = key
        self.label: str = layout["label"]
        self.source: str = layout["source"]
        self.params = [_Param(p) for p in layout["params"]]
        self.grad_series = [_Series(a, b, "grad", c) for a, b, c in layout["grad_series"]]
        self.param_series = [_Series(a, b, "param", c) for a, b, c in layout["param_series"]]
        self.width = sum(p.width for p in self.params)
        self.count = 0
        self.state = "new"
        self.error: str | None = None
        self.error_kind: str | None = None
        self.error_line: int | None = None
        self.editor_line: int | None = None
        self.error_iteration: int | None = None
        self.stop_reason = ""
        self.params_change = False
        self.root: int | None = None  # the kernel's id of the current iteration's root
        self._names: dict[int, str] = {}
        self._cap = 0
        self.grads = np.empty((0, self.width))
        self.param_values = np.empty((0, self.width))
        self.loss = np.empty(0)

    def _grow(self, n: int) -> None:
        if n <= self._cap:
            return
        cap = max(16, self._cap * 2, n)
        for name in ("grads", "param_values"):
            buf = np.full((cap, self.width), np.nan)
            buf[:self._cap] = getattr(self, name)[:self._cap]
            setattr(self, name, buf)
        loss = np.full(cap, np.nan)
        loss[:self._cap] = self.loss[:self._cap]
        self.loss = loss
        self._cap = cap

    def update(self, delta: dict[str, Any]) -> None:
        """New rows from ``delta["from"]`` on, and the run's status."""
        n0 = int(delta["from"])
        loss = numbers(delta["loss"])
        k = len(loss)
        if k:
            self._grow(n0 + k)
            w = self.width
            self.loss[n0:n0 + k] = loss
            if w:
                self.grads[n0:n0 + k] = numbers(delta["grads"]).reshape(k, w)
                self.param_values[n0:n0 + k] = numbers(delta["params"]).reshape(k, w)
        st = delta.get("status") or {}
        for name in ("count", "state", "error", "error_kind", "error_line", "editor_line",
                     "error_iteration", "stop_reason", "params_change", "root"):
            if name in st:
                setattr(self, name, st[name])
        self.count = min(self.count, n0 + k) if k or n0 < self.count else self.count

    @property
    def active(self) -> bool:
        return self.state in ("ready", "in_backward")

    @property
    def has_loss(self) -> bool:
        return bool(self.count) and not np.isnan(self.loss[:self.count]).all()

    @property
    def x(self) -> np.ndarray:
        return np.arange(1, self.count + 1, dtype=np.float64)

    def loss_values(self) -> np.ndarray:
        return self.loss[:self.count]

    def grad_values(self, series: _Series | int) -> np.ndarray:
        c = series.column if isinstance(series, _Series) else series
        return self.grads[:self.count, c]

    def param_value_series(self, series: _Series | int) -> np.ndarray:
        c = series.column if isinstance(series, _Series) else series
        return self.param_values[:self.count, c]

    def grad_of(self, name: str, iteration: int) -> np.ndarray:
        p = next(p for p in self.params if p.name == name)
        return self.grads[iteration - 1, p.col:p.col + p.width].copy()

    def names(self) -> dict[int, str]:
        """Kernel tensor id -> name in this run (from the last root the kernel sent)."""
        return dict(self._names)


class PairView:
    """The kernel's training pair: both runs, the code as written, the toggled lines."""

    def __init__(self, layout: dict[str, Any]) -> None:
        self.gen: int = layout["gen"]
        self.code: str = layout["code"]
        self.limit: int = int(layout["limit"])
        self.note: str = layout["note"]
        self.as_written: str = layout["as_written"]
        self.toggled = [_Toggled(t) for t in layout["toggled"]]
        self.zeroed = RunView("zeroed", layout["runs"]["zeroed"])
        self.unzeroed = RunView("unzeroed", layout["runs"]["unzeroed"])
        self.runs = (self.zeroed, self.unzeroed)
        self.data: dict[str, Any] | None = layout.get("data")

    def run(self, which: str) -> RunView:
        if which in ("zeroed", RUN_LABELS["zeroed"]):
            return self.zeroed
        if which in ("unzeroed", RUN_LABELS["unzeroed"]):
            return self.unzeroed
        raise KeyError(which)

    @property
    def count(self) -> int:
        return max(r.count for r in self.runs)

    @property
    def active(self) -> bool:
        return any(r.active for r in self.runs)

    def columns(self) -> list[tuple[str, np.ndarray]]:
        return series_columns(self.runs)

    def write_csv(self, out: str | os.PathLike[str] | TextIO) -> None:
        """Every series as CSV (a path: written whole or not at all)."""
        write_series_csv(self.columns(), out)


def group_values(params: list[Any], row: np.ndarray, suffix: str) -> list[str]:
    """``weights.grad = 3`` when every element is equal, else the values in brackets."""
    out = []
    for p in params:
        seg = row[p.col:p.col + p.width]
        if p.width == 1 and p.numel > 1:
            out.append(f"‖{p.name}{suffix}‖ = {fmt_value(float(seg[0]))}")
        elif p.width == 1:
            out.append(f"{p.name}{suffix} = {fmt_value(float(seg[0]))}")
        elif np.all(seg == seg[0]):
            out.append(f"{p.name}{suffix} = {fmt_value(float(seg[0]))} (all {p.width})")
        else:
            out.append(f"{p.name}{suffix} = [{', '.join(fmt_value(float(v)) for v in seg)}]")
    return out



# ============================================================================ how it is drawn
def run_colour(colours: PlotColours, run_key: str) -> str:
    """A run's colour: the one thing colour means on every plot, legend and readout."""
    return colours.zeroed if run_key == "zeroed" else colours.unzeroed


@dataclass(frozen=True)
class CurveSpec:
    """One curve to draw: the run (its colour), the plot ``kind`` (grad, loss, param), the
    buffer ``column``, its ``label``, the ``param`` it belongs to ("" for the loss) and the
    ``style`` index (the parameter's line style: the loss is solid, as the first parameter,
    but in a plot of its own)."""

    run_key: str
    kind: str
    column: int
    label: str
    param: str
    style: int


@dataclass(frozen=True)
class LegendSpec:
    """One legend entry: a run (drawn in its colour) or a parameter (its line style in a
    neutral colour); ``curves`` are the indexes into the curve specs it hides or shows."""

    text: str
    run_key: str | None
    style: int
    curves: tuple[int, ...]


def param_names(pair: PairView) -> list[str]:
    """The parameters of both runs, each once, in order (their index is their line style)."""
    names: list[str] = []
    for run in pair.runs:
        for p in run.params:
            if p.name not in names:
                names.append(p.name)
    return names


def curve_specs(pair: PairView) -> list[CurveSpec]:
    """Every curve of the pair: per run its loss, then its grads and parameters."""
    index = {n: i for i, n in enumerate(param_names(pair))}
    out: list[CurveSpec] = []
    for run_key, run in zip(RUNS, pair.runs):
        out.append(CurveSpec(run_key, "loss", 0, "loss", "", 0))
        for kind, series in (("grad", run.grad_series), ("param", run.param_series)):
            out.extend(CurveSpec(run_key, kind, s.column, s.label, s.param, index[s.param])
                       for s in series)
    return out


def legend_specs(pair: PairView, curves: list[CurveSpec]) -> list[LegendSpec]:
    """One entry per run (its colour; "(as written)" on the run the editor holds), and with
    several parameters one per parameter (its line style)."""
    out = []
    for run_key in RUNS:
        text = RUN_LABELS[run_key] + (" (as written)" if pair.as_written == run_key else "")
        out.append(LegendSpec(text, run_key, 0, tuple(
            i for i, c in enumerate(curves) if c.run_key == run_key)))
    names = param_names(pair)
    if len(names) > 1:
        for j, n in enumerate(names):
            out.append(LegendSpec(n, None, j, tuple(
                i for i, c in enumerate(curves) if c.param == n)))
    return out


def plot_wanted(pair: PairView | None, kind: str) -> bool:
    """Whether plot ``kind`` has something to say: the grads always, the loss when a run has
    one (or nothing ran yet), the parameters when they move."""
    if kind == "grad":
        return True
    if pair is None:
        return False
    if kind == "loss":
        return pair.count == 0 or any(r.has_loss for r in pair.runs)
    return any(r.param_series and r.params_change for r in pair.runs)


def plot_grid(n: int, width: float, height: float, cell_w: float, row_h: float
              ) -> tuple[int, int]:
    """(rows, columns) for ``n`` plots in ``width`` x ``height``: as many columns as plots
    ``cell_w`` wide fit, more when the height holds fewer rows of ``row_h`` (so no plot
    shrinks to its title), in balanced rows (2 + 2, not 3 + 1)."""
    n = max(1, n)
    cols = max(1, min(n, int(width // max(cell_w, 1))))
    rows_fit = max(1, int(height // max(row_h, 1)))
    cols = max(cols, min(n, math.ceil(n / rows_fit)))
    rows = math.ceil(n / cols)
    cols = math.ceil(n / rows)
    return rows, cols


# ============================================================================ words
def readout_values(pair: PairView | None, k: int) -> dict[str, dict[str, float]]:
    """Run label -> {series label -> value} at iteration ``k`` (what the hover shows)."""
    out: dict[str, dict[str, float]] = {}
    if pair is None:
        return out
    for r in pair.runs:
        vals: dict[str, float] = {}
        if 1 <= k <= r.count:
            if r.has_loss:
                vals["loss"] = float(r.loss[k - 1])
            for s in r.grad_series:
                vals[s.label] = float(r.grads[k - 1, s.column])
            if r.params_change:
                for s in r.param_series:
                    vals[s.label] = float(r.param_values[k - 1, s.column])
        out[r.label] = vals
    return out


def state_html(r: RunView, c: PlotColours) -> str:
    """How run ``r`` stands, after its values: stopped on an error (where, torch's message),
    paused in backward, or finished (why)."""
    if r.state == "error":
        where = f" at iteration {r.error_iteration}" if r.error_iteration else ""
        if r.error_line:
            src = r.source.splitlines()
            text = src[r.error_line - 1].strip() if r.error_line <= len(src) else ""
            where += f", line {r.error_line} <code>{html.escape(text)}</code>"
        return (f"<br>&nbsp;&nbsp;<span style='color:{c.error}'><b>stopped{where}:</b> "
                f"{html.escape(r.error or '')}</span>")
    if r.state == "in_backward":
        return " <i>(paused in backward)</i>"
    if r.state == "finished":
        return f" <span style='color:{c.muted}'>— {html.escape(r.stop_reason)}</span>"
    return ""


def readout_html(pair: PairView | None, k: int, c: PlotColours, *, hover: bool = False,
                 hover_kind: str = "grad", dirty: bool = False, note: str = "") -> str:
    """The readout under the plots: iteration ``k`` (``hover``: the one under the mouse), each
    run's values in its colour and its state, an edited-code warning and ``note``."""
    note_html_ = (f"<br><span style='color:{c.warn}'><b>{html.escape(note)}</b></span>"
                  if note else "")
    if pair is None:
        return "<b>Iteration 0</b>" + (note_html_ or " <i>(the kernel has not built the "
                                                    "runs yet)</i>")
    rows = []
    for key, r in zip(RUNS, pair.runs):
        head = f"<span style='color:{run_colour(c, key)}'><b>{html.escape(r.label)}</b></span>"
        parts = []
        if 1 <= k <= r.count:
            if r.has_loss:
                parts.append(f"loss {fmt_value(float(r.loss[k - 1]))}")
            if hover_kind == "param" and r.params_change:
                parts.extend(group_values(r.params, r.param_values[k - 1], ""))
            else:
                parts.extend(group_values(r.params, r.grads[k - 1], ".grad"))
        values = " · ".join(html.escape(p) for p in parts) if parts else "–"
        rows.append(f"{head}: {values}{state_html(r, c)}")
    if k <= 0:
        title = "<b>Iteration 0</b> <i>(nothing run yet: Play or Step iteration)</i>"
    elif hover:
        title = f"<b>Iteration {k}</b> <i>(under the mouse; current {pair.count})</i>"
    else:
        title = f"<b>Iteration {k}</b> of {pair.limit}"
    if dirty:
        rows.append(f"<span style='color:{c.warn}'><b>Edited:</b> Play or Step restarts both "
                    "runs from the editor.</span>")
    return title + "<br>" + "<br>".join(rows) + note_html_


def note_html(pair: PairView, c: PlotColours) -> str:
    """The note beside the editor: which lines the two runs differ in, and how."""
    lines = []
    for t in pair.toggled:
        verb = "removed from" if t.action == "removed" else "added to"
        where = f"line {t.line}" if t.action == "removed" else f"after line {t.after}"
        lines.append(f"<b>{where}</b>: <code>{html.escape(t.text)}</code> "
                     f"<span style='color:{c.muted}'>({verb} the run "
                     f"<i>{'without' if t.action == 'removed' else 'with'} zeroing</i>)"
                     "</span>")
    if not lines:
        return html.escape(pair.note).replace("`", "")
    head = ("Toggled lines (the runs differ only here):" if pair.as_written == "zeroed"
            else "The loop zeroes nothing; the run <i>with zeroing</i> adds:")
    return head + "<br>" + "<br>".join(lines)


def editor_marks(pair: PairView, c: PlotColours) -> dict[int, str]:
    """Editor line -> tint: toggled lines amber (removed) or green (zeroing added after), the
    line where a run stopped red."""
    marks: dict[int, str] = {}
    for t in pair.toggled:
        if t.action == "removed":
            marks[t.line] = c.removed_line
        elif t.after:
            marks[t.after] = c.added_line
    for r in pair.runs:
        if r.state == "error" and r.editor_line:
            marks[r.editor_line] = c.error_line
    return marks
