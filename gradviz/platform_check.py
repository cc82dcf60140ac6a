"""Start-up check: can Qt open here? One line naming the fix, instead of Qt's abort dump.

Run before anything imports PySide6. Standard library only (it also runs from
``python3 -m gradviz.dev`` before the app's dependencies are installed).

Qt's Linux wheels bundle Qt itself but load a few dozen system libraries: some at import
(QtGui needs EGL, GL, fontconfig, ...; missing, the import raises a traceback), the rest when
the platform plugin loads (xcb; missing, Qt prints a dump that blames libxcb-cursor0 and
aborts). The tables below are the libraries PySide6 6.12's ``libQt6Gui``, ``libQt6DBus``,
``libqoffscreen``, ``libqxcb``/``libQt6XcbQpa`` and ``libqwayland`` name as ``NEEDED``, less
glibc and libstdc++; ``tests/e2e/test_install.py`` reads the installed wheel's ELF files to keep
them complete. ``python3 -m gradviz.platform_check [--screenshot]`` prints the verdict.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys
from collections.abc import Callable, Sequence

__all__ = ["BASE_LIBS", "WAYLAND_LIBS", "XCB_LIBS", "apt_line", "display_problem",
           "find_library", "missing_libraries", "missing_packages", "problem",
           "x_display_alive"]

# soname -> Debian/Ubuntu package. Needed by any Qt GUI, offscreen included.
BASE_LIBS: dict[str, str] = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libz.so.1": "zlib1g",
    "libzstd.so.1": "libzstd1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfreetype.so.6": "libfreetype6",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}
# Needed on top by the xcb platform plugin (a window on X11 or XWayland).
XCB_LIBS: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
}
# Needed on top by the wayland platform plugin.
WAYLAND_LIBS: dict[str, str] = {
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
}
HEADLESS_HINT = "or render headless with: gradviz --screenshot out.png"
_HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "minimalegl")


def find_library(soname: str) -> bool:
    """Whether the dynamic loader can load ``soname`` here (what Qt will do)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_libraries(table: dict[str, str],
                      finder: Callable[[str], bool] | None = None) -> list[str]:
    """The sonames in ``table`` that cannot be loaded."""
    finder = finder or find_library
    return [so for so in table if not finder(so)]


def _os_release() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                k, sep, v = line.strip().partition("=")
                if sep:
                    out[k] = v.strip('"')
    except OSError:
        pass
    return out


def _package_name(pkg: str, release: dict[str, str]) -> str:
    """Debian 13 and Ubuntu 24.04 renamed glib's package in the 64-bit time_t transition."""
    if pkg != "libglib2.0-0":
        return pkg
    ids = (release.get("ID", "") + " " + release.get("ID_LIKE", "")).split()
    try:
        version = float(release.get("VERSION_ID", "0"))
    except ValueError:
        version = 0.0
    if ("ubuntu" == release.get("ID") and version >= 24.04) or (
            release.get("ID") == "debian" and version >= 13) or (
            "ubuntu" in ids and release.get("ID") != "ubuntu" and version >= 22):
        return "libglib2.0-0t64"
    return pkg


def apt_line(sonames: Sequence[str], release: dict[str, str] | None = None) -> str:
    """``sudo apt-get install ...`` with the packages that provide ``sonames``."""
    release = _os_release() if release is None else release
    table = {**BASE_LIBS, **XCB_LIBS, **WAYLAND_LIBS}
    pkgs: list[str] = []
    for so in sonames:
        pkg = _package_name(table.get(so, so), release)
        if pkg not in pkgs:
            pkgs.append(pkg)
    return "sudo apt-get install " + " ".join(pkgs)


def _libraries_sentence(missing: Sequence[str], what: str) -> str:
    line = apt_line(missing)
    plural = len(missing) > 1
    return (f"gradviz: Qt cannot {what} because the system "
            f"librar{'ies' if plural else 'y'} {', '.join(missing)} "
            f"{'are' if plural else 'is'} missing; install "
            f"{'them' if plural else 'it'} with: {line}")


