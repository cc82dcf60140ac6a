"""The event log: what the engine reported (ops recorded, nodes run, grads accumulated...) as
readable lines, filterable by text and kind. Events are queued and formatted in batches on a
timer, so thousands of them never freeze the window."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gradviz.formatting import compact_values, short_repr
from gradviz.graph_events import KINDS, EventKind, GraphEvent
from gradviz.qt.bridge import Bridge
from gradviz.qt.theming import theme_for
from gradviz.theme import Theme, get_theme

if TYPE_CHECKING:
    from gradviz.workspace import Workspace

__all__ = ["EventLog", "EventListModel", "format_event", "compact_values", "MAX_ROWS"]

MAX_ROWS = 20_000
FLUSH_MS = 50
BATCH = 2_000  # events taken in per timer tick (their text is formatted when shown)
_KIND_WIDTH = max(len(k) for k in KINDS)
_Index = QModelIndex | QPersistentModelIndex

_BOLD = frozenset({EventKind.BACKWARD_STARTED, EventKind.BACKWARD_FINISHED, EventKind.ERROR})


class Row:
    """One logged event; its text is formatted the first time it is needed (shown, filtered)."""

    __slots__ = ("seq", "kind", "node_id", "_ev", "_names", "_text")

    def __init__(self, ev: GraphEvent, names: dict[int, str]) -> None:
        self.seq: int = ev.seq
        self.kind: str = ev.kind
        nid = ev.get("node_id")
        self.node_id: int | None = nid if isinstance(nid, int) else None
        self._ev: GraphEvent | None = ev
        self._names: dict[int, str] | None = names
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            try:
                self._text = format_event(self._ev, self._names)
            except Exception as e:  # a malformed event must not break the log
                self._text = f"{self.kind:<{_KIND_WIDTH}}  (unreadable: {type(e).__name__})"
            self._ev = self._names = None
        return self._text


# ----------------------------------------------------------------------------- formatting
def format_event(ev: GraphEvent | Any, names: dict[int, str] | None = None) -> str:
    """One readable line, e.g. ``node_started  MulBackward0 #4  step 2  grad_out=[1., 1.]``.
    ``names`` maps tensor ids to workspace names (others show as ``t17``)."""
    names = names or {}
    g = ev.get

    def t(tid: Any) -> str:
        if tid is None:
            return "None"
        return names.get(tid, f"t{tid}")

    def n(nid: Any) -> str:
        return "None" if nid is None else f"#{nid}"

    def v(value: Any, limit: int = 48) -> str:
        return compact_values(value, limit)

    kind = ev.kind
    if kind == EventKind.TENSOR_CREATED:
        shape = tuple(g("shape") or ())
        parts = [t(g("tensor_id")), f"shape={shape}", str(g("dtype", ""))]
        if g("requires_grad"):
            parts.append("requires_grad=True")
        parts.append("leaf" if g("is_leaf", True) else f"grad_fn={n(g('node_id'))}")
        val = g("value")
        parts.append(f"value={v(val, 40) if val is not None else '…'}")
        body = "  ".join(parts)
    elif kind == EventKind.OP_RECORDED:
        ins = ", ".join(t(i) for i in (g("inputs") or ()))
        nxt = ", ".join(n(i) for i in (g("next_ids") or ()))
        body = (f"{g('name')} {n(g('node_id'))} → {t(g('tensor_id'))}  inputs=({ins})  "
                f"next=({nxt})")
    elif kind == EventKind.BACKWARD_STARTED:
        grad = g("gradient")
        body = (f"from {t(g('tensor_id'))} ({n(g('node_id'))})  gradient={v(grad, 30)}  "
                f"nodes={g('nodes')}  retain_graph={g('retain_graph')}")
        if g("create_graph"):
            body += "  create_graph=True"
    elif kind == EventKind.NODE_STARTED:
        gout = ", ".join(v(x, 40) for x in (g("grad_outputs") or ()))
        body = f"{g('name')} {n(g('node_id'))}  step {g('index', 0) + 1}  grad_out={gout}"
    elif kind == EventKind.NODE_FINISHED:
        gin = ", ".join(v(x, 32) for x in (g("grad_inputs") or ()))
        nxt = ", ".join(n(i) for i in (g("next_ids") or ()))
        body = f"{g('name')} {n(g('node_id'))}  grad_in=({gin}) → ({nxt})"
    elif kind == EventKind.GRAD_ACCUMULATED:
        body = (f"{t(g('tensor_id'))}.grad  {v(g('before'), 36)} → {v(g('after'), 36)}  "
                f"at {n(g('node_id'))}")
    elif kind == EventKind.BACKWARD_FINISHED:
        body = f"from {t(g('tensor_id'))}  steps={g('steps')}"
    elif kind == EventKind.GRAD_CHANGED:
        body = f"{t(g('tensor_id'))}.grad = {v(g('value'))}  ({g('reason')})"
    elif kind == EventKind.REQUIRES_GRAD_CHANGED:
        body = f"{t(g('tensor_id'))}.requires_grad = {g('requires_grad')}"
    elif kind == EventKind.GRAPH_FREED:
        ids = ", ".join(n(i) for i in (g("node_ids") or ()))
        body = f"saved tensors freed at {ids}"
    elif kind == EventKind.ERROR:
        where = ""
        if g("node_id") is not None:
            where += f"  at {n(g('node_id'))}"
        if g("tensor_id") is not None:
            where += f"  tensor {t(g('tensor_id'))}"
        body = f"{g('error_type')}: {g('message')}{where}"
    else:
        body = "  ".join(f"{k}={short_repr(x, 40)}" for k, x in ev.items()
                         if k not in ("kind", "seq"))
    return f"{kind:<{_KIND_WIDTH}}  {body}"


# ----------------------------------------------------------------------------- the model
class EventListModel(QAbstractListModel):
    """The visible rows (already filtered), coloured by kind."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[Row] = []
        self.colors: dict[EventKind, QColor] = {}
        self.set_theme(get_theme("light"))
        self.bold = QFont()
        self.bold.setBold(True)

    def set_theme(self, theme: Theme) -> None:
        """Colour each event kind as ``theme`` says."""
        self.colors = {k: QColor(theme.events.of(k)) for k in EventKind}
        if self.rows:
            self.dataChanged.emit(self.index(0), self.index(len(self.rows) - 1))

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.text
        if role == Qt.ItemDataRole.ForegroundRole:
            return self.colors.get(row.kind)
        if role == Qt.ItemDataRole.FontRole and row.kind in _BOLD:
            return self.bold
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"#{row.seq}  {row.text}"
        return None

    def reset(self, rows: list[Row]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def append(self, rows: list[Row]) -> None:
        if not rows:
            return
        n = len(self.rows)
        self.beginInsertRows(QModelIndex(), n, n + len(rows) - 1)
        self.rows.extend(rows)
        self.endInsertRows()

    def drop_before(self, seq: int) -> None:
        """Remove leading rows older than ``seq``."""
        k = 0
        while k < len(self.rows) and self.rows[k].seq < seq:
            k += 1
        if k:
            self.beginRemoveRows(QModelIndex(), 0, k - 1)
            del self.rows[:k]
            self.endRemoveRows()


# ----------------------------------------------------------------------------- the widget
class EventLog(QWidget):
    """Engine events as a filterable list. Signals: ``node_activated(int)`` when a row about a
    node is double-clicked."""

    node_activated = Signal(int)

    def __init__(self, session: Workspace, bridge: Bridge, parent: QWidget | None = None,
                 max_rows: int = MAX_ROWS) -> None:
        super().__init__(parent)
        self.setObjectName("eventLog")
        self.session = session
        self.bridge = bridge
        self.max_rows = max_rows
        self._pending: deque[GraphEvent] = deque(maxlen=max_rows)
        self._all: deque[Row] = deque(maxlen=max_rows)
        self._stale = False  # rows arrived while out of sight: the list catches up when shown
        self._dropped = 0
        self._kinds: set[str] = set(KINDS)
        self._needle = ""

        self.filter_edit = QLineEdit(objectName="eventFilter")
        self.filter_edit.setPlaceholderText("filter, e.g. MulBackward0, x.grad, #4")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._filter_typed)
        self.clear_button = QPushButton("Clear", objectName="clearEvents")
        self.clear_button.clicked.connect(self.clear)
        self.count_label = QLabel(objectName="eventCount")
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.count_label)
        top.addWidget(self.clear_button)

        self.kind_boxes: dict[str, QCheckBox] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        cols = 6
        for i, kind in enumerate(KINDS):
            box = QCheckBox(kind, objectName=f"kind_{kind}")
            box.setChecked(True)
            box.toggled.connect(lambda on, k=kind: self.set_kind_visible(k, on))
            self.kind_boxes[kind] = box
            grid.addWidget(box, i // cols, i % cols)

        self.model = EventListModel(self)
        self.view = QListView(objectName="eventList")
        self.view.setModel(self.model)
        self.view.setUniformItemSizes(True)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setAlternatingRowColors(True)
        self.view.doubleClicked.connect(self._activated)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(top)
        lay.addLayout(grid)
        lay.addWidget(self.view, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self.flush)
        self._filter_timer = QTimer(self)  # typing in the filter box: refilter once paused
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)
        self._filter_timer.timeout.connect(self._refilter)
        bridge.events.connect(self._on_events)
        self._apply_style()
        self._update_count()

    # ------------------------------------------------------------------ intake
    def _on_events(self, evs: list) -> None:
        for ev in evs:
            self._on_event(ev)

    def _on_event(self, ev: GraphEvent) -> None:
        # called once per engine event: keep it to an append
        if len(self._pending) == self.max_rows:
            self._dropped += 1
        self._pending.append(ev)
        if not self._timer.isActive():
            self._timer.start()

    def add_events(self, events: list[GraphEvent]) -> None:
        """Queue events (a loaded trace, say) as if the engine had just reported them."""
        for ev in events:
            self._on_event(ev)

    def flush(self, limit: int | None = BATCH) -> None:
        """Format queued events into rows (at most ``limit`` now; the rest on the next tick)."""
        self._timer.stop()
        if not self._pending:
            return
        names = self.session.names()
        take = len(self._pending) if limit is None else min(limit, len(self._pending))
        pending = self._pending
        new = [Row(pending.popleft(), names) for _ in range(take)]
        overflow = len(self._all) + len(new) - self.max_rows
        if overflow > 0:
            self._dropped += min(overflow, len(self._all))
        self._all.extend(new)
        if self._stale or self.view.visibleRegion().isEmpty():
            # out of sight (its tab behind Code): the list is rebuilt once when shown, instead
            # of Qt relaying out its rows on every backward step
            self._stale = True
        elif len(new) >= self.max_rows:
            self.model.reset([r for r in self._all if self._matches(r)])
        else:
            at_bottom = self._at_bottom()
            if overflow > 0:
                self.model.drop_before(self._all[0].seq)
            self.model.append([r for r in new if self._matches(r)])
            if at_bottom:
                self._scroll_to_end()
        self._update_count()
        if self._pending:
            self._timer.start(0)

    def _scroll_to_end(self) -> None:
        # a hidden list (its tab behind Code) lays out all its rows to scroll: ~20 ms a step
        # on a long walk; it scrolls once when it is shown instead
        if not self.view.visibleRegion().isEmpty():  # a tabbed-away dock stays "visible"
            self.view.scrollToBottom()
        else:
            self._scroll_when_shown = True

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.scroll_if_behind()

    def scroll_if_behind(self) -> None:
        """Catch up the rows and the scroll the log skipped while it was out of sight."""
        if self._stale:
            self._stale = False
            self.model.reset([r for r in self._all if self._matches(r)])
            self._update_count()
            self._scroll_when_shown = True
        if getattr(self, "_scroll_when_shown", False):
            self._scroll_when_shown = False
            self.view.scrollToBottom()

    def _at_bottom(self) -> bool:
        bar = self.view.verticalScrollBar()
        return bar.value() >= bar.maximum() - 2

    # ------------------------------------------------------------------ filtering
    def _matches(self, row: Row) -> bool:
        return row.kind in self._kinds and (not self._needle or
                                            self._needle in row.text.lower())

    def set_filter_text(self, text: str) -> None:
        """Show only rows containing ``text`` (case-insensitive), now."""
        if self.filter_edit.text() != text:
            self.filter_edit.blockSignals(True)
            self.filter_edit.setText(text)
            self.filter_edit.blockSignals(False)
        self._needle = text.strip().lower()
        self._refilter()

    def _filter_typed(self, text: str) -> None:
        self._needle = text.strip().lower()
        self._filter_timer.start()  # refilter once typing pauses

    def set_kind_visible(self, kind: str, visible: bool) -> None:
        """Show or hide one event kind (its checkbox follows)."""
        box = self.kind_boxes.get(kind)
        if box is not None and box.isChecked() != visible:
            box.setChecked(visible)  # re-enters through toggled
            return
        if visible:
            self._kinds.add(kind)
        else:
            self._kinds.discard(kind)
        self._refilter()

    def _refilter(self) -> None:
        self._filter_timer.stop()
        self.model.reset([r for r in self._all if self._matches(r)])
        self.view.scrollToBottom()
        self._update_count()

    # ------------------------------------------------------------------ access
    def clear(self) -> None:
        """Forget every event shown or queued."""
        self._pending.clear()
        self._all.clear()
        self._dropped = 0
        self.model.reset([])
        self._update_count()

    def lines(self) -> list[str]:
        """The visible lines, oldest first."""
        if self._stale:
            self.scroll_if_behind()
        return [r.text for r in self.model.rows]

    def total_count(self) -> int:
        """Rows kept (visible or filtered out)."""
        return len(self._all)

    def _update_count(self) -> None:
        shown, total = len(self.model.rows), len(self._all)
        text = f"{total:,} events" if shown == total else f"{shown:,} of {total:,} events"
        if self._dropped:
            text += f" ({self._dropped:,} older dropped)"
        self.count_label.setText(text)

    def _activated(self, index: QModelIndex) -> None:
        row = self.model.rows[index.row()]
        if row.node_id is not None:
            self.node_activated.emit(row.node_id)

    # ------------------------------------------------------------------ looks
    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.PaletteChange):
            self._apply_style()

    def _apply_style(self) -> None:
        theme = theme_for(self)
        self.model.set_theme(theme)
        f = QFont("DejaVu Sans Mono")
        f.setStyleHint(QFont.StyleHint.Monospace)
        f.setPointSizeF(max(self.font().pointSizeF(), 9.0) * 1.1)
        self.view.setFont(f)
        for kind, box in self.kind_boxes.items():
            box.setStyleSheet(f"QCheckBox {{ color: {theme.events.of(kind)}; }}")

