"""``kanstudio.KAN``: the engine for notebooks and scripts, with scikit-learn manners.

The constructor only stores its arguments; ``fit`` validates them, builds the network
(``network_``) and trains it. Operations that change the architecture (``prune``,
``refine``) return a new ``KAN``; locking edges changes the model in place, like pykan's
``fix_symbolic``. Symbolic verbs live in :mod:`kanstudio.model.symbolic_verbs` and are mixed in.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from kanstudio import __version__
from kanstudio.core import (
    STEP_EVENTS,
    EdgeCurves,
    KANNetwork,
    PruneReport,
    StateError,
    StepRecord,
    TrainSettings,
    network_from_state,
    network_to_state,
    parse_width,
    resolve_device,
    resolve_dtype,
    train_steps,
)
from kanstudio.core import prune_edge as core_prune_edge
from kanstudio.core import prune_node as core_prune_node
from kanstudio.core import prune_with_report as core_prune_with_report
from kanstudio.defaults import EDGE_THRESHOLD, NODE_THRESHOLD, default_width
from kanstudio.model.archive import (
    ArchiveError,
    arrays_from_bytes,
    arrays_to_bytes,
    load_json,
    read_archive,
    write_archive,
)
from kanstudio.model.node_verbs import NodeLockMixin
from kanstudio.model.symbolic_verbs import SymbolicMixin, run_to_end

__all__ = ["KAN", "ModelFileError"]

MODEL_FORMAT = "kanstudio-model"
MODEL_SCHEMA = 2  # 2: networks may hold product nodes (network state version 2 or 3)
READABLE_SCHEMAS = (1, 2)
REFERENCE_ROWS = 2000


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message says why."""


def _as_2d(name: str, arr: Any) -> np.ndarray:
    try:
        out = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2 or out.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {out.shape}")
    if not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return out


