"""One theming mechanism (issue 14): every colour the panels draw comes from the window's
theme in gradviz/theme.py, read through gradviz/qt/theming.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from gradviz.graph_events import EventKind  # noqa: E402
from gradviz.theme import THEMES  # noqa: E402

QT_DIR = Path(__file__).resolve().parents[2] / "gradviz" / "qt"
HEX = re.compile(r"#[0-9a-fA-F]{6}\b")
GUESS = re.compile(r"\.lightness\(\)|_is_dark\b|theme_for_colours")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_qt_module_but_the_accessor_has_a_colour_or_guesses_the_theme() -> None:
    files = sorted(p for p in QT_DIR.rglob("*.py") if p.name != "theming.py")
    assert len(files) > 10
    found = []
    for path in files:
        src = path.read_text()
        tree = ast.parse(src)
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)
                and n.body and isinstance(n.body[0], ast.Expr)}
        for n in ast.walk(tree):
            if (isinstance(n, ast.Constant) and isinstance(n.value, str)
                    and id(n) not in docs and HEX.search(n.value)):
                found.append(f"{path.name}:{n.lineno}: {HEX.search(n.value).group()}")
        for i, line in enumerate(src.splitlines(), 1):
            code = line.split("#", 1)[0] if "#" in line and '"' not in line else line
            if GUESS.search(code):
                found.append(f"{path.name}:{i}: {line.strip()}")
    assert not found, "colours outside gradviz/theme.py:\n" + "\n".join(found)


def test_the_scan_finds_what_it_looks_for() -> None:
    bad = 'c = QColor("#c62828")\ndark = pal.color(Base).lightness() < 128\n'
    assert HEX.search(_strings(ast.parse(bad))[0][1])
    assert GUESS.search(bad.splitlines()[1])


def test_each_theme_has_its_own_panel_colours() -> None:
    light, dark, hc = (THEMES[n] for n in ("light", "dark", "high-contrast"))
    assert light.syntax.keyword == "#7b1fa2" and dark.syntax.keyword == "#c792ea"
    assert light.events.of(EventKind.ERROR) == "#c62828"
    assert dark.ui.accent == "#82aaff"
    for a, b in ((light, hc), (dark, hc), (light, dark)):
        assert a.syntax != b.syntax and a.events != b.events and a.ui != b.ui

    def contrast(fg: str, bg: str) -> float:
        def lum(h: str) -> float:
            c = [int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)]
            c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
            return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
        hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
        return (hi + 0.05) / (lo + 0.05)
    # high contrast really is: every text colour of the panels at least 7:1 (WCAG AAA)
    texts = [*vars(hc.syntax).values(), *vars(hc.events).values(),
             *(getattr(hc.ui, r) for r in ("muted", "error", "ok", "value", "accent", "rule",
                                           "freed", "plus", "dim", "gutter_text"))]
    low = [(c, round(contrast(c, hc.ui.base), 1)) for c in texts
           if contrast(c, hc.ui.base) < 7]
    assert not low
    assert contrast(hc.ui.warning_text, hc.ui.warning_bg) >= 7


def test_switching_the_window_theme_recolours_editor_log_and_inspector(qtbot, tmp_path,
                                                                        monkeypatch) -> None:
    from gradviz.qt.main_window import MainWindow
    from gradviz.qt.theming import theme_for
    from gradviz.workspace import Workspace

    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(tmp_path))
    win = MainWindow(Workspace(), restore_settings=False)
    qtbot.addWidget(win)
    win.resize(900, 600)
    win.show()
    qtbot.waitExposed(win)
    win.code_panel.set_source("x = 1  # a comment\n")
    try:
        for name in ("dark", "high-contrast", "light"):
            win.set_theme(name)
            t = THEMES[name]
            assert theme_for(win.event_log.view).name == name
            hl = win.code_panel.editor.highlighter
            assert hl.formats["keyword"].foreground().color().name() == t.syntax.keyword
            assert hl.formats["comment"].foreground().color().name() == t.syntax.comment
            # the comment of the editor's first line is drawn in the theme's colour
            block = win.code_panel.editor.document().firstBlock()
            fmts = block.layout().formats()
            assert t.syntax.comment in {f.format.foreground().color().name() for f in fmts}
            colours = win.event_log.model.colors
            assert colours[EventKind.OP_RECORDED].name() == t.events.op_recorded
            assert colours[EventKind.ERROR].name() == t.events.error
            box = win.event_log.kind_boxes[EventKind.BACKWARD_STARTED]
            assert t.events.backward_started in box.styleSheet()
            # the inspector's page (its style sheet) is written in the theme's colours
            assert win.inspector._c("accent") == t.ui.accent
            style = win.inspector._page("")
            assert f"color: {t.ui.accent}" in style and f"color: {t.ui.muted}" in style
    finally:
        win.set_theme("light")  # the palette is the application's: later tests expect light


def test_the_tensor_panel_status_follows_a_theme_switch(qtbot, tmp_path, monkeypatch) -> None:
    from gradviz.qt.main_window import MainWindow
    from gradviz.workspace import Workspace

    monkeypatch.setenv("GRADVIZ_STATE_DIR", str(tmp_path))
    win = MainWindow(Workspace(), restore_settings=False)
    qtbot.addWidget(win)
    win.tensor_panel.show_status("x: boom", error=True)
    try:
        for name in ("dark", "high-contrast", "light"):
            win.set_theme(name)
            style = win.tensor_panel.status.styleSheet()
            assert f"color: {THEMES[name].ui.error}" in style
            assert THEMES[name].ui.error_bg in style
    finally:
        win.set_theme("light")


def test_disabled_controls_look_disabled_in_every_theme() -> None:
    """High contrast's muted text is black like its text: a disabled Stop button looked just
    like an enabled one. Disabled text now differs from enabled text in every dark or
    high-contrast palette."""
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    from gradviz.qt.main_window import qt_palette
    from gradviz.theme import get_theme
    QApplication.instance() or QApplication([])
    for name in ("light", "dark", "high-contrast"):
        pal = qt_palette(get_theme(name))
        on = pal.color(QPalette.Active, QPalette.ButtonText)
        off = pal.color(QPalette.Disabled, QPalette.ButtonText)
        assert abs(on.lightness() - off.lightness()) > 60, name


def test_each_theme_carries_its_training_plot_colours() -> None:
    """One theme object holds every colour: the training plots' too (they were a separate
    table keyed by the theme's name); a scaled theme keeps them."""
    from gradviz.theme import THEMES, get_theme
    for name, t in THEMES.items():
        assert t.plots is not None and t.plots.background == t.background, name
        assert get_theme(name, 2.0).plots == t.plots
    assert THEMES["dark"].plots.zeroed != THEMES["light"].plots.zeroed
