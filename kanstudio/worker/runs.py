"""Work that takes many steps, run one step per turn of the worker's loop.

Training, Discover and the long edits (refine, auto-symbolic) are all a :class:`Run`: a
generator from the session advanced by :meth:`Run.advance`, once per turn of the worker's
loop, so commands (pause, stop) are read between two steps. Each subclass says what one
step's value looks like as an event (:meth:`Run.describe`), when to send snapshots
(:meth:`Run.after_step`), and what to send when the run ends (:meth:`Run.finish`).

How a run ends: ``"finished"`` (its generator ended), ``"error"`` (a step raised; the
worker sends the error first), or its :attr:`Run.stop_reason` when ``stop`` (or a command
that replaces the model) ends it: ``"stopped"`` for training and Discover (the work done
stays), ``"cancelled"`` for an edit (the session applies an edit only when its generator
ends, so a cancelled edit leaves the model exactly as it was, without an undo step).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from kanstudio.worker.protocol import (
    Done,
    EditProgress,
    Event,
    Pipeline,
    Progress,
    Result,
    Train,
    finite,
)

if TYPE_CHECKING:
    from kanstudio.worker.loop import Worker

__all__ = ["Run", "TrainingRun", "DiscoverRun", "EditRun", "loss_history"]

_RATE_WINDOW = 30  # steps over which steps/s is measured


class Run:
    """A generator-driven run: one step per :meth:`advance`, paused between steps."""

    stop_reason: ClassVar[str] = "stopped"
    pausable: ClassVar[bool] = False

    def __init__(self, command: str, steps: Iterator[Any], reply_to: Any = None) -> None:
        self.command = command  # the command that started it, named in its events
        self.steps_iter = steps
        self.reply_to = reply_to
        self.started = time.perf_counter()
        self.paused = False
        self.pending_steps = 0  # single steps asked for while paused
        self.finished = False
        self.outcome: Any = None  # the generator's return value, once finished

    @property
    def wants_step(self) -> bool:
        return not self.paused or self.pending_steps > 0

    def advance(self) -> Event | None:
        """Run one step: its event, or None when the generator has ended."""
        if self.pending_steps > 0:
            self.pending_steps -= 1
        try:
            value = next(self.steps_iter)
        except StopIteration as stop:
            self.finished = True
            self.outcome = stop.value
            return None
        return self.describe(value)

    def close(self) -> None:
        """Stop the generator (an unfinished edit never reaches the session's commit)."""
        close = getattr(self.steps_iter, "close", None)
        if close is not None:
            close()

    # hooks
    def describe(self, value: Any) -> Event:
        """The event one step's yielded value becomes."""
        raise NotImplementedError

    def after_step(self, worker: Worker) -> None:
        """After a step's event went out (and the run goes on): snapshots, state."""

    def finish(self, worker: Worker, reason: str) -> None:
        """The run has ended (it is no longer the worker's run): say so."""
        raise NotImplementedError


class TrainingRun(Run):
    """A run of ``steps`` training steps; stays open while paused."""

    pausable = True

    def __init__(self, session: Any, command: Train, paused: bool = False) -> None:
        steps = command.steps if command.steps is not None else session.settings.steps
        self.steps = int(steps)
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        super().__init__("train", session.train_iter(self.steps, **command.overrides()))
        self.session = session
        self.paused = paused
        self.run_step = 0
        self._times: deque[float] = deque(maxlen=_RATE_WINDOW)
        self._loss_factor = _loss_factor(session)

    def steps_per_s(self) -> float:
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return math.nan
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])

    def advance(self) -> Event | None:
        if self.paused and not self._times:
            self._times.append(time.perf_counter())  # rate of single steps: from now
        event = super().advance()
        if event is not None and self.run_step >= self.steps:
            self.finished = True
        return event

    def describe(self, record: Any) -> Progress:
        self.run_step = record.step
        self._times.append(time.perf_counter())
        factor, units = self._loss_factor
        return Progress(
            step=len(getattr(self.session.model, "history_", ())) or record.step,
            run_step=record.step, steps=self.steps,
            train_loss=float(record.train_loss) * factor,
            test_loss=float(record.test_loss) * factor,
            reg=float(record.reg), steps_per_s=self.steps_per_s(), loss_units=units,
            note=record.event)

    def pause_rate_window(self) -> None:
        """Forget step times so time spent paused does not count against steps/s."""
        self._times.clear()

    def after_step(self, worker: Worker) -> None:
        if self.paused and self.pending_steps == 0:
            worker.send_snapshot(fresh=True)  # a single step: show where it went
            worker.emit_state()
        elif worker.throttle.due():
            worker.send_snapshot()

    def finish(self, worker: Worker, reason: str) -> None:
        """Final snapshot, ``done`` (with the metrics) and ``state``; the partly trained
        model stays (the session records the steps)."""
        metrics = worker.current_metrics()
        if metrics is not None:
            worker.send_snapshot(fresh=True)
        worker.send(Done(reason=reason, steps_done=self.run_step, steps=self.steps,
                         seconds=time.perf_counter() - self.started, metrics=metrics or {}))
        worker.emit_state(metrics=metrics)


