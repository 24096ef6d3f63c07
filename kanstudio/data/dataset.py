"""The typed dataset a session trains on: float64 inputs and targets with their column names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kanstudio.data.csv_import import read_csv
from kanstudio.data.errors import DataError, Issue
from kanstudio.data.names import safe_symbol_names
from kanstudio.data.table import RawTable
from kanstudio.data.validation import ColumnRoles, default_roles, validate

__all__ = ["Dataset", "build_dataset", "load_dataset", "resolve_roles"]


@dataclass
class Dataset:
    """Inputs and targets ready for a model.

    X: (n_samples, n_inputs) float64, finite.
    y: (n_samples, n_outputs) float64, finite.
    source_path: the CSV it came from (None when built from arrays).
    n_dropped: rows left out because they had missing values.
    warnings: issues that did not stop loading (constant input, dropped rows, ...).
    row_numbers: (n_samples,) spreadsheet row of each sample (header = row 1), or None.
    """

    X: np.ndarray
    y: np.ndarray
    input_names: list[str]
    target_names: list[str]
    source_path: Path | None = None
    n_dropped: int = 0
    warnings: list[Issue] = field(default_factory=list)
    row_numbers: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_arrays(
        cls,
        X: np.ndarray,
        y: np.ndarray,
        input_names: Sequence[str] | None = None,
        target_names: Sequence[str] | None = None,
    ) -> Dataset:
        """Wrap arrays: X (n,) or (n, n_in), y (n,) or (n, n_out); names default to x1.., y1.."""
        inputs = _as_matrix(X, "X")
        targets = _as_matrix(y, "y")
        if inputs.shape[0] != targets.shape[0]:
            raise DataError(
                f"X has {inputs.shape[0]} rows but y has {targets.shape[0]}; they must match."
            )
        in_names = _names(input_names, inputs.shape[1], "input_names", "x")
        out_names = _names(target_names, targets.shape[1], "target_names", "y")
        both = set(in_names) & set(out_names)
        if len(set(in_names)) != len(in_names) or len(set(out_names)) != len(out_names) or both:
            raise DataError("Column names must be unique across inputs and targets.")
        return cls(X=inputs, y=targets, input_names=in_names, target_names=out_names)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.y.shape[1])

    def symbol_names(self) -> tuple[list[str], list[str]]:
        """(input symbols, target symbols): the column names as valid sympy/Python names."""
        symbols = safe_symbol_names([*self.input_names, *self.target_names])
        return symbols[: self.n_inputs], symbols[self.n_inputs :]

    def subset(self, rows: np.ndarray) -> Dataset:
        """The samples at `rows` (indices or a boolean mask), e.g. a train or test split."""
        return Dataset(
            X=self.X[rows],
            y=self.y[rows],
            input_names=list(self.input_names),
            target_names=list(self.target_names),
            source_path=self.source_path,
            n_dropped=self.n_dropped,
            warnings=list(self.warnings),
            row_numbers=None if self.row_numbers is None else self.row_numbers[rows],
        )


def resolve_roles(
    table: RawTable,
    target: str | Sequence[str] | None = None,
    inputs: Sequence[str] | None = None,
) -> ColumnRoles:
    """Roles from the user's choice, filling what they left out from `default_roles`.

    With only a target given, every other numeric (named) column is an input; with only
    inputs given, the last numeric column outside them is the target.
    """
    defaults = default_roles(table)
    numeric = [*defaults.inputs, *defaults.targets]
    if target is None:
        chosen_inputs = set(inputs) if inputs is not None else set()
        candidates = [name for name in numeric if name not in chosen_inputs]
        targets = candidates[-1:]
    else:
        targets = [target] if isinstance(target, str) else list(target)
    if inputs is None:
        input_list = [name for name in numeric if name not in targets]
    else:
        input_list = list(inputs)
    used = set(targets) | set(input_list)
    ignored = [name for name in dict.fromkeys(table.names) if name not in used]
    return ColumnRoles(inputs=input_list, targets=targets, ignored=ignored)


def build_dataset(
    table: RawTable, roles: ColumnRoles, *, drop_missing: bool = False,
    drop_non_numeric: bool = False, min_rows: int = 10
) -> Dataset:
    """Validate `table` for `roles` and build the arrays; DataError on the first error.

    The error's message is the first problem's; `error.issues` lists all of them.
    """
    report = validate(table, roles, drop_missing=drop_missing,
                      drop_non_numeric=drop_non_numeric, min_rows=min_rows)
    if report.errors:
        raise DataError(report.errors[0].message, issues=report.issues)
    kept = report.kept_rows
    return Dataset(
        X=_stack(table, roles.inputs, kept),
        y=_stack(table, roles.targets, kept),
        input_names=list(roles.inputs),
        target_names=list(roles.targets),
        source_path=table.source_path,
        n_dropped=report.n_dropped,
        warnings=report.warnings,
        row_numbers=table.row_numbers[kept],
    )


def load_dataset(
    path: str | Path,
    target: str | list[str] | None = None,
    inputs: list[str] | None = None,
    *,
    drop_missing: bool = False,
    drop_non_numeric: bool = False,
    min_rows: int = 10,
) -> Dataset:
    """Read the CSV at `path` and build a validated `Dataset`.

    target: column name(s) to predict; default the last numeric column.
    inputs: columns to predict from; default every other numeric column.
    drop_missing: drop rows with an empty cell in a used column instead of failing.
    drop_non_numeric: drop rows with a value that is not a number in a used column.
    min_rows: fewest usable rows accepted.
    Raises DataError (a ValueError) with a one-line message; `.issues` lists every problem.
    """
    table = read_csv(path)
    roles = resolve_roles(table, target, inputs)
    return build_dataset(table, roles, drop_missing=drop_missing,
                         drop_non_numeric=drop_non_numeric, min_rows=min_rows)


def _stack(table: RawTable, names: Sequence[str], kept: np.ndarray) -> np.ndarray:
    """(n_kept, len(names)) float64 in one allocation, column by column."""
    n_kept = int(np.count_nonzero(kept))
    every_row = n_kept == table.n_rows
    out = np.empty((n_kept, len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        values = table.numeric_values(table.indices_of(name)[0])
        out[:, j] = values if every_row else values[kept]
    return out


def _as_matrix(values: np.ndarray, label: str) -> np.ndarray:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{label} must be numeric.") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DataError(f"{label} must be 1-D or 2-D, got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{label} contains NaN or infinite values.")
    return np.ascontiguousarray(array)


def _names(names: Sequence[str] | None, count: int, label: str, prefix: str) -> list[str]:
    if names is None:
        return [f"{prefix}{i + 1}" for i in range(count)]
    result = [str(name) for name in names]
    if len(result) != count:
        raise DataError(f"{label} has {len(result)} names for {count} columns.")
    return result
