"""Snapshots of the model for drawing: every edge's sampled curve plus importance scores.

A snapshot event holds, per layer ``l`` of a network of width ``[n0, ..., nL]``:

- ``x[l]``: (n_l, P) float32, where each input node's curves are sampled;
- ``y[l]``: (n_l, n_{l+1}, P) float32, the edge values there (0 for pruned edges);
- ``active[l]``: (n_l, n_{l+1}) bool; ``locked[l]``: list of ``(i, j, function name)``
  (a locked expression as its formula in ``x``);
- ``edge_scores[l]``: (n_l, n_{l+1}) float32 attribution to the output;

and ``node_scores``: one (n_l,) float32 array per level ``l = 0..L``. ``input_names`` label
the network's input nodes (a pruned network may use fewer columns than the dataset).

:class:`SnapshotThrottle` keeps the stream at most ~30 a second and recomputes scores
only every :data:`SCORE_INTERVAL_S`, so drawing costs training little.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from kanstudio.worker.protocol import (
    CURVE_POINTS,
    SCORE_INTERVAL_S,
    SNAPSHOT_INTERVAL_S,
    Snapshot,
)

__all__ = ["SnapshotThrottle", "build_snapshot", "model_summary"]


def model_summary(session: Any) -> dict[str, Any] | None:
    """Architecture and node names of the session's model (fitted or not), or None."""
    model = getattr(session, "model", None) if session is not None else None
    if model is None:
        return None
    d = session.dataset
    fitted = bool(model.is_fitted)
    if fitted:
        net = model.network_
        width, notation, arity = list(net.width), net.width_notation, net.mult_arity
        inputs = [d.input_names[i] for i in model.input_ids_]
    else:
        from kanstudio.core.width import parse_width

        arch = parse_width(model.width if model.width is not None
                           else session.default_width(), model.mult_arity)
        width, notation, arity = arch.nodes, arch.notation(), arch.arity_lists()
        inputs = list(d.input_names)
    # "width": nodes per level (sums + products), what a drawing lays out; "notation" the
    # KAN 2.0 form; "mult_arity" each level's product-node arities (their factor columns
    # follow the sum nodes' in the edge arrays, see kanstudio.core.width).
    return {"width": [int(w) for w in width], "notation": notation,
            "mult_arity": [[int(a) for a in level] for level in arity],
            "grid": int(model.grid), "k": int(model.k),
            "fitted": fitted, "input_names": inputs, "target_names": list(d.target_names)}


def build_snapshot(session: Any, step: int, scores: tuple[list, list] | None = None,
                   n_points: int = CURVE_POINTS) -> Snapshot:
    """A snapshot event of the session's fitted model; ``scores`` reused when given."""
    model = session.model
    curves = model.edge_curves(n_points)
    if scores is None:
        scores = model.scores()
    edge_scores, node_scores = scores
    summary = model_summary(session)
    assert summary is not None
    return Snapshot(
        step=int(step),
        width=summary["width"],
        notation=summary["notation"],
        mult_arity=summary["mult_arity"],
        input_names=summary["input_names"],
        target_names=summary["target_names"],
        x=[np.ascontiguousarray(a, dtype=np.float32) for a in curves.x],
        y=[np.ascontiguousarray(a, dtype=np.float32) for a in curves.y],
        active=[np.asarray(a, dtype=bool) for a in curves.active],
        locked=[[(int(i), int(j), _shown(name)) for (i, j), name in sorted(layer.items())]
                for layer in curves.locked],
        edge_scores=[np.asarray(a, dtype=np.float32) for a in edge_scores],
        node_scores=[np.asarray(a, dtype=np.float32) for a in node_scores],
    )


def _shown(name: str) -> str:
    """A lock's name as drawn: a library name, or a searched expression in ``x``."""
    from kanstudio.symbolic.expression_lock import lock_label

    return lock_label(str(name))


class SnapshotThrottle:
    """Decides when a snapshot is due and caches the (slower to compute) scores."""

    def __init__(self, interval_s: float = SNAPSHOT_INTERVAL_S,
                 score_interval_s: float = SCORE_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.score_interval_s = score_interval_s
        self._next_due = -np.inf
        self._scores: tuple[list, list] | None = None
        self._scores_at = -np.inf

    def reset(self) -> None:
        """Forget cached scores (the model was replaced)."""
        self._scores = None
        self._scores_at = -np.inf

    def due(self, now: float | None = None) -> bool:
        now = time.perf_counter() if now is None else now
        return now >= self._next_due

    def take(self, session: Any, step: int, fresh: bool = False,
             now: float | None = None) -> Snapshot:
        """Build a snapshot now; ``fresh`` forces new scores (end of a run, after an edit)."""
        now = time.perf_counter() if now is None else now
        if fresh or self._scores is None or now - self._scores_at >= self.score_interval_s:
            self._scores = session.model.scores()
            self._scores_at = now
        snap = build_snapshot(session, step, self._scores)
        # A schedule, not a gap since the last one: with steps of ~33 ms a gap rule would
        # send every other step (15/s); the schedule keeps the average at the full rate,
        # catching up at most one interval after a slow step.
        self._next_due = max(self._next_due + self.interval_s, now - self.interval_s)
        return snap
