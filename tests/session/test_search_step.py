"""The search engine inside discovery (issue 16): structure leaves the library does not
solve, the whole dataset as one more candidate family, and discovery without the engine."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from kanstudio.data import Dataset
from kanstudio.session import FormulaResult, Session, pipeline, search_step
from kanstudio.session.pipeline import PipelineSettings, discover
from kanstudio.session.search_step import pick, search_candidates, search_leaf_solver
from kanstudio.session.structure_solve import library_solver

needs_engine = pytest.mark.skipif(not search_step.engine_available(),
                                  reason="the search engine (pyoperon) is not installed")


def _product_session():
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 3, (400, 3))  # c is noise the pruned network dropped
    y = X[:, 0] * X[:, 1]
    return Session(Dataset.from_arrays(X, y[:, None], ["a", "b", "c"], ["y"])), y


def _poor(session):
    """What the library path gives for the product when its edges miss: a plane."""
    return session.describe_formula([2.0 * sympy.Symbol("a") + 2.0 * sympy.Symbol("b") - 4.0],
                                    network=session.dataset.y)


@needs_engine
def test_a_product_law_from_the_whole_dataset_replaces_a_poorer_formula_verified():
    session, y = _product_session()
    found, front = search_candidates(session, y[:, None], [0, 1], budget="small", seed=0)
    assert front and found
    assert all(r.expressions[0].free_symbols for r in found)  # no constant, network is not
    a, b = sympy.symbols("a b")
    poor = _poor(session)
    chosen = pick(session, poor, found, network_rel=0.0)
    assert chosen is not None and sympy.simplify(chosen.expressions[0] - a * b) == 0
    assert chosen.status == "verified" and chosen.formula_test_r2 > 1 - 1e-12
    # the pick never replaces a formula that explains the held-out rows better
    assert pick(session, chosen, [poor], network_rel=0.0) is None


@needs_engine
def test_same_seed_same_formula():
    session, y = _product_session()
    first = [str(r.expressions[0]) for r in search_candidates(
        session, y[:, None], [0, 1, 2], budget="small", seed=3)[0]]
    again = [str(r.expressions[0]) for r in search_candidates(
        session, y[:, None], [0, 1, 2], budget="small", seed=3)[0]]
    assert first and first == again


@needs_engine
def test_a_two_input_leaf_the_library_misses_is_solved_by_search():
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 3, (300, 2))
    y = np.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2)
    names = ["_u0", "_u1"]
    u0, u1 = sympy.symbols(names)

    def r2(expr):
        f = sympy.lambdify([u0, u1], expr, modules="numpy")
        pred = np.broadcast_to(np.asarray(f(x[:, 0], x[:, 1]), dtype=float), y.shape)
        return 1 - np.mean((pred - y) ** 2) / np.var(y)

    def nothing(x, y, names):  # a library path with no formula for this part
        return []

    base = library_solver(multi=nothing)
    assert base(x, y, names) == []
    notes = []
    found = search_leaf_solver(base, seed=0, budget="medium", notes=notes)(x, y, names)
    exact = [e for e, _ in found if r2(e) > 1 - 1e-12]
    assert exact and sympy.simplify(exact[0] - sympy.sqrt(u0**2 + u1**2)) == 0
    assert len(notes) == 1 and "part of the formula with 2 inputs (u0, u1)" in notes[0]
    assert "because one library function of one input cannot describe it" in notes[0]


@needs_engine
def test_the_same_part_met_again_is_not_searched_again(monkeypatch):
    # the branches of a structure tree end in leaves of the same points whose values differ
    # by a factor and an offset: one search serves them all
    import kanstudio.symbolic.search as engine

    calls = []
    real = engine.search

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "search", counted)
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 3, (300, 2))
    y = 1.0 + x[:, 0] * np.cos(x[:, 1])
    names = ["_u0", "_u1"]
    u0, u1 = sympy.symbols(names)
    solve = search_leaf_solver(library_solver(multi=lambda *a: []), seed=0)
    first = solve(x, y, names)
    again = solve(x.copy(), 3.0 * y - 7.0, names)
    assert len(calls) == 1
    for found, values in ((first, y), (again, 3.0 * y - 7.0)):
        best = min(np.mean((sympy.lambdify([u0, u1], e, "numpy")(x[:, 0], x[:, 1]) - values)
                           ** 2) for e, _ in found)
        assert best < 1e-12 * np.var(values)
    solve(x[::-1].copy(), y[::-1].copy(), names)  # other points: searched
    assert len(calls) == 2


def test_a_one_input_leaf_the_library_fits_is_not_searched(monkeypatch):
    x = np.linspace(1, 3, 200)[:, None]
    y = 2.0 * x[:, 0] ** 2

    def no_search(*args, **kwargs):
        raise AssertionError("searched a leaf the library fits")

    monkeypatch.setattr("kanstudio.symbolic.search.search", no_search)
    found = search_leaf_solver(library_solver(), seed=0)(x, y, ["_u0"])
    assert found


def test_discovery_without_the_engine_says_so_once(monkeypatch):
    monkeypatch.setattr(search_step, "engine_available", lambda: False)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 2))
    session = Session(Dataset.from_arrays(X, (X[:, 0] + 2 * X[:, 1])[:, None],
                                          ["a", "b"], ["y"]))
    session.settings.width = [2, 1]
    settings = PipelineSettings(starts=1, start_steps=2, sparse_steps=5, after_prune_steps=3,
                                refine_steps=3, fine_tune_steps=3, step_budget=30,
                                structure_leaf_steps=10)
    events = list(discover(session, settings))
    said = [e.message for e in events if "search engine unavailable" in e.message]
    assert len(said) == 1
    assert not any("search engine (" in e.message for e in events)  # never "used"
    assert isinstance(events[-1].info["formula"], FormulaResult)


def test_the_whole_dataset_search_can_be_turned_off():
    assert PipelineSettings().search == "medium"
    run = pipeline._Run(_product_session()[0], PipelineSettings(search=None, search_leaf=None))
    steps = pipeline._search_candidate(run, [], None)
    with pytest.raises(StopIteration) as stop:
        next(steps)
    assert stop.value.value == (None, [])


def test_search_results_are_offered_best_for_their_size_first():
    from types import SimpleNamespace

    from kanstudio.session.search_step import best_first

    front = [SimpleNamespace(complexity=c, r2=r2, name=n) for c, r2, n in (
        (5, 0.2148, "line"), (8, 0.9996955, "sin"), (11, 0.9998986, "sin + line"),
        (25, 0.9999986, "a monster"))]
    order = [r.name for r in best_first(front)]
    assert order[:2] == ["sin", "sin + line"]  # 14 more nodes buy too little accuracy
    exact = [SimpleNamespace(complexity=9, r2=1.0, name="exact"),
             SimpleNamespace(complexity=6, r2=1.0 - 1e-9, name="as good, simpler")]
    assert best_first(exact)[0].name == "as good, simpler"


def test_an_exact_formula_is_not_searched_again(monkeypatch):
    """A formula exact on the held-out rows leaves nothing for the engine to find: the
    whole-dataset search (the most costly part of discovery) is skipped."""
    from types import SimpleNamespace

    session, _ = _product_session()
    exact = session.describe_formula([sympy.Symbol("a") * sympy.Symbol("b")],
                                     network=session.dataset.y)
    assert exact.formula_test_rmse < 1e-12
    monkeypatch.setattr(search_step, "engine_available", lambda: True)

    def no_search(*args, **kwargs):
        raise AssertionError("the engine ran on an exact formula")

    monkeypatch.setattr(search_step, "search_candidates", no_search)
    run = pipeline._Run(session, PipelineSettings())
    n = session.dataset.n_samples
    network = SimpleNamespace(input_ids_=[0, 1], predict=lambda x: np.zeros((n, 1)))
    attempt = SimpleNamespace(network=network, network_r2=1.0)
    steps = pipeline._search_candidate(run, [attempt], exact)
    with pytest.raises(StopIteration) as stop:
        next(steps)
    assert stop.value.value == (exact, [])
    poor = _poor(session)  # ...while a poorer formula still goes to the engine
    with pytest.raises(AssertionError, match="engine ran"):
        next(pipeline._search_candidate(run, [attempt], poor))


def test_a_poor_network_does_not_hide_a_formula_far_more_accurate_than_it():
    """The score's noise floor is the smallest held-out error at hand, not the network's:
    with a network 5 % off (relative MSE 0.05), the law ``a·b + 0.02·c²`` beats the
    shorter ``a·b`` that leaves 1e-3 of the variance unexplained (its accuracy buys its
    size); with the network's error as the floor (as it was) it did not."""
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 3, (400, 3))
    y = X[:, 0] * X[:, 1] + 0.02 * X[:, 2] ** 2
    session = Session(Dataset.from_arrays(X, y[:, None], ["a", "b", "c"], ["y"]))
    a, b, c = sympy.symbols("a b c")
    short = session.describe_formula([a * b], network=y)
    law = session.describe_formula([a * b + sympy.Float(0.02) * c**2], network=y)
    assert law.formula_test_rmse < 1e-6 * short.formula_test_rmse
    assert pick(session, short, [law], network_rel=0.05) is law
    # a candidate no more accurate than the current formula still never wins on size
    worse = session.describe_formula([a * b + sympy.Float(0.5)], network=y)
    assert pick(session, short, [worse], network_rel=0.05) is None

