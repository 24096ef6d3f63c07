"""The window tells one true story (issue 13, "What the window says must be true"): views
of a model or dataset follow it, every action that trains is gated alike, numbers say
which rows and which model they are of, Discover says what it replaced and keeps it one
Undo away, a reopened project is what was saved, Fine-tune is a short fine-tune."""

from __future__ import annotations

import numpy as np
import pytest

from kanstudio.defaults import FINE_TUNE_STEPS
from kanstudio.gui.formula_panel import format_metric
from tests.gui.conftest import open_and_load, open_and_train, set_training, train

WAIT = 60_000

# Discover made small and fast (and poor: it replaces a good model by a worse one).
QUICK_DISCOVER = {"search_widths": False, "starts": 1, "sparse_steps": 2,
                  "after_prune_steps": 1, "refine_steps": 1, "fine_tune_steps": 1,
                  "trial_steps": 1, "alternatives": 0, "step_budget": 3, "structure": False,
                  "search": None, "search_leaf": None}


def _wait_result(qtbot, window, command: str, timeout: int = WAIT) -> dict:
    qtbot.waitUntil(lambda: command in window.state.last_result, timeout=timeout)
    return window.state.last_result[command]


def _sent(window) -> list[tuple[str, dict]]:
    """Record the commands the window sends from now on."""
    sent: list[tuple[str, dict]] = []
    send = window.bridge.send

    def record(command, **fields):
        sent.append((command, fields))
        return send(command, **fields)

    window.bridge.send = record
    return sent


def _quick_discover(window) -> None:
    """Discover's command carries QUICK_DISCOVER (the GUI sends none of its own)."""
    send = window.bridge.send

    def with_settings(command, **fields):
        if command == "discover":
            fields = {**fields, "settings": QUICK_DISCOVER}
        return send(command, **fields)

    window.bridge.send = with_settings


def _lock(qtbot, window, edge, name: str) -> None:
    window.state.last_result.pop("lock", None)
    window.edits.lock_edge(*edge, name)
    _wait_result(qtbot, window, "lock")


def _locked_sine(qtbot, window, sample) -> None:
    """toy_sin (f = sin(pi x)) on [1, 1, 1], trained, both edges locked: a formula."""
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", steps=20)
    _lock(qtbot, window, (0, 0, 0), "x")
    _lock(qtbot, window, (1, 0, 0), "sin")
    qtbot.waitUntil(lambda: window.formula_panel.result is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: len(window.network_view.lock_labels) == 2, timeout=WAIT)


# ---------------------------------------------------------------------------- stale results
def test_new_model_and_other_data_clear_the_formula_and_lock_labels(qtbot, window, sample):
    _locked_sine(qtbot, window, sample)
    panel, view = window.formula_panel, window.network_view
    assert panel.metric_labels["formula_test_r2"].text() != "—"

    window.runs.new_model()  # same width: the same drawing, but nothing locked any more
    qtbot.waitUntil(lambda: not window.state.engine.fitted, timeout=WAIT)
    qtbot.waitUntil(lambda: panel.result is None, timeout=WAIT)
    assert panel.metric_labels["formula_test_r2"].text() == "—"
    assert view.lock_labels == []

    train(qtbot, window, 5)
    _lock(qtbot, window, (1, 0, 0), "sin")
    qtbot.waitUntil(lambda: len(view.lock_labels) == 1, timeout=WAIT)
    open_and_load(qtbot, window, sample("toy_sin"))  # the same file again: the same drawing
    assert view.lock_labels == [] and _curve_points(window) == 0
    assert all(item.yData is None or not np.isfinite(item.yData).any()
               for item in view.locked_items)
    assert panel.result is None and window.loss_plot.steps.size == 0

    train(qtbot, window, 5)
    _lock(qtbot, window, (1, 0, 0), "sin")
    qtbot.waitUntil(lambda: len(view.lock_labels) == 1, timeout=WAIT)
    open_and_load(qtbot, window, sample("toy_xy"))  # another CSV
    assert panel.result is None and panel.metric_labels["network_test_r2"].text() == "—"
    qtbot.waitUntil(lambda: view.net_geometry is not None
                    and view.net_geometry.width[0] == 2, timeout=WAIT)
    assert view.lock_labels == []
    assert window.loss_plot.steps.size == 0


