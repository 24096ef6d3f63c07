"""The spline basis on the CPU as one fused pass (numba), with its analytic gradient.

The torch-op evaluation in :mod:`kanstudio.core.spline` is exact but walks the
``(batch, n_in)`` samples some fifteen times (interval search, a gather of every polynomial
plane, Horner steps, index arithmetic, a zero fill, a scatter), each pass a separate tensor
op. On a CPU that memory traffic, not arithmetic, is the cost of a KAN step. Here one
compiled loop does all of it per sample while the sample is in registers: the interval
lookup in the input's knot row, Horner's rule on the interval's ``k + 1`` polynomials of
the same table (:func:`~kanstudio.core.spline.interval_table`; unrolled for cubics), and
the whole dense row written once (zeros, the live values, the ``silu`` column). The
backward pass is one more loop.

numba is optional: without it (or if compiling fails, or on a GPU) the torch path runs.
``KANSTUDIO_FUSED=0`` in the environment turns this path off. Kernels compile on first use
and are cached on disk, so only the first use on a machine pays the compile (10-15 s on
two cores; loading from the cache takes well under a second).
"""

from __future__ import annotations

import os
import threading
import warnings

import torch

__all__ = ["fused_applies", "fused_available", "fused_basis", "input_gradient", "run_locked",
           "warm_up"]

# Rows per block of the cubic kernel (its per-node work runs across this many rows), and
# the longest knot row it takes (longer rows: the general kernel's bisection).
CHUNK = 64
CUBIC_KNOTS = 34

_lock = threading.Lock()  # numba's fallback "workqueue" thread pool is not reentrant
_state: dict[str, object] = {}  # "kernels": (forward, backward) or None once known absent


