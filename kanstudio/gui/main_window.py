"""The main window: it lays out the panels and docks, builds the application state and the
controllers that own the work, and wires the menus to them.

- :class:`~kanstudio.gui.state.AppState` (``window.state``): the state panels observe;
- :class:`~kanstudio.gui.run_controller.RunController` (``window.runs``): Train, Pause,
  Step, Stop and the engine's session events;
- :class:`~kanstudio.gui.edit_controller.EditController` (``window.edits``): inspector,
  prune, lock, refine, auto-symbolic, undo, Discover, the formula;
- :class:`~kanstudio.gui.project_controller.ProjectController` (``window.projects``):
  opening CSVs and projects, recent files, saving, recovery, image export;
- :class:`~kanstudio.gui.seed_sweep.SeedSweepController` (``window.seeds``): Discover
  across seeds, in parallel local processes, and loading a seed's model.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from kanstudio.gui.about import show_about
from kanstudio.gui.bridge import WorkerBridge
from kanstudio.gui.data_panel import DataPanel
from kanstudio.gui.edit_controller import EditController
from kanstudio.gui.formula_panel import FormulaPanel
from kanstudio.gui.inspector import EdgeInspector
from kanstudio.gui.loss_plot import LossPlot
from kanstudio.gui.menus import build_menu_bar, make_actions, make_edit_actions
from kanstudio.gui.messages import MessageBar
from kanstudio.gui.network_view import NetworkView
from kanstudio.gui.project_controller import CSV_SUFFIXES, PROJECT_SUFFIX, ProjectController
from kanstudio.gui.run_controller import RunController
from kanstudio.gui.seed_sweep import SeedSweepController
from kanstudio.gui.settings_store import app_settings
from kanstudio.gui.state import AppState
from kanstudio.gui.training_panel import TrainingPanel
from kanstudio.gui.views import Notifier, Views

__all__ = ["MainWindow"]

# Saved dock layouts of another version are not restored (the default layout changed).
LAYOUT_VERSION = 3
EDGE_LABELS_KEY = "view/edge_labels"
LOSS_DOCK_MIN_PX = 260  # the loss plot's share of the right column on a small screen
FORMULA_DOCK_MIN_PX = 160  # below this the formula panel scrolls (a formula and its scores)


def _as_bool(value: Any) -> bool:
    """A stored setting as a bool (QSettings' INI files give back "true" / "false")."""
    return value.lower() != "false" if isinstance(value, str) else bool(value)


class MainWindow(QMainWindow):
    def __init__(self, worker_mode: str = "process", settings: Any = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("KAN Studio")
        self.settings = settings if settings is not None else app_settings()
        self.state = AppState(self)
        self.bridge = WorkerBridge(worker_mode, self)
        self._build_central()
        self.data_panel = DataPanel()
        self.training_panel = TrainingPanel()
        self.loss_plot = LossPlot()
        self.inspector = EdgeInspector()
        self.formula_panel = FormulaPanel()
        self._build_docks()
        self.engine_label = QLabel("Engine: not started")
        self.engine_label.setObjectName("engineLabel")
        self.statusBar().addPermanentWidget(self.engine_label)
        self.actions = make_actions(self)
        self.edit_actions = make_edit_actions(self)
        self.toolbar = build_menu_bar(self, self.actions, self.edit_actions, self.docks)
        views = Views(
            window=self, bridge=self.bridge, state=self.state,
            notify=Notifier(self.messages, self.statusBar()), network_view=self.network_view,
            data_panel=self.data_panel, training_panel=self.training_panel,
            loss_plot=self.loss_plot, inspector=self.inspector,
            formula_panel=self.formula_panel, inspector_dock=self.inspector_dock,
            formula_dock=self.formula_dock, engine_label=self.engine_label,
            discover_log=self.discover_log)
        self.runs = RunController(views, self.actions)
        self.edits = EditController(views, self.edit_actions, self.runs)
        self.projects = ProjectController(views, self.actions, self.edit_actions, self.runs,
                                          self.settings)
        self.seeds = SeedSweepController(views, self.edit_actions.discover_seeds, self.runs)
        self._connect_window_actions()
        self.setAcceptDrops(True)
        self._initial_size()
        self._restore_layout()

    def _build_central(self) -> None:
        """The message bar over the network view."""
        self.messages = MessageBar()
        self.network_view = NetworkView()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.messages)
        layout.addWidget(self.network_view, 1)
        self.setCentralWidget(central)

    def _connect_window_actions(self) -> None:
        a = self.actions
        a.quit.triggered.connect(lambda _checked=False: self.close())
        a.fit_view.triggered.connect(lambda _checked=False: self.network_view.fit_to_window())
        a.about.triggered.connect(lambda _checked=False: show_about(self))
        self._connect_edge_labels()

    def _connect_edge_labels(self) -> None:
        """View ▸ Edge Function Labels: remembered between sessions; when off the worker
        stops fitting too (it is told again whenever it (re)starts)."""
        action = self.actions.edge_labels
        action.setChecked(_as_bool(self.settings.value(EDGE_LABELS_KEY, True)))
        self.network_view.set_show_fits(action.isChecked())

        def send(*_args: Any) -> None:
            self.bridge.send("live_labels", enabled=action.isChecked())

        def toggled(on: bool) -> None:
            self.network_view.set_show_fits(on)
            self.settings.setValue(EDGE_LABELS_KEY, on)
            send()

        action.toggled.connect(toggled)
        self.bridge.ready.connect(send)

    def start_worker(self) -> None:
        self.runs.start_worker()

    def open_path(self, path: str) -> bool:
        return self.projects.open_path(path)

    def _build_docks(self) -> None:
        """The default layout: Data on the left and Model & Training over Loss on the right,
        both the window's full height; the Edge Inspector and the Formula share the space
        under the network view as tabs (side by side they are too narrow to read)."""
        area = Qt.DockWidgetArea
        self.setCorner(Qt.Corner.BottomLeftCorner, area.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, area.RightDockWidgetArea)
        self.data_dock = self._dock("Data", "dataDock", self.data_panel,
                                    area.LeftDockWidgetArea)
        # Model & Training is ~500 px tall: on a 768-px laptop screen it scrolls rather than
        # push the window past the screen's bottom (the Loss dock keeps its room below).
        self.training_dock = self._dock("Model && Training", "trainingDock",
                                        self._scrolling(self.training_panel, keep_width=True),
                                        area.RightDockWidgetArea)
        self.loss_dock = self._dock("Loss", "lossDock", self.loss_plot,
                                    area.RightDockWidgetArea)
        self.splitDockWidget(self.training_dock, self.loss_dock, Qt.Orientation.Vertical)
        self.inspector_dock = self._dock("Edge Inspector", "inspectorDock", self.inspector,
                                         area.BottomDockWidgetArea)
        # The formula panel (formula, scores, constants, the list of formulas found) is
        # taller than the room under the network view on a small screen: it scrolls.
        formula_scroll = self._scrolling(self.formula_panel)
        formula_scroll.setMinimumHeight(FORMULA_DOCK_MIN_PX)
        self.formula_dock = self._dock("Formula", "formulaDock", formula_scroll,
                                       area.BottomDockWidgetArea)
        self.tabifyDockWidget(self.inspector_dock, self.formula_dock)
        # Discover's stages and decisions (each architecture, the structure found, why a
        # formula was kept or replaced), kept after the status bar has moved on
        self.discover_log = QPlainTextEdit()
        self.discover_log.setObjectName("discoverLog")
        self.discover_log.setReadOnly(True)
        self.discover_log.setPlaceholderText(
            "Discover's stages and decisions appear here while it runs.")
        self.log_dock = self._dock("Discover Log", "discoverLogDock", self.discover_log,
                                   area.BottomDockWidgetArea)
        self.tabifyDockWidget(self.formula_dock, self.log_dock)
        self.inspector_dock.raise_()
        self.docks = [self.data_dock, self.training_dock, self.loss_dock,
                      self.inspector_dock, self.formula_dock, self.log_dock]
        self._docks_sized = False  # sized to the window when it is first shown

    def _size_docks(self) -> None:
        """Dock sizes in proportion to the window (the central view takes what is left)."""
        w, h = self.width(), self.height()
        self.resizeDocks([self.data_dock, self.training_dock], [int(0.23 * w), int(0.22 * w)],
                         Qt.Orientation.Horizontal)
        # the whole panel when there is room, else what leaves the loss plot readable
        title = self.training_dock.minimumSizeHint().height()
        panel = min(self.training_panel.sizeHint().height() + title, h - LOSS_DOCK_MIN_PX)
        self.resizeDocks([self.training_dock, self.loss_dock], [panel, h - panel],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.inspector_dock], [int(0.4 * h)], Qt.Orientation.Vertical)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._docks_sized:
            self._docks_sized = True  # a restored layout keeps the user's sizes
            self._size_docks()

    @staticmethod
    def _scrolling(panel: QWidget, keep_width: bool = False) -> QScrollArea:
        """``panel`` in a frameless scroll area that gives it its full size when it can;
        ``keep_width``: the scroll area is never narrower than the panel."""
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(panel)
        if keep_width:  # (in the narrowest column a scroll bar takes from the panel)
            scroll.setMinimumWidth(panel.minimumSizeHint().width())
        return scroll

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
        if not self.projects.may_close():
            event.ignore()
            return
        self.save_layout()
        self.seeds.shutdown()
        self.bridge.shutdown()
        super().closeEvent(event)

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
            self.projects.open_path(path)
