"""The search behind :func:`kanstudio.symbolic.fitting.fit_function`.

A coarse grid over ``(a, b)`` with ``c, d`` solved in closed form, processed in small chunks
so memory stays bounded (never samples x grid x grid), then local least-squares refinement
of the best starts. Split from fitting.py so each file holds one concern.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from kanstudio.symbolic.library import LibraryFunction

DEFAULT_A_RANGE = (-10.0, 10.0)
DEFAULT_B_RANGE = (-10.0, 10.0)
DEFAULT_GRID_POINTS = 41
DEFAULT_MAX_SAMPLES = 2000
_CHUNK_ELEMENTS = 1 << 16  # 256 kB of float32 stays in cache: 3x faster than MB chunks
_DOMAIN_POINTS = 9  # per axis of the extra (u1, u2) starts for bounded domains
_N_STARTS, _MAX_NFEV = 3, 50  # refined grid starts; LM evaluations per start
# Relative spread below which f(a·x + b) counts as constant (then c = 0); float32 / float64.
_FLAT_REL32, FLAT_REL = 1e-5, 1e-12


@dataclass(frozen=True)
class Samples:
    """The edge's finite samples, the seeded search subsample, and the search grid."""

    x: np.ndarray  # (n,) every finite sample
    y: np.ndarray  # (n,)
    ycs: np.ndarray  # (m,) subsample (m <= max_samples, holds both x extremes), y - mean
    ts: np.ndarray  # (m,) (xs - x_lo) / span in [0, 1]; zeros when span == 0
    xs32: np.ndarray  # (m,) float32 copies for the coarse grid
    ycs32: np.ndarray  # (m,)
    x_lo: float  # min(x)
    span: float  # max(x) - min(x)
    a_axis: np.ndarray  # (ga,) grid values of a, no zeros
    b_axis: np.ndarray  # (gb,)
    symmetric: bool  # the box is closed under (a, b) -> (-a, -b)

    @property
    def ss_tot(self) -> float:
        return dot(self.ycs, self.ycs)


def dot(u: np.ndarray, v: np.ndarray) -> float:
    """u · v for (n,) arrays. einsum rather than BLAS on purpose: on a small machine a
    threaded BLAS dot can wait milliseconds for its worker threads (measured: 8 ms instead
    of 0.02 ms for 100k samples once scipy's own BLAS has run), which dominated fitting."""
    return float(np.einsum("i,i->", u, v))


def _check_range(name: str, value: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        lo, hi = math.nan, math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"{name} must be a finite pair (low, high), low <= high; got {value!r}")
    return lo, hi


def check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def prepare(
    x: np.ndarray,
    y: np.ndarray,
    a_range: tuple[float, float] = DEFAULT_A_RANGE,
    b_range: tuple[float, float] = DEFAULT_B_RANGE,
    grid_points: int = DEFAULT_GRID_POINTS,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    seed: int = 0,
) -> Samples:
    """Validate the inputs and settings, subsample, and lay out the (a, b) grid."""
    (a_lo, a_hi), (b_lo, b_hi) = _check_range("a_range", a_range), _check_range("b_range", b_range)
    grid_points = check_count("grid_points", grid_points, 2)
    max_samples = check_count("max_samples", max_samples, 2)
    a_axis = np.unique(np.linspace(a_lo, a_hi, grid_points))
    a_axis = a_axis[np.abs(a_axis) > 1e-12 * max(abs(a_lo), abs(a_hi))]  # f(b) is constant
    if a_axis.size == 0:
        raise ValueError(f"a_range must contain a nonzero value, got {a_range!r}")
    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.size != y.size:
        raise ValueError(f"x and y must have the same number of samples, got {x.size}, {y.size}")
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = (x, y) if finite.all() else (x[finite], y[finite])
    if x.size == 0:
        raise ValueError("x and y contain no finite sample to fit")
    i_lo, i_hi = int(np.argmin(x)), int(np.argmax(x))
    xs, ys = x, y
    if x.size > max_samples:
        pick = np.random.default_rng(seed).choice(x.size, size=max_samples - 2, replace=False)
        pick = np.unique(np.concatenate([pick, [i_lo, i_hi]]))  # extremes decide domains
        xs, ys = x[pick], y[pick]
    ycs = ys - ys.mean()
    x_lo, span = float(x[i_lo]), float(x[i_hi] - x[i_lo])
    ts = (xs - x_lo) / span if span > 0 else np.zeros_like(xs)
    return Samples(x, y, ycs, ts, xs.astype(np.float32), ycs.astype(np.float32), x_lo, span,
                    a_axis, np.unique(np.linspace(b_lo, b_hi, grid_points)),
                    symmetric=(a_lo == -a_hi and b_lo == -b_hi))


