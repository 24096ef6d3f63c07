"""The Feynman benchmark's scorer: what counts as exact, how R² treats undefined formulas, and
that column names which are also sympy names stay columns. Pure functions, milliseconds each;
nothing here runs a fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from feynman_score import (
    Equation,
    Variable,
    exact_match,
    formula_names,
    knee_index,
    load_equations,
    parse_formula,
    score_formula,
    snap_number,
)


def _equation(formula: str, *variables: tuple[str, float, float], position: int = 1) -> Equation:
    return Equation(position, "custom", False, "y", formula,
                    tuple(Variable(n, lo, hi) for n, lo, hi in variables))


def _candidate(text: str, equation: Equation) -> sympy.Expr:
    return parse_formula(text, {n: n for n in equation.names}, equation.symbols())


@pytest.fixture(scope="module")
def table() -> dict[str, Equation]:
    return {e.name: e for e in load_equations()}


def test_table_has_the_published_equations_in_two_even_halves(table):
    equations = list(table.values())
    assert len(equations) == 120 and sum(e.bonus for e in equations) == 20
    assert [e.position for e in equations] == list(range(1, 121))
    assert sum(e.half == "tune" for e in equations) == 60
    assert table["I.6.2a"].half == "tune" and table["I.6.2"].half == "test"
    for e in equations:  # every listed variable is used, and nothing else
        assert {s.name for s in e.truth().free_symbols} == set(e.names), e.name
        assert all(v.low < v.high for v in e.variables), e.name


@pytest.mark.parametrize("value, nice", [
    (3.14159265, sympy.pi), (0.0795775, 1 / (4 * sympy.pi)), (0.500002, sympy.Rational(1, 2)),
    (0.3989423, 1 / sympy.sqrt(2 * sympy.pi)), (8.37758, 8 * sympy.pi / 3), (-6.4, -32 / 5),
    (1.9998, 2),
])
def test_constants_snap_to_the_simplest_nice_number(value, nice):
    assert sympy.simplify(snap_number(value) - nice) == 0


def test_known_equal_formulas_are_exact_after_snapping(table):
    gauss = table["I.6.2a"]  # exp(-theta**2/2)/sqrt(2*pi)
    got = _candidate("0.39894225*exp(-0.50000013*theta**2.0000001)", gauss)
    exact, method, _ = exact_match(got, gauss, np.random.default_rng(0))
    assert exact and method == "symbolic"
    lorentz = table["I.10.7"]  # m_0/sqrt(1 - v**2/c**2)
    got = _candidate("m_0*c/sqrt(c**2 - v**2)", lorentz)
    assert exact_match(got, lorentz, np.random.default_rng(0))[0]


def test_a_leftover_intercept_at_a_millionth_of_the_values_rounds_to_zero(table):
    force = table["I.12.5"]  # q2*Ef, values 1..25 (Operon's answer, as it wrote it)
    got = _candidate("0.99999999678512935*Ef*q2 + 1.5753422531e-6", force)
    assert exact_match(got, force, np.random.default_rng(0))[:2] == (True, "symbolic")
    offset = _candidate("Ef*q2 + 0.1", force)  # an intercept that is really there
    assert not exact_match(offset, force, np.random.default_rng(0))[0]


def test_close_but_different_formulas_are_not_exact(table):
    gauss = table["I.6.2a"]
    for text in ("0.4*exp(-0.5*theta**2)",  # constant 0.26 % off: a different formula
                 "0.3989*exp(-0.5*theta**2) + 0.001*theta",  # a term too many
                 "0.39894228*cos(0.7*theta)"):  # a look-alike of another shape
        got = _candidate(text, gauss)
        assert not exact_match(got, gauss, np.random.default_rng(0))[0], text
    scores = score_formula(_candidate("0.4*exp(-0.5*theta**2)", gauss), gauss, seed=0)
    assert not scores["exact"] and scores["r2"] > 0.999  # accurate, yet not the law


def test_names_that_are_sympy_names_stay_columns():
    columns = ["beta", "gamma", "lambda", "E", "I", "S", "N", "Q"]
    text = "beta*gamma + lambda - E*I + S/N + Q**2 + exp(1)"
    expr = parse_formula(text, {c: c for c in columns})
    assert {s.name for s in expr.free_symbols} == set(columns)
    assert all(isinstance(s, sympy.Symbol) for s in expr.free_symbols)
    values = {sympy.Symbol(c, real=True): 2 for c in columns}
    assert float(expr.subs(values)) == pytest.approx(4 + 2 - 4 + 1 + 4 + math.e)


def test_result_json_says_how_to_read_the_formula():
    columns = ["beta", "E"]
    # today's CLI renames clashing columns and lists the renamed inputs in order
    names = formula_names({"inputs": ["beta_", "E_"]}, columns)
    expr = parse_formula("beta_ + E_*E", names)
    assert expr == sympy.Symbol("beta", real=True) + sympy.Symbol("E", real=True) * sympy.E
    # a "symbols" list: names as written, in input order (or explicit name -> column objects)
    assert formula_names({"symbols": ["beta", "E"], "inputs": ["x", "y"]}, columns) == {
        "beta": "beta", "E": "E"}
    assert formula_names({"symbols": [{"name": "opv0_", "column": "beta"}]}, columns) == {
        "opv0_": "beta"}
    assert formula_names({}, columns) == {"beta": "beta", "E": "E"}


def test_a_formula_undefined_just_outside_the_data_scores_minus_infinity():
    line = _equation("x", ("x", 1.0, 3.0))
    shifted_log = _candidate("x + 1e-9*log(x - 0.9)", line)  # log of a negative once x < 0.9
    scores = score_formula(shifted_log, line, seed=0)
    assert scores["r2"] > 0.999999
    assert scores["r2_wide"] == -math.inf


def test_points_where_the_truth_itself_is_undefined_are_left_out(table):
    lorentz = table["I.10.7"]  # v > c in the wider box: the law has no value there
    scores = score_formula(lorentz.truth(), lorentz, seed=0)
    assert scores["r2"] == 1.0 and scores["r2_wide"] == 1.0
    assert scores["r2_wide_truth_undefined"] > 0 and "r2_truth_undefined" not in scores


def test_knee_is_the_point_where_more_terms_stop_paying():
    complexity = [1, 3, 5, 9, 15, 25]
    mse = [10.0, 1.0, 1e-12, 9e-13, 8e-13, 7e-13]  # exact at 5; the rest overfit noise
    assert knee_index(complexity, mse) == 2
    assert knee_index([4], [0.5]) == 0
