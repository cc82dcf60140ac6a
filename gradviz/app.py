"""gradviz's entry point: command line, QApplication, headless screenshots.

    gradviz [FILE] [--run-all] [--step N | --backward] [--screenshot PNG] [--size WxH]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

STARTER = """\
# The seed notebook's first example: watch the graph PyTorch records.
x = torch.tensor([-1.2643, 1.0159, 0.2505], requires_grad=True)
y = x + 2
z = y * y * 2
out = z.mean()
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="gradviz", description="See automatic differentiation happen: build tensors, "
        "watch the autograd graph, step through backward.")
    p.add_argument("file", nargs="?", help="a Python script in '# %%%%' cells, a Jupyter "
                   ".ipynb notebook, or a saved .gradviz session")
    p.add_argument("--run-all", action="store_true", help="run every cell of FILE")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--step", type=int, metavar="N",
                   help="step N nodes through the backward of the newest scalar root")
    g.add_argument("--backward", action="store_true",
                   help="run the newest scalar root's backward to the end")
    p.add_argument("--screenshot", metavar="PNG", help="render the window to PNG (no display "
                   "needed) and exit")
    p.add_argument("--size", default="1280x800", metavar="WxH", help="window size "
                   "(default 1280x800)")
    p.add_argument("--font-scale", type=float, default=None, metavar="F",
                   help="presenter font scale, e.g. 1.5")
    p.add_argument("--theme", choices=("light", "dark", "high-contrast"), default=None)
    p.add_argument("--lesson", metavar="N", help="open lesson N from the lesson browser")
    args = p.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        if w < 200 or h < 150:
            raise ValueError
        args.size_wh = (w, h)
    except ValueError:
        p.error(f"--size must look like 1280x800, not {args.size!r}")
    if args.file and not Path(args.file).is_file():
        p.error(f"no such file: {args.file}")
    if args.step is not None and args.step < 0:
        p.error("--step takes a number of steps >= 0")
    return args


def display_problem(screenshot: bool) -> str | None:
    """One line naming the fix when Qt cannot start here (missing system libraries, no or a
    dead display), else None: see :mod:`gradviz.platform_check`."""
    from gradviz.platform_check import problem

    return problem(screenshot)


def main(argv: list[str] | None = None) -> int:
    """Start the app (or render a screenshot); returns the process exit code."""
    args = parse_args(argv)
    if args.screenshot:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    problem = display_problem(bool(args.screenshot))
    if problem:
        print(problem, file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    from gradviz.qt.main_window import MainWindow
    from gradviz.session import Session

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("gradviz")
    app.setOrganizationName("gradviz")
    session = Session()
    win = MainWindow(session, restore_settings=not args.screenshot)
    if args.theme:
        win.set_theme(args.theme)
    if args.font_scale:
        win.set_font_scale(args.font_scale)
    win.resize(*args.size_wh)
    if args.file:
        win.open_path(args.file, run_all=args.run_all)
    elif args.lesson:
        win.open_lesson(args.lesson, run_all=args.run_all)
    else:
        win.load_starter(STARTER)
    if args.step is not None or args.backward:
        win.step_newest_root(None if args.backward else args.step)
    if args.screenshot:
        win.show()
        for _ in range(5):
            app.processEvents()
        win.fit_graph()
        app.processEvents()
        ok = win.grab().save(args.screenshot)
        win.close()
        if not ok:
            print(f"gradviz: could not write {args.screenshot}", file=sys.stderr)
            return 1
        return 0
    win.show()
    win.offer_recovery()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
