"""Running ``kanstudio`` in this process and checking what every run must respect."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

# A fit on fuzzed data (tiny budgets, a few dozen rows) takes about a CPU second; thirty is
# a hang. CPU time, not wall time: the bound must hold on a machine shared with others.
CPU_SECONDS_PER_RUN = 30.0
NUMBER_FIELDS = ("train_rmse", "test_rmse", "formula_test_rmse", "formula_test_r2", "seconds")


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    seconds: float  # wall
    cpu_seconds: float  # this process, every thread


def run_cli(argv: list[str], cwd: Path) -> Run:
    """``kanstudio.cli.main(argv)`` with ``cwd`` as the working directory."""
    from kanstudio.cli import main

    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    start, cpu = time.perf_counter(), time.process_time()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's overflow notes are not the subject here
            try:
                rc = main(argv)
            except SystemExit as exc:  # argparse's usage errors
                rc = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(before)
    return Run(rc, out.getvalue(), err.getvalue(), time.perf_counter() - start,
               time.process_time() - cpu)


def listing(folder: Path) -> set[str]:
    """Every file and folder under ``folder``, as paths relative to it. A long hunt keeps
    thousands of files in one folder and lists it twice an example: ``os.scandir`` takes
    18 ms for 10,000 files where ``Path.rglob`` took 250 ms."""
    found: set[str] = set()
    pending = [(str(folder), "")]
    while pending:
        path, prefix = pending.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                found.add(prefix + entry.name)
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, prefix + entry.name + os.sep))
    return found


def check_run(run: Run, allowed_new: set[str], before: set[str], after: set[str]) -> None:
    """Exit 0 or 2, no traceback, a one-line reason on 2, nothing written but the outputs,
    a bounded time."""
    assert run.rc in (0, 2), f"exit {run.rc}; stderr: {run.stderr[-2000:]}"
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    assert "internal error" not in run.stderr, run.stderr
    if run.rc == 2:
        lines = run.stderr.strip().splitlines()
        assert lines and lines[-1].startswith("kanstudio: error: "), run.stderr
        assert len(lines[-1]) > len("kanstudio: error: ") + 10, run.stderr
    new = after - before
    assert new <= allowed_new, f"wrote {sorted(new - allowed_new)}"
    assert before <= after, f"removed {sorted(before - after)}"
    assert run.cpu_seconds < CPU_SECONDS_PER_RUN, f"took {run.cpu_seconds:.1f} CPU seconds"


def _refuse_constant(name: str) -> float:
    raise AssertionError(f"the JSON holds {name}, which JSON does not allow")


def check_result_json(text: str) -> dict:
    """Valid JSON; every number finite; a null number comes with its reason."""
    payload = json.loads(text, parse_constant=_refuse_constant)
    assert isinstance(payload["formula"], str) and payload["formula"]
    reasons = payload.get("null_reasons", {})
    for key in NUMBER_FIELDS:
        value = payload[key]
        if value is None:
            assert reasons.get(key), f"{key} is null without a reason"
        else:
            assert isinstance(value, int | float) and math.isfinite(value), (key, value)
    return payload


def log_example(data: bytes, run: Run) -> None:
    """With KANSTUDIO_FUZZ_LOG=FILE (a long hunt), one JSON line per example: exit code,
    reason, CPU seconds; the files that ended without a formula for a numerical reason
    are kept beside the log for a closer look."""
    log = os.environ.get("KANSTUDIO_FUZZ_LOG")
    if not log:
        return
    reason = run.stderr.strip().splitlines()[-1] if run.rc and run.stderr.strip() else ""
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"rc": run.rc, "reason": reason[:120],
                                 "cpu_s": round(run.cpu_seconds, 3), "bytes": len(data)}) + "\n")
    if "no finite fit" in reason:
        keep = Path(log).with_suffix(f".{abs(hash(data)) % 10**8}.csv")
        keep.write_bytes(data)


def progress(outcome: str = "") -> None:
    """With KANSTUDIO_FUZZ_PROGRESS=FILE (a long hunt), one line per example: the time and
    its outcome, so that the rate and the count can be read while the run goes."""
    path = os.environ.get("KANSTUDIO_FUZZ_PROGRESS")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{time.time():.3f} {outcome[:80]!r}\n")