def test_an_inadequate_formula_far_worse_than_an_adequate_one_gives_way_whatever_the_size():
    """The size penalty ranks formulas that explain the data alike: ``2a`` (held-out
    R² 0.31) must not stay the formula when a larger candidate explains 99.99 % (Feynman
    I.30.3 kept R² 0.44 over a found 0.9991); a near-tie still goes to the shorter one."""
    from kanstudio.session.structure_solve import held_out_rel_mse

    session, y = _product_session()
    a, b, c = sympy.symbols("a b c")
    wiggle = sum(sympy.Float(0.003) * f(k * v) for f in (sympy.sin, sympy.cos)
                 for v in (a, b, c) for k in (2, 3))
    bulky = session.describe_formula([a * b + wiggle], network=y)
    crude = session.describe_formula([2 * a], network=y)
    var = session.held_out_var()
    assert held_out_rel_mse(bulky, var) < 1e-4 < 0.5 < held_out_rel_mse(crude, var)
    assert pick(session, crude, [bulky], network_rel=0.0) is None  # size alone: it stays
    assert pick(session, crude, [bulky], network_rel=0.0, adequate=1e-3) is bulky
    close = session.describe_formula([a * b + sympy.Float(0.01)], network=y)
    assert held_out_rel_mse(close, var) < search_step.FAR_WORSE * held_out_rel_mse(bulky, var)
    assert pick(session, close, [bulky], network_rel=0.0, adequate=1e-3) is None
    # an adequate formula keeps the score's choice, however much more accurate the other
    offset = session.describe_formula([a * b + sympy.Float(0.04)], network=y)
    assert 1e-3 > held_out_rel_mse(offset, var) > 10 * held_out_rel_mse(bulky, var)
    assert pick(session, offset, [bulky], network_rel=0.0, adequate=1e-3) is None


