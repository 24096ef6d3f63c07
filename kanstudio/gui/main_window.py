"""The main window: menus, docks (Data, Model & Training, Loss), the network view, files.

Files are read here with the data layer (no torch) for the preview and validation; the
worker process reads them again to build its session. What happens with the worker's
events lives in :mod:`kanstudio.gui.session_control`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QVBoxLayout,
    QWidget,
)

from kanstudio.gui.bridge import WorkerBridge
from kanstudio.gui.data_panel import DataPanel
from kanstudio.gui.edit_control import EditControl
from kanstudio.gui.edit_menus import build_edit_menus
from kanstudio.gui.formula_panel import FormulaPanel
from kanstudio.gui.inspector import EdgeInspector
from kanstudio.gui.loss_plot import LossPlot
from kanstudio.gui.menus import build_menus
from kanstudio.gui.messages import MessageBar
from kanstudio.gui.network_view import NetworkView
from kanstudio.gui.project_control import ProjectControl
from kanstudio.gui.samples import Sample
from kanstudio.gui.session_control import SessionControl
from kanstudio.gui.settings_store import add_recent_file, app_settings, recent_files
from kanstudio.gui.training_panel import TrainingPanel

__all__ = ["MainWindow"]

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PROJECT_SUFFIX = ".kstudio"
# Saved dock layouts of another version are not restored (the default layout changed).
LAYOUT_VERSION = 2


class MainWindow(EditControl, ProjectControl, SessionControl, QMainWindow):
    def __init__(self, worker_mode: str = "process", settings: Any = None) -> None:
        QMainWindow.__init__(self)
        self.setObjectName("mainWindow")
        self.setWindowTitle("KAN Studio")
        self.settings = settings if settings is not None else app_settings()
        self.bridge = WorkerBridge(worker_mode, self)
        self.messages = MessageBar()
        self.network_view = NetworkView()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.messages)
        layout.addWidget(self.network_view, 1)
        self.setCentralWidget(central)

        self.data_panel = DataPanel()
        self.training_panel = TrainingPanel()
        self.loss_plot = LossPlot()
        self.inspector = EdgeInspector()
        self.formula_panel = FormulaPanel()
        self._build_docks()
        self.toolbar = None
        self.actions = build_menus(self)
        self.edit_actions = build_edit_menus(self)
        self.engine_label = QLabel("Engine: not started")
        self.engine_label.setObjectName("engineLabel")
        self.statusBar().addPermanentWidget(self.engine_label)
        self.setAcceptDrops(True)
        self._initial_size()
        self._restore_layout()
        self._refresh_recent_menu()
        SessionControl.__init__(self)
        ProjectControl.__init__(self)
        EditControl.__init__(self)

    def _build_docks(self) -> None:
        """The default layout: Data on the left and Model & Training over Loss on the right,
        both the window's full height; the Edge Inspector and the Formula share the space
        under the network view as tabs (side by side they are too narrow to read)."""
        area = Qt.DockWidgetArea
        self.setCorner(Qt.Corner.BottomLeftCorner, area.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, area.RightDockWidgetArea)
        self.data_dock = self._dock("Data", "dataDock", self.data_panel,
                                    area.LeftDockWidgetArea)
        self.training_dock = self._dock("Model && Training", "trainingDock",
                                        self.training_panel, area.RightDockWidgetArea)
        self.loss_dock = self._dock("Loss", "lossDock", self.loss_plot,
                                    area.RightDockWidgetArea)
        self.splitDockWidget(self.training_dock, self.loss_dock, Qt.Orientation.Vertical)
        self.inspector_dock = self._dock("Edge Inspector", "inspectorDock", self.inspector,
                                         area.BottomDockWidgetArea)
        self.formula_dock = self._dock("Formula", "formulaDock", self.formula_panel,
                                       area.BottomDockWidgetArea)
        self.tabifyDockWidget(self.inspector_dock, self.formula_dock)
        self.inspector_dock.raise_()
        self.docks = [self.data_dock, self.training_dock, self.loss_dock,
                      self.inspector_dock, self.formula_dock]
        self._docks_sized = False  # sized to the window when it is first shown

    def _size_docks(self) -> None:
        """Dock sizes in proportion to the window (the central view takes what is left)."""
        w, h = self.width(), self.height()
        self.resizeDocks([self.data_dock, self.training_dock], [int(0.23 * w), int(0.22 * w)],
                         Qt.Orientation.Horizontal)
        panel = self.training_dock.minimumSizeHint().height()
        self.resizeDocks([self.training_dock, self.loss_dock], [panel, h - panel],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.inspector_dock], [int(0.4 * h)], Qt.Orientation.Vertical)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._docks_sized:
            self._docks_sized = True  # a restored layout keeps the user's sizes
            self._size_docks()

    def _dock(self, title: str, name: str, widget: QWidget,
              area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # ------------------------------------------------------------------ persistence
    def _initial_size(self) -> None:
        """Most of the screen on a first run (the network view needs room)."""
        screen = self.screen()
        if screen is None:
            self.resize(1400, 860)
            return
        area = screen.availableGeometry()
        self.resize(int(area.width() * 0.94), int(area.height() * 0.92))
        self.move(area.x() + int(area.width() * 0.03), area.y() + int(area.height() * 0.02))

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray) and not state.isEmpty():
            # restoreState refuses an older layout's state (then the defaults stay)
            self._docks_sized = self.restoreState(state, LAYOUT_VERSION)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if not self.may_close():
            event.ignore()
            return
        self.save_layout()
        self.bridge.shutdown()
        super().closeEvent(event)

    # ------------------------------------------------------------------ files
    def choose_csv(self) -> None:
        start = str(Path(self.current_path).parent) if self.current_path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open CSV", start,
                                              "CSV files (*.csv *.tsv *.txt);;All files (*)")
        if path:
            self.open_csv(path)

    def choose_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open Project", "",
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
        self.statusBar().showMessage(f"Reading {name}…")
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # ~1 s per million rows
        try:
            table = read_csv(path)
        except DataError as exc:
            self.show_error(f"Cannot open {name}: {exc}")
            return False
        finally:
            QApplication.restoreOverrideCursor()
        if target is not None and target in table.names:
            known = [i for i in (inputs or []) if i in table.names] or None
            roles = resolve_roles(table, target, known)
        else:
            roles = default_roles(table)
        self.current_path, self.current_project = str(path), None
        self._loaded_roles = None  # opening a file (again) always reloads the engine
        self.messages.dismiss()
        self.setWindowTitle(f"KAN Studio — {name}")
        self.data_panel.set_table(table, roles, name)
        self._remember(path)
        self.statusBar().showMessage(f"Opened {name}: {table.n_rows:,} rows", 5000)
        return True

    def open_project(self, path: str) -> bool:
        if not Path(path).is_file():
            self.show_error(f"Cannot open {Path(path).name}: the file does not exist.")
            return False
        self.pending_project = str(path)
        self.bridge.send("open_project", path=str(path))
        self.statusBar().showMessage(f"Opening project {Path(path).name}…")
        return True

    def _remember(self, path: str) -> None:
        add_recent_file(self.settings, path)
        self.settings.sync()
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
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
        self._refresh_recent_menu()

    # ------------------------------------------------------------------ drag and drop
    @staticmethod
    def _dropped_path(event: Any) -> str | None:
        mime = event.mimeData()
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            path = url.toLocalFile()
            if path.lower().endswith((*CSV_SUFFIXES, PROJECT_SUFFIX)):
                return path
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if self._dropped_path(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        path = self._dropped_path(event)
        if path:
            event.acceptProposedAction()
            self.open_path(path)

    # ------------------------------------------------------------------ messages
    def show_error(self, text: str, detail: str = "") -> None:
        self.messages.show_message("error", text, detail)
        self.statusBar().showMessage(text, 15000)

