"""The structure step inside discovery: one more candidate formula, competing with the
network's own on held-out error against size.

The oracle is the trained network (before any edge was locked), in the CSV's units; its
RMSE on the held-out rows is the ``sigma`` every structure test is measured against
(:mod:`.structure`). The leaves are solved by :func:`.structure_solve.library_solver`, with
parts of 2-3 inputs handed to ``multi`` (the pipeline passes a short discovery run on the
part alone). The candidate wins when ``log10(relative MSE + floor) + NODE_WEIGHT·size`` is
lower than the network formula's (or when it reproduces the network within twice its
error where that formula is ten times off), where ``floor`` is half the smallest held-out
relative MSE of the network and the two formulas (no formula is asked to beat the noise
in the data, :func:`.structure_solve.noise_floor`), and its held-out
relative MSE is no worse than the replaced formula's (x1.1) or twice the network's: a simpler but
cruder fit never wins on size alone.

Whichever formula wins, a fit to the network may have left offsets in its powers and logs
that the law does not have (``(4960·a - 1)^1.9999`` for ``a²``): the formula without them,
fine-tuned on the data and snapped, replaces it when simpler and as good on the held-out
rows.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
import sympy

from kanstudio.session.session import FormulaResult, Session
from kanstudio.session.structure import find_structure
from kanstudio.session.structure_oracle import root_problem
from kanstudio.session.structure_solve import (
    NODE_WEIGHT,
    Solver,
    compose,
    expression_size,
    fine_tune,
    held_out_rel_mse,
    library_solver,
    noise_floor,
    offset_free,
    polish,
    rel_mse,
)
from kanstudio.symbolic.numeric import evaluate

__all__ = ["exact_structure", "structure_candidate"]


def _score(rel_mse: float, size: int, floor: float) -> float:
    if not math.isfinite(rel_mse):
        return math.inf
    return math.log10(rel_mse + floor) + NODE_WEIGHT * size


#: Targets whose largest magnitude is outside this range skip the structure step.
STRUCTURE_MAGNITUDE = (1e-100, 1e100)


def squarable(y: np.ndarray) -> bool:
    """Whether differences of ``y`` can be squared without under- or overflow (the
    structure step's and the search step's scores need it)."""
    peak = float(np.max(np.abs(y)))
    return STRUCTURE_MAGNITUDE[0] < peak < STRUCTURE_MAGNITUDE[1]


def structure_candidate(session: Session, network: Any, result: FormulaResult,
                        multi: Solver | None = None, solver: Solver | None = None,
                        log_oracle: Any = None) -> Generator[str, None, FormulaResult]:
    """Yields notes for the stage log; returns the better of ``result`` and the structure
    step's formula, then that one without offsets the law does not have, when simpler
    and as good (:func:`_without_offsets`). ``network`` is a fitted KAN on the session's
    scaled data; ``solver`` replaces the default leaf solver (``library_solver`` with
    ``multi``). ``log_oracle``: a function of the inputs (``(n, n_in)`` -> ``(n,)``)
    that predicts ``log|y|`` (a network trained on it) for a one-signed target, or a list
    of them, best first, each the next one's fallback where it shows no structure: the
    structure is then read in log space, where a product is a sum, and the formula is
    ``sign·exp(g)``; formulas are verified against ``network`` either way, the session's
    model."""
    s, d = session, session.dataset
    if d.n_outputs != 1:
        return result
    # The oracle tests and the constant fits square differences of raw values: past
    # 1e±100 those squares under- or overflow (a 1e-300 law looked constant). The
    # network's own formula, computed in scaled units, stands alone there.
    if not squarable(d.y):
        yield (f"structure: skipped (the target's magnitude {float(np.max(np.abs(d.y))):.3g} "
               "is beyond what its tests can square)")
        return result
    tr, te = s.train_idx, s.held_out_idx
    predict = _network_oracle(s, network)
    if log_oracle is not None:
        result = yield from _from_log_structure(s, network, result, log_oracle, tr, te,
                                                multi, solver, predict)
    else:
        result = yield from _from_structure(s, network, result, predict, tr, te, multi,
                                            solver)
    return (yield from _without_offsets(s, network, result, predict, tr, te))


def _network_oracle(s: Session, network: Any) -> Any:
    """``network`` (fitted on the session's scaled data) as a function of the raw inputs
    (``(n, n_in)`` -> ``(n,)``, in the target's units): the structure tests' oracle."""

    def predict(X: np.ndarray) -> np.ndarray:
        return s.y_scaler.inverse_transform(network.predict(s.x_scaler.transform(X)))[:, 0]

    return predict


def _read_tree(s: Session, predict: Any, target: np.ndarray, tr: np.ndarray,
               te: np.ndarray) -> Any:
    """The structure tree the oracle ``predict`` shows, its tests told the oracle's noise
    level: its RMS error against ``target`` (all rows) on the held-out rows ``te``."""
    X = s.dataset.X
    sigma = float(np.sqrt(np.mean((predict(X[te]) - target[te]) ** 2)))
    return find_structure(root_problem(predict, X[tr], X[te], s.symbols, sigma),
                          seed=s.settings.seed)


def exact_structure(session: Session, network: Any, solver: Solver, exact_mse: float
                    ) -> Generator[str, None, FormulaResult | None]:
    """The structure step's formula with ``network`` as oracle and ``solver`` for the
    leaves, only when it is exact on the held-out rows (relative MSE at most
    ``exact_mse``), else None; yields notes for the stage log. Discovery's early probe
    (pipeline ``_early_structure``): with a one-input library solver it costs the oracle
    tests and a few curve fits, and ends discovery when the law splits into parts the
    library knows (Feynman I.10.7, ``m_0/sqrt(1 - v²/c²)``: read from its ``[3, 2, 1]``
    network, exact at 34 CPU-s, where the symbolic stages of three architectures ran to
    49 s before the structure step read the same structure at the end)."""
    s, d = session, session.dataset
    if d.n_outputs != 1 or not squarable(d.y):
        return None
    tr, te = s.train_idx, s.held_out_idx
    predict = _network_oracle(s, network)
    y_te = d.y[te, 0]
    tree = _read_tree(s, predict, d.y[:, 0], tr, te)
    if tree.kind == "leaf":
        return None
    symbols = [sympy.Symbol(n) for n in s.symbols]
    found = compose(tree, solver, symbols, d.X[tr], d.y[tr, 0], d.X[te], y_te)
    if found is None or not found.test_rel_mse <= exact_mse:
        yield ("early structure probe: " + ("a part has no formula of one input"
               if found is None else f"{s.printed(found.expr)} leaves held-out relative MSE "
               f"{found.test_rel_mse:.3g}, not exact") + "; discovery goes on")
        return None
    yield ("early structure probe:\n" + tree.describe(printed=s.printed)
           + f"\nstructure formula {s.printed(found.expr)} "
           f"is exact on the held-out rows (relative MSE {found.test_rel_mse:.3g})")
    return _described(s, network, predict, found)


def _from_log_structure(s: Session, network: Any, result: FormulaResult, log_predict: Any,
                        tr: np.ndarray, te: np.ndarray, multi: Solver | None,
                        solver: Solver | None, verify: Any
                        ) -> Generator[str, None, FormulaResult]:
    """The structure read from ``log_predict`` (``log|y|``) in log space, solved there
    against ``log|y|`` (a leaf of several inputs also as the factor it is,
    :func:`both_spaces`), then ``sign·exp`` of it fine-tuned on ``y`` itself: the better
    of that and ``result``, by the rule of :func:`_from_structure`."""
    d = s.dataset
    y = d.y[:, 0]
    sign = 1.0 if y[0] > 0 else -1.0
    with np.errstate(all="ignore"):
        log_y = np.log(np.abs(y))
    oracles = list(log_predict) if isinstance(log_predict, list | tuple) else [log_predict]
    for log_predict in oracles:
        # A wider network on log|y| may fit a little better yet mix what a narrower one
        # keeps apart (a*b^3/c^2: [3, 2, 1] to R² 1 - 3e-8, no structure; [3, 1] to
        # 1 - 1.4e-7, a sum of three logarithms)
        tree = _read_tree(s, log_predict, log_y, tr, te)
        if tree.kind != "leaf":
            break
    if tree.kind == "leaf":
        yield "structure of log|y|: none found"
        return result
    tried = oracles.index(log_predict) + 1
    yield ("structure of log|y|" + (f" (from network {tried} of {len(oracles)} on it: the "
                                    "better ones show none)" if tried > 1 else "")
           + ":\n" + tree.describe(printed=s.printed))
    symbols = [sympy.Symbol(n) for n in s.symbols]
    solver = both_spaces(solver or library_solver(s.settings.functions, multi=multi))
    in_logs = compose(tree, solver, symbols, d.X[tr], log_y[tr], d.X[te], log_y[te])
    if in_logs is None:
        yield "structure of log|y|: a part has no formula"
        return result
    y_te = y[te]
    whole = sympy.powsimp(sympy.expand_power_exp(sign * sympy.exp(in_logs.exact)))
    found = polish(fine_tune(whole, symbols, d.X[tr], y[tr]), symbols, d.X[tr], y[tr],
                   d.X[te], y_te)
    if found is None:
        yield f"structure of log|y|: exp({in_logs.expr}) is not finite on the data"
        return result
    with np.errstate(all="ignore"):
        oracle_te = sign * np.exp(np.clip(log_predict(d.X[te]), -700.0, 700.0))
    return (yield from _judged(s, network, verify, result, found, oracle_te, y_te,
                               " from log|y|"))


#: A leaf of several inputs solved in log space whose best candidate leaves at most this
#: share of its variance unexplained is not also solved as its factor (:func:`both_spaces`).
LEAF_EXACT = 1e-6


def both_spaces(solver: Solver) -> Solver:
    """``solver`` for the leaves of a structure read in log space. A leaf of one input is
    solved as it is (``c·log x + d``, a power law's log). A leaf of several inputs is
    solved as it is, a sum of logs (``2·log b − log(1 + c/a)``, which a sum network
    finds); unless that is exact (:data:`LEAF_EXACT`), also as the factor it is in the
    target's own space, ``exp(leaf)``, offered as ``log`` of that, since a factor may be
    far shorter than its logarithm (``(sin(nδ/2)/sin(δ/2))²``, ``m·tanh(m·B/(k·T))``).
    Those are the leaf's candidates only when one of them fits it better than the best
    candidate found as it is: offered beside it, a short, poor one could push an exact
    but long one (``log(sqrt(Bx² + By² + Bz²))``, Feynman III.10.19) out of the leaf's
    alternatives."""

    def error(candidates: list, x: np.ndarray, y: np.ndarray, names: Any) -> float:
        symbols = [sympy.Symbol(n) for n in names]
        with np.errstate(all="ignore"):
            return min((rel_mse(y, evaluate(expr, symbols, x)) for expr, _size in candidates),
                       default=math.inf)

    def solve(x: np.ndarray, y: np.ndarray, names: Any) -> list:
        own = solver(x, y, names)
        if x.shape[1] < 2:
            return own
        own_error = error(own, x, y, names)
        shift = float(np.median(y))
        with np.errstate(all="ignore"):
            factor = np.exp(y - shift)
        if own_error <= LEAF_EXACT or not np.all(np.isfinite(factor)) or not np.all(
                factor > 0):
            return own
        logs = [(sympy.log(expr) + sympy.Float(shift), size + 2)
                for expr, size in solver(x, factor, names)]
        return own + logs if error(logs, x, y, names) < own_error else own

    return solve


def _from_structure(s: Session, network: Any, result: FormulaResult, predict: Any,
                    tr: np.ndarray, te: np.ndarray, multi: Solver | None,
                    solver: Solver | None) -> Generator[str, None, FormulaResult]:
    """The structure step's formula when it beats ``result``, else ``result``."""
    d = s.dataset
    y_te = d.y[te, 0]
    net_te = predict(d.X[te])
    tree = _read_tree(s, predict, d.y[:, 0], tr, te)
    if tree.kind == "leaf":
        yield "structure: none found"
        return result
    yield "structure:\n" + tree.describe(printed=s.printed)
    symbols = [sympy.Symbol(n) for n in s.symbols]
    solver = solver or library_solver(s.settings.functions, multi=multi)
    found = compose(tree, solver, symbols, d.X[tr], d.y[tr, 0], d.X[te], y_te)
    if found is None:
        yield "structure: a part has no formula"
        return result
    return (yield from _judged(s, network, predict, result, found, net_te, y_te, ""))


def _judged(s: Session, network: Any, verify: Any, result: FormulaResult,
            found: Any, oracle_te: np.ndarray, y_te: np.ndarray, source: str
            ) -> Generator[str, None, FormulaResult]:
    """``found`` (verified against ``verify``) when it beats ``result`` on the held-out
    rows, else ``result``; ``oracle_te``: the oracle's values there."""
    var = float(np.var(y_te)) or 1.0
    net_rel = float(np.mean((oracle_te - y_te) ** 2)) / var
    old_rel = held_out_rel_mse(result, var)
    floor = noise_floor(net_rel, old_rel, found.test_rel_mse)
    old = _score(old_rel, expression_size(result.expressions[0]), floor)
    new = _score(found.test_rel_mse, found.complexity, floor)
    # Simpler is not enough: the candidate must also explain the held-out rows about as
    # well as what it replaces, or as the network does (a cruder fit never wins on size).
    # A formula that reproduces the network (within twice its error) beats one that does
    # not (ten times off) whatever their sizes: an accurate formula before a short wrong one.
    verified = found.test_rel_mse <= 2.0 * net_rel + 1e-14
    wins = (new < old or (verified and old_rel > 10.0 * net_rel + 1e-12)) and (
        found.test_rel_mse <= max(1.1 * old_rel, 2.0 * net_rel, 1e-14))
    yield (f"structure formula {s.printed(found.expr)}{source} (held-out relative MSE "
           f"{found.test_rel_mse:.3g}, score {new:.2f}) {'wins' if wins else 'does not win'} "
           f"against the network's (relative MSE {old_rel:.3g}, score {old:.2f})")
    return _described(s, network, verify, found) if wins else result


def _without_offsets(s: Session, network: Any, result: FormulaResult, predict: Any,
                     tr: np.ndarray, te: np.ndarray) -> Generator[str, None, FormulaResult]:
    """``result`` with the offsets a fit to the network left in its powers and logs
    dropped (:func:`.structure_solve.offset_free`), its constants fine-tuned on the
    training rows and snapped, when that is simpler and explains the held-out rows as
    well (x1.1): ``367.7·(4960·a - 1)^1.9999·(3927·q - 1)^1.9998/...`` is
    ``q²·a²/(6π·ε·c³)`` (Feynman I.32.5, where the structure step found nothing)."""
    d = s.dataset
    exact = result.exact[0] if len(result.exact) == 1 else None
    variant = offset_free(exact) if isinstance(exact, sympy.Expr) else None
    if variant is None:
        return result
    symbols = [sympy.Symbol(n) for n in s.symbols]
    if not variant.free_symbols <= set(symbols):
        return result
    y_te = d.y[te, 0]
    found = polish(fine_tune(variant, symbols, d.X[tr], d.y[tr, 0]), symbols, d.X[tr],
                   d.y[tr, 0], d.X[te], y_te)
    if found is None:
        return result
    old_rel = held_out_rel_mse(result, float(np.var(y_te)) or 1.0)
    size = expression_size(result.expressions[0])
    wins = found.complexity < size and found.test_rel_mse <= 1.1 * old_rel + 1e-14
    yield (f"without its offsets: {s.printed(found.expr)} (held-out relative MSE "
           f"{found.test_rel_mse:.3g}, size {found.complexity}) "
           f"{'replaces' if wins else 'does not replace'} the formula (relative MSE "
           f"{old_rel:.3g}, size {size})")
    return _described(s, network, predict, found) if wins else result


def _described(s: Session, network: Any, predict: Any, found: Any) -> FormulaResult:
    """``found`` verified, scored and named like every formula the app offers, against
    the oracle."""
    return s.describe_formula([found.exact], network=predict(s.dataset.X)[:, None],
                              shown=[found.expr], model=network,
                              full=None if found.full is None else [found.full])
