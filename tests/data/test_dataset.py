"""Dataset building: arrays, names and roles as a session receives them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kanstudio.data import (
    ColumnRoles,
    DataError,
    Dataset,
    build_dataset,
    load_dataset,
    read_csv,
    resolve_roles,
)


def write_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    values = rng.uniform(-1, 1, size=(20, 3))
    lines = ["a,b,label,f"]
    lines += [f"{a:.6f},{b:.6f},s{i},{c:.6f}" for i, (a, b, c) in enumerate(values)]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_dataset_shapes_types_and_metadata(tmp_path: Path) -> None:
    path = write_csv(tmp_path)
    data = load_dataset(path)
    assert data.X.shape == (20, 2) and data.y.shape == (20, 1)
    assert data.X.dtype == np.float64 and data.y.dtype == np.float64
    assert data.input_names == ["a", "b"] and data.target_names == ["f"]
    assert data.source_path == path
    assert data.n_dropped == 0 and data.warnings == []
    assert data.row_numbers is not None and data.row_numbers[0] == 2


def test_explicit_target_and_inputs(tmp_path: Path) -> None:
    data = load_dataset(write_csv(tmp_path), target="a", inputs=["f"])
    assert data.input_names == ["f"] and data.target_names == ["a"]
    both = load_dataset(write_csv(tmp_path), target=["a", "f"])
    assert both.input_names == ["b"] and both.y.shape == (20, 2)


def test_resolve_roles_with_only_inputs(tmp_path: Path) -> None:
    table = read_csv(write_csv(tmp_path))
    roles = resolve_roles(table, inputs=["a", "f"])
    assert roles == ColumnRoles(inputs=["a", "f"], targets=["b"], ignored=["label"])


def test_build_dataset_from_table_matches_file_values(tmp_path: Path) -> None:
    path = write_csv(tmp_path)
    table = read_csv(path)
    data = build_dataset(table, ColumnRoles(["b"], ["a"], ["label", "f"]))
    np.testing.assert_array_equal(data.X[:, 0], table.numeric_values(1))
    np.testing.assert_array_equal(data.y[:, 0], table.numeric_values(0))


def test_from_arrays_accepts_vectors_and_names_defaults() -> None:
    data = Dataset.from_arrays(np.arange(5.0), np.arange(5.0) ** 2)
    assert data.X.shape == (5, 1) and data.y.shape == (5, 1)
    assert data.input_names == ["x1"] and data.target_names == ["y1"]
    named = Dataset.from_arrays(np.ones((3, 2)), np.zeros(3), ["p", "q"], ["r"])
    assert named.input_names == ["p", "q"]


@pytest.mark.parametrize(
    ("X", "y", "names", "message"),
    [
        (np.ones((3, 2)), np.ones(4), None, "X has 3 rows but y has 4"),
        (np.ones((3, 2)), np.ones(3), ["a"], "input_names has 1 names for 2 columns"),
        (np.array([[1.0], [np.nan]]), np.ones(2), None, "X contains NaN"),
        (np.ones((2, 2, 2)), np.ones(2), None, "X must be 1-D or 2-D"),
        (np.ones((2, 2)), np.ones(2), ["a", "a"], "unique"),
    ],
)
def test_from_arrays_rejects_bad_arrays(
    X: np.ndarray, y: np.ndarray, names: list[str] | None, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        Dataset.from_arrays(X, y, names)


def test_subset_and_symbol_names() -> None:
    data = Dataset.from_arrays(np.arange(8.0).reshape(4, 2), np.arange(4.0), ["E", "mass (kg)"],
                               ["lambda"])
    part = data.subset(np.array([0, 2]))
    assert part.X.tolist() == [[0.0, 1.0], [4.0, 5.0]]
    assert part.y.ravel().tolist() == [0.0, 2.0]
    assert data.symbol_names() == (["E_", "mass_kg"], ["lambda_"])
