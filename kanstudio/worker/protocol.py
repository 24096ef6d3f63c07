"""The worker protocol (design.md §4.4): typed messages, plain dicts on the wire.

Every command the worker understands is a small frozen dataclass below (:class:`Load`,
:class:`Train`, :class:`Lock`, ...), and so is every event it sends (:class:`Progress`,
:class:`Snapshot`, :class:`Error`, ...). On the wire (a ``multiprocessing`` queue, or a
``queue.Queue`` in the in-thread mode) they travel as dicts of plain values and numpy
arrays: ``{"cmd": NAME, ...fields}`` and ``{"event": NAME, ...fields}``. The dataclasses
are built and checked at each end: :func:`parse_command` turns a received dict into its
command, refusing an unknown name, a missing or unknown field, or a value of the wrong type
with a :class:`ProtocolError` (which becomes an ``error`` event, never a crash); events are
built as dataclasses in the worker, sent with :meth:`Event.to_wire` and checked on arrival
with :func:`parse_event` (the GUI's bridge drops an event that does not fit, with an error).

A command may carry an ``id``; the events it causes echo it as ``reply_to``. Events travel
in lists (batches), which the client unpacks. What each command does, and which run it
interrupts, is in the one dispatch table, :data:`kanstudio.worker.handlers.ROUTES`.

Errors carry a ``kind`` and ``fields`` (see :class:`kanstudio.errors.EngineError`) next to
a one-line ``message``; the app words them from ``kind`` and ``fields``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import traceback
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from kanstudio.errors import EngineError

__all__ = [
    "Command", "Event", "ProtocolError", "COMMAND_TYPES", "EVENT_TYPES", "EVENTS",
    "parse_command", "parse_event", "command", "finite", "describe_error", "error_event",
    "SNAPSHOT_INTERVAL_S", "SCORE_INTERVAL_S", "CURVE_POINTS",
    # commands
    "Load", "SetSettings", "NewModel", "Train", "Step", "Pause", "Resume", "Stop",
    "Discover", "TakeSnapshot", "Shutdown", "Prune", "PruneNode", "PruneEdge", "Refine",
    "Suggest", "Lock", "Unlock", "AutoSymbolic", "Undo", "Redo", "Formula", "Save",
    "OpenProject", "Inspect",
    # events
    "Ready", "Loaded", "State", "Progress", "Snapshot", "Done", "Error", "Result",
    "Pipeline", "EditProgress", "Bye",
]

SNAPSHOT_INTERVAL_S = 1.0 / 30.0  # at most ~30 snapshots a second reach the GUI
SCORE_INTERVAL_S = 0.25  # importance scores cost ~3x a curve sample; they change slowly
CURVE_POINTS = 48  # samples per edge curve: smooth at the size an edge is drawn


def finite(value: Any) -> float | None:
    """A number for an event: ``None`` for NaN, infinities and anything not a number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy scalars too
        return None
    return float(value) if math.isfinite(value) else None


class ProtocolError(EngineError):
    """A command that does not fit the protocol (kind ``unknown_command``, ``bad_command``
    or ``bad_field``; fields say which command and field)."""

    kind = "bad_command"


# ---------------------------------------------------------------------------- commands
def _missing(message: str) -> Any:
    """A required field, with the sentence that says what to send when it is missing."""
    return field(metadata={"missing": message})


@dataclass(frozen=True, kw_only=True)
class Command:
    """Base of every command; ``id`` comes back as the ``reply_to`` of its answers."""

    name: ClassVar[str]
    id: Any = None

    def to_wire(self) -> dict[str, Any]:
        fields = {_wire_name(f): getattr(self, f.name) for f in dataclasses.fields(self)}
        if fields.get("id") is None:
            fields.pop("id")
        return {"cmd": self.name, **fields}


@dataclass(frozen=True, kw_only=True)
class _Edge(Command):
    """A command about one edge ``(layer, i, j)`` (design.md §4.2)."""

    layer: int = _missing("an edge needs 'layer', 'i' and 'j'")
    i: int = _missing("an edge needs 'layer', 'i' and 'j'")
    j: int = _missing("an edge needs 'layer', 'i' and 'j'")

    @property
    def edge(self) -> tuple[int, int, int]:
        return self.layer, self.i, self.j


@dataclass(frozen=True, kw_only=True)
class Load(Command):
    """Read a CSV and start a session on it."""

    name = "load"
    path: str = _missing("load needs a 'path' to a CSV file")
    target: str | list[str] | None = None
    inputs: list[str] | None = None
    drop_missing: bool = False


