"""The window's frame: menus, docks, shortcuts, persistence, drag and drop."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QKeySequence

from kanstudio.gui.main_window import MainWindow
from kanstudio.gui.samples import load_catalog
from tests.gui.conftest import SAMPLES


def _plain(text):
    """Menu text without mnemonic markers ('&&' is a literal '&')."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def _menu(window, title):
    for action in window.menuBar().actions():
        if _plain(action.text()) == title:
            return action.menu()
    raise AssertionError(f"no menu {title}")


def _texts(menu):
    return [_plain(a.text()) for a in menu.actions() if not a.isSeparator()]


def test_menus_docks_and_shortcuts(qtbot):
    window = MainWindow(worker_mode="thread")  # the worker is not needed here
    qtbot.addWidget(window)
    file_items = _texts(_menu(window, "File"))
    assert file_items == ["Open CSV…", "Open Sample", "Open Project…", "Recent Files",
                          "Save Project", "Save Project As…", "Export Image", "Quit"]
    assert _texts(_menu(window, "Edit")) == ["Undo", "Redo", "Prune Selected"]
    assert _texts(_menu(window, "Model")) == ["Discover", "Discover across Seeds…",
                                              "Auto-prune…", "Refine Grid…", "Auto-symbolic…",
                                              "Fine-tune", "Update Formula"]
    assert window.edit_actions.undo.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    assert window.edit_actions.redo.shortcut().toString() == "Ctrl+Shift+Z"
    assert not window.edit_actions.undo.isEnabled()  # nothing to undo yet
    samples = _texts(window.actions.sample_menu)
    assert len(samples) == len(load_catalog()) >= 10
    assert any(t.startswith("toy_xy") and "x*y" in t for t in samples)
    view_items = _texts(_menu(window, "View"))
    assert view_items[:5] == ["Data", "Model & Training", "Loss", "Edge Inspector", "Formula"]
    assert "Fit View" in view_items and "Edge Function Labels" in view_items
    assert _texts(_menu(window, "Help")) == ["About KAN Studio"]
    assert window.actions.open_csv.shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    assert window.actions.train.shortcut().toString() == "F5"
    assert window.actions.step.shortcut().toString() == "F10"
    assert {d.objectName() for d in window.docks} == {"dataDock", "trainingDock", "lossDock",
                                                      "inspectorDock", "formulaDock",
                                                      "discoverLogDock"}
    assert not window.actions.train.isEnabled()  # nothing to train yet


def test_layout_and_recent_files_persist(qtbot, settings_dir, make_window, sample):
    window = make_window()
    assert window.projects.open_sample(sample("toy_sin"))
    window.data_dock.hide()
    window.close()
    assert (settings_dir / "kanstudio.ini").is_file()

    again = MainWindow(worker_mode="thread")
    qtbot.addWidget(again)
    recent = [a.toolTip() for a in again.actions.recent_menu.actions() if not a.isSeparator()]
    assert recent[0] == str((SAMPLES / "toy_sin.csv").resolve())
    again.show()
    assert again.data_dock.isHidden()  # the dock layout came back


def test_dropping_a_csv_opens_it(qtbot, window):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(SAMPLES / "toy_xy.csv"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.data_panel.source == "toy_xy.csv"
    qtbot.waitUntil(lambda: bool(window.state.engine.has_data), timeout=30_000)


def test_open_project_shows_its_data_model_and_settings(qtbot, window, tmp_path):
    from kanstudio.data import load_dataset
    from kanstudio.session import Session, SessionSettings
    from kanstudio.session.project_file import save_project

    session = Session(load_dataset(SAMPLES / "toy_xy.csv", target="f"),
                      SessionSettings(width=[2, 3, 1], grid=4, seed=2, opt="adam"))
    session.train(3)
    path = tmp_path / "study.kstudio"
    save_project(session, path)
    with qtbot.waitSignal(window.bridge.snapshot, timeout=30_000) as snapshot:
        assert window.projects.open_project(str(path))
    assert snapshot.args[0]["width"] == [2, 3, 1]
    qtbot.waitUntil(lambda: window.training_panel.grid.value() == 4, timeout=10_000)
    panel = window.data_panel
    assert panel.source == "study.kstudio (data stored in the project)"
    assert panel.describe()["rows"] == 1000 and panel.role_of("f") == "target"
    assert not panel.columns_model.editable  # roles are fixed by the project
    assert window.training_panel.width_edit.text() == "2, 3, 1"
    assert window.training_panel.seed.value() == 2
    assert window.network_view.net_geometry.width == [2, 3, 1]
    assert window.windowTitle() == "study.kstudio — KAN Studio"
    sent = []
    send = window.bridge.send
    window.bridge.send = lambda command, **fields: (sent.append(command),
                                                    send(command, **fields))
    window.training_panel.steps.setValue(2)
    window.runs.train()
    qtbot.waitUntil(lambda: window.state.last_done is not None, timeout=30_000)
    assert "train" in sent and "new_model" not in sent  # training continues the saved model


def test_opening_a_broken_project_says_why(qtbot, window, tmp_path):
    path = tmp_path / "broken.kstudio"
    path.write_bytes(b"not a zip")
    with qtbot.waitSignal(window.bridge.error, timeout=30_000):
        window.projects.open_project(str(path))
    assert window.messages.current_text()
    assert "Traceback" not in window.messages.current_text()
