"""The symbolic function library: every candidate ``f`` for an edge ``c·f(a·x + b) + d``.

The library is data. Each :class:`LibraryFunction` carries the same function three times:

* ``numpy_fn`` and ``torch_fn`` are *safe* forms used for fitting and for training locked
  edges. For every finite input they return finite values (and ``torch_fn`` finite
  gradients): arguments outside the mathematical domain are clamped onto it, and the few
  functions that blow up are capped (see the module constants below).
* ``sympy_fn`` is the exact form used to build formulas (``sympy.log``, ``1/u``, ...).
* ``domain(u)`` is the boolean mask of arguments ``u = a·x + b`` where the safe forms equal
  the exact function: the mathematical domain, shrunk by the guards below (``u >= 1e-6`` for
  ``log`` rather than ``u > 0``). A fit is only accepted when every sample lies inside it.

``LIBRARY`` lists the entries in display order; that order also breaks ranking ties.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import sympy
import torch
from scipy.special import expit

#: Smallest |u| accepted by ``1/x`` and ``1/x^2``, and smallest u accepted by ``log``.
DOMAIN_EPS = 1e-6
#: ``tan`` is capped to ±TAN_LIMIT; its domain is where |tan u| <= TAN_LIMIT.
TAN_LIMIT = 1e6
#: ``exp`` clamps its argument to <= EXP_MAX_ARG (exp(50) ≈ 5e21 still fits in float32).
EXP_MAX_ARG = 50.0
#: Powers x², x³, x⁴ clamp |u| to POWER_ARG_LIMIT so that float32 values stay finite.
POWER_ARG_LIMIT = 1e6
# Floor under the argument of torch's sqrt so the gradient at 0 is finite (value off by 1e-6).
_GRAD_EPS = 1e-12

ArrayFn = Callable[[np.ndarray], np.ndarray]
TensorFn = Callable[[torch.Tensor], torch.Tensor]
ExprFn = Callable[[sympy.Expr], sympy.Expr]

_X = sympy.Symbol("x")


def _everywhere(u: np.ndarray) -> np.ndarray:
    return np.ones(np.shape(u), dtype=bool)


def _as_float(u: np.ndarray) -> np.ndarray:
    # Keep float32 as float32 (the fitter's coarse search runs in float32); ints -> float64.
    u = np.asarray(u)
    return u if u.dtype.kind == "f" else u.astype(float)


@dataclass(frozen=True)
class LibraryFunction:
    """One candidate edge function ``f``; fits use it as ``c·f(a·x + b) + d``.

    Attributes:
        name: canonical library key, e.g. ``"sin"``, ``"x^2"``, ``"1/x"``.
        numpy_fn: safe form, ndarray ``(...)`` -> ndarray ``(...)``, finite for finite input.
        torch_fn: safe differentiable form, Tensor ``(...)`` -> Tensor ``(...)``.
        sympy_fn: exact form, ``sympy.Expr`` -> ``sympy.Expr``.
        complexity: 0 for ``0``, 1 for ``x``, 2 for simple functions, more for composites.
        domain: ndarray ``(...)`` of u -> bool ndarray ``(...)``, True where the safe forms
            equal the exact function.
        interval: the domain as a closed interval ``(lo, hi)`` when it is one (bounds may be
            infinite), else ``None`` (``1/x``, ``tan``). Because u is monotone in x, a fit
            only has to check the two extreme samples against an interval.
        sign_redundant: True when ``f(-u) = α·f(u) + β`` (even, odd, or sigmoid-like), so
            the parameters ``(a, b)`` and ``(-a, -b)`` describe the same family of curves.
        label: short plain-text label, e.g. ``"x²"``.
        latex_name: LaTeX of ``f(x)``, e.g. ``"\\sin{\\left(x \\right)}"``.
    """

    name: str
    numpy_fn: ArrayFn
    torch_fn: TensorFn
    sympy_fn: ExprFn
    complexity: int
    domain: Callable[[np.ndarray], np.ndarray]
    interval: tuple[float, float] | None
    sign_redundant: bool
    label: str
    latex_name: str

    @property
    def full_domain(self) -> bool:
        """True when every real argument is valid (no domain check needed)."""
        return self.interval == (-np.inf, np.inf)


def _entry(
    name: str,
    numpy_fn: ArrayFn,
    torch_fn: TensorFn,
    sympy_fn: ExprFn,
    complexity: int,
    label: str,
    *,
    interval: tuple[float, float] | None = (-np.inf, np.inf),
    domain: Callable[[np.ndarray], np.ndarray] | None = None,
    sign_redundant: bool = False,
) -> LibraryFunction:
    if domain is None:
        if interval is None:
            raise ValueError(f"{name}: a domain without an interval needs a mask function")
        lo, hi = interval
        domain = _everywhere if interval == (-np.inf, np.inf) else _interval_mask(lo, hi)
    return LibraryFunction(
        name=name,
        numpy_fn=numpy_fn,
        torch_fn=torch_fn,
        sympy_fn=sympy_fn,
        complexity=complexity,
        domain=domain,
        interval=interval,
        sign_redundant=sign_redundant,
        label=label,
        latex_name=sympy.latex(sympy_fn(_X)),
    )


def _interval_mask(lo: float, hi: float) -> Callable[[np.ndarray], np.ndarray]:
    def mask(u: np.ndarray) -> np.ndarray:
        u = np.asarray(u)
        return (u >= lo) & (u <= hi)

    return mask


# --- safe numpy forms -------------------------------------------------------------------


def _np_away_from_zero(u: np.ndarray) -> np.ndarray:
    # 0 itself is sent to +eps, so 1/x stays finite and sign-consistent.
    u = _as_float(u)
    eps = u.dtype.type(DOMAIN_EPS)
    return np.where(np.abs(u) < eps, np.where(u < 0, -eps, eps), u)


def _np_power(p: int) -> ArrayFn:
    def power(u: np.ndarray) -> np.ndarray:
        v = np.clip(_as_float(u), -POWER_ARG_LIMIT, POWER_ARG_LIMIT)
        # Repeated products: numpy's generic ** is several times slower than a multiply.
        return v * v if p == 2 else v * v * v if p == 3 else np.square(v * v)

    return power


def _np_tan(u: np.ndarray) -> np.ndarray:
    return np.clip(np.tan(u), -TAN_LIMIT, TAN_LIMIT)


def _tan_domain(u: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(np.tan(u)) <= TAN_LIMIT


def _reciprocal_domain(u: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(u)) >= DOMAIN_EPS


# --- safe torch forms -------------------------------------------------------------------


def _torch_away_from_zero(u: torch.Tensor) -> torch.Tensor:
    eps = torch.full_like(u, DOMAIN_EPS)
    # torch.where routes the gradient only through the chosen branch, so no NaN leaks in.
    return torch.where(u.abs() < DOMAIN_EPS, torch.where(u < 0, -eps, eps), u)


def _torch_power(p: int) -> TensorFn:
    def power(u: torch.Tensor) -> torch.Tensor:
        return torch.clamp(u, -POWER_ARG_LIMIT, POWER_ARG_LIMIT) ** p

    return power


def _torch_sqrt(u: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.clamp(u, min=_GRAD_EPS))


def _torch_arcsin(u: torch.Tensor) -> torch.Tensor:
    # arcsin(v) = atan2(v, sqrt(1 - v²)); the floor under 1 - v² keeps d/dv finite at ±1,
    # where torch.asin's derivative is infinite. The value at ±1 is off by about 1e-6.
    v = torch.clamp(u, -1.0, 1.0)
    return torch.atan2(v, torch.sqrt(torch.clamp(1.0 - v * v, min=_GRAD_EPS)))


def _torch_gaussian(u: torch.Tensor) -> torch.Tensor:
    return torch.exp(-(u * u))


def _build_library() -> dict[str, LibraryFunction]:
    entries = [
        _entry("0", lambda u: np.zeros_like(_as_float(u)), lambda u: 0.0 * u,
               lambda u: sympy.Integer(0), 0, "0", sign_redundant=True),
        _entry("x", lambda u: _as_float(u) + 0.0, lambda u: u, lambda u: u,
               1, "x", sign_redundant=True),
        _entry("x^2", _np_power(2), _torch_power(2), lambda u: u**2, 2, "x²",
               interval=(-POWER_ARG_LIMIT, POWER_ARG_LIMIT), sign_redundant=True),
        _entry("x^3", _np_power(3), _torch_power(3), lambda u: u**3, 3, "x³",
               interval=(-POWER_ARG_LIMIT, POWER_ARG_LIMIT), sign_redundant=True),
        _entry("x^4", _np_power(4), _torch_power(4), lambda u: u**4, 4, "x⁴",
               interval=(-POWER_ARG_LIMIT, POWER_ARG_LIMIT), sign_redundant=True),
        _entry("1/x", lambda u: 1.0 / _np_away_from_zero(u),
               lambda u: 1.0 / _torch_away_from_zero(u), lambda u: 1 / u, 2, "1/x",
               interval=None, domain=_reciprocal_domain, sign_redundant=True),
        _entry("1/x^2", lambda u: 1.0 / np.square(_np_away_from_zero(u)),
               lambda u: 1.0 / _torch_away_from_zero(u) ** 2, lambda u: 1 / u**2, 3, "1/x²",
               interval=None, domain=_reciprocal_domain, sign_redundant=True),
        _entry("sqrt", lambda u: np.sqrt(np.maximum(u, 0.0)), _torch_sqrt, sympy.sqrt, 2,
               "√x", interval=(0.0, np.inf)),
        _entry("exp", lambda u: np.exp(np.minimum(u, EXP_MAX_ARG)),
               lambda u: torch.exp(torch.clamp(u, max=EXP_MAX_ARG)), sympy.exp, 2, "exp",
               interval=(-np.inf, EXP_MAX_ARG)),
        _entry("log", lambda u: np.log(np.maximum(u, DOMAIN_EPS)),
               lambda u: torch.log(torch.clamp(u, min=DOMAIN_EPS)), sympy.log, 2, "log",
               interval=(DOMAIN_EPS, np.inf)),
        _entry("sin", np.sin, torch.sin, sympy.sin, 2, "sin", sign_redundant=True),
        _entry("cos", np.cos, torch.cos, sympy.cos, 2, "cos", sign_redundant=True),
        _entry("tan", _np_tan, lambda u: torch.clamp(torch.tan(u), -TAN_LIMIT, TAN_LIMIT),
               sympy.tan, 3, "tan", interval=None, domain=_tan_domain, sign_redundant=True),
        _entry("tanh", np.tanh, torch.tanh, sympy.tanh, 3, "tanh", sign_redundant=True),
        _entry("sigmoid", expit, torch.sigmoid, lambda u: 1 / (1 + sympy.exp(-u)), 3, "σ",
               sign_redundant=True),
        _entry("abs", np.abs, torch.abs, sympy.Abs, 2, "|x|", sign_redundant=True),
        _entry("arcsin", lambda u: np.arcsin(np.clip(u, -1.0, 1.0)), _torch_arcsin,
               sympy.asin, 3, "arcsin", interval=(-1.0, 1.0), sign_redundant=True),
        _entry("arctan", np.arctan, torch.atan, sympy.atan, 3, "arctan", sign_redundant=True),
        _entry("gaussian", lambda u: np.exp(-np.square(u)), _torch_gaussian,
               lambda u: sympy.exp(-(u**2)), 3, "exp(-x²)", sign_redundant=True),
    ]  # fmt: skip
    return {entry.name: entry for entry in entries}


#: Every library function by canonical name, in display order.
LIBRARY: dict[str, LibraryFunction] = _build_library()

_ALIASES: dict[str, str] = {
    "zero": "0",
    "id": "x", "identity": "x", "linear": "x",
    "x2": "x^2", "x²": "x^2", "x**2": "x^2",
    "x3": "x^3", "x³": "x^3", "x**3": "x^3",
    "x4": "x^4", "x⁴": "x^4", "x**4": "x^4",
    "inv": "1/x", "1/x2": "1/x^2", "1/x²": "1/x^2", "1/x**2": "1/x^2",
    "√x": "sqrt", "ln": "log",
    "asin": "arcsin", "atan": "arctan",
    "exp(-x^2)": "gaussian", "exp(-x²)": "gaussian", "exp(-x**2)": "gaussian", "gauss": "gaussian",
}  # fmt: skip


def _canonical(name: str) -> str | None:
    key = name.strip()
    if key in LIBRARY:
        return key
    key = key.lower().replace(" ", "")
    if key in LIBRARY:
        return key
    return _ALIASES.get(key)


def _valid_names() -> str:
    return ", ".join(LIBRARY)


def get_function(name: str) -> LibraryFunction:
    """Look up a library function by name or common alias (``"x2"``, ``"asin"``, ``"inv"``).

    Raises:
        KeyError: the name is unknown; the message lists the valid names.
    """
    canonical = _canonical(name) if isinstance(name, str) else None
    if canonical is None:
        raise KeyError(f"unknown library function {name!r}; valid names: {_valid_names()}")
    return LIBRARY[canonical]


def resolve_names(names: Iterable[str] | str | None) -> list[LibraryFunction]:
    """Turn a user's selection of library names into functions, in the order given.

    Args:
        names: names or aliases; ``None`` selects the whole library. A single string is
            read as a comma-separated list (``"sin,exp,x^2"``). Duplicates are dropped.

    Raises:
        ValueError: a name is unknown; the message names it and lists the valid names.
    """
    if names is None:
        return list(LIBRARY.values())
    if isinstance(names, str):
        names = [part for part in names.split(",") if part.strip()]
    resolved: list[LibraryFunction] = []
    for name in names:
        canonical = _canonical(name) if isinstance(name, str) else None
        if canonical is None:
            raise ValueError(
                f"unknown library function {name!r} in the selection; "
                f"valid names: {_valid_names()}"
            )
        if LIBRARY[canonical] not in resolved:
            resolved.append(LIBRARY[canonical])
    return resolved
