"""The sweep's files: results.csv (one line appended per finished job), results.json and
stability.json (rewritten atomically after each job), so a stop keeps every finished row."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from kanstudio.model.archive import write_text_atomic
from kanstudio.sweep.jobs import ROW_FIELDS

__all__ = ["ResultsWriter", "write_json_atomic"]


def write_json_atomic(path: Path, value: Any) -> None:
    """Write temp, fsync, rename: a reader never sees half a file."""
    write_text_atomic(path, json.dumps(value, indent=1, allow_nan=False) + "\n")


def _cell(value: Any) -> Any:
    """A CSV cell: lists (widths) as JSON, None as empty."""
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, list | dict) else value


class ResultsWriter:
    """Rows in, files out: ``folder/results.csv``, ``results.json``, ``stability.json``."""

    def __init__(self, folder: str | Path, total_jobs: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.total_jobs = total_jobs
        self.rows: list[dict[str, Any]] = []
        self.csv_path = self.folder / "results.csv"
        self.json_path = self.folder / "results.json"
        self.summary_path = self.folder / "stability.json"
        with open(self.csv_path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(ROW_FIELDS)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        with open(self.csv_path, "a", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow([_cell(row.get(name)) for name in ROW_FIELDS])
            handle.flush()
            os.fsync(handle.fileno())
        write_json_atomic(self.json_path, {"jobs": self.total_jobs, "finished": len(self.rows),
                                           "rows": self.rows})

    def write_summary(self, summary: list[dict[str, Any]]) -> None:
        write_json_atomic(self.summary_path, summary)
