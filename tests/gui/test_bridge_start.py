"""A worker that never reports ready is reported, not waited on silently; edits wait for
a running stepped edit instead of cancelling it."""

from __future__ import annotations

from kanstudio.gui.bridge import WorkerBridge
from kanstudio.gui.state import EngineState
from kanstudio.worker.protocol import Ready


class SilentClient:
    """Stands in for a worker process that runs but never says anything."""

    alive = True

    def __init__(self) -> None:
        self.events: list[dict] = []

    def start(self) -> None:
        pass

    def poll(self) -> list[dict]:
        out, self.events = self.events, []
        return out

    def shutdown(self, timeout: float = 1.0) -> None:
        pass


def test_bridge_reports_a_worker_that_never_starts(qtbot):
    client = SilentClient()
    bridge = WorkerBridge(client=client)
    bridge.start_watch.setInterval(200)
    with qtbot.waitSignal(bridge.error, timeout=3000) as blocker:
        bridge.start()
    assert blocker.args[0]["command"] == "start"
    assert "has not started" in blocker.args[0]["message"]
    bridge.shutdown()


def test_bridge_stays_quiet_once_ready(qtbot):
    client = SilentClient()
    bridge = WorkerBridge(client=client)
    bridge.start_watch.setInterval(300)
    errors: list[dict] = []
    bridge.error.connect(errors.append)
    bridge.start()
    client.events.append(Ready(version="0", devices=["cpu"], pid=1, torch_threads=1).to_wire())
    qtbot.waitUntil(lambda: bridge.is_ready, timeout=2000)
    qtbot.wait(500)
    assert errors == [] and not bridge.start_watch.isActive()
    bridge.shutdown()


def test_no_false_alarm_when_the_worker_already_ended(qtbot):
    """A worker that failed to start said so itself and exited: no second message."""
    client = SilentClient()
    bridge = WorkerBridge(client=client)
    bridge.start_watch.setInterval(200)
    errors: list[dict] = []
    bridge.error.connect(errors.append)
    bridge.start()
    client.alive = False
    qtbot.wait(500)
    assert errors == []
    bridge.shutdown()


def test_edits_wait_for_a_running_refine_or_auto_symbolic(qtbot, window, monkeypatch):
    """Lock/unlock/prune would cancel the running stepped edit: refused with a message."""
    sent: list[str] = []
    monkeypatch.setattr(window.bridge, "send", lambda command, **fields: sent.append(command))
    window.state.engine = EngineState(fitted=True, editing="refine")
    window.edits.lock_edge(0, 0, 0, "sin")
    window.edits.prune_edge(0, 0, 0)
    assert sent == []
    assert "still going" in window.statusBar().currentMessage()
    window.state.engine = EngineState(fitted=True)
    window.edits.unlock_edge(0, 0, 0)
    assert sent == ["unlock"]


def test_an_event_that_does_not_fit_the_protocol_is_an_error_not_a_crash(qtbot):
    client = SilentClient()
    bridge = WorkerBridge(client=client)
    errors: list[dict] = []
    bridge.error.connect(errors.append)
    bridge.start()
    client.events.append({"event": "ready"})  # its fields are missing
    qtbot.waitUntil(lambda: bool(errors), timeout=2000)
    assert errors[0]["kind"] == "bad_event" and not bridge.is_ready
    assert errors[0]["message"] == "event 'ready' lacks 'version'"
    bridge.shutdown()
