"""gradviz's entry point: command line, QApplication, headless screenshots.

    gradviz [FILE] [--run-all] [--step N | --backward] [--screenshot PNG] [--size WxH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from gradviz.qt.main_window import MainWindow

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
    p.add_argument("--panel", choices=("training", "lessons", "code", "events", "tensors",
                                       "inspector"), help="the panel shown in front")
    p.add_argument("--backend", choices=("engine", "torch"), default="engine",
                   help="run code on gradviz's engine (default) or on the real PyTorch")
    p.add_argument("--open-walk", metavar="WALK", help="show a walk saved by gradviz.show() or "
                   "gradviz.save_walk() (needs neither torch nor the engine)")
    p.add_argument("--state-json", metavar="OUT", help="after the run, write the app's state "
                   "(cells, backward walk, tensors, error, kernel) as JSON and exit")
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
    if args.open_walk and not Path(args.open_walk).is_file():
        p.error(f"no such walk file: {args.open_walk}")
    if args.backend == "torch":
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            p.error("--backend torch needs PyTorch in this environment: "
                    "python3 -m pip install torch")
    if args.step is not None and args.step < 0:
        p.error("--step takes a number of steps >= 0")
    return args


def display_problem(screenshot: bool) -> str | None:
    """One line naming the fix when Qt cannot start here (missing system libraries, no or a
    dead display), else None: see :mod:`gradviz.platform_check`."""
    from gradviz.platform_check import problem

    return problem(screenshot)


def main(argv: list[str] | None = None) -> int:
    """Start the app (or render a screenshot / write the state); returns the exit code."""
    args = parse_args(argv)
    headless = bool(args.screenshot or args.state_json)
    if headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    problem = display_problem(headless)
    if problem:
        print(problem, file=sys.stderr)
        return 2

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gradviz.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("gradviz")
    app.setOrganizationName("gradviz")
    from gradviz.qt.kernel_client import KernelClient

    kernel = KernelClient(env={"GRADVIZ_BACKEND": args.backend})
    win = MainWindow(restore_settings=not headless, kernel=kernel)
    win._owns_kernel = True
    if args.theme:
        win.set_theme(args.theme)
    if args.font_scale:
        win.set_font_scale(args.font_scale)
    win.resize(*args.size_wh)
    if args.panel:
        win.show_panel(args.panel)
    if not headless:
        win.show()  # the window first; the kernel is still starting (said in the status bar)
        win.offer_recovery()
        QTimer.singleShot(0, lambda: win._guard(lambda: _load(win, args, True)))  # a sentence, no
        # traceback, when the file is broken: the window stays
        return app.exec()
    win.show()
    return _headless(app, win, args)


def _load(win: MainWindow, args: argparse.Namespace, pause_first: bool = False) -> None:
    if args.open_walk:
        from gradviz.show import load_walk

        win.show_walk(load_walk(args.open_walk), Path(args.open_walk).name)
    elif args.file:  # --run-all runs through every backward() unless --step asks to stop
        win.open_path(args.file, run_all=args.run_all, pause=pause_first)
    elif args.lesson:
        win.open_lesson(args.lesson, run_all=args.run_all, pause=pause_first)
    else:
        win.load_starter(STARTER)


def _headless(app: QApplication, win: MainWindow, args: argparse.Namespace) -> int:
    """Run, step, then write --state-json and --screenshot, without a display."""
    from PySide6.QtCore import QTimer

    k = win.kernel
    k.wait_for(lambda: k.ready or not k.alive, 60)
    done = {"written": False}
    rc = {"code": 0}

    def finish() -> None:
        if done["written"]:
            return
        done["written"] = True
        for _ in range(5):
            app.processEvents()
        if args.state_json:
            try:
                Path(args.state_json).write_text(json.dumps(win.state_json(), indent=1),
                                                 encoding="utf-8")
            except OSError as e:
                print(f"gradviz: could not write {args.state_json}: {e.strerror}",
                      file=sys.stderr)
                rc["code"] = 1
        if args.panel:
            win.show_panel(args.panel)
            for _ in range(3):
                app.processEvents()
        if args.screenshot:
            win.fit_graph()
            app.processEvents()
            if not win.grab().save(args.screenshot):
                print(f"gradviz: could not write {args.screenshot}", file=sys.stderr)
                rc["code"] = 1

    runs_cells = bool(args.run_all and (args.file or args.lesson))
    if runs_cells and args.step is not None:
        # the first backward() a cell reaches pauses; N steps; the state is written paused
        win.actions["pause_backward"].setChecked(True)
        win.kernel.command_sync("pause", on=True)

        def on_state(msg: dict) -> None:
            if msg.get("paused") and not done["written"] and not done.get("stepping"):
                done["stepping"] = True
                QTimer.singleShot(0, step_then_finish)

        def step_then_finish() -> None:
            win.refresh_graph()
            for _ in range(args.step):
                if win.stepper.step() is None:
                    break
            win.refresh_graph()
            finish()
            k.shutdown()  # ends the paused cell: nothing more runs

        k.state.connect(on_state)
    try:
        _load(win, args, pause_first=args.step is not None)
    except Exception as e:  # noqa: BLE001 - a broken file: one sentence, no traceback
        print(f"gradviz: {e}", file=sys.stderr)
        rc["code"] = 1
    if not done["written"]:
        if args.step is not None or args.backward:
            win.step_newest_root(None if args.backward else args.step)
        win.refresh_graph()
        finish()
    win.close()
    return rc["code"]


if __name__ == "__main__":
    raise SystemExit(main())
