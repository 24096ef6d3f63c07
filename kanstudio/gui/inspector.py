"""The edge inspector: one edge's curve with the data it sees, and its symbolic candidates.

It also shows a selected node (``inspect_node``): the inputs its value depends on, its
lock, its value against its input when it has one, and "Search expressions…" for it,
whose results lock the node (``lock_node``). It only draws what the worker's results hold
and asks for edits through signals; the window turns those into worker commands.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["EdgeInspector", "SEARCH_TIP"]

_DATA_PEN = (70, 110, 200)
_PREVIEW_PEN = (220, 80, 40)
_COLUMNS = ("Function", "R²", "Complexity", "Fitted expression")
_FORM = "c·f(a·x + b) + d"
_PARAMETERS = (f"Each candidate is {_FORM} for a library function f: a scales and b shifts "
               "the edge's input, c scales and d shifts the function's value. They are "
               "fitted to the edge's curve and stay trainable once locked.")
_HEADER_TIPS = (
    "The library function f",
    "R² of the fit to the edge's curve (1 = the same curve)",
    "How complex f is; the ranking trades R² against it (the simplicity weight, the rule "
    "auto-symbolic and Discover use)",
    f"The fitted {_FORM}, constants to 4 significant digits (hover a row for all digits). "
    + _PARAMETERS,
)
WIDE_LAYOUT_PX = 520  # from this width on, the plot and the candidates sit side by side
_NUMERIC_HINT = ("Symbolic candidates c·f(a·x + b) + d, best first — click one to preview "
                 "it over the curve; Lock (or double-click) applies it.")
SEARCH_TIP = ("Search expressions for this edge's curve with the symbolic search engine "
              "(seconds); the results join the candidates and lock like them")
_LOCKED_HINT = ("This edge is locked to {name}. Candidates are fitted to its current curve: "
                "Lock replaces {name} by the selected one; Unlock returns the learned spline.")
NODE_SEARCH_TIP = ("Search expressions for this node's value as a function of the inputs it "
                   "depends on (1 to 3) with the symbolic search engine; Lock makes the "
                   "network compute the node from the selected one")
_NODE_HINT = ("Search expressions… finds formulas for this node's value from the inputs it "
              "depends on; Lock computes the node from the selected one (the edges feeding "
              "it then no longer matter; Unlock gives them back).")
_NODE_LOCKED_HINT = ("This node is computed from {name}: the edges feeding it no longer "
                     "matter. Lock replaces it by the selected expression; Unlock returns the "
                     "sum of its edges.")


def _candidate_tip(c: dict[str, Any]) -> str:
    """A candidate's full text: its expression and every constant at full precision."""
    lines = [c.get("expression", "")]
    params = c.get("params")
    if params and len(params) == 4:
        lines.append(f"{_FORM} with f = {c['name']}:")
        lines += [f"{name} = {v:.17g}" for name, v in zip("abcd", params, strict=True)]
    if not c.get("ok", True) and c.get("reason"):
        lines.append(str(c["reason"]))
    lines.append(_PARAMETERS)
    return "\n".join(lines)


