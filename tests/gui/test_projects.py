"""Projects from the window: a hostile or corrupted file leaves the session as it was;
auto-prune's preview; image export of the views."""

from __future__ import annotations

import json
import zipfile

import pytest

from kanstudio.gui.edit_dialogs import AutoPruneDialog, describe_auto_symbolic
from kanstudio.gui.project_controller import export_view
from tests.gui.conftest import open_and_load, open_and_train, set_training

WAIT = 60_000


def _hostile(tmp_path):
    path = tmp_path / "hostile.kstudio"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("manifest.json", json.dumps({"schema_version": 1}))
        z.writestr("session.json", json.dumps({"formula": "__import__('os').system('x')"}))
        z.writestr("../../escape.txt", "x")
    return path


@pytest.mark.parametrize("kind", ["corrupted", "hostile"])
def test_a_bad_project_shows_a_message_and_keeps_the_session(qtbot, window, sample,
                                                             tmp_path, kind):
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", steps=3)
    before = window.state.engine
    title = window.windowTitle()
    if kind == "corrupted":
        path = tmp_path / "broken.kstudio"
        path.write_bytes(b"PK\x03\x04 truncated zip")
    else:
        path = _hostile(tmp_path)
    with qtbot.waitSignal(window.bridge.error, timeout=WAIT):
        window.projects.open_project(str(path))
    text = window.messages.current_text()
    assert text and "Traceback" not in text
    assert not (tmp_path.parent / "escape.txt").exists()
    assert window.windowTitle() == title and window.state.current_project is None
    window.bridge.send("snapshot")
    qtbot.wait(300)
    state = window.state.engine
    assert state.fitted and state.model == before.model
    assert state.step == before.step  # the trained model is still there


def test_auto_prune_dialog_shows_only_the_answer_to_its_current_thresholds(qtbot):
    dialog = AutoPruneDialog()
    qtbot.addWidget(dialog)
    asked = []
    dialog.preview_requested.connect(lambda node, edge: asked.append((node, edge)))
    answer = {"node_threshold": 0.01, "edge_threshold": 0.03, "width_before": [3, 5, 1],
              "width_after": [2, 4, 1], "test_rmse_before": 0.1, "test_rmse_after": 0.45,
              "removed_nodes": [[0, 2], [1, 3]], "removed_edges": [[0, 2, 0], [1, 3, 0]]}
    assert dialog.show_preview(answer)
    text = dialog.preview.text()
    assert "2 node(s) and 2 edge(s)" in text and "0.1 → 0.45" in text
    assert "[3, 5, 1] → [2, 4, 1]" in text
    dialog.edge_threshold.setValue(0.2)  # the answer above is for 0.03: stale now
    assert "Working out" in dialog.preview.text()
    assert not dialog.show_preview(answer)
    qtbot.waitUntil(lambda: asked == [(0.01, 0.2)], timeout=2000)  # asked once it settled
    assert dialog.show_preview({**answer, "edge_threshold": 0.2, "removed_nodes": [],
                                "removed_edges": []})
    assert "change nothing" in dialog.preview.text()
    assert dialog.thresholds() == {"node_threshold": 0.01, "edge_threshold": 0.2}


def test_auto_symbolic_summary_names_locked_and_numeric_edges():
    text = describe_auto_symbolic([{"edge": [0, 0, 0], "locked": True, "name": "sin"},
                                   {"edge": [1, 0, 0], "locked": False, "name": "x"}])
    assert "(0, 0, 0) → sin" in text and "Left numeric" in text and "(1, 0, 0)" in text


def test_views_export_as_png_and_svg(qtbot, window, sample, tmp_path):
    open_and_load(qtbot, window, sample("toy_xy"))
    qtbot.waitUntil(lambda: window.network_view.net_geometry is not None, timeout=WAIT)
    for name in ("net.png", "net.svg"):
        export_view(window.network_view, str(tmp_path / name))
        assert (tmp_path / name).stat().st_size > 500
    export_view(window.loss_plot.plot, str(tmp_path / "loss.svg"))
    assert (tmp_path / "loss.svg").read_text().lstrip().startswith("<?xml")


def test_discover_shows_its_stages_and_ends_with_a_formula(qtbot, window, sample):
    open_and_load(qtbot, window, sample("toy_sin"))
    window.edit_actions.discover.trigger()
    assert window.runs.training and window.actions.stop.isEnabled()  # Stop ends it
    qtbot.waitUntil(lambda: window.state.last_pipeline is not None, timeout=WAIT)
    assert window.statusBar().currentMessage().startswith("Discover, stage ")
    qtbot.waitUntil(lambda: "discover" in window.state.last_result, timeout=120_000)
    assert window.state.last_result["discover"]["reason"] == "finished"
    bar = window.training_panel.progress
    assert bar.format() == "Discover finished" and bar.value() == bar.maximum()
    panel = window.formula_panel
    qtbot.waitUntil(lambda: panel.result is not None, timeout=WAIT)
    assert panel.result["formula_test_r2"] > 0.999
    qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith(
        "Discover finished: f = "), timeout=WAIT)
    assert window.formula_panel.isVisible()  # its tab is in front of the inspector's
    assert window.state.engine.fitted and window.edit_actions.undo.isEnabled()
    # the stage log stays after the status bar moved on: each stage, ending on the formula
    log = window.discover_log.toPlainText().splitlines()
    stages = [line.split("]")[0][1:] for line in log]
    for stage in ("train", "prune", "symbolic", "formula"):
        assert stage in stages, log
    assert log[-1].startswith("[formula] ") and "sin" in log[-1], log


