"""A self-contained NumPy function that evaluates the formula."""

from __future__ import annotations

from collections.abc import Sequence

import sympy
from sympy.printing.numpy import NumPyPrinter

__all__ = ["to_python"]


def to_python(
    expr: sympy.Expr, input_names: Sequence[str], target: str = "f", function_name: str = "formula"
) -> str:
    """Source of ``def formula(x1, x2, ...)`` returning ``expr`` with NumPy (arrays work)."""
    printer = NumPyPrinter({"fully_qualified_modules": True})
    args = ", ".join(str(n) for n in input_names)
    body = printer.doprint(expr)
    imports = sorted(printer.module_imports)
    header = "".join(f"import {m}\n" for m in imports if m != "numpy") + "import numpy\n"
    return (
        f"{header}\n\n"
        f"def {function_name}({args}):\n"
        f'    """{target} = {sympy.sstr(expr)}"""\n'
        f"    return {body}\n"
    )
