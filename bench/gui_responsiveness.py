"""GUI responsiveness while training at full speed (design.md §6; a script, not a test).

The real main window runs under Qt's offscreen platform with its worker process and trains
``sample_datasets/toy_4d.csv`` (4 inputs) with width [4, 8, 4, 1]. Measured in one run:

- event-loop latency: how long a zero-delay timer waits before it fires (p50, p95, max),
  probed every few milliseconds during training;
- redraws of the network view per second (paints of its viewport) and snapshots applied;
- training steps per second in the app (worker-measured) against the same training run
  headless, ``Session.train_iter`` in a plain loop, alternated over ``--rounds`` rounds so
  machine load drifts affect both alike;
- the cost of the live edge labels (each edge named with its best-fitting library
  function, issue 13): every round trains in the app twice, labels on and off (View ▸
  Edge Function Labels, which also stops the worker fitting), in alternating order; the
  ratio of their steps/s; the worker process's CPU seconds per step, on and off (read
  from /proc, so other load on the machine does not blur it); and what one labelling of
  this network costs (timed here, wall and CPU).

Targets: p95 latency <= 50 ms, >= 20 redraws/s (both with labels on), app training >= 70 %
of headless, training with labels >= 90 % of training without.

    python bench/gui_responsiveness.py [--steps 400] [--rounds 3] [--opt adam]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "sample_datasets" / "toy_4d.csv"
WIDTH = [4, 8, 4, 1]
TARGET_P95_MS, TARGET_REDRAWS, TARGET_RATIO, TARGET_LABELS = 50.0, 20.0, 0.70, 0.90


def headless_steps_per_s(steps: int, opt: str, threads: int
                         ) -> tuple[float, tuple[float, float]]:
    """The same run as the app's, in this process, with nothing drawn: (steps/s, ms of
    one labelling of the trained network)."""
    import torch

    from kanstudio.data import load_dataset
    from kanstudio.session import Session, SessionSettings

    torch.set_num_threads(threads)
    dataset = load_dataset(CSV, target="f")
    session = Session(dataset, SessionSettings(width=WIDTH, opt=opt, seed=0))
    session.train(3)  # warm-up, as the worker does at start (torch's optimiser imports)
    session.new_model(WIDTH)
    start = time.perf_counter()
    done = sum(1 for _ in session.train_iter(steps))
    rate = done / (time.perf_counter() - start)
    return rate, labelling_ms(session)


def labelling_ms(session) -> tuple[float, float]:
    """Median milliseconds (wall, CPU) of one labelling of the session's network (what the
    worker runs at most ~3 times a second), on its current curves."""
    from kanstudio.symbolic.live_fit import EdgeLabeller, best_fits
    from kanstudio.worker.protocol import CURVE_POINTS

    curves = session.model.edge_curves(CURVE_POINTS)
    locked = [[(i, j, n) for (i, j), n in layer.items()] for layer in curves.locked]
    labeller = EdgeLabeller(n_points=CURVE_POINTS)
    walls, cpus = [], []
    for _ in range(7):
        start, cpu = time.perf_counter(), time.process_time()
        best_fits(labeller, curves.y, curves.active, locked)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return 1000.0 * statistics.median(walls), 1000.0 * statistics.median(cpus)


def process_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far; NaN where /proc is absent."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LatencyProbe:
    """Schedules a zero-delay timer every ``gap_ms`` and records how late it fires."""

    def __init__(self, gap_ms: int = 5) -> None:
        self.gap_ms = gap_ms
        self.delays_ms: list[float] = []
        self.running = False

    def start(self) -> None:
        self.running = True
        self._schedule()

    def stop(self) -> None:
        self.running = False

    def _schedule(self) -> None:
        from PySide6.QtCore import QTimer

        if not self.running:
            return
        sent = time.perf_counter()
        QTimer.singleShot(0, lambda: self._fired(sent))

    def _fired(self, sent: float) -> None:
        from PySide6.QtCore import QTimer

        if not self.running:
            return  # fired after the round ended (e.g. while headless training blocked)
        self.delays_ms.append((time.perf_counter() - sent) * 1000.0)
        QTimer.singleShot(self.gap_ms, self._schedule)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def app_round(app, window, steps: int, labels: bool = True, worker_pid: int | None = None
              ) -> dict:
    """One training run in the window, with Qt's own event loop running, live edge labels
    on or off; its figures."""
    from PySide6.QtCore import QEventLoop, QTimer

    view = window.network_view
    window.actions.edge_labels.setChecked(labels)
    window.state.last_done = None
    if window.state.engine.has_model:
        window.runs.new_model()  # every round starts from an untrained model, as headless does
    probe = LatencyProbe()
    loop = QEventLoop()
    window.bridge.done.connect(loop.quit)
    limit = QTimer()
    limit.setSingleShot(True)
    limit.timeout.connect(loop.quit)
    limit.start(600_000)
    paints0, snaps0 = view.paints.count, view.snapshots_applied
    probe.start()
    started, cpu0 = time.perf_counter(), time.process_time()
    worker_cpu0 = process_cpu_s(worker_pid)
    window.runs.train()
    loop.exec()
    wall = time.perf_counter() - started
    worker_cpu = process_cpu_s(worker_pid) - worker_cpu0
    gui_cpu = (time.process_time() - cpu0) / wall
    probe.stop()
    window.bridge.done.disconnect(loop.quit)
    if window.state.last_done is None:
        raise TimeoutError("training in the app did not finish in 10 minutes")
    done = window.state.last_done
    return {
        "steps_per_s": done["steps_done"] / done["seconds"],
        "worker_cpu_per_step": worker_cpu / max(done["steps_done"], 1),
        "redraws_per_s": (view.paints.count - paints0) / wall,
        "snapshots_per_s": (view.snapshots_applied - snaps0) / wall,
        "latency": probe.delays_ms,
        "wall_s": wall,
        "gui_cpu": gui_cpu,
        "labelled_edges": len(view.edge_fits),
        "labels_shown": sum(label.isVisible() for label in view.fit_labels.values()),
    }


def wait(app, condition, timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--opt", default="adam", choices=["adam", "lbfgs"])
    parser.add_argument("--profile", help="write a cProfile of the GUI process to this file")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("KANSTUDIO_SETTINGS_DIR", tempfile.mkdtemp(prefix="kanstudio-bench-"))

    from kanstudio.gui.app import create_application

    app = create_application()
    from kanstudio.gui.main_window import MainWindow
    from kanstudio.gui.samples import load_catalog

    window = MainWindow(worker_mode="process")
    window.resize(1400, 900)
    window.show()
    pids: list[int] = []
    window.bridge.ready.connect(lambda e: pids.append(int(e["pid"])))
    window.start_worker()
    wait(app, lambda: window.bridge.is_ready, 180, "the worker to start")
    threads = window.bridge.client.options["torch_threads"]
    sample = next(s for s in load_catalog() if s.path.name == CSV.name)
    window.projects.open_sample(sample)
    wait(app, lambda: bool(window.state.engine.has_data), 60, "the data to load")
    panel = window.training_panel
    panel.set_width(WIDTH)
    panel.opt.setCurrentIndex(panel.opt.findData(args.opt))
    panel.steps.setValue(args.steps)
    panel.settings_edited.emit()

    print(f"KAN Studio GUI responsiveness: {CSV.name}, width {WIDTH}, {args.opt}, "
          f"{args.steps} steps per run, {args.rounds} rounds, platform "
          f"{os.environ['QT_QPA_PLATFORM']}, torch threads {threads}, "
          f"{os.cpu_count()} CPU cores")
    rows, bare = [], []
    for r in range(1, args.rounds + 1):
        headless, label_ms = headless_steps_per_s(args.steps, args.opt, threads)
        # labels on and off in alternating order, so a drift in load favours neither
        order = (True, False) if r % 2 else (False, True)
        runs = {}
        for labels in order:
            if args.profile and labels:
                import cProfile

                profiler = cProfile.Profile()
                runs[labels] = profiler.runcall(app_round, app, window, args.steps, labels,
                                                pids[-1])
                profiler.dump_stats(args.profile)
            else:
                runs[labels] = app_round(app, window, args.steps, labels, pids[-1])
        figures, off = runs[True], runs[False]
        figures["headless"] = headless
        figures["label_ratio"] = figures["steps_per_s"] / off["steps_per_s"]
        figures["cpu_ratio"] = off["worker_cpu_per_step"] / figures["worker_cpu_per_step"]
        rows.append(figures)
        bare.append(off)
        for name, row in (("labels on ", figures), ("labels off", off)):
            lat = row["latency"]
            print(f"round {r} {name}: headless {headless:7.1f} steps/s | app "
                  f"{row['steps_per_s']:7.1f} steps/s ({row['steps_per_s'] / headless:4.0%}) "
                  f"| redraws {row['redraws_per_s']:5.1f}/s, snapshots "
                  f"{row['snapshots_per_s']:5.1f}/s | latency p50 {percentile(lat, 50):5.2f} "
                  f"ms, p95 {percentile(lat, 95):5.2f} ms, max {max(lat):6.2f} ms "
                  f"({len(lat)} probes) | GUI process CPU {row['gui_cpu']:.0%} of a core "
                  f"| worker CPU {1000 * row['worker_cpu_per_step']:.1f} ms/step | edges "
                  f"labelled {row['labelled_edges']}, labels shown {row['labels_shown']}")
        print(f"round {r}: with labels, training {figures['label_ratio']:.1%} of the steps/s "
              f"without; worker CPU per step without / with {figures['cpu_ratio']:.1%}; one "
              f"labelling of the {WIDTH} network {label_ms[0]:.1f} ms wall, "
              f"{label_ms[1]:.1f} ms CPU (here)")
    window.close()

    latency = [d for row in rows for d in row["latency"]]
    p50, p95, worst = percentile(latency, 50), percentile(latency, 95), max(latency)
    bare_p95 = percentile([d for row in bare for d in row["latency"]], 95)
    redraws = statistics.median(row["redraws_per_s"] for row in rows)
    ratio = statistics.median(row["steps_per_s"] / row["headless"] for row in rows)
    label_ratio = statistics.median(row["label_ratio"] for row in rows)
    cpu_ratio = statistics.median(row["cpu_ratio"] for row in rows)
    checks = [
        (f"event-loop latency p95 {p95:.2f} ms (p50 {p50:.2f}, max {worst:.2f}; "
         f"labels off: p95 {bare_p95:.2f})", f"<= {TARGET_P95_MS:.0f} ms", p95 <= TARGET_P95_MS),
        (f"network view redraws {redraws:.1f}/s", f">= {TARGET_REDRAWS:.0f}/s",
         redraws >= TARGET_REDRAWS),
        (f"training in the app {ratio:.0%} of headless", f">= {TARGET_RATIO:.0%}",
         ratio >= TARGET_RATIO),
        (f"training with live labels {label_ratio:.1%} of without (worker CPU per step: "
         f"{cpu_ratio:.1%})", f">= {TARGET_LABELS:.0%}", label_ratio >= TARGET_LABELS),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"summary (medians over rounds, labels on; latency over all probes; load average "
          f"now {load:.1f} on {os.cpu_count()} cores):")
    for text, target, ok in checks:
        print(f"  {text:72s} target {target:8s} {'PASS' if ok else 'MISS'}")
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
