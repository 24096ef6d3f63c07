"""Training from the window: live loss plot and edge curves, pause, step, stop, restart."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from tests.gui.conftest import open_and_load, set_training


def _curve_data(view):
    xs = [item.xData for item in view.curve_items if item.xData is not None]
    return np.concatenate(xs) if xs else np.zeros(0)


def _click(qtbot, button):
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_train_pause_step_stop_and_restart(qtbot, window, sample):
    open_and_load(qtbot, window, sample("toy_xy"))
    panel, view, loss = window.training_panel, window.network_view, window.loss_plot
    set_training(window, steps=3000)
    _click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: loss.steps.size >= 3 and view.snapshots_applied >= 1,
                    timeout=30_000)
    train_x, train_y = loss.train_curve.getOriginalDataset()
    assert len(train_x) == len(train_y) >= 3 and np.all(train_y > 0)
    assert np.all(np.diff(train_x) > 0)
    curves = _curve_data(view)
    assert np.isfinite(curves).sum() >= 10 * 40  # 10 edges drawn, 48 points each
    assert view.net_geometry.width == [2, 5, 1]

    _click(qtbot, panel.pause_button)
    qtbot.waitUntil(lambda: window.runs.paused and window.state.engine.run_step > 0,
                    timeout=10_000)
    assert panel.pause_button.text() == "Resume"
    qtbot.wait(150)
    paused_at = window.state.engine.run_step
    qtbot.wait(300)
    assert int(loss.steps[-1]) == paused_at  # nothing trained while paused

    _click(qtbot, panel.step_button)
    qtbot.waitUntil(lambda: window.state.engine.run_step == paused_at + 1,
                    timeout=10_000)
    qtbot.wait(300)
    assert int(loss.steps[-1]) == paused_at + 1  # exactly one step

    _click(qtbot, panel.stop_button)
    qtbot.waitUntil(lambda: window.state.last_done is not None, timeout=10_000)
    assert window.state.last_done["reason"] == "stopped"
    qtbot.waitUntil(lambda: not window.runs.training, timeout=10_000)
    assert "stopped at step" in window.statusBar().currentMessage()
    assert panel.train_button.text() == "Continue training"

    before = int(loss.steps[-1])
    window.state.last_done = None
    set_training(window, steps=5)
    _click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: window.state.last_done is not None, timeout=30_000)
    assert window.state.last_done["reason"] == "finished"
    assert int(loss.steps[-1]) == before + 5  # the loss curve continues


def test_new_architecture_starts_a_new_model(qtbot, window, sample):
    open_and_load(qtbot, window, sample("toy_xy"))
    set_training(window, steps=3)
    window.training_panel.width_edit.setText("2, 3, 2, 1")
    window.training_panel.settings_edited.emit()
    assert window.network_view.net_geometry.width == [2, 3, 2, 1]  # drawn before training
    window.runs.train()
    qtbot.waitUntil(lambda: window.state.last_done is not None, timeout=30_000)
    qtbot.waitUntil(lambda: window.network_view.snapshots_applied > 0, timeout=10_000)
    assert window.state.engine.model["width"] == [2, 3, 2, 1]
    assert list(window.loss_plot.steps) == [1, 2, 3]


def test_invalid_width_is_explained_and_blocks_training(qtbot, window, sample):
    open_and_load(qtbot, window, sample("toy_xy"))
    panel = window.training_panel
    panel.width_edit.setText("3, 5, 1")
    panel.settings_edited.emit()
    assert panel.width_error.text() == "Width must start with 2: the data has 2 inputs"
    assert not panel.train_button.isEnabled()
