"""An edge locked to any expression (a search result, a tree, typed text): the forward pass
computes it, the formula shows it, model files keep it, and a hostile stored one is refused."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import sympy

from kanstudio import KAN
from kanstudio.model.kan import ModelFileError
from kanstudio.symbolic.expression_lock import expression_name, lock_label
from kanstudio.symbolic.search import available, evaluate_tree, parse_tree


@pytest.fixture(scope="module")
def curve_model() -> tuple[KAN, np.ndarray]:
    """A one-edge network trained on y = x² + sin(2x)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, (256, 1))
    y = X[:, 0] ** 2 + np.sin(2 * X[:, 0])
    return KAN(width=[1, 1], grid=8, seed=0).fit(X, y, steps=30), X


def test_forward_computes_the_locked_expression(curve_model) -> None:
    model, X = curve_model
    m = model.copy()
    params = (1.5, -0.25, 2.0, 0.5)
    m.lock_expression(0, 0, 0, "x**2 + sin(2*x)", params=params)
    a, b, c, d = params
    u = a * X[:, 0] + b
    bias = float(m.network_.layers[0].bias.detach()[0])
    expected = c * (u**2 + np.sin(2 * u)) + d + bias
    np.testing.assert_allclose(m.predict(X)[:, 0], expected, rtol=1e-12, atol=1e-12)
    label = lock_label(m.locked_edges()[(0, 0, 0)])
    assert label == "x**2 + sin(2*x)"
    formula = m.formula(names=["s"], tidy=False)
    s = sympy.Symbol("s")
    want = c * ((a * s + b) ** 2 + sympy.sin(2 * (a * s + b))) + d + bias
    assert abs(float((formula - want).subs(s, 0.3))) < 1e-12
    assert formula.has(sympy.sin)


def test_locking_without_params_fits_the_scale_and_offset(curve_model) -> None:
    model, X = curve_model
    m = model.copy()
    fit = m.lock_expression(0, 0, 0, parse_tree("x**2 + sin(2*x)", ["x"]))
    assert fit.ok and fit.a == 1.0 and fit.b == 0.0
    assert fit.r2 > 0.99  # the network learned this curve (up to its bias)
    assert np.sqrt(np.mean((m.predict(X) - model.predict(X)) ** 2)) < 0.05


@pytest.mark.skipif(not available(), reason="the search engine (pyoperon) is not installed")
def test_lock_to_a_searched_expression_and_the_forward_pass_follows_it(curve_model) -> None:
    model, X = curve_model
    front = model.search_edge(0, 0, 0, budget="small", seed=0)
    assert front and front[-1].r2 > 0.999
    best = front[-1]
    m = model.copy()
    m.lock_expression(0, 0, 0, best, params=(1.0, 0.0, 1.0, 0.0))
    bias = float(m.network_.layers[0].bias.detach()[0])
    np.testing.assert_allclose(m.predict(X)[:, 0], best.predict(X) + bias, rtol=1e-9,
                               atol=1e-9)
    assert m.locked_edges()[(0, 0, 0)] == expression_name(best.tree)


def _saved_members(model: KAN, path: Path) -> dict[str, bytes]:
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path: Path, members: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    path.write_bytes(buf.getvalue())
    return path


def test_an_expression_lock_survives_save_and_load(curve_model, tmp_path: Path) -> None:
    model, X = curve_model
    m = model.copy()
    m.lock_expression(0, 0, 0, "sqrt(x**2 + 1)*exp(-x)", params=(1.1, 0.2, 0.7, -0.1))
    m.save(tmp_path / "m.kstudio")
    back = KAN.load(tmp_path / "m.kstudio")
    assert back.locked_edges() == m.locked_edges()
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    assert back.formula(names=["s"]) == m.formula(names=["s"])


@pytest.mark.parametrize("stored, reason", [
    ('expr:["system",["var",0]]', "unknown operator 'system'"),
    ("expr:__import__('os').system('x')", "not a valid tree"),
    ('expr:["var",3]', "out of range"),
    ("expr:" + "[\"neg\"," * 200 + "[\"var\",0]" + "]" * 200, "deeper than"),
    ("expr:" + "[" * 100_000, "longer than"),
])
def test_a_hostile_stored_expression_is_refused_with_the_reason(
        curve_model, tmp_path: Path, stored: str, reason: str) -> None:
    model, _ = curve_model
    m = model.copy()
    m.lock_expression(0, 0, 0, "sin(x)", params=(1.0, 0.0, 1.0, 0.0))
    members = _saved_members(m, tmp_path / "ok.kstudio")
    doc = json.loads(members["model.json"])
    doc["network"]["layers"][0]["locked"] = [[0, 0, stored]]
    members["model.json"] = json.dumps(doc).encode()
    with pytest.raises(ModelFileError, match=reason) as caught:
        KAN.load(_write(tmp_path / "bad.kstudio", members))
    assert "edge (0, 0, 0) cannot be locked" in str(caught.value)


def test_a_stored_tree_evaluates_like_the_expression_it_names() -> None:
    tree = parse_tree("log(x + 2)/(x**2 + 1)", ["x"])
    x = np.linspace(-1, 1, 7)
    from kanstudio.symbolic.expression_lock import lock_function

    fn = lock_function(expression_name(tree))
    np.testing.assert_allclose(fn.numpy_fn(x), evaluate_tree(tree, x[:, None]), rtol=1e-15)
    import torch

    got = fn.torch_fn(torch.as_tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, np.log(x + 2) / (x**2 + 1), rtol=1e-12)