class EdgeInspector(QWidget):
    lock_requested = Signal(int, int, int, str)
    search_requested = Signal(int, int, int)  # "Search expressions…" for the shown edge
    unlock_requested = Signal(int, int, int)
    prune_requested = Signal(int, int, int)
    functions_changed = Signal(object)  # list of enabled names, or None for all
    # the shown node (level, node): search, lock (name, input columns), unlock, prune
    search_node_requested = Signal(int, int)
    lock_node_requested = Signal(int, int, str, object)
    unlock_node_requested = Signal(int, int)
    prune_node_requested = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edge: tuple[int, int, int] | None = None
        self.node: tuple[int, int] | None = None  # a node shown instead of an edge
        self.locked: str | None = None
        self.locked_expression: str | None = None  # c*f(a*x + b) + d with its constants
        self.candidates: list[dict[str, Any]] = []
        self.known_functions: list[str] = []
        self.enabled_functions: set[str] | None = None  # None: every function
        # the search engine's front for the shown edge, listed after the library's
        self.search_results: list[dict[str, Any]] = []
        self.searching = False
        self.search_unavailable = ""  # why the search engine cannot run here ("" = it can)

        self.title = QLabel("Click an edge in the network to inspect it.")
        self.title.setObjectName("inspectorTitle")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self._build_plot()
        self._build_table()
        buttons = self._build_buttons()
        self._lay_out(buttons)
        self._update_buttons()

    def _build_plot(self) -> None:
        """The edge's curve, the training rows it sees, a candidate's preview, its knots."""
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(120)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "edge input")
        self.plot.setLabel("left", "edge output")
        for side in ("left", "bottom"):  # "(x0.001)" beside the axis reads as a unit
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self.plot.addLegend(offset=(8, 8))
        # The points are the training rows as this edge sees them (its input, its output);
        # they lie on its curve, so their spread shows where the curve is backed by data.
        self.curve_item = pg.PlotCurveItem(pen=pg.mkPen(150, 170, 210, width=1.5),
                                           name="edge function")
        self.data_item = pg.ScatterPlotItem(size=5, pen=None,
                                            brush=pg.mkBrush(*_DATA_PEN, 150),
                                            name="training rows")
        self.preview_item = pg.PlotCurveItem(
            pen=pg.mkPen(*_PREVIEW_PEN, width=2, style=Qt.PenStyle.DashLine),
            name="candidate")
        for item in (self.curve_item, self.data_item, self.preview_item):
            self.plot.addItem(item)
        self.knot_lines: list[pg.InfiniteLine] = []

    def _build_table(self) -> None:
        """The ranked symbolic candidates: a click previews one, a double click locks it."""
        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(_COLUMNS)
        for col, tip in enumerate(_HEADER_TIPS):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setMinimumHeight(90)  # the header and two candidates at least
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._preview_selected)
        self.table.itemDoubleClicked.connect(lambda _item: self._lock_selected())

    def _build_buttons(self) -> QHBoxLayout:
        """Function filter, Lock, Unlock, Prune edge."""
        self.filter_button = QToolButton()
        self.filter_button.setText("Functions: all")
        self.filter_button.setToolTip("Which library functions the candidates may use")
        self.filter_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.filter_menu = QMenu(self.filter_button)
        self.filter_button.setMenu(self.filter_menu)
        self.lock_button = QPushButton("Lock")
        self.lock_button.setToolTip("Replace the spline by the selected function")
        self.lock_button.clicked.connect(self._lock_selected)
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.setToolTip("Return this edge to its learned spline")
        self.unlock_button.clicked.connect(self._unlock)
        self.search_button = QPushButton("Search expressions…")
        self.search_button.setToolTip(SEARCH_TIP)
        self.search_button.clicked.connect(self._search)
        self.prune_button = QPushButton("Prune edge")
        self.prune_button.setToolTip("Remove this edge from the network (Delete)")
        self.prune_button.clicked.connect(self._prune)
        buttons = QHBoxLayout()
        buttons.addWidget(self.filter_button)
        buttons.addStretch(1)
        for b in (self.search_button, self.lock_button, self.unlock_button,
                  self.prune_button):
            buttons.addWidget(b)
        return buttons

    def _lay_out(self, buttons: QHBoxLayout) -> None:
        """Title over the plot beside the candidates (stacked when the dock is narrow)."""
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        self.hint = QLabel(_NUMERIC_HINT)
        self.hint.setObjectName("candidatesHint")
        self.hint.setWordWrap(True)
        lower_layout.addWidget(self.hint)
        lower_layout.addWidget(self.table, 1)
        lower_layout.addLayout(buttons)
        self.plot.setMinimumWidth(220)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.plot)
        self.split.addWidget(lower)
        self.split.setChildrenCollapsible(False)
        self.split.setStretchFactor(0, 3)  # the plot gets the larger share
        self.split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.split, 1)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        # Wide (the default dock under the network): the plot beside the candidates;
        # narrow (a small window, a side or floating dock): the plot above them.
        wide = event.size().width() >= WIDE_LAYOUT_PX
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.split.orientation() != orientation:
            self.split.setOrientation(orientation)
        super().resizeEvent(event)

    # ------------------------------------------------------------------ from the worker
    def show_edge(self, e: dict[str, Any], description: str = "") -> None:
        """Draw an ``inspect`` result: the data points, the spline through them, knots."""
        edge = tuple(int(v) for v in e["edge"])
        if edge != self.edge:
            self.search_results = []  # another edge: the last search was not about it
        self.edge = edge  # type: ignore[assignment]
        self.node = None
        self.plot.setLabel("bottom", "edge input")
        self.plot.setLabel("left", "edge output")
        self._name_curve("edge function")
        self.search_button.setToolTip(self._search_tip(SEARCH_TIP))
        self.locked = e.get("locked")
        self.locked_expression = e.get("locked_expression")
        x, y = np.asarray(e["x"], dtype=float), np.asarray(e["y"], dtype=float)
        self.data_item.setData(x, y)
        self.curve_item.setData(x, y)
        for line in self.knot_lines:
            self.plot.removeItem(line)
        self.knot_lines = []
        for k in np.asarray(e.get("knots", []), dtype=float):
            line = pg.InfiniteLine(k, angle=90, pen=pg.mkPen(150, 150, 150, 140, width=1,
                                                             style=Qt.PenStyle.DotLine))
            self.plot.addItem(line)
            self.knot_lines.append(line)
        score = e.get("score")
        parts = [html.escape(description or f"Edge {self.edge}")]
        parts.append(f"importance {score:.3g}" if score is not None else "importance —")
        if self.locked:
            function = self.locked_expression or self.locked
            parts.append(f"<b>locked: {html.escape(function)}</b>")
            params = e.get("locked_params")
            if params:
                parts.append(f"{_FORM}: " + ", ".join(
                    f"{name} = {v:.4g}" for name, v in zip("abcd", params, strict=False)))
        else:
            parts.append("numeric spline")
            parts.append(f"{len(self.knot_lines)} grid knots (dotted)")
        self.title.setText(" &nbsp;·&nbsp; ".join(parts))
        self.hint.setText(_LOCKED_HINT.format(name=e.get("locked_label") or self.locked)
                          if self.locked else _NUMERIC_HINT)
        self.preview_item.setData([], [])
        self._update_buttons()

    def show_node(self, e: dict[str, Any], description: str = "") -> None:
        """Show an ``inspect_node`` result: the node's inputs, its lock, and its value
        against its input when it has one; its search results, when it was searched."""
        node = (int(e["node"][0]), int(e["node"][1]))
        if node != self.node:
            self.search_results = []
        self.node, self.edge = node, None
        self.locked = e.get("locked")
        self.locked_expression = e.get("locked_label")
        for line in self.knot_lines:
            self.plot.removeItem(line)
        self.knot_lines = []
        names = list(e.get("input_names") or [])
        x, y = e.get("x"), e.get("y")
        if x is not None and y is not None:
            self.data_item.setData(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
            self.curve_item.setData(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        else:  # a value of 2-3 inputs is no curve
            self.data_item.setData([], [])
            self.curve_item.setData([], [])
        self.plot.setLabel("bottom", names[0] if len(names) == 1 else "")
        self.plot.setLabel("left", "node value")
        self._name_curve("node value")
        self.preview_item.setData([], [])
        score = e.get("score")
        parts = [html.escape(description or f"Node {node}")]
        parts.append(f"importance {score:.3g}" if score is not None else "importance —")
        parts.append("depends on " + html.escape(", ".join(names) if names else "no input"))
        if self.locked:
            parts.append(f"<b>locked: = {html.escape(self.locked_expression or '')}</b>")
        else:
            parts.append("sum of its edges")
        self.title.setText(" &nbsp;·&nbsp; ".join(parts))
        self.hint.setText(_NODE_LOCKED_HINT.format(name=self.locked_expression)
                          if self.locked else _NODE_HINT)
        self.search_button.setToolTip(self._search_tip(NODE_SEARCH_TIP))
        self.candidates = []
        self.table.setRowCount(0)
        first = self._append_search_rows()
        if first is not None:
            self.table.selectRow(first)
        self._update_buttons()

    def curve_name(self) -> str:
        """What the plot's legend calls the shown curve."""
        label = self.plot.plotItem.legend.getLabel(self.curve_item)
        return label.text if label is not None else ""

    def _name_curve(self, name: str) -> None:
        label = self.plot.plotItem.legend.getLabel(self.curve_item)
        if label is not None:
            label.setText(name)

    def _search_tip(self, tip: str) -> str:
        if self.search_unavailable:
            return f"Expression search is not available: {self.search_unavailable}"
        return tip

    def show_candidates(self, e: dict[str, Any]) -> None:
        """Fill the table from a ``suggest`` result (ranked best first)."""
        if self.node is not None or (self.edge is not None
                                     and tuple(e.get("edge", ())) != self.edge):
            return  # an answer for an edge no longer shown
        self.candidates = list(e.get("candidates") or [])
        names = [c["name"] for c in self.candidates]
        if self.enabled_functions is None:
            self.known_functions = sorted(set(self.known_functions) | set(names))
            self._fill_filter_menu()
        self.table.setRowCount(len(self.candidates))
        for row, c in enumerate(self.candidates):
            r2 = c.get("r2")
            cells = (c["name"], "—" if r2 is None else f"{r2:.4f}",
                     str(c.get("complexity", "")), c.get("expression", ""))
            tip = _candidate_tip(c)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if col in (1, 2):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self._append_search_rows()
        if self.candidates and not (self.locked and self.select_function(self.locked)):
            self.table.selectRow(0)
        self._update_buttons()

    def show_search_results(self, e: dict[str, Any]) -> None:
        """Add a ``search_edge`` or ``search_node`` result's expressions (best for their
        size first) after the library's candidates; each locks like any candidate."""
        if "node" in e:
            if self.node is None or tuple(e["node"]) != self.node:
                return
        elif self.edge is None or tuple(e.get("edge", ())) != self.edge:
            return
        self.search_results = list(e.get("candidates") or [])
        library = [c for c in self.candidates if c.get("source") != "search"]
        self.candidates = library
        self.table.setRowCount(len(library))
        first = self._append_search_rows()
        if first is not None:
            self.table.selectRow(first)
        self._update_buttons()

    def _append_search_rows(self) -> int | None:
        """Rows for the search results after those in the table; the first one's row."""
        if not self.search_results:
            return None
        start = len(self.candidates)
        self.candidates = self.candidates + self.search_results
        self.table.setRowCount(len(self.candidates))
        for row, c in enumerate(self.search_results, start=start):
            r2 = c.get("r2")
            cells = ("searched", "—" if r2 is None else f"{r2:.4f}",
                     str(c.get("complexity", "")), c.get("expression", ""))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col in (1, 2):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        return start

    def set_searching(self, on: bool) -> None:
        self.searching = on
        self._update_buttons()

    def set_search_unavailable(self, reason: str) -> None:
        """The search engine cannot run here: the button stays off and says why."""
        self.search_unavailable = reason
        self.search_button.setToolTip(f"Expression search is not available: {reason}")
        self._update_buttons()

    def clear(self) -> None:
        self.search_results = []
        self.edge, self.locked, self.candidates = None, None, []
        self.node = None
        self.locked_expression = None
        self.title.setText("Click an edge in the network to inspect it.")
        self.hint.setText(_NUMERIC_HINT)
        for item in (self.data_item, self.curve_item, self.preview_item):
            item.setData([], [])
        self.table.setRowCount(0)
        self._update_buttons()

    # ------------------------------------------------------------------ user actions
    def selected_candidate(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.candidates):
            return None
        return self.candidates[rows[0].row()]

    def select_function(self, name: str) -> bool:
        for row, c in enumerate(self.candidates):
            if c["name"] == name:
                self.table.selectRow(row)
                return True
        return False

    def _preview_selected(self) -> None:
        c = self.selected_candidate()
        if c is None or "preview_x" not in c:
            self.preview_item.setData([], [])
        else:
            self.preview_item.setData(np.asarray(c["preview_x"], dtype=float),
                                      np.asarray(c["preview_y"], dtype=float))
        self._update_buttons()

    def _lock_selected(self) -> None:
        c = self.selected_candidate()
        if self.edge is not None and c is not None:
            self.lock_requested.emit(*self.edge, c["name"])
        elif self.node is not None and c is not None:
            self.lock_node_requested.emit(*self.node, c["name"], c.get("inputs"))

    def _search(self) -> None:
        if self.edge is not None:
            self.search_requested.emit(*self.edge)
        elif self.node is not None:
            self.search_node_requested.emit(*self.node)

    def _unlock(self) -> None:
        if self.edge is not None:
            self.unlock_requested.emit(*self.edge)
        elif self.node is not None:
            self.unlock_node_requested.emit(*self.node)

    def _prune(self) -> None:
        if self.edge is not None:
            self.prune_requested.emit(*self.edge)
        elif self.node is not None:
            self.prune_node_requested.emit(*self.node)

    def _fill_filter_menu(self) -> None:
        self.filter_menu.clear()
        for name in self.known_functions:
            action = QAction(name, self.filter_menu)
            action.setCheckable(True)
            action.setChecked(self.enabled_functions is None or name in self.enabled_functions)
            action.toggled.connect(lambda _on=False: self._filter_toggled())
            self.filter_menu.addAction(action)

    def _filter_toggled(self) -> None:
        on = [a.text() for a in self.filter_menu.actions() if a.isChecked()]
        everything = len(on) == len(self.known_functions)
        self.enabled_functions = None if everything else set(on)
        self.filter_button.setText("Functions: all" if everything
                                   else f"Functions: {len(on)} of {len(self.known_functions)}")
        self.functions_changed.emit(None if everything else sorted(on))

    def _update_buttons(self) -> None:
        has = self.edge is not None or self.node is not None
        self.lock_button.setEnabled(has and self.selected_candidate() is not None)
        self.unlock_button.setEnabled(has and self.locked is not None)
        self.prune_button.setEnabled(has)
        self.prune_button.setText("Prune node" if self.node is not None else "Prune edge")
        self.filter_button.setEnabled(self.node is None)  # library functions: edges only
        self.search_button.setEnabled(has and not self.searching
                                      and not self.search_unavailable)
