"""Installing on a fresh machine: the wheel's contents, the start-up check, the set-up module.

The slow paths (a fresh venv from a python without ensurepip, the torch download) are checked
for real by hand (see the README); here they run with small stand-ins.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import gradviz
from gradviz import dev, platform_check
from gradviz.lessons import LESSONS_DIR
from gradviz.platform_check import BASE_LIBS, WAYLAND_LIBS, XCB_LIBS, problem

ROOT = Path(__file__).resolve().parents[2]
ALL_LIBS = {**BASE_LIBS, **XCB_LIBS, **WAYLAND_LIBS}


# --------------------------------------------------------------------------- the wheel
def test_wheel_ships_lessons_and_assets(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ("gradviz", "engine"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=ignore)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-index", "-q", "-w", str(tmp_path / "dist"), str(src)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (wheel,) = (tmp_path / "dist").glob("gradviz-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    lessons = sorted(p.name for p in LESSONS_DIR.glob("*.py"))
    assert len(lessons) >= 9
    assert {f"gradviz/assets/lessons/{n}" for n in lessons} <= names
    # every file under gradviz/assets, whatever it is, and both packages' modules
    assets = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gradviz" / "assets").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert assets <= names
    assert {"engine/__init__.py", "gradviz/platform_check.py", "gradviz/dev.py"} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[gui_scripts]" in text and "gradviz = gradviz.app:main" in text


def test_lessons_live_inside_the_package():
    assert LESSONS_DIR == Path(gradviz.__file__).resolve().parent / "assets" / "lessons"
    assert not (ROOT / "assets" / "lessons").exists()


# --------------------------------------------------------------------------- the check
def _finder(missing=()):
    missing = set(missing)
    return lambda so: so not in missing


@pytest.fixture
def live_display(tmp_path):
    """An X display number with something listening on its (abstract) socket."""
    for n in range(150, 250):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(f"\0/tmp/.X11-unix/X{n}")
        except OSError:
            s.close()
            continue
        s.listen(1)
        yield f":{n}"
        s.close()
        return
    pytest.skip("no free display number")


def _dead_display_number() -> int:
    for n in range(400, 600):
        if platform_check.x_display_alive(f":{n}", timeout=0.2) is False:
            return n
    pytest.skip("no unused display number")


def test_everything_present_and_a_live_display_is_fine(live_display):
    env = {"DISPLAY": live_display}
    assert problem(env=env, finder=_finder(), platform="linux") is None
    assert platform_check.x_display_alive(live_display) is True


def test_missing_libraries_are_all_named_in_one_sentence_with_the_apt_line(live_display):
    gone = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-shape.so.0", "libEGL.so.1"]
    msg = problem(env={"DISPLAY": live_display}, finder=_finder(gone), platform="linux")
    assert msg is not None and "\n" not in msg and msg.count(". ") == 0
    for so in gone:
        assert so in msg
    line = msg.split("install them with: ", 1)[1].split(",")[0]
    assert line.startswith("sudo apt-get install ")
    assert set(line.split()[3:]) == {ALL_LIBS[so] for so in gone}
    assert "--screenshot" in msg


@pytest.mark.parametrize("gone", [["libEGL.so.1"], ["libGL.so.1"], ["libfontconfig.so.1"],
                                  ["libdbus-1.so.3"], ["libEGL.so.1", "libdbus-1.so.3"]])
def test_libraries_qtgui_needs_give_one_sentence_for_screenshot_and_window(gone, live_display):
    shot = problem(screenshot=True, env={}, finder=_finder(gone), platform="linux")
    window = problem(env={"DISPLAY": live_display}, finder=_finder(gone), platform="linux")
    for msg in (shot, window):
        assert msg and "\n" not in msg and all(so in msg for so in gone)
        assert "sudo apt-get install " + " ".join(ALL_LIBS[so] for so in gone) in msg


def test_screenshot_needs_no_xcb_and_no_display():
    finder = _finder(XCB_LIBS)
    assert problem(screenshot=True, env={}, finder=finder, platform="linux") is None
    env = {"QT_QPA_PLATFORM": "offscreen"}
    assert problem(env=env, finder=finder, platform="linux") is None


def test_dead_display_is_one_sentence():
    n = _dead_display_number()
    for display in (f":{n}", f":{n}.0", f"unix:{n}"):
        msg = problem(env={"DISPLAY": display}, finder=_finder(), platform="linux")
        assert msg and "\n" not in msg and f"DISPLAY={display}" in msg
        assert "no X server answers" in msg and "--screenshot" in msg
    # with libraries missing too: both said, still one line
    msg = problem(env={"DISPLAY": f":{n}"}, finder=_finder(["libxcb-cursor.so.0"]),
                  platform="linux")
    assert "libxcb-cursor0" in msg and f"DISPLAY=:{n}" in msg and "\n" not in msg


def test_tcp_display():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        if port < 6000:
            pytest.skip("ephemeral port below 6000")
        assert platform_check.x_display_alive(f"127.0.0.1:{port - 6000}", 0.5) is False
        s.listen(1)
        assert platform_check.x_display_alive(f"127.0.0.1:{port - 6000}", 0.5) is True


def test_unset_display():
    msg = problem(env={}, finder=_finder(), platform="linux")
    assert "DISPLAY is not set" in msg and "--screenshot" in msg


def test_wayland_session(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "wl"))
    sock.listen(1)
    try:
        env = {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": str(tmp_path / "wl")}
        # Qt takes the wayland plugin: the xcb libraries are not needed
        assert problem(env=env, finder=_finder(XCB_LIBS), platform="linux") is None
        forced = {**env, "QT_QPA_PLATFORM": "wayland"}
        msg = problem(env=forced, finder=_finder(WAYLAND_LIBS), platform="linux")
        assert "libwayland-client.so.0" in msg and "libwayland-cursor0" in msg
    finally:
        sock.close()


def test_other_systems_are_not_checked():
    for plat in ("darwin", "win32"):
        assert problem(env={}, finder=_finder(ALL_LIBS), platform=plat) is None


def test_package_names_follow_the_release():
    assert platform_check.apt_line(["libglib-2.0.so.0"], {"ID": "debian", "VERSION_ID": "12"}) \
        == "sudo apt-get install libglib2.0-0"
    assert platform_check.apt_line(["libglib-2.0.so.0", "libgthread-2.0.so.0"],
                                   {"ID": "ubuntu", "VERSION_ID": "24.04"}) \
        == "sudo apt-get install libglib2.0-0t64"


def test_real_finder():
    assert platform_check.find_library("libc.so.6" if sys.platform == "linux" else "c") or \
        sys.platform != "linux"
    assert not platform_check.find_library("libgradviz-no-such-thing.so.7")


def test_app_says_dead_display_in_one_line(tmp_path):
    if sys.platform != "linux":
        pytest.skip("the check is Linux-only")
    n = _dead_display_number()
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=f":{n}", GRADVIZ_STATE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "gradviz"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"DISPLAY=:{n}" in lines[0]


def _needed(path: Path) -> list[str]:
    """DT_NEEDED of an ELF64 little-endian shared object."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    out = []
    for sh in sections:
        if sh[1] != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[sh[6]]
        for off in range(sh[4], sh[4] + sh[5], 16):
            tag, val = struct.unpack_from("<qQ", data, off)
            if tag == 1:
                start = strtab[4] + val
                out.append(data[start:data.index(b"\0", start)].decode())
    return out


