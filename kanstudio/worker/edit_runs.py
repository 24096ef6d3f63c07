"""Model edits that take a while — refine and auto-symbolic — run one step per worker turn.

Like Discover (:mod:`.discovery`), the session's step generator is advanced once per turn of
the worker's loop, so ``stop`` (cancel) is read between two steps, and each step sends an
``edit_progress`` event (``step`` of ``steps``, and what it did). The session applies such an
edit only when its generator ends, so a cancelled edit leaves the model exactly as it was,
without an undo step. The run ends with a ``result`` whose ``reason`` is ``"finished"``
(with what the edit did), ``"cancelled"`` or ``"error"`` (the model unchanged in both).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

from kanstudio.worker.protocol import error_event, event, finite, int_field

__all__ = ["EditRun", "HANDLERS", "tick", "finish"]

# (what a step yields) -> (steps done, steps, one line saying what the step did)
Describe = Callable[[Any], tuple[int, int, str]]


class EditRun:
    """One multi-step edit: the session's generator, advanced by :func:`tick`."""

    def __init__(self, command: str, steps: Generator[Any, None, Any], describe: Describe,
                 summarize: Callable[[Any], dict[str, Any]], reply_to: Any = None) -> None:
        self.command = command
        self.steps = steps
        self.describe = describe
        self.summarize = summarize
        self.reply_to = reply_to
        self.started = time.perf_counter()
        self.outcome: dict[str, Any] | None = None  # the result's fields, once finished

    def advance(self) -> dict[str, Any] | None:
        """Run one step: an ``edit_progress`` event, or None when the edit is applied."""
        try:
            value = next(self.steps)
        except StopIteration as stop:
            self.outcome = self.summarize(stop.value)
            return None
        done, total, message = self.describe(value)
        return event("edit_progress", command=self.command, step=int(done), steps=int(total),
                     message=message, reply_to=self.reply_to)

    def close(self) -> None:
        self.steps.close()  # an unfinished generator never reaches the session's commit


def start_refine(w: Any, c: dict[str, Any]) -> None:
    grid = int_field(c, "grid")
    w.edit = EditRun(
        "refine", w.session.refine_iter(grid),
        lambda v: (v[0], v[1], f"Refining the grid to {grid}: layer {v[0]} of {v[1]}"),
        lambda _none: {"grid": grid}, w.reply_to)


def start_auto_symbolic(w: Any, c: dict[str, Any]) -> None:
    steps = w.session.auto_symbolic_iter(c.get("r2_threshold"), bool(c.get("lock_all", False)))
    w.edit = EditRun("auto_symbolic", steps, _describe_symbolic, _summarize_symbolic,
                     w.reply_to)


def _describe_symbolic(value: Any) -> tuple[int, int, str]:
    done, total, r = value
    if r.locked:
        what = f"{r.name}" + (f" (R² {r.r2:.4f})" if finite(r.r2) is not None else "")
    else:
        what = "left numeric"
    return done, total, f"Auto-symbolic: edge {done} of {total} {tuple(r.edge)} → {what}"


def _summarize_symbolic(results: list[Any]) -> dict[str, Any]:
    return {"edges": [{"edge": list(r.edge), "locked": bool(r.locked), "name": r.name,
                       "r2": finite(r.r2)} for r in results]}


def tick(w: Any) -> None:
    """Advance the worker's edit run by one step; finish it when it is done."""
    run = w.edit
    try:
        e = run.advance()
    except Exception as exc:  # noqa: BLE001 - a failed edit ends the edit, not the worker
        w.emit(error_event(exc, run.command, run.reply_to))
        finish(w, "error")
        return
    if e is None:
        finish(w, "finished")
    else:
        w.emit(e)


def finish(w: Any, reason: str) -> bool:
    """End the worker's edit run (if any) with ``reason``; False when there was none."""
    run = w.edit
    if run is None:
        return False
    w.edit = None
    run.close()
    fields = run.outcome if reason == "finished" and run.outcome is not None else {}
    w.emit(event("result", command=run.command, reason=reason, reply_to=run.reply_to,
                 seconds=time.perf_counter() - run.started, **fields))
    if reason == "finished":
        w.after_model_change()
    else:
        w.emit_state()
    return True


HANDLERS: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "refine": start_refine, "auto_symbolic": start_auto_symbolic,
}
