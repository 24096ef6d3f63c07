"""A network as plain data and back: exact round trips (masks, pruned inputs, locked edges)
and clear refusals of damaged or hostile descriptions."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from kanstudio.core import (
    KANNetwork,
    StateError,
    network_from_state,
    network_to_state,
    prune_node,
)

F64 = torch.float64
FUNCTIONS = {"sin": torch.sin, "exp": torch.exp}


def resolve(name: str):
    return FUNCTIONS[name]  # KeyError for unknown names, like the library's look-up


def interesting_network(dtype=F64) -> KANNetwork:
    """Trained-looking values, a masked edge, a pruned input, a re-placed grid, locked edges."""
    net = KANNetwork([3, 4, 2], grid_size=6, seed=3, dtype=dtype)
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(200, 3, generator=gen, dtype=dtype) * 2 - 1
    with torch.no_grad():
        for layer in net.layers:
            layer.coef.copy_(torch.randn(layer.coef.shape, generator=gen, dtype=dtype))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen, dtype=dtype))
    net.update_grid(x)
    net.record_ranges(x)
    net = prune_node(net, 0, 1, x)  # input_ids [0, 2] of 3 columns
    with torch.no_grad():
        net.layers[0].mask[1, 3] = 0.0
    net.layers[0].lock_edge(0, 2, "sin", torch.sin, (1.5, -0.3, 0.8, 0.1))
    net.layers[1].lock_edge(3, 1, "exp", torch.exp, (0.5, 0.0, -0.2, 0.3))
    return net


def inputs(n: int = 64, dtype=F64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(9)
    return torch.rand(n, 2, generator=gen, dtype=dtype) * 2.2 - 1.1


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_round_trip_is_exact(dtype) -> None:
    net = interesting_network(dtype)
    desc, arrays = network_to_state(net)
    desc = json.loads(json.dumps(desc))  # what a file stores: plain JSON
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    back = network_from_state(desc, arrays, resolve)
    x = inputs(dtype=dtype)
    assert torch.equal(back(x), net(x))
    assert back.width == net.width and back.input_ids == [0, 2] and back.n_features_in == 3
    assert back.dtype == dtype
    for old, new in zip(net.layers, back.layers, strict=True):
        assert new.grid_size == old.grid_size
        assert new.symbolic_names == old.symbolic_names
        for name in ("knots", "coef", "mask", "symbolic_mask", "symbolic_params",
                     "input_range", "bias", "scale_base", "scale_spline"):
            assert torch.equal(getattr(new, name), getattr(old, name)), name


def test_restored_network_trains() -> None:
    net = interesting_network()
    back = network_from_state(*network_to_state(net), resolve)
    params = [p for p in back.parameters() if p.requires_grad]
    assert len(params) == len([p for p in net.parameters() if p.requires_grad])
    back(inputs()).pow(2).sum().backward()
    assert back.layers[0].coef.grad is not None
    assert float(back.layers[1].symbolic_params.grad[3, 1].abs().sum()) > 0


def test_training_a_restored_network_leaves_the_state_untouched() -> None:
    net = interesting_network()
    desc, arrays = network_to_state(net)
    first = network_from_state(desc, arrays, resolve)
    with torch.no_grad():  # what an optimiser step does: update parameters in place
        for p in first.parameters():
            p.add_(1.0)
    second = network_from_state(desc, arrays, resolve)
    x = inputs()
    assert torch.equal(second(x), net(x))


def test_locked_edges_need_a_function_library() -> None:
    desc, arrays = network_to_state(interesting_network())
    with pytest.raises(StateError, match="library"):
        network_from_state(desc, arrays)
    with pytest.raises(StateError, match="'exp'"):
        network_from_state(desc, arrays, lambda name: {"sin": torch.sin}[name])


def test_the_description_is_json_and_arrays_are_named_per_layer() -> None:
    desc, arrays = network_to_state(interesting_network())
    assert desc["state_version"] == 2 and desc["width"] == [2, 4, 2]
    assert desc["mult_arity"] == [[], [], []]
    assert desc["layers"][0]["locked"] == [[0, 2, "sin"]]
    assert "layers.1.coef" in arrays and arrays["layers.0.coef"].shape == (2, 9, 4)
    json.dumps(desc, allow_nan=False)


# ---------------------------------------------------------------------- refusals
def damaged(edit) -> tuple[dict, dict]:
    desc, arrays = network_to_state(interesting_network())
    desc = copy.deepcopy(desc)
    arrays = {k: v.copy() for k, v in arrays.items()}
    edit(desc, arrays)
    return desc, arrays


def _set(key, value):
    def edit(desc, arrays):
        desc[key] = value
    return edit


def _array(key, value):
    def edit(desc, arrays):
        arrays[key] = value(arrays[key])
    return edit


def _nan_at(a: np.ndarray) -> np.ndarray:
    a.flat[3] = np.nan
    return a


def _inf_at(a: np.ndarray) -> np.ndarray:
    a.flat[0] = np.inf
    return a


def _drop(key):
    def edit(desc, arrays):
        del arrays[key]
    return edit


def _layer(key, value):
    def edit(desc, arrays):
        desc["layers"][0][key] = value
    return edit


def _swap_knots(desc, arrays):
    knots = arrays["layers.0.knots"]
    knots[0, [2, 5]] = knots[0, [5, 2]]


def _unmask_lock(desc, arrays):
    arrays["layers.1.symbolic_mask"][3, 1] = 0.0


CASES = {
    "wrong version": (_set("state_version", 99), "version"),
    "product in the input level": (_set("width", [[1, 1], 4, 2]), "input nodes"),
    "pair not two counts": (_set("width", [2, [4, 0, 1], 2]), "width entry"),
    "arity per level missing": (lambda d, a: d.pop("mult_arity"), "mult_arity"),
    "arity one": (_set("mult_arity", [[], [1], []]), "mult_arity"),
    "no version": (lambda d, a: d.pop("state_version"), "version"),
    "width not a list": (_set("width", "2,4,2"), "width"),
    "bool in width": (_set("width", [2, True, 2]), "width"),
    "one level": (_set("width", [2]), "width"),
    "negative k": (_set("k", -1), "k"),
    "float k": (_set("k", 3.0), "k"),
    "unknown dtype": (_set("dtype", "float16"), "dtype"),
    "duplicate input ids": (_set("input_ids", [0, 0]), "input_ids"),
    "input id beyond columns": (_set("input_ids", [0, 3]), "input id"),
    "missing layer": (lambda d, a: d["layers"].pop(), "layers"),
    "layer not an object": (lambda d, a: d["layers"].__setitem__(0, [1]), "layer 0"),
    "huge grid": (_layer("grid_size", 10**6), "grid_size"),
    "wrong shape": (_array("layers.0.coef", lambda a: a[:, :-1]), "layers.0.coef"),
    "transposed": (_array("layers.1.scale_base", lambda a: a.T.copy()), "scale_base"),
    "NaN": (_array("layers.0.coef", _nan_at), "NaN"),
    "infinity": (_array("layers.1.bias", _inf_at), "NaN or infinite"),
    "integer dtype": (_array("layers.0.mask", lambda a: a.astype(np.int64)), "float"),
    "object dtype": (_array("layers.0.bias", lambda a: a.astype(object)), "float"),
    "missing array": (_drop("layers.1.knots"), "missing"),
    "decreasing knots": (_swap_knots, "non-decreasing"),
    "lock out of range": (_layer("locked", [[5, 0, "sin"]]), "locked edge i"),
    "lock not a triple": (_layer("locked", [[0, 2]]), "locked edge"),
    "lock without mask": (_unmask_lock, "symbolic mask"),
    # found by the 10,000-example window fuzz run: an edge's mask at 2.8e153 overflowed
    # the network's scores to NaN
    "mask neither 0 nor 1": (_array("layers.0.mask", lambda a: a * 2.84775883e153),
                             r"layers.0.mask must hold only 0 and 1, not 2.848e\+153"),
    "symbolic mask of a half": (_array("layers.1.symbolic_mask", lambda a: a + 0.5),
                                "symbolic_mask must hold only 0 and 1, not 0.5"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_states_are_refused_with_a_named_reason(case: str) -> None:
    edit, message = CASES[case]
    desc, arrays = damaged(edit)
    with pytest.raises(StateError, match=message):
        network_from_state(desc, arrays, resolve)


def test_a_description_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(StateError, match="object"):
        network_from_state([1, 2], {}, resolve)  # type: ignore[arg-type]
