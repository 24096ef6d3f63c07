"""``search_node`` / ``lock_node`` / ``unlock_node`` / ``inspect_node`` in the worker: a
search reports progress and a front whose candidates ``lock_node`` accepts (one undo
step), the snapshot names the locked node, and a missing engine leaves locking by a typed
expression working."""

from __future__ import annotations

import pytest

from kanstudio.symbolic.search import available
from tests.worker.conftest import train_model, until_result

needs_engine = pytest.mark.skipif(not available(),
                                  reason="the search engine (pyoperon) is not installed")


def _train(client, samples, steps: int = 20) -> None:
    train_model(client, samples / "toy_sin.csv", [1, 1, 1], steps)


def _snapshot(client) -> dict:
    client.send("snapshot")
    return client.wait_for("snapshot", timeout=30)


@needs_engine
def test_search_a_node_lock_a_result_then_undo(thread_client, samples):
    _train(thread_client, samples)
    thread_client.send("search_node", layer=2, node=0, budget="small", id=7)
    assert thread_client.wait_for("state", timeout=30)["editing"] == "search_node"
    seen = until_result(thread_client, "search_node")
    progress = [e for e in seen if e["event"] == "edit_progress"]
    assert progress and progress[0]["message"].startswith(
        "Searching expressions for node (2, 0)")
    result = seen[-1]
    assert result["event"] == "result" and result["reason"] == "finished"
    assert result["reply_to"] == 7 and result["inputs"] == [0]
    cands = result["candidates"]
    assert cands and cands[0]["r2"] > 0.99 and cands[0]["inputs"] == [0]
    assert all(c["name"].startswith("expr:") for c in cands)
    assert "sin" in cands[0]["expression"] and "x" in cands[0]["expression"]

    thread_client.send("lock_node", layer=2, node=0, name=cands[0]["name"],
                       inputs=cands[0]["inputs"])
    locked = until_result(thread_client, "lock_node")[-1]
    assert locked["event"] == "result" and locked["r2"] > 0.99
    assert "sin" in locked["label"]
    snap = _snapshot(thread_client)
    assert snap["locked_nodes"] and tuple(snap["locked_nodes"][0][:2]) == (2, 0)
    thread_client.send("formula")
    assert "sin" in until_result(thread_client, "formula")[-1]["formulas"][0]
    thread_client.send("undo")
    assert until_result(thread_client, "undo")[-1]["what"].startswith(
        "lock node (2, 0) to ")
    assert "locked_nodes" not in _snapshot(thread_client)


def test_without_the_engine_a_typed_expression_still_locks_a_node(thread_client, samples,
                                                                  monkeypatch):
    import kanstudio.symbolic.search.operon as operon

    def broken():
        raise ImportError("No module named 'pyoperon'")

    monkeypatch.setattr(operon, "_import", broken)
    _train(thread_client, samples, steps=5)
    thread_client.send("search_node", layer=2, node=0)
    error = thread_client.wait_for("error", timeout=60)
    assert error["kind"] == "search_unavailable" and error["command"] == "search_node"

    thread_client.send("inspect_node", layer=1, node=0)
    node = until_result(thread_client, "inspect_node")[-1]
    assert node["inputs"] == [0] and node["input_names"] == ["x"] and node["locked"] is None
    assert len(node["x"]) == len(node["y"]) > 10

    thread_client.send("lock_node", layer=1, node=0, name="sin(pi*x1)")
    locked = until_result(thread_client, "lock_node")[-1]
    assert locked["event"] == "result" and locked["inputs"] == [0]
    assert locked["label"] == "sin(pi*x)"  # the data's name for the input
    thread_client.send("inspect_node", layer=1, node=0)
    assert until_result(thread_client, "inspect_node")[-1]["locked_label"] == "sin(pi*x)"
    thread_client.send("unlock_node", layer=1, node=0)
    assert until_result(thread_client, "unlock_node")[-1]["event"] == "result"
    assert "locked_nodes" not in _snapshot(thread_client)
    thread_client.send("lock_node", layer=0, node=0, name="x1")
    refused = thread_client.wait_for("error", timeout=30)
    assert refused["command"] == "lock_node" and "input node" in refused["message"]


@needs_engine
def test_stop_cancels_a_node_search_and_changes_nothing(thread_client, samples):
    _train(thread_client, samples, steps=5)
    thread_client.send("search_node", layer=1, node=0, budget="medium")
    thread_client.wait_for("edit_progress", timeout=120)  # the engine runs
    thread_client.send("stop")
    seen = until_result(thread_client, "search_node")
    assert seen[-1]["reason"] == "cancelled" and "candidates" not in seen[-1]
    assert len([e for e in seen if e["event"] == "edit_progress"]) < 10
    thread_client.send("set_settings", settings={})
    state = thread_client.wait_for("state", timeout=30)
    assert state["editing"] is None
    assert "locked_nodes" not in _snapshot(thread_client)


def test_a_node_pruned_away_is_gone_not_an_internal_error(thread_client, samples):
    """The window asks again for the node it shows right after a prune, before it knows
    the new width: a node that no longer exists is reported gone (the inspector clears)."""
    _train(thread_client, samples, steps=5)
    thread_client.send("inspect_node", layer=1, node=3)  # width [1, 1, 1]: no node 3
    reply = until_result(thread_client, "inspect_node")[-1]
    assert reply["event"] == "result" and reply["gone"] is True and reply["node"] == [1, 3]
