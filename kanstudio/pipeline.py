"""The one-click discovery pipeline: train sparse -> prune -> refine -> symbolic -> formula.

``discover(session)`` yields :class:`PipelineEvent` records (a stage starting, a training
step, a stage's summary) so the CLI can draw a progress bar and the GUI can show each stage
as it runs; closing the generator stops the pipeline between steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kanstudio.session import FormulaResult, Session

__all__ = ["PipelineEvent", "PipelineSettings", "discover", "STAGES"]

STAGES = ("train", "prune", "refine", "symbolic", "fine-tune", "formula")


@dataclass(frozen=True)
class PipelineEvent:
    stage: str
    stage_index: int  # 0-based position in STAGES
    kind: str  # "start" | "step" | "done"
    step: int = 0
    steps: int = 0
    train_loss: float = float("nan")
    test_loss: float = float("nan")
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineSettings:
    """Defaults tuned on the bundled sample datasets (see bench/discovery.py)."""

    sparse_steps: int = 60
    lamb: float = 1e-2
    prune_node_threshold: float = 1e-2
    prune_edge_threshold: float = 3e-2
    after_prune_steps: int = 30
    refine_grid: int = 10
    refine_steps: int = 40
    r2_threshold: float = 0.99
    fine_tune_steps: int = 40


def _train(session: Session, stage: str, steps: int, **opts: Any) -> Iterator[PipelineEvent]:
    idx = STAGES.index(stage)
    for r in session.train_iter(steps, **opts):
        yield PipelineEvent(stage, idx, "step", r.step, steps, r.train_loss, r.test_loss,
                            r.event)


def discover(
    session: Session, settings: PipelineSettings | None = None
) -> Iterator[PipelineEvent]:
    """Run the whole pipeline on ``session``; the last event carries the FormulaResult
    in ``info["formula"]``."""
    p = settings or PipelineSettings()
    if session.model is None:
        session.new_model()
    yield PipelineEvent("train", 0, "start", message="training with sparsity")
    yield from _train(session, "train", p.sparse_steps, lamb=p.lamb)

    yield PipelineEvent("prune", 1, "start", message="pruning")
    info = session.prune(p.prune_node_threshold, p.prune_edge_threshold)
    yield PipelineEvent("prune", 1, "done", message=f"width {info['width_after']}", info=info)
    yield from _train(session, "prune", p.after_prune_steps, lamb=0.0)

    yield PipelineEvent("refine", 2, "start", message=f"refining the grid to {p.refine_grid}")
    session.refine(p.refine_grid)
    yield from _train(session, "refine", p.refine_steps, lamb=0.0)

    yield PipelineEvent("symbolic", 3, "start", message="fitting symbolic functions")
    results = session.auto_symbolic(p.r2_threshold)
    numeric = [r for r in results if not r.locked]
    if numeric:  # a formula needs every edge: lock the rest to their best candidates
        session.auto_symbolic(lock_all=True)
    yield PipelineEvent("symbolic", 3, "done",
                        message=f"{len(results) - len(numeric)} of {len(results)} edges "
                                f"passed R² ≥ {p.r2_threshold}",
                        info={"results": results})

    yield PipelineEvent("fine-tune", 4, "start", message="fine-tuning symbolic parameters")
    yield from _train(session, "fine-tune", p.fine_tune_steps, lamb=0.0, update_grid=False)

    yield PipelineEvent("formula", 5, "start", message="composing the formula")
    result: FormulaResult = session.formula()
    yield PipelineEvent("formula", 5, "done", message=str(result.expressions[0]),
                        info={"formula": result})
