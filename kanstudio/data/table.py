"""The table a CSV becomes before roles are chosen: raw header names and one array per column.

Numeric columns are float64 arrays (NaN = empty cell), so a million-row file costs no Python
object per cell; text columns keep their cells as str. Which text cells are numbers is
worked out on demand, once per column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["RawTable"]

# A number written with a decimal comma (1,5  -0,25  3,0e-4), as many spreadsheets export.
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d*,\d+(?:[eE][-+]?\d+)?\s*$")


class RawTable:
    """A CSV as read, before roles are chosen. Columns are addressed by position.

    names: header cells, whitespace-trimmed, as written (may be empty or repeated).
    columns: one array per name, (n_rows,) each: float64 for numeric columns (NaN = empty
        cell), or an object array of str for text columns (NaN = empty cell).
    row_numbers: (n_rows,) int64, the spreadsheet row of each data row (header = row 1).
    """

    def __init__(
        self,
        names: Sequence[str],
        columns: Sequence[np.ndarray],
        row_numbers: np.ndarray | None = None,
        *,
        source_path: Path | None = None,
        delimiter: str = ",",
        encoding: str = "utf-8",
    ) -> None:
        if len(names) != len(columns):
            raise ValueError(f"names has {len(names)} entries but columns has {len(columns)}")
        lengths = {len(col) for col in columns}
        if len(lengths) > 1:
            raise ValueError(f"columns have different lengths: {sorted(lengths)}")
        n_rows = lengths.pop() if lengths else 0
        self.names: list[str] = [str(name) for name in names]
        self.columns: list[np.ndarray] = [np.asarray(col) for col in columns]
        if row_numbers is None:
            row_numbers = np.arange(2, n_rows + 2, dtype=np.int64)
        self.row_numbers: np.ndarray = np.asarray(row_numbers, dtype=np.int64)
        self.source_path = source_path
        self.delimiter = delimiter
        self.encoding = encoding
        self._numeric_cache: dict[int, np.ndarray] = {}

    @property
    def n_rows(self) -> int:
        return len(self.row_numbers)

    @property
    def n_columns(self) -> int:
        return len(self.names)

    def indices_of(self, name: str) -> list[int]:
        """Positions of every column called `name` (empty list when there is none)."""
        return [i for i, existing in enumerate(self.names) if existing == name]

    def is_text(self, index: int) -> bool:
        return self.columns[index].dtype.kind not in "fiu"

    def missing_mask(self, index: int) -> np.ndarray:
        """(n_rows,) bool: the cell is empty or a missing-value marker such as NA or ?."""
        column = self.columns[index]
        if self.is_text(index):
            return np.asarray(pd.isna(column), dtype=bool)
        return np.isnan(column.astype(np.float64, copy=False))

    def numeric_values(self, index: int) -> np.ndarray:
        """(n_rows,) float64 values of a column; NaN where a cell is empty or not a number."""
        cached = self._numeric_cache.get(index)
        if cached is not None:
            return cached
        column = self.columns[index]
        if self.is_text(index):
            cells = pd.Series(column, dtype=object)
            try:
                values = pd.to_numeric(cells, errors="coerce")
            except OverflowError:
                # pandas raises instead of coercing on an integer beyond the double range
                # (a 400-digit cell); like 1e999 it is infinite, which validation reports.
                values = pd.to_numeric(cells.map(_beyond_double_as_inf), errors="coerce")
            result = np.asarray(values, dtype=np.float64)
        else:
            result = column.astype(np.float64, copy=False)
        self._numeric_cache[index] = result
        return result

    def non_numeric_mask(self, index: int) -> np.ndarray:
        """(n_rows,) bool: the cell holds text that is not a number (empty cells excluded)."""
        if not self.is_text(index):
            return np.zeros(self.n_rows, dtype=bool)
        return np.isnan(self.numeric_values(index)) & ~self.missing_mask(index)

    def is_numeric(self, index: int) -> bool:
        """A column is numeric when at least half of its non-empty cells are numbers.

        A column of measurements with one typo stays numeric, so validation can point at the
        typo instead of silently ignoring the whole column.
        """
        if not self.is_text(index):
            return True
        filled = int(np.count_nonzero(~self.missing_mask(index)))
        numbers = int(np.count_nonzero(~np.isnan(self.numeric_values(index))))
        return filled > 0 and 2 * numbers >= filled

    def decimal_comma_mask(self, index: int) -> np.ndarray:
        """(n_rows,) bool: the cell is not a number as read but is one with its comma read as
        a decimal point (``1,5``)."""
        non_numeric = self.non_numeric_mask(index)
        if not non_numeric.any():
            return non_numeric
        cells = pd.Series(self.columns[index][non_numeric], dtype=object).astype(str)
        out = np.zeros(self.n_rows, dtype=bool)
        out[non_numeric] = cells.str.match(_DECIMAL_COMMA).to_numpy(dtype=bool)
        return out

    def looks_numeric(self, index: int) -> bool:
        """:meth:`is_numeric`, or would be with decimal commas read as points: a column of
        measurements that the user means as numbers (so it is offered, and its cells get a
        message, rather than the column quietly left out)."""
        if self.is_numeric(index):
            return True
        filled = int(np.count_nonzero(~self.missing_mask(index)))
        numbers = int(np.count_nonzero(~np.isnan(self.numeric_values(index))))
        commas = int(np.count_nonzero(self.decimal_comma_mask(index)))
        return filled > 0 and 2 * (numbers + commas) >= filled

    def cell_text(self, index: int, position: int) -> str:
        """The cell at data position `position` (0-based) as the user would read it."""
        value = self.columns[index][position]
        if isinstance(value, str):
            return value
        if isinstance(value, float | np.floating) and np.isnan(value):
            return ""
        return f"{value:.10g}" if isinstance(value, float | np.floating) else str(value)

    def preview(self, n_rows: int = 50) -> list[list[str]]:
        """The first `n_rows` data rows as text, for a preview table."""
        count = min(n_rows, self.n_rows)
        return [[self.cell_text(i, r) for i in range(self.n_columns)] for r in range(count)]


def _beyond_double_as_inf(cell: object) -> object:
    """An integer cell too large for a double as ±inf; any other cell unchanged."""
    text = cell.strip() if isinstance(cell, str) else cell
    if isinstance(text, int) or (isinstance(text, str) and text.lstrip("+-").isdigit()):
        try:
            return float(text)  # a digit string converts to ±inf past the range
        except OverflowError:  # a Python int does not
            return -math.inf if int(text) < 0 else math.inf
    return cell
