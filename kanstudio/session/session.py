"""One discovery session: the data, the model, the settings and the history of operations.

Every operation a user can perform — train, prune, refine, lock, unlock, auto-symbolic,
formula, undo/redo — is a method here; the CLI and the GUI worker call the same methods.
Each model-changing operation records one undo step (a copy of the model before it).

Units: the network is trained on scaled data (see ``SessionSettings.scale_inputs`` and
``scale_target``); everything a user sees — losses, predictions, formulas — is reported
in the original units of the CSV.
"""

from __future__ import annotations

import copy
import functools
import math
import time
import weakref
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from kanstudio.core import StepRecord, parse_width
from kanstudio.data import (
    Dataset,
    Scaler,
    printed_symbol_names,
    safe_symbol_names,
    train_test_split,
)
from kanstudio.defaults import EDGE_THRESHOLD, NODE_THRESHOLD, default_width
from kanstudio.model.kan import KAN
from kanstudio.model.symbolic_verbs import run_to_end

__all__ = ["Session", "SessionSettings", "SessionError", "FormulaResult"]

MAX_UNDO = 50

#: A formula must be defined (finite) this fraction of each input's range beyond the data;
#: for an input whose data are all positive the margin stops halfway to 0, because a
#: boundary at 0 (log x, sqrt x, 1/x of a positive quantity) is the truth's, not an
#: artefact (a fitted boundary is never exactly at 0).
MARGIN = 0.25

#: A formula is "verified" when it reproduces the network on the held-out rows:
#: rms(formula - network) <= VERIFY_TOLERANCE * std(network) there, i.e. R² >= 0.9999 of the
#: formula against the network. The network is what the data taught; 1 % of its spread is
#: below what the symbolic ranking itself resolves (``fitting.R2_FLOOR``: edge fits better
#: than R² 0.99995, an rms of 0.7 %, count as equal), so a formula within it says what the
#: network says. Anything else is "approximate", reported with both R² values.
VERIFY_TOLERANCE = 1e-2

#: Trust rules a formula must also pass to be "verified" (issue 12 §4), each documented
#: where it is checked (:func:`lack_of_fit`, :func:`ill_conditioned`, and the margin):
#: residuals against the data within this share of the target's spread count as exact
#: (a snapped law in float64, or one fitted constant to ~5 digits) and are not examined...
EXACT_RESIDUAL = 1e-4
#: ...larger residuals must look like noise: the share of their variance predicted by the
#: mean of their ``FIT_NEIGHBOURS`` nearest neighbours in input space must stay below
#: ``LACK_OF_FIT``. Pure noise gives about -1/k (-0.12 to -0.07 on the inputs of all 120
#: Feynman laws, 1,000 rows each), a smooth misfit of one or two inputs close to 1; a
#: misfit spread over four or six inputs, whose neighbours lie farther apart, gives less:
#: 0.28-0.52 over four seeds for a first-order Doppler shift against the exact one
#: (Feynman test_15, tune half), 0.32 for test_2's formula (test half), which the limit
#: of 0.5 had called verified.
LACK_OF_FIT = 0.25
FIT_NEIGHBOURS = 10
#: Rounded to ``SHOWN_DIGITS`` significant digits (how it is displayed), a formula must stay
#: within ``VERIFY_TOLERANCE`` of its spread; one that does not is a small difference of
#: large, cancelling constants (``2e41·exp(-60·atan(1e3·x))``) and is not trusted.
SHOWN_DIGITS = 4
#: A sum whose terms average more than this many times its own size on the data (its
#: spread or its mean, whichever is larger) is a small difference of large numbers
#: (``1e6·sqrt(1e-6·x + 1) - 1e6`` for ``x/2``): a Taylor-regime stand-in, not a law. A
#: legitimate offset (``1000 + 0.001·x``) keeps the sum's mean as large as its terms; a
#: quantity measured in a narrow band far from 0 (``sqrt(T) - 17.3``, T in 300..301)
#: stays near 1e3.
CANCEL_TERMS = 1e4


class SessionError(ValueError):
    """An operation that cannot be done in the session's current state; says what to do."""


@dataclass
class SessionSettings:
    """Model and training settings a user picks (all JSON-able)."""

    # KAN 2.0 notation: an int or [sums, products] per level; None: chosen from the data
    width: list[int | list[int]] | None = None
    mult_arity: int | list[int] = 2  # sub-nodes per product node (one int, or one per node)
    grid: int = 5
    k: int = 3
    seed: int = 0
    device: str = "auto"
    dtype: str = "float64"
    steps: int = 100
    opt: str = "lbfgs"
    lr: float | None = None
    lamb: float = 0.0
    batch_size: int | None = None
    test_fraction: float = 0.2
    scale_inputs: str = "auto"  # none | standard | auto (standard when a range is extreme)
    scale_target: str = "standard"
    functions: list[str] | None = None  # symbolic library subset; None = all
    r2_threshold: float = 0.99
    simplicity_weight: float = 0.8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SessionError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass
class FormulaResult:
    """A formula in the CSV's units, with how well it and the network do on held-out rows."""

    expressions: list[Any]  # sympy, tidy (constants snapped/rounded)
    exact: list[Any]  # sympy, full precision
    # The symbols of the formulas, one per input column: the column's name as written
    # (``beta``, ``E``) unless no parser could read it (see data.printed_symbol_names).
    input_names: list[str]
    target_names: list[str]
    formula_test_rmse: float
    formula_test_r2: float
    network_test_rmse: float
    network_test_r2: float
    max_rel_diff_exact: float  # exact formula vs network on the data (should be ~1e-12)
    # why a score above is not a finite number, by field name ("formula_test_r2": "...")
    reasons: dict[str, str] = field(default_factory=dict)
    status: str = "approximate"  # "verified" | "approximate" (see VERIFY_TOLERANCE)
    network_difference: float = math.nan  # rms(formula - network) / std(network), held out
    status_reason: str = ""
    columns: list[str] = field(default_factory=list)  # the CSV's input column names
    # the tidy formulas with their unsnapped constants at full precision (same structure)
    full: list[Any] = field(default_factory=list)
    # the first formula's free constants: {"value", "shown", "stderr"} (+ "reason" when
    # stderr is None), in reading order (kanstudio.symbolic.uncertainty)
    constants: list[dict[str, Any]] = field(default_factory=list)
    # discover()'s accuracy-complexity front, simplest first: {formula, latex, complexity,
    # test_r2, status, width, chosen}; and why this formula was chosen from it
    pareto: list[dict[str, Any]] = field(default_factory=list)
    # inputs with active edges in the network that the formula lacks (printed names)
    missing_inputs: list[str] = field(default_factory=list)
    choice_reason: str = ""
    defined_on_margin: bool = True  # finite on MARGIN beyond the data (see margin_points)
    margin_reason: str = ""
    # LaTeX of the symbols printed otherwise than written (``lambda_`` -> ``\lambda``)
    latex_names: dict[str, str] = field(default_factory=dict)
    # discover()'s work against its budgets: training_steps, step_budget,
    # wall_clock_cap_s, wall_clock_cap_fired (empty for a formula read otherwise)
    budget: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """What the project file keeps of this result: plain data, no expression."""
        return {"status": self.status, "status_reason": self.status_reason,
                "formula_test_r2": self.formula_test_r2,
                "network_test_r2": self.network_test_r2,
                "network_difference": self.network_difference}


