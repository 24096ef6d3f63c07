"""What every search engine shares: the work budget, the operator vocabulary, the error for
a missing engine, and the registry that picks one.

An engine is anything with the :class:`SearchEngine` shape. It receives validated arrays and
returns candidate expressions as trees (:mod:`kanstudio.symbolic.search.tree`) over the
variable indices; :func:`kanstudio.symbolic.search.search` does everything after that
(float64 constants, snapping, scoring, the Pareto front), so results mean the same whichever
engine produced them and nothing outside this package needs to know which one ran.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np

from kanstudio.symbolic.search.tree import Tree

__all__ = [
    "BUDGETS",
    "DEFAULT_OPERATORS",
    "OPERATORS",
    "EngineUnavailableError",
    "Progress",
    "SearchBudget",
    "SearchEngine",
    "resolve_budget",
    "resolve_operators",
]

#: Operators a search may use (the tree's names). ``add`` and ``mul`` are always on.
OPERATORS = ("add", "sub", "mul", "div", "pow", "square", "sqrt", "exp", "log", "sin",
             "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan", "abs")
#: The default set: arithmetic and the functions of most physical laws; no ``pow`` (a
#: free power of a subtree makes fronts harder to read and is rarely needed next to square
#: and sqrt), no trig inverses or hyperbolics (ask for them).
DEFAULT_OPERATORS = ("add", "sub", "mul", "div", "square", "sqrt", "exp", "log", "sin", "cos")


@dataclass(frozen=True)
class SearchBudget:
    """How much work one search may do. Counted in work, never seconds, so the same seed
    gives the same front on a busy machine or a fast one.

    Attributes:
        generations: most generations of the evolutionary search.
        population_size: candidate expressions per generation.
        max_evaluations: most fitness evaluations (stops earlier than ``generations`` when
            reached; spread evenly over the engine's chunks of generations).
        max_length: most nodes in one candidate, in the engine's own count.
        optimizer_iterations: local constant-optimisation steps per candidate.
        max_rows: rows the engine sees (a seeded subsample when there are more); results
            are scored on every row.
    """

    generations: int = 100
    population_size: int = 500
    max_evaluations: int = 2_000_000
    max_length: int = 25
    optimizer_iterations: int = 10
    max_rows: int = 1000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"SearchBudget.{f.name} must be a positive int, got {value!r}")


#: Named budgets. CPU seconds of one search on one thread of this project's 2-core
#: machine (bench/symbolic_search.py, five small laws): small 0.6-2 s, medium 3-9 s. Population
#: size matters more than generations for exact recovery (pop 100 x 300 generations found
#: sqrt(x^2 + 1) once in 4 seeds, pop 300 x 100 three times, pop 1000 x 100 four times).
BUDGETS = {
    "small": SearchBudget(generations=50, population_size=200, max_evaluations=500_000,
                          max_length=20, max_rows=500),
    "medium": SearchBudget(),
    "large": SearchBudget(generations=300, population_size=1000, max_evaluations=10_000_000,
                          max_length=30, max_rows=2000),
}


def resolve_budget(budget: SearchBudget | str) -> SearchBudget:
    if isinstance(budget, SearchBudget):
        return budget
    if isinstance(budget, str) and budget in BUDGETS:
        return BUDGETS[budget]
    raise ValueError(f"budget must be a SearchBudget or one of {sorted(BUDGETS)}, "
                     f"got {budget!r}")


def resolve_operators(operators: Sequence[str] | None) -> tuple[str, ...]:
    if operators is None:
        return DEFAULT_OPERATORS
    if isinstance(operators, str):
        operators = [o.strip() for o in operators.split(",") if o.strip()]
    unknown = [o for o in operators if o not in OPERATORS]
    if unknown:
        raise ValueError(f"unknown operator(s) {unknown}; choose from {', '.join(OPERATORS)}")
    return tuple(dict.fromkeys(("add", "mul", *operators)))


#: ``progress(done, total)`` in generations, called between chunks of the search; returning
#: False stops it there (the front found so far is still returned).
Progress = Callable[[int, int], "bool | None"]


class EngineUnavailableError(RuntimeError):
    """The search engine cannot be imported here; the message says how to install it.

    The rest of the symbolic layer (library fits, trees, the parser) works without it.
    """

    def __init__(self, engine: str, hint: str, cause: str = ""):
        self.engine = engine
        self.hint = hint
        because = f" ({cause})" if cause else ""
        super().__init__(f"symbolic search engine {engine!r} is not available{because}. "
                         f"{hint}")


class SearchEngine(Protocol):
    """A backend for :func:`kanstudio.symbolic.search.search`."""

    name: str

    def available(self) -> bool:
        """Whether the engine can run here (its package imports)."""

    def unavailable_error(self) -> EngineUnavailableError:
        """The error to raise when it cannot, with how to install it."""

    def run(self, x: np.ndarray, y: np.ndarray, budget: SearchBudget,
            operators: tuple[str, ...], seed: int, threads: int,
            progress: Progress | None = None) -> list[Tree]:
        """Candidate expressions as trees over ``["var", i]`` (columns of ``x``).

        ``x`` (n, d) and ``y`` (n,) are finite float64; the same arguments must give the
        same list, with or without ``progress``. Trees may hold any operator of the tree
        grammar.
        """
