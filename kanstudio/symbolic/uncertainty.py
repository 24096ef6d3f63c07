"""Standard errors of a formula's free constants, from the least-squares Jacobian.

For a formula ``f(x; θ)`` whose free constants ``θ`` (its floats: the ones no simple
constant replaced) were fitted to rows ``(X, y)``, the usual asymptotic covariance is
``σ² (JᵀJ)⁻¹`` with ``J = ∂f/∂θ`` on those rows and ``σ² = Σ r² / (n - p)`` the residual
variance. ``J`` is taken by central differences (step ``1e-6`` relative), which needs no
symbolic derivative of a large formula. A constant's error is ``None`` with a reason when
it is not determined: fewer rows than constants, a formula not finite on the rows, or a
Jacobian whose columns are (numerically) dependent — constants that trade off against each
other, which is itself worth telling the user.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy

from kanstudio.symbolic.numeric import real_values

__all__ = ["free_constants", "constant_errors", "format_with_error"]

_RELATIVE_STEP = 1e-6
_MAX_CONDITION = 1e12  # of JᵀJ after column scaling; beyond it the constants are not separate


def free_constants(expr: sympy.Expr) -> list[sympy.Float]:
    """The formula's floats, each once, in the order they are first met reading it."""
    seen: dict[sympy.Float, None] = {}
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Float):
            seen.setdefault(node, None)
    return list(seen)


def constant_errors(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray,
                    y: np.ndarray) -> list[dict[str, Any]]:
    """One ``{"value", "stderr"}`` per free constant of ``expr`` (order of
    :func:`free_constants`), ``stderr`` ``None`` with a ``"reason"`` when not computable.

    ``X``: (n, len(symbols)) rows in the formula's units; ``y``: (n,) the target there.
    """
    consts = free_constants(expr)
    if not consts:
        return []
    params = [sympy.Dummy(f"c{k}") for k in range(len(consts))]
    body = expr.xreplace(dict(zip(consts, params, strict=True)))
    fn = sympy.lambdify([*symbols, *params], body, modules="numpy")
    theta = np.array([float(c) for c in consts])
    cols = [X[:, i] for i in range(X.shape[1])]
    n, p = len(y), len(theta)

    def f(values: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return real_values(fn(*cols, *values), n)

    def failed(reason: str) -> list[dict[str, Any]]:
        return [{"value": float(v), "stderr": None, "reason": reason} for v in theta]

    if n <= p:
        return failed(f"{n} rows for {p} constants: no degrees of freedom left")
    fitted = f(theta)
    if not np.all(np.isfinite(fitted)):
        return failed("the formula is not finite on every training row")
    J = np.empty((n, p))
    for k in range(p):
        h = _RELATIVE_STEP * max(abs(theta[k]), 1e-8)
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        J[:, k] = (f(up) - f(down)) / (2.0 * h)
    if not np.all(np.isfinite(J)):
        return failed("the formula's derivative is not finite on every training row")
    scale = np.linalg.norm(J, axis=0)
    if np.any(scale == 0):
        return failed("a constant does not change the formula on the training rows")
    Js = J / scale
    gram = Js.T @ Js
    if np.linalg.cond(gram) > _MAX_CONDITION:
        return failed("the constants trade off against each other (the least-squares "
                      "Jacobian is singular): they are not determined separately")
    sigma2 = float(np.sum((y - fitted) ** 2)) / (n - p)
    cov = sigma2 * np.linalg.inv(gram) / np.outer(scale, scale)
    out = []
    for v, var in zip(theta, np.diag(cov), strict=True):
        stderr = math.sqrt(var) if var >= 0 and math.isfinite(var) else None
        out.append({"value": float(v), "stderr": stderr} if stderr is not None else
                   {"value": float(v), "stderr": None, "reason": "negative variance"})
    return out


def format_with_error(value: float, stderr: float | None) -> tuple[str, str | None, int]:
    """(value, error, exponent) as text for ``value ± stderr × 10^exponent``: the error to
    two significant digits and the value to the same decimal place; a value far from 1
    (below 1e-3 or from 1e5 on) shares a power of ten with its error (exponent 0 else).
    Without a (positive, finite) error: the value to 6 significant digits and None."""
    if stderr is None or not math.isfinite(stderr) or stderr <= 0 or not math.isfinite(value):
        return f"{value:.6g}", None, 0
    magnitude = math.floor(math.log10(abs(value))) if value != 0 else 0
    exponent = magnitude if (magnitude < -3 or magnitude >= 5) else 0
    value_m, error_m = value / 10.0**exponent, stderr / 10.0**exponent
    decimals = min(max(0, 1 - math.floor(math.log10(error_m))), 15)
    return f"{value_m:.{decimals}f}", f"{error_m:.{decimals}f}", exponent
