"""Edges locked to any expression, not only a library function.

A locked edge computes ``c·f(a·x + b) + d``; ``f`` is named by the layer's lock name. A
library function is named by its library key (``"sin"``); an expression found by the search
engine (:mod:`kanstudio.symbolic.search`) is named ``"expr:"`` followed by its tree
(:mod:`kanstudio.symbolic.search.tree`, one variable ``["var", 0]``) as compact JSON, e.g.
``expr:["add",["square",["var",0]],["sin",["mul",2,["var",0]]]]``. The name is the whole
stored form: model and project files keep it as they keep ``"sin"``, and reading it back
only parses JSON and validates the tree (:func:`expression_tree`); nothing is evaluated.

:func:`lock_function` turns either kind of name into a
:class:`~kanstudio.symbolic.library.LibraryFunction` (numpy, torch and sympy forms), so
formulas, training and file loading treat both alike. The torch form of an expression is
built from its tree with the same guards as the library's safe forms (``log`` and ``sqrt``
clamp their argument onto the domain, ``exp`` caps it, a division keeps its denominator
away from zero), so training stays finite; where the guards act, the tree's exact form is
undefined, which :attr:`LibraryFunction.domain` reports.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy
import torch

from kanstudio.symbolic.library import (
    DOMAIN_EPS,
    EXP_MAX_ARG,
    TAN_LIMIT,
    LibraryFunction,
    get_function,
)
from kanstudio.symbolic.search.tree import (
    Tree,
    TreeError,
    evaluate_tree,
    from_tree,
    tree_size,
    validate_tree,
)

__all__ = ["EXPRESSION_PREFIX", "MAX_NAME_LENGTH", "ExpressionLockError", "expression_name",
           "expression_tree", "is_expression_name", "lock_function", "lock_label",
           "node_expression", "node_lock_function", "torch_expression",
           "torch_node_expression"]

EXPRESSION_PREFIX = "expr:"
#: Longest stored expression name accepted (a searched formula is a few hundred characters).
MAX_NAME_LENGTH = 20_000
_GRAD_EPS = 1e-12  # floor under sqrt's argument: a finite gradient at 0
_X = sympy.Symbol("x")

TensorFn = Callable[[torch.Tensor], torch.Tensor]


class ExpressionLockError(ValueError):
    """A stored expression that is refused; the message says why."""


def is_expression_name(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(EXPRESSION_PREFIX)


def _variables(n_vars: int) -> str:
    return "one variable" if n_vars == 1 else f"{n_vars} variables"


def expression_name(tree: Tree, n_vars: int = 1) -> str:
    """The lock name of an expression tree of ``n_vars`` variables (validated first): one
    for an edge, a node's inputs for a node lock."""
    try:
        validate_tree(tree, n_vars)
        text = json.dumps(tree, separators=(",", ":"), allow_nan=False)
    except (TreeError, ValueError, TypeError) as exc:
        raise ExpressionLockError(f"not an expression of {_variables(n_vars)}: {exc}"
                                  ) from exc
    name = EXPRESSION_PREFIX + text
    if len(name) > MAX_NAME_LENGTH:
        raise ExpressionLockError(f"the expression is longer than {MAX_NAME_LENGTH} "
                                  "characters")
    return name


def expression_tree(name: str, n_vars: int = 1) -> Tree:
    """The validated tree of an expression lock name over ``n_vars`` variables;
    :class:`ExpressionLockError` (a ValueError) says why a name is refused. Safe on
    untrusted input: JSON is parsed, never evaluated, and size and depth are bounded
    before anything is built."""
    if not is_expression_name(name):
        raise ExpressionLockError(f"{str(name)[:40]!r} is not an expression lock name")
    if len(name) > MAX_NAME_LENGTH:
        raise ExpressionLockError(f"stored expression is longer than {MAX_NAME_LENGTH} "
                                  "characters")
    try:
        tree = json.loads(name[len(EXPRESSION_PREFIX):])
    except (ValueError, RecursionError) as exc:
        raise ExpressionLockError(f"stored expression is not a valid tree: {exc}") from None
    try:
        validate_tree(tree, n_vars)
    except TreeError as exc:
        raise ExpressionLockError(f"stored expression is refused: {exc}") from None
    return tree


# ------------------------------------------------------------------ torch form
def _away_from_zero(u: torch.Tensor) -> torch.Tensor:
    eps = torch.full_like(u, DOMAIN_EPS)
    return torch.where(u.abs() < DOMAIN_EPS, torch.where(u < 0, -eps, eps), u)


def _asin(u: torch.Tensor) -> torch.Tensor:
    v = torch.clamp(u, -1.0, 1.0)  # atan2 form: a finite derivative at ±1
    return torch.atan2(v, torch.sqrt(torch.clamp(1.0 - v * v, min=_GRAD_EPS)))


_UNARY: dict[str, TensorFn] = {
    "neg": torch.neg,
    "square": torch.square,
    "sqrt": lambda u: torch.sqrt(torch.clamp(u, min=_GRAD_EPS)),
    "exp": lambda u: torch.exp(torch.clamp(u, max=EXP_MAX_ARG)),
    "log": lambda u: torch.log(torch.clamp(u, min=DOMAIN_EPS)),
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": lambda u: torch.clamp(torch.tan(u), -TAN_LIMIT, TAN_LIMIT),
    "sinh": lambda u: torch.sinh(torch.clamp(u, -EXP_MAX_ARG, EXP_MAX_ARG)),
    "cosh": lambda u: torch.cosh(torch.clamp(u, -EXP_MAX_ARG, EXP_MAX_ARG)),
    "tanh": torch.tanh,
    "asin": _asin,
    "acos": lambda u: math.pi / 2 - _asin(u),
    "atan": torch.atan,
    "abs": torch.abs,
}
_NAMED = {"pi": math.pi, "e": math.e}


