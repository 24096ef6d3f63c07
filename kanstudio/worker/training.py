"""One training run as the worker drives it: the session's step generator plus pause state.

The worker's loop calls :meth:`TrainingRun.advance` once per turn, between reading
commands, so ``pause``/``stop`` act before the next step starts.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

from kanstudio.worker.protocol import event

__all__ = ["TrainingRun", "TRAIN_FIELDS", "loss_history"]

# Fields of a train/step command handed to Session.train_iter as overrides.
TRAIN_FIELDS = ("opt", "lr", "lamb", "batch_size")
_RATE_WINDOW = 30  # steps over which steps/s is measured


class TrainingRun:
    """A run of ``steps`` steps on ``session``; stays open while paused."""

    def __init__(self, session: Any, command: dict[str, Any], paused: bool = False) -> None:
        self.session = session
        steps = command.get("steps")
        self.steps = int(steps if steps is not None else session.settings.steps)
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        overrides = {k: command[k] for k in TRAIN_FIELDS if command.get(k) is not None}
        self._steps_iter = session.train_iter(self.steps, **overrides)
        self.paused = paused
        self.pending_steps = 0  # single steps asked for while paused
        self.run_step = 0
        self.started = time.perf_counter()
        self._times: deque[float] = deque(maxlen=_RATE_WINDOW)
        self._loss_factor = _loss_factor(session)

    @property
    def wants_step(self) -> bool:
        return not self.paused or self.pending_steps > 0

    def steps_per_s(self) -> float:
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return math.nan
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])

    def advance(self) -> dict[str, Any] | None:
        """Run one step; a progress event, or None when the run has finished."""
        if self.pending_steps > 0:
            self.pending_steps -= 1
        if self.paused and not self._times:
            self._times.append(time.perf_counter())  # rate of single steps: from now
        try:
            record = next(self._steps_iter)
        except StopIteration:
            return None
        self.run_step = record.step
        self._times.append(time.perf_counter())
        f = self._loss_factor
        model = self.session.model
        return event(
            "progress",
            step=len(getattr(model, "history_", ())) or record.step,
            run_step=record.step,
            steps=self.steps,
            train_loss=float(record.train_loss) * f[0],
            test_loss=float(record.test_loss) * f[0],
            reg=float(record.reg),
            steps_per_s=self.steps_per_s(),
            loss_units=f[1],
            note=record.event,
        )

    def pause_rate_window(self) -> None:
        """Forget step times so time spent paused does not count against steps/s."""
        self._times.clear()

    @property
    def finished(self) -> bool:
        return self.run_step >= self.steps

    def close(self) -> None:
        """Stop the run; the partly trained model stays (the session records the steps)."""
        self._steps_iter.close()


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
