"""A whole KAN layer on the CPU, its basis gradient never built (numba kernels).

Through autograd, a layer is two functions: the spline basis (``(batch, n_in, nb + 1)``,
the silu column last) and its product with the weights. The product's backward then
writes the basis gradient ``grad_out @ weights^T``, a tensor as large as the basis, and the
basis's backward reads it back only at each row's ``k + 1`` live entries and the silu
column. On the CPU that round trip costs more than the arithmetic it carries: on the
medium benchmark network's layers (10,000 rows, 32 inputs, 32 or 1 outputs) the product
plus the basis backward took 3.6 and 3.0 ms where the dot products at the live entries
alone take 2.1 and 1.0 ms (``[10000, 1] x [1, 448]`` is a poor shape for a matrix
product). Here one ``autograd.Function`` owns the layer: the forward is the same fused
basis kernel and one ``addmm``; the backward takes the weights' gradient by one matrix
product, as before, and the input's straight from ``grad_out`` at the live entries
(:func:`~kanstudio.core.fused_cpu.input_gradient`). With the sparsity penalty the edge
magnitudes come from the same basis (:mod:`kanstudio.core.fused_magnitudes`), and their
gradient goes into the input's the same way.

It applies to layers without locked edges, on the CPU, in float32 or float64, where the
fused kernels compiled; everywhere else :class:`~kanstudio.core.layer.KANLayer` runs the
basis and the product as separate functions (the values and gradients are the same up to
rounding: tests/core/test_fused_layer.py).
"""

from __future__ import annotations

import torch

from kanstudio.core import fused_cpu, fused_magnitudes

__all__ = ["fused_layer"]


class _FusedLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weights, bias, parts, rows, k, want_mag):  # type: ignore[override]
        features, starts, dvals, dsilu = parts
        batch, n_in, width = features.shape
        want_x = ctx.needs_input_grad[0]
        mag = cross = None
        saved: tuple = ()
        if want_mag:
            # in order: each thread walks one input node's column of the basis rows
            rows = torch.arange(batch) if rows is None else torch.sort(rows).values
            mag, cross, saved = fused_magnitudes.fused_magnitudes(
                features, weights, rows, ctx.needs_input_grad[1], k, want_x, starts)
        out = torch.addmm(bias, features.reshape(batch, -1), weights.reshape(n_in * width, -1))
        none = torch.empty(0)
        ctx.save_for_backward(features, weights, starts,
                              *(none if t is None else t for t in (dvals, dsilu, rows, cross)),
                              *saved)
        ctx.k, ctx.want_mag = k, want_mag
        ctx.has_cross = cross is not None
        return out, mag

    @staticmethod
    def backward(ctx, grad_out, grad_mag):  # type: ignore[override]
        features, weights, starts, dvals, dsilu, rows, cross, *saved = ctx.saved_tensors
        batch, n_in, width = features.shape
        if grad_out is None:
            grad_out = features.new_zeros(batch, weights.shape[2])
        scale = None
        if ctx.want_mag and grad_mag is not None:
            scale = grad_mag / rows.shape[0]  # (n_in, n_out)
        grad_x = grad_weights = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = fused_cpu.input_gradient(grad_out, weights, starts, dvals, dsilu, ctx.k)
            if scale is not None:
                fused_magnitudes.fused_magnitudes_backward(
                    rows, tuple(saved), weights * scale[:, None, :], grad_x,
                    (starts, dvals, dsilu))
        if ctx.needs_input_grad[1]:
            grad_weights = (features.reshape(batch, -1).t() @ grad_out).view_as(weights)
            if scale is not None and ctx.has_cross:
                grad_weights = grad_weights + cross * scale[:, None, :]
        if ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum(0)
        return grad_x, grad_weights, grad_bias, None, None, None, None


def fused_layer(x: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor,
                parts: tuple, rows: torch.Tensor | None, k: int, want_mag: bool
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(out (batch, n_out) = basis @ weights + bias, each edge's mean ``|phi|`` over
    ``x[rows]`` (all rows when None) with ``want_mag``, else None).

    x: (batch, n_in); weights: (n_in, nb + 1, n_out), the silu column's last; ``parts``:
    :func:`~kanstudio.core.spline.spline_basis_parts` of ``x`` (with its gradient's parts
    where ``x`` needs a gradient). Differentiable in x, weights and bias.
    """
    return _FusedLayer.apply(x, weights.contiguous(), bias, parts, rows, k, want_mag)
