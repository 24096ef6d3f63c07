"""Problems found in a user's data: one `Issue` per problem, `DataError` when loading fails.

Row numbers in every message follow one convention: the row as a spreadsheet shows it, i.e.
the 1-based line number in the file, with the header on row 1 and the first data row on row 2.
Blank lines count like in a spreadsheet (they occupy a row number and are skipped). A quoted
value spanning several lines (rare in numeric data) shifts the numbers of the rows after it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


def visible(text: str) -> str:
    """``text`` with control characters written as escapes (``\\x1e``): a column name may
    hold any character, and one such as U+001E would end the message's line in a terminal
    or a message box (Python's ``splitlines`` treats it as a line break)."""
    return "".join(
        c.encode("unicode_escape").decode("ascii")
        if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


@dataclass(frozen=True)
class Issue:
    """One problem in the data, phrased for the scientist who owns the file.

    `column` is the column's name as written in the header (None when the issue concerns the
    whole file); `row` is the spreadsheet row (header = row 1) or None.
    """

    severity: Severity
    column: str | None
    row: int | None
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", visible(self.message))

    def __str__(self) -> str:
        return self.message


class DataError(ValueError):
    """A file or array that cannot become a dataset; `str(err)` is one actionable line.

    `issues` holds every problem found (errors and warnings), so a GUI can list them all.
    """

    def __init__(self, message: str, issues: list[Issue] | None = None) -> None:
        super().__init__(visible(message))
        self.issues: list[Issue] = list(issues) if issues else []
