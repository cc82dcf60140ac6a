"""Corpus report: every program under torch and under the engine, classified and counted.

    python3 -m tests.corpus.report [--engine-root DIR] [--jobs N] [--fresh] [--verbose] [names...]

``--engine-root`` points at another checkout's engine (e.g. a helper's worktree); ``--fresh``
runs one new interpreter per program instead of the forking workers; ``--verbose`` prints both
outputs of every program that is not identical.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

ORDER = ("identical", "differs", "engine-exception", "torch-failed")


GAPS = Path(__file__).resolve().parent / "known_gaps.txt"
GAPS_HEADER = """\
# Corpus programs whose engine output is not yet torch's, measured (python3 -m tests.corpus.report
# --write-gaps). One line each: program name, then why. test_corpus.py marks these
# xfail(strict=True): a program that starts passing fails its test until its line is removed.
"""


def write_gaps(outcomes: list[harness.Outcome]) -> None:
    """known_gaps.txt from a run: every program that is not identical, with the reason."""
    lines = []
    for o in outcomes:
        if o.status == "identical":
            continue
        why = f"{o.status}: {o.api}" if o.status == "engine-exception" else \
            f"{o.status}: {o.detail}"
        lines.append(f"{o.name}  {' '.join(why.replace('#', '').split())[:160]}")
    GAPS.write_text(GAPS_HEADER + "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="program names (default: the whole corpus)")
    ap.add_argument("--engine-root", type=Path, default=None)
    ap.add_argument("--jobs", type=int, default=1, help="workers per library")
    ap.add_argument("--timeout", type=float, default=harness.TIMEOUT)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--write-gaps", action="store_true",
                    help="rewrite known_gaps.txt from this run (the whole corpus only)")
    args = ap.parse_args(argv)

    paths = harness.programs()
    if args.names:
        wanted = {n.removesuffix(".py") for n in args.names}
        paths = [p for p in paths if p.stem in wanted]
    t0 = time.perf_counter()
    outcomes = harness.run_corpus(paths, engine_root=args.engine_root, timeout=args.timeout,
                                  jobs=args.jobs, fresh=args.fresh)
    wall = time.perf_counter() - t0

    root = args.engine_root or harness.ROOT
    print(f"corpus: {len(outcomes)} programs; engine from {root}")
    width = max(len(o.name) for o in outcomes)
    for o in outcomes:
        times = f"{o.torch.seconds:5.2f}s {o.engine.seconds:5.2f}s"
        print(f"{o.name:<{width}}  {o.status:<16} {times}  {o.detail[:150]}")
        if args.verbose and o.status != "identical":
            for lib, run in (("torch", o.torch), ("engine", o.engine)):
                print(f"    --- {lib} (exit {run.rc})")
                for line in (run.stdout + run.stderr).splitlines()[-40:]:
                    print("    | " + line)
    counts = collections.Counter(o.status for o in outcomes)
    print()
    print("  ".join(f"{s}: {counts.get(s, 0)}" for s in ORDER))
    apis = collections.Counter(o.api for o in outcomes if o.status == "engine-exception")
    if apis:
        print("first failure, ranked:")
        for api, n in apis.most_common():
            print(f"  {n:3d}  {api}")
    tsum = sum(o.torch.seconds for o in outcomes)
    esum = sum(o.engine.seconds for o in outcomes)
    if args.write_gaps and not args.names:
        write_gaps(outcomes)
        print(f"wrote {GAPS}")
    print(f"time: torch {tsum:.1f}s, engine {esum:.1f}s in the programs; wall {wall:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