class KAN(SymbolicMixin, NodeLockMixin):
    """A Kolmogorov-Arnold Network.

    Parameters: ``width`` (``[n_in, ..., n_out]``; ``None`` picks ``[n_in, 2 n_in + 1, n_out]``
    at fit time; KAN 2.0 notation: an entry ``[sums, products]`` adds product nodes, so
    ``[2, [0, 1], 1]`` computes ``phi(f(a, b) * g(a, b))``), ``mult_arity`` (how many
    sub-nodes each product node multiplies: an int, or one int per product node; default
    2). Each sub-node is a sum of edges like any node: a layer feeding ``[s, p]`` nodes has
    ``s + p * arity`` edge columns, the ``s`` sums' first, then each product's factors side
    by side; edge ``(layer, i, j)`` addresses column ``j``. The first ``fit`` starts product
    nodes from the data (``KANNetwork.start_products``): all but the last factor of each
    start as the identity of one input, the last at 1, and edges leaving a product node
    start locked to ``x`` (``unlock_edge`` frees them). ``grid`` (intervals G), ``k``
    (spline order), ``seed``, ``device``
    (``auto``/``cpu``/``cuda``/``mps``), ``dtype`` (``float64`` default: formulas need the
    precision; ``float32`` is faster), ``grid_range`` (initial knot range, before the first
    grid update places knots from the data).
    """

    def __init__(
        self,
        width: Sequence[int | Sequence[int]] | None = None,
        grid: int = 5,
        k: int = 3,
        seed: int = 0,
        device: str = "auto",
        dtype: str = "float64",
        grid_range: tuple[float, float] = (-1.0, 1.0),
        mult_arity: int | Sequence[int] | Sequence[Sequence[int]] = 2,
    ) -> None:
        self.width = width
        self.mult_arity = mult_arity
        self.grid = grid
        self.k = k
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.grid_range = grid_range

    # ------------------------------------------------------------------ helpers
    def get_params(self) -> dict[str, Any]:
        return {
            "width": None if self.width is None else _plain(self.width), "grid": self.grid,
            "k": self.k, "seed": self.seed, "device": self.device, "dtype": self.dtype,
            "grid_range": list(self.grid_range), "mult_arity": _plain(self.mult_arity),
        }

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "network_")

    def _check_fitted(self) -> KANNetwork:
        if not self.is_fitted:
            raise RuntimeError("this KAN is not fitted yet: call fit(X, y) first")
        return self.network_

    def _tensor(self, arr: np.ndarray) -> torch.Tensor:
        net = self._check_fitted()
        return torch.as_tensor(arr, dtype=net.dtype, device=net.device)

    def _build(self, n_in: int, n_out: int) -> None:
        if isinstance(self.grid, bool) or not isinstance(self.grid, int) or self.grid < 1:
            raise ValueError(f"grid must be a positive integer, got {self.grid!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 0 <= self.k <= 10:
            raise ValueError(f"k must be an integer in [0, 10], got {self.k!r}")
        width = list(self.width) if self.width is not None else default_width(n_in, n_out)
        nodes = parse_width(width, self.mult_arity).nodes  # ValueError names the problem
        if nodes[0] != n_in:
            raise ValueError(f"width[0]={width[0]} but X has {n_in} columns")
        if nodes[-1] != n_out:
            raise ValueError(f"width[-1]={width[-1]} but y has {n_out} columns")
        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype, device)
        self.network_ = KANNetwork(
            width, self.grid, self.k, self.seed, dtype, tuple(self.grid_range),
            mult_arity=self.mult_arity,
        ).to(device)
        self.history_: list[StepRecord] = []
        self.n_features_in_ = n_in

    def _from_network(self, net: KANNetwork) -> KAN:
        new = KAN(**{**self.get_params(), "width": net.width_notation,
                     "mult_arity": net.mult_arity, "grid": net.grid_size})
        new.network_ = net
        new.history_ = list(self.history_)
        new.n_features_in_ = self.n_features_in_
        new.reference_x_ = self.reference_x_.copy()
        return new

    # ------------------------------------------------------------------ training
    def fit_iter(
        self,
        X: Any,
        y: Any,
        steps: int = 100,
        opt: str = "lbfgs",
        lr: float | None = None,
        lamb: float = 0.0,
        batch_size: int | None = None,
        test_size: float = 0.2,
        X_test: Any = None,
        y_test: Any = None,
        update_grid: bool = True,
        grid_update_every: int = 10,
        stop_grid_update_step: int = 50,
        lamb_entropy: float = 2.0,
    ) -> Iterator[StepRecord]:
        """Like :meth:`fit`, but yields a :class:`StepRecord` after every step.

        Stopping early (closing the iterator) leaves a valid, partly trained model.
        """
        X = _as_2d("X", X)
        y = _as_2d("y", y)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
        if not 0.0 <= test_size < 1.0:
            raise ValueError(f"test_size must be in [0, 1), got {test_size}")
        settings = TrainSettings(
            steps=int(steps), opt=opt, lr=float(lr if lr is not None else
                                                 (1.0 if opt == "lbfgs" else 1e-2)),
            lamb=float(lamb), lamb_entropy=float(lamb_entropy), batch_size=batch_size,
            update_grid=update_grid, grid_update_every=grid_update_every,
            stop_grid_update_step=stop_grid_update_step, seed=self.seed,
        )
        settings.validate()
        fresh = not self.is_fitted
        self._network_for(X, y)
        net = self.network_
        X_tr, y_tr, X_te, y_te = self._split_train_test(X, y, X_test, y_test, test_size)
        self._keep_reference_rows(X_tr)

        def tx(a: np.ndarray) -> torch.Tensor:
            return net.select_inputs(self._tensor(a))

        if fresh and net.has_products:  # product nodes start from the data (README)
            net.start_products(tx(X_tr))

        for record in train_steps(net, tx(X_tr), self._tensor(y_tr), tx(X_te),
                                  self._tensor(y_te), settings):
            self.history_.append(record)
            yield record

    def _network_for(self, X: np.ndarray, y: np.ndarray) -> None:
        """Check X (n, n_in) and y (n, n_out) against the fitted network, or build one."""
        if self.is_fitted:
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} columns; the model was fitted on "
                                 f"{self.n_features_in_}")
            if y.shape[1] != self.network_.width[-1]:
                raise ValueError(f"y has {y.shape[1]} columns; the model has "
                                 f"{self.network_.width[-1]} outputs")
        else:
            self._build(X.shape[1], y.shape[1])

    def _split_train_test(
        self, X: np.ndarray, y: np.ndarray, X_test: Any, y_test: Any, test_size: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(X_train, y_train, X_test, y_test): the given test set, a seeded random
        ``test_size`` share of the rows (with at least 5 rows), or no test rows."""
        if X_test is not None and y_test is not None:
            return X, y, _as_2d("X_test", X_test), _as_2d("y_test", y_test)
        if test_size > 0 and X.shape[0] >= 5:
            rng = np.random.default_rng(self.seed)
            order = rng.permutation(X.shape[0])
            n_test = max(1, int(round(test_size * X.shape[0])))
            return (X[order[n_test:]], y[order[n_test:]],
                    X[order[:n_test]], y[order[:n_test]])
        return X, y, X[:0], y[:0]

    def _keep_reference_rows(self, X_train: np.ndarray) -> None:
        """Keep up to REFERENCE_ROWS training rows (seeded draw, in data order)."""
        rng = np.random.default_rng(self.seed + 1)
        keep = rng.choice(X_train.shape[0], min(REFERENCE_ROWS, X_train.shape[0]),
                          replace=False)
        self.reference_x_ = X_train[np.sort(keep)].copy()

    def fit(self, X: Any, y: Any, steps: int = 100, opt: str = "lbfgs", lamb: float = 0.0,
            callback: Callable[[StepRecord], Any] | None = None, **kwargs: Any) -> KAN:
        """Train on X (n, n_in) and y (n,) or (n, n_out); continue if already fitted.

        Other keyword arguments: ``lr``, ``batch_size``, ``test_size`` (0.2), ``X_test``,
        ``y_test``, ``update_grid``, ``grid_update_every``, ``stop_grid_update_step``,
        ``lamb_entropy``. ``callback(record)`` is called after every step.
        """
        for record in self.fit_iter(X, y, steps=steps, opt=opt, lamb=lamb, **kwargs):
            if callback is not None:
                callback(record)
        return self

    # ------------------------------------------------------------------ prediction
    def predict(self, X: Any, batch_size: int = 65536) -> np.ndarray:
        """X (n, n_features_in_) -> (n, n_out) as float64."""
        net = self._check_fitted()
        X = _as_2d("X", X)
        out = []
        with torch.no_grad():
            for s in range(0, X.shape[0], batch_size):
                xb = net.select_inputs(self._tensor(X[s : s + batch_size]))
                out.append(net(xb).double().cpu().numpy())
        return np.concatenate(out, axis=0)

    def reference_inputs(self) -> torch.Tensor:
        """The stored reference rows (``(n, n_in)`` on the model's device) that pruning
        scores and edge curves are computed on."""
        net = self._check_fitted()
        return net.select_inputs(self._tensor(self.reference_x_))

    # ------------------------------------------------------------------ structure
    @property
    def width_(self) -> list[int | list[int]]:
        """The fitted architecture in KAN 2.0 notation: an int per level, or
        ``[sums, products]`` for a level with product nodes."""
        return self._check_fitted().width_notation

    @property
    def mult_arity_(self) -> list[list[int]]:
        """The arity of every product node, one list per level."""
        return [list(a) for a in self._check_fitted().mult_arity]

    @property
    def input_ids_(self) -> list[int]:
        """Which original input columns the (possibly pruned) network still uses."""
        return list(self._check_fitted().input_ids)

    def n_parameters(self) -> int:
        return self._check_fitted().n_parameters()

    def scores(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(edge scores per layer (n_in, n_out), node scores per level) on reference data."""
        return self._check_fitted().scores(self.reference_inputs())

    def edge_curves(self, n_points: int = 64) -> EdgeCurves:
        """Every edge's sampled curve on the range its input node sees (float32 arrays)."""
        return self._check_fitted().edge_curves(n_points)

    def prune(self, node_threshold: float = NODE_THRESHOLD,
              edge_threshold: float = EDGE_THRESHOLD) -> KAN:
        """A new, smaller KAN without edges/nodes whose attribution is under the thresholds."""
        return self.prune_with_report(node_threshold, edge_threshold)[0]

    def prune_with_report(self, node_threshold: float = NODE_THRESHOLD,
                          edge_threshold: float = EDGE_THRESHOLD) -> tuple[KAN, PruneReport]:
        """:meth:`prune`, and what it removed (edges and nodes in this model's addresses):
        a preview of a prune is this, with the new KAN thrown away."""
        net, report = core_prune_with_report(self._check_fitted(), self.reference_inputs(),
                                             node_threshold, edge_threshold)
        return self._from_network(net), report

    def prune_node(self, layer: int, i: int) -> KAN:
        """A new KAN without node ``i`` of level ``layer`` (0 = inputs; outputs excluded)."""
        net = self._check_fitted()
        return self._from_network(core_prune_node(net, layer, i, self.reference_inputs()))

    def prune_edge(self, layer: int, i: int, j: int) -> KAN:
        """A new KAN without edge ``(layer, i, j)``; its mean value moves into the bias."""
        net = self._check_fitted()
        return self._from_network(core_prune_edge(net, layer, i, j, self.reference_inputs()))

    def refine(self, grid: int) -> KAN:
        """A new KAN with ``grid`` intervals per edge, fitted to the current curves."""
        return run_to_end(self.refine_iter(grid))

    def refine_iter(self, grid: int) -> Generator[tuple[int, int], None, KAN]:
        """:meth:`refine` one layer at a time: yields (layers done, layers) after each and
        returns the new KAN; this model is never changed, so stopping early costs nothing."""
        grid = int(grid)
        if grid < 1:
            raise ValueError(f"grid must be >= 1, got {grid}")
        net = copy.deepcopy(self._check_fitted())
        # Knots are placed from the inputs the unrefined network gives each layer.
        inputs = net.layer_inputs(self.reference_inputs())
        for done, (layer, xi) in enumerate(zip(net.layers, inputs, strict=True), start=1):
            with torch.no_grad():  # not around the yield: grad mode is per thread
                layer.refine(grid, xi)
            yield done, len(net.layers)
        return self._from_network(net)

    def copy(self) -> KAN:
        return copy.deepcopy(self)

    # ------------------------------------------------------------------ files
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able description, arrays): everything needed to rebuild this model."""
        desc, arrays = network_to_state(self._check_fitted())
        arrays = {f"network.{k}": v for k, v in arrays.items()}
        arrays["reference_x"] = self.reference_x_.astype(np.float64)
        arrays["history"] = _history_to_array(self.history_)
        return {"params": self.get_params(), "network": desc,
                "n_features_in": self.n_features_in_}, arrays

    @classmethod
    def from_state(cls, desc: Any, arrays: dict[str, np.ndarray], device: str = "auto") -> KAN:
        from kanstudio.symbolic.expression_lock import lock_function, node_lock_function

        if not isinstance(desc, dict) or not isinstance(desc.get("params"), dict):
            raise StateError("model description must be an object with 'params'")
        p = desc["params"]
        net_arrays = {k[len("network."):]: v for k, v in arrays.items()
                      if k.startswith("network.")}

        def resolve(name: str):
            return lock_function(name).torch_fn

        net = network_from_state(desc.get("network"), net_arrays, resolve, node_lock_function)
        ref = arrays.get("reference_x")
        if (not isinstance(ref, np.ndarray) or ref.ndim != 2 or ref.dtype.kind != "f"
                or ref.shape[0] < 1 or ref.shape[1] != net.n_features_in
                or not np.isfinite(ref).all()):
            raise StateError("reference_x must be a finite float (rows, n_features_in) array")
        grid_range = p.get("grid_range", [-1.0, 1.0])
        if not (isinstance(grid_range, list) and len(grid_range) == 2
                and all(isinstance(v, (int, float)) for v in grid_range)):
            raise StateError("params.grid_range must be two numbers")
        model = cls(width=net.width_notation, mult_arity=net.mult_arity,
                    grid=net.grid_size, k=net.k,
                    seed=p.get("seed", 0) if isinstance(p.get("seed", 0), int) else 0,
                    device=device, dtype="float64" if net.dtype == torch.float64 else "float32",
                    grid_range=(float(grid_range[0]), float(grid_range[1])))
        dev = resolve_device(device)
        model.network_ = net.to(dev)
        model.n_features_in_ = net.n_features_in
        model.reference_x_ = np.array(ref, dtype=np.float64)
        model.history_ = _history_from_array(arrays.get("history"))
        return model

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (zip of JSON + arrays; atomic)."""
        desc, arrays = self.to_state()
        manifest = {"format": MODEL_FORMAT, "schema_version": MODEL_SCHEMA,
                    "app_version": __version__}
        write_archive(path, {"manifest.json": manifest, "model.json": desc},
                      {"arrays.npz": arrays_to_bytes(arrays)})

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "auto") -> KAN:
        """Read a model written by :meth:`save`; refuses anything else with ModelFileError."""
        try:
            members = read_archive(path, {"manifest.json", "model.json", "arrays.npz"},
                                   required={"manifest.json", "model.json", "arrays.npz"})
            manifest = load_json(members["manifest.json"], "manifest.json")
            if not isinstance(manifest, dict) or manifest.get("format") != MODEL_FORMAT:
                raise ModelFileError("not a KAN Studio model file")
            if manifest.get("schema_version") not in READABLE_SCHEMAS:
                raise ModelFileError(
                    f"model file schema {manifest.get('schema_version')!r} is not supported "
                    f"by this version ({__version__}); it reads schema {MODEL_SCHEMA}")
            desc = load_json(members["model.json"], "model.json")
            arrays = arrays_from_bytes(members["arrays.npz"])
            return cls.from_state(desc, arrays, device=device)
        except (ArchiveError, StateError) as exc:
            raise ModelFileError(str(exc)) from exc


