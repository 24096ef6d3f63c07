"""The one-click pipeline (:func:`kanstudio.session.pipeline.discover`) run inside the worker loop.

The pipeline is a generator; the worker advances it one event per turn, so commands (stop)
are still read between its steps, and the view gets snapshots as each stage changes it.
"""

from __future__ import annotations

import time
from typing import Any

from kanstudio.worker.protocol import error_event, event, finite

__all__ = ["DiscoverRun", "tick", "finish"]


class DiscoverRun:
    def __init__(self, session: Any, c: dict[str, Any]) -> None:
        from kanstudio.session.pipeline import STAGES, PipelineSettings, discover

        overrides = {k: v for k, v in (c.get("settings") or {}).items()
                     if k in PipelineSettings.__dataclass_fields__}
        self.stages = list(STAGES)
        self.generator = discover(session, PipelineSettings(**overrides))
        self.started = time.perf_counter()
        self.finished = False
        self.stage = ""
        self.changed_model = False  # a stage ended: worth a fresh snapshot

    def advance(self) -> dict[str, Any] | None:
        """One pipeline event as a ``pipeline`` event dict; None when it has ended."""
        try:
            e = next(self.generator)
        except StopIteration:
            self.finished = True
            return None
        self.changed_model = e.kind != "step" or e.stage != self.stage
        self.stage = e.stage
        return event("pipeline", stage=e.stage, stage_index=int(e.stage_index),
                     stages=self.stages, kind=e.kind, step=int(e.step), steps=int(e.steps),
                     train_loss=finite(e.train_loss), test_loss=finite(e.test_loss),
                     message=str(e.message))

    def close(self) -> None:
        self.generator.close()


def tick(w: Any) -> None:
    """Advance the worker's pipeline by one event; snapshots follow the stages."""
    d = w.discovery
    try:
        e = d.advance()
    except Exception as exc:  # noqa: BLE001 - a failed stage ends the pipeline only
        w.emit(error_event(exc, "discover"))
        finish(w, "error")
        return
    if e is None:
        finish(w, "finished")
        return
    w.emit(e)
    if d.changed_model or w.throttle.due():
        w.send_snapshot(fresh=d.changed_model)


def finish(w: Any, reason: str) -> bool:
    """End the worker's pipeline (if any); False when none was running."""
    d = w.discovery
    if d is None:
        return False
    w.discovery = None
    d.close()
    w.emit(event("result", command="discover", reason=reason, stage=d.stage,
                 seconds=time.perf_counter() - d.started, reply_to=None))
    w.after_model_change()
    return True
