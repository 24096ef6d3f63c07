"""The default dock layout leaves every dock usable on common screens."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("size", [(1366, 768), (1280, 800), (1600, 1000)])
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
    # Model & Training shows all its controls when the screen has room, else it scrolls
    panel = window.training_panel
    assert training.height() >= min(panel.sizeHint().height(), 400)
    if size[1] >= 1000:
        assert panel.visibleRegion().boundingRect().height() >= panel.sizeHint().height()
    # Inspector and formula share the space under the network view, one tab each.
    assert set(window.tabifiedDockWidgets(window.inspector_dock)) == {window.formula_dock,
                                                                      window.log_dock}
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


def test_the_loss_summary_after_training_does_not_widen_the_window(qtbot, window, sample):
    # seen under Xvfb: the one-line summary ("step 150 of the model's training   network
    # now: train RMSE …   test RMSE … (held-out rows)") pushed the window past a
    # 1600-pixel screen, cutting off the Model & Training and Loss docks
    from tests.gui.conftest import open_and_train

    window.resize(1500, 950)
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", 5)
    qtbot.waitUntil(lambda: "network now" in window.loss_plot.summary.text(), timeout=60_000)
    qtbot.wait(100)
    assert window.minimumSizeHint().width() <= 1500 and window.width() <= 1500
    assert window.loss_plot.summary.minimumSizeHint().width() < 400
