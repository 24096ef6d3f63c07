"""Pruning: dead inputs and edges go, what they carried moves into biases, the result is a
smaller network (not a masked one), invalid addresses are refused, originals stay intact."""

from __future__ import annotations

import copy

import pytest
import torch

from kanstudio.core import KANNetwork, prune, prune_edge, prune_node, subnetwork

F64 = torch.float64


def lively_network(width: list[int], seed: int = 0) -> KANNetwork:
    """A float64 network whose splines are O(1) curves rather than near-zero noise."""
    net = KANNetwork(width, seed=seed, dtype=F64)
    gen = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for layer in net.layers:
            layer.coef.copy_(torch.randn(layer.coef.shape, generator=gen, dtype=F64) * 0.5)
    return net


def data(n: int, n_in: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, n_in, generator=gen, dtype=F64) * 1.8 - 0.9


def snapshot(net: KANNetwork) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def assert_unchanged(net: KANNetwork, before: dict[str, torch.Tensor], width: list[int]) -> None:
    assert net.width == width
    after = net.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_prune_removes_a_dead_input_and_keeps_the_function() -> None:
    net = lively_network([3, 3, 1])
    with torch.no_grad():  # input 2 feeds nothing: its edges are the zero function
        net.layers[0].coef[2] = 0.0
        net.layers[0].scale_base[2] = 0.0
    x = data(400, 3)
    before = snapshot(net)
    small = prune(net, x)
    assert small.width[0] == 2 and small.input_ids == [0, 1] and small.n_features_in == 3
    assert_unchanged(net, before, [3, 3, 1])
    torch.testing.assert_close(small(small.select_inputs(x)), net(x), rtol=0, atol=1e-12)


def test_prune_folds_a_constant_edge_into_the_bias() -> None:
    net = lively_network([2, 2, 1])
    layer = net.layers[0]
    with torch.no_grad():  # edge (0, 0, 1) is the constant 0.7 on the whole grid [-1, 1)
        layer.coef[0, :, 1] = 0.7
        layer.scale_base[0, 1] = 0.0
        layer.scale_spline[0, 1] = 1.0
    x = data(300, 2)
    small = prune(net, x)
    assert small.width == [2, 2, 1]
    assert small.layers[0].mask.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    assert bool((small.layers[1].mask == 1).all())
    torch.testing.assert_close(small.layers[0].bias[1], net.layers[0].bias[1] + 0.7)
    torch.testing.assert_close(small(x), net(x), rtol=0, atol=1e-12)


def test_prune_edge_masks_one_edge_and_moves_its_mean_into_the_bias() -> None:
    net = lively_network([2, 3, 1])
    x = data(200, 2)
    phi = net.forward_activations(x).edges[1][:, 2, 0].detach()
    before = snapshot(net)
    cut = prune_edge(net, 1, 2, 0, x)
    assert_unchanged(net, before, [2, 3, 1])
    assert cut.layers[1].mask[2, 0] == 0 and int(cut.layers[1].mask.sum()) == 2
    expected = net(x)[:, 0] - phi + phi.mean()
    torch.testing.assert_close(cut(x)[:, 0], expected, rtol=0, atol=1e-12)
    without_data = prune_edge(net, 1, 2, 0)  # no reference data: nothing is folded
    torch.testing.assert_close(without_data(x)[:, 0], net(x)[:, 0] - phi, rtol=0, atol=1e-12)


def test_prune_node_builds_a_smaller_network() -> None:
    net = lively_network([2, 4, 1])
    x = data(200, 2)
    phi = net.forward_activations(x).edges[1][:, 1, 0].detach()  # hidden node 1 -> output
    before = snapshot(net)
    small = prune_node(net, 1, 1, x)
    assert_unchanged(net, before, [2, 4, 1])
    assert small.width == [2, 3, 1]
    assert small.layers[0].coef.shape == (2, 8, 3) and small.layers[1].coef.shape == (3, 8, 1)
    expected = net(x)[:, 0] - phi + phi.mean()
    torch.testing.assert_close(small(x)[:, 0], expected, rtol=0, atol=1e-12)
    assert small.n_parameters() < net.n_parameters()


def test_prune_node_on_an_input_keeps_the_callers_columns() -> None:
    net = lively_network([3, 2, 1])
    x = data(100, 3)
    small = prune_node(net, 0, 1, x)
    assert small.width == [2, 2, 1] and small.input_ids == [0, 2]
    assert small.n_features_in == 3
    assert torch.equal(small.select_inputs(x), x[:, [0, 2]])
    with pytest.raises(ValueError, match="3 input columns"):
        small.select_inputs(x[:, :2])
    twice = prune_node(small, 0, 0, small.select_inputs(x))  # ids stay the caller's columns
    assert twice.input_ids == [2]


def test_locked_edges_survive_node_pruning_at_their_new_address() -> None:
    net = lively_network([2, 3, 1])
    net.layers[1].lock_edge(2, 0, "sin", torch.sin, (1.0, 0.1, 0.5, 0.0))
    small = prune_node(net, 1, 0)
    assert small.layers[1].symbolic_names == {(1, 0): "sin"}
    assert small.layers[1].symbolic_mask[1, 0] == 1
    x = data(50, 2)
    hidden = small.layers[0](x)
    expected_edge = 0.5 * torch.sin(hidden[:, 1] + 0.1)
    other = small.layers[1].scale_base[0, 0] * torch.nn.functional.silu(hidden[:, 0]) + (
        small.layers[1].scale_spline[0, 0] * small.layers[1].spline_values(hidden)[:, 0, 0])
    torch.testing.assert_close(small(x)[:, 0], other + expected_edge + small.layers[1].bias[0],
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("level", "node", "error"),
    [(2, 0, IndexError), (-1, 0, IndexError), (1, 3, IndexError), (0, -1, IndexError),
     (0, 2, IndexError)],
)
def test_prune_node_refuses_invalid_nodes(level: int, node: int, error: type) -> None:
    net = lively_network([2, 3, 1])
    with pytest.raises(error):
        prune_node(net, level, node)


def test_prune_node_refuses_to_remove_the_last_node_of_a_level() -> None:
    net = lively_network([2, 1, 1])
    with pytest.raises(ValueError, match="last one"):
        prune_node(net, 1, 0)


@pytest.mark.parametrize(("layer", "i", "j"), [(0, 2, 0), (0, 0, 3), (1, 0, 1), (2, 0, 0)])
def test_prune_edge_refuses_invalid_edges(layer: int, i: int, j: int) -> None:
    net = lively_network([2, 3, 1])
    with pytest.raises(IndexError):
        prune_edge(net, layer, i, j)


def test_prune_edge_refuses_a_negative_layer() -> None:
    net = lively_network([2, 3, 1])
    with pytest.raises(IndexError):
        prune_edge(net, -1, 0, 0)


def test_subnetwork_refuses_dropping_outputs_or_emptying_a_level() -> None:
    net = lively_network([2, 3, 2])
    with pytest.raises(ValueError, match="output"):
        subnetwork(net, [[0, 1], [0, 1, 2], [0]])
    with pytest.raises(ValueError, match="at least one"):
        subnetwork(net, [[0, 1], [], [0, 1]])


def test_prune_keeps_everything_that_matters() -> None:
    net = lively_network([2, 3, 1])
    x = data(300, 2)
    same = prune(net, x, node_threshold=0.0, edge_threshold=0.0)
    assert same.width == [2, 3, 1]
    torch.testing.assert_close(same(x), net(x), rtol=0, atol=1e-12)
    assert copy.deepcopy(same).n_parameters() == net.n_parameters()