def test_tables_cover_what_the_installed_pyside6_needs():
    if sys.platform != "linux":
        pytest.skip("Linux wheels only")
    import importlib.util
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.origin:
        pytest.skip("PySide6 not installed")
    qt = Path(spec.origin).parent / "Qt"
    files = [qt / "lib" / n for n in ("libQt6Core.so.6", "libQt6Gui.so.6", "libQt6Widgets.so.6",
                                      "libQt6DBus.so.6", "libQt6XcbQpa.so.6",
                                      "libQt6WaylandClient.so.6")]
    files += [qt / "plugins" / "platforms" / n for n in ("libqxcb.so", "libqoffscreen.so",
                                                          "libqwayland.so")]
    files = [f for f in files if f.exists()]
    assert len(files) >= 6
    bundled = {p.name for p in (qt / "lib").iterdir()}
    system = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libdl.so.2",
              "libpthread.so.0", "librt.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
    needed = {so for f in files for so in _needed(f)}
    unknown = {so for so in needed - bundled - system if not so.startswith("libQt6")}
    assert unknown <= set(ALL_LIBS), f"add to platform_check: {sorted(unknown - set(ALL_LIBS))}"


# --------------------------------------------------------------------------- gradviz.dev
def test_torch_comes_from_the_cpu_index_first_with_a_short_timeout(monkeypatch):
    monkeypatch.delenv("GRADVIZ_TORCH_INDEX", raising=False)
    cmds = dev.torch_commands(Path("py"), "linux")
    assert len(cmds) == 2
    first, last = cmds
    assert first[first.index("--index-url") + 1] == dev.TORCH_CPU_INDEX
    assert int(first[first.index("--timeout") + 1]) <= 10
    assert first[first.index("--retries") + 1] == "0" and "--no-deps" in first
    assert "--index-url" not in last and dev.TORCH in last
    assert dev.torch_commands(Path("py"), "darwin") == [last]
    assert dev.torch_commands(Path("py"), "win32") == [last]


