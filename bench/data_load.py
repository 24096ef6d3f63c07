"""Benchmark: load a large CSV (default 1,000,000 rows x 10 numeric columns) with load_dataset.

Run by hand:  python bench/data_load.py [--rows N] [--columns C]

The file is written to a temporary folder, then loaded in a fresh child process so the peak
RSS it reports belongs to loading alone (not to generating the file). Printed figures:
load_dataset seconds, the same file through bare pandas.read_csv in the same process (the
ratio is what to compare across machines), and peak RSS against the RSS after imports.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_REPO_ROOT = Path(__file__).resolve().parents[1]


def _max_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def write_csv(path: Path, n_rows: int, n_columns: int, seed: int = 0) -> None:
    """Random numeric CSV with header c0..c{n-1}, 8 significant digits, written in chunks."""
    rng = np.random.default_rng(seed)
    header = ",".join(f"c{j}" for j in range(n_columns))
    chunk = 100_000
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(header + "\n")
        for start in range(0, n_rows, chunk):
            size = min(chunk, n_rows - start)
            block = rng.normal(scale=10.0, size=(size, n_columns))
            np.savetxt(handle, block, fmt="%.8g", delimiter=",")


def measure_load(path: Path) -> dict[str, float]:
    """Runs in the child process: time load_dataset, then bare pandas for reference."""
    import pandas as pd

    from kanstudio.data import load_dataset

    baseline = _max_rss_mib()
    start = time.perf_counter()
    dataset = load_dataset(path)
    load_seconds = time.perf_counter() - start
    peak = _max_rss_mib()
    shape = dataset.X.shape
    del dataset
    start = time.perf_counter()
    frame = pd.read_csv(path, engine="c")
    pandas_seconds = time.perf_counter() - start
    del frame
    return {
        "load_seconds": load_seconds,
        "pandas_seconds": pandas_seconds,
        "rss_after_imports_mib": baseline,
        "peak_rss_mib": peak,
        "rows": float(shape[0]),
        "inputs": float(shape[1]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure_load(args.measure)))
        return 0
    with tempfile.TemporaryDirectory(prefix="kanstudio-bench-") as folder:
        path = Path(folder) / "large.csv"
        start = time.perf_counter()
        write_csv(path, args.rows, args.columns)
        write_seconds = time.perf_counter() - start
        size_mib = path.stat().st_size / 2**20
        # The child imports kanstudio from this checkout even when it is not installed.
        python_path = os.pathsep.join(filter(None, [str(_REPO_ROOT), os.environ.get("PYTHONPATH")]))
        child = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--measure", str(path)],
            capture_output=True, text=True, check=False, cwd=_REPO_ROOT,
            env={**os.environ, "PYTHONPATH": python_path},
        )
    if child.returncode != 0:
        print(child.stderr, file=sys.stderr)
        return 1
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"file: {args.rows:,} rows x {args.columns} columns, {size_mib:.1f} MiB "
          f"(written in {write_seconds:.1f} s)")
    rows, inputs = int(figures["rows"]), int(figures["inputs"])
    print(f"load_dataset:       {figures['load_seconds']:.2f} s "
          f"-> X {rows:,} x {inputs}, y {rows:,} x 1")
    print(f"pandas.read_csv:    {figures['pandas_seconds']:.2f} s (same file, same process)")
    print(f"ratio load/pandas:  {figures['load_seconds'] / figures['pandas_seconds']:.2f}")
    print(f"peak RSS:           {figures['peak_rss_mib']:.0f} MiB "
          f"(after imports {figures['rss_after_imports_mib']:.0f} MiB, "
          f"increase {figures['peak_rss_mib'] - figures['rss_after_imports_mib']:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
