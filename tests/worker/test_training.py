"""Training through the worker (in-thread mode, same protocol as the app's process)."""

from __future__ import annotations

import math
import time

import numpy as np

from tests.worker.conftest import load, run_until


def _events(seen, name):
    return [e for e in seen if e["event"] == name]


def test_load_then_train_streams_progress_and_snapshots(thread_client, samples):
    loaded = load(thread_client, samples / "toy_xy.csv")
    assert loaded["input_names"] == ["x", "y"] and loaded["target_names"] == ["f"]
    assert loaded["n_samples"] == 1000 and loaded["default_width"] == [2, 5, 1]
    thread_client.send("train", steps=6, opt="adam")
    seen = run_until(thread_client, "done")
    progress = _events(seen, "progress")
    assert [p["run_step"] for p in progress] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(p["train_loss"]) and p["train_loss"] > 0 for p in progress)
    assert progress[-1]["loss_units"] == "target"
    snap = _events(seen, "snapshot")[-1]  # always one at the end of a run
    assert snap["step"] == 6 and snap["width"] == [2, 5, 1]
    assert snap["input_names"] == ["x", "y"] and snap["target_names"] == ["f"]
    assert [a.shape for a in snap["x"]] == [(2, 48), (5, 48)]
    assert [a.shape for a in snap["y"]] == [(2, 5, 48), (5, 1, 48)]
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in snap["y"])
    assert [a.shape for a in snap["edge_scores"]] == [(2, 5), (5, 1)]
    assert [a.shape for a in snap["node_scores"]] == [(2,), (5,), (1,)]
    done = _events(seen, "done")[0]
    assert done["reason"] == "finished" and done["steps_done"] == 6
    assert 0 < done["metrics"]["test_rmse"] < 1.0
    state = thread_client.wait_for("state")
    assert state["fitted"] and not state["training"] and state["step"] == 6


def test_pause_step_resume_stop_and_train_again(thread_client, samples):
    load(thread_client, samples / "toy_xy.csv")
    thread_client.send("train", steps=2000, opt="adam")
    thread_client.wait_for("progress")
    thread_client.send("pause")
    state = thread_client.wait_for(lambda e: e["event"] == "state" and e["paused"])
    paused_at = state["run_step"]
    time.sleep(0.3)
    assert _events(thread_client.poll(), "progress") == []  # paused between two steps

    thread_client.send("step")
    seen = run_until(thread_client, lambda e: e["event"] == "state" and e["paused"]
                     and e["run_step"] == paused_at + 1)
    assert [p["run_step"] for p in _events(seen, "progress")] == [paused_at + 1]
    assert _events(seen, "snapshot")[-1]["step"] == paused_at + 1  # a step shows its result
    time.sleep(0.2)
    assert _events(thread_client.poll(), "progress") == []  # exactly one step

    thread_client.send("resume")
    thread_client.wait_for(lambda e: e["event"] == "progress"
                           and e["run_step"] > paused_at + 3)
    thread_client.send("stop")
    seen = run_until(thread_client, "done")
    done = _events(seen, "done")[0]
    assert done["reason"] == "stopped" and done["steps_done"] < 2000
    assert max((p["run_step"] for p in _events(seen, "progress")), default=0) <= done["steps_done"]
    total = thread_client.wait_for("state")["step"]

    thread_client.send("train", steps=3, opt="adam")  # a new run continues the model
    seen = run_until(thread_client, "done")
    assert [p["step"] for p in _events(seen, "progress")] == [total + 1, total + 2, total + 3]


def test_step_when_idle_starts_a_paused_run_of_one_step(thread_client, samples):
    load(thread_client, samples / "toy_sin.csv")
    thread_client.send("step", steps=50, opt="adam")
    seen = run_until(thread_client, lambda e: e["event"] == "state" and e["paused"]
                     and e["run_step"] == 1)
    assert len(_events(seen, "progress")) == 1
    thread_client.send("stop")
    done = thread_client.wait_for("done")
    assert done["reason"] == "stopped" and done["steps_done"] == 1


def test_snapshots_are_throttled_and_the_last_one_is_current(thread_client, samples):
    load(thread_client, samples / "toy_sin.csv")
    thread_client.send("train", steps=150, opt="adam")
    start = time.perf_counter()
    seen = run_until(thread_client, "done")
    seconds = time.perf_counter() - start
    snaps = _events(seen, "snapshot")
    # 30 a second on average: besides the schedule, the first and the last (fresh) one,
    # and one catch-up after each slow step (a labelling); an unthrottled run sends 150.
    assert 1 <= len(snaps) <= seconds * 30 + 6
    # Not "fewer snapshots than steps": on a loaded machine each step may take longer than
    # 1/30 s and earn one. The spacing is tested with a fake clock in test_protocol.py.
    assert snaps[-1]["step"] == 150


def test_settings_and_new_model_shape_the_network(thread_client, samples):
    load(thread_client, samples / "toy_xy.csv")
    thread_client.send("set_settings", settings={"grid": 7, "k": 2, "seed": 3})
    thread_client.send("new_model", width=[2, 3, 2, 1])
    state = thread_client.wait_for(lambda e: e["event"] == "state" and e["has_model"])
    assert state["model"]["width"] == [2, 3, 2, 1] and state["model"]["grid"] == 7
    assert not state["fitted"] and state["settings"]["k"] == 2
    thread_client.send("train", steps=2, opt="adam")
    seen = run_until(thread_client, "done")
    assert _events(seen, "snapshot")[-1]["width"] == [2, 3, 2, 1]
