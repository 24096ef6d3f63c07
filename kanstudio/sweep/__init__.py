"""Many discoveries at once: seeds, settings, targets and CSVs, on local cores or Ray.

``kanstudio sweep`` (``command.py``) expands its arguments into :class:`Job` records, runs
them on a backend (``backends.py``: a spawn process pool, or Ray tasks), writes each row as
it arrives (``output.py``) and counts how many seeds found each formula (``stability.py``).
Nothing here imports Qt; the GUI may use the same pool and summary.
"""

from kanstudio.sweep.backends import available_cores, local_rows, ray_rows
from kanstudio.sweep.jobs import ROW_FIELDS, Job, canonical_formula, run_job
from kanstudio.sweep.stability import format_summary, stability_summary

__all__ = ["Job", "ROW_FIELDS", "run_job", "canonical_formula", "local_rows", "ray_rows",
           "available_cores", "stability_summary", "format_summary"]