def test_the_noise_floor_is_half_the_smallest_error_at_hand():
    from kanstudio.session.structure_solve import noise_floor

    assert noise_floor(0.05, 1e-7, float("inf"), float("nan")) == pytest.approx(5e-8 + 1e-14)
    assert noise_floor(float("inf")) == pytest.approx(1e-14)


def test_a_parts_short_discovery_leaves_the_search_to_the_leaf_solver(monkeypatch):
    """The structure step's leaf solver searches a part's points itself; the short
    discovery run on the same part must not search them again (twice the engine's time
    for the same problem)."""
    searches = []

    def recorded(session, settings):
        searches.append(settings.search)
        return iter(())

    monkeypatch.setattr(pipeline, "discover", recorded)
    run = pipeline._Run(_product_session()[0], PipelineSettings())
    x = np.random.default_rng(0).uniform(1, 3, (200, 2))
    for search in (False, True):
        assert pipeline._leaf_discovery(run, search=search)(x, x[:, 0] * x[:, 1],
                                                            ["_u0", "_u1"]) == []
    assert searches == [None, PipelineSettings().search]


def _early_search_run(monkeypatch, law, order=None, names=("a", "b"), **settings):
    """Discovery of ``a*b`` on a ``[2, 1]`` network (a sum: never exact for a product)
    with the engine replaced by one that offers ``law`` (a sympy expression in a, b: the
    session's internal names of the columns ``names``; or a function of the search's
    seed giving one) and counts its searches; (events, session, searches). ``order``: a
    list the engine's calls append "search" to. ``settings``: PipelineSettings fields."""
    monkeypatch.setattr(search_step, "engine_available", lambda: True)
    searches = []

    def engine(session, network, kept, budget="medium", seed=0, threads=1, front=None,
               progress=None):
        searches.append(front is None)
        if order is not None:
            order.append("search")
        offered = law(seed) if callable(law) else law
        found = session.describe_formula([offered], network=np.asarray(network)[:, :1])
        return [found], front or ["the engine's front"]

    monkeypatch.setattr(search_step, "search_candidates", engine)
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 3, (300, 2))
    session = Session(Dataset.from_arrays(X, (X[:, 0] * X[:, 1])[:, None], list(names),
                                          ["y"]))
    session.settings.width = [2, 1]
    pipeline_settings = PipelineSettings(
        starts=1, start_steps=2, sparse_steps=5, after_prune_steps=3, refine_steps=3,
        fine_tune_steps=3, step_budget=60, min_network_r2=0.0, structure=False, **settings)
    events = list(discover(session, pipeline_settings))
    return events, session, searches


