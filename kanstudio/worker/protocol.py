"""The worker protocol (design.md §4.4): plain dicts in both directions, no Qt, no torch.

Commands go in as ``{"cmd": NAME, ...fields}``; events come out as ``{"event": NAME, ...}``.
Arrays inside events are numpy arrays (float32 curves and scores), so the same dicts cross
a ``multiprocessing`` queue (pickled by the queue itself, never written to disk) or a
``queue.Queue`` in the in-thread mode unchanged; events travel in lists (batches), which
the client unpacks. A command may carry an ``"id"``; events
it causes echo it as ``"reply_to"`` so a caller can match answers to requests.

Commands
--------
``load``           path, target (str | list | None), inputs (list | None), drop_missing
``set_settings``   settings: dict of :class:`kanstudio.session.SessionSettings` fields
``new_model``      width (list | str | None): a fresh, untrained model; KAN 2.0 notation
                   (an int or [sums, products] per level, or the text 2,0+1,1)
``train``          steps, opt, lr, lamb, batch_size (all optional): start a run
``pause`` / ``resume`` / ``stop``  act on the current run between two steps
``step``           exactly one step (starts a paused run with ``train``'s fields if idle)
``snapshot``       send a fresh snapshot now
``shutdown``       leave the loop
``discover``       settings (PipelineSettings fields, optional): the one-click pipeline, one
                   event per turn (``stop`` ends it between two steps)
Part 2 (editing; each stops a running run first): ``prune`` (node_threshold,
edge_threshold), ``prune_node`` (layer, i), ``prune_edge`` (layer, i, j), ``refine`` (grid),
``suggest`` (layer, i, j, top_k), ``lock`` (layer, i, j, name), ``unlock`` (layer, i, j),
``auto_symbolic`` (r2_threshold, lock_all), ``undo``, ``redo``, ``formula`` (numeric:
"error" | "placeholder"), ``save`` (path), ``open_project`` (path), ``inspect`` (layer, i,
j: the data the edge sees, its inner knots, importance score and lock). Fine-tuning with
locks is ``train`` again: locked edges keep their function and fit its constants.
``refine`` and ``auto_symbolic`` take steps (:mod:`kanstudio.worker.edit_runs`): one
``edit_progress`` per layer or edge, ``stop`` cancels them (the model stays as it was),
and their ``result`` says ``reason`` "finished" | "cancelled" | "error". ``undo`` and
``redo`` answer with ``losses``: the restored model's loss curve (step, train_loss,
test_loss, loss_units).

Events
------
``ready``     version, devices, pid
``loaded``    source ("csv" | "project"), path, input_names, target_names, n_samples,
              n_train, n_test, n_dropped, warnings, default_width (+ columns for a project)
``state``     has_data, has_model, fitted, training, discovering, editing (the running
              multi-step edit's command, or None), paused, run_step, run_steps, model
              (width, grid, k, input_names, target_names | None), can_undo, can_redo,
              settings
``progress``  step (the model's total steps), run_step, steps, train_loss, test_loss, reg,
              steps_per_s, loss_units, note
``snapshot``  step, width, input_names, target_names, x, y, active, locked, edge_scores,
              node_scores (see :mod:`kanstudio.worker.snapshot`)
``done``      reason ("finished" | "stopped" | "error"), steps_done, seconds, metrics
``error``     message (one line a scientist can act on), detail (traceback), command
``result``    command, plus what the command returns (formula text, prune info, ...)
``pipeline``  stage, stage_index, stages, kind, step, steps, train_loss, test_loss, message
``edit_progress``  command ("refine" | "auto_symbolic"), step, steps, message
``bye``       the worker has left its loop
"""

from __future__ import annotations

import math
import numbers
import traceback
from typing import Any

__all__ = [
    "COMMANDS", "EVENTS", "EDIT_COMMANDS", "SNAPSHOT_INTERVAL_S", "SCORE_INTERVAL_S",
    "CURVE_POINTS", "event", "error_event", "describe_error", "finite", "int_field",
    "width_field",
]

def finite(value: Any) -> float | None:
    """A number for an event: ``None`` for NaN, infinities and anything not a number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy scalars too
        return None
    return float(value) if math.isfinite(value) else None


def int_field(c: dict[str, Any], key: str) -> int:
    """A command's integer field, refused (ValueError) when missing or of another type."""
    value = c.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{key}' must be an integer, got {value!r}")
    return value


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


RUN_COMMANDS = ("train", "pause", "resume", "step", "stop")
EDIT_COMMANDS = ("prune", "prune_node", "prune_edge", "refine", "lock", "unlock",
                 "auto_symbolic", "undo", "redo")
COMMANDS = ("load", "set_settings", "new_model", *RUN_COMMANDS, "discover", "snapshot",
            "shutdown",
            *EDIT_COMMANDS, "suggest", "inspect", "formula", "save",
            "open_project")
EVENTS = ("ready", "loaded", "state", "progress", "snapshot", "done", "error", "result",
          "pipeline", "edit_progress", "bye")

SNAPSHOT_INTERVAL_S = 1.0 / 30.0  # at most ~30 snapshots a second reach the GUI
SCORE_INTERVAL_S = 0.25  # importance scores cost ~3x a curve sample; they change slowly
CURVE_POINTS = 48  # samples per edge curve: smooth at the size an edge is drawn

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


def event(kind: str, /, **fields: Any) -> dict[str, Any]:
    return {"event": kind, **fields}


def describe_error(exc: BaseException, command: str) -> str:
    """One line that says what went wrong and, where we can tell, what to do."""
    raw = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    text = str(raw).strip().splitlines()[0] if str(raw).strip() else ""
    if isinstance(exc, MemoryError):
        return (f"Out of memory while {_ACTIONS.get(command, command)}: use a smaller "
                "network, a smaller grid or fewer rows.")
    if isinstance(exc, _USER_ERRORS) and text:
        return text
    what = _ACTIONS.get(command, f"'{command}'")
    detail = f": {text}" if text else ""
    return (f"Internal error while {what} ({type(exc).__name__}{detail}). The session is "
            "kept; try again, or change the settings.")


def error_event(exc: BaseException, command: str, reply_to: Any = None) -> dict[str, Any]:
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return event("error", message=describe_error(exc, command), detail=detail,
                 command=command, reply_to=reply_to)