@functools.lru_cache(maxsize=128)
def _node_lock_text(name: str, symbols: tuple[str, ...], scale: tuple[float, ...],
                    offset: tuple[float, ...]) -> str:
    """:meth:`Session.node_lock_text` for the variables ``(symbol - offset) / scale``."""
    import sympy

    from kanstudio.symbolic.export import to_short_text
    from kanstudio.symbolic.expression_lock import node_expression

    variables = [sympy.Symbol(n) if (k, o) == (1.0, 0.0) else (sympy.Symbol(n) - o) / k
                 for n, k, o in zip(symbols, scale, offset, strict=True)]
    try:
        return to_short_text(node_expression(name, variables))
    except ValueError:
        return "expression"


def formula_status(formula: np.ndarray, network: np.ndarray, constant: bool
                   ) -> tuple[str, float, str]:
    """(status, rms(formula - network) / std(network), why) on the held-out rows.

    ``formula``, ``network``: (n,) predictions; ``constant``: the formula has no input in
    it. A constant formula is never verified when the network is not constant.
    """
    with np.errstate(all="ignore"):
        unit = _unit(network)  # squares of 1e-300 underflow, of 1e300 overflow: scale first
        spread = unit * float(np.std(network / unit))
        diff = unit * float(np.sqrt(np.mean((formula / unit - network / unit) ** 2)))
    if not np.all(np.isfinite(formula)):
        return "approximate", math.nan, "the formula is not finite on some held-out rows"
    # The network's own size, not 1: data of any magnitude (1e-300 or 1e300) must be
    # judged alike, so no absolute floor beyond the smallest normal float.
    scale = max(abs(float(np.mean(network))), float(np.max(np.abs(network), initial=0.0)),
                float(np.finfo(np.float64).tiny))
    if spread <= 1e-12 * scale:  # the network itself is constant: compare to its size
        rel = diff / scale
        ok = rel <= VERIFY_TOLERANCE
        return ("verified" if ok else "approximate"), rel, (
            "the network is constant and the formula matches it" if ok
            else "the network is constant but the formula is not")
    rel = diff / spread
    if constant:
        return "approximate", rel, "the formula is a constant but the network is not"
    if rel <= VERIFY_TOLERANCE:
        return "verified", rel, (f"the formula reproduces the network to {rel:.2%} of its "
                                 f"spread on the held-out rows (tolerance "
                                 f"{VERIFY_TOLERANCE:.0%})")
    return "approximate", rel, (f"the formula differs from the network by {rel:.2%} of its "
                                f"spread on the held-out rows (tolerance "
                                f"{VERIFY_TOLERANCE:.0%})")


def lack_of_fit(X: np.ndarray, residual: np.ndarray, spread: float) -> float | None:
    """The share of the residuals' variance that their ``FIT_NEIGHBOURS`` nearest
    neighbours predict (inputs standardised), or None when the residuals are within
    ``EXACT_RESIDUAL`` of ``spread`` (nothing left to examine) or too few.

    A formula that misses part of the law leaves residuals that follow the inputs: a
    point's neighbours share its residual, and the statistic nears 1. Residuals that are
    noise share nothing (the statistic is about ``-1/k``), whatever their size, so a right
    formula on noisy data passes. ``X``: (n, n_in); ``residual``: (n,) data - formula.
    """
    from scipy.spatial import cKDTree

    r = np.asarray(residual, dtype=float)
    with np.errstate(all="ignore"):
        size = float(np.sqrt(np.mean((r - r.mean()) ** 2)))
    if not (math.isfinite(size) and size > EXACT_RESIDUAL * spread) or (
            len(r) <= 2 * FIT_NEIGHBOURS):
        return None
    if len(r) > 2000:  # a seeded subsample bounds the cost (a k-d tree, n log n)
        keep = np.random.default_rng(0).choice(len(r), 2000, replace=False)
        X, r = X[keep], r[keep]
    with np.errstate(all="ignore"):  # inputs near the float limit: scaled to 1 first
        unit = np.max(np.abs(X), axis=0)
        X = X / np.where((unit > 0) & np.isfinite(unit), unit, 1.0)
        scale = X.std(axis=0)
        z = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    z = z[:, np.all(np.isfinite(z), axis=0)]
    if z.shape[1] == 0:
        return None
    _, near = cKDTree(z).query(z, FIT_NEIGHBOURS + 1)  # (n, k + 1), itself first
    centred = r - r.mean()
    predicted = centred[near[:, 1:]].mean(axis=1)
    return 1.0 - float(np.mean((centred - predicted) ** 2) / np.mean(centred**2))


def ill_conditioned(values: np.ndarray, shown: np.ndarray) -> float | None:
    """max|shown - values| / std(values) when it exceeds ``VERIFY_TOLERANCE`` (the
    formula rounded to ``SHOWN_DIGITS`` digits is not the formula: the display's own rule,
    ``Session._tidy``), else None."""
    with np.errstate(all="ignore"):
        unit = _unit(values)
        spread = float(np.std(values / unit))
        moved = float(np.max(np.abs(shown / unit - values / unit)))
    if not spread > 0:
        return None
    rel = moved / spread
    return rel if not rel <= VERIFY_TOLERANCE else None


