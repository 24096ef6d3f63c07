"""A formula is defined on 25 % of each input's range beyond the data, except below 0 for
a positive input (issue 12 §4): the formula reports it, the pipeline sees which edge."""

from __future__ import annotations

import numpy as np
import pytest

from kanstudio.data import Dataset
from kanstudio.session import Session, SessionSettings
from kanstudio.session.pipeline import _off_domain_edges


def _session(name: str, params: tuple[float, float, float, float]) -> Session:
    rng = np.random.default_rng(0)
    x = rng.uniform(1.0, 2.0, (80, 1))
    session = Session(Dataset.from_arrays(x, np.sqrt(x), ["x"], ["y"]),
                      SessionSettings(width=[1, 1], seed=0, device="cpu",
                                      scale_inputs="none"))
    session.train(2)
    session.lock(0, 0, 0, name)
    session.model.lock_edge(0, 0, 0, name, params)
    return session


def test_a_sqrt_turning_negative_just_past_the_data_is_reported() -> None:
    session = _session("sqrt", (1.0, -0.9, 1.0, 0.0))  # sqrt(x - 0.9), data x in [1, 2]
    result = session.formula()
    assert not result.defined_on_margin
    assert "undefined at" in result.margin_reason and "25%" in result.margin_reason
    assert _off_domain_edges(session) == [(0, 0, 0)]


@pytest.mark.parametrize("name", ["sqrt", "log"])
def test_a_boundary_at_zero_of_a_positive_input_is_legitimate(name: str) -> None:
    session = _session(name, (1.0, 0.0, 1.0, 0.0))  # sqrt(x), log(x) on x in [1, 2]
    assert session.formula().defined_on_margin
    assert _off_domain_edges(session) == []


def test_the_margin_reaches_a_quarter_of_the_range_beyond_the_data() -> None:
    session = _session("sqrt", (1.0, 0.0, 1.0, 0.0))
    points, X = session.margin_points(), session.dataset.X
    lo, hi, span = X.min(), X.max(), np.ptp(X)
    assert points.min() == pytest.approx(max(lo - 0.25 * span, lo / 2))
    assert points.max() == pytest.approx(hi + 0.25 * span)
