"""The window's actions, menu bar and toolbar (shortcuts listed in one place).

:func:`make_actions` and :func:`make_edit_actions` create the actions (text, shortcut,
icon, tip); the controllers that own what an action does connect them
(:class:`~kanstudio.gui.run_controller.RunController`, ...), and :func:`build_menu_bar`
places them in menus and the toolbar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QStyle, QToolBar, QToolButton

__all__ = ["Actions", "EditActions", "make_action", "make_actions", "make_edit_actions",
           "build_menu_bar"]

EXPORT_VIEWS = (("network", "Network View…"), ("loss", "Loss Plot…"),
                ("inspector", "Edge Inspector Plot…"), ("formula", "Formula Plot…"))


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
    edge_labels: QAction  # checkable: live best-fit labels on the network's edges
    about: QAction
    sample_menu: QMenu
    recent_menu: QMenu
    view_menu: QMenu


@dataclass
class EditActions:
    save: QAction
    save_as: QAction
    undo: QAction
    redo: QAction
    delete: QAction
    auto_prune: QAction
    refine: QAction
    auto_symbolic: QAction
    fine_tune: QAction
    discover: QAction
    discover_seeds: QAction
    formula: QAction
    export_menu: QMenu  # one item per view; its data names the view (EXPORT_VIEWS)


def make_action(window: QMainWindow, text: str, shortcut: Any = None,
                icon: QStyle.StandardPixmap | None = None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if icon is not None:
        action.setIcon(window.style().standardIcon(icon))
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
    return action


def _checkable(action: QAction, checked: bool = True) -> QAction:
    action.setCheckable(True)
    action.setChecked(checked)
    return action


def make_actions(window: QMainWindow) -> Actions:
    sp, key, act = QStyle.StandardPixmap, QKeySequence.StandardKey, make_action
    return Actions(
        open_csv=act(window, "Open &CSV…", key.Open, sp.SP_DialogOpenButton,
                     "Open a CSV file of measurements"),
        open_project=act(window, "Open &Project…", "Ctrl+Shift+O", sp.SP_DirOpenIcon,
                         "Open a saved .kstudio project"),
        quit=act(window, "&Quit", key.Quit),
        train=act(window, "Train", "F5", sp.SP_MediaPlay, "Train the model"),
        pause=act(window, "Pause", "F6", sp.SP_MediaPause, "Pause or resume training"),
        step=act(window, "Step", "F10", sp.SP_MediaSkipForward,
                 "Run exactly one training step"),
        stop=act(window, "Stop", "Shift+F5", sp.SP_MediaStop, "Stop training"),
        new_model=act(window, "&New Model", "Ctrl+Shift+N", sp.SP_BrowserReload,
                      "Start again from an untrained model"),
        fit_view=act(window, "Fit View", "Ctrl+0", sp.SP_TitleBarMaxButton,
                     "Show the whole network"),
        edge_labels=_checkable(act(
            window, "Edge &Function Labels",
            tip="Name on each edge the library function that fits its curve best, with "
                "R², updated while training")),
        about=act(window, "&About KAN Studio",
                  tip="Version, licence and the bundled libraries"),
        sample_menu=QMenu("Open &Sample", window),
        recent_menu=QMenu("&Recent Files", window),
        view_menu=QMenu("&View", window),
    )


def make_edit_actions(window: QMainWindow) -> EditActions:
    sp, key, act = QStyle.StandardPixmap, QKeySequence.StandardKey, make_action
    a = EditActions(
        save=act(window, "&Save Project", key.Save, sp.SP_DialogSaveButton,
                 "Save data, model, locks and history"),
        save_as=act(window, "Save Project &As…", "Ctrl+Shift+S"),
        undo=act(window, "&Undo", key.Undo, sp.SP_ArrowBack,
                 "Undo the last change to the model"),
        redo=act(window, "&Redo", "Ctrl+Shift+Z", sp.SP_ArrowForward, "Redo what was undone"),
        delete=act(window, "&Prune Selected", key.Delete,
                   tip="Remove the selected node or edge from the network"),
        auto_prune=act(window, "Auto-&prune…", "Ctrl+P",
                       tip="Remove the edges and nodes that hardly matter"),
        refine=act(window, "&Refine Grid…", "Ctrl+G",
                   tip="A finer spline grid with the same curves"),
        auto_symbolic=act(window, "Auto-&symbolic…", "Ctrl+L",
                          tip="Lock every edge that a library function fits well"),
        fine_tune=act(window, "&Fine-tune", "Ctrl+T",
                      tip="Continue training; locked edges keep their functions"),
        discover=act(window, "&Discover", "Ctrl+D", sp.SP_CommandLink,
                     "One click: train, prune, refine, lock functions, fine-tune and read "
                     "off the formula"),
        discover_seeds=act(window, "Discover across &Seeds…", "Ctrl+Shift+D",
                           tip="Run Discover with several seeds at once, on this machine's "
                               "cores, and see how often each formula comes out"),
        formula=act(window, "Update &Formula", "Ctrl+F",
                    tip="Build the formula of the current model"),
        export_menu=QMenu("&Export Image", window),
    )
    for which, title in EXPORT_VIEWS:
        a.export_menu.addAction(title).setData(which)
    return a


def build_menu_bar(window: QMainWindow, a: Actions, e: EditActions,
                   docks: list[QDockWidget]) -> QToolBar:
    """File, Edit, Training, Model, View and Help menus, and the toolbar (returned)."""
    bar = window.menuBar()
    _file_menu(bar.addMenu("&File"), a, e)
    edit_menu = bar.addMenu("&Edit")
    for action in (e.undo, e.redo, None, e.delete):
        _add(edit_menu, action)
    train_menu = bar.addMenu("&Training")
    for action in (a.train, a.pause, a.step, a.stop, None, a.new_model):
        _add(train_menu, action)
    model_menu = bar.addMenu("&Model")
    for action in (e.discover, e.discover_seeds, None, e.auto_prune, e.refine,
                   e.auto_symbolic, e.fine_tune, None, e.formula):
        _add(model_menu, action)
    bar.addMenu(a.view_menu)
    for number, dock in enumerate(docks, start=1):
        toggle = dock.toggleViewAction()
        toggle.setShortcut(QKeySequence(f"Ctrl+{number}"))
        a.view_menu.addAction(toggle)
    a.view_menu.addSeparator()
    a.view_menu.addAction(a.fit_view)
    a.view_menu.addAction(a.edge_labels)
    help_menu = bar.addMenu("&Help")
    help_menu.setObjectName("helpMenu")
    help_menu.addAction(a.about)
    tools = _toolbar(window, a, e)
    window.addToolBar(tools)
    return tools


def _add(menu: QMenu, action: QAction | None) -> None:
    if action is None:
        menu.addSeparator()
    else:
        menu.addAction(action)


def _file_menu(menu: QMenu, a: Actions, e: EditActions) -> None:
    menu.addAction(a.open_csv)
    menu.addMenu(a.sample_menu)
    menu.addAction(a.open_project)
    menu.addMenu(a.recent_menu)
    menu.addSeparator()
    menu.addAction(e.save)
    menu.addAction(e.save_as)
    menu.addMenu(e.export_menu)
    menu.addSeparator()
    menu.addAction(a.quit)


def _toolbar(window: QMainWindow, a: Actions, e: EditActions) -> QToolBar:
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
    for action in (a.train, a.pause, a.step, a.stop, None, a.fit_view, None, e.discover,
                   e.undo, e.redo):
        if action is None:
            tools.addSeparator()
        else:
            tools.addAction(action)
    return tools
