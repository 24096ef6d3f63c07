"""Which library function fits each edge's curve best, for every edge at once, in ~ms.

The live network view labels every edge with the function that fits its current curve
(issue 13). :func:`kanstudio.symbolic.fitting.suggest_symbolic` is thorough but costs tens
of milliseconds per edge; this module answers the same question for all edges of a
snapshot together, cheaply enough to run a few times a second while training.

The trick: a snapshot samples every edge at ``P`` points spaced evenly over its input
range, so with ``t = linspace(0, 1, P)`` any candidate ``c·f(a·x + b) + d`` is
``c·f(u1 + (u2 - u1)·t) + d``, where ``(u1, u2)`` is the argument's interval over the
range. For a fixed ``(f, u1, u2)`` the best ``c, d`` leave R² = corr(f(u), y)², so:

1. **Coarse (one matrix product).** A fixed bank of intervals per function (chosen from
   each family's invariances: only the ratio of ``u1, u2`` matters for powers, ``log`` and
   ``sqrt``, only the span for ``exp``; centre and half-width for the rest) gives unit,
   centred basis rows ``B`` (K, P), built once. With the curves centred and normalised
   (E, P), ``(B @ Y.T)²`` is every row's R² for every edge; the best row per function
   gives the coarse R².
2. **Local refinement.** The best few functions per edge (by the ranking rule below) are
   refined around their best interval: a 3x3 pattern of ``(u1, u2)`` steps, halved each
   round; R² is exact (float64) on the sampled points.
3. **Ranking** as :func:`kanstudio.symbolic.fitting.suggest_symbolic` ranks candidates
   (:func:`rank_scores` is :func:`~kanstudio.symbolic.fitting.rank_score` on arrays, with
   the same tier and near-tie rules), so the label names what the Inspector would rank
   first, up to the coarser search.

Memory is ``K·P`` for the bank and ``K·E`` for one product (K ≈ 3,000).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from kanstudio.symbolic.fitting import (
    DEFAULT_SIMPLICITY_WEIGHT,
    R2_FLOOR,
    TIE_DECADES,
    USEFUL_R2,
)
from kanstudio.symbolic.library import DOMAIN_EPS, LIBRARY, LibraryFunction, resolve_names

__all__ = ["EdgeLabeller", "EdgeFits", "rank_scores", "best_fits", "ALWAYS_TRIED"]

#: Polynomials every labeller tries whatever the selection: a curve whose best fit is a
#: stand-in for them (conditioning.py) is labelled by what it is.
ALWAYS_TRIED = ("x", "x^2")
#: Functions whose c·f(a·x + b) + d is the same family as another's (cos u = sin(u + π/2),
#: σ(u) = (1 + tanh(u/2))/2): when both are tried, the curve is named by the second, which
#: also comes first in the library, as the ranking's tie-break would.
_TWINS = {"cos": "sin", "sigmoid": "tanh"}
_REFINE_FUNCTIONS = 3  # best functions per edge refined locally
_REFINE_ROUNDS = 4
_REFINE_HOPE = 10.0
_REFINE_STEP = 0.06  # first refinement step, in units of the interval's length
# A curve whose spread is below this fraction of its magnitude (or exactly flat) has no
# shape to name (float32 samples: anything below ~1e-6 is rounding).
_FLAT_REL = 1e-5
_SAFE_INTERVAL = np.array([0.5, 0.6])  # lies inside every library function's domain
# OpenBLAS runs a gemm of at most 4 x 65536 multiply-adds on one thread (interface/gemm.c)
_SINGLE_THREAD_MACS = 1 << 18


@dataclass(frozen=True)
class EdgeFits:
    """The best function per curve: ``index`` (E,) into :attr:`EdgeLabeller.functions`
    (-1: no label, a flat or non-finite curve) and its ``r2`` (E,) (NaN without one)."""

    index: np.ndarray
    r2: np.ndarray


def rank_scores(r2: np.ndarray, complexity: np.ndarray,
                simplicity_weight: float = DEFAULT_SIMPLICITY_WEIGHT) -> np.ndarray:
    """:func:`kanstudio.symbolic.fitting.rank_score` elementwise (lower is better; inf
    where ``r2`` is not finite)."""
    r2 = np.asarray(r2, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        score = (np.log10(np.maximum(1.0 - np.nan_to_num(r2, nan=0.0), 0.0) + R2_FLOOR)
                 + simplicity_weight * np.asarray(complexity, dtype=np.float64))
    return np.where(np.isfinite(r2), score, np.inf)


def _pick(r2: np.ndarray, complexity: np.ndarray, weight: float) -> np.ndarray:
    """(E,) index of the best function per row of ``r2`` (E, F), columns in library
    order: the ranking of ``fitting._rank`` (tier, then near-ties within TIE_DECADES go to
    the simpler function, then the better score, then library order); -1 for no finite."""
    score = rank_scores(r2, complexity[None, :], weight)
    best_r2 = np.max(np.where(np.isfinite(r2), r2, -np.inf), axis=1, keepdims=True)
    tier = (r2 < USEFUL_R2) & (best_r2 >= USEFUL_R2)
    key = np.where(tier, score + 1e6, score)
    head = key.min(axis=1, keepdims=True)
    tied = np.isfinite(key) & (key <= head + (TIE_DECADES if weight > 0 else 0.0))
    simplest = np.where(tied, complexity[None, :], np.inf).min(axis=1, keepdims=True)
    among = tied & (complexity[None, :] == simplest)
    pick = np.argmin(np.where(among, np.round(score, 9), np.inf), axis=1)
    return np.where(np.isfinite(head[:, 0]), pick, -1)


# ------------------------------------------------------------------ the interval bank
def _ratio_bank(lo: float, n: int, geometric: bool) -> list[tuple[float, float]]:
    """Intervals (r, 1) and (1, r) for r from ``lo`` up to (not including) 1: enough for a
    family where only the ratio of the ends matters (f(s·u) = α·f(u) + β)."""
    r = (np.geomspace(lo, 1.0, n + 1)[:-1] if geometric else np.linspace(lo, 1.0, n + 1)[:-1])
    return [(float(v), 1.0) for v in r] + [(1.0, float(v)) for v in r]


def _centre_bank(centres: np.ndarray, halves: np.ndarray, both_ways: bool,
                 inside: tuple[float, float] | None = None) -> list[tuple[float, float]]:
    """Intervals (m - h, m + h) (and reversed when ``both_ways``), kept within ``inside``."""
    out = []
    for h in halves:
        for m in centres:
            u1, u2 = float(m - h), float(m + h)
            if inside is not None and not (u1 >= inside[0] and u2 <= inside[1]):
                continue
            out.append((u1, u2))
            if both_ways:
                out.append((u2, u1))
    return out


def _bank(func: LibraryFunction) -> list[tuple[float, float]]:
    """The coarse intervals (u1, u2) tried for ``func`` (the argument at t = 0 and 1)."""
    name, both = func.name, not func.sign_redundant
    if name == "x":
        return [(0.0, 1.0)]
    if name in ("x^2", "x^3", "x^4", "abs"):
        return _ratio_bank(-1.0, 48, geometric=False)
    if name in ("1/x", "1/x^2", "log"):
        return _ratio_bank(1e-3, 32, geometric=True)
    if name == "sqrt":
        return [(0.0, 1.0), (1.0, 0.0)] + _ratio_bank(1e-3, 32, geometric=True)
    if name == "exp":
        spans = np.geomspace(0.05, 12.0, 40)
        return [(0.0, float(s)) for s in spans] + [(float(s), 0.0) for s in spans]
    if name in ("sin", "cos"):  # periodic: centres over one period suffice
        return _centre_bank(np.linspace(-math.pi, math.pi, 40, endpoint=False),
                            np.geomspace(0.25, 10.0, 32), both)
    if name == "tan":
        return _centre_bank(np.linspace(-1.4, 1.4, 15), np.geomspace(0.05, 1.5, 12), both,
                            inside=(-1.5, 1.5))
    if name == "arcsin":
        return _centre_bank(np.linspace(-0.95, 0.95, 15), np.geomspace(0.05, 1.0, 12), both,
                            inside=(-1.0, 1.0))
    if name == "gaussian":
        return _centre_bank(np.linspace(-4.0, 4.0, 41), np.geomspace(0.2, 5.0, 24), both)
    # tanh, sigmoid, arctan, and anything new on the whole line: centre and width
    return _centre_bank(np.linspace(-6.0, 6.0, 49), np.geomspace(0.2, 8.0, 28), both)


def _valid(func: LibraryFunction, u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """(n,) bool: the argument interval between u1 and u2 lies in ``func``'s domain, in
    one piece (u moves monotonically, so the ends decide, plus the poles of 1/x and tan)."""
    lo, hi = np.minimum(u1, u2), np.maximum(u1, u2)
    ok = np.isfinite(lo) & np.isfinite(hi) & (hi > lo)
    if func.interval is not None:
        a, b = func.interval
        return ok & (lo >= a) & (hi <= b)
    if func.name in ("1/x", "1/x^2"):
        return ok & ((lo >= DOMAIN_EPS) | (hi <= -DOMAIN_EPS))
    if func.name == "tan":  # one branch between two poles, not too close to either
        branch = np.floor((lo + math.pi / 2) / math.pi)
        top = branch * math.pi + math.pi / 2
        return ok & (np.floor((hi + math.pi / 2) / math.pi) == branch) & (top - hi > 1e-6)
    return ok


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b, in row blocks small enough that OpenBLAS stays on the calling thread: on a
    busy machine its thread pool made one 3,000 x 48 x 70 product 15 ms instead of 1 ms
    (it waits for cores that training and drawing hold)."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    rows = max(16, _SINGLE_THREAD_MACS // max(1, a.shape[1] * b.shape[1]))
    for start in range(0, a.shape[0], rows):
        np.matmul(a[start:start + rows], b, out=out[start:start + rows])
    return out


def _unit_rows(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and normalise the rows of ``f`` (n, P); (rows, usable (n,) bool)."""
    f = f - f.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", f, f))
    scale = np.max(np.abs(f), axis=1)
    usable = np.isfinite(norm) & (norm > 0) & (norm > 1e-9 * scale * math.sqrt(f.shape[1]))
    return f / np.where(usable, norm, 1.0)[:, None], usable


