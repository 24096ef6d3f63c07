"""Is a function in a whole formula doing anything its data can see?

The edge rule of :mod:`kanstudio.symbolic.conditioning` looks at one fitted edge; a formula
found by the structure step or the search engine holds functions of composite arguments,
and the same stand-in hides there: ``cos(168.3*n*sin(0.005938*theta))`` for Feynman
I.30.3, whose inner ``sin`` moves over an argument of at most 0.03 on the data, where it
is a straight line to within 0.006 % of its spread. Such a formula fits, but the function
it names is not what the data showed: any curve with the same first Taylor terms would fit
as well.

Rule: for each application ``f(u)`` of a transcendental function in the formula whose
argument depends on the inputs, take the range of ``u`` over the rows and sample ``f``
there; if a polynomial of degree :data:`TAYLOR_DEGREE` in ``u`` reproduces it to within
``TAYLOR_TOLERANCE`` (the edge rule's 1e-3) of its spread, ``f`` is in its Taylor regime on
the data. ``exp`` over an argument range of 0.5 departs from the best parabola by 0.28 % of
its spread and is not flagged; over 0.2, by 0.045 %, and is (the edge rule's own example:
over a range of 0.1, 0.01 %).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy

from kanstudio.symbolic.conditioning import TAYLOR_TOLERANCE
from kanstudio.symbolic.numeric import evaluate, real_values

__all__ = ["TAYLOR_DEGREE", "TRANSCENDENTAL", "taylor_regime"]

TAYLOR_DEGREE = 2
TRANSCENDENTAL = (sympy.sin, sympy.cos, sympy.tan, sympy.exp, sympy.log, sympy.sinh,
                  sympy.cosh, sympy.tanh, sympy.asin, sympy.acos, sympy.atan, sympy.asinh,
                  sympy.acosh, sympy.atanh)
_POINTS = 65


def taylor_regime(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray
                  ) -> sympy.Expr | None:
    """The first function application (reading ``expr`` outside in) that is in its Taylor
    regime over the rows ``X`` ``(n, len(symbols))``, or None."""
    u = sympy.Dummy("u")
    for node in sympy.preorder_traversal(expr):
        if not (isinstance(node, sympy.Function) and node.func in TRANSCENDENTAL
                and node.args[0].free_symbols):
            continue
        try:
            values = evaluate(node.args[0], symbols, X)
            outer = sympy.lambdify([u], node.func(u), modules="numpy")
        except (TypeError, ValueError, NameError, SyntaxError, RecursionError):
            continue
        values = values[np.isfinite(values)]
        if values.size < 2:
            continue
        lo, hi = float(values.min()), float(values.max())
        if not hi > lo:
            continue
        grid = np.linspace(lo, hi, _POINTS)
        with np.errstate(all="ignore"):
            curve = real_values(outer(grid), _POINTS)
        spread = float(np.std(curve))
        if not (np.all(np.isfinite(curve)) and spread > 0):
            continue
        t = (grid - lo) / (hi - lo) * 2.0 - 1.0
        fitted = np.polynomial.polynomial.polyval(
            t, np.polynomial.polynomial.polyfit(t, curve, TAYLOR_DEGREE))
        if float(np.sqrt(np.mean((curve - fitted) ** 2))) <= TAYLOR_TOLERANCE * spread:
            return node
    return None
