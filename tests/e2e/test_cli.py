"""The command line as a user runs it: a real subprocess, a real PNG."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


def run_gradviz(*args: str, env: dict | None = None, timeout: int = 120):
    e = dict(os.environ)
    e.pop("QT_QPA_PLATFORM", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "gradviz", *args], capture_output=True,
                          text=True, timeout=timeout, env=e)


def test_run_all_step_3_screenshot(tmp_path):
    from PySide6.QtGui import QImage
    out = tmp_path / "out.png"
    r = run_gradviz(str(DATA / "seed_steps.py"), "--run-all", "--step", "3", "--screenshot",
                    str(out), "--size", "1280x800", env={"GRADVIZ_STATE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1280, 800)
    # not a blank picture: many distinct colours (graph boxes, highlight, text)
    colours = {img.pixel(x, y) for x in range(0, 1280, 7) for y in range(0, 800, 7)}
    assert len(colours) > 50


def test_run_all_without_step_runs_through_backward(tmp_path):
    """`gradviz notebook --run-all` used to pause inside the first backward() and wait forever."""
    import json
    out = tmp_path / "state.json"
    r = run_gradviz(str(DATA / "seed_notebook.ipynb"), "--run-all", "--state-json", str(out),
                    env={"GRADVIZ_STATE_DIR": str(tmp_path)}, timeout=90)
    assert r.returncode == 0, r.stderr
    state = json.loads(out.read_text())
    code = [c for c in state["cells"] if c["status"] != "markdown"]
    assert len(code) > 10 and all(c["status"] in ("ok", "error") for c in code), code
    # the notebook's one error is the lesson's own: backward() of a non-scalar
    assert [c["error"] for c in code if c["error"]] == [
        "RuntimeError: grad can be implicitly created only for scalar outputs"]
    assert state["backward"]["paused_in_cell"] is None


def test_no_display_says_how_to_fix_in_one_line(tmp_path):
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": "", "GRADVIZ_STATE_DIR": str(tmp_path)}
    r = run_gradviz(env=env, timeout=60)
    if sys.platform != "linux":
        pytest.skip("display detection is Linux-specific")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--screenshot" in lines[0] and "display" in lines[0]


def test_bad_arguments_are_refused_cleanly(tmp_path):
    r = run_gradviz("no_such_file.py", "--screenshot", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = run_gradviz("--size", "huge", "--screenshot", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "--size" in r.stderr


def test_killed_app_autosave_is_recovered(tmp_path):
    """Launch the real app, let it autosave, kill it hard, and find the session again."""
    import signal
    import time

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", GRADVIZ_STATE_DIR=str(tmp_path),
               GRADVIZ_AUTOSAVE_MS="300", XDG_CONFIG_HOME=str(tmp_path / "config"),
               HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "gradviz"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    def autosaves():  # one autosave per window: autosave-<pid>-<window>.gradviz
        return sorted(tmp_path.glob(f"autosave-{proc.pid}-*.gradviz"))

    try:
        deadline = time.time() + 60
        while not autosaves() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert autosaves(), proc.stderr.read().decode() if proc.poll() is not None else ""
        auto = autosaves()[0]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    from gradviz import session_file
    old = os.environ.get("GRADVIZ_STATE_DIR")
    os.environ["GRADVIZ_STATE_DIR"] = str(tmp_path)
    try:
        path = session_file.find_recovery()
        assert path == auto
        state = session_file.load_session(path)
        assert "x = torch.tensor([-1.2643, 1.0159, 0.2505], requires_grad=True)" in state.code
        assert [t.name for t in state.leaves] == ["x"]  # written by the kernel, values whole
    finally:
        if old is None:
            del os.environ["GRADVIZ_STATE_DIR"]
        else:
            os.environ["GRADVIZ_STATE_DIR"] = old


@pytest.mark.torch
def test_a_real_torch_walk_saved_by_gradviz_opens_in_the_window(tmp_path):
    """gradviz.save_walk on real torch tensors, then the window shows that walk (and writes
    its state) without running anything."""
    torch = pytest.importorskip("torch")
    import json

    import gradviz
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    walk = gradviz.save_walk(loss, tmp_path / "w.walk.json", namespace={"x": x, "loss": loss})
    out = tmp_path / "state.json"
    r = run_gradviz("--open-walk", str(walk), "--state-json", str(out))
    assert r.returncode == 0, r.stderr
    state = json.loads(out.read_text())
    assert state["backward"]["done"] and state["backward"]["total"] == 3
    assert state["tensors"]["x"]["grad"] == [2.0, 4.0]
    assert x.grad is None  # saving the walk left the tensors as they were


def test_a_broken_session_file_is_one_sentence_not_a_traceback(tmp_path):
    bad = tmp_path / "broken.gradviz"
    bad.write_text('{"format": "gradviz-session", "schema": 1, "cells": [')
    r = run_gradviz(str(bad), "--screenshot", str(tmp_path / "x.png"))
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("gradviz:")]
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(errors) == 1 and str(bad) in errors[0] and "truncated" in errors[0]
    assert (tmp_path / "x.png").stat().st_size > 1000  # the window still rendered
