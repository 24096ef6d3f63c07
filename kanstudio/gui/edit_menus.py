"""Part 2's actions: File ▸ Save, Edit ▸ Undo/Redo/Delete, the Model menu, image export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QStyle

from kanstudio.gui.menus import make_action

if TYPE_CHECKING:
    from kanstudio.gui.main_window import MainWindow

__all__ = ["EditActions", "build_edit_menus"]


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
    formula: QAction
    export_menu: QMenu


def build_edit_menus(window: MainWindow) -> EditActions:
    sp, key = QStyle.StandardPixmap, QKeySequence.StandardKey
    a = EditActions(
        save=make_action(window, "&Save Project", window.save_project, key.Save,
                     sp.SP_DialogSaveButton, "Save data, model, locks and history"),
        save_as=make_action(window, "Save Project &As…", window.save_project_as, "Ctrl+Shift+S"),
        undo=make_action(window, "&Undo", window.undo, key.Undo, sp.SP_ArrowBack,
                     "Undo the last change to the model"),
        redo=make_action(window, "&Redo", window.redo, "Ctrl+Shift+Z", sp.SP_ArrowForward,
                     "Redo what was undone"),
        delete=make_action(window, "&Prune Selected", window.delete_selected, key.Delete,
                       tip="Remove the selected node or edge from the network"),
        auto_prune=make_action(window, "Auto-&prune…", window.auto_prune, "Ctrl+P",
                           tip="Remove the edges and nodes that hardly matter"),
        refine=make_action(window, "&Refine Grid…", window.refine_grid, "Ctrl+G",
                       tip="A finer spline grid with the same curves"),
        auto_symbolic=make_action(window, "Auto-&symbolic…", window.auto_symbolic, "Ctrl+L",
                              tip="Lock every edge that a library function fits well"),
        fine_tune=make_action(window, "&Fine-tune", window.fine_tune, "Ctrl+T",
                          tip="Continue training; locked edges keep their functions"),
        discover=make_action(window, "&Discover", window.discover, "Ctrl+D",
                         sp.SP_CommandLink, "One click: train, prune, refine, lock "
                         "functions, fine-tune and read off the formula"),
        formula=make_action(window, "Update &Formula", window.request_formula_by_user,
                        "Ctrl+F", tip="Build the formula of the current model"),
        export_menu=QMenu("&Export Image", window),
    )
    bar = window.menuBar()
    menus = {m.title().replace("&", ""): m for m in
             (act.menu() for act in bar.actions()) if m is not None}
    file_menu = menus["File"]
    quit_action = window.actions.quit
    file_menu.insertAction(quit_action, a.save)
    file_menu.insertAction(quit_action, a.save_as)
    for which, title in (("network", "Network View…"), ("loss", "Loss Plot…"),
                         ("inspector", "Edge Inspector Plot…"), ("formula", "Formula Plot…")):
        item = a.export_menu.addAction(title)
        item.triggered.connect(lambda _c=False, w=which: window.export_image(w))
    file_menu.insertMenu(quit_action, a.export_menu)
    file_menu.insertSeparator(quit_action)

    edit_menu = QMenu("&Edit", window)
    bar.insertMenu(menus["Training"].menuAction(), edit_menu)
    edit_menu.addAction(a.undo)
    edit_menu.addAction(a.redo)
    edit_menu.addSeparator()
    edit_menu.addAction(a.delete)

    model_menu = QMenu("&Model", window)
    bar.insertMenu(menus["View"].menuAction(), model_menu)
    model_menu.addAction(a.discover)
    model_menu.addSeparator()
    for action in (a.auto_prune, a.refine, a.auto_symbolic, a.fine_tune):
        model_menu.addAction(action)
    model_menu.addSeparator()
    model_menu.addAction(a.formula)

    tools = window.toolbar
    if tools is not None:
        tools.addSeparator()
        for action in (a.discover, a.undo, a.redo):
            tools.addAction(action)
    return a
