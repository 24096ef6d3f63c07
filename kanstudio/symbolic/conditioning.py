"""Is a fitted edge ``c·f(a·x + b) + d`` what it claims to be on the data it was fitted to?

Two ways a candidate can fit well and still say nothing (issue 12 §4), each with its rule:

* **Taylor-regime stand-in.** Over the data's range the argument ``a·x + b`` moves so
  little that ``f`` is indistinguishable from the first terms of its Taylor series:
  ``1e6·sin(1e-4·x)`` is ``100·x``, a cosine of tiny frequency is a parabola. Rule: sample
  the curve ``g = c·f(a·x + b)`` on the data's range; if the best polynomial of degree
  ``k`` (1, then 2) in ``x`` leaves a residual whose rms is at most ``TAYLOR_TOLERANCE``
  of ``g``'s standard deviation, and ``f`` is not itself a polynomial of degree ``<= k``,
  the candidate mimics that polynomial: it is replaced by ``x`` (k = 1) or ``x^2``
  (k = 2), the same curve with no extreme constants. ``TAYLOR_TOLERANCE = 1e-3`` is 7
  times finer than what the ranking resolves (``fitting.R2_FLOOR``: an rms of 0.7 % of
  the spread), so only a candidate whose own shape is invisible on the data is replaced;
  e.g. ``exp`` over an argument range of 1 departs from a parabola by about 0.7 % and is
  kept, over a range of 0.1 by 0.01 % and is replaced.
* **Pole-regime stand-in.** ``tan`` next to one of its poles (``u0 = π/2 + kπ``) is
  ``-1/(u - u0)`` to within ``(u - u0)/3``: ``tan(0.00227·x + 4.712)`` over ``x`` in
  ``[1, 5]`` is a hyperbola with extreme constants. Rule: with ``x0`` where the argument
  reaches the pole nearest the data, if ``p/(x - x0) + q`` (least squares) leaves a
  residual within ``TAYLOR_TOLERANCE`` of the curve's spread, the candidate is replaced
  by ``1/x``.
* **Cancelling constants.** The curve is a small difference of large numbers: the term
  ``c·f(u)`` is more than ``CANCEL_RATIO`` times larger than its own variation over the
  data (``tanh`` of an argument offset by ``1e7``, a saturated sigmoid times ``1e9``).
  Printed with 4 significant digits such a formula is wrong; it is refused.

Both look only at the curve over the data, in float64; neither needs the target.
"""

from __future__ import annotations

import math

import numpy as np

from kanstudio.symbolic.expression_lock import lock_function

__all__ = ["TAYLOR_TOLERANCE", "CANCEL_RATIO", "POLYNOMIAL_DEGREE", "POLES", "stand_in",
           "cancels"]

TAYLOR_TOLERANCE = 1e-3
CANCEL_RATIO = 1e6
#: Library functions that are polynomials, by degree (the others count as degree inf).
POLYNOMIAL_DEGREE = {"0": 0, "x": 1, "x^2": 2, "x^3": 3, "x^4": 4}
#: Library functions with poles (their argument's values there: ``u0 + k·period``).
POLES = {"tan": (math.pi / 2, math.pi)}
#: The library function that stands for a polynomial of each degree.
POLYNOMIAL_OF_DEGREE = {1: "x", 2: "x^2"}
_POINTS = 65


def _curve(name: str, a: float, b: float, c: float, x_lo: float, x_hi: float):
    """(t, g): t in [-1, 1] across the data's range, g = c·f(a·x + b) there, or None."""
    if not (x_hi > x_lo and all(math.isfinite(v) for v in (a, b, c, x_lo, x_hi))):
        return None
    t = np.linspace(-1.0, 1.0, _POINTS)
    x = x_lo + (t + 1.0) * 0.5 * (x_hi - x_lo)
    with np.errstate(all="ignore"):
        g = c * np.asarray(lock_function(name).numpy_fn(a * x + b), dtype=float)
    return (t, g) if np.all(np.isfinite(g)) else None


def stand_in(name: str, a: float, b: float, c: float, x_lo: float, x_hi: float) -> str:
    """The library name of the simpler curve ``c·f(a·x + b)`` mimics on ``[x_lo, x_hi]``
    (``"x"`` or ``"x^2"``; ``"1/x"`` for ``tan`` beside a pole), or ``""`` when it shows
    a shape of its own there."""
    own = POLYNOMIAL_DEGREE.get(name, math.inf)
    curve = _curve(name, a, b, c, x_lo, x_hi)
    if curve is None:
        return ""
    t, g = curve
    spread = float(np.std(g))
    if not spread > 1e-300:  # flat: that is the constant's business, not a stand-in
        return ""
    for degree, poly in POLYNOMIAL_OF_DEGREE.items():
        if degree >= own:
            break
        residual = g - np.polynomial.polynomial.polyval(
            t, np.polynomial.polynomial.polyfit(t, g, degree))
        if float(np.sqrt(np.mean(residual**2))) <= TAYLOR_TOLERANCE * spread:
            return poly
    if name in POLES and _near_pole(name, a, b, x_lo, x_hi, g, spread):
        return "1/x"
    return ""


def _near_pole(name: str, a: float, b: float, x_lo: float, x_hi: float, g: np.ndarray,
               spread: float) -> bool:
    """Whether ``g`` (the curve on ``_POINTS`` points across the range) is a hyperbola
    ``p/(x - x0) + q`` with ``x0`` where ``a·x + b`` meets ``name``'s nearest pole."""
    if a == 0.0:
        return False
    first, period = POLES[name]
    mid = a * 0.5 * (x_lo + x_hi) + b
    pole = first + round((mid - first) / period) * period
    x0 = (pole - b) / a
    x = np.linspace(x_lo, x_hi, _POINTS)
    if x_lo <= x0 <= x_hi:
        return False  # the pole is inside the data: not a stand-in, a pole
    design = np.column_stack([1.0 / (x - x0), np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(design, g, rcond=None)
    residual = g - design @ coef
    return float(np.sqrt(np.mean(residual**2))) <= TAYLOR_TOLERANCE * spread


def cancels(name: str, a: float, b: float, c: float, x_lo: float, x_hi: float) -> bool:
    """True when ``c·f(a·x + b)`` is more than ``CANCEL_RATIO`` times its own variation
    over ``[x_lo, x_hi]`` (a small difference of large numbers)."""
    curve = _curve(name, a, b, c, x_lo, x_hi)
    if curve is None:
        return False
    _, g = curve
    spread = float(np.max(g) - np.min(g))
    size = float(np.max(np.abs(g)))
    return size > CANCEL_RATIO * spread and size > 0.0
