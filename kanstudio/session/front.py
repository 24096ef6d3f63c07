"""The accuracy–complexity front Discover found, kept on the session for the user to judge.

Each :class:`FrontEntry` is one formula of the front (simplest first): its complexity, its
held-out R² against the data and against the network, its status, its predictions on the
held-out rows (for a residual plot) and its accuracy on a wider input range
(:func:`wider_range_accuracy`). Entries found in this session also keep the network the
formula belongs to, so :func:`use_formula` can make it the session's model and formula in
one undo step; entries of a reopened project are plain data (the project file keeps no
expression to parse), shown but not usable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kanstudio.session.session import (
    MARGIN,
    FormulaResult,
    Session,
    SessionError,
    formula_status,
)

__all__ = ["FrontEntry", "FormulaFront", "wider_range_accuracy", "use_formula",
           "make_entry", "plot_rows", "network_r2", "PLOT_ROWS", "WIDER_POINTS"]

#: Held-out rows kept per entry for its residual plot.
PLOT_ROWS = 2000
#: Points sampled over the widened input box.
WIDER_POINTS = 2000


def network_r2(difference: float) -> float | None:
    """R² of a formula against the network from ``rms(formula - network) / std(network)``
    (:func:`~kanstudio.session.session.formula_status`): ``1 - difference²``."""
    return 1.0 - difference**2 if math.isfinite(difference) else None


def wider_range_accuracy(session: Session, exprs: list, network: Any = None,
                         n: int = WIDER_POINTS) -> dict[str, Any]:
    """How ``exprs`` (one sympy expression per target, as :meth:`Session.evaluate_formula`
    takes them) agree with a network on inputs beyond the data.

    The points are the session's margin points (:meth:`Session.margin_points`): each
    input's range widened by ``MARGIN`` (25 %) on both sides, a positive input's stopping
    halfway to 0, the rule a formula's domain is already checked by. ``network``: a fitted
    KAN on the session's scaled data (the session's model by default). Returns
    ``{"margin", "points", "defined", "r2_network", "difference", "status"}``:
    ``defined`` the share of points where the formula is finite; ``r2_network`` the
    formula's R² against the network on those points (None when none); ``status``
    "verified" when it reproduces the network there within the verification tolerance.
    """
    points = session.margin_points(n)
    formula = session.evaluate_formula(exprs, points)[:, 0]
    if network is None:
        net = session.predict(points)[:, 0]
    else:
        scaled = network.predict(session.x_scaler.transform(points))
        net = session.y_scaler.inverse_transform(scaled)[:, 0]
    finite = np.isfinite(formula) & np.isfinite(net)
    out: dict[str, Any] = {"margin": MARGIN, "points": int(len(points)),
                           "defined": float(np.mean(np.isfinite(formula))),
                           "r2_network": None, "difference": None, "status": "approximate"}
    if finite.any():
        status, difference, _why = formula_status(formula[finite], net[finite],
                                                  not exprs[0].free_symbols)
        if not finite.all():
            status = "approximate"
        out.update(r2_network=network_r2(difference),
                   difference=difference if math.isfinite(difference) else None,
                   status=status)
    return out


@dataclass
class FrontEntry:
    """One formula of the front (plain data, plus what "use" needs in a live session)."""

    formula: str  # sympy's text, CSV names (display only: never parsed back)
    latex: str
    complexity: int
    test_r2: float | None  # the formula against the held-out rows of the data
    network_r2: float | None  # the formula against the network on those rows
    status: str  # "verified" | "approximate"
    width: list
    chosen: bool  # the pipeline's pick (the knee, or pipeline.adequate_choice's)
    wider: dict[str, Any]  # wider_range_accuracy()
    predicted: np.ndarray  # (n_rows,) the formula on the plot rows (first target)
    # the formula to read: its floats at 4 significant digits (to_short_text), snapped
    # constants (pi, 1/2) exact; "" in files written before it was kept
    short: str = ""
    result: FormulaResult | None = field(default=None, repr=False)
    model: Any = field(default=None, repr=False)  # the network to adopt with it

    @property
    def usable(self) -> bool:
        return self.result is not None and self.model is not None

    def info(self) -> dict[str, Any]:
        """The plain fields (what the project file and the worker's event carry)."""
        return {"formula": self.formula, "short": self.short, "latex": self.latex,
                "complexity": self.complexity,
                "test_r2": self.test_r2, "network_r2": self.network_r2,
                "status": self.status, "width": self.width, "chosen": self.chosen,
                "wider": dict(self.wider)}


@dataclass
class FormulaFront:
    """Discover's front, simplest first; ``actual``: the target on the plot rows."""

    entries: list[FrontEntry]
    actual: np.ndarray  # (n_rows,)

    @property
    def usable(self) -> bool:
        return any(e.usable for e in self.entries)


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def make_entry(session: Session, result: FormulaResult, model: Any, width: list,
               complexity: int, chosen: bool, network: Any, rows: np.ndarray
               ) -> FrontEntry:
    """An entry for ``result`` (a formula :meth:`Session.describe_formula` scored),
    ``model`` the network to adopt with it, ``network`` the one it is compared with
    beyond the data, ``rows`` the plot rows."""
    from kanstudio.symbolic.export import to_latex, to_short_text, to_sympy

    expr = result.expressions[0]
    predicted = session.evaluate_formula([expr], session.dataset.X[rows])[:, 0]
    return FrontEntry(
        formula=to_sympy(expr), short=to_short_text(expr),
        latex=to_latex(expr, symbol_names=result.latex_names),
        complexity=int(complexity), test_r2=_finite(result.formula_test_r2),
        network_r2=_finite(network_r2(result.network_difference) or math.nan),
        status=result.status, width=list(width), chosen=bool(chosen),
        wider=wider_range_accuracy(session, result.expressions, network),
        predicted=np.asarray(predicted, dtype=np.float64), result=result, model=model)


def plot_rows(session: Session) -> np.ndarray:
    """The held-out rows (all rows when none are held out) the residual plots show."""
    rows = session.held_out_idx
    return np.asarray(rows[:PLOT_ROWS])


def use_formula(session: Session, index: int) -> str:
    """Make entry ``index`` of the session's front its model and formula: one undo step
    (the model before it is one Undo away). Returns the undo step's name."""
    front = session.front
    if front is None or not 0 <= index < len(front.entries):
        raise SessionError("there is no such formula in the list: run Discover first")
    entry = front.entries[index]
    if not entry.usable:
        raise SessionError("this list was saved with the project, without its networks: "
                           "run Discover again to switch to another formula")
    what = f"formula {index + 1} of the front: {entry.formula}"
    session.adopt_model(entry.model, what)
    session.pin_formula(entry.result)
    return f"adopt {what}"
