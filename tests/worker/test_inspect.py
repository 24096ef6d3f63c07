"""The inspector's data and the formula's exports come through the protocol."""

from __future__ import annotations

import numpy as np

from tests.worker.conftest import load, run_until


def _result(client, command: str) -> dict:
    event = client.wait_for(lambda e: e["event"] in ("result", "error"), timeout=60)
    assert event["event"] == "result" and event["command"] == command, event
    return event


def test_inspect_lock_and_formula_exports(thread_client, samples):
    load(thread_client, samples / "toy_sin.csv")
    thread_client.send("new_model", width=[1, 1, 1])
    thread_client.send("train", steps=50, opt="lbfgs")
    run_until(thread_client, "done", timeout=120)

    thread_client.send("inspect", layer=0, i=0, j=0)
    seen = _result(thread_client, "inspect")
    assert seen["edge"] == [0, 0, 0] and seen["locked"] is None
    assert 10 <= len(seen["x"]) <= 600 and len(seen["x"]) == len(seen["y"])
    assert np.all(np.diff(seen["x"]) >= 0) and len(seen["knots"]) == 6  # grid 5: 6 knots
    assert seen["score"] > 0

    thread_client.send("formula")  # numeric edges: refused, with a message to act on
    error = thread_client.wait_for(lambda e: e["event"] in ("result", "error"), timeout=60)
    assert error["event"] == "error" and "not symbolic yet" in error["message"]

    thread_client.send("lock", layer=0, i=0, j=0, name="x")
    _result(thread_client, "lock")
    thread_client.send("inspect", layer=0, i=0, j=0)
    assert _result(thread_client, "inspect")["locked"] == "x"
    thread_client.send("auto_symbolic", lock_all=True)
    _result(thread_client, "auto_symbolic")
    thread_client.send("train", steps=10, opt="lbfgs")
    run_until(thread_client, "done", timeout=120)
    thread_client.send("formula")
    f = _result(thread_client, "formula")
    assert f["formulas"] == ["sin(pi*x)"]
    assert f["latex_eq"][0].startswith("f =") and "\\sin" in f["latex_eq"][0]
    assert "def formula_f(x)" in f["python"][0]
    assert f["formula_test_r2"] > 0.999
    assert f["actual"].shape == f["predicted"].shape and f["actual"].shape[1] == 1


def test_suggest_sends_expressions_and_preview_curves(thread_client, samples):
    load(thread_client, samples / "toy_sin.csv")
    thread_client.send("new_model", width=[1, 1, 1])
    thread_client.send("train", steps=5, opt="lbfgs")
    run_until(thread_client, "done", timeout=120)
    thread_client.send("suggest", layer=1, i=0, j=0, top_k=4)
    got = _result(thread_client, "suggest")["candidates"]
    assert len(got) == 4 and all(c["expression"] for c in got)
    assert all(len(c["preview_x"]) == len(c["preview_y"]) == 120 for c in got)


def test_a_locked_edge_shows_its_function_and_candidates_fit_its_current_curve(
        thread_client, samples):
    load(thread_client, samples / "toy_sin.csv")
    thread_client.send("new_model", width=[1, 1, 1])
    thread_client.send("train", steps=20, opt="lbfgs")
    run_until(thread_client, "done", timeout=120)
    thread_client.send("suggest", layer=0, i=0, j=0)
    spline_fits = {c["name"]: c["r2"] for c in _result(thread_client, "suggest")["candidates"]}
    assert spline_fits["x"] < 0.99  # the learned curve is a sine, not a line

    thread_client.send("lock", layer=0, i=0, j=0, name="x")
    _result(thread_client, "lock")
    thread_client.send("inspect", layer=0, i=0, j=0)
    seen = _result(thread_client, "inspect")
    a, b, c, d = seen["locked_params"]
    assert seen["locked"] == "x" and "x" in seen["locked_expression"]
    np.testing.assert_allclose(seen["y"], c * (a * seen["x"] + b) + d, atol=1e-9)
    thread_client.send("suggest", layer=0, i=0, j=0)
    locked_fits = {c["name"]: c["r2"] for c in _result(thread_client, "suggest")["candidates"]}
    assert locked_fits["x"] > 0.9999  # fitted to the locked line, not the old spline
    thread_client.send("lock", layer=0, i=0, j=0, name="x")  # a relock fits the same curve
    assert _result(thread_client, "lock")["r2"] > 0.9999
