"""What a scientist needs to judge a formula (issue 13): the formulas Discover found, each
with its residuals and its agreement with the network beyond the data, "Use this formula"
as one undo step, the constants with their standard errors (in the panel and the exported
LaTeX), and an approximate formula that looks approximate."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.conftest import open_and_load

WAIT = 60_000


@pytest.fixture
def discovered(qtbot, window, sample):
    """toy_exp_sin after Discover: the front and the formula have reached the panel."""
    open_and_load(qtbot, window, sample("toy_exp_sin"))
    window.edit_actions.discover.trigger()
    qtbot.waitUntil(lambda: "discover" in window.state.last_result, timeout=300_000)
    panel = window.formula_panel
    qtbot.waitUntil(lambda: panel.result is not None and bool(panel.pareto.entries),
                    timeout=WAIT)
    return window


def test_discover_lists_its_formulas_simplest_first_with_the_pick_marked(discovered):
    panel = discovered.formula_panel
    view = panel.pareto
    entries = view.entries
    assert panel.tabs.currentWidget() is view
    complexities = [e["complexity"] for e in entries]
    assert complexities == sorted(complexities)
    assert [view.table.item(r, 1).text() for r in range(len(entries))] == [
        str(c) for c in complexities]
    chosen = [r for r, e in enumerate(entries) if e["chosen"]]
    assert len(chosen) == 1 and view.table.item(chosen[0], 0).text().startswith("★ pick")
    assert "in use" in view.table.item(chosen[0], 0).text()  # it is the panel's formula
    assert entries[chosen[0]]["formula"] == panel.result["formulas"][0]
    for r, e in enumerate(entries):
        assert view.table.item(r, 3).text() == e["status"]
        view.table.selectRow(r)
        assert view.selected == r and view.rendered_png  # drawn as mathematics
        x, y = view.residual_data()
        np.testing.assert_allclose(y, e["predicted"] - view.actual)
        assert "range widened by 25%" in view.wider.text()
        assert f"{e['wider']['r2_network']:.4f}" in view.wider.text()


def test_use_this_formula_is_one_undo_step(qtbot, discovered):
    window = discovered
    panel, view = window.formula_panel, window.formula_panel.pareto
    pick = panel.result["formulas"][0]
    other = next((r for r, e in enumerate(view.entries) if not e["chosen"]), None)
    if other is None:
        pytest.skip("Discover found a single formula")
    view.table.selectRow(other)
    assert view.use_button.isEnabled()
    view.use_button.click()
    wanted = view.entries[other]["formula"]
    qtbot.waitUntil(lambda: panel.result["formulas"][0] == wanted, timeout=WAIT)
    assert "in use" in view.table.item(other, 0).text()
    assert not view.use_button.isEnabled()
    assert panel.badge.isVisible() == (view.entries[other]["status"] == "approximate")
    window.edit_actions.undo.trigger()
    qtbot.waitUntil(lambda: panel.result["formulas"][0] == pick, timeout=WAIT)
