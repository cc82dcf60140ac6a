"""The one place the Qt side learns which gradviz theme a widget is drawn in.

:meth:`MainWindow.set_theme` stores the theme's name on the window (:func:`set_window_theme`)
before it switches the application palette, so every panel's palette-change handler reads
the new theme through :func:`theme_for`. A panel outside a gradviz window (a test, a
preview) falls back to its palette: a dark base is ``dark``, black on a white window is
``high-contrast``, anything else ``light``.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

from gradviz.theme import THEMES, Theme, get_theme

__all__ = ["THEME_PROPERTY", "set_window_theme", "theme_for", "theme_for_palette"]

THEME_PROPERTY = "gradvizTheme"


def set_window_theme(window: QWidget, name: str) -> None:
    """Make ``name`` the theme of ``window`` and of every widget inside it."""
    window.setProperty(THEME_PROPERTY, name)


def theme_for(widget: QWidget | None) -> Theme:
    """The theme ``widget`` is drawn in: its window's (the nearest ancestor told by
    :func:`set_window_theme`), else the one its palette belongs to."""
    w = widget
    while w is not None:
        name = w.property(THEME_PROPERTY)
        if name and name in THEMES:
            return get_theme(str(name))
        w = w.parentWidget()
    return theme_for_palette(widget.palette() if widget is not None else QPalette())


def theme_for_palette(pal: QPalette) -> Theme:
    """The built-in theme a palette looks like (for widgets outside a gradviz window)."""
    base = pal.color(QPalette.ColorRole.Base)
    if base.lightness() < 128:
        return THEMES["dark"]
    window, text = pal.color(QPalette.ColorRole.Window), pal.color(QPalette.ColorRole.Text)
    if window == QColor(255, 255, 255) and text == QColor(0, 0, 0):
        return THEMES["high-contrast"]
    return THEMES["light"]
