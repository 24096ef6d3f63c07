"""Benchmark: a sweep of seeds on 1 vs 2 local worker processes, and what that predicts for a
cluster.

Run by hand:  python bench/sweep.py [--data sample_datasets/toy_sin.csv] [--seeds 8]
              [--full] [--nodes 16 --cores-per-node 16 --equations 120]

Printed figures:
* wall time of ``--seeds`` discoveries (the ``kanstudio sweep`` local backend) with 1 and with
  2 processes of one thread each, the speed-up and its efficiency (speed-up / processes);
* each worker's peak RSS (what a node must hold per core);
* the per-job cost (median wall and CPU seconds after each worker's first job, which also
  pays the first discovery's warm-up) and a worker's start-up;
* Ray's own cost per task where Ray is installed (a local instance: no-op tasks, throughput
  and one round trip), otherwise an assumed 1 ms;
* an estimate on paper of ``--equations`` x ``--seeds`` jobs on ``--nodes`` nodes of
  ``--cores-per-node`` cores: waves of jobs, each job's cost plus Ray's per-task cost.

By default the pipeline is shrunk (few steps per stage, as tests/cli/test_sweep.py does) so
the run takes minutes on a laptop; ``--full`` uses the default pipeline. A busy machine
inflates every wall-clock figure, and where the kernel groups a session's processes into one
scheduling entity (Linux autogroup) more processes do not get more of a shared machine: then
the CPU seconds per job (1 vs 2 processes) are the figure that says whether workers get in
each other's way.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_REPO_ROOT))

from kanstudio.session.pipeline import PipelineSettings  # noqa: E402
from kanstudio.sweep.backends import local_rows  # noqa: E402
from kanstudio.sweep.command import expand_jobs  # noqa: E402
from kanstudio.sweep.machine import available_cores  # noqa: E402

# the shrunken pipeline (as tests/cli/test_sweep.py's FAST)
SMALL = {"starts": 1, "after_prune_steps": 1, "refine_steps": 2, "fine_tune_steps": 3,
         "trial_steps": 1, "alternatives": 0}


def timed_sweep(jobs: list, processes: int) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    rows = list(local_rows(jobs, processes, threads=1))
    return time.perf_counter() - start, rows


def ray_task_cost(n_tasks: int = 200) -> tuple[float, float] | None:
    """(seconds per no-op task at full throughput, one task's round trip) on a local Ray."""
    try:
        import ray
    except ImportError:
        return None
    ray.init(address="local", include_dashboard=False, num_cpus=2, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    try:
        noop = ray.remote(lambda: None).options(num_cpus=1)
        ray.get([noop.remote() for _ in range(20)])  # workers started and warm
        start = time.perf_counter()
        ray.get([noop.remote() for _ in range(n_tasks)])
        per_task = (time.perf_counter() - start) / n_tasks
        start = time.perf_counter()
        ray.get(noop.remote())
        return per_task, time.perf_counter() - start
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(_REPO_ROOT / "sample_datasets" / "toy_sin.csv"))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--full", action="store_true", help="the default (unshrunk) pipeline")
    parser.add_argument("--equations", type=int, default=120)
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--cores-per-node", type=int, default=16)
    parser.add_argument("--job-seconds", type=float,
                        help="per-job cost for the estimate (default: the one measured here)")
    args = parser.parse_args()

    jobs = expand_jobs([args.data], [None], [None], [5], range(args.seeds), k=3, steps=None,
                       lamb=None, lib=None, device="cpu", inputs=None, drop_missing=False,
                       pipeline={} if args.full else dict(SMALL))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.seeds} seeds of {Path(args.data).name} ({'full' if args.full else 'small'} "
          f"pipeline); {available_cores()} cores here, load average {load:.1f}")
    results = {}
    for processes in (1, 2):
        wall, rows = timed_sweep(jobs, processes)
        failed = [r for r in rows if r["error"]]
        # each worker's first job also pays the first discovery's warm-up (kernel caches)
        steady = sorted(rows, key=lambda r: r["job"])[processes:]
        results[processes] = (wall, rows, steady)
        wall_job = statistics.median(r["seconds"] for r in steady)
        print(f"  {processes} process(es): {wall:7.1f} s wall, {len(failed)} failed; after "
              f"each worker's first job: median {wall_job:.1f} s wall, "
              f"{statistics.median(r['cpu_seconds'] for r in steady):.1f} s CPU per job;"
              f" peak RSS per worker {max(r['peak_rss_mb'] or 0 for r in rows):.0f} MB")
    (t1, rows1, steady1), (t2, _, steady2) = results[1], results[2]
    speedup = t1 / t2
    job_seconds = statistics.median(r["cpu_seconds"] for r in steady1)
    startup = max(0.0, t1 - sum(r["seconds"] for r in steady1))
    cpu_ratio = (statistics.median(r["cpu_seconds"] for r in steady2)
                 / statistics.median(r["cpu_seconds"] for r in steady1))
    print(f"  speed-up 1 -> 2 processes (wall): {speedup:.2f}x, efficiency {speedup / 2:.0%}; "
          f"CPU seconds per job, 2 vs 1 process(es): {cpu_ratio:.2f}x")
    print(f"  a worker's start-up and first-job warm-up: {startup:.1f} s (1-process run)")
    found = {}
    for row in rows1:
        found[row["canonical"]] = found.get(row["canonical"], 0) + 1
    print(f"  formulas found (1-process run): {found}")

    ray_cost = ray_task_cost()
    if ray_cost is None:
        per_task, round_trip, source = 1e-3, 1e-3, "assumed (Ray not installed)"
    else:
        (per_task, round_trip), source = ray_cost, "measured on a local Ray instance"
    print(f"  Ray per task: {per_task * 1e3:.2f} ms at full throughput, one round trip "
          f"{round_trip * 1e3:.1f} ms ({source})")

    # on a node of dedicated cores a one-thread job's wall time is about its CPU time; a
    # node with every core busy costs each job what 2 processes cost here (cpu_ratio)
    cost = (args.job_seconds or job_seconds) * max(1.0, cpu_ratio)
    n_jobs = args.equations * args.seeds
    slots = args.nodes * args.cores_per_node
    waves = math.ceil(n_jobs / slots)
    compute = waves * (cost + round_trip)
    driver = n_jobs * per_task  # submitting and collecting, serial on the driver
    total = compute + driver + startup
    rss = max(r["peak_rss_mb"] or 0 for r in rows1)
    print(f"\nOn paper: {args.equations} equations x {args.seeds} seeds = {n_jobs} jobs on "
          f"{args.nodes} nodes x {args.cores_per_node} cores ({slots} one-core tasks at once)")
    print(f"  {waves} wave(s) x ({cost:.1f} CPU s per job + "
          f"{round_trip * 1e3:.1f} ms) + {n_jobs} x {per_task * 1e3:.2f} ms on the driver + "
          f"{startup:.0f} s start-up = {total / 60:.1f} min (one core: "
          f"{n_jobs * cost / 3600:.1f} h)")
    print(f"  each node holds {args.cores_per_node} workers x {rss:.0f} MB = "
          f"{args.cores_per_node * rss / 1024:.1f} GB")
    budget = PipelineSettings().time_budget_s
    print(f"  equal jobs assumed: the slowest job of each wave sets its end; with every job at "
          f"the pipeline's {budget:.0f} s budget: {waves * budget / 60:.0f} min")

if __name__ == "__main__":
    main()
