"""The protocol's pure parts: typed commands checked at the boundary, snapshot collapsing,
error messages, the snapshot throttle."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kanstudio.errors import EngineError
from kanstudio.worker import COMMAND_TYPES, EVENTS, collapse_snapshots
from kanstudio.worker.handlers import ROUTES
from kanstudio.worker.protocol import (
    Lock,
    ProtocolError,
    Result,
    describe_error,
    error_event,
    parse_command,
    parse_event,
)
from kanstudio.worker.snapshot import SnapshotThrottle


def test_collapse_keeps_only_the_newest_snapshot_in_place():
    events = [{"event": "progress", "step": 1}, {"event": "snapshot", "step": 1},
              {"event": "progress", "step": 2}, {"event": "snapshot", "step": 2},
              {"event": "done"}]
    out = collapse_snapshots(events)
    assert [e["event"] for e in out] == ["progress", "progress", "snapshot", "done"]
    assert out[2]["step"] == 2


def test_user_errors_keep_their_message_and_internal_errors_say_what_failed():
    assert describe_error(ValueError("grid must be a positive integer, got 0"), "train") == (
        "grid must be a positive integer, got 0")
    text = describe_error(RuntimeError("CUDA exploded\nmore lines"), "train")
    assert text.startswith("Internal error while training (RuntimeError: CUDA exploded)")
    assert "\n" not in text
    assert "smaller network" in describe_error(MemoryError(), "train")


def test_error_event_carries_one_line_and_the_traceback_apart():
    try:
        raise KeyError("unknown function 'sinh2'")
    except KeyError as exc:
        event = error_event(exc, "lock", reply_to=7).to_wire()
    assert event["kind"] == "refused" and event["message"] == "unknown function 'sinh2'"
    assert "Traceback" in event["detail"]
    assert event["reply_to"] == 7 and event["command"] == "lock"


def test_throttle_keeps_to_thirty_a_second_whatever_the_step_time(monkeypatch):
    import kanstudio.worker.snapshot as snapshot

    class FakeSession:
        class model:  # noqa: N801 - stands in for session.model
            @staticmethod
            def scores():
                return [], []

    monkeypatch.setattr(snapshot, "build_snapshot", lambda *args, **kwargs: {})
    for step_s in (0.005, 0.032, 0.05):
        throttle = SnapshotThrottle()
        sent, now = 0, 0.0
        while now < 10.0:  # ten seconds of training, one step every step_s
            if throttle.due(now):
                throttle.take(FakeSession(), 0, now=now)
                sent += 1
            now += step_s
        assert sent <= 10 * 30 + 2  # never more than ~30 a second
        assert sent >= 0.9 * min(10 * 30, 10 / step_s)  # and not far fewer


def test_protocol_names_cover_the_design_and_each_command_has_one_route():
    for name in ("load", "set_settings", "new_model", "train", "pause", "resume", "step",
                 "stop", "shutdown", "prune", "refine", "lock", "unlock", "auto_symbolic",
                 "undo", "redo", "formula", "save", "open_project"):
        assert name in COMMAND_TYPES
    assert set(ROUTES) == set(COMMAND_TYPES.values())  # one table routes every command
    for name in ("ready", "progress", "snapshot", "state", "error", "done"):
        assert name in EVENTS


def test_commands_are_checked_field_by_field_at_the_boundary():
    lock = parse_command({"cmd": "lock", "layer": 0, "i": 1, "j": 0, "name": "sin", "id": 4})
    assert isinstance(lock, Lock) and lock.edge == (0, 1, 0) and lock.function == "sin"
    assert lock.to_wire() == {"cmd": "lock", "layer": 0, "i": 1, "j": 0, "name": "sin",
                              "id": 4}  # the same dict comes back
    refusals = {
        "'layer' must be an integer, got 'a'": {"cmd": "lock", "layer": "a", "i": 1, "j": 0,
                                                 "name": "sin"},
        "lock needs the 'name' of a library function, e.g. 'sin'":
            {"cmd": "lock", "layer": 0, "i": 1, "j": 0},
        "'steps' must be an integer or None, got True": {"cmd": "train", "steps": True},
        "'train' has no field 'stpes'": {"cmd": "train", "stpes": 3},
        "'numeric' must be 'error' or 'placeholder', got 'x'": {"cmd": "formula",
                                                                "numeric": "x"},
        "unknown command 'fly'": {"cmd": "fly"},
    }
    for message, raw in refusals.items():
        with pytest.raises(ProtocolError) as caught:
            parse_command(raw)
        assert str(caught.value) == message
    with pytest.raises(ProtocolError) as caught:
        parse_command({"cmd": "refine", "grid": 2.5})
    assert caught.value.kind == "bad_field"
    assert caught.value.fields == {"command": "refine", "field": "grid"}


def test_an_engine_error_travels_with_its_kind_and_fields():
    exc = EngineError("2 active edge(s) are not symbolic yet", kind="formula_not_symbolic",
                      edges=[[0, 0, 0], [1, 0, 0]])
    event = error_event(exc, "formula").to_wire()
    assert event["kind"] == "formula_not_symbolic"
    assert event["fields"] == {"edges": [[0, 0, 0], [1, 0, 0]]}
    assert event["message"] == "2 active edge(s) are not symbolic yet"


def test_the_worker_package_never_imports_qt():
    import ast
    from pathlib import Path

    import kanstudio.worker

    for path in Path(kanstudio.worker.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("PySide", "PyQt", "pyqtgraph", "kanstudio.gui")), (
                    f"{path.name} imports {name}")


def test_events_are_checked_on_arrival_and_round_trip():
    result = Result(command="prune", reply_to=2, fields={"width_after": [2, 1]}).to_wire()
    assert result == {"event": "result", "command": "prune", "reply_to": 2,
                      "width_after": [2, 1]}
    assert parse_event(result).to_wire() == result
    for raw, message in (({"event": "progress", "step": 1}, "event 'progress' lacks 'run_step'"),
                         ({"event": "tea"}, "unknown event 'tea'"),
                         ({"event": "bye", "extra": 1}, "event 'bye' has no field 'extra'")):
        with pytest.raises(ProtocolError) as caught:
            parse_event(raw)
        assert str(caught.value) == message and caught.value.kind == "bad_event"


def test_the_gui_side_of_the_worker_does_not_import_torch():
    # The window paints before torch is imported (it takes seconds); only the worker
    # process imports the engine.
    probe = ("import sys, kanstudio.worker, kanstudio.gui.bridge; "
             "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_cached_scores_of_another_architecture_are_never_sent(samples):
    """Discover builds a new network of another width between two throttled snapshots:
    the snapshot must not pair the new curves with the old network's scores (the GUI's
    fading then failed with a ValueError on the mismatched arrays)."""
    from kanstudio.data import load_dataset
    from kanstudio.session import Session

    session = Session(load_dataset(samples / "toy_xy.csv", target="f"))
    session.new_model([2, 3, 1])
    session.train(steps=2, opt="adam")
    throttle = SnapshotThrottle()
    throttle.take(session, 2, now=0.0)  # scores cached for width [2, 3, 1]
    session.new_model([2, 2, 1])
    session.train(steps=1, opt="adam")
    snap = throttle.take(session, 3, now=0.01)  # within the score interval
    assert [s.shape for s in snap.edge_scores] == [a.shape for a in snap.active]
    assert [s.shape for s in snap.node_scores] == [(2,), (2,), (1,)]
