"""`kanstudio fit` and `kanstudio --version` as a user runs them (design.md §4.1): the real
command in a subprocess on a tiny CSV, checking exit codes, stdout, stderr and result.json.

The pipeline cannot be shrunk from the command line, so exactly one real fit runs (started
first, in the background, while the quick bad-input commands run) and its result.json and
saved project are shared by the tests that check them (exporting a project through the
command is tested in test_export.py).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import kanstudio
from tests.cli.helpers import RESULT_FIELDS, Run, finish, one_line_error, start


def _run(args: list[str], cwd: Path, program: list[str] | None = None) -> Run:
    return finish(start(args, cwd, program))


# ---------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli_fit")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, 80)
    rows = [f"{v:.17g},{2.0 * v + 1.0:.17g}" for v in x]  # y = 2x + 1
    (folder / "data.csv").write_text("x,y\n" + "\n".join(rows) + "\n", encoding="utf-8")
    texty = [f"{v:.6f},sample{i},{2.0 * v + 1.0:.6f}" for i, v in enumerate(x[:20])]
    (folder / "texty.csv").write_text("x,label,y\n" + "\n".join(texty) + "\n",
                                      encoding="utf-8")
    (folder / "empty.csv").write_bytes(b"")
    (folder / "header_only.csv").write_text("x,y\n", encoding="utf-8")
    return folder


FIT_ARGS = ["fit", "data.csv", "--target", "y", "--out", "r.json", "--save", "p.kstudio",
            "--lib", "x,x^2,sin", "--seed", "0", "--log"]


@pytest.fixture(scope="module")
def fit_process(workdir: Path) -> Iterator[subprocess.Popen]:
    proc = start(FIT_ARGS, workdir)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module", autouse=True)
def _fit_starts_first(fit_process: subprocess.Popen) -> None:
    """Start the one real fit before anything else so it runs alongside the quick tests."""


@pytest.fixture(scope="module")
def fit_run(fit_process: subprocess.Popen, workdir: Path) -> Run:
    run = finish(fit_process)
    assert run.rc == 0, f"kanstudio fit failed ({run.rc}): {run.stderr[-3000:]}"
    return run


@pytest.fixture(scope="module")
def result(fit_run: Run, workdir: Path) -> dict:
    return json.loads((workdir / "r.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def saved(fit_run: Run, workdir: Path):
    from kanstudio.session.project_file import load_project

    return load_project(workdir / "p.kstudio", device="cpu")


# ---------------------------------------------------------------------------- version
def test_version_with_python_m(workdir: Path) -> None:
    run = _run(["--version"], workdir)
    assert run.rc == 0, run.stderr
    assert run.stdout.strip() == f"kanstudio {kanstudio.__version__}"


def test_version_with_the_console_script(workdir: Path) -> None:
    script = shutil.which("kanstudio")
    assert script is not None, "the kanstudio console script is not on PATH"
    run = _run(["--version"], workdir, program=[script])
    assert run.rc == 0, run.stderr
    assert run.stdout.strip() == f"kanstudio {kanstudio.__version__}"


def test_no_command_without_a_display_exits_2_with_usage(workdir: Path) -> None:
    run = _run([], workdir)
    assert run.rc == 2
    assert "usage: kanstudio" in run.stderr
    assert "Traceback" not in run.stderr


# ---------------------------------------------------------------------------- bad input
# Files the command refuses while reading them, before torch is imported: each runs as the
# real command. Options checked after the heavy imports run through the command's own
# main() in this process instead (same code, but without four more torch start-ups).
BAD_FILES = [
    ("missing-file", ["missing.csv", "--target", "y"], r"not found.*missing\.csv"),
    ("target-not-found", ["data.csv", "--target", "z"], r"Target column 'z' not found"),
    ("non-numeric-column", ["texty.csv", "--target", "y", "--inputs", "x,label"],
     r"Column 'label' has 20 non-numeric values; the first is 'sample0' in row 2"),
    ("empty-file", ["empty.csv", "--target", "y"], r"empty"),
    ("header-only", ["header_only.csv", "--target", "y"], r"no data rows"),
]
BAD_OPTIONS = [
    ("wrong-first-width", ["--width", "3,4,1"], r"--width \[3, 4, 1\] must start with 1"),
    ("unknown-lib-function", ["--lib", "sin,frobnicate"],
     r"unknown library function 'frobnicate'"),
    ("cuda-on-cpu-machine", ["--device", "cuda"], r"'cuda' is not available here"),
    ("negative-steps", ["--steps", "-3"], r"--steps must be at least 1"),
    ("product-width-for-two-inputs", ["--width", "2,0+1,1"],
     r"--width \[2, \[0, 1\], 1\] must start with 1"),
]


@pytest.fixture(scope="module")
def bad_file_runs(workdir: Path) -> dict[str, Run]:
    procs = {case: start(["fit", *args, "--out", f"{case}.json"], workdir)
             for case, args, _ in BAD_FILES}
    return {case: finish(proc) for case, proc in procs.items()}


@pytest.mark.parametrize(("case", "message"), [(c, m) for c, _, m in BAD_FILES],
                         ids=[c for c, _, _ in BAD_FILES])
def test_bad_file_exits_2_with_one_line_reason(
    bad_file_runs: dict[str, Run], workdir: Path, case: str, message: str
) -> None:
    run = bad_file_runs[case]
    assert run.rc == 2, run.stderr
    assert run.stdout == ""
    line = one_line_error(run.stderr)
    assert re.search(message, line), line
    assert not (workdir / f"{case}.json").exists()


def _pipeline_must_not_run(*args, **kwargs):
    raise AssertionError("the pipeline ran although the input was bad")


def _main(args: list[str], workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Run:
    """The command's main() in this process, with the pipeline replaced by a tripwire."""
    from kanstudio import cli
    from kanstudio.session import pipeline

    monkeypatch.setattr(pipeline, "discover", _pipeline_must_not_run)
    monkeypatch.chdir(workdir)
    rc = cli.main(args)
    captured = capsys.readouterr()
    return Run(rc, captured.out, captured.err, 0.0)


