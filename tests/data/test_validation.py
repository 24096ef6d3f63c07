"""Validation messages name the column and the spreadsheet row (header = row 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanstudio.data import (
    ColumnRoles,
    DataError,
    default_roles,
    load_dataset,
    read_csv,
    validate,
)


def make_csv(tmp_path: Path, header: str, rows: list[str], name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def good_rows(n: int = 12) -> list[str]:
    return [f"{i},{(i * 7) % 5 + 0.5},{i * i}" for i in range(n)]


def load_error(path: Path, **kwargs: object) -> DataError:
    with pytest.raises(DataError) as info:
        load_dataset(path, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_non_numeric_cell_names_column_row_value_and_count(tmp_path: Path) -> None:
    rows = good_rows()
    rows[4] = "4,abc,16"  # data row 5 -> spreadsheet row 6
    rows[8] = "8,n/a?,64"
    error = load_error(make_csv(tmp_path, "x,y,f", rows))
    message = str(error)
    assert "'y'" in message and "row 6" in message and "'abc'" in message
    assert "2 non-numeric values" in message
    issue = error.issues[0]
    assert (issue.severity, issue.column, issue.row) == ("error", "y", 6)


def test_missing_values_are_an_error_with_count_and_first_row(tmp_path: Path) -> None:
    rows = good_rows()
    rows[2] = "2,,4"
    rows[5] = "5,NA,25"
    error = load_error(make_csv(tmp_path, "x,y,f", rows))
    assert "Column 'y' has 2 missing values (the first in row 4)" in str(error)


def test_drop_missing_drops_rows_and_reports_how_many(tmp_path: Path) -> None:
    rows = good_rows(14)
    rows[2] = "2,,4"
    rows[5] = "5,1.5,"
    data = load_dataset(make_csv(tmp_path, "x,y,f", rows), drop_missing=True)
    assert data.n_samples == 12
    assert data.n_dropped == 2
    assert 2.0 not in data.X[:, 0] and 5.0 not in data.X[:, 0]
    messages = [issue.message for issue in data.warnings]
    assert any("2 rows with missing values will be dropped" in m for m in messages)
    assert data.row_numbers is not None and 4 not in data.row_numbers.tolist()


def test_missing_values_in_ignored_columns_do_not_matter(tmp_path: Path) -> None:
    rows = [row + ("," if i == 3 else ",note") for i, row in enumerate(good_rows())]
    data = load_dataset(make_csv(tmp_path, "x,y,f,comment", rows), target="f")
    assert data.input_names == ["x", "y"]


def test_infinite_value(tmp_path: Path) -> None:
    rows = good_rows()
    rows[0] = "0,-inf,0"
    error = load_error(make_csv(tmp_path, "x,y,f", rows))
    assert "Column 'y' has 1 infinite value (the first in row 2)" in str(error)


def test_constant_target_is_an_error(tmp_path: Path) -> None:
    rows = [f"{i},{i + 1},3.5" for i in range(12)]
    error = load_error(make_csv(tmp_path, "x,y,f", rows))
    assert "Target 'f' is constant (every value is 3.5)" in str(error)


def test_constant_input_is_a_warning(tmp_path: Path) -> None:
    rows = [f"{i},2,{i * i}" for i in range(12)]
    data = load_dataset(make_csv(tmp_path, "x,y,f", rows))
    assert [issue.column for issue in data.warnings] == ["y"]
    assert "Input 'y' is constant" in data.warnings[0].message


def test_duplicate_column_names(tmp_path: Path) -> None:
    error = load_error(make_csv(tmp_path, "x,x,f", good_rows()))
    assert "Column name 'x' appears 2 times (columns 1, 2)" in str(error)


def test_duplicate_names_of_ignored_columns_only_warn(tmp_path: Path) -> None:
    rows = [row + ",a,b" for row in good_rows()]
    table = read_csv(make_csv(tmp_path, "x,y,f,note,note", rows))
    report = validate(table, ColumnRoles(["x", "y"], ["f"], ["note"]))
    assert report.ok
    assert "appears 2 times" in report.warnings[0].message


def test_empty_column_name_is_reported_and_ignored(tmp_path: Path) -> None:
    rows = [f"{i},{row}" for i, row in enumerate(good_rows())]
    path = make_csv(tmp_path, ",x,y,f", rows)  # like pandas' to_csv index column
    data = load_dataset(path)
    assert data.input_names == ["x", "y"]
    assert "Column 1 has no name in the header (row 1)" in data.warnings[0].message


def test_too_few_rows(tmp_path: Path) -> None:
    error = load_error(make_csv(tmp_path, "x,y,f", good_rows(4)))
    assert "Only 4 usable data rows; at least 10 are needed" in str(error)
    assert load_dataset(make_csv(tmp_path, "x,y,f", good_rows(4)), min_rows=3).n_samples == 4


def test_too_few_rows_after_dropping(tmp_path: Path) -> None:
    rows = good_rows(11)
    rows[0] = "0,,0"
    rows[1] = "1,,1"
    error = load_error(make_csv(tmp_path, "x,y,f", rows), drop_missing=True)
    assert "Only 9 usable data rows after dropping 2 rows with missing values" in str(error)


def test_header_without_data(tmp_path: Path) -> None:
    error = load_error(make_csv(tmp_path, "x,y,f", []))
    assert "no data rows" in str(error)


def test_target_not_found_lists_columns(tmp_path: Path) -> None:
    error = load_error(make_csv(tmp_path, "x,y,f", good_rows()), target="force")
    assert str(error) == "Target column 'force' not found; the columns are 'x', 'y', 'f'."


def test_input_not_found(tmp_path: Path) -> None:
    error = load_error(make_csv(tmp_path, "x,y,f", good_rows()), inputs=["x", "z"])
    assert "Input column 'z' not found" in str(error)


def test_column_both_input_and_target(tmp_path: Path) -> None:
    error = load_error(make_csv(tmp_path, "x,y,f", good_rows()), target="y", inputs=["x", "y"])
    assert "Column 'y' is both an input and a target" in str(error)


def test_no_inputs(tmp_path: Path) -> None:
    rows = [f"sample{i},{i * i}" for i in range(12)]
    error = load_error(make_csv(tmp_path, "name,f", rows))
    assert "No input columns" in str(error)


def test_text_column_chosen_as_input(tmp_path: Path) -> None:
    rows = [f"{row},sample{i}" for i, row in enumerate(good_rows())]
    error = load_error(make_csv(tmp_path, "x,y,f,label", rows), target="f", inputs=["x", "label"])
    assert "Column 'label' has 12 non-numeric values; the first is 'sample0' in row 2" in str(error)


def test_all_issues_are_exposed_on_the_error(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1] = "1,abc,1"
    rows[3] = "3,4,inf"
    error = load_error(make_csv(tmp_path, "x,y,f", rows))
    assert {issue.column for issue in error.issues} == {"y", "f"}
    assert all(issue.severity == "error" for issue in error.issues)


def test_default_roles_last_numeric_is_target(tmp_path: Path) -> None:
    rows = [f"s{i},{row},2024-01-{i + 1:02d}" for i, row in enumerate(good_rows())]
    table = read_csv(make_csv(tmp_path, "id,x,y,f,date", rows))
    roles = default_roles(table)
    assert roles == ColumnRoles(inputs=["x", "y"], targets=["f"], ignored=["id", "date"])


def test_default_roles_keep_a_column_with_one_typo(tmp_path: Path) -> None:
    rows = good_rows()
    rows[3] = "3,4,1O"  # letter O instead of zero
    table = read_csv(make_csv(tmp_path, "x,y,f", rows))
    assert default_roles(table).targets == ["f"]
    report = validate(table, default_roles(table))
    assert "'1O' in row 5" in report.errors[0].message


def test_roles_round_trip_through_dict() -> None:
    roles = ColumnRoles(["a", "b"], ["f"], ["note"])
    assert ColumnRoles.from_dict(roles.to_dict()) == roles
    with pytest.raises(DataError, match="'inputs' must be a list"):
        ColumnRoles.from_dict({"inputs": "a"})


def test_rows_whose_value_is_not_a_number_can_be_dropped_with_their_count(
        tmp_path: Path) -> None:
    rows = good_rows(14)
    rows[4] = "4,abc,16"
    rows[8] = "8,n/a?,64"
    path = make_csv(tmp_path, "x,y,f", rows)
    message = str(load_error(path))
    assert "drop those 2 rows" in message and "leave the column out" in message
    report = validate(read_csv(path), ColumnRoles(["x", "y"], ["f"]))
    assert report.non_numeric_rows == 2
    data = load_dataset(path, drop_non_numeric=True)
    assert data.n_samples == 12 and data.n_dropped == 2
    assert any("2 rows whose value is not a number will be dropped" in str(w)
               for w in data.warnings)


def test_cells_with_a_decimal_comma_get_a_hint(tmp_path: Path) -> None:
    # Quoted in a comma-separated file (a ';' file with only decimal commas reads as is).
    rows = [f'{i},"{i % 5},5",{i * 2}.25' for i in range(12)]
    message = str(load_error(make_csv(tmp_path, "x,y,f", rows)))
    assert "decimal comma" in message and "'0,5'" in message


def test_a_target_written_with_decimal_commas_is_not_silently_replaced(
        tmp_path: Path) -> None:
    # The last column is the one to predict; its decimal commas make it text. It must stay
    # the target (with a message) rather than quietly giving way to another column.
    rows = [f'{i},{i % 5 + 0.5},"{i * 2},25"' for i in range(12)]
    table = read_csv(make_csv(tmp_path, "x,y,f", rows))
    assert default_roles(table).targets == ["f"]
    report = validate(table, default_roles(table))
    assert not report.ok and "decimal comma" in report.errors[0].message
    assert report.errors[0].column == "f"


def test_a_control_character_in_a_column_name_is_written_as_an_escape():
    """A refusal naming a column stays one line, whatever characters the name holds."""
    from kanstudio.data.errors import DataError, Issue

    err = DataError("Column '0\x1e0' holds 1e+12 in row 13")
    assert str(err).splitlines() == ["Column '0\\x1e0' holds 1e+12 in row 13"]
    assert Issue("error", "a\u2028b", 2, "Column 'a\u2028b' is empty").message == (
        "Column 'a\\u2028b' is empty")
