"""Dialogs for the model edits that take parameters: auto-prune and auto-symbolic."""

from __future__ import annotations

from typing import Any

import numpy as np
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

__all__ = ["AutoPruneDialog", "AutoSymbolicDialog", "describe_auto_symbolic", "prune_preview"]


def prune_preview(snap: dict[str, Any] | None, node_threshold: float,
                  edge_threshold: float) -> tuple[int, int] | None:
    """How many (nodes, edges) a prune with these thresholds would remove, estimated from
    the snapshot's scores with the engine's rule (an edge goes under ``edge_threshold`` of
    its target node's activity; a node under ``node_threshold`` of the outputs' importance;
    every level keeps its best node). None without a snapshot."""
    if not snap or not snap.get("edge_scores"):
        return None
    edge_scores = [np.asarray(s, dtype=float) for s in snap["edge_scores"]]
    node_scores = [np.asarray(s, dtype=float) for s in snap["node_scores"]]
    active = [np.asarray(a, dtype=bool) for a in snap["active"]]
    gone_nodes = []
    for level, scores in enumerate(node_scores):
        gone = scores < node_threshold
        if level == len(node_scores) - 1:
            gone[:] = False  # outputs always stay
        elif gone.all():
            gone[int(np.argmax(scores))] = False
        gone_nodes.append(gone)
    edges = 0
    for layer, score in enumerate(edge_scores):
        share = score / (node_scores[layer + 1][None, :] + 1e-12)
        cut = (share < edge_threshold) | gone_nodes[layer][:, None] | gone_nodes[layer + 1]
        edges += int(np.sum(cut & active[layer]))  # an edge of a removed node goes too
    nodes = int(sum(g.sum() for g in gone_nodes))
    return nodes, edges


class AutoPruneDialog(QDialog):
    def __init__(self, snap: dict[str, Any] | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Auto-prune")
        self.snap = snap
        self.node_threshold = _spin(NODE_THRESHOLD, 0.0, 1.0, 0.005, 3)
        self.edge_threshold = _spin(EDGE_THRESHOLD, 0.0, 1.0, 0.01, 3)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
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
        for box in (self.node_threshold, self.edge_threshold):
            box.valueChanged.connect(self._update_preview)
        self._update_preview()

    def thresholds(self) -> dict[str, float]:
        return {"node_threshold": self.node_threshold.value(),
                "edge_threshold": self.edge_threshold.value()}

    def _update_preview(self) -> None:
        counts = prune_preview(self.snap, self.node_threshold.value(),
                               self.edge_threshold.value())
        if counts is None:
            self.preview.setText("No scores yet: train first.")
        else:
            self.preview.setText(f"About {counts[0]} node(s) and {counts[1]} edge(s) would "
                                 "be removed. The loss before and after is shown when it is "
                                 "done; Edit ▸ Undo puts them back.")


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