@dataclass(frozen=True, kw_only=True)
class SetSettings(Command):
    """Change :class:`kanstudio.session.SessionSettings` fields (the rest stay)."""

    name = "set_settings"
    settings: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class NewModel(Command):
    """A fresh, untrained model (``width`` None: the default for the data)."""

    name = "new_model"
    width: list[int] | None = None
    settings: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class Train(Command):
    """Start a training run (fields left None come from the settings)."""

    name = "train"
    steps: int | None = None
    opt: str | None = None
    lr: float | None = None
    lamb: float | None = None
    batch_size: int | None = None

    def overrides(self) -> dict[str, Any]:
        """The fields :meth:`Session.train_iter` takes as overrides, where given."""
        return {k: getattr(self, k) for k in ("opt", "lr", "lamb", "batch_size")
                if getattr(self, k) is not None}


@dataclass(frozen=True, kw_only=True)
class Step(Train):
    """Exactly one step (starts a paused run with ``train``'s fields when idle)."""

    name = "step"


@dataclass(frozen=True, kw_only=True)
class Pause(Command):
    name = "pause"


@dataclass(frozen=True, kw_only=True)
class Resume(Command):
    name = "resume"


@dataclass(frozen=True, kw_only=True)
class Stop(Command):
    """End the current run between two steps (an edit run is cancelled: no change)."""

    name = "stop"


@dataclass(frozen=True, kw_only=True)
class Discover(Command):
    """The one-click pipeline; ``settings``: PipelineSettings fields."""

    name = "discover"
    settings: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class TakeSnapshot(Command):
    """Send a fresh snapshot now."""

    name = "snapshot"


@dataclass(frozen=True, kw_only=True)
class Shutdown(Command):
    name = "shutdown"


@dataclass(frozen=True, kw_only=True)
class Prune(Command):
    name = "prune"
    node_threshold: float = 1e-2
    edge_threshold: float = 3e-2


@dataclass(frozen=True, kw_only=True)
class PruneNode(Command):
    name = "prune_node"
    layer: int = _missing("prune_node needs 'layer' and 'i'")
    i: int = _missing("prune_node needs 'layer' and 'i'")


@dataclass(frozen=True, kw_only=True)
class PruneEdge(_Edge):
    name = "prune_edge"


@dataclass(frozen=True, kw_only=True)
class Refine(Command):
    """A finer grid, one layer per step (``stop`` cancels: no change)."""

    name = "refine"
    grid: int = _missing("refine needs the new 'grid' size")


@dataclass(frozen=True, kw_only=True)
class Suggest(_Edge):
    name = "suggest"
    top_k: int | None = None


@dataclass(frozen=True, kw_only=True)
class Lock(_Edge):
    name = "lock"
    function: str = field(metadata={
        "wire": "name", "missing": "lock needs the 'name' of a library function, e.g. 'sin'"})


@dataclass(frozen=True, kw_only=True)
class Unlock(_Edge):
    name = "unlock"


@dataclass(frozen=True, kw_only=True)
class AutoSymbolic(Command):
    """Fit and lock functions edge by edge (``stop`` cancels: no change)."""

    name = "auto_symbolic"
    r2_threshold: float | None = None
    lock_all: bool = False


@dataclass(frozen=True, kw_only=True)
class Undo(Command):
    name = "undo"


@dataclass(frozen=True, kw_only=True)
class Redo(Command):
    name = "redo"


@dataclass(frozen=True, kw_only=True)
class Formula(Command):
    name = "formula"
    numeric: Literal["error", "placeholder"] = "error"


@dataclass(frozen=True, kw_only=True)
class Save(Command):
    name = "save"
    path: str = _missing("save needs a 'path' for the .kstudio file")


@dataclass(frozen=True, kw_only=True)
class OpenProject(Command):
    name = "open_project"
    path: str = _missing("open_project needs a 'path' to a .kstudio file")
    device: str | None = None


@dataclass(frozen=True, kw_only=True)
class Inspect(_Edge):
    """The data the edge sees, its inner knots, importance score and lock."""

    name = "inspect"


COMMAND_TYPES: dict[str, type[Command]] = {c.name: c for c in (
    Load, SetSettings, NewModel, Train, Step, Pause, Resume, Stop, Discover, TakeSnapshot,
    Shutdown, Prune, PruneNode, PruneEdge, Refine, Suggest, Lock, Unlock, AutoSymbolic,
    Undo, Redo, Formula, Save, OpenProject, Inspect)}


def _wire_name(f: dataclasses.Field) -> str:
    return f.metadata.get("wire", f.name)


