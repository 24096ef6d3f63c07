"""Column names as formula symbols: valid Python identifiers that sympy reads as plain symbols."""

from __future__ import annotations

import builtins
import keyword
import re
import types
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

__all__ = ["safe_symbol_names", "printed_symbol_names"]

# Always treated as clashing, even if a sympy release stops exporting one of them.
_KNOWN_CLASHES = frozenset(
    {"E", "I", "S", "N", "O", "Q", "pi", "beta", "gamma", "zeta", "oo", "nan", "zoo"}
)
_NOT_IDENTIFIER_CHAR = re.compile(r"\W+")


@lru_cache(maxsize=1)
def _reserved_names() -> frozenset[str]:
    """Names `sympy.sympify` would not turn into a Symbol.

    sympify evaluates strings in a namespace made of `from sympy import *` plus Python's
    builtin functions, so any of those names (E, I, N, S, beta, gamma, max, ...) would be
    read as a constant or function instead of the column.
    """
    import sympy  # deferred: importing sympy takes a while and only names need it

    names = set(getattr(sympy, "__all__", ()))
    names |= {
        name for name, obj in vars(builtins).items() if isinstance(obj, types.BuiltinFunctionType)
    }
    return frozenset(names | _KNOWN_CLASHES)


def _is_safe(name: str) -> bool:
    return (
        name.isidentifier()
        # Python normalises identifiers to NFKC when it parses them; keep only stable names.
        and unicodedata.normalize("NFKC", name) == name
        and not keyword.iskeyword(name)
        and name not in _reserved_names()
    )


def _sanitise(name: str) -> str:
    text = unicodedata.normalize("NFKC", name.strip())
    text = _NOT_IDENTIFIER_CHAR.sub("_", text).strip("_")
    text = re.sub("_+", "_", text)
    if not text.isidentifier():
        # Some unicode word characters may not appear in identifiers: fall back to ASCII.
        text = re.sub("[^0-9A-Za-z_]+", "_", text).strip("_")
    if not text:
        text = "x"
    if text[0].isdigit():
        text = f"x_{text}"
    if keyword.iskeyword(text) or text in _reserved_names():
        text = f"{text}_"
    return text


def safe_symbol_names(names: Sequence[str]) -> list[str]:
    """Map each column name to a unique identifier usable as a sympy symbol.

    A name that is already a valid identifier, not a Python keyword and not a sympy name
    (E, I, S, N, O, Q, pi, beta, gamma, zeta, lambda, sin, ...) is kept as is; a clashing
    name gets `_` appended ("gamma" -> "gamma_"); anything else is rewritten
    ("mass (kg)" -> "mass_kg", "2theta" -> "x_2theta"). Repeats get "_2", "_3", ....
    """
    kept = [name if _is_safe(name) else None for name in names]
    # Names that are already safe keep their spelling, so reserve them before rewriting others.
    taken: set[str] = {name for name in kept if name is not None}
    result: list[str] = []
    seen: set[str] = set()
    for original, safe in zip(names, kept, strict=True):
        candidate = safe if safe is not None and safe not in seen else _sanitise(original)
        if candidate in seen or (safe is None and candidate in taken):
            suffix = 2
            while f"{candidate}_{suffix}" in seen or f"{candidate}_{suffix}" in taken:
                suffix += 1
            candidate = f"{candidate}_{suffix}"
        seen.add(candidate)
        result.append(candidate)
    return result


def printed_symbol_names(names: Sequence[str], taken: Sequence[str] = ()) -> list[str]:
    """The names a formula prints for the columns ``names``: each column as written.

    Names sympy or Python also use (``beta``, ``gamma``, ``E``, ``I``, ``S``, ``N``, ``Q``,
    ``sum``, ...) print as written: a reader parses the text with
    ``sympify(text, locals={name: Symbol(name) for name in symbols})``. Only names that
    cannot appear in such text fall back to their :func:`safe_symbol_names` form:

    * a Python keyword (``lambda``, ``if``, ...): no Python parser accepts it as a name, so
      ``lambda`` prints as ``lambda_`` in the text and the code (LaTeX still shows
      ``\\lambda``);
    * a name that is not an identifier (``mass (kg)`` -> ``mass_kg``);
    * a name in ``taken``: the printed names of constants in the same formula (a column ``E``
      in a formula that also holds Euler's number, which sympy prints ``E``).

    The result is distinct names: safe names never equal a clashing column name.
    """
    safe = safe_symbol_names(names)
    blocked = set(taken)
    return [name if (name.isidentifier() and unicodedata.normalize("NFKC", name) == name
                     and not keyword.iskeyword(name) and name not in blocked) else alt
            for name, alt in zip(names, safe, strict=True)]
