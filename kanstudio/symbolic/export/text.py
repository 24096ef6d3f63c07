"""Plain formats: a sympy string that ``sympy.sympify`` reads back, C, MathML."""

from __future__ import annotations

import re

import sympy
from sympy.printing.c import C99CodePrinter
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.printing.str import StrPrinter

__all__ = ["to_sympy", "to_c", "to_mathml", "to_short_text", "short_number"]


def short_number(value: float, digits: int = 4) -> str:
    """``value`` with at most ``digits`` significant digits: ``1715``, ``0.8371``,
    ``1.332e-6`` (no padded exponent)."""
    text = format(float(value), f".{digits}g")
    return re.sub(r"e([-+])0*(\d)", lambda m: "e" + ("-" if m[1] == "-" else "") + m[2], text)


class _ShortFloatPrinter(StrPrinter):
    """sympy's text with every float at a few significant digits (for reading, not for
    reading back: the full constants stay with the model)."""

    def __init__(self, digits: int) -> None:
        super().__init__()
        self.digits = digits

    def _print_Float(self, expr: sympy.Float) -> str:  # noqa: N802 - sympy's dispatch
        return short_number(float(expr), self.digits)


def to_short_text(expr: sympy.Expr, digits: int = 4) -> str:
    """The expression as text with constants at ``digits`` significant digits
    (``0.8371*log(1715 - 1222*x)``)."""
    return _ShortFloatPrinter(digits).doprint(expr)


def to_sympy(expr: sympy.Expr) -> str:
    """The expression as sympy source text (``exp(b**2 + sin(pi*a))``)."""
    return sympy.sstr(expr)


def to_c(expr: sympy.Expr) -> str:
    """A C99 expression (``exp(pow(b, 2) + sin(M_PI*a))``)."""
    return C99CodePrinter().doprint(expr)


def to_mathml(expr: sympy.Expr) -> str:
    """Presentation MathML, for web pages and word processors."""
    return MathMLPresentationPrinter().doprint(expr)
