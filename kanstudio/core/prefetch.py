"""A software prefetch for numba kernels that walk sampled rows of a large array.

The sparsity penalty's kernels (:mod:`kanstudio.core.fused_magnitudes`) visit a random
sample of the batch's rows, in order: the hardware prefetchers cannot guess the next row,
so every visit waits for memory (on the medium benchmark network's last layer, sampled
rows took twice as long as the same number of consecutive ones). ``prefetch(flat, start,
count)`` asks for the cache lines of ``flat[start:start + count]`` a few rows ahead; it
changes no value and, unlike a load, never waits.

Imported only where numba is (the kernels import it while they compile).
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

LINE = 64  # bytes in a cache line (x86-64 and the Apple/ARM cores numba targets alike)


@intrinsic
def _prefetch_at(typingctx, flat, index):
    """One ``llvm.prefetch`` (read, keep in every cache level) of the line holding
    ``flat[index]``; ``flat`` a 1-D array, ``index`` in range."""
    sig = types.void(flat, types.intp)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        byte = ir.IntType(8).as_pointer()
        address = builder.bitcast(builder.gep(array.data, [args[1]]), byte)
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]),
            "llvm.prefetch")
        # read (0), keep everywhere (locality 3), data cache (1)
        builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(inline="always")
def prefetch(flat, start, count):
    """Ask for the cache lines of ``flat[start:start + count]`` (``count >= 1``, in range)."""
    step = max(1, LINE // flat.itemsize)
    end = start + count
    at = start
    while at < end:
        _prefetch_at(flat, at)
        at += step
    _prefetch_at(flat, end - 1)  # the last line, where the steps stepped past its start
