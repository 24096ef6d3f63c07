"""What a scientist needs to judge a formula (issue 13): the formulas Discover found, each
with its residuals and its agreement with the network beyond the data, "Use this formula"
as one undo step, the constants with their standard errors (in the panel and in the
exported LaTeX), and an approximate formula that looks approximate."""

from __future__ import annotations

import numpy as np

from tests.gui.conftest import open_and_load

WAIT = 60_000


def _front_rows(view) -> list[list[str]]:
    return [[view.table.item(r, c).text() for c in range(view.table.columnCount())]
            for r in range(view.table.rowCount())]


def _approximate_formula(values) -> dict:
    """A formula result as the worker sends it: approximate (R² 0.36 against the data
    while the network fits), ``values`` as both its actual and predicted column."""
    return {"event": "result", "command": "formula", "formulas": ["1.722*x + 1.932"],
            "latex": ["1.722 x + 1.932"], "latex_eq": ["f = 1.722 x + 1.932"],
            "python": [""], "input_names": ["x"], "target_names": ["f"],
            "formula_test_rmse": 0.5, "formula_test_r2": 0.3643,
            "network_test_rmse": 0.001, "network_test_r2": 0.99999,
            "status": "approximate", "status_reason": "differs by 80%",
            "formula_network_r2": 0.3641, "constants": [], "latex_constants": "",
            "actual": values, "predicted": values}


def test_judge_the_formulas_discover_found(qtbot, window, sample, tmp_path, monkeypatch):
    import dataclasses

    from kanstudio.session import pipeline

    @dataclasses.dataclass
    class SearchAfterExact(pipeline.PipelineSettings):
        # the engine's less simple and approximate entries join the list (this sample's
        # formula is exact, after which discovery skips that search)
        search_after_exact: bool = True

    monkeypatch.setattr(pipeline, "PipelineSettings", SearchAfterExact)  # thread worker
    open_and_load(qtbot, window, sample("toy_exp_sin"))
    window.edit_actions.discover.trigger()
    qtbot.waitUntil(lambda: "discover" in window.state.last_result, timeout=300_000)
    panel = window.formula_panel
    view = panel.pareto
    qtbot.waitUntil(lambda: panel.result is not None and bool(view.entries), timeout=WAIT)

    # the list: simplest first, the pick marked and in use, brought to the front
    entries = view.entries
    assert panel.tabs.currentWidget() is view and view.isVisible()
    complexities = [e["complexity"] for e in entries]
    assert complexities == sorted(complexities)
    rows = _front_rows(view)
    assert [r[1] for r in rows] == [str(c) for c in complexities]
    assert [r[3] for r in rows] == [e["status"] for e in entries]
    pick = next(k for k, e in enumerate(entries) if e["chosen"])
    assert rows[pick][0] == "★ pick, in use" and sum("★" in r[0] for r in rows) == 1
    assert entries[pick]["formula"] == panel.result["formulas"][0]
    assert not view.use_button.isEnabled()  # the pick is selected, and already in use

    # a row: rendered, its residuals, its agreement with the network beyond the data
    for k, e in enumerate(entries):
        view.table.selectRow(k)
        assert view.selected == k and view.rendered_png
        _x, residuals = view.residual_data()
        np.testing.assert_allclose(residuals, e["predicted"] - view.actual)
        assert "range widened by 25%" in view.wider.text()
        assert f"R² {e['wider']['r2_network']:.4f} against the network" in view.wider.text()

    # Use this formula: the model's formula, one Undo away
    other = next(k for k, e in enumerate(entries) if e["status"] == "approximate")
    wanted = entries[other]["formula"]
    view.table.selectRow(other)
    view.use_button.click()
    qtbot.waitUntil(lambda: panel.result["formulas"][0] == wanted, timeout=WAIT)
    assert "in use" in view.table.item(other, 0).text() and not view.use_button.isEnabled()
    assert window.state.last_result["use_formula"]["what"].startswith(f"adopt formula {other + 1}")
    # ... an approximate formula looks approximate: the badge with both R²
    r = panel.result
    assert panel.badge.isVisible() and panel.badge.text().startswith("APPROXIMATE")
    assert f"{r['formula_test_r2']:.4f} against the held-out data" in panel.badge.text()
    assert f"{r['formula_network_r2']:.4f} against the network" in panel.badge.text()
    # ... its constants with standard errors, in the panel and in the exported LaTeX
    constants = r["constants"]
    assert constants and all(c["stderr"] is not None for c in constants)
    assert panel.constants.isVisible() and panel.constants.rowCount() == len(constants)
    first = panel.constants.item(0, 1).text()
    assert first == constants[0]["text"] and " ± " in first
    assert panel.constants.item(0, 0).text() in wanted  # as the formula shows it
    panel.constants_in_tex.setChecked(True)
    panel.export(str(tmp_path / "formula.tex"))
    tex = (tmp_path / "formula.tex").read_text(encoding="utf-8")
    assert tex.startswith("\\begin{equation}") and "\\begin{tabular}{ll}" in tex
    assert tex.count(" \\pm ") == len(constants) and tex.rstrip().endswith("\\end{table}")
    panel.constants_in_tex.setChecked(False)
    panel.export(str(tmp_path / "plain.tex"))
    assert "tabular" not in (tmp_path / "plain.tex").read_text(encoding="utf-8")

    window.edit_actions.undo.trigger()
    qtbot.waitUntil(lambda: panel.result["formulas"][0] == entries[pick]["formula"],
                    timeout=WAIT)
    assert not panel.badge.isVisible()  # the pick is verified
    assert view.table.item(pick, 0).text() == "★ pick, in use"

    # saved and reopened: the list is back, to look at (its networks are not saved)
    path = tmp_path / "judged.kstudio"
    assert window.projects.save_project_to(str(path))
    qtbot.waitUntil(lambda: path.exists(), timeout=WAIT)
    window.projects.open_project(str(path))
    qtbot.waitUntil(lambda: window.state.current_project == str(path), timeout=WAIT)
    # the same rows (complexity, R², status, formula; the marks follow the formula shown)
    qtbot.waitUntil(lambda: [r[1:] for r in _front_rows(view)] == [r[1:] for r in rows],
                    timeout=WAIT)
    assert [e["formula"] for e in view.entries] == [e["formula"] for e in entries]
    view.table.selectRow(other)
    assert not view.use_button.isEnabled() and "Discover again" in view.use_button.toolTip()

    # another CSV: the list of the previous data is gone
    open_and_load(qtbot, window, sample("toy_sin"))
    qtbot.waitUntil(lambda: not view.entries, timeout=WAIT)
    assert not view.table.isVisible()