# The training history in a saved model: one row per step, these columns; the event as its
# index in HISTORY_EVENTS (files written before the history was saved simply lack it).
HISTORY_COLUMNS = ("step", "train_loss", "test_loss", "reg", "lr", "event")
HISTORY_EVENTS = STEP_EVENTS


def _plain(value: Any) -> Any:
    """A width or arity as plain JSON-able lists of ints (numpy ints and tuples too)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return int(value) if isinstance(value, (int, np.integer)) else value


def _history_to_array(records: Sequence[StepRecord]) -> np.ndarray:
    rows = [(r.step, r.train_loss, r.test_loss, r.reg, r.lr,
             HISTORY_EVENTS.index(r.event) if r.event in HISTORY_EVENTS else 0)
            for r in records]
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(HISTORY_COLUMNS))


def _history_from_array(table: Any) -> list[StepRecord]:
    if table is None:
        return []
    if (not isinstance(table, np.ndarray) or table.dtype.kind != "f" or table.ndim != 2
            or table.shape[1] != len(HISTORY_COLUMNS)):
        raise StateError(f"history must be a float (steps, {len(HISTORY_COLUMNS)}) array")
    steps, codes = table[:, 0], table[:, 5]
    if not (np.isfinite(steps).all() and np.isfinite(codes).all()):
        raise StateError("history: step numbers and events must be finite")
    return [StepRecord(int(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]),
                       HISTORY_EVENTS[int(row[5])] if 0 <= row[5] < len(HISTORY_EVENTS)
                       else "")
            for row in table]
