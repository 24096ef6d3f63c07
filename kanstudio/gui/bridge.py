"""Adapts the Qt-free :class:`~kanstudio.worker.WorkerClient` to Qt signals.

A timer polls the client every few milliseconds on the GUI thread; the client never blocks,
and keeps only the newest snapshot of a batch, so a slow frame simply skips stale ones.
All progress events of one poll arrive together (one loss-plot update per poll).
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from kanstudio.gui.messages import ENGINE_NOT_STARTED
from kanstudio.worker import WorkerClient
from kanstudio.worker.protocol import (
    Error,
    ProtocolError,
    command,
    error_event,
    parse_event,
)

__all__ = ["WorkerBridge"]

POLL_MS = 15
MAX_RESTARTS = 3  # deaths within RESTART_WINDOW_S after which we stop restarting
RESTART_WINDOW_S = 120.0
START_TIMEOUT_MS = 90_000  # a worker not ready by then is stuck (cold start is ~5-15 s)


class WorkerBridge(QObject):
    ready = Signal(dict)
    loaded = Signal(dict)
    state = Signal(dict)
    progress = Signal(list)  # every progress event since the last poll
    snapshot = Signal(dict)  # the newest snapshot only
    done = Signal(dict)
    error = Signal(dict)
    result = Signal(dict)
    pipeline = Signal(dict)  # a stage of Discover (kanstudio.session.pipeline) as it runs
    edit_progress = Signal(dict)  # a step of a refine or auto-symbolic edit
    front = Signal(dict)  # Discover's accuracy-complexity front (kanstudio.session.front)
    died = Signal(dict)  # the worker ended unexpectedly; "restarting" says what follows

    def __init__(self, mode: str = "process", parent: QObject | None = None,
                 client: WorkerClient | None = None) -> None:
        super().__init__(parent)
        self.client = client or WorkerClient(mode=mode)
        self.is_ready = False
        self.restarts = 0
        self._deaths: list[float] = []
        self._ever_ready = False
        # event name -> the signal that carries it (progress and ready are handled apart)
        self.signals = {"loaded": self.loaded, "state": self.state, "snapshot": self.snapshot,
                        "done": self.done, "error": self.error, "result": self.result,
                        "pipeline": self.pipeline, "edit_progress": self.edit_progress,
                        "front": self.front}
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.start_watch = QTimer(self)
        self.start_watch.setSingleShot(True)
        self.start_watch.setInterval(START_TIMEOUT_MS)
        self.start_watch.timeout.connect(self._not_started)

    def start(self) -> None:
        self.is_ready = False
        self.client.start()
        self.timer.start()
        self.start_watch.start()

    def _not_started(self) -> None:
        """The worker process runs but never said ``ready``: say so instead of waiting
        silently (it keeps its chance: a late ``ready`` still enables training)."""
        if self.is_ready or not self.timer.isActive() or not self.client.alive:
            return  # ready, shut down, or ended (its own error or death says why)
        seconds = self.start_watch.interval() / 1000
        self.error.emit(Error(
            command="start", kind="not_started", fields={"seconds": seconds},
            message=f"The training engine has not started after {seconds:.0f} s.",
            detail=ENGINE_NOT_STARTED).to_wire())

    def send(self, name: str, /, **fields: Any) -> None:
        """Build the typed command (checked here, as the worker checks it on arrival) and
        send it; a command that does not fit the protocol becomes an ``error`` event."""
        try:
            message = command(name, **fields)
        except ProtocolError as exc:
            self.error.emit(error_event(exc, name).to_wire())
            return
        if self.client.alive:
            self.client.send(message)

    def poll(self) -> None:
        events = self.client.poll()
        if not events:
            return
        progress: list[dict[str, Any]] = []
        for e in events:
            try:
                parse_event(e)  # checked on arrival, as the worker checks commands
            except ProtocolError as exc:
                self.error.emit(error_event(exc, "worker").to_wire())
                continue
            kind = e.get("event")
            if kind == "progress":
                progress.append(e)
                continue
            if progress:  # keep order: progress before what came after it
                self.progress.emit(progress)
                progress = []
            if kind == "ready":
                self.is_ready = self._ever_ready = True
                self.start_watch.stop()
                self.ready.emit(e)
            elif kind == "error" and e.get("fatal"):
                self._handle_death(e)
            elif kind in self.signals:
                self.signals[kind].emit(e)
        if progress:
            self.progress.emit(progress)

    def _handle_death(self, e: dict[str, Any]) -> None:
        """Restart a worker that died, unless it never started or keeps dying (a restart
        loop would only hide the problem)."""
        self.is_ready = False
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW_S] + [now]
        restart = self._ever_ready and len(self._deaths) <= MAX_RESTARTS
        if restart:
            self.restarts += 1
            self.client.restart()
            self.start_watch.start()
        else:
            self.timer.stop()
            self.client.shutdown(timeout=1.0)
        self.died.emit({**e, "restarting": restart})

    def shutdown(self, timeout: float = 5.0) -> None:
        self.timer.stop()
        self.client.shutdown(timeout)
        self.is_ready = False
