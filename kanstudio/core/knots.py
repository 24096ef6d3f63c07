"""Knot vectors and the per-interval polynomial table of a B-spline basis.

Kept apart from :mod:`kanstudio.core.spline` so that the fused CPU kernel
(:mod:`kanstudio.core.fused_cpu`), which spline.py calls, can build its warm-up inputs
without importing spline.py back (no import cycle).

Conventions: ``knots`` has shape ``(n_in, G + 2k + 1)`` (``k`` extension knots on each side).
"""

from __future__ import annotations

import torch
from torch.nn.functional import pad as nn_pad

__all__ = ["n_basis", "extend_knots", "uniform_knots", "interval_table", "greville"]


def n_basis(n_knots: int, k: int) -> int:
    """Number of basis functions of order ``k`` on ``n_knots`` knots."""
    return n_knots - k - 1


def greville(knots: torch.Tensor, k: int) -> torch.Tensor:
    """The Greville abscissae of each basis function: (n_in, G + 2k + 1) -> (n_in, G + k).

    Coefficients equal to them make the spline the identity ``x`` on the inner knot range
    (B-splines of order >= 1 reproduce straight lines); for ``k = 0`` (steps) they are
    the interval midpoints, the nearest a step function gets.
    """
    if k == 0:
        return (knots[:, :-1] + knots[:, 1:]) / 2
    windows = knots[:, 1:-1].unfold(1, k, 1)  # (n_in, G + k, k): knots m+1 .. m+k
    return windows.mean(2)


def extend_knots(inner: torch.Tensor, k: int) -> torch.Tensor:
    """Add ``k`` knots on each side of ``inner`` ``(n_in, G + 1)``, spaced like the ends.

    The spacing of the extension is the mean interval width, so quantile grids with a
    crowded end still get a usable extension.
    """
    g = inner.shape[1] - 1
    h = (inner[:, -1:] - inner[:, :1]) / max(g, 1)  # (n_in, 1)
    h = torch.where(h > 0, h, torch.ones_like(h))
    steps = torch.arange(1, k + 1, dtype=inner.dtype, device=inner.device)  # (k,)
    left = inner[:, :1] - h * steps.flip(0)
    right = inner[:, -1:] + h * steps
    return torch.cat([left, inner, right], dim=1)


def uniform_knots(
    lo: torch.Tensor, hi: torch.Tensor, grid_size: int, k: int
) -> torch.Tensor:
    """Uniform knots over ``[lo, hi]`` per input, extended: ``(n_in, G + 2k + 1)``."""
    t = torch.linspace(0.0, 1.0, grid_size + 1, dtype=lo.dtype, device=lo.device)
    inner = lo[:, None] + (hi - lo)[:, None] * t[None, :]
    return extend_knots(inner, k)


