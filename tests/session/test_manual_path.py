"""The manual path a user clicks through (fit -> prune -> auto-symbolic -> fit -> formula)
keeps every input the network uses (issue 12 §3). Before the ranking fix, the second
layer's edges of this additive law ranked the constant ``0`` (R² 0) first, were locked to
it, and the formula lost ``a`` (held-out R² -0.02)."""

from __future__ import annotations

import numpy as np

from kanstudio.data import Dataset
from kanstudio.session import Session, SessionSettings


def test_auto_symbolic_keeps_both_inputs_of_an_additive_law() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, (300, 2))
    y = np.sin(np.pi * X[:, 0]) + 0.3 * X[:, 1]
    session = Session(Dataset.from_arrays(X, y[:, None], ["a", "b"], ["y"]),
                      SessionSettings(seed=0, device="cpu", lamb=1e-2))
    session.train(30)
    session.prune()
    session.train(20, lamb=0.0)
    results = session.auto_symbolic(lock_all=True)
    assert all(r.name != "0" for r in results)  # was: four edges locked to 0
    session.train(20, lamb=0.0)
    result = session.formula()
    assert {s.name for s in result.expressions[0].free_symbols} == {"a", "b"}
    # Edge by edge, auto_symbolic's accuracy depends on the training trajectory (0.947 to
    # 0.99996 across engine versions for this seed); what must hold is the status: the
    # formula is called verified only if it reproduces the (here fully locked) network.
    assert result.formula_test_r2 > 0.9
    if result.status == "verified":
        assert abs(result.formula_test_r2 - result.network_test_r2) < 1e-3


def test_an_input_locked_out_of_the_formula_is_reported() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, (200, 2))
    y = np.sin(np.pi * X[:, 0]) + 0.3 * X[:, 1]
    session = Session(Dataset.from_arrays(X, y[:, None], ["a", "b"], ["y"]),
                      SessionSettings(width=[2, 1], seed=0, device="cpu"))
    session.train(10)
    session.lock(0, 0, 0, "0")  # what the old ranking did: a's edge locked to the constant
    session.lock(0, 1, 0, "x")
    result = session.formula()
    assert result.missing_inputs == ["a"]
    assert result.status == "approximate"
    assert result.status_reason.startswith("input(s) a have active edges in the network but "
                                           "their functions are constants")
