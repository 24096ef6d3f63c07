"""B-spline bases: agreement with a textbook Cox-de Boor, partition of unity, gradients,
dtypes, and least-squares coefficient fits (including rank-deficient samples)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kanstudio.core.spline import fit_coefficients, spline_basis, uniform_knots


def naive_basis(x: np.ndarray, knots: np.ndarray, k: int) -> np.ndarray:
    """Textbook Cox-de Boor recursion, one point at a time: (n,) -> (n, len(knots) - k - 1).

    Order 0 uses half-open intervals ``[t_m, t_{m+1})``; terms over a zero-width span are 0.
    """

    def b(m: int, j: int, xv: float) -> float:
        if j == 0:
            return 1.0 if knots[m] <= xv < knots[m + 1] else 0.0
        value = 0.0
        left = knots[m + j] - knots[m]
        if left > 0:
            value += (xv - knots[m]) / left * b(m, j - 1, xv)
        right = knots[m + j + 1] - knots[m + 1]
        if right > 0:
            value += (knots[m + j + 1] - xv) / right * b(m + 1, j - 1, xv)
        return value

    n_basis = len(knots) - k - 1
    return np.array([[b(m, k, float(xv)) for m in range(n_basis)] for xv in x])


def random_knots(rng: np.random.Generator, n_in: int, n_knots: int) -> np.ndarray:
    return np.sort(rng.uniform(-2.0, 2.0, (n_in, n_knots)), axis=1)


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("repeated_knot", [False, True])
def test_basis_matches_naive_cox_de_boor(k: int, repeated_knot: bool) -> None:
    rng = np.random.default_rng(10 + k)
    n_in, grid = 3, 6
    knots = random_knots(rng, n_in, grid + 2 * k + 1)  # non-uniform, different per input
    if repeated_knot:
        knots[:, 5] = knots[:, 4]
    x = rng.uniform(-2.5, 2.5, (150, n_in))  # some points fall outside every grid
    x[:4] = knots[:, [0, 3, 5, -2]].T  # exactly on knots, including the first one
    x[4] = knots[:, -1]  # the last knot itself is outside the half-open grid
    x[5] = knots[:, 0] - 1e-3
    got = spline_basis(torch.as_tensor(x), torch.as_tensor(knots), k).numpy()
    assert got.shape == (150, n_in, grid + k)
    for i in range(n_in):
        np.testing.assert_allclose(got[:, i], naive_basis(x[:, i], knots[i], k), atol=1e-12)
    outside = (x < knots[:, 0]) | (x >= knots[:, -1])  # (150, n_in)
    assert outside.sum() >= 2 * n_in
    assert np.all(got[outside] == 0.0)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_partition_of_unity_inside_the_grid(k: int) -> None:
    rng = np.random.default_rng(k)
    knots = random_knots(rng, 2, 7 + 2 * k + 1)
    lo, hi = knots[:, k], knots[:, -k - 1]
    x = lo + (hi - lo) * rng.uniform(0.0, 1.0, (500, 2))
    x[0] = lo  # the left end belongs to the grid
    basis = spline_basis(torch.as_tensor(x), torch.as_tensor(knots), k)
    np.testing.assert_allclose(basis.sum(-1).numpy(), 1.0, atol=1e-12)
    assert bool((basis >= -1e-15).all())


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("k", [2, 3])
def test_gradient_with_respect_to_x_passes_gradcheck(k: int, residual: bool) -> None:
    gen = torch.Generator().manual_seed(3)
    lo = torch.tensor([-1.0, -0.5], dtype=torch.float64)
    hi = torch.tensor([1.0, 0.7], dtype=torch.float64)
    knots = uniform_knots(lo, hi, 5, k)
    # Points inside, in the extension and beyond the last knot.
    x = (torch.rand(24, 2, generator=gen, dtype=torch.float64) * 4.0 - 2.0).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda v: spline_basis(v, knots, k, residual=residual), (x,), eps=1e-6, atol=1e-7
    )


def test_gradient_of_a_spline_curve_matches_its_slope() -> None:
    knots = uniform_knots(torch.tensor([-1.0], dtype=torch.float64),
                          torch.tensor([1.0], dtype=torch.float64), 8, 3)
    coef = torch.linspace(-1.0, 2.0, 11, dtype=torch.float64) ** 2  # (nb,)
    x = torch.linspace(-0.95, 0.95, 41, dtype=torch.float64)[:, None].requires_grad_()
    curve = spline_basis(x, knots, 3)[:, 0, :] @ coef
    (grad,) = torch.autograd.grad(curve.sum(), x)
    h = 1e-6
    plus = spline_basis(x.detach() + h, knots, 3)[:, 0, :] @ coef
    minus = spline_basis(x.detach() - h, knots, 3)[:, 0, :] @ coef
    np.testing.assert_allclose(grad[:, 0].numpy(), ((plus - minus) / (2 * h)).numpy(),
                               rtol=1e-6, atol=1e-6)


def test_float32_and_float64_agree() -> None:
    rng = np.random.default_rng(4)
    knots = random_knots(rng, 3, 5 + 2 * 3 + 1)
    x = rng.uniform(-2.0, 2.0, (300, 3))
    b64 = spline_basis(torch.as_tensor(x), torch.as_tensor(knots), 3)
    x32 = torch.as_tensor(x, dtype=torch.float32).requires_grad_()
    b32 = spline_basis(x32, torch.as_tensor(knots, dtype=torch.float32), 3)
    assert b64.dtype == torch.float64 and b32.dtype == torch.float32
    np.testing.assert_allclose(b32.detach().numpy(), b64.numpy(), atol=2e-5)
    b32.sum().backward()  # the float32 backward runs and gives finite gradients
    assert x32.grad is not None and bool(torch.isfinite(x32.grad).all())


def test_mismatched_shapes_are_refused() -> None:
    knots = uniform_knots(torch.zeros(2), torch.ones(2), 5, 3)
    with pytest.raises(ValueError, match="does not match"):
        spline_basis(torch.zeros(10, 3), knots, 3)


# ---------------------------------------------------------------------- fit_coefficients
def _uniform_knots_1d(grid: int, k: int = 3) -> torch.Tensor:
    return uniform_knots(torch.tensor([-1.0], dtype=torch.float64),
                         torch.tensor([1.0], dtype=torch.float64), grid, k)


def _curve(knots: torch.Tensor, coef: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Spline curve of one input and one output: x (n,) -> (n,)."""
    return (spline_basis(x[:, None], knots, 3)[:, 0, :] @ coef[0, :, 0])


