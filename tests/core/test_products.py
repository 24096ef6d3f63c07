"""Product (multiplication) nodes, KAN 2.0: the notation, values, gradients on both basis
paths, grids, scores, pruning that folds a factor into a constant, state and copies."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

import kanstudio.core.spline as spline_module
from kanstudio.core import (
    KANNetwork,
    StateError,
    network_from_state,
    network_to_state,
    prune,
    prune_edge,
    prune_node,
)
from kanstudio.core.width import format_width, parse_width, parse_width_text

F64 = torch.float64


def lively(width, mult_arity=2, seed: int = 0) -> KANNetwork:
    net = KANNetwork(width, seed=seed, dtype=F64, mult_arity=mult_arity)
    gen = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for layer in net.layers:
            layer.coef.copy_(torch.randn(layer.coef.shape, generator=gen, dtype=F64) * 0.5)
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen, dtype=F64) * 0.3)
    return net


def data(n: int, n_in: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, n_in, generator=gen, dtype=F64) * 1.8 - 0.9


# ---------------------------------------------------------------------- notation
def test_the_notation_gives_nodes_columns_and_arities() -> None:
    arch = parse_width([3, [2, 1], 1])
    assert arch.nodes == [3, 3, 1] and arch.columns == [3, 4, 1]
    assert arch.notation() == [3, [2, 1], 1]
    mixed = parse_width([2, [0, 2], 1], mult_arity=[3, 2])
    assert mixed.arities == ((), (3, 2), ()) and mixed.columns == [2, 5, 1]
    assert parse_width([2, [1, 1], 1], [[2], []]).arities == ((), (2,), ())


@pytest.mark.parametrize("text", ["2,0+1,1", "2,[0,1],1", "[2,[0,1],1]", " 2 , 0+1 , 1 "])
def test_text_forms_of_the_width(text: str) -> None:
    assert parse_width_text(text) == [2, [0, 1], 1]
    assert format_width([2, [0, 1], 1]) == "2,0+1,1"


@pytest.mark.parametrize("width, arity, message", [
    ([[1, 1], 1], 2, "input nodes"),
    ([2, [0, 0], 1], 2, "no nodes"),
    ([2, [1, 1], 1], 1, "mult_arity"),
    ([2, [1, 2], 1], [2], "2 product nodes"),
    ([2, [1, 2, 3], 1], 2, "sums, products"),
])
def test_bad_architectures_are_refused(width, arity, message) -> None:
    with pytest.raises(ValueError, match=message):
        KANNetwork(width, mult_arity=arity)


@pytest.mark.parametrize("text", ["", "2,x,1", "2,[0,1,1", "2,1+", "2;3"])
def test_bad_width_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="width"):
        parse_width_text(text)


# ---------------------------------------------------------------------- values
def test_a_product_node_multiplies_its_consecutive_sub_node_columns() -> None:
    net = lively([2, [1, 2], 1], mult_arity=[2, 3])
    x = data(40, 2)
    layer = net.layers[0]
    assert layer.n_out == 1 + 2 + 3 and layer.n_nodes == 3
    sub = layer.edge_activations(x).sum(1) + layer.bias  # (batch, 6 columns)
    expected = torch.stack([sub[:, 0], sub[:, 1] * sub[:, 2],
                            sub[:, 3] * sub[:, 4] * sub[:, 5]], dim=1)
    assert torch.allclose(layer(x), expected, atol=1e-12)
    acts = net.forward_activations(x)
    assert torch.allclose(acts.output, net(x), atol=1e-12)
    sampled = net.forward_activations(x, torch.arange(0, 40, 3))
    assert torch.allclose(sampled.output, net(x), atol=1e-12)
    assert torch.allclose(sampled.edges[0], acts.edges[0][::3], atol=1e-12)


@pytest.mark.parametrize("path", ["fused", "torch"])
def test_gradients_pass_gradcheck_on_both_basis_paths(path: str, monkeypatch) -> None:
    if path == "torch":
        monkeypatch.setattr(spline_module, "fused_basis", lambda *a: None)
    net = lively([2, [1, 1], [1, 1]], mult_arity=[[2], [3]], seed=3)
    x = data(12, 2, seed=4).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: net(v), (x,))
    names = ("layers.0.coef", "layers.0.bias", "layers.1.scale_base")
    params = tuple(dict(net.named_parameters())[n].detach().clone().requires_grad_()
                   for n in names)

    def through_parameters(*values):
        return torch.func.functional_call(net, dict(zip(names, values, strict=True)),
                                          (x.detach(),))

    assert torch.autograd.gradcheck(through_parameters, params)


def test_the_penalty_covers_every_factor_edge_and_trains() -> None:
    net = lively([2, [0, 1], 1])
    x = data(64, 2)
    acts = net.forward_activations(x)
    assert acts.edges[0].shape == (64, 2, 2)  # two factor columns
    reg = net.regularization(acts)
    reg.backward()
    assert torch.isfinite(reg) and net.layers[0].coef.grad.abs().sum() > 0


def test_grid_update_and_refine_keep_the_function() -> None:
    net = KANNetwork([2, [1, 1], 1], dtype=F64, seed=2)  # smooth: silu-led initial curves
    with torch.no_grad():
        net.layers[0].bias.copy_(torch.tensor([0.3, 0.8, -0.5], dtype=F64))
    x = data(300, 2)
    before = net(x).detach()
    scale = before.abs().max()
    net.update_grid(x)
    assert (net(x) - before).abs().max() < 1e-2 * scale
    net.refine(10, x)
    assert net.layers[0].grid_size == 10
    assert (net(x) - before).abs().max() < 1e-2 * scale


# ---------------------------------------------------------------------- scores, pruning
def test_scores_split_a_product_nodes_score_over_its_factors() -> None:
    net = lively([2, [1, 1], 1])
    edge, node = net.scores(data(200, 2))
    assert edge[0].shape == (2, 3) and [len(n) for n in node] == [2, 2, 1]
    for level in node:
        assert level.sum() == pytest.approx(1.0)
    # each factor column of the product node holds half of the product node's score
    assert edge[0][:, 1].sum() == pytest.approx(node[1][1] / 2)
    assert edge[0][:, 2].sum() == pytest.approx(node[1][1] / 2)


def test_pruning_a_factor_edge_leaves_the_other_factor_times_its_mean() -> None:
    net = lively([2, [0, 1], 1])
    x = data(400, 2)
    layer = net.layers[0]
    # make factor column 1 fed by input 1 only, so cutting (1, 1) empties that factor
    with torch.no_grad():
        layer.mask[0, 1] = 0.0
    phi = layer.edge_activations(x)
    mean_cut = phi[:, 1, 1].mean()
    other = phi[:, :, 0].sum(1) + layer.bias[0]
    expected_product = other * (mean_cut + layer.bias[1])
    small = prune_edge(net, 0, 1, 1, x)
    assert small.width_notation == [2, [0, 1], 1]
    got = small.layers[0](x)[:, 0]
    assert torch.allclose(got, expected_product, atol=1e-12)
    assert got.abs().mean() > 1e-3  # never a silent zero


def test_pruning_a_product_node_folds_its_mean_and_keeps_the_other_nodes() -> None:
    net = lively([2, [1, 2], 1], mult_arity=[2, 3])
    x = data(300, 2)
    small = prune_node(net, 1, 1, x)  # the arity-2 product node
    assert small.width_notation == [2, [1, 1], 1] and small.mult_arity[1] == [3]
    assert small.layers[0].n_out == 1 + 3
    acts = net.forward_activations(x)
    dropped_mean = acts.edges[1][:, 1, 0].mean()
    rest = acts.edges[1][:, 0, 0] + acts.edges[1][:, 2, 0] + net.layers[1].bias[0]
    assert torch.allclose(small(x)[:, 0], rest + dropped_mean, atol=1e-10)
    # the kept arity-3 node multiplies the same three factor columns as before
    assert torch.allclose(small.layers[0](x)[:, 1], net.layers[0](x)[:, 2], atol=1e-12)


def test_auto_prune_keeps_the_product_that_explains_the_data() -> None:
    """y = a * b on a [3, [2, 1], 1] net whose product node is set to a * b exactly and
    whose other parts are nearly silent: pruning leaves [2, [0, 1], 1] on inputs a, b."""
    net = KANNetwork([3, [2, 1], 1], dtype=F64, seed=0)
    with torch.no_grad():
        for layer in net.layers:
            layer.coef.zero_()
            layer.scale_base.fill_(1e-4)
        first = net.layers[0]
        first.scale_base[0, 2] = 1.0  # factor 1 = silu(a)
        first.scale_base[1, 3] = 1.0  # factor 2 = silu(b)
        net.layers[1].scale_base[2, 0] = 1.0
    x = data(500, 3)
    small = prune(net, x)
    assert small.width_notation == [2, [0, 1], 1]
    assert small.input_ids == [0, 1]
    assert torch.allclose(small(x[:, :2]), net(x), atol=5e-3)


# ---------------------------------------------------------------------- state and copies
def test_state_round_trip_deepcopy_lock_and_device_move() -> None:
    net = lively([2, [1, 2], 1], mult_arity=[2, 3])
    net.layers[0].lock_edge(0, 4, "sin", torch.sin, (1.2, 0.1, 0.7, 0.0))
    x = data(50, 2)
    desc, arrays = network_to_state(net)
    desc = json.loads(json.dumps(desc))
    assert desc["width"] == [2, [1, 2], 1] and desc["mult_arity"] == [[], [2, 3], []]
    back = network_from_state(desc, arrays, {"sin": torch.sin}.__getitem__)
    assert torch.equal(back(x), net(x))
    assert back.layers[0].symbolic_names == {(0, 4): "sin"}
    twin = copy.deepcopy(net)
    assert torch.equal(twin(x), net(x)) and twin.mult_arity == net.mult_arity
    single = copy.deepcopy(net).to(torch.float32)
    assert torch.allclose(single(x.float()).double(), net(x), atol=1e-4)
    curves = net.edge_curves(16)
    assert curves.y[0].shape == (2, 6, 16) and curves.locked[0] == {(0, 4): "sin"}
    if torch.cuda.is_available():
        gpu = copy.deepcopy(net).to("cuda")
        assert torch.allclose(gpu(x.cuda()).cpu(), net(x), atol=1e-10)


def test_a_version_1_state_still_loads() -> None:
    net = lively([2, 3, 1])
    desc, arrays = network_to_state(net)
    old = {key: value for key, value in desc.items() if key != "mult_arity"}
    old["state_version"] = 1
    back = network_from_state(old, arrays)
    x = data(20, 2)
    assert torch.equal(back(x), net(x)) and back.width_notation == [2, 3, 1]
    old["width"] = [2, [3, 0], 1]
    with pytest.raises(StateError, match="width"):
        network_from_state(old, arrays)


def test_a_state_with_wrong_factor_columns_is_refused() -> None:
    desc, arrays = network_to_state(lively([2, [1, 1], 1]))
    desc["mult_arity"] = [[], [3], []]  # claims 4 columns; the arrays have 3
    with pytest.raises(StateError, match="layers.0"):
        network_from_state(desc, arrays)
    assert np.array(arrays["layers.0.coef"]).shape[2] == 3


def test_the_data_start_makes_all_but_the_last_factor_an_input_and_the_exit_straight() -> None:
    """start_products: [3, [1, 1], 1] with arity 3 starts as a * b * (1 + small) on data
    beyond the initial knot range, and the edge out of the product is locked to x."""
    net = KANNetwork([3, [1, 1], 1], seed=0, dtype=F64, mult_arity=3)
    x = torch.rand(200, 3, generator=torch.Generator().manual_seed(1), dtype=F64) * 6 - 3
    net.start_products(x)
    layer = net.layers[0]
    phi = layer.edge_activations(x)  # (batch, 3 inputs, 1 sum + 3 factor columns)
    assert torch.allclose(phi[:, 0, 1], x[:, 0], atol=1e-12)  # factor 1 edge: a itself
    assert torch.allclose(phi[:, 1, 2], x[:, 1], atol=1e-12)  # factor 2 edge: b itself
    assert layer.bias[1:].tolist() == [0.0, 0.0, 1.0]  # the last factor starts at 1
    others = phi[:, :, 1:].abs().amax(0)
    others[0, 0] = others[1, 1] = 0
    assert others.max() < 0.5 < phi[:, :, 0].abs().amax()  # 10x smaller than a sum's edges
    assert net.layers[1].symbolic_names == {(1, 0): "x"}  # the product's exit; not the sum's
    out = net(x)[:, 0] - net.layers[1].edge_activations(net.layer_inputs(x)[1])[:, 0, 0]
    assert torch.allclose(out - net.layers[1].bias[0], layer(x)[:, 1], atol=1e-12)
