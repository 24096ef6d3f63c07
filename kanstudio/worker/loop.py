"""The worker: owns one :class:`~kanstudio.session.Session`, reads commands, sends events.

:func:`run_worker` is the whole worker: a loop that drains the command queue, handles each
command (:data:`kanstudio.worker.handlers.ROUTES` says how), then advances the current run
(:mod:`kanstudio.worker.runs`) by one step. It runs as the target of a
spawned process (the app) or of a thread (quick tests); it never imports Qt.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from typing import Any

from kanstudio import __version__
from kanstudio.worker import protocol as p
from kanstudio.worker.handlers import ROUTES
from kanstudio.worker.protocol import Bye, Event, error_event
from kanstudio.worker.runs import DiscoverRun, EditRun, Run, TrainingRun
from kanstudio.worker.snapshot import SnapshotThrottle, model_summary

__all__ = ["Worker", "run_worker"]

_IDLE_WAIT_S = 0.2  # how long an idle worker blocks on the command queue per turn
_BATCH_S = 1.0 / 60.0  # while training, events leave at most this often


class Worker:
    """Handles commands against a session; sends events (as wire dicts) through ``emit``.

    At most one :class:`~kanstudio.worker.runs.Run` (training, Discover, a long edit) is
    going at a time: :attr:`run`, advanced one step per :meth:`tick`.
    """

    def __init__(self, emit: Callable[[dict[str, Any]], None],
                 options: dict[str, Any] | None = None) -> None:
        self.emit = emit
        self.options = dict(options or {})
        self.session: Any = None
        self.settings: Any = None  # SessionSettings, kept across loads
        self.run: Run | None = None
        self.running = True
        self.throttle = SnapshotThrottle(**self.options.get("throttle", {}))
        self.reply_to: Any = None
        self._snapshot_failed = False

    # ------------------------------------------------------------------ start-up
    def start(self) -> None:
        """Import the engine (torch) and announce the devices; the slow part of start-up."""
        import torch

        from kanstudio.core.allocator import keep_freed_memory
        from kanstudio.core.device import available_devices
        from kanstudio.session import SessionSettings

        keep_freed_memory()  # the app's own process: reuse freed tensor memory between steps
        threads = self.options.get("torch_threads")
        if threads:
            torch.set_num_threads(int(threads))
        self.settings = SessionSettings()
        self.send(p.Ready(version=__version__, devices=available_devices(), pid=os.getpid(),
                          torch_threads=torch.get_num_threads()))

    def warm_up(self) -> None:
        """torch's optimisers import torch._dynamo on first use (seconds): pay that after
        ``ready`` is out, while the user is still choosing data, not at the first Train.
        The fused CPU spline kernels load (or, once per machine, compile) in the background
        for the same reason."""
        import torch

        from kanstudio.core.fused_magnitudes import warm_up  # the basis kernel too

        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
        warm_up()

    @property
    def busy(self) -> bool:
        return self.run is not None and self.run.wants_step

    def send(self, event: Event) -> None:
        self.emit(event.to_wire())

    # ------------------------------------------------------------------ commands
    def handle(self, raw: Any) -> None:
        """Check a wire command (:func:`protocol.parse_command`) and route it (``ROUTES``);
        every failure becomes an ``error`` event followed by the state."""
        name = raw.get("cmd") if isinstance(raw, dict) else None
        self.reply_to = raw.get("id") if isinstance(raw, dict) else None
        try:
            command = p.parse_command(raw)
            route = ROUTES[type(command)]
            if route.interrupts == "any" or (
                    route.interrupts == "edit" and isinstance(self.run, EditRun)):
                self.end_run()
            if route.needs_session:
                self.need_session()
            result = route.handler(self, command)
            if result is not None:
                self.send(p.Result(command=command.name, reply_to=self.reply_to,
                                   fields=result))
            if route.then == "model":
                self.after_model_change()
            elif route.then == "state":
                self.emit_state()
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error event
            self.send(error_event(exc, str(name), self.reply_to))
            self.emit_state()

    # ------------------------------------------------------------------ runs
    def start_run(self, run: Run) -> None:
        self.run = run
        self.throttle.reset()

    def tick(self) -> None:
        """Advance the current run by one step when it wants one; end it when it is done."""
        run = self.run
        if run is None or not run.wants_step:
            return
        try:
            event = run.advance()
        except Exception as exc:  # noqa: BLE001 - a failed step ends the run, not the worker
            self.send(error_event(exc, run.command, run.reply_to))
            self.end_run("error")
            return
        if event is not None:
            self.send(event)
        if event is None or run.finished:
            self.end_run("finished")
        else:
            run.after_step(self)

    def end_run(self, reason: str | None = None) -> bool:
        """End the current run (if any) with ``reason`` (default: its stop reason, as when
        ``stop`` ends it) and let it say so; False when none was going."""
        run = self.run
        if run is None:
            return False
        self.run = None
        try:
            run.close()
        except Exception as exc:  # noqa: BLE001
            self.send(error_event(exc, run.command, run.reply_to))
        run.finish(self, reason or run.stop_reason)
        return True

    # ------------------------------------------------------------------ outputs
    def send_snapshot(self, fresh: bool = False) -> None:
        session = self.session
        if session is None or session.model is None or not session.model.is_fitted:
            return
        step = len(getattr(session.model, "history_", ()))
        try:
            self.send(self.throttle.take(session, step, fresh=fresh))
            self._snapshot_failed = False
            if self.throttle.label_error is not None:  # labels are off now: say so once
                self.send(error_event(self.throttle.label_error, "live_labels"))
                self.throttle.label_error = None
        except Exception as exc:  # noqa: BLE001 - drawing must never stop training
            if not self._snapshot_failed:  # say it once, not thirty times a second
                self.send(error_event(exc, "snapshot"))
            self._snapshot_failed = True

    def emit_state(self, metrics: dict[str, Any] | None = None) -> None:
        """The engine's state; ``metrics``: the current network's scores, sent when the
        model has just changed (one source for the numbers the panels show)."""
        s, run = self.session, self.run
        model = None if s is None else s.model
        training = run if isinstance(run, TrainingRun) else None
        self.send(p.State(
            has_data=s is not None,
            has_model=model is not None,
            fitted=bool(model is not None and model.is_fitted),
            training=training is not None,
            discovering=isinstance(run, DiscoverRun),
            editing=run.command if isinstance(run, EditRun) else None,
            paused=bool(training is not None and training.paused),
            run_step=0 if training is None else training.run_step,
            run_steps=0 if training is None else training.steps,
            step=len(getattr(model, "history_", ())) if model is not None else 0,
            model=model_summary(s),
            can_undo=bool(s is not None and s.can_undo),
            can_redo=bool(s is not None and s.can_redo),
            settings=self.settings.to_dict() if self.settings is not None else {},
            metrics=metrics,
        ))

    def set_session(self, session: Any, source: str, path: str | None,
                    extra: dict[str, Any] | None = None) -> None:
        """Replace the session (a new CSV or project) and tell the GUI about it."""
        self.session = session
        self.settings = session.settings
        self.throttle.reset()
        d = session.dataset
        self.send(p.Loaded(
            source=source, path=path, input_names=list(d.input_names),
            target_names=list(d.target_names), n_samples=d.n_samples,
            n_train=len(session.train_idx), n_test=len(session.test_idx),
            n_dropped=int(d.n_dropped), warnings=[str(w) for w in d.warnings],
            default_width=session.default_width(), reply_to=self.reply_to,
            extra=dict(extra or {})))
        self.send_front()
        self.after_model_change()

    def send_front(self) -> None:
        """The session's Discover front (:class:`~kanstudio.worker.events.Front`; empty
        entries when it has none)."""
        front = None if self.session is None else self.session.front
        if front is None:
            self.send(p.Front(entries=[], reply_to=self.reply_to))
            return
        entries = [{**e.info(), "predicted": e.predicted, "usable": e.usable}
                   for e in front.entries]
        self.send(p.Front(entries=entries, actual=front.actual, reply_to=self.reply_to))

    def after_model_change(self) -> None:
        self.throttle.reset()
        self.send_snapshot(fresh=True)
        self.emit_state(metrics=self.current_metrics())

    def current_metrics(self) -> dict[str, Any] | None:
        """The session's model's scores (original units; non-finite ones None), or None
        when there is no trained model (or it cannot predict)."""
        model = None if self.session is None else self.session.model
        if model is None or not model.is_fitted:
            return None
        try:
            return {k: p.finite(v) for k, v in self.session.metrics().items()}
        except Exception:  # noqa: BLE001 - a model that cannot predict has no scores
            return None

    def need_session(self) -> Any:
        if self.session is None:
            raise ValueError("No data loaded yet: open a CSV file first.")
        return self.session


def _drain(commands: Any, block_s: float) -> list[dict[str, Any]]:
    """Every command waiting now; blocks up to ``block_s`` for the first one."""
    out = []
    try:
        out.append(commands.get(timeout=block_s) if block_s > 0 else commands.get_nowait())
        while True:
            out.append(commands.get_nowait())
    except queue.Empty:
        pass
    return out


class _Outbox:
    """Events leave in batches (one queue message per batch, ~60 a second at most): a
    message per step would wake the queue's feeder thread, and contend with training,
    a hundred times a second. Replies to commands leave at once."""

    def __init__(self, events: Any) -> None:
        self.events = events
        self.batch: list[dict[str, Any]] = []
        self.sent_at = time.perf_counter()

    def put(self, e: dict[str, Any]) -> None:
        self.batch.append(e)

    def flush(self, if_older_than: float = 0.0) -> None:
        now = time.perf_counter()
        if self.batch and now - self.sent_at >= if_older_than:
            self.events.put(self.batch)
            self.batch = []
            self.sent_at = now


def run_worker(commands: Any, events: Any, options: dict[str, Any] | None = None) -> None:
    """The worker's main loop; returns after ``shutdown`` (or when its parent is gone).

    ``events`` receives lists of event dicts (see :class:`_Outbox`).
    """
    options = dict(options or {})
    if options.get("ignore_sigint"):
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C belongs to the app
    outbox = _Outbox(events)
    worker = Worker(outbox.put, options)
    try:
        worker.start()
    except Exception as exc:  # noqa: BLE001 - e.g. torch missing or broken
        events.put([error_event(exc, "start").to_wire(), Bye().to_wire()])
        return
    outbox.flush()
    worker.warm_up()
    parent = _parent_process() if options.get("watch_parent") else None
    while worker.running:
        commands_now = _drain(commands, 0.0 if worker.busy else _IDLE_WAIT_S)
        for command in commands_now:
            worker.handle(command)
            if not worker.running:
                break
        if commands_now:
            outbox.flush()
        if not worker.running:
            break
        worker.tick()
        outbox.flush(0.0 if not worker.busy else _BATCH_S)
        if parent is not None and not worker.busy and not parent.is_alive():
            break  # the app died without saying goodbye: do not linger
    outbox.put(Bye().to_wire())
    outbox.flush()


def _parent_process() -> Any:
    import multiprocessing

    return multiprocessing.parent_process()
