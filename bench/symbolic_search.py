"""Symbolic search (kanstudio.symbolic.search): seconds and exact recovery on small laws.

    PYTHONPATH=. nice -n 10 python bench/symbolic_search.py [--budgets small,medium]
        [--seeds 0,1] [--threads 1] [--only NAME]

Per law, budget and seed: wall and CPU seconds of the whole search (engine plus the
engine-neutral constant refit, snapping and scoring), whether the front holds the truth
exactly (no float left and equal to 1e-9 on fresh points), and the best R² on the data.
500 rows (200 for 1-D curves), clean unless ``--noise 0.01`` adds Gaussian noise of 1 % of
the target's standard deviation. On a shared machine wall time is mostly waiting; CPU time
is what the budget costs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import sympy

from kanstudio.symbolic.search import evaluate_tree, parse_tree, search

LAWS = {
    # name: (truth over x0, x1, ... , input ranges)
    "prod_sin": ("x0*x1 + sin(x0)", [(-2, 2), (-2, 2)]),
    "sqrt_curve": ("sqrt(x0**2 + 1)", [(-3, 3)]),
    "gauss_curve": ("exp(-x0**2/2)", [(-3, 3)]),
    "coulomb": ("x0*x1/x2**2", [(1, 5), (1, 5), (1, 5)]),
    "damped": ("x0*exp(-x1/2)", [(0, 3), (0, 3)]),
}


def _data(text: str, ranges: list[tuple[float, float]], n: int, seed: int):
    names = [f"x{i}" for i in range(len(ranges))]
    truth_tree = parse_tree(text, names)
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(lo, hi, n) for lo, hi in ranges])
    return truth_tree, names, X, evaluate_tree(truth_tree, X)


def _exact(result, truth_tree, names, ranges) -> bool:
    """No float left, and equal to the truth symbolically or to 1e-9 on fresh points."""
    if result.expression.has(sympy.Float):
        return False
    rng = np.random.default_rng(99)
    X = np.column_stack([rng.uniform(lo, hi, 200) for lo, hi in ranges])
    got, want = result.predict(X), evaluate_tree(truth_tree, X)
    return bool(np.all(np.abs(got - want) <= 1e-9 * (1 + np.abs(want))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="small,medium")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default=None)
    ap.add_argument("--noise", type=float, default=0.0,
                    help="Gaussian noise, as a fraction of the target's standard deviation")
    args = ap.parse_args()
    rows = []
    for name, (text, ranges) in LAWS.items():
        if args.only and name != args.only:
            continue
        n = 200 if len(ranges) == 1 else 500
        truth_tree, names, X, y = _data(text, ranges, n, seed=0)
        if args.noise:
            y = y + args.noise * np.std(y) * np.random.default_rng(1).standard_normal(n)
        for budget in args.budgets.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                wall, cpu = time.perf_counter(), time.process_time()
                front = search(X, y, budget, seed=seed, threads=args.threads, names=names)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                exact = [r for r in front if _exact(r, truth_tree, names, ranges)]
                best = max(r.r2 for r in front)
                shown = exact[0].expression if exact else front[-1].display
                rows.append((name, budget, seed, wall, cpu, bool(exact), best))
                print(f"{name:12s} {budget:7s} seed={seed} wall={wall:6.1f}s cpu={cpu:5.1f}s "
                      f"exact={'yes' if exact else 'no ':3s} best_r2={best:.9f}  {shown}",
                      flush=True)
    for budget in args.budgets.split(","):
        sel = [r for r in rows if r[1] == budget]
        if sel:
            print(f"{budget}: exact {sum(r[5] for r in sel)}/{len(sel)}, median cpu "
                  f"{np.median([r[4] for r in sel]):.1f}s, median wall "
                  f"{np.median([r[3] for r in sel]):.1f}s")


if __name__ == "__main__":
    main()