def test_an_exact_formula_from_the_early_search_ends_discovery(monkeypatch):
    """The whole-dataset search runs as soon as the first network's best-ranked functions
    are not exact; a verified formula exact on the held-out rows ends discovery there,
    with the trained network (no edge locked) as the model, one undo step."""
    a, b = sympy.symbols("a b")
    events, session, searches = _early_search_run(monkeypatch, a * b)
    result = events[-1].info["formula"]
    assert sympy.simplify(result.expressions[0] - a * b) == 0
    assert result.status == "verified" and searches == [True]
    said = [e.message for e in events if "exact on the held-out rows" in e.message]
    assert len(said) == 1 and "skipped" in said[0]
    assert not any(e.stage == "fine-tune" and "instead of" in e.message for e in events)
    assert session.model.locked_edges() == {}  # the edges would show another formula
    assert session.formula().expressions[0] == result.expressions[0]
    assert result.pareto and any(entry["chosen"] for entry in result.pareto)
    assert events[-1].stage == "formula"
    session.undo()  # Discover stays one undo step
    assert session.model is None


def test_a_search_that_finds_nothing_exact_runs_once(monkeypatch):
    """Not exact, the early search's front is offered again at the end of discovery
    (verified against the final network) instead of searching a second time."""
    a, b = sympy.symbols("a b")
    events, _session, searches = _early_search_run(monkeypatch, 2.0 * a + 2.0 * b - 4.0,
                                                   search_restarts=0, search_escalate=None)
    assert searches == [True, False]  # searched once, its front offered again
    assert any("none exact on the held-out rows" in e.message for e in events)
    assert any("front found earlier" in e.message for e in events)
    assert isinstance(events[-1].info["formula"], FormulaResult)


