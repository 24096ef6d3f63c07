"""The symbolic-regression engine inside discovery (issue 16, "where it is used").

Two places, both optional (:func:`engine_available` False: discovery runs as before):

* **Structure leaves**: :func:`search_leaf_solver` wraps the structure step's leaf solver
  (:mod:`.structure_solve`'s plug-in point). A 1-input leaf the library fits with R² under
  the threshold, and every leaf of 2-3 inputs, is also searched by the engine on the
  oracle's values at the leaf's points; the engine's front joins the library's candidates
  and the leaf keeps the best by held-out error against size, as before.
* **The whole dataset**: :func:`search_candidates` searches the training rows restricted
  to the inputs the pruned network kept; every member of the front (constants excepted,
  when the network is not constant) is scored and verified by
  :meth:`Session.describe_formula` against the network, so its status means what it means
  for every other formula. :func:`pick` says whether one of them should replace the
  pipeline's formula: the simplest whose score beats it and that explains the held-out
  rows about as well (the structure step's rule).

Budgets are in work (generations, evaluations) and the seed is the session's, so one seed
gives one formula on a busy machine.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np

from kanstudio.session.structure_solve import (
    NODE_WEIGHT,
    Candidate,
    Solver,
    expression_size,
    held_out_rel_mse,
    noise_floor,
)
from kanstudio.symbolic.numeric import evaluate

__all__ = ["engine_available", "engine_problem", "best_first", "search_leaf_solver",
           "search_candidates", "pick", "search_steps", "JOIN_TIMEOUT_S"]

JOIN_TIMEOUT_S = 30.0  # a cancelled search ends at its next chunk (about a second)


def engine_available() -> bool:
    """Whether the search engine can run here (imported lazily: it is optional)."""
    try:
        from kanstudio.symbolic import search as engine
    except ImportError:
        return False
    return bool(engine.available())


def engine_problem() -> str:
    """'' when the search engine can run here; else why not, and how to install it."""
    try:
        from kanstudio.symbolic.search import EngineUnavailableError, get_engine
    except ImportError as exc:
        return f"the symbolic search engine cannot be loaded ({exc})"
    try:
        get_engine()
    except EngineUnavailableError as exc:
        return str(exc)
    return ""


def best_first(front: Sequence[Any]) -> list[Any]:
    """A search front (``SearchResult`` s) best first for a person choosing one: by
    ``log10(1 - R² + R2_FLOOR) + NODE_WEIGHT * complexity``, the structure step's trade of
    accuracy against size, with R² above ``1 - R2_FLOOR`` counting as equal (as for library
    fits, :data:`kanstudio.symbolic.fitting.R2_FLOOR`); ties go to the simpler."""
    from kanstudio.symbolic.fitting import R2_FLOOR

    def score(r: Any) -> float:
        if not math.isfinite(r.r2):
            return math.inf
        return math.log10(max(1.0 - r.r2, 0.0) + R2_FLOOR) + NODE_WEIGHT * r.complexity

    return sorted(front, key=lambda r: (score(r), r.complexity))


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    var = float(np.var(y))
    with np.errstate(all="ignore"):
        mse = float(np.mean((np.asarray(pred, dtype=float) - y) ** 2))
    if not math.isfinite(mse):
        return -math.inf
    return 1.0 - mse / var if var > 0 else (1.0 if mse == 0 else -math.inf)


def _evaluate(expr: Any, names: Sequence[str], x: np.ndarray) -> np.ndarray:
    import sympy

    return evaluate(expr, [sympy.Symbol(n) for n in names], x)


def search_leaf_solver(base: Solver, seed: int, threads: int = 1,
                       budget: Any = "medium", r2_threshold: float = 0.99,
                       notes: list[str] | None = None) -> Solver:
    """``base`` (the library solver), with the engine's front added for a leaf of 2-3
    inputs, or of one input when no library candidate reaches ``r2_threshold`` on the
    leaf's points. ``notes`` collects one line per search for the stage log.

    A structure tree may hold the same part many times: each branch of a choice (which
    input scales the target, a quotient either way round) ends in leaves of the same
    inputs, at the same points, whose values differ by a constant factor and offset
    (Feynman II.11.17: fourteen leaves of ``theta`` and ``Ef·p_d/(T·kb)``, five minutes of
    search). The engine runs once per set of points; a later leaf at the same points gets
    that front with each expression's scale and offset fitted to its own values
    (:func:`_refit`), which is what the search would have found up to those two
    constants, unless the refitted front fits it worse than ``REUSE_ERROR`` times the
    first (then its values are another function, and it is searched too)."""
    from kanstudio.symbolic.search import search

    fronts: dict[tuple, tuple[list[Any], float]] = {}  # points -> (front, its error)

    def solve(x: np.ndarray, y: np.ndarray, names: Sequence[str]) -> list[Candidate]:
        found = list(base(x, y, names))
        if x.shape[1] == 1:
            best = max((_r2(y, _evaluate(e, names, x)) for e, _ in found), default=-math.inf)
            if best >= r2_threshold:
                return found
            why = ("no function of the library fits it" if not math.isfinite(best) else
                   f"the best function of the library fits it only to R² {best:.4f}")
        elif x.shape[1] > 3:
            return found
        else:
            why = "one library function of one input cannot describe it"
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            return found
        key = _points_key(x, names)
        if key in fronts:
            expressions, error = fronts[key]
            again = _refit(expressions, x, y, names)
            if again and _best_error(again, x, y, names) <= REUSE_ERROR * error:
                return found + [(e, expression_size(e)) for e in again]
        front = search(x, y, budget=budget, seed=seed, threads=threads, names=list(names))
        expressions = [r.expression for r in front]
        fronts[key] = (expressions, _best_error(expressions, x, y, names))
        if notes is not None:
            notes.append(_leaf_note(front, x.shape[1], names, budget, why))
        return found + [(r.expression, expression_size(r.expression)) for r in front]

    return solve


#: A front reused at the same points (scale and offset refitted) must fit the new values
#: within this factor of the relative MSE the search reached on its own values; else the
#: two leaves are not the same part and the new one is searched too.
REUSE_ERROR = 10.0


def _best_error(expressions: Sequence[Any], x: np.ndarray, y: np.ndarray,
                names: Sequence[str]) -> float:
    """The smallest relative MSE of ``expressions`` against ``y`` at ``x`` (with a floor of
    1e-24, so that two exact fits compare as equal)."""
    var = float(np.var(y)) or 1.0
    best = math.inf
    for e in expressions:
        with np.errstate(all="ignore"):
            rel = float(np.mean((_evaluate(e, names, x) - y) ** 2)) / var
        if math.isfinite(rel):
            best = min(best, rel)
    return max(best, 1e-24)


def _points_key(x: np.ndarray, names: Sequence[str]) -> tuple:
    """The leaf's points to 9 significant digits per column: a quotient reached by two
    routes (``(Ef·p_d)/(T·kb)``, ``(p_d/kb)/(T/Ef)``) differs in the last bits only."""
    scale = np.max(np.abs(x), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return tuple(names), x.shape, np.round(x / scale, 9).tobytes()


def _refit(expressions: Sequence[Any], x: np.ndarray, y: np.ndarray, names: Sequence[str]
           ) -> list[Any]:
    """Each expression ``e`` as ``a·e + b`` with ``a, b`` the least-squares fit to ``y`` at
    ``x`` (``e`` itself where the fit changes nothing); an expression not finite or
    constant at ``x``, or whose fit is not finite, is left out."""
    import sympy

    out = []
    for e in expressions:
        values = _evaluate(e, names, x)
        if not np.all(np.isfinite(values)) or float(np.std(values)) == 0.0:
            continue
        design = np.column_stack([values, np.ones_like(values)])
        (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
        if not (math.isfinite(a) and math.isfinite(b)) or a == 0.0:
            continue
        out.append(e if (a, b) == (1.0, 0.0) else
                   sympy.Float(float(a)) * e + sympy.Float(float(b)))
    return out


def _leaf_note(front: Sequence[Any], d: int, names: Sequence[str], budget: Any,
               why: str) -> str:
    """The stage log's line for one search of a part of the formula."""
    import sympy

    inputs = ", ".join(n.lstrip("_") for n in names)
    text = (f"expression search engine ({budget} budget) used on a part of the formula with "
            f"{d} input{'s' if d > 1 else ''} ({inputs}), because {why}: ")
    if not front:
        return text + "it found no expression"
    top = max(front, key=lambda r: r.r2)
    plain = {sympy.Symbol(n): sympy.Symbol(n.lstrip("_")) for n in names}
    return (text + f"{len(front)} expression(s); the most accurate is "
            f"{top.display.xreplace(plain)} (R² {top.r2:.6f} on the network's values)")


