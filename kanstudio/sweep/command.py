"""``kanstudio sweep``: many ``kanstudio fit`` discoveries, one row each, and how stable the
formula is across seeds.

The options a job shares with ``fit`` (``--width``, ``--lib``, ``--inputs``) are parsed by
``fit``'s own argument types, handed over by ``cli.build_parser``, so the two commands accept
the same text. Exit codes as ``fit``: 0 the sweep ran (a failed job is a row), 2 bad
input (or every job failed on its input), 1 internal error (every job failed otherwise),
130 stopped by Ctrl+C (finished rows are kept).
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import math
import os
import sys
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kanstudio.sweep.jobs import Job
from kanstudio.sweep.machine import RAY_INSTALL, available_cores

__all__ = ["add_sweep_parser", "run_sweep_command", "expand_jobs", "find_csvs",
           "SweepInputError", "pipeline_overrides"]

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


class SweepInputError(ValueError):
    """Bad input for the whole sweep: one line on stderr, exit code 2."""


def _int_values(text: str) -> list[int]:
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected integers like 5,10, got {text!r}") from exc


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def add_sweep_parser(sub: Any, width_type: Callable[[str], Any],
                     names_type: Callable[[str], list[str]]) -> argparse.ArgumentParser:
    """Add ``sweep`` to the ``kanstudio`` subcommands.

    ``width_type`` and ``names_type`` are the argument types ``fit`` reads ``--width`` and
    ``--inputs``/``--lib`` with (tests/cli/test_sweep.py checks they stay the same objects).
    """
    p = sub.add_parser(
        "sweep", help="many discoveries at once: seeds, settings, targets, CSVs",
        description="Run the 'kanstudio fit' discovery for every combination of CSV, target, "
                    "width, grid and seed, on this machine's cores or a Ray cluster, and "
                    "count how many seeds found each formula.")
    p.add_argument("data", nargs="+", help="CSV files, folders (their *.csv) or glob patterns")
    p.add_argument("--target", action="extend", type=_names, default=None,
                   help="target column(s), comma-separated or repeated (default: each "
                        "CSV's last numeric column)")
    p.add_argument("--inputs", type=names_type,
                   help="input columns, comma-separated")
    p.add_argument("--seeds", type=int, default=1, help="seeds per setting (default 1)")
    p.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--width", action="append", type=width_type,
                   help="architecture as 'kanstudio fit' reads it; repeat for several")
    p.add_argument("--grid", type=_int_values, default=[5],
                   help="spline intervals, comma-separated for several (default 5)")
    p.add_argument("--k", type=int, default=3, help="spline order (default 3)")
    p.add_argument("--steps", type=int, help="steps of the sparse training stage")
    p.add_argument("--lamb", type=float, help="sparsity strength of the first stage")
    p.add_argument("--lib", type=names_type,
                   help="symbolic functions, e.g. sin,exp,x^2")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps "
                   "(default auto; with --ray, as the node running the job resolves it)")
    p.add_argument("--drop-missing", action="store_true",
                   help="drop rows with missing values instead of refusing the file")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                   help="a discovery-pipeline setting, e.g. --set refine_grid=20 (repeatable)")
    p.add_argument("--jobs", type=int,
                   help=f"local worker processes (default: the cores, {available_cores()} here)")
    p.add_argument("--ray", metavar="ADDRESS", default=os.environ.get("RAY_ADDRESS") or None,
                   help="run the jobs as Ray tasks on this cluster (auto, local, HOST:PORT, "
                        f"ray://HOST:PORT; default $RAY_ADDRESS). Needs: {RAY_INSTALL}")
    p.add_argument("--cpus-per-job", type=float, default=1.0, help="Ray: CPUs a job asks for")
    p.add_argument("--gpus-per-job", type=float,
                   help="Ray: GPUs a job asks for (default 1 with --device cuda, else 0)")
    p.add_argument("--out", default="sweep-results",
                   help="folder for results.csv, results.json, stability.json "
                        "(default ./sweep-results)")
    p.add_argument("--save-projects", action="store_true",
                   help="save each job's session as OUT/projects/job-N-....kstudio (open any "
                        "seed's model in the app)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-job lines")
    return p


# ----------------------------------------------------------------------- expanding jobs
def find_csvs(specs: Sequence[str]) -> list[str]:
    """CSV paths from files, folders (their CSVs, sorted) and glob patterns, in order."""
    found: list[str] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            matches = sorted(str(p) for p in path.iterdir()
                             if p.is_file() and p.suffix.lower() in CSV_SUFFIXES)
            if not matches:
                raise SweepInputError(f"folder {spec} has no .csv files")
        elif path.is_file():
            matches = [spec]
        elif glob.has_magic(spec):
            matches = sorted(p for p in glob.glob(spec, recursive=True) if Path(p).is_file())
            if not matches:
                raise SweepInputError(f"no file matches {spec!r}")
        else:
            raise SweepInputError(f"{spec}: no such file or folder")
        found.extend(m for m in matches if m not in found)
    return found


def pipeline_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` texts -> PipelineSettings fields, parsed as each field is annotated.

    ``X | None`` fields also take ``none`` (or ``off``); ``str`` fields are search budgets
    (``small``, ``medium``, ``large``), the only text settings the pipeline has.
    """
    from kanstudio.session.pipeline import PipelineSettings

    hints = typing.get_type_hints(PipelineSettings)
    kinds = {f.name: hints[f.name] for f in dataclasses.fields(PipelineSettings)}
    overrides: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in kinds:
            raise SweepInputError(f"--set {item}: expected NAME=VALUE with NAME one of "
                                  f"{', '.join(sorted(kinds))}")
        try:
            overrides[name] = _setting_value(kinds[name], text.strip())
        except ValueError as exc:
            raise SweepInputError(f"--set {item}: {name} {exc}") from exc
    return overrides