def test_a_search_that_explains_too_little_runs_again_with_the_next_seeds(monkeypatch):
    """While no formula explains 99.9 % of the held-out variance, the whole-dataset
    search runs again with the session's seed + 1, + 2 (a search's success depends on its
    seed), stopping at the first that does; its formula is the one kept, verified."""
    a, b = sympy.symbols("a b")
    seeds = []

    def law(seed):
        seeds.append(seed)
        return a * b if seed == 1 else 2.0 * a + 2.0 * b - 4.0

    events, _session, searches = _early_search_run(monkeypatch, law)
    # the early search, its front offered again at the end, then one more seed: enough
    assert seeds == [0, 0, 1] and searches == [True, False, True]
    said = [e.message for e in events if "again on the whole dataset" in e.message]
    assert len(said) == 1 and "with seed 1:" in said[0]
    result = events[-1].info["formula"]
    assert sympy.simplify(result.expressions[0] - a * b) == 0
    assert result.status == "verified"

    seeds.clear()  # a law no seed finds: search_restarts more searches, then the best kept
    events, _session, searches = _early_search_run(
        monkeypatch, lambda seed: seeds.append(seed) or 2.0 * a + 2.0 * b - 4.0,
        search_escalate=None)
    assert seeds == [0, 0, 1, 2]
    assert isinstance(events[-1].info["formula"], FormulaResult)


def test_the_search_notes_name_the_inputs_as_the_csv_does(monkeypatch):
    """A column called ``beta`` is ``beta_`` inside (sympy's beta function); the stage log
    names the inputs searched as the file does, like the formula."""
    beta, b = sympy.symbols("beta_ b")
    events, _session, _ = _early_search_run(monkeypatch, 2.0 * beta + 2.0 * b - 4.0,
                                            names=("beta", "b"))
    said = [e.message for e in events if "on the whole dataset" in e.message]
    assert said and all("inputs beta, b)" in m and "beta_" not in m for m in said)


def _restarts(monkeypatch, kept, offered, data=None, **settings):
    """``pipeline._search_restarts`` on the product session (or ``data``: (session, the
    network's values)) after a poor formula, the best network (exact on the product)
    having kept the inputs ``kept``, with an engine that offers ``offered(session,
    seed)``: (the (inputs, seed, budget) of each search, the notes, the formulas
    returned)."""
    from types import SimpleNamespace

    session, y = data or _product_session()
    seen = []

    def engine(session, network, kept, budget="medium", seed=0, threads=1, front=None,
               progress=None):
        seen.append((list(kept), seed, budget))
        return [offered(session, seed)], ["the engine's front"]

    monkeypatch.setattr(search_step, "search_candidates", engine)
    monkeypatch.setattr(pipeline, "_oracle_values", lambda s, oracle: y[:, None])
    run = pipeline._Run(session, PipelineSettings(**settings))
    oracle = SimpleNamespace(network=SimpleNamespace(input_ids_=kept))
    steps = pipeline._search_restarts(run, oracle, _poor(session), [])
    notes = []
    with pytest.raises(StopIteration) as stop:
        while True:
            notes.append(next(steps).message)
    return seen, notes, stop.value.value


def test_the_restarts_search_every_input_the_best_network_kept(monkeypatch):
    """The first search may have run early, over the inputs of the first network read;
    the restarts search those the best network kept (Feynman I.15.3t: x, t of x, t, u,
    c at first)."""
    seen, notes, found = _restarts(monkeypatch, [0, 1, 2],
                                   lambda session, seed: _poor(session),
                                   search_escalate=None)
    assert seen == [([0, 1, 2], 1, "medium"), ([0, 1, 2], 2, "medium")]
    assert len(found) == 2 and all("(inputs a, b, c)" in m for m in notes)