def test_an_approximate_discovery_is_not_announced_as_the_result(qtbot, window):
    # Discover's end, then its formula, as the worker sends them: an approximate formula
    # is said to be approximate, with both R², never "the formula panel shows the result"
    formula = _approximate_formula(np.ones((4, 1)))
    window.bridge.result.emit({"event": "result", "command": "discover",
                               "reason": "finished", "stage": "formula", "seconds": 9.0})
    assert "shows the result" not in window.messages.current_text()
    window.bridge.result.emit(formula)
    text = window.messages.current_text()
    assert "approximate" in text and "R² 0.3643 against the held-out data" in text
    assert "0.3641 against the network" in text and "shows" not in text
    assert window.statusBar().currentMessage().startswith(
        "Discover finished with an approximate formula: f = 1.722*x + 1.932")
    badge = window.formula_panel.badge
    assert badge.isVisible() and "0.3643" in badge.text() and "0.3641" in badge.text()
    assert badge.text().endswith("Why: differs by 80%")  # said, not only in a tooltip


def test_use_this_formula_takes_down_discover_s_notice(qtbot, window):
    # seen under Xvfb: after Use this formula switched to an approximate formula, the bar
    # still said "Discover finished with a verified formula"
    window.bridge.result.emit({"event": "result", "command": "discover",
                               "reason": "finished", "stage": "formula", "seconds": 9.0})
    window.bridge.result.emit({
        "event": "result", "command": "formula", "formulas": ["exp(x)"], "latex": ["e^{x}"],
        "latex_eq": ["f = e^{x}"], "python": [""], "input_names": ["x"],
        "target_names": ["f"], "formula_test_rmse": 1e-8, "formula_test_r2": 1.0,
        "network_test_rmse": 0.001, "network_test_r2": 0.99999, "status": "verified",
        "status_reason": "", "formula_network_r2": 0.99999, "constants": [],
        "latex_constants": "", "actual": np.ones((4, 1)), "predicted": np.ones((4, 1))})
    assert "verified formula" in window.messages.current_text()
    window.bridge.result.emit({"event": "result", "command": "use_formula", "index": 0,
                               "what": "adopt formula 1 of the front: 1.722*x + 1.932"})
    assert "verified" not in window.messages.current_text()
    assert window.statusBar().currentMessage().startswith("Formula switched")


