"""LaTeX for papers: display-ready, with the target on the left when it is given."""

from __future__ import annotations

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


def to_latex(expr: sympy.Expr, target: str | None = None) -> str:
    """``expr`` as LaTeX; with ``target`` the result reads ``target = ...``."""
    printer = FormulaLatexPrinter()
    body = printer.doprint(expr)
    if target:
        return f"{printer.doprint(sympy.Symbol(target))} = {body}"
    return body
