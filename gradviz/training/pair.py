"""The same training loop run twice in step, with and without its gradient zeroing (no Qt).

The seed lesson's point: without ``weights.grad.zero_()`` the gradient of the seed loop is
3, 6, 9, ...; with it, 3, 3, 3. :class:`TrainingPair` turns any loop into two
:class:`~gradviz.training.run.TrainingRun` s that differ only in their zeroing statements
(:mod:`gradviz.training.rewrite`) and keeps them level, iteration by iteration.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

import numpy as np

from engine import Tensor
from gradviz.session import BackwardCursor
from gradviz.training.guard import quiet_engine_events
from gradviz.training.rewrite import (
    Variant,
    find_zeroing,
    variant_with_zeroing,
    variant_without_zeroing,
)
from gradviz.training.run import ITERATION_TIMEOUT_S, SETUP_TIMEOUT_S, TrainingRun
from gradviz.training.table import RUN_LABELS, series_columns, write_series_csv

__all__ = ["TrainingPair"]


class TrainingPair:
    """The same loop run twice in step: ``zeroed`` (with its zeroing) and ``unzeroed``
    (without). The as-written code is one of them; the other is the variant, and
    ``toggled`` says which lines differ (``note`` in words)."""

    def __init__(self, code: str, *, lr: float | None = None, iterations: int = 100,
                 seed: int | None = 0, variables: dict[str, Any] | None = None,
                 iteration_timeout: float | None = ITERATION_TIMEOUT_S,
                 setup_timeout: float | None = SETUP_TIMEOUT_S) -> None:
        self.code = code
        self.limit = int(iterations)
        vars_ = dict(variables or {})
        if lr is not None:
            vars_["lr"] = lr
        vars_.setdefault("iterations", self.limit)
        self.error: str | None = None
        try:
            sites = find_zeroing(code)
        except SyntaxError:
            sites = []
        self.sites = sites
        try:
            if sites:
                self.as_written = "zeroed"
                variant = variant_without_zeroing(code)
                zeroed_src, unzeroed_src = code, variant.source
            else:
                self.as_written = "unzeroed"
                variant = variant_with_zeroing(code)
                zeroed_src, unzeroed_src = variant.source, code
        except (SyntaxError, ValueError) as e:
            variant = Variant(code, (), str(e))
            zeroed_src = unzeroed_src = code
            self.as_written = "zeroed"
        self.variant = variant
        self.toggled = variant.toggled
        kw = dict(variables=vars_, limit=self.limit, seed=seed,
                  iteration_timeout=iteration_timeout, setup_timeout=setup_timeout)
        self.zeroed = TrainingRun(zeroed_src, RUN_LABELS["zeroed"], **kw)
        self.unzeroed = TrainingRun(unzeroed_src, RUN_LABELS["unzeroed"], **kw)
        self.runs = (self.zeroed, self.unzeroed)

    # ----- words
    @property
    def note(self) -> str:
        """Which lines the variant toggles, in a sentence."""
        t = self.toggled
        if not t:
            return f"Both runs are the same: {self.variant.note}."
        if t[0].action == "removed":
            lines = ", ".join(f"line {x.line} `{x.text}`" for x in t)
            return f"Without zeroing: removed {lines}."
        added = ", ".join(f"`{x.text}`" for x in t)
        return f"With zeroing: added {added} after line {t[0].after}."

    def run(self, which: str) -> TrainingRun:
        """``"zeroed"`` or ``"unzeroed"`` (also the labels) -> the run."""
        if which in ("zeroed", RUN_LABELS["zeroed"]):
            return self.zeroed
        if which in ("unzeroed", RUN_LABELS["unzeroed"]):
            return self.unzeroed
        raise KeyError(which)

    # ----- running
    def start(self) -> TrainingPair:
        for r in self.runs:
            r.start()
        return self

    @property
    def count(self) -> int:
        """Iterations done (the furthest run)."""
        return max(r.count for r in self.runs)

    @property
    def active(self) -> bool:
        return any(r.active for r in self.runs)

    def step(self) -> bool:
        """One iteration of each active run. False when both have stopped."""
        self.start()
        goal = min((r.count for r in self.runs if r.active), default=0) + 1
        for r in self.runs:
            if r.active and r.count < goal:
                r.run_to(goal) if r.state == "ready" else r.step()
            if r.interrupted:
                break
        return self.active

    def advance(self, max_iterations: int, budget_s: float | None = None,
                quiet: bool = False) -> int:
        """Up to ``max_iterations`` more iterations of each active run, in step, within about
        ``budget_s`` seconds. The lagging run goes first; a run that ran out of time holds
        the other back. ``quiet``: no engine events meanwhile (see quiet_engine_events).
        Returns the iterations the furthest run advanced."""
        if quiet:
            with quiet_engine_events():
                return self.advance(max_iterations, budget_s)
        self.start()
        before = self.count
        active = [r for r in self.runs if r.active]
        if not active or max_iterations <= 0:
            return 0
        t0 = time.perf_counter()
        goal = min(r.count for r in active) + int(max_iterations)
        order = sorted(active, key=lambda r: r.count)
        for i, r in enumerate(order):
            deadline = None if budget_s is None else t0 + budget_s * (i + 1) / len(order)
            r.run_to(goal, deadline)
            if r.interrupted:
                break  # a Stop: the other run must not start an iteration now
            if r.active and r.count < goal:
                goal = r.count
        return self.count - before

    def stop(self, reason: str = "stopped") -> None:
        for r in self.runs:
            r.stop(reason)

    def run_all(self) -> TrainingPair:
        """Run both to the end (tests, CSV from the command line)."""
        self.start()
        while self.active:
            self.advance(1_000_000)
        return self

    def begin_iteration(self, which: str) -> Tensor | None:
        """The chosen run's next iteration up to its backward (see TrainingRun)."""
        self.start()
        return self.run(which).begin_iteration()

    def finish_iteration(self, which: str, cursor: BackwardCursor | None = None) -> None:
        """Finish the chosen run's paused iteration, then bring the other run level."""
        r = self.run(which)
        r.finish_iteration(cursor)
        for other in self.runs:
            if other is not r and other.active and other.count < r.count and \
                    not r.interrupted:
                other.run_to(r.count)

    # ----- export
    def columns(self) -> list[tuple[str, np.ndarray]]:
        """(header, values) of every series of both runs, loss first."""
        return series_columns(self.runs)

    def write_csv(self, out: str | TextIO) -> None:
        """All series as CSV: one row per iteration, one column per series and run (empty
        where a run has no value)."""
        write_series_csv(self.columns(), out)