def _curve_points(window) -> int:
    """Points of edge curves the network view draws now."""
    return sum(int(np.isfinite(item.yData).sum()) for item in window.network_view.curve_items
               if item.yData is not None)


# ---------------------------------------------------------------------------- gating
def _blocked_csv(tmp_path):
    rows = ["a,b,f"] + [f"{i / 10},{i % 7},{i * 0.3}" for i in range(30)]
    rows[4] = "0.3,oops,0.9"
    path = tmp_path / "typo.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_discover_and_fine_tune_are_gated_like_train(qtbot, window, sample, tmp_path):
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", steps=3)
    e = window.edit_actions
    assert e.discover.isEnabled() and e.fine_tune.isEnabled()
    assert window.projects.open_csv(str(_blocked_csv(tmp_path)))  # "fix the problems below"
    assert not window.training_panel.train_button.isEnabled()
    assert not e.discover.isEnabled() and not e.fine_tune.isEnabled()
    sent = _sent(window)
    window.edits.discover()
    window.edits.fine_tune()
    qtbot.wait(300)
    assert not {"discover", "train"} & {c for c, _ in sent}  # nothing trains on old data
    assert not window.runs.training

    window.data_panel.set_role("b", "ignore")  # fixed: everything trains again
    qtbot.waitUntil(lambda: bool(window.state.engine.has_data), timeout=WAIT)
    assert window.training_panel.train_button.isEnabled() and e.discover.isEnabled()
    window.training_panel.width_edit.setText("oops")  # an invalid width blocks them all
    window.training_panel.settings_edited.emit()
    assert not window.training_panel.train_button.isEnabled()
    assert not e.discover.isEnabled()


# ---------------------------------------------------------------------------- numbers
def test_progress_bar_and_loss_panel_say_which_steps_and_rows(qtbot, window, sample):
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", steps=5)
    train(qtbot, window, 3)  # continues: steps 6..8 of the model, 1..3 of this run
    bar, summary = window.training_panel.progress, window.loss_plot.summary
    qtbot.waitUntil(lambda: window.loss_plot.steps.size == 8, timeout=WAIT)
    assert bar.text() == "this run: step 3 of 3"
    assert summary.text().startswith("step 8 of the model's training")
    assert "test RMSE" in summary.text() and "held-out rows" in summary.text()
    heads = [window.formula_panel.metrics.itemAtPosition(0, c).widget().text()
             for c in (1, 2)]
    assert all("held-out rows" in h for h in heads)


def test_after_discover_the_loss_panel_is_the_model_s_own_history(qtbot, window, sample):
    open_and_load(qtbot, window, sample("toy_sin"))
    _quick_discover(window)
    window.edit_actions.discover.trigger()
    assert _wait_result(qtbot, window, "discover", 120_000)["reason"] == "finished"
    panel, plot = window.formula_panel, window.loss_plot
    qtbot.waitUntil(lambda: panel.result is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: not window.state.engine.busy, timeout=WAIT)
    # the curve is the chosen model's training, not every trial Discover ran
    assert plot.steps.size == window.state.engine.step
    np.testing.assert_allclose(plot.test[-1], panel.result["network_test_rmse"], rtol=1e-6)
    # the summary's "network now" and the formula panel's Network row: one source
    network = panel.result["network_test_rmse"]
    qtbot.waitUntil(lambda: plot.current is not None, timeout=WAIT)
    assert plot.current["test_rmse"] == pytest.approx(network, rel=1e-9)
    assert "network now: train RMSE" in plot.summary.text()
    assert f"test RMSE {format_metric(network)} (held-out rows)" in plot.summary.text()
    assert panel.metric_labels["network_test_rmse"].text() == format_metric(network)