def cancelling_sum(expr: Any, evaluate: Any) -> float | None:
    """The largest ratio, over the sums inside ``expr``, of their terms' mean magnitudes
    added up to the sum's own size on the data, when it exceeds ``CANCEL_TERMS``; else
    None. ``evaluate``: sympy expression -> values on the data's rows."""
    import sympy

    worst = None
    for node in sympy.preorder_traversal(expr):
        if not isinstance(node, sympy.Add) or not node.free_symbols:
            continue
        with np.errstate(all="ignore"):
            total = np.asarray(evaluate(node), dtype=float)
            size = max(float(np.std(total)), abs(float(np.mean(total))))
            terms = sum(abs(float(t)) if t.is_Number else abs(float(np.mean(evaluate(t))))
                        for t in node.args)
        if not (math.isfinite(size) and math.isfinite(terms)):
            continue
        if terms > CANCEL_TERMS * size and (worst is None or terms / size > worst):
            worst = terms / size if size > 0 else math.inf
    return worst


def _printed_constants(expr: Any) -> set[str]:
    """How sympy's text prints the named constants in ``expr`` (``E``, ``pi``, ``I``...):
    a column printed with one of these names would read back as the constant."""
    return {str(a) for a in expr.atoms()
            if not a.is_Symbol and not a.is_Number and str(a).isidentifier()}


def _unit(*arrays: np.ndarray) -> float:
    """A power of two within a factor 2 of the arrays' largest finite magnitude: sums of
    squares of ``values / unit`` cannot overflow, and dividing by it is exact."""
    peak = max((float(np.max(np.abs(a[np.isfinite(a)]), initial=0.0)) for a in arrays),
               default=0.0)
    return math.ldexp(1.0, math.frexp(peak)[1] - 1) if peak > 0 else 1.0


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    with np.errstate(all="ignore"):  # an overflowing formula scores -inf or nan, not a warning
        unit = _unit(y)
        y, pred = y / unit, pred / unit  # R² is scale free; this keeps ±1e308 data finite
        ss_res = float(np.sum((y - pred) ** 2))
        ss_tot = float(np.sum((y - y.mean(0)) ** 2))
    if ss_res == math.inf:
        return -math.inf
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    if not y.size:
        return float("nan")
    with np.errstate(all="ignore"):
        unit = _unit(y, pred)
        return unit * float(np.sqrt(np.mean((y / unit - pred / unit) ** 2)))


def _score_reasons(what: str, pred: np.ndarray, scores: dict[str, float]) -> dict[str, str]:
    """Why each non-finite score in ``scores`` is not a number, for the user to read."""
    bad = int(np.count_nonzero(~np.isfinite(pred)))
    if bad:
        why = (f"{what} is not finite on {bad} of {pred.shape[0]} held-out rows (it overflows "
               "or leaves its domain there)")
    else:
        why = f"{what}'s error on the held-out rows overflows a float"
    return {name: why for name, value in scores.items() if not math.isfinite(value)}


def _max_rel_diff(formula: np.ndarray, network: np.ndarray) -> float:
    """max |formula - network| / max |network| over all rows, both ``(n, n_out)``."""
    with np.errstate(all="ignore"):
        return float(np.max(np.abs(formula - network)) / max(np.max(np.abs(network)), 1e-12))


