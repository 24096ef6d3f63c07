"""Commands that edit or export the model (part 2 of the app builds its UI on these).

Each handler takes the worker and the command dict and returns the fields of a ``result``
event (or None). The worker stops a running run before an edit, and sends a fresh snapshot
and state after it. Edge addresses are ``(layer, i, j)`` (design.md §4.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["HANDLERS"]


def _int(c: dict[str, Any], key: str) -> int:
    value = c.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{key}' must be an integer, got {value!r}")
    return value


def _edge(c: dict[str, Any]) -> tuple[int, int, int]:
    return _int(c, "layer"), _int(c, "i"), _int(c, "j")


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def prune(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    info = w.session.prune(float(c.get("node_threshold", 1e-2)),
                           float(c.get("edge_threshold", 3e-2)))
    return {k: (_finite(v) if isinstance(v, float) else v) for k, v in info.items()}


def prune_node(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    w.session.prune_node(_int(c, "layer"), _int(c, "i"))
    return {"width": w.session.model.width_}


def prune_edge(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    w.session.prune_edge(*_edge(c))
    return {"edge": list(_edge(c))}


def refine(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    w.session.refine(_int(c, "grid"))
    return {"grid": _int(c, "grid")}


def suggest(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    top_k = c.get("top_k")
    fits = w.session.suggest(*_edge(c), top_k=top_k)
    return {"edge": list(_edge(c)), "candidates": [
        {"name": f.name, "r2": _finite(f.r2), "complexity": getattr(f, "complexity", None),
         "params": [float(getattr(f, p)) for p in "abcd"], "ok": bool(getattr(f, "ok", True))}
        for f in fits]}


def lock(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    name = c.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("lock needs the 'name' of a library function, e.g. 'sin'")
    fit = w.session.lock(*_edge(c), name)
    return {"edge": list(_edge(c)), "name": name,
            "r2": None if fit is None else _finite(fit.r2)}


def unlock(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    w.session.unlock(*_edge(c))
    return {"edge": list(_edge(c))}


def auto_symbolic(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    results = w.session.auto_symbolic(c.get("r2_threshold"), bool(c.get("lock_all", False)))
    return {"edges": [{"edge": list(r.edge), "locked": bool(r.locked), "name": r.name,
                       "r2": _finite(r.r2)} for r in results]}


def undo(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    return {"what": w.session.undo()}


def redo(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    return {"what": w.session.redo()}


def formula(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    from kanstudio.symbolic.export import to_latex, to_sympy

    result = w.session.formula()
    return {"formulas": [to_sympy(e) for e in result.expressions],
            "latex": [to_latex(e) for e in result.expressions],
            "input_names": list(result.input_names),
            "target_names": list(result.target_names),
            "formula_test_rmse": _finite(result.formula_test_rmse),
            "formula_test_r2": _finite(result.formula_test_r2),
            "network_test_rmse": _finite(result.network_test_rmse),
            "network_test_r2": _finite(result.network_test_r2)}


def save(w: Any, c: dict[str, Any]) -> dict[str, Any]:
    from kanstudio.project_file import save_project

    path = c.get("path")
    if not path:
        raise ValueError("save needs a 'path' for the .kstudio file")
    save_project(w.session, path, created=getattr(w.session, "created", None))
    return {"path": str(path)}


def open_project(w: Any, c: dict[str, Any]) -> None:
    from kanstudio.project_file import load_project

    path = c.get("path")
    if not path:
        raise ValueError("open_project needs a 'path' to a .kstudio file")
    session = load_project(path, device=c.get("device"))
    w._finish_run("stopped")
    d = session.dataset
    # The project stores the data itself; the GUI previews it from these columns.
    columns = {"names": [*d.input_names, *d.target_names],
               "values": [d.X[:, i].copy() for i in range(d.n_inputs)]
               + [d.y[:, i].copy() for i in range(d.n_outputs)]}
    w.set_session(session, source="project", path=str(path), extra={"columns": columns})


# open_project needs no session; the others do (checked by the worker before calling).
HANDLERS: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any] | None]] = {
    "prune": prune, "prune_node": prune_node, "prune_edge": prune_edge, "refine": refine,
    "suggest": suggest, "lock": lock, "unlock": unlock, "auto_symbolic": auto_symbolic,
    "undo": undo, "redo": redo, "formula": formula, "save": save,
}
