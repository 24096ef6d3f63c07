"""The sparsity penalty's edge magnitudes on the CPU as one fused pass (numba).

The penalty needs every edge's mean ``|phi|`` over the sampled rows, and its gradient
needs ``sign(phi)`` on every (row, edge): with torch ops that is an
``(n_in, rows, n_out)`` tensor written by one batched product of the dense basis with the
weights, read back to take signs, and read twice more by the two backward products. On a
CPU the memory traffic of that tensor, not arithmetic, is the cost, and the products run
over the whole basis row although a B-spline basis row holds only ``k + 1`` non-zero
values (plus the ``silu`` column).

Here one loop per input node keeps a row's ``n_out`` edge values in a small buffer: the
values from the non-zero basis entries only, their absolute values summed (in float64)
into the magnitudes, their signs accumulated into ``sum_rows basis^T sign`` (what the
weight gradient needs). The backward recomputes the row's values the same way instead of
storing signs, and computes the basis gradient only on the entries the basis backward
reads (the ``k + 1`` live functions around the non-zero ones and the ``silu`` column).
Each thread owns whole input nodes, so repeated rows add up exactly as ``index_add``.

Same switch as the basis kernel: without numba, off the CPU, or with ``KANSTUDIO_FUSED=0``
the torch-op path of :mod:`kanstudio.core.layer` runs.
"""

from __future__ import annotations

import os
import threading
import warnings

import torch

from kanstudio.core.fused_cpu import fused_available, run_locked

__all__ = ["fused_magnitudes", "fused_magnitudes_backward", "magnitudes_available", "warm_up"]

_state: dict[str, object] = {}
_build_lock = threading.Lock()  # one compile, whichever thread (warm-up, training) asks

# Input nodes per thread task: their weights and sign sums stay in cache while the rows
# stream past in order (one contiguous piece of each basis row per task).
BLOCK = 16


def _build(cache: bool):
    import numba
    import numpy as np

    # reassoc lets the backward's sum over outputs vectorise; both kernels compute a
    # row's edge values with the same code and flags, so their signs agree.
    jit = numba.njit(parallel=True, cache=cache, nogil=True,
                     fastmath={"reassoc", "nsz"})

    @numba.njit(inline="always", fastmath={"reassoc", "nsz"})
    def live(f, nb, k):
        """The first and one-past-last live basis entries of one row's input node: the
        first non-zero and the k after it (a B-spline basis row holds at most k + 1
        consecutive non-zero values), kept inside the basis (``nb`` functions)."""
        first = 0
        while first < nb and f[first] == 0.0:
            first += 1
        lo = min(first, max(nb - k - 1, 0))
        return lo, min(lo + k + 1, nb)

    @numba.njit(inline="always", fastmath={"reassoc", "nsz"})
    def edge_values(f, wi, lo, hi, nb, phi):
        """phi[o] = sum over the live entries and the silu column of f[m] * wi[m, o]; the
        one code both kernels use, so that their signs agree."""
        n_out = phi.shape[0]
        s = f[nb]
        for o in range(n_out):
            phi[o] = s * wi[nb, o]
        for m in range(lo, hi):
            fm = f[m]
            for o in range(n_out):
                phi[o] += fm * wi[m, o]

    def forward(features, rows, weights, mag, cross, want_cross, k):
        n_in, width, n_out = weights.shape
        nb = width - 1
        r = rows.shape[0]
        n_blocks = (n_in + BLOCK - 1) // BLOCK
        for blk in numba.prange(n_blocks):
            i0 = blk * BLOCK
            i1 = min(n_in, i0 + BLOCK)
            phi = np.empty(n_out, dtype=weights.dtype)
            total = np.zeros((i1 - i0, n_out), dtype=np.float64)
            if want_cross:
                for i in range(i0, i1):
                    cross[i, :, :] = 0.0
            for t in range(r):
                fb = features[rows[t]]
                for i in range(i0, i1):
                    f = fb[i]
                    lo, hi = live(f, nb, k)
                    edge_values(f, weights[i], lo, hi, nb, phi)
                    ti = total[i - i0]
                    for o in range(n_out):
                        v = phi[o]
                        ti[o] += abs(v)
                        phi[o] = (v > 0.0) - (v < 0.0)
                    if want_cross:
                        ci = cross[i]
                        for m in range(lo, hi):
                            fm = f[m]
                            for o in range(n_out):
                                ci[m, o] += fm * phi[o]
                        fm = f[nb]
                        for o in range(n_out):
                            ci[nb, o] += fm * phi[o]
            for i in range(i0, i1):
                for o in range(n_out):
                    mag[i, o] = total[i - i0, o] / r

    def backward(features, rows, weights, scaled, k, grad_features):
        n_in, width, n_out = weights.shape
        nb = width - 1
        r = rows.shape[0]
        n_blocks = (n_in + BLOCK - 1) // BLOCK
        for blk in numba.prange(n_blocks):
            i0 = blk * BLOCK
            i1 = min(n_in, i0 + BLOCK)
            phi = np.empty(n_out, dtype=weights.dtype)
            zero = np.zeros(1, dtype=weights.dtype)
            for t in range(r):
                b = rows[t]
                for i in range(i0, i1):
                    f = features[b, i]
                    lo, hi = live(f, nb, k)
                    edge_values(f, weights[i], lo, hi, nb, phi)
                    for o in range(n_out):
                        v = phi[o]
                        phi[o] = (v > 0.0) - (v < 0.0)
                    # The basis backward reads the k + 1 live functions around every
                    # non-zero entry: [last - k, first + k]; with none non-zero, all.
                    first = lo
                    while first < hi and f[first] == 0.0:
                        first += 1
                    if first < hi:
                        last = hi - 1
                        while f[last] == 0.0:
                            last -= 1
                        g_lo = max(0, last - k)
                        g_hi = min(nb, first + k + 1)
                    else:
                        g_lo, g_hi = 0, nb
                    g = grad_features[b, i]
                    si = scaled[i]
                    for m in range(g_lo, g_hi):
                        acc = zero[0]
                        for o in range(n_out):
                            acc += phi[o] * si[m, o]
                        g[m] += acc
                    acc = zero[0]
                    for o in range(n_out):
                        acc += phi[o] * si[nb, o]
                    g[nb] += acc

    return jit(forward), jit(backward)


