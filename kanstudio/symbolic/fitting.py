"""Fit ``c·f(a·x + b) + d`` to one edge's samples and rank the library's candidates.

For one library function ``f`` (design.md §3):

1. Coarse global search over a ``grid_points²`` grid of ``(a, b)`` in ``a_range × b_range``
   (never ``a = 0``). Per pair, ``c, d`` are the least squares of ``y`` on
   ``[f(a·x + b), 1]`` in closed form, so its residual is ``SS_tot·(1 - corr(f, y)²)``.
   Pairs go in chunks of ``_CHUNK_ELEMENTS`` values (memory never grows with
   ``samples × grid × grid``); pairs putting a sample outside ``f``'s domain are skipped;
   if ``f(-u)`` is affine in ``f(u)`` and the box is symmetric, only ``a > 0`` is searched.
2. The best few distinct pairs are refined with ``scipy.optimize.least_squares``
   (Levenberg-Marquardt) over ``(a, b)``, ``c, d`` re-solved at every step.
3. The winner's ``c, d`` are solved on *all* samples, and R² is reported on all of them.

The search runs on a seeded subsample of ``max_samples`` points that always holds the
smallest and largest ``x`` (so interval domains hold for every sample). ``x`` and ``0`` are
fitted in closed form.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import sympy

from kanstudio.symbolic.conditioning import cancels, stand_in
from kanstudio.symbolic.edge_search import (
    DEFAULT_A_RANGE,
    DEFAULT_B_RANGE,
    DEFAULT_GRID_POINTS,
    DEFAULT_MAX_SAMPLES,
    FLAT_REL,
    Samples,
    check_count,
    dot,
    grid_pairs,
    grid_rel_sse,
    is_flat,
    pick_starts,
    prepare,
    refine,
)
from kanstudio.symbolic.expression_lock import lock_function
from kanstudio.symbolic.library import LIBRARY, LibraryFunction, get_function, resolve_names

#: Unexplained variance below which fits count as equally good (see :func:`rank_score`).
R2_FLOOR = 5e-5
DEFAULT_SIMPLICITY_WEIGHT = 0.8
#: Candidates whose scores differ by less than this many decades count as tied.
TIE_DECADES = 0.01
#: A fit explaining less of the curve's variance than this ranks below every fit that
#: explains more, whatever its complexity (see ``_tier``).
USEFUL_R2 = 0.5



@dataclass(frozen=True)
class SymbolicFit:
    """One candidate ``c·f(a·x + b) + d`` for an edge.

    ``r2`` is the R² on all samples given (``-inf`` only when the fit failed). ``score`` is
    :func:`rank_score` of ``r2`` and ``complexity``; lower is better. When ``ok`` is False
    the function could not be fitted (``reason`` says why) and the curve is ``0``.
    """

    name: str
    a: float
    b: float
    c: float
    d: float
    r2: float
    complexity: int
    score: float
    ok: bool
    reason: str = ""
    # the polynomial ("x" or "x^2") this curve is a Taylor-regime stand-in for on the data,
    # or "" (see kanstudio.symbolic.conditioning); suggest_symbolic replaces such fits
    mimics: str = ""

    @property
    def function(self) -> LibraryFunction:
        """The library entry (or searched expression, :mod:`.expression_lock`) it uses."""
        return lock_function(self.name)

    def expression(self, x: sympy.Symbol) -> sympy.Expr:
        """The exact formula ``c·f(a·x + b) + d`` in the variable ``x``, constants as Floats."""
        if not self.ok or self.c == 0.0:
            return sympy.Float(self.d)
        inner = sympy.Float(self.a) * x + sympy.Float(self.b)
        return sympy.Float(self.c) * self.function.sympy_fn(inner) + sympy.Float(self.d)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """The fitted curve at ``x`` (any shape), with the library's safe numpy form."""
        x = np.asarray(x, dtype=float)
        if not self.ok or self.c == 0.0:
            return np.full(x.shape, self.d)
        return self.c * self.function.numpy_fn(self.a * x + self.b) + self.d


