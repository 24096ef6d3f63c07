"""Reading real-world CSV files: delimiters, quoting, encodings, and files that are not CSV."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from kanstudio.data import DataError, detect_delimiter, load_dataset, read_csv

ROWS = [(i, i * 0.5, i * i) for i in range(12)]


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def body(delimiter: str = ",", header: str = "x,y,f", end: str = "") -> str:
    lines = [header.replace(",", delimiter) + end]
    lines += [delimiter.join(str(v) for v in row) + end for row in ROWS]
    return "\n".join(lines) + "\n"


def assert_standard_table(path: Path) -> None:
    data = load_dataset(path)
    assert data.input_names == ["x", "y"]
    assert data.target_names == ["f"]
    np.testing.assert_allclose(data.X[:, 1], [row[1] for row in ROWS])
    np.testing.assert_allclose(data.y[:, 0], [row[2] for row in ROWS])


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_are_detected(tmp_path: Path, delimiter: str) -> None:
    path = write_text(tmp_path / "d.csv", body(delimiter))
    assert read_csv(path).delimiter == delimiter
    assert_standard_table(path)


def test_quoted_fields_with_delimiter_inside(tmp_path: Path) -> None:
    text = '"x","mass, kg","label",f\n' + "".join(
        f'{i},"{i}.5","a, {i}",{i * 2}\n' for i in range(12)
    )
    table = read_csv(write_text(tmp_path / "q.csv", text))
    assert table.names == ["x", "mass, kg", "label", "f"]
    assert table.numeric_values(1)[3] == 3.5
    assert table.columns[2][0] == "a, 0"
    data = load_dataset(tmp_path / "q.csv")
    assert data.input_names == ["x", "mass, kg"]  # the text column is ignored by default


def test_utf8_bom_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + body().encode("utf-8"))
    assert read_csv(path).names == ["x", "y", "f"]
    assert_standard_table(path)


def test_latin1_header_is_decoded(tmp_path: Path) -> None:
    text = "température,pression\n" + "".join(f"{i},{2 * i}\n" for i in range(12))
    path = write_text(tmp_path / "latin.csv", text, encoding="latin-1")
    table = read_csv(path)
    assert table.names == ["température", "pression"]
    assert table.encoding in ("cp1252", "latin-1")
    data = load_dataset(path)
    assert data.input_names == ["température"]


def test_latin1_value_after_a_long_ascii_start(tmp_path: Path) -> None:
    rows = [f"{i},{i % 7},plain" for i in range(8000)] + ["8000,1,café"]
    path = write_text(tmp_path / "late.csv", "x,f,label\n" + "\n".join(rows) + "\n", "latin-1")
    assert path.stat().st_size > 64 * 1024
    table = read_csv(path)
    assert table.columns[2][-1] == "café"
    assert table.encoding != "utf-8-sig"


def test_mutated_files_raise_only_data_error(tmp_path: Path) -> None:
    """Whatever a damaged file holds, the user gets a DataError message, not a traceback."""
    rng = np.random.default_rng(0)
    pieces = [",", ";", "\t", '"', "\n", "\r", "a", "1", ".", "e", "-", "\x00", "é", " ", "?",
              "inf", "\ufeff"]
    base = body()
    path = tmp_path / "mutated.csv"
    for case in range(300):
        text = list(base)
        for _ in range(int(rng.integers(1, 6))):
            position = int(rng.integers(0, len(text)))
            text[position] = pieces[int(rng.integers(len(pieces)))]
        path.write_bytes("".join(text).encode("utf-16" if case % 10 == 0 else "utf-8"))
        try:
            load_dataset(path, drop_missing=bool(case % 2))
        except DataError as error:
            assert "\n" not in str(error)


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = write_text(tmp_path / "u16.csv", body("\t"), encoding="utf-16")
    assert_standard_table(path)


def test_scientific_notation_and_signs(tmp_path: Path) -> None:
    text = "x,f\n" + "".join(f"{i}e-3,{-i}.5E+2\n" for i in range(12))
    data = load_dataset(write_text(tmp_path / "sci.csv", text))
    assert data.X[3, 0] == pytest.approx(3e-3)
    assert data.y[3, 0] == pytest.approx(-3.5e2)


def test_blank_lines_are_skipped_and_rows_keep_file_numbers(tmp_path: Path) -> None:
    lines = body().splitlines()
    text = "\n\n" + lines[0] + "\n\n" + "\n".join(lines[1:5]) + "\n  \n" + "\n".join(lines[5:])
    path = write_text(tmp_path / "blank.csv", text + "\n\n\n")
    table = read_csv(path)
    assert table.n_rows == len(ROWS)
    # header on line 3, blank line 4, first data row on line 5
    assert table.row_numbers[:5].tolist() == [5, 6, 7, 8, 10]
    assert_standard_table(path)


@pytest.mark.parametrize("header_end", [",", ""])
def test_trailing_delimiter_column_is_dropped(tmp_path: Path, header_end: str) -> None:
    lines = body().splitlines()
    text = lines[0] + header_end + "\n" + "".join(line + ",\n" for line in lines[1:])
    path = write_text(tmp_path / "trail.csv", text)
    assert read_csv(path).names == ["x", "y", "f"]
    assert_standard_table(path)


def test_crlf_line_endings_and_spaces_after_delimiters(tmp_path: Path) -> None:
    text = body().replace(",", ", ").replace("\n", "\r\n")
    assert_standard_table(write_text(tmp_path / "crlf.csv", text))


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    text = "x;f\n" + "".join(f"{i},25;{i},5\n" for i in range(12))
    data = load_dataset(write_text(tmp_path / "eu.csv", text))
    assert data.X[2, 0] == 2.25
    assert data.y[2, 0] == 2.5


def test_missing_markers_become_empty_cells(tmp_path: Path) -> None:
    text = "x,f\n1,NA\n2,?\n3,\n4,5\n"
    table = read_csv(write_text(tmp_path / "na.csv", text))
    assert table.missing_mask(1).tolist() == [True, True, True, False]


def test_detect_delimiter_prefers_header_consistent_choice() -> None:
    assert detect_delimiter(["a;b;c", "1,5;2,5;3", "2,5;3;4,75"]) == ";"
    assert detect_delimiter(["a\tb", "x, y\t2"]) == "\t"
    assert detect_delimiter(["only", "1", "2"]) == ","


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="File not found: .*nope.csv"):
        read_csv(tmp_path / "nope.csv")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a folder"):
        read_csv(tmp_path)


@pytest.mark.parametrize("content", [b"", b"\n\n   \n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match="empty"):
        read_csv(path)


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError, match="not a text CSV file"):
        read_csv(path)


def test_excel_workbook_is_named(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_bytes(b"PK\x03\x04" + os.urandom(200))
    with pytest.raises(DataError, match="Excel .xlsx.*export it as CSV"):
        read_csv(path)


def test_no_header_row(tmp_path: Path) -> None:
    path = write_text(tmp_path / "nohead.csv", "1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match="no header row: row 1 holds numbers"):
        read_csv(path)


@pytest.mark.parametrize(
    ("line", "extra", "message"),
    [
        (4, ",99", "Row 5 of 'ragged.csv' has more values than the header has columns (3)"),
        (1, ",99", "Row 2 of 'ragged.csv' has more values than the header has columns (3)"),
        (4, ",1,2", "Row 5 of 'ragged.csv' has 5 values but the header has 3 columns"),
        (1, ",1,2", "A row of 'ragged.csv' has more values than the header has columns (3)"),
    ],
)
def test_row_with_extra_values_is_never_silently_cut(
    tmp_path: Path, line: int, extra: str, message: str
) -> None:
    lines = body().splitlines()
    lines[line] += extra
    path = write_text(tmp_path / "ragged.csv", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=re.escape(message)):
        read_csv(path)


def test_row_with_fewer_values_has_missing_cells(tmp_path: Path) -> None:
    lines = body().splitlines()
    lines[3] = "2,1.0"
    error_message = "Column 'f' has 1 missing value (the first in row 4)"
    with pytest.raises(DataError, match=re.escape(error_message)):
        load_dataset(write_text(tmp_path / "short.csv", "\n".join(lines) + "\n"))


def test_unclosed_quote_names_the_row(tmp_path: Path) -> None:
    lines = body().splitlines()
    lines[6] = '6,"3.0,36'
    path = write_text(tmp_path / "quote.csv", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r'Row 7 .* opens a quote \(\"\) that is never closed'):
        read_csv(path)


def test_header_only_file_reads_as_zero_rows(tmp_path: Path) -> None:
    table = read_csv(write_text(tmp_path / "head.csv", "x,y,f\n"))
    assert table.names == ["x", "y", "f"]
    assert table.n_rows == 0


def test_preview_returns_text_cells(tmp_path: Path) -> None:
    table = read_csv(write_text(tmp_path / "p.csv", "x,name\n1.5,a\n2,b\n"))
    assert table.preview(1) == [["1.5", "a"]]