_NONE_WORDS = ("none", "off")


def _setting_value(kind: Any, text: str) -> Any:
    """One setting's value from its text; ValueError says what the setting takes."""
    options = typing.get_args(kind)
    optional = type(None) in options
    if optional:
        if text.lower() in _NONE_WORDS:
            return None
        kind = next(k for k in options if k is not type(None))
    also = " (or none)" if optional else ""
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"takes true or false{also}")
        return text.lower() in ("true", "1", "yes")
    if kind is str:
        from kanstudio.symbolic.search import BUDGETS

        if text not in BUDGETS:
            raise ValueError(f"takes a search budget: {', '.join(sorted(BUDGETS))}{also}")
        return text
    if typing.get_origin(kind) is tuple:
        number = typing.get_args(kind)[0]
        values = tuple(_number(number, v.strip()) for v in text.split(",") if v.strip())
        if not values or min(values) <= 0:
            raise ValueError(f"takes {number.__name__}s > 0, comma-separated{also}")
        return values
    value = _number(kind, text)
    if value < 0:
        raise ValueError(f"must be a number >= 0{also}")
    return value


def _number(kind: type, text: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"takes {'a whole number' if kind is int else 'a number'}, "
                         f"not {text!r}") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def expand_jobs(datasets: Sequence[str], targets: Sequence[str | None],
                widths: Sequence[Any], grids: Sequence[int], seeds: Sequence[int],
                **common: Any) -> list[Job]:
    """Every combination, seeds innermost; one experiment number per combination."""
    jobs: list[Job] = []
    experiment = 0
    for data in datasets:
        for target in targets:
            for width in widths:
                for grid in grids:
                    for seed in seeds:
                        jobs.append(Job(index=len(jobs), data=data, target=target, seed=seed,
                                        width=width, grid=grid, experiment=experiment,
                                        **common))
                    experiment += 1
    return jobs


def _check(args: argparse.Namespace) -> None:
    if args.seeds < 1:
        raise SweepInputError("--seeds must be at least 1")
    if args.jobs is not None and args.jobs < 1:
        raise SweepInputError("--jobs must be at least 1")
    if not args.grid or min(args.grid) < 1 or not 0 <= args.k <= 10:
        raise SweepInputError("--grid values must be >= 1 and --k between 0 and 10")
    if args.steps is not None and args.steps < 1:
        raise SweepInputError("--steps must be at least 1")
    if args.lamb is not None and (not math.isfinite(args.lamb) or args.lamb < 0):
        raise SweepInputError("--lamb must be a number >= 0")
    if args.cpus_per_job <= 0 or (args.gpus_per_job is not None and args.gpus_per_job < 0):
        raise SweepInputError("--cpus-per-job must be > 0 and --gpus-per-job >= 0")
    if args.lib:
        from kanstudio.symbolic.library import resolve_names

        try:
            resolve_names(args.lib)
        except (KeyError, ValueError) as exc:
            raise SweepInputError(str(exc).splitlines()[0]) from exc
    if args.device.split(":")[0] not in ("auto", "cpu", "cuda", "mps"):
        raise SweepInputError(f"--device {args.device}: expected auto, cpu, cuda or mps")
    if not args.ray:  # a Ray job resolves its device where it runs
        from kanstudio.core import resolve_device

        try:
            resolve_device(args.device)
        except ValueError as exc:
            raise SweepInputError(str(exc)) from exc
    folder = Path(args.out).resolve()
    parent = folder if folder.exists() else folder.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise SweepInputError(f"--out {args.out}: cannot write to {parent}")