def search_candidates(session: Any, network: np.ndarray, kept: Sequence[int],
                      budget: Any = "medium", seed: int = 0, threads: int = 1,
                      front: list[Any] | None = None, progress: Any = None
                      ) -> tuple[list[Any], list[Any]]:
    """(the engine's front on the training rows over the ``kept`` inputs, each verified
    against ``network`` (predictions on every row, ``(n, 1)``) by
    :meth:`Session.describe_formula`; the raw front). Constants are left out when the
    network is not constant. ``front``: a front the engine found before on these rows
    and inputs, verified again (against this ``network``) instead of searching.
    ``progress``: the engine's report callback (:func:`~kanstudio.symbolic.search.search`)."""
    from kanstudio.symbolic.search import search

    s, d = session, session.dataset
    if front is None:
        names = [s.symbols[i] for i in kept]
        x = d.X[s.train_idx][:, list(kept)]
        front = search(x, d.y[s.train_idx, 0], budget=budget, seed=seed, threads=threads,
                       names=names, progress=progress)
    net = np.asarray(network, dtype=float).reshape(d.n_samples, -1)[:, 0]
    net_constant = float(np.std(net)) <= 1e-12 * max(abs(float(np.mean(net))), 1.0)
    results = []
    for r in front:
        if not r.expression.free_symbols and not net_constant:
            continue
        try:
            results.append(s.describe_formula([r.expression], network=net[:, None]))
        except (ArithmeticError, ValueError, TypeError, RecursionError):
            continue  # a member that cannot be scored is not a candidate
    return results, front


