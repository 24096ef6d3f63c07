"""A node locked to an expression of the network inputs: the network computes it, the
formula shows it in the node's place, training, copies, pruning and model files keep it,
unlock gives the node back its edges, and a node of more than 3 inputs is refused."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import sympy

from kanstudio import KAN
from kanstudio.model.kan import ModelFileError
from kanstudio.symbolic.search import available

TRUE = "sin(2*x1) + x2**2"


def _truth(X: np.ndarray) -> np.ndarray:
    return np.sin(2 * X[:, 0]) + X[:, 1] ** 2


@pytest.fixture(scope="module")
def trained() -> tuple[KAN, np.ndarray]:
    """[2, 2, 1] trained a little on y = sin(2 x1) + x2²."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, (200, 2))
    return KAN(width=[2, 2, 1], grid=5, seed=0).fit(X, _truth(X), steps=15), X


def test_output_node_locked_to_the_true_expression(trained, tmp_path: Path) -> None:
    model, X = trained
    m = model.copy()
    assert m.node_inputs(2, 0) == [0, 1]
    r2 = m.lock_node_expression(2, 0, TRUE)
    assert r2 > 0.95  # the network had learned about this function
    np.testing.assert_allclose(m.predict(X)[:, 0], _truth(X), rtol=0, atol=1e-12)
    a, b = sympy.symbols("a b")
    assert sympy.simplify(m.formula(names=["a", "b"]) - (sympy.sin(2 * a) + b**2)) == 0
    assert m.locked_nodes() == {(2, 0): (m.locked_nodes()[(2, 0)][0], [0, 1])}

    path = tmp_path / "locked.kstudio"
    m.save(path)
    back = KAN.load(path)
    assert back.locked_nodes() == m.locked_nodes()
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    assert str(back.formula()) == str(m.formula())

    back.unlock_node(2, 0)  # the edges were kept: the network is the trained one again
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    assert back.locked_nodes() == {}


def test_a_hidden_node_lock_replaces_its_edges_in_the_formula(trained) -> None:
    model, X = trained
    m = model.copy()
    m.lock_node_expression(1, 0, "sin(2*x1)")
    values = m.node_values(1, 0, X)
    np.testing.assert_allclose(values, np.sin(2 * X[:, 0]), rtol=0, atol=1e-12)
    text = str(m.formula(numeric="placeholder", tidy=False))
    assert "sin(2*x1)" in text
    # the edges into the locked node no longer matter, so they are not asked for
    assert "phi_0_0_0" not in text and "phi_0_1_0" not in text
    assert "phi_0_0_1" in text  # the other hidden node still sums its edges
    assert m.predict(X).shape == (200, 1) and np.isfinite(m.predict(X)).all()


def test_training_copies_and_pruning_keep_the_lock(trained) -> None:
    model, X = trained
    m = model.copy()
    m.lock_node_expression(2, 0, TRUE)
    m.fit(X, _truth(X), steps=2)  # still trains (nothing to learn: the node is exact)
    np.testing.assert_allclose(m.predict(X)[:, 0], _truth(X), rtol=0, atol=1e-12)
    m.fit(X, _truth(X), steps=2, lamb=0.01)  # the sparsity penalty's forward passes too
    np.testing.assert_allclose(m.predict(X)[:, 0], _truth(X), rtol=0, atol=1e-12)
    twin = copy.deepcopy(m)
    m.unlock_node(2, 0)
    assert twin.locked_nodes() and not m.locked_nodes()
    pruned = twin.prune()
    assert pruned.locked_nodes()[(2, 0)][1] == [0, 1]
    np.testing.assert_allclose(pruned.predict(X)[:, 0], _truth(X), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="unlock that node first"):
        twin.prune_node(0, 1)  # x2 feeds the expression


def test_a_product_node_is_locked_after_its_factors_multiply() -> None:
    rng = np.random.default_rng(2)
    X = rng.uniform(-1.0, 1.0, (60, 2))
    m = KAN(width=[2, [0, 1], 1], seed=0).fit(X, X[:, 0] * X[:, 1], steps=2)
    m.lock_node_expression(1, 0, "x1*x2")
    np.testing.assert_allclose(m.node_values(1, 0, X), X[:, 0] * X[:, 1], atol=1e-12)
    text = str(m.formula(numeric="placeholder", tidy=False))
    # the edge out of a product starts locked to a straight line: c·(x1·x2) + d
    assert "x1*x2" in text and "phi_0_" not in text


def test_inputs_and_levels_that_cannot_be_searched_are_refused() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(-1.0, 1.0, (40, 4))
    m = KAN(width=[4, 1, 1], seed=0).fit(X, X.sum(1), steps=1)
    with pytest.raises(ValueError, match="depends on 4 inputs .*at most 3"):
        m.search_node(1, 0)
    with pytest.raises(ValueError, match=r"\(a, b, c, d\)"):
        m.check_node_search(1, 0, names=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="input node"):
        m.lock_node_expression(0, 1, "x2")
    with pytest.raises(IndexError):
        m.lock_node_expression(1, 5, "x1", inputs=[0])


def test_model_files_without_node_locks_keep_the_old_state_version(trained) -> None:
    model, _ = trained
    desc, _ = model.to_state()
    assert desc["network"]["state_version"] == 2 and "node_locks" not in desc["network"]
    m = model.copy()
    m.lock_node_expression(2, 0, TRUE)
    assert m.to_state()[0]["network"]["state_version"] == 3


def _rewrite_node_lock(path: Path, out: Path, entry: list) -> None:
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "model.json":
                desc = json.loads(data)
                desc["network"]["node_locks"] = [entry]
                data = json.dumps(desc).encode()
            zout.writestr(info, data)


@pytest.mark.parametrize("entry, says", [
    ([2, 0, 'expr:["__import__",["var",0]]', [0]], "unknown operator"),
    ([2, 0, 'expr:["add",["var",0],["var",1]]', [0]], "variable"),
    ([2, 0, 'expr:["var",0]', [0, 1, 0, 1]], "inputs"),
    ([0, 0, 'expr:["var",0]', [0]], "level"),
])
def test_a_hostile_stored_node_lock_is_refused(trained, tmp_path: Path, entry, says) -> None:
    model, _ = trained
    m = model.copy()
    m.lock_node_expression(2, 0, TRUE)
    good, bad = tmp_path / "good.kstudio", tmp_path / "bad.kstudio"
    m.save(good)
    _rewrite_node_lock(good, bad, entry)
    with pytest.raises(ModelFileError, match=says):
        KAN.load(bad)


@pytest.mark.skipif(not available(), reason="the search engine (pyoperon) is not installed")
def test_search_a_node_then_lock_the_best_result(trained) -> None:
    model, X = trained
    m = model.copy()
    front = m.search_node(2, 0, budget="small", seed=0)
    assert front and front[-1].names == ("x1", "x2")
    best = max(front, key=lambda r: r.r2)
    assert best.r2 > 0.99
    m.lock_node_expression(2, 0, best)
    assert m.locked_nodes()[(2, 0)][1] == [0, 1]
    assert np.sqrt(np.mean((m.predict(X) - model.predict(X)) ** 2)) < 0.05
