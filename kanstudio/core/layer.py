"""One KAN layer: a learnable 1-D function on every edge ``(i, j)``.

``phi_ij(x) = w_b[i, j] * silu(x) + w_s[i, j] * sum_m coef[i, m, j] * B_m(x)``, or, when the
edge is locked, ``c * f(a * x + b) + d`` for a given torch function ``f``. Node ``j`` sums
its incoming edges and adds ``bias[j]`` (which holds the mean of pruned edges, so that
cutting a near-constant edge does not shift the output).

Product nodes (KAN 2.0): the layer's ``n_out`` edge columns are ``n_sum`` sum nodes followed
by the sub-nodes of each product node, ``mult_arity[p]`` consecutive columns per product
node (each a sum of edges plus a bias, like any node). :meth:`KANLayer.combine` multiplies
each product node's columns, so the next layer sees ``n_nodes = n_sum + len(mult_arity)``
inputs. An edge ``(i, j)`` always addresses column ``j``. A pruned factor edge folds its
mean into its sub-node's bias, so a product losing a factor becomes the remaining factors
times that constant, never zero. Factors start at ``1 + small`` (bias 1);
:meth:`KANLayer.start_products` gives a fresh layer its data-based start before training.

The plain forward never materialises per-edge activations: it is one matrix product over
the dense basis plus one for the residual ``silu`` branch. ``edge_activations`` builds the
``(batch, n_in, n_out)`` tensor only when regularisation, scores or curves need it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from kanstudio.core import fused_magnitudes
from kanstudio.core.fused_cpu import fused_applies
from kanstudio.core.fused_layer import fused_layer
from kanstudio.core.knots import greville
from kanstudio.core.spline import (
    extend_knots,
    fit_coefficients,
    interval_table,
    n_basis,
    spline_basis,
    spline_basis_parts,
    spline_basis_starts,
    uniform_knots,
)

TorchFn = Callable[[torch.Tensor], torch.Tensor]

__all__ = ["KANLayer", "TorchFn"]

FEATURE_CACHE_BYTES = 64 * 1024 * 1024  # per set of features a layer keeps
FEATURE_CACHE_ENTRIES = 2

#: Edges into a product node other than its first factor's identity edge start this much
#: smaller than sum nodes' edges (:meth:`KANLayer.start_products`).
PRODUCT_OTHER_SCALE = 0.1

# Indices into ``symbolic_params[..., :]``: c * f(a * x + b) + d.
A, B, C, D = 0, 1, 2, 3


class _SharedFeatures(torch.autograd.Function):
    """Both contractions of one dense basis: the layer output on every row and the
    per-edge values on ``rows`` (what :meth:`KANLayer.forward_with_edges` needs).

    Autograd of the two separate ops would zero-fill a features-sized gradient for the
    row selection, scatter into it and add it to the other; here the subset's gradient is
    added in place into the one from the output.
    """

    @staticmethod
    def forward(ctx, features, weights, bias, rows):  # type: ignore[override]
        batch, n_in, width = features.shape
        flat = weights.reshape(n_in * width, -1)
        out = torch.addmm(bias, features.reshape(batch, -1), flat)
        sub = features.index_select(0, rows).transpose(0, 1)  # (n_in, r, width)
        phi = torch.bmm(sub, weights)  # (n_in, r, n_out)
        ctx.save_for_backward(features, weights, rows, sub)
        return out, phi

    @staticmethod
    def backward(ctx, grad_out, grad_phi):  # type: ignore[override]
        features, weights, rows, sub = ctx.saved_tensors
        batch, n_in, width = features.shape
        flat = weights.reshape(n_in * width, -1)
        if grad_out is None:
            grad_out = features.new_zeros(batch, flat.shape[1])
        grad_features = grad_weights = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_features = (grad_out @ flat.t()).view(batch, n_in, width)
            if grad_phi is not None:
                grad_sub = torch.bmm(grad_phi, weights.transpose(1, 2))  # (n_in, r, width)
                grad_features.index_add_(0, rows, grad_sub.transpose(0, 1).contiguous())
        if ctx.needs_input_grad[1]:
            grad_weights = (features.reshape(batch, -1).t() @ grad_out).view_as(weights)
            if grad_phi is not None:
                grad_weights = grad_weights + torch.bmm(sub.transpose(1, 2), grad_phi)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum(0)
        return grad_features, grad_weights, grad_bias, None


class _OutputAndMagnitudes(torch.autograd.Function):
    """The layer output on every row and each edge's mean ``|phi|`` over ``rows`` (all
    rows when None), from one dense basis: what the sparsity penalty needs, without the
    ``(n_in, rows, n_out)`` temporaries of ``abs``/``mean`` and their autograd.

    With ``S = sign(phi)`` and ``g`` the gradient of the magnitudes, the gradient of the
    per-row edge values is ``S * g / r`` column-wise, so both backward products take
    ``S`` and scale a small factor instead: ``d weights = (sub^T S) * g / r`` and
    ``d sub = S (weights * g / r)^T``. ``phi`` is turned into ``S`` in place, and the
    magnitudes come from ``sub^T S`` too (see forward).

    On the CPU with numba, :mod:`kanstudio.core.fused_magnitudes` computes the magnitudes,
    ``sub^T S`` and ``d sub`` row by row from the basis rows' non-zero entries instead,
    never building ``phi``; the forward keeps ``S`` as bytes for the backward (same values
    and gradients; tests/core/test_penalty_fused.py).
    """

    @staticmethod
    def forward(ctx, features, weights, bias, rows, k, starts):  # type: ignore[override]
        batch, n_in, width = features.shape
        flat = weights.reshape(n_in * width, -1)
        ctx.fused = fused_magnitudes.magnitudes_available(features, weights)
        if ctx.fused:  # one pass over the basis rows, no (n_in, r, n_out) tensors
            features, weights = features.contiguous(), weights.contiguous()
            # in order: each thread walks one input node's column of the basis rows
            rows = torch.arange(batch) if rows is None else torch.sort(rows).values
            # The kernel runs right after the basis kernel, before torch's product, so that
            # numba's and torch's thread pools hand the cores over once, not twice (no
            # difference beyond the noise on the 2-core machine it was timed on).
            mag, cross, saved = fused_magnitudes.fused_magnitudes(
                features, weights, rows, ctx.needs_input_grad[1], k,
                ctx.needs_input_grad[0], starts)
            ctx.save_for_backward(features, weights, rows, cross, *saved)
            return torch.addmm(bias, features.reshape(batch, -1), flat), mag
        out = torch.addmm(bias, features.reshape(batch, -1), flat)
        picked = features if rows is None else features.index_select(0, rows)
        sub = picked.transpose(0, 1)  # (n_in, r, width)
        phi = torch.bmm(sub, weights)  # (n_in, r, n_out)
        r = phi.shape[1]
        sign = phi.sign_()
        # sum_r |phi| = sum_r S * (sub W) = sum_m (sub^T S) * W: the product the backward
        # needs for the weights gives the magnitudes without another pass over phi.
        cross = torch.bmm(sub.transpose(1, 2), sign)  # (n_in, width, n_out)
        mag = (cross * weights).sum(1) / r  # (n_in, n_out)
        ctx.save_for_backward(features, weights, rows, cross, sign)
        ctx.no_rows = rows is None
        # Distinct rows (a sample without replacement, as training draws them) let the
        # backward add into the picked rows by gather + copy instead of a scatter-add.
        ctx.distinct = rows is not None and bool(torch.unique(rows).numel() == r)
        return out, mag

    @staticmethod
    def backward(ctx, grad_out, grad_mag):  # type: ignore[override]
        if ctx.fused:
            return _OutputAndMagnitudes.fused_backward(ctx, grad_out, grad_mag)
        features, weights, rows, cross, sign = ctx.saved_tensors
        batch, n_in, width = features.shape
        flat = weights.reshape(n_in * width, -1)
        if grad_out is None:
            grad_out = features.new_zeros(batch, flat.shape[1])
        scale = None if grad_mag is None else grad_mag / sign.shape[1]  # (n_in, n_out)
        grad_features = grad_weights = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_features = (grad_out @ flat.t()).view(batch, n_in, width)
            if scale is not None:
                grad_sub = torch.bmm(sign, (weights * scale[:, None, :]).transpose(1, 2))
                if ctx.no_rows:
                    grad_features += grad_sub.transpose(0, 1)
                elif ctx.distinct:
                    picked = grad_features.index_select(0, rows)
                    picked += grad_sub.transpose(0, 1)
                    grad_features.index_copy_(0, rows, picked)
                else:
                    grad_features.index_add_(0, rows, grad_sub.transpose(0, 1).contiguous())
        if ctx.needs_input_grad[1]:
            grad_weights = (features.reshape(batch, -1).t() @ grad_out).view_as(weights)
            if scale is not None:
                grad_weights = grad_weights + cross * scale[:, None, :]
        if ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum(0)
        return grad_features, grad_weights, grad_bias, None, None, None

    @staticmethod
    def fused_backward(ctx, grad_out, grad_mag):
        features, weights, rows, cross, *saved = ctx.saved_tensors
        batch, n_in, width = features.shape
        flat = weights.reshape(n_in * width, -1)
        if grad_out is None:
            grad_out = features.new_zeros(batch, flat.shape[1])
        scale = None if grad_mag is None else grad_mag / rows.shape[0]  # (n_in, n_out)
        grad_features = grad_weights = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_features = (grad_out @ flat.t()).view(batch, n_in, width)
            if scale is not None:  # while the product's rows are still in the cache
                fused_magnitudes.fused_magnitudes_backward(
                    rows, saved, weights * scale[:, None, :], grad_features)
        if ctx.needs_input_grad[1]:
            grad_weights = (features.reshape(batch, -1).t() @ grad_out).view_as(weights)
            if scale is not None:
                grad_weights = grad_weights + cross * scale[:, None, :]
        if ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum(0)
        return grad_features, grad_weights, grad_bias, None, None, None


class _Products(torch.autograd.Function):
    """Sum columns pass through, each group of ``arity`` consecutive columns after the
    first ``n_sum`` is multiplied: (batch, n_sum + p * arity) -> (batch, n_sum + p).

    One op each way: autograd of slices and selects would zero-fill and scatter a
    batch-sized gradient per factor. A factor's gradient is the product of the others
    (prefix times suffix products, so a zero factor needs no division).
    """

    @staticmethod
    def forward(ctx, sub, n_sum, arity):  # type: ignore[override]
        batch = sub.shape[0]
        factors = sub[:, n_sum:].reshape(batch, -1, arity)  # (batch, p, arity)
        out = sub.new_empty(batch, n_sum + factors.shape[1])
        out[:, :n_sum] = sub[:, :n_sum]
        if arity == 2:
            torch.mul(factors[..., 0], factors[..., 1], out=out[:, n_sum:])
        else:
            out[:, n_sum:] = factors.prod(2)
        ctx.save_for_backward(sub)
        ctx.n_sum, ctx.arity = n_sum, arity
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (sub,) = ctx.saved_tensors
        n_sum, arity = ctx.n_sum, ctx.arity
        batch = sub.shape[0]
        factors = sub[:, n_sum:].reshape(batch, -1, arity)
        grad_sub = torch.empty_like(sub)
        grad_sub[:, :n_sum] = grad[:, :n_sum]
        g = grad[:, n_sum:]  # (batch, p)
        view = grad_sub[:, n_sum:].view(batch, -1, arity)
        if arity == 2:
            torch.mul(g, factors[..., 1], out=view[..., 0])
            torch.mul(g, factors[..., 0], out=view[..., 1])
        else:
            prefix = [torch.ones_like(g)]
            for r in range(arity - 1):
                prefix.append(prefix[-1] * factors[..., r])
            suffix = torch.ones_like(g)
            for r in range(arity - 1, -1, -1):
                torch.mul(g * prefix[r], suffix, out=view[..., r])
                suffix = suffix * factors[..., r]
        return grad_sub, None, None


class KANLayer(nn.Module):
    """A layer from ``n_in`` nodes to ``n_sum`` sum nodes and ``len(mult_arity)`` product
    nodes, with ``n_in * n_out`` edges into ``n_out = n_sum + sum(mult_arity)`` columns.

    Without product nodes ``n_out == n_sum`` and every column is an output node.
    """

    def __init__(
        self,
        n_in: int,
        n_sum: int,
        grid_size: int = 5,
        k: int = 3,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        noise_scale: float = 0.1,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        mult_arity: Sequence[int] = (),
    ) -> None:
        super().__init__()
        arity = tuple(int(a) for a in mult_arity)
        if any(a < 2 for a in arity):
            raise ValueError(f"a product node multiplies at least 2 sub-nodes, got {arity}")
        n_out = n_sum + sum(arity)
        if n_in < 1 or n_sum < 0 or n_out < 1:
            raise ValueError(f"a layer needs at least one input and output, got {n_in}->{n_out}")
        if grid_size < 1 or k < 0:
            raise ValueError(f"grid_size must be >= 1 and k >= 0, got {grid_size}, {k}")
        self.n_in, self.n_out, self.grid_size, self.k = n_in, n_out, grid_size, k
        self.n_sum, self.mult_arity = n_sum, arity
        self._product_index: torch.Tensor | None = None
        lo = torch.full((n_in,), float(grid_range[0]), dtype=dtype)
        hi = torch.full((n_in,), float(grid_range[1]), dtype=dtype)
        self.register_buffer("knots", uniform_knots(lo, hi, grid_size, k))  # (n_in, G+2k+1)
        nb = n_basis(self.knots.shape[1], k)
        # Splines start near zero: the residual silu branch carries the initial function.
        noise = (torch.rand(n_in, nb, n_out, generator=generator, dtype=dtype) - 0.5)
        self.coef = nn.Parameter(noise * noise_scale / grid_size)  # (n_in, G+k, n_out)
        bound = math.sqrt(6.0 / (n_in + n_out))  # Xavier-uniform for the silu weights
        w_b = (torch.rand(n_in, n_out, generator=generator, dtype=dtype) * 2 - 1) * bound
        self.scale_base = nn.Parameter(w_b)  # (n_in, n_out)
        self.scale_spline = nn.Parameter(torch.ones(n_in, n_out, dtype=dtype))
        # A product's factors start at 1 + (small function): near 0 every factor's gradient
        # would be the other factors' (near-zero) values, a saddle training cannot leave;
        # near 1 the product starts as the sum of its factors' variations. Once data are
        # known, :meth:`start_products` breaks the factors' symmetry.
        bias = torch.zeros(n_out, dtype=dtype)
        bias[n_sum:] = 1.0
        self.bias = nn.Parameter(bias)
        self.register_buffer("mask", torch.ones(n_in, n_out, dtype=dtype))
        self.register_buffer("symbolic_mask", torch.zeros(n_in, n_out, dtype=dtype))
        init = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=dtype).expand(n_in, n_out, 4)
        self.symbolic_params = nn.Parameter(init.clone())  # (n_in, n_out, 4): a, b, c, d
        # Observed input range per node, for drawing curves: (n_in, 2)
        self.register_buffer("input_range", torch.tensor([grid_range] * n_in, dtype=dtype))
        self.symbolic_names: dict[tuple[int, int], str] = {}
        self._symbolic_fns: dict[str, TorchFn] = {}
        self._groups: list[tuple[str, torch.Tensor, torch.Tensor]] | None = None
        self._table: tuple[torch.Tensor, int, torch.Tensor] | None = None
        self._features: list[tuple[tuple, torch.Tensor, torch.Tensor | None]] = []

    def basis(self, x: torch.Tensor, residual: bool = False) -> torch.Tensor:
        """The B-spline basis of this layer's knots: x (batch, n_in) -> (batch, n_in, nb).

        With ``residual``, a last column ``silu(x)`` is appended: (batch, n_in, nb + 1).
        """
        return self.basis_starts(x, residual, want_starts=False)[0]

    def basis_starts(self, x: torch.Tensor, residual: bool = False, want_starts: bool = True
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`basis` and each (row, input)'s first basis entry where the fused kernel
        gives it (:func:`~kanstudio.core.spline.spline_basis_starts`), else None."""
        knots = self.knots
        table = self._interval_table()
        if x.requires_grad:
            return spline_basis_starts(x, knots, self.k, table, residual, want_starts)
        # Inputs that need no gradient (the training data, for the first layer) give the
        # same features at every full-batch step: keep the last ones while they are small.
        # Two sets, so that the test loss ``fit`` takes after every step does not push out
        # the training rows' (nor they the test rows').
        # An entry answers a call that wants starts if it has them or was asked for them
        # (the torch path has none to give).
        key = (x, x._version, knots, knots._version, residual)
        held = self._features
        for n, (was, features, starts) in enumerate(held):
            if was[0] is x and was[2] is knots and (was[1], was[3], was[4]) == (
                    key[1], key[3], key[4]) and (was[5] or not want_starts):
                held.append(held.pop(n))  # the most recently used last
                return features, starts
        features, starts = spline_basis_starts(x, knots, self.k, table, residual,
                                               want_starts)
        if features.numel() * features.element_size() <= FEATURE_CACHE_BYTES:
            held.append(((*key, want_starts), features, starts))
            del held[:-FEATURE_CACHE_ENTRIES]
        return features, starts

    def _interval_table(self) -> torch.Tensor:
        """:func:`~kanstudio.core.spline.interval_table` of the knots, kept until the grid
        changes (the cache holds the knots tensor itself, so a replaced or edited grid
        misses it)."""
        knots = self.knots
        cache = self._table
        if cache is None or cache[0] is not knots or cache[1] != knots._version:
            cache = (knots, knots._version, interval_table(knots, self.k))
            self._table = cache
        return cache[2]

    def _fused_parts(self, x: torch.Tensor) -> tuple | None:
        """What :func:`~kanstudio.core.fused_layer.fused_layer` needs of ``x``'s basis, or
        None where that path does not apply (locked edges, not the CPU, no numba)."""
        table = self._interval_table()
        # asked before the basis below, which would otherwise be computed twice for an
        # input too large for the cache
        if self.symbolic_names or self.coef.dtype != x.dtype or not fused_applies(
                x, self.knots, table):
            return None
        if torch.is_grad_enabled() and x.requires_grad:
            return spline_basis_parts(x, self.knots, self.k, table)
        features, starts = self.basis_starts(x, residual=True)  # kept for the next step
        return None if starts is None else (features, starts, None, None)

    # ------------------------------------------------------------------ forward
    def _weights(self) -> torch.Tensor:
        """Both branches' weights stacked to match ``basis(x, residual=True)``.

        Returns (n_in, nb + 1, n_out): spline coefficients times ``w_s``, then ``w_b``;
        masked and locked edges are zero here.
        """
        numeric = self.mask * (1.0 - self.symbolic_mask)  # (n_in, n_out)
        w_spline = self.coef * (self.scale_spline * numeric)[:, None, :]  # (n_in, nb, n_out)
        return torch.cat([w_spline, (self.scale_base * numeric)[:, None, :]], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, n_in) -> (batch, n_nodes)."""
        parts = self._fused_parts(x)
        if parts is not None:  # the CPU's fused layer (no locked edges here)
            return self.combine(fused_layer(x, self._weights(), self.bias, parts, None,
                                            self.k, False)[0])
        features = self.basis(x, residual=True)  # (batch, n_in, nb + 1)
        out = torch.addmm(
            self.bias, features.reshape(x.shape[0], -1), self._weights().reshape(-1, self.n_out)
        )
        if self.symbolic_names:
            out = out + self._symbolic_output(x)
        return self.combine(out)

    # ------------------------------------------------------------------ product nodes
    @property
    def n_nodes(self) -> int:
        """Output nodes (sums + products): the next layer's ``n_in``."""
        return self.n_sum + len(self.mult_arity)

    def column_nodes(self) -> list[int]:
        """The output node each edge column feeds: (n_out,) node indices."""
        out = list(range(self.n_sum))
        for p, a in enumerate(self.mult_arity):
            out.extend([self.n_sum + p] * a)
        return out

    def column_scores(self, node_scores: torch.Tensor) -> torch.Tensor:
        """Node scores (n_nodes,) spread over the columns (n_out,): a sum node's column has
        its score, each of a product node's ``a`` factor columns ``1/a`` of it."""
        if not self.mult_arity:
            return node_scores
        share = [1.0] * self.n_sum + [1.0 / a for a in self.mult_arity for _ in range(a)]
        cols = torch.tensor(self.column_nodes(), dtype=torch.long, device=node_scores.device)
        return node_scores[cols] * torch.tensor(share, dtype=node_scores.dtype,
                                                device=node_scores.device)

    def node_columns(self, node: int) -> list[int]:
        """The edge columns (sub-nodes) of output node ``node``."""
        if node < self.n_sum:
            return [node]
        p = node - self.n_sum
        start = self.n_sum + sum(self.mult_arity[:p])
        return list(range(start, start + self.mult_arity[p]))

    @torch.no_grad()
    def start_products(self, other_scale: float = PRODUCT_OTHER_SCALE) -> None:
        """The starting point of every product node, for knots already placed on the data.

        Product node ``p`` of arity ``r``: factor ``f < r - 1`` starts as input
        ``(p + f) mod n_in`` itself (that edge's spline is the identity on the knot range,
        no silu) with bias 0; the last factor starts at 1 (bias) plus its small random
        functions; every other edge into the product is scaled by ``other_scale``. So
        ``a*b*c`` starts as ``a * b * (1 + small)``: no two factors alike (from the
        symmetric start every factor gets the same push, and training stalls at products
        of sums of all inputs), and the last factor's problem is linear where the others
        are right already. Sum nodes are untouched.
        """
        ident = greville(self.knots, self.k)  # (n_in, G + k): the spline of x
        for p in range(len(self.mult_arity)):
            cols = self.node_columns(self.n_sum + p)
            self.coef[:, :, cols] *= other_scale
            self.scale_base[:, cols] *= other_scale
            for f, col in enumerate(cols[:-1]):
                i = (p + f) % self.n_in
                self.coef[i, :, col] = ident[i]
                self.scale_base[i, col] = 0.0
                self.scale_spline[i, col] = 1.0
                self.bias[col] = 0.0
            self.bias[cols[-1]] = 1.0

    def combine(self, sub: torch.Tensor) -> torch.Tensor:
        """Sub-node values to node values: (batch, n_out) -> (batch, n_nodes).

        Sum nodes pass through; each product node multiplies its consecutive columns.
        """
        if not self.mult_arity:
            return sub
        factors = sub[:, self.n_sum:]
        first = self.mult_arity[0]
        if all(a == first for a in self.mult_arity):
            return _Products.apply(sub.contiguous(), self.n_sum, first)
        else:
            # Mixed arities: pad the shorter products with a column of ones.
            idx = self._product_index
            if idx is None or idx.device != sub.device:
                idx = self._make_product_index(sub.device)
            ones = sub.new_ones(sub.shape[0], 1)
            padded = torch.cat([factors, ones], dim=1)
            prod = padded.index_select(1, idx[0])
            for r in range(1, idx.shape[0]):
                prod = prod * padded.index_select(1, idx[r])
        return torch.cat([sub[:, :self.n_sum], prod], dim=1)

    def _make_product_index(self, device: torch.device) -> torch.Tensor:
        """(max arity, n_prod): factor column (within the product columns) of each product
        node, or the padding column past the last factor when the node has fewer."""
        pad = sum(self.mult_arity)
        start = 0
        table = [[pad] * len(self.mult_arity) for _ in range(max(self.mult_arity))]
        for p, a in enumerate(self.mult_arity):
            for r in range(a):
                table[r][p] = start + r
            start += a
        index = torch.tensor(table, dtype=torch.long, device=device)
        self._product_index = index
        return index

    def edge_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Every edge's value for every sample: x (batch, n_in) -> (batch, n_in, n_out).

        Masked edges are zero; locked edges use their symbolic function. Summing over
        ``n_in``, adding ``bias`` and :meth:`combine` gives ``forward(x)``. The result is a
        transposed view of an (n_in, batch, n_out) tensor: reductions over the batch stay cheap.
        """
        features = self.basis(x, residual=True)  # (batch, n_in, nb + 1)
        phi = torch.bmm(features.transpose(0, 1), self._weights())  # (n_in, batch, n_out)
        if self.symbolic_names:
            phi = phi + self._symbolic_edges(x).transpose(0, 1)
        return phi.transpose(0, 1)

    def forward_with_edges(self, x: torch.Tensor, rows: torch.Tensor):
        """``forward(x)`` for every row and ``edge_activations(x[rows])``, from one basis.

        The sparsity penalty estimates edge magnitudes on a subset of the batch; taking
        them from the features the full forward computes anyway saves a second pass, and
        one backward adds both gradients into the features in place.
        Returns (out (batch, n_nodes), phi (len(rows), n_in, n_out)).
        """
        features = self.basis(x, residual=True)  # (batch, n_in, nb + 1)
        out, phi = _SharedFeatures.apply(features, self._weights(), self.bias, rows)
        if self.symbolic_names:
            out = out + self._symbolic_output(x)
            phi = phi + self._symbolic_edges(x.index_select(0, rows)).transpose(0, 1)
        return self.combine(out), phi.transpose(0, 1)

    def forward_with_magnitudes(self, x: torch.Tensor, rows: torch.Tensor | None = None):
        """``forward(x)`` and every edge's mean ``|phi|`` over ``x[rows]`` (all rows when
        None), from one basis: the sparsity penalty's inputs.

        Returns (out (batch, n_nodes), magnitudes (n_in, n_out)). Locked edges need their
        values row by row, so a layer with any takes the general path.
        """
        if self.symbolic_names:
            if rows is None:
                phi = self.edge_activations(x)
                return self.combine(phi.sum(1) + self.bias), phi.abs().mean(0)
            out, phi = self.forward_with_edges(x, rows)
            return out, phi.abs().mean(0)
        parts = self._fused_parts(x)
        if parts is not None and fused_magnitudes.magnitudes_available(parts[0],
                                                                       self.coef):
            out, mag = fused_layer(x, self._weights(), self.bias, parts, rows, self.k, True)
            return self.combine(out), mag
        features, starts = self.basis_starts(x, residual=True)  # (batch, n_in, nb + 1)
        out, mag = _OutputAndMagnitudes.apply(features, self._weights(), self.bias, rows,
                                              self.k, starts)
        return self.combine(out), mag

    def _symbolic_groups(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        if self._groups is None:
            by_name: dict[str, list[tuple[int, int]]] = {}
            for (i, j), name in sorted(self.symbolic_names.items()):
                by_name.setdefault(name, []).append((i, j))
            dev = self.coef.device
            self._groups = [
                (
                    name,
                    torch.tensor([e[0] for e in edges], dtype=torch.long, device=dev),
                    torch.tensor([e[1] for e in edges], dtype=torch.long, device=dev),
                )
                for name, edges in by_name.items()
            ]
        return self._groups

    def _symbolic_values(self, x: torch.Tensor, ii: torch.Tensor, jj: torch.Tensor, name: str):
        p = self.symbolic_params[ii, jj]  # (n_edges, 4)
        u = x[:, ii] * p[:, A] + p[:, B]  # (batch, n_edges)
        active = self.mask[ii, jj]
        return (p[:, C] * self._symbolic_fns[name](u) + p[:, D]) * active

    def _symbolic_output(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], self.n_out, dtype=x.dtype, device=x.device)
        for name, ii, jj in self._symbolic_groups():
            out = out.index_add(1, jj, self._symbolic_values(x, ii, jj, name))
        return out

    def _symbolic_edges(self, x: torch.Tensor) -> torch.Tensor:
        phi = torch.zeros(x.shape[0], self.n_in, self.n_out, dtype=x.dtype, device=x.device)
        for name, ii, jj in self._symbolic_groups():
            phi[:, ii, jj] = self._symbolic_values(x, ii, jj, name)
        return phi

    # ------------------------------------------------------------------ symbolic hook
    def lock_edge(
        self,
        i: int,
        j: int,
        name: str,
        fn: TorchFn,
        params: tuple[float, float, float, float] = (1.0, 0.0, 1.0, 0.0),
    ) -> None:
        """Switch edge ``(i, j)`` to ``c * fn(a * x + b) + d`` with trainable ``a, b, c, d``.

        The spline coefficients are kept, so ``unlock_edge`` restores the numeric curve.
        """
        self.check_edge(i, j)
        self._symbolic_fns[name] = fn
        self.symbolic_names[(i, j)] = name
        with torch.no_grad():
            self.symbolic_mask[i, j] = 1.0
            self.symbolic_params[i, j] = torch.tensor(params, dtype=self.coef.dtype)
        self._groups = None

    def unlock_edge(self, i: int, j: int) -> None:
        self.check_edge(i, j)
        self.symbolic_names.pop((i, j), None)
        with torch.no_grad():
            self.symbolic_mask[i, j] = 0.0
        self._groups = None

    def register_function(self, name: str, fn: TorchFn) -> None:
        """Provide the torch callable for a function name (used after loading a state)."""
        self._symbolic_fns[name] = fn
        self._groups = None

    def symbolic_function(self, name: str) -> TorchFn:
        """The torch callable registered for the library function ``name``."""
        return self._symbolic_fns[name]

    def check_edge(self, i: int, j: int) -> None:
        if not (0 <= i < self.n_in and 0 <= j < self.n_out):
            raise IndexError(f"edge ({i}, {j}) is outside a {self.n_in}->{self.n_out} layer")

    def __getstate__(self) -> dict:
        # Copies (undo snapshots, deepcopy) must not drag caches or the cached input along.
        state = self.__dict__.copy()
        state["_table"] = state["_groups"] = None
        state["_features"] = []
        state["_product_index"] = None
        return state

    def _apply(self, fn, recurse: bool = True):  # device/dtype moves invalidate the caches
        self._groups = None
        self._product_index = None
        self._table = None
        self._features = []
        return super()._apply(fn, recurse)

    # ------------------------------------------------------------------ grids
    def spline_values(self, x: torch.Tensor) -> torch.Tensor:
        """The raw spline sum per edge, without ``w_s`` or masks: (batch, n_in, n_out)."""
        basis = self.basis(x)
        return torch.bmm(basis.transpose(0, 1), self.coef).transpose(0, 1)

    @torch.no_grad()
    def set_knots(self, knots: torch.Tensor, samples: torch.Tensor) -> None:
        """Replace the knots and refit ``coef`` so each edge's spline curve is unchanged.

        knots: (n_in, G' + 2k + 1); samples: (n, n_in) points where the curve must agree.
        """
        old = self.spline_values(samples)  # (n, in, out)
        basis = spline_basis(samples, knots, self.k)  # (n, in, nb')
        coef = fit_coefficients(basis.transpose(0, 1), old.transpose(0, 1))
        self.knots = knots.to(self.knots.dtype)
        self.grid_size = knots.shape[1] - 2 * self.k - 1
        if coef.shape == self.coef.shape:
            self.coef.copy_(coef)  # keep the Parameter's identity for optimisers
        else:
            # contiguous: linalg.solve returns column-major results, and LBFGS views grads
            self.coef = nn.Parameter(coef.to(self.coef.dtype).contiguous())

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, uniform_fraction: float = 0.02) -> None:
        """Re-place the knots from the distribution of the inputs ``x`` (batch, n_in).

        Inner knots are a mix of the quantiles of ``x`` and a uniform grid over its range
        (``uniform_fraction`` of uniform), so dense regions get more resolution.
        """
        self.input_range = torch.stack([x.min(0).values, x.max(0).values], dim=1)
        self.set_knots(self._data_knots(x, self.grid_size, uniform_fraction),
                       self._fit_samples(x))

    @torch.no_grad()
    def refine(self, grid_size: int, x: torch.Tensor | None = None) -> None:
        """Grid extension: fit a grid of ``grid_size`` intervals to the current curves."""
        if x is None:
            lo, hi = self.knots[:, self.k], self.knots[:, -self.k - 1]
            x = lo + (hi - lo) * torch.linspace(
                0, 1, 8 * grid_size + 1, dtype=lo.dtype, device=lo.device
            )[:, None]
        self.set_knots(self._data_knots(x, grid_size, 0.02), self._fit_samples(x, grid_size))

    def _data_knots(self, x: torch.Tensor, grid_size: int, uniform_fraction: float):
        xs = torch.sort(x, dim=0).values  # (n, n_in)
        n = xs.shape[0]
        pos = torch.linspace(0, n - 1, grid_size + 1, device=x.device).round().long()
        quantile = xs[pos].t()  # (n_in, G+1)
        lo, hi = xs[0], xs[-1]
        span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        hi = lo + span
        t = torch.linspace(0, 1, grid_size + 1, dtype=x.dtype, device=x.device)
        uniform = lo[:, None] + span[:, None] * t[None, :]
        inner = uniform_fraction * uniform + (1 - uniform_fraction) * quantile
        # Strictly increasing inner knots even for discrete or constant inputs.
        inner = torch.cummax(inner, dim=1).values
        min_gap = (span * 1e-4)[:, None]
        gaps = torch.clamp(inner[:, 1:] - inner[:, :-1], min=0) + min_gap
        inner = torch.cat([inner[:, :1], inner[:, :1] + torch.cumsum(gaps, dim=1)], dim=1)
        return extend_knots(inner.to(self.knots.dtype), self.k)

    def _fit_samples(self, x: torch.Tensor, grid_size: int | None = None) -> torch.Tensor:
        """Data points plus a dense uniform sweep of the old and new supports."""
        g = grid_size or self.grid_size
        n_lin = 4 * (g + self.k) + 1
        lo = torch.minimum(x.min(0).values, self.knots[:, self.k])
        hi = torch.maximum(x.max(0).values, self.knots[:, -self.k - 1])
        t = torch.linspace(0, 1, n_lin, dtype=x.dtype, device=x.device)[:, None]
        sweep = lo + (hi - lo) * t  # (n_lin, n_in)
        if x.shape[0] > 4096:
            idx = torch.linspace(0, x.shape[0] - 1, 4096, device=x.device).long()
            x = torch.sort(x, dim=0).values[idx]
        return torch.cat([x, sweep], dim=0)

    def extra_repr(self) -> str:
        prods = f", products={list(self.mult_arity)}" if self.mult_arity else ""
        return f"{self.n_in}->{self.n_out}{prods}, grid={self.grid_size}, k={self.k}"

