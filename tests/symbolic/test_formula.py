"""From a trained network to a formula, and the formula's exports."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from kanstudio import KAN
from kanstudio.symbolic.export import to_c, to_latex, to_mathml, to_python, to_sympy
from kanstudio.symbolic.formula import (
    NumericEdgeError,
    network_formulas,
    round_constants,
    tidy_formula,
)

x, y = sympy.symbols("x y")


@pytest.fixture(scope="module")
def exp_sin_model() -> tuple[KAN, np.ndarray, np.ndarray]:
    """A [2,1,1] KAN on exp(sin(pi x) + y^2): train, refine, auto-symbolic, fine-tune."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (1000, 2))
    target = np.exp(np.sin(np.pi * X[:, 0]) + X[:, 1] ** 2)
    model = KAN([2, 1, 1], grid=5, seed=0).fit(X, target, steps=40)
    model = model.refine(10).fit(X, target, steps=30)
    results = model.auto_symbolic(r2_threshold=0.99)
    assert all(r.locked for r in results), results
    model.fit(X, target, steps=30, update_grid=False)
    return model, X, target


def test_exp_sin_formula_is_recovered_exactly(exp_sin_model):
    model, _, _ = exp_sin_model
    assert {name for name in model.locked_edges().values()} == {"sin", "x^2", "exp"}
    formula = model.formula(["x", "y"])
    assert sympy.simplify(formula - sympy.exp(sympy.sin(sympy.pi * x) + y**2)) == 0


def test_exact_formula_equals_network(exp_sin_model):
    model, X, _ = exp_sin_model
    exact = model.formula(["x", "y"], tidy=False)
    fn = sympy.lambdify([x, y], exact, "numpy")
    net = model.predict(X)[:, 0]
    assert np.max(np.abs(fn(X[:, 0], X[:, 1]) - net)) / np.max(np.abs(net)) < 1e-6


def test_locked_parameters_stay_trainable(exp_sin_model):
    model, X, target = exp_sin_model
    before = model.network_.layers[0].symbolic_params.detach().clone()
    again = model.copy().fit(X, target * 1.01, steps=3, update_grid=False)
    after = again.network_.layers[0].symbolic_params.detach()
    assert not torch.equal(before, after)


def test_numeric_edges_are_refused_or_named():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (200, 2))
    model = KAN([2, 1, 1], grid=3, seed=0).fit(X, X[:, 0] + X[:, 1], steps=3)
    model.lock_edge(0, 0, 0, "x")
    with pytest.raises(NumericEdgeError, match="not symbolic yet"):
        model.formula(["a", "b"])
    placeholder = model.formula(["a", "b"], numeric="placeholder", tidy=False)
    names = {f.func.__name__ for f in placeholder.atoms(sympy.Function)}
    assert {"phi_0_1_0", "phi_1_0_0"} <= names


def test_pruned_edges_and_inputs_are_absent():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (200, 3))
    model = KAN([3, 1, 1], grid=3, seed=0).fit(X, X[:, 0], steps=3)
    model = model.prune_node(0, 2)  # drop input c
    for edge in model.active_edges():
        model.lock_edge(*edge, "x")
    exprs = network_formulas(model.network_, ["a", "b", "c"])
    assert sympy.Symbol("c") not in exprs[0].free_symbols


def test_tidy_snaps_simple_constants_and_keeps_the_rest():
    noisy = 0.9999996 * sympy.exp(1.0000002 * y**2 + 1.0000001 * sympy.sin(3.1415929 * x))
    assert tidy_formula(noisy) == sympy.exp(y**2 + sympy.sin(sympy.pi * x))
    kept = tidy_formula(sympy.Float(0.3963) * x)
    assert kept.free_symbols == {x} and abs(float(kept.subs(x, 1)) - 0.3963) < 1e-5


def test_round_constants_for_display():
    rounded = round_constants(sympy.Float(1.23456789) * x + sympy.Float(2.0e-7), digits=3)
    assert rounded == sympy.Float(1.23, 3) * x + sympy.Float(2.0e-7, 3)


