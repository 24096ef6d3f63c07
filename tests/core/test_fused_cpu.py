"""The fused CPU basis kernel agrees with the torch-op path it replaces on the CPU.

``spline_basis`` takes the fused path on the CPU whenever numba is installed, so the other
spline tests exercise it against a textbook Cox-de Boor; here the torch path (still the one
used on GPUs and without numba) is held to the same values and gradients, including samples
outside the grid, NaN, repeated knots and every order."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import torch

from kanstudio.core.spline import _SplineBasis, interval_table, spline_basis

pytest.importorskip("numba")
if os.environ.get("KANSTUDIO_FUSED") == "0":
    pytest.skip("the fused kernels are switched off here (KANSTUDIO_FUSED=0)",
                allow_module_level=True)

from kanstudio.core.fused_cpu import fused_available, fused_basis


def _case(k: int, dtype: torch.dtype, seed: int, n_knots: int | None = None):
    gen = torch.Generator().manual_seed(seed)
    n_in, n_knots = 3, n_knots or 6 + 2 * k
    knots = torch.sort(torch.rand(n_in, n_knots, generator=gen, dtype=dtype) * 4 - 2, 1).values
    knots[1, k + 2] = knots[1, k + 1]  # a repeated knot: a zero-width interval
    x = torch.rand(200, n_in, generator=gen, dtype=dtype) * 5 - 2.5  # some outside the grid
    x[0, 0] = float("nan")
    x[1, :] = knots[:, k + 1]  # exactly on a knot
    return x, knots.contiguous(), interval_table(knots, k)


def test_kernels_compile_here():
    assert fused_available()


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("long_rows", [False, True])  # cubic + silu: blocks of rows, or not
def test_fused_matches_torch_path(k, residual, dtype, long_rows):
    x, knots, table = _case(k, dtype, seed=k, n_knots=50 if long_rows else None)
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    fused = fused_basis(x1, knots, table, k, residual)[0]
    ref = _SplineBasis.apply(x2, knots, table, k, residual)
    assert fused is not None and fused.shape == ref.shape
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    finite = torch.isfinite(x).all(1)
    assert torch.allclose(fused[finite], ref[finite], atol=tol)
    # A NaN input has no live spline function (the torch path agrees only on the silu column).
    assert fused[0, 0, : knots.shape[1] - k - 1].abs().sum() == 0
    weights = torch.randn(fused.shape, dtype=dtype)
    (g1,) = torch.autograd.grad((fused * weights).sum(), x1)
    (g2,) = torch.autograd.grad((ref * weights).sum(), x2)
    assert torch.allclose(g1[finite], g2[finite], atol=tol * 10)


def test_fused_gradcheck():
    knots = torch.sort(torch.rand(2, 12, dtype=torch.float64) * 2 - 1, 1).values.contiguous()
    table = interval_table(knots, 3)
    x = (torch.rand(30, 2, dtype=torch.float64) * 1.6 - 0.8).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: fused_basis(v, knots, table, 3, True)[0], (x,))


def test_spline_basis_takes_fused_path_on_cpu_only_for_float():
    x, knots, table = _case(3, torch.float32, seed=1)
    out = spline_basis(x, knots, 3, table)
    assert out.grad_fn is None  # no grad wanted, none recorded
    assert fused_basis(x.half(), knots.half(), table.half(), 3, False) is None


def test_concurrent_threads_agree():
    x, knots, table = _case(3, torch.float64, seed=2)
    expected = fused_basis(x, knots, table, 3, True)[0]
    results: list[torch.Tensor] = []

    def work():
        for _ in range(20):
            results.append(fused_basis(x, knots, table, 3, True)[0])

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 60
    assert all(torch.allclose(r, expected, rtol=0, atol=0, equal_nan=True) for r in results)


def test_environment_switch_turns_it_off():
    code = ("from kanstudio.core.fused_cpu import fused_available;"
            "print(fused_available())")
    env = dict(os.environ, KANSTUDIO_FUSED="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_warm_up_thread_finishes_with_kernels_ready():
    from kanstudio.core.fused_cpu import warm_up

    thread = warm_up()
    thread.join(timeout=120)
    assert not thread.is_alive() and fused_available()
