"""``kanstudio.KAN``, the notebook API: it learns the paper's example to 1e-2, keeps its
function through refine/prune, locks edges, saves and loads exactly, and refuses damaged or
hostile model files with a ModelFileError."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from kanstudio import KAN
from kanstudio.model.kan import ModelFileError


def paper_function(X: np.ndarray) -> np.ndarray:
    return np.exp(np.sin(np.pi * X[:, 0]) + X[:, 1] ** 2)


def rmse(model: KAN, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((model.predict(X)[:, 0] - y) ** 2)))


@pytest.fixture(scope="module")
def paper_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, (1000, 2))
    X_new = rng.uniform(-1.0, 1.0, (1000, 2))  # never seen in training
    return {"X": X, "y": paper_function(X), "X_new": X_new, "y_new": paper_function(X_new)}


@pytest.fixture(scope="module")
def paper_model(paper_data) -> KAN:
    """[2, 5, 1] on exp(sin(pi x) + y^2), 50 LBFGS steps (about 8 s on one busy core).

    Shared by several tests: they must not change it (use ``.copy()``)."""
    start = time.perf_counter()
    model = KAN(width=[2, 5, 1], grid=5, k=3, seed=0, device="cpu")
    model.fit(paper_data["X"], paper_data["y"], steps=50, opt="lbfgs")
    model.fit_seconds_ = time.perf_counter() - start
    return model


# ---------------------------------------------------------------------- learning
def test_the_paper_example_is_learned_to_1e_2(paper_model: KAN, paper_data) -> None:
    history = paper_model.history_
    assert [r.step for r in history] == list(range(1, 51))
    assert not any(r.event.startswith(("nonfinite", "stopped", "error")) for r in history)
    assert history[-1].test_loss < 1e-2  # the 20% fit() held out
    assert rmse(paper_model, paper_data["X_new"], paper_data["y_new"]) < 1e-2
    assert history[-1].train_loss < history[0].train_loss / 5


def test_fit_returns_self_and_predict_has_one_column_per_output() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (80, 3))
    Y = np.stack([X[:, 0] + X[:, 1], X[:, 2] ** 2], axis=1)
    model = KAN(seed=0, device="cpu")
    assert model.fit(X, Y, steps=2) is model
    assert model.width_ == [3, 7, 2]  # default width: [n_in, 2 n_in + 1, n_out]
    assert model.predict(X).shape == (80, 2) and model.predict(X[:1]).shape == (1, 2)
    assert model.get_params()["width"] is None  # the constructor's arguments are kept
    with pytest.raises(ValueError, match="expected 3 input columns, got 2"):
        model.predict(X[:, :2])


def test_edge_curves_of_a_fitted_model(paper_model: KAN, paper_data) -> None:
    curves = paper_model.edge_curves(n_points=32)
    X = paper_data["X"]
    assert [a.shape for a in curves.y] == [(2, 5, 32), (5, 1, 32)]
    assert all(a.dtype == np.float32 for a in curves.x + curves.y)
    # First-layer curves span the training inputs' range.
    assert np.all(curves.x[0][:, 0] >= X.min(0) - 1e-6) and np.all(curves.x[0][:, -1] <= 1.0)
    assert np.all(curves.x[0][:, -1] - curves.x[0][:, 0] > 1.9)
    assert all(np.isfinite(a).all() for a in curves.y)


# ---------------------------------------------------------------------- refine
def test_refine_keeps_predictions(paper_model: KAN) -> None:
    reference = paper_model.reference_x_
    before = paper_model.predict(reference)
    fine = paper_model.refine(grid=10)
    assert fine.network_.grid_size == 10 and fine.width_ == [2, 5, 1]
    assert paper_model.network_.grid_size == 5
    assert np.array_equal(paper_model.predict(reference), before)
    assert np.abs(fine.predict(reference) - before).max() < 1e-2  # measured 6e-4


def test_training_after_refine_beats_the_coarse_model(paper_model: KAN, paper_data) -> None:
    X, y = paper_data["X"], paper_data["y"]
    fine = paper_model.refine(grid=10)
    records = list(fine.fit_iter(X, y, steps=10))
    assert [r.event for r in records if r.event not in ("", "grid_update")] == []
    assert records[-1].train_loss < paper_model.history_[-1].train_loss
    X_new, y_new = paper_data["X_new"], paper_data["y_new"]
    assert rmse(fine, X_new, y_new) < rmse(paper_model, X_new, y_new)


# ---------------------------------------------------------------------- pruning
@pytest.fixture(scope="module")
def irrelevant_input_model() -> tuple[KAN, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, (600, 3))
    y = np.sin(np.pi * X[:, 0]) + X[:, 1] ** 2  # column 2 is noise the target ignores
    model = KAN(width=[3, 3, 1], seed=0, device="cpu").fit(X, y, steps=20, lamb=1e-2)
    return model, X, y


def test_prune_drops_the_irrelevant_input(irrelevant_input_model) -> None:
    model, X, y = irrelevant_input_model
    before = model.predict(X)
    small = model.prune()
    assert small.input_ids_ == [0, 1] and small.width_[0] == 2
    assert small.n_parameters() < model.n_parameters()
    assert model.width_ == [3, 3, 1] and np.array_equal(model.predict(X), before)
    after = small.predict(X)  # still takes all three columns
    assert after.shape == (600, 1)
    assert np.abs(after - before).max() < 0.1  # measured 0.033 on outputs in [-1, 2]
    assert rmse(small, X, y) < rmse(model, X, y) + 5e-3


def test_prune_node_and_edge_return_new_models(irrelevant_input_model) -> None:
    model, X, _ = irrelevant_input_model
    before = model.predict(X)
    no_node = model.prune_node(1, 2)
    no_input = model.prune_node(0, 2)
    no_edge = model.prune_edge(0, 2, 1)
    assert no_node.width_ == [3, 2, 1] and no_input.input_ids_ == [0, 1]
    assert not no_edge.network_.layers[0].mask[2, 1]
    assert model.width_ == [3, 3, 1] and bool(model.network_.layers[0].mask.all())
    assert np.array_equal(model.predict(X), before)
    for other in (no_node, no_input, no_edge):
        assert other is not model and np.isfinite(other.predict(X)).all()
    # The irrelevant input carried almost nothing: dropping it barely moves the output.
    assert np.abs(no_input.predict(X) - before).max() < 0.1


@pytest.mark.parametrize(
    ("verb", "args", "error"),
    [("prune_node", (2, 0), IndexError), ("prune_node", (1, 5), IndexError),
     ("prune_node", (0, -1), IndexError), ("prune_edge", (0, 3, 0), IndexError),
     ("prune_edge", (1, 0, 1), IndexError), ("prune_edge", (5, 0, 0), IndexError)],
)
def test_invalid_addresses_are_refused(irrelevant_input_model, verb, args, error) -> None:
    model = irrelevant_input_model[0]
    with pytest.raises(error):
        getattr(model, verb)(*args)


def test_pruning_the_last_node_of_a_level_is_refused() -> None:
    X = np.linspace(-1, 1, 30)[:, None]
    model = KAN(width=[1, 1, 1], device="cpu").fit(X, X[:, 0], steps=1)
    with pytest.raises(ValueError, match="last one"):
        model.prune_node(1, 0)


# ---------------------------------------------------------------------- locking edges
def test_lock_edge_with_given_parameters_and_unlock(irrelevant_input_model) -> None:
    model = irrelevant_input_model[0].copy()
    original = irrelevant_input_model[0]
    X = irrelevant_input_model[1][:200]
    net = model.network_
    x = torch.as_tensor(X, dtype=net.dtype)
    acts = net.forward_activations(x)
    hidden, phi = acts.inputs[1].detach(), acts.edges[1][:, 2, 0].detach()
    before = model.predict(X)
    a, b, c, d = 1.2, -0.3, 0.8, 0.05
    assert model.lock_edge(1, 2, 0, "sin", params=(a, b, c, d)) is None
    assert model.locked_edges() == {(1, 2, 0): "sin"}
    expected = before[:, 0] - phi.numpy() + c * np.sin(a * hidden[:, 2].numpy() + b) + d
    np.testing.assert_allclose(model.predict(X)[:, 0], expected, atol=1e-12)
    assert np.array_equal(original.predict(X), before)  # copy() is independent
    model.unlock_edge(1, 2, 0)
    assert model.locked_edges() == {} and np.array_equal(model.predict(X), before)


def test_a_locked_edge_trains_its_parameters_and_stays_locked() -> None:
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (200, 1))
    y = 0.9 * np.sin(1.1 * X[:, 0] + 0.2)
    model = KAN(width=[1, 1], seed=0, device="cpu").fit(X, y, steps=1)
    model.lock_edge(0, 0, 0, "sin", params=(1.0, 0.0, 1.0, 0.0))
    model.fit(X, y, steps=10, update_grid=False)
    assert model.locked_edges() == {(0, 0, 0): "sin"}
    a, b, c, d = model.network_.layers[0].symbolic_params[0, 0].tolist()
    assert rmse(model, X, y) < 1e-3
    assert abs(c * np.sin(a * 0.5 + b) + d + model.network_.layers[0].bias.item()
               - 0.9 * np.sin(1.1 * 0.5 + 0.2)) < 1e-3


def test_prune_and_sparse_training_work_with_a_locked_edge(irrelevant_input_model) -> None:
    model, X, y = irrelevant_input_model
    locked = model.copy()
    locked.lock_edge(1, 0, 0, "x^2", params=(1.0, 0.0, 1.0, 0.0))
    small = locked.prune()
    assert small.locked_edges() and small.input_ids_ == [0, 1]
    locked.fit(X, y, steps=1, lamb=1e-2, update_grid=False)
    assert np.isfinite(locked.predict(X)).all()


def test_lock_edge_refuses_bad_requests(irrelevant_input_model) -> None:
    model = irrelevant_input_model[0].copy()
    with pytest.raises(ValueError, match="four finite"):
        model.lock_edge(0, 0, 0, "sin", params=(1.0, float("nan"), 1.0, 0.0))
    with pytest.raises(KeyError, match="unknown library function"):
        model.lock_edge(0, 0, 0, "not_a_function", params=(1.0, 0.0, 1.0, 0.0))
    with pytest.raises(IndexError):
        model.lock_edge(0, 3, 0, "sin", params=(1.0, 0.0, 1.0, 0.0))
    assert model.locked_edges() == {}


# ---------------------------------------------------------------------- save / load
def test_save_load_round_trip_is_exact(paper_model: KAN, paper_data, tmp_path: Path) -> None:
    path = tmp_path / "model.kstudio"
    paper_model.save(path)
    back = KAN.load(path, device="cpu")
    X = paper_data["X_new"]
    assert np.array_equal(back.predict(X), paper_model.predict(X))
    assert back.width_ == [2, 5, 1] and back.grid == 5 and back.k == 3 and back.seed == 0
    assert np.array_equal(back.reference_x_, paper_model.reference_x_)
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file
    again = tmp_path / "again.kstudio"
    back.save(again)
    assert np.array_equal(KAN.load(again).predict(X), paper_model.predict(X))


def test_save_load_keeps_pruned_inputs_and_locked_edges(irrelevant_input_model,
                                                        tmp_path: Path) -> None:
    model, X, _ = irrelevant_input_model
    small = model.prune_node(0, 2)
    small.lock_edge(1, 0, 0, "x^2", params=(0.9, 0.1, 1.1, -0.2))
    small.save(tmp_path / "small.kstudio")
    back = KAN.load(tmp_path / "small.kstudio")
    assert back.input_ids_ == [0, 1] and back.locked_edges() == {(1, 0, 0): "x^2"}
    assert np.array_equal(back.predict(X), small.predict(X))
    back.fit(X, X[:, 0], steps=1, update_grid=False)  # a loaded model keeps training
    assert np.isfinite(back.predict(X)).all()


def test_saving_over_an_existing_file_replaces_it(tmp_path: Path) -> None:
    X = np.linspace(-1, 1, 40)[:, None]
    path = tmp_path / "m.kstudio"
    first = KAN(width=[1, 2, 1], seed=0, device="cpu").fit(X, X[:, 0], steps=1)
    second = KAN(width=[1, 2, 1], seed=1, device="cpu").fit(X, -X[:, 0], steps=1)
    first.save(path)
    second.save(path)
    assert np.array_equal(KAN.load(path).predict(X), second.predict(X))


# ---------------------------------------------------------------------- hostile files
@pytest.fixture(scope="module")
def saved_members(tmp_path_factory) -> dict[str, bytes]:
    """The members of a genuine small model file, to damage one at a time."""
    X = np.random.default_rng(0).uniform(-1, 1, (60, 2))
    model = KAN(width=[2, 2, 1], seed=0, device="cpu").fit(X, X[:, 0], steps=1)
    path = tmp_path_factory.mktemp("genuine") / "m.kstudio"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def arrays_of(members: dict[str, bytes]) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(members["arrays.npz"]), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def with_arrays(members: dict[str, bytes], **changes: np.ndarray) -> dict[str, bytes]:
    arrays = arrays_of(members)
    arrays.update(changes)
    return {**members, "arrays.npz": npz_bytes(arrays)}


def with_json(members: dict[str, bytes], name: str, edit) -> dict[str, bytes]:
    doc = json.loads(members[name])
    edit(doc)
    return {**members, name: json.dumps(doc).encode()}


def header_only_npy(shape: tuple[int, ...]) -> bytes:
    """An .npy whose header declares ``shape`` of float64 but carries no data."""
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        stream, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return stream.getvalue()


def test_a_genuine_file_rebuilt_by_the_test_loads(saved_members, tmp_path: Path) -> None:
    # Guards the refusal tests below: a rewritten, undamaged file is accepted.
    back = KAN.load(write_zip(tmp_path / "ok.kstudio", with_arrays(saved_members)))
    assert back.width_ == [2, 2, 1]


def test_missing_empty_truncated_and_random_files_are_refused(saved_members,
                                                              tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot open"):
        KAN.load(tmp_path / "nowhere.kstudio")
    (tmp_path / "empty.kstudio").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        KAN.load(tmp_path / "empty.kstudio")
    whole = write_zip(tmp_path / "whole.kstudio", saved_members).read_bytes()
    for cut in (len(whole) // 2, len(whole) - 30, 100):
        (tmp_path / "cut.kstudio").write_bytes(whole[:cut])
        with pytest.raises(ModelFileError, match="truncated|corrupted|damaged"):
            KAN.load(tmp_path / "cut.kstudio")
    noise = np.random.default_rng(0).bytes(5000)
    (tmp_path / "noise.kstudio").write_bytes(noise)
    with pytest.raises(ModelFileError, match="not a valid archive"):
        KAN.load(tmp_path / "noise.kstudio")


def test_wrong_schema_version_or_format_is_refused(saved_members, tmp_path: Path) -> None:
    future = with_json(saved_members, "manifest.json",
                       lambda m: m.__setitem__("schema_version", 99))
    with pytest.raises(ModelFileError, match="schema 99 is not supported"):
        KAN.load(write_zip(tmp_path / "future.kstudio", future))
    other = with_json(saved_members, "manifest.json", lambda m: m.__setitem__("format", "x"))
    with pytest.raises(ModelFileError, match="not a KAN Studio model"):
        KAN.load(write_zip(tmp_path / "other.kstudio", other))
    broken = {**saved_members, "model.json": b"{not json"}
    with pytest.raises(ModelFileError, match="model.json is not valid JSON"):
        KAN.load(write_zip(tmp_path / "broken.kstudio", broken))


@pytest.mark.parametrize("name", ["../evil", "/etc/evil", "a/../../evil", "evil\\..\\x"])
def test_path_traversal_member_names_are_refused(saved_members, tmp_path: Path,
                                                 name: str) -> None:
    path = write_zip(tmp_path / "evil.kstudio", {name: b"boo", **saved_members})
    with pytest.raises(ModelFileError, match="unsafe member name"):
        KAN.load(path)
    assert not (tmp_path.parent / "evil").exists()


def test_unexpected_or_missing_members_are_refused(saved_members, tmp_path: Path) -> None:
    extra = write_zip(tmp_path / "extra.kstudio", {**saved_members, "run_me.py": b"x"})
    with pytest.raises(ModelFileError, match="unexpected member"):
        KAN.load(extra)
    missing = {k: v for k, v in saved_members.items() if k != "arrays.npz"}
    with pytest.raises(ModelFileError, match="lacks arrays.npz"):
        KAN.load(write_zip(tmp_path / "missing.kstudio", missing))


def test_wrong_array_shape_is_refused(saved_members, tmp_path: Path) -> None:
    coef = arrays_of(saved_members)["network.layers.0.coef"]
    damaged = with_arrays(saved_members, **{"network.layers.0.coef": coef[:, :-1]})
    with pytest.raises(ModelFileError, match=r"layers\.0\.coef must be float"):
        KAN.load(write_zip(tmp_path / "shape.kstudio", damaged))


def test_nan_in_an_array_is_refused(saved_members, tmp_path: Path) -> None:
    coef = arrays_of(saved_members)["network.layers.1.coef"].copy()
    coef[0, 0, 0] = np.nan
    damaged = with_arrays(saved_members, **{"network.layers.1.coef": coef})
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        KAN.load(write_zip(tmp_path / "nan.kstudio", damaged))


def test_nan_in_the_reference_rows_is_refused(saved_members, tmp_path: Path) -> None:
    reference = arrays_of(saved_members)["reference_x"].copy()
    reference[0, 0] = np.nan
    damaged = with_arrays(saved_members, reference_x=reference)
    with pytest.raises(ModelFileError, match="reference_x"):
        KAN.load(write_zip(tmp_path / "nanref.kstudio", damaged))


def test_pickled_object_arrays_are_never_unpickled(saved_members, tmp_path: Path,
                                                   monkeypatch) -> None:
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("a model file must never be unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    payload = np.array([{"x": 1}, None], dtype=object)  # np.savez pickles this
    damaged = with_arrays(saved_members, **{"network.layers.0.bias": payload})
    with pytest.raises(ModelFileError, match="unsupported dtype object"):
        KAN.load(write_zip(tmp_path / "pickle.kstudio", damaged))


@pytest.mark.parametrize("shape", [(10**12,), (2**40, 2**40), (2**62, 4), (-1,)])
def test_a_huge_declared_array_fails_fast_without_allocating(saved_members, tmp_path: Path,
                                                              shape) -> None:
    inner = io.BytesIO()
    arrays = arrays_of(saved_members)
    with zipfile.ZipFile(inner, "w") as zf:
        for key, value in arrays.items():
            if key == "network.layers.0.coef":
                continue
            buf = io.BytesIO()
            np.save(buf, value)
            zf.writestr(f"{key}.npy", buf.getvalue())
        zf.writestr("network.layers.0.coef.npy", header_only_npy(shape))
    path = write_zip(tmp_path / "huge.kstudio", {**saved_members, "arrays.npz": inner.getvalue()})
    tracemalloc.start()
    try:
        start = time.perf_counter()
        with pytest.raises(ModelFileError, match="too large|cannot be read"):
            KAN.load(path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0 and peak < 20 * 2**20, (elapsed, peak)


def test_a_compression_bomb_is_refused_before_inflating(saved_members, tmp_path: Path) -> None:
    bomb = {**saved_members, "arrays.npz": bytes(40 * 2**20)}  # 40 MiB of zeros
    path = write_zip(tmp_path / "bomb.kstudio", bomb)
    assert path.stat().st_size < 2**20
    with pytest.raises(ModelFileError, match="zip bomb"):
        KAN.load(path)


def test_an_unknown_locked_function_is_refused_not_evaluated(saved_members,
                                                             tmp_path: Path) -> None:
    arrays = arrays_of(saved_members)
    mask = arrays["network.layers.0.symbolic_mask"].copy()
    mask[0, 0] = 1.0

    def lock(doc):
        doc["network"]["layers"][0]["locked"] = [[0, 0, "__import__('os').system('x')"]]

    damaged = with_json(with_arrays(saved_members, **{"network.layers.0.symbolic_mask": mask}),
                        "model.json", lock)
    with pytest.raises(ModelFileError, match="unknown function"):
        KAN.load(write_zip(tmp_path / "lock.kstudio", damaged))


def test_a_huge_declared_architecture_is_refused_before_building_it(
        saved_members, tmp_path: Path, monkeypatch) -> None:
    import kanstudio.core.state as state

    real = state.KANNetwork

    def guarded(width, *args, **kwargs):
        edges = sum(a * b for a, b in zip(width[:-1], width[1:], strict=False))
        if edges > 10**6:
            raise AssertionError(f"a network with {edges} edges was allocated from a file")
        return real(width, *args, **kwargs)

    monkeypatch.setattr(state, "KANNetwork", guarded)

    def huge(doc):
        net = doc["network"]
        net.update(width=[4096] * 64, k=10, n_features_in=4096, input_ids=list(range(4096)),
                   layers=[{"grid_size": 1, "locked": []}] * 63)

    path = write_zip(tmp_path / "huge.kstudio", with_json(saved_members, "model.json", huge))
    with pytest.raises(ModelFileError):
        KAN.load(path)


def test_auto_symbolic_relock_fits_the_locked_curve_not_the_old_spline():
    """Relocking an edge refits it to what it computes now (here a sine put there by hand),
    not to the spline it had before it was locked (a parabola)."""
    X = np.linspace(-1, 1, 400)[:, None]
    model = KAN(width=[1, 1], grid=5, seed=0).fit(X, X[:, 0] ** 2, steps=30)
    model.lock_edge(0, 0, 0, "sin", params=(3.0, 0.0, 1.0, 0.0))
    (result,) = model.auto_symbolic(r2_threshold=0.99, functions=["sin", "x^2"], relock=True)
    assert result.locked and result.name == "sin" and result.r2 > 0.999