def test_a_long_search_in_discover_shows_its_progress_in_the_status_bar_not_the_log(window):
    """A search's "progress" reports (one per chunk of generations) tell the status bar how
    far it is; the stage log keeps only the decisions (its note when the search ends)."""
    stages = ["train", "prune", "refine", "symbolic", "fine-tune", "formula"]
    event = {"stage": "formula", "stage_index": 5, "stages": stages, "step": 40,
             "steps": 300, "train_loss": None, "test_loss": None}
    window.edits._on_pipeline({**event, "kind": "progress",
                               "message": "search with seed 3: generation 40 of 300"})
    assert window.statusBar().currentMessage() == (
        "Discover, stage 6 of 6: formula — search with seed 3: generation 40 of 300")
    assert window.discover_log.toPlainText() == ""
    window.edits._on_pipeline({**event, "kind": "note", "message": "the search found x"})
    assert window.discover_log.toPlainText() == "[formula] the search found x"


def test_discover_end_is_not_overwritten_by_its_last_queued_steps(qtbot, window):
    # Discover's training steps reach the bar through a timer (a few redraws a second);
    # its result may arrive before that timer fires. The bar must end on "Discover
    # finished", not on a late "step 40 of 40" (seen intermittently under load).
    window.runs.add_progress([{"event": "progress", "run_step": 40, "steps": 40,
                               "step": 40, "train_loss": 0.1, "test_loss": 0.1,
                               "steps_per_s": 10.0, "loss_units": "scaled"}])
    window.edits._discover_ended({"command": "discover", "reason": "finished"})
    qtbot.wait(600)  # longer than the progress timer
    bar = window.training_panel.progress
    assert bar.format() == "Discover finished" and bar.value() == bar.maximum()


def test_delete_prunes_the_selected_node_and_shows_the_cost(qtbot, window, sample):
    open_and_train(qtbot, window, sample("toy_xy"), "2, 3, 1", steps=3)
    qtbot.waitUntil(lambda: window.network_view.snapshots_applied > 0, timeout=WAIT)
    window.network_view.select_node(1, 2)
    assert window.network_view.selected is None
    window.edit_actions.delete.trigger()
    qtbot.waitUntil(lambda: "prune_node" in window.state.last_result, timeout=WAIT)
    result = window.state.last_result["prune_node"]
    assert result["width_before"] == [2, 3, 1] and result["width_after"] == [2, 2, 1]
    assert "Test RMSE" in window.messages.current_text()
    qtbot.waitUntil(lambda: window.network_view.net_geometry.width == [2, 2, 1],
                    timeout=WAIT)
    window.network_view.select_edge(0, 1, 0)
    window.edit_actions.delete.trigger()
    qtbot.waitUntil(lambda: "prune_edge" in window.state.last_result, timeout=WAIT)
    qtbot.waitUntil(lambda: not bool(window.state.last_snapshot["active"][0][1, 0]), timeout=WAIT)
    window.edit_actions.undo.trigger()
    qtbot.waitUntil(lambda: bool(window.state.last_snapshot["active"][0][1, 0]), timeout=WAIT)


def test_autosave_is_offered_back_after_a_crash(qtbot, make_window, sample):
    window = make_window()
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", steps=3)
    assert window.state.dirty
    window.projects.autosave()
    qtbot.waitUntil(lambda: "save" in window.state.last_result, timeout=WAIT)
    recovery = window.projects.recovery_path
    assert recovery.is_file() and window.state.dirty and window.state.current_project is None
    window.bridge.shutdown()  # a crash: the window never asks, the file stays
    window.state.dirty = False

    from kanstudio.gui.main_window import MainWindow

    again = MainWindow(worker_mode="thread")
    qtbot.addWidget(again)
    again.projects.unsaved_prompt = lambda: "discard"
    again.projects.recovery_prompt = lambda: True
    again.show()
    again.start_worker()
    qtbot.waitUntil(lambda: bool(again.state.engine.fitted), timeout=WAIT)
    assert again.state.engine.model["width"] == [1, 1, 1]
    assert again.state.current_project is None and again.state.dirty  # Save asks where to save it
    assert "recovered" in again.windowTitle()
    again.close()
    assert not recovery.exists()  # a clean exit removes it


def test_refine_grid_is_followed_by_the_panel_and_training_continues(qtbot, window, sample,
                                                                     monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    open_and_load(qtbot, window, sample("toy_sin"))
    set_training(window, steps=2, opt="lbfgs")
    window.runs.train()
    qtbot.waitUntil(lambda: window.state.last_done is not None and not window.runs.training,
                    timeout=WAIT)
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a, **k: (10, True))
    window.edit_actions.refine.trigger()
    qtbot.waitUntil(lambda: "refine" in window.state.last_result, timeout=WAIT)
    qtbot.waitUntil(lambda: window.training_panel.grid.value() == 10, timeout=WAIT)
    sent = []
    send = window.bridge.send
    monkeypatch.setattr(window.bridge, "send", lambda c, **f: (sent.append(c), send(c, **f)))
    window.state.last_done = None
    window.runs.train()
    qtbot.waitUntil(lambda: window.state.last_done is not None, timeout=WAIT)
    assert "train" in sent and "new_model" not in sent  # the refined model goes on training
    assert window.state.engine.model["grid"] == 10
