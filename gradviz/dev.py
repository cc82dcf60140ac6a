"""Install and run gradviz from a checkout, in the checkout's own virtual environment.

    python3 -m gradviz.dev run [ARGS]     install into .venv if needed, then launch gradviz ARGS
    python3 -m gradviz.dev test [ARGS]    install with the test extras and torch's CPU wheel,
                                          then run pytest ARGS (offscreen)
    python3 -m gradviz.dev install [--test]   only install

Standard library only, and runs with a bare ``python3``: the system python refuses ``pip
install`` (PEP 668) so everything goes into ``.venv``; where ``ensurepip`` is missing (Debian and
Ubuntu without ``python3-venv``) the venv is made without pip and pip is put in from a pip wheel
(Debian's own copy, or PyPI's, checked against its published sha256). A run whose
``pyproject.toml`` and venv are unchanged since the last install skips installing. The torch
wheel comes from PyTorch's CPU index (PyPI's Linux wheel is the multi-GB CUDA build); when that
index does not answer within seconds, pip's configured indexes are used instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PIP_JSON = "https://pypi.org/pypi/pip/json"
STAMP = "gradviz-install.json"
HELP = __doc__.split("\n\n")[1]


def say(msg: str) -> None:
    print(f"gradviz: {msg}", file=sys.stderr, flush=True)


class SetupError(Exception):
    """A set-up step failed; the message says what to do."""


def venv_dir() -> Path:
    return Path(os.environ.get("GRADVIZ_VENV") or ROOT / ".venv")


def venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def has_pip(py: Path) -> bool:
    return _works([str(py), "-c", "import pip"])


# --------------------------------------------------------------------------- the venv
def ensure_venv(venv: Path, base_python: str = sys.executable,
                ensurepip: bool | None = None) -> Path:
    """A working venv with pip at ``venv`` (made or repaired as needed); its python.
    ``ensurepip``: whether ``base_python`` has it (default: whether this python has it)."""
    py = venv_python(venv)
    if py.exists() and _works([str(py), "-c", "import sys"]):
        if not has_pip(py):
            bootstrap_pip(py)
        return py
    if venv.exists():
        if not (venv / "pyvenv.cfg").exists():
            raise SetupError(f"{venv} exists and is not a virtual environment: move it away "
                             "and run this again")
        say(f"{venv} is broken (its python does not run): making it again")
        shutil.rmtree(venv)
    say(f"making a virtual environment in {venv}")
    if ensurepip is None:
        ensurepip = importlib.util.find_spec("ensurepip") is not None
    if ensurepip:
        r = subprocess.run([base_python, "-m", "venv", str(venv)], capture_output=True,
                           text=True)
        if r.returncode == 0 and has_pip(py):
            return py
        shutil.rmtree(venv, ignore_errors=True)
    r = subprocess.run([base_python, "-m", "venv", "--without-pip", str(venv)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SetupError(f"python could not make a virtual environment in {venv} "
                         f"({(r.stderr or r.stdout).strip().splitlines()[-1:]}); on Debian or "
                         "Ubuntu: sudo apt-get install python3-venv")
    bootstrap_pip(py)
    return py


def local_pip_wheels() -> list[Path]:
    """pip wheels already on this machine (Debian's python3-pip-whl, ensurepip's bundle)."""
    dirs = [Path("/usr/share/python-wheels")]
    spec = importlib.util.find_spec("ensurepip")
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "_bundled")
    found = [w for d in dirs if d.is_dir() for w in d.glob("pip-*-py3-none-any.whl")]
    return sorted(found, key=lambda p: p.name, reverse=True)


def download_pip_wheel(dest: Path, url: str = PIP_JSON, timeout: float = 30) -> Path:
    """The newest pip wheel from PyPI, checked against PyPI's sha256."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            release = json.load(r)
        (wheel,) = [u for u in release["urls"] if u["packagetype"] == "bdist_wheel"][:1]
        with urllib.request.urlopen(urllib.parse.urljoin(url, wheel["url"]),
                                    timeout=timeout) as r:
            data = r.read()
    except (OSError, ValueError, KeyError) as e:
        raise SetupError(f"could not download pip from PyPI ({e}); on Debian or Ubuntu: sudo "
                         "apt-get install python3-venv, then run this again") from None
    if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
        raise SetupError("the pip wheel downloaded from PyPI does not match its sha256")
    path = dest / wheel["filename"]
    path.write_bytes(data)
    return path


def bootstrap_pip(py: Path) -> None:
    """Install pip into a venv that has none, by running pip from its own wheel."""
    with tempfile.TemporaryDirectory() as tmp:
        wheels = local_pip_wheels()
        if wheels:
            wheel = wheels[0]
        else:
            say("this python has no ensurepip: fetching pip from PyPI")
            wheel = download_pip_wheel(Path(tmp))
        r = subprocess.run([str(py), str(wheel / "pip"), "install", "-q", "--no-index",
                            "--no-compile", "--disable-pip-version-check", str(wheel)])
    if r.returncode != 0 or not has_pip(py):
        raise SetupError(f"could not put pip into {py.parent.parent}; on Debian or Ubuntu: "
                         "sudo apt-get install python3-venv, delete .venv and run this again")