#: A formula that is not adequate (leaves more than the pipeline's ``adequate_error`` of
#: the held-out variance unexplained) and leaves this many times more than an adequate
#: candidate gives way to it whatever their sizes (:func:`pick`). The size penalty ranks
#: formulas that explain the data alike; it must not keep ``1.221·I0·exp(cos θ)`` (held-out
#: R² 0.44) over a larger formula with R² 0.9991 (Feynman I.30.3 on the slow EPYC).
#: Near-ties stay with the score (at 1 % noise the shorter formulas of I.6.2 and I.34.14,
#: R² 0.9989 against 0.9992, are within a factor 1.4), and so do adequate formulas: at
#: 06e8cfb, eleven laws kept a short formula at R² 0.9990-0.99999 over a far longer one
#: that was 10x more accurate (I.48.2: complexity 11 over 150).
FAR_WORSE = 10.0


def pick(session: Any, current: Any, candidates: Sequence[Any], network_rel: float,
         adequate: float = 0.0) -> Any | None:
    """The simplest of ``candidates`` that should replace ``current``: a lower
    ``log10(relative MSE + floor) + NODE_WEIGHT·size`` on the held-out rows (``floor``:
    :func:`.structure_solve.noise_floor` of the network and every formula here), and a
    held-out relative MSE no worse than ``current``'s (x1.1) or twice the network's (a
    cruder fit never wins on size alone); None when none does. Where ``current`` leaves
    more than ``adequate`` of the held-out variance unexplained, some candidates do not,
    and ``current`` leaves :data:`FAR_WORSE` times more than the best of them, the
    best-scored of those candidates replaces it whatever the sizes."""
    s = session
    var = s.held_out_var()
    old_rel = held_out_rel_mse(current, var)
    floor = noise_floor(network_rel, old_rel, *(held_out_rel_mse(r, var) for r in candidates))

    def score(r: Any) -> float:
        rel = held_out_rel_mse(r, var)
        if not math.isfinite(rel):
            return math.inf
        return math.log10(rel + floor) + NODE_WEIGHT * expression_size(r.expressions[0])

    good = [r for r in candidates if held_out_rel_mse(r, var) <= adequate]
    if good and not old_rel <= max(adequate, FAR_WORSE * min(held_out_rel_mse(r, var)
                                                          for r in good)):
        return min(good, key=score)
    old = score(current)
    bound = max(1.1 * old_rel, 2.0 * network_rel, 1e-14)
    wins = [r for r in candidates if score(r) < old and held_out_rel_mse(r, var) <= bound]
    return min(wins, key=lambda r: (expression_size(r.expressions[0]), score(r)),
               default=None)


def search_steps(run: Callable[[Any], Any], finish: Callable[[Any], Any]
                 ) -> Generator[tuple[int, int], None, Any]:
    """Yields (generations done, generations) as the engine reports them while
    ``run(progress)`` searches in a helper thread; returns ``finish`` of what ``run``
    returned. A run is a generator its caller advances between other work (the worker's
    commands, the pipeline's consumer), so the engine waits at each report until the
    caller asks for the next one; closing the generator early (Stop) makes the engine stop
    at that report and waits for the thread (:data:`JOIN_TIMEOUT_S`). An exception ``run``
    raised is raised here."""
    updates: queue.Queue = queue.Queue()
    cancel = threading.Event()
    resume = threading.Event()  # the caller has asked for the next report
    outcome: dict[str, Any] = {}

    def progress(done: int, total: int) -> bool:
        # Wait for the caller's next turn before the engine goes on: a Stop read in that
        # turn then stops the search here, not a chunk later.
        resume.clear()
        updates.put((done, total))
        resume.wait()
        return not cancel.is_set()

    def work() -> None:
        try:
            outcome["front"] = run(progress)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
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
    return finish(outcome["front"])
