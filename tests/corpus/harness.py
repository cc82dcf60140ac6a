"""Run teaching programs under real torch and under the engine, and compare what they print.

A program is a plain torch script (``import torch``). Under the engine it runs unchanged: a
meta-path finder maps ``torch`` and every ``torch.xxx`` submodule onto ``engine`` /
``engine.xxx`` (a submodule the engine lacks raises torch's ``ModuleNotFoundError``), then the
program runs with :mod:`runpy` as ``__main__``.

Importing torch costs a second and more, so each library gets a *worker*: one interpreter that
imports the library once and then forks a fresh child per program (stdout and stderr of the
child go to files, the exit status and any exception are reported back). A forked child sees
the same state as a fresh ``python3 prog.py`` (nothing random has been drawn, nothing printed,
no warning shown yet). ``fresh=True`` runs one new interpreter per program instead, to check
that claim or to debug.

Each program's result is classified as ``identical``, ``differs`` (first differing line),
``engine-exception`` (the engine raised what torch does not; type, message and the program line)
or ``torch-failed`` (torch itself failed: the program is wrong, not the engine).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
ROOT = HERE.parents[1]
TIMEOUT = 30.0

__all__ = ["Run", "Outcome", "programs", "run_programs", "compare", "run_corpus", "missing_api"]


@dataclasses.dataclass
class Run:
    """What one program did under one library."""

    rc: int
    stdout: str
    stderr: str
    seconds: float
    exc: dict | None = None  # {"type", "message", "lineno", "line"} of an uncaught exception
    timed_out: bool = False


@dataclasses.dataclass
class Outcome:
    """The comparison of one program's torch run with its engine run."""

    name: str
    status: str  # identical | differs | engine-exception | torch-failed
    detail: str
    torch: Run
    engine: Run
    api: str = ""  # for engine-exception: the first missing API, as the issue ranks them


def programs(directory: Path = PROGRAMS) -> list[Path]:
    """The corpus: every ``*.py`` in ``directory``, sorted by name."""
    return sorted(p for p in directory.glob("*.py") if not p.name.startswith("_"))


# ----------------------------------------------------------------------------- child side
_FINDER = r'''
import importlib, importlib.abc, importlib.util, sys, types

class _TorchAsEngine(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``torch`` -> ``engine``, ``torch.a.b`` -> ``engine.a.b`` (module or module attribute)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__name__
        target = "engine" + name[len("torch"):]
        try:
            mod = importlib.import_module(target)
        except ModuleNotFoundError as e:
            if e.name is None or not target.startswith(e.name):
                raise
            parent, _, last = target.rpartition(".")
            mod = getattr(sys.modules.get(parent), last, None)
            if not isinstance(mod, types.ModuleType):
                del sys.modules[name]
                raise ModuleNotFoundError(f"No module named '{name}'", name=name) from None
        sys.modules[name] = mod

sys.meta_path.insert(0, _TorchAsEngine())
'''


def _install_engine_alias() -> None:
    """Map torch onto the engine found first on sys.path, and only that engine.

    An editable install of gradviz adds a finder that resolves any ``engine.xxx`` missing from
    the engine on sys.path to the installed checkout's (e.g. /work/main); drop it, so that a
    worktree's engine is measured as it is.
    """
    def module_of(f: object) -> str:
        return (f if isinstance(f, type) else type(f)).__module__

    sys.meta_path[:] = [f for f in sys.meta_path
                        if not module_of(f).startswith("__editable___gradviz")]
    exec(compile(_FINDER, "<torch-as-engine>", "exec"), {"__name__": "_torch_as_engine"})


def _exception_record(e: BaseException, path: str) -> dict:
    import traceback

    frames = traceback.extract_tb(e.__traceback__)
    mine = [f for f in frames if f.filename == path]
    last = mine[-1] if mine else None
    return {"type": type(e).__name__, "message": str(e),
            "lineno": last.lineno if last else 0, "line": (last.line or "") if last else ""}


