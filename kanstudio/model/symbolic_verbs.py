"""The symbolic verbs of :class:`kanstudio.KAN`: suggest, lock, unlock, auto-symbolic, formula.

Kept apart from :mod:`kanstudio.model.kan` so that each file holds one concern; the mixin uses
only ``network_``, ``reference_x_`` and ``n_features_in_`` of the model.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy
import torch

__all__ = ["SymbolicMixin", "AutoSymbolicResult", "run_to_end", "expression_lock_name",
           "SEARCH_MARGIN", "SEARCH_POINTS"]

#: An edge's curve is searched on the range of its inputs widened by this share of it on
#: each side: a formula that fits only where the data are but turns away just beyond is
#: not what the edge says.
SEARCH_MARGIN = 0.1
#: Points of an edge's curve the search sees (evenly spread: every part counts the same).
SEARCH_POINTS = 256


def expression_lock_name(expression: Any) -> str:
    """The lock name of a search result, a one-variable tree or a formula in ``x`` (text,
    parsed without eval); ValueError says why one is refused."""
    from kanstudio.symbolic.expression_lock import (
        expression_name,
        expression_tree,
        is_expression_name,
    )
    from kanstudio.symbolic.search import parse_tree

    if is_expression_name(expression):
        expression_tree(expression)  # refuses a broken name
        return expression
    tree = getattr(expression, "tree", expression)
    names = getattr(expression, "names", ("x",))
    if len(names) != 1:
        raise ValueError(f"an edge takes an expression of one variable, got {list(names)}")
    if isinstance(tree, str):
        tree = parse_tree(tree, ["x"])
    return expression_name(tree)


def run_to_end(steps: Generator[Any, Any, Any]) -> Any:
    """Exhaust a step generator (the ``*_iter`` verbs) and return what it returns."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


@dataclass(frozen=True)
class AutoSymbolicResult:
    """What auto_symbolic did with one edge ``(layer, i, j)``."""

    edge: tuple[int, int, int]
    locked: bool
    name: str  # the best candidate's function ('' when nothing could be fitted)
    r2: float
    reason: str = ""


