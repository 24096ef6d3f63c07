"""Files: opening CSVs and projects, recent files, saving projects, recovery after a crash,
the unsaved-changes prompt, and image export of the views.

CSVs are read here with the data layer (no torch) for the preview and validation; the
worker reads them again to build its session, and writes projects (the same code as the
CLI's ``--save``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from kanstudio.gui.menus import Actions, EditActions
from kanstudio.gui.run_controller import RunController
from kanstudio.gui.samples import Sample, load_catalog
from kanstudio.gui.settings_store import (
    add_recent_file,
    inside_the_app,
    recent_files,
    remember_folder,
    save_start,
)
from kanstudio.gui.views import Views

__all__ = ["ProjectController", "export_view", "AUTOSAVE_MS", "CSV_SUFFIXES",
           "PROJECT_SUFFIX"]

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PROJECT_SUFFIX = ".kstudio"

AUTOSAVE_MS = 60_000  # unsaved work is written to the recovery file this often


def export_view(widget: Any, path: str) -> None:
    """A view (network, loss, inspector or formula plot) as .png or .svg, as drawn now.

    Qt draws the widget itself: pyqtgraph's SVG exporter fails on curves that hold NaN
    breaks, which every network drawing does."""
    from PySide6.QtCore import QRect, QSize
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    if path.lower().endswith(".svg"):
        size = widget.size()
        generator = QSvgGenerator()
        generator.setFileName(path)
        generator.setSize(QSize(size.width(), size.height()))
        generator.setViewBox(QRect(0, 0, size.width(), size.height()))
        generator.setTitle("KAN Studio")
        painter = QPainter(generator)
        try:
            widget.render(painter)
        finally:
            painter.end()
    elif not widget.grab().save(path):
        raise OSError(f"could not write {Path(path).name}")


def window_title(name: str) -> str:
    """The window's title for an open file. It ends with the app's name: Qt adds the
    application's display name to a title that does not, which would show it twice."""
    return f"{name} — KAN Studio"


