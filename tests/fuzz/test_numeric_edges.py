"""Numerics at the edges (issue 17): magnitudes from subnormal to ±1.8e308, a constant
input, a near-constant target, 2 rows, a million rows. Each either works or says which
column and row stops it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.fuzz.helpers import check_result_json, check_run, listing, run_cli

BIG = np.finfo(np.float64).max  # 1.7976931348623157e308


def _write(path: Path, columns: dict[str, np.ndarray]) -> Path:
    rows = zip(*columns.values(), strict=True)
    text = ",".join(columns) + "\n" + "".join(
        ",".join(repr(float(v)) for v in row) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")
    return path


def _fit(tmp_path: Path, columns: dict[str, np.ndarray], *extra: str):
    _write(tmp_path / "data.csv", columns)
    before = listing(tmp_path)
    run = run_cli(["fit", "data.csv", "--quiet", "--out", "out.json", *extra], tmp_path)
    check_run(run, {"out.json"}, before, listing(tmp_path))
    return run


def _linear(n: int = 40, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(1.0, 1.7, n), rng.uniform(1.0, 1.7, n)


def test_a_row_near_the_float_limit_is_named_not_an_internal_error(tmp_path):
    """The reported bug: one row `1e308,-1e308,-1e308` among ordinary ones ended in
    `internal error: IndexError` after the scaler's variance overflowed."""
    a, b = _linear(20)
    columns = {"a": np.r_[a, 1e308], "b": np.r_[b, -1e308], "y": np.r_[a + b, -1e308]}
    run = _fit(tmp_path, columns, "--steps", "3")
    assert run.rc == 2
    assert "Column 'a'" in run.stderr and "row 22" in run.stderr  # header = row 1
    assert "blank it or remove that row" in run.stderr


def test_a_value_at_either_float_limit_is_named(tmp_path):
    a, b = _linear(38)
    run = _fit(tmp_path, {"a": a, "b": np.r_[b[:36], BIG, -BIG], "y": a})
    assert run.rc == 2 and "Column 'b'" in run.stderr and "row 38" in run.stderr
    assert "1 other row too" in run.stderr


@pytest.mark.parametrize("mode", ["standard", "minmax"])
def test_scaler_is_finite_and_invertible_up_to_the_float_limit(mode):
    from kanstudio.data import Scaler

    data = np.array([[-BIG, 5e-324], [BIG, 1e-310], [0.5 * BIG, -2e-310]])
    scaler = Scaler(mode).fit(data)
    assert np.all(np.isfinite(scaler.scale_)) and np.all(scaler.scale_ > 0)
    assert np.all(np.isfinite(scaler.offset_))
    scaled = scaler.transform(data)
    assert np.all(np.isfinite(scaled)) and np.max(np.abs(scaled)) <= 2.0
    assert np.allclose(scaler.inverse_transform(scaled), data, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("scale", [1e307, 1e200, 1e-300, 1e-310])
def test_data_of_any_magnitude_gives_its_formula(tmp_path, fast_pipeline, scale):
    """A column of consistent magnitude trains however large or small: scaling, the
    metrics and the formula's evaluation stay finite."""
    a, b = _linear()
    run = _fit(tmp_path, {"a": a * scale, "b": b * scale, "y": (a / 2 + b / 4) * scale})
    assert run.rc == 0, run.stderr
    result = check_result_json((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert result["formula_test_r2"] > 0.999, result
    assert result["formula_test_rmse"] < 1e-6 * scale, result


def test_constant_input_among_inputs(tmp_path, fast_pipeline):
    a, _ = _linear()
    run = _fit(tmp_path, {"a": a, "c": np.full_like(a, 3.0), "y": 2 * a + 1})
    assert run.rc == 0, run.stderr
    result = check_result_json((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert result["formula_test_r2"] > 0.999


def test_near_constant_target_is_flagged_and_still_answers(tmp_path, fast_pipeline):
    from kanstudio.data import load_dataset

    a, b = _linear()
    path = _write(tmp_path / "data.csv", {"a": a, "b": b, "y": 1.0 + 1e-14 * a})
    warnings = [w.message for w in load_dataset(path).warnings]
    assert any("Target 'y' varies only in its last digits" in w for w in warnings), warnings
    run = _fit(tmp_path, {"a": a, "b": b, "y": 1.0 + 1e-14 * a})
    assert run.rc == 0, run.stderr
    check_result_json((tmp_path / "out.json").read_text(encoding="utf-8"))


def test_two_rows_are_refused_with_the_count(tmp_path):
    run = _fit(tmp_path, {"a": np.array([1.0, 2.0]), "y": np.array([3.0, 4.0])})
    assert run.rc == 2 and "Only 2 usable data rows; at least 10 are needed" in run.stderr


def test_a_million_rows_load_scale_train_and_evaluate(tmp_path):
    """1,000,000 rows through reading, validation, scaling, a training step and the
    formula's evaluation on every row (seconds; the whole pipeline would take a minute)."""
    from kanstudio.data import load_dataset
    from kanstudio.session import Session, SessionSettings

    block = "".join(f"{i / 997:.5f},{j / 991:.5f},{2 * i / 997 - j / 991:.6f}\n"
                    for i, j in zip(range(-500, 500), range(-480, 520), strict=True))
    (tmp_path / "big.csv").write_text("a,b,y\n" + block * 1000, encoding="utf-8")
    dataset = load_dataset(tmp_path / "big.csv")
    assert dataset.n_samples == 1_000_000 and not dataset.warnings
    session = Session(dataset, SessionSettings(width=[2, 1], grid=3, seed=0))
    session.new_model()
    records = session.train(1, opt="adam", batch_size=4096, update_grid=False)
    assert np.isfinite(records[-1].train_loss)
    for edge in session.model.active_edges():
        session.lock(*edge, "x")
    result = session.formula()
    assert result.max_rel_diff_exact < 1e-9  # the formula is the network, on every row
    assert np.isfinite(result.formula_test_rmse) and np.isfinite(result.formula_test_r2)


def test_inputs_spanning_the_whole_float_range_are_not_an_internal_error(tmp_path,
                                                                          fast_pipeline):
    """Found by the long hunt: an input from -1.5e308 to 1.5e308 made the box 25 % wider
    than the data (where a formula must stay defined) overflow numpy's uniform sampler
    (OverflowError: Range exceeds valid bounds) after training."""
    rng = np.random.default_rng(4)
    a = rng.uniform(-1.5, 1.5, 40) * 1e308
    b = rng.uniform(1.0, 2.0, 40)
    run = _fit(tmp_path, {"a": a, "b": b, "y": a / 1e308 + b})
    assert run.rc in (0, 2), run.stderr
    assert "internal error" not in run.stderr


def test_box_points_stay_finite_at_the_float_limit():
    from kanstudio.session.sampling import box_points, widened_box

    lower, upper = widened_box(np.array([-BIG, 1.0]), np.array([BIG, 2.0]), 0.25)
    assert np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))
    assert lower[1] == pytest.approx(0.75) and upper[1] == pytest.approx(2.25)
    points = box_points(lower, upper, 500, np.random.default_rng(0))
    assert np.all(np.isfinite(points))
    assert np.all(points >= lower) and np.all(points <= upper)
    assert points[:, 0].min() < -1e307 and points[:, 0].max() > 1e307
