"""One job of a sweep: a CSV, a target, a seed and settings -> one row of the results table.

A job runs the same discovery pipeline as ``kanstudio fit`` (``session.pipeline.discover``)
in whatever process the backend gives it. Everything that crosses the process boundary is
plain data: a :class:`Job` in, a JSON-able row out. The formula is simplified to its
canonical form here, on the sympy object the pipeline built, so the parent never parses
formula text.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Job", "ROW_FIELDS", "run_job", "failed_row", "canonical_formula", "set_threads"]

# The results table's columns, in order (CSV header; every row has exactly these keys).
ROW_FIELDS = (
    "job", "experiment", "dataset", "target", "seed", "width", "grid", "k", "steps", "lamb", "lib",
    "device", "formula", "canonical", "status", "test_r2", "network_test_r2",
    "final_width", "project", "seconds", "cpu_seconds", "peak_rss_mb", "error_kind", "error",
)


class JobInputError(ValueError):
    """A job's own input is wrong (a target its CSV lacks, a width that does not fit)."""


@dataclass(frozen=True)
class Job:
    """What one discovery needs; ``width`` is already parsed by ``kanstudio fit``'s parser."""

    index: int
    data: str  # path of the CSV
    target: str | None  # None: the CSV's last numeric column
    seed: int
    width: Any = None  # None: the pipeline chooses (small networks first)
    grid: int = 5
    k: int = 3
    steps: int | None = None  # sparse-stage steps (``fit --steps``)
    lamb: float | None = None
    lib: tuple[str, ...] | None = None
    device: str = "auto"
    inputs: tuple[str, ...] | None = None
    drop_missing: bool = False
    pipeline: dict[str, Any] = field(default_factory=dict)  # other PipelineSettings fields
    experiment: int = 0  # jobs that differ only in their seed share this number
    save_to: str | None = None  # save the session here as a .kstudio project
    # other SessionSettings fields (test_fraction, scale_target, ...): the window's own,
    # so that a seed's model can be taken back into the window's session
    session: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The row's columns that say what was asked."""
        return {"job": self.index, "experiment": self.experiment, "dataset": self.data,
                "target": self.target, "seed": self.seed, "width": self.width,
                "grid": self.grid, "k": self.k, "steps": self.steps, "lamb": self.lamb,
                "lib": ",".join(self.lib) if self.lib else None, "device": self.device}


def _empty_row(job: Job) -> dict[str, Any]:
    row = dict.fromkeys(ROW_FIELDS)
    row.update(job.describe())
    return row


def failed_row(job: Job, error: BaseException | str, kind: str = "internal",
               seconds: float | None = None) -> dict[str, Any]:
    """The row of a job that produced no formula; ``error`` is one line a user can read."""
    row = _empty_row(job)
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    row.update(error=(text.strip().splitlines() or [""])[0], error_kind=kind, seconds=seconds)
    return row


def set_threads(threads: int) -> None:
    """Give this process ``threads`` compute threads (one worker per core, no oversubscribing).

    Environment variables first (read when torch/numba load), then the run-time setters in
    case they are already loaded.
    """
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    if "numba" in sys.modules:
        try:
            sys.modules["numba"].set_num_threads(threads)
        except ValueError:  # more than numba started with: keep its count
            pass


def canonical_formula(expr: Any) -> str:
    """The formula's canonical text: sympy-simplified, constants to 4 significant digits.

    Two seeds that found ``2*x + 1`` and ``1 + 2.00004*x`` get the same text, so a
    stability summary can count them together by string equality.
    """
    import sympy

    simple = sympy.simplify(expr)
    rounded = {}
    for value in simple.atoms(sympy.Float):
        number = float(f"{float(value):.4g}")
        rounded[value] = (sympy.Integer(int(number)) if number.is_integer()
                          else sympy.Float(f"{number:.4g}", 4))
    return sympy.sstr(sympy.simplify(simple.xreplace(rounded)) if rounded else simple)


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _pipeline_settings(job: Job) -> Any:
    from kanstudio.session.pipeline import PipelineSettings

    pipeline = PipelineSettings()
    for name, value in job.pipeline.items():
        setattr(pipeline, name, value)
    if job.steps is not None:
        pipeline.sparse_steps = job.steps
    if job.lamb is not None:
        pipeline.lamb = job.lamb
    return pipeline


def _discover(job: Job) -> dict[str, Any]:
    from kanstudio.core import resolve_device
    from kanstudio.data import load_dataset
    from kanstudio.session import Session, SessionSettings
    from kanstudio.session.pipeline import discover
    from kanstudio.symbolic.export import to_sympy

    if str(job.data).lower().endswith(".kstudio"):  # the data a project holds
        from kanstudio.session.project_file import load_project

        dataset = load_project(job.data, device="cpu").dataset
    else:
        dataset = load_dataset(job.data, target=job.target,
                               inputs=list(job.inputs) if job.inputs else None,
                               drop_missing=job.drop_missing)
    if dataset.n_outputs != 1:
        raise JobInputError("one target at a time")
    settings = SessionSettings.from_dict({
        **job.session, "width": job.width, "grid": job.grid, "k": job.k, "seed": job.seed,
        "device": job.device, "functions": list(job.lib) if job.lib else None})
    session = Session(dataset, settings)
    result = None
    for event in discover(session, _pipeline_settings(job)):
        if event.kind == "done" and "formula" in event.info:
            result = event.info["formula"]
    if result is None:
        raise RuntimeError("the pipeline ended without a formula")
    expr = result.expressions[0]
    row = {
        "target": result.target_names[0],
        "device": str(resolve_device(job.device)).split(":")[0],
        "formula": to_sympy(expr),
        "canonical": canonical_formula(expr),
        # "verified" / "approximate" where the engine rates its formulas, else None
        "status": getattr(result, "status", None),
        "test_r2": _finite(result.formula_test_r2),
        "network_test_r2": _finite(result.network_test_r2),
        "final_width": session.model.width_,
    }
    if job.save_to:
        from kanstudio.session.project_file import save_project

        try:
            save_project(session, job.save_to)
            row["project"] = job.save_to
        except OSError as exc:  # the formula stands; the row says what was not saved
            row.update(error=f"could not save the project: {exc}", error_kind="save")
    return row


def run_job(job: Job) -> dict[str, Any]:
    """Run one discovery; never raises for a job's own failure: the row carries the error."""
    from kanstudio.data import DataError
    from kanstudio.session import SessionError
    from kanstudio.session.project_file import ProjectError

    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        row = _empty_row(job)
        row.update(_discover(job))
    except (DataError, SessionError, ProjectError, JobInputError) as exc:
        row = failed_row(job, str(exc), kind="bad_input")
    except Exception as exc:  # noqa: BLE001 - a failed job is a row, never the end of a sweep
        row = failed_row(job, exc)
    row["seconds"] = round(time.perf_counter() - start, 3)
    # CPU time of this process, all its threads: on a busy machine, fairer than wall time
    row["cpu_seconds"] = round(time.process_time() - cpu_start, 3)
    row["peak_rss_mb"] = _peak_rss_mb()
    return row


def run_job_with_threads(job: Job, threads: int) -> dict[str, Any]:
    """A job for a backend whose processes are not ours to set up (Ray tasks)."""
    set_threads(threads)
    return run_job(job)
