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
import math
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from kanstudio.core import StepRecord, parse_width
from kanstudio.data import Dataset, Scaler, safe_symbol_names, train_test_split
from kanstudio.defaults import EDGE_THRESHOLD, NODE_THRESHOLD, default_width
from kanstudio.model.kan import KAN
from kanstudio.model.symbolic_verbs import run_to_end

__all__ = ["Session", "SessionSettings", "SessionError", "FormulaResult"]

MAX_UNDO = 50


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
    input_names: list[str]
    target_names: list[str]
    formula_test_rmse: float
    formula_test_r2: float
    network_test_rmse: float
    network_test_r2: float
    max_rel_diff_exact: float  # exact formula vs network on the data (should be ~1e-12)


def _unit(*arrays: np.ndarray) -> float:
    """A power of two within a factor 2 of the arrays' largest finite magnitude: sums of
    squares of ``values / unit`` cannot overflow, and dividing by it is exact."""
    peak = max((float(np.max(np.abs(a[np.isfinite(a)]), initial=0.0)) for a in arrays),
               default=0.0)
    return math.ldexp(1.0, math.frexp(peak)[1] - 1) if peak > 0 else 1.0


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        unit = _unit(y)
        y, pred = y / unit, pred / unit  # R² is scale free; this keeps ±1e308 data finite
        ss_res = float(np.sum((y - pred) ** 2))
        ss_tot = float(np.sum((y - y.mean(0)) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    if not y.size:
        return float("nan")
    with np.errstate(over="ignore", invalid="ignore"):
        unit = _unit(y, pred)
        return unit * float(np.sqrt(np.mean((y / unit - pred / unit) ** 2)))


class Session:
    def __init__(self, dataset: Dataset, settings: SessionSettings | None = None) -> None:
        self.dataset = dataset
        self.settings = settings or SessionSettings()
        self.model: KAN | None = None
        self.history: list[dict[str, Any]] = []
        self._undo: list[tuple[str, KAN | None]] = []
        self._redo: list[tuple[str, KAN | None]] = []
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

    def scaled(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.dataset
        return self.x_scaler.transform(d.X[rows]), self.y_scaler.transform(d.y[rows])

    def default_width(self) -> list[int]:
        n_in, n_out = self.dataset.n_inputs, self.dataset.n_outputs
        return default_width(n_in, n_out)

    # ------------------------------------------------------------------ undo
    def _checkpoint(self, label: str) -> None:
        self._undo.append((label, copy.deepcopy(self.model)))
        del self._undo[:-MAX_UNDO]
        self._redo.clear()

    def _record(self, op: str, **info: Any) -> None:
        self.history.append({"op": op, "time": time.time(), **info})

    def adopt_model(self, model: KAN, what: str) -> None:
        """Make ``model`` (a copy of it) the current one, as one undo step named ``what``."""
        self._checkpoint(f"adopt {what}")
        self.model = copy.deepcopy(model)
        self._record("adopt", what=what)

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
        label, model = source.pop()
        target.append((label, self.model))
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
        """Prune; returns the width and test RMSE (original units) before and after."""
        model = self._need_model()
        before = self.metrics()
        self._checkpoint("prune")
        self.model = model.prune(node_threshold, edge_threshold)
        after = self.metrics()
        info = {"width_before": model.width_, "width_after": self.model.width_,
                "test_rmse_before": before["test_rmse"], "test_rmse_after": after["test_rmse"]}
        self._record("prune", node_threshold=node_threshold, edge_threshold=edge_threshold,
                     **info)
        return info

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

    def lock(self, layer: int, i: int, j: int, name: str) -> Any:
        model = self._need_model()
        self._checkpoint(f"lock ({layer}, {i}, {j}) to {name}")
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
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Network predictions in original units for original-unit inputs (n, n_inputs)."""
        model = self._need_model()
        return self.y_scaler.inverse_transform(model.predict(self.x_scaler.transform(X)))

    def metrics(self) -> dict[str, float]:
        d = self.dataset
        out = {}
        for name, rows in (("train", self.train_idx), ("test", self.test_idx)):
            if len(rows) == 0:
                out[f"{name}_rmse"] = out[f"{name}_r2"] = float("nan")
                continue
            pred = self.predict(d.X[rows])
            out[f"{name}_rmse"] = _rmse(d.y[rows], pred)
            out[f"{name}_r2"] = _r2(d.y[rows], pred)
        return out

    def formula(self, numeric: str = "error", tol: float = 1e-3, digits: int = 4
                ) -> FormulaResult:
        """The model's formula in the CSV's units, verified against the network."""
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
        d = self.dataset
        tidy = [self._tidy(e, tol, digits) for e in exact]
        te = self.test_idx if len(self.test_idx) else self.train_idx
        f_exact = self.evaluate_formula(exact, d.X)
        net_all = self.predict(d.X)
        rel = float(np.max(np.abs(f_exact - net_all)) / max(np.max(np.abs(net_all)), 1e-12))
        f_tidy = self.evaluate_formula(tidy, d.X[te])
        net_te = net_all[te]
        return FormulaResult(
            expressions=tidy, exact=exact, input_names=list(self.symbols),
            target_names=list(safe_symbol_names(d.target_names)),
            formula_test_rmse=_rmse(d.y[te], f_tidy), formula_test_r2=_r2(d.y[te], f_tidy),
            network_test_rmse=_rmse(d.y[te], net_te), network_test_r2=_r2(d.y[te], net_te),
            max_rel_diff_exact=rel,
        )

    def _tidy(self, exact: Any, tol: float, digits: int) -> Any:
        """The display formula: snapped and rounded, but never far from the exact one.

        Snapping and rounding can change a formula whose constants cancel each other
        (large c times a small a, say); the tidy form is accepted only if it stays within
        1% of the exact formula's spread on the data, else a milder one is used.
        """
        from kanstudio.symbolic.formula import round_constants, tidy_formula

        rows = self.dataset.X[: min(2000, self.dataset.n_samples)]
        reference = self.evaluate_formula([exact], rows)[:, 0]
        unit = _unit(reference)
        with np.errstate(over="ignore", invalid="ignore"):
            limit = 1e-2 * max(unit * float(np.std(reference / unit)), 1e-12)
        candidates = [
            lambda: tidy_formula(exact, tol=tol, digits=digits),
            lambda: tidy_formula(exact, tol=tol * 1e-3, digits=max(digits, 8)),
            lambda: round_constants(exact, max(digits, 10)),
        ]
        for make in candidates:
            try:
                expr = make()
            except (TypeError, ValueError, RecursionError, ZeroDivisionError):
                continue
            values = self.evaluate_formula([expr], rows)[:, 0]
            if np.all(np.isfinite(values)) and np.max(np.abs(values - reference)) <= limit:
                return expr
        return exact

    def evaluate_formula(self, exprs: list, X: np.ndarray) -> np.ndarray:
        """The formulas ``exprs`` (sympy, in :attr:`symbols`) on rows ``X`` ``(n, n_in)``
        -> ``(n, len(exprs))``; non-finite where a formula is undefined."""
        import sympy

        symbols = [sympy.Symbol(n) for n in self.symbols]
        cols = []
        for e in exprs:
            fn = sympy.lambdify(symbols, e, modules="numpy")
            with np.errstate(all="ignore"):
                v = fn(*[X[:, i] for i in range(X.shape[1])])
            cols.append(np.broadcast_to(np.asarray(v, dtype=np.float64), (X.shape[0],)))
        return np.stack(cols, axis=1)