def _test_scores(who: str, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """``{who}_test_rmse`` and ``{who}_test_r2`` of ``pred`` against the held-out ``y``."""
    return {f"{who}_test_rmse": _rmse(y, pred), f"{who}_test_r2": _r2(y, pred)}


def _renamed(symbols: Sequence[str], printed: Sequence[str], *groups: list) -> list[list]:
    """Each group of expressions with the internal input symbols replaced by the printed
    (CSV) names."""
    import sympy

    rename = {sympy.Symbol(a): sympy.Symbol(b)
              for a, b in zip(symbols, printed, strict=True) if a != b}
    return [[e.xreplace(rename) for e in group] for group in groups]


def _latex_names(printed: list[str], columns: list[str]) -> dict[str, str]:
    """LaTeX for each printed name that differs from its column's identifier name."""
    import sympy

    return {p: sympy.latex(sympy.Symbol(c))
            for p, c in zip(printed, columns, strict=True)
            if p != c and c.isidentifier()}


def _explain_missing_inputs(status: str, why: str, missing: list[str],
                            locked_out: set[str]) -> tuple[str, str]:
    """(status, why) once the inputs the formula lacks but the network uses are told."""
    if locked_out:  # edges locked to a constant: the formula cannot show it needs none
        status = "approximate"
        why = (f"input(s) {', '.join(sorted(locked_out))} have active edges in the "
               "network but their functions are constants, so the formula lacks them; "
               + why)
    elif missing:  # snapped away, and the formula still reproduces the network (or not)
        why += (f"; input(s) {', '.join(missing)} dropped by rounding their tiny terms"
                + (", which does not change the held-out agreement"
                   if status == "verified" else ""))
    return status, why


class Session:
    def __init__(self, dataset: Dataset, settings: SessionSettings | None = None) -> None:
        self.dataset = dataset
        self.settings = settings or SessionSettings()
        self.model: KAN | None = None
        self.history: list[dict[str, Any]] = []
        # (what, model, data preparation): the preparation (settings, split, scalers) is
        # kept only by a step that changed it (adopt_session), None otherwise
        self._undo: list[tuple[str, KAN | None, tuple | None]] = []
        self._redo: list[tuple[str, KAN | None, tuple | None]] = []
        # status and scores of the last formula read off the current model (or None)
        self.formula_report: dict[str, Any] | None = None
        # Discover's accuracy-complexity front (kanstudio.session.front.FormulaFront)
        self.front: Any = None
        # model -> the formula chosen for it when that is not the one read off its edges
        # (Discover's pick from the structure step or the search engine, "use this formula")
        self._pinned: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._prepare_data()

    # ------------------------------------------------------------------ data
    def _prepare_data(self) -> None:
        s = self.settings
        d = self.dataset
        if d.n_samples < 4:
            raise SessionError(f"the data has {d.n_samples} rows; at least 4 are needed")
        self.train_idx, self.test_idx = train_test_split(d.n_samples, s.test_fraction, s.seed)
        X_tr = d.X[self.train_idx]
        mode = s.scale_inputs
        if mode == "auto":
            span = np.ptp(X_tr, axis=0)
            extreme = np.max(np.abs(X_tr), axis=0)
            mode = "standard" if bool(np.any(extreme > 100) or np.any(span < 1e-2)) else "none"
        self.x_scaler = Scaler(mode).fit(X_tr)
        self.y_scaler = Scaler(s.scale_target).fit(d.y[self.train_idx])
        self.symbols = safe_symbol_names(d.input_names)

    @property
    def held_out_idx(self) -> np.ndarray:
        """The rows formulas are judged on: the held-out rows, or the training rows when
        the data is too small to hold any out."""
        return self.test_idx if len(self.test_idx) else self.train_idx

    def held_out_var(self) -> float:
        """The (first) target's variance on :attr:`held_out_idx` (1 when constant there): a
        formula's held-out relative MSE is relative to it."""
        return float(np.var(self.dataset.y[self.held_out_idx, 0])) or 1.0

    def printed(self, expr: Any) -> Any:
        """``expr`` (a sympy expression over :attr:`symbols`) with the inputs under the
        names formulas are shown with (the CSV's, as :meth:`describe_formula` prints them:
        ``gamma``, not the internal ``gamma_``), for the stage log's intermediate lines."""
        printed = printed_symbol_names(self.dataset.input_names, _printed_constants(expr))
        return _renamed(self.symbols, printed, [expr])[0][0]

    def scaled(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.dataset
        return self.x_scaler.transform(d.X[rows]), self.y_scaler.transform(d.y[rows])

    def default_width(self) -> list[int]:
        n_in, n_out = self.dataset.n_inputs, self.dataset.n_outputs
        return default_width(n_in, n_out)

    # ------------------------------------------------------------------ undo
    def _checkpoint(self, label: str, preparation: tuple | None = None) -> None:
        self.formula_report = None  # the model is about to change
        self._undo.append((label, self._saved_model(), preparation))
        del self._undo[:-MAX_UNDO]
        self._redo.clear()

    def _saved_model(self) -> KAN | None:
        """A copy of the model for the undo stack, with the formula pinned to it (undo and
        redo bring the formula back with the model)."""
        saved = copy.deepcopy(self.model)
        pinned = self.chosen_formula
        if pinned is not None:
            self._pinned[saved] = pinned
        return saved

    def _preparation(self) -> tuple:
        """What a model is trained against besides the data: the settings (the seed picks
        the split), the split and the scalers."""
        return (self.settings, self.train_idx, self.test_idx, self.x_scaler, self.y_scaler)

    def _restore_preparation(self, preparation: tuple) -> None:
        (self.settings, self.train_idx, self.test_idx, self.x_scaler,
         self.y_scaler) = preparation

    def _record(self, op: str, **info: Any) -> None:
        self.history.append({"op": op, "time": time.time(), **info})

    def adopt_model(self, model: KAN, what: str) -> None:
        """Make ``model`` (a copy of it) the current one, as one undo step named ``what``."""
        self._checkpoint(f"adopt {what}")
        self.model = copy.deepcopy(model)
        self._record("adopt", what=what)

    @contextmanager
    def one_undo_step(self, label: str) -> Iterator[None]:
        """Every change made inside the block is one undo step named ``label``: undone, the
        model is the one before the block (however many steps were taken or undone inside,
        and even past MAX_UNDO of them). The block's own undo steps work inside it."""
        before, undo, redo = self._saved_model(), list(self._undo), list(self._redo)
        try:
            yield
        finally:
            if self._undo != undo:  # something changed the model
                self._undo = [*undo, (label, before, None)][-MAX_UNDO:]
                self._redo.clear()
            else:  # whatever was done inside was undone inside: nothing to redo either
                self._redo = redo

    def adopt_session(self, other: Session, what: str) -> None:
        """Make ``other``'s model the current one, as one undo step named ``what``, with
        the settings, split and scaling it was trained with (its seed may differ from
        this session's, and the seed picks the split). ``other`` must hold the same data.
        """
        mine, theirs = self.dataset, other.dataset
        if other.model is None or not other.model.is_fitted:
            raise SessionError(f"{what} has no trained model")
        if (list(mine.input_names) != list(theirs.input_names)
                or list(mine.target_names) != list(theirs.target_names)
                or not np.array_equal(mine.X, theirs.X)
                or not np.array_equal(mine.y, theirs.y)):
            raise SessionError(f"{what} was trained on other data than the data open now "
                               "(has the file changed since?)")
        self._checkpoint(f"adopt {what}", self._preparation())
        self._restore_preparation(copy.deepcopy(
            (other.settings, other.train_idx, other.test_idx, other.x_scaler, other.y_scaler)))
        self.model = copy.deepcopy(other.model)
        chosen = other.chosen_formula
        if chosen is not None:  # Discover's pick comes with its model: after an early exit
            # its edges are unlocked, and no formula can be read off them
            self.pin_formula(copy.deepcopy(chosen))
        self._record("adopt", what=what, seed=self.settings.seed)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> str:
        """Restore the model as it was before the last change; returns what was undone."""
        return self._swap(self._undo, self._redo, "undo")

    def redo(self) -> str:
        return self._swap(self._redo, self._undo, "redo")

    def _swap(self, source: list, target: list, op: str) -> str:
        if not source:
            raise SessionError(f"nothing to {op}")
        label, model, preparation = source.pop()
        self.formula_report = None
        target.append((label, self.model,
                       None if preparation is None else self._preparation()))
        if preparation is not None:
            self._restore_preparation(preparation)
        self.model = model
        self._record(op, what=label)
        return label

    # ------------------------------------------------------------------ model
    def _need_model(self) -> KAN:
        if self.model is None or not self.model.is_fitted:
            raise SessionError("there is no trained model yet: train first")
        return self.model

    def new_model(self, width: Sequence[int] | None = None) -> KAN:
        """Start a fresh, untrained model (an undo step when one existed)."""
        s = self.settings
        width = list(width) if width is not None else (s.width or self.default_width())
        try:
            nodes = parse_width(width, s.mult_arity).nodes
        except ValueError as exc:
            raise SessionError(f"width {width}: {exc}") from exc
        if nodes[0] != self.dataset.n_inputs or nodes[-1] != self.dataset.n_outputs:
            raise SessionError(
                f"width {width} does not match the data: {self.dataset.n_inputs} input(s) "
                f"and {self.dataset.n_outputs} target(s)"
            )
        if self.model is not None:
            self._checkpoint("new model")
        self.model = KAN(width=width, grid=s.grid, k=s.k, seed=s.seed, device=s.device,
                         dtype=s.dtype, mult_arity=s.mult_arity)
        self._record("new_model", width=width)
        return self.model

    def train_iter(self, steps: int | None = None, **overrides: Any) -> Iterator[StepRecord]:
        """Train (or continue training) the model; yields a record per step.

        One undo step for the whole run. Losses in the records are RMSE in scaled units;
        use :meth:`metrics` for the original units.
        """
        s = self.settings
        if self.model is None:
            self.new_model()
        assert self.model is not None
        self._checkpoint("train")
        model = self.model
        if model.is_fitted:  # training continues on a copy so undo keeps the old model
            model = copy.deepcopy(model)
            self.model = model
        opts = {"opt": s.opt, "lr": s.lr, "lamb": s.lamb, "batch_size": s.batch_size}
        opts.update(overrides)
        n = int(steps if steps is not None else s.steps)
        X_tr, y_tr = self.scaled(self.train_idx)
        X_te, y_te = self.scaled(self.test_idx)
        done = 0
        try:
            for record in model.fit_iter(X_tr, y_tr, steps=n, X_test=X_te, y_test=y_te,
                                         **opts):
                done = record.step
                yield record
        finally:
            self._record("train", steps=done, **{k: v for k, v in opts.items()})

    def train(self, steps: int | None = None, **overrides: Any) -> list[StepRecord]:
        return list(self.train_iter(steps, **overrides))

    def prune(self, node_threshold: float = NODE_THRESHOLD,
              edge_threshold: float = EDGE_THRESHOLD) -> dict:
        """Prune; returns :meth:`prune_preview`'s report of what it did."""
        pruned, info = self._pruned(node_threshold, edge_threshold)
        self._checkpoint("prune")
        self.model = pruned
        self._record("prune", node_threshold=node_threshold, edge_threshold=edge_threshold,
                     **{k: v for k, v in info.items() if not k.startswith("removed_")})
        return info

    def prune_preview(self, node_threshold: float = NODE_THRESHOLD,
                      edge_threshold: float = EDGE_THRESHOLD) -> dict:
        """What :meth:`prune` with these thresholds would do, exactly (the same prune, on a
        copy; the session is unchanged): ``width_before``/``width_after``, the held-out
        rows' RMSE (original units) ``test_rmse_before``/``test_rmse_after``, and
        ``removed_edges`` [(layer, i, j)], ``removed_nodes`` [(level, i)] in the addresses
        of the current model."""
        return self._pruned(node_threshold, edge_threshold)[1]

    def _pruned(self, node_threshold: float, edge_threshold: float) -> tuple[KAN, dict]:
        model = self._need_model()
        pruned, report = model.prune_with_report(node_threshold, edge_threshold)
        info = {"width_before": model.width_, "width_after": pruned.width_,
                "test_rmse_before": self.metrics(model)["test_rmse"],
                "test_rmse_after": self.metrics(pruned)["test_rmse"],
                "removed_edges": [list(e) for e in report.edges],
                "removed_nodes": [list(n) for n in report.nodes]}
        return pruned, info

    def prune_node(self, layer: int, i: int) -> None:
        model = self._need_model()
        self._checkpoint(f"prune node ({layer}, {i})")
        self.model = model.prune_node(layer, i)
        self._record("prune_node", layer=layer, i=i)

    def prune_edge(self, layer: int, i: int, j: int) -> None:
        model = self._need_model()
        self._checkpoint(f"prune edge ({layer}, {i}, {j})")
        self.model = model.prune_edge(layer, i, j)
        self._record("prune_edge", layer=layer, i=i, j=j)

    def refine(self, grid: int) -> None:
        run_to_end(self.refine_iter(grid))

    def refine_iter(self, grid: int) -> Generator[tuple[int, int], None, None]:
        """:meth:`refine` layer by layer, yielding (layers done, layers). The session changes
        only at the end: closing the generator early (cancel) leaves the model and the undo
        history as they were."""
        refined = yield from self._need_model().refine_iter(grid)
        self._checkpoint(f"refine grid to {grid}")
        self.model = refined
        self._record("refine", grid=grid)

    def suggest(self, layer: int, i: int, j: int, top_k: int | None = None) -> list:
        s = self.settings
        return self._need_model().suggest_symbolic(
            layer, i, j, s.functions, simplicity_weight=s.simplicity_weight, top_k=top_k)

    def search_edge(self, layer: int, i: int, j: int, budget: str = "small",
                    threads: int = 1, progress: Any = None) -> list:
        """Search expressions for edge ``(layer, i, j)``'s curve with the symbolic search
        engine (seeded by the session's seed; ``threads`` engine threads): the front of
        ``SearchResult`` s, simplest first (:meth:`KAN.search_edge`). Changes nothing;
        :meth:`lock` with ``expression_lock_name(result)`` locks one. Raises
        ``EngineUnavailableError`` when the engine cannot run here."""
        return self._need_model().search_edge(layer, i, j, budget=budget,
                                              seed=self.settings.seed, threads=threads,
                                              progress=progress)

    def lock(self, layer: int, i: int, j: int, name: str) -> Any:
        """Lock an edge to a library function or an expression (its lock name,
        ``kanstudio.model.symbolic_verbs.expression_lock_name``); one undo step."""
        from kanstudio.symbolic.expression_lock import lock_label

        model = self._need_model()
        self._checkpoint(f"lock ({layer}, {i}, {j}) to {lock_label(name)}")
        self.model = copy.deepcopy(model)
        try:
            fit = self.model.lock_edge(layer, i, j, name)
        except Exception:
            self.model = model
            self._undo.pop()
            raise
        self._record("lock", layer=layer, i=i, j=j, name=name,
                     r2=None if fit is None else fit.r2)
        return fit

    def unlock(self, layer: int, i: int, j: int) -> None:
        model = self._need_model()
        self._checkpoint(f"unlock ({layer}, {i}, {j})")
        self.model = copy.deepcopy(model)
        self.model.unlock_edge(layer, i, j)
        self._record("unlock", layer=layer, i=i, j=j)

    # ------------------------------------------------------------------ node locks
    def search_node(self, level: int, node: int, budget: str = "small", threads: int = 1,
                    progress: Any = None) -> list:
        """Search expressions for node ``(level, node)``'s value as a function of the 1-3
        network inputs it depends on (:meth:`KAN.search_node`, seeded by the session's
        seed): the front of ``SearchResult`` s over ``x1, x2, ...`` (the network's scaled
        inputs, by column). Changes nothing; :meth:`lock_node` locks one."""
        return self._need_model().search_node(level, node, budget=budget,
                                              seed=self.settings.seed, threads=threads,
                                              progress=progress)

    def lock_node(self, level: int, node: int, name: str,
                  inputs: Sequence[int] | None = None) -> float:
        """Compute node ``(level, node)`` from an expression (a node lock name over the
        input columns ``inputs``, default those it depends on); one undo step. Returns
        the expression's R² against what the node computed before."""
        model = self._need_model()
        self._checkpoint(f"lock node ({level}, {node}) to "
                         f"{self.node_lock_text(name, inputs, level, node)}")
        self.model = copy.deepcopy(model)
        try:
            r2 = self.model.lock_node_expression(
                level, node, name, None if inputs is None else list(inputs))
        except Exception:
            self.model = model
            self._undo.pop()
            raise
        self._record("lock_node", layer=level, node=node, name=name,
                     inputs=list(self.model.locked_nodes()[(level, node)][1]))
        return r2

    def unlock_node(self, level: int, node: int) -> None:
        """Node ``(level, node)`` sums its edges again; one undo step."""
        model = self._need_model()
        self._checkpoint(f"unlock node ({level}, {node})")
        self.model = copy.deepcopy(model)
        self.model.unlock_node(level, node)
        self._record("unlock_node", layer=level, node=node)

    def node_lock_text(self, name: str, inputs: Sequence[int] | None = None,
                       level: int | None = None, node: int | None = None) -> str:
        """A node lock's expression as a person reads it: over the data's input names
        and units (the network's input scaling undone), constants to 4 digits. Without
        ``inputs``, those node ``(level, node)`` depends on."""
        if inputs is None:
            inputs = self._need_model().node_inputs(level, node)
        scale, offset = self.x_scaler.affine_parameters()
        cols = tuple(int(c) for c in inputs)
        # snapshots ask for it many times a second: the text is made once per lock
        return _node_lock_text(name, tuple(self.symbols[c] for c in cols),
                               tuple(float(scale[c]) for c in cols),
                               tuple(float(offset[c]) for c in cols))

    def auto_symbolic(self, r2_threshold: float | None = None, lock_all: bool = False) -> list:
        """Lock edges whose best fit passes the threshold (all of them with ``lock_all``)."""
        return run_to_end(self.auto_symbolic_iter(r2_threshold, lock_all))

    def auto_symbolic_iter(self, r2_threshold: float | None = None, lock_all: bool = False
                           ) -> Generator[tuple[int, int, Any], None, list]:
        """:meth:`auto_symbolic` edge by edge, yielding (done, total, AutoSymbolicResult).

        The edges are locked on a copy of the model that replaces it only at the end:
        closing the generator early (cancel) changes nothing, not even the undo history.
        """
        s = self.settings
        work = copy.deepcopy(self._need_model())
        threshold = s.r2_threshold if r2_threshold is None else r2_threshold
        results = yield from work.auto_symbolic_iter(
            -math.inf if lock_all else threshold, s.functions, s.simplicity_weight)
        self._checkpoint("auto-symbolic")
        self.model = work
        self._record("auto_symbolic", r2_threshold=threshold, lock_all=lock_all,
                     locked=sum(r.locked for r in results), total=len(results))
        return results

    # ------------------------------------------------------------------ evaluation
    def predict(self, X: np.ndarray, model: KAN | None = None) -> np.ndarray:
        """Network predictions in original units for original-unit inputs (n, n_inputs),
        of the session's model or of ``model`` (one of its candidates)."""
        model = model if model is not None else self._need_model()
        return self.y_scaler.inverse_transform(model.predict(self.x_scaler.transform(X)))

    def metrics(self, model: KAN | None = None) -> dict[str, float]:
        """RMSE and R² (original units) on the training and the held-out rows, of the
        session's model or of ``model``."""
        d = self.dataset
        out = {}
        for name, rows in (("train", self.train_idx), ("test", self.test_idx)):
            if len(rows) == 0:
                out[f"{name}_rmse"] = out[f"{name}_r2"] = float("nan")
                continue
            pred = self.predict(d.X[rows], model)
            out[f"{name}_rmse"] = _rmse(d.y[rows], pred)
            out[f"{name}_r2"] = _r2(d.y[rows], pred)
        return out

    def formula(self, numeric: str = "error", tol: float = 1e-3, digits: int = 4
                ) -> FormulaResult:
        """The model's formula in the CSV's units, verified against the network: the one
        chosen for it (:meth:`pin_formula`: Discover's pick, "Use this formula") while it
        is the model, else the one read off the network's edges."""
        chosen = self.chosen_formula
        if chosen is not None:
            self.remember_formula(chosen)
            return chosen
        return self.network_formula(numeric, tol, digits)

    @property
    def chosen_formula(self) -> FormulaResult | None:
        """The formula pinned to the current model (:meth:`pin_formula`), or None."""
        return None if self.model is None else self._pinned.get(self.model)

    def network_formula(self, numeric: str = "error", tol: float = 1e-3, digits: int = 4,
                        network: np.ndarray | None = None) -> FormulaResult:
        """The formula read off the network's edges (locked ones as their functions), in
        the CSV's units, verified against the network (``network``: that network's
        predictions on every row, when the formula was read off another one: discovery
        verifies against the network before edges were locked, not against the locked
        one, which *is* the formula)."""
        import sympy

        from kanstudio.session.errors import FormulaNotSymbolicError
        from kanstudio.symbolic.formula import NumericEdgeError, network_formulas

        model = self._need_model()
        symbols = [sympy.Symbol(n) for n in self.symbols]
        scaled_names = [f"_s{i}" for i in range(len(symbols))]
        try:
            raw = network_formulas(model.network_, scaled_names, numeric)
        except NumericEdgeError as exc:  # the same refusal, with its edges as data
            raise FormulaNotSymbolicError(exc.edges) from exc
        x_scale, x_off = self.x_scaler.affine_parameters()
        y_scale, y_off = self.y_scaler.affine_parameters()
        subs = {sympy.Symbol(n): (sym - float(x_off[i])) / float(x_scale[i])
                for i, (n, sym) in enumerate(zip(scaled_names, symbols, strict=True))}
        exact = [e.xreplace(subs) * float(y_scale[o]) + float(y_off[o])
                 for o, e in enumerate(raw)]
        return self.describe_formula(exact, network=network, tol=tol, digits=digits)

    def describe_formula(self, exact: list, network: np.ndarray | None = None,
                         tol: float = 1e-3, digits: int = 4, shown: list | None = None,
                         model: KAN | None = None, full: list | None = None
                         ) -> FormulaResult:
        """``exact`` (one sympy expression per target, in :attr:`symbols`) tidied, scored
        on the held-out rows, verified against a network and renamed to the CSV's names.

        ``network``: that network's predictions on every row ``(n, n_out)``; the session's
        model by default. Every formula the app offers goes through here, whoever found
        it (the network's edges, the structure step, a search engine), so its status means
        the same. ``shown``: the display form when the finder already tidied it (else
        :meth:`_tidy` makes one); ``full``: that form with its constants at full precision
        (the constants table's values; ``shown`` itself when not given: never ``exact``,
        whose constants may not be the ones shown). ``model``: the network whose inputs the
        formula must keep (the session's model by default).
        """
        d = self.dataset
        if shown is not None:
            tidy, full = list(shown), list(shown if full is None else full)
        else:
            tidied = [self._tidy(e, tol, digits) for e in exact]
            tidy, full = [t[0] for t in tidied], [t[1] for t in tidied]
        te = self.held_out_idx
        f_exact = self.evaluate_formula(exact, d.X)
        net_all = self.predict(d.X) if network is None else np.asarray(network, dtype=float)
        net_all = net_all.reshape(d.n_samples, -1)
        rel = _max_rel_diff(f_exact, net_all)
        f_tidy = self.evaluate_formula(tidy, d.X[te])
        net_te = net_all[te]
        status, difference, why = formula_status(
            f_tidy[:, 0], net_te[:, 0], not tidy[0].free_symbols)
        formula_scores = _test_scores("formula", d.y[te], f_tidy)
        network_scores = _test_scores("network", d.y[te], net_te)
        status, why = self._trust(status, why, full[0], formula_scores, network_scores,
                                  bool(tidy[0].free_symbols))
        # The CSV's names, as written, replace the internal safe ones (beta_ -> beta).
        taken = set().union(*(_printed_constants(e) for e in [*tidy, *exact]))
        printed = printed_symbol_names(d.input_names, taken)
        targets = printed_symbol_names(d.target_names, taken)
        tidy, exact, full = _renamed(self.symbols, printed, tidy, exact, full)
        latex_names = _latex_names([*printed, *targets], [*d.input_names, *d.target_names])
        defined, margin_reason = self.margin_check(tidy)
        if not defined and status == "verified":
            status, why = "approximate", margin_reason + "; " + why
        model = self.model if model is None else model
        fitted = model is not None and getattr(model, "network_", None) is not None
        missing = self._missing_inputs(model, tidy[0], printed) if fitted else []
        locked_out = set(self._missing_inputs(model, exact[0], printed) if fitted else [])
        status, why = _explain_missing_inputs(status, why, missing, locked_out)
        constants = self._constant_errors(full[0], printed)
        result = FormulaResult(
            expressions=tidy, exact=exact, input_names=printed, target_names=targets,
            defined_on_margin=defined, margin_reason=margin_reason,
            full=full, constants=constants, missing_inputs=missing,
            columns=list(d.input_names), latex_names=latex_names,
            **formula_scores, **network_scores, max_rel_diff_exact=rel,
            reasons={**_score_reasons("the formula", f_tidy, formula_scores),
                     **_score_reasons("the network", net_te, network_scores)},
            status=status, network_difference=difference, status_reason=why,
        )
        self.remember_formula(result)
        return result

    def pin_formula(self, result: FormulaResult) -> None:
        """Make ``result`` the current model's formula until the model changes (what
        :meth:`formula` returns; undo and redo bring it back with the model): what Discover
        chose (the network's own, snapped at the tolerance it picked, or one the structure
        step or the search engine found with the network as oracle), so that the window,
        the saved project and the CLI show the same formula."""
        if self.model is not None:
            self._pinned[self.model] = result
        self.remember_formula(result)

    def _trust(self, status: str, why: str, full: Any, formula_scores: dict,
               network_scores: dict, varies: bool) -> tuple[str, str]:
        """(status, why) once the trust rules have been applied to the formula (``full``:
        snapped, other constants at full precision) beside its agreement with the network.

        * A formula that explains the held-out rows at least as well as the network it
          was read from (RMSE no larger) agrees with the data better than the network
          does: that counts as reproducing it.
        * No lack of fit: the residuals against the data must look like noise
          (:func:`lack_of_fit`), or a formula that reproduces a mediocre network would
          be verified with the network's misfit.
        * Well-conditioned: rounded to the digits shown it stays the same formula
          (:func:`ill_conditioned`).
        * No function in its Taylor regime on the data (:func:`taylor_regime`): a
          ``sin`` whose argument barely moves is a straight line there, so the data do not
          show that function.
        """
        from kanstudio.symbolic.formula import round_constants

        d = self.dataset
        f_rmse, n_rmse = formula_scores["formula_test_rmse"], network_scores["network_test_rmse"]
        if (status == "approximate" and varies and math.isfinite(f_rmse)
                and math.isfinite(n_rmse) and f_rmse <= n_rmse):
            status, why = "verified", (
                f"the formula explains the held-out rows at least as well as the network "
                f"(RMSE {f_rmse:.4g} against {n_rmse:.4g})")
        if status != "verified":
            return status, why
        values = self.evaluate_formula([full], d.X)[:, 0]
        y = d.y[:, 0]
        unit = _unit(y)
        with np.errstate(all="ignore"):
            spread = unit * float(np.std(y / unit))
            share = lack_of_fit(d.X, y - values, spread) if np.all(np.isfinite(values)) \
                else None
        if share is not None and share > LACK_OF_FIT:
            return "approximate", (
                f"the formula misses part of the law: {share:.0%} of its residuals' variance "
                f"follows the inputs (noise would give about 0; limit {LACK_OF_FIT:.0%}); "
                + why)
        try:
            shown = self.evaluate_formula([round_constants(full, SHOWN_DIGITS)], d.X)[:, 0]
        except (TypeError, ValueError, RecursionError, ZeroDivisionError):
            shown = None
        moved = None if shown is None else ill_conditioned(values, shown)
        if moved is not None:
            return "approximate", (
                f"its constants cancel: rounded to {SHOWN_DIGITS} significant digits the "
                f"formula moves by {moved:.2%} of its spread (ill-conditioned); " + why)
        try:
            rows = d.X[:500]  # the sums' sizes, not a score: a few hundred rows tell
            ratio = cancelling_sum(full, lambda e: self.evaluate_formula([e], rows)[:, 0])
        except (TypeError, ValueError, RecursionError, ZeroDivisionError):
            ratio = None
        if ratio is not None:
            return "approximate", (
                f"its constants cancel: a sum in it has terms {ratio:.3g} times larger than "
                "the sum itself on the data (a small difference of large numbers); " + why)
        regime = self.stand_in(full)
        if regime is not None:
            return "approximate", (
                f"a stand-in: {round_constants(regime, SHOWN_DIGITS)} is in its Taylor regime "
                "on the data (its argument moves so little that a polynomial of degree 2 "
                "matches it within 0.1% of its spread), so the data do not show that "
                "function; " + why)
        return status, why

    def remember_formula(self, result: FormulaResult) -> None:
        """Keep ``result``'s status and scores as the session's formula report (saved in
        the project file) until the model changes."""
        self.formula_report = result.report()

    def _tidy(self, exact: Any, tol: float, digits: int) -> tuple[Any, Any]:
        """(display, full): the formula snapped and rounded to ``digits`` significant
        digits for display, and the same snapped formula with its remaining constants at
        full precision; never far from the exact one.

        Snapping and rounding can change a formula whose constants cancel each other
        (large c times a small a, say); the tidy form is accepted only if it stays within
        1% of the exact formula's spread on the data, else a milder one is used.
        """
        from kanstudio.symbolic.formula import round_constants, tidy_formula

        rows = self.dataset.X[: min(2000, self.dataset.n_samples)]
        reference = self.evaluate_formula([exact], rows)[:, 0]
        unit = _unit(reference)
        with np.errstate(all="ignore"):
            # relative to the formula's own size (no absolute floor: data of 1e-300)
            limit = 1e-2 * max(unit * float(np.std(reference / unit)), 1e-12 * unit)
        candidates = [
            (lambda: tidy_formula(exact, tol=tol, digits=None), digits),
            (lambda: tidy_formula(exact, tol=tol * 1e-3, digits=None), max(digits, 8)),
            (lambda: exact, max(digits, 10)),
        ]
        for make, shown_digits in candidates:
            try:
                full = make()
                expr = round_constants(full, shown_digits)
            except (TypeError, ValueError, RecursionError, ZeroDivisionError):
                continue
            values = self.evaluate_formula([expr], rows)[:, 0]
            with np.errstate(all="ignore"):
                close = np.max(np.abs(values - reference)) <= limit
            if np.all(np.isfinite(values)) and close:
                return expr, full
        return exact, exact

    @staticmethod
    def _missing_inputs(model: KAN, expr: Any, printed: list[str]) -> list[str]:
        """Printed names of inputs the network has active first-layer edges from that do
        not appear in ``expr`` (a formula that silently dropped an input)."""
        net = model.network_
        used = net.layers[0].mask.detach().cpu().numpy().any(axis=1)  # (n_selected,)
        names = {sym.name for sym in expr.free_symbols}
        return [printed[k] for pos, k in enumerate(net.input_ids)
                if used[pos] and printed[k] not in names]

    def _constant_errors(self, full: Any, printed: list[str]) -> list[dict[str, Any]]:
        """Standard errors of ``full``'s free constants on the training rows."""
        import sympy

        from kanstudio.symbolic.export import short_number
        from kanstudio.symbolic.uncertainty import constant_errors, free_constants

        rows = self.train_idx if len(self.train_idx) else self.test_idx
        symbols = [sympy.Symbol(n) for n in printed]
        internal = [sympy.Dummy(n) for n in printed]  # printed names may shadow functions
        body = full.xreplace(dict(zip(symbols, internal, strict=True)))
        out = constant_errors(body, internal, self.dataset.X[rows], self.dataset.y[rows, 0])
        for item, const in zip(out, free_constants(body), strict=True):
            # as the formula reads (to_short_text): "-1500", "0.5", "3.2e-7"; sympy's own
            # text of a 4-digit float is "-1500.", "0.5000", "3.200e-7"
            item["shown"] = short_number(float(const), 4)
        return out

    def margin_points(self, n: int = 2000) -> np.ndarray:
        """(n, n_inputs) seeded points in the box of each input's range widened by
        ``MARGIN`` on both sides (a positive input's stops halfway to 0): where a formula
        must still be defined."""
        X = self.dataset.X
        from kanstudio.session.sampling import box_points, widened_box

        lo, hi = X.min(axis=0), X.max(axis=0)
        lower, upper = widened_box(lo, hi, MARGIN)
        lower = np.where((lo > 0) & (lower < lo / 2), lo / 2, lower)
        inside = box_points(lower, upper, n, np.random.default_rng(12))
        # each input at its extremes too, the others at random inside the box
        ends = inside[: 2 * X.shape[1]].copy()
        for i in range(X.shape[1]):
            ends[2 * i, i], ends[2 * i + 1, i] = lower[i], upper[i]
        return np.concatenate([ends, inside])

    def margin_check(self, exprs: list) -> tuple[bool, str]:
        """(defined, why not): whether ``exprs`` are finite on :meth:`margin_points`."""
        points = self.margin_points()
        values = self.evaluate_formula(exprs, points)
        bad = ~np.all(np.isfinite(values), axis=1)
        if not bad.any():
            return True, ""
        row = points[np.argmax(bad)]
        where = ", ".join(f"{n}={v:.4g}" for n, v in zip(self.dataset.input_names, row,
                                                          strict=True))
        return False, (f"the formula is undefined at {int(bad.sum())} of {len(points)} points "
                       f"within {MARGIN:.0%} of each input's range beyond the data "
                       f"(e.g. {where})")

    def _internal_symbols(self) -> tuple[list, dict]:
        """(the internal symbols, one per input; printed symbol -> internal symbol)."""
        import sympy

        symbols = [sympy.Symbol(n) for n in self.symbols]
        # Printed names (beta, E, sum) could shadow what the generated code calls: evaluate
        # over the safe names. A printed name is never another column's safe name.
        internal = {sympy.Symbol(c): sym for c, sym in zip(self.dataset.input_names, symbols,
                                                             strict=True)
                    if c.isidentifier() and c != sym.name}
        return symbols, internal

    def stand_in(self, expr: Any) -> Any:
        """The first function application in ``expr`` (over the printed or the internal
        names) that is in its Taylor regime on the data (:func:`taylor_regime`), or None."""
        from kanstudio.symbolic.regime import taylor_regime

        symbols, internal = self._internal_symbols()
        return taylor_regime(expr.xreplace(internal), symbols, self.dataset.X[:2000])

    def evaluate_formula(self, exprs: list, X: np.ndarray) -> np.ndarray:
        """The formulas ``exprs`` (sympy, over the columns' printed names or the internal
        :attr:`symbols`) on rows ``X`` ``(n, n_in)`` -> ``(n, len(exprs))``; non-finite
        where a formula is undefined."""
        from kanstudio.symbolic.numeric import evaluate

        symbols, internal = self._internal_symbols()
        return np.stack([evaluate(e.xreplace(internal), symbols, X) for e in exprs], axis=1)
