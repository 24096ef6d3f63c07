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


def test_a_value_is_shown_to_the_decimal_place_of_its_two_digit_error():
    from kanstudio.symbolic.uncertainty import format_with_error

    assert format_with_error(1.76912345, 0.00123) == ("1.7691", "0.0012", 0)
    assert format_with_error(-0.5, 0.25) == ("-0.50", "0.25", 0)
    # far from 1: value and error share a power of ten
    assert format_with_error(3.2e-7, 1.1e-9) == ("3.200", "0.011", -7)
    assert format_with_error(2.0, None) == ("2", None, 0)


def test_the_latex_constants_table_has_one_row_per_constant_and_says_what_is_unknown():
    from kanstudio.symbolic.export import constants_table

    table = constants_table([
        {"value": 1.76912345, "stderr": 0.00123, "shown": "1.769"},
        {"value": 3.2e-7, "stderr": 1.1e-9, "shown": "3.200e-7"},
        {"value": 2.5, "stderr": None, "reason": "the constants trade off", "shown": "2.5"}])
    lines = table.splitlines()
    assert lines[0] == r"\begin{table}[h]" and lines[-1] == r"\end{table}"
    assert r"$1.769$ & $1.7691 \pm 0.0012$ \\" in lines
    assert r"$3.200 \cdot 10^{-7}$ & $(3.200 \pm 0.011) \times 10^{-7}$ \\" in lines
    assert r"$2.5$ & $2.5$ (n/a) \\" in lines
    assert "not determined: the constants trade off" in table
    assert constants_table([]) == ""