def rank_score(r2: float, complexity: int, simplicity_weight: float) -> float:
    """Ranking score of a candidate; lower is better.

    ``score = log10(max(1 - r2, 0) + R2_FLOOR) + simplicity_weight * complexity``

    The first term counts decades of unexplained variance; ``simplicity_weight`` is how many
    decades one unit of complexity has to buy. ``R2_FLOOR = 5e-5`` makes every R² above
    0.9999 worth the same to within 0.48 decades, so with the default weight 0.8 the
    simplest of those wins, while R² 0.9999 still beats R² 0.99 (1.8 decades) across two
    units of complexity. With ``simplicity_weight = 0`` the order is purely by R².
    A non-finite ``r2`` (a failed fit) scores ``inf``.
    """
    if not math.isfinite(r2):
        return math.inf
    return math.log10(max(1.0 - r2, 0.0) + R2_FLOOR) + simplicity_weight * complexity


def _r2(y: np.ndarray, y_fit: np.ndarray) -> float:
    """R² = 1 - SS_res / SS_tot; for constant y, 1 if the fit is exact else 0."""
    mean = float(y.mean())
    resid, centred = y - y_fit, y - mean
    ss_res, ss_tot = dot(resid, resid), dot(centred, centred)
    scale = max(abs(mean), 1.0)
    if ss_tot <= y.size * (FLAT_REL * scale) ** 2:
        return 1.0 if ss_res <= y.size * (1e-9 * scale) ** 2 else 0.0
    return 1.0 - ss_res / ss_tot


def _failed(func: LibraryFunction, reason: str) -> SymbolicFit:
    return SymbolicFit(func.name, 1.0, 0.0, 0.0, 0.0, -math.inf, func.complexity, math.inf,
                       ok=False, reason=reason)


def _finish(func: LibraryFunction, s: Samples, a: float, b: float) -> SymbolicFit:
    """Solve c, d on all samples for (a, b), check the domain, and score the fit."""
    where = f"at a={a:.4g}, b={b:.4g}"
    with np.errstate(all="ignore"):
        u = a * s.x + b
        outside = 0 if func.full_domain else int(np.count_nonzero(~func.domain(u)))
        if outside:
            return _failed(func, f"{outside} of {u.size} samples fall outside the domain of "
                                 f"{func.name} {where}")
        f = np.asarray(func.numpy_fn(u), dtype=float)
        mean_f, mean_y = float(f.mean()), float(s.y.mean())
        fc = f - mean_f
        var = dot(fc, fc)
        flat = not math.isfinite(var) or bool(is_flat(var, mean_f, f.size, FLAT_REL))
        c = 0.0 if flat else dot(fc, s.y - mean_y) / var
        d = mean_y - c * mean_f
        y_fit = c * f + d
    if not (math.isfinite(c) and math.isfinite(d) and np.isfinite(y_fit).all()):
        return _failed(func, f"{func.name} gives non-finite values {where}")
    x_hi = s.x_lo + s.span
    if cancels(func.name, a, b, c, s.x_lo, x_hi):
        return _failed(func, f"{func.name} {where} is a small difference of large numbers "
                             "on the data (its constants cancel)")
    r2 = _r2(s.y, y_fit)
    score = rank_score(r2, func.complexity, DEFAULT_SIMPLICITY_WEIGHT)
    return SymbolicFit(func.name, a, b, c, d, r2, func.complexity, score, ok=True,
                       mimics=stand_in(func.name, a, b, c, s.x_lo, x_hi))


def _fit_prepared(func: LibraryFunction, s: Samples) -> SymbolicFit:
    if func.name in ("0", "x"):  # affine in x already: c and d are the whole fit
        return _finish(func, s, 1.0, 0.0)
    a, b, ia, ib = grid_pairs(func, s)
    if a.size == 0:
        return _failed(func, f"no a, b in the search box keep a·x + b inside the domain of "
                             f"{func.name} for x in [{s.x_lo:.4g}, {s.x_lo + s.span:.4g}]")
    with np.errstate(all="ignore"):
        rel = grid_rel_sse(func, s, a, b)
        starts = pick_starts(rel, ia, ib)
        if not starts:
            return _failed(func, f"every a, b in the search box puts a sample outside the "
                                 f"domain of {func.name} or gives non-finite values")
        ss_tot = s.ss_tot
        candidates = [(float(rel[k]) * ss_tot, float(a[k]), float(b[k])) for k in starts]
        if s.ycs.size >= 3 and ss_tot > 0.0 and s.span > 0.0:
            refined = [refine(func, s, a0, b0) for _, a0, b0 in list(candidates)]
            candidates += [r for r in refined if r is not None]
    failures = []
    for _, a_best, b_best in sorted(candidates, key=lambda cand: cand[0]):
        fit = _finish(func, s, a_best, b_best)
        if fit.ok:
            return fit
        failures.append(fit)
    return failures[0]


