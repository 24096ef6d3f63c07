"""Benchmark: rank the whole symbolic library against one edge's samples.

Run by hand:  python bench/symbolic_fit.py [--sizes 1000,10000,100000] [--repeats 3]

For each sample count, one edge curve (a noisy sine on unsorted x) goes through
``suggest_symbolic`` with every library function. Printed per size: wall seconds (best and
median of the repeats, after one warm-up call), the peak of Python/numpy allocations during
one call measured with tracemalloc (a separate call, since tracing slows it down), and the
top candidate as a sanity check. The target for 100,000 samples is < 1 s and < 200 MB.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc

import numpy as np

from kanstudio.symbolic.fitting import suggest_symbolic
from kanstudio.symbolic.library import LIBRARY

TARGET_SECONDS = 1.0
TARGET_PEAK_MB = 200.0


def edge_samples(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n,) x uniform on [-3, 3] (unsorted) and y = 1.2 sin(1.7 x + 0.4) + 0.1 + 1% noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3.0, 3.0, n)
    y = 1.2 * np.sin(1.7 * x + 0.4) + 0.1
    return x, y + 0.01 * y.std() * rng.standard_normal(n)


def measure(n: int, repeats: int) -> dict[str, object]:
    """Wall times, tracemalloc peak and the winner for one sample count."""
    x, y = edge_samples(n)
    suggest_symbolic(x, y)  # warm-up: first calls pay for lazy imports and caches
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fits = suggest_symbolic(x, y)
        seconds.append(time.perf_counter() - start)
    tracemalloc.start()
    suggest_symbolic(x, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "n": n,
        "best": min(seconds),
        "median": statistics.median(seconds),
        "peak_mb": peak / 1e6,
        "top": f"{fits[0].name} (R²={fits[0].r2:.6f})",
    }


def _max_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="comma-separated sample counts")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [int(part) for part in args.sizes.split(",") if part.strip()]

    print(f"suggest_symbolic over the full library ({len(LIBRARY)} functions), "
          f"{args.repeats} timed calls per size")
    print(f"{'samples':>9} {'best s':>8} {'median s':>9} {'peak MB':>8}  top candidate")
    rows = [measure(n, args.repeats) for n in sizes]
    for row in rows:
        print(f"{row['n']:>9,} {row['best']:>8.3f} {row['median']:>9.3f} "
              f"{row['peak_mb']:>8.1f}  {row['top']}")
    print(f"process peak RSS: {_max_rss_mib():.0f} MiB (includes numpy, scipy, sympy, torch)")
    largest = max(rows, key=lambda row: row["n"])
    within = largest["median"] < TARGET_SECONDS and largest["peak_mb"] < TARGET_PEAK_MB
    print(f"target at {largest['n']:,} samples (< {TARGET_SECONDS:g} s median, "
          f"< {TARGET_PEAK_MB:g} MB traced): {'met' if within else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
