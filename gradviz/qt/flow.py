"""A layout that wraps its widgets into rows (controls stay on screen at any font scale)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLayout, QLayoutItem, QWidget

__all__ = ["FlowLayout", "labelled"]


class FlowLayout(QLayout):
    """Widgets left to right, wrapping into as many rows as the width needs: every control
    stays on screen at any font scale."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._gap = spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 - Qt API
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, i: int) -> QLayoutItem | None:  # noqa: N802 - Qt API
        return self._items[i] if 0 <= i < len(self._items) else None

    def takeAt(self, i: int) -> QLayoutItem | None:  # noqa: N802 - Qt API
        return self._items.pop(i) if 0 <= i < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802 - Qt API
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt API
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        return self._do(QRect(0, 0, width, 0), apply=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802 - Qt API
        super().setGeometry(rect)
        self._do(rect, apply=True)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self.minimumSize()

    def minimumSize(self) -> QSize:  # noqa: N802 - Qt API
        size = QSize()
        for it in self._items:
            size = size.expandedTo(it.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _do(self, rect: QRect, apply: bool) -> int:
        m = self.contentsMargins()
        r = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, row_h = r.x(), r.y(), 0
        rows: list[list[tuple[QLayoutItem, QSize]]] = [[]]
        for it in self._items:
            if it.isEmpty():
                continue
            hint = it.sizeHint().expandedTo(it.minimumSize())
            if x + hint.width() > r.right() + 1 and rows[-1]:
                x, y, row_h = r.x(), y + row_h + self._gap, 0
                rows.append([])
            rows[-1].append((it, hint))
            if apply:
                it.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._gap
            row_h = max(row_h, hint.height())
        if apply:  # centre each item vertically in its row
            for row in rows:
                if not row:
                    continue
                h = max(hint.height() for _, hint in row)
                for it, hint in row:
                    g = it.geometry()
                    it.setGeometry(QRect(g.x(), g.y() + (h - hint.height()) // 2,
                                         g.width(), g.height()))
        return y + row_h - rect.y() + m.bottom()


def labelled(label: str, *widgets: QWidget) -> QWidget:
    """A label and its controls, kept together when the flow wraps."""
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(4)
    if label:
        lay.addWidget(QLabel(label))
    for x in widgets:
        lay.addWidget(x)
    return w
