"""Dialogs for the model edits that take parameters: auto-prune and auto-symbolic."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from kanstudio.defaults import EDGE_THRESHOLD, NODE_THRESHOLD

__all__ = ["AutoPruneDialog", "AutoSymbolicDialog", "describe_auto_symbolic",
           "describe_prune_preview"]


def describe_prune_preview(e: dict[str, Any]) -> str:
    """The dialog's line for a ``prune_preview`` result: what goes and what it costs."""
    nodes, edges = len(e.get("removed_nodes") or []), len(e.get("removed_edges") or [])
    if not nodes and not edges:
        return "Nothing is under these thresholds: Prune would change nothing."
    before, after = e.get("test_rmse_before"), e.get("test_rmse_after")
    cost = (f" Held-out test RMSE {before:.4g} → {after:.4g}."
            if before is not None and after is not None else "")
    return (f"Prune removes {nodes} node(s) and {edges} edge(s), marked red in the network: "
            f"width {e.get('width_before')} → {e.get('width_after')}.{cost} "
            "Edit ▸ Undo puts them back.")


class AutoPruneDialog(QDialog):
    """Thresholds for auto-prune; ``preview_requested`` asks the engine what a prune with
    them would do (the same prune, on a copy), answered through :meth:`show_preview`."""

    preview_requested = Signal(float, float)  # (node threshold, edge threshold)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Auto-prune")
        self.node_threshold = _spin(NODE_THRESHOLD, 0.0, 1.0, 0.005, 3)
        self.edge_threshold = _spin(EDGE_THRESHOLD, 0.0, 1.0, 0.01, 3)
        self.shown_for: tuple[float, float] | None = None  # thresholds of the preview shown
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.preview.setMinimumWidth(420)
        form = QFormLayout()
        form.addRow("Node threshold (share of the outputs' importance):", self.node_threshold)
        form.addRow("Edge threshold (share of its target node's activity):",
                    self.edge_threshold)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Prune")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.preview)
        layout.addWidget(buttons)
        # Typing 0.15 passes through 0.1 and 0.15: ask once the value has settled.
        self._ask_later = QTimer(self, singleShot=True, interval=150)
        self._ask_later.timeout.connect(self.request_preview)
        for box in (self.node_threshold, self.edge_threshold):
            box.valueChanged.connect(self._thresholds_changed)
        self.preview.setText("Working out what would be removed…")

    def thresholds(self) -> dict[str, float]:
        return {"node_threshold": self.node_threshold.value(),
                "edge_threshold": self.edge_threshold.value()}

    def request_preview(self) -> None:
        self.preview_requested.emit(self.node_threshold.value(), self.edge_threshold.value())

    def _thresholds_changed(self) -> None:
        self.shown_for = None
        self.preview.setText("Working out what would be removed…")
        self._ask_later.start()

    def show_preview(self, e: dict[str, Any]) -> bool:
        """Show a ``prune_preview`` result; False (ignored) when it answers thresholds the
        user has since changed."""
        asked = (e.get("node_threshold"), e.get("edge_threshold"))
        if asked != (self.node_threshold.value(), self.edge_threshold.value()):
            return False
        self.shown_for = (float(asked[0]), float(asked[1]))
        self.preview.setText(describe_prune_preview(e))
        self.adjustSize()  # the wrapped text may need more lines than the last one
        return True


class AutoSymbolicDialog(QDialog):
    def __init__(self, settings: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Auto-symbolic")
        self.r2 = _spin(float(settings.get("r2_threshold") or 0.99), 0.0, 1.0, 0.005, 4)
        self.simplicity = _spin(float(settings.get("simplicity_weight", 0.8)), 0.0, 10.0,
                                0.1, 2)
        self.lock_all = QCheckBox("Lock every edge to its best function, whatever its R²")
        form = QFormLayout()
        form.addRow("Lock edges whose best fit has R² ≥", self.r2)
        form.addRow("Simplicity weight (higher prefers simpler functions):", self.simplicity)
        form.addRow(self.lock_all)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def values(self) -> dict[str, Any]:
        return {"r2_threshold": self.r2.value(), "lock_all": self.lock_all.isChecked(),
                "simplicity_weight": self.simplicity.value()}


def describe_auto_symbolic(edges: list[dict[str, Any]]) -> str:
    """What auto-symbolic locked and what it left numeric, in one message."""
    locked = [f"{tuple(e['edge'])} → {e['name']}" for e in edges if e.get("locked")]
    left = [str(tuple(e["edge"])) for e in edges if not e.get("locked")]
    text = f"Auto-symbolic locked {len(locked)} edge(s)"
    text += (": " + ", ".join(locked) + "." if locked else ".")
    if left:
        text += f" Left numeric (no fit good enough): {', '.join(left)}."
    return text


def _spin(value: float, lo: float, hi: float, step: float, decimals: int) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    return box
