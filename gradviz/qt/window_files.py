"""The main window's files: open (scripts, notebooks, lessons, saved sessions, drag and drop,
recent files), save and save as, the automatic save and the offer to recover it after a crash,
Save / Discard / Cancel before unsaved work goes, and the graph's exports (PNG, SVG, DOT, a
PNG per backward step). A part of :class:`gradviz.qt.main_window.MainWindow`."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QMessageBox

from gradviz import graph as graph_model
from gradviz.qt.window_parts import WindowParts

DEFAULTS: dict[str, Any] = {"theme": "light", "font_scale": 1.0, "recent": []}


class UserError(Exception):
    """A failure already worded for the user (shown as it is)."""


class WindowFiles(WindowParts):
    """MainWindow's file commands (a mixin: it uses the window's panels, kernel session,
    settings and status bar)."""

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open", str(self.current_path.parent if self.current_path else Path.cwd()),
            "gradviz files (*.py *.ipynb *.gradviz);;All files (*)")
        if path:
            self.open_path(path)

    def open_path(self, path: str | os.PathLike, run_all: bool = False,
                  pause: bool = True) -> None:
        """Open a percent script, a notebook (into the lesson panel) or a saved session."""
        p = Path(path)
        if not self.confirm_discard(f"open {p.name}"):
            return
        if p.suffix == ".gradviz":
            from gradviz import session_file
            rep = self._reply(self.session.command("load_session", path=str(p)))
            self.session.history[:] = rep.get("cells", [])
            self.session.results.clear()
            self.code_panel.set_source(rep.get("editor_text", ""))
            self.current_path = None if session_file.is_autosave(p) else p
            self._saved_cells = list(rep.get("cells", []))
            self._dirty = False
            self.actions["rerun_cells"].setEnabled(bool(self._saved_cells))
            if rep.get("can_rerun"):
                self.statusBar().showMessage(
                    f"opened {p.name}: the leaf tensors are back; Kernel ▸ Re-run cells "
                    "rebuilds the graphs", 10000)
        else:
            self.lesson_panel.open_notebook(p)
            self.gradient_edit.clear()  # a vector from another lesson would not fit here
            self._dirty = False  # what the file holds is saved; cells run from here on are not
            self._opened_cells = True
            self.set_pause_at_backward(pause)  # lessons stop inside backward() by default
            self.docks["lessons"].raise_()
            if run_all:
                while self.lesson_panel.run_next_cell() is not None:
                    pass
        self._add_recent(p)
        self.setWindowTitle(f"gradviz — {p.name}")
        self.refresh_graph()

    def open_lesson(self, which: str, run_all: bool = False, pause: bool = True) -> None:
        from gradviz.lessons import list_lessons
        for info in list_lessons():
            if str(info.number) == str(which).lstrip("0") or info.path.stem.startswith(which):
                self.open_path(info.path, run_all=run_all, pause=pause)
                return
        raise ValueError(f"no lesson {which!r}")

    def session_state(self) -> dict[str, Any]:
        return {"code": self.code_panel.source(), "view": {"theme": self.theme_name,
                                                          "font_scale": self.font_scale}}

    def _reply(self, msg: dict | None) -> dict:
        """A kernel command's answer, or a sentence saying why there is none."""
        if msg is None:
            raise UserError("the kernel is busy running a cell or not running: stop the cell "
                            "(Shift+F5) or restart the kernel, then try again")
        if msg.get("type") == "reply" and not msg.get("ok", True):
            raise UserError(str(msg.get("error", "")).split(": ", 1)[-1])
        return msg.get("reply") or {}

    def save(self) -> bool:
        """Save the session (asks for a name first if it has none); True once saved."""
        from gradviz import session_file
        p = self.current_path
        if p is None or p.suffix != ".gradviz" or session_file.is_autosave(p):
            return self.save_as()
        self._reply(self.session.command(
            "save_session", path=str(p), cells=list(self.session.history),
            editor_text=self.code_panel.source(), view=self.session_state()["view"]))
        self._dirty = False
        self.statusBar().showMessage(f"saved {p}", 4000)
        return True

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Save session", "session.gradviz",
                                              "gradviz session (*.gradviz)")
        if not path:
            return False
        self.current_path = Path(path if path.endswith(".gradviz") else path + ".gradviz")
        return self.save()

    def autosave(self) -> None:
        """This window's automatic save (written by the kernel, where values are whole)."""
        k = self.kernel
        if self._autosave is None or not self._dirty or k.running or not k.alive or \
                getattr(self.session, "busy", False):
            return
        try:
            self._autosave.mark_running()
            self._reply(self.session.command(
                "save_session", path=str(self._autosave.path), autosave=True,
                cells=list(self.session.history), editor_text=self.code_panel.source(),
                view=self.session_state()["view"]))
        except Exception as e:  # noqa: BLE001 - said once in the status bar, never fatal
            self.statusBar().showMessage(f"automatic save failed: {e}", 10000)

    def offer_recovery(self) -> None:
        """After a crash, offer each window's autosave that was left behind."""
        paths, self._recoveries = self._recoveries, []
        for path in paths:
            when = time.strftime("%H:%M, %d %b", time.localtime(path.stat().st_mtime)) \
                if path.exists() else "earlier"
            ans = QMessageBox.question(
                self, "gradviz", "gradviz did not close cleanly: an automatically saved "
                f"session from {when} was kept. Open it?")
            if ans == QMessageBox.Yes:
                from gradviz import session_file

                def recover(p: Path = path) -> None:
                    mine = session_file.adopt_recovery(p, self._autosave)
                    self.open_path(mine)
                    self._dirty = True  # not saved anywhere but the autosave yet
                self._guard(recover)
                return

    def confirm_discard(self, what: str = "continue") -> bool:
        """Before unsaved work is replaced or closed: Save / Discard / Cancel. True to go on."""
        if not self._dirty or not self.confirm_discards:
            return True
        ans = QMessageBox.question(
            self, "gradviz", f"The workspace has unsaved work. Save it before you {what}?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if ans == QMessageBox.Save:
            return self.save()
        return ans == QMessageBox.Discard

    def new_session(self) -> None:
        """File ▸ New: an empty workspace and editor (after Save / Discard / Cancel)."""
        if not self.confirm_discard("start a new session"):
            return
        self.session.clear()
        self.code_panel.set_source("")
        self.current_path = None
        self._dirty = False
        self.setWindowTitle("gradviz")
        self.refresh_graph()

    def rerun_cells(self) -> None:
        """Run a restored session's cells again: its graphs come back."""
        for code in list(self._saved_cells):
            res = self.session.run(code)
            if not res.ok:
                self.statusBar().showMessage(f"re-run stopped: {res.error_text}", 10000)
                break
        self.refresh_graph()

    def export_graph(self, fmt: str, path: str | None = None) -> None:
        """PNG (slide size), SVG or Graphviz DOT of the graph; a failure names the path."""
        from gradviz import safe_io

        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, f"Export graph as {fmt.upper()}",
                                                  f"graph.{fmt}", f"{fmt.upper()} (*.{fmt})")
            if not path:
                return
        safe_io.check_writable(path, action="export")
        if fmt == "dot":
            safe_io.write_text_atomic(path, graph_model.to_dot(self.graph_view.graph),
                                      action="export")
        else:
            ok = (self.graph_view.export_png(path) if fmt == "png"
                  else self.graph_view.export_svg(path))
            if ok is False or not Path(path).is_file() or Path(path).stat().st_size == 0:
                raise UserError(f"cannot export {path}: Qt could not write the image there")
        self.statusBar().showMessage(f"exported {path}", 4000)

    def export_walkthrough(self, folder: str | None = None) -> list[Path]:
        """One PNG per backward step of the chosen root, for slides, written into ``folder``
        whole or not at all: a missing or read-only folder, or a file in its place, is one
        sentence naming it (:class:`UserError`), and a frame that cannot be written (a full
        disk) leaves no partial set behind (the frames are made in a hidden folder there and
        moved into place once all exist)."""
        import shutil
        import tempfile

        from gradviz import safe_io

        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Folder for the step images")
            if not folder:
                return []
        from gradviz.qt.graph_view import walkthrough_caption

        if self.stepper.root is None:
            return []
        where = Path(folder)
        fail = f"cannot export the walk-through into {folder}"
        if where.exists() and not where.is_dir():
            raise UserError(f"{fail}: it is a file, not a folder")
        if not where.exists():
            raise UserError(f"{fail}: the folder does not exist")
        try:
            safe_io.check_writable(where / "step_000.png", action="export")
        except safe_io.FileError as e:
            raise UserError(f"{fail}: {e.reason}") from None
        try:
            work = Path(tempfile.mkdtemp(prefix=".gradviz-walk-", dir=where))
        except OSError as e:
            raise UserError(f"{fail}: {safe_io.describe_os_error(where, e).split(': ', 1)[1]}"
                            ) from None
        out: list[Path] = []
        try:
            self.stepper.run()  # once through, to know n; then every frame from the start
            c = self.stepper.cursor
            n = len(c.steps) if c is not None and c.finished and c.error is None else None
            self.stepper.reset()
            names = []
            i = 0
            while True:
                name = f"step_{i:03d}.png"
                cur = self.stepper.cursor.current if self.stepper.cursor is not None else None
                node = cur.name.replace("torch::autograd::", "") if cur is not None else None
                caption = walkthrough_caption(i, n, node) if i else "before backward()"
                frame = work / name
                if not self.graph_view.export_png(str(frame), caption=caption) \
                        or not frame.is_file() or frame.stat().st_size == 0:
                    raise UserError(f"{fail}: {name} could not be written there (is the disk "
                                    "full?)")
                names.append(name)
                if self.stepper.step() is None:
                    break
                i += 1
            for name in names:  # renames within one folder: all of them, or none
                os.replace(work / name, where / name)
                out.append(where / name)
        except OSError as e:
            for p in out:
                with contextlib.suppress(OSError):
                    p.unlink()
            raise UserError(f"{fail}: {safe_io.describe_os_error(where, e).split(': ', 1)[1]}"
                            ) from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.statusBar().showMessage(f"exported {len(out)} images into {folder}", 4000)
        return out

    def _add_recent(self, p: Path) -> None:
        if self.settings is None:
            return
        recent = [str(p.resolve())] + [r for r in (self.settings.value("recent") or [])
                                       if r != str(p.resolve())]
        self.settings.setValue("recent", recent[:10])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for r in (self.settings.value("recent") or []) if self.settings else []:
            a = self.recent_menu.addAction(r)
            a.triggered.connect(lambda _c=False, r=r: self._guard(lambda: self.open_path(r)))

    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        st = s.value("state")
        if st is not None:
            self.restoreState(st)
        from gradviz import session_file
        clean, warnings = session_file.validate_settings(
            {k: s.value(k) for k in ("theme", "font_scale", "recent") if s.value(k) is not None})
        self.set_theme(str(clean.get("theme", DEFAULTS["theme"])))
        fs = float(clean.get("font_scale", DEFAULTS["font_scale"]))
        if fs != 1.0:
            self.set_font_scale(fs)
        if "recent" in clean:
            s.setValue("recent", clean["recent"])
        if warnings:
            QTimer.singleShot(0, self, lambda: self.statusBar().showMessage(
                " ".join(warnings), 15000))
        self._fill_recent()

    OPENABLE = (".py", ".ipynb", ".gradviz")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(u.toLocalFile().endswith(self.OPENABLE) for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        for u in event.mimeData().urls():
            path = u.toLocalFile()
            if path.endswith(self.OPENABLE):
                self._guard(lambda p=path: self.open_path(p))
                event.acceptProposedAction()
                return
