"""LaTeX (from sympy's printer) drawn as mathematics with matplotlib's mathtext.

mathtext is a TeX-like renderer inside matplotlib: no TeX installation is needed. It knows
most of what sympy prints; what it cannot draw is reported (the caller shows plain text).
"""

from __future__ import annotations

import io
import re

__all__ = ["to_mathtext", "render_latex"]

# sympy spellings mathtext does not know, and what it knows instead.
_REPLACEMENTS = (
    (re.compile(r"\\operatorname\{([A-Za-z]+)\}"), r"\\mathrm{\1}"),
    (re.compile(r"\\left\|"), "|"),
    (re.compile(r"\\right\|"), "|"),
    (re.compile(r"\\text\{"), r"\\mathrm{"),
)


def to_mathtext(latex: str) -> str:
    """``latex`` in the subset mathtext draws."""
    for pattern, repl in _REPLACEMENTS:
        latex = pattern.sub(repl, latex)
    return latex


def render_latex(latex: str, fmt: str = "png", dpi: int = 160, font_size: float = 15.0,
                 color: str = "black") -> bytes:
    """The formula as PNG or SVG bytes; raises ValueError when mathtext cannot parse it."""
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import math_to_image

    del Figure  # imported first so a broken matplotlib fails here, with a clear name
    buffer = io.BytesIO()
    try:
        math_to_image(f"${to_mathtext(latex)}$", buffer, dpi=dpi, format=fmt,
                      prop=FontProperties(size=font_size), color=color)
    except Exception as exc:
        raise ValueError(f"cannot draw this formula as mathematics: {exc}") from exc
    return buffer.getvalue()
