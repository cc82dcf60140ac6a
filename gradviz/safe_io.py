"""Opening and writing the user's files without freezing, crashing or losing data. No Qt.

Every file gradviz reads goes through :func:`open_regular`: it refuses anything that is not a
regular file (a FIFO, a device such as ``/dev/zero``, a folder, a socket) *before* reading, opens
with ``O_NONBLOCK`` so a FIFO swapped in at the last moment cannot block, checks the kind again
on the open descriptor, and reads at most a size limit. Every file gradviz writes goes through
:func:`atomic_write`: a hidden temporary file beside the target, flushed to disk, then renamed
over it, so a failure leaves the old file as it was.

Every failure is a :class:`FileError` whose message is one sentence naming the user's path, e.g.
``cannot open /x/y.gradviz: it is a named pipe (FIFO), not a file``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "FileError",
    "atomic_write",
    "check_readable",
    "check_writable",
    "describe_os_error",
    "file_kind",
    "find_long_line",
    "human_size",
    "open_regular",
    "read_bytes",
    "read_text",
    "write_bytes_atomic",
    "write_text_atomic",
]

PathLike = str | os.PathLike[str]


class FileError(ValueError):
    """A file gradviz will not read or could not write; the message is one sentence that names
    the user's path. ``path`` is that path and ``reason`` the part after the colon."""

    def __init__(self, message: str, path: PathLike | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)
        self.reason = reason or message


def _fail(action: str, path: PathLike, reason: str) -> FileError:
    return FileError(f"cannot {action} {os.fspath(path)}: {reason}", path, reason)


def human_size(n: int | float) -> str:
    """``1.5 MB``-style size (powers of 1024), for messages."""
    n = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{int(n)} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    """What ``mode`` (an ``st_mode``) is, in words: ``a regular file``, ``a folder``,
    ``a named pipe (FIFO)``, ``a character device``..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


_REASONS = {
    errno.ENOENT: "it does not exist",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
    errno.EISDIR: "it is a folder, not a file",
    errno.ELOOP: "it is a symbolic link that loops (too many levels of symbolic links)",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the file system is read-only",
    errno.EMFILE: "too many files are open",
    errno.ENFILE: "too many files are open",
    errno.ENXIO: "there is no device behind it",
    errno.EIO: "an input/output error happened (a failing disk or a removed drive?)",
    errno.ETXTBSY: "the file is busy",
    errno.EEXIST: "it already exists",
    errno.EINVAL: "the name is not valid here",
}
if hasattr(errno, "EDQUOT"):
    _REASONS[errno.EDQUOT] = "the disk quota is exceeded"


def describe_os_error(path: PathLike, err: OSError, action: str = "open") -> str:
    """One sentence for an OSError met while doing ``action`` on ``path`` (the user's path,
    never a temporary file): ``cannot save /x/y.png: the file system is read-only``."""
    reason = _REASONS.get(err.errno or 0)
    if reason is None:
        reason = (err.strerror or str(err) or type(err).__name__).rstrip(".")
        reason = reason[:1].lower() + reason[1:]
    return f"cannot {action} {os.fspath(path)}: {reason}"


def _os_fail(action: str, path: PathLike, err: OSError) -> FileError:
    msg = describe_os_error(path, err, action)
    return FileError(msg, path, msg.split(": ", 1)[1])


_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def check_readable(path: PathLike, max_bytes: int | None = None, action: str = "open"
                   ) -> os.stat_result:
    """The ``stat`` of ``path`` if it is a regular file gradviz may read (at most
    ``max_bytes``), without opening it; else :class:`FileError`."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise _os_fail(action, path, e) from None
    except ValueError:  # an embedded NUL in the name
        raise _fail(action, path, "the name is not valid") from None
    _check_stat(path, st, max_bytes, action)
    return st


