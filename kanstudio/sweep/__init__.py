"""Many discoveries at once: seeds, settings, targets and CSVs, on local cores or Ray.

``kanstudio sweep`` (``command.py``) expands its arguments into :class:`Job` records, runs
them on a backend (``backends.py``: a spawn process pool, or Ray tasks), writes each row as
it arrives (``output.py``) and counts how many seeds found each formula (``stability.py``).
Nothing here imports Qt; the GUI may use the same pool and summary.
"""

__all__ = ["Job", "ROW_FIELDS", "run_job", "canonical_formula", "local_rows", "ray_rows",
           "available_cores", "stability_summary", "format_summary"]

_HOMES = {"Job": "jobs", "ROW_FIELDS": "jobs", "run_job": "jobs", "canonical_formula": "jobs",
          "local_rows": "backends", "ray_rows": "backends", "available_cores": "machine",
          "stability_summary": "stability", "format_summary": "stability"}


def __getattr__(name: str):
    # Imported on first use, so that `kanstudio --help` does not load the process pool.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"kanstudio.sweep.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'kanstudio.sweep' has no attribute {name!r}")