def test_a_larger_search_over_every_input_follows_restarts_that_explain_too_little(
        monkeypatch):
    """Restarts that still leave more than 0.1 % of the held-out variance unexplained are
    followed by one larger search (the next seed) over every input, also those the
    network's pruning dropped (an input with a small but real effect); the log says so
    before it starts, since it takes longer. None when a restart already found enough."""
    seen, notes, found = _restarts(monkeypatch, [0, 1], lambda session, seed: _poor(session))
    assert seen == [([0, 1], 1, "medium"), ([0, 1], 2, "medium"), ([0, 1, 2], 3, "large")]
    assert len(found) == 3
    large = [m for m in notes if "large budget" in m]
    assert len(large) == 2 and "(inputs a, b, c)" in large[0] and large[0].endswith("...")
    assert "with seed 3: 1 expression(s); the most accurate is" in large[1]

    a, b = sympy.symbols("a b")

    def law(session, seed):
        return session.describe_formula([a * b if seed == 2 else 2.0 * a + 2.0 * b - 4.0],
                                        network=session.dataset.y)

    seen, notes, found = _restarts(monkeypatch, [0, 1], law)
    assert [budget for *_, budget in seen] == ["medium", "medium"]
    assert not any("large" in m for m in notes)


def test_no_larger_search_when_what_the_formula_and_network_miss_is_noise(monkeypatch):
    """Measurements a plane explains up to their noise, and a network that explains them
    no better: no formula can do better, so the restarts run (they are cheap) but not the
    larger search, and the log says why. A network that explains them better, or one
    whose misses follow the inputs, or a formula whose misses do, would have shown law
    left to find."""
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 3, (400, 3))
    plane = 2.0 * X[:, 0] + 2.0 * X[:, 1] - 4.0
    y = plane + rng.normal(0.0, 0.3, 400)
    session = Session(Dataset.from_arrays(X, y[:, None], ["a", "b", "c"], ["y"]))
    seen, notes, found = _restarts(monkeypatch, [0, 1], lambda session, seed: _poor(session),
                                   data=(session, plane))
    assert [budget for *_, budget in seen] == ["medium", "medium"]
    assert "no larger search (seed 3)" in notes[-1] and "noise" in notes[-1]

    wavy = plane + 0.5 * np.sin(3.0 * X[:, 2])  # a network whose misses follow c
    seen, notes, found = _restarts(monkeypatch, [0, 1], lambda session, seed: _poor(session),
                                   data=(session, wavy))
    assert [budget for *_, budget in seen] == ["medium", "medium", "large"]

    # a rough network no better than the formula, whose misses read as noise, while the
    # formula's follow c (Feynman test_2: the network had dropped a small input)
    law = plane + 0.3 * np.sin(3.0 * X[:, 2])
    session = Session(Dataset.from_arrays(X, law[:, None], ["a", "b", "c"], ["y"]))
    rough = law + rng.normal(0.0, 0.4, 400)
    seen, notes, found = _restarts(monkeypatch, [0, 1], lambda session, seed: _poor(session),
                                   data=(session, rough))
    assert [budget for *_, budget in seen] == ["medium", "medium", "large"]


def test_the_structure_probe_runs_before_the_early_search(monkeypatch):
    """The probe (1-3 s when it fails) is tried on a network before the whole-dataset
    search (10-15 s), and an exact probe means no search at all."""
    a, b = sympy.symbols("a b")
    order = []
    real = pipeline._early_structure

    def probe(run, attempt):
        order.append("probe")
        yield from real(run, attempt)

    monkeypatch.setattr(pipeline, "_early_structure", probe)
    _events, _session, searches = _early_search_run(monkeypatch, 2.0 * a + 2.0 * b - 4.0,
                                                    order)
    assert order[:2] == ["probe", "search"] and searches[0]

    def exact_probe(run, attempt):  # a probe that finds the law ends discovery
        order.append("probe")
        run.early = (attempt, run.session.describe_formula([a * b]), [])
        yield from ()

    order.clear()
    monkeypatch.setattr(pipeline, "_early_structure", exact_probe)
    events, _session, searches = _early_search_run(monkeypatch, a * b, order)
    assert order == ["probe"] and searches == []
    assert sympy.simplify(events[-1].info["formula"].expressions[0] - a * b) == 0


