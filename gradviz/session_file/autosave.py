"""Autosave files, one per window, and finding the autosaves of crashed windows."""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import sys
import time
from pathlib import Path

from gradviz import safe_io
from gradviz.safe_io import FileError
from gradviz.session_file.limits import SessionFileError
from gradviz.session_file.paths import _AUTOSAVE, _LEGACY_AUTOSAVE, state_dir
from gradviz.session_file.state import SessionState
from gradviz.session_file.writing import _save

_LEGACY_MARKER = "running.pid"
_windows = itertools.count(1)


def _proc_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, Linux), to tell a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read(4096).rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _folder_error(d: Path, e: OSError) -> SessionFileError:
    reason = safe_io.describe_os_error(d, e).split(": ", 1)[1]
    return SessionFileError(f"cannot keep automatic saves in {d}: {reason}", d, reason)


def check_state_dir() -> str | None:
    """None if autosaves can be kept in :func:`state_dir`, else a sentence saying why not
    (the window shows it once: work is then not saved automatically)."""
    d = state_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        if not d.is_dir():
            raise NotADirectoryError(20, "not a folder")
        if not os.access(d, os.W_OK | os.X_OK):
            raise PermissionError(13, "permission denied")
    except OSError as e:
        return str(_folder_error(d, e)) + "; work is not saved automatically"
    return None