def is_flat(var: np.ndarray | float, mean: np.ndarray | float, n: int, rel: float):
    """True where f has no usable spread; var is the centred sum of squares of n values."""
    return var <= n * (rel * np.maximum(np.abs(mean), 1.0)) ** 2


def _shrunk(lo: float, hi: float) -> tuple[float, float]:
    """The interval less a 1e-9 margin at finite ends, so rounding keeps a·x + b inside."""
    margin = [1e-9 * max(1.0, abs(v)) if math.isfinite(v) else 0.0 for v in (lo, hi)]
    return lo + margin[0], hi - margin[1]


def grid_pairs(func: LibraryFunction, s: Samples):
    """The (a, b) pairs worth evaluating: (P,) a, b and (P,) grid indices ia, ib."""
    a_axis = s.a_axis[s.a_axis > 0] if func.sign_redundant and s.symmetric else s.a_axis
    ia, ib = (i.ravel() for i in np.indices((a_axis.size, s.b_axis.size)))
    a, b = a_axis[ia], s.b_axis[ib]
    if func.interval is None or func.full_domain:
        return a, b, ia, ib
    lo, hi = func.interval
    u1, u2 = a * s.x_lo + b, a * (s.x_lo + s.span) + b
    keep = (np.minimum(u1, u2) >= lo) & (np.maximum(u1, u2) <= hi)
    a, b, ia, ib = a[keep], b[keep], ia[keep], ib[keep]
    if not (math.isfinite(lo) and math.isfinite(hi)) or s.span == 0:
        return a, b, ia, ib
    # A bounded domain (arcsin) may admit no grid pair at all for wide data: also map the
    # data range onto sub-intervals [u1, u2] of the domain.
    v = np.linspace(*_shrunk(lo, hi), _DOMAIN_POINTS)
    i, j = np.triu_indices(v.size, k=1)
    if not func.sign_redundant:
        i, j = np.concatenate([i, j]), np.concatenate([j, i])
    a_dom = (v[j] - v[i]) / s.span
    far = 10 * (a_axis.size + s.b_axis.size)  # indices never adjacent to a box pair
    return (np.concatenate([a, a_dom]), np.concatenate([b, v[i] - a_dom * s.x_lo]),
            np.concatenate([ia, far + i]), np.concatenate([ib, far + j]))


