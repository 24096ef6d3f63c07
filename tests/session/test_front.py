"""Discover's front on the session: each formula's accuracy on a 25 % wider input range,
"use this formula" as one undo step, and the front kept by the project file."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import sympy

from kanstudio.data import Dataset
from kanstudio.session import Session, SessionSettings
from kanstudio.session.front import FormulaFront, make_entry, plot_rows, use_formula
from kanstudio.session.front import wider_range_accuracy as wider
from kanstudio.session.project_file import load_project, save_project


class _Square:
    """A stand-in network that computes x² exactly (the session scales nothing)."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        return X[:, :1] ** 2


def _square_session() -> Session:
    x = np.random.default_rng(0).uniform(1.0, 2.0, (80, 1))
    return Session(Dataset.from_arrays(x, x**2, ["x"], ["y"]),
                   SessionSettings(width=[1, 1], seed=0, device="cpu", scale_inputs="none",
                                   scale_target="none"))


def test_wider_range_samples_25_percent_beyond_each_input_and_compares_with_the_network():
    session = _square_session()
    x = sympy.Symbol("x")
    points = session.margin_points()
    # x in about [1, 2]: the box is about [0.75, 2.25] (a positive input's stops halfway
    # to 0 at most)
    lo, hi = session.dataset.X.min(), session.dataset.X.max()
    assert points[:, 0].min() == pytest.approx(lo - 0.25 * (hi - lo))
    assert points[:, 0].max() == pytest.approx(hi + 0.25 * (hi - lo))
    exact = wider(session, [x**2], _Square())
    assert exact["margin"] == 0.25 and exact["defined"] == 1.0
    assert exact["r2_network"] == pytest.approx(1.0) and exact["status"] == "verified"
    # the least-squares line through x² on [1, 2]: R² 0.996 on the data, worse beyond it
    X = session.dataset.X[:, 0]
    slope, intercept = np.polyfit(X, X**2, 1)
    line = wider(session, [slope * x + intercept], _Square())
    in_range = 1 - np.mean((slope * X + intercept - X**2) ** 2) / np.var(X**2)
    assert in_range > 0.99
    assert line["r2_network"] < in_range - 0.005 and line["status"] == "approximate"
    # a formula undefined on part of the wider range says how much of it
    shifted = wider(session, [sympy.log(x - 0.9)], _Square())
    assert 0.0 < shifted["defined"] < 1.0 and shifted["status"] == "approximate"


def _locked(session: Session, name: str) -> object:
    session.lock(0, 0, 0, name)
    session.train(3, update_grid=False)
    return session.model


def test_use_formula_adopts_its_network_and_formula_as_one_undo_step():
    session = _square_session()
    session.train(5)
    cubic = copy.deepcopy(_locked(session, "x^3"))
    cubic_result = session.formula()
    square = _locked(session, "x^2")
    square_result = session.formula()
    rows = plot_rows(session)
    front = FormulaFront(
        [make_entry(session, r, m, [1, 1], c, chosen, None, rows)
         for r, m, c, chosen in ((square_result, square, 5, True),
                                 (cubic_result, cubic, 7, False))],
        session.dataset.y[rows, 0])
    session.front = front
    assert front.entries[0].wider["r2_network"] == pytest.approx(1.0, abs=1e-6)
    undo_depth = len(session._undo)
    what = use_formula(session, 1)
    assert len(session._undo) == undo_depth + 1 and what.startswith("adopt formula 2")
    assert session.formula().formula_test_r2 == cubic_result.formula_test_r2
    assert session.model.locked_edges() == {(0, 0, 0): "x^3"}
    assert session.undo() == what
    assert session.model.locked_edges() == {(0, 0, 0): "x^2"}
    with pytest.raises(ValueError, match="no such formula"):
        use_formula(session, 5)


def test_undo_brings_back_the_formula_chosen_for_a_model():
    # Discover may choose a formula other than the one read off the edges (the search
    # engine's); after an edit and its undo, that choice is still the model's formula.
    session = _square_session()
    session.train(5)
    _locked(session, "x^2")
    chosen = session.formula()
    chosen.status_reason = "picked"
    session.pin_formula(chosen)
    session.unlock(0, 0, 0)
    assert session.formula_report is None
    session.undo()
    assert session.formula() is chosen


@pytest.fixture(scope="module")
def discovered():
    from kanstudio.session.pipeline import PipelineSettings, discover

    x = np.random.default_rng(0).uniform(-1, 1, (200, 1))
    session = Session(Dataset.from_arrays(x, np.sin(np.pi * x), ["x"], ["f"]),
                      SessionSettings(seed=0, device="cpu"))
    result = None
    for event in discover(session, PipelineSettings(search=None, search_leaf=None,
                                                    structure=False)):
        result = event.info.get("formula", result)
    return session, result


def test_discover_keeps_its_front_on_the_session(discovered):
    session, result = discovered
    front = session.front
    assert [e.formula for e in front.entries] == [p["formula"] for p in result.pareto]
    assert sum(e.chosen for e in front.entries) == 1 and front.usable
    chosen = next(e for e in front.entries if e.chosen)
    assert chosen.status == "verified" and chosen.network_r2 == pytest.approx(1.0)
    assert chosen.predicted.shape == front.actual.shape == (len(session.test_idx),)
    assert result.pareto[0]["wider_range"]["points"] > 1000
    assert session.formula() is result


def test_the_front_survives_save_and_reopen_as_display_data(discovered, tmp_path):
    session, _ = discovered
    path = tmp_path / "p.kstudio"
    save_project(session, path)
    again = load_project(path, device="cpu").front
    before = session.front.entries
    assert [e.info() for e in again.entries] == [e.info() for e in before]
    np.testing.assert_array_equal(again.entries[0].predicted, before[0].predicted)
    assert not again.usable  # no networks saved with it: shown, not usable
    reopened = load_project(path, device="cpu")
    reopened.front = again
    with pytest.raises(ValueError, match="run Discover again"):
        use_formula(reopened, 0)


def test_a_project_without_a_front_still_opens(tmp_path):
    session = _square_session()
    session.train(2)
    save_project(session, tmp_path / "old.kstudio")
    assert load_project(tmp_path / "old.kstudio").front is None
