"""What the main window's parts (the ``window_*`` mixins) share: the attributes
``MainWindow.__init__`` sets, declared once so each part and a type checker know them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QComboBox, QDockWidget, QLabel, QLineEdit, QSlider

    from gradviz.qt.code_panel import CodePanel
    from gradviz.qt.event_log import EventLog
    from gradviz.qt.graph_view import GraphView
    from gradviz.qt.inspector import Inspector
    from gradviz.qt.kernel_client import KernelClient
    from gradviz.qt.lesson_panel import LessonPanel
    from gradviz.qt.remote_session import InProcessKernel, RemoteSession
    from gradviz.qt.stepper import KernelStepper
    from gradviz.qt.tensor_panel import TensorPanel
    from gradviz.qt.training_panel import TrainingPanel

__all__ = ["WindowParts"]


class WindowParts:
    """Annotations only (nothing is assigned here): the state every window part reads."""

    kernel: KernelClient | InProcessKernel
    session: RemoteSession
    stepper: KernelStepper
    settings: QSettings | None
    actions: dict[str, QAction]
    docks: dict[str, QDockWidget]
    graph_view: GraphView
    inspector: Inspector
    tensor_panel: TensorPanel
    code_panel: CodePanel
    lesson_panel: LessonPanel
    event_log: EventLog
    training_panel: TrainingPanel
    root_combo: QComboBox
    walk_combo: QComboBox
    gradient_edit: QLineEdit
    gradient_label: QLabel
    step_label: QLabel
    kernel_label: QLabel
    speed: QSlider
    current_path: Path | None
    font_scale: float
    theme_name: str
    compact: bool
    _dirty: bool
    _autosave: Any