def _local_basis(x: torch.Tensor, knots: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k + 1`` basis functions live on each sample's knot interval, by Cox-de Boor.

    x: (batch, n_in), every sample inside the grid; knots: (n_in, K) -> (n_in, batch, k+1),
    entry ``r`` being ``B_{s-k+r}(x)`` for the interval ``s`` holding ``x``. Used to
    tabulate :func:`interval_table`; training evaluates that table instead.
    """
    n_knots = knots.shape[1]
    xt = x.t().contiguous()  # (n_in, batch)
    s = torch.searchsorted(knots.contiguous(), xt, right=True) - 1  # (n_in, batch)
    s = s.clamp(0, n_knots - 2)
    xe = xt[..., None]  # (n_in, batch, 1)
    values = torch.ones_like(xe)  # order 0: the single live function
    if k == 0:
        return values
    # The 2k knots around the interval: window[q] = t[s + 1 - k + q], q = 0 .. 2k-1,
    # read from a copy padded by k repeated end knots so every index exists.
    padded = torch.cat([knots[:, :1].expand(-1, k), knots, knots[:, -1:].expand(-1, k)], 1)
    window_index = (s + 1)[..., None] + torch.arange(2 * k, device=x.device)
    window = padded.gather(1, window_index.reshape(knots.shape[0], -1))
    window = window.reshape(knots.shape[0], -1, 2 * k)
    for j in range(1, k + 1):
        # B_{r,j} mixes B_{r,j-1} and B_{r+1,j-1}.
        right = window[..., k : k + j]  # t[s + 1 + r], r = 0..j-1
        left = window[..., k - j : k]  # t[s + 1 - j + r]
        denom = right - left
        temp = values / torch.where(denom == 0, torch.ones_like(denom), denom)
        values = nn_pad(temp * (right - xe), (0, 1)) + nn_pad(temp * (xe - left), (1, 0))
    return values


def interval_table(knots: torch.Tensor, k: int) -> torch.Tensor:
    """Per knot interval, the live basis functions as polynomials in a local coordinate.

    On interval ``s`` (``t_s <= x < t_{s+1}``), with ``u = (x - t_s) / (t_{s+1} - t_s)``,
    ``B_{s-k+r}(x) = sum_p P[s, p, r] u^p``. Returns planes ``(F, n_in * K)``,
    ``F = 2 + (2k+1)(k+1)``: for input ``i`` and interval ``s`` the column ``i * K + s`` holds
    ``[t_s, 1 / h_s, P_0, ..., P_k, D_1, ..., D_k]`` (each block ``k + 1`` long, power-major
    for Horner's rule) where ``D_p = p P_p / h_s`` gives ``dB/dx = sum_p D_p u^(p-1)``.
    The extra last interval (``s = K - 1``) is all zeros and
    stands for "outside the grid". Functions whose index does not exist are zero rows of P.
    Computed in float64 by sampling the local recursion at ``k + 1`` interior points.
    """
    work = knots.to(torch.float64)
    n_in, n_knots = work.shape
    nb = n_basis(n_knots, k)
    n_int = n_knots - 1
    q = (torch.arange(k + 1, dtype=torch.float64, device=knots.device) + 0.5) / (k + 1)
    lo, h = work[:, :-1], work[:, 1:] - work[:, :-1]  # (n_in, n_int)
    pts = lo[:, :, None] + h[:, :, None] * q  # (n_in, n_int, k+1)
    vals = _local_basis(pts.reshape(n_in, -1).t(), work, k)
    vals = vals.reshape(n_in, n_int, k + 1, k + 1)  # (.., node q, function r)
    vander = q[:, None] ** torch.arange(k + 1, dtype=torch.float64, device=knots.device)
    poly = torch.einsum("pq,isqr->ispr", torch.linalg.inv(vander), vals)  # (.., p, r)
    index = torch.arange(n_int, device=knots.device)[:, None] - k + torch.arange(
        k + 1, device=knots.device
    )
    exists = ((index >= 0) & (index < nb)).to(torch.float64)  # (n_int, k+1)
    live = (h > 0).to(torch.float64)  # zero-width intervals never contain a sample
    poly = poly * exists[None, :, None, :] * live[:, :, None, None]
    inv_h = torch.where(h > 0, 1.0 / torch.where(h > 0, h, torch.ones_like(h)), 0.0)
    powers = torch.arange(1, k + 1, dtype=torch.float64, device=knots.device)
    deriv = poly[:, :, 1:, :] * powers[:, None] * inv_h[:, :, None, None]  # (.., k, k+1)
    table = torch.cat(
        [lo[..., None], inv_h[..., None], poly.reshape(n_in, n_int, -1),
         deriv.reshape(n_in, n_int, -1)],
        -1,
    )
    outside = torch.zeros(n_in, 1, table.shape[-1], dtype=torch.float64, device=knots.device)
    table = torch.cat([table, outside], dim=1)  # (n_in, K, F)
    # Planes layout (F, n_in * K): each column of the table is one contiguous row, so the
    # per-sample gather yields contiguous (batch * n_in,) vectors and Horner's rule below
    # runs on contiguous memory (4-6x faster than on strided rows).
    return table.reshape(n_in * n_knots, -1).t().contiguous().to(knots.dtype)
