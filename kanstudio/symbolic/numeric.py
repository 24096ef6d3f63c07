"""Formula values as real numbers.

A formula over real data may still hold the imaginary unit: sympy writes ``log(-2*x)`` as
``log(2*x) + I*pi`` and ``sqrt(-x)`` as ``I*sqrt(x)``, so an expression the search engine or
a simplification produced can be complex on every row. numpy's ``astype(float)`` drops the
imaginary part with only a warning, and such a formula would then be scored (and shown) as
if it fitted. Here a value whose imaginary part is not zero is NaN: undefined, as
``sqrt(-1)`` is in real arithmetic, so every check that refuses non-finite values refuses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["evaluate", "real_values", "IMAGINARY_TOLERANCE"]

#: An imaginary part at most this times ``max(1, |real part|)`` is rounding (``I*pi - I*pi``
#: evaluated in floating point), not a complex value.
IMAGINARY_TOLERANCE = 1e-12


def real_values(values: Any, n: int) -> np.ndarray:
    """What a lambdified formula returned for ``n`` rows, as ``n`` float64 values (a
    constant is repeated), NaN where the value is complex."""
    v = np.asarray(values)
    if np.iscomplexobj(v):
        with np.errstate(all="ignore"):
            real = np.abs(v.imag) <= IMAGINARY_TOLERANCE * np.maximum(1.0, np.abs(v.real))
        v = np.where(real, v.real, np.nan)
    return np.broadcast_to(v.astype(np.float64, copy=False), (n,))


def evaluate(expr: Any, symbols: Sequence[Any], X: np.ndarray) -> np.ndarray:
    """The sympy expression ``expr`` over ``symbols`` on the rows ``X``
    ``(n, len(symbols))``: ``n`` float64 values (a new array), non-finite where it is
    undefined (numpy's warnings silenced) and NaN where it is complex."""
    import sympy

    fn = sympy.lambdify(list(symbols), expr, modules="numpy")
    with np.errstate(all="ignore"):
        values = fn(*[X[:, k] for k in range(X.shape[1])])
    return real_values(values, X.shape[0]).copy()
