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
weight gradient needs). When the input gradient is wanted, the forward also keeps each
(sampled row, edge)'s sign as one byte and each (row, input node)'s span of basis entries
the basis backward reads: the backward then only multiplies stored signs by the scaled
weights on that span, without recomputing a row's values (half the backward's time; the
signs take ``rows * n_in * n_out`` bytes, 34 MB for a 128 -> 128 layer on 2048 rows).
Where the features come from the fused basis kernel, that kernel also hands over each
(row, input node)'s first basis entry, so neither the live entries nor the backward's span
are searched for in the row (scanning the rows cost 12-22 % of this kernel's time on
the medium benchmark network's layers, timed alone).
For cubic splines the ``k + 1`` live entries are unrolled into one pass over the outputs.
The sampled rows are not consecutive, so the hardware cannot guess the next one: both
kernels ask for the cache lines of the row ``AHEAD`` rows on while they work on one
(:mod:`kanstudio.core.prefetch`; the four kernels of the medium benchmark network's layers
took 9.8 ms in place of 14.7, timed alone, with the same values).
Each thread owns whole input nodes (blocks small enough that every thread gets work), so
repeated rows add up exactly as ``index_add``.

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

# At most this many input nodes per thread task: their weights and sign sums stay in cache
# while the rows stream past in order (one contiguous piece of each basis row per task).
BLOCK = 16
# Rows ahead whose lines are asked for (kanstudio.core.prefetch) while a row is worked on.
AHEAD = 4


def _build(cache: bool):
    import numba
    import numpy as np

    from kanstudio.core import prefetch as lines

    # reassoc lets the backward's sums over outputs vectorise. The backward reads the
    # forward's signs, so the two need not compute a row's values identically.
    jit = numba.njit(parallel=True, cache=cache, nogil=True,
                     fastmath={"reassoc", "nsz", "contract"})

    # Arrays are indexed in full (features[b, i, m]) rather than sliced into row views in
    # the loops: a view per (row, input node) costs more than the few products it serves.
    # No jitted helper is a closure variable: numba keys its disk cache on a pickle of the
    # closure, and a jitted function's pickle differs between processes, so a closure over
    # one compiled the kernels again in every process (16 s on a 2-core EPYC). The
    # prefetch is reached through its module (a module pickles as its name).
    def forward(features, rows, weights, mag, cross, want_cross, k, block, signs, span,
                use_starts, starts):
        n_in, width, n_out = weights.shape
        nb = width - 1
        r = rows.shape[0]
        want_signs = signs.shape[0] == r
        n_blocks = (n_in + block - 1) // block
        flat = features.reshape(features.size)
        flat_starts = starts.reshape(starts.size)
        for blk in numba.prange(n_blocks):
            i0 = blk * block
            i1 = min(n_in, i0 + block)
            phi = np.empty(n_out, dtype=weights.dtype)
            total = np.zeros((i1 - i0, n_out), dtype=np.float64)
            if want_cross:
                for i in range(i0, i1):
                    for m in range(width):
                        for o in range(n_out):
                            cross[i, m, o] = 0.0
            for t in range(r):
                if t + AHEAD < r:  # the sampled rows are not consecutive: ask early
                    ahead = rows[t + AHEAD]
                    lines.prefetch(flat, (ahead * n_in + i0) * width, (i1 - i0) * width)
                    if use_starts:
                        lines.prefetch(flat_starts, ahead * n_in + i0, i1 - i0)
                b = rows[t]
                for i in range(i0, i1):
                    if use_starts:  # the basis kernel's first entry: no scan of the row
                        lo = min(max(starts[b, i], 0), max(nb - k - 1, 0))
                    else:  # the first non-zero (a B-spline basis row holds at most k + 1
                        # consecutive ones), kept so that k + 1 entries from it lie inside
                        lo = 0
                        while lo < nb and features[b, i, lo] == 0.0:
                            lo += 1
                        lo = min(lo, max(nb - k - 1, 0))
                    hi = min(lo + k + 1, nb)
                    s = features[b, i, nb]  # the silu column
                    if k == 3 and hi - lo == 4:  # cubic: the live entries unrolled
                        f0 = features[b, i, lo]
                        f1 = features[b, i, lo + 1]
                        f2 = features[b, i, lo + 2]
                        f3 = features[b, i, lo + 3]
                        for o in range(n_out):
                            v = (s * weights[i, nb, o] + f0 * weights[i, lo, o]
                                 + f1 * weights[i, lo + 1, o] + f2 * weights[i, lo + 2, o]
                                 + f3 * weights[i, lo + 3, o])
                            total[i - i0, o] += abs(v)
                            phi[o] = (v > 0.0) - (v < 0.0)
                        if want_cross:
                            for o in range(n_out):
                                g = phi[o]
                                cross[i, nb, o] += s * g
                                cross[i, lo, o] += f0 * g
                                cross[i, lo + 1, o] += f1 * g
                                cross[i, lo + 2, o] += f2 * g
                                cross[i, lo + 3, o] += f3 * g
                    else:
                        for o in range(n_out):
                            phi[o] = s * weights[i, nb, o]
                        for m in range(lo, hi):
                            fm = features[b, i, m]
                            for o in range(n_out):
                                phi[o] += fm * weights[i, m, o]
                        for o in range(n_out):
                            v = phi[o]
                            total[i - i0, o] += abs(v)
                            phi[o] = (v > 0.0) - (v < 0.0)
                        if want_cross:
                            for m in range(lo, hi):
                                fm = features[b, i, m]
                                for o in range(n_out):
                                    cross[i, m, o] += fm * phi[o]
                            for o in range(n_out):
                                cross[i, nb, o] += s * phi[o]
                    if want_signs:
                        for o in range(n_out):
                            signs[t, i, o] = phi[o]
                        if use_starts:
                            # The fused basis backward reads exactly the entries it wrote:
                            # [start, start + k] inside the basis; none outside the grid.
                            st = starts[b, i]
                            span[t, i, 0] = max(st, 0)
                            span[t, i, 1] = min(st + k + 1, nb) if st >= -k else 0
                            continue
                        # The torch basis backward reads the k + 1 live functions around
                        # every non-zero entry: [last - k, first + k]; with none non-zero,
                        # all.
                        first = lo
                        while first < hi and features[b, i, first] == 0.0:
                            first += 1
                        if first < hi:
                            last = hi - 1
                            while features[b, i, last] == 0.0:
                                last -= 1
                            span[t, i, 0] = max(0, last - k)
                            span[t, i, 1] = min(nb, first + k + 1)
                        else:
                            span[t, i, 0] = 0
                            span[t, i, 1] = nb
            for i in range(i0, i1):
                for o in range(n_out):
                    mag[i, o] = total[i - i0, o] / r

    # With ``to_x`` the sums go straight into the input's gradient instead of the basis
    # rows' (each live entry's times its derivative, the silu column's times silu'), for
    # a layer whose basis gradient is never built (kanstudio.core.fused_layer); ``span``
    # then holds the fused basis kernel's entries and ``starts`` where they begin.
    def backward(rows, signs, span, scaled, block, grad_features, to_x, starts, dvals, dsilu,
                 grad_x):
        n_in, width, n_out = scaled.shape
        nb = width - 1
        r = rows.shape[0]
        n_blocks = (n_in + block - 1) // block
        flat = grad_features.reshape(grad_features.size)
        flat_x = grad_x.reshape(grad_x.size)
        for blk in numba.prange(n_blocks):
            i0 = blk * block
            i1 = min(n_in, i0 + block)
            zero = np.zeros(1, dtype=scaled.dtype)
            for t in range(r):
                if t + AHEAD < r:
                    ahead = rows[t + AHEAD]
                    if to_x:
                        lines.prefetch(flat_x, ahead * n_in + i0, i1 - i0)
                    else:
                        lines.prefetch(flat, (ahead * n_in + i0) * width, (i1 - i0) * width)
                b = rows[t]
                for i in range(i0, i1):
                    g_lo = span[t, i, 0]
                    g_hi = span[t, i, 1]
                    if g_hi - g_lo == 4:  # a cubic's usual span, unrolled
                        a0 = zero[0]
                        a1 = zero[0]
                        a2 = zero[0]
                        a3 = zero[0]
                        a4 = zero[0]
                        for o in range(n_out):
                            g = signs[t, i, o]
                            a0 += g * scaled[i, g_lo, o]
                            a1 += g * scaled[i, g_lo + 1, o]
                            a2 += g * scaled[i, g_lo + 2, o]
                            a3 += g * scaled[i, g_lo + 3, o]
                            a4 += g * scaled[i, nb, o]
                        if to_x:
                            d = g_lo - starts[b, i]  # the span's first entry in dvals
                            grad_x[b, i] += (a0 * dvals[b, i, d] + a1 * dvals[b, i, d + 1]
                                             + a2 * dvals[b, i, d + 2]
                                             + a3 * dvals[b, i, d + 3] + a4 * dsilu[b, i])
                            continue
                        grad_features[b, i, g_lo] += a0
                        grad_features[b, i, g_lo + 1] += a1
                        grad_features[b, i, g_lo + 2] += a2
                        grad_features[b, i, g_lo + 3] += a3
                        grad_features[b, i, nb] += a4
                        continue
                    for m in range(g_lo, g_hi):
                        acc = zero[0]
                        for o in range(n_out):
                            acc += signs[t, i, o] * scaled[i, m, o]
                        if to_x:
                            grad_x[b, i] += acc * dvals[b, i, m - starts[b, i]]
                        else:
                            grad_features[b, i, m] += acc
                    acc = zero[0]
                    for o in range(n_out):
                        acc += signs[t, i, o] * scaled[i, nb, o]
                    if to_x:
                        grad_x[b, i] += acc * dsilu[b, i]
                    else:
                        grad_features[b, i, nb] += acc

    return jit(forward), jit(backward)


def _smoke(kernels) -> None:
    """Compile (or load from the cache) both kernels for float32 and float64."""
    for dtype in (torch.float32, torch.float64):
        features = torch.tensor([[[0.5, 0.5, 0.0, -0.2]], [[0.0, 0.3, 0.7, 0.1]]], dtype=dtype)
        weights = torch.ones(1, 4, 2, dtype=dtype)
        rows = torch.tensor([1, 0, 1])
        mag, cross = torch.empty(1, 2, dtype=dtype), torch.empty(1, 4, 2, dtype=dtype)
        signs = torch.empty(3, 1, 2, dtype=torch.int8)
        span = torch.empty(3, 1, 2, dtype=torch.int16)
        starts = torch.tensor([[0], [-1]], dtype=torch.int32)
        for use_starts in (False, True):
            kernels[0](features.numpy(), rows.numpy(), weights.numpy(), mag.numpy(),
                       cross.numpy(), True, 1, 1, signs.numpy(), span.numpy(), use_starts,
                       starts.numpy())
            grad_x = torch.zeros(2, 1, dtype=dtype)
            dvals = torch.ones(2, 1, 2, dtype=dtype)
            for to_x in (False, True):
                kernels[1](rows.numpy(), signs.numpy(), span.numpy(), weights.numpy(), 1,
                           torch.zeros_like(features).numpy(), to_x, starts.numpy(),
                           dvals.numpy(), torch.ones(2, 1, dtype=dtype).numpy(),
                           grad_x.numpy())


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


def _block(n_in: int) -> int:
    """Input nodes per thread task: at most BLOCK, and at least two tasks per thread where
    there are enough nodes (8 input nodes on 2 threads: 4 tasks of 2, not one of 8)."""
    return max(1, min(BLOCK, -(-n_in // (2 * torch.get_num_threads()))))


def fused_magnitudes(features: torch.Tensor, weights: torch.Tensor, rows: torch.Tensor,
                     want_cross: bool, k: int, want_signs: bool,
                     starts: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...]]:
    """Each edge's mean ``|phi|`` over ``features[rows]``, ``sum_rows basis^T sign(phi)``
    when ``want_cross``, and what :func:`fused_magnitudes_backward` needs when
    ``want_signs`` (each (row, edge)'s sign as int8 and each (row, input node)'s span of
    basis entries to update).

    features: (batch, n_in, width) contiguous; weights: (n_in, width, n_out) contiguous;
    rows: (r,) int64 row indices; k: the spline order (the last column is ``silu``, the
    others a B-spline basis with at most k + 1 consecutive non-zero values a row);
    starts: (batch, n_in) int32 from the fused basis kernel
    (:func:`~kanstudio.core.spline.spline_basis_starts`), where each row's live entries
    begin, so that no row is scanned for them, and the backward updates exactly the entries
    that kernel's backward reads; None for features from anywhere else
    -> (mag (n_in, n_out), cross (n_in, width, n_out) or None, saved).
    No autograd: the caller's ``autograd.Function`` owns the gradient.
    """
    n_in, width, n_out = weights.shape
    mag = torch.empty(n_in, n_out, dtype=weights.dtype)
    cross = torch.empty(n_in, width, n_out, dtype=weights.dtype) if want_cross else \
        torch.empty(1, 1, 1, dtype=weights.dtype)
    rows = rows.to(torch.int64).contiguous()
    r = rows.shape[0] if want_signs else 0
    signs = torch.empty(r, n_in, n_out, dtype=torch.int8)
    span = torch.empty(r, n_in, 2, dtype=torch.int16)
    use_starts = starts is not None
    if not use_starts:
        starts = torch.empty(1, 1, dtype=torch.int32)
    starts = starts.contiguous()
    run_locked(_state["kernels"][0], features.detach().numpy(), rows.numpy(),
               weights.detach().numpy(), mag.numpy(), cross.numpy(), want_cross, k,
               _block(n_in), signs.numpy(), span.numpy(), use_starts, starts.numpy())
    return mag, cross if want_cross else None, (signs, span)


def fused_magnitudes_backward(rows: torch.Tensor, saved: tuple[torch.Tensor, ...],
                              scaled: torch.Tensor, grad_features: torch.Tensor,
                              parts: tuple[torch.Tensor, ...] | None = None) -> None:
    """Add ``sign(phi) scaled^T`` into ``grad_features[rows]`` in place (repeated rows
    add up), on the entries the spline basis's backward reads.

    ``rows``: the forward's rows (int64); ``saved``: the third value
    :func:`fused_magnitudes` returned with ``want_signs``; ``scaled``:
    (n_in, width, n_out) the weights times the magnitudes' gradient / rows;
    ``grad_features``: (batch, n_in, width) contiguous. With ``parts`` = (starts, dvals,
    dsilu) of :func:`~kanstudio.core.spline.spline_basis_parts` (the forward's ``starts``
    too), ``grad_features`` is the input's gradient (batch, n_in) instead, and what
    would go into a row's basis entries goes into it through their derivatives.
    """
    signs, span = saved
    if parts is None:  # the kernel's arguments it does not read in this mode
        starts = torch.empty(1, 1, dtype=torch.int32)
        dvals = torch.empty(1, 1, 1, dtype=scaled.dtype)
        dsilu = grad_x = torch.empty(1, 1, dtype=scaled.dtype)
    else:
        starts, dvals, dsilu = parts
        grad_x, grad_features = grad_features, torch.empty(1, 1, 1, dtype=scaled.dtype)
    run_locked(_state["kernels"][1], rows.to(torch.int64).contiguous().numpy(),
               signs.numpy(), span.numpy(), scaled.contiguous().numpy(),
               _block(scaled.shape[0]), grad_features.numpy(), parts is not None,
               starts.numpy(), dvals.numpy(), dsilu.numpy(), grad_x.numpy())
