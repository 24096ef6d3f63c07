"""Making a network smaller: cut edges and nodes, fold what they carried into biases.

A pruned network is rebuilt with fewer nodes (not masked forever). An edge that is cut is
replaced by its mean value over the reference data, added to its target node's bias, so a
near-constant edge can go without shifting the output.

Product nodes: an edge into one factor (sub-node) folds into that factor's bias, so a product
whose factor loses its edges becomes the other factors times the factor's mean, not zero.
Removing a product node removes all of its factor columns; its outgoing edges fold like a
sum node's.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from kanstudio.core.network import KANNetwork
from kanstudio.defaults import EDGE_THRESHOLD, NODE_THRESHOLD

__all__ = ["PruneReport", "prune", "prune_edge", "prune_node", "prune_with_report",
           "subnetwork"]


@dataclass(frozen=True)
class PruneReport:
    """What a prune removed, in the addresses of the network before it (design.md §4.2):
    ``edges`` every active edge that goes ``(layer, i, j)`` (cut, or at a removed node),
    ``nodes`` every removed node ``(level, i)``."""

    edges: list[tuple[int, int, int]] = field(default_factory=list)
    nodes: list[tuple[int, int]] = field(default_factory=list)


@torch.no_grad()
def _cut_edges(net: KANNetwork, layer_index: int, cut: torch.Tensor, x: torch.Tensor | None):
    """Mask the edges where ``cut`` (n_in, n_out) is true, folding their means into biases."""
    layer = net.layers[layer_index]
    cut = cut & layer.mask.bool()
    if not cut.any():
        return
    if x is not None:
        xi = net.layer_inputs(x)[layer_index]
        mean_phi = layer.edge_activations(xi).mean(0)  # (n_in, n_out)
        layer.bias += (mean_phi * cut.to(mean_phi.dtype)).sum(0)
    layer.mask[cut] = 0.0
    for i, j in cut.nonzero().tolist():
        if (i, j) in layer.symbolic_names:
            layer.unlock_edge(i, j)


def prune_edge(net: KANNetwork, layer: int, i: int, j: int, x: torch.Tensor | None = None):
    """A copy of ``net`` without edge ``(layer, i, j)``; x (batch, width[0]) for folding."""
    if not 0 <= layer < len(net.layers):
        raise IndexError(f"layer {layer} does not exist in width {net.width}")
    out = copy.deepcopy(net)
    lay = out.layers[layer]
    lay.check_edge(i, j)
    cut = torch.zeros(lay.n_in, lay.n_out, dtype=torch.bool, device=lay.mask.device)
    cut[i, j] = True
    _cut_edges(out, layer, cut, x)
    return out


def prune_node(net: KANNetwork, level: int, i: int, x: torch.Tensor | None = None):
    """A copy of ``net`` without node ``i`` of level ``level`` (0 = inputs; not outputs)."""
    if not 0 <= level < len(net.width) - 1:
        raise IndexError(f"level {level} has no prunable nodes (outputs cannot be pruned)")
    if not 0 <= i < net.width[level]:
        raise IndexError(f"node {i} does not exist in level {level} of width {net.width}")
    if net.width[level] == 1:
        raise ValueError(f"node ({level}, {i}) is the last one in its level")
    keep = [list(range(w)) for w in net.width]
    keep[level].remove(i)
    return subnetwork(net, keep, x)


def prune(
    net: KANNetwork,
    x: torch.Tensor,
    node_threshold: float = NODE_THRESHOLD,
    edge_threshold: float = EDGE_THRESHOLD,
) -> KANNetwork:
    """A smaller copy of ``net`` without the parts that hardly matter (see
    :func:`prune_with_report`)."""
    return prune_with_report(net, x, node_threshold, edge_threshold)[0]


@torch.no_grad()
def prune_with_report(
    net: KANNetwork,
    x: torch.Tensor,
    node_threshold: float = NODE_THRESHOLD,
    edge_threshold: float = EDGE_THRESHOLD,
) -> tuple[KANNetwork, PruneReport]:
    """A smaller copy of ``net`` without the parts that hardly matter, and what went.

    An edge goes when it carries less than ``edge_threshold`` of its target node's
    activity; a node goes when its attribution to the outputs (the outputs have 1) is
    under ``node_threshold`` or when no active edge enters or leaves it.

    x: (batch, width[0]) reference inputs (already selected) used for scores and folding.
    Output nodes always stay; each level keeps at least its most important node.
    """
    out = copy.deepcopy(net)
    edge_scores, node_scores = out.scores(x)
    for l_idx, score in enumerate(edge_scores):
        # An edge's share of its target column's activity (edge scores into column j sum
        # to column j's score: its node's, or a product node's share for one factor).
        column = out.layers[l_idx].column_scores(torch.as_tensor(node_scores[l_idx + 1]))
        share = score / (column.numpy()[None, :] + 1e-12)
        cut = torch.as_tensor(share < edge_threshold, device=out.device)
        _cut_edges(out, l_idx, cut, x)
    edge_scores, node_scores = out.scores(x)
    keep = []
    n_levels = len(out.width)
    for level in range(n_levels):
        if level == n_levels - 1:
            keep.append(list(range(out.width[level])))
            continue
        outgoing = out.layers[level].mask.sum(1).cpu()  # active edges leaving each node
        incoming = (
            _edges_into_nodes(out.layers[level - 1]) if level > 0 else torch.ones_like(outgoing)
        )
        alive = [
            i for i in range(out.width[level])
            if node_scores[level][i] >= node_threshold and outgoing[i] > 0
            and (incoming[i] > 0 or (level, i) in out.node_locks)  # a lock needs no edges
        ]
        if not alive:
            alive = [int(node_scores[level].argmax())]
        keep.append(alive)
    keep[0] = _with_lock_inputs(out, keep)
    return subnetwork(out, keep, x), _report(net, out, keep)


def _with_lock_inputs(net: KANNetwork, keep: list[list[int]]) -> list[int]:
    """The kept input nodes plus those a kept locked node's expression reads: its
    expression needs them even when the edges from them hardly matter."""
    used = {c for (level, node), lock in net.node_locks.items()
            if node in keep[level] for c in lock.inputs}
    return sorted(set(keep[0]) | {net.input_ids.index(c) for c in used})


def _report(before: KANNetwork, cut: KANNetwork, keep: list[list[int]]) -> PruneReport:
    """The edges and nodes of ``before`` that are gone once ``cut`` (its copy with edges
    masked) keeps only the nodes ``keep``."""
    nodes = [(level, i) for level, kept in enumerate(keep)
             for i in range(before.width[level]) if i not in kept]
    edges = []
    for idx, (old, new) in enumerate(zip(before.layers, cut.layers, strict=True)):
        kept_cols = {c for j in keep[idx + 1] for c in old.node_columns(j)}
        was = old.mask.bool().cpu()
        stays = new.mask.bool().cpu()
        for i, j in was.nonzero().tolist():
            if not stays[i, j] or i not in keep[idx] or j not in kept_cols:
                edges.append((idx, int(i), int(j)))
    return PruneReport(edges=edges, nodes=nodes)


def _edges_into_nodes(layer) -> torch.Tensor:
    """Active edges entering each output node of ``layer`` (all factors of a product):
    (n_nodes,) on the CPU."""
    per_column = layer.mask.sum(0).cpu()  # (n_out,)
    if not layer.mult_arity:
        return per_column
    nodes = torch.tensor(layer.column_nodes(), dtype=torch.long)
    return torch.zeros(layer.n_nodes, dtype=per_column.dtype).index_add(0, nodes, per_column)


@torch.no_grad()
def subnetwork(
    net: KANNetwork, keep: Sequence[Sequence[int]], x: torch.Tensor | None = None
) -> KANNetwork:
    """A new network with only the nodes ``keep[level]`` of each level.

    Contributions of dropped nodes to the next level are folded into its biases (their
    mean over ``x``, when given). A kept product node keeps all of its factor columns.
    """
    keep = [sorted(int(i) for i in k) for k in keep]
    if len(keep) != len(net.width) or any(not k for k in keep):
        raise ValueError("keep must list at least one node per level")
    if keep[-1] != list(range(net.width[-1])):
        raise ValueError("output nodes cannot be removed")
    means = None
    if x is not None:
        acts = net.forward_activations(x)
        means = [phi.mean(0) for phi in acts.edges]  # (n_in, n_out) per layer
    arch = net.architecture
    notation: list[int | list[int]] = []
    arities: list[list[int]] = []
    for level, kept in enumerate(keep):
        n_sum = arch.sums[level]
        sums = sum(1 for i in kept if i < n_sum)
        arities.append([arch.arities[level][i - n_sum] for i in kept if i >= n_sum])
        notation.append([sums, len(arities[-1])] if arities[-1] else sums)
    new = KANNetwork(
        notation,
        grid_size=net.grid_size,
        k=net.k,
        dtype=net.dtype,
        input_ids=[net.input_ids[i] for i in keep[0]],
        n_features_in=net.n_features_in,
        mult_arity=arities,
    ).to(net.device)
    for idx, (old, lay) in enumerate(zip(net.layers, new.layers, strict=True)):
        rows = torch.tensor(keep[idx], dtype=torch.long, device=net.device)
        col_list = [c for j in keep[idx + 1] for c in old.node_columns(j)]
        cols = torch.tensor(col_list, dtype=torch.long, device=net.device)
        lay.knots = old.knots[rows].clone()
        lay.grid_size = old.grid_size
        lay.coef = torch.nn.Parameter(old.coef[rows][:, :, cols].clone())
        lay.scale_base.data = old.scale_base[rows][:, cols].clone()
        lay.scale_spline.data = old.scale_spline[rows][:, cols].clone()
        lay.mask = old.mask[rows][:, cols].clone()
        lay.symbolic_mask = old.symbolic_mask[rows][:, cols].clone()
        lay.symbolic_params.data = old.symbolic_params[rows][:, cols].clone()
        lay.input_range = old.input_range[rows].clone()
        bias = old.bias[cols].clone()
        if means is not None:
            dropped = torch.ones(old.n_in, dtype=torch.bool, device=net.device)
            dropped[rows] = False
            live = means[idx] * old.mask  # masked edges already folded
            bias += live[dropped][:, cols].sum(0)
        lay.bias.data = bias
        row_pos = {r: p for p, r in enumerate(keep[idx])}
        col_pos = {c: p for p, c in enumerate(col_list)}
        for (i, j), name in old.symbolic_names.items():
            if i in row_pos and j in col_pos:
                lay.symbolic_names[(row_pos[i], col_pos[j])] = name
                lay.register_function(name, old.symbolic_function(name))
    _carry_node_locks(net, new, keep)
    return new


def _carry_node_locks(old: KANNetwork, new: KANNetwork, keep: list[list[int]]) -> None:
    """The locked nodes that stay, at their new places; refuses to drop an input one of
    them reads (its expression could no longer be computed)."""
    for (level, node), lock in old.node_locks.items():
        if node not in keep[level]:
            continue
        gone = [c for c in lock.inputs if c not in new.input_ids]
        if gone:
            raise ValueError(f"input column(s) {gone} feed the expression locked on node "
                             f"({level}, {node}): unlock that node first")
        new.lock_node(level, keep[level].index(node), lock.name, lock.inputs, lock.fn)
