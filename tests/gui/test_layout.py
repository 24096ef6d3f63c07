"""The default dock layout leaves every dock usable on common screens."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
def test_default_docks_are_usable_at_common_screen_sizes(qtbot, size):
    from kanstudio.gui.main_window import MainWindow

    window = MainWindow(worker_mode="thread")  # the layout needs no engine
    qtbot.addWidget(window)
    hint = window.minimumSizeHint()
    assert hint.width() <= size[0] - 40 and hint.height() <= size[1] - 30  # fits the screen
    window.resize(size[0] - 40, size[1] - 30)  # as a first start sizes it (~94%)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)
    loss, training = window.loss_dock, window.training_dock
    assert loss.height() >= 180 and loss.width() >= 240  # the loss plot is readable
    assert training.height() >= training.minimumSizeHint().height()
    # Inspector and formula share the space under the network view, one tab each.
    assert window.tabifiedDockWidgets(window.inspector_dock) == [window.formula_dock]
    inspector = window.inspector
    assert inspector.height() >= 200 and inspector.plot.width() >= 200
    assert inspector.table.height() >= 90
    center = window.centralWidget().geometry()
    assert center.height() >= 300 and center.width() >= 400  # the network view itself
    # The right column runs the window's full height, beside (not above) the bottom docks.
    assert loss.geometry().bottom() > window.inspector_dock.geometry().top()
    assert window.inspector_dock.geometry().right() < loss.geometry().left()


def test_a_saved_layout_of_the_old_version_is_not_restored(qtbot):
    from PySide6.QtCore import Qt

    from kanstudio.gui.main_window import LAYOUT_VERSION, MainWindow
    from kanstudio.gui.settings_store import app_settings

    area = Qt.DockWidgetArea
    old = MainWindow(worker_mode="thread")  # another layout: the formula on the left
    qtbot.addWidget(old)
    old.removeDockWidget(old.formula_dock)
    old.addDockWidget(area.LeftDockWidgetArea, old.formula_dock)
    old.formula_dock.show()
    settings = app_settings()
    settings.setValue("window/state", old.saveState())  # saved without a version
    settings.sync()
    window = MainWindow(worker_mode="thread", settings=settings)
    qtbot.addWidget(window)
    assert window.dockWidgetArea(window.formula_dock) == area.BottomDockWidgetArea
    settings.setValue("window/state", old.saveState(LAYOUT_VERSION))  # this version's
    again = MainWindow(worker_mode="thread", settings=settings)
    qtbot.addWidget(again)
    assert again.dockWidgetArea(again.formula_dock) == area.LeftDockWidgetArea  # the user's