# --------------------------------------------------------------------------- installing
def install_key(venv: Path) -> str:
    """What an install depends on: the project's metadata, the venv, the checkout's place."""
    h = hashlib.sha256()
    h.update((ROOT / "pyproject.toml").read_bytes())
    cfg = venv / "pyvenv.cfg"
    h.update(cfg.read_bytes() if cfg.exists() else b"")
    h.update(str(ROOT).encode())
    return h.hexdigest()


def read_stamp(venv: Path) -> dict:
    try:
        return json.loads((venv / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def up_to_date(venv: Path, test: bool) -> bool:
    s = read_stamp(venv)
    return (s.get("key") == install_key(venv) and venv_python(venv).exists()
            and (not test or (s.get("test") and s.get("torch") == TORCH)))


def pip(py: Path, *args: str) -> int:
    return subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check",
                           *args]).returncode


def torch_installed(py: Path) -> bool:
    want = TORCH.split("==")[1]
    r = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('torch'))"],
                       capture_output=True, text=True)
    return r.returncode == 0 and r.stdout.strip().split("+")[0] == want


def torch_commands(py: Path, platform: str = sys.platform) -> list[list[str]]:
    """The pip commands for torch, run in turn. On Linux, first the CPU wheel alone from
    PyTorch's CPU index, with a short timeout and no retries so that an unreachable index costs
    seconds; then, always, a plain install from pip's own indexes, which only adds the CPU
    wheel's dependencies when the first worked (and fetches torch itself when it did not)."""
    base = [str(py), "-m", "pip", "install", "--disable-pip-version-check", TORCH]
    index = os.environ.get("GRADVIZ_TORCH_INDEX", TORCH_CPU_INDEX)
    if platform.startswith("linux") and index:
        return [base + ["--no-deps", "--index-url", index, "--timeout", "8", "--retries", "0"],
                base]
    return [base]  # macOS and Windows: PyPI's torch is the CPU build


def install_torch(py: Path) -> None:
    if torch_installed(py):
        return
    *first, last = torch_commands(py)
    for cmd in first:
        if subprocess.run(cmd).returncode != 0:
            say("could not get torch's CPU wheel from PyTorch's index: trying pip's own indexes "
                "(on Linux, PyPI's torch is the CUDA build, several GB)")
    if subprocess.run(last).returncode != 0 or not torch_installed(py):
        raise SetupError(f"could not install {TORCH}: see pip's message above")


def ensure_installed(test: bool = False) -> Path:
    """Make ``.venv`` and install gradviz into it (with the test extras and torch when
    ``test``), unless that is already done; the venv's python."""
    venv = venv_dir()
    if up_to_date(venv, test):
        return venv_python(venv)
    py = ensure_venv(venv)
    key = install_key(venv)
    stamp = read_stamp(venv)
    if stamp.get("key") != key:
        stamp = {}
    if not stamp or (test and not stamp.get("test")):
        say(f"installing gradviz{' and its test tools' if test else ''} into {venv}")
        if pip(py, "-e", f"{ROOT}[test]" if test else str(ROOT)) != 0:
            raise SetupError("pip could not install gradviz: see its message above")
        stamp = {"key": key, "test": bool(test or stamp.get("test"))}
        _write_stamp(venv, stamp)
    if test and stamp.get("torch") != TORCH:
        install_torch(py)
        stamp["torch"] = TORCH
        _write_stamp(venv, stamp)
    return py


def _write_stamp(venv: Path, stamp: dict) -> None:
    (venv / STAMP).write_text(json.dumps(stamp), encoding="utf-8")


# --------------------------------------------------------------------------- commands
def _exec(cmd: list[str], env: dict[str, str] | None = None) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execve(cmd[0], cmd, env or dict(os.environ))
    return subprocess.run(cmd, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if sys.version_info < (3, 10):  # noqa: UP036 (this module also runs on older pythons)
        say(f"needs Python 3.10 or newer (this is {sys.version.split()[0]})")
        return 2
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(HELP)
        return 0 if argv else 2
    command, args = argv[0], argv[1:]
    if not (ROOT / "pyproject.toml").exists():
        say(f"{ROOT} is not a gradviz checkout (no pyproject.toml)")
        return 2
    try:
        if command == "run":
            py = ensure_installed(test=False)
            return _exec([str(py), "-m", "gradviz", *args])
        if command == "test":
            py = ensure_installed(test=True)
            from gradviz.platform_check import problem

            trouble = problem(screenshot=True)
            if trouble:
                say(trouble.removeprefix("gradviz: "))
                return 2
            env = dict(os.environ)
            env.setdefault("QT_QPA_PLATFORM", "offscreen")
            os.chdir(ROOT)
            return _exec([str(py), "-m", "pytest", "-q", *args], env)
        if command == "install":
            ensure_installed(test="--test" in args)
            return 0
    except SetupError as e:
        say(str(e))
        return 1
    say(f"unknown command {command!r}")
    print(HELP)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
