"""No cancelling constants and no Taylor-regime stand-ins (issue 12 §4): a candidate whose
curve on the data is just a line or a parabola gives way to that polynomial, and one that
is a small difference of large numbers is refused."""

from __future__ import annotations

import numpy as np
import pytest

from kanstudio.symbolic.conditioning import TAYLOR_TOLERANCE, cancels, stand_in
from kanstudio.symbolic.fitting import suggest_symbolic


@pytest.mark.parametrize(("name", "a", "b", "c", "lo", "hi", "mimics"), [
    ("sin", 1e-4, 0.0, 1e6, 0.0, 10.0, "x"),       # 1e6 sin(1e-4 x) = 100 x
    ("cos", 0.05, 0.0, -400.0, -1.0, 1.0, "x^2"),  # a cosine of tiny frequency = x^2
    ("exp", 0.1, 0.0, 1.0, 0.0, 1.0, "x^2"),       # exp over an argument range of 0.1
    ("abs", 1.0, 1.0, 1.0, 0.0, 1.0, "x"),         # |x + 1| never crosses its kink
    ("cos", 1.0, 0.0, 1.0, -1.0, 1.0, ""),         # a full-size cosine is a cosine
    ("exp", 1.0, 0.0, 1.0, 0.0, 1.0, ""),          # exp over a range of 1 is exp
    ("log", 1.0, 0.0, 1.0, 1.0, 2.0, ""),
    ("x^2", 1.0, 0.0, 1.0, -1.0, 1.0, ""),         # a polynomial is not its own stand-in
    # beside its pole tan is a hyperbola (Feynman I.27.6 came out as this tan)
    ("tan", 0.002268446911, 4.712388935, -1.85e-5, 1.0, 5.0, "1/x"),
    ("tan", 1.0, 0.0, 1.0, -1.0, 1.0, ""),         # a full-size tan is a tan
    ("tan", 0.5, 1.0, 1.0, 0.0, 1.0, ""),          # nearing its pole, but still a tan
])
def test_stand_in_names_the_polynomial_a_curve_mimics(name, a, b, c, lo, hi, mimics):
    assert stand_in(name, a, b, c, lo, hi) == mimics


def test_the_tolerance_is_finer_than_the_ranking_resolves():
    from kanstudio.symbolic.fitting import R2_FLOOR

    assert TAYLOR_TOLERANCE < np.sqrt(R2_FLOOR) / 5


def test_a_saturated_tanh_times_a_large_constant_cancels():
    assert cancels("tanh", 1.0, 1e7, 5.0, 0.0, 1.0)  # offset 1e7: flat, but c*f is 5
    assert cancels("tanh", 1.0, 8.0, 1e3, 0.0, 1.0)
    assert not cancels("sin", 1.0, 0.0, 1.0, 0.0, 3.0)


def test_suggest_gives_the_parabola_not_a_cosine_standing_in_for_it():
    x = np.linspace(0.0, 0.2, 200)
    fits = {f.name: f for f in suggest_symbolic(x, np.cos(x), ["cos", "x^2", "exp"])}
    assert fits["x^2"].ok and fits["x^2"].r2 > 0.9999
    assert not fits["cos"].ok and "stands in for x^2" in fits["cos"].reason
    ranked = suggest_symbolic(x, np.cos(x), ["cos", "exp"])  # x^2 not selected: added
    assert ranked[0].name == "x^2" and ranked[0].ok


def test_suggest_gives_the_hyperbola_not_a_tan_beside_its_pole():
    x = np.linspace(1.0, 5.0, 200)
    ranked = suggest_symbolic(x, 3.0 / x + 0.5, ["tan", "1/x"])
    assert ranked[0].name == "1/x" and ranked[0].r2 > 1 - 1e-9
    assert all(f.name != "tan" or not f.ok or f.r2 < ranked[0].r2 for f in ranked)


def test_suggest_gives_the_line_for_a_huge_sine_of_a_tiny_argument():
    x = np.linspace(0.0, 10.0, 200)
    ranked = suggest_symbolic(x, 1e6 * np.sin(1e-4 * x), ["sin", "x"])
    assert ranked[0].name == "x" and ranked[0].r2 > 1 - 1e-9
    assert all(f.name != "sin" or not f.ok for f in ranked)
