"""The fused CPU kernels compile once per machine: a new process (the app's worker at every
start, each ``kanstudio fit``, each law of a discovery benchmark) loads them from numba's
disk cache. While the penalty's kernels closed over a jitted helper, numba's cache key (a
pickle of the closure, different in every process) never matched, and every process spent
16-25 CPU-s of a 2-core machine compiling them again."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Loads (or compiles) every fused kernel, then prints per kernel: (name, signatures loaded
# from the disk cache, signatures compiled because the cache had none, the cache's folder).
SCRIPT = """
import json, torch
from kanstudio.core import fused_cpu, fused_magnitudes
assert fused_magnitudes.magnitudes_available(torch.zeros(1, 1, 2), torch.zeros(1, 2, 1))
kernels = list(fused_cpu._kernels()) + list(fused_magnitudes._kernels())
print(json.dumps([[k.py_func.__qualname__, sum(k.stats.cache_hits.values()),
                   sum(k.stats.cache_misses.values()), k.stats.cache_path] for k in kernels]))
"""


def _load_kernels() -> list[list]:
    env = {k: v for k, v in os.environ.items() if k != "KANSTUDIO_FUSED"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_new_process_loads_every_fused_kernel_from_the_disk_cache() -> None:
    pytest.importorskip("numba")
    first = _load_kernels()  # compiles what the cache lacks (nothing, on a warm machine)
    if not all(os.access(path, os.W_OK) for *_, path in first):
        pytest.skip("the kernels' cache folder is read-only here")
    # Other test processes may be compiling the same kernels and rewriting the cache's
    # index right now (a new clone, pytest-xdist): one more try. With a cache key that
    # differs per process, every try compiles.
    for _ in range(2):
        second = _load_kernels()
        assert len(second) == 6  # basis: general, backward, input gradient, cubic; penalty: 2
        compiled_again = [name for name, hits, misses, _ in second if misses or not hits]
        if not compiled_again:
            break
    assert not compiled_again, f"compiled again in a new process: {compiled_again}"