class DiscoverRun(Run):
    """The one-click pipeline (:func:`kanstudio.session.pipeline.discover`), one pipeline
    event per turn; snapshots follow its stages."""

    def __init__(self, session: Any, settings: dict[str, Any] | None,
                 reply_to: Any = None) -> None:
        from kanstudio.session.pipeline import STAGES, PipelineSettings, discover

        overrides = {k: v for k, v in (settings or {}).items()
                     if k in PipelineSettings.__dataclass_fields__}
        super().__init__("discover", discover(session, PipelineSettings(**overrides)),
                         reply_to)
        self.stages = list(STAGES)
        self.stage = ""
        self.changed_model = False  # a stage ended: worth a fresh snapshot
        self.replaced: dict[str, Any] | None = None  # what the pipeline says it replaced

    def describe(self, e: Any) -> Pipeline:
        self.changed_model = e.kind not in ("step", "progress") or e.stage != self.stage
        self.stage = e.stage
        if e.info.get("replaced") is not None:
            self.replaced = {k: finite(v) if isinstance(v, float) else v
                             for k, v in e.info["replaced"].items()}
        return Pipeline(stage=e.stage, stage_index=int(e.stage_index), stages=self.stages,
                        kind=e.kind, step=int(e.step), steps=int(e.steps),
                        train_loss=finite(e.train_loss), test_loss=finite(e.test_loss),
                        message=str(e.message))

    def after_step(self, worker: Worker) -> None:
        if self.changed_model or worker.throttle.due():
            worker.send_snapshot(fresh=self.changed_model)

    def finish(self, worker: Worker, reason: str) -> None:
        """The result says what was replaced and carries the model's own loss curve (not
        the steps of every trial Discover ran)."""
        worker.send_front()  # before the result: the panel lists it when the formula comes
        worker.send(Result(command="discover", reason=reason, fields={
            "stage": self.stage, "seconds": time.perf_counter() - self.started,
            "replaced": self.replaced, "losses": loss_history(worker.session)}))
        worker.after_model_change()


# (what a step yields) -> (steps done, steps, one line saying what the step did)
Describe = Callable[[Any], tuple[int, int, str]]


class EditRun(Run):
    """A refine or auto-symbolic: an ``edit_progress`` per layer or edge; the ``result``
    carries what the edit did (``summarize`` of the generator's return value)."""

    stop_reason = "cancelled"

    def __init__(self, command: str, steps: Generator[Any, None, Any], describe: Describe,
                 summarize: Callable[[Any], dict[str, Any]], reply_to: Any = None) -> None:
        super().__init__(command, steps, reply_to)
        self._describe = describe
        self._summarize = summarize

    def describe(self, value: Any) -> EditProgress:
        done, total, message = self._describe(value)
        return EditProgress(command=self.command, step=int(done), steps=int(total),
                            message=message, reply_to=self.reply_to)

    def finish(self, worker: Worker, reason: str) -> None:
        fields = self._summarize(self.outcome) if reason == "finished" else {}
        worker.send(Result(command=self.command, reason=reason, reply_to=self.reply_to,
                           fields={"seconds": time.perf_counter() - self.started, **fields}))
        if reason == "finished":
            worker.after_model_change()
        else:
            worker.emit_state()


def refine_run(session: Any, grid: int, reply_to: Any = None) -> EditRun:
    return EditRun(
        "refine", session.refine_iter(grid),
        lambda v: (v[0], v[1], f"Refining the grid to {grid}: layer {v[0]} of {v[1]}"),
        lambda _none: {"grid": grid}, reply_to)


def auto_symbolic_run(session: Any, r2_threshold: float | None, lock_all: bool,
                      reply_to: Any = None) -> EditRun:
    return EditRun("auto_symbolic", session.auto_symbolic_iter(r2_threshold, lock_all),
                   _describe_symbolic, _summarize_symbolic, reply_to)


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


def _loss_factor(session: Any) -> tuple[float, str]:
    """(factor, units): the step records' RMSE is in scaled units; report the CSV's units
    when there is one target (the target scaler is affine, so RMSE scales by its scale)."""
    if session.dataset.n_outputs != 1:
        return 1.0, "scaled"
    scale, _offset = session.y_scaler.affine_parameters()
    value = float(abs(scale[0]))
    if not math.isfinite(value) or value <= 0:
        return 1.0, "scaled"
    return value, "target"


def loss_history(session: Any) -> dict[str, Any]:
    """The current model's loss curve, as the ``progress`` events drew it: ``step`` (1..n,
    the model's step count), ``train_loss`` and ``test_loss`` (n,) float64 and ``loss_units``.
    Undo and redo send it, so the curve shows the history of the model they restored."""
    import numpy as np

    records = list(getattr(session.model, "history_", ()) or ())
    factor, units = _loss_factor(session)
    return {"step": np.arange(1, len(records) + 1, dtype=np.float64),
            "train_loss": np.array([r.train_loss for r in records], dtype=np.float64) * factor,
            "test_loss": np.array([r.test_loss for r in records], dtype=np.float64) * factor,
            "loss_units": units}
