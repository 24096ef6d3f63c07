"""The inspector of a locked edge says what it is locked to, with its constants."""

from __future__ import annotations

from tests.gui.conftest import open_and_train

WAIT = 60_000


def test_a_locked_edge_shows_its_function_and_offers_unlock(qtbot, window, sample):
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1, 1", steps=10)
    inspector = window.inspector
    window.edits.inspect_edge(0, 0, 0)
    qtbot.waitUntil(lambda: bool(inspector.candidates), timeout=WAIT)
    assert "numeric spline" in inspector.title.text() and not inspector.unlock_button.isEnabled()
    window.edits.lock_edge(0, 0, 0, "sin")
    qtbot.waitUntil(lambda: inspector.locked == "sin", timeout=WAIT)
    qtbot.waitUntil(lambda: inspector.candidates and inspector.candidates[0]["r2"] > 0.9999,
                    timeout=WAIT)  # candidates fit the locked sine itself
    title = inspector.title.text()
    assert "locked: " in title and "sin(" in title and "a, b, c, d = " in title
    assert inspector.hint.text().startswith("This edge is locked to sin")
    assert inspector.unlock_button.isEnabled()
