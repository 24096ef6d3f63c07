"""Worker events: one frozen dataclass per event, sent as a plain dict.

The worker builds each event as its dataclass and sends :meth:`Event.to_wire`; the
receiving end checks the dict with :func:`parse_event`. The protocol as a whole is
described in :mod:`kanstudio.worker.protocol`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kanstudio.worker.commands import ProtocolError

__all__ = [
    "Event", "EVENT_TYPES", "EVENTS", "parse_event", "Ready", "Loaded", "State", "Progress",
    "Snapshot", "Done", "Error", "Result", "Pipeline", "EditProgress", "Front", "Bye",
]


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event: :meth:`to_wire` is the dict that crosses the process boundary.

    Fields marked ``omit_none`` are left out of the dict while None; a ``fields`` dict
    (on :class:`Result`, :class:`Loaded`) is spread into it.
    """

    name: ClassVar[str]

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"event": self.name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("spread"):
                wire.update(value)
            elif not (value is None and f.metadata.get("omit_none")):
                wire[f.name] = value
        return wire


def _spread() -> Any:
    return field(default_factory=dict, metadata={"spread": True})


@dataclass(frozen=True, kw_only=True)
class Ready(Event):
    name = "ready"
    version: str
    devices: list[str]
    pid: int
    torch_threads: int


@dataclass(frozen=True, kw_only=True)
class Loaded(Event):
    """A session on new data (``source`` "csv" | "project"; a project adds ``columns`` to
    preview and ``losses``, its model's loss curve)."""

    name = "loaded"
    source: str
    path: str | None
    input_names: list[str]
    target_names: list[str]
    n_samples: int
    n_train: int
    n_test: int
    n_dropped: int
    warnings: list[str]
    default_width: list[int]
    reply_to: Any = None
    extra: dict[str, Any] = _spread()


@dataclass(frozen=True, kw_only=True)
class State(Event):
    name = "state"
    has_data: bool
    has_model: bool
    fitted: bool
    training: bool
    discovering: bool
    editing: str | None  # the running multi-step edit's command
    paused: bool
    run_step: int
    run_steps: int
    step: int
    model: dict[str, Any] | None  # width, grid, k, fitted, input_names, target_names
    can_undo: bool
    can_redo: bool
    settings: dict[str, Any]
    # the current network's RMSE and R² on the training and held-out rows (Session.metrics)
    # when the model has just changed (an edit, a run's end, a project); left out otherwise
    metrics: dict[str, Any] | None = field(default=None, metadata={"omit_none": True})


@dataclass(frozen=True, kw_only=True)
class Progress(Event):
    """One training step: ``step`` is the model's total, ``run_step`` of ``steps`` this
    run's; losses in ``loss_units`` ("target": the CSV's units, or "scaled")."""

    name = "progress"
    step: int
    run_step: int
    steps: int
    train_loss: float
    test_loss: float
    reg: float
    steps_per_s: float
    loss_units: str
    note: str


@dataclass(frozen=True, kw_only=True)
class Snapshot(Event):
    """Every edge's sampled curve plus scores (see :mod:`kanstudio.worker.snapshot`)."""

    name = "snapshot"
    step: int
    width: list[int]  # nodes per level (sums + products), what a drawing lays out
    notation: list[Any]  # the KAN 2.0 form: an int or [sums, products] per level
    mult_arity: list[list[int]]  # per level, each product node's number of factors
    input_names: list[str]
    target_names: list[str]
    x: list[Any]
    y: list[Any]
    active: list[Any]
    locked: list[list[tuple[int, int, str]]]
    edge_scores: list[Any]
    node_scores: list[Any]
    # per layer, (i, j, function name, short label, R²) of the library function that fits
    # each active, unlocked edge's curve best (kanstudio.symbolic.live_fit); refreshed a few
    # times a second, so it may be a little older than the curves; absent when off
    edge_fits: list[list[tuple[int, int, str, str, float]]] | None = field(
        default=None, metadata={"omit_none": True})
    # (level, node, expression) of every node locked to an expression, the expression in
    # the data's input names; absent when no node is locked
    locked_nodes: list[tuple[int, int, str]] | None = field(
        default=None, metadata={"omit_none": True})