class _Line:
    """A stand-in network computing the test formula's line (the session scales nothing)."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        return -1500.2468 * X[:, :1] + 3.71234567


def _project_with_constants(tmp_path):
    """A saved project whose formula (pinned, and the one row of its front) has the long
    constants -1500.2468 and 3.71234567 and the snapped constant pi."""
    import sympy

    from kanstudio.data import Dataset
    from kanstudio.session import Session, SessionSettings
    from kanstudio.session.front import FormulaFront, make_entry, plot_rows
    from kanstudio.session.project_file import save_project

    rng = np.random.default_rng(0)
    x = rng.uniform(1.0, 2.0, (80, 1))
    y = -1500.2468 * x + 3.71234567 + np.pi + rng.normal(0.0, 0.01, x.shape)
    session = Session(Dataset.from_arrays(x, y, ["x"], ["y"]),
                      SessionSettings(width=[1, 1], seed=0, device="cpu",
                                      scale_inputs="none", scale_target="none"))
    session.train(2)
    s = sympy.Symbol(session.symbols[0])
    expr = sympy.Float(-1500.2468) * s + sympy.Float(3.71234567) + sympy.pi
    result = session.describe_formula([expr], shown=[expr])
    session.pin_formula(result)
    rows = plot_rows(session)
    entry = make_entry(session, result, None, [1, 1], 5, True, _Line(), rows)
    session.front = FormulaFront([entry], session.dataset.y[rows, 0])
    path = tmp_path / "constants.kstudio"
    save_project(session, path)
    return path


def test_long_constants_read_at_four_digits_in_the_list_and_the_constants_table(
        qtbot, window, tmp_path):
    path = _project_with_constants(tmp_path)
    window.projects.open_project(str(path))
    panel, view = window.formula_panel, window.formula_panel.pareto
    qtbot.waitUntil(lambda: panel.result is not None and bool(view.entries), timeout=WAIT)

    # the list: 4 significant digits, pi kept exact; every digit in the row's tooltip
    cell = view.table.item(0, 4)
    assert cell.text() == "-1500*x + pi + 3.712"
    assert "1500.2468" in cell.toolTip() and "3.71234567" in cell.toolTip()
    assert view.table.item(0, 0).text() == "★ pick, in use"  # still matched to the panel's

    # the constants, as the formula shows them: "-1500", not sympy's "-1500."
    shown = [panel.constants.item(k, 0).text() for k in range(panel.constants.rowCount())]
    assert sorted(shown) == ["-1500", "3.712"]
    panel.constants_in_tex.setChecked(True)
    panel.export(str(tmp_path / "formula.tex"))
    tex = (tmp_path / "formula.tex").read_text(encoding="utf-8")
    assert "$-1500$ & $-1500." in tex and "$3.712$ & $3.7" in tex
    assert "-1500.$" not in tex


def test_the_predicted_vs_actual_plot_stays_in_its_own_tab(qtbot, window):
    # seen under Xvfb: after "Use this formula" the predicted-vs-actual plot (its y = x
    # line and points) painted over the "Formulas found" tab. A formula arriving while the
    # list is in front must leave the plot hidden behind its tab.
    panel = window.formula_panel
    formula = _approximate_formula(np.arange(4.0)[:, None])
    plot_tab = panel.tabs.indexOf(panel.plot)
    assert not panel.tabs.isTabVisible(plot_tab)  # no formula: no plot
    # a formula without a list: its plot in front, the y = x line across the data
    window.bridge.result.emit(formula)
    assert panel.tabs.currentWidget() is panel.plot and panel.plot.isVisible()
    np.testing.assert_array_equal(panel.diagonal.getData()[1], [0.0, 3.0])
    # the list comes to the front; a formula arriving now leaves the plot behind its tab
    entry = {"formula": "1.722*x + 1.932", "latex": "1.722 x + 1.932", "complexity": 5,
             "test_r2": 0.36, "network_r2": 0.36, "status": "approximate", "width": [1, 1],
             "chosen": True, "wider": {}, "predicted": np.ones(4), "usable": True}
    window.bridge.front.emit({"event": "front", "entries": [entry], "actual": np.ones(4)})
    assert panel.tabs.currentWidget() is panel.pareto and not panel.plot.isVisible()
    window.bridge.result.emit(formula)
    assert panel.tabs.currentWidget() is panel.pareto and panel.pareto.isVisible()
    assert not panel.plot.isVisible() and panel.tabs.isTabVisible(plot_tab)
    panel.tabs.setCurrentIndex(plot_tab)
    assert panel.plot.isVisible() and not panel.pareto.isVisible()