def _oracle_attempt(session, law, r2=1.0):
    """An attempt whose network reproduces ``law`` (a function of the raw inputs) exactly,
    through the session's scalers as a trained network would."""
    from types import SimpleNamespace

    def predict(scaled):
        X = session.x_scaler.inverse_transform(scaled)
        return session.y_scaler.transform(law(X)[:, None])

    network = SimpleNamespace(predict=predict, input_ids_=list(range(session.dataset.n_inputs)))
    return SimpleNamespace(network=network, network_r2=r2, width=[3, 2, 1])


def _probe(session, attempt):
    run = pipeline._Run(session, PipelineSettings())
    events = list(pipeline._early_structure(run, attempt))
    return run, [e.message for e in events]


def test_the_structure_probe_ends_discovery_on_an_exact_law_of_library_parts():
    """With a network that fits the held-out rows to R² 0.9999 or better as oracle, a law
    that splits into one-input parts the library knows is found exact by the probe."""
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 3, (400, 3))

    def law(X):
        return X[:, 0] * np.exp(-X[:, 1]) / X[:, 2]

    session = Session(Dataset.from_arrays(X, law(X)[:, None], ["a", "b", "c"], ["y"]))
    run, said = _probe(session, _oracle_attempt(session, law))
    assert run.early is not None, said
    a, b, c = sympy.symbols("a b c")
    found = run.early[1].expressions[0]
    assert sympy.simplify(found - a * sympy.exp(-b) / c) == 0, found
    assert any("early structure probe" in m for m in said)
    # a network below PROBE_R2 is no oracle for it: not probed
    run, said = _probe(session, _oracle_attempt(session, law, r2=0.999))
    assert run.early is None and said == []


def test_the_structure_probe_lets_discovery_go_on_when_it_is_not_exact():
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 3, (400, 3))

    def law(X):  # a part of two inputs the probe does not solve
        return X[:, 0] ** X[:, 1] + X[:, 2]

    session = Session(Dataset.from_arrays(X, law(X)[:, None], ["a", "b", "c"], ["y"]))
    run, said = _probe(session, _oracle_attempt(session, law))
    assert run.early is None
    assert any("discovery goes on" in m for m in said), said


def test_the_restarts_report_their_progress_and_stop_when_discovery_is_stopped(
        monkeypatch):
    """A whole-dataset search at the end of discovery runs in a helper thread: each
    report of the engine is a "progress" event (generation k of n: a status line, not a
    log note), and closing the pipeline (Stop) stops the engine at its next report rather
    than after the whole search."""
    session, y = _product_session()
    reports = []

    def engine(session, network, kept, budget="medium", seed=0, threads=1, front=None,
               progress=None):
        for done in range(10, 101, 10):
            go = progress(done, 100)
            reports.append((seed, done, go))
            if not go:
                break
        return [_poor(session)], ["the engine's front"]

    monkeypatch.setattr(search_step, "search_candidates", engine)
    monkeypatch.setattr(pipeline, "_oracle_values", lambda s, oracle: y[:, None])
    from types import SimpleNamespace

    oracle = SimpleNamespace(network=SimpleNamespace(input_ids_=[0, 1]))
    run = pipeline._Run(session, PipelineSettings(search_restarts=1, search_escalate=None))
    events = list(pipeline._search_restarts(run, oracle, _poor(session), []))
    progress = [e for e in events if e.kind == "progress"]
    assert [(e.step, e.steps) for e in progress] == [(k, 100) for k in range(10, 101, 10)]
    assert "generation 30 of 100" in progress[2].message
    assert [e.kind for e in events if e.kind != "progress"] == ["note"]  # the log's line

    reports.clear()
    run = pipeline._Run(session, PipelineSettings(search_restarts=1, search_escalate=None))
    steps = pipeline._search_restarts(run, oracle, _poor(session), [])
    assert next(steps).kind == "progress" and next(steps).step == 20
    steps.close()  # Stop
    assert reports[-1] == (1, 20, False) and len(reports) == 2
