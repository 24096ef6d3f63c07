"""Training step time of KAN Studio's network against a plain MLP of the same size.

Protocol (issue #2): full batch, Adam, float32, CPU, 2 threads; one step is forward +
backward + optimiser step. For each configuration we time the KAN without and with the
sparsity regularisation (as ``fit`` computes it: the error on the whole batch, the edge
magnitudes on at most ``reg_rows`` = 2048 rows of it, taken from the same forward pass;
"reg/all" puts the penalty on every row), and a torch MLP (SiLU, two hidden layers of
equal width chosen to match the KAN's parameter count) in the same process, in turns of a
few steps each (medians), so that load which comes and goes on a busy machine slows them
alike, and print ratios. Peak memory is the process's maximum resident set size growth.
Then the same for ``KAN.fit`` itself (records, test loss, grid updates included), so the
per-step overhead a user feels is visible.

Every KAN figure is given for both paths, in the same run: "fused" (the numba CPU
kernels: the spline basis and the penalty's edge magnitudes) and "torch" (plain tensor
ops, what runs where numba is absent or ``KANSTUDIO_FUSED=0``). Also in the same run:

* the default user path: ``KAN.fit`` with its defaults (float64, L-BFGS, grid updates on)
  against the same-size MLP trained by torch's L-BFGS with the same settings (float64,
  20 iterations per step, strong Wolfe line search), seconds per step as a ratio;
* a product-node layer against a sum layer with the same edges (``n -> [0, m/2]`` with
  arity 2 against ``n -> m``): the cost of the multiplication itself (target <= 1.5x).

Memory is allocated as in KAN Studio's own processes (the app's worker, ``kanstudio fit``):
freed tensor blocks stay in the process for the next step
(:func:`kanstudio.core.allocator.keep_freed_memory`); ``--allocator default`` leaves
glibc's defaults, as in someone else's program using the API. The MLP runs under the same
allocator either way.

    python bench/train_speed.py [--threads 2] [--repeats 20] [--configs small,medium,large]
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

import kanstudio.core.fused_magnitudes as magnitudes_module
import kanstudio.core.spline as spline_module
from kanstudio.core import KANLayer, KANNetwork, TrainSettings
from kanstudio.core.allocator import keep_freed_memory

_FUSED_BASIS = spline_module.fused_basis
_FUSED_MAGNITUDES = magnitudes_module.magnitudes_available


def use_path(path: str) -> None:
    """Route the spline basis and the penalty's magnitudes through the fused kernels or
    plain torch ops."""
    spline_module.fused_basis = _FUSED_BASIS if path == "fused" else (lambda *a: None)
    magnitudes_module.magnitudes_available = (_FUSED_MAGNITUDES if path == "fused"
                                              else (lambda *a: False))

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


def time_round_robin(steps, repeats: int, block: int = 5) -> list[float]:
    """Median seconds of each step, taken in turns of ``block`` consecutive steps until
    each has run ``repeats`` times: load that comes and goes on a busy machine slows every
    step alike, and all but the first step of a turn find the caches as a training loop
    leaves them (one step at a time in turn would time every step on cold caches)."""
    for step in steps:
        for _ in range(3):
            step()
    times: list[list[float]] = [[] for _ in steps]
    while len(times[0]) < repeats:
        for k, step in enumerate(steps):
            for _ in range(min(block, repeats - len(times[k]))):
                t0 = time.perf_counter()
                step()
                times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


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
        out, mags = kan.forward_magnitudes(x, pick)  # one pass: output all rows, |phi| on pick
        loss = torch.mean((out - y) ** 2) + 1e-3 * kan.penalty(mags, 1.0, 2.0)
        loss.backward()
        opt_k.step()

    def kan_reg_all_step():  # the penalty on every row of the batch
        opt_k.zero_grad()
        out, mags = kan.forward_magnitudes(x)
        loss = torch.mean((out - y) ** 2) + 1e-3 * kan.penalty(mags, 1.0, 2.0)
        loss.backward()
        opt_k.step()

    # Memory first (the peaks come from the first steps), then the times round-robin:
    # load that comes and goes on a busy machine slows every step alike, so the ratios hold.
    rss0 = peak_rss_mb()
    for step in (mlp_step, kan_step):
        step()
    rss1 = peak_rss_mb()
    kan_reg_step()
    kan_reg_all_step()
    rss2 = peak_rss_mb()
    t_mlp, t_kan, t_reg = time_round_robin((mlp_step, kan_step, kan_reg_step), repeats)
    t_reg_all = time_steps(kan_reg_all_step, max(3, repeats // 3))
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


def bench_default_path(width, rows, grid, steps):
    """(KAN.fit with its defaults, same-size MLP under torch L-BFGS): seconds per step."""
    from kanstudio import KAN

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (rows, width[0]))
    y = np.sin(X.sum(1))
    model = KAN(width=width, grid=grid, seed=0, device="cpu")  # float64, L-BFGS, grids on
    t0 = time.perf_counter()
    model.fit(X, y, steps=steps, test_size=0.0)
    t_kan = (time.perf_counter() - t0) / steps
    torch.manual_seed(0)
    mlp = mlp_like(width[0], model.n_parameters()).double()
    xt, yt = torch.as_tensor(X), torch.as_tensor(y)[:, None]
    opt = torch.optim.LBFGS(mlp.parameters(), lr=1.0, max_iter=20, history_size=10,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-32,
                            tolerance_change=1e-32)

    def closure():
        opt.zero_grad()
        loss = torch.mean((mlp(xt) - yt) ** 2)
        loss.backward()
        return loss

    t0 = time.perf_counter()
    for _ in range(steps):
        opt.step(closure)
    return t_kan, (time.perf_counter() - t0) / steps


def bench_product_layer(n_in, columns, rows, repeats):
    """(product layer ms, sum layer ms): n_in -> [0, columns/2] (arity 2) vs n_in -> columns,
    the same edges; forward + backward + Adam step, float32, medians of round-robin runs."""
    torch.manual_seed(0)
    x = torch.rand(rows, n_in) * 2 - 1
    steps = []
    for layer in (KANLayer(n_in, 0, mult_arity=(2,) * (columns // 2)),
                  KANLayer(n_in, columns)):
        layer.update_grid(x)
        opt = torch.optim.Adam(layer.parameters(), lr=1e-3)

        def step(layer=layer, opt=opt):
            opt.zero_grad()
            loss = (layer(x) ** 2).mean()
            loss.backward()
            opt.step()

        steps.append(step)
    return [t * 1e3 for t in time_round_robin(steps, repeats)]


def bench_penalty_paths(width, rows, grid, repeats):
    """Medians (ms) of the MLP step, the KAN step with the penalty computed the per-edge way
    (``forward_activations`` + ``regularization``: autograd of abs/mean over every
    (row, edge)), and the one-pass way ``fit`` uses (``forward_magnitudes`` + ``penalty``),
    measured round-robin so that a busy machine slows all three alike."""
    torch.manual_seed(0)
    x = torch.rand(rows, width[0]) * 2 - 1
    y = torch.sin(x.sum(1, keepdim=True))
    kan = KANNetwork(width, grid_size=grid, k=3, seed=0)
    kan.update_grid(x)
    mlp = mlp_like(width[0], kan.n_parameters())
    opt_k = torch.optim.Adam(kan.parameters(), lr=1e-3)
    opt_m = torch.optim.Adam(mlp.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def pick():
        return torch.randperm(rows, generator=gen)[:REG_ROWS] if rows > REG_ROWS else None

    def mlp_step():
        opt_m.zero_grad()
        torch.mean((mlp(x) - y) ** 2).backward()
        opt_m.step()

    def per_edge_step():
        opt_k.zero_grad()
        acts = kan.forward_activations(x, pick())
        loss = torch.mean((acts.output - y) ** 2) + 1e-3 * kan.regularization(acts, 1.0, 2.0)
        loss.backward()
        opt_k.step()

    def one_pass_step():
        opt_k.zero_grad()
        out, mags = kan.forward_magnitudes(x, pick())
        loss = torch.mean((out - y) ** 2) + 1e-3 * kan.penalty(mags, 1.0, 2.0)
        loss.backward()
        opt_k.step()

    steps = (mlp_step, per_edge_step, one_pass_step)
    return [t * 1e3 for t in time_round_robin(steps, repeats)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--configs", default="small,medium,large")
    parser.add_argument("--fit-steps", type=int, default=20)
    parser.add_argument("--paths", default="fused,torch", help="basis paths to time")
    parser.add_argument("--parts", default="table,fit,default,product,penalty",
                        help="which parts to run (comma-separated)")
    parser.add_argument("--allocator", choices=("app", "default"), default="app",
                        help="app: freed memory kept for reuse, as KAN Studio's processes "
                             "run; default: glibc's own thresholds")
    args = parser.parse_args()
    kept = args.allocator == "app" and keep_freed_memory()
    parts = set(args.parts.split(","))
    paths = tuple(args.paths.split(","))
    torch.set_num_threads(args.threads)
    configs = [c for c in CONFIGS if c[0] in args.configs.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, Adam, CPU, "
          f"allocator: {'freed memory kept' if kept else 'default'}")
    if parts & {"table", "fit"}:
        print(f"{'path':6} {'config':8} {'width':>18} {'rows':>6} {'G':>3} {'params':>7} "
              f"{'mlp ms':>8} {'kan ms':>8} {'ratio':>6} {'+reg ms':>8} {'ratio':>6} "
              f"{'reg/all':>7} {'peakMB':>7}")
    results = {}
    for path in paths if parts & {"table", "fit"} else ():
        use_path(path)
        for name, width, rows, grid in configs:
            r = bench_config(name, width, rows, grid, args.repeats)
            results[path, name] = r
            print(f"{path:6} {name:8} {str(width):>18} {rows:>6} {grid:>3} "
                  f"{r['kan_params']:>7} {r['mlp_ms']:>8.2f} {r['kan_ms']:>8.2f} "
                  f"{r['ratio']:>5.2f}x {r['kan_reg_ms']:>8.2f} {r['ratio_reg']:>5.2f}x "
                  f"{r['ratio_reg_all']:>6.2f}x {r['peak_reg_mb']:>7.1f}", flush=True)
    use_path("fused")
    if "penalty" in parts:
        print("\nSparsity penalty, per-edge autograd vs one pass (in turns with the MLP):")
        for path in paths:
            use_path(path)
            for name, width, rows, grid in configs:
                t_mlp, t_old, t_new = bench_penalty_paths(width, rows, grid, args.repeats)
                print(f"  {path:6} {name:8} mlp {t_mlp:9.2f} ms  per-edge {t_old:9.2f} ms "
                      f"({t_old / t_mlp:5.2f}x)  one-pass {t_new:9.2f} ms "
                      f"({t_new / t_mlp:5.2f}x)", flush=True)
        use_path("fused")
    if "fit" in parts:
        print("\nKAN.fit per-step time (Adam, float32; records, test loss, grid updates) vs bare "
              "step (fused path):")
    for name, width, rows, grid in configs if "fit" in parts else ():
        r = results["fused", name]
        for lamb, bare in ((0.0, r["kan_ms"]), (1e-3, r["kan_reg_ms"])):
            per = bench_fit(width, rows, grid, 3 * args.fit_steps, lamb) * 1e3
            print(f"  {name:8} lamb={lamb:<6} fit {per:8.2f} ms/step  bare {bare:8.2f} ms  "
                  f"overhead {per / bare:5.2f}x", flush=True)
    if "default" in parts:
        print("\nDefault user path: KAN.fit defaults (float64, L-BFGS, grid updates on) vs the "
              "same-size MLP under torch L-BFGS (float64), per step:")
    for path in paths if "default" in parts else ():
        use_path(path)
        for name, width, rows, grid in configs:
            if name == "large":
                continue  # minutes per L-BFGS step on two cores; small and medium tell it
            t_kan, t_mlp = bench_default_path(width, rows, grid, args.fit_steps)
            print(f"  {path:6} {name:8} kan {t_kan * 1e3:9.1f} ms  mlp {t_mlp * 1e3:9.1f} ms"
                  f"  ratio {t_kan / t_mlp:5.2f}x", flush=True)
    if "product" in parts:
        print("\nProduct-node layer vs sum layer of the same edges (32 -> [0, 64] vs 32 -> 128, "
              "10k rows, float32, Adam):")
    for path in paths if "product" in parts else ():
        use_path(path)
        t_prod, t_sum = bench_product_layer(32, 128, 10000, args.repeats)
        print(f"  {path:6} product {t_prod:8.2f} ms  sum {t_sum:8.2f} ms  "
              f"ratio {t_prod / t_sum:5.2f}x", flush=True)
    use_path("fused")


if __name__ == "__main__":
    main()
