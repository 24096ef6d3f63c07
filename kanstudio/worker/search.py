"""``search_edge`` / ``search_node``: the symbolic search engine on one edge's curve or one
node's value, as a cancellable run.

The engine reports progress through a callback between chunks of generations, and stops
when that callback says so; a run, though, is a generator the worker advances between
commands. So the search runs in a helper thread and the run's generator yields each
progress report it sends (one ``edit_progress`` event each), and the engine waits at each
report until the worker has read its commands; ``stop`` closes the generator, which tells
the engine to stop there and waits for the thread to end. The search only reads the
model, so a cancelled search leaves nothing behind.

The result lists the front, best first, as candidates shaped like ``suggest``'s, whose
``name`` is the expression's lock name: ``lock`` with it locks the edge to that expression,
``lock_node`` with it and the candidate's ``inputs`` locks the node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kanstudio.errors import EngineError
from kanstudio.worker import protocol as p
from kanstudio.worker.protocol import finite
from kanstudio.worker.runs import EditRun

if TYPE_CHECKING:
    from kanstudio.worker.loop import Worker

__all__ = ["search_edge", "search_node", "PREVIEW_POINTS"]

PREVIEW_POINTS = 120  # samples of a candidate's curve, for the inspector's preview


def search_edge(w: Worker, c: p.SearchEdge) -> None:
    """Start the search run (after checking the edge and that the engine can run here:
    ``search_unavailable`` otherwise, with how to install it)."""
    session = _searchable(w, "an untrained edge has no curve to search.")
    session.model.edge_samples(*c.edge)  # checks the address, with the engine's messages
    threads = _start_checks(w)
    edge, budget = c.edge, c.budget

    def run(progress: Any) -> list:
        return session.search_edge(*edge, budget=budget, threads=threads, progress=progress)

    def finish(front: list) -> dict[str, Any]:
        return {"edge": list(edge), "budget": budget,
                "candidates": _candidates(session, edge, front)}

    from kanstudio.session.search_step import search_steps  # imports torch

    steps = search_steps(run, finish)
    w.start_run(EditRun("search_edge", steps, _describe(f"edge {edge}"), _summarize,
                        w.reply_to))


def search_node(w: Worker, c: p.SearchNode) -> None:
    """Start a search for node ``(layer, node)``'s value: checked first (the address, 1-3
    inputs, the engine), like :func:`search_edge`."""
    session = _searchable(w, "an untrained node has no value to search.")
    level, node = c.address
    # says why a node is refused, naming the data's columns
    session.model.check_node_search(level, node, list(session.dataset.input_names))
    inputs, _x, _y = session.model.node_samples(level, node)
    threads = _start_checks(w)
    budget = c.budget

    def run(progress: Any) -> list:
        return session.search_node(level, node, budget=budget, threads=threads,
                                   progress=progress)

    def finish(front: list) -> dict[str, Any]:
        return {"node": [level, node], "budget": budget, "inputs": list(inputs),
                "candidates": _node_candidates(session, level, node, inputs, front)}

    from kanstudio.session.search_step import search_steps  # imports torch

    steps = search_steps(run, finish)
    w.start_run(EditRun("search_node", steps, _describe(f"node {(level, node)}"),
                        _summarize, w.reply_to))


def _searchable(w: Worker, untrained: str) -> Any:
    session = w.session
    if session.model is None or not session.model.is_fitted:
        raise ValueError(f"Train a model first: {untrained}")
    return session


def _start_checks(w: Worker) -> int:
    """Refuse while training or Discover runs, or when the engine cannot run here; end
    any edit run; the engine threads to use (the worker's thread setting, the app's
    "torch threads")."""
    import torch

    from kanstudio.session.search_step import engine_problem

    if w.run is not None and not isinstance(w.run, EditRun):
        raise ValueError("Training or Discover is running: stop it first, then search.")
    problem = engine_problem()
    if problem:
        raise EngineError(problem, kind="search_unavailable", reason=problem)
    w.end_run()  # a refine, auto-symbolic or earlier search is cancelled
    return torch.get_num_threads()


def _describe(what: str):
    def describe(value: tuple[int, int]) -> tuple[int, int, str]:
        done, total = value
        return done, total, (f"Searching expressions for {what}: generation {done} "
                             f"of {total}")

    return describe


def _summarize(outcome: dict[str, Any]) -> dict[str, Any]:
    return outcome


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


def _node_candidates(session: Any, level: int, node: int, inputs: list[int],
                     front: list[Any]) -> list[dict[str, Any]]:
    """A node search's front, best first, as candidates: ``name`` (a node lock name) and
    ``inputs`` are what ``lock_node`` takes; ``expression`` reads in the data's names and
    units. A node of one input gets a preview curve over its input's range."""
    import numpy as np

    from kanstudio.session.search_step import best_first
    from kanstudio.symbolic.expression_lock import expression_name

    grid = None
    if len(inputs) == 1:
        ref = session.model.reference_x_[:, inputs[0]]
        grid = np.linspace(float(ref.min()), float(ref.max()), PREVIEW_POINTS)
    out = []
    for r in best_first(front):
        name = expression_name(r.tree, len(inputs))
        c = {"name": name, "inputs": list(inputs), "r2": finite(r.r2),
             "complexity": int(r.complexity), "ok": True, "source": "search",
             "expression": session.node_lock_text(name, inputs)}
        if grid is not None:
            with np.errstate(all="ignore"):
                c["preview_x"] = grid
                c["preview_y"] = np.asarray(r.predict(grid[:, None]), dtype=np.float64)
        out.append(c)
    return out