@pytest.mark.parametrize(("args", "message"), [(a, m) for _, a, m in BAD_OPTIONS],
                         ids=[c for c, _, _ in BAD_OPTIONS])
def test_bad_option_exits_2_with_one_line_reason(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys, args: list[str], message: str
) -> None:
    if "cuda" in args and _cuda_available():
        pytest.skip("this machine has CUDA")
    run = _main(["fit", "data.csv", "--target", "y", *args, "--out", "bad.json"], workdir,
                monkeypatch, capsys)
    assert run.rc == 2, run.stderr
    assert run.stdout == ""
    line = one_line_error(run.stderr)
    assert re.search(message, line), line
    assert not (workdir / "bad.json").exists()


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize(("text", "width"), [
    ("2,5,1", [2, 5, 1]),
    ("2,0+1,1", [2, [0, 1], 1]),
    ("3,2+1,1", [3, [2, 1], 1]),
    ("2,[0,1],1", [2, [0, 1], 1]),
    ("[2,[1,1],1]", [2, [1, 1], 1]),
])
def test_width_accepts_the_product_node_notation(text: str, width: list) -> None:
    from kanstudio.cli import build_parser

    assert build_parser().parse_args(["fit", "d.csv", "--width", text]).width == width


def test_help_explains_the_product_node_notation() -> None:
    from kanstudio.cli import build_parser

    fit = build_parser()._subparsers._group_actions[0].choices["fit"]
    assert "2,0+1,1" in fit.format_help()


def test_unparsable_option_exits_2_with_one_line_reason(workdir: Path) -> None:
    run = _run(["fit", "data.csv", "--width", "2,0,1"], workdir)
    assert run.rc == 2
    assert "width" in one_line_error(run.stderr)


