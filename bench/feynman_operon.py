"""Operon alone on one CSV: the peer that ``bench/feynman.py --tool operon`` runs.

    python bench/feynman_operon.py DATA.csv --target y --out result.json [--time-limit 60]

Runs pyoperon's ``SymbolicRegressor`` (pip install pyoperon==0.6.2) on the raw rows with a
wall-clock budget, takes the knee of its accuracy-complexity front (``feynman_score.knee_index``
on training MSE against Operon's complexity) and writes a JSON shaped like ``kanstudio fit``'s:
``formula`` (placeholders ``opv0_``, ``opv1_``, ... for the columns), ``symbols`` (placeholder ->
column), ``inputs``, ``seconds``, plus the whole ``pareto`` front. Exit codes as the CLI: 0 done,
2 bad input or pyoperon missing (one line on stderr), 1 anything else.

Settings (documented here, the one place): operators add, sub, mul, div, square, sqrt, exp, log,
sin, cos with constants; objectives R² and length (a real front); one thread (this benchmark's
machines have two shared cores); population and generations left large so that the time budget is
what stops it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from feynman_score import knee_index

OPERATORS = "add,sub,mul,div,square,sqrt,exp,log,sin,cos,constant,variable"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--target", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--time-limit", type=int, default=60, help="seconds (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        from pyoperon.sklearn import SymbolicRegressor
    except ImportError:
        print("feynman_operon: pyoperon is not installed; run 'pip install pyoperon==0.6.2'",
              file=sys.stderr)
        return 2
    path = Path(args.data)
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    if args.target not in header:
        print(f"feynman_operon: no column {args.target!r} in {path}", file=sys.stderr)
        return 2
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    columns = [c for c in header if c != args.target]
    x = table[:, [header.index(c) for c in columns]]
    y = table[:, header.index(args.target)]

    start = time.perf_counter()
    model = SymbolicRegressor(
        allowed_symbols=OPERATORS, objectives=["r2", "length"], max_time=args.time_limit,
        generations=10**9, max_evaluations=10**12, n_threads=args.threads,
        random_state=args.seed,
    )
    model.fit(x, y)
    seconds = time.perf_counter() - start

    placeholders = [f"opv{i}_" for i in range(len(columns))]
    front = [{"formula": model.get_model_string(m["tree"], 16, placeholders),
              "complexity": int(m["complexity"]), "mse": float(m["mean_squared_error"])}
             for m in model.pareto_front_]
    front.sort(key=lambda m: (m["complexity"], m["mse"]))
    chosen = front[knee_index([m["complexity"] for m in front], [m["mse"] for m in front])]
    payload = {
        "formula": chosen["formula"],
        "symbols": [{"name": p, "column": c} for p, c in zip(placeholders, columns, strict=True)],
        "inputs": columns, "target": args.target, "seconds": round(seconds, 3),
        "complexity": chosen["complexity"], "pareto": front, "tool": "operon",
    }
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"{args.target} = {chosen['formula']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
