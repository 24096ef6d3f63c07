"""Text the window shows is whole and readable: the title names the app once, Save dialogs
start in the user's folder, long status messages are cut with the whole text at hand,
headers and input labels are not clipped or drawn over each other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QApplication

from kanstudio.gui import formula_panel, project_controller
from tests.gui.conftest import open_and_load

LONG_NAMES = ["temperature_K", "pressure_kPa", "flow_rate_L_per_min", "humidity_percent",
              "voltage_mV", "current_mA", "wavelength_nm"]


def _units_csv(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.uniform(1.0, 2.0, (60, len(LONG_NAMES)))
    y = X[:, 0] * X[:, 1] + np.sin(X[:, 2])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "units.csv"
    lines = [",".join([*LONG_NAMES, "rate_per_s"])]
    lines += [",".join(f"{v:.6g}" for v in [*row, target])
              for row, target in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_title_names_the_app_once(qtbot, window, sample):
    # Qt appends the application's display name to a title that does not end with it.
    QApplication.setApplicationDisplayName("KAN Studio")
    open_and_load(qtbot, window, sample("toy_sin"))
    title = window.windowTitle()
    assert title.count("KAN Studio") == 1 and title.endswith("KAN Studio")
    assert "toy_sin.csv" in title


def test_save_dialogs_start_in_the_users_folder_not_in_the_app(qtbot, window, sample,
                                                               tmp_path, monkeypatch):
    from kanstudio.gui.samples import sample_dir

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    starts = []

    def fake_dialog(_parent, _caption, start, _filters):
        starts.append(Path(start))
        return "", ""

    for module in (project_controller, formula_panel):
        monkeypatch.setattr(module.QFileDialog, "getSaveFileName", staticmethod(fake_dialog))
    open_and_load(qtbot, window, sample("toy_sin"))  # a sample: inside the app's folders
    window.projects.save_project_as()
    window.projects.export_image("network")
    app_folders = [sample_dir().resolve(), Path(project_controller.__file__).parents[1]]
    for start in starts:
        assert not any(start.resolve().is_relative_to(f) for f in app_folders), start
        assert start.parent == home, start
    assert starts[0].name == "toy_sin.kstudio"

    mine = _units_csv(tmp_path / "my data")
    starts.clear()
    assert window.projects.open_csv(str(mine))
    window.projects.save_project_as()
    window.projects.export_image("loss")
    assert [s.parent for s in starts] == [mine.parent, mine.parent]


def test_a_long_status_message_is_cut_with_the_whole_text_in_its_tooltip(window):
    formula = "rate_per_s = " + " + ".join(f"{k}.25*sin({k}*temperature_K)" for k in range(60))
    window.edits.v.notify.status(f"Discover finished: {formula}")
    bar = window.statusBar()
    shown = bar.currentMessage()
    assert shown.startswith("Discover finished: rate_per_s = ") and shown.endswith("…")
    assert bar.fontMetrics().horizontalAdvance(shown) <= bar.width()
    assert bar.toolTip() == f"Discover finished: {formula}"
    window.edits.v.notify.status("Short news.")
    assert bar.currentMessage() == "Short news." and bar.toolTip() == ""


def test_column_headers_are_not_cut(qtbot, window, tmp_path):
    assert window.projects.open_csv(str(_units_csv(tmp_path)))
    view = window.data_panel.columns_view
    header = view.horizontalHeader()
    model = view.model()
    for section in range(model.columnCount()):
        text = model.headerData(section, header.orientation())
        needed = header.fontMetrics().horizontalAdvance(text)
        assert header.sectionSize(section) >= needed, text


def test_input_labels_do_not_overlap_and_carry_their_full_names(qtbot, window, tmp_path):
    assert window.projects.open_csv(str(_units_csv(tmp_path)))
    view = window.network_view
    qtbot.waitUntil(lambda: view.net_geometry is not None, timeout=30_000)
    labels = view.input_labels()
    assert [label.toolTip() for label in labels] == LONG_NAMES
    rects = sorted((label.mapRectToScene(label.boundingRect()) for label in labels),
                   key=lambda r: r.left())
    for left, right in zip(rects, rects[1:], strict=False):
        assert left.right() <= right.left() + 0.5, (left, right)
