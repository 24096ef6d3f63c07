"""Part-2 commands already answer through the protocol: prune, undo, lock, save, open."""

from __future__ import annotations

from tests.worker.conftest import load, run_until


def _result(client, command: str) -> dict:
    event = client.wait_for(lambda e: e["event"] in ("result", "error"), timeout=60)
    assert event["event"] == "result" and event["command"] == command, event
    return event


def test_prune_undo_lock_save_and_open_project(thread_client, samples, tmp_path):
    load(thread_client, samples / "irrelevant_column.csv")
    thread_client.send("new_model", width=[3, 3, 1])
    thread_client.send("train", steps=12, opt="lbfgs", lamb=0.01)
    run_until(thread_client, "done", timeout=120)

    thread_client.send("prune", id=1)
    pruned = _result(thread_client, "prune")
    assert pruned["reply_to"] == 1 and pruned["width_before"] == [3, 3, 1]
    snap = thread_client.wait_for("snapshot")
    assert snap["width"] == pruned["width_after"]

    thread_client.send("undo")
    assert _result(thread_client, "undo")["what"] == "prune"
    state = thread_client.wait_for("state")
    assert state["model"]["width"] == [3, 3, 1] and state["can_redo"]

    thread_client.send("lock", layer=1, i=0, j=0, name="x")
    assert _result(thread_client, "lock")["name"] == "x"
    snap = thread_client.wait_for("snapshot")
    assert snap["locked"][1] == [(0, 0, "x")]

    path = tmp_path / "study.kstudio"
    thread_client.send("save", path=str(path))
    assert _result(thread_client, "save")["path"] == str(path) and path.is_file()
    thread_client.send("open_project", path=str(path))
    loaded = thread_client.wait_for("loaded")
    assert loaded["source"] == "project" and loaded["input_names"] == ["a", "b", "c"]
    assert loaded["columns"]["names"] == ["a", "b", "c", "f"]
    assert len(loaded["columns"]["values"][0]) == loaded["n_samples"]
    assert thread_client.wait_for("snapshot")["width"] == [3, 3, 1]


def test_a_formula_of_numeric_edges_is_refused_with_its_kind_and_edges(thread_client, samples):
    load(thread_client, samples / "toy_sin.csv")
    thread_client.send("new_model", width=[1, 1, 1])
    thread_client.send("train", steps=3, opt="adam")
    run_until(thread_client, "done", timeout=60)
    thread_client.send("lock", layer=1, i=0, j=0, name="x")
    _result(thread_client, "lock")
    thread_client.send("formula", id=3)
    error = thread_client.wait_for(lambda e: e["event"] == "error", timeout=60)
    assert error["kind"] == "formula_not_symbolic" and error["reply_to"] == 3
    assert error["fields"] == {"edges": [[0, 0, 0]]}  # the locked edge is not listed
    assert "not symbolic yet" in error["message"]  # the engine's own line, for scripts
