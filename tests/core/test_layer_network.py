"""KAN layers and networks: forward = sum of edges + bias, masks, locked (symbolic) edges
next to numeric ones, sampled curves for drawing, parameter counts, copies."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from kanstudio.core import KANLayer, KANNetwork

F64 = torch.float64


def make_layer(n_in: int = 3, n_out: int = 2, seed: int = 0, dtype=F64) -> KANLayer:
    """A layer whose edges are visibly different curves (not the near-zero initial splines)."""
    gen = torch.Generator().manual_seed(seed)
    layer = KANLayer(n_in, n_out, grid_size=5, k=3, generator=gen, dtype=dtype)
    with torch.no_grad():
        layer.coef.copy_(torch.randn(layer.coef.shape, generator=gen, dtype=dtype))
        layer.bias.copy_(torch.randn(n_out, generator=gen, dtype=dtype))
    return layer


def inputs(n: int, n_in: int, seed: int = 1, dtype=F64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, n_in, generator=gen, dtype=dtype) * 2.4 - 1.2  # also past the grid


def test_forward_is_the_sum_of_edge_activations_plus_bias() -> None:
    layer = make_layer()
    x = inputs(64, 3)
    phi = layer.edge_activations(x)
    assert phi.shape == (64, 3, 2)
    torch.testing.assert_close(layer(x), phi.sum(1) + layer.bias, rtol=0, atol=1e-12)


def test_edge_activation_is_silu_branch_plus_spline_branch() -> None:
    layer = make_layer()
    x = inputs(40, 3)
    spline = layer.spline_values(x)  # (batch, in, out)
    expected = (layer.scale_base * torch.nn.functional.silu(x)[:, :, None]
                + layer.scale_spline * spline)
    torch.testing.assert_close(layer.edge_activations(x), expected, rtol=0, atol=1e-12)


def test_masked_edge_contributes_nothing() -> None:
    layer = make_layer()
    x = inputs(50, 3)
    full = layer.edge_activations(x).detach()
    with torch.no_grad():
        layer.mask[1, 0] = 0.0
    phi = layer.edge_activations(x)
    assert bool((phi[:, 1, 0] == 0).all())
    torch.testing.assert_close(phi[:, 0, 0], full[:, 0, 0], rtol=0, atol=0)
    expected = full.sum(1) + layer.bias
    expected[:, 0] -= full[:, 1, 0]
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)
    with torch.no_grad():  # whatever the masked edge's own parameters, the output ignores them
        layer.coef[1, :, 0] = 1e6
        layer.scale_base[1, 0] = -1e6
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


def test_network_forward_activations_agree_with_forward() -> None:
    net = KANNetwork([3, 4, 2], seed=2, dtype=F64)
    x = inputs(30, 3)
    acts = net.forward_activations(x)
    assert [p.shape for p in acts.edges] == [(30, 3, 4), (30, 4, 2)]
    torch.testing.assert_close(acts.output, net(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(acts.inputs[1], net.layers[0](x), rtol=0, atol=1e-12)


def test_activations_on_a_subset_of_rows_come_from_the_same_pass() -> None:
    """The penalty's edges on some rows, the output on all, with a locked edge too: the
    values and gradients equal a separate pass over the subset."""
    net = KANNetwork([3, 4, 2], seed=2, dtype=F64)
    net.layers[0].lock_edge(1, 2, "sin", torch.sin, SIN_PARAMS)
    x = inputs(40, 3)
    rows = torch.tensor([5, 0, 33, 17, 17])
    acts = net.forward_activations(x, rows)
    ref = net.forward_activations(x[rows])
    torch.testing.assert_close(acts.output, net(x), rtol=0, atol=1e-12)
    for got, want in zip(acts.edges + acts.inputs, ref.edges + ref.inputs, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    params = list(net.parameters())
    grads = torch.autograd.grad(net.regularization(acts), params, allow_unused=True)
    ref_grads = torch.autograd.grad(net.regularization(ref), params, allow_unused=True)
    for p, g, r in zip(params, grads, ref_grads, strict=True):
        zero = torch.zeros_like(p)  # "no gradient" and a zero gradient are the same here
        torch.testing.assert_close(zero if g is None else g, zero if r is None else r,
                                   rtol=1e-9, atol=1e-12)


def test_edge_curves_shapes_dtype_and_pruned_edges() -> None:
    net = KANNetwork([3, 4, 2], seed=2, dtype=F64)
    with torch.no_grad():
        net.layers[0].mask[2, 1] = 0.0
        net.layers[1].mask[0, 0] = 0.0
    curves = net.edge_curves(n_points=17)
    assert [a.shape for a in curves.x] == [(3, 17), (4, 17)]
    assert [a.shape for a in curves.y] == [(3, 4, 17), (4, 2, 17)]
    assert all(a.dtype == np.float32 for a in curves.x + curves.y)
    assert curves.active[0].dtype == bool and not curves.active[0][2, 1]
    assert int(curves.active[0].sum()) == 11 and int(curves.active[1].sum()) == 7
    assert np.all(curves.y[0][2, 1] == 0.0) and np.all(curves.y[1][0, 0] == 0.0)
    assert np.abs(curves.y[0][0, 1]).max() > 0  # live edges are drawn
    assert curves.locked == [{}, {}]
    # The curves are the edge functions at the sample positions.
    layer0 = net.layers[0]
    xs = torch.as_tensor(curves.x[0].T, dtype=F64)  # (n_points, n_in)
    expected = layer0.edge_activations(xs).permute(1, 2, 0).detach().numpy()
    np.testing.assert_allclose(curves.y[0], expected, atol=1e-6)
    # The positions span each input node's recorded range.
    np.testing.assert_allclose(curves.x[0][:, [0, -1]], layer0.input_range.numpy(), atol=1e-7)


def test_n_parameters_counts_splines_weights_and_biases() -> None:
    net = KANNetwork([3, 4, 2], grid_size=5, k=3)
    per_edge = (5 + 3) + 2  # spline coefficients, w_b, w_s
    expected = (3 * 4 + 4 * 2) * per_edge + 4 + 2
    assert net.n_parameters() == expected
    assert KANNetwork([3, 4, 2], grid_size=10, k=3).n_parameters() == expected + 20 * 5


def test_deepcopy_is_identical_and_independent() -> None:
    net = KANNetwork([2, 3, 1], seed=5, dtype=F64)
    x = inputs(40, 2)
    before = net(x).detach().clone()
    twin = copy.deepcopy(net)
    assert torch.equal(twin(x), before)
    with torch.no_grad():
        twin.layers[0].coef.add_(0.5)
        twin.layers[1].knots.mul_(2.0)
        twin.layers[0].mask[0, 0] = 0.0
    assert not torch.allclose(twin(x), before)
    assert torch.equal(net(x), before)


def test_same_seed_same_network_different_seed_different() -> None:
    x = inputs(20, 2)
    a, b, c = (KANNetwork([2, 3, 1], seed=s) for s in (7, 7, 8))
    assert torch.equal(a(x.float()), b(x.float()))
    assert not torch.equal(a(x.float()), c(x.float()))


def test_layer_refuses_bad_sizes_and_edges() -> None:
    with pytest.raises(ValueError):
        KANLayer(0, 2)
    with pytest.raises(ValueError):
        KANLayer(2, 2, grid_size=0)
    with pytest.raises(ValueError, match="width"):
        KANNetwork([3])
    layer = make_layer()
    with pytest.raises(IndexError):
        layer.lock_edge(3, 0, "sin", torch.sin)
    with pytest.raises(IndexError):
        layer.unlock_edge(0, -1)


def test_float32_network_runs_and_backpropagates() -> None:
    net = KANNetwork([2, 3, 1], seed=0)
    assert net.dtype == torch.float32
    x = inputs(16, 2, dtype=torch.float32)
    out = net(x)
    assert out.dtype == torch.float32 and out.shape == (16, 1)
    out.sum().backward()
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all())
               for p in (net.layers[0].coef, net.layers[1].scale_base))


# ---------------------------------------------------------------------- locked edges
SIN_PARAMS = (1.3, 0.2, -0.7, 0.4)  # a, b, c, d


def sin_edge(x: torch.Tensor) -> torch.Tensor:
    a, b, c, d = SIN_PARAMS
    return c * torch.sin(a * x + b) + d


def test_locked_and_numeric_edges_coexist_in_forward() -> None:
    layer = make_layer()
    x = inputs(60, 3)
    numeric = layer.edge_activations(x).detach()
    layer.lock_edge(1, 0, "sin", torch.sin, SIN_PARAMS)
    assert layer.symbolic_names == {(1, 0): "sin"}
    expected = numeric.sum(1) + layer.bias
    expected[:, 0] += sin_edge(x[:, 1]) - numeric[:, 1, 0]
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)
    # The symbolic parameters are trainable: the output depends on them.
    out = layer(x)[:, 0].sum()
    (grad,) = torch.autograd.grad(out, layer.symbolic_params)
    assert float(grad[1, 0].abs().sum()) > 0 and float(grad[0, 0].abs().sum()) == 0


def test_locked_edge_activation_is_exactly_the_symbolic_function() -> None:
    layer = make_layer()
    x = inputs(60, 3)
    numeric = layer.edge_activations(x).detach()
    layer.lock_edge(1, 0, "sin", torch.sin, SIN_PARAMS)
    phi = layer.edge_activations(x)
    assert torch.equal(phi[:, 1, 0], sin_edge(x[:, 1]))
    torch.testing.assert_close(phi[:, 0, :], numeric[:, 0, :], rtol=0, atol=0)
    torch.testing.assert_close(layer(x), phi.sum(1) + layer.bias, rtol=0, atol=1e-12)


def test_edge_curves_draw_locked_edges() -> None:
    net = KANNetwork([2, 2, 1], seed=0, dtype=F64)
    net.layers[0].lock_edge(0, 1, "sin", torch.sin, SIN_PARAMS)
    curves = net.edge_curves(n_points=9)
    assert curves.locked[0] == {(0, 1): "sin"}
    xs = torch.as_tensor(curves.x[0][0], dtype=F64)
    np.testing.assert_allclose(curves.y[0][0, 1], sin_edge(xs).numpy(), atol=1e-6)


def test_unlock_restores_the_spline_curve() -> None:
    layer = make_layer()
    x = inputs(60, 3)
    numeric = layer.edge_activations(x).detach()
    before = layer(x).detach()
    layer.lock_edge(2, 1, "sin", torch.sin, SIN_PARAMS)
    assert not torch.allclose(layer(x), before)
    layer.unlock_edge(2, 1)
    assert layer.symbolic_names == {}
    assert torch.equal(layer(x), before)
    assert torch.equal(layer.edge_activations(x), numeric)


def test_a_masked_locked_edge_contributes_nothing() -> None:
    layer = make_layer()
    x = inputs(30, 3)
    with torch.no_grad():
        layer.mask[0, 1] = 0.0
    without = layer(x).detach()
    layer.lock_edge(0, 1, "sin", torch.sin, SIN_PARAMS)
    torch.testing.assert_close(layer(x), without, rtol=0, atol=1e-12)


def test_a_layer_keeps_the_features_of_its_training_and_test_inputs() -> None:
    # fit evaluates the test rows after every step: the training rows' basis must survive
    # that, and the test rows' too, and neither may outlive a change of its input or grid.
    layer = KANLayer(2, 3, grid_size=4)
    train, test = torch.rand(50, 2) * 2 - 1, torch.rand(20, 2) * 2 - 1
    def basis(x):
        return layer.basis(x, residual=True)

    first = basis(train)
    test_features = basis(test)
    assert basis(train) is first and basis(test) is test_features
    basis(torch.rand(10, 2))  # a third input pushes out the least recently used (train)
    assert basis(test) is test_features
    assert basis(train) is not first
    train.mul_(0.5)  # edited in place: the old features are stale
    again = basis(train)
    torch.testing.assert_close(again, basis(train.clone()))
    layer.update_grid(train)  # new knots: stale too
    assert basis(train) is not again
    assert copy.deepcopy(layer)._features == []


def test_the_forward_reuses_the_first_layers_features_on_both_paths(monkeypatch) -> None:
    import kanstudio.core.layer as layer_module
    from kanstudio.core import spline

    net = KANNetwork([2, 3, 1], grid_size=4, seed=0)
    x = torch.rand(40, 2) * 2 - 1
    calls = []
    real = spline.spline_basis_starts
    monkeypatch.setattr(layer_module, "spline_basis_starts",
                        lambda v, *a, **kw: calls.append(v) or real(v, *a, **kw))
    for path in ("fused", "torch"):
        if path == "torch":
            monkeypatch.setattr(spline, "fused_basis", lambda *args: None)
        calls.clear()
        net.layers[0]._features.clear()
        for _ in range(3):
            net(x).sum().backward()
        assert sum(v is x for v in calls) == 1, path  # the data's basis: once, then kept
