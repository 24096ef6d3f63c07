"""The Data panel: the CSV's columns with their roles, the data layer's messages, a preview.

Validation runs here, in the GUI process, with the data layer (no torch): the scientist
sees what blocks training the moment they change a role. ``data_ready`` is emitted with
the roles whenever the table is usable, so the window can send it to the worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from kanstudio.gui.table_models import ColumnsModel, RawTableModel, RoleDelegate

if TYPE_CHECKING:
    from kanstudio.data import ColumnRoles, RawTable, ValidationReport

__all__ = ["DataPanel"]

_SEVERITY_COLOR = {"error": QColor(180, 20, 20), "warning": QColor(150, 95, 0)}


class DataPanel(QWidget):
    # usable data to load: ColumnRoles, {"drop_missing": bool, "drop_non_numeric": bool}
    data_ready = Signal(object, object)
    data_blocked = Signal(str)  # the first error: training is not possible as chosen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table: RawTable | None = None
        self.report: ValidationReport | None = None
        self.source: str = ""
        self._roles: dict[str, str] = {}
        target_row = self._build_header()
        self._build_columns()
        self._build_issues()
        self._build_preview()
        self._lay_out(target_row)

    def _build_header(self) -> QHBoxLayout:
        """File and counts labels, the target chooser and the missing-values switch."""
        self.file_label = QLabel("No data. Open a CSV file (Ctrl+O) or a sample.")
        self.file_label.setObjectName("fileLabel")
        self.file_label.setWordWrap(True)
        self.counts_label = QLabel("")
        self.counts_label.setObjectName("countsLabel")
        self.target_combo = QComboBox()
        self.target_combo.setObjectName("targetCombo")
        self.target_combo.setToolTip("The column the network learns to predict")
        self.target_combo.activated.connect(
            lambda _i: self.set_target(self.target_combo.currentText()))
        self.drop_missing = QCheckBox("Drop rows with missing values")
        self.drop_missing.setToolTip("Rows with an empty cell in a used column are left out "
                                     "instead of blocking training")
        self.drop_missing.toggled.connect(lambda _on: self._revalidate())
        # Shown while a used column has text cells: the other way out than leaving the
        # column out (which a target cannot be).
        self.drop_non_numeric = QCheckBox("Drop rows whose value is not a number")
        self.drop_non_numeric.setObjectName("dropNonNumeric")
        self.drop_non_numeric.setToolTip("Rows with a text cell (a typo, a note, a unit) in "
                                         "a used column are left out instead of blocking "
                                         "training")
        self.drop_non_numeric.toggled.connect(lambda _on: self._revalidate())
        self.drop_non_numeric.hide()
        target_row = QHBoxLayout()
        target_row.addWidget(QLabel("Target (predict):"))
        target_row.addWidget(self.target_combo, 1)
        return target_row

    def _build_columns(self) -> None:
        """One row per CSV column with its role (editable in place), kind and range."""
        self.columns_model = ColumnsModel(self)
        self.columns_model.role_edited.connect(self.set_role)
        self.columns_view = QTableView()
        self.columns_view.setObjectName("columnsView")
        self.columns_view.setModel(self.columns_model)
        self.columns_view.setItemDelegateForColumn(1, RoleDelegate(self.columns_view))
        self.columns_view.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        self.columns_view.verticalHeader().hide()
        self.columns_view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.columns_view.horizontalHeader().setStretchLastSection(True)
        self.columns_view.setToolTip("Click a role to change it: input, target or ignore")

    def _build_issues(self) -> None:
        """What blocks training, each message clickable to its cell."""
        self.issues_list = QListWidget()
        self.issues_list.setObjectName("issuesList")
        self.issues_list.setWordWrap(True)
        self.issues_list.setToolTip("Click a message to see its cell in the preview")
        self.issues_list.itemClicked.connect(self._show_issue_cell)
        self.status_label = QLabel("")
        self.status_label.setObjectName("dataStatus")
        self.status_label.setWordWrap(True)

    def _build_preview(self) -> None:
        self.preview_model = RawTableModel(self)
        self.preview_view = QTableView()
        self.preview_view.setObjectName("previewView")
        self.preview_view.setModel(self.preview_model)
        self.preview_view.horizontalHeader().setResizeContentsPrecision(200)
        self.preview_view.verticalHeader().setDefaultSectionSize(20)

    def _lay_out(self, target_row: QHBoxLayout) -> None:
        """Choices and issues over the preview, in a splitter."""
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.file_label, self.counts_label):
            top_layout.addWidget(w)
        top_layout.addLayout(target_row)
        top_layout.addWidget(self.drop_missing)
        top_layout.addWidget(self.drop_non_numeric)
        top_layout.addWidget(self.columns_view, 1)
        top_layout.addWidget(self.status_label)
        top_layout.addWidget(self.issues_list)
        preview = QWidget()
        preview_layout = QVBoxLayout(preview)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_label = QLabel("Preview (rows numbered as in a spreadsheet; shaded: empty or "
                               "not a number):")
        preview_label.setWordWrap(True)  # unwrapped, it alone kept the dock 490 px wide
        preview_layout.addWidget(preview_label)
        preview_layout.addWidget(self.preview_view, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(preview)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)
        self.issues_list.hide()

    # ------------------------------------------------------------------ loading
    def set_table(self, table: RawTable, roles: ColumnRoles, source: str,
                  editable: bool = True) -> None:
        """Show a newly read table with initial roles (defaults or a sample's)."""
        self.table = table
        self.source = source
        self._roles = {name: "ignore" for name in table.names}
        self._roles.update({n: "input" for n in roles.inputs})
        self._roles.update({n: "target" for n in roles.targets})
        self.file_label.setText(f"<b>{source}</b>")
        self.file_label.setToolTip(str(table.source_path or source))
        self.columns_model.editable = editable
        self.target_combo.setEnabled(editable)
        self.drop_missing.setEnabled(editable)
        self.drop_non_numeric.setEnabled(editable)
        self.drop_non_numeric.setChecked(False)  # a choice made for the previous file
        self.columns_model.set_table(table, self._roles)
        self.preview_model.set_table(table, self._roles)
        self.preview_view.resizeColumnsToContents()  # measures the first 200 rows only
        self.target_combo.clear()
        self.target_combo.addItems([n for i, n in enumerate(table.names)
                                    if n and table.looks_numeric(i)])
        self._revalidate()

    def clear(self) -> None:
        self.table, self.report = None, None
        self._roles = {}
        self.columns_model.set_table(None, {})
        self.preview_model.set_table(None, {})
        self.target_combo.clear()
        self.issues_list.clear()
        self.issues_list.hide()
        self.counts_label.setText("")
        self.status_label.setText("")

    # ------------------------------------------------------------------ roles
    def roles(self) -> ColumnRoles:
        from kanstudio.data import ColumnRoles

        names = self.table.names if self.table is not None else list(self._roles)
        return ColumnRoles(
            inputs=[n for n in names if n and self._roles.get(n) == "input"],
            targets=[n for n in dict.fromkeys(names) if n and self._roles.get(n) == "target"],
            ignored=[n for n in dict.fromkeys(names) if self._roles.get(n, "ignore") == "ignore"],
        )

    def role_of(self, name: str) -> str:
        return self._roles.get(name, "ignore")

    def set_role(self, name: str, role: str) -> None:
        """Give a column a role; a new target turns the previous target into an input."""
        if self.table is None or name not in self._roles or not self.columns_model.editable:
            return
        if role == "target":
            for other, r in self._roles.items():
                if r == "target" and other != name:
                    self._roles[other] = "input"
        self._roles[name] = role
        self._revalidate()

    def set_target(self, name: str) -> None:
        self.set_role(name, "target")

    # ------------------------------------------------------------------ validation
    def _revalidate(self) -> None:
        from kanstudio.data import validate

        table = self.table
        if table is None:
            return
        roles = self.roles()
        drop = self.drop_choices()
        self.report = report = validate(table, roles, **drop)
        rows = report.non_numeric_rows
        self.drop_non_numeric.setText(
            "Drop rows whose value is not a number"
            + (f" ({rows} row{'s' if rows != 1 else ''})" if rows else ""))
        self.drop_non_numeric.setVisible(bool(rows) or drop["drop_non_numeric"])
        self.columns_model.set_roles(self._roles, report)
        self.preview_model.set_roles(self._roles)
        targets = roles.targets
        self.target_combo.setCurrentIndex(self.target_combo.findText(targets[0])
                                          if targets else -1)
        self.counts_label.setText(
            f"{table.n_rows:,} rows × {table.n_columns} columns   ·   "
            f"{len(roles.inputs)} input{'s' if len(roles.inputs) != 1 else ''}, "
            f"{len(targets)} target{'s' if len(targets) != 1 else ''}")
        self._show_issues(report)
        if report.ok:
            kept = table.n_rows - report.n_dropped
            self.status_label.setText(f"<span style='color:#1a7f37'>✔ Ready to train on "
                                      f"{kept:,} rows.</span>")
            self.data_ready.emit(roles, drop)
        else:
            self.status_label.setText("<span style='color:#b41414'>✖ Fix the problems below "
                                      "to train.</span>")
            self.data_blocked.emit(report.errors[0].message)

    def drop_choices(self) -> dict[str, bool]:
        """Which rows the user chose to drop (``validate``'s and ``load``'s fields)."""
        return {"drop_missing": self.drop_missing.isChecked(),
                "drop_non_numeric": self.drop_non_numeric.isChecked()}

    def _show_issues(self, report: ValidationReport) -> None:
        self.issues_list.clear()
        ordered = report.errors + report.warnings
        for issue in ordered:
            mark = "✖" if issue.severity == "error" else "⚠"
            item = QListWidgetItem(f"{mark} {issue.message}")
            item.setForeground(_SEVERITY_COLOR[issue.severity])
            item.setData(Qt.ItemDataRole.UserRole, (issue.column, issue.row))
            self.issues_list.addItem(item)
        self.issues_list.setVisible(bool(ordered))
        self._fit_issues()

    def _fit_issues(self) -> None:
        """Tall enough for the messages as they wrap at the list's width (at most 12 lines),
        so the first message is read whole without scrolling a four-line box."""
        if self.issues_list.count() == 0:
            return
        metrics = self.issues_list.fontMetrics()
        width = max(self.issues_list.viewport().width() - 8, 120)
        lines = 0
        for k in range(self.issues_list.count()):
            box = metrics.boundingRect(QRect(0, 0, width, 100_000), Qt.TextFlag.TextWordWrap,
                                       self.issues_list.item(k).text())
            lines += max(1, round(box.height() / metrics.lineSpacing()))
        height = 8 + min(lines, 12) * metrics.lineSpacing()
        self.issues_list.setMinimumHeight(height)
        self.issues_list.setMaximumHeight(height)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit_issues()  # wrapped text needs more or fewer lines at another width

    def _show_issue_cell(self, item: QListWidgetItem) -> None:
        """Scroll the preview to the row (and column) a message names."""
        column, row = item.data(Qt.ItemDataRole.UserRole)
        table = self.table
        if table is None or row is None:
            return
        positions = (table.row_numbers == row).nonzero()[0]
        if not len(positions):
            return
        col = table.indices_of(column)[0] if column and table.indices_of(column) else 0
        index = self.preview_model.index(int(positions[0]), col)
        self.preview_view.scrollTo(index)
        self.preview_view.setCurrentIndex(index)

    def issue_messages(self) -> list[str]:
        return [] if self.report is None else [i.message for i in self.report.issues]

    def describe(self) -> dict[str, Any]:
        """What the panel shows, for the window's status bar and tests."""
        t = self.table
        return {"source": self.source, "rows": 0 if t is None else t.n_rows,
                "columns": 0 if t is None else t.n_columns}
