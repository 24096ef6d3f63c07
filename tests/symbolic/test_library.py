"""The symbolic library: names, exact vs safe forms, finiteness, domains, look-ups."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from kanstudio.symbolic.library import (
    LIBRARY,
    LibraryFunction,
    get_function,
    resolve_names,
)

REQUIRED = ["0", "x", "x^2", "x^3", "x^4", "1/x", "1/x^2", "sqrt", "exp", "log", "sin", "cos",
            "tan", "tanh", "sigmoid", "abs", "arcsin", "arctan", "gaussian"]

# Finite arguments that stress every guard: 0 and ±1 exactly, poles of tan, exp overflow.
EDGE_ARGS = [-1e8, -1e3, -60.0, -10.0, -math.pi / 2, -1.0, -0.5, -1e-9, 0.0, 1e-9, 0.5, 1.0,
             math.pi / 2, 10.0, 60.0, 1e3, 1e8]

X = sympy.Symbol("x")


def in_domain_points(fn: LibraryFunction) -> np.ndarray:
    """(k,) points where the exact function is defined and well inside the safe forms."""
    u = np.linspace(-3.0, 3.0, 241)
    if fn.name == "tan":
        u = np.linspace(-1.4, 1.4, 241)
    return u[fn.domain(u)]


def test_library_holds_the_required_names_in_order() -> None:
    assert list(LIBRARY)[: len(REQUIRED)] == REQUIRED
    assert all(LIBRARY[name].name == name for name in LIBRARY)


def test_complexity_orders_simple_before_composite() -> None:
    assert LIBRARY["0"].complexity == 0
    assert LIBRARY["x"].complexity == 1
    assert LIBRARY["x^2"].complexity == LIBRARY["sin"].complexity == 2
    assert LIBRARY["x^4"].complexity > LIBRARY["x^3"].complexity > LIBRARY["x^2"].complexity
    assert all(isinstance(fn.complexity, int) and fn.complexity >= 0 for fn in LIBRARY.values())
    assert all(fn.label and fn.latex_name for fn in LIBRARY.values())
    assert LIBRARY["x^2"].label == "x²"


@pytest.mark.parametrize("name", list(LIBRARY))
def test_sympy_form_matches_numpy_form_in_domain(name: str) -> None:
    fn = LIBRARY[name]
    u = in_domain_points(fn)
    exact = sympy.lambdify(X, fn.sympy_fn(X), modules="numpy")
    expected = np.broadcast_to(np.asarray(exact(u), dtype=float), u.shape)
    np.testing.assert_allclose(fn.numpy_fn(u), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(LIBRARY))
def test_torch_form_matches_numpy_form_in_domain(name: str) -> None:
    fn = LIBRARY[name]
    u = in_domain_points(fn)
    got = fn.torch_fn(torch.tensor(u, dtype=torch.float64)).numpy()
    # sqrt and arcsin floor their torch argument so the gradient stays finite: ~1e-6 off.
    np.testing.assert_allclose(got, fn.numpy_fn(u), rtol=1e-9, atol=2e-6)


@pytest.mark.parametrize("name", list(LIBRARY))
def test_numpy_form_is_finite_for_finite_input(name: str) -> None:
    fn = LIBRARY[name]
    u = np.array(EDGE_ARGS)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is fine
        values = fn.numpy_fn(u)
    assert values.shape == u.shape and np.isfinite(values).all()
    assert np.isfinite(fn.numpy_fn(u.astype(np.float32))).all()
    assert fn.numpy_fn(u.astype(np.float32)).dtype == np.float32  # the fitter's coarse grid
    assert np.isfinite(fn.numpy_fn(np.array([0, 1, -1]))).all()  # integer input


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(LIBRARY))
def test_torch_form_and_gradient_are_finite(name: str, dtype: torch.dtype) -> None:
    u = torch.tensor(EDGE_ARGS, dtype=dtype, requires_grad=True)
    values = LIBRARY[name].torch_fn(u)
    values.sum().backward()
    assert torch.isfinite(values).all()
    assert u.grad is not None and torch.isfinite(u.grad).all()


def test_domains_say_where_the_exact_function_is_defined() -> None:
    u = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 1.01])
    assert LIBRARY["log"].domain(u).tolist() == [False, False, False, True, True, True]
    assert LIBRARY["sqrt"].domain(u).tolist() == [False, False, True, True, True, True]
    assert LIBRARY["1/x"].domain(u).tolist() == [True, True, False, True, True, True]
    assert LIBRARY["1/x^2"].domain(u).tolist() == [True, True, False, True, True, True]
    assert LIBRARY["arcsin"].domain(u).tolist() == [False, True, True, True, True, False]
    assert LIBRARY["sin"].domain(u).all() and LIBRARY["sin"].full_domain
    assert not LIBRARY["tan"].domain(np.array([np.pi / 2])).any()
    assert LIBRARY["arcsin"].interval == (-1.0, 1.0) and LIBRARY["1/x"].interval is None


def test_sign_redundant_functions_really_are() -> None:
    # (a, b) -> (-a, -b) must give the same curve up to c and d: f(-u) = alpha f(u) + beta.
    u = np.linspace(-0.9, 0.9, 37)
    u = u[np.abs(u) > 0.05]
    for fn in LIBRARY.values():
        if not fn.sign_redundant:
            continue
        design = np.stack([fn.numpy_fn(u), np.ones_like(u)], axis=1)
        coef, *_ = np.linalg.lstsq(design, fn.numpy_fn(-u), rcond=None)
        np.testing.assert_allclose(design @ coef, fn.numpy_fn(-u), atol=1e-9, err_msg=fn.name)


@pytest.mark.parametrize(
    ("alias", "name"),
    [("x2", "x^2"), ("x²", "x^2"), ("asin", "arcsin"), ("atan", "arctan"), ("inv", "1/x"),
     ("exp(-x^2)", "gaussian"), ("SIN", "sin"), (" log ", "log"), ("sin", "sin")],
)
def test_get_function_accepts_names_and_aliases(alias: str, name: str) -> None:
    assert get_function(alias) is LIBRARY[name]


def test_get_function_names_the_valid_choices() -> None:
    with pytest.raises(KeyError, match="sinh.*valid names: 0, x, x\\^2"):
        get_function("sinh")


def test_resolve_names_selects_in_order_without_duplicates() -> None:
    assert resolve_names(None) == list(LIBRARY.values())
    assert [fn.name for fn in resolve_names(["sin", "x2", "asin", "sin"])] == [
        "sin", "x^2", "arcsin"]
    assert [fn.name for fn in resolve_names("exp, log")] == ["exp", "log"]
    assert resolve_names([]) == []


def test_resolve_names_rejects_unknown_names_clearly() -> None:
    with pytest.raises(ValueError, match="'cosh'.*valid names: .*gaussian"):
        resolve_names(["sin", "cosh"])
