"""Standard errors of a formula's free constants (issue 12 §4): the least-squares Jacobian
on the training rows, as scipy's curve_fit reports them; null with a reason otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from scipy.optimize import curve_fit

from kanstudio.symbolic.uncertainty import constant_errors, free_constants

x = sympy.Symbol("x")
rng = np.random.default_rng(0)
X = rng.uniform(0.0, 2.0, 400)
Y = 2.5 * np.exp(-1.3 * X) + 0.01 * rng.standard_normal(400)


def test_standard_errors_match_curve_fit() -> None:
    (a, b), cov = curve_fit(lambda t, a, b: a * np.exp(b * t), X, Y, p0=[2.5, -1.3])
    formula = sympy.Float(a) * sympy.exp(sympy.Float(b) * x)
    out = constant_errors(formula, [x], X[:, None], Y)
    assert [c["value"] for c in out] == pytest.approx([a, b])
    assert [c["stderr"] for c in out] == pytest.approx(np.sqrt(np.diag(cov)), rel=1e-3)


def test_constants_that_trade_off_get_null_with_a_reason() -> None:
    # c1 log(c2 x) + c3: c2 and c3 are one constant (c1 log c2 + c3) in disguise
    formula = sympy.Float(-0.9) * sympy.log(sympy.Float(1.7) * x) + sympy.Float(0.2)
    assert len(free_constants(formula)) == 3
    out = constant_errors(formula, [x], X[:, None], Y)
    assert all(c["stderr"] is None and "trade off" in c["reason"] for c in out)


def test_a_formula_without_floats_has_no_constants() -> None:
    assert constant_errors(sympy.exp(-x), [x], X[:, None], Y) == []
