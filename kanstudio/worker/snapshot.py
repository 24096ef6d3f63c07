"""Snapshots of the model for drawing: every edge's sampled curve plus importance scores.

A snapshot event holds, per layer ``l`` of a network of width ``[n0, ..., nL]``:

- ``x[l]``: (n_l, P) float32, where each input node's curves are sampled;
- ``y[l]``: (n_l, n_{l+1}, P) float32, the edge values there (0 for pruned edges);
- ``active[l]``: (n_l, n_{l+1}) bool; ``locked[l]``: list of ``(i, j, function name)``
  (a locked expression as its formula in ``x``);
- ``locked_nodes`` (when any): ``(level, node, expression)`` of each node locked to an
  expression of the network inputs (in the data's names);
- ``edge_scores[l]``: (n_l, n_{l+1}) float32 attribution to the output;

and ``node_scores``: one (n_l,) float32 array per level ``l = 0..L``. ``input_names`` label
the network's input nodes (a pruned network may use fewer columns than the dataset).

:class:`SnapshotThrottle` keeps the stream at most ~30 a second and recomputes scores
only every :data:`SCORE_INTERVAL_S`, so drawing costs training little. It also names each
edge's best-fitting library function (``edge_fits``, :mod:`kanstudio.symbolic.live_fit`)
from the snapshot's own curves, at most every :data:`LABEL_INTERVAL_S` and never more
than :data:`LABEL_BUDGET` of the time: after a labelling that took ``c`` seconds the next
waits ``max(LABEL_INTERVAL_S, c / LABEL_BUDGET)``; snapshots in between carry the last
labels.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from kanstudio.worker.protocol import (
    CURVE_POINTS,
    LABEL_BUDGET,
    LABEL_INTERVAL_S,
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
        locked_nodes=[(int(level), int(node), session.node_lock_text(name, inputs))
                      for (level, node), (name, inputs) in model.locked_nodes().items()]
        or None,
    )


def _architecture(model: Any) -> tuple[str, str]:
    """What the shapes of a fitted model's scores depend on: its width and product nodes."""
    return str(getattr(model, "width_", None)), str(getattr(model, "mult_arity_", None))


def _shown(name: str) -> str:
    """A lock's name as drawn: a library name, or a searched expression in ``x``."""
    from kanstudio.symbolic.expression_lock import lock_label

    return lock_label(str(name))


class SnapshotThrottle:
    """Decides when a snapshot is due and caches the (slower to compute) scores and
    edge labels. ``labels_enabled``: whether snapshots carry ``edge_fits``."""

    def __init__(self, interval_s: float = SNAPSHOT_INTERVAL_S,
                 score_interval_s: float = SCORE_INTERVAL_S,
                 label_interval_s: float = LABEL_INTERVAL_S,
                 label_budget: float = LABEL_BUDGET) -> None:
        self.interval_s = interval_s
        self.score_interval_s = score_interval_s
        self.label_interval_s = label_interval_s
        self.label_budget = label_budget
        self.labels_enabled = True
        self.label_error: Exception | None = None  # a failed labelling, to report once
        self.label_seconds: list[float] = []  # what each labelling cost (the bench reads it)
        self._next_due = -np.inf
        self._scores: tuple[list, list] | None = None
        self._scores_at = -np.inf
        self._scores_of: Any = None  # the architecture the cached scores belong to
        self._fits: list | None = None
        self._fits_due = -np.inf
        self._labeller: Any = None
        self._labeller_key: tuple | None = None

    def reset(self) -> None:
        """Forget cached scores and labels (the model was replaced)."""
        self._scores = None
        self._scores_at = -np.inf
        self._scores_of = None
        self._fits = None
        self._fits_due = -np.inf

    def due(self, now: float | None = None) -> bool:
        now = time.perf_counter() if now is None else now
        return now >= self._next_due

    def take(self, session: Any, step: int, fresh: bool = False,
             now: float | None = None) -> Snapshot:
        """Build a snapshot now; ``fresh`` forces new scores and labels (end of a run,
        after an edit)."""
        now = time.perf_counter() if now is None else now
        # A run may build a network of another width between two snapshots (Discover's
        # next architecture, a prune): scores of the old one would not fit the new curves.
        arch = _architecture(session.model)
        if (fresh or self._scores is None or arch != self._scores_of
                or now - self._scores_at >= self.score_interval_s):
            self._scores = session.model.scores()
            self._scores_at, self._scores_of = now, arch
        snap = build_snapshot(session, step, self._scores)
        if self.labels_enabled:
            snap = self._with_fits(session, snap, fresh, now)
        # A schedule, not a gap since the last one: with steps of ~33 ms a gap rule would
        # send every other step (15/s); the schedule keeps the average at the full rate,
        # catching up at most one interval after a slow step.
        self._next_due = max(self._next_due + self.interval_s, now - self.interval_s)
        return snap

    def _with_fits(self, session: Any, snap: Snapshot, fresh: bool, now: float) -> Snapshot:
        """``snap`` with the edges' best fits: new ones when due, else the last ones."""
        if fresh or self._fits is None or now >= self._fits_due:
            from kanstudio.symbolic.live_fit import best_fits  # sympy: the worker's only

            try:
                # built once per function selection (the first also imports sympy, ~0.5 s):
                # not part of the cost that spaces the labellings
                labeller = self._labeller_for(session)
                started = time.perf_counter()
                self._fits = best_fits(labeller, snap.y, snap.active, snap.locked)
            except Exception as exc:  # noqa: BLE001 - labels must never stop drawing
                self.label_error, self.labels_enabled, self._fits = exc, False, None
                return snap
            cost = time.perf_counter() - started
            self.label_seconds.append(cost)
            self._fits_due = started + max(self.label_interval_s, cost / self.label_budget)
        return dataclasses.replace(snap, edge_fits=self._fits)

    def _labeller_for(self, session: Any) -> Any:
        """The labeller for the session's function selection (built once per selection)."""
        from kanstudio.symbolic.fitting import DEFAULT_SIMPLICITY_WEIGHT
        from kanstudio.symbolic.live_fit import EdgeLabeller

        settings = session.settings
        functions = getattr(settings, "functions", None)
        weight = float(getattr(settings, "simplicity_weight", DEFAULT_SIMPLICITY_WEIGHT))
        key = (tuple(functions) if functions is not None else None, weight, CURVE_POINTS)
        if key != self._labeller_key:
            self._labeller = EdgeLabeller(functions, CURVE_POINTS, weight)
            self._labeller_key = key
        return self._labeller
