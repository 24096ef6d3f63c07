"""The list of formulas Discover found (its accuracy–complexity front), inside the formula
panel: one row per formula, simplest first, the pipeline's pick marked; clicking a row
shows that formula rendered, its residuals on the held-out rows and how it agrees with the
network on a 25 % wider input range, with "Use this formula".

Everything shown is computed by the engine (:mod:`kanstudio.session.front`) and arrives in
the worker's ``front`` event; this view only draws it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kanstudio.gui.formula_render import render_latex

__all__ = ["ParetoView", "describe_wider"]

NO_FRONT = "Discover lists here every formula it found, from the simplest to the most accurate."
_HEADERS = ("", "Complexity", "R² (held-out)", "Status", "Formula")
_APPROXIMATE = QColor(170, 100, 0)


def _r2(value: float | None) -> str:
    return "—" if value is None else f"{value:.6f}"


def describe_wider(w: dict[str, Any]) -> str:
    """One line on a formula's agreement with the network beyond the data."""
    margin = w.get("margin") or 0.25
    text = (f"Beyond the data (each input's range widened by {margin:.0%}, "
            f"{w.get('points', 0):,} points; a positive input's stops halfway to 0)")
    defined = w.get("defined")
    if defined is not None and defined < 1.0:
        text += f": the formula is defined on {defined:.1%} of them"
    r2 = w.get("r2_network")
    if r2 is None:
        return text + "; no point where both the formula and the network are finite."
    if w.get("status") == "verified":
        return text + f": R² {r2:.4f} against the network, which it reproduces there too."
    return (text + f": R² {r2:.4f} against the network. The network is untested there "
            "as well: a low value says the two extrapolate differently, not which is right.")