def fit_function(
    x: np.ndarray,
    y: np.ndarray,
    fn: LibraryFunction | str,
    *,
    a_range: tuple[float, float] = DEFAULT_A_RANGE,
    b_range: tuple[float, float] = DEFAULT_B_RANGE,
    grid_points: int = DEFAULT_GRID_POINTS,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    seed: int = 0,
) -> SymbolicFit:
    """Fit ``c·f(a·x + b) + d`` to one edge's samples.

    Args:
        x, y: ``(n,)`` samples of the edge (input, output); non-finite pairs are dropped.
        fn: a library function or its name/alias.
        a_range, b_range: the box of the coarse (a, b) search; refinement may leave it.
        grid_points: grid points per axis of the coarse search.
        max_samples: size of the seeded subsample the search runs on.
        seed: seed of that subsample.

    Returns:
        The best fit, with R² on all finite samples and the score of :func:`rank_score` at
        the default simplicity weight; ``ok=False`` with a ``reason`` when it cannot fit.

    Raises:
        ValueError: mismatched or empty samples, or an invalid search setting.
        KeyError: ``fn`` names no library function.
    """
    func = fn if isinstance(fn, LibraryFunction) else get_function(fn)
    samples = prepare(x, y, a_range, b_range, grid_points, max_samples, seed)
    return _fit_prepared(func, samples)


def fit_scale(x: np.ndarray, y: np.ndarray, fn: LibraryFunction) -> SymbolicFit:
    """Fit ``c·f(x) + d`` (``a = 1``, ``b = 0``) by linear least squares: for a function
    that brings its own constants, such as a searched expression
    (:mod:`kanstudio.symbolic.expression_lock`). ``ok=False`` when ``f`` is not finite on
    every sample."""
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"x and y must be non-empty and of one length, got {x.shape}, {y.shape}")
    with np.errstate(all="ignore"):
        g = np.asarray(fn.numpy_fn(x), dtype=float)
    if not np.all(np.isfinite(g)):
        return SymbolicFit(fn.name, 1.0, 0.0, 0.0, 0.0, -math.inf, fn.complexity, math.inf,
                           False, "the expression is undefined on part of the edge's inputs")
    design = np.stack([g, np.ones_like(g)], axis=1)
    (c, d), *_ = np.linalg.lstsq(design, y, rcond=None)
    r2 = _r2(y, c * g + d)
    return SymbolicFit(fn.name, 1.0, 0.0, float(c), float(d), r2, fn.complexity,
                       rank_score(r2, fn.complexity, DEFAULT_SIMPLICITY_WEIGHT), True)


def _without_stand_ins(fits: list[SymbolicFit], samples: Samples) -> list[SymbolicFit]:
    """Each Taylor-regime stand-in becomes a failed fit that names the polynomial it
    mimics, and that polynomial is fitted too when the selection leaves it out (it is the
    same curve without the extreme constants)."""
    out = [replace(f, ok=False, score=math.inf, reason=(
        f"{f.name} stands in for {f.mimics} on the data's range ("
        + ("its argument stays beside a pole" if f.mimics == "1/x" else
           "its argument moves too little to show its own shape")
        + f"; a={f.a:.4g}, b={f.b:.4g}, c={f.c:.4g}): {f.mimics} is the same curve"))
        if f.ok and f.mimics else f for f in fits]
    names = {f.name for f in fits}
    for poly in dict.fromkeys(f.mimics for f in fits if f.ok and f.mimics):
        if poly not in names:
            out.append(_fit_prepared(get_function(poly), samples))
    return out