def _pow(base: torch.Tensor, exponent: torch.Tensor | float) -> torch.Tensor:
    if isinstance(exponent, float) and exponent.is_integer():
        return torch.pow(base, exponent)
    # a real power of a negative base is undefined: the base is kept on the domain
    return torch.pow(torch.clamp(base, min=DOMAIN_EPS), exponent)


Variables = Sequence[torch.Tensor]  # one tensor per variable, all of one shape


def _compile(tree: Tree) -> Callable[[Variables], torch.Tensor | float]:
    """The tree as a function of its variables ``xs`` (``["var", i]`` is ``xs[i]``)."""
    if isinstance(tree, int | float):
        value = float(tree)
        return lambda xs: value
    op, args = tree[0], tree[1:]
    if op == "var":
        index = int(args[0])
        return lambda xs: xs[index]
    if op == "const":
        value = _NAMED[args[0]]
        return lambda xs: value
    parts = [_compile(a) for a in args]
    if op in ("add", "mul"):
        def nary(xs: Variables) -> Any:
            out = parts[0](xs)
            for part in parts[1:]:
                out = out + part(xs) if op == "add" else out * part(xs)
            return out

        return nary
    if op == "sub":
        return lambda xs: parts[0](xs) - parts[1](xs)
    if op == "div":
        def div(xs: Variables) -> Any:
            den = parts[1](xs)
            if isinstance(den, float):
                return parts[0](xs) / den if den != 0.0 else parts[0](xs) / DOMAIN_EPS
            return parts[0](xs) / _away_from_zero(den)

        return div
    if op == "pow":
        def power(xs: Variables) -> Any:
            base, exponent = parts[0](xs), parts[1](xs)
            if isinstance(base, float):
                base = torch.full_like(xs[0], base)
            return _pow(base, exponent)

        return power
    fn = _UNARY[op]

    def unary(xs: Variables) -> Any:
        inner = parts[0](xs)
        if isinstance(inner, float):
            inner = torch.full_like(xs[0], inner)
        return fn(inner)

    return unary


def torch_expression(tree: Tree) -> TensorFn:
    """The safe torch form of a one-variable tree: Tensor (...) -> Tensor (...)."""
    validate_tree(tree, 1)
    body = _compile(tree)

    def fn(u: torch.Tensor) -> torch.Tensor:
        out = body((u,))
        if isinstance(out, float):
            return torch.full_like(u, out)
        return out

    return fn


def torch_node_expression(tree: Tree, n_vars: int) -> TensorFn:
    """The safe torch form of a tree of ``n_vars`` variables (the same guards as an
    edge's): Tensor (batch, n_vars) -> Tensor (batch,)."""
    validate_tree(tree, n_vars)
    body = _compile(tree)

    def fn(x: torch.Tensor) -> torch.Tensor:
        xs = x.unbind(1)
        out = body(xs)
        if isinstance(out, float):
            return torch.full_like(xs[0], out)
        return out

    return fn


# ------------------------------------------------------------------ one function object
@functools.lru_cache(maxsize=256)
def _expression_function(name: str) -> LibraryFunction:
    tree = expression_tree(name)
    expr = from_tree(tree, ["x"])

    def numpy_fn(u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        return evaluate_tree(tree, u.reshape(-1, 1)).reshape(u.shape)

    def domain(u: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.isfinite(numpy_fn(u))

    return LibraryFunction(
        name=name, numpy_fn=numpy_fn, torch_fn=torch_expression(tree),
        sympy_fn=lambda u: expr.xreplace({_X: u}), complexity=tree_size(tree),
        domain=domain, interval=None, sign_redundant=False, label=_label(expr),
        latex_name=sympy.latex(expr))


def _label(expr: sympy.Expr) -> str:
    shown = expr.xreplace({f: sympy.Float(f, 4) for f in expr.atoms(sympy.Float)})
    return sympy.sstr(shown)


def lock_function(name: str) -> LibraryFunction:
    """The function a lock name stands for: a library function (by name or alias) or a
    stored expression. KeyError for an unknown library name, :class:`ExpressionLockError`
    (ValueError) for a refused expression."""
    if is_expression_name(name):
        return _expression_function(name)
    return get_function(name)


def lock_label(name: str) -> str:
    """What a person reads for a lock: a library function's label (``x²`` for ``x^2``,
    ``√x`` for ``sqrt``), or the expression in ``x`` with 4 significant digits
    (``x**2 + sin(2*x)``). Only the label: the lock keeps its name."""
    try:
        return lock_function(name).label
    except KeyError:  # not a library name: shown as it is
        return name
    except ValueError:
        return "expression"


# ------------------------------------------------------------------ node locks
@functools.lru_cache(maxsize=256)
def node_lock_function(name: str, n_vars: int) -> TensorFn:
    """The torch form of a node lock's expression of ``n_vars`` inputs:
    Tensor (batch, n_vars) -> Tensor (batch,). :class:`ExpressionLockError` (ValueError)
    says why a stored name is refused."""
    return torch_node_expression(expression_tree(name, n_vars), n_vars)


def node_expression(name: str, inputs: Sequence[sympy.Expr]) -> sympy.Expr:
    """A node lock's expression with its variables replaced by ``inputs`` (sympy
    expressions, one per variable, in order)."""
    tree = expression_tree(name, len(inputs))
    dummies = [f"_node_var_{k}" for k in range(len(inputs))]
    expr = from_tree(tree, dummies)
    return expr.xreplace({sympy.Symbol(d): v for d, v in zip(dummies, inputs, strict=True)})
