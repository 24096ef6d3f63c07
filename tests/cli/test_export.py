"""`kanstudio export PROJECT --format ...` (design.md §4.1): the real command in a
subprocess on a small project built here, checking that every format says the same formula
and that a file which is not a usable project exits 2 with a one-line reason.

Each interpreter start imports torch (seconds on a small machine): the four formats run as
the real command, started together; the refusals run through the command's main() in this
process (test_fit.py checks that refusals of the real command print one line and exit 2)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sympy

from tests.cli.helpers import RESULT_FIELDS, Run, finish, one_line_error, start

FORMATS = ["latex", "python", "sympy", "json"]


@dataclass
class Projects:
    folder: Path
    formula: sympy.Expr
    target: str
    inputs: list[str]


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> Projects:
    """A locked (exportable) project, plus an unlocked one and one without a model."""
    from kanstudio.data import Dataset
    from kanstudio.session import Session, SessionSettings
    from kanstudio.session.project_file import save_project

    folder = tmp_path_factory.mktemp("cli_export")
    rng = np.random.default_rng(5)
    X = rng.uniform(-1.0, 1.0, size=(60, 2))
    y = 3.0 * X[:, 0] + np.sin(np.pi * X[:, 1])
    dataset = Dataset.from_arrays(X, y, ["u", "v"], ["g"])
    settings = SessionSettings(width=[2, 1, 1], grid=3, seed=2, functions=["x", "x^2", "sin"])
    save_project(Session(dataset, settings), folder / "untrained.kstudio")
    session = Session(dataset, settings)
    session.train(5)
    save_project(session, folder / "unlocked.kstudio")
    session.auto_symbolic(lock_all=True)
    save_project(session, folder / "study.kstudio")
    good = (folder / "study.kstudio").read_bytes()
    (folder / "truncated.kstudio").write_bytes(good[: len(good) * 2 // 3])
    (folder / "data.csv").write_text("u,v,g\n1,2,3\n", encoding="utf-8")
    return Projects(folder, session.formula().expressions[0], "g", ["u", "v"])


@pytest.fixture(scope="module")
def exports(projects: Projects) -> dict[str, Run]:
    """One export per format, all started together."""
    procs = {fmt: start(["export", "study.kstudio", "--format", fmt], projects.folder)
             for fmt in FORMATS}
    procs["latex --constants"] = start(["export", "study.kstudio", "--format", "latex",
                                        "--constants"], projects.folder)
    return {fmt: finish(proc, 240) for fmt, proc in procs.items()}


def test_every_format_exits_0(exports: dict[str, Run], projects: Projects) -> None:
    """Exit 0 and the formula on stdout; stderr holds nothing but, for the five-step
    model's formula (not verified), the one note that says it is approximate (JSON says
    so in its formula_status field instead)."""
    import kanstudio.session.project_file as project_file

    status = project_file.load_project(projects.folder / "study.kstudio").formula().status
    for fmt, run in exports.items():
        assert run.rc == 0, f"--format {fmt}: {run.stderr}"
        lines = run.stderr.splitlines()
        if status == "verified" or fmt == "json":
            assert lines == [], f"--format {fmt} wrote to stderr: {run.stderr}"
        else:
            assert len(lines) == 1 and lines[0].startswith(
                "kanstudio: note: approximate formula"), run.stderr
        assert run.stdout.strip(), f"--format {fmt} printed nothing"


def test_sympy_format_is_the_session_formula(exports: dict[str, Run],
                                             projects: Projects) -> None:
    text = exports["sympy"].stdout.strip()
    assert text == sympy.sstr(projects.formula)
    parsed = sympy.sympify(text)  # our own output, not an untrusted file
    assert {s.name for s in parsed.free_symbols} <= set(projects.inputs)


def test_python_format_computes_the_formula(exports: dict[str, Run],
                                            projects: Projects) -> None:
    namespace: dict = {}
    exec(exports["python"].stdout, namespace)  # noqa: S102 - our own exporter's output
    function = namespace["formula"]
    expr = sympy.sympify(exports["sympy"].stdout.strip())
    expected = sympy.lambdify([sympy.Symbol(n) for n in projects.inputs], expr, "numpy")
    rng = np.random.default_rng(11)
    u, v = rng.uniform(-1.0, 1.0, size=(2, 40))
    with np.errstate(all="ignore"):
        got = np.broadcast_to(np.asarray(function(u=u, v=v), dtype=float), u.shape)
        want = np.broadcast_to(np.asarray(expected(u, v), dtype=float), u.shape)
    assert np.isfinite(want).any()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_json_format_has_the_formula_and_every_result_field(
    exports: dict[str, Run], projects: Projects
) -> None:
    doc = json.loads(exports["json"].stdout)
    for field, kind in RESULT_FIELDS.items():
        assert isinstance(doc.get(field), kind), (field, doc.get(field))
    assert doc["formula"] == exports["sympy"].stdout.strip()
    assert doc["inputs"] == projects.inputs
    assert doc["target"] == projects.target
    assert doc["width"][0] == 2 and doc["width"][-1] == 1


def test_latex_format_names_the_target(exports: dict[str, Run]) -> None:
    doc = json.loads(exports["json"].stdout)
    line = exports["latex"].stdout.strip()
    assert "\n" not in line
    assert line == f"g = {doc['latex']}"


def test_latex_with_constants_adds_their_table_with_standard_errors(
    exports: dict[str, Run]
) -> None:
    doc = json.loads(exports["json"].stdout)
    constants = doc["constants"]
    assert constants and all(c["stderr"] > 0 for c in constants)  # {value, stderr} each
    out = exports["latex --constants"].stdout
    assert out.startswith(exports["latex"].stdout.strip() + "\n\n\\begin{table}")
    rows = [line for line in out.splitlines() if " \\pm " in line]
    assert len(rows) == len(constants)
    for row, c in zip(rows, constants, strict=True):
        shown, cell = row.removesuffix(" \\\\").split(" & ")
        assert shown == f"${c['shown']}$"
        value, error = (float(t) for t in cell.strip("$").split(" \\pm "))
        assert value == pytest.approx(c["value"], rel=1e-3, abs=2 * c["stderr"])
        assert error == pytest.approx(c["stderr"], rel=0.05)
    assert "standard errors from the least-squares Jacobian" in out


# ---------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(("name", "message"), [
    ("data.csv", r"cannot open data\.csv: not a valid archive"),
    ("truncated.kstudio", r"cannot open truncated\.kstudio: .*(truncated|corrupted)"),
    ("absent.kstudio", r"cannot open absent\.kstudio: .*No such file"),
    ("untrained.kstudio", r"untrained\.kstudio has no trained model yet"),
    ("unlocked.kstudio", r"not symbolic yet"),
], ids=["not-a-project", "truncated", "missing", "no-model", "edges-not-locked"])
def test_unusable_project_exits_2_with_one_line_reason(
    projects: Projects, capsys, monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    """Through the command's own main() in this process: the same code as the command,
    without one more torch start-up per case."""
    from kanstudio import cli

    monkeypatch.chdir(projects.folder)
    for fmt in ("latex", "json"):
        rc = cli.main(["export", name, "--format", fmt])
        captured = capsys.readouterr()
        assert rc == 2, captured.err
        assert captured.out == ""
        line = one_line_error(captured.err)
        assert re.search(message, line), line