def _conform(value: Any, hint: Any) -> Any:
    """``value`` as of type ``hint`` (ints widen to float); TypeError when it is not."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _conform(value, option)
            except TypeError:
                continue
        raise TypeError
    if origin is Literal:
        if value in typing.get_args(hint):
            return value
        raise TypeError
    if hint is type(None):
        if value is None:
            return None
        raise TypeError
    if isinstance(value, bool) and hint is not bool:
        raise TypeError  # True is an int to Python, never a number to us
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, numbers.Integral):
        return int(value)
    if hint is float and isinstance(value, numbers.Real):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    if origin is list and isinstance(value, (list, tuple)):
        (item,) = typing.get_args(hint)
        return [_conform(v, item) for v in value]
    if origin is dict and isinstance(value, dict):
        return dict(value)
    raise TypeError


def _type_words(hint: Any) -> str:
    """'an integer', 'a number or None', ... for a refusal."""
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
             type(None): "None"}
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_words(a) for a in typing.get_args(hint))
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if origin is list:
        return f"a list of {_type_words(typing.get_args(hint)[0]).split(' ', 1)[-1]}s"
    if origin is dict:
        return "a dict"
    return words.get(hint, str(hint))


def parse_command(raw: Any) -> Command:
    """The command a wire dict holds, checked field by field (:class:`ProtocolError`)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("cmd"), str):
        raise ProtocolError(f"a command must be a dict with a 'cmd' name, got {raw!r}",
                            kind="bad_command")
    name = raw["cmd"]
    kind = COMMAND_TYPES.get(name)
    if kind is None:
        raise ProtocolError(f"unknown command '{name}'", kind="unknown_command", command=name)
    hints = typing.get_type_hints(kind)
    given = {k: v for k, v in raw.items() if k != "cmd"}
    values: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        key = _wire_name(f)
        if key not in given:
            if "missing" in f.metadata:
                raise ProtocolError(f.metadata["missing"], kind="bad_field", command=name,
                                    field=key)
            continue
        value = given.pop(key)
        try:
            values[f.name] = _conform(value, hints[f.name])
        except TypeError:
            raise ProtocolError(f"'{key}' must be {_type_words(hints[f.name])}, got {value!r}",
                                kind="bad_field", command=name, field=key) from None
        if "missing" in f.metadata and values[f.name] in ("", None):
            raise ProtocolError(f.metadata["missing"], kind="bad_field", command=name,
                                field=key)
    if given:
        unknown = sorted(given)[0]
        raise ProtocolError(f"'{name}' has no field '{unknown}'", kind="bad_field",
                            command=name, field=unknown)
    return kind(**values)


def command(name: str, /, **fields: Any) -> Command:
    """Build and check a command by its wire name: ``command("lock", layer=0, ...)``."""
    return parse_command({"cmd": name, **fields})


# ---------------------------------------------------------------------------- events
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
    width: list[int]
    input_names: list[str]
    target_names: list[str]
    x: list[Any]
    y: list[Any]
    active: list[Any]
    locked: list[list[tuple[int, int, str]]]
    edge_scores: list[Any]
    node_scores: list[Any]


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
class Bye(Event):
    """The worker has left its loop."""

    name = "bye"


EVENT_TYPES: dict[str, type[Event]] = {e.name: e for e in (
    Ready, Loaded, State, Progress, Snapshot, Done, Error, Result, Pipeline, EditProgress,
    Bye)}
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

# ---------------------------------------------------------------------------- errors
# Exceptions whose message is already written for the user (DataError, SessionError,
# ProjectError and the engine's argument checks are all ValueErrors).
_USER_ERRORS = (ValueError, KeyError, FileNotFoundError, PermissionError, IsADirectoryError)

_ACTIONS = {
    "load": "loading the data", "train": "training", "step": "training",
    "new_model": "building the model", "open_project": "opening the project",
    "save": "saving the project", "formula": "building the formula",
    "snapshot": "drawing the network (training goes on)",
    "refine": "refining the grid", "auto_symbolic": "fitting functions to the edges",
}


def _first_line(exc: BaseException) -> str:
    raw = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return str(raw).strip().splitlines()[0] if str(raw).strip() else ""


def error_kind(exc: BaseException, command: str) -> tuple[str, dict[str, Any]]:
    """(kind, fields) of a failure: an EngineError's own, else by the exception's type."""
    if isinstance(exc, EngineError):
        return exc.kind, dict(exc.fields)
    if isinstance(exc, MemoryError):
        return "out_of_memory", {"action": _ACTIONS.get(command, command)}
    if isinstance(exc, _USER_ERRORS) and _first_line(exc):
        return "refused", {}
    return "internal", {"action": _ACTIONS.get(command, f"'{command}'"),
                        "exception": type(exc).__name__, "text": _first_line(exc)}


def describe_error(exc: BaseException, command: str) -> str:
    """One line that says what went wrong and, where we can tell, what to do."""
    kind, fields = error_kind(exc, command)
    if kind == "out_of_memory":
        return (f"Out of memory while {fields['action']}: use a smaller network, a smaller "
                "grid or fewer rows.")
    if kind == "internal":
        detail = f": {fields['text']}" if fields["text"] else ""
        return (f"Internal error while {fields['action']} ({fields['exception']}{detail}). "
                "The session is kept; try again, or change the settings.")
    return _first_line(exc)


def error_event(exc: BaseException, command: str, reply_to: Any = None) -> Error:
    kind, fields = error_kind(exc, command)
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Error(message=describe_error(exc, command), detail=detail, command=command,
                 kind=kind, fields=fields, reply_to=reply_to)
