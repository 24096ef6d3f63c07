"""Errors of the session layer that carry a kind and fields (see :mod:`kanstudio.errors`)."""

from __future__ import annotations

from collections.abc import Sequence

from kanstudio.errors import EngineError
from kanstudio.symbolic.formula import NumericEdgeError

__all__ = ["FormulaNotSymbolicError"]


class FormulaNotSymbolicError(NumericEdgeError, EngineError):
    """The formula was asked for while some active edges are still numeric splines.

    ``kind`` "formula_not_symbolic"; ``fields["edges"]``: those edges as ``[layer, i, j]``
    lists. Still a :class:`NumericEdgeError` (``.edges``), so callers that catch that keep
    working.
    """

    kind = "formula_not_symbolic"

    def __init__(self, edges: Sequence[tuple[int, int, int]]) -> None:
        super().__init__(edges)
        self.fields = {"edges": [[int(v) for v in e] for e in self.edges]}
