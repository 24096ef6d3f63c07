"""Read a CSV file as it comes from a lab: detect encoding and delimiter, keep raw header names.

The result is a `RawTable` (table.py): header names exactly as written (possibly empty or
repeated, which validation reports) and one array per column. Every problem with the file
itself raises `DataError` with a one-line message; no other exception escapes for a bad file.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kanstudio.data.errors import DataError
from kanstudio.data.table import RawTable

__all__ = ["detect_delimiter", "read_csv"]

DELIMITERS = (",", ";", "\t")
_SAMPLE_BYTES = 64 * 1024
_SAMPLE_LINES = 50
# Cells that mean "no value" besides pandas' defaults ("", NA, NaN, null, N/A, #N/A, ...):
# "?" is how many public datasets (UCI among them) mark a missing measurement.
_EXTRA_NA = ["?"]
_BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive or an Excel .xlsx workbook",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
    b"\x93NUMPY": "a NumPy .npy file",
    b"\x89HDF": "an HDF5 file",
}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+([eE][+-]?\d+)?$")
_DECIMAL_POINT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?$")
_FIELDS_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_QUOTE_ERROR = re.compile(r"EOF inside string starting at row (\d+)")
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def read_csv(path: str | Path) -> RawTable:
    """Read a delimited text file with a header row into a `RawTable`.

    Handles `,` `;` or tab delimiters (detected), quoted fields, UTF-8 with or without BOM,
    UTF-16 with BOM, Windows-1252/Latin-1 fallback, scientific notation, blank lines, and a
    trailing delimiter on every line. Raises `DataError` for anything it cannot read.
    """
    file = Path(path)
    head = _read_head(file)
    _reject_binary(file, head)
    encodings = _candidate_encodings(head)
    last_error: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            sample = _decode_sample(head, encoding, truncated=len(head) == _SAMPLE_BYTES)
        except UnicodeDecodeError as err:
            last_error = err
            continue
        try:
            return _read_decoded(file, sample, encoding)
        except UnicodeDecodeError as err:
            # The sample decoded but a later line did not: try the next encoding.
            last_error = err
    position = f" (byte {last_error.start})" if last_error is not None else ""
    raise DataError(
        f"Cannot decode '{file.name}'{position}: save it as UTF-8 text (CSV UTF-8 in Excel)."
    )


def detect_delimiter(lines: Sequence[str]) -> str:
    """Pick `,` `;` or tab from the first lines (header first) by counting fields per line.

    A delimiter wins when the header has as many fields as most data lines, then by how
    consistent the counts are, then by the number of fields. With no candidate producing at
    least two fields the file is a single column and `,` is returned.
    """
    best: tuple[bool, float, int] | None = None
    best_delimiter = ","
    for delimiter in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if not counts:
            continue
        mode, frequency = Counter(counts).most_common(1)[0]
        header_matches = mode >= 2 and counts[0] in (mode, mode + 1, mode - 1)
        score = (header_matches, frequency / len(counts), mode)
        if mode >= 2 and (best is None or score > best):
            best, best_delimiter = score, delimiter
    return best_delimiter


def _read_head(file: Path) -> bytes:
    try:
        with file.open("rb") as handle:
            head = handle.read(_SAMPLE_BYTES)
    except FileNotFoundError:
        raise DataError(f"File not found: {file}") from None
    except IsADirectoryError:
        raise DataError(f"'{file}' is a folder, not a CSV file.") from None
    except PermissionError:
        raise DataError(f"Permission denied reading '{file}'.") from None
    except OSError as err:
        raise DataError(f"Cannot open '{file}': {err.strerror or err}.") from None
    if not head.strip():
        raise DataError(f"The file '{file.name}' is empty: it has no header and no data.")
    return head


def _reject_binary(file: Path, head: bytes) -> None:
    for signature, kind in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise DataError(f"'{file.name}' is {kind}, not a CSV file: export it as CSV first.")
    if head.startswith(_UTF16_BOMS):
        return
    control = sum(head.count(bytes([code])) for code in (*range(0, 9), *range(14, 32), 127))
    if b"\x00" in head or control > 0.01 * len(head):
        raise DataError(
            f"'{file.name}' is not a text CSV file (it contains binary data): "
            "choose a comma-, semicolon- or tab-separated text file."
        )


def _candidate_encodings(head: bytes) -> list[str]:
    if head.startswith(_UTF16_BOMS):
        return ["utf-16"]
    # UTF-8 first (a BOM is skipped), then Windows-1252 (what Excel writes on Windows), then
    # Latin-1, which decodes any byte sequence.
    return ["utf-8-sig", "cp1252", "latin-1"]


def _decode_sample(head: bytes, encoding: str, *, truncated: bool) -> str:
    if truncated:
        # Drop the last, possibly cut, line so a multi-byte character is never split.
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut > 0 else head
    return head.decode(encoding)


def _read_decoded(file: Path, sample: str, encoding: str) -> RawTable:
    # Split like the parser does (\r\n, \n or \r), not str.splitlines, which also breaks
    # on form feeds and other rare separators and would shift row numbers.
    lines = _LINE_BREAK.split(sample)
    header_line = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_line is None:
        raise DataError(f"The file '{file.name}' is empty: it has only blank lines.")
    content = [line for line in lines[header_line:] if line.strip()][:_SAMPLE_LINES]
    delimiter = detect_delimiter(content)
    header = next(csv.reader([lines[header_line]], delimiter=delimiter))
    names = [name.strip() for name in header]
    _reject_headerless(file, names, header_line + 1)
    decimal = _detect_decimal(content[1:], delimiter)
    # One slot more than the header: a trailing delimiter lands there as an empty cell, and a
    # real extra value is caught below instead of being dropped by the parser.
    frame = _parse(file, encoding, delimiter, decimal, len(names), header_line + 1)
    first_row = header_line + 2  # spreadsheet row of the first line after the header
    row_numbers = np.arange(first_row, first_row + len(frame), dtype=np.int64)
    overflow = frame[len(names)].notna().to_numpy()
    if overflow.any():
        row = int(row_numbers[np.argmax(overflow)])
        raise DataError(_too_many_values(file, row, len(names), delimiter))
    columns = [_column_array(frame[i]) for i in range(len(names))]
    del frame
    return _finish_table(
        file, names, columns, row_numbers, delimiter=delimiter, encoding=encoding
    )


def _reject_headerless(file: Path, names: list[str], header_row: int) -> None:
    filled = [name for name in names if name]
    if filled and all(_is_number(name) for name in filled):
        preview = ", ".join(filled[:4])
        raise DataError(
            f"'{file.name}' has no header row: row {header_row} holds numbers ({preview}). "
            "Add a first row with one name per column, e.g. x,y,f."
        )


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


def _detect_decimal(data_lines: list[str], delimiter: str) -> str:
    """`,` when a `;`/tab file writes decimals with a comma (1,5) and never with a point."""
    if delimiter == ",":
        return "."
    cells = [cell.strip() for row in csv.reader(data_lines, delimiter=delimiter) for cell in row]
    commas = sum(1 for cell in cells if _DECIMAL_COMMA.match(cell))
    points = sum(1 for cell in cells if _DECIMAL_POINT.match(cell))
    return "," if commas > 0 and points == 0 else "."


def _parse(
    file: Path, encoding: str, delimiter: str, decimal: str, n_columns: int, skip: int
) -> pd.DataFrame:
    """Columns 0..n_columns (one more than the header) of the lines after the header."""
    try:
        with warnings.catch_warnings():
            # low_memory parsing (about 30% faster) may type a column per chunk; text and
            # numbers mixed in one column are sorted out later, so the warning is noise.
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            # pandas warns, then silently drops values, when rows are wider than the names.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                file,
                sep=delimiter,
                decimal=decimal,
                header=None,
                names=list(range(n_columns + 1)),
                index_col=False,  # never turn the first column into an index
                skiprows=skip,
                skip_blank_lines=False,
                skipinitialspace=True,
                na_values=_EXTRA_NA,
                encoding=encoding,
                engine="c",
                low_memory=True,
            )
    except UnicodeDecodeError:
        raise
    except pd.errors.EmptyDataError:
        return pd.DataFrame({i: np.empty(0, dtype=np.float64) for i in range(n_columns + 1)})
    except pd.errors.ParserWarning:
        raise DataError(_too_many_values(file, None, n_columns, delimiter)) from None
    except pd.errors.ParserError as err:
        raise DataError(_parser_message(file, str(err), delimiter, n_columns)) from None
    except MemoryError:
        raise DataError(f"'{file.name}' is too large to load into memory.") from None
    except (ValueError, OSError) as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"Cannot read '{file.name}' as CSV: {detail}") from None


def _too_many_values(file: Path, row: int | None, n_columns: int, delimiter: str) -> str:
    where = f"Row {row} of '{file.name}'" if row is not None else f"A row of '{file.name}'"
    name = _DELIMITER_NAMES.get(delimiter, repr(delimiter))
    return (
        f"{where} has more values than the header has columns ({n_columns}): remove the "
        f"extra {name} or quote the value that contains it."
    )


def _parser_message(file: Path, text: str, delimiter: str, n_columns: int) -> str:
    fields = _FIELDS_ERROR.search(text)
    name = _DELIMITER_NAMES.get(delimiter, repr(delimiter))
    if fields:
        # The parser counts the spare slot for a trailing delimiter; the user knows the header.
        _, line, seen = fields.groups()
        return (
            f"Row {line} of '{file.name}' has {seen} values but the header has {n_columns} "
            f"columns: remove the extra {name} or quote the value that contains it."
        )
    quote = _QUOTE_ERROR.search(text)
    if quote:
        # pandas counts rows from 0 here; spreadsheet rows start at 1.
        row = int(quote.group(1)) + 1
        return (
            f"Row {row} of '{file.name}' opens a quote (\") that is never closed: "
            "add the closing quote or remove the stray one."
        )
    detail = text.strip().splitlines()[0] if text.strip() else "unknown parser error"
    return f"Cannot read '{file.name}' as CSV: {detail}"


def _column_array(series: pd.Series) -> np.ndarray:
    kind = series.dtype.kind
    if kind in "iuf" or len(series) == 0:
        return series.to_numpy(dtype=np.float64)
    # Text (and True/False) cells stay text; validation says which are not numbers.
    values = series.to_numpy(dtype=object)
    if kind == "b":
        values = np.array([str(value) for value in values], dtype=object)
    return values


def _finish_table(
    file: Path,
    names: list[str],
    columns: list[np.ndarray],
    row_numbers: np.ndarray,
    *,
    delimiter: str,
    encoding: str,
) -> RawTable:
    table = RawTable(
        names, columns, row_numbers, source_path=file, delimiter=delimiter, encoding=encoding
    )
    missing = [table.missing_mask(i) for i in range(table.n_columns)]
    # A trailing delimiter on every line makes an unnamed last column of blanks: drop it.
    while names and not names[-1] and bool(missing[-1].all()):
        names, columns, missing = names[:-1], columns[:-1], missing[:-1]
    # Rows with every cell empty are blank lines (or lines of delimiters only): skip them.
    if missing and len(row_numbers):
        keep = ~np.logical_and.reduce(missing)
        if not keep.all():
            columns = [column[keep] for column in columns]
            row_numbers = row_numbers[keep]
    return RawTable(
        names, columns, row_numbers, source_path=file, delimiter=delimiter, encoding=encoding
    )