class SymbolicMixin:
    # ------------------------------------------------------------------ edge data
    def edge_samples(self, layer: int, i: int, j: int,
                     current: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The inputs edge ``(layer, i, j)`` sees on the reference rows and its numeric
        (spline) curve there: two (n,) float64 arrays, sorted by x. With ``current`` the
        curve is what the edge computes now: its function when it is locked."""
        net = self._check_fitted()
        if not 0 <= layer < len(net.layers):
            raise IndexError(f"layer {layer} does not exist in width {net.width}")
        lay = net.layers[layer]
        lay.check_edge(i, j)
        with torch.no_grad():
            xi = net.layer_inputs(self.reference_inputs())[layer]
            if current:
                y = lay.edge_activations(xi)[:, i, j]  # (batch,)
            else:
                spline = lay.spline_values(xi)[:, i, j]
                y = (lay.scale_spline[i, j] * spline
                     + lay.scale_base[i, j] * torch.nn.functional.silu(xi[:, i]))
        x = xi[:, i].double().cpu().numpy()
        y = y.double().cpu().numpy()
        order = np.argsort(x, kind="stable")
        return x[order], y[order]

    def suggest_symbolic(
        self,
        layer: int,
        i: int,
        j: int,
        functions: Iterable[str] | None = None,
        simplicity_weight: float = 0.8,
        top_k: int | None = None,
    ) -> list:
        """Candidates ``c*f(a*x+b)+d`` for the edge's current curve, best first: its spline,
        or its locked function when it is locked (the spline under a lock is stale).

        Each candidate (a ``SymbolicFit``) carries ``name``, ``r2``, ``complexity``,
        ``a, b, c, d`` and ``expression(x)``; failed fits come last with ``ok=False``.
        """
        from kanstudio.symbolic.fitting import suggest_symbolic

        locked = (layer, i, j) in self.locked_edges()
        x, y = self.edge_samples(layer, i, j, current=locked)
        return suggest_symbolic(x, y, functions, simplicity_weight=simplicity_weight,
                                top_k=top_k)

    def lock_edge(
        self,
        layer: int,
        i: int,
        j: int,
        name: str,
        params: Sequence[float] | None = None,
    ):
        """Lock edge ``(layer, i, j)`` to library function ``name``, or to a searched
        expression by its lock name (:meth:`lock_expression` makes one).

        Without ``params`` the function is fitted to the edge's current curve (its locked
        function when it is locked already) and the fit (a ``SymbolicFit``) is returned;
        for an expression only the scale ``c`` and offset ``d`` are fitted (``a = 1``,
        ``b = 0``). ``a, b, c, d`` stay trainable.
        """
        from kanstudio.symbolic.expression_lock import is_expression_name, lock_function
        from kanstudio.symbolic.fitting import fit_function, fit_scale

        net = self._check_fitted()
        fn = lock_function(name)
        fit = None
        if params is None:
            locked = (layer, i, j) in self.locked_edges()
            x, y = self.edge_samples(layer, i, j, current=locked)
            # an expression brings its own constants: only the scale and offset are fitted
            fit = fit_scale(x, y, fn) if is_expression_name(name) else fit_function(x, y, fn)
            if not fit.ok:
                raise ValueError(f"cannot lock edge ({layer}, {i}, {j}) to {fn.label}: "
                                 f"{fit.reason}")
            params = (fit.a, fit.b, fit.c, fit.d)
        values = tuple(float(v) for v in params)
        if len(values) != 4 or not all(np.isfinite(values)):
            raise ValueError(f"params must be four finite numbers (a, b, c, d), got {params}")
        net.layers[layer].lock_edge(i, j, fn.name, fn.torch_fn, values)
        return fit

    def lock_expression(self, layer: int, i: int, j: int, expression: Any,
                        params: Sequence[float] | None = None):
        """Lock edge ``(layer, i, j)`` to any expression of one variable: a search result
        (``kanstudio.symbolic.search.SearchResult``), its tree (``["sin", ["var", 0]]``)
        or a formula in ``x`` as text (``"x**2 + sin(2*x)"``, read by our own parser,
        never evaluated). Computes ``c·f(a·x + b) + d`` like a library lock (see
        :meth:`lock_edge`); returns the fit of ``c, d`` when ``params`` is None."""
        return self.lock_edge(layer, i, j, expression_lock_name(expression), params)

    def search_edge(self, layer: int, i: int, j: int, budget: Any = "small", seed: int = 0,
                    threads: int = 1, margin: float = SEARCH_MARGIN,
                    progress: Any = None) -> list:
        """Search expressions for the edge's current curve (the symbolic search engine;
        optional, ``EngineUnavailableError`` when it cannot run here): the front of
        ``SearchResult`` s over ``x``, simplest first. The curve is sampled from the
        network at :data:`SEARCH_POINTS` points spread evenly over the inputs the edge sees
        on the reference rows, widened by ``margin`` of their range on each side.
        ``progress(done, total)`` as in ``kanstudio.symbolic.search.search``."""
        from kanstudio.symbolic.search import search_curve

        x, y = self.edge_curve_on_range(layer, i, j, margin)
        return search_curve(x, y, budget=budget, seed=seed, threads=threads, name="x",
                            progress=progress)

    def edge_curve_on_range(self, layer: int, i: int, j: int,
                            margin: float = SEARCH_MARGIN,
                            n_points: int = SEARCH_POINTS) -> tuple[np.ndarray, np.ndarray]:
        """What edge ``(layer, i, j)`` computes now at ``n_points`` even points over the
        range of its inputs on the reference rows, ``margin`` of that range wider on each
        side: two (n,) float64 arrays. ValueError when the curve is not finite there."""
        x_data, _ = self.edge_samples(layer, i, j)
        lo, hi = float(x_data[0]), float(x_data[-1])
        span = hi - lo if hi > lo else max(abs(lo), 1.0)
        x = np.linspace(lo - margin * span, hi + margin * span, int(n_points))
        net = self._check_fitted()
        lay = net.layers[layer]
        with torch.no_grad():
            inputs = torch.zeros(len(x), lay.n_in, dtype=net.dtype, device=net.device)
            inputs[:, i] = torch.as_tensor(x, dtype=net.dtype, device=net.device)
            y = lay.edge_activations(inputs)[:, i, j].double().cpu().numpy()
        if not np.all(np.isfinite(y)):
            raise ValueError(f"edge ({layer}, {i}, {j}) is not finite on its input range")
        return x, y

    def unlock_edge(self, layer: int, i: int, j: int) -> None:
        """Return edge ``(layer, i, j)`` to its numeric spline."""
        net = self._check_fitted()
        net.layers[layer].unlock_edge(i, j)

    def locked_edges(self) -> dict[tuple[int, int, int], str]:
        net = self._check_fitted()
        return {(idx, i, j): name for idx, lay in enumerate(net.layers)
                for (i, j), name in lay.symbolic_names.items()}

    def active_edges(self) -> list[tuple[int, int, int]]:
        net = self._check_fitted()
        return [(idx, i, j) for idx, lay in enumerate(net.layers)
                for i, j in lay.mask.nonzero().tolist()]

    def auto_symbolic(
        self,
        r2_threshold: float = 0.99,
        functions: Iterable[str] | None = None,
        simplicity_weight: float = 0.8,
        relock: bool = False,
    ) -> list[AutoSymbolicResult]:
        """Lock every active numeric edge whose best candidate reaches ``r2_threshold``.

        Edges already locked are left alone unless ``relock``. Returns one result per
        active edge, saying what was locked and why others stayed numeric.
        """
        return run_to_end(self.auto_symbolic_iter(r2_threshold, functions, simplicity_weight,
                                                  relock))

    def auto_symbolic_iter(
        self,
        r2_threshold: float = 0.99,
        functions: Iterable[str] | None = None,
        simplicity_weight: float = 0.8,
        relock: bool = False,
    ) -> Generator[tuple[int, int, AutoSymbolicResult], None, list[AutoSymbolicResult]]:
        """:meth:`auto_symbolic` one edge at a time: yields (edges done, edges, result)
        after each edge and returns every result. Edges are locked as they go (a later
        edge is fitted to the inputs the earlier locks give it)."""
        fn_list = None if functions is None else list(functions)
        locked = self.locked_edges()
        edges = self.active_edges()
        results = []
        for done, edge in enumerate(edges, start=1):
            if edge in locked and not relock:
                result = AutoSymbolicResult(edge, True, locked[edge], float("nan"),
                                            "already locked")
            else:
                result = self._auto_symbolic_edge(edge, r2_threshold, fn_list,
                                                  simplicity_weight)
            results.append(result)
            yield done, len(edges), result
        return results

    def _auto_symbolic_edge(self, edge: tuple[int, int, int], r2_threshold: float,
                            functions: list[str] | None,
                            simplicity_weight: float) -> AutoSymbolicResult:
        from kanstudio.symbolic.fitting import suggest_symbolic

        # a locked edge (relock) is refitted to the curve it has now, not its old spline
        x, y = self.edge_samples(*edge, current=edge in self.locked_edges())
        cands = [c for c in suggest_symbolic(x, y, functions,
                                             simplicity_weight=simplicity_weight) if c.ok]
        if not cands:
            return AutoSymbolicResult(edge, False, "", float("nan"),
                                      "no function could be fitted")
        best = cands[0]
        if best.r2 < r2_threshold:
            return AutoSymbolicResult(
                edge, False, best.name, best.r2,
                f"best fit {best.name} has R²={best.r2:.4f} < {r2_threshold}")
        self.lock_edge(*edge, best.name, (best.a, best.b, best.c, best.d))
        return AutoSymbolicResult(edge, True, best.name, best.r2)

    # ------------------------------------------------------------------ formula
    def _names(self, names: Sequence[str] | None) -> list[str]:
        n = self.n_features_in_
        if names is None:
            return [f"x{i + 1}" for i in range(n)]
        names = [str(v) for v in names]
        if len(names) != n:
            raise ValueError(f"names must list {n} input names, got {len(names)}")
        return names

    def formulas(self, names: Sequence[str] | None = None, numeric: str = "error",
                 tidy: bool = True, tol: float = 1e-3, digits: int = 4) -> list[sympy.Expr]:
        """One expression per output. ``tidy`` snaps constants within ``tol`` of simple
        ones (integers, fractions, pi, ...) and simplifies; ``tidy=False`` gives the exact
        expression of the network at full precision."""
        from kanstudio.symbolic.formula import network_formulas, tidy_formula

        exprs = network_formulas(self._check_fitted(), self._names(names), numeric)
        if tidy:
            exprs = [tidy_formula(e, tol=tol, digits=digits) for e in exprs]
        return exprs

    def formula(self, names: Sequence[str] | None = None, output: int = 0, **kwargs):
        """The formula of output ``output`` as a sympy expression over ``names``."""
        exprs = self.formulas(names, **kwargs)
        if not 0 <= output < len(exprs):
            raise IndexError(f"output {output} does not exist ({len(exprs)} outputs)")
        return exprs[output]
