"""The questions the structure step asks a fitted predictor (the oracle), and the problem
it asks them about.

The idea is AI Feynman's (Udrescu & Tegmark 2020) and the KAN 2.0 paper's modularity
tests: a network that fits the data can be asked questions the data cannot answer
directly, at points no row holds. Each question below is asked at mixed points built
from pairs of training rows, so the oracle is only queried inside the box the data fills:


* **irrelevant input** ``i``: ``f(x)`` against ``f(x with x_i from another row)``;
* **additive separability** ``f(a, b) = g(a) + h(b)``:
  ``f(a, b) + f(a', b') - f(a, b') - f(a', b) = 0``;
* **multiplicative separability** ``f = g(a)·h(b)``: the same on ``log|f|`` when ``f``
  keeps one sign and stays away from 0; else (``m·r·v·sin θ`` over θ in 1..5 changes
  sign) ``f(a, b)·f(a', b') - f(a, b')·f(a', b) = 0`` on ``f`` itself ("product");
* **symmetric combination** ``u = x_i - x_j`` (``+``, ``·``, ``/``): ``f`` does not
  change when ``x_i, x_j`` move together along ``u = const``;
* **transformed separability**: ``f²``, ``√f``, ``1/f`` additively separable
  (``√(a² + b²)``: ``f²`` is);
* **scaling**: ``f·x_j^(±1)`` depends on a symmetric combination (``exp(-(x/s)²/2)/s``).

**Tolerances.** The oracle is only as good as the network: ``sigma``, its RMSE on the
held-out rows, in the target's units. A test passes when its residual is within what that
error can explain: the four-point residual of a separable ``T(f)`` is at most
``Σ_k |T'(f_k)|·sigma`` (each evaluation off by up to ``sigma``, all in the worst
direction), so the test passes when ``rms(residual) <= rms(that bound)``; a move along a
level set changes ``f`` by at most ``2·sigma``. A non-separable law gives residuals of
the order of ``f``'s own spread, far above the bound of a network that fits (R² > 0.99
means ``sigma`` < 10 % of that spread), and the final formula is still judged on the
held-out rows, so a structure accepted wrongly costs a worse candidate, not a wrong answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy

__all__ = [
    "Predictor", "Problem", "Transform", "TRANSFORMS", "OPS", "separability",
    "irrelevant_inputs", "symmetric_combination", "combine_expr", "combine_values",
    "inverse_transform", "rms", "root_problem", "product_offset", "shifted",
]

#: ``(n, d)`` rows -> ``(n,)`` values, finite where the predictor is defined.
Predictor = Callable[[np.ndarray], np.ndarray]

N_POINTS = 400
#: Residuals below this fraction of the tested function's spread pass whatever ``sigma``
#: says (floating-point noise of an exact oracle).
FLOOR = 1e-9
#: A level-set move of ``x_i`` and ``x_j`` is this fraction of the smaller input span.
MOVE = 0.25
#: A symmetric combination's test is informative when moving ``x_i`` alone changes ``f``
#: ten times the oracle's allowance, or past it and this many times the level-set move.
INFORMATIVE = 5.0
#: Inputs of a problem the default leaf solvers handle well; beyond it splitting matters.


@dataclass
class Problem:
    """One regression problem: the oracle on its own inputs and the rows it is asked at.

    ``x`` (n, d) and ``x_test`` (m, d): training and held-out rows in this problem's
    inputs; ``inputs``: each column as a sympy expression of the original symbols
    (``a - b`` after a combination); ``sigma``: the oracle's absolute error.
    """

    predict: Predictor
    x: np.ndarray
    x_test: np.ndarray
    inputs: list[sympy.Expr]
    sigma: float

    @property
    def d(self) -> int:
        return self.x.shape[1]


# Transforms of the target: (forward, derivative, inverse on sympy, usable on values).
def _positive(f: np.ndarray, sigma: float) -> bool:
    return bool(np.all(f > 3.0 * sigma))


def _one_sign(f: np.ndarray, sigma: float) -> bool:
    return bool(np.all(np.abs(f) > 3.0 * sigma) and (np.all(f > 0) or np.all(f < 0)))


@dataclass(frozen=True)
class Transform:
    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    slope: Callable[[np.ndarray], np.ndarray]  # |T'(f)|
    usable: Callable[[np.ndarray, float], bool]
    cost: int


TRANSFORMS: dict[str, Transform] = {t.name: t for t in [
    Transform("square", np.square, lambda f: 2.0 * np.abs(f), _one_sign, 1),
    Transform("sqrt", lambda f: np.sqrt(np.abs(f)), lambda f: 0.5 / np.sqrt(np.abs(f)),
              _positive, 1),
    Transform("inverse", lambda f: 1.0 / f, lambda f: 1.0 / np.square(f), _one_sign, 1),
    # 1/f² splits the relativistic factor: 1/(v/√(1 - v²/c²))² = 1/v² - 1/c²
    Transform("inverse_square", lambda f: 1.0 / np.square(f),
              lambda f: 2.0 / np.abs(f) ** 3, _one_sign, 1),
    Transform("log", lambda f: np.log(np.abs(f)), lambda f: 1.0 / np.abs(f), _one_sign, 1),
]}
_IDENTITY = Transform("identity", lambda f: f, np.ones_like, lambda f, s: True, 0)


def inverse_transform(name: str, z: sympy.Expr, sign: int) -> sympy.Expr:
    """``f`` from ``z = T(f)``; ``sign`` is the sign ``f`` keeps (square, log)."""
    if name == "square":
        return sign * sympy.sqrt(z)
    if name == "sqrt":
        return z**2
    if name == "inverse":
        return 1 / z
    if name == "log":
        return sign * sympy.exp(z)
    if name == "inverse_square":
        return sign / sympy.sqrt(z)
    return z


# ----------------------------------------------------------------------------- tests
def rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(v)))) if v.size else math.inf


def _pairs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    i = rng.integers(0, n, N_POINTS)
    j = rng.integers(0, n, N_POINTS)
    return i, j


def separability(problem: Problem, group: Sequence[int], transform: str = "identity",
                 seed: int = 0) -> float:
    """How far ``T(f)`` is from ``g(x_group) + h(x_rest)``: the RMS four-point residual
    over the RMS bound the oracle's error allows (module docstring). <= 1 passes;
    ``inf`` when the transform does not apply (``f`` changes sign, say)."""
    if transform == "product":
        return _product_separability(problem, group, seed)
    t = _IDENTITY if transform == "identity" else TRANSFORMS[transform]
    x, rng = problem.x, np.random.default_rng(seed)
    mask = np.zeros(problem.d, dtype=bool)
    mask[list(group)] = True
    i, j = _pairs(x.shape[0], rng)
    p, q = x[i], x[j]
    pq, qp = np.where(mask, p, q), np.where(mask, q, p)  # (a, b'), (a', b)
    f = problem.predict(np.concatenate([p, q, pq, qp])).reshape(4, -1)  # (4, N_POINTS)
    if not np.all(np.isfinite(f)) or not t.usable(f, problem.sigma):
        return math.inf
    with np.errstate(all="ignore"):
        tf = t.forward(f)
        residual = tf[0] + tf[1] - tf[2] - tf[3]
        bound = problem.sigma * t.slope(f).sum(axis=0)
    floor = FLOOR * (float(np.std(tf)) + float(np.mean(np.abs(tf))))
    if not np.all(np.isfinite(residual)):
        return math.inf
    return rms(residual) / (rms(bound) + floor)


def _mixed_values(problem: Problem, group: Sequence[int], seed: int) -> np.ndarray:
    """``f`` at seeded point pairs (p, q) and at their two mixes (``group``'s inputs from
    one, the rest from the other): f1, f2, f3, f4 concatenated."""
    x, rng = problem.x, np.random.default_rng(seed)
    mask = np.zeros(problem.d, dtype=bool)
    mask[list(group)] = True
    i, j = _pairs(x.shape[0], rng)
    p, q = x[i], x[j]
    return problem.predict(np.concatenate([p, q, np.where(mask, p, q), np.where(mask, q, p)]))


def _product_separability(problem: Problem, group: Sequence[int], seed: int) -> float:
    """How far ``f`` is from ``g(x_group)·h(x_rest)`` whatever its sign: the RMS of
    ``f1·f2 - f3·f4`` over its bound ``sigma·(|f1| + |f2| + |f3| + |f4|)`` (each factor
    off by up to ``sigma``); a sum ``a + b`` leaves ``-(a - a')(b - b')``."""
    f = _mixed_values(problem, group, seed)
    if not np.all(np.isfinite(f)):
        return math.inf
    f1, f2, f3, f4 = f.reshape(4, -1)
    with np.errstate(all="ignore"):
        residual = f1 * f2 - f3 * f4
        bound = problem.sigma * (np.abs(f1) + np.abs(f2) + np.abs(f3) + np.abs(f4))
    floor = FLOOR * (float(np.std(f)) + float(np.mean(np.abs(f)))) ** 2
    if not np.all(np.isfinite(residual)):
        return math.inf
    return rms(residual) / (rms(bound) + floor)


def product_offset(problem: Problem, group: Sequence[int], seed: int = 0) -> float:
    """The constant ``c`` that makes ``f - c = g(x_group)·h(x_rest)`` fit best: the least
    squares of ``(f1 - c)(f2 - c) = (f3 - c)(f4 - c)`` over the mixed points. A part of a
    sum carries an arbitrary constant (``k·x²/2 + const``) that hides its product."""
    f = _mixed_values(problem, group, seed)
    f1, f2, f3, f4 = f.reshape(4, -1)
    a, b = f1 * f2 - f3 * f4, f1 + f2 - f3 - f4
    denominator = float(np.sum(b * b))
    return float(np.sum(a * b)) / denominator if denominator > 0 else 0.0


def shifted(problem: Problem, offset: float) -> Problem:
    """The problem with target ``f - offset``."""
    parent = problem.predict
    return Problem(lambda z: parent(z) - offset, problem.x, problem.x_test,
                   list(problem.inputs), problem.sigma)


def irrelevant_inputs(problem: Problem, seed: int = 0) -> list[int]:
    """Inputs whose value, taken from another row, changes ``f`` by no more than the
    oracle's error (``2·sigma``, RMS)."""
    x, rng = problem.x, np.random.default_rng(seed)
    i, j = _pairs(x.shape[0], rng)
    base = problem.predict(x[i])
    floor = FLOOR * (float(np.std(base)) + float(np.mean(np.abs(base))))
    out = []
    for col in range(problem.d):
        moved = x[i].copy()
        moved[:, col] = x[j, col]
        diff = problem.predict(moved) - base
        if rms(diff) <= 2.0 * problem.sigma + floor:
            out.append(col)
    return out


