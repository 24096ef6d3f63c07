"""The worker accepts widths in KAN 2.0 notation and describes product networks."""

from __future__ import annotations

import numpy as np
import pytest

from kanstudio.data import Dataset
from kanstudio.session import Session, SessionSettings
from kanstudio.worker.protocol import width_field
from kanstudio.worker.snapshot import build_snapshot, model_summary


@pytest.mark.parametrize(("value", "width"), [
    (None, None),
    ([2, 5, 1], [2, 5, 1]),
    ([2, [0, 1], 1], [2, [0, 1], 1]),
    ("2,0+1,1", [2, [0, 1], 1]),
    ("2,[1,1],1", [2, [1, 1], 1]),
    ([2, [3, 0], 1], [2, 3, 1]),  # no products: the plain int
])
def test_width_field_accepts_the_notation(value, width) -> None:
    assert width_field(value) == width


@pytest.mark.parametrize(("value", "message"), [
    ([[1, 1], 1], "input nodes"),
    ("2,x,1", "width entry"),
    (7, "list"),
    ([2, [0, 1], 1], "mult_arity"),
])
def test_width_field_refuses_with_a_reason(value, message) -> None:
    arity = [5, 5] if message == "mult_arity" else 2
    with pytest.raises(ValueError, match=message):
        width_field(value, arity)


def test_snapshots_of_a_product_network_carry_its_structure() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (40, 2))
    session = Session(Dataset.from_arrays(X, X[:, 0] * X[:, 1], ["a", "b"], ["f"]),
                      SessionSettings(width=[2, [1, 1], 1], grid=3))
    session.new_model()
    before = model_summary(session)
    assert before["width"] == [2, 2, 1] and before["notation"] == [2, [1, 1], 1]
    session.train(1)
    snap = build_snapshot(session, step=1)
    assert snap.notation == [2, [1, 1], 1] and snap.mult_arity == [[], [2], []]
    assert snap.y[0].shape[:2] == (2, 3)  # a sum column and two factor columns
