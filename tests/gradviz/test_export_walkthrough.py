"""Walk-through export (one PNG per backward step) into places it cannot go: one sentence
naming the user's path, no traceback, and nothing partial left behind."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from gradviz.app import STARTER
from gradviz.qt.main_window import MainWindow
from gradviz.session import Session


@pytest.fixture
def win(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(tmp_path / "state"))
    w = MainWindow(Session(), restore_settings=False)
    qtbot.addWidget(w, before_close_func=lambda w: setattr(w, "confirm_discards", False))
    w.show()
    w.load_starter(STARTER)
    return w


@pytest.fixture
def shown(monkeypatch):
    said: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: said.append(a[2]))
    return said


def _one_sentence(text: str) -> None:
    assert "\n" not in text and "Traceback" not in text and "Error:" not in text.split(" ")[0]


def test_export_into_a_folder_writes_every_step_and_nothing_else(win, tmp_path):
    out = tmp_path / "slides"
    out.mkdir()
    files = win.export_walkthrough(str(out))
    assert [f.name for f in files] == [f"step_{i:03d}.png" for i in range(6)]
    assert sorted(p.name for p in out.iterdir()) == [f.name for f in files]  # no hidden folder


def test_a_missing_folder_is_one_sentence(win, tmp_path, shown):
    missing = tmp_path / "no" / "such"
    win._guard(lambda: win.export_walkthrough(str(missing)))
    assert shown == [f"cannot export the walk-through into {missing}: the folder does not "
                     "exist"]
    _one_sentence(shown[0])
    assert not (tmp_path / "no").exists()


def test_a_file_in_the_folders_place_is_one_sentence(win, tmp_path, shown):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    win._guard(lambda: win.export_walkthrough(str(f)))
    assert shown == [f"cannot export the walk-through into {f}: it is a file, not a folder"]
    assert f.read_text() == "keep me" and sorted(tmp_path.iterdir()) == [f]


def test_a_read_only_folder_is_one_sentence(win, tmp_path, shown, monkeypatch):
    import gradviz.safe_io as safe_io

    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(safe_io.os, "access", lambda *a, **k: False)  # root ignores chmod
    win._guard(lambda: win.export_walkthrough(str(ro)))
    assert shown == [f"cannot export the walk-through into {ro}: the folder {ro} is "
                     "read-only (permission denied)"]
    assert list(ro.iterdir()) == []


def test_a_disk_that_fills_up_midway_leaves_no_partial_set(win, tmp_path, shown, monkeypatch):
    out = tmp_path / "slides"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    real = win.graph_view.export_png
    calls = []

    def fills_up(path, *a, **k):
        calls.append(path)
        return real(path, *a, **k) if len(calls) < 3 else False  # the third frame fails

    monkeypatch.setattr(win.graph_view, "export_png", fills_up)
    win._guard(lambda: win.export_walkthrough(str(out)))
    assert shown == [f"cannot export the walk-through into {out}: step_002.png could not be "
                     "written there (is the disk full?)"]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]  # no frames, no hidden folder
