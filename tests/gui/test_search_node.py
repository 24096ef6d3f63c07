"""A selected node in the Inspector: "Search expressions…" finds formulas for its value, one
locks the node (one undo step), the network view rings the node and writes its expression
beside it, the formula shows it, and Undo takes it all back."""

from __future__ import annotations

import pytest

from kanstudio.symbolic.search import available
from tests.gui.conftest import open_and_train

WAIT = 120_000


def _select_node(qtbot, window, level: int, node: int) -> None:
    qtbot.waitUntil(lambda: window.network_view.snapshots_applied > 0, timeout=WAIT)
    window.network_view.select_node(level, node)
    qtbot.waitUntil(lambda: window.inspector.node == (level, node), timeout=WAIT)


@pytest.mark.skipif(not available(), reason="the search engine (pyoperon) is not installed")
def test_select_a_node_search_lock_a_result_then_undo(qtbot, window, sample):
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", steps=20)
    inspector, view = window.inspector, window.network_view
    _select_node(qtbot, window, 2, 0)
    assert "depends on x" in inspector.title.text()
    assert "sum of its edges" in inspector.title.text()
    assert inspector.curve_name() == "node value"  # the legend names what is drawn
    assert inspector.search_button.isEnabled() and not inspector.lock_button.isEnabled()
    inspector.search_button.click()
    qtbot.waitUntil(lambda: window.state.engine.editing == "search_node", timeout=WAIT)
    assert not inspector.search_button.isEnabled()  # one search at a time
    qtbot.waitUntil(lambda: bool(inspector.search_results), timeout=WAIT)
    best = inspector.selected_candidate()
    assert best is inspector.search_results[0] and best["r2"] > 0.99
    assert best["inputs"] == [0] and "sin" in best["expression"]
    assert inspector.table.item(0, 0).text() == "searched"

    inspector.lock_button.click()
    qtbot.waitUntil(lambda: inspector.locked == best["name"], timeout=WAIT)
    assert "locked: =" in inspector.title.text() and "sin" in inspector.title.text()
    qtbot.waitUntil(lambda: (2, 0) in view.node_lock_labels, timeout=WAIT)
    label = view.node_lock_labels[(2, 0)].toPlainText()
    assert label.startswith("= ") and "sin" in label
    assert len(view.locked_node_marks.data) == 1
    qtbot.waitUntil(lambda: window.formula_panel.result is not None, timeout=WAIT)
    assert "sin" in window.formula_panel.result["formulas"][0]

    window.edits.undo()
    qtbot.waitUntil(lambda: inspector.locked is None
                    and "sum of its edges" in inspector.title.text(), timeout=WAIT)
    assert window.state.last_result["undo"]["what"].startswith("lock node (2, 0) to ")
    qtbot.waitUntil(lambda: not view.node_lock_labels, timeout=WAIT)
    assert len(view.locked_node_marks.data) == 0


def test_a_typed_expression_locks_a_node_and_unlock_gives_it_back(qtbot, window, sample):
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", steps=5)
    inspector, view = window.inspector, window.network_view
    _select_node(qtbot, window, 1, 0)
    assert inspector.prune_button.text() == "Prune node"
    assert not inspector.filter_button.isEnabled()  # library functions are for edges
    window.edits.lock_node(1, 0, "sin(pi*x1)")
    qtbot.waitUntil(lambda: inspector.locked is not None, timeout=WAIT)
    assert inspector.unlock_button.isEnabled()
    qtbot.waitUntil(lambda: (1, 0) in view.node_lock_labels, timeout=WAIT)
    assert view.node_lock_labels[(1, 0)].toPlainText() == "= sin(pi*x)"
    inspector.unlock_button.click()
    qtbot.waitUntil(lambda: inspector.locked is None, timeout=WAIT)
    qtbot.waitUntil(lambda: not view.node_lock_labels, timeout=WAIT)
    window.network_view.select_edge(0, 0, 0)  # back to an edge: the edge inspector again
    qtbot.waitUntil(lambda: inspector.edge == (0, 0, 0) and inspector.node is None,
                    timeout=WAIT)
    assert inspector.prune_button.text() == "Prune edge"
    assert inspector.curve_name() == "edge function"


def test_a_node_of_more_than_three_inputs_is_refused_with_why(qtbot, window, sample):
    open_and_train(qtbot, window, sample("toy_4d"), "4, 1, 1", steps=2)
    inspector = window.inspector
    _select_node(qtbot, window, 1, 0)
    assert "depends on x1, x2, x3, x4" in inspector.title.text()
    inspector.search_button.click()
    qtbot.waitUntil(lambda: any("depends on 4 inputs" in m.text
                                for m in window.messages.history), timeout=WAIT)
    said = next(m.text for m in window.messages.history if "depends on 4 inputs" in m.text)
    assert "at most 3" in said and "x1, x2, x3, x4" in said
    qtbot.waitUntil(lambda: inspector.search_button.isEnabled(), timeout=WAIT)
    assert window.state.engine.editing is None
