"""Structure before symbols: split a regression problem into smaller ones, with a fitted
predictor (the trained network) as the oracle.

The idea is AI Feynman's (Udrescu & Tegmark 2020) and the KAN 2.0 paper's modularity
tests: a network that fits the data can be asked questions the data cannot answer
directly, at points no row holds. Each question below is asked at mixed points built
from pairs of training rows, so the oracle is only queried inside the box the data fills:

* **irrelevant input** ``i``: ``f(x)`` against ``f(x with x_i from another row)``;
* **additive separability** ``f(a, b) = g(a) + h(b)``:
  ``f(a, b) + f(a', b') - f(a, b') - f(a', b) = 0``;
* **multiplicative separability** ``f = g(a)·h(b)``: the same on ``log|f|`` when ``f``
  keeps one sign and stays away from 0;
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

**The tree** (:func:`find_structure`): drop irrelevant inputs; a 1-input problem is a
leaf; else split by additive, then multiplicative separability (the partition with the
smallest residual/bound ratio), else merge the best symmetric pair into one input, else
transform the target, else scale it by an input, else stop: a leaf of several inputs.
Children are the oracle on a slice (``g(a) = f(a, b0)``, ``h(b) = f(a0, b) - f(a0, b0)``
or ``/ f(a0, b0)``) at a reference row near the data's median, so each child is itself a
problem to split further.
Solving the leaves and composing them is :mod:`.structure_solve`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy

__all__ = [
    "Predictor", "Problem", "Node", "find_structure", "separability", "irrelevant_inputs",
    "symmetric_combination", "TRANSFORMS",
]

#: ``(n, d)`` rows -> ``(n,)`` values, finite where the predictor is defined.
Predictor = Callable[[np.ndarray], np.ndarray]

#: Mixed points per test: enough for an RMS to 10 % at a few ms per test.
N_POINTS = 400
#: Residuals below this fraction of the tested function's spread pass whatever ``sigma``
#: says (floating-point noise of an exact oracle).
FLOOR = 1e-9
#: A level-set move of ``x_i`` and ``x_j`` is this fraction of the smaller input span.
MOVE = 0.25
#: Inputs of a problem the default leaf solvers handle well; beyond it splitting matters.
MAX_LEAF_INPUTS = 3
_MAX_DEPTH = 10


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


@dataclass
class Node:
    """A node of the structure tree.

    ``kind``: "leaf" (solved by a solver), "constant", "sum" (children added), "product"
    (children multiplied), "transform" (one child ``T(f)``; ``transform`` names ``T``),
    "combine" or "drop" (one child on fewer inputs; the child's ``inputs`` say how),
    "scale" (one child ``f·x_j^k``: ``transform`` holds ``j``, ``value`` holds ``k``),
    "choice" (children are alternative structures of the same problem).
    """

    kind: str
    problem: Problem
    detail: str = ""
    children: list[Node] = field(default_factory=list)
    transform: str = ""
    value: float = 0.0  # of a "constant"; the sign f keeps under a "transform"

    def describe(self, indent: int = 0) -> str:
        """The tree as indented text, one node a line."""
        names = ", ".join(str(e) for e in self.problem.inputs)
        line = " " * indent + f"{self.kind}({names})" + (f": {self.detail}" if self.detail
                                                          else "")
        return "\n".join([line] + [c.describe(indent + 2) for c in self.children])

    def leaves(self) -> list[Node]:
        if self.kind in ("leaf", "constant"):
            return [self]
        return [leaf for c in self.children for leaf in c.leaves()]


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
def _rms(v: np.ndarray) -> float:
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
    return _rms(residual) / (_rms(bound) + floor)


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
        if _rms(diff) <= 2.0 * problem.sigma + floor:
            out.append(col)
    return out


_OPS = ("-", "/", "*", "+")


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


def _combine_values(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return {"-": a - b, "+": a + b, "*": a * b, "/": a / b}[op]


def symmetric_combination(problem: Problem, i: int, j: int, op: str, seed: int = 0
                          ) -> float:
    """How much ``f`` changes when ``x_i, x_j`` move along ``x_i op x_j = const``, over
    the ``2·sigma`` the oracle's error allows; <= 1 passes. ``inf`` when the move does
    not apply (``·`` and ``/`` need inputs of one sign) or ``f`` does not change when
    ``x_i`` alone moves as far (then the test says nothing)."""
    x, rng = problem.x, np.random.default_rng(seed)
    lo, hi = x.min(axis=0), x.max(axis=0)
    xi, xj = x[:, i], x[:, j]
    if op in ("*", "/"):
        if not all(np.all(v > 0) or np.all(v < 0) for v in (xi, xj)):
            return math.inf
        spans = [math.log(hi[k] / lo[k]) if lo[k] > 0 else math.log(lo[k] / hi[k])
                 for k in (i, j)]
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
    if _rms(f[2] - f[0]) < 10.0 * allowed:
        return math.inf
    return _rms(f[1] - f[0]) / allowed


# ------------------------------------------------------------------------ sub-problems
def _reference_row(problem: Problem) -> np.ndarray:
    """A training row near the median of every input, with ``|f|`` large among the
    nearest (a product's slice divides by ``f`` there)."""
    x = problem.x
    spread = x.std(axis=0)
    spread[spread == 0] = 1.0
    dist = np.abs((x - np.median(x, axis=0)) / spread).max(axis=1)
    near = np.argsort(dist, kind="stable")[:16]
    f = problem.predict(x[near])
    return x[near[int(np.argmax(np.abs(f)))]].copy()


def _restrict(problem: Problem, cols: list[int], predict: Predictor, sigma: float
              ) -> Problem:
    return Problem(predict, problem.x[:, cols], problem.x_test[:, cols],
                   [problem.inputs[c] for c in cols], sigma)


def _slice(problem: Problem, cols: list[int], ref: np.ndarray) -> Predictor:
    """``f`` on ``cols`` with the other inputs fixed at ``ref``."""
    parent, d = problem.predict, problem.d

    def predict(z: np.ndarray) -> np.ndarray:
        full = np.broadcast_to(ref, (z.shape[0], d)).copy()
        full[:, cols] = z
        return parent(full)

    return predict


def _split(problem: Problem, group: list[int], kind: str) -> Node:
    ref = _reference_row(problem)
    rest = [c for c in range(problem.d) if c not in group]
    f0 = float(problem.predict(ref[None, :])[0])
    g = _slice(problem, group, ref)
    h_raw = _slice(problem, rest, ref)
    sigma = problem.sigma
    if kind == "sum":
        left = _restrict(problem, group, g, sigma)
        right = _restrict(problem, rest, lambda z: h_raw(z) - f0, 2.0 * sigma)
    else:
        h_values = h_raw(problem.x[:, rest]) / f0
        right_sigma = sigma * (1.0 + _rms(h_values)) / abs(f0)
        left = _restrict(problem, group, g, sigma)
        right = _restrict(problem, rest, lambda z: h_raw(z) / f0, right_sigma)
    return Node(kind, problem, children=[Node("leaf", left), Node("leaf", right)])


def _combined(problem: Problem, i: int, j: int, op: str) -> Problem:
    """The problem with ``x_i, x_j`` replaced by ``u = x_i op x_j`` (as its last input).

    The oracle needs a point ``(x_i, x_j)`` for each ``u``: ``x_j`` is picked among a few
    values of its range so that ``x_i`` lands as near the middle of its own range as it
    can (the network is only trusted where the data was)."""
    x, lo, hi = problem.x, problem.x.min(axis=0), problem.x.max(axis=0)
    keep = [c for c in range(problem.d) if c not in (i, j)]
    grid_j = np.linspace(lo[j], hi[j], 33)
    mid_i, half_i = 0.5 * (lo[i] + hi[i]), 0.5 * (hi[i] - lo[i]) or 1.0

    def solve_i(u: np.ndarray, xj: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return {"-": u + xj, "+": u - xj, "*": u / xj, "/": u * xj}[op]

    parent, d = problem.predict, problem.d

    def predict(z: np.ndarray) -> np.ndarray:
        u = z[:, -1]
        xi = solve_i(u[:, None], grid_j[None, :])  # (n, 33)
        cost = np.abs(xi - mid_i) / half_i
        cost[~np.isfinite(cost)] = np.inf
        best = np.argmin(cost, axis=1)
        full = np.empty((z.shape[0], d))
        full[:, keep] = z[:, :-1]
        full[:, j] = grid_j[best]
        full[:, i] = xi[np.arange(z.shape[0]), best]
        return parent(full)

    def columns(rows: np.ndarray) -> np.ndarray:
        return np.column_stack([rows[:, keep],
                                _combine_values(op, rows[:, i], rows[:, j])])

    inputs = [problem.inputs[c] for c in keep]
    inputs.append(combine_expr(op, problem.inputs[i], problem.inputs[j]))
    return Problem(predict, columns(x), columns(problem.x_test), inputs, problem.sigma)


def _scaled(problem: Problem, col: int, power: int) -> Problem:
    """The problem with target ``f·x_col^power``."""
    parent = problem.predict
    factor = np.abs(problem.x[:, col]) ** power

    def predict(z: np.ndarray) -> np.ndarray:
        return parent(z) * z[:, col] ** power

    return Problem(predict, problem.x, problem.x_test, list(problem.inputs),
                   problem.sigma * _rms(factor))


def _scalings(problem: Problem, seed: int) -> list[tuple[int, int, Problem]]:
    """Input powers ``x_j^k`` (k = ±1) after which ``f·x_j^k`` depends on a symmetric
    combination: ``exp(-(x/s)²/2)/s`` is ``g(x/s)/s`` (and ``h(x/s)/x``)."""
    found = []
    for col in range(problem.d):
        if not (np.all(problem.x[:, col] > 0) or np.all(problem.x[:, col] < 0)):
            continue
        for power in (1, -1):
            scaled = _scaled(problem, col, power)
            if _best_combination(scaled, seed) is not None:
                found.append((col, power, scaled))
    return found


def _transformed(problem: Problem, name: str) -> Problem:
    t, parent = TRANSFORMS[name], problem.predict
    f = parent(problem.x)
    sigma = problem.sigma * _rms(t.slope(f))

    def predict(z: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return t.forward(parent(z))

    return Problem(predict, problem.x, problem.x_test, list(problem.inputs), sigma)


# ------------------------------------------------------------------------------ tree
def _groups(d: int) -> list[list[int]]:
    """Every bipartition of ``d`` inputs once, as the smaller side (with input 0 when
    both sides are equal)."""
    return [list(g) for size in range(1, d // 2 + 1)
            for g in itertools.combinations(range(d), size)
            if not (2 * size == d and 0 not in g)]


def _best_split(problem: Problem, transforms: Sequence[str], seed: int
                ) -> tuple[str, list[int], float] | None:
    """The first transform (in order) under which some partition separates, with the
    partition of the smallest ratio."""
    for transform in transforms:
        scored = [(separability(problem, g, transform, seed), g) for g in _groups(problem.d)]
        ratio, group = min(scored, key=lambda s: s[0])
        if ratio <= 1.0:
            return transform, group, ratio
    return None


def _best_combination(problem: Problem, seed: int) -> tuple[int, int, str, float] | None:
    found = []
    for i, j in itertools.combinations(range(problem.d), 2):
        for op in _OPS:
            for a, b in ((i, j), (j, i)) if op in ("-", "/") else ((i, j),):
                ratio = symmetric_combination(problem, a, b, op, seed)
                if ratio <= 1.0:
                    found.append((ratio, _OPS.index(op), a, b, op))
    if not found:
        return None
    ratio, _, a, b, op = min(found)
    return a, b, op, ratio


def find_structure(problem: Problem, seed: int = 0, depth: int = 0) -> Node:
    """The structure tree of ``problem`` (module docstring); leaves are unsolved."""
    f = problem.predict(problem.x)
    if not np.all(np.isfinite(f)):
        return Node("leaf", problem, "the oracle is not finite on the rows")
    dropped = irrelevant_inputs(problem, seed) if problem.d > 0 else []
    if len(dropped) == problem.d:
        return Node("constant", problem, f"f = {np.mean(f):.6g}", value=float(np.mean(f)))
    if dropped:
        keep = [c for c in range(problem.d) if c not in dropped]
        ref = _reference_row(problem)
        child = _restrict(problem, keep, _slice(problem, keep, ref), problem.sigma)
        names = ", ".join(str(problem.inputs[c]) for c in dropped)
        return Node("drop", problem, f"irrelevant: {names}",
                    [find_structure(child, seed, depth + 1)])
    if problem.d == 1 or depth >= _MAX_DEPTH:
        return Node("leaf", problem)
    split = _best_split(problem, ("identity", "log"), seed)
    if split is not None:
        transform, group, ratio = split
        node = _split(problem, group, "sum" if transform == "identity" else "product")
        node.detail = f"ratio {ratio:.3g}"
        node.children = [find_structure(c.problem, seed, depth + 1) for c in node.children]
        return node
    combo = _best_combination(problem, seed)
    if combo is not None:
        i, j, op, ratio = combo
        child = _combined(problem, i, j, op)
        return Node("combine", problem, f"{child.inputs[-1]} (ratio {ratio:.3g})",
                    [find_structure(child, seed, depth + 1)])
    split = _best_split(problem, ("square", "sqrt", "inverse"), seed)
    if split is not None:
        name = split[0]
        sub = find_structure(_transformed(problem, name), seed, depth + 1)
        if sub.kind in ("sum", "product"):
            sign = 1 if float(np.median(f)) > 0 else -1
            return Node("transform", problem, f"{name} (ratio {split[2]:.3g})", [sub],
                        transform=name, value=sign)
    # Which scaling leaves the simplest part shows only once the parts are solved:
    # each is a branch of a "choice" node, decided on held-out rows.
    branches = [Node("scale", problem, f"f·{problem.inputs[col]}^{power}",
                     [find_structure(scaled, seed, depth + 1)], value=power,
                     transform=str(col))
                for col, power, scaled in _scalings(problem, seed)]
    if len(branches) == 1:
        return branches[0]
    if branches:
        return Node("choice", problem, "the best of these on held-out rows", branches)
    return Node("leaf", problem)


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
