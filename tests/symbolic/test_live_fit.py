"""The batched edge labeller (kanstudio.symbolic.live_fit): the best-fitting library
function of many curves at once, as the live network view shows it."""

from __future__ import annotations

import numpy as np
import pytest

from kanstudio.symbolic.fitting import rank_score
from kanstudio.symbolic.live_fit import EdgeLabeller, best_fits, rank_scores

P = 48
X = np.linspace(-1.0, 1.0, P)  # a snapshot samples each edge evenly over its input range


def _curves(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    """n curves c·f(a·x + b) + d of one kind, random constants, 0.3 % noise."""
    out = []
    for _ in range(n):
        c, d = rng.uniform(0.5, 3.0) * rng.choice([-1, 1]), rng.uniform(-2, 2)
        if kind == "sin":
            y = np.sin(rng.uniform(2.0, 6.0) * X + rng.uniform(-3, 3))
        elif kind == "x":
            y = X.copy()
        elif kind == "x^2":
            y = (X - rng.uniform(-0.7, 0.7)) ** 2
        else:  # exp
            y = np.exp(rng.uniform(1.0, 4.0) * rng.choice([-1, 1]) * X)
        y = c * y + d
        out.append(y + rng.normal(0.0, 0.003 * y.std(), P))
    return np.array(out)


@pytest.fixture(scope="module")
def labeller() -> EdgeLabeller:
    return EdgeLabeller()


@pytest.mark.parametrize("kind", ["sin", "x^2", "exp", "x"])
def test_names_sin_square_exp_and_straight_curves(labeller, kind):
    # a straight edge is x, never a stand-in such as |x| on one side of its kink
    rng = np.random.default_rng({"sin": 1, "x^2": 2, "exp": 3, "x": 6}[kind])
    fits = labeller.best(_curves(rng, kind, 12))
    names = [labeller.names[k] for k in fits.index]
    assert names == [kind] * 12
    assert np.all(fits.r2 >= 0.999)  # noise of 0.3 % of the spread leaves R² ~ 0.99999


def test_all_edges_at_once_and_flat_or_broken_curves_get_no_label(labeller):
    rng = np.random.default_rng(4)
    curves = np.concatenate([_curves(rng, "sin", 2), _curves(rng, "exp", 2),
                             np.full((1, P), 0.7), np.full((1, P), np.nan)])
    fits = labeller.best(curves)
    assert [labeller.names[k] for k in fits.index[:4]] == ["sin", "sin", "exp", "exp"]
    assert list(fits.index[4:]) == [-1, -1] and np.isnan(fits.r2[4:]).all()


def test_rank_scores_is_the_ranking_rule_of_suggest_symbolic():
    r2 = np.array([1.0, 0.9999, 0.99, 0.5, 0.0, -np.inf, np.nan])
    complexity = np.array([1, 2, 3, 2, 0, 2, 2])
    got = rank_scores(r2, complexity, 0.8)
    want = [rank_score(float(r), int(c), 0.8) for r, c in zip(r2, complexity, strict=True)]
    assert np.allclose(got[:5], want[:5]) and np.isinf(got[5:]).all()


def test_selection_twins_and_polynomials():
    rng = np.random.default_rng(5)
    sines, squares = _curves(rng, "sin", 3), _curves(rng, "x^2", 3)
    only_cos = EdgeLabeller(["cos", "exp"])
    fits = only_cos.best(np.concatenate([sines, squares]))
    # cos is the same family as sin; x^2 is always tried (a stand-in for it names it)
    assert [only_cos.names[k] for k in fits.index] == ["cos"] * 3 + ["x^2"] * 3
    assert "cos" not in EdgeLabeller(["sin", "cos"]).names  # named once, as sin


def test_best_fits_addresses_skip_locked_and_pruned_edges(labeller):
    rng = np.random.default_rng(6)
    y = np.stack([_curves(rng, "sin", 3), _curves(rng, "exp", 3)])  # (n_in 2, n_out 3, P)
    active = np.ones((2, 3), dtype=bool)
    active[1, 2] = False
    out = best_fits(labeller, [y.astype(np.float32)], [active], [[(0, 1, "sin")]])
    assert [(i, j, name, short) for i, j, name, short, _r2 in out[0]] == [
        (0, 0, "sin", "sin"), (0, 2, "sin", "sin"), (1, 0, "exp", "exp"),
        (1, 1, "exp", "exp")]
    assert all(0.99 <= r2 <= 1.0 for *_rest, r2 in out[0])
