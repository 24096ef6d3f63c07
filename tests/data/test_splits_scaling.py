"""Train/test splits and affine scaling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kanstudio.data import Scaler, train_test_split


def test_split_is_deterministic_disjoint_and_complete() -> None:
    train, test = train_test_split(1000, test_fraction=0.2, seed=7)
    again_train, again_test = train_test_split(1000, test_fraction=0.2, seed=7)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(test, again_test)
    assert len(test) == 200 and len(train) == 800
    assert not set(train.tolist()) & set(test.tolist())
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(1000))


def test_split_changes_with_seed() -> None:
    assert not np.array_equal(train_test_split(100, seed=0)[1], train_test_split(100, seed=1)[1])


def test_split_edge_sizes() -> None:
    train, test = train_test_split(3, test_fraction=0.1)
    assert len(test) == 1 and len(train) == 2
    train, test = train_test_split(10, test_fraction=0.0)
    assert len(test) == 0 and len(train) == 10
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_split(10, test_fraction=1.0)
    with pytest.raises(ValueError, match="n_rows"):
        train_test_split(-1)


@pytest.mark.parametrize("mode", ["standard", "minmax", "none"])
def test_scaler_round_trip(mode: str) -> None:
    data = np.random.default_rng(0).normal(5.0, 3.0, size=(200, 3))
    scaler = Scaler(mode).fit(data)  # type: ignore[arg-type]
    scaled = scaler.transform(data)
    np.testing.assert_allclose(scaler.inverse_transform(scaled), data, rtol=1e-12, atol=1e-12)
    if mode == "standard":
        np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(scaled.std(axis=0), 1.0, rtol=1e-12)
    if mode == "minmax":
        np.testing.assert_allclose(scaled.min(axis=0), -1.0)
        np.testing.assert_allclose(scaled.max(axis=0), 1.0)


def test_affine_parameters_map_a_scaled_formula_back() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(2.0, 6.0, size=(100, 1))
    scaler = Scaler("standard").fit(x)
    scale, offset = scaler.affine_parameters()
    x_scaled = scaler.transform(x)
    np.testing.assert_allclose(x_scaled, (x - offset) / scale)
    # a law written in scaled units, f(u) = u**2, becomes f((x - offset) / scale)
    np.testing.assert_allclose(x_scaled[:, 0] ** 2, ((x[:, 0] - offset[0]) / scale[0]) ** 2)


def test_scaler_json_round_trip_and_constant_column() -> None:
    data = np.column_stack([np.linspace(0, 1, 10), np.full(10, 4.0)])
    scaler = Scaler("standard").fit(data)
    payload = json.loads(json.dumps(scaler.to_dict()))
    assert all(isinstance(v, float) for v in payload["scale"] + payload["offset"])
    restored = Scaler.from_dict(payload)
    np.testing.assert_array_equal(restored.transform(data), scaler.transform(data))
    assert restored.affine_parameters()[0][1] == 1.0  # a constant column keeps scale 1


def test_scaler_rejects_bad_input() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        Scaler().transform(np.ones(3))
    with pytest.raises(ValueError, match="mode"):
        Scaler("bogus").fit(np.ones(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        Scaler.from_dict({"mode": "standard", "offset": [0.0], "scale": [0.0]})
    with pytest.raises(ValueError, match="columns"):
        Scaler().fit(np.ones((4, 2))).transform(np.ones((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        Scaler().fit(np.array([1.0, np.nan]))
