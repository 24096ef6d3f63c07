"""``search_edge``: the symbolic search engine on one edge's curve, as a cancellable run.

The engine reports progress through a callback between chunks of generations, and stops
when that callback says so; a run, though, is a generator the worker advances between
commands. So the search runs in a helper thread and the run's generator yields each
progress report it sends (one ``edit_progress`` event each), and the engine waits at each
report until the worker has read its commands; ``stop`` closes the generator, which tells
the engine to stop there and waits for the thread to end. The search only reads the
model, so a cancelled search leaves nothing behind.

The result lists the front, best first, as candidates shaped like ``suggest``'s, whose
``name`` is the expression's lock name: ``lock`` with it locks the edge to that expression.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from kanstudio.errors import EngineError
from kanstudio.worker import protocol as p
from kanstudio.worker.protocol import finite
from kanstudio.worker.runs import EditRun

if TYPE_CHECKING:
    from kanstudio.worker.loop import Worker

__all__ = ["search_edge", "PREVIEW_POINTS", "JOIN_TIMEOUT_S"]

PREVIEW_POINTS = 120  # samples of a candidate's curve, for the inspector's preview
JOIN_TIMEOUT_S = 30.0  # a cancelled search ends at its next chunk (about a second)


def search_edge(w: Worker, c: p.SearchEdge) -> None:
    """Start the search run (after checking the edge and that the engine can run here:
    ``search_unavailable`` otherwise, with how to install it)."""
    import torch

    from kanstudio.session.search_step import engine_problem

    session = w.session
    if session.model is None or not session.model.is_fitted:
        raise ValueError("Train a model first: an untrained edge has no curve to search.")
    session.model.edge_samples(*c.edge)  # checks the address, with the engine's messages
    if w.run is not None and not isinstance(w.run, EditRun):
        raise ValueError("Training or Discover is running: stop it first, then search.")
    problem = engine_problem()
    if problem:
        raise EngineError(problem, kind="search_unavailable", reason=problem)
    w.end_run()  # a refine, auto-symbolic or earlier search is cancelled
    # the engine's threads follow the worker's thread setting (the app's "torch threads")
    steps = _search_steps(session, c.edge, c.budget, torch.get_num_threads())
    w.start_run(EditRun("search_edge", steps, _describe(c.edge), _summarize, w.reply_to))


def _describe(edge: tuple[int, int, int]):
    def describe(value: tuple[int, int]) -> tuple[int, int, str]:
        done, total = value
        return done, total, (f"Searching expressions for edge {edge}: generation {done} "
                             f"of {total}")

    return describe


def _summarize(outcome: dict[str, Any]) -> dict[str, Any]:
    return outcome


def _search_steps(session: Any, edge: tuple[int, int, int], budget: str, threads: int
                  ) -> Generator[tuple[int, int], None, dict[str, Any]]:
    """Yields (generations done, generations) as the engine reports them; returns the
    ``result`` fields (the edge, the budget and the candidates)."""
    updates: queue.Queue = queue.Queue()
    cancel = threading.Event()
    resume = threading.Event()  # the worker has read its commands since the last report
    outcome: dict[str, Any] = {}

    def progress(done: int, total: int) -> bool:
        # Wait for the worker's next turn before the engine goes on: a Stop read in that
        # turn then stops the search here, not a chunk later.
        resume.clear()
        updates.put((done, total))
        resume.wait()
        return not cancel.is_set()

    def work() -> None:
        try:
            outcome["front"] = session.search_edge(*edge, budget=budget, threads=threads,
                                                   progress=progress)
        except BaseException as exc:  # noqa: BLE001 - handed to the worker's thread
            outcome["error"] = exc
        finally:
            updates.put(None)

    thread = threading.Thread(target=work, name="kanstudio-search", daemon=True)
    thread.start()
    try:
        while (item := updates.get()) is not None:
            yield item
            resume.set()
    finally:  # closed early (stop, another command): the engine stops at this report
        cancel.set()
        resume.set()
        thread.join(JOIN_TIMEOUT_S)
    if "error" in outcome:
        raise outcome["error"]
    return {"edge": list(edge), "budget": budget,
            "candidates": _candidates(session, edge, outcome["front"])}


def _candidates(session: Any, edge: tuple[int, int, int], front: list[Any]
                ) -> list[dict[str, Any]]:
    """The front, best first (accuracy against size: ``search_step.best_first``), shaped
    like ``suggest``'s candidates."""
    import numpy as np
    import sympy

    from kanstudio.model.symbolic_verbs import expression_lock_name
    from kanstudio.session.search_step import best_first

    x_data, _ = session.model.edge_samples(*edge)
    lo, hi = (float(x_data[0]), float(x_data[-1])) if len(x_data) else (-1.0, 1.0)
    grid = np.linspace(lo, hi, PREVIEW_POINTS)
    out = []
    for r in best_first(front):
        with np.errstate(all="ignore"):
            curve = np.asarray(r.predict(grid[:, None]), dtype=np.float64)
        out.append({"name": expression_lock_name(r), "r2": finite(r.r2),
                    "complexity": int(r.complexity), "params": [1.0, 0.0, 1.0, 0.0],
                    "ok": True, "expression": sympy.sstr(r.display), "source": "search",
                    "preview_x": grid, "preview_y": curve})
    return out
