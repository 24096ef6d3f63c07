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
