"""The formula speaks the CSV's names (issue 12 §4): a column ``beta`` prints as ``beta``,
not ``beta_``, in the text, the LaTeX and the code; ``lambda`` (a Python keyword) prints
as ``lambda_`` in text and code and ``\\lambda`` in LaTeX."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from kanstudio.data import Dataset
from kanstudio.session import Session, SessionSettings
from kanstudio.symbolic.export import short_number, to_latex, to_python, to_sympy

COLUMNS = ["beta", "E", "lambda", "N"]


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    X = rng.uniform(1.0, 2.0, (120, 4))
    y = (2.0 * X[:, 0] + 3.0 * X[:, 1] - X[:, 2] + 0.5 * X[:, 3])[:, None]
    session = Session(Dataset.from_arrays(X, y, COLUMNS, ["gamma"]),
                      SessionSettings(width=[4, 1], seed=0, device="cpu", functions=["x"]))
    session.train(10)
    session.auto_symbolic(lock_all=True)
    return session, session.formula()


def test_names_print_as_written_except_the_python_keyword(result) -> None:
    _, r = result
    assert r.columns == COLUMNS
    assert r.input_names == ["beta", "E", "lambda_", "N"]
    assert r.target_names == ["gamma"]
    text = to_sympy(r.expressions[0])
    assert "beta_" not in text and "N_" not in text and "E_" not in text


def test_the_text_reads_back_with_the_symbols_as_locals(result) -> None:
    session, r = result
    text = to_sympy(r.expressions[0])  # our own output, not a file a user opened
    expr = sympy.sympify(text, locals={n: sympy.Symbol(n) for n in r.input_names})
    assert {s.name for s in expr.free_symbols} == set(r.input_names)
    X = session.dataset.X[:20]
    f = sympy.lambdify([sympy.Symbol(n) for n in r.input_names], expr, "numpy")
    assert np.allclose(f(*X.T), session.evaluate_formula(r.expressions, X)[:, 0])


def test_latex_and_code_use_the_names_as_written(result) -> None:
    session, r = result
    latex = to_latex(r.expressions[0], r.target_names[0], r.latex_names)
    assert latex.startswith("\\gamma = ") and "\\beta" in latex and "\\lambda" in latex
    assert "lambda_" not in latex
    code = to_python(r.expressions[0], r.input_names)
    assert "def formula(beta, E, lambda_, N):" in code
    namespace: dict = {}
    exec(compile(code, "<formula>", "exec"), namespace)  # noqa: S102 - our own generated code
    X = session.dataset.X[:5]
    assert np.allclose(namespace["formula"](*X.T),
                       session.evaluate_formula(r.expressions, X)[:, 0])


def test_each_free_constant_comes_with_its_standard_error(result) -> None:
    _, r = result
    # as the formula reads (to_short_text: 4 significant digits, no trailing dot)
    shown = {short_number(float(f)) for f in r.expressions[0].atoms(sympy.Float)}
    assert r.constants and len(r.constants) == len(r.full[0].atoms(sympy.Float))
    for c in r.constants:
        assert c["stderr"] is not None and 0 <= c["stderr"] < 1.0
        assert len(c["shown"].lstrip("-").replace(".", "").lstrip("0")) <= 4
    assert {c["shown"].lstrip("-") for c in r.constants} <= {s.lstrip("-") for s in shown}


def test_names_with_underscores_print_as_written_in_latex() -> None:
    rate, k_b, t = sympy.symbols("rate_per_s k_B T")
    latex = to_latex(2 * rate + k_b * t, "flux_out")
    assert latex.startswith("\\mathrm{flux\\_out} = ")
    assert "\\mathrm{rate\\_per\\_s}" in latex and "\\mathrm{k\\_B}" in latex
    assert "_{" not in latex  # no subscripts made from the names
    # The names the session maps keep their LaTeX (lambda_ -> \lambda).
    assert to_latex(sympy.Symbol("lambda_"), symbol_names={"lambda_": "\\lambda"}) == (
        "\\lambda")


def test_a_product_of_named_columns_is_read_with_dots() -> None:
    # seen under Xvfb: 19.99 press_kPa e^(-1500/temp_K) printed side by side read as the
    # one word "19.99press_kPae"; one-letter names keep the paper's juxtaposition
    p, t, x, y = sympy.symbols("press_kPa temp_K x y")
    latex = to_latex(sympy.Float(19.99) * p * sympy.exp(-1500 / t), "rate_per_s")
    assert "19.99 \\cdot \\mathrm{press\\_kPa} \\cdot e^{" in latex
    assert to_latex(2 * x * y) == "2 x y"
    assert to_latex(sympy.Symbol("alpha") * x) == "\\alpha x"