def _run_child(path: str, out_path: str, err_path: str, exc_path: str) -> None:
    """In a forked child: run ``path`` as ``__main__`` with stdout/stderr to files; never return."""
    import runpy
    import traceback

    out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    sys.stdin = open(os.devnull)
    sys.argv = [path]
    sys.path[0] = os.path.dirname(path)
    code = 0
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if e.code is not None and not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
    except BaseException as e:  # noqa: BLE001 - report whatever the program raised
        code = 1
        frames = traceback.extract_tb(e.__traceback__)
        start = next((i for i, f in enumerate(frames) if f.filename == path), 0)
        sys.stderr.write("Traceback (most recent call last):\n")
        sys.stderr.write("".join(traceback.format_list(frames[start:])))
        sys.stderr.write("".join(traceback.format_exception_only(type(e), e)))
        with open(exc_path, "w") as f:
            json.dump(_exception_record(e, path), f)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _worker(lib: str) -> None:
    """Import ``lib`` once, then for each program path read from stdin fork a child to run it."""
    import select
    import signal

    if lib == "engine":
        _install_engine_alias()
    import torch  # noqa: F401 - under the engine this is the engine, via the alias

    if lib == "torch":
        # torch imports dynamo (and ~800 modules, 1.2 s) on the first optimizer step; import it
        # once here so that each forked child does not pay for it. It prints and draws nothing.
        import torch._dynamo  # noqa: F401

    proto = os.fdopen(os.dup(1), "w")
    proto.write(json.dumps({"file": torch.__file__}) + "\n")
    proto.flush()
    tmp = tempfile.mkdtemp(prefix="corpus-")
    for line in sys.stdin:
        req = json.loads(line)
        path, timeout = req["path"], req["timeout"]
        out, err, exc = (os.path.join(tmp, n) for n in ("out", "err", "exc"))
        if os.path.exists(exc):
            os.unlink(exc)
        sys.stdout.flush()
        sys.stderr.flush()
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            _run_child(path, out, err, exc)
        timed_out = False
        deadline = t0 + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                timed_out = True
                break
            select.select([], [], [], 0.005)
        seconds = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        res = {"rc": rc, "seconds": seconds, "timed_out": timed_out,
               "stdout": _read(out), "stderr": _read(err),
               "exc": json.loads(_read(exc)) if os.path.exists(exc) else None}
        proto.write(json.dumps(res) + "\n")
        proto.flush()


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


# ----------------------------------------------------------------------------- parent side
def _env(lib: str, engine_root: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")
    if lib == "engine":
        root = str(engine_root or ROOT)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _worker_cmd(lib: str) -> list[str]:
    return [sys.executable, "-c",
            f"import sys; sys.path.insert(0, {str(HERE)!r}); import harness; "
            f"harness._worker({lib!r})"]


def _run_with_worker(paths: list[Path], lib: str, engine_root: Path | None,
                     timeout: float) -> list[Run]:
    proc = subprocess.Popen(_worker_cmd(lib), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(lib, engine_root),
                            cwd=tempfile.gettempdir())
    runs = []
    try:
        hello = proc.stdout.readline()
        if not hello:
            raise RuntimeError(f"{lib} worker died: {proc.stderr.read()[-2000:]}")
        where = Path(json.loads(hello)["file"]).resolve()
        if lib == "engine" and not where.is_relative_to((engine_root or ROOT).resolve()):
            raise RuntimeError(f"engine worker imported {where}, not the engine of {engine_root}")
        for p in paths:
            proc.stdin.write(json.dumps({"path": str(p), "timeout": timeout}) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{lib} worker died: {proc.stderr.read()[-2000:]}")
            runs.append(Run(**json.loads(line)))
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    return runs


def _run_fresh(paths: list[Path], lib: str, engine_root: Path | None,
               timeout: float) -> list[Run]:
    runs = []
    for p in paths:
        if lib == "torch":
            cmd = [sys.executable, str(p)]
        else:
            cmd = [sys.executable, "-c",
                   f"import sys, runpy; sys.path.insert(0, {str(HERE)!r}); import harness; "
                   f"harness._install_engine_alias(); sys.path[0] = {str(p.parent)!r}; "
                   f"sys.argv = [{str(p)!r}]; runpy.run_path({str(p)!r}, run_name='__main__')"]
        t0 = time.perf_counter()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                               env=_env(lib, engine_root), cwd=tempfile.gettempdir())
            runs.append(Run(r.returncode, r.stdout, r.stderr, time.perf_counter() - t0,
                            _exc_from_stderr(r.stderr, str(p)) if r.returncode else None))
        except subprocess.TimeoutExpired as e:
            runs.append(Run(-9, _text(e.stdout), _text(e.stderr), timeout, None, True))
    return runs


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode(errors="replace")


def _exc_from_stderr(stderr: str, path: str) -> dict | None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if not lines or not any(ln.startswith("Traceback") for ln in lines):
        return None
    m = re.match(r"^([\w.]+(?:Error|Exception|Warning|Interrupt|Exit)\w*): ?(.*)$", lines[-1])
    typ, msg = (m.group(1).rsplit(".", 1)[-1], m.group(2)) if m else (lines[-1], "")
    msg = re.sub(r"\. Did you mean: '\w+'\?$", "", msg)  # traceback's hint, not str(e)
    lineno, line = 0, ""
    for i, ln in enumerate(lines):
        fm = re.match(r'\s*File "(.*)", line (\d+)', ln)
        if fm and fm.group(1) == path:
            lineno = int(fm.group(2))
            line = lines[i + 1].strip() if i + 1 < len(lines) else ""
    return {"type": typ, "message": msg, "lineno": lineno, "line": line}


def run_programs(paths: list[Path], lib: str, *, engine_root: Path | None = None,
                 timeout: float = TIMEOUT, jobs: int = 1, fresh: bool = False) -> list[Run]:
    """Run each program under ``lib`` ("torch" or "engine"), ``jobs`` workers side by side."""
    run = _run_fresh if fresh else _run_with_worker
    jobs = max(1, min(jobs, len(paths)))
    if jobs == 1:
        return run(paths, lib, engine_root, timeout)
    chunks = [paths[i::jobs] for i in range(jobs)]
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        parts = list(pool.map(lambda c: run(c, lib, engine_root, timeout), chunks))
    order = {p: i for i, p in enumerate(paths)}
    out: list[Run | None] = [None] * len(paths)
    for chunk, runs in zip(chunks, parts):
        for p, r in zip(chunk, runs):
            out[order[p]] = r
    return out  # type: ignore[return-value]


# ----------------------------------------------------------------------------- comparison
_SHORT = (("torch.nn.functional.", "F."), ("torch.nn.", "nn."), ("torch.optim.", "optim."))


def _torch_name(engine_name: str) -> str:
    name = "torch" + engine_name[len("engine"):] if engine_name.startswith("engine") else \
        engine_name
    name = re.sub(r"^torch\.(tensor|_methods|creation|ops(\.\w+)?)\.", "torch.", name)
    name = re.sub(r"^torch\.nn\.(modules|parameter)\.", "torch.nn.", name)
    for long, short in _SHORT:
        if name.startswith(long):
            return short + name[len(long):]
    return name


def missing_api(exc: dict | None) -> str:
    """The API an engine exception points at (``torch.device``, ``nn.LazyLinear``, ``axis=``)."""
    if not exc:
        return "?"
    typ, msg = exc["type"], exc["message"]
    m = re.search(r"module '([\w.]+)' has no attribute '(\w+)'", msg)
    if m:
        return _torch_name(m.group(1) + "." + m.group(2))
    m = re.search(r"No module named '([\w.]+)'", msg)
    if m:
        return _torch_name(m.group(1))
    m = re.search(r"cannot import name '(\w+)' from '([\w.]+)'", msg)
    if m:
        return _torch_name(m.group(2) + "." + m.group(1))
    m = re.search(r"'(\w+)' object has no attribute '(\w+)'", msg)
    if m:
        return f"{m.group(1)}.{m.group(2)}"
    m = re.search(r"type object '(\w+)' has no attribute '(\w+)'", msg)
    if m:
        return f"{m.group(1)}.{m.group(2)}"
    m = re.search(r"(\w+)\(\) got an unexpected keyword argument '(\w+)'", msg)
    if m:
        return f"{m.group(1)}({m.group(2)}=)"
    m = re.search(r"got an unexpected keyword argument '(\w+)'", msg)
    if m:
        return f"{m.group(1)}="
    if typ == "NotImplementedError":
        return f"NotImplementedError: {msg[:60]}"
    line = exc.get("line", "")
    return f"{typ} at `{line[:60]}`" if line else f"{typ}: {msg[:60]}"


def _first_diff(a: str, b: str) -> str:
    al, bl = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(al, bl)):
        if x != y:
            return f"line {i + 1}: torch {x[:100]!r} | engine {y[:100]!r}"
    if len(al) != len(bl):
        i = min(len(al), len(bl))
        more = al[i] if len(al) > i else bl[i]
        who = "torch" if len(al) > i else "engine"
        return f"line {i + 1}: only {who} prints {more[:100]!r}"
    return "same lines, different line endings or trailing newline"


