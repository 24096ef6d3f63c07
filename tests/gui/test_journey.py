"""The whole discovery journey on toy_sin (f = sin(pi*x)): train, prune, inspect, lock by
hand, auto-symbolic, fine-tune, read and copy the formula, undo/redo, save and reopen."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from kanstudio.gui import edit_controller
from tests.gui.conftest import open_and_load, set_training

WAIT = 60_000


def _wait_result(qtbot, window, command: str) -> dict:
    window.state.last_result.pop(command, None)
    qtbot.waitUntil(lambda: command in window.state.last_result, timeout=WAIT)
    return window.state.last_result[command]


def _train(qtbot, window, steps: int, action) -> None:
    set_training(window, steps=steps, opt="lbfgs")
    window.state.last_done = None
    action()
    qtbot.waitUntil(lambda: window.state.last_done is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: not window.runs.training, timeout=WAIT)


def _undo_or_redo(qtbot, window, which: str) -> str:
    window.state.last_result.pop(which, None)
    getattr(window.edit_actions, which).trigger()
    qtbot.waitUntil(lambda: which in window.state.last_result, timeout=WAIT)
    qtbot.waitUntil(lambda: window.edit_actions.undo.isEnabled()
                    or window.edit_actions.redo.isEnabled(), timeout=WAIT)
    return window.state.last_result[which]["what"]


def test_discovery_journey(qtbot, make_window, sample, tmp_path, monkeypatch):
    window = make_window()
    open_and_load(qtbot, window, sample("toy_sin"))
    window.training_panel.width_edit.setText("1, 1, 1")
    window.training_panel.settings_edited.emit()
    _train(qtbot, window, 50, window.runs.train)

    # Auto-prune: the dialog previews the cut; after it, the loss before and after shows.
    monkeypatch.setattr(edit_controller.AutoPruneDialog, "exec", lambda self: 1)
    window.edit_actions.auto_prune.trigger()
    pruned = _wait_result(qtbot, window, "prune")
    assert pruned["width_after"] == [1, 1, 1]
    assert "Test RMSE" in window.messages.current_text()

    # The inspector: the data the edge sees, its knots, ranked candidates with previews.
    window.network_view.select_edge(0, 0, 0)
    inspector = window.inspector
    qtbot.waitUntil(lambda: bool(inspector.candidates), timeout=WAIT)
    assert window.inspector_dock.isVisible()
    x, y = inspector.data_item.getData()
    assert len(x) > 100 and np.all(np.isfinite(y)) and len(inspector.knot_lines) == 6
    assert inspector.table.rowCount() == len(inspector.candidates) >= 5
    assert inspector.select_function("x")
    assert len(inspector.preview_item.getData()[0]) == 120  # the candidate over the curve
    qtbot.mouseClick(inspector.lock_button, Qt.MouseButton.LeftButton)
    assert _wait_result(qtbot, window, "lock")["name"] == "x"
    qtbot.waitUntil(lambda: inspector.locked == "x", timeout=WAIT)
    assert inspector.unlock_button.isEnabled()
    assert window.state.last_snapshot["locked"][0] == [(0, 0, "x")]
    assert "x" in [label.toPlainText() for label in window.network_view.lock_labels]
    qtbot.mouseClick(inspector.unlock_button, Qt.MouseButton.LeftButton)  # the spline again
    _wait_result(qtbot, window, "unlock")
    qtbot.waitUntil(lambda: inspector.locked is None, timeout=WAIT)
    assert window.state.last_snapshot["locked"][0] == [] and not window.network_view.lock_labels
    assert inspector.select_function("x")
    qtbot.mouseClick(inspector.lock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: inspector.locked == "x", timeout=WAIT)

    # Auto-symbolic the rest, then fine-tune with the locks.
    monkeypatch.setattr(edit_controller.AutoSymbolicDialog, "exec", lambda self: 1)
    monkeypatch.setattr(edit_controller.AutoSymbolicDialog, "values", lambda self: {
        "r2_threshold": 0.99, "lock_all": True, "simplicity_weight": 0.8})
    window.edit_actions.auto_symbolic.trigger()
    locked = _wait_result(qtbot, window, "auto_symbolic")["edges"]
    assert {(tuple(e["edge"]), e["name"]) for e in locked if e["locked"]} >= {((1, 0, 0), "sin")}
    assert "Auto-symbolic locked" in window.messages.current_text()
    _train(qtbot, window, 10, window.edit_actions.fine_tune.trigger)

    # The formula (rebuilt after the fine-tune): rendered, with both accuracies, in the
    # CSV's names; copy LaTeX.
    panel = window.formula_panel
    qtbot.waitUntil(lambda: bool(panel.result and panel.result["formulas"] == ["sin(pi*x)"]),
                    timeout=WAIT)
    assert panel.result["formula_test_r2"] > 0.999
    assert not panel.math.pixmap().isNull() and panel.rendered_png
    assert panel.metric_labels["network_test_r2"].text() != "—"
    qtbot.mouseClick(panel.copy_latex_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == r"f = \sin{\left(\pi x \right)}"
    panel.export(str(tmp_path / "f.py"))
    assert "def formula_f(x)" in (tmp_path / "f.py").read_text()

    # Undo back to before the hand lock (train, auto-symbolic, lock), then redo it all.
    undone = [_undo_or_redo(qtbot, window, "undo") for _ in range(3)]
    assert undone[-1].startswith("lock (0, 0, 0)")
    qtbot.waitUntil(lambda: panel.result is None, timeout=WAIT)  # numeric edges again
    assert window.state.last_snapshot["locked"] == [[], []]
    assert [_undo_or_redo(qtbot, window, "redo") for _ in range(3)] == undone[::-1]
    qtbot.waitUntil(lambda: bool(panel.result and panel.result["formulas"] == ["sin(pi*x)"]),
                    timeout=WAIT)

    # Save, close, reopen: the same formula.
    path = tmp_path / "sine.kstudio"
    assert window.state.dirty
    window.projects.save_project_to(str(path))
    qtbot.waitUntil(lambda: not window.state.dirty, timeout=WAIT)
    assert path.is_file() and window.state.current_project == str(path)
    curve = (window.loss_plot.steps.copy(), window.loss_plot.train.copy())
    window.close()
    again = make_window()
    assert again.projects.open_project(str(path))
    qtbot.waitUntil(lambda: again.formula_panel.result is not None, timeout=WAIT)
    assert again.formula_panel.result["formulas"] == ["sin(pi*x)"]
    assert again.state.last_snapshot["locked"][0] == [(0, 0, "x")]
    assert not again.state.dirty
    # ... and the same loss curve, read back from the project
    assert curve[0].size > 0
    assert np.array_equal(again.loss_plot.steps, curve[0])
    assert np.allclose(again.loss_plot.train, curve[1])


def test_unsaved_changes_prompt_can_keep_the_window(qtbot, make_window, sample):
    window = make_window()
    open_and_load(qtbot, window, sample("toy_sin"))
    window.state.dirty = True
    window.projects.unsaved_prompt = lambda: "cancel"
    window.close()
    assert window.isVisible() and window.bridge.client.alive
    window.projects.unsaved_prompt = lambda: "discard"
