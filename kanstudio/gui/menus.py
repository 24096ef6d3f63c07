"""The window's actions, menu bar and toolbar (shortcuts listed in one place)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QStyle, QToolBar, QToolButton

from kanstudio.gui.about import show_about
from kanstudio.gui.samples import load_catalog

if TYPE_CHECKING:
    from kanstudio.gui.main_window import MainWindow

__all__ = ["Actions", "build_menus"]


@dataclass
class Actions:
    open_csv: QAction
    open_project: QAction
    quit: QAction
    train: QAction
    pause: QAction
    step: QAction
    stop: QAction
    new_model: QAction
    fit_view: QAction
    about: QAction
    sample_menu: QMenu
    recent_menu: QMenu
    view_menu: QMenu


def make_action(window: MainWindow, text: str, slot: Any, shortcut: Any = None,
            icon: QStyle.StandardPixmap | None = None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if icon is not None:
        action.setIcon(window.style().standardIcon(icon))
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
    action.triggered.connect(lambda _checked=False: slot())
    return action


def build_menus(window: MainWindow) -> Actions:
    sp = QStyle.StandardPixmap
    a = Actions(
        open_csv=make_action(window, "Open &CSV…", window.choose_csv, QKeySequence.StandardKey.Open,
                         sp.SP_DialogOpenButton, "Open a CSV file of measurements"),
        open_project=make_action(window, "Open &Project…", window.choose_project, "Ctrl+Shift+O",
                             sp.SP_DirOpenIcon, "Open a saved .kstudio project"),
        quit=make_action(window, "&Quit", window.close, QKeySequence.StandardKey.Quit),
        train=make_action(window, "Train", window.train, "F5", sp.SP_MediaPlay,
                      "Train the model"),
        pause=make_action(window, "Pause", window.toggle_pause, "F6", sp.SP_MediaPause,
                      "Pause or resume training"),
        step=make_action(window, "Step", window.step, "F10", sp.SP_MediaSkipForward,
                     "Run exactly one training step"),
        stop=make_action(window, "Stop", window.stop, "Shift+F5", sp.SP_MediaStop,
                     "Stop training"),
        new_model=make_action(window, "&New Model", window.new_model, "Ctrl+Shift+N",
                          sp.SP_BrowserReload, "Start again from an untrained model"),
        fit_view=make_action(window, "Fit View", window.network_view.fit_to_window,
                         "Ctrl+0", sp.SP_TitleBarMaxButton, "Show the whole network"),
        about=make_action(window, "&About KAN Studio", lambda: show_about(window),
                      tip="Version, licence and the bundled libraries"),
        sample_menu=QMenu("Open &Sample", window),
        recent_menu=QMenu("&Recent Files", window),
        view_menu=QMenu("&View", window),
    )
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(a.open_csv)
    for sample in load_catalog():
        item = a.sample_menu.addAction(sample.title)
        item.setData(str(sample.path))
        item.triggered.connect(lambda _c=False, s=sample: window.open_sample(s))
    a.sample_menu.setEnabled(not a.sample_menu.isEmpty())
    file_menu.addMenu(a.sample_menu)
    file_menu.addAction(a.open_project)
    file_menu.addMenu(a.recent_menu)
    file_menu.addSeparator()
    file_menu.addAction(a.quit)

    train_menu = bar.addMenu("&Training")
    for action in (a.train, a.pause, a.step, a.stop):
        train_menu.addAction(action)
    train_menu.addSeparator()
    train_menu.addAction(a.new_model)

    bar.addMenu(a.view_menu)
    for number, dock in enumerate(window.docks, start=1):
        toggle = dock.toggleViewAction()
        toggle.setShortcut(QKeySequence(f"Ctrl+{number}"))
        a.view_menu.addAction(toggle)
    a.view_menu.addSeparator()
    a.view_menu.addAction(a.fit_view)
    help_menu = bar.addMenu("&Help")
    help_menu.setObjectName("helpMenu")
    help_menu.addAction(a.about)

    tools = QToolBar("Main toolbar", window)
    tools.setObjectName("mainToolbar")
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    tools.addAction(a.open_csv)
    sample_button = QToolButton(tools)
    sample_button.setText("Samples")
    sample_button.setToolTip("Open a bundled sample dataset")
    sample_button.setMenu(a.sample_menu)
    sample_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    tools.addWidget(sample_button)
    tools.addSeparator()
    for action in (a.train, a.pause, a.step, a.stop):
        tools.addAction(action)
    tools.addSeparator()
    tools.addAction(a.fit_view)
    window.addToolBar(tools)
    window.toolbar = tools
    return a
