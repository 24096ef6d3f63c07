"""The training loop: Adam and mini-batches converge, records are well formed, early stop
leaves a usable model, runs are reproducible, and non-finite steps are undone."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from kanstudio import KAN
from kanstudio.core import KANNetwork, TrainSettings, train_steps

F64 = torch.float64


def toy_data(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    return X, np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2


def rmse(model: KAN, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((model.predict(X)[:, 0] - y) ** 2)))


def all_finite(net: KANNetwork) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in [*net.parameters(), *net.buffers()])


# ---------------------------------------------------------------------- convergence
def test_adam_lowers_the_loss_more_than_tenfold() -> None:
    X, y = toy_data()
    untrained = KAN(width=[2, 3, 1], seed=0, device="cpu").fit(X, y, steps=0)
    model = KAN(width=[2, 3, 1], seed=0, device="cpu").fit(X, y, steps=120, opt="adam", lr=2e-2)
    assert [r.step for r in model.history_] == list(range(1, 121))
    start, end = rmse(untrained, X, y), rmse(model, X, y)
    assert end < start / 10, (start, end)
    assert model.history_[-1].train_loss < model.history_[0].train_loss / 10


def test_mini_batches_lower_the_loss() -> None:
    X, y = toy_data(400)
    untrained = KAN(width=[2, 3, 1], seed=0, device="cpu").fit(X, y, steps=0)
    model = KAN(width=[2, 3, 1], seed=0, device="cpu")
    records = list(model.fit_iter(X, y, steps=80, opt="adam", lr=2e-2, batch_size=32))
    assert all(math.isfinite(r.train_loss) for r in records)
    assert rmse(model, X, y) < rmse(untrained, X, y) / 10
    # Batches are drawn with the model's seed: a rerun gives the same model.
    again = KAN(width=[2, 3, 1], seed=0, device="cpu").fit(X, y, steps=80, opt="adam",
                                                            lr=2e-2, batch_size=32)
    assert np.array_equal(again.predict(X), model.predict(X))


def test_mini_batch_lbfgs_lowers_the_loss() -> None:
    X, y = toy_data(400)
    model = KAN(width=[2, 3, 1], seed=0, device="cpu").fit(X, y, steps=6, batch_size=64)
    assert rmse(model, X, y) < 0.05


# ---------------------------------------------------------------------- records and stopping
def test_fit_iter_yields_numbered_finite_records() -> None:
    X, y = toy_data(200)
    model = KAN(width=[2, 3, 1], seed=0, device="cpu")
    records = list(model.fit_iter(X, y, steps=12, grid_update_every=5))
    assert [r.step for r in records] == list(range(1, 13))
    assert all(math.isfinite(r.train_loss) and math.isfinite(r.test_loss) for r in records)
    assert [r.step for r in records if r.event == "grid_update"] == [1, 6, 11]
    assert {r.event for r in records} <= {"", "grid_update"}
    assert records[-1].train_loss < records[0].train_loss
    assert model.history_ == records
    # test_loss is the RMSE on the held-out 20%, which fit_iter drew with the model's seed.
    held_out = np.random.default_rng(0).permutation(200)[:40]
    assert records[-1].test_loss == pytest.approx(rmse(model, X[held_out], y[held_out]),
                                                  rel=1e-9)


def test_breaking_out_of_fit_iter_leaves_a_usable_model() -> None:
    X, y = toy_data(200)
    model = KAN(width=[2, 3, 1], seed=0, device="cpu")
    for record in model.fit_iter(X, y, steps=100):
        if record.step == 3:
            break
    assert len(model.history_) == 3
    pred = model.predict(X)
    assert pred.shape == (200, 1) and np.isfinite(pred).all()
    partial = rmse(model, X, y)
    assert partial < 0.2
    curves = model.edge_curves(8)
    assert all(np.isfinite(a).all() for a in curves.y)
    model.fit(X, y, steps=3)  # training can continue from where it stopped
    assert [r.step for r in model.history_] == [1, 2, 3, 1, 2, 3]
    assert rmse(model, X, y) < partial


def test_regularised_training_reports_the_penalty() -> None:
    X, y = toy_data(200)
    model = KAN(width=[2, 3, 1], seed=0, device="cpu").fit(X, y, steps=4, lamb=1e-2)
    assert all(r.reg > 0 and math.isfinite(r.reg) for r in model.history_)
    assert rmse(model, X, y) < 0.1


def test_same_seed_same_model_different_seed_different() -> None:
    X, y = toy_data(200)

    def trained(seed: int) -> np.ndarray:
        return KAN(width=[2, 3, 1], seed=seed, device="cpu").fit(X, y, steps=4).predict(X)

    first, second, other = trained(3), trained(3), trained(4)
    assert np.array_equal(first, second)
    assert not np.allclose(first, other)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"opt": "sgd"}, "opt"), ({"lr": -1.0}, "lr"), ({"lamb": -1.0}, "lamb"),
     ({"batch_size": 0}, "batch_size"), ({"steps": -1}, "steps"),
     ({"test_size": 1.0}, "test_size")],
)
def test_bad_settings_are_refused_naming_the_parameter(kwargs: dict, message: str) -> None:
    X, y = toy_data(50)
    with pytest.raises(ValueError, match=message):
        KAN(width=[2, 2, 1], device="cpu").fit(X, y, **kwargs)


def test_a_refused_fit_leaves_the_model_unfitted() -> None:
    X, y = toy_data(50)
    model = KAN(width=[2, 2, 1], device="cpu")
    with pytest.raises(ValueError, match="opt"):
        model.fit(X, y, opt="sgd")
    assert not model.is_fitted


def test_bad_data_is_refused() -> None:
    X, y = toy_data(50)
    with pytest.raises(ValueError, match="rows"):
        KAN(width=[2, 2, 1], device="cpu").fit(X, y[:40])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        KAN(width=[2, 2, 1], device="cpu").fit(bad, y)
    with pytest.raises(ValueError, match="width"):
        KAN(width=[3, 2, 1], device="cpu").fit(X, y)
    with pytest.raises(RuntimeError, match="not fitted"):
        KAN().predict(X)


def test_continuing_a_fit_with_a_differently_shaped_target_is_refused() -> None:
    X, y = toy_data(50)
    model = KAN(width=[2, 2, 1], seed=0, device="cpu").fit(X, y, steps=1)
    with pytest.raises(ValueError, match="y"):
        model.fit(X, np.stack([y, -y], axis=1), steps=1)


# ---------------------------------------------------------------------- non-finite guard
def tensors(X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(X, dtype=F64), torch.as_tensor(y[:, None], dtype=F64)


def test_a_nan_between_steps_is_undone_and_training_continues() -> None:
    X, y = toy_data(200)
    model = KAN(width=[2, 3, 1], seed=0, device="cpu")
    records = []
    for record in model.fit_iter(X, y, steps=8, update_grid=False):
        records.append(record)
        if record.step == 3:
            with torch.no_grad():
                model.network_.layers[0].coef[1, 2, 0] = float("nan")
    events = [r.event for r in records]
    assert events[3] == "nonfinite_recovered" and math.isnan(records[3].train_loss)
    assert records[3].lr == pytest.approx(records[2].lr / 2)
    assert events[4:] == [""] * 4
    assert all(math.isfinite(r.train_loss) for r in records[4:])
    assert all_finite(model.network_)
    assert records[-1].train_loss < records[2].train_loss  # it kept learning
    assert np.isfinite(model.predict(X)).all()


def test_the_recovered_parameters_are_those_of_the_last_good_step() -> None:
    X, y = toy_data(200)
    net = KANNetwork([2, 3, 1], seed=0, dtype=F64)
    x, t = tensors(X, y)
    steps = train_steps(net, x, t, settings=TrainSettings(steps=5, update_grid=False))
    for record in steps:
        if record.step == 2:
            good = copy.deepcopy(net.state_dict())
            with torch.no_grad():
                net.layers[1].scale_base.fill_(float("inf"))
        if record.step == 3:
            assert record.event == "nonfinite_recovered"
            for name, value in net.state_dict().items():
                assert torch.equal(value, good[name]), name
            break
    steps.close()


def test_repeated_failures_stop_training_and_leave_a_finite_model() -> None:
    X, y = toy_data(200)
    net = KANNetwork([2, 3, 1], seed=0, dtype=F64)
    x, t = tensors(X, y)
    settings = TrainSettings(steps=50, update_grid=False, max_recoveries=3)
    records = []
    for record in train_steps(net, x, t, settings=settings):
        records.append(record)
        if record.event != "stopped_nonfinite":
            with torch.no_grad():
                net.layers[0].coef[0, 0, 0] = float("nan")
    assert [r.event for r in records] == [""] + ["nonfinite_recovered"] * 3 + ["stopped_nonfinite"]
    assert [r.lr for r in records[1:4]] == [0.5, 0.25, 0.125]
    assert all_finite(net)
    assert bool(torch.isfinite(net(x)).all())


def test_a_nan_loss_from_the_model_is_recovered_by_the_api(monkeypatch) -> None:
    X, y = toy_data(200)
    model = KAN(width=[2, 3, 1], seed=0, device="cpu").fit(X, y, steps=2)
    net = model.network_
    real_forward = net.forward
    calls = {"n": 0}

    def nan_once(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        out = real_forward(x)
        return out * float("nan") if calls["n"] == 1 else out

    monkeypatch.setattr(net, "forward", nan_once)
    records = list(model.fit_iter(X, y, steps=3, update_grid=False))
    monkeypatch.undo()
    assert [r.event for r in records] == ["nonfinite_recovered", "", ""]
    assert np.isfinite(model.predict(X)).all()
    assert rmse(model, X, y) < 0.1


@torch.no_grad()
def layer_by_layer(net: KANNetwork, x: torch.Tensor) -> torch.Tensor:
    """The network's output without going through a (patched) ``net.forward``."""
    for layer in net.layers:
        x = layer(x)
    return x