def test_a_reopened_trained_project_says_it_is_trained(qtbot, make_window, sample, tmp_path):
    window = make_window()
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", steps=7)
    path = tmp_path / "trained.kstudio"
    window.projects.save_project_to(str(path))
    qtbot.waitUntil(lambda: not window.state.dirty, timeout=WAIT)
    window.close()
    again = make_window()
    assert again.projects.open_project(str(path))
    qtbot.waitUntil(lambda: again.state.engine.fitted, timeout=WAIT)
    bar = again.training_panel.progress
    assert "not trained" not in bar.text() and "7 steps" in bar.text()
    assert again.loss_plot.steps.size == again.state.engine.step == 7
    assert again.training_panel.train_button.text() == "Continue training"


# ---------------------------------------------------------------------------- Discover
def test_discover_says_what_it_replaced_and_undo_brings_it_back(qtbot, window, sample):
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", steps=20)
    before = window.state.last_done["metrics"]["test_rmse"]
    steps_before = window.state.engine.step
    _quick_discover(window)
    window.edit_actions.discover.trigger()
    result = _wait_result(qtbot, window, "discover", 120_000)
    assert result["reason"] == "finished"
    replaced = result["replaced"]
    assert replaced["test_rmse_before"] == pytest.approx(before, rel=1e-9)
    assert replaced["worse"] and replaced["test_rmse_after"] > before
    qtbot.waitUntil(lambda: window.messages.history[-1].kind == "warning", timeout=WAIT)
    text = window.messages.current_text()
    assert "worse" in text and format_metric(before) in text and "Undo" in text
    qtbot.waitUntil(lambda: not window.state.engine.busy, timeout=WAIT)

    window.state.last_result.pop("undo", None)
    window.edit_actions.undo.trigger()  # one step back: the user's own model
    assert _wait_result(qtbot, window, "undo")["what"] == "Discover"
    qtbot.waitUntil(lambda: window.state.engine.step == steps_before, timeout=WAIT)
    assert window.loss_plot.steps.size == steps_before


# ---------------------------------------------------------------------------- reopened project
def test_a_reopened_locked_project_shows_its_formula_at_once(qtbot, window, sample, tmp_path):
    _locked_sine(qtbot, window, sample)
    path = tmp_path / "locked.kstudio"
    window.projects.save_project_to(str(path))
    qtbot.waitUntil(lambda: not window.state.dirty, timeout=WAIT)
    open_and_train(qtbot, window, sample("toy_xy"), "2, 2, 1", steps=2)  # something else
    qtbot.waitUntil(lambda: window.edit_actions.undo.isEnabled(), timeout=WAIT)
    assert window.projects.open_project(str(path))
    panel = window.formula_panel
    qtbot.waitUntil(lambda: panel.result is not None, timeout=WAIT)
    assert panel.result["formulas"] == ["sin(pi*x)"] or "sin" in panel.result["formulas"][0]
    qtbot.waitUntil(lambda: not window.edit_actions.undo.isEnabled(), timeout=WAIT)
    assert "undo history starts fresh" in window.messages.current_text().lower()


# ---------------------------------------------------------------------------- fine-tune
def test_fine_tune_is_short_and_does_not_use_the_training_steps(qtbot, window, sample):
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", steps=10)
    _lock(qtbot, window, (0, 0, 0), "x")
    _lock(qtbot, window, (1, 0, 0), "sin")
    qtbot.waitUntil(lambda: not window.state.engine.busy, timeout=WAIT)
    set_training(window, steps=3000, opt="adam")
    sent = _sent(window)
    window.state.last_done = None
    window.edit_actions.fine_tune.trigger()
    qtbot.waitUntil(lambda: window.state.last_done is not None and not window.runs.training,
                    timeout=WAIT)
    (fields,) = [f for c, f in sent if c == "train"]
    assert fields["steps"] == FINE_TUNE_STEPS and fields["lamb"] == 0.0
    assert fields["opt"] == "lbfgs" and fields.get("update_grid") is False
    done = window.state.last_done
    assert done["steps"] == FINE_TUNE_STEPS and done["reason"] == "finished"
    assert window.training_panel.steps.value() == 3000  # the user's setting is untouched
    assert window.training_panel.progress.text().startswith("Fine-tune")
    losses = window.loss_plot.train[-FINE_TUNE_STEPS:]
    assert losses[-1] <= losses[0]  # it converges: no worse at its end than its start