class ParetoView(QWidget):
    """Rows of the front; ``use_requested(index)`` when "Use this formula" is pressed."""

    use_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[dict[str, Any]] = []
        self.actual = np.zeros(0)
        self.current_formula = ""  # the formula panel's, to mark the row in use
        self.selected: int | None = None
        self.rendered_png: bytes | None = None
        self.intro = QLabel(NO_FRONT)
        self.intro.setWordWrap(True)
        self.table = QTableWidget(0, len(_HEADERS))
        self.table.setHorizontalHeaderLabels(list(_HEADERS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col in range(len(_HEADERS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(_HEADERS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(70)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self._build_detail()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.intro)
        # the list and the chosen formula's detail share the height; the user moves the line
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.setChildrenCollapsible(False)
        self.split.addWidget(self.table)
        self.split.addWidget(self.detail)
        self.split.setStretchFactor(0, 1)
        self.split.setStretchFactor(1, 1)
        layout.addWidget(self.split, 1)
        self.set_front({"entries": []})

    def _build_detail(self) -> None:
        self.detail = QWidget()
        self.math = QLabel()
        self.math.setStyleSheet("background: white; padding: 4px;")
        self.math.setMinimumHeight(36)
        self.wider = QLabel()
        self.wider.setWordWrap(True)
        self.residuals = pg.PlotWidget(background="w")
        self.residuals.setMinimumHeight(80)
        self.residuals.setLabel("left", "formula − data")
        self.residuals.showGrid(x=True, y=True, alpha=0.2)
        self.residual_points = pg.ScatterPlotItem(size=4, pen=None,
                                                  brush=pg.mkBrush(200, 90, 40, 120))
        self.zero_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(120, 120, 120,
                                                               style=Qt.PenStyle.DashLine))
        self.residuals.addItem(self.zero_line)
        self.residuals.addItem(self.residual_points)
        self.use_button = QPushButton("Use this formula")
        self.use_button.setToolTip("Make this formula (and the network it came with) the "
                                   "model's; Edit ▸ Undo goes back")
        self.use_button.clicked.connect(self._use)
        row = QHBoxLayout()
        row.addWidget(self.wider, 1)
        row.addWidget(self.use_button)
        layout = QVBoxLayout(self.detail)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.math)
        layout.addLayout(row)
        layout.addWidget(self.residuals, 1)

    # ------------------------------------------------------------------ from the worker
    def set_front(self, e: dict[str, Any]) -> None:
        """Show a ``front`` event's entries (none: the list is empty and says why)."""
        self.entries = list(e.get("entries") or [])
        self.actual = np.asarray(e.get("actual") if e.get("actual") is not None
                                 else np.zeros(0), dtype=float)
        self.selected = None
        self.table.clearSelection()
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            status = entry.get("status", "approximate")
            cells = (self._mark(entry), str(entry.get("complexity", "")),
                     _r2(entry.get("test_r2")), status,
                     entry.get("short") or entry.get("formula", ""))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col in (1, 2):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if col == 3 and status != "verified":
                    item.setForeground(QBrush(_APPROXIMATE))
                if col == 4:  # every digit, as the formula is kept
                    item.setToolTip(entry.get("formula", ""))
                self.table.setItem(row, col, item)
        self.intro.setText(
            f"{len(self.entries)} formula(s) Discover found, simplest first; ★ marks its "
            "pick (the knee of accuracy against complexity, or the simplest formula past "
            "it that explains the held-out rows when the knee leaves more than 0.1 % of "
            "their variance unexplained). Click one to judge it."
            if self.entries else NO_FRONT)
        self.table.setVisible(bool(self.entries))
        self.detail.setVisible(False)
        if self.entries:
            chosen = next((k for k, x in enumerate(self.entries) if x.get("chosen")), 0)
            self.table.selectRow(chosen)

    def set_current_formula(self, formula: str) -> None:
        """The formula the panel shows (the model's): its row is marked "in use"."""
        self.current_formula = formula
        for row, entry in enumerate(self.entries):
            item = self.table.item(row, 0)
            if item is not None:
                item.setText(self._mark(entry))
        self._update_use_button()

    def _mark(self, entry: dict[str, Any]) -> str:
        marks = ["★ pick"] if entry.get("chosen") else []
        if self.current_formula and entry.get("formula") == self.current_formula:
            marks.append("in use")
        return ", ".join(marks)

    # ------------------------------------------------------------------ detail
    def _on_selection(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        self.show_entry(rows[0].row())

    def show_entry(self, index: int) -> None:
        """The detail of entry ``index``: rendered, its residuals, beyond the data."""
        entry = self.entries[index]
        self.selected = index
        self.rendered_png = None
        try:
            self.rendered_png = render_latex(entry.get("latex", ""),
                                             dpi=int(100 * self.devicePixelRatioF()))
        except ValueError:
            self.math.setText(entry.get("formula", ""))
        if self.rendered_png is not None:
            pixmap = QPixmap()
            pixmap.loadFromData(self.rendered_png, "PNG")
            pixmap.setDevicePixelRatio(self.devicePixelRatioF())
            self.math.setPixmap(pixmap)
        self.wider.setText(
            f"Network agreement on the held-out rows: R² {_r2(entry.get('network_r2'))}. "
            + describe_wider(entry.get("wider") or {}))
        predicted = np.asarray(entry.get("predicted", np.zeros(0)), dtype=float)
        if predicted.shape == self.actual.shape and predicted.size:
            self.residual_points.setData(self.actual, predicted - self.actual)
        else:
            self.residual_points.setData([], [])
        self.detail.setVisible(True)
        self._update_use_button()

    def residual_data(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) the residual plot draws: the data, formula − data (held-out rows)."""
        x, y = self.residual_points.getData()
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def set_target(self, name: str) -> None:
        self.residuals.setLabel("bottom", f"actual {name} (held-out rows)")

    def _update_use_button(self) -> None:
        entry = self.entries[self.selected] if self.selected is not None else {}
        usable = bool(entry.get("usable"))
        in_use = bool(entry) and entry.get("formula") == self.current_formula
        self.use_button.setEnabled(usable and not in_use)
        self.use_button.setToolTip(
            "This formula is the model's now" if in_use else
            "Make this formula (and the network it came with) the model's; Edit ▸ Undo "
            "goes back" if usable else
            "The list was saved with the project without its networks: run Discover "
            "again to switch formulas")

    def _use(self) -> None:
        if self.selected is not None:
            self.use_requested.emit(self.selected)