class ProjectController(QObject):
    """Owns which file is open (in the state), recent files, saving and recovery."""

    def __init__(self, views: Views, actions: Actions, edit_actions: EditActions,
                 runs: RunController, settings: QSettings) -> None:
        super().__init__(views.window)
        self.v = views
        self.state = views.state
        self.actions = actions
        self.edit_actions = edit_actions
        self.runs = runs
        self.settings = settings
        self.close_after_save = False
        # What the prompts ask; tests replace them with functions that answer.
        self.unsaved_prompt = self._ask_unsaved
        self.recovery_prompt = self._ask_recover
        self.recovery_path = Path(settings.fileName()).parent / "recovery.kstudio"
        self.recovery_offered = False
        self.restoring = False
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self._connect()
        self._fill_sample_menu()
        self.refresh_recent_menu()
        self.state.observe("engine", self.update_actions)
        self.update_actions()

    def _connect(self) -> None:
        a, e, b = self.actions, self.edit_actions, self.v.bridge
        for action, slot in ((a.open_csv, self.choose_csv), (a.open_project, self.choose_project),
                             (e.save, self.save_project), (e.save_as, self.save_project_as)):
            action.triggered.connect(lambda _checked=False, s=slot: s())
        for item in e.export_menu.actions():
            which = item.data()
            item.triggered.connect(lambda _c=False, w=which: self.export_image(w))
        b.loaded.connect(self._on_loaded)
        b.ready.connect(self._on_ready)
        b.result.connect(self._on_result)

    def update_actions(self) -> None:
        has_data = self.state.engine.has_data
        self.edit_actions.save.setEnabled(has_data)
        self.edit_actions.save_as.setEnabled(has_data)

    # ------------------------------------------------------------------ opening
    def choose_csv(self) -> None:
        current = self.state.current_path
        start = str(Path(current).parent) if current else ""
        path, _ = QFileDialog.getOpenFileName(self.v.window, "Open CSV", start,
                                              "CSV files (*.csv *.tsv *.txt);;All files (*)")
        if path:
            self.open_csv(path)

    def choose_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.v.window, "Open Project", "",
                                              "KAN Studio projects (*.kstudio)")
        if path:
            self.open_project(path)

    def open_path(self, path: str) -> bool:
        """Open a CSV or a .kstudio project, by its suffix."""
        if path.lower().endswith(PROJECT_SUFFIX):
            return self.open_project(path)
        return self.open_csv(path)

    def open_sample(self, sample: Sample) -> bool:
        return self.open_csv(str(sample.path), target=sample.target, inputs=sample.inputs)

    def open_csv(self, path: str, target: str | None = None,
                 inputs: list[str] | None = None) -> bool:
        """Read, preview and validate a CSV; on success the worker loads it too.

        A file that cannot be read leaves the previous data in place.
        """
        from kanstudio.data import DataError, default_roles, read_csv, resolve_roles

        name = Path(path).name
        self.v.notify.status(f"Reading {name}…")
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # ~1 s per million rows
        try:
            table = read_csv(path)
        except DataError as exc:
            self.v.notify.error(f"Cannot open {name}: {exc}")
            return False
        finally:
            QApplication.restoreOverrideCursor()
        if target is not None and target in table.names:
            known = [i for i in (inputs or []) if i in table.names] or None
            roles = resolve_roles(table, target, known)
        else:
            roles = default_roles(table)
        self.state.update(current_path=str(path), current_project=None)
        self.runs.forget_loaded_data()  # opening a file (again) always reloads the engine
        self.v.notify.dismiss()
        self.v.window.setWindowTitle(window_title(name))
        self.v.data_panel.set_table(table, roles, name)
        self.remember(path)
        self.v.notify.status(f"Opened {name}: {table.n_rows:,} rows", 5000)
        return True

    def open_project(self, path: str) -> bool:
        if not Path(path).is_file():
            self.v.notify.error(f"Cannot open {Path(path).name}: the file does not exist.")
            return False
        self.state.pending_project = str(path)
        self.v.bridge.send("open_project", path=str(path))
        self.v.notify.status(f"Opening project {Path(path).name}…")
        return True

    def _on_loaded(self, e: dict[str, Any]) -> None:
        """A project's data is shown from its stored columns (it has no CSV)."""
        if e.get("source") != "project":
            return
        from kanstudio.data import ColumnRoles, RawTable

        columns = e.get("columns") or {}
        names, values = list(columns.get("names", [])), list(columns.get("values", []))
        table = RawTable(names, values)
        roles = ColumnRoles(inputs=list(e["input_names"]), targets=list(e["target_names"]))
        name = Path(e.get("path") or "project").name
        self.state.update(current_project=e.get("path"), current_path=None,
                          pending_project=None)
        self.v.window.setWindowTitle(window_title(name))
        self.v.data_panel.set_table(table, roles, f"{name} (data stored in the project)",
                                    editable=False)
        if e.get("path"):
            self.remember(e["path"])
        self.project_opened()
        self.v.bridge.send("formula")  # a project with locks reopens with its formula
        steps = len((e.get("losses") or {}).get("step", []))
        trained = f"its model trained for {steps} steps" if steps else "its model"
        self.v.notify.info(f"Opened {name} with {trained}, as saved. Undo history starts "
                           "fresh: a project keeps the model, not the steps that led to it.")

    def _on_ready(self, e: dict[str, Any]) -> None:
        if not self.state.current_path and not self.state.current_project:
            self.offer_recovery()  # a crash may have left unsaved work behind

    # ------------------------------------------------------------------ recent files
    def remember(self, path: str) -> None:
        add_recent_file(self.settings, path)
        remember_folder(self.settings, path)
        self.settings.sync()
        self.refresh_recent_menu()

    def refresh_recent_menu(self) -> None:
        menu = self.actions.recent_menu
        menu.clear()
        files = recent_files(self.settings)
        for path in files:
            action = menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        if files:
            menu.addSeparator()
            menu.addAction("Clear Recent Files", self._clear_recent)
        menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        self.settings.setValue("recent_files", [])
        self.refresh_recent_menu()

    def _fill_sample_menu(self) -> None:
        menu = self.actions.sample_menu
        for sample in load_catalog():
            item = menu.addAction(sample.title)
            item.setData(str(sample.path))
            item.triggered.connect(lambda _c=False, s=sample: self.open_sample(s))
        menu.setEnabled(not menu.isEmpty())

    # ------------------------------------------------------------------ saving
    def save_project(self) -> bool:
        """Save to the current project (asks for a path the first time); False if not sent."""
        if self.state.current_project:
            return self.save_project_to(self.state.current_project)
        return self.save_project_as()

    def save_project_as(self) -> bool:
        path_now = self.state.current_path
        name = Path(path_now).with_suffix(".kstudio").name if path_now else "untitled.kstudio"
        start = save_start(self.settings, name)
        project = self.state.current_project
        if project and not inside_the_app(Path(project).parent):
            start = project  # where it was saved or opened from
        path, _ = QFileDialog.getSaveFileName(self.v.window, "Save Project", start,
                                              "KAN Studio projects (*.kstudio)")
        if not path:
            return False
        if not path.lower().endswith(".kstudio"):
            path += ".kstudio"
        return self.save_project_to(path)

    def save_project_to(self, path: str) -> bool:
        if not self.state.engine.has_data:
            self.v.notify.error("Nothing to save yet: open a CSV file first.")
            return False
        self.v.bridge.send("save", path=str(path))
        self.v.notify.status(f"Saving {Path(path).name}…")
        return True

    def _on_result(self, e: dict[str, Any]) -> None:
        if e.get("command") != "save":
            return
        path = e["path"]
        if Path(path) == self.recovery_path:
            return  # an autosave: the user's project and its unsaved state are unchanged
        self.state.current_project = path
        self.state.dirty = False
        self.v.window.setWindowTitle(window_title(Path(path).name))
        self.remember(path)
        self.v.notify.status(f"Saved {Path(path).name}.", 6000)
        if self.close_after_save:
            self.v.window.close()

    def project_opened(self) -> None:
        self.state.dirty = False
        if self.restoring:  # the recovery file is no project of the user's: Save asks where
            self.restoring = False
            self.state.current_project = None
            self.state.dirty = True
            self.v.window.setWindowTitle(window_title("recovered session (not saved)"))

    # ------------------------------------------------------------------ recovery
    def autosave(self) -> None:
        """Write unsaved work to the recovery file (offered again after a crash)."""
        engine = self.state.engine
        if self.state.dirty and engine.fitted and not engine.busy and self.v.bridge.is_ready:
            self.recovery_path.parent.mkdir(parents=True, exist_ok=True)
            self.v.bridge.send("save", path=str(self.recovery_path))

    def offer_recovery(self) -> None:
        """Once, when the engine is ready: restore the work a crash left behind?"""
        if self.recovery_offered:
            return
        self.recovery_offered = True
        if not self.recovery_path.is_file():
            return
        if self.recovery_prompt():
            self.restoring = True
            self.open_project(str(self.recovery_path))
        else:
            self.recovery_path.unlink(missing_ok=True)

    def _ask_recover(self) -> bool:
        answer = QMessageBox.question(
            self.v.window, "Restore unsaved work?",
            "KAN Studio did not close normally last time. Restore the work it saved "
            "automatically?")
        return answer == QMessageBox.StandardButton.Yes

    # ------------------------------------------------------------------ closing
    def _ask_unsaved(self) -> str:
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                          "The model has changes that are not saved in a project.",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self.v.window)
        box.setInformativeText("Save them before closing?")
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(
            QMessageBox.StandardButton(answer), "cancel")

    def may_close(self) -> bool:
        """False when the user chose to keep the window (or to save first)."""
        if not self.state.dirty or not self.v.bridge.is_ready:
            self.recovery_path.unlink(missing_ok=True)  # a clean exit leaves no recovery
            return True
        answer = self.unsaved_prompt()
        if answer == "discard":
            self.recovery_path.unlink(missing_ok=True)
            return True
        if answer == "save":  # the window closes when the worker says it is saved
            self.close_after_save = self.save_project()
        return False

    # ------------------------------------------------------------------ images
    def export_image(self, which: str) -> None:
        widget = {"network": self.v.network_view, "loss": self.v.loss_plot.plot,
                  "inspector": self.v.inspector.plot, "formula": self.v.formula_panel.plot}[which]
        path, _ = QFileDialog.getSaveFileName(self.v.window, "Export Image",
                                              save_start(self.settings, f"{which}.png"),
                                              "PNG image (*.png);;SVG image (*.svg)")
        if path:
            remember_folder(self.settings, path)
            try:
                export_view(widget, path)
            except Exception as exc:  # noqa: BLE001 - report, never crash the session
                self.v.notify.error(f"Could not export the image: {exc}")
                return
            self.v.notify.status(f"Exported {Path(path).name}.", 6000)
