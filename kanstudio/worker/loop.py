"""The worker: owns one :class:`~kanstudio.session.Session`, reads commands, sends events.

:func:`run_worker` is the whole worker: a loop that drains the command queue, handles each
command, then advances the current training run by one step. It runs as the target of a
spawned process (the app) or of a thread (quick tests); it never imports Qt.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from typing import Any

from kanstudio import __version__
from kanstudio.worker import discovery, edit_runs, edits
from kanstudio.worker.discovery import DiscoverRun
from kanstudio.worker.edit_runs import EditRun
from kanstudio.worker.protocol import EDIT_COMMANDS, error_event, event, width_field
from kanstudio.worker.snapshot import SnapshotThrottle, model_summary
from kanstudio.worker.training import TrainingRun

__all__ = ["Worker", "run_worker"]

_IDLE_WAIT_S = 0.2  # how long an idle worker blocks on the command queue per turn
_BATCH_S = 1.0 / 60.0  # while training, events leave at most this often
_HANDLERS = {**edits.HANDLERS, **edit_runs.HANDLERS}
# Commands that replace or change the model: a running refine/auto-symbolic is cancelled.
_CANCEL_EDIT = (*EDIT_COMMANDS, "load", "new_model", "train", "step", "discover",
                "open_project", "shutdown")


class Worker:
    """Handles commands against a session; emits events through ``emit``."""

    def __init__(self, emit: Callable[[dict[str, Any]], None],
                 options: dict[str, Any] | None = None) -> None:
        self.emit = emit
        self.options = dict(options or {})
        self.session: Any = None
        self.settings: Any = None  # SessionSettings, kept across loads
        self.run: TrainingRun | None = None
        self.discovery: DiscoverRun | None = None
        self.edit: EditRun | None = None  # a refine or auto-symbolic taking its steps
        self.running = True
        self.throttle = SnapshotThrottle(**self.options.get("throttle", {}))
        self.reply_to: Any = None
        self._snapshot_failed = False

    # ------------------------------------------------------------------ start-up
    def start(self) -> None:
        """Import the engine (torch) and announce the devices; the slow part of start-up."""
        import torch

        from kanstudio.core.device import available_devices
        from kanstudio.session import SessionSettings

        threads = self.options.get("torch_threads")
        if threads:
            torch.set_num_threads(int(threads))
        self.settings = SessionSettings()
        self.emit(event("ready", version=__version__, devices=available_devices(),
                        pid=os.getpid(), torch_threads=torch.get_num_threads()))

    def warm_up(self) -> None:
        """torch's optimisers import torch._dynamo on first use (seconds): pay that after
        ``ready`` is out, while the user is still choosing data, not at the first Train.
        The fused CPU spline kernels load (or, once per machine, compile) in the background
        for the same reason."""
        import torch

        from kanstudio.core.fused_cpu import warm_up

        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
        warm_up()

    @property
    def busy(self) -> bool:
        return ((self.run is not None and self.run.wants_step) or self.discovery is not None
                or self.edit is not None)

    # ------------------------------------------------------------------ commands
    def handle(self, command: dict[str, Any]) -> None:
        name = command.get("cmd") if isinstance(command, dict) else None
        self.reply_to = command.get("id") if isinstance(command, dict) else None
        try:
            if not isinstance(name, str):
                raise ValueError(f"a command must be a dict with a 'cmd' name, got {command!r}")
            if name in _CANCEL_EDIT:
                edit_runs.finish(self, "cancelled")
            handler = getattr(self, f"cmd_{name}", None)
            if handler is None and name in _HANDLERS:
                self._need_session()
                if name in EDIT_COMMANDS:
                    self.finish_run("stopped")
                    self._finish_discovery("stopped")
                result = _HANDLERS[name](self, command)
                if result is not None:
                    self.emit(event("result", command=name, reply_to=self.reply_to, **result))
                if name in edit_runs.HANDLERS:
                    self.emit_state()  # a stepped edit only began: the model is unchanged
                elif name in EDIT_COMMANDS:
                    self.after_model_change()
                return
            if handler is None:
                raise ValueError(f"unknown command '{name}'")
            handler(command)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error event
            self.emit(error_event(exc, str(name), self.reply_to))
            self.emit_state()

    def cmd_load(self, c: dict[str, Any]) -> None:
        from kanstudio.data import build_dataset, read_csv, resolve_roles
        from kanstudio.session import Session

        path = c.get("path")
        if not path:
            raise ValueError("load needs a 'path' to a CSV file")
        table = read_csv(path)
        roles = resolve_roles(table, c.get("target"), c.get("inputs"))
        dataset = build_dataset(table, roles, drop_missing=bool(c.get("drop_missing")))
        session = Session(dataset, self.settings)  # may refuse (too few rows)
        self.finish_run("stopped")
        self.set_session(session, source="csv", path=str(path))

    def cmd_set_settings(self, c: dict[str, Any]) -> None:
        from kanstudio.session import Session, SessionSettings

        new = SessionSettings.from_dict({**self.settings.to_dict(), **(c.get("settings") or {})})
        new.width = width_field(new.width, new.mult_arity)
        old = self.settings
        self.settings = new
        if self.session is None:
            return
        data_keys = ("seed", "test_fraction", "scale_inputs", "scale_target")
        data_changed = any(getattr(old, k) != getattr(new, k) for k in data_keys)
        if data_changed and self.session.model is None and self.run is None:
            # Nothing trained yet: rebuild so the split and scaling follow the new settings.
            self.session = Session(self.session.dataset, new)
        else:
            self.session.settings = new
        self.emit_state()

    def cmd_new_model(self, c: dict[str, Any]) -> None:
        self._need_session()
        if c.get("settings"):
            self.cmd_set_settings({"settings": c["settings"]})  # may rebuild the session
        self.finish_run("stopped")
        self.session.new_model(width_field(c.get("width"), self.session.settings.mult_arity))
        self.throttle.reset()
        self.emit_state()

    def cmd_train(self, c: dict[str, Any]) -> None:
        session = self._need_session()
        if self.run is not None:
            raise ValueError("Training is already running: pause or stop it first.")
        self.run = TrainingRun(session, c)
        self.throttle.reset()
        self.emit_state()

    def cmd_step(self, c: dict[str, Any]) -> None:
        if self.run is None:
            self.run = TrainingRun(self._need_session(), c, paused=True)
            self.throttle.reset()
        self.run.paused = True
        self.run.pending_steps += 1
        self.emit_state()

    def cmd_pause(self, c: dict[str, Any]) -> None:
        if self.run is not None and not self.run.paused:
            self.run.paused = True
            self.run.pause_rate_window()
        self.emit_state()

    def cmd_resume(self, c: dict[str, Any]) -> None:
        if self.run is not None and self.run.paused:
            self.run.paused = False
            self.run.pending_steps = 0
            self.run.pause_rate_window()
        self.emit_state()

    def cmd_stop(self, c: dict[str, Any]) -> None:
        if not (self.finish_run("stopped") or self._finish_discovery("stopped")
                or edit_runs.finish(self, "cancelled")):
            self.emit_state()

    def cmd_discover(self, c: dict[str, Any]) -> None:
        self._need_session()
        if self.discovery is not None:
            raise ValueError("Discover is already running: stop it first.")
        self.finish_run("stopped")
        self.discovery = DiscoverRun(self.session, c)
        self.throttle.reset()
        self.emit_state()

    def cmd_open_project(self, c: dict[str, Any]) -> None:
        edits.open_project(self, c)

    def cmd_snapshot(self, c: dict[str, Any]) -> None:
        self.send_snapshot(fresh=True)

    def cmd_shutdown(self, c: dict[str, Any]) -> None:
        self.finish_run("stopped")
        self.running = False

    # ------------------------------------------------------------------ training
    def tick(self) -> None:
        """Advance the current run (the pipeline, an edit) by one step when it wants one."""
        if self.edit is not None:
            edit_runs.tick(self)
            return
        if self.discovery is not None:
            discovery.tick(self)
            return
        run = self.run
        if run is None or not run.wants_step:
            return
        try:
            progress = run.advance()
        except Exception as exc:  # noqa: BLE001 - a failed step ends the run, not the worker
            self.emit(error_event(exc, "train"))
            self.finish_run("error")
            return
        if progress is not None:
            self.emit(progress)
            if self.throttle.due() and not run.finished:
                self.send_snapshot()
        if progress is None or run.finished:
            self.finish_run("finished")
        elif run.paused and run.pending_steps == 0:
            self.send_snapshot(fresh=True)  # a single step: show where it went
            self.emit_state()

    def finish_run(self, reason: str) -> bool:
        """Close the current run (if any): final snapshot, ``done`` and ``state``."""
        run = self.run
        if run is None:
            return False
        self.run = None
        try:
            run.close()
        except Exception as exc:  # noqa: BLE001
            self.emit(error_event(exc, "train"))
        metrics: dict[str, float] = {}
        if self.session.model is not None and self.session.model.is_fitted:
            try:
                metrics = self.session.metrics()
            except Exception:  # noqa: BLE001 - a broken model still ends its run
                metrics = {}
            self.send_snapshot(fresh=True)
        self.emit(event("done", reason=reason, steps_done=run.run_step, steps=run.steps,
                        seconds=time.perf_counter() - run.started, metrics=metrics))
        self.emit_state()
        return True

    def _finish_discovery(self, reason: str) -> bool:
        return discovery.finish(self, reason)

    # ------------------------------------------------------------------ outputs
    def send_snapshot(self, fresh: bool = False) -> None:
        session = self.session
        if session is None or session.model is None or not session.model.is_fitted:
            return
        step = len(getattr(session.model, "history_", ()))
        try:
            self.emit(self.throttle.take(session, step, fresh=fresh))
            self._snapshot_failed = False
        except Exception as exc:  # noqa: BLE001 - drawing must never stop training
            if not self._snapshot_failed:  # say it once, not thirty times a second
                self.emit(error_event(exc, "snapshot"))
            self._snapshot_failed = True

    def emit_state(self) -> None:
        s, run = self.session, self.run
        model = None if s is None else s.model
        self.emit(event(
            "state",
            has_data=s is not None,
            has_model=model is not None,
            fitted=bool(model is not None and model.is_fitted),
            training=run is not None,
            discovering=self.discovery is not None,
            editing=None if self.edit is None else self.edit.command,
            paused=bool(run is not None and run.paused),
            run_step=0 if run is None else run.run_step,
            run_steps=0 if run is None else run.steps,
            step=len(getattr(model, "history_", ())) if model is not None else 0,
            model=model_summary(s),
            can_undo=bool(s is not None and s.can_undo),
            can_redo=bool(s is not None and s.can_redo),
            settings=self.settings.to_dict() if self.settings is not None else {},
        ))

    def set_session(self, session: Any, source: str, path: str | None,
                    extra: dict[str, Any] | None = None) -> None:
        """Replace the session (a new CSV or project) and tell the GUI about it."""
        self.session = session
        self.settings = session.settings
        self.throttle.reset()
        d = session.dataset
        self.emit(event(
            "loaded", source=source, path=path, input_names=list(d.input_names),
            target_names=list(d.target_names), n_samples=d.n_samples,
            n_train=len(session.train_idx), n_test=len(session.test_idx),
            n_dropped=int(d.n_dropped), warnings=[str(w) for w in d.warnings],
            default_width=session.default_width(), reply_to=self.reply_to, **(extra or {}),
        ))
        self.after_model_change()

    def after_model_change(self) -> None:
        self.throttle.reset()
        self.send_snapshot(fresh=True)
        self.emit_state()

    def _need_session(self) -> Any:
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
        events.put([error_event(exc, "start"), event("bye")])
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
    outbox.put(event("bye"))
    outbox.flush()


def _parent_process() -> Any:
    import multiprocessing

    return multiprocessing.parent_process()
