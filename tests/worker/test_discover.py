"""The one-click pipeline runs in the worker, stage by stage, and can be stopped."""

from __future__ import annotations

from tests.worker.conftest import load


def _discover_result(client, timeout=120):
    seen: list[dict] = []
    client.wait_for(lambda e: e["event"] == "result" and e["command"] == "discover",
                    timeout=timeout, collect=seen)
    return seen


def test_discover_reports_each_stage_and_finds_the_formula(thread_client, samples):
    load(thread_client, samples / "toy_sin.csv")
    thread_client.send("discover", settings={"time_budget_s": 30.0})
    seen = _discover_result(thread_client)
    stages = [e["stage"] for e in seen if e["event"] == "pipeline"]
    assert stages[0] == "train" and "symbolic" in stages
    assert any(e["event"] == "snapshot" for e in seen)
    assert seen[-1]["reason"] == "finished"
    thread_client.send("formula")
    f = thread_client.wait_for(lambda e: e["event"] in ("result", "error"), timeout=60)
    assert f["event"] == "result" and f["formula_test_r2"] > 0.999, f


def test_stop_ends_discover_between_steps(thread_client, samples):
    load(thread_client, samples / "toy_sin.csv")
    thread_client.send("discover")
    thread_client.wait_for("pipeline", timeout=60)
    thread_client.send("stop")
    seen = _discover_result(thread_client, timeout=60)
    assert seen[-1]["reason"] == "stopped"
    state = thread_client.wait_for("state", timeout=30)
    assert not state["discovering"] and not state["training"]
