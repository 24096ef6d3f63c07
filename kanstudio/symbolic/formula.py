"""From a network with locked edges to a sympy formula, and tidy constants for display.

``network_formulas`` composes each output node from the active edges only: a locked edge
is ``c * f(a * x + b) + d`` with its library function's sympy form, a pruned edge is absent
and a still-numeric edge is either refused (the default, with a message naming the edges)
or kept as an undefined function ``phi_l_i_j(x)`` so the user still sees the structure.

``snap_constants`` replaces floats that are within a tolerance of a simple constant
(``p/q``, ``p/q * pi``, ``p/q * sqrt(2)``, ...) by that constant; ``tidy_formula`` expands,
snaps and re-simplifies, which is what recovers ``exp(sin(pi*x) + y**2)`` from a network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import sympy
import torch

from kanstudio.core import KANNetwork
from kanstudio.symbolic.library import get_function

__all__ = [
    "NumericEdgeError",
    "network_formulas",
    "snap_constants",
    "round_constants",
    "tidy_formula",
    "verify_formula",
]

_BASES: list[tuple[sympy.Expr, float]] = [
    (sympy.Integer(1), 1.0),
    (sympy.pi, math.pi),
    (1 / sympy.pi, 1 / math.pi),
    (sympy.sqrt(2), math.sqrt(2)),
    (sympy.sqrt(3), math.sqrt(3)),
    (sympy.sqrt(sympy.pi), math.sqrt(math.pi)),
    (1 / sympy.sqrt(sympy.pi), 1 / math.sqrt(math.pi)),
    (sympy.sqrt(2 * sympy.pi), math.sqrt(2 * math.pi)),
    (1 / sympy.sqrt(2 * sympy.pi), 1 / math.sqrt(2 * math.pi)),
    (sympy.pi**2, math.pi**2),
    (sympy.E, math.e),
]


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
    symbols = [sympy.Symbol(str(n)) for n in names]
    nodes: list[sympy.Expr] = [symbols[i] for i in net.input_ids]
    missing: list[tuple[int, int, int]] = []
    for idx, layer in enumerate(net.layers):
        mask = layer.mask.detach().cpu()
        params = layer.symbolic_params.detach().cpu().double()
        bias = layer.bias.detach().cpu().double()
        nxt: list[sympy.Expr] = []
        for j in range(layer.n_out):
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
                terms.append(_num(c) * get_function(name).sympy_fn(inner) + _num(d))
            nxt.append(sympy.Add(*terms))
        nodes = nxt
    if missing and numeric == "error":
        raise NumericEdgeError(missing)
    return nodes


def _snap(value: float, tol: float) -> sympy.Expr | None:
    if abs(value) <= tol:
        return sympy.Integer(0)
    best = None
    for base, base_value in _BASES:
        ratio = value / base_value
        frac = Fraction(ratio).limit_denominator(12)
        if frac == 0 or abs(frac.numerator) > 1000:
            continue
        if abs(float(frac) * base_value - value) <= tol * max(1.0, abs(value)):
            cost = frac.denominator + len(str(abs(frac.numerator)))
            if best is None or cost < best[0]:
                best = (cost, sympy.Rational(frac.numerator, frac.denominator) * base)
        if best is not None and best[0] <= 2:
            break
    return None if best is None else best[1]


def snap_constants(expr: sympy.Expr, tol: float = 1e-3) -> sympy.Expr:
    """Replace each float within ``tol`` (relative above 1, absolute below) of a simple
    constant by that constant; floats with no simple neighbour stay as they are."""
    mapping = {}
    for f in expr.atoms(sympy.Float):
        snapped = _snap(float(f), tol)
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


def tidy_formula(expr: sympy.Expr, tol: float = 1e-3, digits: int = 4) -> sympy.Expr:
    """Expand, snap constants, simplify; what remains unsnapped is rounded for display.

    Expansion first makes non-unique parameterisations meet: ``c * exp(u + b)`` becomes
    ``c e^b exp(u)`` whose constant is then snapped; ``(a x + b)^2`` becomes a polynomial
    whose coefficients snap one by one.
    """
    work = sympy.expand(expr, power_exp=True, deep=True)
    work = sympy.expand(snap_constants(work, tol))
    work = snap_constants(work, tol)
    try:
        work = sympy.simplify(work)
    except (RecursionError, TypeError, ValueError):  # keep the snapped form
        pass
    work = sympy.powsimp(work, combine="exp")
    return round_constants(work, digits)


@torch.no_grad()
def verify_formula(
    net: KANNetwork, expr: sympy.Expr, names: Sequence[str], x: torch.Tensor, output: int = 0
) -> float:
    """Max relative difference between ``expr`` and the network on x (n, n_features_in)."""
    symbols = [sympy.Symbol(str(n)) for n in names]
    fn = sympy.lambdify(symbols, expr, modules="numpy")
    cols = x.double().cpu().numpy()
    values = fn(*[cols[:, i] for i in range(cols.shape[1])])
    model = net(net.select_inputs(x))[:, output].double().cpu().numpy()
    values = np.broadcast_to(np.asarray(values, dtype=np.float64), model.shape)
    scale = max(float(np.max(np.abs(model))), 1e-12)
    return float(np.max(np.abs(values - model)) / scale)
