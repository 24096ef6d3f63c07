"""Qt item models over a :class:`~kanstudio.data.RawTable`: the preview and the column list.

Both read the table's column arrays on demand (``data()`` is only called for visible
cells), so a million-row file costs no Qt object per cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QComboBox, QStyledItemDelegate, QWidget

if TYPE_CHECKING:
    from kanstudio.data import RawTable, ValidationReport

__all__ = ["ROLES", "RawTableModel", "ColumnsModel", "RoleDelegate"]

ROLES = ("input", "target", "ignore")
_BAD_CELL = QBrush(QColor(255, 215, 215))
_ERROR_TEXT = QBrush(QColor(180, 20, 20))
_WARNING_TEXT = QBrush(QColor(150, 95, 0))
_ROLE_TEXT = {"input": QBrush(QColor(25, 95, 190)), "target": QBrush(QColor(190, 90, 10)),
              "ignore": QBrush(QColor(140, 140, 140))}
Index = QModelIndex | QPersistentModelIndex


class RawTableModel(QAbstractTableModel):
    """The CSV's cells as text; cells that block training (text, empty) are shaded."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.table: RawTable | None = None
        self.roles: dict[str, str] = {}
        self._bad: dict[int, np.ndarray] = {}

    def set_table(self, table: RawTable | None, roles: dict[str, str]) -> None:
        self.beginResetModel()
        self.table = table
        self.roles = dict(roles)
        self._bad = {}
        self.endResetModel()

    def set_roles(self, roles: dict[str, str]) -> None:
        self.roles = dict(roles)
        self._bad = {}
        if self.table is not None and self.table.n_columns:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, self.table.n_columns - 1)
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1,
                                                                self.columnCount() - 1))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if self.table is None or parent.isValid() else self.table.n_rows

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if self.table is None or parent.isValid() else self.table.n_columns

    def _bad_mask(self, col: int) -> np.ndarray | None:
        t = self.table
        assert t is not None
        if self.roles.get(t.names[col], "ignore") == "ignore":
            return None
        if col not in self._bad:
            self._bad[col] = t.non_numeric_mask(col) | t.missing_mask(col)
        return self._bad[col]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        t = self.table
        if t is None or not index.isValid():
            return None
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return t.cell_text(col, row)
        if role == Qt.ItemDataRole.BackgroundRole:
            mask = self._bad_mask(col)
            return _BAD_CELL if mask is not None and mask[row] else None
        if role == Qt.ItemDataRole.ForegroundRole:
            if self.roles.get(t.names[col], "ignore") == "ignore":
                return _ROLE_TEXT["ignore"]
        if role == Qt.ItemDataRole.TextAlignmentRole and not t.is_text(col):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        t = self.table
        if t is None:
            return None
        if orientation == Qt.Orientation.Vertical:
            if role == Qt.ItemDataRole.DisplayRole and section < t.n_rows:
                return str(int(t.row_numbers[section]))  # spreadsheet row, header = 1
            return None
        if section >= t.n_columns:
            return None
        role_name = self.roles.get(t.names[section], "ignore")
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{t.names[section] or '(unnamed)'}\n{role_name}"
        if role == Qt.ItemDataRole.ForegroundRole:
            return _ROLE_TEXT[role_name]
        return None


class ColumnsModel(QAbstractTableModel):
    """One row per CSV column: name, role (editable), kind, min, max, missing cells."""

    HEADERS = ("Column", "Role", "Kind", "Min", "Max", "Missing")
    role_edited = Signal(str, str)  # column name, new role

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.table: RawTable | None = None
        self.roles: dict[str, str] = {}
        self.rows: list[tuple[str, str, str, str, int]] = []
        self.issues: dict[str, list[tuple[str, str]]] = {}  # column -> (severity, message)
        self.editable = True

    def set_table(self, table: RawTable | None, roles: dict[str, str]) -> None:
        self.beginResetModel()
        self.table, self.roles = table, dict(roles)
        self.rows = [] if table is None else [self._summary(table, i)
                                              for i in range(table.n_columns)]
        self.issues = {}
        self.endResetModel()

    @staticmethod
    def _summary(table: RawTable, i: int) -> tuple[str, str, str, str, int]:
        missing = int(np.count_nonzero(table.missing_mask(i)))
        if not table.is_numeric(i):
            return table.names[i], "text", "", "", missing
        values = table.numeric_values(i)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return table.names[i], "number", "", "", missing
        kind = "number" if not table.is_text(i) else "number (some text)"
        return table.names[i], kind, f"{finite.min():.6g}", f"{finite.max():.6g}", missing

    def set_roles(self, roles: dict[str, str], report: ValidationReport | None) -> None:
        self.roles = dict(roles)
        self.issues = {}
        for issue in [] if report is None else report.issues:
            if issue.column:
                self.issues.setdefault(issue.column, []).append((issue.severity,
                                                                 issue.message))
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1,
                                                                len(self.HEADERS) - 1))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == 1 and self.editable and self.rows[index.row()][0]:
            return base | Qt.ItemFlag.ItemIsEditable
        return base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        name, kind, lo, hi, missing = self.rows[index.row()]
        col = index.column()
        issues = self.issues.get(name, [])
        worst = "error" if any(s == "error" for s, _ in issues) else (
            "warning" if issues else "")
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            values = (name or "(unnamed)", self.roles.get(name, "ignore"), kind, lo, hi,
                      str(missing) if missing else "")
            return values[col]
        if role == Qt.ItemDataRole.ToolTipRole and issues:
            return "\n".join(m for _, m in issues)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 0 and worst:
                return _ERROR_TEXT if worst == "error" else _WARNING_TEXT
            if col == 1:
                return _ROLE_TEXT[self.roles.get(name, "ignore")]
        if role == Qt.ItemDataRole.FontRole and col == 1:
            font = QFont()
            font.setBold(self.roles.get(name) == "target")
            return font
        if role == Qt.ItemDataRole.DecorationRole and col == 0 and worst:
            return QColor(200, 30, 30) if worst == "error" else QColor(230, 160, 0)
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(self, index: Index, value: Any,  # noqa: N802 - Qt override
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if index.column() != 1 or value not in ROLES or not self.editable:
            return False
        name = self.rows[index.row()][0]
        if not name or self.roles.get(name) == value:
            return False
        self.role_edited.emit(name, str(value))
        return True

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


class RoleDelegate(QStyledItemDelegate):
    """A combo box (input / target / ignore) to edit a column's role in place."""

    def createEditor(self, parent: QWidget, option: Any, index: Index) -> QWidget:  # noqa: N802
        combo = QComboBox(parent)
        combo.addItems(list(ROLES))
        combo.activated.connect(lambda _i, c=combo: self.commitData.emit(c))
        return combo

    def setEditorData(self, editor: QWidget, index: Index) -> None:  # noqa: N802
        assert isinstance(editor, QComboBox)
        editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole)))

    def setModelData(self, editor: QWidget, model: Any, index: Index) -> None:  # noqa: N802
        assert isinstance(editor, QComboBox)
        model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)
