"""The sparsity penalty's one-pass path (``forward_magnitudes``) means exactly what the
per-edge path means: same output, same penalty, same gradients, locked edges and product
nodes included."""

from __future__ import annotations

import pytest
import torch

from kanstudio.core import KANNetwork

F64 = torch.float64


def _net(width, lock: bool) -> KANNetwork:
    net = KANNetwork(width, seed=4, dtype=F64)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for layer in net.layers:
            layer.coef.copy_(torch.randn(layer.coef.shape, generator=gen, dtype=F64) * 0.5)
        net.layers[0].mask[1, 0] = 0.0  # a pruned edge: magnitude 0
    if lock:
        net.layers[0].lock_edge(0, 1, "sin", torch.sin, (1.3, 0.2, 0.7, 0.1))
    return net


@pytest.mark.parametrize("width", [[3, 4, 2], [3, [1, 2], 1]])
@pytest.mark.parametrize("lock", [False, True])
@pytest.mark.parametrize("subset", [None, "distinct", "repeated"])
def test_one_pass_penalty_equals_the_per_edge_penalty(width, lock, subset) -> None:
    net = _net(width, lock)
    gen = torch.Generator().manual_seed(6)
    x = torch.rand(50, 3, generator=gen, dtype=F64) * 2 - 1
    rows = {None: None, "distinct": torch.tensor([4, 0, 31, 17, 49]),
            "repeated": torch.tensor([4, 0, 31, 17, 17, 49])}[subset]
    out, mags = net.forward_magnitudes(x, rows)
    ref = net.forward_activations(x, rows)
    torch.testing.assert_close(out, net(x), rtol=0, atol=1e-12)
    for mag, phi in zip(mags, ref.edges, strict=True):
        torch.testing.assert_close(mag, phi.abs().mean(0), rtol=0, atol=1e-12)
    params = list(net.parameters())
    loss = (out**2).mean() + net.penalty(mags, 1.0, 2.0)
    want = (ref.output**2).mean() + net.regularization(ref, 1.0, 2.0)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    ref_grads = torch.autograd.grad(want, params, allow_unused=True)
    for p, g, r in zip(params, grads, ref_grads, strict=True):
        zero = torch.zeros_like(p)
        torch.testing.assert_close(zero if g is None else g, zero if r is None else r,
                                   rtol=1e-9, atol=1e-12)


def test_one_pass_penalty_passes_gradcheck_through_the_inputs() -> None:
    net = _net([2, 3, 1], lock=False)
    x = (torch.rand(9, 2, dtype=F64) * 2 - 1).requires_grad_(True)
    rows = torch.tensor([1, 5, 5, 8])

    def loss(v):
        out, mags = net.forward_magnitudes(v, rows)
        return out.sum() + net.penalty(mags)

    assert torch.autograd.gradcheck(loss, (x,))
