"""Symbolic search: a real search over expressions where the function library runs out.

(Not to be confused with ``kanstudio.symbolic._search``, the grid search inside one library
fit ``c·f(a·x + b) + d``.)

One engine-neutral entry point, :func:`search` (and :func:`search_curve` for an edge's 1-D
curve), returns an accuracy-complexity front of :class:`SearchResult` s, simplest first:
a sympy expression in the caller's names, a JSON-safe tree, complexity, MSE and R². The
engine today is Operon (``pyoperon``, optional); :func:`available` says whether it can run.
Budgets count work (generations, evaluations), never seconds: one seed, one front.

Stored expressions are trees (:func:`to_tree` / :func:`from_tree` / :func:`evaluate_tree`),
and typed formulas go through :func:`parse_expression`; neither ever evaluates text.
"""

from kanstudio.symbolic.search.engine import (
    BUDGETS,
    DEFAULT_OPERATORS,
    OPERATORS,
    EngineUnavailableError,
    Progress,
    SearchBudget,
)
from kanstudio.symbolic.search.engines import get_engine
from kanstudio.symbolic.search.front import SearchResult, search, search_curve
from kanstudio.symbolic.search.parse import ParseError, parse_expression, parse_tree
from kanstudio.symbolic.search.tree import (
    TreeError,
    evaluate_tree,
    from_tree,
    to_tree,
    tree_size,
    validate_tree,
)

__all__ = [
    "BUDGETS",
    "DEFAULT_OPERATORS",
    "OPERATORS",
    "EngineUnavailableError",
    "ParseError",
    "Progress",
    "SearchBudget",
    "SearchResult",
    "TreeError",
    "available",
    "evaluate_tree",
    "from_tree",
    "parse_expression",
    "parse_tree",
    "search",
    "search_curve",
    "to_tree",
    "tree_size",
    "validate_tree",
]


def available(engine: str = "auto") -> bool:
    """Whether :func:`search` can run here with ``engine`` (False: install advice is in the
    :class:`EngineUnavailableError` that ``search`` raises)."""
    try:
        get_engine(engine)
    except EngineUnavailableError:
        return False
    return True
