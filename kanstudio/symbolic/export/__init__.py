"""Formula exporters, one module per format, each built on a sympy printer."""

from kanstudio.symbolic.export.latex import constants_table, to_latex
from kanstudio.symbolic.export.python import to_python
from kanstudio.symbolic.export.text import short_number, to_c, to_mathml, to_short_text, to_sympy

FORMATS = {
    "latex": to_latex,
    "python": to_python,
    "sympy": to_sympy,
    "c": to_c,
    "mathml": to_mathml,
}

__all__ = ["FORMATS", "constants_table", "short_number", "to_c", "to_latex", "to_mathml",
           "to_python", "to_short_text", "to_sympy"]