def test_fit_coefficients_reproduces_a_smooth_function() -> None:
    knots = _uniform_knots_1d(20)
    x = torch.linspace(-1.0, 1.0, 400, dtype=torch.float64)
    basis = spline_basis(x[:, None], knots, 3).transpose(0, 1)  # (1, n, nb)
    coef = fit_coefficients(basis, torch.sin(3 * x)[None, :, None])
    assert coef.shape == (1, 23, 1)
    x_eval = torch.rand(1000, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64) * 2 - 1
    rmse = (_curve(knots, coef, x_eval) - torch.sin(3 * x_eval)).pow(2).mean().sqrt()
    assert float(rmse) < 1e-3


def test_fit_coefficients_solves_independent_problems_per_input_and_output() -> None:
    knots = uniform_knots(torch.tensor([-1.0, 0.0], dtype=torch.float64),
                          torch.tensor([1.0, 3.0], dtype=torch.float64), 12, 3)
    x = torch.stack([torch.linspace(-1, 1, 200, dtype=torch.float64),
                     torch.linspace(0, 3, 200, dtype=torch.float64)], 1)
    targets = torch.stack([torch.stack([x[:, 0] ** 2, torch.cos(x[:, 0])], -1),
                           torch.stack([torch.exp(-x[:, 1]), x[:, 1] / 3], -1)], 0)  # (2, n, 2)
    basis = spline_basis(x, knots, 3)  # (n, 2, nb)
    coef = fit_coefficients(basis.transpose(0, 1), targets)
    fitted = torch.bmm(basis.transpose(0, 1), coef)  # (2, n, 2)
    assert float((fitted - targets).abs().max()) < 1e-3


def test_fit_coefficients_with_identical_samples_is_finite_and_fits_the_point() -> None:
    knots = _uniform_knots_1d(5)
    x = torch.full((50,), 0.3, dtype=torch.float64)
    basis = spline_basis(x[:, None], knots, 3).transpose(0, 1)
    coef = fit_coefficients(basis, torch.sin(3 * x)[None, :, None])
    assert bool(torch.isfinite(coef).all())
    assert float(coef.abs().max()) < 10.0
    value = _curve(knots, coef, torch.tensor([0.3], dtype=torch.float64))
    assert abs(float(value[0]) - np.sin(0.9)) < 1e-6


def test_fit_coefficients_with_samples_on_part_of_the_grid() -> None:
    knots = _uniform_knots_1d(10)
    x = torch.linspace(-1.0, -0.1, 100, dtype=torch.float64)  # right half has no samples
    basis = spline_basis(x[:, None], knots, 3).transpose(0, 1)
    coef = fit_coefficients(basis, torch.sin(3 * x)[None, :, None])
    assert bool(torch.isfinite(coef).all())
    assert float((_curve(knots, coef, x) - torch.sin(3 * x)).abs().max()) < 1e-3
    everywhere = _curve(knots, coef, torch.linspace(-1, 1, 201, dtype=torch.float64))
    assert bool(torch.isfinite(everywhere).all()) and float(everywhere.abs().max()) < 10.0


def test_fit_coefficients_with_duplicated_rows_and_float32() -> None:
    knots = _uniform_knots_1d(8).float()
    x = torch.linspace(-1, 1, 60).repeat(3)  # every sample three times
    basis = spline_basis(x[:, None], knots, 3).transpose(0, 1)
    coef = fit_coefficients(basis, (x ** 2)[None, :, None])
    assert coef.dtype == torch.float32 and bool(torch.isfinite(coef).all())
    fitted = spline_basis(x[:, None], knots, 3)[:, 0, :] @ coef[0, :, 0]
    assert float((fitted - x ** 2).abs().max()) < 1e-4


def test_fit_coefficients_with_no_samples_touching_any_basis() -> None:
    knots = _uniform_knots_1d(5)
    x = torch.full((10,), 5.0, dtype=torch.float64)  # beyond the grid: the basis is all zero
    basis = spline_basis(x[:, None], knots, 3).transpose(0, 1)
    assert float(basis.abs().max()) == 0.0
    coef = fit_coefficients(basis, torch.ones(1, 10, 1, dtype=torch.float64))
    assert bool(torch.isfinite(coef).all())
