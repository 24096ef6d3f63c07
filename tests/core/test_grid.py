"""Grids: re-placing knots from the data and extending the grid keep every edge's curve."""

from __future__ import annotations

import pytest
import torch

from kanstudio.core import KANLayer, KANNetwork
from kanstudio.core.spline import fit_coefficients

F64 = torch.float64


def relative_change(new: torch.Tensor, old: torch.Tensor) -> float:
    """Largest difference, relative to the largest value of ``old``."""
    return float((new.detach() - old.detach()).abs().max() / old.detach().abs().max())


def smooth_layer() -> KANLayer:
    """A 2->3 layer whose splines are smooth, visibly different curves on [-1, 1]."""
    layer = KANLayer(2, 3, grid_size=5, k=3, dtype=F64,
                     generator=torch.Generator().manual_seed(0))
    x = torch.linspace(-1.0, 1.0, 300, dtype=F64)
    shapes = [torch.sin(2 * x), x ** 2, torch.exp(x) / 3]
    targets = torch.stack(
        [torch.stack([f * (1 + 0.5 * i) for f in shapes], -1) for i in range(2)], 0
    )  # (n_in, n, n_out)
    basis = layer.basis(x[:, None].expand(-1, 2).contiguous())  # (n, n_in, nb)
    with torch.no_grad():
        layer.coef.copy_(fit_coefficients(basis.transpose(0, 1), targets))
    return layer


def skewed_inputs(n: int = 2000) -> torch.Tensor:
    """Inputs crowded near 0, so quantile knots differ clearly from the uniform ones."""
    gen = torch.Generator().manual_seed(1)
    return (torch.randn(n, 2, generator=gen, dtype=F64) * 0.4).clamp(-1.0, 1.0)


def test_update_grid_moves_the_knots_but_keeps_every_curve() -> None:
    layer = smooth_layer()
    x = skewed_inputs()
    before = layer.edge_activations(x).detach()
    old_knots = layer.knots.clone()
    coef_param = layer.coef
    layer.update_grid(x)
    assert float((layer.knots - old_knots).abs().max()) > 0.1
    inner = layer.knots[:, 3:-3]
    assert torch.allclose(inner[:, 0], x.min(0).values) and bool((inner.diff(dim=1) > 0).all())
    after = layer.edge_activations(x)
    relative = relative_change(after, before)
    assert relative < 1e-2, relative
    assert layer.coef is coef_param  # optimisers holding the parameter still see it
    torch.testing.assert_close(layer.input_range, torch.stack(
        [x.min(0).values, x.max(0).values], 1))


def test_update_grid_of_a_network_keeps_its_output() -> None:
    net = KANNetwork([2, 3, 1], seed=0, dtype=F64)
    net.layers[0] = smooth_layer()
    x = skewed_inputs()
    before = net(x).detach()
    net.update_grid(x)
    change = relative_change(net(x), before)
    assert change < 1e-2, change


def test_update_grid_survives_constant_and_discrete_inputs() -> None:
    layer = smooth_layer()
    x = torch.stack([torch.full((100,), 0.25, dtype=F64),
                     torch.tensor([-0.5, 0.5], dtype=F64).repeat(50)], 1)
    before = layer.edge_activations(x).detach()
    layer.update_grid(x)
    assert bool(torch.isfinite(layer.knots).all() & torch.isfinite(layer.coef).all())
    assert bool((layer.knots.diff(dim=1) > 0).all())
    # Crowded knots cannot hold the whole old curve exactly; at the data it stays close.
    relative = relative_change(layer.edge_activations(x), before)
    assert relative < 1e-2, relative


@pytest.mark.parametrize("new_grid", [10, 20])
def test_refine_keeps_the_curves_on_a_finer_grid(new_grid: int) -> None:
    net = KANNetwork([2, 3, 1], seed=0, dtype=F64)
    net.layers[0] = smooth_layer()
    x = skewed_inputs()
    net.update_grid(x)  # as training leaves it: knots placed on the data each layer sees
    before = [phi.detach() for phi in net.forward_activations(x).edges]
    net.refine(new_grid, x)
    assert net.grid_size == new_grid
    assert [tuple(layer.coef.shape) for layer in net.layers] == [
        (2, new_grid + 3, 3), (3, new_grid + 3, 1)]
    after = net.forward_activations(x).edges
    for old, new in zip(before, after, strict=True):
        relative = relative_change(new, old)
        assert relative < 1e-4, relative  # measured ~1.6e-6


def test_refine_without_data_uses_the_current_grid_range() -> None:
    layer = smooth_layer()
    x = torch.linspace(-1.0, 0.999, 201, dtype=F64)[:, None].expand(-1, 2).contiguous()
    before = layer.edge_activations(x).detach()
    layer.refine(12)
    assert layer.grid_size == 12 and layer.knots.shape == (2, 12 + 7)
    change = float((layer.edge_activations(x).detach() - before).abs().max())
    assert change < 1e-3, change


def test_refine_refuses_a_bad_grid() -> None:
    with pytest.raises(ValueError, match="grid"):
        KANNetwork([2, 1]).refine(0)
