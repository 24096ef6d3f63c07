"""Plain formats: a sympy string that ``sympy.sympify`` reads back, C, MathML."""

from __future__ import annotations

import sympy
from sympy.printing.c import C99CodePrinter
from sympy.printing.mathml import MathMLPresentationPrinter

__all__ = ["to_sympy", "to_c", "to_mathml"]


def to_sympy(expr: sympy.Expr) -> str:
    """The expression as sympy source text (``exp(b**2 + sin(pi*a))``)."""
    return sympy.sstr(expr)


def to_c(expr: sympy.Expr) -> str:
    """A C99 expression (``exp(pow(b, 2) + sin(M_PI*a))``)."""
    return C99CodePrinter().doprint(expr)


def to_mathml(expr: sympy.Expr) -> str:
    """Presentation MathML, for web pages and word processors."""
    return MathMLPresentationPrinter().doprint(expr)
