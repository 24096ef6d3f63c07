"""A node locked to an expression in a session: one undo step (undo and redo carry it), the
formula in the data's names shows it, and a project file round-trips it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy

from kanstudio.data import Dataset
from kanstudio.session import Session, SessionSettings
from kanstudio.session.project_file import load_project, save_project

TRUE = "sin(pi*x1) + x2**2"


@pytest.fixture(scope="module")
def trained() -> Session:
    rng = np.random.default_rng(7)
    X = rng.uniform(-1.0, 1.0, size=(120, 2))
    y = np.sin(np.pi * X[:, 0]) + X[:, 1] ** 2
    data = Dataset.from_arrays(X, y, ["a", "b"], ["f"])
    session = Session(data, SessionSettings(width=[2, 2, 1], grid=3, seed=1,
                                            scale_inputs="none"))
    session.train(steps=10)
    return session


def test_lock_undo_redo_and_the_formula(trained: Session) -> None:
    import copy

    s = copy.deepcopy(trained)
    before = s.predict(s.dataset.X)
    s.lock_node(1, 0, TRUE)
    assert s.model.locked_nodes()[(1, 0)][1] == [0, 1]
    assert s.node_lock_text(*s.model.locked_nodes()[(1, 0)]) == "b**2 + sin(pi*a)"
    a = sympy.Symbol("a")
    shown = s.model.formula(names=["a", "b"], numeric="placeholder", tidy=False)
    assert shown.has(sympy.sin(sympy.pi * a))  # in the node's place, not its edges
    assert s.undo().startswith("lock node (1, 0) to ")
    assert s.model.locked_nodes() == {}
    np.testing.assert_array_equal(s.predict(s.dataset.X), before)
    s.redo()
    assert (1, 0) in s.model.locked_nodes()
    s.unlock_node(1, 0)
    np.testing.assert_array_equal(s.predict(s.dataset.X), before)
    assert s.undo() == "unlock node (1, 0)" and (1, 0) in s.model.locked_nodes()


def test_a_project_round_trips_a_locked_node(trained: Session, tmp_path: Path) -> None:
    import copy

    s = copy.deepcopy(trained)
    s.lock_node(2, 0, TRUE)
    path = tmp_path / "node.kstudio"
    save_project(s, path)
    loaded = load_project(path)
    assert loaded.model.locked_nodes() == s.model.locked_nodes()
    np.testing.assert_array_equal(loaded.predict(s.dataset.X), s.predict(s.dataset.X))
    assert str(loaded.formula().expressions[0]) == str(s.formula().expressions[0])
    assert [h["op"] for h in loaded.history][-1] == "lock_node"
