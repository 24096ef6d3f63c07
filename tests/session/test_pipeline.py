"""The one-click discovery pipeline recovers known formulas; constants snap only when simple."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import sympy

from kanstudio.data import load_dataset
from kanstudio.session import Session
from kanstudio.session.pipeline import STAGES, discover
from kanstudio.symbolic.formula import snap_constants, tidy_formula

SAMPLES = Path(__file__).resolve().parents[2] / "sample_datasets"
x, y, a, b = sympy.symbols("x y a b")


def _discover(name: str, target: str = "f"):
    session = Session(load_dataset(SAMPLES / name, target=target))
    events = list(discover(session))
    return session, events, events[-1].info["formula"]


@pytest.fixture(scope="module")
def toy_sin():
    return _discover("toy_sin.csv")


def test_discover_recovers_sin_pi_x_exactly(toy_sin):
    _, _, result = toy_sin
    assert sympy.simplify(result.expressions[0] - sympy.sin(sympy.pi * x)) == 0
    assert result.formula_test_r2 > 1 - 1e-9


def test_every_stage_starts_once_in_order(toy_sin):
    _, events, _ = toy_sin
    starts = [e.stage for e in events if e.kind == "start"]
    assert starts == list(STAGES)
    assert all(e.stage_index == STAGES.index(e.stage) for e in events)


def test_discover_prunes_the_unused_input_and_recovers_the_formula():
    session, _, result = _discover("irrelevant_column.csv")
    assert sympy.simplify(result.expressions[0] - (sympy.exp(a) + b**2)) == 0
    assert session.model.input_ids_ == [0, 1]  # column c is gone


@pytest.mark.parametrize(("value", "expected"), [
    (3.14159, sympy.pi),
    (0.50001, sympy.Rational(1, 2)),
    (-0.49999, -sympy.Rational(1, 2)),
    (0.39894, 1 / sympy.sqrt(2 * sympy.pi)),
    (6.2832, 2 * sympy.pi),
    (0.079577, 1 / (4 * sympy.pi)),
    (2.0004, sympy.Integer(2)),
    (0.0004, sympy.Integer(0)),
])
def test_snap_constants_snaps_simple_constants(value, expected):
    assert sympy.simplify(snap_constants(sympy.Float(value) * x) - expected * x) == 0


@pytest.mark.parametrize("value", [0.3963, 1.2345, 759.3, 47.03, 0.1422])
def test_snap_constants_leaves_other_floats_alone(value):
    snapped = snap_constants(sympy.Float(value) * x)
    assert snapped.atoms(sympy.Float) == {sympy.Float(value)}


def test_tidy_pulls_constants_out_of_logs_and_powers():
    # How a [2, 1, 1] network with log edges and an exp output reads P / (4 pi r^2):
    # c exp(1.5 (2/3 log(P/2) - 4/3 log(2 r)) + 0.3) with c e^0.3 / 8 = 1 / (4 pi).
    p, r = sympy.symbols("P r")
    f = sympy.Float
    c = 2 / math.pi / math.exp(0.3)
    network = f(c) * sympy.exp(
        f(1.5) * (f(0.6666667) * sympy.log(f(0.5) * p + f(1e-7))
                  - f(1.3333333) * sympy.log(f(2.0) * r)) + f(0.3))
    assert sympy.simplify(tidy_formula(network) - p / (4 * sympy.pi * r**2)) == 0


def test_discover_turns_a_product_into_x_times_y():
    """The KAN builds x*y from squares of sums; simplification must give back x*y."""
    session, _, result = _discover("toy_xy.csv")
    assert sympy.simplify(result.expressions[0] - x * y) == 0
    assert result.formula_test_r2 > 0.9999



def test_the_architecture_search_includes_product_structures_after_sums():
    from kanstudio.session.pipeline import _with_product_widths

    widths = _with_product_widths([[2, 1], [2, 1, 1], [2, 2, 1]], 2, 1)
    assert widths == [[2, 1], [2, 1, 1], [2, 2, 1], [2, [0, 1], 1], [2, [1, 1], 1]]


def test_the_same_seed_gives_the_same_formula(toy_sin):
    _, _, first = toy_sin
    _, _, again = _discover("toy_sin.csv")
    assert sympy.sstr(again.expressions[0]) == sympy.sstr(first.expressions[0])
    assert sympy.sstr(again.exact[0]) == sympy.sstr(first.exact[0])


def test_pareto_front_keeps_only_undominated_formulas_simplest_first():
    from kanstudio.session.pipeline import pareto_front

    points = [(9, 0.999, "c"), (3, 0.9, "a"), (5, 0.85, "dominated"), (5, 0.99, "b"),
              (12, 0.999, "dominated too"), (3, 0.5, "worse twin")]
    assert [p[2] for p in pareto_front(points)] == ["a", "b", "c"]


def test_a_knee_that_leaves_variance_unexplained_gives_way_to_the_simplest_that_does_not():
    from kanstudio.session.pipeline import adequate_choice

    # the front kanstudio found for Feynman I.6.2b (a Gaussian), complexity and held-out R²:
    # the knee, a cosine, misses 0.3 % of the variance; one node more explains all of it
    front = [(5, 0.7563), (8, 0.7829), (15, 0.9481), (21, 0.99703), (22, 0.999998),
             (31, 0.9999998)]
    assert adequate_choice(front, 3, 1e-3) == 4
    assert adequate_choice(front, 4, 1e-3) == 4  # an adequate knee stays
    assert adequate_choice(front, 3, 1e-8) == 3  # nothing on the front is adequate: the knee
    assert adequate_choice(front[:4], 3, 1e-3) == 3
    # a knee just short of the threshold does not give way to one that is not much better:
    # 200 held-out rows' noise could make that difference
    assert adequate_choice([(10, 0.99880), (14, 0.99905)], 0, 1e-3) == 0
    assert adequate_choice([(10, 0.99880), (14, 0.99950)], 0, 1e-3) == 1
    # a stand-in may not lead: the next adequate entry does, or the knee stays
    assert adequate_choice(front, 3, 1e-3, [True, True, True, True, False, True]) == 5
    assert adequate_choice(front[:5], 3, 1e-3, [True] * 4 + [False]) == 3


def test_discover_returns_its_pareto_front_with_the_knee_marked(toy_sin):
    _, _, result = toy_sin
    front = result.pareto
    assert front and sum(p["chosen"] for p in front) == 1
    assert [p["complexity"] for p in front] == sorted(p["complexity"] for p in front)
    r2s = [p["test_r2"] for p in front]
    assert all(b > a for a, b in zip(r2s, r2s[1:], strict=False))
    chosen = next(p for p in front if p["chosen"])
    assert chosen["formula"] == sympy.sstr(result.expressions[0])
    assert chosen["status"] == result.status == "verified"
    assert "knee" in result.choice_reason or "dominated" in result.choice_reason


# Discover made small and fast (and poor: it replaces a well-trained model by a worse one).
def _quick():
    from kanstudio.session.pipeline import PipelineSettings

    return PipelineSettings(search_widths=False, starts=1, sparse_steps=2,
                            after_prune_steps=1, refine_steps=1, fine_tune_steps=1,
                            trial_steps=1, alternatives=0, step_budget=3, structure=False,
                            search=None, search_leaf=None)


def _trained_sine():
    import numpy as np

    from kanstudio.session import SessionSettings

    data = load_dataset(SAMPLES / "toy_sin.csv", target="f")
    session = Session(data, SessionSettings(width=[1, 1, 1], seed=0))
    session.train(20)
    rows = session.dataset.X[:50]
    return session, session.predict(rows), rows, np, len(session.model.history_)


def test_discover_is_one_undo_step_and_says_what_it_replaced():
    session, before, rows, np, steps = _trained_sine()
    rmse = session.metrics()["test_rmse"]
    events = list(discover(session, _quick()))
    replaced = events[-1].info["replaced"]
    assert replaced["test_rmse_before"] == pytest.approx(rmse, rel=1e-12)
    assert replaced["worse"] and replaced["test_rmse_after"] > rmse  # 3 steps vs 20
    assert replaced["width_before"] == [1, 1, 1] and replaced["steps_before"] == steps
    notes = [e.message for e in events if e.kind == "note"]
    assert any(m.startswith("Discover replaced the trained model") and "worse" in m
               for m in notes)
    assert session.undo() == "Discover"  # one step back: the model as it was
    np.testing.assert_allclose(session.predict(rows), before, rtol=0, atol=0)
    assert len(session.model.history_) == steps


def test_a_stopped_discover_is_one_undo_step_too():
    session, before, rows, np, _steps = _trained_sine()
    pipeline = discover(session, _quick())
    for event in pipeline:
        if event.kind == "step":
            break
    pipeline.close()  # Stop
    assert session.undo() == "Discover"
    np.testing.assert_allclose(session.predict(rows), before, rtol=0, atol=0)


def test_discover_on_a_fresh_session_replaces_nothing(toy_sin):
    assert toy_sin[1][-1].info["replaced"] is None


def _trained_sum_network(y_of, noise: float):
    """A session whose ``[2, 1]`` network (a sum of 1-D functions) is trained on
    ``y_of(a, b)`` plus relative noise."""
    import numpy as np

    from kanstudio.data import Dataset
    from kanstudio.session import SessionSettings

    rng = np.random.default_rng(1)
    X = rng.uniform(1, 3, (600, 2))
    y = y_of(X[:, 0], X[:, 1])
    y = y + noise * np.std(y) * rng.normal(size=len(y))
    session = Session(Dataset.from_arrays(X, y[:, None], ["a", "b"], ["f"]),
                      SessionSettings(seed=0, device="cpu", width=[2, 1]))
    session.new_model()
    session.train(200)
    return session


def test_a_network_that_misses_part_of_the_law_is_not_mistaken_for_noise():
    """The architecture search stops at a size that fits no better than the formula found
    only when what that network misses looks like noise; a sum network on a product law
    misses a smooth part of it, and the search goes on."""
    from kanstudio.session.pipeline import LACK_OF_FIT, _network_lack_of_fit

    product = _trained_sum_network(lambda a, b: a * b, 0.0)
    assert product.metrics()["test_r2"] < 0.999  # a sum cannot be a product
    assert _network_lack_of_fit(product) > LACK_OF_FIT
    noisy = _trained_sum_network(lambda a, b: a + b**2, 0.05)
    assert _network_lack_of_fit(noisy) < LACK_OF_FIT


def _log_law_discovery(law, high, **settings):
    """Discovery without the search engine of ``law(a, b, c)`` on 500 rows drawn from
    ``[1, high]``, the session's width fixed at ``[3, 1]`` (a sum network, which cannot
    be a product): the events."""
    import numpy as np

    from kanstudio.data import Dataset
    from kanstudio.session import SessionSettings
    from kanstudio.session.pipeline import PipelineSettings

    X = np.random.default_rng(0).uniform(1, high, (500, 3))
    session = Session(Dataset.from_arrays(X, law(*X.T)[:, None], ["a", "b", "c"], ["f"]),
                      SessionSettings(seed=0, device="cpu", width=[3, 1]))
    return list(discover(session, PipelineSettings(search=None, search_leaf=None,
                                                   **settings)))


def test_a_product_of_powers_spanning_decades_is_read_from_a_network_on_log_y():
    """A one-signed target spanning decades whose own network is poor (a sum network
    cannot be a product) is modelled on log|y| too, where the product is a sum: its
    structure gives the exact law, verified against the data."""
    events = _log_law_discovery(lambda a, b, c: -a * b**3 / c**2, 5)
    result = events[-1].info["formula"]
    notes = [e.message for e in events if e.kind == "note"]
    assert any(m.startswith("network on log|f|") and "read from it" in m for m in notes)
    a_, b_, c_ = sympy.symbols("a b c")
    assert sympy.simplify(result.expressions[0] + a_ * b_**3 / c_**2) == 0
    assert result.status == "verified"


def test_a_log_target_that_is_not_a_sum_is_modelled_by_a_wider_network():
    """``a·b²/(a + c)`` on log|y| is ``log a + 2 log b - log(a + c)``: not a sum of
    one-input functions, so ``[3, 1]`` cannot model it; ``[3, 2, 1]`` is trained too
    (whatever the step budget), its structure read and the law recovered exactly."""
    events = _log_law_discovery(lambda a, b, c: a * b**2 / (a + c), 3, step_budget=1)
    messages = [e.message for e in events]
    on_log = messages[messages.index(next(m for m in messages
                                          if m.startswith("training a network on log"))):]
    assert "training [3, 2, 1]" in on_log
    assert any(m.startswith("network on log|f|") and "read from it" in m for m in messages)
    result = events[-1].info["formula"]
    a_, b_, c_ = sympy.symbols("a b c")
    assert sympy.simplify(result.expressions[0] - a_ * b_**2 / (a_ + c_)) == 0
    assert result.status == "verified"


def _poor_fit_run(**overrides):
    """Discovery with tiny step budgets on ``sin(3a)·cos(2b)`` and thresholds no network
    or formula meets: (events, session)."""
    import numpy as np

    from kanstudio.data import Dataset
    from kanstudio.session.pipeline import PipelineSettings

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (300, 2))
    y = np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1])
    session = Session(Dataset.from_arrays(X, y[:, None], ["a", "b"], ["f"]))
    settings = dict(starts=1, start_steps=2, sparse_steps=4, after_prune_steps=2,
                    refine_steps=2, fine_tune_steps=2, trial_steps=1, alternatives=0,
                    step_budget=10**6, min_network_r2=1.0 - 1e-12, adequate_error=1e-14,
                    structure=False, search=None, search_leaf=None, deep_width=(3, 2))
    settings.update(overrides)
    return list(discover(session, PipelineSettings(**settings))), session


def test_when_no_network_fits_a_deeper_one_is_trained_as_the_oracle():
    """Every architecture fitting poorly and no formula adequate, discovery trains one
    deeper network (``deep_width``) for the structure step and the search to consult: it
    is the best network's place on the front's comparisons, never read edge by edge (its
    many edges make no readable formula), and Discover stays one undo step."""
    events, session = _poor_fit_run()
    said = [e.message for e in events if "deeper network" in e.message]
    assert len(said) == 1 and "oracle" in said[0]
    trained = [e.message for e in events if e.kind != "note" and e.stage == "train"
               or e.message.startswith("training [")]
    assert any(m.startswith("training [2, 3, 2, 1]") for m in trained)
    attempts = events[-1].info["attempts"]
    deep = attempts[-1]
    assert len(deep) == 4  # input, two hidden layers, output (pruning may thin them)
    read = [e.message for e in events if e.message.startswith("fitting symbolic functions")]
    assert read and not any(str(deep) in m for m in read)
    assert len(session.model.width_) < 4  # the formula's network is a shallow one
    session.undo()
    assert session.model is None


def test_no_deeper_network_when_a_network_fits_or_it_is_turned_off():
    events, _ = _poor_fit_run(deep_width=None)
    assert not any("deeper network" in e.message for e in events)
    events, _ = _poor_fit_run(min_network_r2=-1.0)
    assert not any("deeper network" in e.message for e in events)