def _build(cache: bool):
    import numba
    import numpy as np

    # contract: multiply-adds (Horner's rule) become FMA instructions where the CPU has them
    jit = numba.njit(parallel=True, cache=cache, nogil=True, fastmath={"contract"})

    def forward(x, knots, table, k, nb, residual, want_grad, want_start, dense, dvals, start,
                dsilu):
        batch, n_in = x.shape
        n_knots = knots.shape[1]
        w = k + 1
        width = dense.shape[2]
        for b in numba.prange(batch):
            for i in range(n_in):
                out = dense[b, i]
                for m in range(width):
                    out[m] = 0.0
                xv = x[b, i]
                if residual:
                    sig = 1.0 / (1.0 + np.exp(-xv))
                    out[nb] = xv * sig
                    if want_grad:
                        dsilu[b, i] = sig * (1.0 + xv * (1.0 - sig))
                if not (xv >= knots[i, 0] and xv < knots[i, n_knots - 1]):  # NaN too
                    if want_start:
                        start[b, i] = -k - 1  # outside the grid: no live function
                    continue
                # The interval: the largest lo with t[lo] <= x. On a short row counting is
                # branch-free and twice as fast as bisection; long rows bisect.
                lo = 0
                if n_knots <= 34:
                    for m in range(1, n_knots - 1):
                        lo += knots[i, m] <= xv
                else:
                    hi = n_knots - 1
                    while hi - lo > 1:  # t[lo] <= x < t[hi]
                        mid = (lo + hi) >> 1
                        if knots[i, mid] <= xv:
                            lo = mid
                        else:
                            hi = mid
                row = table[i * n_knots + lo]  # the interval's tabulated values, contiguous
                u = (xv - row[0]) * row[1]
                first = lo - k
                if want_start:
                    start[b, i] = first
                if k == 3 and first >= 0 and first + 3 < nb:
                    # cubic splines away from the ends (nearly every sample), unrolled:
                    # P_p at 2 + 4p, D_p at 14 + 4p (p >= 1)
                    for r in range(4):
                        out[first + r] = (((row[14 + r] * u + row[10 + r]) * u + row[6 + r]) * u
                                          + row[2 + r])
                    if want_grad:
                        for r in range(4):
                            dvals[b, i, r] = (row[26 + r] * u + row[22 + r]) * u + row[18 + r]
                    continue
                for r in range(w):
                    v = row[2 + k * w + r]
                    for p in range(k - 1, -1, -1):
                        v = v * u + row[2 + p * w + r]
                    m = first + r
                    if m >= 0 and m < nb:
                        out[m] = v
                if want_grad:
                    base = 2 + w * w
                    for r in range(w):
                        dv = 0.0
                        if k > 0:
                            dv = row[base + (k - 1) * w + r]
                            for p in range(k - 2, -1, -1):
                                dv = dv * u + row[base + p * w + r]
                        dvals[b, i, r] = dv

    def backward(grad_dense, start, dvals, dsilu, k, nb, residual, grad_x):
        batch, n_in = grad_x.shape
        for b in numba.prange(batch):
            for i in range(n_in):
                acc = 0.0
                first = start[b, i]
                if first >= -k:
                    for r in range(k + 1):
                        m = first + r
                        if m >= 0 and m < nb:
                            acc += grad_dense[b, i, m] * dvals[b, i, r]
                if residual:
                    acc += grad_dense[b, i, nb] * dsilu[b, i]
                grad_x[b, i] = acc

    # The input gradient straight from the layer output's gradient, for a layer whose
    # product with the weights is fused with its basis (kanstudio.core.fused_layer): the
    # dense basis gradient ``grad_out @ weights^T`` (a (batch, n_in, nb + 1) tensor the
    # product would write and the backward above read) is needed only at each row's k + 1
    # live entries and the silu column, so those dot products are taken here instead.
    # reassoc lets the sums over the outputs vectorise.
    def weighted(grad_out, weights, start, dvals, dsilu, k, grad_x):
        batch, n_in = grad_x.shape
        nb = weights.shape[1] - 1  # the last weight row is the silu column's
        n_out = weights.shape[2]
        zero = np.zeros(1, dtype=weights.dtype)[0]
        for b in numba.prange(batch):
            for i in range(n_in):
                first = start[b, i]
                a_s = zero
                if k == 3 and first >= 0 and first + 3 < nb:  # nearly every cubic sample
                    a0 = zero
                    a1 = zero
                    a2 = zero
                    a3 = zero
                    for o in range(n_out):
                        g = grad_out[b, o]
                        a0 += weights[i, first, o] * g
                        a1 += weights[i, first + 1, o] * g
                        a2 += weights[i, first + 2, o] * g
                        a3 += weights[i, first + 3, o] * g
                        a_s += weights[i, nb, o] * g
                    acc = (a0 * dvals[b, i, 0] + a1 * dvals[b, i, 1] + a2 * dvals[b, i, 2]
                           + a3 * dvals[b, i, 3])
                else:
                    acc = zero
                    if first >= -k:
                        for r in range(k + 1):
                            m = first + r
                            if m >= 0 and m < nb:
                                a = zero
                                for o in range(n_out):
                                    a += weights[i, m, o] * grad_out[b, o]
                                acc += a * dvals[b, i, r]
                    for o in range(n_out):
                        a_s += weights[i, nb, o] * grad_out[b, o]
                grad_x[b, i] = acc + a_s * dsilu[b, i]

    # Cubic splines with the silu column on short knot rows (every default network): the
    # values of ``forward`` above, computed CHUNK rows at a time one input node after
    # another, so that the interval count and Horner's rule run across rows, where the
    # compiler can use SIMD lanes (the interval table gives the outside interval and every
    # function that does not exist as zeros, so nothing branches), then written out row
    # by row in memory order.
    def cubic(x, knots, table, nb, want_grad, want_start, dense, dvals, start, dsilu):
        batch, n_in = x.shape
        n_knots = knots.shape[1]
        for c in numba.prange((batch + CHUNK - 1) // CHUNK):
            b0 = c * CHUNK
            n = min(CHUNK, batch - b0)
            xt = np.empty((n_in, CHUNK), x.dtype)  # the block's rows, one node's together
            for r in range(n):
                for i in range(n_in):
                    xt[i, r] = x[b0 + r, i]
            lo = np.empty((n_in, CHUNK), np.int64)
            vals = np.empty((n_in, 4, CHUNK), dense.dtype)
            dv = np.empty((n_in, 4, CHUNK), dense.dtype)
            sig = np.empty((n_in, CHUNK), dense.dtype)
            for i in range(n_in):
                xs = xt[i, :n]
                li = lo[i]
                for r in range(n):
                    li[r] = 0
                for m in range(1, n_knots - 1):
                    t = knots[i, m]
                    for r in range(n):
                        li[r] += xs[r] >= t
                t0 = knots[i, 0]
                t1 = knots[i, n_knots - 1]
                for r in range(n):  # outside the grid (NaN too): the all-zero interval
                    li[r] = li[r] if (xs[r] >= t0) & (xs[r] < t1) else n_knots - 1
                vi = vals[i]
                di = dv[i]
                for r in range(n):
                    row = i * n_knots + li[r]  # P_p at 2 + 4p, D_p at 14 + 4p (p >= 1)
                    u = (xs[r] - table[row, 0]) * table[row, 1]
                    for q in range(4):
                        vi[q, r] = (((table[row, 14 + q] * u + table[row, 10 + q]) * u
                                     + table[row, 6 + q]) * u + table[row, 2 + q])
                        di[q, r] = ((table[row, 26 + q] * u + table[row, 22 + q]) * u
                                    + table[row, 18 + q])
                si = sig[i]
                for r in range(n):
                    si[r] = 1.0 / (1.0 + np.exp(-xs[r]))
            for r in range(n):
                b = b0 + r
                for i in range(n_in):
                    xv = xt[i, r]
                    s = sig[i, r]
                    for m in range(nb):
                        dense[b, i, m] = 0.0
                    dense[b, i, nb] = xv * s
                    first = lo[i, r] - 3
                    if want_start:
                        start[b, i] = first if first < n_knots - 4 else -4
                    if want_grad:
                        dsilu[b, i] = s * (1.0 + xv * (1.0 - s))
                        for q in range(4):
                            dvals[b, i, q] = dv[i, q, r]
                    for q in range(4):
                        m = first + q
                        if m >= 0 and m < nb:
                            dense[b, i, m] = vals[i, q, r]

    fast = numba.njit(parallel=True, cache=cache, nogil=True,
                      fastmath={"reassoc", "nsz", "contract"})
    return jit(forward), jit(backward), fast(weighted), jit(cubic)


def _smoke(kernels) -> None:
    """Compile (or load from the cache) every kernel for float32 and float64."""
    from kanstudio.core.knots import interval_table, uniform_knots

    for dtype in (torch.float32, torch.float64):
        knots = uniform_knots(torch.tensor([-1.0], dtype=dtype), torch.tensor([1.0], dtype=dtype),
                              3, 3)
        x = torch.tensor([[-0.5], [0.25], [2.0]], dtype=dtype)
        dense, (start, dvals, dsilu) = _run(kernels, x, knots, interval_table(knots, 3), 3,
                                            True, True)
        kernels[0](x.numpy(), knots.numpy(), interval_table(knots, 3).t().contiguous().numpy(),
                   3, dense.shape[2] - 1, True, True, True, dense.numpy(), dvals.numpy(),
                   start.numpy(), dsilu.numpy())  # (_run took the cubic kernel)
        grad_x = torch.empty(3, 1, dtype=dtype)
        kernels[1](dense.numpy(), start.numpy(), dvals.numpy(), dsilu.numpy(), 3,
                   dense.shape[2] - 1, True, grad_x.numpy())
        kernels[2](torch.ones(3, 2, dtype=dtype).numpy(), torch.ones(1, dense.shape[2], 2,
                   dtype=dtype).numpy(), start.numpy(), dvals.numpy(), dsilu.numpy(), 3,
                   grad_x.numpy())


def _kernels():
    if "kernels" in _state:
        return _state["kernels"]
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
                    _smoke(candidate)
                except Exception as exc:  # noqa: BLE001 - any failure means: use torch ops
                    if not cache:
                        warnings.warn(f"fused CPU spline kernel unavailable ({exc}); "
                                      "using the slower torch path", RuntimeWarning,
                                      stacklevel=3)
                    continue
                kernels = candidate
                break
    _state["kernels"] = kernels
    return kernels


def fused_available() -> bool:
    """Whether the fused CPU kernels are in use (compiles them on the first call)."""
    with _lock:
        return _kernels() is not None


def warm_up() -> threading.Thread:
    """Compile or load the kernels in a background thread (the worker calls this at start,
    so the first training step does not wait for the compiler)."""
    thread = threading.Thread(target=fused_available, name="kanstudio-fused-warm-up",
                              daemon=True)
    thread.start()
    return thread


def _use_torch_threads() -> None:
    import numba

    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def run_locked(kernel, *args):
    """Call a numba kernel under the lock every parallel kernel shares, on torch's thread
    count (other fused CPU kernels, e.g. the penalty's magnitudes, go through here)."""
    with _lock:
        _use_torch_threads()
        return kernel(*args)


def _run(kernels, x, knots, table, k, residual, want_grad, want_start=False):
    batch, n_in = x.shape
    nb = knots.shape[1] - k - 1
    dense = torch.empty(batch, n_in, nb + int(residual), dtype=x.dtype)
    shape = (batch, n_in) if want_grad else (1, 1)
    dvals = torch.empty(*shape, k + 1, dtype=x.dtype)
    keep_start = want_grad or want_start
    start = torch.empty((batch, n_in) if keep_start else (1, 1), dtype=torch.int32)
    dsilu = torch.empty(shape, dtype=x.dtype)
    _use_torch_threads()
    rows = table.t().contiguous()  # (n_in * K, F): one interval's values side by side
    if k == 3 and residual and knots.shape[1] <= CUBIC_KNOTS:
        kernels[3](x.numpy(), knots.numpy(), rows.numpy(), nb, want_grad,
                   keep_start, dense.numpy(), dvals.numpy(), start.numpy(), dsilu.numpy())
        return dense, (start, dvals, dsilu)
    kernels[0](x.numpy(), knots.numpy(), rows.numpy(), k, nb, residual, want_grad,
               keep_start, dense.numpy(), dvals.numpy(), start.numpy(), dsilu.numpy())
    return dense, (start, dvals, dsilu)


class _FusedBasis(torch.autograd.Function):
    """Same contract as ``spline._SplineBasis``: dense basis, gradient with respect to x;
    also each (row, input)'s first basis entry (``interval - k``; ``-k - 1`` outside the
    grid) when asked, or None."""

    @staticmethod
    def forward(ctx, x, knots, table, k, residual, want_start):  # type: ignore[override]
        want_grad = ctx.needs_input_grad[0]
        with _lock:
            dense, saved = _run(_state["kernels"], x.detach().contiguous(), knots,
                                table.contiguous(), k, residual, want_grad, want_start)
        if want_grad:
            ctx.save_for_backward(*saved)
        ctx.k, ctx.nb, ctx.residual = k, knots.shape[1] - k - 1, residual
        if not want_start:
            return dense, None
        ctx.mark_non_differentiable(saved[0])
        return dense, saved[0]

    @staticmethod
    def backward(ctx, grad_dense: torch.Tensor, _grad_start=None):  # type: ignore[override]
        start, dvals, dsilu = ctx.saved_tensors
        grad_x = torch.empty(start.shape, dtype=grad_dense.dtype)
        with _lock:
            _use_torch_threads()
            _state["kernels"][1](grad_dense.contiguous().numpy(), start.numpy(), dvals.numpy(),
                                 dsilu.numpy(), ctx.k, ctx.nb, ctx.residual, grad_x.numpy())
        return grad_x, None, None, None, None, None


def fused_applies(x, knots, table) -> bool:
    """Whether the fused kernels take these tensors (CPU, float32/64 alike; compiles the
    kernels on the first call)."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    if knots.dtype != x.dtype or table.dtype != x.dtype:
        return False
    if "kernels" not in _state:
        fused_available()  # compiles or loads them, once (waits for a warm-up under way)
    return _state["kernels"] is not None


def _parts(x, knots, table, k):
    with _lock:
        dense, (start, dvals, dsilu) = _run(_state["kernels"], x.detach().contiguous(),
                                            knots, table.contiguous(), k, True, True, True)
    return dense, start, dvals, dsilu


def input_gradient(grad_out, weights, start, dvals, dsilu, k):
    """d loss / d x (batch, n_in) of ``out = dense @ weights`` (weights
    (n_in, nb + 1, n_out), the silu column's last) from d loss / d out (batch, n_out)
    and the other values of :func:`fused_basis` with ``parts``."""
    grad_x = torch.empty(start.shape, dtype=grad_out.dtype)
    with _lock:
        _use_torch_threads()
        _state["kernels"][2](grad_out.contiguous().numpy(), weights.detach().contiguous().numpy(),
                             start.numpy(), dvals.numpy(), dsilu.numpy(), k, grad_x.numpy())
    return grad_x


def fused_basis(x, knots, table, k, residual, want_start=False, parts=False):
    """(dense basis, start) by the fused kernel, or None where it does not apply.
    ``start`` (batch, n_in) int32, with ``want_start`` (else None): each row and input's
    first basis entry, the one the sparsity penalty's fused kernel starts from.

    With ``parts`` (and ``residual``): no autograd, but what the basis's gradient needs,
    for a caller that owns the whole layer's gradient (:mod:`kanstudio.core.fused_layer`,
    which takes the input's with :func:`input_gradient`): (dense, start, dvals
    (batch, n_in, k + 1), dsilu (batch, n_in))."""
    if not fused_applies(x, knots, table):
        return None
    if parts:
        return _parts(x, knots, table, k)
    return _FusedBasis.apply(x, knots, table, k, residual, want_start)
