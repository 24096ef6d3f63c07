"""Structure before symbols: split a regression problem into smaller ones, with a fitted
predictor (the trained network) as the oracle (its questions: :mod:`.structure_oracle`).

**The tree** (:func:`find_structure`): drop irrelevant inputs; a 1-input problem is a
leaf; else split by additive, then multiplicative separability (on ``log|f|``, or on
``f`` itself when it changes sign; the partition with the smallest residual/bound ratio),
else remove the constant that makes it a product, else merge the best symmetric pair into
one input (a quotient both ways round: the leaf's library may fit one of ``u`` and ``1/u``
only), else transform the target (``f²``, ``√f``, ``1/f``, ``1/f²``: the last splits a
relativistic ``1/√(1 - v²/c²)``), else scale it by an input, else stop: a leaf of
several inputs.
Children are the oracle on a slice (``g(a) = f(a, b0)``, ``h(b) = f(a0, b) - f(a0, b0)``
or ``/ f(a0, b0)``) at a reference row near the data's median (for a product, one where
``|f|`` is not small: the slices divide by it), so each child is itself a problem to split
further.
Solving the leaves and composing them is :mod:`.structure_solve`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from kanstudio.session.structure_oracle import (
    OPS,
    TRANSFORMS,
    Predictor,
    Problem,
    combine_expr,
    combine_values,
    irrelevant_inputs,
    product_offset,
    rms,
    separability,
    shifted,
    symmetric_combination,
)

__all__ = ["Node", "find_structure"]

_MAX_DEPTH = 10


@dataclass
class Node:
    """A node of the structure tree.

    ``kind``: "leaf" (solved by a solver), "constant", "sum" (children added), "product"
    (children multiplied), "transform" (one child ``T(f)``; ``transform`` names ``T``),
    "combine" or "drop" (one child on fewer inputs; the child's ``inputs`` say how),
    "scale" (one child ``f·x_j^k``: ``transform`` holds ``j``, ``value`` holds ``k``),
    "choice" (children are alternative structures of the same problem), "shift" (one
    child ``f - value``).
    """

    kind: str
    problem: Problem
    detail: str = ""
    children: list[Node] = field(default_factory=list)
    transform: str = ""
    value: float = 0.0  # of a "constant"; the sign f keeps under a "transform"

    def describe(self, indent: int = 0, printed: Callable | None = None) -> str:
        """The tree as indented text, one node a line; ``printed`` (an expression -> the
        expression to show) names the inputs as the user knows them."""
        show = printed or (lambda e: e)
        names = ", ".join(str(show(e)) for e in self.problem.inputs)
        line = " " * indent + f"{self.kind}({names})" + (f": {self.detail}" if self.detail
                                                          else "")
        return "\n".join([line] + [c.describe(indent + 2, printed) for c in self.children])

    def leaves(self) -> list[Node]:
        if self.kind in ("leaf", "constant"):
            return [self]
        return [leaf for c in self.children for leaf in c.leaves()]



# ------------------------------------------------------------------------ sub-problems
#: A product's slices divide by ``f`` at the reference row: where ``|f|`` there is below
#: this share of its RMS over the rows, the row is looked for further from the median.
PRODUCT_REFERENCE = 0.5


def _reference_row(problem: Problem, product: bool = False) -> np.ndarray:
    """A training row near the median of every input, with ``|f|`` large among the
    nearest (a product's slice divides by ``f`` there).

    For a product (``product``), the 16 nearest rows may all lie where ``f`` nearly
    vanishes: ``n·k·T·log(V2/V1)`` is 0 wherever ``V1 = V2``, the median included, and
    dividing by it turns the oracle's small errors into the slices' shape. The
    neighbourhood then grows fourfold at a time until ``|f|`` reaches
    ``PRODUCT_REFERENCE`` of its RMS over the rows."""
    x = problem.x
    spread = x.std(axis=0)
    spread[spread == 0] = 1.0
    dist = np.abs((x - np.median(x, axis=0)) / spread).max(axis=1)
    order = np.argsort(dist, kind="stable")
    size, enough = 16, None
    while True:
        near = order[:size]
        f = np.abs(problem.predict(x[near]))
        best = int(np.argmax(f))
        if not product or size >= len(order):
            break
        if enough is None:
            enough = PRODUCT_REFERENCE * rms(problem.predict(x))
        if f[best] >= enough:
            break
        size *= 4
    return x[near[best]].copy()


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
    ref = _reference_row(problem, product=kind == "product")
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
        right_sigma = sigma * (1.0 + rms(h_values)) / abs(f0)
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
                                combine_values(op, rows[:, i], rows[:, j])])

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
                   problem.sigma * rms(factor))


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
    sigma = problem.sigma * rms(t.slope(f))

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
    """The transform and partition of the smallest passing ratio. Taking the smallest,
    not the first that passes, matters for a loose oracle: with a network error of a few
    per cent ``m/√(1 - v²/c²)`` passes as a sum too, by a smaller margin."""
    scored = [(separability(problem, g, t, seed), k, t, g) for k, t in enumerate(transforms)
              for g in _groups(problem.d)]
    ratio, _, transform, group = min(scored, key=lambda s: (s[0], s[1]))
    return (transform, group, ratio) if ratio <= 1.0 else None


def _best_offset(problem: Problem, seed: int) -> tuple[float, Problem] | None:
    """A constant whose removal makes ``f`` a product, with the shifted problem."""
    best = None
    for group in _groups(problem.d):
        value = product_offset(problem, group, seed)
        child = shifted(problem, value)
        ratio = separability(child, group, "log", seed)
        if ratio <= 1.0 and (best is None or ratio < best[0]):
            best = (ratio, value, child)
    return None if best is None else (best[1], best[2])


def _best_combination(problem: Problem, seed: int) -> tuple[int, int, str, float] | None:
    found = []
    for i, j in itertools.combinations(range(problem.d), 2):
        for op in OPS:
            for a, b in ((i, j), (j, i)) if op in ("-", "/") else ((i, j),):
                ratio = symmetric_combination(problem, a, b, op, seed)
                if ratio <= 1.0:
                    found.append((ratio, OPS.index(op), a, b, op))
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
    # "product" after "log": the same split, tested on f itself when f changes sign
    split = _best_split(problem, ("identity", "log", "product"), seed)
    if split is not None:
        transform, group, ratio = split
        node = _split(problem, group, "sum" if transform == "identity" else "product")
        node.detail = f"ratio {ratio:.3g}"
        node.children = [find_structure(c.problem, seed, depth + 1) for c in node.children]
        return node
    offset = _best_offset(problem, seed)
    if offset is not None:
        value, child = offset
        return Node("shift", problem, f"f - {value:.6g} is a product", [
            find_structure(child, seed, depth + 1)], value=value)
    combo = _best_combination(problem, seed)
    if combo is not None:
        i, j, op, ratio = combo
        # x_i/x_j and x_j/x_i pass the test alike, but a leaf's library fits one of them
        # only (exp(-u^2/2) of u = theta/sigma is a Gaussian; of sigma/theta it is not):
        # both are solved and the held-out rows decide.
        x = problem.x[:, i]
        one_signed = bool(np.all(x > 0) or np.all(x < 0))  # x_i may be a denominator too
        pairs = [(i, j), (j, i)] if op == "/" and one_signed else [(i, j)]
        combos = []
        for a, b in pairs:
            child = _combined(problem, a, b, op)
            combos.append(Node("combine", problem, f"{child.inputs[-1]} (ratio {ratio:.3g})",
                               [find_structure(child, seed, depth + 1)]))
        if len(combos) == 1:
            return combos[0]
        return Node("choice", problem, "the quotient either way round", combos)
    split = _best_split(problem, ("square", "sqrt", "inverse", "inverse_square"), seed)
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