def test_golden_latex():
    assert to_latex(sympy.exp(sympy.sin(sympy.pi * x) + y**2)) == (
        r"e^{y^{2} + \sin{\left(\pi x \right)}}"
    )
    assert to_latex(x * y, target="f") == "f = x y"
    assert to_latex(sympy.asin(x) / sympy.sqrt(2 * sympy.pi)) == (
        r"\frac{\sqrt{2} \arcsin{\left(x \right)}}{2 \sqrt{\pi}}"
    )


def test_python_export_matches_sympy_numerically():
    expr = sympy.exp(sympy.sin(sympy.pi * x) + y**2) / (1 + sympy.Abs(x)) + sympy.atan(y)
    namespace: dict = {}
    exec(to_python(expr, ["x", "y"], target="f"), namespace)  # noqa: S102 - our own generated code
    rng = np.random.default_rng(3)
    xs, ys = rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 50)
    expected = sympy.lambdify([x, y], expr, "numpy")(xs, ys)
    assert np.allclose(namespace["formula"](xs, ys), expected, rtol=1e-12, atol=0)


def test_plain_exports():
    expr = sympy.exp(sympy.sin(sympy.pi * x) + y**2)
    assert sympy.sympify(to_sympy(expr)) == expr  # trusted: our own output
    assert to_c(expr) == "exp(pow(y, 2) + sin(M_PI*x))"
    assert to_mathml(expr).startswith("<msup>")


def test_a_product_node_composes_as_a_product_of_its_factors():
    """[2, [0, 1], 1]: factor 1 = a (edge (0,0,0)), factor 2 = sin(b) (edge (0,1,1)), the
    cross edges pruned, output edge x: the formula is a*sin(b), not exp(log ...)."""
    a, b = sympy.symbols("a b")
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (200, 2))
    model = KAN([2, [0, 1], 1], seed=0).fit(X, X[:, 0] * np.sin(X[:, 1]), steps=1)
    net = model.network_
    with torch.no_grad():
        for layer in net.layers:
            layer.bias.zero_()
        net.layers[0].mask[1, 0] = 0.0
        net.layers[0].mask[0, 1] = 0.0
    model.lock_edge(0, 0, 0, "x", (1.0, 0.0, 1.0, 0.0))
    model.lock_edge(0, 1, 1, "sin", (1.0, 0.0, 1.0, 0.0))
    model.lock_edge(1, 0, 0, "x", (1.0, 0.0, 2.0, 0.0))
    formula = model.formula(["a", "b"])
    assert sympy.simplify(formula - 2 * a * sympy.sin(b)) == 0
    assert isinstance(formula, sympy.Mul)
    exact = sympy.lambdify([a, b], model.formula(["a", "b"], tidy=False), "numpy")
    assert np.allclose(exact(X[:, 0], X[:, 1]), model.predict(X)[:, 0], atol=1e-12)
    placeholder = network_formulas(net, ["a", "b"], numeric="placeholder")[0]
    assert placeholder.has(sympy.Mul)


def test_auto_symbolic_locks_the_factor_edges_of_a_product_node():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (300, 2))
    model = KAN([2, [0, 1], 1], seed=0).fit(X, X[:, 0] * X[:, 1], steps=1)
    net = model.network_
    with torch.no_grad():  # factors a + 0.5 and b - 0.25, cross edges gone
        net.layers[0].mask[1, 0] = 0.0
        net.layers[0].mask[0, 1] = 0.0
    model.lock_edge(0, 0, 0, "x^2", (1.0, 0.5, 1.0, 0.0))
    model.lock_edge(0, 1, 1, "sin", (2.0, -0.25, 1.0, 0.0))
    model.lock_edge(1, 0, 0, "x", (1.0, 0.0, 1.0, 0.0))
    # refit every edge to the curve it has now: the factors' curves are found again
    results = model.auto_symbolic(r2_threshold=0.999, relock=True)
    assert {r.edge for r in results} == {(0, 0, 0), (0, 1, 1), (1, 0, 0)}
    assert all(r.locked and r.r2 > 0.999 for r in results), results
    locked = model.locked_edges()
    assert locked[(0, 0, 0)] == "x^2" and locked[(0, 1, 1)] == "sin"
