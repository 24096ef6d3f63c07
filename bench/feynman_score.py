"""The Feynman benchmark's pure part: the equation table, sampling, parsing and scoring.

Nothing here runs a fit, starts a process or writes a file, so ``tests/bench`` can check the
scorer in milliseconds. ``bench/feynman.py`` drives it.

Parsing: the formulas parsed here are our own trusted text (the equation table in
``bench/feynman_equations.csv``, and the formula that ``kanstudio fit`` or our Operon runner just
wrote for rows we generated), so ``sympy.parse_expr`` (which evaluates Python) is acceptable in
this benchmark. The app itself never parses text a user opens this way.

Scoring rules (one home for each):

* exact recovery: a float whose removal changes the formula's values by at most
  ``SNAP_REL_TOL`` of their RMS is rounded to 0 (a leftover intercept of 1e-6); every other float
  of the returned formula is snapped to the simplest "nice" number within ``SNAP_REL_TOL``
  (integers, fractions p/q with q <= ``MAX_DENOMINATOR``, those times pi^k for k in -2..2, and
  square roots of such numbers), then the snapped formula must equal the
  truth on fresh points within ``EXACT_REL_TOL`` relative; a ``sympy.simplify`` of the
  difference (time-boxed) says whether it is also symbolically zero (``exact_method``);
* R²: on ``N_FRESH`` fresh points drawn uniformly in the published ranges, and on ranges widened
  by ``WIDEN`` of their width on each side. Points where the *truth* is undefined (for example
  ``sqrt(1 - v**2/c**2)`` once v > c in the wider box) are left out and counted; a candidate that
  is undefined (nan, inf or complex) where the truth is defined scores R² = -inf.
"""

from __future__ import annotations

import csv
import math
import re
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import sympy

TABLE = Path(__file__).resolve().parent / "feynman_equations.csv"

SNAP_REL_TOL = 1e-3  # how far a constant may be from a nice number to be snapped to it
MAX_DENOMINATOR = 20
EXACT_REL_TOL = 1e-6  # snapped formula vs truth, per point, relative
N_FRESH = 1000
WIDEN = 0.25  # each side, as a fraction of the range's width
SIMPLIFY_SECONDS = 10  # time box of the symbolic check (simplify can run for minutes)

# Function spellings the published table and peer tools use that sympy spells differently.
FUNCTION_ALIASES: dict[str, Callable] = {
    "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan, "ln": sympy.log,
    "sqrt": sympy.sqrt, "exp": sympy.exp, "log": sympy.log, "sin": sympy.sin, "cos": sympy.cos,
    "tan": sympy.tan, "tanh": sympy.tanh, "asin": sympy.asin, "acos": sympy.acos,
    "atan": sympy.atan, "abs": sympy.Abs, "Abs": sympy.Abs,
}


@dataclass(frozen=True)
class Variable:
    name: str
    low: float
    high: float


@dataclass(frozen=True)
class Equation:
    position: int  # 1-based row of the published tables (main 1-100, bonus 101-120)
    name: str  # the published file name: "I.6.2a", "test_3"
    bonus: bool
    output: str
    formula: str
    variables: tuple[Variable, ...]

    @property
    def half(self) -> str:
        """``tune`` for odd positions, ``test`` for even ones (defaults are chosen on tune)."""
        return "tune" if self.position % 2 else "test"

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    def symbols(self) -> dict[str, sympy.Symbol]:
        """Column name -> the Symbol used for truth and candidates alike (real, and positive
        when the whole range is, which lets simplify cancel sqrt(x**2) and the like)."""
        return {v.name: sympy.Symbol(v.name, real=True, positive=v.low > 0 or None)
                for v in self.variables}

    def truth(self) -> sympy.Expr:
        return parse_formula(self.formula, {n: n for n in self.names}, self.symbols())


