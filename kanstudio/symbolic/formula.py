"""From a network with locked edges to a sympy formula, and tidy constants for display.

``network_formulas`` composes each output node from the active edges only: a locked edge
is ``c * f(a * x + b) + d`` with its library function's sympy form, a pruned edge is absent
and a still-numeric edge is either refused (the default, with a message naming the edges)
or kept as an undefined function ``phi_l_i_j(x)`` so the user still sees the structure.
A product node (KAN 2.0) is the product of its sub-node expressions, each a sum of edges
like any node, so ``x*sin(x)`` comes out as a product, not as ``exp(log ...)``.

``snap_constants`` replaces floats that are within a relative tolerance of a simple
constant (``p/q`` with ``q <= 4``, small multiples of ``pi``, ``1/pi``, ``sqrt(2)``,
``1/sqrt(2*pi)``, ...) by that constant, and nothing else: a float with no simple
neighbour stays a float. ``tidy_formula`` expands (moving constants out of ``exp``, ``log``
and powers), snaps and re-simplifies, which is what recovers ``exp(sin(pi*x) + y**2)`` or
``P/(4*pi*r**2)`` from a network. Whether a snapped formula is still as accurate is for the
caller to check on data (the discovery pipeline tries several tolerances).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import sympy

from kanstudio.core import KANNetwork

__all__ = [
    "NumericEdgeError",
    "network_formulas",
    "snap_constants",
    "round_constants",
    "tidy_formula",
]

# Simple constants a fitted float may stand for: (sympy form, value, cost). A float is
# snapped to ``p/q * base`` only for the small numerators and denominators below, and a
# candidate of cost k must lie within ``tol * 2**-(k - 1)`` of it: a constant that takes
# more symbols to write must be matched more closely (each symbol halves the tolerance).
# What that covers, measured over log-uniform floats (``bench``-free, 20,000 draws a decade):
# at tol 1e-2 about 24 % of [1, 10), 5 % of [0.1, 1), 3 % of [10, 100); at 1e-3 about 3 %,
# 0.4 %, 0.5 %; at 1e-4 under 0.5 %. (With one tolerance for every candidate, 1e-2 covered
# 84 % of [1, 10) and 1e-3 15 %: a random float snapped more often than not.) A snap at
# the loose tolerances is therefore plausible, not proven: the discovery pipeline keeps a
# snapped formula only when it is as accurate on the held-out rows as the exact one.
_BASES: list[tuple[sympy.Expr, float, int]] = [
    (sympy.Integer(1), 1.0, 0),
    (sympy.pi, math.pi, 1),
    (1 / sympy.pi, 1 / math.pi, 2),
    (sympy.sqrt(2), math.sqrt(2), 2),
    (sympy.sqrt(3), math.sqrt(3), 2),
    (sympy.sqrt(2 * sympy.pi), math.sqrt(2 * math.pi), 3),
    (1 / sympy.sqrt(2 * sympy.pi), 1 / math.sqrt(2 * math.pi), 3),
    (sympy.sqrt(sympy.pi), math.sqrt(math.pi), 3),
    (1 / sympy.sqrt(sympy.pi), 1 / math.sqrt(math.pi), 3),
]
_MAX_DENOMINATOR = 4
_MAX_NUMERATOR = 12  # for rationals; multiples of an irrational base go up to 4
_MAX_IRRATIONAL_NUMERATOR = 4


def _candidates() -> list[tuple[float, int, sympy.Expr]]:
    """Every simple constant (value, cost, expression), positive ones only."""
    out: dict[float, tuple[float, int, sympy.Expr]] = {}
    for base, base_value, base_cost in _BASES:
        top = _MAX_NUMERATOR if base_cost == 0 else _MAX_IRRATIONAL_NUMERATOR
        for q in range(1, _MAX_DENOMINATOR + 1):
            for p in range(1, top * q + 1):
                frac = Fraction(p, q)
                if frac.denominator != q or frac > top:
                    continue
                value = float(frac) * base_value
                cost = base_cost + len(str(p)) + (q > 1) + (q > 2)
                key = round(value, 12)
                if key not in out or cost < out[key][1]:
                    out[key] = (value, cost, sympy.Rational(p, q) * base)
    return sorted(out.values(), key=lambda c: c[0])


_CANDIDATES = _candidates()
_CANDIDATE_VALUES = np.array([c[0] for c in _CANDIDATES])


class NumericEdgeError(ValueError):
    """The formula was asked for while some active edges are still numeric splines."""

    def __init__(self, edges: Sequence[tuple[int, int, int]]):
        self.edges = list(edges)
        shown = ", ".join(str(e) for e in self.edges[:8])
        more = f" and {len(self.edges) - 8} more" if len(self.edges) > 8 else ""
        super().__init__(
            f"{len(self.edges)} active edge(s) are not symbolic yet ({shown}{more}): lock them "
            "(lock_edge / auto_symbolic), prune them, or ask for numeric='placeholder'"
        )


def _num(value: float) -> sympy.Expr:
    return sympy.Float(float(value), 17)


def network_formulas(
    net: KANNetwork, names: Sequence[str], numeric: str = "error"
) -> list[sympy.Expr]:
    """One sympy expression per output node over the symbols ``names`` (one per original
    input column; pruned inputs simply do not appear). Constants keep full precision."""
    if numeric not in ("error", "placeholder"):
        raise ValueError(f"numeric must be 'error' or 'placeholder', got {numeric!r}")
    if len(names) != net.n_features_in:
        raise ValueError(f"expected {net.n_features_in} names, got {len(names)}")
    from kanstudio.symbolic.expression_lock import lock_function, node_expression

    symbols = [sympy.Symbol(str(n)) for n in names]
    nodes: list[sympy.Expr] = [symbols[i] for i in net.input_ids]
    missing: list[tuple[int, int, int]] = []
    needed = _needed_columns(net)
    for idx, layer in enumerate(net.layers):
        mask = layer.mask.detach().cpu()
        params = layer.symbolic_params.detach().cpu().double()
        bias = layer.bias.detach().cpu().double()
        columns: list[sympy.Expr] = []
        for j in range(layer.n_out):
            if j not in needed[idx]:  # feeds only locked nodes: its edges do not matter
                columns.append(sympy.Integer(0))
                continue
            terms: list[sympy.Expr] = [_num(bias[j])]
            for i in range(layer.n_in):
                if mask[i, j] == 0:
                    continue
                name = layer.symbolic_names.get((i, j))
                if name is None:
                    missing.append((idx, i, j))
                    terms.append(sympy.Function(f"phi_{idx}_{i}_{j}")(nodes[i]))
                    continue
                a, b, c, d = (float(v) for v in params[i, j])
                inner = _num(a) * nodes[i] + _num(b)
                terms.append(_num(c) * lock_function(name).sympy_fn(inner) + _num(d))
            columns.append(sympy.Add(*terms))
        nodes = [sympy.Mul(*(columns[c] for c in layer.node_columns(node)))
                 for node in range(layer.n_nodes)]
        for (level, node), lock in net.node_locks.items():
            if level == idx + 1:
                nodes[node] = node_expression(lock.name, [symbols[c] for c in lock.inputs])
    if missing and numeric == "error":
        raise NumericEdgeError(missing)
    return nodes


def _needed_columns(net: KANNetwork) -> list[set[int]]:
    """Per layer, the edge columns whose edges reach an output other than through a
    locked node (a locked node's value is its expression, whatever its edges say)."""
    needed_nodes = set(range(net.width[-1]))
    out: list[set[int]] = []
    for level in range(len(net.layers), 0, -1):
        layer = net.layers[level - 1]
        active = layer.mask.detach().cpu().bool()
        columns = {c for n in needed_nodes if (level, n) not in net.node_locks
                   for c in layer.node_columns(n)}
        out.insert(0, columns)
        needed_nodes = {int(i) for c in columns for i in active[:, c].nonzero().flatten()}
    return out


def _snap(value: float, tol: float, zero_tol: float) -> sympy.Expr | None:
    """The simplest constant within tolerance of ``value``, or None.

    A candidate of cost k is within tolerance when its relative distance is at most
    ``tol * 2**-(k - 1)`` (cost: digits of p, plus one or two for q, plus the base's; 1 for
    a one-digit integer). Among those the cheapest wins (integers before fractions,
    fractions before multiples of pi, ...), then the closest; ``|value| <= zero_tol`` is 0.
    """
    if not math.isfinite(value):
        return None
    if abs(value) <= zero_tol:
        return sympy.Integer(0)
    size = abs(value)
    lo = np.searchsorted(_CANDIDATE_VALUES, size / (1 + tol), side="left")
    hi = np.searchsorted(_CANDIDATE_VALUES, size / (1 - tol) if tol < 1 else np.inf,
                         side="right")
    best = None
    for cand_value, cost, cand in _CANDIDATES[lo:hi]:
        err = abs(cand_value - size)
        if err > tol * cand_value * 2.0 ** -max(cost - 1, 0):  # see _BASES
            continue
        if best is None or (cost, err) < (best[0], best[1]):
            best = (cost, err, cand)
    if best is None:
        return None
    return best[2] if value > 0 else -best[2]


def snap_constants(expr: sympy.Expr, tol: float = 1e-3, zero_tol: float | None = None
                   ) -> sympy.Expr:
    """Replace each float within ``tol`` (relative) of a simple constant by that constant.

    Simple constants are ``p/q``, ``p/q * pi``, ``p/q * sqrt(2)``, ``p/q / sqrt(2*pi)``, ...
    with ``q <= 4`` and small ``p`` (see ``_BASES``); floats with ``|v| <= zero_tol``
    (default: ``tol``) become 0; floats with no simple neighbour stay as they are.
    """
    zero = tol if zero_tol is None else zero_tol
    mapping = {}
    for f in expr.atoms(sympy.Float):
        snapped = _snap(float(f), tol, zero)
        if snapped is not None:
            mapping[f] = snapped
    return expr.xreplace(mapping)


def round_constants(expr: sympy.Expr, digits: int = 4) -> sympy.Expr:
    """Round every float to ``digits`` significant digits (display only)."""
    mapping = {}
    for f in expr.atoms(sympy.Float):
        v = float(f)
        mapping[f] = sympy.Float(float(f"{v:.{digits}g}"), digits) if v != 0 else sympy.Integer(0)
    return expr.xreplace(mapping)


#: Expressions with more operations than this are not passed to ``sympy.simplify``, which
#: can take minutes on a large network's formula; they are still expanded and snapped.
SIMPLIFY_MAX_OPS = 150


def _split_constant_factor(arg: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr] | None:
    """``arg = c * rest`` with a float ``c``: (|c|, sign(c) * rest), else None."""
    if not isinstance(arg, sympy.Mul):
        return None
    coeff, rest = arg.as_coeff_Mul()
    if not isinstance(coeff, sympy.Float) or coeff == 0 or rest == 1:
        return None
    return abs(coeff), (rest if coeff > 0 else -rest)


def _split_sum(arg: sympy.Expr, tol: float) -> tuple[sympy.Expr, sympy.Expr] | None:
    """``arg = k * rest`` for a sum with float coefficients: (|k|, sign(k) * rest) with
    ``k`` the term coefficient that leaves the fewest floats unsnapped in ``rest`` (ties:
    the constant term, then the first term), so ``0.233*a**2 + 0.233`` is
    ``0.233 * (a**2 + 1)``. None when no coefficient is a float or nothing gets simpler."""
    if not isinstance(arg, sympy.Add):
        return None
    terms = sympy.Add.make_args(arg)
    coeffs = [t.as_coeff_Mul()[0] for t in terms]
    if not any(isinstance(c, sympy.Float) for c in coeffs):
        return None

    def unsnapped(k: sympy.Expr) -> int:
        return sum(_snap(float(c / k), tol, 0.0) is None for c in coeffs)

    order = sorted(range(len(terms)), key=lambda i: (not terms[i].is_Number, i))
    divisors = [coeffs[i] for i in order if isinstance(coeffs[i], sympy.Float)
                and coeffs[i] != 0]
    best = min(divisors, key=unsnapped, default=None)
    if best is None or unsnapped(best) >= sum(isinstance(c, sympy.Float) for c in coeffs):
        return None
    rest = snap_constants(sympy.Add(*(t / best for t in terms)), tol, 0.0)
    return abs(best), (rest if best > 0 else -rest)


def _pull_out_constants(expr: sympy.Expr, tol: float = 1e-3) -> sympy.Expr:
    """``log(c*u) -> log|c| + log(±u)`` and ``(c*u)**e -> |c|**e * (±u)**e``.

    Both hold for real values wherever the left side is real (``c*u > 0`` for the log; for
    the power ``|c| > 0``), so no positivity has to be assumed of the symbols. They let
    ``exp(k*log(c*x))`` become ``c**k * x**k`` and its constants snap. A sum's common
    factor comes out the same way (:func:`_split_sum`): ``2.07*sqrt(0.233*a**2 + 0.233)``
    is ``2.07*sqrt(0.233)*sqrt(a**2 + 1)`` whose constant then snaps to 1; for powers this
    applies to fractional and negative exponents (positive integer ones are expanded).
    """

    def split(arg: sympy.Expr, sums: bool) -> tuple[sympy.Expr, sympy.Expr] | None:
        return _split_constant_factor(arg) or (_split_sum(arg, tol) if sums else None)

    def rewrite(node: sympy.Expr) -> sympy.Expr:
        if isinstance(node, sympy.log):
            parts = split(node.args[0], sums=True)
            if parts is not None:
                return sympy.log(parts[0]) + sympy.log(parts[1])
        elif isinstance(node, sympy.Pow) and not (node.exp.is_Integer and node.exp > 0):
            parts = split(node.base, sums=True) if not node.exp.is_Integer else (
                _split_sum(node.base, tol))
            if parts is not None:
                return parts[0] ** node.exp * parts[1] ** node.exp
        return node

    return expr.replace(lambda node: isinstance(node, sympy.log | sympy.Pow), rewrite)


def tidy_formula(expr: sympy.Expr, tol: float = 1e-3, digits: int | None = 4,
                 zero_tol: float | None = None) -> sympy.Expr:
    """Expand, snap constants, simplify; what remains unsnapped is rounded for display.

    Expansion first makes non-unique parameterisations meet: ``c * exp(u + b)`` becomes
    ``c e^b exp(u)`` whose constant is then snapped; ``(a x + b)^2`` becomes a polynomial
    whose coefficients snap one by one; ``exp(k log(a x))`` becomes ``a^k x^k``. ``tol``
    and ``zero_tol`` are those of :func:`snap_constants`; ``digits=None`` keeps the
    unsnapped constants at full precision (round them with :func:`round_constants`).
    """

    def expand_and_snap(e: sympy.Expr) -> sympy.Expr:
        e = sympy.expand(e, power_exp=True, deep=True)
        return snap_constants(e, tol, zero_tol)

    work = expand_and_snap(expr)
    work = expand_and_snap(_pull_out_constants(work, tol))
    # simplify is for snapped formulas (it takes seconds, and on a large formula with floats
    # gigabytes, to rearrange a few constants it cannot snap anyway).
    if not work.has(sympy.Float) and sympy.count_ops(work) <= SIMPLIFY_MAX_OPS:
        try:
            work = sympy.simplify(work)
        except (RecursionError, TypeError, ValueError):  # keep the snapped form
            pass
    work = snap_constants(sympy.powsimp(work, combine="exp"), tol, zero_tol)
    return work if digits is None else round_constants(work, digits)
