"""Where a sweep's jobs run: this machine's cores (a process pool) or a Ray cluster.

Each backend is a generator of rows, yielded as jobs finish (not in submission order).
Closing it (or an exception, e.g. Ctrl+C, at a ``yield``) cancels the jobs not yet finished;
rows already yielded are the caller's to keep.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from kanstudio.sweep.jobs import Job, failed_row, run_job, run_job_with_threads, set_threads
from kanstudio.sweep.machine import RAY_INSTALL

__all__ = ["local_rows", "ray_rows", "RayMissingError", "ClusterResourceError"]

_STOP_POLL_S = 0.1  # how often a local run looks at its stop event


class RayMissingError(ImportError):
    """``--ray`` was asked for but Ray is not installed."""


class ClusterResourceError(ValueError):
    """A job asks for more CPUs or GPUs than the Ray cluster has."""


def _init_worker(threads: int) -> None:
    # Ctrl+C reaches the whole process group; the parent alone decides what stops, so a
    # worker never dies half-way through writing its result back.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_threads(threads)
    from kanstudio.core.allocator import keep_freed_memory

    keep_freed_memory()  # a process of ours: reuse freed tensor memory between steps
    # Load the engine now, so a job's seconds are the discovery's, not torch's import.
    import kanstudio.session.pipeline  # noqa: F401


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Stop running jobs now (their rows are lost; finished rows are not)."""
    stop = getattr(executor, "terminate_workers", None)  # Python >= 3.14
    if stop is not None:
        stop()
        return
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5.0)


def local_rows(jobs: Sequence[Job], processes: int, threads: int = 1,
               stop: threading.Event | None = None) -> Iterator[dict[str, Any]]:
    """Run ``jobs`` in ``processes`` spawned worker processes of ``threads`` threads each.

    At most ``processes`` jobs are handed out at a time, so a stop cancels little and a
    worker that dies (a crash, the kernel's out-of-memory killer) costs only the jobs it
    and its siblings were running: those become error rows and a fresh pool carries on.
    ``stop``: set from another thread (a window's Cancel), it ends the generator within
    a fraction of a second, as closing it would (running jobs are stopped, no more rows).
    """
    context = multiprocessing.get_context("spawn")  # never fork: torch/Qt state
    queue = list(reversed(jobs))

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=processes, mp_context=context,
                                   initializer=_init_worker, initargs=(threads,))

    executor = new_pool()
    running: dict[Future, Job] = {}
    try:
        while queue or running:
            if stop is not None and stop.is_set():
                return
            while queue and len(running) < processes:
                job = queue.pop()
                running[executor.submit(run_job, job)] = job
            done, _ = wait(running, timeout=None if stop is None else _STOP_POLL_S,
                           return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                job = running.pop(future)
                try:
                    row = future.result()
                except BrokenProcessPool:
                    broken = True
                    row = failed_row(job, "the worker process died (a crash, or out of memory)")
                except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be sent
                    row = failed_row(job, exc)
                yield row
            if broken:
                executor.shutdown(wait=False, cancel_futures=True)
                executor = new_pool()
    finally:
        if running:  # before shutdown(), which forgets the executor's processes
            _terminate(executor)
        executor.shutdown(wait=False, cancel_futures=True)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayMissingError(f"the Ray backend needs Ray: {RAY_INSTALL}") from exc
    return ray


def _check_resources(ray: Any, cpus_per_job: float, gpus_per_job: float) -> None:
    """A task asking for more than the cluster has would wait forever: refuse it now."""
    total = ray.cluster_resources()
    for name, asked, option in (("CPU", cpus_per_job, "--cpus-per-job"),
                                ("GPU", gpus_per_job, "--gpus-per-job")):
        if asked > total.get(name, 0.0):
            raise ClusterResourceError(
                f"the Ray cluster has {total.get(name, 0.0):g} {name}(s) in all; a job asks "
                f"for {asked:g} ({option})")


def ray_rows(jobs: Sequence[Job], address: str | None, cpus_per_job: float = 1.0,
             gpus_per_job: float = 0.0) -> Iterator[dict[str, Any]]:
    """Run ``jobs`` as Ray tasks on the cluster at ``address`` (``ray.init``'s meaning:
    ``auto``, ``local``, ``HOST:PORT``, ``ray://HOST:PORT``; None: ``RAY_ADDRESS``).

    Each task asks for ``cpus_per_job`` CPUs and ``gpus_per_job`` GPUs (fractions share a
    GPU), so Ray places it; rows stream back as tasks finish. kanstudio must be importable
    on the cluster's nodes (installed there, or a runtime environment). Connecting and the
    resource check happen now (errors here, not at the first row); jobs start when the
    returned generator is first advanced.
    """
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        _check_resources(ray, cpus_per_job, gpus_per_job)
    except BaseException:
        if started_here:
            ray.shutdown()
        raise
    return _ray_stream(ray, jobs, cpus_per_job, gpus_per_job, started_here)


def _ray_stream(ray: Any, jobs: Sequence[Job], cpus_per_job: float, gpus_per_job: float,
                started_here: bool) -> Iterator[dict[str, Any]]:
    task = ray.remote(run_job_with_threads).options(num_cpus=cpus_per_job,
                                                     num_gpus=gpus_per_job, max_retries=0)
    threads = max(1, int(cpus_per_job))
    pending = {task.remote(job, threads): job for job in jobs}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    row = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a lost node or worker: one row
                    row = failed_row(job, exc)
                yield row
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