OPS = ("-", "/", "*", "+")


def _move(op: str, xi: np.ndarray, xj: np.ndarray, step: np.ndarray):
    """New (xi, xj) with the same ``xi op xj``; ``step`` in [-1, 1] scaled by the caller."""
    if op == "-":
        return xi + step, xj + step
    if op == "+":
        return xi + step, xj - step
    factor = np.exp(step)
    if op == "/":
        return xi * factor, xj * factor
    return xi * factor, xj / factor


def combine_expr(op: str, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return {"-": a - b, "+": a + b, "*": a * b, "/": a / b}[op]


def combine_values(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return {"-": a - b, "+": a + b, "*": a * b, "/": a / b}[op]


def symmetric_combination(problem: Problem, i: int, j: int, op: str, seed: int = 0
                          ) -> float:
    """How much ``f`` changes when ``x_i, x_j`` move along ``x_i op x_j = const``, over
    the ``2·sigma`` the oracle's error allows; <= 1 passes. ``inf`` when the move does
    not apply (see below) or ``f`` does not change when
    ``x_i`` alone moves as far (then the test says nothing). For ``·`` and ``/`` the
    move multiplies by positive factors: a denominator must keep one sign, a numerator
    need not."""
    x, rng = problem.x, np.random.default_rng(seed)
    lo, hi = x.min(axis=0), x.max(axis=0)
    xi, xj = x[:, i], x[:, j]
    if op in ("*", "/"):
        # The move multiplies both inputs by positive factors, so a numerator (or a
        # factor) may change sign (u = theta - theta1 over sigma); a denominator may not,
        # and the move's scale is the log-span of the one-signed inputs.
        signed = [k for k, v in ((i, xi), (j, xj)) if np.all(v > 0) or np.all(v < 0)]
        if not signed or (op == "/" and j not in signed):
            return math.inf
        spans = [math.log(hi[k] / lo[k]) if lo[k] > 0 else math.log(lo[k] / hi[k])
                 for k in signed]
    else:
        spans = [hi[i] - lo[i], hi[j] - lo[j]]
    scale = MOVE * min(spans)
    if not scale > 0:
        return math.inf
    rows = x[rng.integers(0, x.shape[0], N_POINTS)]
    step = scale * rng.uniform(-1.0, 1.0, N_POINTS)
    ni, nj = _move(op, rows[:, i], rows[:, j], step)
    inside = (ni >= lo[i]) & (ni <= hi[i]) & (nj >= lo[j]) & (nj <= hi[j])
    if inside.sum() < N_POINTS // 8:
        return math.inf
    rows, ni, nj = rows[inside], ni[inside], nj[inside]
    along, alone = rows.copy(), rows.copy()
    along[:, i], along[:, j] = ni, nj
    alone[:, i] = ni
    f = problem.predict(np.concatenate([rows, along, alone])).reshape(3, -1)
    if not np.all(np.isfinite(f)):
        return math.inf
    floor = FLOOR * (float(np.std(f[0])) + float(np.mean(np.abs(f[0]))))
    allowed = 2.0 * problem.sigma + floor
    alone, along = rms(f[2] - f[0]), rms(f[1] - f[0])
    # The test says something when moving x_i alone changes f well beyond what the
    # oracle's error allows, or beyond it and INFORMATIVE times more than the level-set
    # move does (a weak dependence, v/c in 1/sqrt(1 - v²/c²) over v/c < 0.7: a network's
    # errors are smooth, so nearby differences are far finer than its RMSE).
    if alone < 10.0 * allowed and not (alone >= allowed and alone >= INFORMATIVE * along):
        return math.inf
    return along / allowed




def root_problem(predict: Predictor, x_train: np.ndarray, x_test: np.ndarray,
                 names: Sequence[str], sigma: float) -> Problem:
    """The whole problem: ``predict`` on ``(n, d)`` rows of the original inputs named
    ``names``; ``sigma`` is its held-out RMSE (floored at a tiny fraction of its spread,
    so an exact oracle still has a tolerance)."""
    f = np.asarray(predict(x_train), dtype=float).reshape(-1)
    scale = float(np.std(f)) + float(np.mean(np.abs(f)))
    return Problem(lambda z: np.asarray(predict(z), dtype=float).reshape(-1),
                   np.asarray(x_train, dtype=float), np.asarray(x_test, dtype=float),
                   [sympy.Symbol(n) for n in names], max(float(sigma), 1e-7 * scale))
