"""Column roles and the checks that run before training, phrased as messages a scientist can act on.

`validate` never raises for bad data: it returns every problem it finds as an `Issue`, so the
Data panel can show them all at once. Rows are spreadsheet rows (header = row 1, see errors.py).
Only the columns in use (inputs and targets) are checked beyond their names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kanstudio.data.errors import DataError, Issue, Severity
from kanstudio.data.table import RawTable

__all__ = ["ColumnRoles", "ValidationReport", "default_roles", "validate"]

_MAX_VALUE_CHARS = 30


@dataclass
class ColumnRoles:
    """Which columns feed the model (`inputs`), which it predicts (`targets`), which it skips."""

    inputs: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def used(self) -> list[str]:
        return [*self.inputs, *self.targets]

    def to_dict(self) -> dict[str, list[str]]:
        return {"inputs": list(self.inputs), "targets": list(self.targets),
                "ignored": list(self.ignored)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnRoles:
        """Rebuild from `to_dict` output, checking every field (it may come from a file)."""
        values: dict[str, list[str]] = {}
        for key in ("inputs", "targets", "ignored"):
            entry = data.get(key, [])
            if not isinstance(entry, list) or not all(isinstance(v, str) for v in entry):
                raise DataError(f"Column roles: '{key}' must be a list of column names.")
            values[key] = list(entry)
        return cls(**values)


@dataclass
class ValidationReport:
    """Every problem found, plus which rows a dataset built from this table keeps.

    kept_rows: (n_rows,) bool, False for rows dropped because of missing values.
    """

    issues: list[Issue]
    n_rows: int
    kept_rows: np.ndarray = field(repr=False)
    #: rows with a cell in a used column that is not a number (dropped or not)
    non_numeric_rows: int = 0

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def n_dropped(self) -> int:
        return int(self.n_rows - np.count_nonzero(self.kept_rows))


def default_roles(table: RawTable) -> ColumnRoles:
    """Last numeric column is the target, other numeric columns are inputs, the rest ignored.

    A column of numbers written with decimal commas counts as numeric here (validation then
    says what is wrong with its cells), so the intended target is never quietly replaced.
    Unnamed columns (e.g. the index column pandas writes with an empty header) are ignored.
    """
    numeric = [name for i, name in enumerate(table.names) if name and table.looks_numeric(i)]
    numeric_set = set(numeric)
    ignored = [name for name in table.names if name not in numeric_set]
    if not numeric:
        return ColumnRoles(inputs=[], targets=[], ignored=ignored)
    return ColumnRoles(inputs=numeric[:-1], targets=numeric[-1:], ignored=ignored)


def validate(
    table: RawTable, roles: ColumnRoles, *, drop_missing: bool = False,
    drop_non_numeric: bool = False, min_rows: int = 10
) -> ValidationReport:
    """Check `table` for use with `roles`; never raises for bad data.

    drop_missing: rows with an empty cell in a used column are dropped (reported as a
        warning) instead of being an error.
    drop_non_numeric: rows with a cell that is not a number in a used column are dropped
        (reported as a warning) instead of being an error.
    min_rows: fewest usable data rows the model needs.
    """
    issues: list[Issue] = []
    issues += _name_issues(table, roles)
    issues += _role_issues(table, roles)
    kept = np.ones(table.n_rows, dtype=bool)
    found = [name for name in dict.fromkeys(roles.used) if len(table.indices_of(name)) == 1]
    missing_rows = np.zeros(table.n_rows, dtype=bool)
    text_rows = np.zeros(table.n_rows, dtype=bool)
    for name in found:
        text_rows |= table.non_numeric_mask(table.indices_of(name)[0])
    for name in found:
        index = table.indices_of(name)[0]
        column_issues, missing = _cell_issues(
            table, index, drop_missing=drop_missing, drop_non_numeric=drop_non_numeric,
            text_rows=int(np.count_nonzero(text_rows)), is_target=name in roles.targets)
        issues += column_issues
        missing_rows |= missing
    for drop, rows, what in ((drop_non_numeric, text_rows, "whose value is not a number"),
                             (drop_missing, missing_rows, "with missing values")):
        if drop and rows.any():
            kept &= ~rows
            count = int(np.count_nonzero(rows))
            first_row = int(table.row_numbers[np.argmax(rows)])
            issues.append(Issue(
                "warning", None, first_row,
                f"{_plural(count, 'row')} {what} will be dropped "
                f"(the first is row {first_row}).",
            ))
    for name in found:
        issues += _constant_issues(table, name, kept, is_target=name in roles.targets)
        issues += _dwarfing_issues(table, name, kept)
    why = " with missing values" if not (drop_non_numeric and text_rows.any()) else ""
    issues += _row_count_issues(table, kept, min_rows, why)
    return ValidationReport(issues=issues, n_rows=table.n_rows, kept_rows=kept,
                            non_numeric_rows=int(np.count_nonzero(text_rows)))


def _name_issues(table: RawTable, roles: ColumnRoles) -> list[Issue]:
    issues: list[Issue] = []
    used = set(roles.used)
    for position, name in enumerate(table.names, start=1):
        if not name:
            issues.append(Issue(
                "warning", None, 1,
                f"Column {position} has no name in the header (row 1), so it is ignored; "
                "give it a name to use it.",
            ))
    for name, count in Counter(table.names).items():
        if not name or count < 2:
            continue
        positions = ", ".join(str(i + 1) for i in table.indices_of(name))
        severity: Severity = "error" if name in used else "warning"
        issues.append(Issue(
            severity, name, 1,
            f"Column name '{name}' appears {count} times (columns {positions}); "
            "rename them so every column has its own name.",
        ))
    return issues


def _role_issues(table: RawTable, roles: ColumnRoles) -> list[Issue]:
    issues: list[Issue] = []
    available = ", ".join(f"'{name}'" for name in table.names if name) or "none"
    if "" in roles.used:
        issues.append(Issue("error", "", None, "An unnamed column cannot be used; name it."))
    for role, names in (("Target", roles.targets), ("Input", roles.inputs)):
        for name in dict.fromkeys(names):
            if name and not table.indices_of(name):
                issues.append(Issue(
                    "error", name, None,
                    f"{role} column '{name}' not found; the columns are {available}.",
                ))
        for name, count in Counter(names).items():
            if count > 1:
                issues.append(Issue(
                    "error", name, None, f"Column '{name}' is listed {count} times as {role}."
                ))
    for name in dict.fromkeys(roles.inputs):
        if name in roles.targets:
            issues.append(Issue(
                "error", name, None,
                f"Column '{name}' is both an input and a target; choose one role for it.",
            ))
    if not roles.targets:
        issues.append(Issue(
            "error", None, None,
            "No target column: choose the column to predict (no numeric column was found)."
            if not any(table.is_numeric(i) for i in range(table.n_columns))
            else "No target column: choose the column to predict.",
        ))
    if not roles.inputs:
        issues.append(Issue(
            "error", None, None,
            "No input columns: choose at least one numeric column to predict the target from.",
        ))
    return issues


def _cell_issues(
    table: RawTable, index: int, *, drop_missing: bool, drop_non_numeric: bool = False,
    text_rows: int = 0, is_target: bool = False
) -> tuple[list[Issue], np.ndarray]:
    """Non-numeric, missing and infinite cells of one used column; also its missing mask.
    ``text_rows``: how many rows of all used columns hold a value that is not a number
    (what dropping them would cost)."""
    name = table.names[index]
    issues: list[Issue] = []
    missing = table.missing_mask(index)
    if table.n_rows and missing.all():
        issues.append(Issue("error", name, None, f"Column '{name}' is empty: it has no values."))
        return issues, np.zeros(table.n_rows, dtype=bool)
    non_numeric = table.non_numeric_mask(index)
    if non_numeric.any() and not drop_non_numeric:
        issues.append(_non_numeric_issue(table, index, non_numeric, text_rows, is_target))
    if missing.any():
        count = int(np.count_nonzero(missing))
        row = int(table.row_numbers[np.argmax(missing)])
        if drop_missing:
            text = (f"Column '{name}' has {_plural(count, 'missing value')} "
                    f"(the first in row {row}); {'that row' if count == 1 else 'those rows'} "
                    "will be dropped.")
            issues.append(Issue("warning", name, row, text))
        else:
            text = (f"Column '{name}' has {_plural(count, 'missing value')} "
                    f"(the first in row {row}); fill {_them(count)} in or choose to drop "
                    f"{'that row' if count == 1 else 'those rows'}.")
            issues.append(Issue("error", name, row, text))
    infinite = np.isinf(table.numeric_values(index))
    if infinite.any():
        count = int(np.count_nonzero(infinite))
        row = int(table.row_numbers[np.argmax(infinite)])
        issues.append(Issue(
            "error", name, row,
            f"Column '{name}' has {_plural(count, 'infinite value')} "
            f"(the first in row {row}); replace {_them(count)} with finite numbers.",
        ))
    return issues, missing


def _non_numeric_issue(table: RawTable, index: int, non_numeric: np.ndarray,
                       text_rows: int, is_target: bool) -> Issue:
    """What is wrong with the column's text cells and the ways out: fix them, drop their
    rows, or (an input) leave the column out; a hint when they are decimal commas."""
    name = table.names[index]
    count = int(np.count_nonzero(non_numeric))
    position = int(np.argmax(non_numeric))
    row = int(table.row_numbers[position])
    value = _shorten(table.cell_text(index, position))
    text = (f"Column '{name}' has {_plural(count, 'non-numeric value')}; the first is "
            f"'{value}' in row {row}.")
    commas = table.decimal_comma_mask(index)
    if commas.any():
        example = _shorten(table.cell_text(index, int(np.argmax(commas))))
        text += (f" {'It looks' if count == 1 else 'They look'} like numbers written with a "
                 f"decimal comma ('{example}'): export the file with decimal points "
                 "(e.g. 1.5), then open it again.")
    rows = max(text_rows, 1)
    drop = f"drop {'that row' if rows == 1 else f'those {rows} rows'}"
    if is_target:
        text += f" Fix {_them(count)}, or {drop}."
    else:
        text += f" Fix {_them(count)}, {drop}, or leave the column out."
    return Issue("error", name, row, text)


def _constant_issues(
    table: RawTable, name: str, kept: np.ndarray, *, is_target: bool
) -> list[Issue]:
    values = table.numeric_values(table.indices_of(name)[0])[kept]
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return []
    low, high = float(values.min()), float(values.max())
    if low != high:
        span = high / 2.0 - low / 2.0  # halves: ±1.8e308 stay finite
        if span > 1e-12 * max(abs(low), abs(high)) / 2.0:
            return []
        role = "Target" if is_target else "Input"
        return [Issue("warning", name, None, (
            f"{role} '{name}' varies only in its last digits (from {low:.17g} to "
            f"{high:.17g}): differences this small are rounding noise, so there is little "
            "to learn from them."))]
    shown = f"{values[0]:.10g}"
    if is_target:
        message = (f"Target '{name}' is constant (every value is {shown}): there is nothing to "
                   "learn; choose another target.")
        return [Issue("error", name, None, message)]
    message = (f"Input '{name}' is constant (every value is {shown}), so it cannot explain the "
               "target; consider leaving it out.")
    return [Issue("warning", name, None, message)]


# Scaled together with a value this many times their spread, a column's other values agree
# in all but the last few of float64's ~16 digits: the network cannot tell them apart.
_DWARF_RATIO = 1e12


def _dwarfing_issues(table: RawTable, name: str, kept: np.ndarray) -> list[Issue]:
    """A few values (a sentinel such as 1e308, a unit mix-up) so far from the rest that
    scaling the column squashes every other row onto one point."""
    index = table.indices_of(name)[0]
    column = table.numeric_values(index)
    usable = kept & np.isfinite(column)
    distinct = np.unique(column[usable]) / 2.0  # halves: the span of ±1.8e308 stays finite
    m = len(distinct)
    if m < 3:
        return []
    # The narrowest window holding all distinct values but a tenth: the column's bulk.
    size = m - max(1, m // 10)
    widths = distinct[size - 1:] - distinct[: m - size + 1]
    start = int(np.argmin(widths))
    bulk = float(widths[start])
    span = float(distinct[-1] - distinct[0])
    if bulk <= 0 or bulk * _DWARF_RATIO >= span:
        return []
    low, high = distinct[start], distinct[start + size - 1]
    reach = bulk * np.sqrt(_DWARF_RATIO)  # values this near the bulk are not the problem
    far = usable & ((column / 2.0 < low - reach) | (column / 2.0 > high + reach))
    position = int(np.argmax(far))
    row = int(table.row_numbers[position])
    count = int(np.count_nonzero(far))
    others = f" ({_plural(count - 1, 'other row')} too)" if count > 1 else ""
    return [Issue(
        "error", name, row,
        f"Column '{name}' holds {column[position]:.6g} in row {row}{others}, so far from its "
        f"other values (which span {2 * bulk:.6g}) that they become indistinguishable once "
        "the column is scaled. If it marks a missing or invalid value, blank it or remove "
        f"{'that row' if count == 1 else 'those rows'}.",
    )]


def _row_count_issues(table: RawTable, kept: np.ndarray, min_rows: int,
                      why: str = " with missing values") -> list[Issue]:
    usable = int(np.count_nonzero(kept))
    if table.n_rows == 0:
        return [Issue("error", None, None,
                      "The file has a header but no data rows.")]
    if usable >= min_rows:
        return []
    dropped = table.n_rows - usable
    after = f" after dropping {_plural(dropped, 'row')}{why}" if dropped else ""
    return [Issue(
        "error", None, None,
        f"Only {_plural(usable, 'usable data row')}{after}; at least {min_rows} are needed.",
    )]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _them(count: int) -> str:
    return "it" if count == 1 else "them"


def _shorten(text: str) -> str:
    text = " ".join(text.split())  # one line, whatever the cell holds
    if len(text) <= _MAX_VALUE_CHARS:
        return text
    return text[: _MAX_VALUE_CHARS - 3] + "..."
