"""The series of a pair of runs as a table: CSV columns and rows, and the runs' labels (no Qt, no
engine: the window writes its CSV from the kernel's series with these too)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import numpy as np

from gradviz.safe_io import write_text_atomic

__all__ = ["RUN_LABELS", "series_columns", "series_rows", "write_series_csv"]

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


def series_rows(cols: list[tuple[str, np.ndarray]]) -> Iterator[list[Any]]:
    """The CSV's rows: a header (``iteration`` then one header per column), then one row per
    iteration, empty where a run has no value."""
    n = max((len(v) for _, v in cols), default=0)
    yield ["iteration"] + [h for h, _ in cols]
    for k in range(n):
        row: list[Any] = [k + 1]
        for _, v in cols:
            row.append("" if k >= len(v) or np.isnan(v[k]) else repr(float(v[k])))
        yield row


def write_series_csv(cols: list[tuple[str, np.ndarray]], out: str | os.PathLike[str] | TextIO
                     ) -> None:
    """The columns as CSV (see :func:`series_rows`). A path is written whole or not at all
    (:func:`gradviz.safe_io.write_text_atomic`): a missing or read-only folder is a
    :class:`gradviz.safe_io.FileError` naming the path, and nothing is left behind."""
    if isinstance(out, (str, os.PathLike)):
        buf = io.StringIO()
        csv.writer(buf).writerows(series_rows(cols))
        write_text_atomic(out, buf.getvalue(), action="export")
        return
    csv.writer(out).writerows(series_rows(cols))
