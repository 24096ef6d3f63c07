"""The Model & Training panel: architecture and training settings, run controls, progress."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

__all__ = ["TrainingPanel", "parse_width", "format_width", "width_layout", "ARCHITECTURE_KEYS"]

# Settings that shape the model: changing one means training starts from a new model.
ARCHITECTURE_KEYS = ("width", "grid", "k", "seed", "device")
_OPTIMIZERS = (("LBFGS", "lbfgs"), ("Adam", "adam"))
_DEVICE_LABELS = {"auto": "Auto", "cpu": "CPU", "cuda": "CUDA (GPU)", "mps": "MPS (Apple GPU)"}


WidthEntry = int | list[int]
_ENTRY = re.compile(r"^(\d+)(?:\+(\d+))?$")
_WIDTH_HINT = "e.g. 2, 5, 1 or, with a product node, 2, 0+1, 1"


def parse_width(text: str, n_inputs: int | None, n_outputs: int | None) -> list[WidthEntry]:
    """The width field in KAN 2.0 notation -> ``[2, [0, 1], 1]``; ValueError with a message
    that says what to type.

    An entry is a node count (``5``) or sums+products (``0+1``: no sum node, one product
    node); ``2,[0,1],1`` and ``[2,[0,1],1]`` are accepted too (read with ``json``), as on
    the command line (kanstudio.core.width, which the GUI cannot import: torch). The
    engine checks the rest (arities) when it builds the model.
    """
    text = text.strip()
    if "[" in text:
        value: Any = None
        for body in (text, f"[{text}]"):
            try:
                value = json.loads(body)
                break
            except json.JSONDecodeError:
                continue
        if not isinstance(value, list):
            raise ValueError(f"Width: type a list such as 2,[0,1],1 ({_WIDTH_HINT})")
        entries = value
    else:
        text = re.sub(r"\s*\+\s*", "+", text.replace(";", ","))
        entries = []
        for part in re.split(r"[\s,]+", text):
            if not part:
                continue
            match = _ENTRY.match(part)
            if match is None:
                raise ValueError(f"Width: {part!r} is not a node count ({_WIDTH_HINT})")
            s, p = match.groups()
            entries.append([int(s), int(p)] if p is not None else int(s))
    width: list[WidthEntry] = []
    for entry in entries:
        pair = entry if isinstance(entry, list) else [entry, 0]
        if (len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 0
                                  for v in pair) or sum(pair) < 1):
            raise ValueError(f"Width: every level needs at least one node ({_WIDTH_HINT})")
        width.append(list(pair) if pair[1] else pair[0])
    if len(width) < 2:
        raise ValueError("Width: at least two levels (inputs, …, outputs)")
    if not isinstance(width[0], int):
        raise ValueError("Width: input nodes cannot be product nodes")
    if n_inputs is not None and width[0] != n_inputs:
        raise ValueError(f"Width must start with {n_inputs}: the data has {n_inputs} input"
                         f"{'s' if n_inputs != 1 else ''}")
    if n_outputs is not None and level_nodes(width[-1]) != n_outputs:
        raise ValueError(f"Width must end with {n_outputs} (the number of targets)")
    return width


def level_nodes(entry: WidthEntry) -> int:
    """Nodes of one level (sums + products)."""
    return entry if isinstance(entry, int) else entry[0] + entry[1]


def width_layout(width: list[WidthEntry], arity: int = 2) -> tuple[list[int], list[list[int]]]:
    """(nodes per level, product arities per level) for drawing a planned network (the
    engine's default arity, 2, until a model says otherwise)."""
    return ([level_nodes(e) for e in width],
            [[arity] * (0 if isinstance(e, int) else e[1]) for e in width])


def format_width(width: list[WidthEntry]) -> str:
    """``[2, [0, 1], 1]`` -> ``"2, 0+1, 1"`` (the field's text)."""
    return ", ".join(f"{int(e[0])}+{int(e[1])}" if isinstance(e, list | tuple) else str(int(e))
                     for e in width)


class TrainingPanel(QWidget):
    train_clicked = Signal()
    pause_clicked = Signal()
    step_clicked = Signal()
    stop_clicked = Signal()
    new_model_clicked = Signal()
    settings_edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.n_inputs: int | None = None
        self.n_outputs: int | None = None
        self._build_fields()
        model_box, train_box = self._build_forms()
        buttons = self._build_buttons()
        self.progress = QProgressBar()
        self.progress.setObjectName("trainProgress")
        self.progress.setFormat("not trained yet")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.rate_label = QLabel("")
        self.rate_label.setObjectName("rateLabel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(model_box)
        layout.addWidget(train_box)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.rate_label)
        layout.addStretch(1)
        self.set_controls(can_train=False, training=False, paused=False, has_model=False)

    def _build_fields(self) -> None:
        """One editor per setting; any edit emits ``settings_edited``."""
        self.width_edit = QLineEdit()
        self.width_edit.setObjectName("widthEdit")
        self.width_edit.setPlaceholderText("e.g. 2, 5, 1 or 2, 0+1, 1")
        self.width_edit.setToolTip("Nodes per level: inputs, hidden levels…, outputs. "
                                   "sums+products (3+1) adds product (×) nodes, each "
                                   "multiplying two sums of edges")
        self.products = self._spin(0, 16, 0, "Product (×) nodes in every hidden level: "
                                   "each multiplies two sums of edges, for laws like a·b")
        self.products.setObjectName("productNodes")
        self.width_error = QLabel("")
        self.width_error.setStyleSheet("color: #b41414")
        self.width_error.setWordWrap(True)
        self.width_error.hide()
        self.grid = self._spin(1, 1000, 5, "Spline intervals per edge (G)")
        self.k = self._spin(0, 10, 3, "Spline order (3 = cubic)")
        self.lamb = QDoubleSpinBox()
        self.lamb.setDecimals(4)
        self.lamb.setRange(0.0, 10.0)
        self.lamb.setSingleStep(0.001)
        self.lamb.setToolTip("Sparsity strength λ: higher values push unimportant edges "
                             "towards zero (0 = off)")
        self.opt = QComboBox()
        for label, key in _OPTIMIZERS:
            self.opt.addItem(label, key)
        self.opt.setToolTip("LBFGS: few, precise steps (default). Adam: many cheap steps.")
        self.steps = self._spin(1, 1_000_000, 100, "Steps in one training run")
        self.lr = QLineEdit()
        self.lr.setPlaceholderText("auto")
        self.lr.setValidator(QDoubleValidator(0.0, 1e6, 8))
        self.lr.setToolTip("Learning rate; empty = 1 for LBFGS, 0.01 for Adam")
        self.seed = self._spin(0, 2**31 - 1, 0, "Random seed: initial model and data split")
        self.device = QComboBox()
        self.device.setObjectName("deviceCombo")
        self.set_devices([])
        self.width_edit.textEdited.connect(lambda _t: self._width_typed())
        self.lr.textEdited.connect(lambda _t: self.settings_edited.emit())
        self.products.valueChanged.connect(self._products_changed)
        for w in (self.grid, self.k, self.steps, self.seed):
            w.valueChanged.connect(lambda _v: self.settings_edited.emit())
        self.lamb.valueChanged.connect(lambda _v: self.settings_edited.emit())
        for w in (self.opt, self.device):
            w.currentIndexChanged.connect(lambda _i: self.settings_edited.emit())

    def _build_forms(self) -> tuple[QGroupBox, QGroupBox]:
        """The Model and Training boxes."""
        model_box = QGroupBox("Model")
        model_form = QFormLayout(model_box)
        # The product-node box shares the width's row: the panel must fit 800-pixel screens.
        width_row = QHBoxLayout()
        width_row.setContentsMargins(0, 0, 0, 0)
        width_row.addWidget(self.width_edit, 1)
        times = QLabel("× nodes:")
        times.setToolTip(self.products.toolTip())
        width_row.addWidget(times)
        width_row.addWidget(self.products)
        model_form.addRow("Width:", width_row)
        model_form.addRow("", self.width_error)
        model_form.addRow("Grid intervals:", self.grid)
        model_form.addRow("Spline order k:", self.k)
        model_form.addRow("Seed:", self.seed)
        model_form.addRow("Device:", self.device)
        train_box = QGroupBox("Training")
        train_form = QFormLayout(train_box)
        train_form.addRow("Optimizer:", self.opt)
        train_form.addRow("Steps:", self.steps)
        train_form.addRow("Learning rate:", self.lr)
        train_form.addRow("Sparsity λ:", self.lamb)
        return model_box, train_box

    def _build_buttons(self) -> QGridLayout:
        """Train over Pause/Step over Stop/New model."""
        self.train_button = self._button("Train", "trainButton", self.train_clicked,
                                         "Train the model (F5)")
        self.pause_button = self._button("Pause", "pauseButton", self.pause_clicked,
                                         "Pause or resume training (F6)")
        self.step_button = self._button("Step", "stepButton", self.step_clicked,
                                        "Run exactly one training step (F10)")
        self.stop_button = self._button("Stop", "stopButton", self.stop_clicked,
                                        "Stop training; the model keeps what it learned "
                                        "(Shift+F5)")
        self.new_button = self._button("New model", "newModelButton", self.new_model_clicked,
                                       "Start again from a fresh, untrained model")
        buttons = QGridLayout()
        buttons.addWidget(self.train_button, 0, 0, 1, 2)
        buttons.addWidget(self.pause_button, 1, 0)
        buttons.addWidget(self.step_button, 1, 1)
        buttons.addWidget(self.stop_button, 2, 0)
        buttons.addWidget(self.new_button, 2, 1)
        return buttons

    def _spin(self, lo: int, hi: int, value: int, tip: str) -> QSpinBox:
        box = QSpinBox()
        box.setRange(lo, hi)
        box.setValue(value)
        box.setToolTip(tip)
        return box

    def _button(self, text: str, name: str, signal: Any, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.clicked.connect(signal.emit)
        return button

    # ------------------------------------------------------------------ data
    def set_devices(self, devices: list[str]) -> None:
        """Offer Auto plus the devices the worker found (CPU always)."""
        current = self.device.currentData() or "auto"
        self.device.blockSignals(True)
        self.device.clear()
        for name in ["auto", *[d for d in devices if d in _DEVICE_LABELS and d != "auto"]]:
            self.device.addItem(_DEVICE_LABELS[name], name)
        index = self.device.findData(current)
        self.device.setCurrentIndex(max(index, 0))
        self.device.blockSignals(False)
        self.device.setToolTip("Where the model trains" if devices else
                               "Where the model trains (detecting devices…)")

    def set_data_shape(self, n_inputs: int, n_outputs: int, default_width: list[int]) -> None:
        """New data: keep the user's width if it still fits, else use the default."""
        self.n_inputs, self.n_outputs = n_inputs, n_outputs
        try:
            parse_width(self.width_edit.text(), n_inputs, n_outputs)
        except ValueError:
            self.width_edit.setText(format_width(default_width))
        self._width_typed(emit=False)

    def set_width(self, width: list[WidthEntry]) -> None:
        """Show a width (KAN 2.0 notation, or plain node counts)."""
        self.width_edit.setText(format_width(width))
        self._width_typed(emit=False)

    def _width_typed(self, emit: bool = True) -> None:
        """The product-node box follows the width field (its first hidden level)."""
        width = self.validate_width()
        if width is not None and len(width) > 2:
            hidden = width[1]
            self.products.blockSignals(True)
            self.products.setValue(0 if isinstance(hidden, int) else hidden[1])
            self.products.blockSignals(False)
        if emit:
            self.settings_edited.emit()

    def _products_changed(self, count: int) -> None:
        """Give every hidden level ``count`` product nodes (keeping its sum nodes)."""
        try:
            width = parse_width(self.width_edit.text(), None, None)
        except ValueError:
            return
        if len(width) < 3:
            return
        for level in range(1, len(width) - 1):
            e = width[level]
            sums = e if isinstance(e, int) else e[0]
            if sums + count < 1:
                sums = 1
            width[level] = [sums, count] if count else sums
        self.width_edit.setText(format_width(width))
        self.validate_width()
        self.settings_edited.emit()

    def validate_width(self) -> list[WidthEntry] | None:
        if self.n_inputs is None and not self.width_edit.text().strip():
            self.width_error.hide()  # no data yet: nothing to complain about
            return None
        try:
            width = parse_width(self.width_edit.text(), self.n_inputs, self.n_outputs)
        except ValueError as exc:
            self.width_error.setText(str(exc))
            self.width_error.show()
            return None
        self.width_error.hide()
        return width

    def settings(self) -> dict[str, Any]:
        """The chosen settings as SessionSettings fields (width None when invalid)."""
        lr_text = self.lr.text().strip().replace(",", ".")
        try:
            lr = float(lr_text) if lr_text else None
        except ValueError:
            lr = None
        if lr is not None and not (lr > 0 and math.isfinite(lr)):
            lr = None
        return {"width": self.validate_width(), "grid": self.grid.value(), "k": self.k.value(),
                "seed": self.seed.value(), "device": self.device.currentData() or "auto",
                "steps": self.steps.value(), "opt": self.opt.currentData(), "lr": lr,
                "lamb": float(self.lamb.value())}

    def apply_settings(self, settings: dict[str, Any]) -> None:
        """Show settings that came from elsewhere (an opened project)."""
        for key, box in (("grid", self.grid), ("k", self.k), ("seed", self.seed),
                         ("steps", self.steps)):
            if isinstance(settings.get(key), int):
                box.setValue(settings[key])
        if isinstance(settings.get("lamb"), (int, float)):
            self.lamb.setValue(float(settings["lamb"]))
        index = self.opt.findData(settings.get("opt"))
        if index >= 0:
            self.opt.setCurrentIndex(index)
        lr = settings.get("lr")
        self.lr.setText("" if not isinstance(lr, (int, float)) else f"{lr:g}")
        index = self.device.findData(settings.get("device"))
        if index >= 0:
            self.device.setCurrentIndex(index)

    def architecture(self) -> dict[str, Any]:
        s = self.settings()
        return {k: s[k] for k in ARCHITECTURE_KEYS}

    # ------------------------------------------------------------------ run state
    def set_controls(self, can_train: bool, training: bool, paused: bool, has_model: bool,
                     continue_training: bool = False) -> None:
        self.train_button.setEnabled(can_train and not training)
        self.train_button.setText("Continue training" if continue_training else "Train")
        self.pause_button.setEnabled(training)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.step_button.setEnabled(can_train and (paused or not training))
        self.stop_button.setEnabled(training)
        self.new_button.setEnabled(can_train and has_model and not training)

    def show_task(self, text: str, done: int, total: int) -> None:
        """Progress of an operation that is not a training run (an edit, Discover's end):
        ``text`` is shown in the bar, which is full when ``done == total``."""
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(max(done, 0), max(1, total)))
        self.progress.setFormat(text.replace("%", "%%"))
        self.rate_label.setText("")

    def show_trained(self, steps: int) -> None:
        """No run going: how many steps the model has been trained (0: not yet)."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if steps else 0)
        self.progress.setFormat(f"trained for {steps} steps" if steps else "not trained yet")
        self.rate_label.setText("")

    def set_progress(self, run_step: int, steps: int, steps_per_s: float | None,
                     label: str = "this run") -> None:
        """``run_step`` of ``steps`` of the run ``label`` names (the model's own step count
        is the loss panel's)."""
        self.progress.setFormat(f"{label.replace('%', '%%')}: step %v of %m")
        self.progress.setRange(0, max(1, steps))
        self.progress.setValue(min(run_step, max(1, steps)))
        rate = "" if steps_per_s is None or not math.isfinite(steps_per_s) else (
            f"{steps_per_s:.1f} steps/s")
        self.rate_label.setText(rate)
