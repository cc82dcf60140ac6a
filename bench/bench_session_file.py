"""Benchmark of session files and notebooks: save and load times, linear in size.

Not a test: prints a table. Targets: 100,000 small tensors load well under 2 s; two
6M-element tensors (with grads, over 50 MB of data) save and load in a second or two; a
20,000-cell notebook opens (and its torch API check runs) within 2 s.

    python bench/bench_session_file.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from gradviz.notebook import load_notebook, unsupported_torch_api  # noqa: E402
from gradviz.session_file import SessionState, TensorState, load_session, save_session  # noqa: E402


def timed(f):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t0


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gradviz-bench-"))
    rows = []
    for n in (10_000, 50_000, 100_000):
        data = np.arange(3 * n, dtype=np.float32).reshape(n, 3)
        state = SessionState(tensors=[TensorState(f"t{i}", data[i]) for i in range(n)])
        p = tmp / f"many{n}.gradviz"
        _, ts = timed(lambda: save_session(p, state))  # noqa: B023
        _, tl = timed(lambda: load_session(p))  # noqa: B023
        rows.append((f"{n:,} tensors of 3", p.stat().st_size, ts, tl))
    rng = np.random.default_rng(0)
    a = rng.standard_normal(6_000_000, dtype=np.float32)
    big = SessionState(tensors=[TensorState("a", a, True, a * 2),
                                TensorState("b", np.zeros(6_000_000, np.float32), True,
                                            np.ones(6_000_000, np.float32))])
    p = tmp / "big.gradviz"
    _, ts = timed(lambda: save_session(p, big))
    _, tl = timed(lambda: load_session(p))
    rows.append(("2 x 6M float32 + grads", p.stat().st_size, ts, tl))
    print(f"{'session':28} {'file':>10} {'save s':>8} {'load s':>8}")
    for name, size, ts, tl in rows:
        print(f"{name:28} {size / 2**20:8.1f}MB {ts:8.2f} {tl:8.2f}")

    cells = [{"cell_type": "code", "source": f"x{i} = torch.ones({i % 7})\n", "metadata": {},
              "outputs": []} for i in range(20_000)]
    cells.append({"cell_type": "code", "source": "y = [" + "1," * 5_000_000 + "]",
                  "metadata": {}, "outputs": []})
    nb = tmp / "big.ipynb"
    nb.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}))
    got, tr = timed(lambda: load_notebook(nb))
    _, tc = timed(lambda: unsupported_torch_api(got))
    print(f"\nnotebook of 20,001 cells (one 10 MB line): read {tr:.2f} s, API check {tc:.2f} s")


if __name__ == "__main__":
    main()
