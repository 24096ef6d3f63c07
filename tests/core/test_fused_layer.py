"""On the CPU a layer without locked edges runs as one fused function
(:mod:`kanstudio.core.fused_layer`) whose backward never builds the basis gradient. Its
output, edge magnitudes and gradients (parameters and input) match the separate basis and
product functions that run on GPUs and without numba."""

from __future__ import annotations

import pytest
import torch

from kanstudio.core import KANLayer, KANNetwork, spline
from kanstudio.core import fused_magnitudes as fm
from kanstudio.core import layer as layer_module
from kanstudio.core.fused_cpu import fused_available
from kanstudio.core.fused_layer import fused_layer

pytest.importorskip("numba")
if not fused_available():
    pytest.skip("the fused kernels are off here (KANSTUDIO_FUSED=0)", allow_module_level=True)


def _separate(monkeypatch) -> None:
    """The path without the fused layer (nor any fused kernel)."""
    monkeypatch.setattr(spline, "fused_basis", lambda *args: None)
    monkeypatch.setattr(fm, "magnitudes_available", lambda *args: False)


def _layer(k: int, dtype: torch.dtype, mult_arity=()) -> KANLayer:
    gen = torch.Generator().manual_seed(5)
    layer = KANLayer(3, 4, grid_size=5, k=k, dtype=dtype, generator=gen,
                     mult_arity=mult_arity)
    with torch.no_grad():
        layer.coef.copy_(torch.randn(layer.coef.shape, generator=gen, dtype=dtype))
        layer.mask[1, 2] = 0.0  # a pruned edge
    return layer


def _inputs(dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator().manual_seed(9)
    x = torch.rand(80, 3, generator=gen, dtype=dtype) * 2.6 - 1.3  # some off the grid
    x[3, 1] = 0.2  # on a knot of the uniform grid
    return x


def _run(layer: KANLayer, x: torch.Tensor, rows, with_mags: bool, x_grad: bool):
    x = x.clone().requires_grad_(x_grad)
    weight = torch.linspace(-1.0, 2.0, layer.n_nodes, dtype=x.dtype)
    if with_mags:
        out, mags = layer.forward_with_magnitudes(x, rows)
        loss = (out * weight).sum() + (mags * torch.arange(mags.numel(), dtype=x.dtype)
                                       .view_as(mags)).sum()
    else:
        out, mags = layer(x), None
        loss = (out * weight).sum()
    params = [layer.coef, layer.scale_base, layer.scale_spline, layer.bias]
    grads = torch.autograd.grad(loss, params + ([x] if x_grad else []))
    return out.detach(), None if mags is None else mags.detach(), grads


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("k", [3, 2])
@pytest.mark.parametrize("mult_arity", [(), (2,)])
@pytest.mark.parametrize("rows", [None, "distinct", "repeated", "magnitudes on all rows"])
@pytest.mark.parametrize("x_grad", [True, False])
def test_the_fused_layer_matches_the_separate_functions(dtype, k, mult_arity, rows, x_grad,
                                                        monkeypatch) -> None:
    layer = _layer(k, dtype, mult_arity)
    x = _inputs(dtype)
    with_mags = rows is not None
    picked = {None: None, "magnitudes on all rows": None,
              "distinct": torch.tensor([7, 0, 79, 12, 3]),
              "repeated": torch.tensor([7, 7, 0, 79, 3, 3, 3])}[rows]
    calls = []
    real = layer_module.fused_layer
    monkeypatch.setattr(layer_module, "fused_layer",
                        lambda *args: calls.append(1) or real(*args))
    fused = _run(layer, x, picked, with_mags, x_grad)
    assert calls, "the fused layer did not run"
    _separate(monkeypatch)
    calls.clear()
    separate = _run(layer, x, picked, with_mags, x_grad)
    assert not calls
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == torch.float64 else \
        {"rtol": 1e-4, "atol": 1e-5}
    torch.testing.assert_close(fused[0], separate[0], **tol)
    if with_mags:
        torch.testing.assert_close(fused[1], separate[1], **tol)
    for g, r in zip(fused[2], separate[2], strict=True):
        torch.testing.assert_close(g, r, **tol)


def test_the_fused_layer_passes_gradcheck() -> None:
    layer = _layer(3, torch.float64)
    x = _inputs(torch.float64)[:12].requires_grad_(True)
    weights = layer._weights().detach().clone().requires_grad_(True)
    bias = layer.bias.detach().clone().requires_grad_(True)
    rows = torch.tensor([1, 4, 4, 11])
    table = layer._interval_table()

    def loss(v, w, b):
        parts = spline.spline_basis_parts(v, layer.knots, 3, table)
        out, mags = fused_layer(v, w, b, parts, rows, 3, True)
        plain, _ = fused_layer(v, w, b, parts, None, 3, False)
        return out.pow(2).sum() + (mags * mags.flip(0)).sum() + plain.sin().sum()

    assert torch.autograd.gradcheck(loss, (x, weights, bias))


def test_a_layer_with_a_locked_edge_takes_the_separate_path(monkeypatch) -> None:
    layer = _layer(3, torch.float64)
    layer.lock_edge(0, 1, "sin", torch.sin)
    calls = []
    monkeypatch.setattr(layer_module, "fused_layer", lambda *args: calls.append(1))
    x = _inputs(torch.float64).requires_grad_(True)
    layer(x)
    layer.forward_with_magnitudes(x, torch.tensor([0, 5]))
    assert not calls


def test_a_network_trains_the_same_on_both_paths(monkeypatch) -> None:
    x = _inputs(torch.float64)
    y = torch.sin(x.sum(1, keepdim=True))

    def train():
        net = KANNetwork([3, [2, 1], 1], grid_size=5, seed=2, dtype=torch.float64)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(5):
            opt.zero_grad()
            out, mags = net.forward_magnitudes(x, torch.arange(0, 80, 3))
            loss = ((out - y) ** 2).mean() + 1e-2 * net.penalty(mags, 1.0, 2.0)
            loss.backward()
            opt.step()
        return net(x).detach()

    fused = train()
    _separate(monkeypatch)
    torch.testing.assert_close(fused, train(), rtol=1e-9, atol=1e-11)