def _smoke(kernels) -> None:
    """Compile (or load from the cache) both kernels for float32 and float64."""
    for dtype in (torch.float32, torch.float64):
        features = torch.tensor([[[0.5, 0.5, 0.0, -0.2]], [[0.0, 0.3, 0.7, 0.1]]], dtype=dtype)
        weights = torch.ones(1, 4, 2, dtype=dtype)
        rows = torch.tensor([1, 0, 1])
        mag, cross = torch.empty(1, 2, dtype=dtype), torch.empty(1, 4, 2, dtype=dtype)
        kernels[0](features.numpy(), rows.numpy(), weights.numpy(), mag.numpy(),
                   cross.numpy(), True, 1)
        kernels[1](features.numpy(), rows.numpy(), weights.numpy(), weights.numpy(), 1,
                   torch.zeros_like(features).numpy())


def _kernels():
    if "kernels" in _state:
        return _state["kernels"]
    with _build_lock:
        if "kernels" not in _state:
            _state["kernels"] = _compile()
    return _state["kernels"]


def _compile():
    kernels = None
    if os.environ.get("KANSTUDIO_FUSED", "1") != "0":
        try:
            import numba  # noqa: F401
        except ImportError:
            pass
        else:
            for cache in (True, False):  # a frozen app or read-only install cannot cache
                try:
                    candidate = _build(cache)
                    run_locked(_smoke, candidate)
                except Exception as exc:  # noqa: BLE001 - any failure means: use torch ops
                    if not cache:
                        warnings.warn(f"fused CPU magnitude kernel unavailable ({exc}); "
                                      "using the slower torch path", RuntimeWarning,
                                      stacklevel=3)
                    continue
                kernels = candidate
                break
    return kernels


def warm_up() -> threading.Thread:
    """Compile or load every fused CPU kernel (the basis's, then these) in a background
    thread, so that neither the first step nor the first step with the penalty waits for
    the compiler (the worker calls this at start)."""

    def warm() -> None:
        if fused_available():
            magnitudes_available(torch.zeros(1, 1, 2), torch.zeros(1, 2, 1))

    thread = threading.Thread(target=warm, name="kanstudio-fused-warm-up", daemon=True)
    thread.start()
    return thread


def magnitudes_available(features: torch.Tensor, weights: torch.Tensor) -> bool:
    """Whether :func:`fused_magnitudes` applies to these tensors (compiles on first use)."""
    if features.device.type != "cpu" or features.dtype not in (torch.float32, torch.float64):
        return False
    if weights.dtype != features.dtype or weights.device.type != "cpu":
        return False
    return _kernels() is not None


def fused_magnitudes(features: torch.Tensor, weights: torch.Tensor, rows: torch.Tensor,
                     want_cross: bool, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Each edge's mean ``|phi|`` over ``features[rows]``, and ``sum_rows basis^T sign(phi)``
    when ``want_cross``.

    features: (batch, n_in, width) contiguous; weights: (n_in, width, n_out) contiguous;
    rows: (r,) int64 row indices; k: the spline order (the last column is ``silu``, the
    others a B-spline basis with at most k + 1 consecutive non-zero values a row)
    -> (mag (n_in, n_out), cross (n_in, width, n_out) or None).
    No autograd: the caller's ``autograd.Function`` owns the gradient.
    """
    n_in, width, n_out = weights.shape
    mag = torch.empty(n_in, n_out, dtype=weights.dtype)
    cross = torch.empty(n_in, width, n_out, dtype=weights.dtype) if want_cross else \
        torch.empty(1, 1, 1, dtype=weights.dtype)
    rows = rows.to(torch.int64).contiguous()
    run_locked(_state["kernels"][0], features.detach().numpy(), rows.numpy(),
               weights.detach().numpy(), mag.numpy(), cross.numpy(), want_cross, k)
    return mag, cross if want_cross else None


def fused_magnitudes_backward(features: torch.Tensor, weights: torch.Tensor,
                              rows: torch.Tensor, scaled: torch.Tensor, k: int,
                              grad_features: torch.Tensor) -> None:
    """Add ``sign(phi) scaled^T`` into ``grad_features[rows]`` in place (repeated rows
    add up), on the entries the spline basis's backward reads.

    ``scaled``: (n_in, width, n_out) the weights times the magnitudes' gradient / rows;
    ``grad_features``: (batch, n_in, width) contiguous; ``k``: the spline order (the last
    column, ``silu``, is always computed).
    """
    run_locked(_state["kernels"][1], features.detach().numpy(), rows.numpy(),
               weights.detach().numpy(), scaled.contiguous().numpy(), k,
               grad_features.numpy())
