"""Pictures of the graph: PNG (slide-sized frames with a caption), SVG and in-memory
images, mixed into :class:`gradviz.qt.graph_view.GraphView` (they read its scene, bounds,
labels and theme)."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem

__all__ = ["LEGEND_SHORT", "LEGEND_TEXT", "ExportMixin", "walkthrough_caption"]

#: the legend in the view's corner while gradients are shown on edges
LEGEND_TEXT = "arrows: forward · purple labels: gradients flowing back"
LEGEND_SHORT = "arrows: forward\npurple: gradients back"


def walkthrough_caption(k: int, n: int | None, node_name: str | None = None) -> str:
    """The caption of a walk-through frame: ``step 3 of 7 · MulBackward0``."""
    text = f"step {k}" + (f" of {n}" if n else "")
    return text + (f" · {node_name}" if node_name else "")


class ExportMixin:
    """PNG, SVG and image export of a GraphView."""
    def export_rect(self) -> QRectF:
        """The part of the scene an export shows: every node, edge and label, with a margin
        (labels to the right of the rightmost edges included)."""
        r = QRectF(self._bounds)
        for lab in (*self._labels.values(), *([self._seed_item] if self._seed_item else [])):
            r = r.united(lab.sceneBoundingRect())
        m = 1.2 * self._style.title_px
        return r.adjusted(-m, -m, m, m) if not r.isEmpty() else QRectF(0, 0, 100, 100)

    def render_image(self, scale: float = 2.0, max_side: int = 16000) -> QImage:
        """The whole drawing rendered into an image, ``scale`` pixels per scene unit."""
        src = self.export_rect()
        s = scale
        longest = max(src.width(), src.height(), 1.0)
        if longest * s > max_side:
            s = max_side / longest
        size = QSize(max(1, math.ceil(src.width() * s)), max(1, math.ceil(src.height() * s)))
        img = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(QColor(self._theme.background))
        p = QPainter(img)
        p.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                         | QPainter.RenderHint.SmoothPixmapTransform)
        self._render_scene(p, QRectF(0, 0, size.width(), size.height()), src)
        p.end()
        return img

    def _render_scene(self, p: QPainter, target: QRectF, src: QRectF) -> None:
        caches = self._without_cache()
        try:
            self._scene.render(p, target, src, Qt.AspectRatioMode.KeepAspectRatio)
        finally:
            for it, mode in caches:
                it.setCacheMode(mode)

    def render_frame(self, width: int = 1920, caption: str | None = None,
                     height: int | None = None, max_zoom: float = 4.0) -> QImage:
        """A slide-sized picture of the graph, ``width`` pixels wide: ``caption`` (e.g.
        :func:`walkthrough_caption`) in a bar on top, the legend under the graph while
        gradients are shown. ``height`` None: 16:9 with a caption (walk-through frames all
        of one size), else as tall as the graph needs (at most 16000 px)."""
        t = self._theme
        width = max(200, int(width))
        pad = round(width * 0.02)
        cap_h = round(width * 0.045) if caption else 0
        legend = self.legend_enabled and bool(self._labels or self._seed_item)
        leg_h = round(width * 0.03) if legend else 0
        src = self.export_rect()
        k = min((width - 2 * pad) / max(src.width(), 1.0), max_zoom)
        if height is None:
            if caption:
                height = round(width * 9 / 16)
            else:
                height = min(16000, math.ceil(src.height() * k) + 2 * pad + leg_h)
        height = max(100, int(height))
        img = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(QColor(t.background))
        p = QPainter(img)
        p.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                         | QPainter.RenderHint.SmoothPixmapTransform)
        area = QRectF(pad, cap_h + pad, width - 2 * pad, height - cap_h - leg_h - 2 * pad)
        k = min(area.width() / max(src.width(), 1.0), area.height() / max(src.height(), 1.0),
                max_zoom)
        tw, th = src.width() * k, src.height() * k
        target = QRectF(area.center().x() - tw / 2, area.center().y() - th / 2, tw, th)
        self._render_scene(p, target, src)
        if caption:
            p.fillRect(QRectF(0, 0, width, cap_h), QColor(t.banner_bg if t.name ==
                                                           "high-contrast" else t.grad_fn))
            f = QFont(t.font_family)
            f.setPixelSize(max(8, round(cap_h * 0.5)))
            f.setBold(True)
            p.setFont(f)
            p.setPen(QColor(t.banner_text if t.name == "high-contrast" else t.text))
            p.drawText(QRectF(pad, 0, width - 2 * pad, cap_h),
                       int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), caption)
        if legend:
            f = QFont(t.font_family)
            f.setPixelSize(max(8, round(leg_h * 0.55)))
            p.setFont(f)
            p.setPen(QColor(t.text_muted))
            p.drawText(QRectF(pad, height - leg_h - pad / 2, width - 2 * pad, leg_h),
                       int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                       LEGEND_TEXT)
        p.end()
        return img

    def export_png(self, path: str, width: float = 1920, caption: str | None = None,
                   height: int | None = None, scale: float | None = None) -> bool:
        """Write the graph as a PNG for slides: ``width`` pixels wide (1920 by default),
        with ``caption`` on top (see :meth:`render_frame`). ``scale`` (or a small number as
        the second argument, as callers of the old ``export_png(path, scale)`` pass) renders
        at that many pixels per scene unit instead, at least ``1920`` px wide."""
        if scale is None and width < 50:
            scale, width = float(width), 1920
        if scale is not None:
            w = self.export_rect().width() * scale
            width = max(1920, round(w))
        return self.render_frame(int(width), caption, height).save(str(path), "PNG")

    def export_svg(self, path: str) -> bool:
        """Write the whole graph as SVG (vector text and shapes; labels to the right of the
        rightmost edges included)."""
        from PySide6.QtSvg import QSvgGenerator

        src = self.export_rect()
        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(QSize(math.ceil(src.width()), math.ceil(src.height())))
        gen.setViewBox(QRectF(0, 0, src.width(), src.height()))
        gen.setResolution(96)
        gen.setTitle("gradviz autograd graph")
        p = QPainter()
        if not p.begin(gen):
            return False
        p.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        p.fillRect(QRectF(0, 0, src.width(), src.height()), QColor(self._theme.background))
        self._style.vector = True  # the glow as rings: SVG viewers fill stacked alphas solid
        try:
            self._render_scene(p, QRectF(0, 0, src.width(), src.height()), src)
        finally:
            self._style.vector = False
            p.end()
        return True

    def _without_cache(self) -> list[tuple[QGraphicsItem, QGraphicsItem.CacheMode]]:
        out = []
        for it in list(self._nodes.values()) + list(self._labels.values()):
            out.append((it, it.cacheMode()))
            it.setCacheMode(QGraphicsItem.CacheMode.NoCache)
        return out
