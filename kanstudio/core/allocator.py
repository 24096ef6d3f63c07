"""Keep freed tensor memory in the process for the next training step (glibc only).

A full-batch step on the CPU allocates the same large tensors every time (the dense spline
basis, its gradient, the products' outputs: tens of MB each). glibc hands a large freed
block back to the kernel (``munmap``, or trimming the heap once its free top exceeds
twice the last such block), so the next step faults in fresh pages for each tensor: about
3 ms of a 4 ms zero fill for an 18 MB basis here, 12-18 % of a medium or large network's
step (``python bench/train_speed.py`` against ``--allocator default``). Raising the mmap
and trim thresholds keeps those blocks in the heap for reuse; the process holds its peak
memory instead of returning it between steps.

Only KAN Studio's own processes call this (the worker, the command line, sweep jobs):
:class:`~kanstudio.model.KAN` used from someone else's program leaves their allocator
alone. Elsewhere than glibc (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Largest first: older glibc refuses an mmap threshold above 32 MiB on 64-bit systems.
_MMAP_THRESHOLDS = (1 << 30, 32 << 20)
_TRIM_THRESHOLD = 1 << 30

_done: list[bool] = []


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; whether it took effect."""
    if _done:
        return _done[0]
    ok = False
    if platform.libc_ver()[0] == "glibc":
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            ok = any(libc.mallopt(_M_MMAP_THRESHOLD, value) == 1 for value in _MMAP_THRESHOLDS)
            ok = ok and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
        except (OSError, AttributeError):
            ok = False
    _done.append(ok)
    return ok
