"""The training panel's controls: the loop, the followed run, Play / Step iteration / Into
backward / Step back / Step / Reset / Stop, the speed, the iteration count, the learning rate
and the exports, in one flow that wraps (``ControlsMixin`` builds them and keeps their
enablement in one place)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from gradviz.qt.flow import FlowLayout as _FlowLayout
from gradviz.qt.flow import labelled as _pair
from gradviz.training.presets import PRESETS
from gradviz.training.table import RUN_LABELS

__all__ = ["ControlsMixin", "SPEEDS"]

#: iterations per second offered by the speed slider (None: as fast as the machine goes)
SPEEDS: tuple[float | None, ...] = (0.5, 1, 2, 3, 5, 10, 20, 30, 60, 100, 200, 500, 1000,
                                     None)


class ControlsMixin:
    """The controls of :class:`gradviz.qt.training_panel.TrainingPanel` (a mixin: the slots
    are the panel's)."""

    def _build_controls(self) -> QWidget:
        """Every control in one wrapping flow (returned as a widget)."""
        # every control in one wrapping flow: at 1024x768 and font 2 they take more rows,
        # none leaves the screen
        flow = _FlowLayout(spacing=6)
        self.controls_flow = flow
        self.preset_combo = QComboBox()
        for p in PRESETS.values():
            self.preset_combo.addItem(p.title, p.key)
        self.preset_combo.setToolTip("A ready-made training loop (edit it freely: the editor "
                                     "holds the loop that runs)")
        self.preset_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.preset_combo.setMinimumContentsLength(12)
        self.preset_combo.activated.connect(self._on_preset_activated)
        flow.addWidget(_pair("Loop:", self.preset_combo))
        self.follow_combo = QComboBox()
        self.follow_combo.addItem(RUN_LABELS["zeroed"], "zeroed")
        self.follow_combo.addItem(RUN_LABELS["unzeroed"], "unzeroed")
        self.follow_combo.setCurrentIndex(1)
        self.follow_combo.setToolTip("The run whose current iteration the graph view shows "
                                     "and whose backward Into backward steps through")
        self.follow_combo.currentIndexChanged.connect(self._on_follow_changed)
        flow.addWidget(_pair("Graph:", self.follow_combo))
        self.log_loss_check = QCheckBox("log loss")
        self.log_loss_check.setToolTip("Show the loss on a logarithmic axis")
        self.log_loss_check.toggled.connect(self._on_log_loss)
        flow.addWidget(self.log_loss_check)

        self.play_button = QPushButton("▶ Play")
        self.play_button.setToolTip("Run iterations at the chosen speed (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        self.step_button = QPushButton("Step iteration")
        self.step_button.setToolTip("Run exactly one iteration of both runs")
        self.step_button.clicked.connect(self.step_iteration)
        self.into_button = QPushButton("Into backward")
        self.into_button.setToolTip("Run the next iteration's forward for the followed run and "
                                    "stop at backward(): then Step through its nodes")
        self.into_button.clicked.connect(self.into_backward)
        self.back_button = QPushButton("◂ Step back")
        self.back_button.setToolTip("Undo one backward node (as Shift+F10 in the graph view)")
        self.back_button.clicked.connect(self.backward_step_back)
        self.node_button = QPushButton("Step ▸")
        self.node_button.setToolTip("Run one backward node (as F10 in the graph view)")
        self.node_button.clicked.connect(self.backward_step)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Start both runs again from the code in the editor")
        self.reset_button.clicked.connect(self.reset)
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setToolTip("Stop both runs (Reset starts again)")
        self.stop_button.clicked.connect(self.stop)
        for b in (self.play_button, self.step_button, self.into_button, self.back_button,
                  self.node_button, self.reset_button, self.stop_button):
            flow.addWidget(b)
        self.speed_slider = QSlider(Qt.Horizontal)
        self.speed_slider.setRange(0, len(SPEEDS) - 1)
        self.speed_slider.setMinimumWidth(70)
        self.speed_slider.valueChanged.connect(self._on_speed)
        self.speed_label = QLabel()
        self.speed_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("1000 it/s "))
        speed = _pair("Speed", self.speed_slider)
        speed.layout().addWidget(self.speed_label)
        flow.addWidget(speed)
        self.iterations_spin = QSpinBox()
        self.iterations_spin.setRange(1, 1_000_000)
        self.iterations_spin.setAccelerated(True)
        self.iterations_spin.valueChanged.connect(self._mark_dirty)
        flow.addWidget(_pair("Iterations", self.iterations_spin))
        self.lr_edit = QLineEdit()
        self.lr_edit.setToolTip("Learning rate: the loop reads it as the variable lr")
        self.lr_edit.textEdited.connect(self._mark_dirty)
        flow.addWidget(_pair("lr", self.lr_edit))
        self.png_button = QPushButton("PNG…")
        self.png_button.setToolTip("Export the plots as a PNG image (1920 pixels wide)")
        self.png_button.clicked.connect(self._ask_png)
        self.csv_button = QPushButton("CSV…")
        self.csv_button.setToolTip("Export every series of both runs as CSV")
        self.csv_button.clicked.connect(self._ask_csv)
        flow.addWidget(self.png_button)
        flow.addWidget(self.csv_button)
        self.export_status = QLabel()  # "cannot export ...: the folder ... does not exist"
        self.export_status.setWordWrap(True)
        self.export_status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.export_status.hide()
        flow.addWidget(self.export_status)
        box = QWidget()
        box.setLayout(flow)
        return box

    def _update_buttons(self) -> None:
        pair = self.pair
        active = pair is not None and pair.active
        fresh_ok = self._dirty or active
        text = "❚❚ Pause" if self.playing else "▶ Play"
        if self.play_button.text() != text:
            self.play_button.setText(text)
        self.play_button.setEnabled(self.playing or fresh_ok)
        self.step_button.setEnabled(fresh_ok)
        self.into_button.setEnabled(fresh_ok and self._pending_run() is None)
        pending = self._pending_run() is not None
        self.node_button.setEnabled(fresh_ok)
        self.back_button.setEnabled(pending)
        # node by node only while an iteration waits in its backward: the row stays short
        if self.back_button.isHidden() == pending:  # the flow's rows may change
            self.into_button.setVisible(not pending)
            self.back_button.setVisible(pending)
            self.node_button.setVisible(pending)
            self._room = None
        self.stop_button.setEnabled(active)

    def _on_speed(self, i: int) -> None:
        s = SPEEDS[i]
        self.speed_label.setText("max" if s is None else f"{s:g} it/s")
        if self._play_token is not None and not self._frame_mode:
            self.kernel.command_side("training_speed", token=self._play_token, speed=s)

    def set_speed(self, per_second: float | None) -> None:
        """Choose the nearest speed (None: as fast as possible)."""
        if per_second is None:
            self.speed_slider.setValue(len(SPEEDS) - 1)
            return
        i = min(range(len(SPEEDS) - 1), key=lambda j: abs(SPEEDS[j] - per_second))
        self.speed_slider.setValue(i)
