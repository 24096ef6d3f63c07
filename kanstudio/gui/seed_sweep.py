"""Model ▸ Discover across Seeds…: the window's Discover with K seeds at once, in parallel
local processes, and how often each formula came out.

The jobs are the sweep's (:mod:`kanstudio.sweep`: the same pipeline as ``kanstudio fit``,
one spawned process per core); a :class:`QThread` waits for their rows, so the window
never waits and imports no torch. Each job saves its session as a project in a folder of
its own; choosing a row asks the worker to take that project's model back (the
``adopt_project`` command: one undo step, with the seed's settings, split and scaling).
Cancel stops the running jobs and keeps the rows already in.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kanstudio.gui.run_controller import RunController
from kanstudio.gui.views import Views

__all__ = ["SeedSweepController", "SeedSweepDialog", "SweepThread", "DEFAULT_SEEDS",
           "SEED_COLUMNS", "STABILITY_COLUMNS"]

DEFAULT_SEEDS = 4
MAX_SEEDS = 64
SEED_COLUMNS = ("Seed", "Formula", "Status", "Held-out R²", "Seconds")
STABILITY_COLUMNS = ("Formula", "Found by", "Verified", "Median held-out R²")
# SessionSettings fields a job takes as its own Job fields (the rest travel in Job.session)
_JOB_FIELDS = ("width", "grid", "k", "seed", "device", "functions")


class SweepThread(QThread):
    """Runs the jobs on the sweep's local process pool; one ``row`` signal per finished
    job (in the order they finish). :meth:`cancel` stops the running jobs."""

    row = Signal(object)  # a results-table row (kanstudio.sweep.ROW_FIELDS)
    failed = Signal(str)  # the pool itself could not run (the jobs' own errors are rows)

    def __init__(self, jobs: list[Any], processes: int, threads: int,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.processes = processes
        self.threads = threads
        self.stop_event = threading.Event()

    def run(self) -> None:
        from kanstudio.sweep.backends import local_rows

        rows = local_rows(self.jobs, self.processes, self.threads, stop=self.stop_event)
        try:
            for row in rows:
                self.row.emit(row)
        except Exception as exc:  # noqa: BLE001 - said in the dialog; the window goes on
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        finally:
            rows.close()

    def cancel(self) -> None:
        self.stop_event.set()


def _item(text: str, data: Any = None, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if data is not None:
        item.setData(Qt.ItemDataRole.UserRole, data)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _r2_text(value: Any) -> str:
    return "" if value is None else f"{value:.6f}"


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(1 if columns is SEED_COLUMNS else 0,
                                QHeaderView.ResizeMode.Stretch)
    return table


class SeedSweepDialog(QDialog):
    """The seeds to run, Run and Cancel, the stability table and one row per seed."""

    run_requested = Signal(int)  # seeds
    cancel_requested = Signal()
    load_requested = Signal(int)  # seed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Discover across Seeds")
        self.setModal(False)
        self.resize(760, 520)
        self.seeds = QSpinBox()
        self.seeds.setRange(1, MAX_SEEDS)
        self.seeds.setValue(DEFAULT_SEEDS)
        self.seeds.setToolTip("How many seeds: each runs the whole Discover in a process "
                              "of its own, as many at once as the machine has cores")
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.status = QLabel("Each seed runs Discover on the data open now; the table "
                             "counts how many seeds found each formula.")
        self.status.setWordWrap(True)
        self.stability = _table(STABILITY_COLUMNS)
        self.stability.setToolTip("Formulas after simplification, the most frequent verified "
                                  "one first. Double-click: load its best seed's model")
        self.seed_table = _table(SEED_COLUMNS)
        self.seed_table.setToolTip("Double-click a seed (or select it and press Load) to "
                                   "make its model the window's; Edit ▸ Undo goes back")
        self.load_button = QPushButton("Load Selected Model")
        self.load_button.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(QLabel("Seeds:"))
        top.addWidget(self.seeds)
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        top.addWidget(self.progress, 1)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.load_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(QLabel("How often each formula came out"))
        layout.addWidget(self.stability, 1)
        layout.addWidget(QLabel("Seeds"))
        layout.addWidget(self.seed_table, 2)
        layout.addLayout(bottom)
        self.run_button.clicked.connect(lambda: self.run_requested.emit(self.seeds.value()))
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        self.load_button.clicked.connect(self._load_selected)
        self.seed_table.itemSelectionChanged.connect(self._selection_changed)
        self.seed_table.cellDoubleClicked.connect(lambda r, _c: self._load_row(r))
        self.stability.cellDoubleClicked.connect(self._load_formula)
        self.rows: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ what it shows
    def started(self, seeds: int) -> None:
        self.rows = []
        self.seed_table.setRowCount(0)
        self.stability.setRowCount(0)
        self.progress.setRange(0, seeds)
        self.progress.setValue(0)
        self.set_running(True)

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.seeds.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def add_row(self, row: dict[str, Any]) -> None:
        """A seed finished: its row (sorted by seed) and the stability table anew."""
        from kanstudio.sweep.stability import stability_summary

        self.rows.append(row)
        self.rows.sort(key=lambda r: r.get("seed", 0))
        self.progress.setValue(len(self.rows))
        self.seed_table.setRowCount(len(self.rows))
        for index, r in enumerate(self.rows):
            failed = not r.get("canonical")
            formula = (f"{r.get('target')} = {r.get('formula')}" if not failed
                       else f"failed: {r.get('error')}")
            status = "" if failed else (r.get("status") or "")
            if r.get("error") and not failed:  # a formula whose project was not saved
                status += " (model not kept)"
            seconds = r.get("seconds")
            cells = (_item(str(r.get("seed")), r.get("seed"), True), _item(formula),
                     _item(status), _item(_r2_text(r.get("test_r2")), None, True),
                     _item("" if seconds is None else f"{seconds:.1f}", None, True))
            for column, cell in enumerate(cells):
                self.seed_table.setItem(index, column, cell)
        summary = stability_summary(self.rows)
        group = summary[0] if summary else {"formulas": [], "seeds": 0, "target": ""}
        self.stability.setRowCount(len(group["formulas"]))
        for index, entry in enumerate(group["formulas"]):
            cells = (_item(f"{group['target']} = {entry['formula']}", entry["formula"]),
                     _item(f"{entry['count']} of {group['seeds']} seeds", None, True),
                     _item(f"{entry['verified']} of {entry['count']}", None, True),
                     _item(_r2_text(entry["median_test_r2"]), None, True))
            for column, cell in enumerate(cells):
                self.stability.setItem(index, column, cell)
        self._selection_changed()

    def finished(self, text: str) -> None:
        self.set_running(False)
        self.status.setText(text)

    # ------------------------------------------------------------------ choosing
    def loadable(self, row: dict[str, Any]) -> bool:
        return bool(row.get("canonical") and row.get("project"))

    def _selection_changed(self) -> None:
        rows = self.seed_table.selectionModel().selectedRows()
        self.load_button.setEnabled(bool(rows) and self.loadable(self.rows[rows[0].row()]))

    def _load_selected(self) -> None:
        rows = self.seed_table.selectionModel().selectedRows()
        if rows:
            self._load_row(rows[0].row())

    def _load_row(self, index: int) -> None:
        if 0 <= index < len(self.rows) and self.loadable(self.rows[index]):
            self.load_requested.emit(int(self.rows[index]["seed"]))

    def _load_formula(self, index: int, _column: int = 0) -> None:
        """A formula of the stability table: the seed that found it best (held-out R²)."""
        item = self.stability.item(index, 0)
        if item is None:
            return
        canonical = item.data(Qt.ItemDataRole.UserRole)
        found = [r for r in self.rows if r.get("canonical") == canonical and self.loadable(r)]
        if found:
            best = max(found, key=lambda r: (r.get("test_r2") is not None,
                                             r.get("test_r2") or 0.0))
            self.load_requested.emit(int(best["seed"]))


class SeedSweepController(QObject):
    """Owns the action, the dialog, the running sweep and the folder of its projects.

    ``pipeline``: PipelineSettings fields every job uses (empty: the defaults, as the
    window's Discover); tests make the budgets tiny with it.
    """

    def __init__(self, views: Views, action: QAction, runs: RunController) -> None:
        super().__init__(views.window)
        self.v = views
        self.state = views.state
        self.action = action
        self.runs = runs
        self.pipeline: dict[str, Any] = {}
        self.processes: int | None = None  # None: one per core, at most one per seed
        self.dialog: SeedSweepDialog | None = None
        self.thread: SweepThread | None = None
        self.folder: Path | None = None
        self.projects: dict[int, str] = {}  # seed -> its saved project
        self.cancelled = False
        action.triggered.connect(lambda _checked=False: self.show_dialog())
        self.state.observe("engine", self.update_actions)
        self.update_actions()

    @property
    def running(self) -> bool:
        return self.thread is not None

    def update_actions(self) -> None:
        self.action.setEnabled(self.state.engine.has_data)

    def show_dialog(self) -> SeedSweepDialog:
        if self.dialog is None:
            self.dialog = SeedSweepDialog(self.v.window)
            self.dialog.run_requested.connect(self.start)
            self.dialog.cancel_requested.connect(self.cancel)
            self.dialog.load_requested.connect(self.load_seed)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    # ------------------------------------------------------------------ running
    def data_source(self) -> tuple[str, list[str] | None, list[str] | None, bool] | None:
        """(file, targets, inputs, drop missing rows) of the data the engine holds: the
        CSV with the columns chosen, or the project that stores the data."""
        roles = self.runs.loaded_roles
        if self.state.current_path and roles is not None:
            path, inputs, targets, drop = roles
            return str(path), list(targets), list(inputs), bool(drop)
        if self.state.current_project:
            return str(self.state.current_project), None, None, False
        return None

    def jobs(self, seeds: int) -> list[Any] | None:
        """One job per seed on the data and settings of the window (None: said why)."""
        from kanstudio.sweep.jobs import Job

        source = self.data_source()
        if source is None:
            self.v.notify.error("Discover across seeds needs the data in a file: open a CSV, "
                                "or save the project first.")
            return None
        path, targets, inputs, drop = source
        if targets is not None and len(targets) != 1:
            self.v.notify.error("Discover across seeds finds one target at a time: choose "
                                "one target column in the Data panel.")
            return None
        target = targets[0] if targets else None
        settings = dict(self.state.engine.settings)
        first = int(settings.get("seed") or 0)
        self._new_folder()
        common = {name: value for name, value in settings.items() if name not in _JOB_FIELDS}
        jobs = []
        for index, seed in enumerate(range(first, first + seeds)):
            jobs.append(Job(
                index=index, data=path, target=target, seed=seed,
                width=settings.get("width"), grid=int(settings.get("grid", 5)),
                k=int(settings.get("k", 3)), device=str(settings.get("device", "auto")),
                lib=tuple(settings["functions"]) if settings.get("functions") else None,
                inputs=tuple(inputs) if inputs else None, drop_missing=drop,
                pipeline=dict(self.pipeline), session=common,
                save_to=str(self.folder / f"seed-{seed}.kstudio")))
        return jobs

    def start(self, seeds: int = DEFAULT_SEEDS) -> bool:
        """Run ``seeds`` seeds (from the window's seed on); False when it cannot start."""
        from kanstudio.sweep.machine import available_cores

        if self.running or not self.state.engine.has_data:
            return False
        jobs = self.jobs(seeds)
        if not jobs:
            return False
        cores = available_cores()
        processes = max(1, min(self.processes or cores, len(jobs)))
        dialog = self.show_dialog()
        dialog.started(len(jobs))
        dialog.status.setText(f"Running {len(jobs)} seed(s) on {processes} process(es)… "
                              "Cancel stops them and keeps the finished rows.")
        self.cancelled = False
        self.projects = {}
        self.thread = SweepThread(jobs, processes, max(1, cores // processes), self)
        self.thread.row.connect(self._on_row)
        self.thread.failed.connect(self._on_failed)
        self.thread.finished.connect(self._on_finished)
        self.thread.start()
        self.v.notify.status(f"Discover across {len(jobs)} seeds is running.")
        return True

    def cancel(self) -> None:
        if self.thread is not None:
            self.cancelled = True
            self.thread.cancel()
            if self.dialog is not None:
                self.dialog.status.setText("Cancelling: stopping the running seeds…")
                self.dialog.cancel_button.setEnabled(False)

    def _on_row(self, row: dict[str, Any]) -> None:
        if row.get("project") and row.get("canonical"):
            self.projects[int(row["seed"])] = str(row["project"])
        if self.dialog is not None:
            self.dialog.add_row(row)

    def _on_failed(self, text: str) -> None:
        self.v.notify.error(f"Discover across seeds stopped: {text}")

    def _on_finished(self) -> None:
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        if self.dialog is None:
            return
        rows = self.dialog.rows
        done = len(rows)
        total = self.dialog.progress.maximum()
        failed = sum(1 for r in rows if not r.get("canonical"))
        what = (f"Cancelled: {done} of {total} seed(s) finished and are kept" if self.cancelled
                else f"Finished: {done} seed(s)")
        what += f", {failed} without a formula." if failed else "."
        self.dialog.finished(what + " Double-click a row to load its model.")
        self.v.notify.status(what, 10000)

    # ------------------------------------------------------------------ choosing
    def load_seed(self, seed: int) -> bool:
        """Make the model that ``seed`` found the window's (one undo step)."""
        path = self.projects.get(seed)
        if path is None:
            return False
        if self.state.engine.busy:
            self.v.notify.error("Training or an edit is running: stop it first, then load "
                                "the seed's model.")
            return False
        self.v.bridge.send("adopt_project", path=path, what=f"the model of seed {seed}")
        self.v.notify.status(f"Loading the model of seed {seed}…")
        return True

    # ------------------------------------------------------------------ cleaning up
    def _new_folder(self) -> None:
        self._remove_folder()
        self.folder = Path(tempfile.mkdtemp(prefix="kanstudio-seeds-"))

    def _remove_folder(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def shutdown(self) -> None:
        """The window closes: stop the seeds, remove their projects."""
        thread = self.thread
        if thread is not None:
            thread.cancel()
            thread.wait(30_000)
            self.thread = None
        self._remove_folder()
