"""Check the CUDA path end to end and time it (run on a machine with a GPU).

    PYTHONPATH=. python bench/cuda_check.py

1. ``device="auto"`` picks CUDA; a KAN trains on exp(sin(pi x) + y^2) there and matches the
   same training on the CPU; refine, prune, curves, symbolic locking, formula and
   save/load all run on the GPU model.
2. Step time (forward + backward + Adam, float32, full batch) of the three bench
   configurations on the GPU, as a ratio to an MLP of the same size on the same GPU.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))

from train_speed import CONFIGS, mlp_like

from kanstudio import KAN
from kanstudio.core import KANNetwork, resolve_device


def cuda_timer(step, repeats=30) -> float:
    for _ in range(5):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
          torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
    print("auto ->", resolve_device("auto"))
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (2000, 2))
    y = np.exp(np.sin(np.pi * X[:, 0]) + X[:, 1] ** 2)
    results = {}
    for device in ("cpu", "cuda"):
        t0 = time.perf_counter()
        m = KAN([2, 5, 1], grid=5, seed=0, device=device).fit(X, y, steps=30, lamb=0.0)
        results[device] = (m, time.perf_counter() - t0)
        print(f"fit on {device}: {results[device][1]:.2f} s, test RMSE "
              f"{m.history_[-1].test_loss:.2e}, model on {m.network_.device}")
    diff = np.abs(results["cpu"][0].predict(X) - results["cuda"][0].predict(X)).max()
    print(f"max |cpu - cuda| prediction difference after 30 LBFGS steps: {diff:.2e}")
    m = results["cuda"][0]
    fine = m.refine(10)
    print("refine keeps predictions:", np.abs(fine.predict(X) - m.predict(X)).max())
    fine.fit(X, y, steps=20)
    print("after refine + 20 steps, test RMSE:", fine.history_[-1].test_loss)
    small = fine.prune()
    print("pruned width:", small.width_)
    curves = small.edge_curves(64)
    print("edge curves:", [c.shape for c in curves.y], curves.y[0].dtype)
    best = small.suggest_symbolic(0, 0, 0)[:3]
    print("suggest (0,0,0):", [(c.name, round(c.r2, 5)) for c in best])
    small.auto_symbolic(0.0)
    small.fit(X, y, steps=20, update_grid=False)
    print("formula:", small.formula(["x", "y"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.kstudio")
        small.save(path)
        back = KAN.load(path, device="cuda")
        print("save/load identical:", np.array_equal(back.predict(X), small.predict(X)))

    print("\nGPU step time, float32, Adam, full batch (ratio to an MLP of equal size):")
    for name, width, rows, grid in CONFIGS + [("big-batch", [8, 32, 32, 1], 200000, 10)]:
        dev = torch.device("cuda")
        x = torch.rand(rows, width[0], device=dev) * 2 - 1
        yt = torch.sin(x.sum(1, keepdim=True))
        kan = KANNetwork(width, grid_size=grid, seed=0).to(dev)
        kan.update_grid(x)
        mlp = mlp_like(width[0], kan.n_parameters()).to(dev)
        ok = torch.optim.Adam(kan.parameters(), 1e-3)
        om = torch.optim.Adam(mlp.parameters(), 1e-3)

        def step(model, opt, reg=False, x=x, yt=yt):
            opt.zero_grad()
            if reg:
                acts = model.forward_activations(x)
                loss = torch.mean((acts.output - yt) ** 2) + 1e-3 * model.regularization(acts)
            else:
                loss = torch.mean((model(x) - yt) ** 2)
            loss.backward()
            opt.step()

        t_m = cuda_timer(lambda m=mlp, o=om: step(m, o))
        t_k = cuda_timer(lambda m=kan, o=ok: step(m, o))
        t_r = cuda_timer(lambda m=kan, o=ok: step(m, o, True))
        print(f"  {name:9} {str(width):18} rows {rows:>6}: mlp {t_m * 1e3:6.2f} ms, kan "
              f"{t_k * 1e3:6.2f} ms ({t_k / t_m:4.1f}x), kan+reg {t_r * 1e3:6.2f} ms "
              f"({t_r / t_m:4.1f}x)")


if __name__ == "__main__":
    main()