def compare(name: str, t: Run, e: Run) -> Outcome:
    """Classify one program from its torch run ``t`` and its engine run ``e``."""
    if t.rc != 0 or t.timed_out:
        why = "timed out" if t.timed_out else (
            f"{t.exc['type']}: {t.exc['message'][:120]}" if t.exc else f"exit {t.rc}")
        return Outcome(name, "torch-failed", why, t, e)
    if e.timed_out:
        return Outcome(name, "engine-exception", "engine timed out", t, e, "timeout")
    if e.rc != 0:
        if e.exc:
            detail = f"{e.exc['type']}: {e.exc['message'][:160]} (line {e.exc['lineno']}: " \
                     f"{e.exc['line'][:80]})"
        else:
            detail = f"exit {e.rc}: {e.stderr.strip().splitlines()[-1:]}"
        return Outcome(name, "engine-exception", detail, t, e, missing_api(e.exc))
    if t.stdout == e.stdout and t.stderr == e.stderr:
        return Outcome(name, "identical", "", t, e)
    if t.stdout != e.stdout:
        return Outcome(name, "differs", "stdout " + _first_diff(t.stdout, e.stdout), t, e)
    return Outcome(name, "differs", "stderr " + _first_diff(t.stderr, e.stderr), t, e)


def run_corpus(paths: list[Path] | None = None, *, engine_root: Path | None = None,
               timeout: float = TIMEOUT, jobs: int = 1, fresh: bool = False) -> list[Outcome]:
    """Run every program under torch and under the engine (side by side) and compare."""
    paths = programs() if paths is None else paths
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        ft = pool.submit(run_programs, paths, "torch", timeout=timeout, jobs=jobs, fresh=fresh)
        fe = pool.submit(run_programs, paths, "engine", engine_root=engine_root,
                         timeout=timeout, jobs=jobs, fresh=fresh)
        truns, eruns = ft.result(), fe.result()
    return [compare(p.stem, t, e) for p, t, e in zip(paths, truns, eruns)]