def _check_stat(path: PathLike, st: os.stat_result, max_bytes: int | None, action: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise _fail(action, path, f"it is {file_kind(st.st_mode)}, not a file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise _fail(action, path, f"it is {human_size(st.st_size)}, larger than gradviz opens "
                                  f"({human_size(max_bytes)})")


def open_regular(path: PathLike, max_bytes: int | None = None, action: str = "open"
                 ) -> BinaryIO:
    """``path`` opened for binary reading, if it is a regular file of at most ``max_bytes``.

    Never blocks: the kind is checked before opening (so no device is opened), the open uses
    ``O_NONBLOCK`` and the kind is checked again on the descriptor. Raises :class:`FileError`.
    """
    check_readable(path, max_bytes, action)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        raise _os_fail(action, path, e) from None
    try:
        _check_stat(path, os.fstat(fd), max_bytes, action)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: PathLike, max_bytes: int, action: str = "open") -> bytes:
    """The content of a regular file of at most ``max_bytes`` (see :func:`open_regular`)."""
    with open_regular(path, max_bytes, action) as f:
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            raise _os_fail(action, path, e) from None
    if len(data) > max_bytes:  # it grew since the check
        raise _fail(action, path, f"it is larger than gradviz opens ({human_size(max_bytes)})")
    return data


def read_text(path: PathLike, max_bytes: int, action: str = "open",
              allow_nul: bool = False) -> str:
    """UTF-8 text (a BOM is dropped) of a regular file of at most ``max_bytes``; binary data
    (bytes that are not UTF-8, or NUL bytes unless ``allow_nul``) is refused in a sentence."""
    data = read_bytes(path, max_bytes, action)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _fail(action, path, f"it is not UTF-8 text (byte {e.start} is not; a binary "
                                  "file?)") from None
    if not allow_nul and "\0" in text:
        raise _fail(action, path, "it contains NUL bytes, so it is binary data, not text")
    return text


def find_long_line(text: str, limit: int) -> tuple[int, int] | None:
    """``(line number from 1, length)`` of the first line of ``text`` longer than ``limit``
    characters, or None; linear in the text (an editor can warn before showing it)."""
    start, line = 0, 1
    n = len(text)
    while start <= n:
        end = text.find("\n", start)
        if end < 0:
            end = n
        if end - start > limit:
            return line, end - start
        start, line = end + 1, line + 1
    return None


# --------------------------------------------------------------------------- writing
def _target(path: PathLike) -> Path:
    """The file a write to ``path`` replaces: a symlink's target (the link stays a link)."""
    p = Path(path)
    return Path(os.path.realpath(p)) if p.is_symlink() else p


def check_writable(path: PathLike, action: str = "save") -> Path:
    """Refuse, in a sentence naming ``path``, a place gradviz cannot write a file to: a missing
    or read-only folder, a folder or FIFO or device in the file's place, a read-only file.
    Returns the file that a write will replace (a symlink's target)."""
    if not os.fspath(path):
        raise _fail(action, path, "no file name was given")
    try:
        target = _target(path)
    except (OSError, RuntimeError) as e:  # a symlink loop (RuntimeError on old Pythons)
        err = e if isinstance(e, OSError) else OSError(errno.ELOOP, "loop")
        raise _os_fail(action, path, err) from None
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _os_fail(action, path, e) from None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise _fail(action, path, f"it is {file_kind(st.st_mode)}, not a file")
        if not os.access(target, os.W_OK):
            raise _fail(action, path, "the file is read-only")
    parent = target.parent
    try:
        pst = os.stat(parent)
    except FileNotFoundError:
        raise _fail(action, path, f"the folder {parent} does not exist") from None
    except OSError as e:
        raise _fail(action, path, f"the folder {parent} cannot be used "
                                  f"({describe_os_error(parent, e).split(': ', 1)[1]})") from None
    if not stat.S_ISDIR(pst.st_mode):
        raise _fail(action, path, f"{parent} is {file_kind(pst.st_mode)}, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _fail(action, path, f"the folder {parent} is read-only (permission denied)")
    return target


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


@contextlib.contextmanager
def atomic_write(path: PathLike, action: str = "save") -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into; on leaving the block it is flushed
    to disk and renamed over ``path`` (the old file's permissions are kept). If anything fails,
    ``path`` is left as it was, the temporary file is removed, and an OSError becomes a
    :class:`FileError` naming ``path`` (never the hidden temporary file)."""
    target = check_writable(path, action)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise _os_fail(action, path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _os_fail(action, path, e) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        with contextlib.suppress(OSError):
            dfd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def write_bytes_atomic(path: PathLike, data: bytes, action: str = "save") -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns ``path``."""
    with atomic_write(path, action) as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: PathLike, text: str, action: str = "save") -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically (see :func:`atomic_write`)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise _fail(action, path, f"the text holds a character UTF-8 cannot store "
                                  f"(at position {e.start})") from None
    return write_bytes_atomic(path, data, action)
