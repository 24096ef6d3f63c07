"""Training step time of KAN Studio's network against a plain MLP of the same size.

Protocol (issue #2): full batch, Adam, float32, CPU, 2 threads; one step is forward +
backward + optimiser step. For each configuration we time the KAN without and with the
sparsity regularisation (as ``fit`` computes it: the error on the whole batch, the edge
magnitudes on at most ``reg_rows`` = 2048 rows of it, taken from the same forward pass;
"reg/all" puts the penalty on every row), and a torch MLP (SiLU, two hidden layers of
equal width chosen to match the KAN's parameter count) in the same process, and print
ratios. Peak memory is the process's maximum resident set size growth. Then the same for
``KAN.fit`` itself (records, test loss, grid updates included), so the per-step overhead a
user feels is visible.

    python bench/train_speed.py [--threads 2] [--repeats 20]
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import time

import numpy as np
import torch
from torch import nn

from kanstudio.core import KANNetwork, TrainSettings

REG_ROWS = TrainSettings().reg_rows or 10**9

CONFIGS = [
    ("small", [2, 5, 1], 1000, 5),
    ("medium", [8, 32, 32, 1], 10000, 10),
    ("large", [64, 128, 128, 1], 4000, 10),
]


def mlp_like(n_in: int, n_params: int) -> nn.Module:
    """A 2-hidden-layer SiLU MLP whose parameter count is as close as possible to n_params."""
    # params = n_in*h + h + h*h + h + h + 1 -> solve h^2 + (n_in + 3) h + 1 - n_params = 0
    b = n_in + 3
    h = max(1, round((-b + math.sqrt(b * b + 4 * (n_params - 1))) / 2))
    return nn.Sequential(nn.Linear(n_in, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 1))


def time_steps(step, repeats: int) -> float:
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_config(name, width, rows, grid, repeats):
    torch.manual_seed(0)
    x = torch.rand(rows, width[0]) * 2 - 1
    y = torch.sin(x.sum(1, keepdim=True))
    kan = KANNetwork(width, grid_size=grid, k=3, seed=0)
    kan.update_grid(x)
    mlp = mlp_like(width[0], kan.n_parameters())
    n_mlp = sum(p.numel() for p in mlp.parameters())
    opt_k = torch.optim.Adam(kan.parameters(), lr=1e-3)
    opt_m = torch.optim.Adam(mlp.parameters(), lr=1e-3)

    def mlp_step():
        opt_m.zero_grad()
        loss = torch.mean((mlp(x) - y) ** 2)
        loss.backward()
        opt_m.step()

    def kan_step():
        opt_k.zero_grad()
        loss = torch.mean((kan(x) - y) ** 2)
        loss.backward()
        opt_k.step()

    gen = torch.Generator().manual_seed(0)

    def kan_reg_step():  # as fit() does it: penalty estimated on <= reg_rows rows per step
        opt_k.zero_grad()
        pick = torch.randperm(rows, generator=gen)[:REG_ROWS] if rows > REG_ROWS else None
        acts = kan.forward_activations(x, pick)  # one pass: output on all rows, edges on pick
        loss = torch.mean((acts.output - y) ** 2) + 1e-3 * kan.regularization(acts, 1.0, 2.0)
        loss.backward()
        opt_k.step()

    def kan_reg_all_step():  # the penalty on every row of the batch
        opt_k.zero_grad()
        acts = kan.forward_activations(x)
        loss = torch.mean((acts.output - y) ** 2) + 1e-3 * kan.regularization(acts, 1.0, 2.0)
        loss.backward()
        opt_k.step()

    rss0 = peak_rss_mb()
    t_mlp = time_steps(mlp_step, repeats)
    t_kan = time_steps(kan_step, repeats)
    rss1 = peak_rss_mb()
    t_reg = time_steps(kan_reg_step, repeats)
    t_reg_all = time_steps(kan_reg_all_step, max(3, repeats // 3))
    rss2 = peak_rss_mb()
    return {
        "name": name, "width": width, "rows": rows, "grid": grid,
        "kan_params": kan.n_parameters(), "mlp_params": n_mlp,
        "mlp_ms": t_mlp * 1e3, "kan_ms": t_kan * 1e3, "kan_reg_ms": t_reg * 1e3,
        "ratio": t_kan / t_mlp, "ratio_reg": t_reg / t_mlp, "ratio_reg_all": t_reg_all / t_mlp,
        "peak_mb": rss1 - rss0, "peak_reg_mb": rss2 - rss0,
    }


def bench_fit(width, rows, grid, steps, lamb):
    """Seconds per step of KAN.fit (Adam, float32, full batch) vs the bare core step."""
    from kanstudio import KAN

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (rows, width[0]))
    y = np.sin(X.sum(1))
    model = KAN(width=width, grid=grid, k=3, seed=0, device="cpu", dtype="float32")
    t0 = time.perf_counter()
    model.fit(X, y, steps=steps, opt="adam", lr=1e-3, lamb=lamb)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, Adam, CPU")
    print(f"{'config':8} {'width':>18} {'rows':>6} {'G':>3} {'params':>7} {'mlp ms':>8} "
          f"{'kan ms':>8} {'ratio':>6} {'+reg ms':>8} {'ratio':>6} {'reg/all':>7} "
          f"{'peakMB':>7}")
    results = []
    for name, width, rows, grid in CONFIGS:
        r = bench_config(name, width, rows, grid, args.repeats)
        results.append(r)
        print(f"{name:8} {str(width):>18} {rows:>6} {grid:>3} {r['kan_params']:>7} "
              f"{r['mlp_ms']:>8.2f} {r['kan_ms']:>8.2f} {r['ratio']:>5.2f}x "
              f"{r['kan_reg_ms']:>8.2f} {r['ratio_reg']:>5.2f}x {r['ratio_reg_all']:>6.2f}x "
              f"{r['peak_reg_mb']:>7.1f}")
    print("\nKAN.fit per-step time (records, test loss, grid updates) vs bare step:")
    for (name, width, rows, grid), r in zip(CONFIGS, results, strict=True):
        for lamb, bare in ((0.0, r["kan_ms"]), (1e-3, r["kan_reg_ms"])):
            per = bench_fit(width, rows, grid, 60, lamb) * 1e3
            print(f"  {name:8} lamb={lamb:<6} fit {per:8.2f} ms/step  bare {bare:8.2f} ms  "
                  f"overhead {per / bare:5.2f}x")


if __name__ == "__main__":
    main()
