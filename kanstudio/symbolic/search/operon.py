"""The Operon backend: pyoperon's scikit-learn ``SymbolicRegressor`` (MIT, C++ genetic
programming with local constant optimisation).

It runs NSGA-II on two objectives, R² (with linear scaling, so every candidate carries a
fitted scale and offset) and length, and returns the final non-dominated front. Each model
is read from its node list (postfix, each node's first argument just before it), never from
its printed text: variables carry a weight (``w * x``), constants are the engine's float32
values; the caller refits them in float64.

Optional at run time: when ``pyoperon`` cannot be imported (no wheel for the platform),
:meth:`OperonEngine.available` is False and the search raises
:class:`~kanstudio.symbolic.search.engine.EngineUnavailableError` with install advice.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np

from kanstudio.symbolic.search.engine import EngineUnavailableError, Progress, SearchBudget
from kanstudio.symbolic.search.tree import Tree

__all__ = ["CHUNK_GENERATIONS", "EXACT_REL_MSE", "INSTALL_HINT", "OperonEngine", "operon_tree"]

#: The search runs in chunks of this many generations, each continuing the last one's
#: population; between chunks it reports progress and may be stopped. Fixed, so the work
#: done for a budget never depends on the machine (10 measured as good as one run: exact
#: on 11 of 15 small-law runs against 10 of 15).
CHUNK_GENERATIONS = 10

#: A chunk that ends with a front member whose MSE is at most this share of the target's
#: variance (exact, up to the engine's float32 rounding) is followed by one more chunk (a
#: simpler exact member may still appear), then the search stops: the rest of the budget
#: could only shorten an exact formula further. Decided on the search's own state, never
#: the clock, so a seed still gives the same front.
EXACT_REL_MSE = 1e-10

INSTALL_HINT = (
    "Install it with `pip install pyoperon==0.6.2` (wheels for Linux x86-64 with glibc "
    "2.27+ and macOS 14+ on Apple silicon; 0.6.1 on Windows x86-64). KAN Studio's library "
    "fits work without it."
)

# Our operator names -> Operon's allowed_symbols names (the same words for all we offer).
_SYMBOLS = {name: name for name in (
    "add", "sub", "mul", "div", "pow", "square", "sqrt", "exp", "log", "sin", "cos", "tan",
    "tanh", "sinh", "cosh", "asin", "acos", "atan", "abs")}


def _import() -> tuple[Any, Any]:
    """(pyoperon, pyoperon.sklearn); ImportError when missing or broken."""
    op = importlib.import_module("pyoperon")
    sk = importlib.import_module("pyoperon.sklearn")
    return op, sk


def _unary(name: str):
    return lambda a: [name, a[0]]


def _nary(name: str):
    return lambda a: a[0] if len(a) == 1 else [name, *a]


def _sub(a: list[Tree]) -> Tree:
    if len(a) == 1:
        return ["neg", a[0]]
    return ["sub", a[0], a[1] if len(a) == 2 else ["add", *a[1:]]]


def _div(a: list[Tree]) -> Tree:
    if len(a) == 1:
        return ["div", 1, a[0]]
    return ["div", a[0], a[1] if len(a) == 2 else ["mul", *a[1:]]]


# Operon node type name -> builder from the argument trees (first argument first).
_BUILDERS = {
    "Add": _nary("add"), "Mul": _nary("mul"), "Sub": _sub, "Div": _div,
    "Pow": lambda a: ["pow", a[0], a[1]],
    "Aq": lambda a: ["div", a[0], ["sqrt", ["add", 1, ["square", a[1]]]]],
    "Square": _unary("square"), "Sqrt": _unary("sqrt"), "Exp": _unary("exp"),
    "Log": _unary("log"), "Sin": _unary("sin"), "Cos": _unary("cos"), "Tan": _unary("tan"),
    "Tanh": _unary("tanh"), "Sinh": _unary("sinh"), "Cosh": _unary("cosh"),
    "Asin": _unary("asin"), "Acos": _unary("acos"), "Atan": _unary("atan"),
    "Abs": _unary("abs"),
    "Logabs": lambda a: ["log", ["abs", a[0]]],
    "Sqrtabs": lambda a: ["sqrt", ["abs", a[0]]],
    "Log1p": lambda a: ["log", ["add", 1, a[0]]],
}


def operon_tree(nodes: Any, variable_index: dict[int, int]) -> Tree:
    """Our tree of an Operon model's node list (postfix order).

    ``variable_index`` maps a variable node's hash to its column. Raises ValueError for a
    node type we do not translate (e.g. ``Cbrt``, ``Floor``), so the model is skipped.
    """
    stack: list[Tree] = []
    for node in nodes:
        if node.IsConstant:
            stack.append(float(node.Value))
            continue
        if node.IsVariable:
            var: Tree = ["var", variable_index[node.HashValue]]
            weight = float(node.Value)
            stack.append(var if weight == 1.0 else ["mul", weight, var])
            continue
        kind = str(node.Type).rsplit(".", 1)[-1]
        builder = _BUILDERS.get(kind)
        if builder is None or node.Arity < 1 or node.Arity > len(stack):
            raise ValueError(f"Operon node {kind} (arity {node.Arity}) has no translation")
        # The first argument is the node just before its parent, i.e. the top of the stack.
        args = [stack.pop() for _ in range(node.Arity)]
        stack.append(builder(args))
    if len(stack) != 1:
        raise ValueError(f"malformed Operon model: {len(stack)} roots")
    return stack[0]


class OperonEngine:
    """:class:`~kanstudio.symbolic.search.engine.SearchEngine` backed by pyoperon."""

    name = "operon"

    def available(self) -> bool:
        try:
            _import()
        except ImportError:
            return False
        return True

    def unavailable_error(self) -> EngineUnavailableError:
        try:
            _import()
        except ImportError as exc:
            return EngineUnavailableError(self.name, INSTALL_HINT, str(exc))
        return EngineUnavailableError(self.name, INSTALL_HINT)

    def run(self, x: np.ndarray, y: np.ndarray, budget: SearchBudget,
            operators: tuple[str, ...], seed: int, threads: int,
            progress: Progress | None = None) -> list[Tree]:
        try:
            _, sk = _import()
        except ImportError as exc:
            raise EngineUnavailableError(self.name, INSTALL_HINT, str(exc)) from exc
        symbols = ",".join([*(_SYMBOLS[o] for o in operators), "constant", "variable"])
        total = budget.generations
        regressor = sk.SymbolicRegressor(
            allowed_symbols=symbols,
            objectives=["r2", "length"],  # NSGA-II: a front of accuracy against size
            population_size=budget.population_size,
            pool_size=budget.population_size,
            # the evaluation budget is spread over the chunks like the generations
            max_evaluations=max(1, budget.max_evaluations * CHUNK_GENERATIONS // total),
            max_length=budget.max_length,
            optimizer="lm",
            optimizer_iterations=budget.optimizer_iterations,
            n_threads=threads,
            max_time=None,  # never stop on the clock: same seed, same front
            random_state=int(seed),
        )
        xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        exact_mse = EXACT_REL_MSE * (float(np.var(ys)) or 1.0)
        done, exact = 0, False
        # Always in chunks (never depending on whether anyone watches), so a seed gives the
        # same front with or without a progress callback; each chunk continues the last
        # one's population (warm start).
        while done < total:
            step = min(CHUNK_GENERATIONS, total - done)
            regressor.set_params(generations=step, warm_start=done > 0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                regressor.fit(xs, ys)
            done += step
            if progress is not None and progress(done, total) is False:
                break
            if exact:  # the chunk after the one that found an exact member
                break
            exact = any(m["mean_squared_error"] <= exact_mse for m in regressor.pareto_front_)
        # variables_ maps hash -> name in column order (the dataset's index order).
        variable_index = {h: i for i, h in enumerate(regressor.variables_)}
        trees = []
        for model in regressor.pareto_front_:
            try:
                trees.append(operon_tree(model["tree"].Nodes, variable_index))
            except (ValueError, KeyError):
                continue
        return trees
