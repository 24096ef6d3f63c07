"""The worker's one dispatch table: each command type, the function that handles it, and
what happens around it.

To follow a button to the engine: the GUI sends e.g. ``lock`` → :class:`protocol.Lock`
(checked by :func:`protocol.parse_command`) → ``ROUTES[Lock]`` → :func:`edits.lock` →
``Session.lock``. A :class:`Route` says whether the command needs data loaded, which
running :class:`~kanstudio.worker.runs.Run` it ends first (``interrupts``), and what the
worker sends after it (``then``). A handler returns the fields of a ``result`` event, or
None when it answers for itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from kanstudio.worker import edits, search
from kanstudio.worker import protocol as p
from kanstudio.worker.runs import DiscoverRun, EditRun, TrainingRun, auto_symbolic_run, refine_run

if TYPE_CHECKING:
    from kanstudio.worker.loop import Worker

__all__ = ["Route", "ROUTES"]

Handler = Callable[["Worker", Any], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Route:
    """How the worker handles one command type.

    ``interrupts``: ``"edit"`` cancels a running refine/auto-symbolic before the handler
    (the command replaces or changes the model); ``"any"`` ends whatever run is going
    (training and Discover stop, an edit is cancelled). ``then``: ``"state"`` sends the
    state after the handler, ``"model"`` a fresh snapshot and the state (the model changed).
    """

    handler: Handler
    needs_session: bool = True
    interrupts: Literal["none", "edit", "any"] = "none"
    then: Literal["", "state", "model"] = ""


# ---------------------------------------------------------------------------- data, settings
def load(w: Worker, c: p.Load) -> None:
    from kanstudio.data import build_dataset, read_csv, resolve_roles
    from kanstudio.session import Session

    table = read_csv(c.path)
    roles = resolve_roles(table, c.target, c.inputs)
    dataset = build_dataset(table, roles, drop_missing=c.drop_missing,
                            drop_non_numeric=c.drop_non_numeric)
    session = Session(dataset, w.settings)  # may refuse (too few rows)
    w.end_run()  # only now: a file that fails to load leaves training going
    w.set_session(session, source="csv", path=str(c.path))


def set_settings(w: Worker, c: p.SetSettings) -> None:
    from kanstudio.session import Session, SessionSettings

    new = SessionSettings.from_dict({**w.settings.to_dict(), **(c.settings or {})})
    new.width = p.width_field(new.width, new.mult_arity)
    old = w.settings
    w.settings = new
    if w.session is None:
        return
    data_keys = ("seed", "test_fraction", "scale_inputs", "scale_target")
    data_changed = any(getattr(old, k) != getattr(new, k) for k in data_keys)
    if data_changed and w.session.model is None and w.run is None:
        # Nothing trained yet: rebuild so the split and scaling follow the new settings.
        w.session = Session(w.session.dataset, new)
    else:
        w.session.settings = new
    w.emit_state()


def new_model(w: Worker, c: p.NewModel) -> None:
    if c.settings:
        set_settings(w, p.SetSettings(settings=c.settings))  # may rebuild the session
    w.end_run()
    w.session.new_model(p.width_field(c.width, w.session.settings.mult_arity))
    w.throttle.reset()


# ---------------------------------------------------------------------------- runs
def train(w: Worker, c: p.Train) -> None:
    if w.run is not None:
        raise ValueError(_busy(w.run))
    w.start_run(TrainingRun(w.session, c))


def step(w: Worker, c: p.Step) -> None:
    if w.run is None:
        w.start_run(TrainingRun(w.need_session(), c, paused=True))
    elif not isinstance(w.run, TrainingRun):
        raise ValueError(_busy(w.run))
    w.run.paused = True
    w.run.pending_steps += 1


def pause(w: Worker, c: p.Pause) -> None:
    run = w.run
    if isinstance(run, TrainingRun) and not run.paused:
        run.paused = True
        run.pause_rate_window()


def resume(w: Worker, c: p.Resume) -> None:
    run = w.run
    if isinstance(run, TrainingRun) and run.paused:
        run.paused = False
        run.pending_steps = 0
        run.pause_rate_window()


def stop(w: Worker, c: p.Stop) -> None:
    if not w.end_run():
        w.emit_state()


def discover(w: Worker, c: p.Discover) -> None:
    import torch

    if isinstance(w.run, DiscoverRun):
        raise ValueError("Discover is already running: stop it first.")
    w.end_run()
    # the search engine's threads follow the worker's thread setting unless asked
    settings = {"search_threads": torch.get_num_threads(), **(c.settings or {})}
    w.start_run(DiscoverRun(w.session, settings))


def refine(w: Worker, c: p.Refine) -> None:
    w.start_run(refine_run(w.session, c.grid, w.reply_to))


def auto_symbolic(w: Worker, c: p.AutoSymbolic) -> None:
    w.start_run(auto_symbolic_run(w.session, c.r2_threshold, c.lock_all, w.reply_to))


def _busy(run: Any) -> str:
    if isinstance(run, DiscoverRun):
        return "Discover is running: stop it first."
    if isinstance(run, EditRun):
        return "A model edit is running: cancel it first."
    return "Training is already running: pause or stop it first."


# ---------------------------------------------------------------------------- the rest
def take_snapshot(w: Worker, c: p.TakeSnapshot) -> None:
    w.send_snapshot(fresh=True)


def live_labels(w: Worker, c: p.LiveLabels) -> None:
    """Labels on or off; turned on with a trained model and no run, they appear at once."""
    w.throttle.labels_enabled = c.enabled
    if c.enabled:
        w.throttle.reset()
        if w.run is None:
            w.send_snapshot(fresh=True)


def shutdown(w: Worker, c: p.Shutdown) -> None:
    w.end_run()
    w.running = False


ROUTES: dict[type[p.Command], Route] = {
    p.Load: Route(load, needs_session=False, interrupts="edit"),
    p.SetSettings: Route(set_settings, needs_session=False),
    p.NewModel: Route(new_model, interrupts="edit", then="state"),
    p.OpenProject: Route(edits.open_project, needs_session=False, interrupts="edit"),
    # runs
    p.Train: Route(train, interrupts="edit", then="state"),
    p.Step: Route(step, needs_session=False, interrupts="edit", then="state"),
    p.Pause: Route(pause, needs_session=False, then="state"),
    p.Resume: Route(resume, needs_session=False, then="state"),
    p.Stop: Route(stop, needs_session=False),
    p.Discover: Route(discover, interrupts="edit", then="state"),
    p.Refine: Route(refine, interrupts="any", then="state"),
    p.AutoSymbolic: Route(auto_symbolic, interrupts="any", then="state"),
    # reads the model only: ends a running edit or Discover, but not before checking
    p.SearchEdge: Route(search.search_edge, then="state"),
    p.SearchNode: Route(search.search_node, then="state"),
    # edits: done at once; the model changed
    p.Prune: Route(edits.prune, interrupts="any", then="model"),
    p.PruneNode: Route(edits.prune_node, interrupts="any", then="model"),
    p.PruneEdge: Route(edits.prune_edge, interrupts="any", then="model"),
    p.Lock: Route(edits.lock, interrupts="any", then="model"),
    p.Unlock: Route(edits.unlock, interrupts="any", then="model"),
    p.LockNode: Route(edits.lock_node, interrupts="any", then="model"),
    p.UnlockNode: Route(edits.unlock_node, interrupts="any", then="model"),
    p.Undo: Route(edits.undo, interrupts="any", then="model"),
    p.Redo: Route(edits.redo, interrupts="any", then="model"),
    p.UseFormula: Route(edits.use_formula, interrupts="any", then="model"),
    p.AdoptProject: Route(edits.adopt_project, interrupts="any", then="model"),
    # questions about the model
    p.PrunePreview: Route(edits.prune_preview),
    p.Suggest: Route(edits.suggest),
    p.Inspect: Route(edits.inspect),
    p.InspectNode: Route(edits.inspect_node),
    p.Formula: Route(edits.formula),
    p.Save: Route(edits.save),
    p.TakeSnapshot: Route(take_snapshot, needs_session=False),
    p.LiveLabels: Route(live_labels, needs_session=False),
    p.Shutdown: Route(shutdown, needs_session=False, interrupts="edit"),
}
