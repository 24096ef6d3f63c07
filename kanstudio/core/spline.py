"""B-spline bases on per-input knot vectors, evaluated locally.

Only ``k + 1`` of the ``G + k`` basis functions of order ``k`` are non-zero at any ``x``,
and on each knot interval those ``k + 1`` are polynomials of degree ``k``. So instead of
running the Cox-de Boor recursion over the whole knot vector for every sample (most of that
work produces zeros), we tabulate the polynomials once per knot vector
(:func:`interval_table`), locate every sample's interval, evaluate ``k + 1`` polynomials and
scatter them into a dense ``(batch, n_in, G + k)`` tensor that one matrix product contracts
with the coefficients. The derivative with respect to ``x`` comes from the same polynomials,
so the backward pass is one gather and one product.

Conventions: ``knots`` has shape ``(n_in, G + 2k + 1)`` (``k`` extension knots on each side);
outside ``[knots[:, 0], knots[:, -1])`` every basis function is zero.
"""

from __future__ import annotations

import torch

from kanstudio.core.fused_cpu import fused_basis
from kanstudio.core.knots import extend_knots, interval_table, n_basis, uniform_knots

__all__ = [
    "spline_basis",
    "spline_basis_starts",
    "spline_basis_parts",
    "uniform_knots",
    "extend_knots",
    "fit_coefficients",
    "n_basis",
    "interval_table",
]


class _SplineBasis(torch.autograd.Function):
    """Dense basis ``(batch, n_in, G + k [+ 1])``, analytic gradient with respect to ``x``.

    With ``residual`` the last column holds ``silu(x)``, so one matrix product evaluates
    both branches of every edge.
    """

    @staticmethod
    def forward(ctx, x, knots, table, k, residual):  # type: ignore[override]
        batch, n_in = x.shape
        n_knots = knots.shape[1]
        nb = n_basis(n_knots, k)
        s = torch.searchsorted(knots, x.t().contiguous(), right=True) - 1  # (n_in, batch)
        s = torch.where((s < 0) | (s > n_knots - 2), n_knots - 1, s).t()  # (batch, n_in)
        offset = torch.arange(n_in, device=x.device) * n_knots
        w = k + 1
        grad = ctx.needs_input_grad[0]
        n_planes = 2 + w * w + (k * w if grad else 0)  # derivative planes only when needed
        rows = table[:n_planes].index_select(1, (s + offset).reshape(-1))  # (F', batch*n_in)
        u = (x.reshape(-1) - rows[0]) * rows[1]  # local coordinate in [0, 1)
        base = 2
        vals = rows[base + k * w : base + (k + 1) * w]  # Horner: (P_k u + P_{k-1}) u + ...
        for p in range(k - 1, -1, -1):
            vals = torch.addcmul(rows[base + p * w : base + (p + 1) * w], vals, u)
        index = (s - k)[..., None] + torch.arange(k + 1, device=x.device)
        index = index.clamp(0, nb - 1)  # rows of functions that do not exist are zero
        dense = torch.zeros(batch, n_in, nb + int(residual), dtype=x.dtype, device=x.device)
        dense.scatter_add_(2, index, vals.t().view(batch, n_in, w))
        sig = None
        if residual:
            sig = torch.sigmoid(x)
            torch.mul(x, sig, out=dense[..., nb])
        if grad:
            if k > 0:
                base = 2 + w * w
                dvals = rows[base + (k - 1) * w : base + k * w]
                for p in range(k - 2, -1, -1):
                    dvals = torch.addcmul(rows[base + p * w : base + (p + 1) * w], dvals, u)
            else:
                dvals = torch.zeros_like(vals)
            if residual:  # d silu / dx = s (1 + x (1 - s))
                dsilu = sig * (1 + x * (1 - sig))
                ctx.save_for_backward(dvals.t().reshape(batch, n_in, w), index, dsilu)
            else:
                ctx.save_for_backward(dvals.t().reshape(batch, n_in, w), index)
        ctx.residual = residual
        return dense

    @staticmethod
    def backward(ctx, grad_dense: torch.Tensor):  # type: ignore[override]
        dvals, index = ctx.saved_tensors[:2]
        grad_x = (grad_dense.gather(2, index) * dvals).sum(-1)
        if ctx.residual:
            grad_x = grad_x + grad_dense[..., -1] * ctx.saved_tensors[2]
        return grad_x, None, None, None, None


