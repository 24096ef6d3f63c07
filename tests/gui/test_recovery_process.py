"""Crash recovery with the real worker process (spawned, as the app runs it): the autosave
written by one worker process is restored by the next app's fresh worker process."""

from __future__ import annotations

import os
import signal

import numpy as np

from tests.gui.conftest import open_and_train

WAIT = 60_000


def test_autosave_from_a_worker_process_is_restored_after_a_crash(qtbot, make_window,
                                                                  sample):
    window = make_window("process")
    pid = window.bridge.client.pid
    assert pid is not None and pid != os.getpid()
    open_and_train(qtbot, window, sample("toy_sin"), "1, 2, 1", steps=2)
    trained = [np.array(y) for y in window.state.last_snapshot["y"]]  # every edge's curve
    window.projects.autosave()
    qtbot.waitUntil(lambda: "save" in window.state.last_result, timeout=WAIT)
    recovery = window.projects.recovery_path
    assert recovery.is_file()

    # The app dies at once: nothing is closed, the worker process is killed with it.
    window.bridge.timer.stop()
    os.kill(pid, signal.SIGKILL)
    window.bridge.client.shutdown(timeout=5)
    window.state.dirty = False
    assert recovery.is_file()

    from kanstudio.gui.main_window import MainWindow

    again = MainWindow(worker_mode="process")
    qtbot.addWidget(again)
    again.projects.unsaved_prompt = lambda: "discard"
    asked = []
    again.projects.recovery_prompt = lambda: asked.append(True) or True
    again.show()
    again.start_worker()
    qtbot.waitUntil(lambda: bool(again.state.engine.fitted), timeout=WAIT)
    assert asked == [True] and again.bridge.client.pid not in (None, pid)
    assert again.state.engine.model["width"] == [1, 2, 1]
    qtbot.waitUntil(lambda: again.state.last_snapshot is not None, timeout=WAIT)
    for before, after in zip(trained, again.state.last_snapshot["y"], strict=True):
        np.testing.assert_allclose(after, before, atol=1e-6)  # the trained model itself
    assert "recovered" in again.windowTitle() and again.state.dirty
    again.close()
    assert not again.bridge.client.alive and not recovery.exists()
