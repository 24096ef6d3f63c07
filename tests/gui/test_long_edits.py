"""Auto-symbolic and refine show progress and can be cancelled from the window; undo and
redo take the loss curve back and forth with the model."""

from __future__ import annotations

import numpy as np

from kanstudio.gui import edit_controller
from tests.gui.conftest import open_and_train, train

WAIT = 60_000


def _trained_window(qtbot, window, sample, width: str, steps: int = 3):
    open_and_train(qtbot, window, sample("toy_xy"), width, steps)
    qtbot.waitUntil(lambda: window.state.last_snapshot is not None, timeout=WAIT)


def _locked_edges(window) -> int:
    return sum(len(layer) for layer in window.state.last_snapshot["locked"])


def test_auto_symbolic_shows_progress_and_cancel_changes_nothing(qtbot, window, sample,
                                                                  monkeypatch):
    _trained_window(qtbot, window, sample, "2, 5, 1")
    can_undo = window.edit_actions.undo.isEnabled()
    monkeypatch.setattr(edit_controller.AutoSymbolicDialog, "exec", lambda self: 1)
    monkeypatch.setattr(edit_controller.AutoSymbolicDialog, "values", lambda self: {
        "r2_threshold": 0.0, "lock_all": True, "simplicity_weight": 0.8})
    panel = window.training_panel
    window.edit_actions.auto_symbolic.trigger()
    assert window.runs.training and window.actions.stop.isEnabled()  # Stop cancels it
    assert panel.stop_button.text() == "Cancel" and panel.stop_button.isEnabled()
    assert not panel.pause_button.isEnabled() and not window.actions.pause.isEnabled()
    assert not window.edit_actions.refine.isEnabled()  # no second edit meanwhile
    qtbot.waitUntil(lambda: panel.progress.format().startswith("Auto-symbolic: edge"),
                    timeout=WAIT)
    assert panel.progress.maximum() == 15  # one step per edge of [2, 5, 1]
    assert window.statusBar().currentMessage().startswith("Auto-symbolic: edge")
    panel.stop_button.click()
    qtbot.waitUntil(lambda: "auto_symbolic" in window.state.last_result, timeout=WAIT)
    assert window.state.last_result["auto_symbolic"]["reason"] == "cancelled"
    qtbot.waitUntil(lambda: not window.runs.training, timeout=WAIT)
    assert "cancelled: the model is unchanged" in window.statusBar().currentMessage()
    assert panel.progress.format() == "Auto-symbolic cancelled"
    assert panel.stop_button.text() == "Stop"
    window.bridge.send("snapshot")
    qtbot.wait(300)
    assert _locked_edges(window) == 0
    assert window.edit_actions.undo.isEnabled() == can_undo
    assert not window.edit_actions.redo.isEnabled()

    del window.state.last_result["auto_symbolic"]
    window.edit_actions.auto_symbolic.trigger()  # again, to the end this time
    qtbot.waitUntil(lambda: "auto_symbolic" in window.state.last_result, timeout=WAIT)
    assert window.state.last_result["auto_symbolic"]["reason"] == "finished"
    assert panel.progress.format() == "Auto-symbolic done"
    assert panel.progress.value() == panel.progress.maximum()
    qtbot.waitUntil(lambda: _locked_edges(window) == 15, timeout=WAIT)


def test_refine_shows_its_layers(qtbot, window, sample, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    _trained_window(qtbot, window, sample, "2, 2, 1", steps=2)
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a, **k: (8, True))
    seen: list[dict] = []
    window.bridge.edit_progress.connect(seen.append)
    window.edit_actions.refine.trigger()
    qtbot.waitUntil(lambda: "refine" in window.state.last_result, timeout=WAIT)
    assert [(e["step"], e["steps"]) for e in seen] == [(1, 2), (2, 2)]
    assert window.training_panel.progress.format() == "Refine grid done"
    qtbot.waitUntil(lambda: window.training_panel.grid.value() == 8, timeout=WAIT)


def test_undo_and_redo_take_the_loss_curve_with_the_model(qtbot, window, sample):
    _trained_window(qtbot, window, sample, "2, 2, 1", steps=3)
    train(qtbot, window, 2)  # continues the same model: steps 4 and 5
    plot = window.loss_plot
    qtbot.waitUntil(lambda: plot.steps.size == 5, timeout=WAIT)
    full_train = plot.train.copy()
    window.edit_actions.undo.trigger()
    qtbot.waitUntil(lambda: plot.steps.size == 3, timeout=WAIT)
    x, y = plot.train_curve.getData()
    assert list(x) == [1, 2, 3]  # the curve drawn is the history at that point
    np.testing.assert_allclose(plot.train, full_train[:3])
    assert plot.summary.text().startswith("step 3")
    assert window.training_panel.progress.format() == "Undo: train"
    window.edit_actions.undo.trigger()  # before the first run: an untrained model
    qtbot.waitUntil(lambda: plot.steps.size == 0, timeout=WAIT)
    assert plot.summary.text() == "No training yet."
    qtbot.waitUntil(lambda: _curve_points(window) == 0, timeout=WAIT)  # no stale curves
    window.edit_actions.redo.trigger()
    qtbot.waitUntil(lambda: plot.steps.size == 3 and _curve_points(window) > 0, timeout=WAIT)
    window.edit_actions.redo.trigger()
    qtbot.waitUntil(lambda: plot.steps.size == 5, timeout=WAIT)
    np.testing.assert_allclose(plot.train, full_train)
    assert len(plot.train_curve.getData()[0]) == 5


def _curve_points(window) -> int:
    """Points of edge curves the network view draws now."""
    return sum(int(np.isfinite(item.yData).sum()) for item in window.network_view.curve_items
               if item.yData is not None)
