"""CSV -> validated, typed dataset: reading, column roles, validation, splits and scaling.

Typical use::

    from kanstudio.data import load_dataset, train_test_split, Scaler
    data = load_dataset("measurements.csv", target="f")          # DataError if unusable
    train_idx, test_idx = train_test_split(data.n_samples, 0.2, seed=0)
    x_scaler = Scaler("standard").fit(data.X[train_idx])

For a GUI: `read_csv` -> `default_roles` / `resolve_roles` -> `validate` (list every issue)
-> `build_dataset`. Row numbers in messages are spreadsheet rows (header = row 1).
No Qt and no torch here.
"""

from kanstudio.data.csv_import import detect_delimiter, read_csv
from kanstudio.data.dataset import Dataset, build_dataset, load_dataset, resolve_roles
from kanstudio.data.errors import DataError, Issue, Severity
from kanstudio.data.names import printed_symbol_names, safe_symbol_names
from kanstudio.data.scaling import SCALER_MODES, Scaler, ScalerMode
from kanstudio.data.splits import train_test_split
from kanstudio.data.table import RawTable
from kanstudio.data.validation import ColumnRoles, ValidationReport, default_roles, validate

__all__ = [
    "SCALER_MODES",
    "ColumnRoles",
    "DataError",
    "Dataset",
    "Issue",
    "RawTable",
    "Scaler",
    "ScalerMode",
    "Severity",
    "ValidationReport",
    "build_dataset",
    "default_roles",
    "detect_delimiter",
    "load_dataset",
    "read_csv",
    "resolve_roles",
    "printed_symbol_names",
    "safe_symbol_names",
    "train_test_split",
    "validate",
]
