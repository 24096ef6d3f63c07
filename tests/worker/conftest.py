"""Fixtures for the headless worker tests (no Qt, no display)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanstudio.worker import WorkerClient

SAMPLES = Path(__file__).resolve().parents[2] / "sample_datasets"


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def thread_client():
    """A worker running in a thread (same protocol, quick to start), shut down after."""
    client = WorkerClient(mode="thread", torch_threads=1)
    client.start()
    client.wait_for("ready", timeout=60)
    yield client
    client.shutdown(timeout=10)
    assert not client.alive


def load(client: WorkerClient, path: Path, target: str = "f", **fields) -> dict:
    """Load a CSV and return the 'loaded' event (fails on an error event)."""
    client.send("load", path=str(path), target=target, **fields)
    event = client.wait_for(lambda e: e["event"] in ("loaded", "error"), timeout=30)
    assert event["event"] == "loaded", event
    return event


def run_until(client: WorkerClient, name: str, timeout: float = 60) -> list[dict]:
    """Every event up to and including the first called ``name``."""
    seen: list[dict] = []
    client.wait_for(name, timeout=timeout, collect=seen)
    return seen


def train_model(client: WorkerClient, path: Path, width: list, steps: int) -> None:
    """Load ``path``, build a model of ``width`` and train it ``steps`` L-BFGS steps, up to
    the state that ends the run."""
    load(client, path)
    client.send("new_model", width=width)
    client.send("train", steps=steps, opt="lbfgs")
    run_until(client, "done", timeout=120)
    client.wait_for("state", timeout=30)


def until_result(client: WorkerClient, command: str, timeout: float = 180) -> list[dict]:
    """Every event up to the result (or error) of ``command``."""
    seen: list[dict] = []
    client.wait_for(lambda e: e["event"] in ("result", "error")
                    and e.get("command") == command, timeout=timeout, collect=seen)
    return seen
