"""Node expression locks of :class:`kanstudio.KAN`: search an expression for a node's value,
lock the node to it, unlock it.

A node ``(level, node)`` (level 0 = the inputs, as in ``prune_node``) computes a value of
the network inputs it depends on. :meth:`NodeLockMixin.search_node` samples that value
from the network over the inputs' range on the reference rows (a margin wider) and hands
it to the symbolic search engine; :meth:`NodeLockMixin.lock_node_expression` makes the
network compute the node from an expression of those inputs from then on. The edges
feeding a locked node no longer matter (they stay, so an unlock gives the node back its
sum of edges). The mixin uses only ``network_``, ``reference_x_`` and ``n_features_in_``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from kanstudio.core import MAX_NODE_LOCK_INPUTS
from kanstudio.model.symbolic_verbs import SEARCH_MARGIN, SEARCH_POINTS

__all__ = ["NodeLockMixin", "node_input_name"]


def node_input_name(column: int) -> str:
    """The name a node search gives original input column ``column`` (the model's
    default formula names: ``x1``, ``x2``, ...)."""
    return f"x{column + 1}"


class NodeLockMixin:
    # ------------------------------------------------------------------ node data
    def node_inputs(self, level: int, node: int) -> list[int]:
        """The original input columns node ``(level, node)`` depends on (through active
        edges, or its locked expression), sorted."""
        return self._check_fitted().node_dependencies(level, node)

    def check_node_search(self, level: int, node: int,
                          names: list[str] | None = None) -> list[int]:
        """The input columns a search of node ``(level, node)`` would use; ValueError
        (naming the inputs by ``names``, one per original column) when the node cannot be
        searched: an input node, no input, or more than ``MAX_NODE_LOCK_INPUTS``."""
        return self._search_inputs(level, node, names)

    def _search_inputs(self, level: int, node: int, names: list[str] | None = None
                       ) -> list[int]:
        net = self._check_fitted()
        net.check_node(level, node)
        if level == 0:
            raise ValueError("an input node is its data column: search a hidden or output "
                             "node")
        inputs = net.node_dependencies(level, node)
        if not inputs:
            raise ValueError(f"node ({level}, {node}) depends on no input: no active edge "
                             "reaches it")
        if len(inputs) > MAX_NODE_LOCK_INPUTS:
            shown = ", ".join(node_input_name(c) if names is None else str(names[c])
                              for c in inputs)
            raise ValueError(
                f"node ({level}, {node}) depends on {len(inputs)} inputs ({shown}); an "
                f"expression search takes at most {MAX_NODE_LOCK_INPUTS}: prune the network "
                "first, or search the whole dataset (Discover)")
        return inputs

    def node_values(self, level: int, node: int, x: np.ndarray) -> np.ndarray:
        """What node ``(level, node)`` computes now for the original-column inputs
        ``x`` (n, n_features_in): (n,) float64."""
        net = self._check_fitted()
        net.check_node(level, node)
        with torch.no_grad():
            xs = net.select_inputs(self._tensor(np.asarray(x, dtype=np.float64)))
            levels = [*net.layer_inputs(xs), net(xs)]  # every level's node values
            return levels[level][:, node].double().cpu().numpy()

    def node_samples(self, level: int, node: int, margin: float = SEARCH_MARGIN,
                     n_points: int = SEARCH_POINTS) -> tuple[list[int], np.ndarray,
                                                               np.ndarray]:
        """(inputs, x, y): the input columns node ``(level, node)`` depends on (1 to
        ``MAX_NODE_LOCK_INPUTS``), points x (n, len(inputs)) over their range on the
        reference rows widened by ``margin`` of it on each side, and the node's value
        there (n,). One input: ``n_points`` even points; more: ``n_points`` per input,
        drawn uniformly (seeded by the model's seed). Other inputs sit at their mean
        (the node does not depend on them). ValueError when the value is not finite."""
        inputs = self._search_inputs(level, node)
        full, points = self._box_points(inputs, margin, n_points)
        y = self.node_values(level, node, full)
        if not np.all(np.isfinite(y)):
            raise ValueError(f"node ({level}, {node}) is not finite on its input range")
        return inputs, points, y

    def _box_points(self, inputs: list[int], margin: float, n_points: int
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows (n, n_features_in), points (n, len(inputs))): see :meth:`node_samples`."""
        ref = self.reference_x_
        lo, hi = ref[:, inputs].min(0), ref[:, inputs].max(0)
        span = np.where(hi > lo, hi - lo, np.maximum(np.abs(lo), 1.0))
        lo, hi = lo - margin * span, hi + margin * span
        if len(inputs) == 1:
            points = np.linspace(lo[0], hi[0], int(n_points))[:, None]
        else:
            rng = np.random.default_rng(self.seed)
            points = rng.uniform(lo, hi, size=(int(n_points) * len(inputs), len(inputs)))
        full = np.tile(ref.mean(0), (points.shape[0], 1))
        full[:, inputs] = points
        return full, points

    # ------------------------------------------------------------------ search, lock
    def search_node(self, level: int, node: int, budget: Any = "small", seed: int = 0,
                    threads: int = 1, margin: float = SEARCH_MARGIN,
                    progress: Any = None) -> list:
        """Search expressions for node ``(level, node)``'s value as a function of the 1
        to 3 network inputs it depends on (ValueError for more, saying so): the engine's
        front of ``SearchResult`` s over those inputs (named ``x1``, ``x2``, ... by
        column), simplest first, from :meth:`node_samples`. The search engine is optional:
        ``EngineUnavailableError`` when it cannot run here. Changes nothing."""
        from kanstudio.symbolic.search import search

        inputs, x, y = self.node_samples(level, node, margin)
        return search(x, y, budget=budget, seed=seed, threads=threads,
                      names=[node_input_name(c) for c in inputs], progress=progress)

    def lock_node_expression(self, level: int, node: int, expression: Any,
                             inputs: list[int] | None = None) -> float:
        """From now on node ``(level, node)`` is ``expression`` of network inputs: the
        edges feeding it no longer matter (they stay, for :meth:`unlock_node`).

        ``expression``: a :meth:`search_node` result (its variables name the inputs), a
        node lock name (``expr:<tree>``), a tree over ``["var", k]`` or a formula as text
        over ``x1, x2, ...`` (read by our own parser, never evaluated). ``inputs``: the
        original input columns the tree's variables stand for (default: those the node
        depends on). Returns the expression's R² against what the node computed before,
        on :meth:`node_samples` (the locked value is the expression's: nothing is
        fitted)."""
        from kanstudio.symbolic.expression_lock import (
            expression_name,
            expression_tree,
            is_expression_name,
            node_lock_function,
        )
        from kanstudio.symbolic.search import parse_tree

        net = self._check_fitted()
        names = getattr(expression, "names", None)
        if inputs is None and names is not None:
            inputs = [self._column_of(n) for n in names]
        if inputs is None:
            inputs = self._search_inputs(level, node)
        inputs = [int(c) for c in inputs]
        if is_expression_name(expression):
            tree = expression_tree(expression, len(inputs))
        else:
            tree = getattr(expression, "tree", expression)
            if isinstance(tree, str):
                tree = parse_tree(tree, [node_input_name(c) for c in inputs])
        name = expression_name(tree, len(inputs))
        fn = node_lock_function(name, len(inputs))
        if level == 0:
            raise ValueError("an input node is its data column: only hidden and output "
                             "nodes can be locked to an expression")
        net.check_node(level, node)
        full, _ = self._box_points(inputs, SEARCH_MARGIN, SEARCH_POINTS)
        before = self.node_values(level, node, full)
        net.lock_node(level, node, name, inputs, fn)
        return _r2(before, self.node_values(level, node, full))

    def _column_of(self, name: str) -> int:
        for c in range(self.n_features_in_):
            if node_input_name(c) == name:
                return c
        raise ValueError(f"{name!r} is not an input of this model (x1 to "
                         f"x{self.n_features_in_})")

    def unlock_node(self, level: int, node: int) -> None:
        """Node ``(level, node)`` computes the sum of its edges again."""
        self._check_fitted().unlock_node(level, node)

    def locked_nodes(self) -> dict[tuple[int, int], tuple[str, list[int]]]:
        """{(level, node): (lock name, input columns)} for every locked node."""
        net = self._check_fitted()
        return {key: (lock.name, list(lock.inputs)) for key, lock in
                sorted(net.node_locks.items())}


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        var = float(np.var(y))
        mse = float(np.mean((y - pred) ** 2))
    if not np.isfinite(mse):
        return float("-inf")
    return 1.0 - mse / var if var > 0 else (1.0 if mse == 0 else float("-inf"))