class EdgeLabeller:
    """Names the best-fitting library function of many curves at once.

    ``functions``: library names (None: the whole library but ``0``); ``x`` and ``x^2``
    are always tried (:data:`ALWAYS_TRIED`). ``n_points``: samples per curve, evenly
    spaced over each curve's input range (a snapshot's curves). The interval bank is built
    here, once.
    """

    def __init__(self, functions: Iterable[str] | None = None, n_points: int = 48,
                 simplicity_weight: float = DEFAULT_SIMPLICITY_WEIGHT) -> None:
        chosen = {f.name for f in resolve_names(functions)} | set(ALWAYS_TRIED)
        chosen.discard("0")  # a constant edge has no shape: it gets no label
        for twin, kept in _TWINS.items():
            if kept in chosen:  # the same family of curves: name it once
                chosen.discard(twin)
        self.functions: list[LibraryFunction] = [f for f in LIBRARY.values()
                                                 if f.name in chosen]
        self.n_points = int(n_points)
        if self.n_points < 4:
            raise ValueError(f"n_points must be at least 4, got {n_points}")
        self.simplicity_weight = float(simplicity_weight)
        self.complexity = np.array([f.complexity for f in self.functions], dtype=np.float64)
        self.t = np.linspace(0.0, 1.0, self.n_points)
        rows, owner, ends = [], [], []
        for k, func in enumerate(self.functions):
            pairs = np.asarray(_bank(func), dtype=np.float64).reshape(-1, 2)
            pairs = pairs[_valid(func, pairs[:, 0], pairs[:, 1])]
            with np.errstate(all="ignore"):
                f = np.asarray(func.numpy_fn(pairs[:, :1] + (pairs[:, 1:] - pairs[:, :1])
                                             * self.t), dtype=np.float64)
                unit, usable = _unit_rows(f)
            rows.append(unit[usable])
            owner.append(np.full(int(usable.sum()), k))
            ends.append(pairs[usable])
        self.bank = np.concatenate(rows).astype(np.float32)  # (K, P) unit, centred rows
        self.bank_owner = np.concatenate(owner)  # (K,) function index of each row
        self.bank_ends = np.concatenate(ends)  # (K, 2) (u1, u2) of each row
        self._exact = np.array([f.name == "x" for f in self.functions], dtype=bool)
        # rows of each function are contiguous: reduceat over their starts
        self._starts = np.searchsorted(self.bank_owner, np.arange(len(self.functions)))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.functions]

    def best(self, curves: np.ndarray) -> EdgeFits:
        """The best function for each row of ``curves`` (E, n_points)."""
        y = np.asarray(curves, dtype=np.float64).reshape(-1, self.n_points)
        n_edges, n_funcs = y.shape[0], len(self.functions)
        index = np.full(n_edges, -1, dtype=np.int64)
        r2_out = np.full(n_edges, np.nan)
        finite = np.isfinite(y).all(axis=1)
        yc = np.where(finite[:, None], y, 0.0)
        yc = yc - yc.mean(axis=1, keepdims=True)
        norm = np.sqrt(np.einsum("ij,ij->i", yc, yc))
        size = np.max(np.abs(np.where(finite[:, None], y, 0.0)), axis=1)
        shaped = finite & (norm > _FLAT_REL * size * math.sqrt(self.n_points)) & (norm > 0)
        edges = np.flatnonzero(shaped)
        if edges.size == 0 or n_funcs == 0:
            return EdgeFits(index, r2_out)
        yn = yc[edges] / norm[edges, None]  # (n, P) unit, centred
        # 1. coarse: every bank row against every curve
        corr = _product(self.bank, yn.T.astype(np.float32))  # (K, n)
        r2_rows = np.square(corr)  # float32: only picks each function's best row
        best_row = np.empty((n_funcs, edges.size), dtype=np.int64)
        coarse = np.empty((edges.size, n_funcs))
        for k in range(n_funcs):
            lo = self._starts[k]
            hi = self._starts[k + 1] if k + 1 < n_funcs else len(self.bank)
            if hi == lo:  # no interval of the bank fits the domain (never, as built)
                best_row[k], coarse[:, k] = lo, np.nan
                continue
            arg = np.argmax(r2_rows[lo:hi], axis=0)
            best_row[k] = lo + arg
            coarse[:, k] = r2_rows[lo + arg, np.arange(edges.size)].astype(np.float64)
        coarse = np.minimum(coarse, 1.0)
        # 2. refine the best few functions per edge around their best interval
        # ranked as if refining could cut the unexplained variance tenfold: a function
        # whose coarse bank is sparse for this curve still gets its chance
        hopeful = 1.0 - (1.0 - coarse) / _REFINE_HOPE
        hopeful[:, self._exact] = -np.inf  # x: any interval gives the same fit
        order = np.argsort(rank_scores(hopeful, self.complexity[None, :],
                                       self.simplicity_weight), axis=1, kind="stable")
        todo = order[:, :min(_REFINE_FUNCTIONS, n_funcs - int(self._exact.sum()))]  # (n, R)
        rows = np.repeat(np.arange(edges.size), todo.shape[1])
        funcs = todo.ravel()
        sort = np.argsort(funcs, kind="stable")  # grouped by function: one call each
        rows, funcs = rows[sort], funcs[sort]
        ends = self.bank_ends[best_row[funcs, rows]]
        refined = np.full_like(coarse, np.nan)
        refined[rows, funcs] = self._refine(funcs, ends, yn[rows])
        r2 = np.where(np.isfinite(refined), np.maximum(refined, coarse), np.nan)
        r2[:, self._exact] = coarse[:, self._exact]  # x: the bank's fit is its fit
        # 3. rank the refined candidates (the others only competed coarsely)
        pick = _pick(r2, self.complexity, self.simplicity_weight)
        ok = pick >= 0
        index[edges[ok]] = pick[ok]
        r2_out[edges[ok]] = np.clip(r2[np.flatnonzero(ok), pick[ok]], 0.0, 1.0)
        return EdgeFits(index, r2_out)

    def _refine(self, funcs: np.ndarray, ends: np.ndarray, yn: np.ndarray) -> np.ndarray:
        """(n,) best R² of function ``funcs[n]`` near the interval ``ends[n]`` (n, 2) for
        the unit curve ``yn[n]`` (P,): a pattern search over (u1, u2), 8 neighbours a step
        away, the step halved each round; ``funcs`` sorted, so each library function is
        evaluated once per round for all its candidates."""
        best = ends.copy()
        best_r = np.abs(self._r(funcs, best, yn))
        step = _REFINE_STEP * np.abs(ends[:, 1] - ends[:, 0])  # (n,)
        moves = np.array([(d1, d2) for d1 in (-1, 0, 1) for d2 in (-1, 0, 1)
                          if (d1, d2) != (0, 0)], dtype=np.float64)  # (8, 2)
        m = len(moves)
        trial_funcs = np.repeat(funcs, m)
        trial_y = np.repeat(yn, m, axis=0)
        picked = np.arange(len(funcs))
        for _ in range(_REFINE_ROUNDS):
            trial = best[:, None, :] + moves[None, :, :] * step[:, None, None]  # (n, 8, 2)
            r = np.abs(self._r(trial_funcs, trial.reshape(-1, 2), trial_y)).reshape(-1, m)
            k = np.argmax(r, axis=1)
            gain = r[picked, k]
            take = gain > best_r
            best[take] = trial[picked[take], k[take]]
            best_r = np.where(take, gain, best_r)
            step = step / 2
        return np.minimum(np.square(best_r), 1.0)

    def _r(self, funcs: np.ndarray, ends: np.ndarray, yn: np.ndarray) -> np.ndarray:
        """(n,) correlation of ``functions[funcs[n]]`` over the interval ``ends[n]`` with
        the unit curve ``yn[n]`` (0 where the interval leaves the domain); ``funcs`` sorted."""
        ok = np.zeros(len(funcs), dtype=bool)
        bounds = np.flatnonzero(np.diff(funcs)) + 1
        slices = list(zip(np.r_[0, bounds], np.r_[bounds, len(funcs)], strict=True))
        for lo, hi in slices:
            ok[lo:hi] = _valid(self.functions[int(funcs[lo])], ends[lo:hi, 0], ends[lo:hi, 1])
        ends = np.where(ok[:, None], ends, _SAFE_INTERVAL)  # inside every domain
        u = ends[:, :1] + (ends[:, 1:] - ends[:, :1]) * self.t  # (n, P)
        f = np.empty_like(u)
        with np.errstate(all="ignore"):
            for lo, hi in slices:
                f[lo:hi] = self.functions[int(funcs[lo])].numpy_fn(u[lo:hi])
            # yn is centred, so f·yn needs no centring of f; var(f) from its two sums
            # (float64: exact enough for R² to 1e-9 at the offsets the bank allows)
            cov = np.einsum("ij,ij->i", f, yn)
            total = f.sum(axis=1)
            var = np.einsum("ij,ij->i", f, f) - total * total / f.shape[1]
            shaped = ok & np.isfinite(var) & (var > 1e-12 * np.einsum("ij,ij->i", f, f))
            r = cov / np.sqrt(np.where(shaped, var, 1.0))
        return np.where(shaped & np.isfinite(r), r, 0.0)


def best_fits(labeller: EdgeLabeller, ys: Sequence[np.ndarray], active: Sequence[np.ndarray],
              locked: Sequence[Iterable[tuple[int, int, str]]]
              ) -> list[list[tuple[int, int, str, str, float]]]:
    """Per layer, ``(i, j, name, label, r2)`` of every active, unlocked edge with a shape,
    from a snapshot's ``y[l]`` (n_in, n_out, P), ``active[l]`` and ``locked[l]``."""
    out: list[list[tuple[int, int, str, str, float]]] = []
    for y, act, lock in zip(ys, active, locked, strict=True):
        y = np.asarray(y)
        n_in, n_out, _p = y.shape
        want = np.asarray(act, dtype=bool).copy()
        for i, j, _name in lock:
            want[int(i), int(j)] = False
        cells = np.argwhere(want)  # (n, 2) in (i, j) order
        fits = labeller.best(y[want])
        layer = []
        for (i, j), k, r2 in zip(cells, fits.index, fits.r2, strict=True):
            if k >= 0:
                func = labeller.functions[int(k)]
                layer.append((int(i), int(j), func.name, func.label, round(float(r2), 4)))
        out.append(layer)
    return out
