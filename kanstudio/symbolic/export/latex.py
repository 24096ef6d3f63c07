"""LaTeX for papers: display-ready, with the target on the left when it is given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sympy
from sympy.printing.latex import LatexPrinter

__all__ = ["to_latex", "constants_table"]


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
    settings: dict[str, Any] = {"symbol_names": names} if names else {}
    if any(_is_word(s, names) for s in expr.free_symbols):
        # "19.99 press_kPa e^{...}" side by side reads as one word: products get a dot
        settings["mul_symbol"] = "dot"
    printer = FormulaLatexPrinter(settings or None)
    body = printer.doprint(expr)
    if target:
        return f"{printer.doprint(sympy.Symbol(target))} = {body}"
    return body


def _is_word(symbol: sympy.Symbol, names: Mapping[sympy.Symbol, str]) -> bool:
    """Whether ``symbol`` prints as a multi-letter word (``press_kPa``, ``rate``), not as
    one letter, a Greek letter or a letter with a subscript (``x``, ``\\lambda``, ``x1``)."""
    from sympy.printing.latex import greek_letters_set

    if symbol in names:
        return False
    stem = symbol.name.rstrip("0123456789")
    return "_" in stem or (len(stem) > 1 and stem.lower() not in greek_letters_set)


def constants_table(constants: Sequence[Mapping[str, Any]]) -> str:
    """A LaTeX ``table`` of a formula's free constants (``{"value", "stderr", "shown"}``,
    :func:`kanstudio.symbolic.uncertainty.constant_errors`): each as it reads in the
    formula, and its full value ± standard error; '' when there are none."""
    from kanstudio.symbolic.uncertainty import format_with_error

    if not constants:
        return ""
    rows, reasons = [], []
    for c in constants:
        value, error, exponent = format_with_error(float(c["value"]), c.get("stderr"))
        power = rf" \times 10^{{{exponent}}}" if exponent else ""
        if error is None:
            cell = f"${value}$ (n/a)"
            if c.get("reason") and c["reason"] not in reasons:
                reasons.append(c["reason"])
        elif exponent:
            cell = rf"$({value} \pm {error}){power}$"
        else:
            cell = rf"${value} \pm {error}$"
        shown = str(c.get("shown") or f"{float(c['value']):.4g}")
        if "e" in shown:  # sympy's 3.2e-7, as its LaTeX prints it in the formula
            mantissa, _, power_of_ten = shown.partition("e")
            shown = rf"{mantissa} \cdot 10^{{{int(power_of_ten)}}}"
        rows.append(rf"${shown}$ & {cell} \\")
    note = (" Standard error not determined: " + "; ".join(reasons) + ".") if reasons else ""
    caption = ("Free constants of the formula, with standard errors from the least-squares "
               f"Jacobian on the training rows.{note}")
    return "\n".join([
        r"\begin{table}[h]", r"\centering", r"\begin{tabular}{ll}", r"\hline",
        r"In the formula & Value $\pm$ standard error \\", r"\hline", *rows, r"\hline",
        r"\end{tabular}", rf"\caption{{{caption}}}", r"\end{table}"])
