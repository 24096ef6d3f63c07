"""Worker errors and crashes become messages; the app keeps working."""

from __future__ import annotations

import os
import signal

from tests.gui.conftest import open_and_load, set_training


def test_a_worker_error_shows_a_message_and_training_still_works(qtbot, window, sample):
    open_and_load(qtbot, window, sample("toy_sin"))
    with qtbot.waitSignal(window.bridge.error, timeout=10_000):
        window.bridge.send("prune")  # nothing trained yet
    assert window.messages.current_text() == "there is no trained model yet: train first"
    assert "Traceback" in window.messages.history[-1].detail  # kept behind "Details"
    assert "train first" in window.statusBar().currentMessage()
    set_training(window, steps=3)
    window.runs.train()
    qtbot.waitUntil(lambda: window.state.last_done is not None, timeout=30_000)
    assert window.state.last_done["reason"] == "finished"


def test_a_killed_worker_is_restarted_and_the_data_reloaded(qtbot, make_window, sample):
    window = make_window("process")
    open_and_load(qtbot, window, sample("toy_sin"))
    pid = window.bridge.client.pid
    assert pid and pid != os.getpid()
    with qtbot.waitSignal(window.bridge.died, timeout=30_000):
        os.kill(pid, signal.SIGKILL)
    assert "stopped unexpectedly" in window.messages.history[-1].text
    assert "restarted" in window.messages.history[-1].text
    qtbot.waitUntil(lambda: bool(window.bridge.is_ready and window.state.engine.has_data),
                    timeout=120_000)
    assert window.bridge.client.pid != pid
    set_training(window, steps=2)
    window.runs.train()
    qtbot.waitUntil(lambda: window.state.last_done is not None, timeout=60_000)
    assert window.state.last_done["reason"] == "finished"


def test_a_formula_refusal_is_worded_from_its_kind_and_edges(qtbot, window):
    window.bridge.error.emit({
        "event": "error", "command": "formula", "kind": "formula_not_symbolic",
        "fields": {"edges": [[0, 0, 0], [1, 2, 0]]}, "detail": "",
        "message": "2 active edge(s) are not symbolic yet ((0, 0, 0), (1, 2, 0)): ..."})
    assert window.formula_panel.status.text() == (
        "2 edge(s) are still numeric splines: (0, 0, 0), (1, 2, 0). Lock them in the Edge "
        "Inspector, use Model ▸ Auto-symbolic, or prune them; then the formula appears here.")
    assert window.messages.current_text() == ""  # not asked for by the user: no message bar
