"""Handlers of the commands that edit, inspect or export the model.

Each takes the worker and its typed command (:mod:`.protocol`) and returns the fields of a
``result`` event (or None). Which run an edit interrupts and what the worker sends after it
is in the dispatch table (:data:`kanstudio.worker.handlers.ROUTES`). Edge addresses are
``(layer, i, j)`` (design.md §4.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kanstudio.worker import protocol as p
from kanstudio.worker.protocol import finite
from kanstudio.worker.runs import loss_history

if TYPE_CHECKING:
    from kanstudio.worker.loop import Worker

__all__ = ["prune", "prune_preview", "prune_node", "prune_edge", "suggest", "lock", "unlock",
           "undo", "redo", "inspect", "formula", "use_formula", "save", "open_project",
           "adopt_project"]

_PREVIEW_POINTS = 120  # samples of a candidate's curve, for the inspector's preview
_PLOT_ROWS = 2000  # held-out rows sent for the formula's predicted-vs-actual plot
_INSPECT_POINTS = 600  # data points the inspector plots (a scatter stays readable)


def prune(w: Worker, c: p.Prune) -> dict[str, Any]:
    info = w.session.prune(c.node_threshold, c.edge_threshold)
    return {k: (finite(v) if isinstance(v, float) else v) for k, v in info.items()}


def prune_preview(w: Worker, c: p.PrunePreview) -> dict[str, Any]:
    info = w.session.prune_preview(c.node_threshold, c.edge_threshold)
    info = {k: (finite(v) if isinstance(v, float) else v) for k, v in info.items()}
    return {**info, "node_threshold": c.node_threshold, "edge_threshold": c.edge_threshold}


def _test_rmse(w: Worker) -> float | None:
    return finite(w.session.metrics().get("test_rmse"))


def prune_node(w: Worker, c: p.PruneNode) -> dict[str, Any]:
    before, width = _test_rmse(w), list(w.session.model.width_)
    w.session.prune_node(c.layer, c.i)
    return {"width": w.session.model.width_, "width_before": width,
            "width_after": list(w.session.model.width_),
            "test_rmse_before": before, "test_rmse_after": _test_rmse(w)}


def prune_edge(w: Worker, c: p.PruneEdge) -> dict[str, Any]:
    before, width = _test_rmse(w), list(w.session.model.width_)
    w.session.prune_edge(*c.edge)
    return {"edge": list(c.edge), "width_before": width,
            "width_after": list(w.session.model.width_),
            "test_rmse_before": before, "test_rmse_after": _test_rmse(w)}


def suggest(w: Worker, c: p.Suggest) -> dict[str, Any]:
    import numpy as np
    import sympy

    from kanstudio.symbolic.export import to_short_text

    fits = w.session.suggest(*c.edge, top_k=c.top_k)
    x_data, _ = w.session.model.edge_samples(*c.edge)
    lo, hi = (float(x_data[0]), float(x_data[-1])) if len(x_data) else (-1.0, 1.0)
    grid = np.linspace(lo, hi, _PREVIEW_POINTS)
    x = sympy.Symbol("x")
    out = []
    for f in fits:
        with np.errstate(all="ignore"):
            curve = np.asarray(f.evaluate(grid), dtype=np.float64)
        try:
            text = to_short_text(f.expression(x))  # 4 significant digits, for reading
        except Exception:  # noqa: BLE001 - the text is a courtesy, the fit stays usable
            text = f"{f.c:.4g}*{f.name}({f.a:.4g}*x + {f.b:.4g}) + {f.d:.4g}"
        out.append({"name": f.name, "r2": finite(f.r2),
                    "complexity": getattr(f, "complexity", None),
                    "params": [float(getattr(f, p)) for p in "abcd"],
                    "ok": bool(getattr(f, "ok", True)), "expression": text,
                    "preview_x": grid, "preview_y": curve})
    return {"edge": list(c.edge), "candidates": out}


def lock(w: Worker, c: p.Lock) -> dict[str, Any]:
    from kanstudio.symbolic.expression_lock import lock_label

    fit = w.session.lock(*c.edge, c.function)
    return {"edge": list(c.edge), "name": c.function, "label": lock_label(c.function),
            "r2": None if fit is None else finite(fit.r2)}


def unlock(w: Worker, c: p.Unlock) -> dict[str, Any]:
    w.session.unlock(*c.edge)
    return {"edge": list(c.edge)}


def lock_node(w: Worker, c: p.LockNode) -> dict[str, Any]:
    r2 = w.session.lock_node(*c.address, c.function, c.inputs)
    name, inputs = w.session.model.locked_nodes()[c.address]
    return {"node": list(c.address), "name": name, "inputs": inputs, "r2": finite(r2),
            "label": w.session.node_lock_text(name, inputs)}


def unlock_node(w: Worker, c: p.UnlockNode) -> dict[str, Any]:
    w.session.unlock_node(*c.address)
    return {"node": list(c.address)}


def inspect_node(w: Worker, c: p.InspectNode) -> dict[str, Any]:
    """What the inspector shows for a node: the inputs it depends on (by name), its lock,
    its importance; for a node of one input, its value against that input on the
    reference rows (x, y sorted by x)."""
    import numpy as np

    model = w.session.model
    level, node = c.address
    try:
        inputs = model.node_inputs(level, node)  # checks the address
    except IndexError:
        # asked again just after a prune took that node away (the window's width was not
        # yet the new one): nothing to show, not an error
        return {"node": [level, node], "gone": True}
    names = w.session.dataset.input_names
    _, node_scores = model.scores()
    out: dict[str, Any] = {"node": [level, node], "inputs": inputs,
                           "input_names": [names[i] for i in inputs],
                           "score": finite(float(node_scores[level][node])),
                           "locked": None, "locked_label": None}
    lock = model.locked_nodes().get((level, node))
    if lock is not None:
        out["locked"] = lock[0]
        out["locked_label"] = w.session.node_lock_text(*lock)
    if level > 0 and len(inputs) == 1:
        ref = model.reference_x_
        x = ref[:, inputs[0]]
        order = np.argsort(x, kind="stable")[:: max(1, len(x) // _INSPECT_POINTS)]
        out["x"] = np.asarray(x[order], dtype=np.float64)
        out["y"] = np.asarray(model.node_values(level, node, ref[order]), dtype=np.float64)
    return out


def undo(w: Worker, c: p.Undo) -> dict[str, Any]:
    # The loss curve goes back with the model: it is the restored model's step history.
    what = w.session.undo()
    w.settings = w.session.settings  # an adopted seed's settings go back with its model
    return {"what": what, "losses": loss_history(w.session)}


def redo(w: Worker, c: p.Redo) -> dict[str, Any]:
    what = w.session.redo()
    w.settings = w.session.settings
    return {"what": what, "losses": loss_history(w.session)}


def adopt_project(w: Worker, c: p.AdoptProject) -> dict[str, Any]:
    """The model of a project saved from the same data, as one undo step."""
    from pathlib import Path

    from kanstudio.session.project_file import load_project

    other = load_project(c.path, device=w.session.settings.device)
    what = c.what or Path(c.path).stem
    w.session.adopt_session(other, what)
    w.settings = w.session.settings
    return {"what": what, "seed": w.session.settings.seed, "losses": loss_history(w.session)}


def inspect(w: Worker, c: p.Inspect) -> dict[str, Any]:
    """What the edge inspector draws: the data the edge sees, its knots and its score."""
    import numpy as np
    import torch

    layer, i, j = c.edge
    model = w.session.model
    model.edge_samples(layer, i, j)  # checks the address, with the engine's messages
    with torch.no_grad():  # what the edge computes now: its function when locked
        acts = model.network_.forward_activations(model.reference_inputs())
    x = acts.inputs[layer][:, i].double().cpu().numpy()
    y = acts.edges[layer][:, i, j].double().cpu().numpy()
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if len(x) > _INSPECT_POINTS:  # sorted by x: an even subsample keeps the shape
        keep = np.linspace(0, len(x) - 1, _INSPECT_POINTS).round().astype(int)
        x, y = x[keep], y[keep]
    lay = model.network_.layers[layer]
    k = int(lay.k)
    knots = lay.knots[i].detach().double().cpu().numpy()
    inner = knots[k:len(knots) - k] if len(knots) > 2 * k else knots
    edge_scores, _ = model.scores()
    locked = dict(model.edge_curves(2).locked[layer]).get((i, j))
    out = {"edge": [layer, i, j], "x": np.asarray(x, dtype=np.float64),
           "y": np.asarray(y, dtype=np.float64), "knots": np.asarray(inner, dtype=np.float64),
           "score": finite(float(edge_scores[layer][i, j])),
           "locked": None if locked is None else str(locked)}
    if locked is not None:  # the function the edge computes now, with its trained constants
        from kanstudio.symbolic.expression_lock import lock_label

        out["locked_label"] = lock_label(str(locked))
        params = [float(v) for v in lay.symbolic_params[i, j].detach().cpu().tolist()]
        out["locked_params"] = params
        out["locked_expression"] = _locked_text(str(locked), params)
    return out


def _locked_text(name: str, params: list[float]) -> str:
    """``c*f(a*x + b) + d`` of a locked edge, constants to 4 significant digits."""
    import sympy

    from kanstudio.symbolic.export import to_short_text
    from kanstudio.symbolic.expression_lock import lock_function, lock_label

    a, b, c, d = (sympy.Float(v) for v in params)
    x = sympy.Symbol("x")
    try:
        return to_short_text(c * lock_function(name).sympy_fn(a * x + b) + d)
    except Exception:  # noqa: BLE001 - the text is a courtesy; the lock itself is fine
        return (f"{params[2]:.4g}*{lock_label(name)}({params[0]:.4g}*x + {params[1]:.4g}) "
                f"+ {params[3]:.4g}")


def formula(w: Worker, c: p.Formula) -> dict[str, Any]:
    from kanstudio.session.front import network_r2
    from kanstudio.symbolic.export import constants_table, to_latex, to_python, to_sympy

    result = w.session.formula(numeric=c.numeric)
    names = list(result.input_names)
    session = w.session
    rows = session.held_out_idx[:_PLOT_ROWS]
    predicted = session.evaluate_formula(result.expressions, session.dataset.X[rows])
    now = session.metrics()
    return {"formulas": [to_sympy(e) for e in result.expressions],
            "latex": [to_latex(e, symbol_names=result.latex_names)
                      for e in result.expressions],
            "latex_eq": [to_latex(e, t, result.latex_names) for e, t in
                         zip(result.expressions, result.target_names, strict=True)],
            "python": [to_python(e, names, t, f"formula_{t}") for e, t in
                       zip(result.expressions, result.target_names, strict=True)],
            "input_names": list(result.input_names),
            "target_names": list(result.target_names),
            "formula_test_rmse": finite(result.formula_test_rmse),
            "formula_test_r2": finite(result.formula_test_r2),
            # the model as it is now (Session.metrics: the loss panel's "network now" too),
            # not the network a pinned formula was verified against before its edges were
            # locked
            "network_test_rmse": finite(now["test_rmse"]),
            "network_test_r2": finite(now["test_r2"]),
            # "verified" | "approximate" (session.VERIFY_TOLERANCE), why, and the formula's
            # R² against the network on the held-out rows
            "status": result.status, "status_reason": result.status_reason,
            "formula_network_r2": finite(network_r2(result.network_difference)),
            # the first formula's free constants with their standard errors
            "constants": [_constant(k) for k in result.constants],
            "latex_constants": constants_table(result.constants),
            # held-out rows, for the predicted-vs-actual plot: (n, n_out) each
            "actual": session.dataset.y[rows].astype(float), "predicted": predicted}


def _constant(c: dict[str, Any]) -> dict[str, Any]:
    """A free constant for the formula panel: as the formula shows it, its value and
    standard error (None, with a reason, when not determined) and ``text`` "v ± e"."""
    from kanstudio.symbolic.uncertainty import format_with_error

    value, error, exponent = format_with_error(float(c["value"]), c.get("stderr"))
    if error is None:
        text = value
    elif exponent:
        text = f"({value} ± {error})e{exponent}"
    else:
        text = f"{value} ± {error}"
    return {"value": finite(c.get("value")), "stderr": finite(c.get("stderr")),
            "shown": str(c.get("shown", "")), "reason": c.get("reason"), "text": text}


def use_formula(w: Worker, c: p.UseFormula) -> dict[str, Any]:
    from kanstudio.session.front import use_formula as use

    what = use(w.session, c.index)
    return {"index": c.index, "what": what}


def save(w: Worker, c: p.Save) -> dict[str, Any]:
    from kanstudio.session.project_file import save_project

    path = c.path
    save_project(w.session, path, created=getattr(w.session, "created", None))
    return {"path": str(path)}


def open_project(w: Worker, c: p.OpenProject) -> None:
    from kanstudio.session.project_file import load_project

    path = c.path
    session = load_project(path, device=c.device)
    w.end_run()
    d = session.dataset
    # The project stores the data itself; the GUI previews it from these columns.
    columns = {"names": [*d.input_names, *d.target_names],
               "values": [d.X[:, i].copy() for i in range(d.n_inputs)]
               + [d.y[:, i].copy() for i in range(d.n_outputs)]}
    w.set_session(session, source="project", path=str(path),
                  extra={"columns": columns, "losses": loss_history(session)})

