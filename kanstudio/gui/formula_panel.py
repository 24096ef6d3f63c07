"""The formula panel: the model's formula drawn as mathematics, its accuracy next to the
network's (an "approximate" badge with both R² when it is not verified), its free constants
with their standard errors, a predicted-vs-actual plot, the formulas Discover found
(:mod:`kanstudio.gui.pareto_view`), and copy / export in the usual formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from kanstudio.gui.formula_render import render_latex
from kanstudio.gui.messages import FORMULA_NOT_YET, approximate_badge
from kanstudio.gui.pareto_view import ParetoView
from kanstudio.gui.settings_store import app_settings, remember_folder, save_start

__all__ = ["FormulaPanel", "format_metric"]

_EXPORT_FILTERS = "LaTeX (*.tex);;Python (*.py);;Plain text (*.txt)"


def format_metric(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


_BADGE_STYLE = ("background:#fff4d6; border:1px solid #e6c36a; color:#6b4a00; "
                "padding:3px 6px; font-weight:bold;")


class FormulaPanel(QWidget):
    refresh_requested = Signal()
    use_requested = Signal(int)  # "Use this formula" on entry (index) of Discover's front

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: dict[str, Any] | None = None
        self.rendered_png: list[bytes] = []
        self.status = QLabel(FORMULA_NOT_YET)
        self.status.setWordWrap(True)
        self.badge = QLabel()  # "approximate", with both R² values
        self.badge.setWordWrap(True)
        self.badge.setStyleSheet(_BADGE_STYLE)
        self.badge.setVisible(False)
        scroll = self._build_math()
        self._build_metrics()
        self._build_constants()
        self._build_plot()
        self.pareto = ParetoView()
        self.pareto.use_requested.connect(self.use_requested.emit)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plot, "Predicted vs actual")
        self.tabs.addTab(self.pareto, "Formulas found")
        buttons = self._build_buttons()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status)
        layout.addWidget(self.badge)
        layout.addWidget(scroll)
        layout.addLayout(self.metrics)
        layout.addWidget(self.constants)
        layout.addWidget(self.tabs, 1)
        layout.addStretch(0)
        layout.addLayout(buttons)
        self._show_plot(False)  # predicted vs actual: only with a formula
        self._update_buttons()

    def _build_math(self) -> QScrollArea:
        """The rendered formula, in a scroll area of bounded height."""
        self.math = QLabel()
        self.math.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.math.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.math.setStyleSheet("background: white; padding: 8px;")
        scroll = QScrollArea()
        scroll.setWidget(self.math)
        scroll.setWidgetResizable(True)
        scroll.setMinimumHeight(70)
        scroll.setMaximumHeight(140)
        return scroll

    def _build_metrics(self) -> None:
        """Network vs formula, R² and RMSE on the held-out rows (the network's numbers are
        the loss panel's "network now": both are the engine's Session.metrics)."""
        self.metrics = QGridLayout()
        heads = ("", "R² (held-out rows)", "RMSE (held-out rows)")
        for col, text in enumerate(heads):
            head = QLabel(f"<b>{text}</b>")
            if col:  # numbers read right-aligned under their heading
                head.setAlignment(Qt.AlignmentFlag.AlignRight)
            self.metrics.addWidget(head, 0, col)
        # the columns keep to their contents; the room left over goes to the right
        self.metrics.setHorizontalSpacing(24)
        self.metrics.setColumnStretch(len(heads), 1)
        self.metric_labels: dict[str, QLabel] = {}
        rows = (("network", "Network (now)"), ("formula", "Formula"))
        for row, (key, title) in enumerate(rows, 1):
            self.metrics.addWidget(QLabel(title), row, 0)
            for col, what in enumerate(("r2", "rmse"), 1):
                label = QLabel("—")
                label.setAlignment(Qt.AlignmentFlag.AlignRight)
                self.metric_labels[f"{key}_test_{what}"] = label
                self.metrics.addWidget(label, row, col)

    def _build_constants(self) -> None:
        """The formula's free constants: as the formula shows them, value ± standard error
        (from the least-squares Jacobian on the training rows)."""
        self.constants = QTableWidget(0, 2)
        self.constants.setHorizontalHeaderLabels(["Constant (as shown)",
                                                  "Value ± standard error"])
        self.constants.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.constants.verticalHeader().setVisible(False)
        header = self.constants.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.constants.setMaximumHeight(110)
        self.constants.setVisible(False)

    def _build_plot(self) -> None:
        """The formula's prediction against the actual target, with the diagonal."""
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(100)
        self.plot.setLabel("bottom", "actual")
        self.plot.setLabel("left", "formula")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.points = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(70, 110, 200, 110))
        self.diagonal = pg.PlotCurveItem(pen=pg.mkPen(120, 120, 120, width=1,
                                                      style=Qt.PenStyle.DashLine))
        self.plot.addItem(self.diagonal)
        self.plot.addItem(self.points)

    def _build_buttons(self) -> QHBoxLayout:
        self.refresh_button = QPushButton("Update")
        self.refresh_button.setToolTip("Build the formula from the current model")
        self.refresh_button.clicked.connect(self.refresh_requested.emit)
        self.copy_latex_button = QPushButton("Copy LaTeX")
        self.copy_latex_button.clicked.connect(self.copy_latex)
        self.copy_python_button = QPushButton("Copy Python")
        self.copy_python_button.clicked.connect(self.copy_python)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the formula as .tex, .py or .txt")
        self.export_button.clicked.connect(self.choose_export)
        self.constants_in_tex = QCheckBox("Constants table in .tex")
        self.constants_in_tex.setToolTip("Add a table of the free constants with their "
                                         "standard errors to the exported LaTeX")
        buttons = QHBoxLayout()
        for b in (self.refresh_button, self.copy_latex_button, self.copy_python_button,
                  self.export_button, self.constants_in_tex):
            buttons.addWidget(b)
        buttons.addStretch(1)
        return buttons

    # ------------------------------------------------------------------ from the worker
    def set_result(self, r: dict[str, Any]) -> None:
        """Show a ``formula`` result (one formula per target)."""
        self.result = r
        self.rendered_png = []
        pixmaps, failed = [], []
        for latex, plain in zip(r["latex_eq"], self.plain_lines(), strict=True):
            try:
                png = render_latex(latex, dpi=int(110 * self.devicePixelRatioF()))
            except ValueError:
                failed.append(plain)
                continue
            self.rendered_png.append(png)
            pixmap = QPixmap()
            pixmap.loadFromData(png, "PNG")
            pixmap.setDevicePixelRatio(self.devicePixelRatioF())
            pixmaps.append(pixmap)
        self.math.setPixmap(_stack(pixmaps)) if pixmaps else self.math.setText(
            "<br>".join(failed))
        for key, label in self.metric_labels.items():
            value = r.get(key)
            label.setText(f"{value:.6f}" if key.endswith("r2") and value is not None
                          else format_metric(value))
        self.status.setText("Formula of the current model, in the CSV's columns and units.")
        approximate = r.get("status") == "approximate"
        self.badge.setText(approximate_badge(r.get("formula_test_r2"),
                                             r.get("formula_network_r2"),
                                             r.get("status_reason") or ""))
        self.badge.setToolTip(r.get("status_reason", ""))
        self.badge.setVisible(approximate)
        self._show_constants(r.get("constants") or [])
        self.pareto.set_current_formula((r.get("formulas") or [""])[0])
        self.pareto.set_target(r["target_names"][0])
        actual = np.asarray(r.get("actual", np.zeros((0, 1))), dtype=float)
        predicted = np.asarray(r.get("predicted", np.zeros((0, 1))), dtype=float)
        if actual.size:
            a, p = actual[:, 0], predicted[:, 0]
            self.points.setData(a, p)
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
            self.diagonal.setData([lo, hi], [lo, hi])
            self.plot.setLabel("bottom", f"actual {r['target_names'][0]}")
            self.plot.setLabel("left", f"formula's {r['target_names'][0]}")
        self._show_plot(bool(actual.size))
        self._update_buttons()

    def set_unavailable(self, message: str) -> None:
        """The model has no formula yet (numeric edges): say why, keep nothing stale."""
        self.result = None
        self.rendered_png = []
        self.math.clear()
        self.points.setData([], [])
        self.diagonal.setData([], [])
        for label in self.metric_labels.values():
            label.setText("—")
        self.badge.setVisible(False)
        self._show_constants([])
        self.pareto.set_current_formula("")
        self.status.setText(message)
        self._show_plot(False)
        self._update_buttons()

    def _show_plot(self, shown: bool) -> None:
        """Show or hide the predicted-vs-actual tab. The plot is a tab's page: showing
        the page itself while another tab is in front paints it (its points and y = x
        line) over that tab, so its tab is shown or hidden instead. A plot appearing
        beside an empty list of formulas comes to the front, as it did alone."""
        index = self.tabs.indexOf(self.plot)
        appears = shown and not self.tabs.isTabVisible(index)
        self.tabs.setTabVisible(index, shown)
        if appears and not self.pareto.entries:
            self.tabs.setCurrentIndex(index)

    def set_front(self, e: dict[str, Any]) -> None:
        """Discover's front (a ``front`` event); a new, non-empty one is brought forward."""
        self.pareto.set_front(e)
        if self.pareto.entries:
            self.tabs.setCurrentWidget(self.pareto)

    def _show_constants(self, constants: list[dict[str, Any]]) -> None:
        self.constants.setRowCount(len(constants))
        for row, c in enumerate(constants):
            shown = QTableWidgetItem(c.get("shown") or "")
            text = c.get("text") or ""
            if c.get("stderr") is None:
                text += " (standard error n/a)"
            value = QTableWidgetItem(text)
            value.setToolTip(c.get("reason") or f"{c.get('value')!r} ± {c.get('stderr')!r}")
            self.constants.setItem(row, 0, shown)
            self.constants.setItem(row, 1, value)
        self.constants.setVisible(bool(constants))
        self.constants_in_tex.setEnabled(bool(constants))

    # ------------------------------------------------------------------ texts
    def plain_lines(self) -> list[str]:
        r = self.result or {}
        return [f"{t} = {f}" for t, f in zip(r.get("target_names", []),
                                             r.get("formulas", []), strict=False)]

    def latex_text(self) -> str:
        return "\n".join((self.result or {}).get("latex_eq", []))

    def python_text(self) -> str:
        return "\n\n".join((self.result or {}).get("python", []))

    def copy_latex(self) -> None:
        if self.result:
            QGuiApplication.clipboard().setText(self.latex_text())

    def copy_python(self) -> None:
        if self.result:
            QGuiApplication.clipboard().setText(self.python_text())

    def export(self, path: str) -> None:
        """Write the formula; the suffix picks the format (.tex, .py, anything else: text)."""
        suffix = Path(path).suffix.lower()
        if suffix == ".tex":
            body = "\n".join(f"\\begin{{equation}}\n{line}\n\\end{{equation}}"
                             for line in (self.result or {}).get("latex_eq", []))
            table = (self.result or {}).get("latex_constants")
            if self.constants_in_tex.isChecked() and table:
                body += "\n\n" + table
        elif suffix == ".py":
            body = "import numpy\n\n\n" + self.python_text()
        else:
            body = "\n".join(self.plain_lines())
        Path(path).write_text(body + "\n", encoding="utf-8")

    def choose_export(self) -> None:
        if not self.result:
            return
        settings = app_settings()
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export Formula", save_start(settings, "formula.tex"), _EXPORT_FILTERS)
        if path:
            remember_folder(settings, path)
            if not Path(path).suffix:
                path += {"Python": ".py", "Plain": ".txt"}.get(chosen.split()[0], ".tex")
            self.export(path)

    def _update_buttons(self) -> None:
        for b in (self.copy_latex_button, self.copy_python_button, self.export_button):
            b.setEnabled(self.result is not None)


def _stack(pixmaps: list[QPixmap]) -> QPixmap:
    """Several formulas (one per target) one under another."""
    if len(pixmaps) == 1:
        return pixmaps[0]
    from PySide6.QtGui import QColor, QPainter

    ratio = pixmaps[0].devicePixelRatio()
    width = max(p.width() for p in pixmaps)
    height = sum(p.height() for p in pixmaps) + 8 * (len(pixmaps) - 1)
    out = QPixmap(width, height)
    out.fill(QColor("white"))
    painter = QPainter(out)
    y = 0
    for p in pixmaps:
        painter.drawPixmap(0, y, p)
        y += p.height() + 8
    painter.end()
    out.setDevicePixelRatio(ratio)
    return out