@pytest.mark.parametrize("lamb", ["nan", "inf"])
def test_non_finite_lamb_is_refused_before_training(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys, lamb: str
) -> None:
    run = _main(["fit", "data.csv", "--target", "y", "--lamb", lamb], workdir, monkeypatch,
                capsys)
    assert run.rc == 2, run.stderr
    assert "--lamb" in one_line_error(run.stderr)


@pytest.mark.parametrize("option", ["--out", "--save"])
def test_unwritable_output_is_refused_before_training(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys, option: str
) -> None:
    run = _main(["fit", "data.csv", "--target", "y", option, "no_such_folder/out.file"],
                workdir, monkeypatch, capsys)
    assert run.rc == 2, run.stderr
    assert "no_such_folder" in one_line_error(run.stderr)


# ---------------------------------------------------------------------------- a real fit
def test_fit_exits_0_and_prints_the_formula(fit_run: Run, result: dict) -> None:
    assert fit_run.stdout.splitlines()[0] == f"y = {result['formula']}"


def test_fit_writes_every_result_field_with_its_type(fit_run: Run, result: dict) -> None:
    for field, kind in RESULT_FIELDS.items():
        assert field in result, f"result.json lacks {field!r}"
        value = result[field]
        assert isinstance(value, kind) and not isinstance(value, bool), (field, value)
    assert result["inputs"] == ["x"]
    assert result["target"] == "y"
    width = result["width"]
    assert all(isinstance(w, int) and w >= 1 for w in width)
    assert width[0] == 1 and width[-1] == 1 and len(width) >= 2
    for field in ("train_rmse", "test_rmse", "formula_test_rmse"):
        assert math.isfinite(result[field]) and result[field] >= 0.0
    assert result["formula_test_r2"] <= 1.0
    assert 0.0 < result["seconds"] <= fit_run.wall
    # which engine did the work: the CPU here, with the fused kernel when numba is installed
    assert result["device"] == "cpu"
    expected = "fused" if importlib.util.find_spec("numba") else "torch"
    assert result["cpu_kernel"] == expected


def test_fit_formula_parses_with_the_csv_column_names(result: dict) -> None:
    import sympy

    assert result["symbols"] == result["inputs"] == ["x"]  # how to read the text
    expr = sympy.sympify(result["formula"],  # our own output, not an untrusted file
                         locals={n: sympy.Symbol(n) for n in result["symbols"]})
    assert {s.name for s in expr.free_symbols} <= {"x", "y"}
    assert {s.name for s in expr.free_symbols} <= set(result["inputs"])
    # --lib x,x^2,sin: no other function (sympy may print a shifted sin as cos)
    assert {type(f).__name__ for f in expr.atoms(sympy.Function)} <= {"sin", "cos"}
    assert result["latex"] and "\n" not in result["latex"]


def test_fit_recovers_the_linear_law(result: dict, workdir: Path) -> None:
    import sympy

    data = np.loadtxt(workdir / "data.csv", delimiter=",", skiprows=1)
    f = sympy.lambdify([sympy.Symbol("x")], sympy.sympify(result["formula"]), "numpy")
    pred = np.broadcast_to(np.asarray(f(data[:, 0]), dtype=float), data[:, 1].shape)
    residual = float(np.sum((pred - data[:, 1]) ** 2))
    assert 1.0 - residual / float(np.sum((data[:, 1] - data[:, 1].mean()) ** 2)) > 0.99
    assert result["formula_test_r2"] > 0.99


def test_fit_lists_the_free_constants_with_standard_errors(result: dict) -> None:
    assert isinstance(result["constants"], list)
    for c in result["constants"]:
        assert isinstance(c["value"], float)
        assert c["stderr"] is None and c["reason"] or c["stderr"] >= 0.0


