"""Engine-neutral symbolic search: data in, an accuracy-complexity front of expressions out.

After the engine returns its candidate trees, every candidate goes through the same steps,
whichever engine found it:

1. its float constants are refitted in float64 on all rows (engines often work in float32);
2. constants within a relative tolerance of a simple number (``2``, ``1/2``, ``pi``, ...;
   :func:`kanstudio.symbolic.formula.snap_constants`) are snapped, loosest tolerance first,
   as long as the training MSE grows by at most ``SNAP_R2_LOSS`` of ``var(y)`` plus
   ``2k/n`` of itself for ``k`` constants and ``n`` rows (what noise alone costs when ``k``
   fitted constants move to their true values); a snapped formula without floats is
   simplified by sympy;
3. it is scored on all rows (MSE, R²) with the numpy tree evaluator, and its complexity is
   the node count of its tree;
4. candidates that do not beat every simpler one are dropped: the front, simplest first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy
from scipy.optimize import least_squares

from kanstudio.symbolic.formula import round_constants, snap_constants
from kanstudio.symbolic.search.engine import (
    Progress,
    SearchBudget,
    resolve_budget,
    resolve_operators,
)
from kanstudio.symbolic.search.engines import get_engine
from kanstudio.symbolic.search.tree import (
    Tree,
    TreeError,
    compile_tree,
    evaluate_tree,
    from_tree,
    to_tree,
    tree_size,
    with_constants,
)

__all__ = ["SNAP_R2_LOSS", "SearchResult", "search", "search_curve"]

#: Largest rise of the training MSE, as a fraction of var(y), that snapping may cost.
SNAP_R2_LOSS = 1e-7
_SNAP_TOLERANCES = (1e-2, 1e-3, 1e-4, 1e-6)  # loosest first: the most snaps that still fit
_SIMPLIFY_MAX_OPS = 40  # sympy.simplify only on small formulas (it can take seconds)
_POLISH_MAX_NFEV = 30  # evaluations per constant (finite differences included)


@dataclass(frozen=True)
class SearchResult:
    """One expression of a search front.

    Attributes:
        expression: sympy expression over the caller's names; snapped constants are exact
            (``2``, ``pi/2``), the others keep full float64 precision.
        tree: the same expression as a JSON-safe tree (:mod:`.tree`), over ``["var", i]``.
        names: the variable names, in column order (``tree``'s indices point into it).
        complexity: node count of ``tree`` (the same measure for every engine).
        mse: mean squared error on all rows given to the search.
        r2: coefficient of determination on the same rows (``-inf`` when ``y`` is constant
            and the fit is not exact).
        engine: the engine that proposed it (for logs; callers need not care).
    """

    expression: sympy.Expr
    tree: Tree
    names: tuple[str, ...]
    complexity: int
    mse: float
    r2: float
    engine: str

    @property
    def display(self) -> sympy.Expr:
        """The expression with unsnapped constants rounded to 4 significant digits."""
        return round_constants(self.expression, 4)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Evaluate on ``x`` (n, d) -> (n,), numpy only."""
        return evaluate_tree(self.tree, x)

    def to_json(self) -> dict:
        """A JSON-safe record (``formula`` is for people; :meth:`from_json` rebuilds from
        ``tree`` and ``names`` only, never from text)."""
        return {"formula": str(self.expression), "tree": self.tree, "names": list(self.names),
                "complexity": self.complexity, "mse": _json_float(self.mse),
                "r2": _json_float(self.r2), "engine": self.engine}

    @classmethod
    def from_json(cls, record: dict) -> SearchResult:
        """Rebuild a result saved by :meth:`to_json`; raises TreeError/ValueError on a bad
        record (a project file is untrusted input: nothing in it is evaluated)."""
        if not isinstance(record, dict):
            raise ValueError(f"a search result record must be an object, got {record!r:.60}")
        names = record.get("names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("a search result record needs 'names', a list of strings")
        tree = record.get("tree")
        expression = from_tree(tree, names)

        def number(key: str) -> float:
            value = record.get(key)
            if value is None:
                return math.nan
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"'{key}' must be a number or null, got {value!r:.60}")
            return float(value)

        engine = record.get("engine", "")
        return cls(expression, tree, tuple(names), tree_size(tree), number("mse"),
                   number("r2"), engine if isinstance(engine, str) else "")


def _json_float(value: float) -> float | None:
    """JSON has no inf/nan: those are stored as null."""
    return value if math.isfinite(value) else None


def _mse(tree: Tree, x: np.ndarray, y: np.ndarray) -> float:
    pred = evaluate_tree(tree, x)
    if not np.all(np.isfinite(pred)):
        return math.inf
    return float(np.mean((pred - y) ** 2))


def _polish(tree: Tree, x: np.ndarray, y: np.ndarray) -> Tree:
    """Refit the tree's float constants in float64 (least squares from the engine's values,
    which are often float32); returns the better of the two trees."""
    f, start = compile_tree(tree, x.shape[1])
    if start.size == 0 or start.size >= len(y):
        return tree

    def residual(values: np.ndarray) -> np.ndarray:
        r = f(x, values) - y
        return np.where(np.isfinite(r), r, 1e150)

    try:
        fit = least_squares(residual, start, method="lm",
                            max_nfev=_POLISH_MAX_NFEV * (start.size + 1))
    except (ValueError, FloatingPointError):
        return tree
    polished = with_constants(tree, fit.x)
    return polished if _mse(polished, x, y) <= _mse(tree, x, y) else tree


def _simplify(expr: sympy.Expr) -> sympy.Expr:
    """sympy.simplify for a small formula without floats (on floats it only shuffles
    constants it cannot snap, and can take seconds); otherwise the formula unchanged."""
    if expr.has(sympy.Float) or sympy.count_ops(expr) > _SIMPLIFY_MAX_OPS:
        return expr
    try:
        return sympy.simplify(expr)
    except (RecursionError, TypeError, ValueError):
        return expr


def _finish(tree: Tree, names: Sequence[str], x: np.ndarray, y: np.ndarray,
            fit_rows: np.ndarray) -> tuple[sympy.Expr, Tree, float] | None:
    """(expression, tree, mse on all rows) after polishing (on ``fit_rows``) and snapping;
    None when the candidate is not finite on every row."""
    tree = _polish(tree, x[fit_rows], y[fit_rows])
    best_mse = _mse(tree, x, y)
    if not math.isfinite(best_mse):
        return None
    raw = from_tree(tree, names)
    # With noise, moving k constants from their least-squares values to the true ones
    # raises the MSE by about k/n of the noise variance; twice that is allowed on top.
    n_floats = len(raw.atoms(sympy.Float))
    allowed = best_mse * (1 + 2 * n_floats / len(y)) + SNAP_R2_LOSS * float(np.var(y))
    for tol in _SNAP_TOLERANCES:
        try:
            snapped = snap_constants(raw, tol)
            snapped_tree = to_tree(snapped, names)
        except TreeError:
            continue
        mse = _mse(snapped_tree, x, y)
        if mse > allowed:
            continue
        simpler = _simplify(snapped)
        if simpler != snapped:
            try:
                simpler_tree = to_tree(simpler, names)
                simpler_mse = _mse(simpler_tree, x, y)
            except TreeError:
                simpler_mse = math.inf
            if simpler_mse <= allowed and tree_size(simpler_tree) <= tree_size(snapped_tree):
                return simpler, simpler_tree, simpler_mse
        return snapped, snapped_tree, mse
    return raw, to_tree(raw, names), best_mse


def _front(results: list[SearchResult]) -> list[SearchResult]:
    """Keep results that beat every simpler one; simplest first, one per formula."""
    out: list[SearchResult] = []
    seen: set[str] = set()
    for r in sorted(results, key=lambda r: (r.complexity, r.mse)):
        key = json.dumps(r.tree)
        if key in seen or (out and r.mse >= out[-1].mse):
            continue
        seen.add(key)
        out.append(r)
    return out


def _check_data(x: np.ndarray, y: np.ndarray, names: Sequence[str] | None
                ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (n, d), got shape {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x, got {y.shape}")
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"x needs at least 2 rows and 1 column, got shape {x.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite (drop or fill missing rows first)")
    if names is None:
        names = [f"x{i}" for i in range(x.shape[1])]
    names = tuple(str(n) for n in names)
    if len(names) != x.shape[1] or len(set(names)) != len(names):
        raise ValueError(f"names must be {x.shape[1]} distinct names, got {list(names)}")
    return x, y, names


def _subsample(n: int, max_rows: int, seed: int) -> np.ndarray:
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def search(
    x: np.ndarray,
    y: np.ndarray,
    budget: SearchBudget | str = "medium",
    operators: Sequence[str] | str | None = None,
    seed: int = 0,
    threads: int = 1,
    names: Sequence[str] | None = None,
    engine: str = "auto",
    progress: Progress | None = None,
) -> list[SearchResult]:
    """Search expressions for ``y ≈ f(x)``: the accuracy-complexity front, simplest first.

    Args:
        x: (n, d) inputs; y: (n,) target; both finite.
        budget: a :class:`SearchBudget` or ``"small"`` / ``"medium"`` / ``"large"``; work,
            not seconds, so ``seed`` fixes the result.
        operators: operator names from ``OPERATORS`` (``add`` and ``mul`` are always on);
            None gives ``DEFAULT_OPERATORS``.
        seed: the search's random seed (also picks the subsample beyond ``max_rows``).
        threads: engine threads (follow the session's setting). One thread is reproducible;
            more may make runs differ.
        names: variable names for ``x``'s columns (default ``x0, x1, ...``).
        engine: "auto" or an engine's name.
        progress: called as ``progress(done, total)`` (generations) between chunks of the
            search (about every 10 generations); returning False stops the search there and
            the front found so far is returned. Passing it never changes the result.

    Raises:
        EngineUnavailableError: the engine cannot be imported here (message says how to
            install it).
        ValueError: bad shapes, non-finite data, unknown operators, a bad budget.
    """
    x, y, names = _check_data(x, y, names)
    spec = resolve_budget(budget)
    ops = resolve_operators(operators)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    backend = get_engine(engine)
    rows = _subsample(x.shape[0], spec.max_rows, int(seed))
    trees = backend.run(x[rows], y[rows], spec, ops, int(seed), threads, progress)
    var_y = float(np.var(y))
    results = []
    for tree in trees:
        try:
            done = _finish(tree, names, x, y, rows)
        except (TreeError, ValueError, OverflowError):
            continue
        if done is None:
            continue
        expr, final_tree, mse = done
        r2 = 1.0 - mse / var_y if var_y > 0 else (1.0 if mse == 0 else -math.inf)
        results.append(SearchResult(expr, final_tree, names, tree_size(final_tree), mse, r2,
                                    backend.name))
    return _front(results)


def search_curve(
    xs: np.ndarray,
    ys: np.ndarray,
    budget: SearchBudget | str = "small",
    seed: int = 0,
    operators: Sequence[str] | str | None = None,
    threads: int = 1,
    name: str = "x",
    progress: Progress | None = None,
) -> list[SearchResult]:
    """Search a 1-D curve ``ys ≈ f(xs)`` (an edge no library function fits): the same
    front as :func:`search`, over one variable called ``name``."""
    xs = np.asarray(xs, dtype=float)
    if xs.ndim != 1:
        raise ValueError(f"xs must be 1-D (n,), got shape {xs.shape}")
    return search(xs[:, None], ys, budget=budget, operators=operators, seed=seed,
                  threads=threads, names=[name], progress=progress)