@dataclass(frozen=True, kw_only=True)
class Done(Event):
    """A training run ended (``reason`` "finished" | "stopped" | "error")."""

    name = "done"
    reason: str
    steps_done: int
    steps: int
    seconds: float
    metrics: dict[str, float]


@dataclass(frozen=True, kw_only=True)
class Error(Event):
    """``message``: one line a scientist can act on; ``kind`` and ``fields`` say the same
    as data (the app words it from them); ``detail``: the traceback, for bug reports."""

    name = "error"
    message: str
    command: str
    kind: str = "internal"
    fields: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    reply_to: Any = None
    fatal: bool = False


@dataclass(frozen=True, kw_only=True)
class Result(Event):
    """What a command returns (formula text, prune info, ...), spread into the dict; a
    run's result adds ``reason`` ("finished" | "cancelled" | "stopped" | "error")."""

    name = "result"
    command: str
    reply_to: Any = None
    reason: str | None = field(default=None, metadata={"omit_none": True})
    fields: dict[str, Any] = _spread()


@dataclass(frozen=True, kw_only=True)
class Pipeline(Event):
    """A turn of Discover (:func:`kanstudio.session.pipeline.discover`)."""

    name = "pipeline"
    stage: str
    stage_index: int
    stages: list[str]
    kind: str
    step: int
    steps: int
    train_loss: float | None
    test_loss: float | None
    message: str


@dataclass(frozen=True, kw_only=True)
class EditProgress(Event):
    """A step of a refine (a layer) or auto-symbolic (an edge)."""

    name = "edit_progress"
    command: str
    step: int
    steps: int
    message: str
    reply_to: Any = None


@dataclass(frozen=True, kw_only=True)
class Front(Event):
    """The accuracy–complexity front of the session's last Discover
    (:mod:`kanstudio.session.front`), simplest first; empty when there is none.

    Each entry: ``formula`` (full precision), ``short`` (its floats at 4 significant
    digits, for reading; "" from an older project file), ``latex``, ``complexity``,
    ``test_r2`` (against the data), ``network_r2`` (against the network), ``status``,
    ``width``, ``chosen`` (the pick),
    ``wider`` (its agreement with the network on a 25 % wider input range), ``predicted``
    (float64 (n,), the formula on the held-out plot rows) and ``usable`` (the network to
    adopt with it is at hand: "use" works). ``actual``: the target on those rows (n,)."""

    name = "front"
    entries: list[dict[str, Any]]
    actual: Any = None
    reply_to: Any = None


@dataclass(frozen=True, kw_only=True)
class Bye(Event):
    """The worker has left its loop."""

    name = "bye"


EVENT_TYPES: dict[str, type[Event]] = {e.name: e for e in (
    Ready, Loaded, State, Progress, Snapshot, Done, Error, Result, Pipeline, EditProgress,
    Front, Bye)}
EVENTS = tuple(EVENT_TYPES)


def parse_event(raw: Any) -> Event:
    """The event a received wire dict holds: its name known and every field it must have
    present (values are the worker's own, not re-checked); :class:`ProtocolError` if not.
    Fields beyond the dataclass's go to its spread field (a result's or a project's extras)
    and are refused on an event that has none."""
    if not isinstance(raw, dict) or not isinstance(raw.get("event"), str):
        raise ProtocolError(f"an event must be a dict with an 'event' name, got {raw!r}",
                            kind="bad_event")
    kind = EVENT_TYPES.get(raw["event"])
    if kind is None:
        raise ProtocolError(f"unknown event '{raw['event']}'", kind="bad_event",
                            event=raw["event"])
    given = {k: v for k, v in raw.items() if k != "event"}
    values: dict[str, Any] = {}
    spread = None
    for f in dataclasses.fields(kind):
        if f.metadata.get("spread"):
            spread = f.name
        elif f.name in given:
            values[f.name] = given.pop(f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ProtocolError(f"event '{kind.name}' lacks '{f.name}'", kind="bad_event",
                                event=kind.name, field=f.name)
    if spread is not None:
        values[spread] = given
    elif given:
        raise ProtocolError(f"event '{kind.name}' has no field '{sorted(given)[0]}'",
                            kind="bad_event", event=kind.name, field=sorted(given)[0])
    return kind(**values)
