"""The caller's side of the worker: start it, send commands, poll events. No Qt, no torch.

``WorkerClient(mode="process")`` runs the worker in a process started with the ``spawn``
method (never ``fork``: forking a process that runs Qt or torch threads is unsafe), so
training and drawing use different cores. ``mode="thread"`` runs the same loop in a
thread with the same protocol, for quick tests.

:meth:`WorkerClient.poll` never blocks and keeps only the newest snapshot of a batch; a
worker that died (crash, killed) is reported once as an ``error`` event with
``fatal=True``, after which :meth:`restart` starts a fresh one (with no data loaded).

With ``spawn`` the worker process imports the caller's ``__main__`` module again: a script
that starts the app or a client must keep its work under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kanstudio.worker.loop import run_worker
from kanstudio.worker.protocol import Command, Error

__all__ = ["WorkerClient", "collapse_snapshots"]


def collapse_snapshots(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop every snapshot but the last one; other events keep their order."""
    last = max((i for i, e in enumerate(events) if e.get("event") == "snapshot"), default=-1)
    return [e for i, e in enumerate(events) if e.get("event") != "snapshot" or i == last]


def _default_torch_threads() -> int:
    # Leave a core for drawing; small KANs train on one thread anyway (core.training).
    return max(1, (os.cpu_count() or 2) - 1)


class WorkerClient:
    """Start/stop the worker, send it commands, poll its events (wire dicts, see
    :mod:`~kanstudio.worker.protocol`)."""

    def __init__(self, mode: str = "process", torch_threads: int | None = None,
                 options: dict[str, Any] | None = None) -> None:
        if mode not in ("process", "thread"):
            raise ValueError(f"mode must be 'process' or 'thread', got {mode!r}")
        self.mode = mode
        self.options = dict(options or {})
        self.options.setdefault("torch_threads", torch_threads or _default_torch_threads())
        self._commands: Any = None
        self._events: Any = None
        self._runner: Any = None  # multiprocessing.Process or threading.Thread
        self._death_reported = False
        self._said_bye = False
        self._stopping = False
        self._pending: deque[dict[str, Any]] = deque()  # drained, not yet handed out
        self.exitcode: int | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        if self._runner is not None and self.alive:
            return
        self._death_reported = False
        self._said_bye = False
        self._stopping = False
        self._pending.clear()
        self.exitcode = None
        if self.mode == "process":
            ctx = multiprocessing.get_context("spawn")
            self._commands, self._events = ctx.Queue(), ctx.Queue()
            options = {**self.options, "ignore_sigint": True, "watch_parent": True}
            self._runner = ctx.Process(target=run_worker, name="kanstudio-worker",
                                       args=(self._commands, self._events, options),
                                       daemon=True)
        else:
            self._commands, self._events = queue.Queue(), queue.Queue()
            self._runner = threading.Thread(target=run_worker, name="kanstudio-worker",
                                            args=(self._commands, self._events, self.options),
                                            daemon=True)
        self._runner.start()

    @property
    def alive(self) -> bool:
        return self._runner is not None and self._runner.is_alive()

    @property
    def pid(self) -> int | None:
        return getattr(self._runner, "pid", None) if self.mode == "process" else None

    def restart(self) -> None:
        """A fresh worker (the old one is shut down or killed first); load data again."""
        self.shutdown(timeout=2.0)
        self.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Ask the worker to leave, wait up to ``timeout`` s, then kill it if it has not."""
        runner = self._runner
        if runner is None:
            return
        self._stopping = True
        if runner.is_alive():
            try:
                self._commands.put({"cmd": "shutdown"})
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + timeout
        while runner.is_alive() and time.monotonic() < deadline:
            self._drain_raw()  # a full pipe would keep the worker from exiting
            runner.join(0.05)
        if self.mode == "process":
            if runner.is_alive():
                runner.kill()
                runner.join(2.0)
            self.exitcode = runner.exitcode
            for q in (self._commands, self._events):
                q.cancel_join_thread()
                q.close()
        self._runner = None

    # ------------------------------------------------------------------ messages
    def send(self, command: Command | dict[str, Any] | str, **fields: Any) -> None:
        """Send a command: a :class:`~kanstudio.worker.protocol.Command` (already checked),
        or its wire form ``{"cmd": ..., **fields}``, which the worker checks on arrival;
        ``send("pause")`` is short for ``{"cmd": "pause"}``."""
        if isinstance(command, Command):
            message = {**command.to_wire(), **fields}
        elif isinstance(command, str):
            message = {"cmd": command, **fields}
        else:
            message = {**command, **fields}
        if self._commands is None:
            raise RuntimeError("the worker is not started")
        self._commands.put(message)

    def poll(self, max_events: int = 10_000) -> list[dict[str, Any]]:
        """Every event waiting now (never blocks), with only the newest snapshot kept."""
        events = list(self._pending) + self._drain_raw(max_events)
        self._pending.clear()
        if not self._stopping and not self._death_reported and self._runner is not None \
                and not self._runner.is_alive():
            events += self._drain_raw(max_events)  # what it said before it died
            if not self._said_bye:
                self._death_reported = True
                self.exitcode = getattr(self._runner, "exitcode", None)
                code = "" if self.exitcode is None else f" (exit code {self.exitcode})"
                events.append(Error(
                    fatal=True, command="worker", kind="worker_died",
                    fields={"exit_code": self.exitcode},
                    message=f"The training engine stopped unexpectedly{code}.",
                    detail=f"worker {self.mode} ended{code} without a shutdown command",
                ).to_wire())
        return collapse_snapshots(events)

    def _drain_raw(self, max_events: int = 10_000) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self._events is None:
            return out
        try:
            while len(out) < max_events:
                batch = self._events.get_nowait()  # the worker sends lists of events
                out.extend(batch)
                if any(e.get("event") == "bye" for e in batch):
                    self._said_bye = True
        except (queue.Empty, OSError, ValueError, EOFError):
            pass
        return out

    def wait_for(self, match: Callable[[dict[str, Any]], bool] | str, timeout: float = 30.0,
                 collect: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Block until an event matches (a name or a predicate); for scripts and tests.

        Every event seen on the way is appended to ``collect`` (snapshots included); events
        after the match stay queued for the next call. Raises TimeoutError, or
        RuntimeError if the worker died first.
        """
        test = (lambda e: e.get("event") == match) if isinstance(match, str) else match
        deadline = time.monotonic() + timeout
        while True:
            if not self._pending:
                self._pending.extend(self._drain_raw() or self.poll())
            while self._pending:
                e = self._pending.popleft()
                if collect is not None:
                    collect.append(e)
                if test(e):
                    return e
                if e.get("fatal"):
                    raise RuntimeError(e["message"])
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no matching event within {timeout:.0f} s")
            time.sleep(0.005)