def test_fit_gives_each_pareto_formula_its_agreement_beyond_the_data(result: dict) -> None:
    front = result["pareto"]
    assert front and sum(p["chosen"] for p in front) == 1
    for p in front:
        wider = p["wider_range"]  # on each input's range widened by 25 %, vs the network
        assert wider["margin"] == 0.25 and wider["points"] >= 2000
        assert 0.0 <= wider["defined"] <= 1.0 and wider["status"] in ("verified",
                                                                        "approximate")
        # R² against the network there: 1 - (rms(formula - network) / std(network))²
        assert wider["r2_network"] == pytest.approx(1.0 - wider["difference"] ** 2)
    chosen = next(p for p in front if p["chosen"])
    assert chosen["wider_range"]["defined"] == 1.0  # 2x + 1 is defined everywhere


def test_fit_says_the_exact_linear_law_is_verified(fit_run: Run, result: dict) -> None:
    assert result["formula_status"] == "verified"
    assert result["formula_network_difference"] <= 1e-2
    assert result["network_test_r2"] > 0.99
    assert "verified: the formula reproduces the network" in fit_run.stderr


def test_fit_scores_the_printed_formula_on_held_out_rows(
    result: dict, saved, workdir: Path
) -> None:
    import sympy

    data = np.loadtxt(workdir / "data.csv", delimiter=",", skiprows=1)
    held_out = saved.test_idx
    assert 0 < len(held_out) < len(data)
    x, y = data[held_out, 0], data[held_out, 1]
    f = sympy.lambdify([sympy.Symbol("x")], sympy.sympify(result["formula"]), "numpy")
    with np.errstate(all="ignore"):
        pred = np.broadcast_to(np.asarray(f(x), dtype=float), y.shape)
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    r2 = 1.0 - float(np.sum((pred - y) ** 2)) / float(np.sum((y - y.mean()) ** 2))
    assert rmse == pytest.approx(result["formula_test_rmse"], rel=1e-4, abs=1e-9)
    assert r2 == pytest.approx(result["formula_test_r2"], rel=1e-4, abs=1e-9)


def test_fit_saves_the_final_model(result: dict, saved) -> None:
    assert saved.model.width_ == result["width"]
    metrics = saved.metrics()
    assert metrics["train_rmse"] == pytest.approx(result["train_rmse"], rel=1e-9, abs=1e-12)
    assert metrics["test_rmse"] == pytest.approx(result["test_rmse"], rel=1e-9, abs=1e-12)
    assert [h["op"] for h in saved.history][:2] == ["new_model", "train"]


def test_fit_without_a_terminal_draws_no_progress_bar(fit_run: Run) -> None:
    assert "\r" not in fit_run.stderr
    assert "\x1b" not in fit_run.stderr
    assert "Traceback" not in fit_run.stderr
    assert "\r" not in fit_run.stdout


def test_fit_log_prints_each_stage_and_the_formula_on_stderr(fit_run: Run, result: dict
                                                            ) -> None:
    # each line: the seconds since Discover started, [stage], the message
    logged = [m.groups() for m in map(re.compile(r" *(\d+\.\d) s \[([\w-]+)\] (.*)").fullmatch,
                                      fit_run.stderr.splitlines()) if m]
    stages = [stage for _, stage, _ in logged]
    for stage in ("train", "prune", "symbolic", "fine-tune", "formula"):
        assert stage in stages, fit_run.stderr
    assert stages.index("train") < stages.index("formula")
    seconds = [float(t) for t, _, _ in logged]
    assert seconds == sorted(seconds) and seconds[-1] > 0
    assert any(stage == "formula" and result["formula"] in m for _, stage, m in logged)
    assert fit_run.stdout.splitlines() == [f"y = {result['formula']}"]  # stdout unchanged


def test_saved_project_reproduces_the_formula(result: dict, saved) -> None:
    import sympy

    assert sympy.sstr(saved.formula().expressions[0]) == result["formula"]
