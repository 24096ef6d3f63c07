"""A safe, serialisable form of an expression: a nested list tree.

A found expression is stored in JSON and project files as plain data and rebuilt without
``eval``. The grammar (``names`` are the caller's variable names, indexed from 0)::

    tree  := number                    a finite int or float constant (not a bool)
           | ["var", i]                the i-th variable, 0 <= i < len(names)
           | ["const", "pi" | "e"]     a named constant
           | [op, tree, ...]           an operator from OPS with its number of arguments

Example: ``["add", ["mul", 2.0, ["var", 0]], ["sin", ["var", 1]]]`` is ``2*x0 + sin(x1)``.
A rational is ``["div", 1, 3]`` (both ints), which rebuilds as sympy's exact ``1/3``.

:func:`to_tree` writes sympy's canonical forms (``add``, ``mul``, ``pow`` and the unary
functions); :func:`from_tree` and :func:`evaluate_tree` also accept ``sub``, ``div``, ``neg``,
``sqrt`` and ``square``, which search engines and the infix parser produce. Every reader
validates first (:func:`validate_tree`): an unknown operator, a wrong number of arguments,
a variable out of range, a non-finite constant, or a tree deeper than ``MAX_DEPTH`` or larger
than ``MAX_NODES`` raises :class:`TreeError` naming the problem and where it is.

:func:`evaluate_tree` is numpy only (no sympy), so code below the symbolic layer can
evaluate a stored expression; outside an operator's real domain it gives ``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "OPS",
    "TreeError",
    "compile_tree",
    "evaluate_tree",
    "from_tree",
    "to_tree",
    "tree_size",
    "validate_tree",
    "with_constants",
]

#: Deepest tree accepted (a leaf alone has depth 1); far above any searched formula.
MAX_DEPTH = 64
#: Most nodes (operators, variables, constants) accepted in one tree.
MAX_NODES = 5000

Tree = Any  # int | float | list (a JSON value of the grammar above)


def _np_pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.power(a, b)


# op -> (arity: int, or None for "2 or more"; numpy function; sympy builder)
_OP_TABLE: dict[str, tuple[int | None, Callable[..., np.ndarray], Callable[..., sympy.Expr]]] = {
    "add": (None, lambda *a: np.sum(a, axis=0), lambda *a: sympy.Add(*a)),
    "mul": (None, lambda *a: np.prod(a, axis=0), lambda *a: sympy.Mul(*a)),
    "sub": (2, np.subtract, lambda a, b: a - b),
    "div": (2, np.divide, lambda a, b: a / b),
    "pow": (2, _np_pow, lambda a, b: sympy.Pow(a, b)),
    "neg": (1, np.negative, lambda a: -a),
    "square": (1, np.square, lambda a: a**2),
    "sqrt": (1, np.sqrt, sympy.sqrt),
    "exp": (1, np.exp, sympy.exp),
    "log": (1, np.log, sympy.log),
    "sin": (1, np.sin, sympy.sin),
    "cos": (1, np.cos, sympy.cos),
    "tan": (1, np.tan, sympy.tan),
    "sinh": (1, np.sinh, sympy.sinh),
    "cosh": (1, np.cosh, sympy.cosh),
    "tanh": (1, np.tanh, sympy.tanh),
    "asin": (1, np.arcsin, sympy.asin),
    "acos": (1, np.arccos, sympy.acos),
    "atan": (1, np.arctan, sympy.atan),
    "abs": (1, np.abs, sympy.Abs),
}
#: Every operator a tree may hold, with its number of arguments (None: two or more).
OPS: dict[str, int | None] = {name: spec[0] for name, spec in _OP_TABLE.items()}
_NAMED_CONSTANTS = {"pi": (math.pi, sympy.pi), "e": (math.e, sympy.E)}
# sympy function class -> op, for to_tree
_SYMPY_FUNCS = {sympy.exp: "exp", sympy.log: "log", sympy.sin: "sin", sympy.cos: "cos",
                sympy.tan: "tan", sympy.sinh: "sinh", sympy.cosh: "cosh", sympy.tanh: "tanh",
                sympy.asin: "asin", sympy.acos: "acos", sympy.atan: "atan", sympy.Abs: "abs"}


class TreeError(ValueError):
    """A tree that breaks the grammar, or an expression that has no tree form."""


def _where(path: tuple[int, ...]) -> str:
    if not path:
        return "at the root"
    if len(path) > 6:
        return f"at depth {len(path) + 1}"
    return "at " + "".join(f"[{i}]" for i in path)


def _check(tree: Tree, n_vars: int | None, depth: int, path: tuple[int, ...],
           count: list[int]) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise TreeError(f"tree has more than {MAX_NODES} nodes")
    if depth > MAX_DEPTH:
        raise TreeError(f"tree is deeper than {MAX_DEPTH} levels ({_where(path)})")
    if isinstance(tree, bool):
        raise TreeError(f"a boolean is not a constant ({_where(path)})")
    if isinstance(tree, int | float):
        if not math.isfinite(tree):
            raise TreeError(f"non-finite constant {tree!r} ({_where(path)})")
        return
    if not isinstance(tree, list | tuple) or not tree or not isinstance(tree[0], str):
        raise TreeError(f"expected a number or [op, ...], got {tree!r:.60} ({_where(path)})")
    op, args = tree[0], tree[1:]
    if op == "var":
        if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], int):
            raise TreeError(f"'var' takes one integer index ({_where(path)})")
        if args[0] < 0 or (n_vars is not None and args[0] >= n_vars):
            raise TreeError(f"variable index {args[0]} out of range for {n_vars} "
                            f"variable(s) ({_where(path)})")
        return
    if op == "const":
        if len(args) != 1 or args[0] not in _NAMED_CONSTANTS:
            raise TreeError(f"'const' takes one of {sorted(_NAMED_CONSTANTS)} ({_where(path)})")
        return
    if op not in OPS:
        raise TreeError(f"unknown operator {op!r} ({_where(path)}); known: "
                        + ", ".join(sorted(OPS)))
    arity = OPS[op]
    if (arity is None and len(args) < 2) or (arity is not None and len(args) != arity):
        want = "2 or more" if arity is None else str(arity)
        raise TreeError(f"{op!r} takes {want} argument(s), got {len(args)} ({_where(path)})")
    for k, arg in enumerate(args, start=1):
        _check(arg, n_vars, depth + 1, (*path, k), count)


def validate_tree(tree: Tree, n_vars: int | None = None) -> None:
    """Raise :class:`TreeError` unless ``tree`` follows the grammar (variables ``< n_vars``
    when given). Checks depth before descending, so hostile nesting cannot recurse deeply."""
    _check(tree, n_vars, 1, (), [0])


def tree_size(tree: Tree) -> int:
    """Number of nodes: operators, variables and constants each count 1 (the complexity
    every search result reports, whichever engine found it). ``["div", 1, 3]`` counts 3."""
    if isinstance(tree, list | tuple) and tree and tree[0] in ("var", "const"):
        return 1
    if isinstance(tree, list | tuple):
        return 1 + sum(tree_size(a) for a in tree[1:])
    return 1


def _build(tree: Tree, symbols: Sequence[sympy.Symbol]) -> sympy.Expr:
    if isinstance(tree, int):
        return sympy.Integer(tree)
    if isinstance(tree, float):
        return sympy.Float(tree)  # 53 bits: the double exactly
    op, args = tree[0], tree[1:]
    if op == "var":
        return symbols[args[0]]
    if op == "const":
        return _NAMED_CONSTANTS[args[0]][1]
    return _OP_TABLE[op][2](*(_build(a, symbols) for a in args))


def from_tree(tree: Tree, names: Sequence[str]) -> sympy.Expr:
    """The sympy expression of a validated tree, with ``["var", i]`` as ``Symbol(names[i])``.

    Floats keep full double precision; ints are exact sympy Integers.
    """
    validate_tree(tree, len(names))
    return _build(tree, [sympy.Symbol(str(n)) for n in names])


def _to(expr: sympy.Expr, index: dict[sympy.Symbol, int]) -> Tree:
    if isinstance(expr, sympy.Symbol):
        if expr not in index:
            raise TreeError(f"symbol {expr} is not one of the variable names")
        return ["var", index[expr]]
    if expr is sympy.pi:
        return ["const", "pi"]
    if expr is sympy.E:
        return ["const", "e"]
    if isinstance(expr, sympy.Integer):
        return int(expr)
    if isinstance(expr, sympy.Rational):
        return ["div", int(expr.p), int(expr.q)]
    if isinstance(expr, sympy.Float):
        value = float(expr)
        if not math.isfinite(value):
            raise TreeError(f"non-finite constant {expr}")
        return value
    if isinstance(expr, sympy.Add):
        return ["add", *(_to(a, index) for a in expr.args)]
    if isinstance(expr, sympy.Mul):
        return ["mul", *(_to(a, index) for a in expr.args)]
    if isinstance(expr, sympy.Pow):
        return ["pow", _to(expr.base, index), _to(expr.exp, index)]
    func = _SYMPY_FUNCS.get(type(expr))
    if func is not None and len(expr.args) == 1:
        return [func, _to(expr.args[0], index)]
    raise TreeError(f"{type(expr).__name__} has no tree form (in {str(expr)[:80]})")


def to_tree(expr: sympy.Expr, names: Sequence[str]) -> Tree:
    """The tree of a sympy expression over the symbols ``names`` (see the module grammar).

    Raises :class:`TreeError` for a symbol not in ``names``, a function outside ``OPS``
    (``Piecewise``, an undefined ``phi(x)``, ...) or a non-finite constant.
    """
    if isinstance(expr, bool) or not isinstance(expr, sympy.Basic | int | float):
        raise TypeError(f"expected a sympy expression, got {type(expr).__name__}")
    if not isinstance(expr, sympy.Basic):  # a plain number; never a string (no sympify)
        expr = sympy.Integer(expr) if isinstance(expr, int) else sympy.Float(expr)
    index = {sympy.Symbol(str(n)): i for i, n in enumerate(names)}
    tree = _to(expr, index)
    validate_tree(tree, len(names))
    return tree


Compiled = Callable[[np.ndarray, np.ndarray], Any]


def _compile(tree: Tree, consts: list[float]) -> Compiled:
    if isinstance(tree, float):
        k = len(consts)
        consts.append(tree)
        return lambda x, p: p[k]
    if isinstance(tree, int):
        value = float(tree)
        return lambda x, p: value
    op, args = tree[0], tree[1:]
    if op == "var":
        i = args[0]
        return lambda cols, p: cols[i]
    if op == "const":
        value = _NAMED_CONSTANTS[args[0]][0]
        return lambda x, p: value
    parts = [_compile(a, consts) for a in args]
    if op in ("add", "mul"):
        combine = np.add if op == "add" else np.multiply
        first, rest = parts[0], parts[1:]

        def nary(x: np.ndarray, p: np.ndarray) -> Any:
            out = first(x, p)
            for part in rest:
                out = combine(out, part(x, p))
            return out

        return nary
    fn = _OP_TABLE[op][1]
    if len(parts) == 1:
        (g,) = parts
        return lambda x, p: fn(g(x, p))
    g, h = parts
    return lambda x, p: fn(g(x, p), h(x, p))


def compile_tree(tree: Tree, n_vars: int | None = None
                 ) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], np.ndarray]:
    """(f, constants): ``f(x, constants)`` evaluates the tree on ``x`` (n, d) -> (n,) with
    its float constants taken from the vector (depth-first order; ints and named constants
    stay fixed). Validates once; calling ``f`` repeatedly (a constant fit) is cheap.
    See :func:`evaluate_tree` for the numerical semantics."""
    validate_tree(tree, n_vars)
    consts: list[float] = []
    body = _compile(tree, consts)

    def f(x: np.ndarray, values: np.ndarray) -> np.ndarray:
        # Contiguous float64 columns: numpy's vector kernels then take one code path
        # whatever the caller's layout, so the same inputs give bit-identical outputs.
        cols = [np.ascontiguousarray(x[:, i], dtype=float) for i in range(x.shape[1])]
        with np.errstate(all="ignore"):
            out = np.asarray(body(cols, values), dtype=float)
        return np.broadcast_to(out, (x.shape[0],)).copy() if out.ndim == 0 else out

    return f, np.array(consts, dtype=float)


def _replace(tree: Tree, values: list[float]) -> Tree:
    if isinstance(tree, float):
        return float(values.pop())
    if isinstance(tree, list | tuple) and tree[0] not in ("var", "const"):
        return [tree[0], *(_replace(a, values) for a in tree[1:])]
    return tree


def with_constants(tree: Tree, values: Sequence[float]) -> Tree:
    """A copy of ``tree`` with its float constants replaced, in :func:`compile_tree` order."""
    stack = [float(v) for v in reversed(values)]
    try:
        out = _replace(tree, stack)
    except IndexError:
        raise TreeError(f"too few values ({len(values)}) for the tree's constants") from None
    if stack:
        raise TreeError(f"too many values ({len(values)}) for the tree's "
                        f"{len(values) - len(stack)} constants")
    return out


def evaluate_tree(tree: Tree, x: np.ndarray) -> np.ndarray:
    """Evaluate a tree on ``x`` (n, d) -> (n,) float64, numpy only.

    Real arithmetic: where an operator is undefined (``log`` of a negative, ``0/0``) the
    result is ``nan``/``inf``, never an exception or a complex number.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (n, d), got shape {x.shape}")
    f, consts = compile_tree(tree, x.shape[1])
    return f(x, consts)
