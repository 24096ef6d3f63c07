"""Column names as formula symbols."""

from __future__ import annotations

import sympy

from kanstudio.data import safe_symbol_names


def test_valid_names_are_kept() -> None:
    names = ["x", "theta", "g_acc", "température", "Nn", "x1"]
    assert safe_symbol_names(names) == names


def test_sympy_and_python_clashes_get_an_underscore() -> None:
    clashes = ["E", "I", "S", "N", "O", "Q", "pi", "beta", "gamma", "zeta", "lambda", "max"]
    assert safe_symbol_names(clashes) == [f"{name}_" for name in clashes]


def test_invalid_names_are_rewritten_and_unique() -> None:
    result = safe_symbol_names(["mass (kg)", "2theta", "", "a b", "a_b", "x", "x"])
    # names already valid ("a_b", the first "x") keep their spelling; others yield to them
    assert result[:2] == ["mass_kg", "x_2theta"]
    assert result[3:6] == ["a_b_2", "a_b", "x"]
    assert result[2].startswith("x_") and result[6].startswith("x_")
    assert len(set(result)) == len(result)


def test_every_result_parses_as_a_plain_symbol() -> None:
    names = ["E", "lambda", "Temp [°C]", "sin", "1", "class", "re", "ﬁ"]
    for name in safe_symbol_names(names):
        assert name.isidentifier()
        assert sympy.sympify(name) == sympy.Symbol(name)


def test_printed_names_keep_sympy_names_and_rewrite_only_what_no_parser_reads() -> None:
    from kanstudio.data import printed_symbol_names

    assert printed_symbol_names(["beta", "gamma", "E", "I", "S", "N", "Q", "sum"]) == [
        "beta", "gamma", "E", "I", "S", "N", "Q", "sum"]
    assert printed_symbol_names(["lambda", "mass (kg)", "x"]) == ["lambda_", "mass_kg", "x"]
    # a column E in a formula that also holds Euler's number (printed E) cannot be E
    printed = printed_symbol_names(["E", "x"], taken={"E"})
    assert printed[0] != "E" and printed[0].startswith("E") and printed[1] == "x"
