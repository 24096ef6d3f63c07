"""``formula_status``: "verified" only when the formula reproduces the network on held-out
rows within ``VERIFY_TOLERANCE``; a constant formula is never verified for a varying network."""

from __future__ import annotations

import numpy as np
import pytest

from kanstudio.session.session import VERIFY_TOLERANCE, formula_status

rng = np.random.default_rng(0)
NETWORK = np.sin(rng.uniform(-3, 3, 200))


def test_a_formula_within_the_tolerance_is_verified() -> None:
    formula = NETWORK + 0.5 * VERIFY_TOLERANCE * NETWORK.std() * rng.standard_normal(200)
    status, rel, why = formula_status(formula, NETWORK, constant=False)
    assert status == "verified" and rel < VERIFY_TOLERANCE and "reproduces" in why


def test_a_formula_beyond_the_tolerance_is_approximate_and_says_by_how_much() -> None:
    formula = NETWORK + 3 * VERIFY_TOLERANCE * NETWORK.std() * np.sign(NETWORK)
    status, rel, why = formula_status(formula, NETWORK, constant=False)
    assert status == "approximate" and rel == pytest.approx(3 * VERIFY_TOLERANCE, rel=0.2)
    assert "differs from the network by" in why


def test_a_constant_is_never_verified_when_the_network_is_not() -> None:
    network = 5.0 + 1e-3 * NETWORK  # varies, if little
    status, _, why = formula_status(np.full(200, 5.0), network, constant=True)
    assert status == "approximate" and "constant" in why


def test_a_formula_that_overflows_is_approximate() -> None:
    formula = NETWORK.copy()
    formula[3] = np.inf
    assert formula_status(formula, NETWORK, constant=False)[0] == "approximate"