def load_equations(path: Path = TABLE) -> list[Equation]:
    """The table, in published order; lines starting with ``#`` are its header comment."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        equations = []
        for row in rows:
            variables = []
            for item in row["variables"].split():
                name, low, high = item.split(":")
                variables.append(Variable(name, float(low), float(high)))
            equations.append(Equation(int(row["position"]), row["name"], row["bonus"] == "1",
                                      row["output"], row["formula"], tuple(variables)))
    return equations


# ---------------------------------------------------------------------------- parsing

_IDENTIFIER = re.compile(r"(?<![\w.])[^\W\d]\w*")


def parse_formula(text: str, names: Mapping[str, str],
                  symbols: Mapping[str, sympy.Symbol] | None = None) -> sympy.Expr:
    """Parse formula text whose identifiers ``names`` (as written -> column name) are columns.

    Each such identifier is swapped for a placeholder before sympy reads the text, so a column
    called ``beta``, ``gamma``, ``E``, ``I``, ``S``, ``N``, ``Q`` or even ``lambda`` becomes that
    column's Symbol, never sympy's function or constant (nor a syntax error). Identifiers not in
    ``names`` keep sympy's meaning (``E`` is Euler's number, ``pi`` is pi). ``^`` means power.
    Trusted text only (see the module docstring).
    """
    symbols = dict(symbols or {})
    local: dict[str, object] = dict(FUNCTION_ALIASES)
    placeholders: dict[str, str] = {}

    def swap(match: re.Match) -> str:
        word = match.group(0)
        if word not in names:
            return word
        column = names[word]
        if word not in placeholders:
            key = f"kscol{len(placeholders)}_"
            placeholders[word] = key
            local[key] = symbols.get(column) or sympy.Symbol(column, real=True)
        return placeholders[word]

    source = _IDENTIFIER.sub(swap, text).replace("^", "**")
    return sympy.parse_expr(source, local_dict=local)


def formula_names(payload: Mapping, columns: Sequence[str]) -> dict[str, str]:
    """How to read the identifiers of a result JSON's ``formula``: as written -> column.

    Uses the JSON's ``symbols`` list when it has one (strings in input order, or objects with
    ``name`` and ``column``); else its ``inputs`` list, which names the columns in order as the
    formula spells them (``beta_`` for ``beta``); else the column names themselves.
    """
    listed = payload.get("symbols")
    if isinstance(listed, list) and listed:
        if all(isinstance(s, Mapping) for s in listed):
            return {str(s["name"]): str(s.get("column", s["name"])) for s in listed}
        if all(isinstance(s, str) for s in listed):
            if len(listed) == len(columns):
                return dict(zip(listed, columns, strict=True))
            return {s: s for s in listed}
    inputs = payload.get("inputs")
    if isinstance(inputs, list) and len(inputs) == len(columns):
        return {str(written): column for written, column in zip(inputs, columns, strict=True)}
    return {c: c for c in columns}


# ---------------------------------------------------------------------------- sampling

def sample_inputs(variables: Sequence[Variable], n: int, rng: np.random.Generator,
                  widen: float = 0.0) -> dict[str, np.ndarray]:
    """``n`` points uniform in the box, each range widened by ``widen`` x its width per side."""
    points = {}
    for v in variables:
        margin = widen * (v.high - v.low)
        points[v.name] = rng.uniform(v.low - margin, v.high + margin, n)
    return points


def evaluate(expr: sympy.Expr, columns: Sequence[str], points: Mapping[str, np.ndarray],
             symbols: Mapping[str, sympy.Symbol] | None = None) -> np.ndarray:
    """Real values of ``expr`` at ``points``, shape (n,); nan where undefined or complex."""
    symbols = symbols or {c: sympy.Symbol(c, real=True) for c in columns}
    n = len(next(iter(points.values())))
    args = [symbols[c] for c in columns]
    try:
        function = sympy.lambdify(args, expr, modules="numpy")
        with np.errstate(all="ignore"):
            raw = np.asarray(function(*(np.asarray(points[c], dtype=float) for c in columns)))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, NameError, KeyError,
            AttributeError):
        return np.full(n, np.nan)
    raw = np.broadcast_to(raw, (n,))
    if np.iscomplexobj(raw):
        real = np.where(np.abs(raw.imag) <= 1e-12 * np.maximum(np.abs(raw.real), 1e-300),
                        raw.real, np.nan)
        raw = real
    try:
        values = raw.astype(float)
    except (TypeError, ValueError):
        return np.full(n, np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def r2_score(predicted: np.ndarray, truth: np.ndarray) -> float:
    """R² over the points where the truth is defined; -inf if the prediction is undefined at
    any of them (nan), a plain 1 - SS_res/SS_tot otherwise."""
    defined = np.isfinite(truth)
    if not defined.any():
        return float("nan")
    y, p = truth[defined], predicted[defined]
    if not np.all(np.isfinite(p)):
        return float("-inf")
    with np.errstate(all="ignore"):
        ss_res = float(np.sum((p - y) ** 2))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
    if not math.isfinite(ss_res):
        return float("-inf")
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else float("-inf")
    return 1.0 - ss_res / ss_tot


# ---------------------------------------------------------------------------- snapping

_PI_POWERS = (0, 1, -1, 2, -2)


def _nice_fraction(ratio: float, rel_tol: float) -> Fraction | None:
    if ratio == 0 or not math.isfinite(ratio):
        return None
    frac = Fraction(ratio).limit_denominator(MAX_DENOMINATOR)
    if frac == 0 or abs(frac.numerator) > 1000:
        return None
    return frac if abs(float(frac) - ratio) <= rel_tol * abs(ratio) else None


def snap_number(value: float, rel_tol: float = SNAP_REL_TOL) -> sympy.Expr | None:
    """The simplest nice number within ``rel_tol`` of ``value``, or None.

    Candidates are (p/q)·pi^k and sqrt(p/q·pi^k) (k in -2..2); the simplest (smallest of |p|, q,
    plus one for a pi factor and one for a root) wins, so 3.14159 is pi, not 22/7.
    """
    if value == 0:
        return sympy.Integer(0)
    best: tuple[float, float, sympy.Expr] | None = None
    for rooted in (False, True):
        target = value * value if rooted else value
        for k in _PI_POWERS:
            ratio = target / math.pi**k
            # a square is twice as sensitive, so the root's tolerance doubles
            frac = _nice_fraction(ratio, 2 * rel_tol if rooted else rel_tol)
            if frac is None:
                continue
            if rooted:
                if frac < 0:
                    continue
                number = sympy.sqrt(sympy.Rational(frac.numerator, frac.denominator)
                                    * sympy.pi**k)
                number = number if value > 0 else -number
            else:
                number = sympy.Rational(frac.numerator, frac.denominator) * sympy.pi**k
            cost = max(abs(frac.numerator), frac.denominator) + (k != 0) + rooted
            error = abs(float(number) - value) / abs(value)
            if best is None or (cost, error) < best[:2]:
                best = (cost, error, number)
    return None if best is None else best[2]


def snap_constants(expr: sympy.Expr, rel_tol: float = SNAP_REL_TOL) -> sympy.Expr:
    """``expr`` with every float (coefficients and exponents) replaced by its nice number."""
    replacements = {}
    for number in expr.atoms(sympy.Float):
        nice = snap_number(float(number), rel_tol)
        if nice is not None:
            replacements[number] = nice
    return expr.xreplace(replacements) if replacements else expr


# ---------------------------------------------------------------------------- exactness

class _TimeoutError(Exception):
    pass


def _symbolically_zero(difference: sympy.Expr, seconds: int) -> bool | None:
    """True/False from ``simplify``; None when it ran out of time or failed."""
    use_alarm = hasattr(signal, "SIGALRM")
    if use_alarm:
        def _raise(_signum, _frame):
            raise _TimeoutError

        try:
            previous = signal.signal(signal.SIGALRM, _raise)
        except ValueError:  # not the main thread: no time box available, skip the check
            return None
        signal.alarm(seconds)
    try:
        return bool(sympy.simplify(difference) == 0)
    except (_TimeoutError, TypeError, ValueError, RecursionError, AttributeError,
            ZeroDivisionError):
        return None
    finally:
        if use_alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)


def drop_negligible_constants(expr: sympy.Expr, columns: Sequence[str],
                              points: Mapping[str, np.ndarray],
                              symbols: Mapping[str, sympy.Symbol],
                              rel_tol: float = SNAP_REL_TOL) -> sympy.Expr:
    """``expr`` with each float that barely matters set to 0: one whose removal changes no value
    at ``points`` by more than ``rel_tol`` x the RMS of the values (an intercept of 1.6e-6 on a
    law worth 1..25, a 1e-9 term). This is "rounding to 0" at the formula's own scale; the exact
    check against the truth still decides."""
    base = evaluate(expr, columns, points, symbols)
    if not np.all(np.isfinite(base)):
        return expr
    limit = rel_tol * float(np.sqrt(np.mean(base**2)))
    for number in sorted(expr.atoms(sympy.Float), key=lambda f: abs(float(f))):
        trial = expr.xreplace({number: sympy.Integer(0)})
        values = evaluate(trial, columns, points, symbols)
        if np.all(np.isfinite(values)) and np.max(np.abs(values - base)) <= limit:
            expr = trial
    return expr


def exact_match(candidate: sympy.Expr, equation: Equation, rng: np.random.Generator,
                rel_tol: float = EXACT_REL_TOL, snap_tol: float = SNAP_REL_TOL,
                symbolic: bool = True) -> tuple[bool, str, sympy.Expr]:
    """(exact, method, snapped formula). Method: ``symbolic`` (simplify gives 0), ``numeric``
    (equal within ``rel_tol`` on 200 fresh points; simplify undecided), or ``no``."""
    columns = equation.names
    symbols = equation.symbols()
    truth = equation.truth()
    points = sample_inputs(equation.variables, 200, rng)
    trimmed = drop_negligible_constants(candidate, columns, points, symbols, snap_tol)
    snapped = snap_constants(trimmed, snap_tol)
    if not snapped.free_symbols <= set(symbols.values()):
        return False, "no", snapped
    want = evaluate(truth, columns, points, symbols)
    got = evaluate(snapped, columns, points, symbols)
    defined = np.isfinite(want)
    if not defined.any() or not np.all(np.isfinite(got[defined])):
        return False, "no", snapped
    want, got = want[defined], got[defined]
    floor = 1e-12 * float(np.sqrt(np.mean(want**2)))
    if not np.all(np.abs(got - want) <= rel_tol * np.abs(want) + floor):
        return False, "no", snapped
    if symbolic and _symbolically_zero(snapped - truth, SIMPLIFY_SECONDS):
        return True, "symbolic", snapped
    return True, "numeric", snapped


def score_formula(candidate: sympy.Expr, equation: Equation, seed: int) -> dict:
    """Everything the benchmark reports about one formula: exactness and R² in and around the
    published box. JSON-ready: non-finite R² become None with ``*_note`` saying which."""
    columns, symbols = equation.names, equation.symbols()
    truth = equation.truth()
    result: dict = {}
    for label, widen, stream in (("r2", 0.0, 1), ("r2_wide", WIDEN, 2)):
        rng = np.random.default_rng([seed, equation.position, stream])
        points = sample_inputs(equation.variables, N_FRESH, rng, widen)
        want = evaluate(truth, columns, points, symbols)
        got = evaluate(candidate, columns, points, symbols)
        r2 = r2_score(got, want)
        result[label] = r2
        undefined_truth = int(np.sum(~np.isfinite(want)))
        if undefined_truth:
            result[f"{label}_truth_undefined"] = undefined_truth
    exact, method, snapped = exact_match(candidate, equation,
                                         np.random.default_rng([seed, equation.position, 3]))
    result.update(exact=exact, exact_method=method, snapped=str(snapped))
    return result


def json_number(value: float | None) -> float | str | None:
    """Strict JSON has no inf/nan: keep them as the strings "-inf", "inf", "nan"."""
    if value is None or math.isfinite(value):
        return value
    return str(value)


def summarise(rows: Iterable[Mapping]) -> dict:
    """Exact %, R² >= 0.999 % (in range), median wall and CPU seconds, how many were called
    verified while not exact, crashes, timeouts."""
    rows = list(rows)
    n = len(rows)
    if n == 0:
        return {"n": 0}
    exact = sum(1 for r in rows if r.get("exact"))
    good = sum(1 for r in rows if isinstance(r.get("r2"), float) and r["r2"] >= 0.999)
    seconds = [r["seconds"] for r in rows if r.get("seconds") is not None]
    cpu = [r["cpu_seconds"] for r in rows if r.get("cpu_seconds") is not None]
    return {
        "n": n,
        "exact_pct": 100.0 * exact / n,
        "r2_0999_pct": 100.0 * good / n,
        "median_seconds": float(np.median(seconds)) if seconds else None,
        "median_cpu_seconds": float(np.median(cpu)) if cpu else None,
        # the honesty figure (issue 12): formulas called verified that are not the law
        "verified_not_exact": sum(1 for r in rows if r.get("formula_status") == "verified"
                                  and not r.get("exact")),
        "crashes": sum(1 for r in rows if r.get("status") == "crash"),
        "timeouts": sum(1 for r in rows if r.get("status") == "timeout"),
    }


def knee_index(complexity: Sequence[float], error: Sequence[float]) -> int:
    """The knee of an accuracy-complexity front: the point farthest below the straight line
    from the simplest model to the most accurate one, with complexity and log10(error) each
    scaled to [0, 1] over the front. Errors are floored at 1e-30 (an exact fit's MSE is ~0)."""
    n = len(complexity)
    if n == 0:
        raise ValueError("empty front")
    order = sorted(range(n), key=lambda i: (complexity[i], error[i]))
    x = np.array([complexity[i] for i in order], dtype=float)
    y = np.log10(np.maximum(np.array([error[i] for i in order], dtype=float), 1e-30))
    best = int(np.argmin(y))
    if n < 3 or best == 0:
        return order[best]
    x, y = x[: best + 1], y[: best + 1]  # past the most accurate model the front only worsens
    span_x, span_y = x[-1] - x[0], y[0] - y[-1]
    if span_x <= 0 or span_y <= 0:
        return order[best]
    xs, ys = (x - x[0]) / span_x, (y - y[-1]) / span_y
    below_chord = (1.0 - xs) - ys  # chord from (0, 1) to (1, 0)
    if below_chord.max() <= 0:  # no knee: the front bends the other way
        return order[best]
    return order[int(np.argmax(below_chord))]
