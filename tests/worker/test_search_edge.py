"""``search_edge`` in the worker: progress per chunk of generations, a front of candidates
that ``lock`` accepts (one undo step), Stop cancels, and a missing engine is said plainly."""

from __future__ import annotations

import numpy as np
import pytest

from kanstudio.symbolic.search import available
from tests.worker.conftest import train_model, until_result

needs_engine = pytest.mark.skipif(not available(),
                                  reason="the search engine (pyoperon) is not installed")


def _train(client, samples, steps: int = 20) -> None:
    train_model(client, samples / "toy_sin.csv", [1, 1], steps)


def _now(client) -> tuple[dict, dict]:
    client.send("snapshot")
    snap = client.wait_for("snapshot", timeout=30)
    client.send("set_settings", settings={})
    return snap, client.wait_for("state", timeout=30)


@needs_engine
def test_search_reports_progress_then_candidates_that_lock_in_one_undo_step(
        thread_client, samples):
    _train(thread_client, samples)
    thread_client.send("search_edge", layer=0, i=0, j=0, budget="small", id=3)
    assert thread_client.wait_for("state", timeout=30)["editing"] == "search_edge"
    seen = until_result(thread_client, "search_edge")
    progress = [e for e in seen if e["event"] == "edit_progress"]
    assert [e["step"] for e in progress] == [10, 20, 30, 40, 50]
    assert progress[0]["message"].startswith("Searching expressions for edge (0, 0, 0)")
    result = seen[-1]
    assert result["event"] == "result" and result["reason"] == "finished"
    assert result["reply_to"] == 3
    cands = result["candidates"]
    assert cands and cands[0]["r2"] > 0.999 and cands[0]["source"] == "search"
    assert all(c["name"].startswith("expr:") for c in cands)
    assert "sin" in cands[0]["expression"]
    _snap, state = _now(thread_client)
    assert state["editing"] is None and not state["can_redo"]

    thread_client.send("lock", layer=0, i=0, j=0, name=cands[0]["name"])
    locked = until_result(thread_client, "lock")[-1]
    assert locked["event"] == "result" and locked["r2"] > 0.999
    assert "sin" in locked["label"] and not locked["label"].startswith("expr:")
    snap, _state = _now(thread_client)
    assert snap["locked"][0] and "sin" in snap["locked"][0][0][2]
    thread_client.send("formula")
    formula = until_result(thread_client, "formula")[-1]
    assert "sin" in formula["formulas"][0]
    thread_client.send("undo")
    assert until_result(thread_client, "undo")[-1]["what"].startswith("lock (0, 0, 0) to ")
    snap, _state = _now(thread_client)
    assert not snap["locked"][0]


@needs_engine
def test_stop_cancels_a_search_and_leaves_the_model_as_it_was(thread_client, samples):
    _train(thread_client, samples)
    before, state_before = _now(thread_client)
    thread_client.send("search_edge", layer=0, i=0, j=0, budget="medium")
    thread_client.wait_for("edit_progress", timeout=120)  # the engine runs
    thread_client.send("stop")
    seen = until_result(thread_client, "search_edge")
    assert seen[-1]["reason"] == "cancelled" and "candidates" not in seen[-1]
    progress = [e for e in seen if e["event"] == "edit_progress"]
    assert len(progress) < 10  # stopped before the end: medium reports 10 times
    after, state = _now(thread_client)
    assert state["editing"] is None and state["can_undo"] == state_before["can_undo"]
    for y0, y1 in zip(before["y"], after["y"], strict=True):
        np.testing.assert_array_equal(y0, y1)


def test_a_missing_engine_is_said_once_and_everything_else_works(thread_client, samples,
                                                                 monkeypatch):
    import kanstudio.symbolic.search.operon as operon

    def broken():
        raise ImportError("No module named 'pyoperon'")

    monkeypatch.setattr(operon, "_import", broken)
    _train(thread_client, samples, steps=5)
    thread_client.send("search_edge", layer=0, i=0, j=0)
    error = thread_client.wait_for("error", timeout=60)
    assert error["kind"] == "search_unavailable" and error["command"] == "search_edge"
    assert "pip install pyoperon" in error["message"]
    _snap, state = _now(thread_client)
    assert state["editing"] is None and state["fitted"]
    thread_client.send("lock", layer=0, i=0, j=0, name="sin")  # the library still works
    assert until_result(thread_client, "lock")[-1]["event"] == "result"


@pytest.fixture
def two_thread_client():
    """A worker set to two torch threads (the app's thread setting), shut down after."""
    import torch

    from kanstudio.worker import WorkerClient

    before = torch.get_num_threads()
    client = WorkerClient(mode="thread", torch_threads=2)
    client.start()
    assert client.wait_for("ready", timeout=60)["torch_threads"] == 2
    yield client
    client.shutdown(timeout=10)
    torch.set_num_threads(before)


def test_the_engine_threads_follow_the_workers_thread_setting(two_thread_client, samples,
                                                              monkeypatch):
    from kanstudio.session import Session
    from kanstudio.worker import handlers

    thread_client = two_thread_client

    asked: dict[str, int] = {}

    def fake_search(self, layer, i, j, budget="small", threads=1, progress=None):
        asked["search"] = threads
        progress(10, 10)
        return []

    class FakeDiscover:  # records the settings Discover would run with, then refuses
        def __init__(self, session, settings, reply_to=None):
            asked["discover"] = settings["search_threads"]
            raise ValueError("not this time")

    monkeypatch.setattr(Session, "search_edge", fake_search)
    monkeypatch.setattr(handlers, "DiscoverRun", FakeDiscover)
    monkeypatch.setattr("kanstudio.session.search_step.engine_problem", lambda: "")
    _train(thread_client, samples, steps=3)
    thread_client.send("search_edge", layer=0, i=0, j=0)
    assert until_result(thread_client, "search_edge")[-1]["candidates"] == []
    thread_client.send("discover")
    thread_client.wait_for("error", timeout=30)
    assert asked == {"search": 2, "discover": 2}
    thread_client.send("discover", settings={"search_threads": 1})
    thread_client.wait_for("error", timeout=30)
    assert asked["discover"] == 1  # an explicit setting wins
