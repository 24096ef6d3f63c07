"""The fused CPU kernel for the sparsity penalty's magnitudes computes the penalty's
definition: for every layer ``m_ij = mean over the rows of |phi_ij(x)|`` (``phi`` as
``edge_activations`` evaluates it), then ``l1 * sum m + entropy * sum_j H(m_.j / sum_i m_ij)``.
Values and gradients (parameters and inputs) against that plain reference."""

from __future__ import annotations

import pytest
import torch

from kanstudio.core import KANNetwork, spline
from kanstudio.core import fused_magnitudes as fm


def _reference(net: KANNetwork, x: torch.Tensor, rows: torch.Tensor | None,
               l1: float, entropy: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, penalty) from the definition, layer by layer, with plain torch ops."""
    total = x.new_zeros(())
    h = x
    for layer in net.layers:
        picked = h if rows is None else h[rows]
        mag = layer.edge_activations(picked).abs().mean(0)  # (n_in, n_out)
        total = total + l1 * mag.sum()
        p = mag / (mag.sum(0, keepdim=True) + 1e-8)
        total = total - entropy * (p * torch.log(p + 1e-8)).sum()
        h = layer(h)
    return h, total


def _net(width, k: int, dtype: torch.dtype) -> KANNetwork:
    net = KANNetwork(width, grid_size=4, k=k, seed=3, dtype=dtype)
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for layer in net.layers:
            layer.coef.copy_(torch.randn(layer.coef.shape, generator=gen, dtype=dtype) * 0.5)
        net.layers[0].mask[0, 1] = 0.0  # a pruned edge: magnitude 0, no gradient
    return net


@pytest.fixture(autouse=True)
def _needs_kernel() -> None:
    if not fm.magnitudes_available(torch.zeros(1, 1, 2), torch.zeros(1, 2, 1)):
        pytest.skip("numba is not available: the torch path runs (tests/core/test_penalty)")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("k", [3, 1])
@pytest.mark.parametrize("width", [[3, 5, 2], [3, [1, 2], 1]])
@pytest.mark.parametrize("subset", [None, "distinct", "repeated"])
@pytest.mark.parametrize("basis", ["fused", "torch"])
def test_fused_penalty_matches_its_definition(dtype, k, width, subset, basis,
                                              monkeypatch) -> None:
    # "fused": the basis kernel tells the penalty's kernel where each row's live entries
    # start; "torch": the penalty's kernel finds them in the basis rows itself.
    if basis == "torch":
        monkeypatch.setattr(spline, "fused_basis", lambda *args: None)
    net = _net(width, k, dtype)
    gen = torch.Generator().manual_seed(7)
    # some rows outside the grid [-1, 1] and one exactly on a knot: no live spline there
    x = (torch.rand(64, 3, generator=gen, dtype=dtype) * 2.6 - 1.3)
    x[5, 0] = 0.0
    x = x.requires_grad_(True)
    rows = {None: None, "distinct": torch.tensor([9, 0, 63, 17, 5, 30]),
            "repeated": torch.tensor([9, 0, 63, 17, 17, 5, 5, 5])}[subset]
    params = [*net.parameters(), x]

    out, mags = net.forward_magnitudes(x, rows)
    loss = (out**2).mean() + net.penalty(mags, 1.0, 2.0)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    ref_out, ref_pen = _reference(net, x, rows, 1.0, 2.0)
    ref_loss = (ref_out**2).mean() + ref_pen
    ref_grads = torch.autograd.grad(ref_loss, params, allow_unused=True)

    tol = {"rtol": 1e-9, "atol": 1e-11} if dtype == torch.float64 else \
        {"rtol": 1e-4, "atol": 1e-5}
    torch.testing.assert_close(out, ref_out, **tol)
    torch.testing.assert_close(loss, ref_loss, **tol)
    for g, r in zip(grads, ref_grads, strict=True):
        if g is None or r is None:  # e.g. the locked-edge parameters: unused by both
            assert (g is None or not g.any()) and (r is None or not r.any())
            continue
        torch.testing.assert_close(g, r, **tol)


def test_fused_penalty_passes_gradcheck() -> None:
    net = _net([2, 3, 1], 3, torch.float64)
    x = (torch.rand(9, 2, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    rows = torch.tensor([1, 5, 5, 8])

    def loss(v):
        out, mags = net.forward_magnitudes(v, rows)
        return out.sum() + net.penalty(mags)

    assert torch.autograd.gradcheck(loss, (x,))


def test_warm_up_readies_both_kernels() -> None:
    from kanstudio.core.fused_cpu import fused_available

    thread = fm.warm_up()
    thread.join(timeout=300)
    assert not thread.is_alive() and fused_available()
    assert fm.magnitudes_available(torch.zeros(1, 1, 2), torch.zeros(1, 2, 1))