def test_torch_falls_back_when_the_cpu_index_fails(monkeypatch, capsys):
    calls, installed = [], []

    class Done:
        def __init__(self, rc):
            self.returncode = rc

    def run(cmd, *a, **k):
        calls.append(cmd)
        if "--index-url" in cmd:
            return Done(1)
        installed.append(True)
        return Done(0)

    monkeypatch.setattr(dev.subprocess, "run", run)
    monkeypatch.setattr(dev, "torch_installed", lambda py: bool(installed))
    monkeypatch.setattr(dev.sys, "platform", "linux")
    dev.install_torch(Path("py"))
    assert ["--index-url" in c for c in calls] == [True, False]
    assert "trying pip's own indexes" in capsys.readouterr().err


def test_second_run_skips_the_install(tmp_path, monkeypatch):
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    venv = tmp_path / "venv"
    py = dev.venv_python(venv)
    py.parent.mkdir(parents=True)
    py.write_text("")
    (venv / "pyvenv.cfg").write_text("version = 3.11\n")
    monkeypatch.setattr(dev, "ROOT", root)
    monkeypatch.setenv("GRADVIZ_VENV", str(venv))
    ran = []
    monkeypatch.setattr(dev, "ensure_venv", lambda v: py)
    monkeypatch.setattr(dev, "pip", lambda py, *a: ran.append(a) or 0)
    monkeypatch.setattr(dev, "install_torch", lambda py: ran.append("torch"))
    assert not dev.up_to_date(venv, test=False)
    dev.ensure_installed(test=False)
    assert ran == [("-e", str(root))] and dev.up_to_date(venv, test=False)
    dev.ensure_installed(test=False)
    assert len(ran) == 1  # up to date: nothing run
    assert not dev.up_to_date(venv, test=True)
    dev.ensure_installed(test=True)
    assert ran[1:] == [("-e", f"{root}[test]"), "torch"] and dev.up_to_date(venv, test=True)
    dev.ensure_installed(test=False)
    dev.ensure_installed(test=True)
    assert len(ran) == 3
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '2'\n")
    assert not dev.up_to_date(venv, test=False)  # new metadata: install again


def _pip_wheel(dest: Path) -> tuple[Path, str]:
    """A pip wheel rebuilt from the pip this python runs (so no network is needed)."""
    import hashlib
    import importlib.metadata as md

    dist = md.distribution("pip")
    path = dest / f"pip-{dist.version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for f in dist.files or []:
            src = Path(dist.locate_file(f))
            if src.is_file() and ".." not in f.parts and "__pycache__" not in f.parts:
                z.write(src, f.as_posix())
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _fake_pypi(tmp_path: Path, sha: str | None = None) -> str:
    """A PyPI JSON page (file:// URL) for a pip wheel, with a relative link as mirrors give."""
    wheel, digest = _pip_wheel(tmp_path)
    page = {"urls": [{"packagetype": "sdist", "url": "x.tar.gz", "filename": "x.tar.gz",
                      "digests": {"sha256": "0"}},
                     {"packagetype": "bdist_wheel", "url": wheel.name, "filename": wheel.name,
                      "digests": {"sha256": sha or digest}}]}
    (tmp_path / "pip.json").write_text(__import__("json").dumps(page))
    return (tmp_path / "pip.json").as_uri()


def test_venv_without_ensurepip_gets_pip_from_pypi(tmp_path, monkeypatch):
    """A python without ensurepip or any pip wheel (Debian without python3-venv): the venv is
    made --without-pip and pip is installed by running pip from the wheel PyPI lists."""
    url = _fake_pypi(tmp_path)
    real_download = dev.download_pip_wheel
    fetched = []
    monkeypatch.setattr(dev, "local_pip_wheels", lambda: [])
    monkeypatch.setattr(dev, "download_pip_wheel",
                        lambda d: fetched.append(d) or real_download(d, url=url))
    base = getattr(sys, "_base_executable", sys.executable)
    venv = tmp_path / "v"
    py = dev.ensure_venv(venv, base_python=base, ensurepip=False)
    assert py == dev.venv_python(venv) and dev.has_pip(py) and len(fetched) == 1
    assert dev.ensure_venv(venv, base_python=base, ensurepip=False) == py  # kept as it is
    assert len(fetched) == 1


def test_a_pip_wheel_that_does_not_match_pypis_sha256_is_refused(tmp_path):
    url = _fake_pypi(tmp_path, sha="0" * 64)
    (tmp_path / "dl").mkdir()
    with pytest.raises(dev.SetupError, match="sha256"):
        dev.download_pip_wheel(tmp_path / "dl", url=url)
    assert not list((tmp_path / "dl").iterdir())


def test_dev_refuses_unknown_commands(capsys):
    assert dev.main([]) == 2
    assert dev.main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_readme_commands_are_the_dev_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python3 -m gradviz.dev run" in text and "python3 -m gradviz.dev test" in text
    apt = next(line for line in text.splitlines() if "apt-get install" in line
               and "libxcb-cursor0" in line)
    readme_pkgs = set(apt.split("apt-get install", 1)[1].split())
    assert {p for p in ALL_LIBS.values() if p not in WAYLAND_LIBS.values()} <= readme_pkgs
