"""Opening data: preview, roles, validation messages in place, bad files."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from tests.gui.conftest import SAMPLES, open_and_load


def _column_row(panel, name):
    model = panel.columns_model
    return next(r for r in range(model.rowCount()) if model.rows[r][0] == name)


def test_open_sample_shows_table_counts_and_ranges(qtbot, window, sample):
    open_and_load(qtbot, window, sample("toy_xy"))
    panel = window.data_panel
    assert panel.counts_label.text().startswith("1,000 rows × 3 columns")
    assert "2 inputs, 1 target" in panel.counts_label.text()
    data = np.genfromtxt(SAMPLES / "toy_xy.csv", delimiter=",", names=True)
    cols = panel.columns_model
    row = _column_row(panel, "x")
    assert float(cols.index(row, 3).data()) == float(f"{data['x'].min():.6g}")
    assert float(cols.index(row, 4).data()) == float(f"{data['x'].max():.6g}")
    assert cols.index(_column_row(panel, "f"), 1).data() == "target"
    preview = panel.preview_model
    assert preview.rowCount() == 1000 and preview.columnCount() == 3
    assert float(preview.index(0, 0).data()) == data["x"][0]
    assert preview.headerData(0, Qt.Orientation.Vertical) == "2"  # spreadsheet row
    view = window.network_view
    assert view.net_geometry.width == [2, 5, 1]
    assert [lbl.toPlainText() for lbl in view._labels] == ["x", "y", "f"]
    assert window.training_panel.width_edit.text() == "2, 5, 1"
    assert window.training_panel.train_button.isEnabled()


def test_changing_the_target_reloads_the_worker(qtbot, window, sample):
    open_and_load(qtbot, window, sample("toy_xy"))
    panel = window.data_panel
    with qtbot.waitSignal(window.bridge.loaded, timeout=30_000) as loaded:
        index = panel.columns_model.index(_column_row(panel, "x"), 1)
        assert panel.columns_model.setData(index, "target")
    assert loaded.args[0]["target_names"] == ["x"]
    assert loaded.args[0]["input_names"] == ["y", "f"]
    assert panel.role_of("f") == "input"  # the old target became an input
    assert panel.target_combo.currentText() == "x"
    assert [lbl.toPlainText() for lbl in window.network_view._labels] == ["y", "f", "x"]


def test_validation_messages_block_training_until_fixed(qtbot, window, tmp_path):
    rows = ["a,b,note,f"] + [f"{i / 10},{i % 7},ok,{i * 0.3}" for i in range(30)]
    rows[4] = "0.3,oops,ok,0.9"
    path = tmp_path / "typo.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert window.projects.open_csv(str(path))
    panel = window.data_panel
    message = "Column 'b' has 1 non-numeric value; the first is 'oops' in row 5."
    assert any(m.startswith(message) for m in panel.issue_messages())
    texts = [panel.issues_list.item(i).text() for i in range(panel.issues_list.count())]
    assert any(message in t for t in texts) and panel.issues_list.isVisibleTo(window)
    b = panel.columns_model.index(_column_row(panel, "b"), 0)
    assert message in b.data(Qt.ItemDataRole.ToolTipRole)
    assert panel.role_of("note") == "ignore"  # text columns start ignored
    panel._show_issue_cell(next(panel.issues_list.item(i)
                                for i in range(panel.issues_list.count())
                                if message in panel.issues_list.item(i).text()))
    current = panel.preview_view.currentIndex()
    assert (current.row(), current.column()) == (3, 1)  # spreadsheet row 5, column b
    assert not window.training_panel.train_button.isEnabled()

    panel.set_role("b", "ignore")
    assert panel.issue_messages() == []
    qtbot.waitUntil(lambda: bool(window.state.engine.has_data), timeout=30_000)
    assert window.training_panel.train_button.isEnabled()


def test_a_bad_csv_shows_its_message_and_keeps_the_previous_data(qtbot, window, sample,
                                                                 tmp_path):
    open_and_load(qtbot, window, sample("toy_xy"))
    bad = tmp_path / "sheet.csv"
    bad.write_bytes(b"PK\x03\x04 this is really an xlsx workbook")
    assert not window.projects.open_csv(str(bad))
    text = window.messages.current_text()
    assert text.startswith("Cannot open sheet.csv:") and "export it as CSV" in text
    assert "Traceback" not in text
    assert window.data_panel.source == "toy_xy.csv"
    assert window.data_panel.describe()["rows"] == 1000
    assert window.state.engine.has_data
    assert window.training_panel.train_button.isEnabled()


def test_rows_whose_value_is_not_a_number_can_be_dropped(qtbot, window, tmp_path):
    rows = ["a,b,f"] + [f"{i / 10},{i % 7},{i * 0.3}" for i in range(30)]
    rows[4] = "0.3,oops,0.9"
    rows[9] = "0.8,??,2.4"
    path = tmp_path / "typos.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert window.projects.open_csv(str(path))
    panel = window.data_panel
    box = panel.drop_non_numeric
    assert box.isVisibleTo(window) and "2 rows" in box.text()
    assert not window.training_panel.train_button.isEnabled()
    loaded = []
    window.bridge.loaded.connect(loaded.append)
    box.setChecked(True)
    assert panel.report.ok and "28 rows" in panel.status_label.text()
    qtbot.waitUntil(lambda: bool(loaded), timeout=30_000)
    assert loaded[-1]["n_samples"] == 28 and loaded[-1]["n_dropped"] == 2  # the engine too
    qtbot.waitUntil(lambda: bool(window.state.engine.has_data), timeout=30_000)
    assert window.training_panel.train_button.isEnabled()


def test_a_target_with_decimal_commas_stays_the_target(qtbot, window, tmp_path):
    rows = ["a,b,rate_per_s"] + [f'{i / 10},{i % 7},"{i * 3},5"' for i in range(30)]
    path = tmp_path / "comma.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert window.projects.open_csv(str(path))
    panel = window.data_panel
    assert panel.role_of("rate_per_s") == "target"
    assert panel.target_combo.currentText() == "rate_per_s"
    assert any("decimal comma" in m for m in panel.issue_messages())
    assert not window.training_panel.train_button.isEnabled()


def test_the_messages_are_read_whole_without_scrolling(qtbot, window, tmp_path):
    # a decimal-comma column and a target with gaps: two long messages that wrap
    rows = ["x,y,f"] + [(f'"0,{i}"' if i % 7 == 0 else f"{i / 100}") + f",{i % 5},"
                        + ("" if i % 11 == 0 else f"{i * 0.3}") for i in range(60)]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert window.projects.open_csv(str(path))
    issues = window.data_panel.issues_list
    assert issues.count() == 2
    qtbot.wait(50)  # the layout settles
    needed = sum(issues.visualItemRect(issues.item(k)).height() for k in range(2))
    assert issues.viewport().height() >= needed
    assert issues.verticalScrollBar().maximum() == 0
