"""Stand-ins inside whole formulas: a function whose argument barely moves on the data is
a polynomial there (issue 12 §4); a law's own functions are not flagged."""

from __future__ import annotations

import numpy as np
import sympy

from kanstudio.symbolic.regime import taylor_regime

n, theta, x = sympy.symbols("n theta x")
rng = np.random.default_rng(0)
# Feynman I.30.3's published ranges: n in [1, 4], theta in [1, 5]
ROWS = np.column_stack([rng.uniform(1, 4, 1000), rng.uniform(1, 5, 1000)])


def test_a_sine_of_a_tiny_argument_inside_a_formula_is_a_stand_in():
    # what the search engine offered for I.30.3 (test half), R² 0.9999 on the rows
    stand_in = sympy.cos(168.3 * n * sympy.sin(0.005938 * theta))
    assert taylor_regime(stand_in, [n, theta], ROWS) == sympy.sin(0.005938 * theta)


def test_the_law_itself_is_not_flagged():
    law = sympy.sin(n * theta / 2) ** 2 / sympy.sin(theta / 2) ** 2
    assert taylor_regime(law, [n, theta], ROWS) is None
    assert taylor_regime(sympy.exp(-theta / n) + theta**2, [n, theta], ROWS) is None


def test_an_exponential_is_flagged_only_where_a_parabola_matches_it():
    assert taylor_regime(sympy.exp(x), [x], np.linspace(0, 0.2, 50)[:, None]) is not None
    assert taylor_regime(sympy.exp(x), [x], np.linspace(0, 0.5, 50)[:, None]) is None
    # a constant argument, or one undefined everywhere, says nothing
    assert taylor_regime(sympy.exp(x) + sympy.sin(2), [x], np.linspace(0, 2, 50)[:, None]
                         ) is None
    assert taylor_regime(sympy.log(-1 - x**2), [x], np.linspace(0, 2, 50)[:, None]) is None