def x_display_alive(display: str, timeout: float = 0.5,
                    socket_dir: str = "/tmp/.X11-unix") -> bool | None:
    """Whether an X server answers on ``display`` (``[host]:n[.screen]``); None when the
    form is not one this can check (then Qt is left to try)."""
    host, sep, rest = display.rpartition(":")
    if not sep:
        return None
    number = rest.split(".", 1)[0]
    if not number.isdigit():
        return None
    n = int(number)
    if host.startswith("unix/") or host.startswith("/"):  # XQuartz-style paths: Qt will see
        return None
    if host in ("", "unix"):
        path = os.path.join(socket_dir, f"X{n}")
        for address in ("\0" + path, path):  # abstract socket first, like libxcb
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.connect(address)
                return True
            except OSError:
                pass
            finally:
                s.close()
        if host == "unix":
            return False
        host = "localhost"
    if host.startswith("tcp/"):
        host = host[4:]
    try:
        with socket.create_connection((host.strip("[]"), 6000 + n), timeout=timeout):
            return True
    except OSError:
        return False


def _wayland_alive(name: str) -> bool:
    path = name if os.path.isabs(name) else os.path.join(
        os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}"), name)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def problem(screenshot: bool = False, env: dict[str, str] | None = None,
            finder: Callable[[str], bool] | None = None, platform: str | None = None,
            timeout: float = 0.5) -> str | None:
    """One line saying why Qt cannot start here and how to fix it, or None when it can.

    ``screenshot``: only the offscreen platform is needed (no display, no xcb)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None  # macOS and Windows wheels bundle everything Qt needs
    qpa = "offscreen" if screenshot else env.get("QT_QPA_PLATFORM", "")
    candidates = [c.split(":", 1)[0] for c in qpa.split(";") if c]
    base = missing_libraries(BASE_LIBS, finder)
    if any(c in _HEADLESS_PLATFORMS for c in candidates):
        return _libraries_sentence(base, "start") if base else None
    if candidates and not any(c.startswith(("xcb", "wayland")) for c in candidates):
        return _libraries_sentence(base, "start") if base else None  # a plugin we don't know

    wayland = env.get("WAYLAND_DISPLAY", "")
    want_wayland = any(c.startswith("wayland") for c in candidates) or (
        not candidates and env.get("XDG_SESSION_TYPE") == "wayland" and bool(wayland))
    if want_wayland and wayland and _wayland_alive(wayland):
        wl = missing_libraries(WAYLAND_LIBS, finder)
        if not wl and not base:
            return None
        if not wl and base:
            return _libraries_sentence(base, "open a window")
        if candidates and not any(c.startswith("xcb") for c in candidates):
            return _libraries_sentence(base + wl, "open a window")
        # Qt falls back to xcb: judged below

    display = env.get("DISPLAY", "")
    missing = base + missing_libraries(XCB_LIBS, finder)
    parts = [_libraries_sentence(missing, "open a window")] if missing else []
    if not display:
        parts.append(("gradviz: no" if not parts else "And no") + " display found (DISPLAY is "
                     f"not set): run it in a desktop session, {HEADLESS_HINT}")
    elif x_display_alive(display, timeout) is False:
        parts.append(("gradviz: no" if not parts else "And no") + " X server answers on "
                     f"DISPLAY={display} (nothing listens there): run it in a desktop session "
                     f"or fix DISPLAY, {HEADLESS_HINT}")
    elif parts:
        parts[-1] += ", " + HEADLESS_HINT
    return ". ".join(parts) if parts else None


def display_problem(screenshot: bool) -> str | None:
    """What ``gradviz.app`` asks before it imports Qt."""
    return problem(screenshot)


def missing_packages(screenshot: bool, env: dict[str, str] | None = None) -> list[str]:
    """The apt packages of the libraries Qt lacks here (for offscreen, or also for xcb)."""
    env = os.environ if env is None else env
    sonames = missing_libraries(BASE_LIBS)
    if not screenshot and not env.get("QT_QPA_PLATFORM", "").startswith(_HEADLESS_PLATFORMS):
        sonames += missing_libraries(XCB_LIBS)
    return apt_line(sonames).split()[3:] if sonames else []


def main(argv: list[str] | None = None) -> int:
    """``python3 -m gradviz.platform_check [--screenshot] [--packages]``: print the verdict, or
    with ``--packages`` only the missing apt packages (for scripts such as .ci/run)."""
    argv = sys.argv[1:] if argv is None else argv
    if "--packages" in argv:
        print(" ".join(missing_packages("--screenshot" in argv)))
        return 0
    p = problem(screenshot="--screenshot" in argv)
    print(p or "gradviz: Qt can start here.", file=sys.stderr if p else sys.stdout)
    return 2 if p else 0


if __name__ == "__main__":
    raise SystemExit(main())
