"""Solve the leaves of a structure tree, compose one formula, fine-tune its constants.

A leaf is a small problem ``(x, y)`` (``y`` from the oracle) handed to a **solver**:
any callable ``solve(x, y, names) -> [(expr, complexity), ...]`` whose expressions are
sympy in ``sympy.Symbol(name)`` for ``name`` in ``names`` and whose complexity is on the
scale of :func:`expression_size` (nodes of the expression tree). The default
(:func:`library_solver`) fits 1-input leaves with the symbolic library, after a transform
of the target (``y``, ``y²``, ``1/y``, ``√y``, ``log y``) and as a power law ``c·x^p``
with ``p`` snapped to a simple rational, or ``c·x^p + d`` for the simple rationals that
fit best (a part of a sum carries an offset); leaves of 2-3 inputs go to a ``multi`` solver
(the pipeline passes a short discovery run; without one, a small KAN via the model API).
Another engine (a symbolic-regression search) plugs in as a solver without changes here.

Each leaf ranks its candidates by held-out error against complexity on the oracle; the
tree's formula is composed from the best, its free constants (every Float) are fitted to
the *data's* training rows by least squares, and it is scored on the held-out rows; each
leaf's runners-up are then tried in the whole formula (one leaf at a time, then the two
leaves of a sum together, as one family) and kept where that scores better. Constants
are then snapped to simple values at the loosest tolerance that costs no held-out
accuracy, refitting the ones that stay floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import sympy
from scipy.optimize import least_squares

from kanstudio.session.sampling import box_points
from kanstudio.session.structure import Node
from kanstudio.session.structure_oracle import Problem, inverse_transform
from kanstudio.symbolic.fitting import suggest_symbolic
from kanstudio.symbolic.formula import tidy_formula
from kanstudio.symbolic.library import resolve_names
from kanstudio.symbolic.numeric import evaluate, real_values

__all__ = [
    "Candidate", "Solver", "StructureFormula", "expression_size", "complexity",
    "snap_exponent", "power_law", "solve_1d", "normalise_constants", "library_solver",
    "kan_solver", "fine_tune", "compose", "polish", "offset_free", "noise_floor",
    "one_signed_inputs", "held_out_rel_mse",
]

Candidate = tuple[sympy.Expr, int]
Solver = Callable[[np.ndarray, np.ndarray, Sequence[str]], list[Candidate]]

#: Decades of relative MSE one node of expression must buy (a library edge
#: ``c·sin(a·x + b) + d`` is ~10 nodes for the library's complexity 2 at 0.8 decades each).
NODE_WEIGHT = 0.25


def noise_floor(*rel_mses: float) -> float:
    """The ``floor`` of the score ``log10(relative MSE + floor) + NODE_WEIGHT·size`` that
    ranks whole formulas: half the smallest held-out relative MSE among the models
    compared (the network and the formulas). The noise in the data is at most that, and
    no formula is asked to beat it; a poor network does not set it (a formula that
    explains the held-out rows 1000 times better than the network shows the data is
    cleaner than the network's error says)."""
    finite = [r for r in rel_mses if math.isfinite(r) and r >= 0.0]
    return 0.5 * min(finite, default=0.0) + 1e-14


def held_out_rel_mse(result: Any, var: float) -> float:
    """A FormulaResult's held-out MSE relative to the target's variance ``var`` there (inf
    for a formula undefined on those rows): what :func:`noise_floor` and the scores of
    whole formulas take."""
    rel = result.formula_test_rmse**2 / var
    return rel if math.isfinite(rel) else math.inf


#: Exponents snapped to ``k/q`` with these denominators, ``|p| <= MAX_EXPONENT``.
EXPONENT_DENOMINATORS = (1, 2, 3)
MAX_EXPONENT = 6
SNAP_TOLERANCES = (1e-2, 1e-3, 1e-4)
#: Runners-up per leaf that the whole formula tries after the leaf's best (on the oracle).
#: 16, not 8: on a network's curve ``1/√(1.04 - 1.04·u²)`` ranked 14th of a leaf's
#: candidates (``√(ρ²)/√(1 - v²/c²)``, II.13.23, found only past the 8th).
LEAF_ALTERNATIVES = 16
#: The best this many candidates of a leaf are followed by their offset-free variant
#: (:func:`offset_free`), tried in the whole formula like any runner-up.
OFFSET_FREE_VARIANTS = 2


def expression_size(expr: sympy.Expr) -> int:
    """Nodes of the expression tree (symbols, numbers and operations alike)."""
    return sum(1 for _ in sympy.preorder_traversal(expr))


#: Constants further than this many decades from 1 look like a stand-in (a tangent near
#: its pole for a ``1/x``, a tiny-frequency sine for a parabola): each costs extra nodes.
EXTREME_DECADES = 2.0
EXTREME_COST = 4


def complexity(expr: sympy.Expr) -> int:
    """:func:`expression_size` plus ``EXTREME_COST`` per constant more than
    ``EXTREME_DECADES`` decades from 1: two fits that both reproduce a leaf prefer the one
    whose constants do not cancel each other."""
    extreme = sum(1 for f in expr.atoms(sympy.Float)
                  if f != 0 and abs(math.log10(abs(float(f)))) > EXTREME_DECADES)
    return expression_size(expr) + EXTREME_COST * extreme


def snap_exponent(p: float, tol: float = 0.03) -> Fraction | None:
    """The simple rational ``k/q`` (q in EXPONENT_DENOMINATORS) within ``tol`` of ``p``,
    the smallest denominator first; None when there is none (or ``|p|`` is too large)."""
    if not math.isfinite(p) or abs(p) > MAX_EXPONENT:
        return None
    for q in EXPONENT_DENOMINATORS:
        k = round(p * q)
        if k != 0 and abs(p - k / q) <= tol:
            return Fraction(k, q)
    return None


def power_law(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """``(p, c)`` of ``y = c·x^p`` by a straight line through ``(log x, log|y|)``, when
    ``x`` and ``y`` each keep one sign and the line explains ``log|y|`` (R² > 0.999)."""
    if not (np.all(x > 0) and (np.all(y > 0) or np.all(y < 0))):
        return None
    lx, ly = np.log(x), np.log(np.abs(y))
    if np.ptp(lx) == 0:
        return None
    p, logc = np.polyfit(lx, ly, 1)
    resid = ly - (p * lx + logc)
    ss = float(np.sum((ly - ly.mean()) ** 2))
    if ss <= 0 or 1.0 - float(np.sum(resid**2)) / ss < 0.999:
        return None
    return float(p), float(math.copysign(math.exp(logc), float(y[0])))


def rel_mse(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean squared error of ``pred`` over the variance of ``y`` (its mean square, or 1,
    when ``y`` is constant); inf when the error is not finite."""
    var = float(np.var(y)) or float(np.mean(y**2)) or 1.0
    with np.errstate(all="ignore"):
        mse = float(np.mean((pred - y) ** 2))
    return mse / var if math.isfinite(mse) else math.inf


# Target transforms a 1-input leaf is fitted after: z = T(y), y = T⁻¹(z).
_LEAF_TRANSFORMS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "identity": (lambda y: y, "identity"),
    "square": (np.square, "square"),
    "inverse": (lambda y: 1.0 / y, "inverse"),
    "sqrt": (np.sqrt, "sqrt"),
    "log": (np.log, "log"),
    "inverse_square": (lambda y: 1.0 / np.square(y), "inverse_square"),
}
#: Rows a leaf's library fits search on (the fits are re-solved on every row).
LEAF_SAMPLES = 200
#: Functions fitted after a transform of the target (the whole selection is fitted to the
#: target itself): the simple shapes a transform exists to reveal, at a third of the cost.
TRANSFORMED_FUNCTIONS = ("x", "x^2", "x^3", "1/x", "1/x^2", "sqrt", "exp", "log")
#: A candidate whose relative MSE is under this ends the search of a 1-input leaf.
EXACT_REL_MSE = 1e-18


#: Exponents tried for ``c·x^p + d`` (a part of a sum carries an offset that hides a
#: power law from the log-log line): simple rationals, the 1/x and 1/x² of physics first.
OFFSET_EXPONENTS = sorted({Fraction(k, q) for q in EXPONENT_DENOMINATORS
                           for k in range(-4 * q, 4 * q + 1) if k != 0},
                          key=lambda f: (f.denominator, abs(f), f < 0))
#: How many of them (best fits) become candidates.
OFFSET_POWERS_KEPT = 2


def _offset_powers(x: np.ndarray, y: np.ndarray, sym: sympy.Symbol) -> list[Candidate]:
    """``c·x^p + d`` for the best-fitting simple rational exponents ``p`` (x > 0), and
    ``c·log(x) + d``, the family's ``p -> 0`` member (``(x^p - 1)/p -> log x``).

    Without it a leaf ``log x`` (a factor ``x`` of a product, in log space) was fitted
    by ``55·x^0.018``, or by ``x^(1/3)`` whose error the oracle's noise hid: Feynman
    I.32.17's ``log ε + log c + 2·log E + ...`` came back as a sum of cube roots."""
    if not np.all(x > 0):
        return []
    fits = []
    for k, e in enumerate([Fraction(0), *OFFSET_EXPONENTS]):
        with np.errstate(all="ignore"):
            basis = np.log(x) if e == 0 else np.power(x, float(e))
        if not np.all(np.isfinite(basis)) or np.ptp(basis) == 0:
            continue
        design = np.column_stack([basis, np.ones_like(basis)])
        (c, d), *_ = np.linalg.lstsq(design, y, rcond=None)
        fits.append((rel_mse(y, design @ np.array([c, d])), k, e, c, d))
    out = []
    for _, _, e, c, d in sorted(fits)[:OFFSET_POWERS_KEPT]:
        term = sympy.log(sym) if e == 0 else sym ** sympy.Rational(e.numerator,
                                                                  e.denominator)
        expr = sympy.Float(c) * term + sympy.Float(d)
        out.append((expr, complexity(expr)))
    return out


def solve_1d(x: np.ndarray, y: np.ndarray, name: str,
             functions: Sequence[str] | None = None, top_k: int = 2) -> list[Candidate]:
    """Candidates for ``y = g(x)``: power laws with snapped exponents, and library fits
    ``c·f(a·x + b) + d`` of ``T(y)`` for each target transform ``T`` that applies."""
    sym = sympy.Symbol(name)
    out: list[Candidate] = []
    spread = float(np.std(y))
    if spread <= 1e-12 * (abs(float(np.mean(y))) + 1e-300):
        return [(sympy.Float(float(np.mean(y))), 1)]
    law = power_law(x, y)
    if law is not None:
        p, _ = law
        snapped = snap_exponent(p)
        for exponent in ([snapped] if snapped is not None else []) + [None]:
            e = sympy.Rational(exponent.numerator, exponent.denominator) if exponent else (
                sympy.Float(p))
            basis = np.power(x, float(e))
            design = np.column_stack([basis, np.ones_like(basis)])
            (c, d), *_ = np.linalg.lstsq(design, y, rcond=None)
            expr = sympy.Float(c) * sym**e + sympy.Float(d)
            out.append((expr, complexity(expr)))
    out += _offset_powers(x, y, sym)
    one_sign = bool(np.all(y > 0) or np.all(y < 0))
    allowed = {f.name for f in resolve_names(functions)}
    for tname, (forward, inverse_name) in _LEAF_TRANSFORMS.items():
        if tname in ("sqrt", "log") and not np.all(y > 0):
            continue
        if tname in ("square", "inverse", "inverse_square") and not one_sign:
            continue
        with np.errstate(all="ignore"):
            z = forward(y)
        if not np.all(np.isfinite(z)):
            continue
        chosen = functions if tname == "identity" else [
            f for f in TRANSFORMED_FUNCTIONS if f in allowed]
        if chosen is not None and not chosen:
            continue
        fits = [f for f in suggest_symbolic(x, z, chosen, top_k=top_k + 1,
                                            max_samples=LEAF_SAMPLES) if f.ok][:top_k]
        sign = 1 if float(np.median(y)) > 0 else -1
        for fit in fits:
            expr = inverse_transform(inverse_name, fit.expression(sym), sign)
            out.append((expr, complexity(expr)))
        if any(rel_mse(y, evaluate(e, [sym], x[:, None])) < EXACT_REL_MSE
               for e, _ in out):
            break
    return out


def kan_solver(x: np.ndarray, y: np.ndarray, names: Sequence[str]) -> list[Candidate]:
    """A small KAN (``[d, 1]`` and ``[d, 1, 1]``) fitted, every edge locked to its best
    library fit, fine-tuned: the model API's own path, for leaves of several inputs."""
    from kanstudio.model.kan import KAN

    out: list[Candidate] = []
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    xs = (x - mean) / std
    for width in ([x.shape[1], 1], [x.shape[1], 1, 1]):
        model = KAN(width=width, grid=5, k=3, seed=0).fit(xs, y, steps=40)
        model.auto_symbolic(r2_threshold=-math.inf)
        model.fit(xs, y, steps=20, update_grid=False)
        scaled = [f"_s{k}" for k in range(len(names))]
        expr = model.formula(scaled, tidy=False)
        expr = expr.xreplace({sympy.Symbol(s): (sympy.Symbol(n) - float(m)) / float(v)
                              for s, n, m, v in zip(scaled, names, mean, std, strict=True)})
        out.append((expr, expression_size(expr)))
    return out


def library_solver(functions: Sequence[str] | None = None, multi: Solver | None = None
                   ) -> Solver:
    """The default solver: :func:`solve_1d` for one input, ``multi`` (default
    :func:`kan_solver`) for more."""
    def solve(x: np.ndarray, y: np.ndarray, names: Sequence[str]) -> list[Candidate]:
        if x.shape[1] == 1:
            return solve_1d(x[:, 0], y, names[0], functions)
        return (multi or kan_solver)(x, y, names)

    return solve


# ------------------------------------------------------------------------ the tree
def _leaf_names(problem: Problem) -> list[str]:
    return [f"_u{k}" for k in range(problem.d)]


def _leaf_candidates(problem: Problem, solver: Solver) -> list[sympy.Expr]:
    """The leaf's distinct candidates, best held-out score on the oracle first (at most
    :data:`LEAF_ALTERNATIVES` + 1), in the original symbols."""
    names = _leaf_names(problem)
    y, y_test = problem.predict(problem.x), problem.predict(problem.x_test)
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(y_test))):
        return []
    symbols = [sympy.Symbol(n) for n in names]
    floor = (problem.sigma**2) / (float(np.var(y_test)) or 1.0) + 1e-14
    scored = []
    for k, (expr, complexity) in enumerate(solver(problem.x, y, names)):
        rel = rel_mse(y_test, evaluate(expr, symbols, problem.x_test))
        score = math.log10(rel + floor) + NODE_WEIGHT * complexity
        if math.isfinite(score):
            scored.append((score, k, expr))
    back = dict(zip(symbols, problem.inputs, strict=True))
    out: list[sympy.Expr] = []
    kept = 0  # the solver's own candidates; their offset-free variants come on top
    for _, _, expr in sorted(scored, key=lambda t: (t[0], t[1])):
        expr = expr.xreplace(back)
        if expr in out:
            continue
        out.append(expr)
        kept += 1
        variant = offset_free(expr) if kept <= OFFSET_FREE_VARIANTS else None
        if variant is not None and variant not in out:
            out.append(variant)
        if kept > LEAF_ALTERNATIVES:
            break
    return out


def offset_free(expr: sympy.Expr) -> sympy.Expr | None:
    """``expr`` with the constant term dropped from each log's argument and each
    power's base (``c·log(a·x + b) + d`` -> ``c·log(a·x) + d``), or None when it has none.

    Such a function of ``a·x`` alone is ``log a + log x`` or ``a^p·x^p``: a power law.
    Fitted to a network's curve, which is only approximately the law, the library's
    ``c·log(a·x + b)`` (a leaf of a product, in log space) takes any offset that bends it
    toward the network, ``b/a`` of a few thousandths with the exponent ``c`` off by as
    much (``(183·H - 1)^0.9967`` for ``H``); once fine-tuned on the data the variant
    without it says whether the offset was the law's or the network's."""
    def offset(node: sympy.Expr) -> sympy.Expr | None:
        if isinstance(node, sympy.log):
            base = node.args[0]
        elif isinstance(node, sympy.Pow):
            base = node.base
        else:
            return None
        if not (isinstance(base, sympy.Add) and base.free_symbols):
            return None
        const, rest = base.as_coeff_Add()
        return rest if isinstance(const, sympy.Float) and const != 0 and rest.free_symbols \
            else None

    def rewrite(node: sympy.Expr) -> sympy.Expr:
        rest = offset(node)
        return sympy.log(rest) if isinstance(node, sympy.log) else rest**node.exp

    changed = expr.replace(lambda node: offset(node) is not None, rewrite)
    return None if changed == expr else changed


class _Leaves:
    """Each solved leaf stands in the composed formula as a placeholder symbol, with its
    candidates best first; the whole formula then picks among them on the data."""

    def __init__(self) -> None:
        self.candidates: dict[sympy.Symbol, list[sympy.Expr]] = {}
        self.siblings: list[tuple[sympy.Symbol, sympy.Symbol]] = []  # two leaves of a sum

    def add(self, cands: list[sympy.Expr]) -> sympy.Symbol:
        placeholder = sympy.Symbol(f"_leaf{len(self.candidates)}")
        self.candidates[placeholder] = cands
        return placeholder

    def best(self) -> dict[sympy.Symbol, sympy.Expr]:
        return {ph: c[0] for ph, c in self.candidates.items()}


def _choose(node: Node, parts: list[sympy.Expr | None], symbols: Sequence[sympy.Symbol],
            x_test: np.ndarray, leaves: _Leaves) -> sympy.Expr | None:
    """The alternative that best reproduces the node's oracle on the held-out rows
    (``x_test``: those rows in the original inputs, which every node shares), each with
    its leaves' best candidates."""
    target = node.problem.predict(node.problem.x_test)
    floor = node.problem.sigma**2 / (float(np.var(target)) or 1.0) + 1e-14
    best = leaves.best()
    scored = []
    for k, part in enumerate(parts):
        if part is None:
            continue
        e = part.xreplace(best)
        scored.append((math.log10(rel_mse(target, evaluate(e, symbols, x_test)) + floor)
                       + NODE_WEIGHT * complexity(e), k, part))
    scored = [s for s in scored if math.isfinite(s[0])]
    return min(scored)[2] if scored else None


def _solve_template(node: Node, solver: Solver, symbols: Sequence[sympy.Symbol],
                    x_test: np.ndarray | None, leaves: _Leaves) -> sympy.Expr | None:
    """The tree's formula with a placeholder for each leaf (see :class:`_Leaves`)."""
    if node.kind == "constant":
        return sympy.Float(node.value)
    if node.kind == "leaf":
        cands = _leaf_candidates(node.problem, solver)
        return leaves.add(cands) if cands else None
    parts = [_solve_template(c, solver, symbols, x_test, leaves) for c in node.children]
    if node.kind == "choice":
        return None if x_test is None else _choose(node, parts, symbols, x_test, leaves)
    if any(p is None for p in parts):
        return None
    if node.kind == "sum":
        if all(p in leaves.candidates for p in parts):
            leaves.siblings.append((parts[0], parts[1]))
        return parts[0] + parts[1]
    if node.kind == "product":
        return parts[0] * parts[1]
    if node.kind == "transform":
        return inverse_transform(node.transform, parts[0], int(node.value))
    if node.kind == "shift":
        return parts[0] + sympy.Float(node.value)
    if node.kind == "scale":
        return parts[0] * node.problem.inputs[int(node.transform)] ** (-int(node.value))
    return parts[0]  # drop, combine: the child's inputs already say how


# ------------------------------------------------------------------ constants
def fine_tune(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], x: np.ndarray,
              y: np.ndarray, max_nfev: int = 200) -> sympy.Expr:
    """``expr`` with its Float constants fitted to ``(x, y)`` by least squares; unchanged
    when it has none or the fit does not improve it."""
    floats = sorted(expr.atoms(sympy.Float), key=lambda f: float(f))
    if not floats or x.shape[0] <= len(floats):
        return expr
    params = sympy.symbols(f"_c0:{len(floats)}")
    template = expr.xreplace(dict(zip(floats, params, strict=True)))
    fn = sympy.lambdify([*symbols, *params], template, modules="numpy")
    cols = [x[:, k] for k in range(x.shape[1])]
    penalty = 1e3 * (float(np.std(y)) + 1.0)

    def residual(p: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            r = real_values(fn(*cols, *p), y.shape[0]) - y
        return np.where(np.isfinite(r), r, penalty)

    p0 = np.array([float(f) for f in floats])
    start = float(np.sum(residual(p0) ** 2))
    try:
        fit = least_squares(residual, p0, method="trf", x_scale="jac", max_nfev=max_nfev)
    except (ValueError, np.linalg.LinAlgError, OverflowError, ZeroDivisionError):
        return expr
    if not (np.all(np.isfinite(fit.x)) and 2.0 * fit.cost < start):
        return expr
    return template.xreplace({s: sympy.Float(float(v)) for s, v in zip(params, fit.x,
                                                                        strict=True)})


def _constant_term(base: sympy.Expr) -> sympy.Float | None:
    if not isinstance(base, sympy.Add):
        return None
    const, rest = base.as_coeff_Add()
    if not isinstance(const, sympy.Float) or const == 0:
        return None
    others = [abs(float(f)) for f in rest.atoms(sympy.Number) if f != 0]
    # a rounding residue (1e-15 next to coefficients of 1) is no constant term
    return const if abs(float(const)) > 1e-6 * max(others, default=0.0) else None


def _common_factor_out(node: sympy.Expr) -> sympy.Expr:
    """``(k·a + k'·b)^e = k^e·(a + (k'/k)·b)^e`` with ``k`` the largest coefficient's
    size: a power's base whose terms all carry a number (``√(2.5/v² - 2.49/c²)`` under
    a factor 1.581 ≈ √2.5) leaves that number outside, where it meets the outer factor."""
    if not (isinstance(node, sympy.Pow) and isinstance(node.base, sympy.Add)):
        return node
    # a number among the terms is a rounding residue here (_constant_term said so)
    terms = [term for term in node.base.args if term.free_symbols]
    coeffs = [term.as_coeff_Mul()[0] for term in terms]
    if len(terms) < 2 or not all(c.is_Number and c != 0 for c in coeffs):
        return node
    k = max((abs(c) for c in coeffs), key=float)
    if k == 1:
        return node
    return k**node.exp * sympy.expand(sympy.Add(*terms) / k) ** node.exp


def normalise_constants(expr: sympy.Expr) -> sympy.Expr:
    """The same function with each power's and log's constant term pulled out:
    ``(A + r)^e = |A|^e·(±1 + r/|A|)^e``, ``log(A + r) = log|A| + log(±1 + r/|A|)``.

    A fit composed of parts leaves constants spread over a power
    (``1.0966 - 1.0966·v²/c²`` under a square root, with ``π/3`` outside); pulled out,
    they meet the outer factor and snap together (to ``1/√(1 - v²/c²)``)."""
    def rewrite(node: sympy.Expr) -> sympy.Expr:
        base = node.args[0]
        const = _constant_term(base)
        if const is None:
            return _common_factor_out(node)
        size, sign = abs(const), (1 if const > 0 else -1)
        inner = sympy.expand(sign + (base - const) / size)
        if isinstance(node, sympy.log):
            return sympy.log(size) + sympy.log(inner)
        return size**node.exp * inner**node.exp

    def wanted(node: sympy.Expr) -> bool:
        if isinstance(node, sympy.log):
            return True
        return isinstance(node, sympy.Pow) and not (node.exp.is_Integer and node.exp > 0)

    return expr.replace(wanted, rewrite)


def _rounded(expr: sympy.Expr, digits: int) -> sympy.Expr:
    """Floats rounded to ``digits`` significant digits, kept at double precision (a
    4-digit sympy Float is 8.31396... for 8.314: wrong in the 6th digit)."""
    return expr.xreplace({f: sympy.Float(float(f"{float(f):.{digits}g}"))
                          for f in expr.atoms(sympy.Float)})


@dataclass
class StructureFormula:
    """The structure step's formula: ``expr`` snapped where that costs nothing, ``exact``
    at full precision (both fine-tuned on the training rows), scored on held-out rows;
    ``full`` is ``expr`` before its constants were rounded for display (the values the
    constants table shows)."""

    expr: sympy.Expr
    exact: sympy.Expr
    complexity: int
    test_rel_mse: float
    tree: Node | None  # None for a formula polished without the structure step (polish)
    full: sympy.Expr | None = None


def _whole_formula_choice(template: sympy.Expr, leaves: _Leaves,
                          symbols: Sequence[sympy.Symbol], x_train: np.ndarray,
                          y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
                          ) -> sympy.Expr | None:
    """``template`` with each leaf's candidate chosen by the fine-tuned whole formula's
    held-out score (relative MSE against size), best oracle candidates first."""
    floor = 1e-14

    def scored(assignment: dict) -> tuple[float, sympy.Expr]:
        tuned = fine_tune(template.xreplace(assignment), symbols, x_train, y_train)
        rel = rel_mse(y_test, evaluate(tuned, symbols, x_test))
        score = math.log10(rel + floor) + NODE_WEIGHT * complexity(tuned)
        return (score if math.isfinite(score) else math.inf), tuned

    assignment = leaves.best()
    best_score, best = scored(assignment)
    used = template.free_symbols
    for ph, cands in leaves.candidates.items():
        if ph not in used:
            continue  # a leaf of a branch the choice did not take
        for alternative in cands[1:]:
            trial = {**assignment, ph: alternative}
            score, tuned = scored(trial)
            if score < best_score:
                best_score, best, assignment = score, tuned, trial
    for trial in _family_assignments(assignment, leaves, used):
        score, tuned = scored(trial)
        if score < best_score:
            best_score, best, assignment = score, tuned, trial
    return best if math.isfinite(best_score) else None


def leaf_family(expr: sympy.Expr) -> tuple[str, ...]:
    """The functions a leaf candidate is made of, constants aside: ``('log',)`` for
    ``a·log(b·x + c) + d``, ``('pow 1/3',)`` for ``a·x^(1/3) + b``; ``()`` for a polynomial
    in its inputs."""
    parts = {type(f).__name__ for f in expr.atoms(sympy.Function)}
    for power in expr.atoms(sympy.Pow):
        if power.base.free_symbols and isinstance(power.exp, sympy.Number) and not (
                power.exp.is_Integer and power.exp > 0):
            parts.add(f"pow {sympy.nsimplify(power.exp, rational=True)}")
    return tuple(sorted(parts))


def _family_assignments(assignment: dict[sympy.Symbol, sympy.Expr], leaves: _Leaves,
                        used: set) -> list[dict[sympy.Symbol, sympy.Expr]]:
    """For two leaves added together (``leaves.siblings``), assignments where both take
    their best candidate of one family, for each family both have (and that is not the
    assignment already).

    Leaves are swapped one at a time above, which misses laws whose leaves only come
    right together: ``log(V2) - log(V1)`` from an oracle that ranks ``x^(1/3)`` first for
    both (Feynman I.44.4), where ``log`` for one leaf beside ``x^(1/3)`` for the other
    fits worse than either pair."""
    trials = []
    for pair in leaves.siblings:
        if not all(ph in used and ph in assignment for ph in pair):
            continue
        offers: dict[tuple[str, ...], dict[sympy.Symbol, sympy.Expr]] = {}
        for ph in pair:
            for cand in leaves.candidates[ph]:
                family = leaf_family(cand)
                if family:
                    offers.setdefault(family, {}).setdefault(ph, cand)
        for _family, chosen in sorted(offers.items()):
            trial = {**assignment, **chosen}
            if len(chosen) == len(pair) and trial != assignment:
                trials.append(trial)
    return trials


def compose(tree: Node, solver: Solver, symbols: Sequence[sympy.Symbol],
            x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
            y_test: np.ndarray) -> StructureFormula | None:
    """Solve the leaves, fine-tune the whole formula on the data, snap its constants.

    Each leaf's candidates are ranked on the oracle, which is only approximately the law
    (a network's curve may favour ``tanh(1 - u)`` over the true Gaussian); so the leaves'
    runners-up are tried in the whole formula, fine-tuned on the data's training rows, one
    leaf at a time, then the two leaves of each sum as a pair of one family
    (:func:`_family_assignments`), and kept when the held-out score improves."""
    leaves = _Leaves()
    template = _solve_template(tree, solver, symbols, x_test, leaves)
    if template is None:
        return None
    exact = _whole_formula_choice(template, leaves, symbols, x_train, y_train, x_test,
                                  y_test)
    if exact is None:
        return None
    return polish(exact, symbols, x_train, y_train, x_test, y_test, tree)


#: An input counts as one-signed when its rows and this share of their range beyond them
#: on either side keep one sign (the margin the formula is judged on, issue 12).
SIGN_MARGIN = 0.25


def one_signed_inputs(expr: sympy.Expr, symbols: Sequence[sympy.Symbol],
                      x: np.ndarray) -> sympy.Expr:
    """``expr`` with ``|x|`` and ``√(x²)`` written as ``x`` (or ``-x``) for each input that
    keeps one sign on the rows ``x`` and the margin around them: a leaf solved through a
    square gives ``√(ρ²)`` for ``ρ``, the same function there but not how a person writes
    it. Elsewhere the expression is left as it is."""
    signed = {}
    for k, sym in enumerate(symbols):
        lo, hi = float(np.min(x[:, k])), float(np.max(x[:, k]))
        pad = SIGN_MARGIN * (hi - lo)
        if lo - pad > 0:
            signed[sym] = sympy.Symbol(sym.name, positive=True)
        elif hi + pad < 0:
            signed[sym] = sympy.Symbol(sym.name, negative=True)
    if not signed:
        return expr
    back = {v: k for k, v in signed.items()}
    return expr.xreplace(signed).xreplace(back)


def polish(exact: sympy.Expr, symbols: Sequence[sympy.Symbol], x_train: np.ndarray,
           y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
           tree: Node | None = None) -> StructureFormula | None:
    """``exact`` (constants fitted to the data) with its constants pulled out of powers
    and logs, snapped where that costs nothing on the held-out rows, and rounded for
    display; None when it is not finite all over the data's box."""
    exact = one_signed_inputs(exact, symbols, x_train)
    normal = normalise_constants(exact)
    if rel_mse(y_test, evaluate(normal, symbols, x_test)) <= 1.01 * rel_mse(
            y_test, evaluate(exact, symbols, x_test)) + 1e-20:
        exact = normal
    exact_rel = rel_mse(y_test, evaluate(exact, symbols, x_test))
    if not math.isfinite(exact_rel):
        return None
    chosen, chosen_rel = exact, exact_rel
    for tol in SNAP_TOLERANCES:  # loosest first: the first that costs nothing wins
        try:
            snapped = tidy_formula(exact, tol=tol, digits=15)
        except (TypeError, ValueError, RecursionError, ZeroDivisionError):
            continue
        snapped = fine_tune(snapped, symbols, x_train, y_train)
        rel = rel_mse(y_test, evaluate(snapped, symbols, x_test))
        if rel <= 1.1 * exact_rel + 1e-18:
            chosen, chosen_rel = snapped, rel
            break
    shown = _rounded(chosen, 4)
    if rel_mse(y_test, evaluate(shown, symbols, x_test)) > 1.1 * chosen_rel + 1e-18:
        shown = _rounded(chosen, 10)
    # Defined on every row is not enough: a square root of a near-cancelling sum can turn
    # negative between the rows. The formula must be finite all over the data's box.
    box = box_points(x_train.min(axis=0), x_train.max(axis=0), 2000,
                     np.random.default_rng(0))
    if not np.all(np.isfinite(evaluate(shown, symbols, box))):
        return None
    return StructureFormula(shown, exact, expression_size(shown),
                            rel_mse(y_test, evaluate(shown, symbols, x_test)), tree,
                            chosen)