def grid_rel_sse(func: LibraryFunction, s: Samples, a: np.ndarray, b: np.ndarray):
    """(P,) float64 1 - corr(f(a·x + b), y)² per pair (the relative SSE of the best c, d);
    inf where a sample leaves the domain. Runs in float32: it only has to find starts."""
    xs, ycs, n = s.xs32, s.ycs32, s.xs32.size
    ss_tot = dot(ycs, ycs) or 1.0  # constant y: every valid pair fits exactly
    rel = np.full(a.size, np.inf)
    rows = max(1, _CHUNK_ELEMENTS // n)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    for start in range(0, a.size, rows):
        stop = min(start + rows, a.size)
        u = np.multiply.outer(a32[start:stop], xs)  # (rows, n)
        u += b32[start:stop, None]
        valid = func.domain(u).all(axis=1) if func.interval is None else True
        f = np.asarray(func.numpy_fn(u))  # (rows, n); u is not needed any more
        mean = f.mean(axis=1)
        f -= mean[:, None]
        var = np.einsum("ij,ij->i", f, f).astype(float)
        cov = np.einsum("ij,j->i", f, ycs).astype(float)
        usable = valid & np.isfinite(var) & np.isfinite(cov) & np.isfinite(mean)
        flat = usable & is_flat(var, mean, n, _FLAT_REL32)
        usable &= ~flat
        chunk = np.where(flat, 1.0, np.inf)
        chunk[usable] = 1.0 - cov[usable] ** 2 / (var[usable] * ss_tot)
        rel[start:stop] = np.maximum(chunk, 0.0)
    return rel


def pick_starts(rel: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> list[int]:
    """Indices of the best grid pairs that are not neighbours of a better one."""
    starts: list[int] = []
    for k in np.argsort(rel, kind="stable")[: 50 * _N_STARTS]:
        if not np.isfinite(rel[k]) or len(starts) == _N_STARTS:
            break
        if all(abs(ia[k] - ia[j]) > 1 or abs(ib[k] - ib[j]) > 1 for j in starts):
            starts.append(int(k))
    return starts


class _Projection:
    """Residual and Jacobian of the edge fit over p = (u1, u2), the values of a·x + b at the
    smallest and largest x, with c and d solved by least squares at every p (variable
    projection, Kaufman's Jacobian). (u1, u2) has the scale of f's argument whatever the
    units of x."""

    def __init__(self, func: LibraryFunction, s: Samples) -> None:
        self.func, self.ts, self.ycs = func, s.ts, s.ycs
        # Worse than any fit inside the domain, so LM rejects steps that leave it.
        self.penalty = np.full(s.ycs.size, 10.0 * math.sqrt(s.ss_tot / s.ycs.size) + 1.0)
        self._cache: tuple[bytes, tuple | None] = (b"", None)

    def state(self, p: np.ndarray):
        """(u, centred f, var, c, residual) at p, or None outside the domain."""
        if self._cache[0] != p.tobytes():  # LM asks for residual and Jacobian at one p
            self._cache = (p.tobytes(), self._compute(p))
        return self._cache[1]

    def _compute(self, p: np.ndarray):
        u = p[0] + (p[1] - p[0]) * self.ts  # (m,)
        if not self.func.full_domain and not self.func.domain(u).all():
            return None
        f = np.asarray(self.func.numpy_fn(u), dtype=float)
        mean = float(f.mean())
        fc = f - mean
        var = dot(fc, fc)
        if not (math.isfinite(var) and math.isfinite(mean)):
            return None
        if is_flat(var, mean, u.size, FLAT_REL):
            return u, fc, 0.0, 0.0, self.ycs.copy()
        c = dot(fc, self.ycs) / var
        return u, fc, var, c, self.ycs - c * fc

    def residual(self, p: np.ndarray) -> np.ndarray:
        state = self.state(p)
        return self.penalty if state is None else state[4]

    def jacobian(self, p: np.ndarray) -> np.ndarray:
        state = self.state(p)
        if state is None or state[2] == 0.0:
            return np.zeros((self.ts.size, 2))
        u, fc, var, c, _ = state
        h = 1e-6 * (1.0 + np.abs(u))
        slope = (self.func.numpy_fn(u + h) - self.func.numpy_fn(u - h)) / (2.0 * h)  # f'(u)
        g = c * slope
        cols = np.stack([g * (1.0 - self.ts), g * self.ts], axis=1)  # (m, 2) d(model)/dp
        cols -= cols.mean(axis=0)
        cols -= np.outer(fc, np.einsum("i,ij->j", fc, cols) / var)  # project out span{f, 1}
        return -cols


def refine(func: LibraryFunction, s: Samples, a0: float, b0: float):
    """Local least squares from a grid start: (sse, a, b) on the subsample, or None."""
    problem = _Projection(func, s)
    p0 = np.array([a0 * s.x_lo + b0, a0 * (s.x_lo + s.span) + b0])
    bounded = func.interval is not None and not func.full_domain
    if bounded:
        p0 = np.clip(p0, *_shrunk(*func.interval))  # a grid start may sit on the boundary
    try:  # MINPACK's LM costs about half of scipy's bounded "trf" here
        result = least_squares(problem.residual, p0, jac=problem.jacobian, method="lm",
                               xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=_MAX_NFEV)
    except (ValueError, np.linalg.LinAlgError):
        return None
    u1, u2 = (float(v) for v in result.x)
    sse, a = 2.0 * float(result.cost), (u2 - u1) / s.span
    b = u1 - a * s.x_lo
    if bounded:
        # An optimum on the domain's edge can land a rounding error outside once a·x + b is
        # recomputed from (a, b): shift b back in.
        (lo, hi), ends = func.interval, (a * s.x_lo + b, a * (s.x_lo + s.span) + b)
        slack = 4.0 * float(np.spacing(max(abs(b), *map(abs, ends), 1e-300)))
        if min(ends) < lo:
            b += lo - min(ends) + slack
        elif max(ends) > hi:
            b -= max(ends) - hi + slack
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(sse)) or a == 0.0:
        return None
    return sse, a, b
