"""Discovery's budgets are work, not seconds (issue 16): the same seed gives the same
formula on a slow or busy machine; the wall-clock safety cap is reported when it fires."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import sympy

from kanstudio.data import load_dataset
from kanstudio.session import Session, pipeline
from kanstudio.session.pipeline import PipelineSettings, discover

SAMPLES = Path(__file__).resolve().parents[2] / "sample_datasets"


def _discover(monkeypatch: pytest.MonkeyPatch, seconds_per_look: float,
              **settings: object) -> tuple[list, object, float]:
    """Discover on toy_exp_sin.csv with a clock that moves ``seconds_per_look`` each time
    the pipeline reads it (0: an infinitely fast machine); (events, formula, the seconds
    the clock said the run took)."""
    ticks = itertools.count()
    monkeypatch.setattr(pipeline, "_clock", lambda: seconds_per_look * next(ticks))
    session = Session(load_dataset(SAMPLES / "toy_exp_sin.csv", target="f"))
    events = list(discover(session, PipelineSettings(**settings)))
    return events, events[-1].info["formula"], seconds_per_look * (next(ticks) - 1)


def test_a_slow_machine_gives_the_same_formula(monkeypatch: pytest.MonkeyPatch) -> None:
    _, fast, _ = _discover(monkeypatch, 0.0)
    # 150 s per look at the clock: a machine hundreds of times slower than this one
    _, slow, seconds = _discover(monkeypatch, 150.0)
    assert seconds > 120.0  # past the wall-clock budget discovery used to stop at
    assert sympy.sstr(slow.exact[0]) == sympy.sstr(fast.exact[0])
    assert slow.budget["training_steps"] == fast.budget["training_steps"]
    assert slow.budget["wall_clock_cap_fired"] is False


def test_the_wall_clock_cap_is_reported_when_it_fires(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    events, result, _ = _discover(monkeypatch, 1.0, time_budget_s=0.5)
    assert result.expressions[0] is not None  # still a formula, never a crash
    assert result.budget["wall_clock_cap_fired"] is True
    notes = [e.message for e in events if e.kind == "note"]
    assert any("wall-clock safety cap" in m and "machine's speed" in m for m in notes)
