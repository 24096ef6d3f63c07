"""`kanstudio sweep` as a user runs it: the real command in a subprocess on tiny CSVs with a
shrunken pipeline (``--set``), two worker processes, a CSV whose target is missing (a failed
job is a row), a Ctrl+C that keeps the finished rows; the stability summary's counting; and
the Ray backend against a real local Ray instance when Ray is installed."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.cli.helpers import ENV, finish, one_line_error, start

# Few steps in every stage: a job takes seconds, and y = 2x + 1 still comes out exactly.
FAST = ["--width", "1,1", "--lib", "x,x^2", "--steps", "3", "--set", "starts=1",
        "--set", "after_prune_steps=1", "--set", "refine_steps=2",
        "--set", "fine_tune_steps=3", "--set", "trial_steps=1", "--set", "alternatives=0",
        "--set", "search_escalate=off", "--set", "deep_width=none"]


def _write_csv(path: Path, header: str, seed: int, fn) -> None:
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, 80)
    path.write_text(header + "\n" + "\n".join(f"{v:.17g},{fn(v):.17g}" for v in x) + "\n",
                    encoding="utf-8")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli_sweep")
    (folder / "csvs").mkdir()
    _write_csv(folder / "csvs" / "line.csv", "x,y", 0, lambda v: 2.0 * v + 1.0)
    _write_csv(folder / "csvs" / "other.csv", "x,z", 1, lambda v: 3.0 * v * v)  # no 'y'
    return folder


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def sweep(workdir: Path) -> Iterator[subprocess.Popen]:
    """One real sweep: 2 CSVs x 2 seeds on 2 processes, started while other tests run."""
    proc = start(["sweep", "csvs", "--target", "y", "--seeds", "2", "--jobs", "2",
                  "--out", "out", "--save-projects", *FAST], workdir)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_sweep_rows_failing_job_and_stability(sweep, workdir: Path) -> None:
    run = finish(sweep, timeout=600)
    assert run.rc == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "4 job(s) on 2 local process(es)" in run.stderr
    rows = _rows(workdir / "out" / "results.csv")
    assert len(rows) == 4
    good = [r for r in rows if r["dataset"].endswith("line.csv")]
    bad = [r for r in rows if r["dataset"].endswith("other.csv")]
    assert sorted(r["seed"] for r in good) == ["0", "1"]
    for row in good:
        assert row["canonical"] == "2*x + 1", row
        assert row["error"] == ""
        assert float(row["test_r2"]) > 0.999
        assert row["device"] == "cpu" and float(row["seconds"]) > 0
        assert json.loads(row["width"]) == [1, 1]
    # the CSV without a 'y' column: two rows that say why, not the end of the sweep
    assert len(bad) == 2
    for row in bad:
        assert row["error_kind"] == "bad_input"
        assert "'y'" in row["error"] and row["formula"] == ""
    # the JSON holds the same rows; the summary counts both seeds for the one formula
    data = json.loads((workdir / "out" / "results.json").read_text(encoding="utf-8"))
    assert data["jobs"] == 4 and data["finished"] == 4 and len(data["rows"]) == 4
    summary = json.loads((workdir / "out" / "stability.json").read_text(encoding="utf-8"))
    line = next(g for g in summary if g["dataset"].endswith("line.csv"))
    assert line["seeds"] == 2 and line["failed"] == 0
    assert line["formulas"][0]["formula"] == "2*x + 1"
    assert line["formulas"][0]["count"] == 2 and line["formulas"][0]["seeds"] == [0, 1]
    other = next(g for g in summary if g["dataset"].endswith("other.csv"))
    assert other["failed"] == 2 and other["formulas"] == []
    assert "2/2" in run.stdout and "y = 2*x + 1" in run.stdout
    # --save-projects: each seed's session opens with the formula its row reports
    from kanstudio.session.project_file import load_project
    from kanstudio.sweep.jobs import canonical_formula

    assert all(r["project"] == "" for r in bad)
    for row in good:
        session = load_project(row["project"], device="cpu")
        assert canonical_formula(session.formula().expressions[0]) == row["canonical"]


def test_sweep_reads_width_with_fits_own_parser() -> None:
    import argparse

    from kanstudio.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))

    def option_type(command: str, option: str):
        return next(a.type for a in sub.choices[command]._actions if option in a.option_strings)

    def width_type(command: str):
        return option_type(command, "--width")

    # one parser for both commands: whatever notation 'fit --width' learns, sweep accepts
    assert width_type("sweep") is width_type("fit")
    for option in ("--inputs", "--lib"):
        assert option_type("sweep", option) is option_type("fit", option)
    args = parser.parse_args(["sweep", "a.csv", "--width", "2,5,1", "--width", "2, 3,1",
                              "--grid", "5,10", "--target", "y,z", "--target", "w"])
    assert args.width == [width_type("fit")("2,5,1"), width_type("fit")("2,3,1")]
    assert args.grid == [5, 10] and args.target == ["y", "z", "w"]
    # KAN 2.0 product notation, both spellings, as fit reads it
    args = parser.parse_args(["sweep", "a.csv", "--width", "2,0+1,1", "--width", "2,[0,1],1"])
    assert args.width == [[2, [0, 1], 1], [2, [0, 1], 1]]


def test_set_parses_each_setting_as_its_type_text_and_none_included() -> None:
    from kanstudio.session.pipeline import PipelineSettings
    from kanstudio.sweep.command import SweepInputError, pipeline_overrides

    got = pipeline_overrides(["search=large", "search_leaf=none", "search-escalate=Off",
                              "deep_width=4,2", "snap_tolerances=1e-3", "structure=no",
                              "refine_grid=20", "lamb=0.5"])
    assert got == {"search": "large", "search_leaf": None, "search_escalate": None,
                   "deep_width": (4, 2), "snap_tolerances": (1e-3,), "structure": False,
                   "refine_grid": 20, "lamb": 0.5}
    assert all(type(v) is int for v in got["deep_width"])
    PipelineSettings(**got)  # what the job builds from them
    for bad, words in [("search=huge", "search budget"), ("refine_grid=2.5", "whole number"),
                       ("lamb=-1", ">= 0"), ("lamb=nan", "finite"), ("deep_width=0", "> 0"),
                       ("structure=maybe", "true or false"),
                       ("search_restarts=none", "whole number")]:
        with pytest.raises(SweepInputError, match=words):
            pipeline_overrides([bad])


@pytest.mark.parametrize("args, words", [
    (["sweep", "nowhere/*.csv"], "no file matches"),
    (["sweep", "csvs", "--seeds", "0"], "--seeds"),
    (["sweep", "csvs", "--set", "no_such_setting=1"], "no_such_setting"),
    (["sweep", "csvs", "--width", "1,x"], "--width"),
    (["sweep", "csvs", "--set", "search=huge"], "search budget: large, medium, small"),
])
def test_bad_sweep_input_is_one_line_and_exit_2(workdir: Path, args, words) -> None:
    run = finish(start(args, workdir))
    assert run.rc == 2
    assert words in one_line_error(run.stderr)


def test_ray_flag_without_ray_says_how_to_install(workdir: Path, tmp_path) -> None:
    # a 'ray' that cannot be imported stands in for Ray not being installed
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path), ENV.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "kanstudio", "sweep", "csvs", "--ray",
                             "127.0.0.1:6379"], cwd=workdir, env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.started = time.perf_counter()  # type: ignore[attr-defined]
    run = finish(proc)
    assert run.rc == 2
    assert 'pip install "kanstudio[cluster]"' in one_line_error(run.stderr)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; SIGINT")
def test_ctrl_c_keeps_finished_rows_and_stops_the_workers(workdir: Path, tmp_path) -> None:
    out = tmp_path / "stopped"
    # its own process group, signalled as a whole: what Ctrl+C in a terminal does
    proc = subprocess.Popen(
        [sys.executable, "-m", "kanstudio", "sweep", "csvs/line.csv", "--seeds", "8",
         "--jobs", "2", "--out", str(out), *FAST], cwd=workdir, env=ENV, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
        # Ctrl+C's default action, as a terminal gives the command: a test process that
        # ignores SIGINT (a pytest-xdist worker, in the full suite) would pass the
        # ignoring on, and Python then never raises KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    proc.started = time.perf_counter()  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "results.csv").exists() and len(_rows(out / "results.csv")) >= 1:
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the sweep ended before it could be stopped"
        workers = _children(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        run = finish(proc, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert run.rc == 130, run.stderr
    assert "Traceback" not in run.stderr and "interrupted" in run.stderr
    rows = _rows(out / "results.csv")
    assert 1 <= len(rows) < 8
    assert all(r["canonical"] == "2*x + 1" for r in rows)
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["finished"] == len(rows) and data["jobs"] == 8
    time.sleep(1.0)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
             and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]]
    assert alive == [], "worker processes outlived the stopped sweep"


# ------------------------------------------------------------------ stability summary
def test_stability_counts_seeds_and_puts_the_most_frequent_verified_first() -> None:
    from kanstudio.sweep.stability import stability_summary

    def row(seed, canonical, status, experiment=0, error=None):
        return {"experiment": experiment, "dataset": "d.csv", "target": "y", "seed": seed,
                "canonical": canonical, "status": status, "test_r2": 0.9 + seed / 100,
                "error": error}

    rows = [row(0, "a", "approximate"), row(1, "b", "verified"), row(2, "a", "approximate"),
            row(3, "c", "verified"), row(4, "a", "approximate"), row(5, "b", "verified"),
            row(6, None, None, error="boom"), row(7, "a", None), row(0, "z", None, 1)]
    summary = stability_summary(rows)
    assert [g["experiment"] for g in summary] == [0, 1]
    first = summary[0]
    assert first["seeds"] == 8 and first["failed"] == 1
    # b (2 seeds, verified) before c (1, verified) before the more frequent unverified a
    assert [(f["formula"], f["count"], f["verified"]) for f in first["formulas"]] == [
        ("b", 2, 2), ("c", 1, 1), ("a", 4, 0)]
    assert first["formulas"][2]["seeds"] == [0, 2, 4, 7]
    assert first["formulas"][0]["median_test_r2"] == pytest.approx(0.93)
    assert summary[1]["formulas"][0]["count"] == 1


def test_canonical_formula_merges_what_simplifies_to_the_same() -> None:
    import sympy

    from kanstudio.sweep.jobs import canonical_formula

    x, y = sympy.symbols("x y")
    assert canonical_formula(1 + 2 * x) == canonical_formula(2.00001 * x + 1.0) == "2*x + 1"
    assert canonical_formula(sympy.sin(x) ** 2 + sympy.cos(x) ** 2 + y) == "y + 1"
    assert canonical_formula(x * y / x) == canonical_formula(y)
    assert canonical_formula(sympy.Float(0.333333) * x) == "0.3333*x"


# ------------------------------------------------------------------------------- Ray
@pytest.fixture
def local_ray() -> Iterator[object]:
    ray = pytest.importorskip(
        "ray", reason="Ray is not installed: pip install -e '.[cluster]' runs this test")
    # a fresh instance on this machine (127.0.0.1); its workers inherit PYTHONPATH
    ray.init(address="local", include_dashboard=False, num_cpus=1, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


def test_ray_backend_streams_rows_from_a_local_instance(local_ray, workdir: Path,
                                                        tmp_path, capsys) -> None:
    from kanstudio.cli import main

    out = tmp_path / "ray"
    rc = main(["sweep", str(workdir / "csvs"), "--target", "y", "--seeds", "1",
               "--ray", "local", "--out", str(out), *FAST])
    assert rc == 0
    rows = _rows(out / "results.csv")
    assert len(rows) == 2
    by_name = {Path(r["dataset"]).name: r for r in rows}
    assert by_name["line.csv"]["canonical"] == "2*x + 1"
    assert by_name["other.csv"]["error_kind"] == "bad_input"
    assert "Ray at local" in capsys.readouterr().err
    # a GPU the instance does not have: refused at once (exit 2), not a task waiting forever
    rc = main(["sweep", str(workdir / "csvs" / "line.csv"), "--ray", "local", "--device", "cuda",
               "--out", str(tmp_path / "gpu")])
    assert rc == 2
    assert "GPU" in capsys.readouterr().err
