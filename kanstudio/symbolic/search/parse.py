"""A small recursive-descent parser for infix formulas, without ``eval``.

It reads what search engines print (``((-0.11) + (0.69 * (0.99 * X1)))``, ``(x ^ 2)``) and
what a person types (``2*x0 + sin(x1)``, ``sqrt(a**2 + 1)``) into a tree of
:mod:`kanstudio.symbolic.search.tree`. It accepts only:

* numbers (``3``, ``0.5``, ``1e-3``, ``.5``);
* the caller's variable names; ``pi`` and ``e`` when no variable has that name;
* ``+ - * / ^ **`` and parentheses (``^`` and ``**`` are the same power, right-associative,
  binding tighter than a unary minus: ``-x^2`` is ``-(x^2)``);
* calls of the whitelisted functions in ``FUNCTIONS``.

Anything else (another name such as ``__import__`` or ``lambda``, an attribute ``x.real``,
a string, a subscript, a keyword) raises :class:`ParseError` with the position; nothing is
ever executed. Inputs longer than ``MAX_LENGTH`` characters or nested deeper than the
tree's ``MAX_DEPTH`` are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sympy

from kanstudio.symbolic.search.tree import MAX_DEPTH, Tree, from_tree, validate_tree

__all__ = ["FUNCTIONS", "MAX_LENGTH", "ParseError", "parse_expression", "parse_tree"]

MAX_LENGTH = 20_000
#: Function names the parser accepts (spelling -> tree operator).
FUNCTIONS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "sinh": "sinh", "cosh": "cosh",
    "tanh": "tanh", "asin": "asin", "acos": "acos", "atan": "atan", "arcsin": "asin",
    "arccos": "acos", "arctan": "atan", "exp": "exp", "log": "log", "sqrt": "sqrt",
    "abs": "abs", "Abs": "abs", "square": "square",
}
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|[-+*/^(),])
""", re.VERBOSE)


class ParseError(ValueError):
    """The text is not a formula this parser accepts; ``position`` is the 0-based offset."""

    def __init__(self, message: str, position: int):
        super().__init__(f"{message} (at character {position + 1})")
        self.position = position


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # reported when the parser reaches it, after any bad name before it
            out.append(("bad", text[pos], pos))
            break
        kind = m.lastgroup or ""
        if kind != "space":
            out.append((kind, m.group(), pos))
        pos = m.end()
    out.append(("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str, names: Sequence[str]):
        self.toks = _tokens(text)
        self.k = 0
        self.index = {str(n): i for i, n in enumerate(names)}
        self.depth = 0

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.k]

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.k]
        self.k += 1
        return tok

    def expect(self, value: str) -> None:
        kind, text, pos = self.take()
        if text != value or kind != "op":
            raise ParseError(f"expected {value!r}, found {text or 'the end'!r}", pos)

    def nested(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError(f"formula nested deeper than {MAX_DEPTH} levels", pos)

    def expr(self) -> Tree:  # expr := term (("+" | "-") term)*
        terms = [self.term()]
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            sign = self.take()[1]
            term = self.term()
            if sign == "-":
                term = -term if isinstance(term, int | float) else ["neg", term]
            terms.append(term)
        return terms[0] if len(terms) == 1 else ["add", *terms]

    def term(self) -> Tree:  # term := unary (("*" | "/") unary)*
        # a*b/c*d/e is kept flat as (a*b*d)/(c*e): a long product stays one level deep.
        over, under = [self.unary()], []
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "op":
            (over if self.take()[1] == "*" else under).append(self.unary())
        top = over[0] if len(over) == 1 else ["mul", *over]
        if not under:
            return top
        return ["div", top, under[0] if len(under) == 1 else ["mul", *under]]

    def unary(self) -> Tree:  # unary := ("-" | "+") unary | power
        kind, text, pos = self.peek()
        if kind == "op" and text in ("-", "+"):
            self.take()
            self.nested(pos)
            inner = self.unary()
            self.depth -= 1
            if text == "+":
                return inner
            return -inner if isinstance(inner, int | float) else ["neg", inner]
        return self.power()

    def power(self) -> Tree:  # power := atom (("^" | "**") unary)?
        base = self.atom()
        kind, text, pos = self.peek()
        if kind == "op" and text in ("^", "**"):
            self.take()
            self.nested(pos)
            exponent = self.unary()
            self.depth -= 1
            return ["pow", base, exponent]
        return base

    def atom(self) -> Tree:
        kind, text, pos = self.take()
        if kind == "number":
            value = float(text)
            return int(text) if text.isdigit() and len(text) < 16 else value
        if kind == "name":
            if self.peek()[1] == "(" and text in FUNCTIONS and text not in self.index:
                self.take()
                self.nested(pos)
                arg = self.expr()
                self.depth -= 1
                self.expect(")")
                return [FUNCTIONS[text], arg]
            if text in self.index:
                return ["var", self.index[text]]
            if text in ("pi", "e"):
                return ["const", text]
            if text in FUNCTIONS:
                raise ParseError(f"function {text!r} needs parentheses: {text}(...)", pos)
            raise ParseError(f"unknown name {text!r}: not a variable or an allowed function",
                             pos)
        if kind == "op" and text == "(":
            self.nested(pos)
            inner = self.expr()
            self.depth -= 1
            self.expect(")")
            return inner
        if kind == "bad":
            raise ParseError(f"unexpected character {text!r}", pos)
        raise ParseError(f"unexpected {text or 'end of formula'!r}", pos)


def parse_tree(text: str, names: Sequence[str]) -> Tree:
    """The validated tree of an infix formula over the variables ``names``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"formula longer than {MAX_LENGTH} characters", MAX_LENGTH)
    parser = _Parser(text, names)
    tree = parser.expr()
    kind, rest, pos = parser.peek()
    if kind == "bad":
        raise ParseError(f"unexpected character {rest!r}", pos)
    if kind != "end":
        raise ParseError(f"unexpected {rest!r} after the formula", pos)
    validate_tree(tree, len(names))
    return tree


def parse_expression(text: str, names: Sequence[str]) -> sympy.Expr:
    """The sympy expression of an infix formula, built from its tree (never ``eval``)."""
    return from_tree(parse_tree(text, names), names)
