"""Every failure becomes an 'error' event with an actionable line; the worker carries on."""

from __future__ import annotations

from kanstudio.session import Session
from tests.worker.conftest import load, run_until


def _error(client) -> dict:
    return client.wait_for(lambda e: e["event"] == "error", timeout=30)


def test_bad_csv_is_an_error_and_the_worker_keeps_working(thread_client, samples, tmp_path):
    bad = tmp_path / "ragged.csv"
    bad.write_text("a,b,f\n1,2,3\n4,5,6,7\n" + "1,2,3\n" * 20, encoding="utf-8")
    thread_client.send("load", path=str(bad), target="f")
    error = _error(thread_client)
    assert "Row 3 of 'ragged.csv' has more values than the header" in error["message"]
    assert error["command"] == "load" and "\n" not in error["message"]
    thread_client.send("load", path=str(tmp_path / "missing.csv"))
    assert "File not found" in _error(thread_client)["message"]
    loaded = load(thread_client, samples / "toy_sin.csv")  # still answering
    assert loaded["input_names"] == ["x"]


def test_commands_that_cannot_run_yet_say_what_to_do(thread_client, samples):
    thread_client.send("train", steps=3)
    assert _error(thread_client)["message"] == "No data loaded yet: open a CSV file first."
    load(thread_client, samples / "toy_sin.csv")
    thread_client.send("prune")
    assert _error(thread_client)["message"] == "there is no trained model yet: train first"
    thread_client.send("train", steps=2, opt="nope")
    assert "opt must be 'lbfgs' or 'adam'" in _error(thread_client)["message"]
    thread_client.send("fly")
    assert _error(thread_client)["message"] == "unknown command 'fly'"
    thread_client.send("train", steps=2, opt="adam")
    assert thread_client.wait_for("done")["reason"] == "finished"


def test_a_failing_step_ends_the_run_not_the_worker(thread_client, samples, monkeypatch):
    load(thread_client, samples / "toy_sin.csv")
    original = Session.train_iter

    def failing(self, steps=None, **overrides):
        for n, record in enumerate(original(self, steps, **overrides)):
            if n == 2:
                raise RuntimeError("injected failure")
            yield record

    monkeypatch.setattr(Session, "train_iter", failing)
    thread_client.send("train", steps=10, opt="adam")
    seen = run_until(thread_client, "done")
    errors = [e for e in seen if e["event"] == "error"]
    assert errors[0]["message"].startswith(
        "Internal error while training (RuntimeError: injected failure)")
    assert "Traceback" in errors[0]["detail"]
    assert seen[-1]["reason"] == "error" and seen[-1]["steps_done"] == 2
    monkeypatch.setattr(Session, "train_iter", original)
    thread_client.send("train", steps=3, opt="adam")
    assert thread_client.wait_for("done")["reason"] == "finished"


def test_a_bad_field_is_a_typed_error_event_and_the_worker_carries_on(thread_client, samples):
    load(thread_client, samples / "toy_sin.csv")
    thread_client.send("lock", layer="first", i=0, j=0, name="sin", id=9)
    error = _error(thread_client)
    assert error["message"] == "'layer' must be an integer, got 'first'"
    assert error["kind"] == "bad_field" and error["reply_to"] == 9
    assert error["fields"] == {"command": "lock", "field": "layer"}
    thread_client.send("train", steps=2, opt="adam")
    assert thread_client.wait_for("done")["reason"] == "finished"
