"""An edge locked to a searched expression in a session: one undo step, and the project
file keeps it (a tampered stored expression is refused with the reason)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kanstudio.data import Dataset
from kanstudio.model.symbolic_verbs import expression_lock_name
from kanstudio.session import Session, SessionSettings
from kanstudio.session.project_file import ProjectError, load_project, save_project


@pytest.fixture
def session() -> Session:
    rng = np.random.default_rng(1)
    X = rng.uniform(-1.0, 1.0, (120, 1))
    y = np.exp(X[:, 0]) * np.sin(2 * X[:, 0])
    s = Session(Dataset.from_arrays(X, y[:, None], ["t"], ["y"]),
                SessionSettings(width=[1, 1], steps=15, seed=0))
    s.train()
    return s


def test_lock_to_an_expression_is_one_undo_step_and_a_project_keeps_it(
        session: Session, tmp_path: Path) -> None:
    name = expression_lock_name("exp(x)*sin(2*x)")
    fit = session.lock(0, 0, 0, name)
    assert fit.ok and fit.r2 > 0.99
    formula = session.formula()
    text = str(formula.expressions[0])
    assert "exp(" in text and "sin(" in text and "phi" not in text
    save_project(session, tmp_path / "p.kstudio")
    back = load_project(tmp_path / "p.kstudio")
    assert back.model.locked_edges() == {(0, 0, 0): name}
    X = session.dataset.X
    np.testing.assert_array_equal(back.model.predict(X), session.model.predict(X))
    assert str(back.formula().expressions[0]) == str(formula.expressions[0])
    assert session.undo() == "lock (0, 0, 0) to exp(x)*sin(2*x)"
    assert session.model.locked_edges() == {}


def test_a_tampered_expression_in_a_project_is_refused_with_the_reason(
        session: Session, tmp_path: Path) -> None:
    session.lock(0, 0, 0, expression_lock_name("sin(x)"))
    save_project(session, tmp_path / "p.kstudio")
    with zipfile.ZipFile(tmp_path / "p.kstudio") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    doc = json.loads(members["session.json"])
    doc["model"]["network"]["layers"][0]["locked"] = [[0, 0, 'expr:["eval",["var",0]]']]
    members["session.json"] = json.dumps(doc).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    (tmp_path / "bad.kstudio").write_bytes(buf.getvalue())
    with pytest.raises(ProjectError, match=r"edge \(0, 0, 0\) cannot be locked: .*"
                                           r"unknown operator 'eval'"):
        load_project(tmp_path / "bad.kstudio")