def _with_project_paths(jobs: list[Job], folder: Path) -> list[Job]:
    folder.mkdir(parents=True, exist_ok=True)
    return [dataclasses.replace(job, save_to=str(
        folder / f"job-{job.index:04d}-{Path(job.data).stem}-seed{job.seed}.kstudio"))
        for job in jobs]


def jobs_from_args(args: argparse.Namespace) -> list[Job]:
    _check(args)
    datasets = find_csvs(args.data)
    jobs = expand_jobs(
        datasets, args.target or [None], args.width or [None], args.grid,
        range(args.seed_start, args.seed_start + args.seeds),
        k=args.k, steps=args.steps, lamb=args.lamb,
        lib=tuple(args.lib) if args.lib else None, device=args.device,
        inputs=tuple(args.inputs) if args.inputs else None, drop_missing=args.drop_missing,
        pipeline=pipeline_overrides(args.settings))
    if args.save_projects:
        jobs = _with_project_paths(jobs, Path(args.out).resolve() / "projects")
    return jobs


# ----------------------------------------------------------------------------- running
def _rows(args: argparse.Namespace, jobs: list[Job]) -> tuple[Iterator[dict[str, Any]], str]:
    from kanstudio.sweep.backends import local_rows, ray_rows

    if args.ray:
        try:
            import ray  # noqa: F401 - only to say how to install it before any work starts
        except ImportError as exc:
            raise SweepInputError(f"--ray needs Ray, which is not installed: {RAY_INSTALL}"
                                  ) from exc
        gpus = args.gpus_per_job
        if gpus is None:
            gpus = 1.0 if args.device.startswith("cuda") else 0.0
        return (ray_rows(jobs, args.ray, args.cpus_per_job, gpus),
                f"Ray at {args.ray} ({args.cpus_per_job:g} CPU, {gpus:g} GPU per job)")
    cores = available_cores()
    processes = min(args.jobs or cores, len(jobs))
    threads = max(1, cores // processes)
    return (local_rows(jobs, processes, threads),
            f"{processes} local process(es) x {threads} thread(s)")


def _job_line(row: dict[str, Any], done: int, total: int) -> str:
    name = Path(str(row["dataset"])).name
    head = f"[{done}/{total}] {name} {row.get('target') or ''} seed {row['seed']}"
    if not row.get("canonical"):
        return f"{head}: failed: {row['error']}"
    r2 = row.get("test_r2")
    return (f"{head}: {row['target']} = {row['formula']}"
            + (f"   R² {r2:.6f}" if r2 is not None else "") + f"   {row['seconds']:.1f} s"
            + (f"   ({row['error']})" if row.get("error") else ""))


def run_sweep_command(args: argparse.Namespace) -> int:
    """The body of ``kanstudio sweep``; raises :class:`SweepInputError` for exit code 2."""
    from kanstudio.sweep.backends import ClusterResourceError, RayMissingError
    from kanstudio.sweep.output import ResultsWriter
    from kanstudio.sweep.stability import format_summary, stability_summary

    jobs = jobs_from_args(args)
    try:
        rows, where = _rows(args, jobs)
    except (RayMissingError, ClusterResourceError) as exc:
        raise SweepInputError(str(exc)) from exc
    writer = ResultsWriter(args.out, len(jobs))
    verbose = not args.quiet
    bar = None
    if verbose and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="job", file=sys.stderr)
    say = bar.write if bar is not None else (lambda text: print(text, file=sys.stderr))
    if verbose:
        say(f"kanstudio sweep: {len(jobs)} job(s) on {where}")
    interrupted = False
    try:
        try:
            for row in rows:
                writer.add(row)
                writer.write_summary(stability_summary(writer.rows))
                if bar is not None:
                    bar.update(1)
                if verbose:
                    say(_job_line(row, len(writer.rows), len(jobs)))
        finally:
            rows.close()  # cancels what is still queued or running
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    summary = stability_summary(writer.rows)
    writer.write_summary(summary)
    if summary:
        print(format_summary(summary))
    failed = [row for row in writer.rows if not row.get("canonical")]
    print(f"kanstudio sweep: {len(writer.rows)} of {len(jobs)} job(s) finished, "
          f"{len(failed)} failed; results in {writer.csv_path}, {writer.json_path.name}, "
          f"{writer.summary_path.name}", file=sys.stderr)
    if interrupted:
        print("kanstudio: interrupted; finished rows are kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    if writer.rows and len(failed) == len(writer.rows):
        if all(row.get("error_kind") == "bad_input" for row in failed):
            print(f"kanstudio: error: every job failed: {failed[0]['error']}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return EXIT_INTERNAL
    return EXIT_OK
