"""Running the real `kanstudio` command in a subprocess, shared by the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# Headless, one thread each (several commands run at once): with no display the command
# never opens the window, whatever the test session's own environment says.
ENV = {k: v for k, v in os.environ.items()
       if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
ENV.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
# The fields design.md §4.1 promises in result.json (and `export --format json`), by type.
RESULT_FIELDS = {
    "formula": str, "latex": str, "inputs": list, "target": str, "width": list,
    "train_rmse": float, "test_rmse": float, "formula_test_rmse": float,
    "formula_test_r2": float, "seconds": float,
}


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    wall: float


def start(args: list[str], cwd: Path, program: list[str] | None = None) -> subprocess.Popen:
    command = (program or [sys.executable, "-m", "kanstudio"]) + args
    proc = subprocess.Popen(command, cwd=cwd, env=ENV, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.started = time.perf_counter()  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float = 300) -> Run:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{proc.args} did not finish in {timeout} s; stderr: {err[-2000:]}")
    return Run(proc.returncode, out, err, time.perf_counter() - proc.started)  # type: ignore


def one_line_error(stderr: str) -> str:
    """The command's single stderr line, checked to be a plain error report."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("kanstudio: error: "), stderr
    return lines[0]
