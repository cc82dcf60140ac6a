"""Benchmark of notebooks: parsing (gradviz's percent parser beside jupytext, the .ipynb reader
beside nbformat) and opening in the lesson panel (parse, torch API check, first paint) for
200, 2,000 and 20,000 cells, beside the old one-widget-per-cell panel for the small sizes.

Not a test: prints a table. Target: a 20,000-cell notebook opens within 2 s, linear in size.
jupytext's figure is why gradviz parses percent scripts itself (and checks it agrees with
jupytext in tests/gradviz/test_notebook.py).

    QT_QPA_PLATFORM=offscreen python bench/bench_notebook.py [--quick]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradviz.notebook import parse_percent, read_ipynb, to_ipynb  # noqa: E402


def timed(f):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t0


def percent_script(n: int) -> str:
    """``n`` cells: markdown and code alternating, as in a long tutorial."""
    parts = ["# ---\n# title: Bench\n# ---\n"]
    for i in range(n // 2):
        parts.append(f"# %% [markdown]\n# Step {i}: look at *x{i}* and its `grad_fn`\n")
        parts.append(f"# %%\nx{i} = torch.ones({i % 5}, requires_grad=True) * {i}\n"
                     f"print(x{i}.grad_fn)\n")
    return "\n".join(parts)


def parse_table(sizes: list[int], jupytext_up_to: int) -> None:
    import jupytext
    import nbformat

    print("parsing (s)             cells   gradviz   jupytext.reads   | .ipynb: gradviz"
          "   nbformat.reads")
    for n in sizes:
        text = percent_script(n)
        cells, t_ours = timed(lambda: parse_percent(text))  # noqa: B023
        t_jt = float("nan")
        if n <= jupytext_up_to:
            _, t_jt = timed(lambda: jupytext.reads(text, fmt="py:percent"))  # noqa: B023
        js = to_ipynb(cells) if n <= 2_000 else json.dumps(
            {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
                {"id": f"c{i}", "cell_type": c.kind, "source": c.source, "metadata": {},
                 **({"outputs": [], "execution_count": None} if c.kind == "code" else {})}
                for i, c in enumerate(cells)]})
        _, t_ipy = timed(lambda: read_ipynb(js))  # noqa: B023
        _, t_nbf = timed(lambda: nbformat.reads(js, as_version=4))  # noqa: B023
        jt = f"{t_jt:14.3f}" if t_jt == t_jt else "   (not timed)"
        print(f"{'':20s}{n:9,d} {t_ours:9.3f} {jt}     |       {t_ipy:9.3f} {t_nbf:16.3f}")


def open_table(sizes: list[int], old_up_to: int) -> None:
    from PySide6.QtWidgets import QApplication

    from gradviz.qt.bridge import Bridge
    from gradviz.qt.lesson_panel import LessonPanel, _CellView
    from gradviz.session import Session

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="gradviz-bench-"))
    session = Session()
    bridge = Bridge(session)
    panel = LessonPanel(session, bridge)
    panel.resize(420, 700)
    panel.show()
    app.processEvents()
    print("\nopening in the lesson panel (s): parse + torch API check + first paint")
    print("     cells   lazy panel   widgets made   | one widget per cell (old panel)")
    for n in sizes:
        p = tmp / f"nb{n}.py"
        p.write_text(percent_script(n), encoding="utf-8")
        t0 = time.perf_counter()
        panel.open_notebook(p)
        app.processEvents()
        t_open = time.perf_counter() - t0
        made = len(panel.shown_views())
        old = "(not timed: ~3.5 ms a cell)"
        if n <= old_up_to:  # what the old panel did: every cell's widget, up front
            holder = panel.cell_list.viewport()
            t0 = time.perf_counter()
            views = [_CellView(i, c, (), holder) for i, c in enumerate(panel.cells)]
            app.processEvents()
            old = f"{time.perf_counter() - t0:9.3f}"
            for v in views:
                v.deleteLater()
            app.processEvents()
        print(f"{n:10,d} {t_open:12.3f} {made:14d}   | {old}")
    bridge.close()


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = [200, 2_000] if quick else [200, 2_000, 20_000]
    parse_table(sizes, jupytext_up_to=2_000 if quick else 20_000)
    open_table(sizes, old_up_to=2_000)


if __name__ == "__main__":
    main()