def spline_basis(
    x: torch.Tensor,
    knots: torch.Tensor,
    k: int,
    table: torch.Tensor | None = None,
    residual: bool = False,
) -> torch.Tensor:
    """B-spline basis of order ``k`` for a whole batch.

    x: (batch, n_in); knots: (n_in, G + 2k + 1) -> (batch, n_in, G + k), or
    (batch, n_in, G + k + 1) with ``residual`` (last column ``silu(x)``).
    Differentiable with respect to ``x`` (not the knots, which are never trained).
    ``table`` is ``interval_table(knots, k)``, passed in by callers that cache it.
    """
    return spline_basis_starts(x, knots, k, table, residual, want_starts=False)[0]


def spline_basis_starts(
    x: torch.Tensor,
    knots: torch.Tensor,
    k: int,
    table: torch.Tensor | None = None,
    residual: bool = False,
    want_starts: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`spline_basis` and, where the fused CPU kernel computed it, each (row, input)'s
    first basis entry (batch, n_in) int32: ``interval - k``, ``-k - 1`` outside the grid
    (the sparsity penalty's fused kernel starts there); None on the torch path."""
    if x.dim() != 2 or knots.dim() != 2 or x.shape[1] != knots.shape[0]:
        raise ValueError(
            f"spline_basis: x {tuple(x.shape)} does not match knots {tuple(knots.shape)}"
        )
    knots = knots.detach().contiguous()
    if table is None:
        table = interval_table(knots, k)
    fused = fused_basis(x, knots, table.detach(), k, residual, want_starts)  # one CPU pass
    if fused is not None:
        return fused
    return _SplineBasis.apply(x, knots, table.detach(), k, residual), None


def spline_basis_parts(
    x: torch.Tensor, knots: torch.Tensor, k: int, table: torch.Tensor
) -> tuple[torch.Tensor, ...] | None:
    """The residual basis and what its gradient with respect to ``x`` needs, without
    autograd, from the fused CPU kernel: (dense (batch, n_in, G + k + 1), start, dvals,
    dsilu) as :func:`~kanstudio.core.fused_cpu.fused_basis` gives them with ``parts``;
    None where that kernel does not run (then :func:`spline_basis` is the way)."""
    return fused_basis(x, knots.detach().contiguous(), table.detach(), k, True, True, True)


def fit_coefficients(
    basis: torch.Tensor, targets: torch.Tensor, ridge: float = 1e-8
) -> torch.Tensor:
    """Least-squares coefficients, one independent problem per input.

    basis: (n_in, n_samples, n_basis); targets: (n_in, n_samples, n_out)
    -> (n_in, n_basis, n_out).

    Solved through the normal equations with a ridge term scaled to the Gram matrix, which
    keeps rank-deficient problems (duplicate samples, basis functions no sample touches)
    solvable; if that still fails the ridge grows, and a pseudo-inverse is the last resort.
    """
    work = torch.float64
    b = basis.to(work)
    t = targets.to(work)
    gram = b.transpose(1, 2) @ b  # (n_in, nb, nb)
    rhs = b.transpose(1, 2) @ t  # (n_in, nb, n_out)
    nb = gram.shape[-1]
    eye = torch.eye(nb, dtype=work, device=gram.device)
    scale = gram.diagonal(dim1=1, dim2=2).mean(-1).clamp(min=1e-12)[:, None, None]
    lam = ridge
    for _ in range(6):
        try:
            coef = torch.linalg.solve(gram + lam * scale * eye, rhs)
        except RuntimeError:
            coef = None
        if coef is not None and torch.isfinite(coef).all():
            return coef.to(basis.dtype).contiguous()
        lam *= 100.0
    coef = torch.linalg.pinv(b) @ t
    coef = torch.nan_to_num(coef, nan=0.0, posinf=0.0, neginf=0.0)
    return coef.to(basis.dtype).contiguous()