class Autosave:
    """One window's autosave: ``autosave-<pid>-<window>.gradviz`` and its marker
    ``autosave-<pid>-<window>.running`` in :func:`state_dir`. ``window`` defaults to a new
    number in this process, so every window gets files of its own."""

    def __init__(self, window: int | None = None) -> None:
        self.pid = os.getpid()
        self.window = next(_windows) if window is None else int(window)

    @property
    def path(self) -> Path:
        return state_dir() / f"autosave-{self.pid}-{self.window}.gradviz"

    @property
    def marker(self) -> Path:
        return self.path.with_suffix(".running")

    def mark_running(self) -> Path:
        """Write the marker saying this window runs (call at start, after
        :func:`find_recoveries`). Raises SessionFileError if the state folder is unusable."""
        d = state_dir()
        doc = {"pid": self.pid, "window": self.window, "started": time.time(),
               "proc_start": _proc_start(self.pid)}
        try:
            d.mkdir(parents=True, exist_ok=True)
            safe_io.write_text_atomic(self.marker, json.dumps(doc))
        except FileError as e:
            raise SessionFileError(f"cannot keep automatic saves in {d}: {e.reason}", d,
                                   e.reason) from None
        except OSError as e:
            raise _folder_error(d, e) from None
        return self.marker

    def write(self, state: SessionState) -> Path:
        """Save ``state`` as this window's autosave (atomically)."""
        if not self.marker.exists():
            self.mark_running()  # an autosave without its marker would look crashed
        return _save(self.path, state, "write the automatic save")

    def clear(self) -> None:
        """Remove this window's autosave (its marker stays while the window runs)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def mark_clean_exit(self) -> None:
        """This window closed normally: remove its autosave and marker (no one else's)."""
        self.clear()
        with contextlib.suppress(FileNotFoundError):
            self.marker.unlink()

    def adopt(self, recovered: str | os.PathLike[str]) -> Path:
        """Take a crashed window's autosave (from :func:`find_recoveries`) as this window's
        own, atomically: of two windows adopting the same file only one gets it, and until
        this window saves or closes it stays recoverable. Returns the path to open."""
        return adopt_recovery(recovered, self)


_default: dict[int, Autosave] = {}


def _window(window: int | Autosave | None) -> Autosave:
    if isinstance(window, Autosave):
        return window
    if window is not None:
        return Autosave(window)
    pid = os.getpid()
    if pid not in _default:
        _default[pid] = Autosave(0)
    return _default[pid]


def autosave_path(window: int | None = None) -> Path:
    """This process's autosave for ``window`` (default 0)."""
    return _window(window).path


def write_autosave(state: SessionState, window: int | None = None) -> Path:
    """Save ``state`` as the autosave of ``window`` (default 0) of this process."""
    return _window(window).write(state)


def clear_autosave(window: int | None = None) -> None:
    """Remove the autosave of ``window`` (default 0) of this process."""
    _window(window).clear()


def mark_running(window: int | None = None) -> Path:
    """Write the marker of ``window`` (default 0) of this process (see
    :meth:`Autosave.mark_running`)."""
    return _window(window).mark_running()


def mark_clean_exit(window: int | None = None) -> None:
    """``window`` (default 0) of this process ended normally: its autosave and marker go."""
    _window(window).mark_clean_exit()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill would terminate the process on Windows
        import ctypes

        k32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        h = k32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not h:
            return False
        code = ctypes.c_ulong()
        try:
            return bool(k32.GetExitCodeProcess(h, ctypes.byref(code))) and code.value == 259
        finally:
            k32.CloseHandle(h)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    try:  # a zombie (dead, not yet reaped) is not running
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _marker_alive(marker: Path) -> bool:
    """True when the window that wrote ``marker`` still runs (a reused pid does not count)."""
    try:
        doc = json.loads(safe_io.read_text(marker, 65536))
        pid = doc["pid"]
        if type(pid) is not int:
            raise TypeError
    except (FileError, ValueError, KeyError, TypeError):
        return False  # an unreadable marker: its writer did not finish cleanly either
    if not _pid_alive(pid):
        return False
    started = doc.get("proc_start")
    now = _proc_start(pid)
    return started is None or now is None or started == now


def find_recoveries() -> list[Path]:
    """The autosaves of windows that did not close cleanly (their process is gone), newest
    first: each is offered whatever other windows did. A running window's is not listed."""
    d = state_dir()
    try:
        names = set(os.listdir(d))
    except OSError:
        return []
    found = []
    for name in names:
        m = _AUTOSAVE.match(name)
        if m is None:
            continue
        marker = name[:-len(".gradviz")] + ".running"
        if marker in names and _marker_alive(d / marker):
            continue
        found.append(d / name)
    for name in names:  # markers of dead windows that never autosaved
        if name.endswith(".running") and name[:-len(".running")] + ".gradviz" not in names \
                and name.startswith("autosave-") and not _marker_alive(d / name):
            with contextlib.suppress(OSError):
                (d / name).unlink()
    if _LEGACY_AUTOSAVE in names and _LEGACY_MARKER in names:  # gradviz before per-window
        legacy = d / _LEGACY_MARKER
        try:
            pid = json.loads(safe_io.read_text(legacy, 65536))["pid"]
            dead = type(pid) is not int or (pid != os.getpid() and not _pid_alive(pid))
        except (FileError, ValueError, KeyError, TypeError):
            dead = True
        if dead:
            found.append(d / _LEGACY_AUTOSAVE)

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    return sorted(found, key=mtime, reverse=True)


def find_recovery() -> Path | None:
    """The newest autosave :func:`find_recoveries` lists, or None."""
    found = find_recoveries()
    return found[0] if found else None


def _marker_of(path: Path) -> Path:
    return path.with_name(_LEGACY_MARKER) if path.name == _LEGACY_AUTOSAVE else \
        path.with_suffix(".running")


def adopt_recovery(path: str | os.PathLike[str],
                   window: int | Autosave | None = None) -> Path:
    """Move a crashed window's autosave to be ``window``'s (default: window 0 of this
    process) and drop its marker; returns the new path to open. Raises SessionFileError if
    another window took it first."""
    src = Path(path)
    me = _window(window)
    had_marker = me.marker.exists()
    me.mark_running()
    try:
        if not src.is_file():
            raise FileNotFoundError(errno.ENOENT, "gone", str(src))
        os.rename(src, me.path)
    except OSError as e:
        if not had_marker:
            with contextlib.suppress(OSError):
                me.marker.unlink()
        if isinstance(e, FileNotFoundError):
            reason = "another window has recovered it already, or it was removed"
            raise SessionFileError(f"cannot recover {src}: {reason}", src, reason) from None
        raise SessionFileError(safe_io.describe_os_error(src, e, "recover"), src) from None
    with contextlib.suppress(OSError):
        _marker_of(src).unlink()
    return me.path


def discard_recovery(path: str | os.PathLike[str]) -> None:
    """Delete a crashed window's autosave and its marker (the user declined it)."""
    p = Path(path)
    for q in (p, _marker_of(p)):
        with contextlib.suppress(FileNotFoundError):
            q.unlink()
