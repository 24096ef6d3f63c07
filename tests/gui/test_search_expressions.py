"""Search expressions… in the Edge Inspector: the engine's front joins the candidates, one
locks like any candidate, the formula shows it, Undo takes it back; without the engine the
button says why and the rest works."""

from __future__ import annotations

import pytest

from kanstudio.symbolic.search import available
from tests.gui.conftest import open_and_train

WAIT = 120_000


@pytest.mark.skipif(not available(), reason="the search engine (pyoperon) is not installed")
def test_search_lock_a_result_formula_shows_it_then_undo(qtbot, window, sample):
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1", steps=20)
    inspector = window.inspector
    window.edits.inspect_edge(0, 0, 0)
    qtbot.waitUntil(lambda: bool(inspector.candidates), timeout=WAIT)
    n_library = len(inspector.candidates)
    assert inspector.search_button.isEnabled()
    inspector.search_button.click()
    qtbot.waitUntil(lambda: window.state.engine.editing == "search_edge", timeout=WAIT)
    assert not inspector.search_button.isEnabled()  # one search at a time
    assert window.training_panel.stop_button.text() == "Cancel"
    qtbot.waitUntil(lambda: bool(inspector.search_results), timeout=WAIT)
    rows = inspector.candidates[n_library:]
    assert rows == inspector.search_results and rows[0]["r2"] > 0.999
    assert inspector.table.item(n_library, 0).text() == "searched"
    best = inspector.selected_candidate()
    assert best is rows[0] and "sin" in best["expression"]

    inspector.lock_button.click()
    qtbot.waitUntil(lambda: inspector.locked == best["name"], timeout=WAIT)
    assert "sin" in inspector.title.text() and "expr:" not in inspector.hint.text()
    qtbot.waitUntil(lambda: window.formula_panel.result is not None, timeout=WAIT)
    assert "sin" in window.formula_panel.result["formulas"][0]
    assert inspector.search_results == rows  # the results stay for this edge

    window.formula_panel.result = None
    window.edits.undo()
    qtbot.waitUntil(lambda: inspector.locked is None and "numeric spline"
                    in inspector.title.text(), timeout=WAIT)
    assert window.state.last_result["undo"]["what"].startswith("lock (0, 0, 0) to ")


def test_without_the_engine_the_button_says_why_and_locking_works(qtbot, window, sample,
                                                                 monkeypatch):
    import kanstudio.symbolic.search.operon as operon

    def broken():
        raise ImportError("No module named 'pyoperon'")

    monkeypatch.setattr(operon, "_import", broken)  # the worker runs in this process
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1", steps=5)
    inspector = window.inspector
    window.edits.inspect_edge(0, 0, 0)
    qtbot.waitUntil(lambda: bool(inspector.candidates), timeout=WAIT)
    inspector.search_button.click()
    qtbot.waitUntil(lambda: bool(inspector.search_unavailable), timeout=WAIT)
    assert not inspector.search_button.isEnabled()
    assert "pip install pyoperon" in inspector.search_button.toolTip()
    said = [m for m in window.messages.history
            if "Expression search is not available" in m.text]
    assert len(said) == 1
    window.edits.lock_edge(0, 0, 0, "sin")
    qtbot.waitUntil(lambda: inspector.locked == "sin", timeout=WAIT)
    assert not inspector.search_button.isEnabled()  # still off, still saying why