def test_a_failure_right_after_a_grid_update_restores_the_same_function(monkeypatch) -> None:
    X, y = toy_data(300)
    net = KANNetwork([2, 3, 1], seed=0, dtype=F64)
    x, t = tensors(X, y)
    settings = TrainSettings(steps=11, grid_update_every=10)
    real_forward = net.forward
    poison = {"on": False}

    def forward(v: torch.Tensor) -> torch.Tensor:
        out = real_forward(v)
        if poison["on"]:
            poison["on"] = False
            return out * float("nan")
        return out

    monkeypatch.setattr(net, "forward", forward)
    for record in train_steps(net, x, t, settings=settings):
        if record.step == 10:
            before = layer_by_layer(net, x)
            regridded = copy.deepcopy(net)
            regridded.update_grid(x)
            grid_change = float((layer_by_layer(regridded, x) - before).abs().max())
            assert 0 < grid_change < 0.05
            poison["on"] = True  # step 11 updates the grid, then its loss is NaN
        if record.step == 11:
            assert record.event == "nonfinite_recovered"
            change = float((layer_by_layer(net, x) - before).abs().max())
            # Undoing the step may keep the re-gridded function or the previous one, but
            # nothing else: the grid update moves the output by `grid_change` at most.
            assert change <= grid_change + 1e-9, (change, grid_change)


def test_thread_setting_does_not_leak_while_the_generator_waits() -> None:
    # A small problem computes on one thread, but a caller that holds the suspended
    # generator (the worker, a notebook) keeps its own thread count between steps.
    X, y = toy_data(200)
    net = KANNetwork([2, 3, 1], dtype=F64)
    x = torch.as_tensor(X)
    t = torch.as_tensor(y)[:, None]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        steps = train_steps(net, x, t, settings=TrainSettings(steps=3, opt="adam"))
        for _ in steps:
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
