"""Fonts, metrics, pens and brushes of the graph drawing, derived from a theme (one
``GraphStyle`` shared by every item of a view)."""

from __future__ import annotations

from PySide6.QtCore import QMarginsF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPen

from gradviz.theme import Theme

__all__ = ["GraphStyle", "TEXT_MIN_PX", "blend", "color", "margins"]

PX_PER_PT = 96.0 / 72.0
TEXT_MIN_PX = 4.5  # below this on screen, text is not drawn
Z_EDGE, Z_NODE, Z_CURRENT, Z_LABEL, Z_GROUP = -1.0, 0.0, 1.0, 2.0, -3.0


def color(hex_: str, alpha: float = 1.0) -> QColor:
    c = QColor(hex_)
    c.setAlphaF(max(0.0, min(1.0, alpha)))
    return c


def blend(a: str, b: str, t: float) -> QColor:
    ca, cb = QColor(a), QColor(b)
    return QColor.fromRgbF(ca.redF() + (cb.redF() - ca.redF()) * t,
                           ca.greenF() + (cb.greenF() - ca.greenF()) * t,
                           ca.blueF() + (cb.blueF() - ca.blueF()) * t)


class GraphStyle:
    """Fonts, metrics, pens and brushes derived from a theme, shared by all items."""

    def __init__(self, theme: Theme) -> None:
        self.theme = t = theme
        s = t.font_scale
        self.title_font = QFont(t.font_family)
        self.title_font.setPixelSize(max(6, round(t.title_pt * PX_PER_PT * s)))
        self.title_font.setBold(True)
        self.mono_font = QFont(t.mono_family)
        self.mono_font.setStyleHint(QFont.StyleHint.Monospace)
        self.mono_font.setPixelSize(max(6, round(t.mono_pt * PX_PER_PT * s)))
        self.label_font = QFont(t.font_family)
        self.label_font.setPixelSize(max(6, round(t.edge_label_pt * PX_PER_PT * s)))
        self.label_font.setBold(True)
        self.title_fm = QFontMetricsF(self.title_font)
        self.mono_fm = QFontMetricsF(self.mono_font)
        self.label_fm = QFontMetricsF(self.label_font)
        px = self.title_font.pixelSize()
        self.title_px = float(px)
        self.pad_x = 0.95 * px
        self.pad_y = 0.55 * px
        self.line_gap = 0.15 * px
        self.radius = 0.55 * px
        self.min_width = 5.0 * px
        self.glow = 0.75 * px  # margin around a box for glow and badges
        self.node_gap = 1.8 * px
        self.layer_gap = 2.3 * px
        self.arrow_len = 0.62 * px * max(1.0, t.edge_width / 1.8)
        self.arrow_half = 0.34 * px * max(1.0, t.edge_width / 1.8)
        self.text = QColor(t.text)
        self.text_muted = QColor(t.text_muted)
        self.border_pen = QPen(QColor(t.node_border), t.border_width)
        self.fills = {k: QColor(t.fill(k)) for k in ("grad_fn", "accumulate", "leaf", "output",
                                                      "saved")}
        self.done_fills = {k: blend(t.fill(k), t.background, t.done_opacity)
                           for k in self.fills}
        self.shadow = color(t.shadow, t.shadow_alpha)
        # zoomed out: one-pixel outlines so that even tiny boxes and edges stay visible
        self.lod_pens = {k: self._hairline(QColor(t.fill(k)).darker(135)) for k in self.fills}
        self.lod_current = self._hairline(QColor(t.current))
        self.lod_error = self._hairline(QColor(t.error))
        self.lod_edge = self._hairline(QColor(t.edge))
        self.lod_flow = self._hairline(QColor(t.edge_flow))
        self.lod_saved = self._hairline(QColor(t.edge_saved))
        self.edge_pen = QPen(QColor(t.edge), t.edge_width, Qt.PenStyle.SolidLine,
                             Qt.PenCapStyle.RoundCap)
        self.edge_brush = QBrush(QColor(t.edge))
        self.saved_pen = QPen(QColor(t.edge_saved), t.edge_width, Qt.PenStyle.DashLine,
                              Qt.PenCapStyle.FlatCap)
        self.flow_pen = QPen(QColor(t.edge_flow), t.edge_width * 1.9, Qt.PenStyle.SolidLine,
                             Qt.PenCapStyle.RoundCap)
        self.flow_brush = QBrush(QColor(t.edge_flow))
        self.current_pen = QPen(QColor(t.current), max(4.0, t.border_width * 2.2))
        self.glow_colors = [color(t.current_glow, a) for a in (0.22, 0.38, 0.6)]
        self.error_pen = QPen(QColor(t.error), max(4.0, t.border_width * 2.2))
        self.error_fill = QColor(t.error_fill)
        self.selection_pen = QPen(QColor(t.selection), max(3.0, t.border_width * 1.6),
                                  Qt.PenStyle.DashLine)
        self.done = QColor(t.done)
        self.breakpoint = QColor(t.breakpoint)
        self.error = QColor(t.error)
        self.white = QColor(t.ui.highlighted_text)  # marks drawn on the state badges
        self.label_text = QColor(t.edge_label_text)
        self.label_bg = QColor(t.edge_label_bg)
        self.label_border = QPen(QColor(t.edge_flow), max(1.5, t.edge_width))
        self._adv: dict[tuple[bool, str], float] = {}
        self._measured: dict[str, tuple[list[str], list[float], float, float]] = {}
        self.title_h = self.title_fm.height()
        self.mono_h = self.mono_fm.height()
        # module boxes: a faint tint of the text colour, darker with each nesting level
        self.group_pen = QPen(blend(t.edge, t.background, 0.45), max(1.0, t.border_width * 0.8),
                              Qt.PenStyle.DashLine)
        self.group_fills = [color(t.text, a) for a in (0.035, 0.06, 0.085)]
        self.group_text = QColor(t.text_muted)
        self.group_pad = 0.7 * px
        # a module's name, as large as the values in the boxes (fit keeps those readable)
        self.group_font = QFont(t.font_family)
        self.group_font.setPixelSize(self.mono_font.pixelSize())
        self.group_font.setBold(True)
        self.group_fm = QFontMetricsF(self.group_font)
        self.group_header = self.group_fm.height() + 0.3 * self.group_font.pixelSize()
        self.vector = False  # painting into SVG: no stacked translucent fills

    @staticmethod
    def _hairline(c: QColor) -> QPen:
        pen = QPen(c, 0)
        pen.setCosmetic(True)
        return pen

    def measure(self, label: str) -> tuple[list[str], list[float], float, float]:
        """Lines, line widths and box size of a node label (cached: titles repeat a lot)."""
        m = self._measured.get(label)
        if m is None:
            lines = label.split("\n")
            adv = [self.advance(lines[0], True)]
            adv += [self.advance(s, False) for s in lines[1:]]
            w = max(self.min_width, max(adv) + 2 * self.pad_x)
            h = (2 * self.pad_y + self.title_h
                 + (len(lines) - 1) * (self.mono_h + self.line_gap))
            m = (lines, adv, w, h)
            if len(self._measured) < 50000:
                self._measured[label] = m
        return m

    def advance(self, text: str, title: bool) -> float:
        """Width of ``text`` in the title (bold) or monospace font, cached."""
        key = (title, text)
        a = self._adv.get(key)
        if a is None:
            fm = self.title_fm if title else self.mono_fm
            a = self._adv[key] = fm.horizontalAdvance(text)
        return a


def margins(m: float) -> QMarginsF:
    return QMarginsF(m, m, m, m)
