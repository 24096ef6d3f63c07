"""Model ▸ Discover across Seeds… (issue 15): seeds run in parallel local processes while
the window stays responsive; the stability table and one row per seed appear; choosing a
row makes that seed's model the window's as one undo step; Cancel keeps finished rows."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
from PySide6.QtCore import Qt, QTimer

from kanstudio.sweep.machine import available_cores
from tests.gui.conftest import train

WAIT = 60_000
SWEEP_WAIT = 300_000  # spawned processes import torch; the machine may be busy
# The real pipeline with budgets of a step or two (as tests/fuzz/conftest.py fast_pipeline)
TINY = dict(starts=1, start_steps=1, sparse_steps=2, after_prune_steps=1, refine_steps=1,
            fine_tune_steps=2, trial_steps=1, alternatives=1, max_search_edges=2,
            step_budget=8, time_budget_s=30.0)


def _line_csv(folder) -> str:
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.0, 1.0, 40)
    path = folder / "line.csv"
    path.write_text("x,y\n" + "".join(f"{a:.6f},{2 * a + 1:.6f}\n" for a in x),
                    encoding="utf-8")
    return str(path)


def _trained_window(qtbot, window, tmp_path):
    assert window.projects.open_csv(_line_csv(tmp_path))
    qtbot.waitUntil(lambda: bool(window.state.engine.has_data), timeout=WAIT)
    train(qtbot, window, steps=2)
    qtbot.waitUntil(lambda: window.state.last_snapshot is not None, timeout=WAIT)


def _model_view(window) -> tuple:
    """What the window draws of the model: its step count, locks and edge curves."""
    snap = window.state.last_snapshot
    return snap["step"], str(snap["locked"]), [np.asarray(y).tobytes() for y in snap["y"]]


def _wait_result(qtbot, window, command: str) -> dict:
    qtbot.waitUntil(lambda: command in window.state.last_result, timeout=WAIT)
    return window.state.last_result[command]


def test_seeds_run_in_parallel_and_a_row_loads_as_one_undo_step(qtbot, window, tmp_path):
    _trained_window(qtbot, window, tmp_path)
    before = _model_view(window)
    assert window.state.engine.settings["seed"] == 0
    seeds = window.seeds
    seeds.pipeline = dict(TINY)
    window.edit_actions.discover_seeds.trigger()  # Model ▸ Discover across Seeds…
    dialog = seeds.dialog
    assert dialog is not None and dialog.isVisible() and dialog.seeds.value() == 4
    dialog.seeds.setValue(2)

    ticks: list[float] = []  # the window's event loop, timed while the seeds run
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(50)
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert seeds.running and not dialog.run_button.isEnabled()
    assert seeds.thread.processes == min(2, available_cores())
    qtbot.waitUntil(lambda: not seeds.running, timeout=SWEEP_WAIT)
    timer.stop()
    gaps = np.diff(ticks)
    # responsive throughout: the seeds' processes do the work, the window only waits (the
    # bound leaves room for a machine shared with others; a blocked loop takes the run)
    assert len(ticks) > 20 and gaps.max() < 3.0, gaps.max()

    # One row per seed, sorted by seed, and the stability table over them.
    assert dialog.seed_table.rowCount() == 2
    assert [dialog.seed_table.item(r, 0).text() for r in range(2)] == ["0", "1"]
    for r in range(2):
        assert dialog.seed_table.item(r, 1).text().startswith("y = "), dialog.rows[r]
        assert dialog.seed_table.item(r, 2).text() in ("verified", "approximate")
        assert float(dialog.seed_table.item(r, 4).text()) > 0
    counts = [dialog.stability.item(r, 1).text() for r in range(dialog.stability.rowCount())]
    assert counts and sum(int(c.split()[0]) for c in counts) == 2
    assert all(c.endswith("of 2 seeds") for c in counts)
    assert dialog.status.text().startswith("Finished: 2 seed(s).")
    assert dialog.run_button.isEnabled() and not dialog.cancel_button.isEnabled()

    # Choose seed 1: its model, settings and formula become the window's.
    dialog.seed_table.selectRow(1)
    assert dialog.load_button.isEnabled()
    window.state.last_result.clear()
    window.state.last_snapshot = None
    qtbot.mouseClick(dialog.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.state.last_snapshot is not None, timeout=WAIT)
    adopted = _wait_result(qtbot, window, "adopt_project")
    assert adopted["seed"] == 1 and "seed 1" in adopted["what"]
    qtbot.waitUntil(lambda: window.state.engine.settings["seed"] == 1, timeout=WAIT)
    loaded = _model_view(window)
    assert loaded != before
    assert window.state.engine.can_undo and window.state.dirty
    formula = _wait_result(qtbot, window, "formula")  # the formula panel follows the model
    assert formula["formulas"] and formula["formula_test_r2"] is not None
    assert "Edit ▸ Undo" in window.messages.current_text()

    # One Undo puts the previous model (and seed) back; Redo brings the seed's again.
    window.state.last_snapshot = None
    window.edit_actions.undo.trigger()
    qtbot.waitUntil(lambda: window.state.last_snapshot is not None, timeout=WAIT)
    assert "seed 1" in _wait_result(qtbot, window, "undo")["what"]
    qtbot.waitUntil(lambda: window.state.engine.settings["seed"] == 0, timeout=WAIT)
    assert _model_view(window) == before
    window.state.last_snapshot = None
    window.edit_actions.redo.trigger()
    qtbot.waitUntil(lambda: window.state.last_snapshot is not None, timeout=WAIT)
    assert _model_view(window) == loaded


def test_cancel_stops_the_seeds_and_keeps_finished_rows(qtbot, window, tmp_path):
    _trained_window(qtbot, window, tmp_path)
    seeds = window.seeds
    seeds.pipeline = dict(TINY)
    seeds.processes = 1  # seed 0 finishes while seed 1 has not: Cancel stops seed 1
    dialog = seeds.show_dialog()
    dialog.seeds.setValue(2)
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(dialog.rows) == 1, timeout=SWEEP_WAIT)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not seeds.running, timeout=WAIT)
    assert dialog.seed_table.rowCount() == 1 and len(dialog.rows) == 1
    assert dialog.status.text().startswith("Cancelled: 1 of 2 seed(s) finished and are kept")
    assert dialog.stability.rowCount() == 1
    assert dialog.stability.item(0, 1).text() == "1 of 1 seeds"
    qtbot.waitUntil(lambda: not multiprocessing.active_children(), timeout=WAIT)
    # The finished row is still a model to load.
    dialog.seed_table.selectRow(0)
    assert dialog.load_button.isEnabled()
    assert seeds.load_seed(0)
    assert _wait_result(qtbot, window, "adopt_project")["seed"] == 0
