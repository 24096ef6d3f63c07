"""A Kolmogorov-Arnold Network: a stack of KAN layers ``[n0, n1, ..., nL]``.

Widths use the KAN 2.0 notation of :mod:`kanstudio.core.width`: an entry is an int (sum
nodes) or ``[sums, products]``. ``width`` holds the node count of every level (sums plus
products), ``mult_arity[level]`` the arity of each product node of that level, and
``width_notation`` the notation back.

The network may use only some columns of the caller's data (after an input was pruned):
``input_ids`` lists which of the ``n_features_in`` original columns feed its input nodes.

Node locks: a node ``(level, node)`` (level >= 1) may be locked to an expression of the
network inputs it depends on (:class:`NodeLock`). From then on the network computes that
node's value from the expression, whatever the edges feeding it say; those edges stay (an
unlock gives the node back its sum of edges), but no longer matter. The expression's torch
form is given by the caller (core knows no sympy), like a locked edge's function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kanstudio.core.layer import KANLayer
from kanstudio.core.width import Architecture, parse_width

__all__ = ["KANNetwork", "EdgeCurves", "Activations", "NodeLock", "MAX_NODE_LOCK_INPUTS",
           "LINEAR_LOCK"]

#: Most network inputs a locked node's expression may use (a search over more is a
#: problem for the whole-dataset search, not one node's).
MAX_NODE_LOCK_INPUTS = 3


@dataclass(frozen=True)
class NodeLock:
    """A node computed from an expression of network inputs.

    ``name``: the expression's stored form (a lock name, e.g. ``expr:<tree JSON>``);
    ``inputs``: the original data columns (``n_features_in`` indexing) that are its
    variables, in order; ``fn``: its torch form, (batch, len(inputs)) -> (batch,).
    """

    name: str
    inputs: tuple[int, ...]
    fn: Callable[[torch.Tensor], torch.Tensor]


#: The library name of the straight line ``x`` (kanstudio.symbolic.library), which edges
#: leaving a product node start locked to.
LINEAR_LOCK = "x"


def _straight_line(u: torch.Tensor) -> torch.Tensor:
    return u


@dataclass
class Activations:
    """What one pass recorded per layer: inputs (batch, n_in) and edges (batch, n_in, n_out)."""

    inputs: list[torch.Tensor]
    edges: list[torch.Tensor]
    output: torch.Tensor


@dataclass
class EdgeCurves:
    """Every edge's sampled curve, for drawing. One entry per layer.

    ``x[l]``: (n_in, n_points) sample positions over each input node's observed range;
    ``y[l]``: (n_in, n_out, n_points) the edge values there (0 for pruned edges);
    ``active[l]``: (n_in, n_out) bool; ``locked[l]``: {(i, j): function name}.
    """

    x: list[np.ndarray]
    y: list[np.ndarray]
    active: list[np.ndarray]
    locked: list[dict[tuple[int, int], str]]


class KANNetwork(nn.Module):
    def __init__(
        self,
        width: Sequence[int | Sequence[int]],
        grid_size: int = 5,
        k: int = 3,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        input_ids: Sequence[int] | None = None,
        n_features_in: int | None = None,
        mult_arity: int | Sequence[int] | Sequence[Sequence[int]] = 2,
    ) -> None:
        super().__init__()
        arch = parse_width(width, mult_arity)
        self.architecture: Architecture = arch
        width = arch.nodes
        self.width = width  # nodes per level (sums + products)
        self.mult_arity = arch.arity_lists()  # per level: the arity of each product node
        self.k = int(k)
        self.n_features_in = int(n_features_in if n_features_in is not None else width[0])
        ids = list(range(width[0])) if input_ids is None else [int(i) for i in input_ids]
        if len(ids) != width[0] or any(not 0 <= i < self.n_features_in for i in ids):
            raise ValueError(f"input_ids {ids} do not match width[0]={width[0]}")
        self.input_ids = ids
        gen = torch.Generator().manual_seed(int(seed))
        self.layers = nn.ModuleList(
            KANLayer(n_in, n_sum, grid_size, k, grid_range, generator=gen, dtype=dtype,
                     mult_arity=arity)
            for n_in, n_sum, arity in zip(width[:-1], arch.sums[1:], arch.arities[1:],
                                          strict=True)
        )
        self.node_locks: dict[tuple[int, int], NodeLock] = {}

    def _lock_product_outputs(self) -> None:
        """Edges leaving a product node start locked to the straight line ``x`` (its
        ``a, b, c, d`` trainable; ``unlock_edge`` frees it).

        With a free spline there, training bends that edge to fake a product with a
        function of something else (``x*sin(x)`` as ``phi(x**2)``, ``a*b`` as a tilted
        saddle) and the factors never become the law's; held straight, the product must
        be made by its factors. Measured: see tests/model/test_kan_products.py.
        """
        for prev, layer in zip(self.layers[:-1], self.layers[1:], strict=True):
            for node in range(prev.n_sum, prev.n_nodes):
                for j in range(layer.n_out):
                    layer.lock_edge(node, j, LINEAR_LOCK, _straight_line)

    @torch.no_grad()
    def start_products(self, x: torch.Tensor) -> None:
        """Place the knots of every layer feeding product nodes on the data x (batch,
        width[0]) and start its product nodes there (``KANLayer.start_products``).

        For a freshly built network, before training: the first factor's identity edge
        is exact only on its knots' range, so the knots must cover the data first. The
        edges leaving product nodes are locked to straight lines (``_lock_product_outputs``).
        """
        self._lock_product_outputs()
        for layer in self.layers:
            if layer.mult_arity:
                layer.update_grid(x)
                layer.start_products()
            x = layer(x)

    @property
    def width_notation(self) -> list[int | list[int]]:
        """The width in KAN 2.0 notation: ``[2, [0, 1], 1]`` for one hidden product node."""
        return self.architecture.notation()

    @property
    def has_products(self) -> bool:
        return self.architecture.has_products

    # ------------------------------------------------------------------ basics
    @property
    def grid_size(self) -> int:
        return self.layers[0].grid_size

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].coef.dtype

    @property
    def device(self) -> torch.device:
        return self.layers[0].coef.device

    def n_parameters(self) -> int:
        """Trainable numbers that shape the function (spline coefficients, weights, biases)."""
        return sum(
            layer.coef.numel() + layer.scale_base.numel() + layer.scale_spline.numel()
            + layer.bias.numel()
            for layer in self.layers
        )

    def select_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The network's own input columns from the caller's (batch, n_features_in)."""
        if x.shape[1] != self.n_features_in:
            raise ValueError(
                f"expected {self.n_features_in} input columns, got {x.shape[1]}"
            )
        if self.input_ids == list(range(self.n_features_in)):
            return x
        return x[:, self.input_ids]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, width[0]) (already selected) -> (batch, width[-1])."""
        if self.node_locks:
            x0 = x
            for level, layer in enumerate(self.layers, start=1):
                x = self.apply_node_locks(level, layer(x), x0)
            return x
        for layer in self.layers:
            x = layer(x)
        return x

    # ------------------------------------------------------------------ node locks
    def lock_node(self, level: int, node: int, name: str, inputs: Sequence[int],
                  fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Compute node ``node`` of level ``level`` as ``fn`` of the original input
        columns ``inputs`` (each one the network uses; at most MAX_NODE_LOCK_INPUTS)."""
        self.check_node(level, node)
        if level == 0:
            raise ValueError("an input node is its data column: only hidden and output "
                             "nodes can be locked to an expression")
        cols = tuple(int(c) for c in inputs)
        if not 1 <= len(cols) <= MAX_NODE_LOCK_INPUTS or len(set(cols)) != len(cols):
            raise ValueError(f"a node expression takes 1 to {MAX_NODE_LOCK_INPUTS} distinct "
                             f"inputs, got {list(cols)}")
        missing = [c for c in cols if c not in self.input_ids]
        if missing:
            raise ValueError(f"input column(s) {missing} are not inputs of this network "
                             f"(it uses {self.input_ids})")
        self.node_locks[(int(level), int(node))] = NodeLock(name, cols, fn)

    def unlock_node(self, level: int, node: int) -> None:
        """Give node ``(level, node)`` back its sum of edges."""
        self.check_node(level, node)
        self.node_locks.pop((int(level), int(node)), None)

    def check_node(self, level: int, node: int) -> None:
        if not 0 <= level < len(self.width):
            raise IndexError(f"level {level} does not exist in width {self.width}")
        if not 0 <= node < self.width[level]:
            raise IndexError(f"node {node} does not exist in level {level} of width "
                             f"{self.width}")

    def apply_node_locks(self, level: int, values: torch.Tensor, x0: torch.Tensor
                         ) -> torch.Tensor:
        """Level ``level``'s node values (batch, width[level]) with its locked nodes
        computed from the network inputs ``x0`` (batch, width[0])."""
        if not self.node_locks:  # the usual case, on every training step
            return values
        locks = [(n, lock) for (lv, n), lock in self.node_locks.items() if lv == level]
        if not locks:
            return values
        values = values.clone()  # autograd: the computed column is replaced, not edited
        for node, lock in locks:
            cols = [self.input_ids.index(c) for c in lock.inputs]
            values[:, node] = lock.fn(x0[:, cols]).to(values.dtype)
        return values

    def node_dependencies(self, level: int, node: int) -> list[int]:
        """The original input columns node ``(level, node)`` depends on: through active
        edges, or a locked node's expression inputs, sorted."""
        self.check_node(level, node)
        lock = self.node_locks.get((level, node))
        if lock is not None:
            return sorted(lock.inputs)
        if level == 0:
            return [self.input_ids[node]]
        layer = self.layers[level - 1]
        active = layer.mask.detach().cpu().bool()
        found: set[int] = set()
        for column in layer.node_columns(node):
            for i in active[:, column].nonzero().flatten().tolist():
                found.update(self.node_dependencies(level - 1, int(i)))
        return sorted(found)

    def forward_activations(self, x: torch.Tensor, rows: torch.Tensor | None = None
                            ) -> Activations:
        """Forward that also returns every layer's inputs and per-edge activations.

        With ``rows`` (an index tensor) the inputs and edges cover only those rows of the
        batch, while ``output`` still covers all of it (one pass serves the error on the
        whole batch and the sparsity penalty on a sample of it).
        """
        inputs, edges = [], []
        x0 = x
        if rows is not None:
            for level, layer in enumerate(self.layers, start=1):
                inputs.append(x.index_select(0, rows))
                x, phi = layer.forward_with_edges(x, rows)
                x = self.apply_node_locks(level, x, x0)
                edges.append(phi)
            return Activations(inputs, edges, x)
        for level, layer in enumerate(self.layers, start=1):
            inputs.append(x)
            phi = layer.edge_activations(x)
            edges.append(phi)
            x = self.apply_node_locks(level, layer.combine(phi.sum(1) + layer.bias), x0)
        return Activations(inputs, edges, x)

    def layer_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Inputs seen by each layer for the selected batch x: list of (batch, n_in)."""
        out = []
        x0 = x
        with torch.no_grad():
            for level, layer in enumerate(self.layers, start=1):
                out.append(x)
                x = self.apply_node_locks(level, layer(x), x0)
        return out

    def forward_magnitudes(self, x: torch.Tensor, rows: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The output on every row of x and each layer's edge magnitudes ``mean |phi|``
        over the rows ``rows`` (all when None): (output, [(n_in, n_out) per layer]).

        What training with the sparsity penalty needs, in one pass and without keeping
        per-row edge values (see ``KANLayer.forward_with_magnitudes``).
        """
        mags = []
        x0 = x
        for level, layer in enumerate(self.layers, start=1):
            x, mag = layer.forward_with_magnitudes(x, rows)
            x = self.apply_node_locks(level, x, x0)
            mags.append(mag)
        return x, mags

    # ------------------------------------------------------------------ regularisation
    @staticmethod
    def regularization(acts: Activations, l1: float = 1.0, entropy: float = 1.0) -> torch.Tensor:
        """Sparsity penalty: L1 of each edge's mean |phi| plus per-node entropy of those.

        For layer l, ``m_ij = mean_batch |phi_ij|``; the penalty adds ``sum_ij m_ij`` and, for
        each output column j, the entropy of ``m_ij / sum_i m_ij`` (low when few edges feed
        j). A product node's factors are columns like sum nodes.
        """
        return KANNetwork.penalty([phi.abs().mean(0) for phi in acts.edges], l1, entropy)

    @staticmethod
    def penalty(magnitudes: Sequence[torch.Tensor], l1: float = 1.0, entropy: float = 1.0
                ) -> torch.Tensor:
        """:meth:`regularization` from the edge magnitudes ``mean |phi|`` (n_in, n_out) per
        layer (as :meth:`forward_magnitudes` gives them)."""
        total = magnitudes[0].new_zeros(())
        for mag in magnitudes:
            total = total + l1 * mag.sum()
            p = mag / (mag.sum(0, keepdim=True) + 1e-8)
            total = total + entropy * -(p * torch.log(p + 1e-8)).sum()
        return total

    # ------------------------------------------------------------------ grids
    @torch.no_grad()
    def update_grid(self, x: torch.Tensor) -> None:
        """Re-place every layer's knots from the data x (batch, width[0]), layer by layer."""
        x0 = x
        for level, layer in enumerate(self.layers, start=1):
            layer.update_grid(x)
            x = self.apply_node_locks(level, layer(x), x0)

    @torch.no_grad()
    def refine(self, grid_size: int, x: torch.Tensor | None = None) -> None:
        """Grid extension in place; ``x`` (batch, width[0]) places the knots, when given."""
        if grid_size < 1:
            raise ValueError(f"grid must be >= 1, got {grid_size}")
        xs = self.layer_inputs(x) if x is not None else [None] * len(self.layers)
        for layer, xi in zip(self.layers, xs, strict=True):
            layer.refine(grid_size, xi)

    @torch.no_grad()
    def record_ranges(self, x: torch.Tensor) -> None:
        """Remember the input range each node sees, for drawing curves."""
        for layer, xi in zip(self.layers, self.layer_inputs(x), strict=True):
            layer.input_range = torch.stack([xi.min(0).values, xi.max(0).values], dim=1)

    # ------------------------------------------------------------------ inspection
    @torch.no_grad()
    def edge_curves(self, n_points: int = 64) -> EdgeCurves:
        """Sample every edge on its own input node's observed range (float32 arrays)."""
        xs, ys, active, locked = [], [], [], []
        t = torch.linspace(0, 1, n_points, dtype=self.dtype, device=self.device)[:, None]
        for layer in self.layers:
            lo, hi = layer.input_range[:, 0], layer.input_range[:, 1]
            grid = lo + (hi - lo) * t  # (n_points, n_in)
            phi = layer.edge_activations(grid)  # (n_points, n_in, n_out)
            xs.append(grid.t().float().cpu().numpy())
            ys.append(phi.permute(1, 2, 0).float().cpu().numpy())
            active.append(layer.mask.bool().cpu().numpy())
            locked.append(dict(layer.symbolic_names))
        return EdgeCurves(xs, ys, active, locked)

    @torch.no_grad()
    def scores(self, x: torch.Tensor) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Attribution of edges and nodes to the output, computed from the outputs back.

        Each output node has importance 1. An edge's score is its share of its target
        column's activity (std of ``phi_ij`` over the batch, relative to all edges into
        column ``j``) times that column's score; a node's score is the sum of its outgoing
        edges' scores. Each of a product node's ``a`` factors (sub-nodes) carries ``1/a``
        of its score, so every level's scores still add up to the number of outputs.
        Returns (edge_scores per layer (n_in, n_out columns), node_scores per level of
        nodes ``[n0, ..., nL]``), as numpy arrays.
        """
        acts = self.forward_activations(x)
        node = torch.ones(self.width[-1], dtype=self.dtype, device=self.device)
        edge_scores: list[np.ndarray] = []
        node_scores: list[np.ndarray] = [node.cpu().numpy()]
        for layer, phi in zip(reversed(self.layers), reversed(acts.edges), strict=True):
            spread = phi.std(0) if phi.shape[0] > 1 else phi.abs()[0]  # (n_in, n_out)
            share = spread / (spread.sum(0, keepdim=True) + 1e-12)
            column = layer.column_scores(node)  # (n_out,)
            edge = share * column[None, :]
            node = edge.sum(1)
            edge_scores.insert(0, edge.cpu().numpy())
            node_scores.insert(0, node.cpu().numpy())
        return edge_scores, node_scores
