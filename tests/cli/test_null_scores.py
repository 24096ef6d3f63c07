"""A formula that overflows on held-out rows is still a result: null scores with a reason,
exit 0, never ``internal error: TypeError ... NoneType.__format__`` (issue 12 §4)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kanstudio.cli import summary_line
from kanstudio.data import Dataset
from kanstudio.session import Session, SessionSettings
from kanstudio.session.project_file import save_project
from tests.cli.helpers import finish, start


@pytest.fixture(scope="module")
def overflowing_project(tmp_path_factory) -> Path:
    """y = exp(3x) on [0, 1], its edge locked to exp(800 x): inf on most held-out rows."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (60, 1))
    session = Session(Dataset.from_arrays(x, np.exp(3.0 * x), ["x"], ["y"]),
                      SessionSettings(width=[1, 1], seed=0, device="cpu"))
    session.train(3)
    session.lock(0, 0, 0, "exp")
    session.model.lock_edge(0, 0, 0, "exp", (800.0, 0.0, 1.0, 0.0))
    path = tmp_path_factory.mktemp("overflow") / "p.kstudio"
    save_project(session, path)
    return path


def test_export_json_of_an_overflowing_formula_gives_null_scores_with_reasons(
        overflowing_project: Path) -> None:
    run = finish(start(["export", str(overflowing_project), "--format", "json"],
                       overflowing_project.parent))
    assert run.rc == 0, run.stderr
    assert "Traceback" not in run.stderr and "Warning" not in run.stderr
    result = json.loads(run.stdout)
    assert result["formula_test_r2"] is None and result["formula_test_rmse"] is None
    reason = result["null_reasons"]["formula_test_r2"]
    assert "not finite on" in reason and "held-out rows" in reason
    assert result["formula_status"] == "approximate"
    # every null score has its reason, and no finite score has one
    for name in ("train_rmse", "test_rmse", "network_test_r2", "formula_test_rmse",
                 "formula_test_r2"):
        assert (result[name] is None) == (name in result["null_reasons"])


def test_export_as_text_says_approximate_on_stderr(overflowing_project: Path) -> None:
    run = finish(start(["export", str(overflowing_project), "--format", "sympy"],
                       overflowing_project.parent))
    assert run.rc == 0 and "exp(" in run.stdout
    assert run.stderr.startswith("kanstudio: note: approximate formula:")


def test_the_fit_summary_line_says_approximate_plainly() -> None:
    payload = {"formula_test_r2": 0.93, "network_test_r2": 0.9999, "width": [2, 1],
               "formula_status": "approximate",
               "formula_status_reason": "the formula differs from the network by 5.00%"}
    text = summary_line(payload, 2.0)
    assert "network R²: 0.999900" in text
    assert "approximate formula: the formula differs from the network by 5.00%" in text


def test_the_fit_summary_line_says_n_a_and_why_instead_of_crashing() -> None:
    payload = {"formula_test_r2": None, "width": [1, 1],
               "null_reasons": {"formula_test_r2": "the formula is not finite on 3 of 20 "
                                                   "held-out rows"}}
    line = summary_line(payload, 1.25)
    assert "n/a (the formula is not finite on 3 of 20 held-out rows)" in line
    assert summary_line({**payload, "formula_test_r2": 0.5, "null_reasons": {}},
                        1.0).startswith("formula R² on held-out rows: 0.500000")
