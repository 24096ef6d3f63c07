"""The sample datasets load with their catalog roles and obey their catalog formulas."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import sympy

from kanstudio.data import load_dataset, safe_symbol_names

SAMPLES = Path(__file__).resolve().parents[2] / "sample_datasets"
CATALOG = json.loads((SAMPLES / "catalog.json").read_text(encoding="utf-8"))
LIBRARY_FUNCTIONS = {sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.tanh,
                     sympy.asin, sympy.atan, sympy.Abs}


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sample_generate", SAMPLES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is created
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def catalog_formula(entry: dict) -> tuple[sympy.Expr, list[sympy.Symbol]]:
    # The catalog is trusted repository content, so sympify is acceptable here.
    symbols = [sympy.Symbol(name) for name in entry["inputs"]]
    expr = sympy.sympify(entry["formula"], locals={s.name: s for s in symbols})
    return expr, symbols


def test_catalog_has_the_required_datasets() -> None:
    files = {entry["file"] for entry in CATALOG}
    assert len(CATALOG) >= 11
    for required in ("toy_xy.csv", "toy_exp_sin.csv", "toy_sin.csv", "toy_4d.csv",
                     "noisy_quadratic.csv", "irrelevant_column.csv", "pendulum.csv"):
        assert required in files
    assert sum(name.startswith("feynman_") for name in files) >= 5
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in files)


@pytest.mark.parametrize("entry", CATALOG, ids=[entry["file"] for entry in CATALOG])
def test_sample_loads_with_default_roles_and_matches_formula(entry: dict) -> None:
    data = load_dataset(SAMPLES / entry["file"])
    assert data.target_names == [entry["target"]]
    assert data.input_names == entry["inputs"]
    assert data.n_samples == entry["rows"] and data.warnings == []
    assert safe_symbol_names(data.input_names + data.target_names) == (
        data.input_names + data.target_names
    )
    for j, name in enumerate(entry["inputs"]):
        low, high = entry["ranges"][name]
        assert low <= data.X[:, j].min() and data.X[:, j].max() <= high
    expr, symbols = catalog_formula(entry)
    assert expr.free_symbols <= set(symbols)
    used_functions = {type(node) for node in sympy.preorder_traversal(expr)
                      if isinstance(node, sympy.Function)}
    assert used_functions <= LIBRARY_FUNCTIONS
    predicted = sympy.lambdify(symbols, expr, "numpy")(*data.X.T)
    predicted = np.broadcast_to(predicted, data.y[:, 0].shape)
    target = data.y[:, 0]
    if entry["noise"] == 0:
        np.testing.assert_allclose(predicted, target, rtol=1e-6, atol=1e-12)
    else:
        residual = target - predicted
        assert np.std(residual) == pytest.approx(entry["noise"] * np.std(predicted), rel=0.15)


def test_generate_reproduces_the_committed_files(tmp_path: Path) -> None:
    load_generator().generate(tmp_path)
    for entry in CATALOG:
        assert (tmp_path / entry["file"]).read_bytes() == (SAMPLES / entry["file"]).read_bytes()
    for name in ("catalog.json", "README.md"):
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes()
