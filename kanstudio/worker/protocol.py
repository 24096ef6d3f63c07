"""The worker protocol (design.md §4.4): typed messages, plain dicts on the wire.

Every command the worker understands is a small frozen dataclass (:mod:`.commands`:
:class:`Load`, :class:`Train`, :class:`Lock`, ...), and so is every event it sends
(:mod:`.events`: :class:`Progress`, :class:`Snapshot`, :class:`Error`, ...); this module
gathers both, with the error events and the protocol's constants.

On the wire (a ``multiprocessing`` queue, or a ``queue.Queue`` in the in-thread mode) they
travel as dicts of plain values and numpy arrays: ``{"cmd": NAME, ...fields}`` and
``{"event": NAME, ...fields}``. The dataclasses are built and checked at each end:
:func:`parse_command` turns a received dict into its command, refusing an unknown name, a
missing or unknown field, or a value of the wrong type with a :class:`ProtocolError` (which
becomes an ``error`` event, never a crash); events are built as dataclasses in the worker,
sent with :meth:`Event.to_wire` and checked on arrival with :func:`parse_event` (the GUI's
bridge drops an event that does not fit, with an error).

A command may carry an ``id``; the events it causes echo it as ``reply_to``. Events travel
in lists (batches), which the client unpacks. What each command does, and which run it
interrupts, is in the one dispatch table, :data:`kanstudio.worker.handlers.ROUTES`.

Errors carry a ``kind`` and ``fields`` (see :class:`kanstudio.errors.EngineError`) next to
a one-line ``message``; the app words them from ``kind`` and ``fields``.
"""

from __future__ import annotations

import math
import numbers
import traceback
from typing import Any

from kanstudio.errors import EngineError
from kanstudio.worker.commands import (
    COMMAND_TYPES,
    AdoptProject,
    AutoSymbolic,
    Command,
    Discover,
    Formula,
    Inspect,
    InspectNode,
    LiveLabels,
    Load,
    Lock,
    LockNode,
    NewModel,
    OpenProject,
    Pause,
    ProtocolError,
    Prune,
    PruneEdge,
    PruneNode,
    PrunePreview,
    Redo,
    Refine,
    Resume,
    Save,
    SearchEdge,
    SearchNode,
    SetSettings,
    Shutdown,
    Step,
    Stop,
    Suggest,
    TakeSnapshot,
    Train,
    Undo,
    Unlock,
    UnlockNode,
    UseFormula,
    command,
    parse_command,
)
from kanstudio.worker.events import (
    EVENT_TYPES,
    EVENTS,
    Bye,
    Done,
    EditProgress,
    Error,
    Event,
    Front,
    Loaded,
    Pipeline,
    Progress,
    Ready,
    Result,
    Snapshot,
    State,
    parse_event,
)

__all__ = [
    "Command", "Event", "ProtocolError", "COMMAND_TYPES", "EVENT_TYPES", "EVENTS",
    "parse_command", "parse_event", "command", "finite", "describe_error", "error_event",
    "SNAPSHOT_INTERVAL_S", "SCORE_INTERVAL_S", "CURVE_POINTS", "LABEL_INTERVAL_S",
    "LABEL_BUDGET", "width_field",
    # commands
    "Load", "SetSettings", "NewModel", "Train", "Step", "Pause", "Resume", "Stop",
    "Discover", "TakeSnapshot", "Shutdown", "Prune", "PrunePreview", "PruneNode", "PruneEdge",
    "Refine",
    "Suggest", "Lock", "Unlock", "AutoSymbolic", "Undo", "Redo", "Formula", "Save",
    "OpenProject", "Inspect", "UseFormula", "LiveLabels", "SearchEdge", "AdoptProject",
    "SearchNode", "LockNode", "UnlockNode", "InspectNode",
    # events
    "Ready", "Loaded", "State", "Progress", "Snapshot", "Done", "Error", "Result",
    "Pipeline", "EditProgress", "Front", "Bye",
]

SNAPSHOT_INTERVAL_S = 1.0 / 30.0  # at most ~30 snapshots a second reach the GUI
SCORE_INTERVAL_S = 0.25  # importance scores cost ~3x a curve sample; they change slowly
CURVE_POINTS = 48  # samples per edge curve: smooth at the size an edge is drawn
LABEL_INTERVAL_S = 1.0 / 3.0  # edges' best-fitting functions: at most ~3 times a second,
LABEL_BUDGET = 0.04  # and never more than this share of the worker's time (measured)


def finite(value: Any) -> float | None:
    """A number for an event: ``None`` for NaN, infinities and anything not a number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy scalars too
        return None
    return float(value) if math.isfinite(value) else None


def width_field(value: Any, mult_arity: Any = 2) -> list | None:
    """A width in KAN 2.0 notation (a list, or its text form ``2,0+1,1``), checked and
    normalised (``[2, [0, 1], 1]``); ``None`` stays ``None``. ValueError says what is wrong.
    (The notation lives in the engine; imported here only when a width arrives.)"""
    if value is None:
        return None
    from kanstudio.core.width import parse_width, parse_width_text

    if isinstance(value, str):
        value = parse_width_text(value)
    if not isinstance(value, list):
        raise ValueError(f"'width' must be a list such as [2, [0, 1], 1], got {value!r}")
    return parse_width(value, mult_arity).notation()


# ---------------------------------------------------------------------------- errors
# Exceptions whose message is already written for the user (DataError, SessionError,
# ProjectError and the engine's argument checks are all ValueErrors).
_USER_ERRORS = (ValueError, KeyError, FileNotFoundError, PermissionError, IsADirectoryError)

_ACTIONS = {
    "load": "loading the data", "train": "training", "step": "training",
    "new_model": "building the model", "open_project": "opening the project",
    "save": "saving the project", "formula": "building the formula",
    "use_formula": "switching to the chosen formula",
    "snapshot": "drawing the network (training goes on)",
    "live_labels": "naming the edges' best-fitting functions (training goes on; the "
                   "labels are off)",
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
