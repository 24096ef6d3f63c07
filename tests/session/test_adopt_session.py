"""Session.adopt_session: another seed's model on the same data, as one undo step, with the
settings, split and scaling it was trained with (what Discover across seeds loads)."""

from __future__ import annotations

import numpy as np
import pytest

from kanstudio.data import Dataset
from kanstudio.session import Session, SessionError, SessionSettings
from kanstudio.session.project_file import load_project, save_project


def _data(scale: float = 1.0) -> Dataset:
    rng = np.random.default_rng(7)
    X = rng.uniform(-1.0, 1.0, size=(40, 2))
    return Dataset.from_arrays(X, scale * (3 * X[:, 0] + X[:, 1] ** 2), ["a", "b"], ["y"])


def _trained(seed: int, data: Dataset | None = None) -> Session:
    session = Session(data or _data(), SessionSettings(width=[2, 1], grid=3, seed=seed))
    session.new_model()
    session.train(2)
    return session


def test_adopting_a_seed_is_one_undo_step_with_its_split_and_scaling(tmp_path):
    mine, theirs = _trained(0), _trained(1)
    assert not np.array_equal(mine.test_idx, theirs.test_idx)  # the seed picks the split
    X = mine.dataset.X
    before = mine.predict(X)
    mine.adopt_session(theirs, "the model of seed 1")
    assert mine.settings.seed == 1 and np.array_equal(mine.test_idx, theirs.test_idx)
    np.testing.assert_array_equal(mine.predict(X), theirs.predict(X))
    assert mine.history[-1]["op"] == "adopt"

    # Saved and reopened, the adopted model predicts the same: its seed travelled with it.
    save_project(mine, tmp_path / "adopted.kstudio")
    np.testing.assert_allclose(load_project(tmp_path / "adopted.kstudio").predict(X),
                               theirs.predict(X), rtol=1e-12)

    assert mine.undo() == "adopt the model of seed 1"
    assert mine.settings.seed == 0 and not np.array_equal(mine.test_idx, theirs.test_idx)
    np.testing.assert_array_equal(mine.predict(X), before)
    mine.redo()
    assert mine.settings.seed == 1
    np.testing.assert_array_equal(mine.predict(X), theirs.predict(X))
    # An edit after adopting undoes to the adopted model, under its own split.
    mine.prune_edge(0, 1, 0)
    mine.undo()
    assert mine.settings.seed == 1
    np.testing.assert_array_equal(mine.predict(X), theirs.predict(X))


def test_a_model_of_other_data_is_refused():
    mine = _trained(0)
    last = mine.history[-1]
    with pytest.raises(SessionError, match="other data"):
        mine.adopt_session(_trained(1, _data(scale=2.0)), "seed 1")
    assert mine.history[-1] is last and mine.settings.seed == 0  # nothing changed
    untrained = Session(_data(), SessionSettings(seed=1))
    with pytest.raises(SessionError, match="no trained model"):
        mine.adopt_session(untrained, "seed 1")


def test_the_formula_discover_chose_comes_with_the_adopted_model(tmp_path):
    """A seed's model after an early exit of Discover has no locked edge: its formula is
    the pinned one, and adopting the seed (also from its saved project) must bring it."""
    import sympy

    mine, theirs = _trained(0), _trained(1)
    a, b = sympy.symbols("a b")
    chosen = theirs.describe_formula([3 * a + b**2])
    theirs.pin_formula(chosen)
    assert theirs.model.locked_edges() == {}
    save_project(theirs, tmp_path / "seed1.kstudio")
    for other in (theirs, load_project(tmp_path / "seed1.kstudio")):
        mine.adopt_session(other, "the model of seed 1")
        assert mine.formula().expressions[0] == chosen.expressions[0]
        mine.undo()  # the model before had no formula chosen: none comes back with it
        assert mine.chosen_formula is None
