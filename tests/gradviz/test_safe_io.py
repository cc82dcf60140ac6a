"""safe_io: every file is refused in one sentence naming its path, or read, never blocking;
writes are atomic and their failures name the user's path."""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import pytest

from gradviz import safe_io
from gradviz.safe_io import FileError

posix = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev are POSIX")
not_root = pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                              reason="root ignores file permissions")


def _one_sentence(msg: str, path: object) -> None:
    assert msg.startswith(f"cannot open {path}: ") or msg.startswith(f"cannot save {path}: ")
    assert "\n" not in msg and "Errno" not in msg and "Traceback" not in msg


@pytest.fixture
def odd_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Paths that are not readable regular files, with the words their refusal must say."""
    out: dict[str, tuple[Path, str]] = {
        "folder": (tmp_path, "it is a folder, not a file"),
        "missing": (tmp_path / "missing.txt", "it does not exist"),
    }
    if sys.platform != "win32":
        fifo = tmp_path / "pipe.gradviz"
        os.mkfifo(fifo)
        out["fifo"] = (fifo, "it is a named pipe (FIFO), not a file")
        out["dev_zero"] = (Path("/dev/zero"), "it is a character device, not a file")
        (tmp_path / "a").symlink_to(tmp_path / "b")
        (tmp_path / "b").symlink_to(tmp_path / "a")
        out["symlink_loop"] = (tmp_path / "a", "symbolic link that loops")
        (tmp_path / "file").write_text("x")
        out["not_a_folder"] = (tmp_path / "file" / "x.txt", "a part of the path is not a folder")
    return out


@posix
def test_non_files_are_refused_by_name_without_blocking(odd_files):
    for path, words in odd_files.values():
        for read in (lambda p: safe_io.read_bytes(p, 100),
                     lambda p: safe_io.read_text(p, 100), safe_io.check_readable):
            with pytest.raises(FileError) as info:
                read(path)
            msg = str(info.value)
            _one_sentence(msg, path)
            assert words in msg and info.value.path == str(path)


@posix
def test_a_fifo_swapped_in_after_the_check_does_not_block(tmp_path, monkeypatch):
    fifo = tmp_path / "late.txt"
    os.mkfifo(fifo)
    monkeypatch.setattr(safe_io, "check_readable", lambda *a, **k: None)  # the check passed
    with pytest.raises(FileError, match="named pipe"):  # O_NONBLOCK open, then fstat
        safe_io.read_bytes(fifo, 100)


def test_size_limit_binary_and_nul(tmp_path):
    p = tmp_path / "big.txt"
    p.write_bytes(b"x" * 101)
    with pytest.raises(FileError, match=r"it is 101 bytes, larger than gradviz opens \(100 "):
        safe_io.read_bytes(p, 100)
    assert safe_io.read_bytes(p, 101) == b"x" * 101
    junk = tmp_path / "junk.py"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(FileError, match=r"^cannot open .*junk.py: it is not UTF-8 text"):
        safe_io.read_text(junk, 100)
    nul = tmp_path / "nul.py"
    nul.write_bytes(b"a = 1\0\0")
    with pytest.raises(FileError, match="NUL bytes"):
        safe_io.read_text(nul, 100)
    assert safe_io.read_text(nul, 100, allow_nul=True) == "a = 1\0\0"
    bom = tmp_path / "bom.py"
    bom.write_bytes("\ufeffé = 1".encode())
    assert safe_io.read_text(bom, 100) == "é = 1"


def test_unreadable_file_is_a_sentence(tmp_path, monkeypatch):
    p = tmp_path / "secret.gradviz"
    p.write_text("x")
    real_open = os.open

    def denied(path, *a, **k):
        if Path(path) == p:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(safe_io.os, "open", denied)
    with pytest.raises(FileError) as info:
        safe_io.read_bytes(p, 100)
    assert str(info.value) == f"cannot open {p}: permission denied"


@not_root
def test_unreadable_file_for_real(tmp_path):
    p = tmp_path / "secret.txt"
    p.write_text("x")
    p.chmod(0)
    with pytest.raises(FileError, match="permission denied"):
        safe_io.read_bytes(p, 100)


def test_find_long_line():
    assert safe_io.find_long_line("ab\ncd", 2) is None
    assert safe_io.find_long_line("ab\n" + "x" * 5 + "\nz", 4) == (2, 5)
    assert safe_io.find_long_line("x" * 40_000_000, 100_000) == (1, 40_000_000)
    assert safe_io.find_long_line("", 0) is None


def test_atomic_write_round_trip_keeps_mode_and_writes_through_symlinks(tmp_path):
    p = tmp_path / "graph.svg"
    safe_io.write_bytes_atomic(p, b"<svg/>")
    assert p.read_bytes() == b"<svg/>"
    p.chmod(0o640)
    safe_io.write_text_atomic(p, "<svg>ü</svg>")
    assert p.read_text(encoding="utf-8") == "<svg>ü</svg>"
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    if sys.platform != "win32":
        link = tmp_path / "link.svg"
        link.symlink_to(p)
        safe_io.write_bytes_atomic(link, b"new")
        assert link.is_symlink() and p.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == sorted(["graph.svg"] + (
        ["link.svg"] if sys.platform != "win32" else []))  # no temporary left


def test_missing_folder_and_folder_in_the_way(tmp_path):
    p = tmp_path / "nope" / "graph.png"
    for call in (lambda: safe_io.check_writable(p), lambda: safe_io.write_bytes_atomic(p, b"x")):
        with pytest.raises(FileError) as info:
            call()
        assert str(info.value) == (f"cannot save {p}: the folder {p.parent} does not exist")
    with pytest.raises(FileError, match="it is a folder, not a file"):
        safe_io.write_bytes_atomic(tmp_path, b"x")
    with pytest.raises(FileError, match="no file name"):
        safe_io.check_writable("")


@posix
def test_never_writes_into_a_fifo_or_device(tmp_path):
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    with pytest.raises(FileError, match="it is a named pipe"):
        safe_io.write_text_atomic(fifo, "a,b")
    with pytest.raises(FileError, match="character device"):
        safe_io.check_writable("/dev/null", action="export")


def test_read_only_folder_names_the_users_path_not_the_temporary(tmp_path, monkeypatch):
    p = tmp_path / "ro" / "steps.png"
    p.parent.mkdir()
    monkeypatch.setattr(safe_io.os, "access", lambda *a, **k: False)
    with pytest.raises(FileError) as info:
        safe_io.write_bytes_atomic(p, b"x", action="export")
    assert str(info.value) == f"cannot export {p}: the folder {p.parent} is read-only " \
                              "(permission denied)"
    monkeypatch.undo()

    def no_temp(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(p.parent / ".steps.tmp"))

    monkeypatch.setattr(safe_io.tempfile, "mkstemp", no_temp)
    with pytest.raises(FileError) as info:
        safe_io.write_bytes_atomic(p, b"x")
    assert str(info.value) == f"cannot save {p}: permission denied" and ".tmp" not in str(
        info.value)


@not_root
def test_read_only_folder_for_real(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(FileError, match="is read-only"):
            safe_io.write_bytes_atomic(d / "x.png", b"x")
    finally:
        d.chmod(0o700)


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    p = tmp_path / "table.csv"
    p.write_text("old")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safe_io.os, "fsync", full)
    with pytest.raises(FileError) as info:
        safe_io.write_text_atomic(p, "new")
    assert str(info.value) == f"cannot save {p}: the disk is full"
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["table.csv"]
    monkeypatch.undo()
    with pytest.raises(FileError, match="UTF-8 cannot store"):
        safe_io.write_text_atomic(p, "lone \udc80 surrogate")
    assert p.read_text() == "old"


def test_describe_os_error_words():
    assert safe_io.describe_os_error("/x", OSError(errno.EROFS, "x"), "export") == \
        "cannot export /x: the file system is read-only"
    assert safe_io.describe_os_error("/x", OSError(errno.EBADF, "Bad file descriptor")) == \
        "cannot open /x: bad file descriptor"
    assert safe_io.human_size(3 * 2**20) == "3.0 MB" and safe_io.human_size(5) == "5 bytes"