def _tier(fit: SymbolicFit, best_r2: float) -> int:
    """1 for a fit that explains less than ``USEFUL_R2`` of the curve while another one
    explains more: no complexity saving ranks it above a real fit (R² 0 of the constant
    ``0`` never above ``exp`` at R² 0.95)."""
    return 1 if fit.r2 < USEFUL_R2 <= best_r2 else 0


def _rank(fits: list[SymbolicFit], simplicity_weight: float) -> list[SymbolicFit]:
    """Sort by tier (:func:`_tier`), then score; near-ties (TIE_DECADES) within a tier go
    to the simpler function, and among equally complex ones to the better fit (library
    order only for scores equal to 1e-9): a worse fit never ranks above a better one of
    the same complexity."""
    order = {name: k for k, name in enumerate(LIBRARY)}
    best_r2 = max((f.r2 for f in fits), default=-math.inf)

    def key(f: SymbolicFit) -> tuple:
        return (_tier(f, best_r2), f.score, f.complexity, order.get(f.name, 0))

    remaining = sorted(fits, key=key)
    if simplicity_weight <= 0.0:
        return remaining
    ranked: list[SymbolicFit] = []
    while remaining:
        head = remaining[0]
        tied = [k for k, f in enumerate(remaining)
                if _tier(f, best_r2) == _tier(head, best_r2)
                and f.score <= head.score + TIE_DECADES]
        pick = min(tied, key=lambda k: (remaining[k].complexity, round(remaining[k].score, 9),
                                        order.get(remaining[k].name, 0)))
        ranked.append(remaining.pop(pick))
    return ranked


def suggest_symbolic(
    x: np.ndarray,
    y: np.ndarray,
    functions: Iterable[str] | None = None,
    *,
    simplicity_weight: float = DEFAULT_SIMPLICITY_WEIGHT,
    top_k: int | None = None,
    **fit_kwargs: object,
) -> list[SymbolicFit]:
    """Fit every selected library function to one edge and rank the candidates.

    Args:
        x, y: ``(n,)`` samples of the edge (input, output).
        functions: library names/aliases to try; ``None`` tries the whole library.
        simplicity_weight: decades of unexplained variance one unit of complexity must buy
            (see :func:`rank_score`); 0 ranks purely by R².
        top_k: keep only the first ``top_k`` candidates.
        **fit_kwargs: ``a_range``, ``b_range``, ``grid_points``, ``max_samples``, ``seed``
            as in :func:`fit_function`.

    Returns:
        The fits, best first, each scored with ``simplicity_weight``; a fit with R² below
        ``USEFUL_R2`` ranks below every fit above it. A candidate that is
        a Taylor-regime stand-in for ``x`` or ``x^2`` on the data is a failed fit whose
        reason names that polynomial (added to the list if the selection lacks it), and
        one whose constants cancel is a failed fit
        (:mod:`kanstudio.symbolic.conditioning`). Scores within
        ``TIE_DECADES`` of the best remaining one count as tied and go to the lower
        complexity, then the better score, then library order (unless the weight is 0).
        Failed fits (``ok=False``)
        come last, in library order.

    Raises:
        ValueError: as :func:`fit_function`, an unknown function name, or a bad weight.
        TypeError: an unknown keyword in ``fit_kwargs``.
    """
    funcs = resolve_names(functions)
    if not (isinstance(simplicity_weight, int | float | np.floating | np.integer)
            and math.isfinite(simplicity_weight) and simplicity_weight >= 0):
        raise ValueError(f"simplicity_weight must be a number >= 0, got {simplicity_weight!r}")
    if top_k is not None:
        top_k = check_count("top_k", top_k, 1)
    samples = prepare(x, y, **fit_kwargs)  # type: ignore[arg-type]
    fits = _without_stand_ins([_fit_prepared(func, samples) for func in funcs], samples)
    fits = [replace(f, score=rank_score(f.r2, f.complexity, simplicity_weight)) for f in fits]
    ranked = _rank([f for f in fits if f.ok], simplicity_weight)
    ranked += [f for f in fits if not f.ok]
    return ranked if top_k is None else ranked[:top_k]
