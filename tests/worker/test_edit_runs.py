"""Refine and auto-symbolic run step by step in the worker (progress, cancel = no change),
and undo/redo carry the restored model's loss curve."""

from __future__ import annotations

import numpy as np

from tests.worker.conftest import load, run_until

N_EDGES = 3 * 3 + 3 * 1  # width [3, 3, 1]


def _train(client, samples, steps: int = 6) -> None:
    load(client, samples / "irrelevant_column.csv")
    client.send("new_model", width=[3, 3, 1])
    client.send("train", steps=steps, opt="lbfgs")
    run_until(client, "done", timeout=120)
    client.wait_for("state", timeout=30)  # the state that ends the run


def _until_result(client, command: str, timeout: float = 120) -> list[dict]:
    seen: list[dict] = []
    client.wait_for(lambda e: e["event"] == "result" and e["command"] == command,
                    timeout=timeout, collect=seen)
    return seen


def _now(client) -> tuple[dict, dict]:
    """A fresh snapshot and state of the worker as it is now."""
    client.send("snapshot")
    snap = client.wait_for("snapshot", timeout=30)
    client.send("set_settings", settings={})
    return snap, client.wait_for("state", timeout=30)


def test_auto_symbolic_reports_each_edge_then_locks(thread_client, samples):
    _train(thread_client, samples)
    thread_client.send("auto_symbolic", lock_all=True, id=7)
    assert thread_client.wait_for("state", timeout=30)["editing"] == "auto_symbolic"
    seen = _until_result(thread_client, "auto_symbolic")
    progress = [e for e in seen if e["event"] == "edit_progress"]
    assert [e["step"] for e in progress] == list(range(1, N_EDGES + 1))
    assert {e["steps"] for e in progress} == {N_EDGES}
    assert progress[2]["message"].startswith(f"Auto-symbolic: edge 3 of {N_EDGES}")
    result = seen[-1]
    assert result["reason"] == "finished" and result["reply_to"] == 7
    assert len(result["edges"]) == N_EDGES and all(e["locked"] for e in result["edges"])
    snap, state = _now(thread_client)
    assert sum(len(layer) for layer in snap["locked"]) == N_EDGES
    assert state["editing"] is None
    thread_client.send("undo")
    assert _until_result(thread_client, "undo")[-1]["what"] == "auto-symbolic"


def test_stop_cancels_auto_symbolic_and_leaves_the_model_as_it_was(thread_client, samples):
    _train(thread_client, samples)
    before, state_before = _now(thread_client)
    thread_client.send("auto_symbolic", lock_all=True)
    thread_client.wait_for("edit_progress", timeout=60)  # it has locked an edge (on a copy)
    thread_client.send("stop")
    seen = _until_result(thread_client, "auto_symbolic")
    assert seen[-1]["reason"] == "cancelled" and "edges" not in seen[-1]
    assert len([e for e in seen if e["event"] == "edit_progress"]) < N_EDGES
    after, state = _now(thread_client)
    assert state["editing"] is None and not state["training"]
    assert all(not layer for layer in after["locked"])
    for y0, y1 in zip(before["y"], after["y"], strict=True):
        np.testing.assert_array_equal(y0, y1)  # exactly the same curves
    assert state["step"] == state_before["step"] and not state["can_redo"]
    thread_client.send("undo")  # no undo step was added: undo takes back the training
    assert _until_result(thread_client, "undo")[-1]["what"] == "train"


def test_refine_reports_layers_and_stop_cancels_it(thread_client, samples):
    _train(thread_client, samples, steps=3)
    thread_client.send("refine", grid=9)
    thread_client.send("stop")  # read in the same turn: cancelled before any layer
    seen = _until_result(thread_client, "refine")
    assert seen[-1]["reason"] == "cancelled"
    _snap, state = _now(thread_client)
    assert state["model"]["grid"] == 5
    thread_client.send("refine", grid=9)
    seen = _until_result(thread_client, "refine")
    progress = [e for e in seen if e["event"] == "edit_progress"]
    assert [(e["step"], e["steps"]) for e in progress] == [(1, 2), (2, 2)]
    assert seen[-1]["reason"] == "finished" and seen[-1]["grid"] == 9
    _snap, state = _now(thread_client)
    assert state["model"]["grid"] == 9


def test_undo_and_redo_send_the_restored_models_loss_curve(thread_client, samples):
    _train(thread_client, samples, steps=4)
    thread_client.send("train", steps=3, opt="lbfgs")
    progress: list[dict] = []
    thread_client.wait_for("done", timeout=120, collect=progress)
    last = [e for e in progress if e["event"] == "progress"][-1]
    assert last["step"] == 7
    thread_client.send("undo")
    losses = _until_result(thread_client, "undo")[-1]["losses"]
    assert list(losses["step"]) == [1, 2, 3, 4] and len(losses["train_loss"]) == 4
    thread_client.send("redo")
    losses = _until_result(thread_client, "redo")[-1]["losses"]
    assert list(losses["step"]) == list(range(1, 8))
    assert losses["train_loss"][-1] == last["train_loss"]  # the curve as progress drew it
    assert losses["loss_units"] == last["loss_units"]
