"""LaTeX for papers: display-ready, with the target on the left when it is given."""

from __future__ import annotations

from collections.abc import Mapping

import sympy
from sympy.printing.latex import LatexPrinter

__all__ = ["to_latex"]


class FormulaLatexPrinter(LatexPrinter):
    """sympy's LaTeX printer with the choices a paper wants.

    ``exp`` prints as ``e^{...}`` for short arguments (sympy's default) and inverse trig
    functions use ``\\arcsin``-style names rather than ``\\sin^{-1}``.
    """

    def __init__(self, settings: dict | None = None) -> None:
        merged = {"inv_trig_style": "full", "mul_symbol": None}
        merged.update(settings or {})
        super().__init__(merged)

    def _print_Symbol(self, expr: sympy.Symbol, style: str = "plain") -> str:  # noqa: N802
        # sympy reads ``rate_per_s`` as rate with the subscript "per s"; a column name is
        # a name: it prints as written (upright, underscores kept).
        if expr in self._settings["symbol_names"] or "_" not in expr.name:
            return super()._print_Symbol(expr, style)
        return r"\mathrm{" + expr.name.replace("_", r"\_") + "}"


def to_latex(expr: sympy.Expr, target: str | None = None,
             symbol_names: Mapping[str, str] | None = None) -> str:
    """``expr`` as LaTeX; with ``target`` the result reads ``target = ...``.

    ``symbol_names`` maps a symbol's name to its LaTeX (``{"lambda_": "\\lambda"}``): a
    column called ``lambda`` prints as ``lambda_`` in text and code, as written here.
    """
    names = {sympy.Symbol(k): v for k, v in (symbol_names or {}).items()}
    printer = FormulaLatexPrinter({"symbol_names": names} if names else None)
    body = printer.doprint(expr)
    if target:
        return f"{printer.doprint(sympy.Symbol(target))} = {body}"
    return body
