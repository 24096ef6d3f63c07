"""The inspector of a locked edge says what it is locked to, with its constants."""

from __future__ import annotations

import re

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
    assert "locked: " in title and "sin(" in title and "c·f(a·x + b) + d: a = " in title
    assert inspector.hint.text().startswith("This edge is locked to sin")
    assert inspector.unlock_button.isEnabled()


def _significant_digits(number: str) -> int:
    mantissa = re.split("[eE]", number)[0].replace("-", "").replace(".", "").lstrip("0")
    return len(mantissa)


def test_candidates_are_ranked_by_the_engine_rule_and_readable(qtbot, window, sample):
    from kanstudio.symbolic.fitting import USEFUL_R2

    open_and_train(qtbot, window, sample("toy_exp_sin"), "2, 3, 1", steps=20)
    inspector = window.inspector
    window.edits.inspect_edge(1, 0, 0)
    qtbot.waitUntil(lambda: len(inspector.candidates) > 5, timeout=WAIT)
    table = inspector.table
    rows = [[table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())]
    # Shown in the engine's order (the one rule auto-symbolic and Discover use): a fit
    # that explains under USEFUL_R2 of the curve never above one that explains more.
    assert [r[0] for r in rows] == [c["name"] for c in inspector.candidates]
    # refused fits (a stand-in, with its reason in the tooltip) come after every real one
    ok = [c.get("ok", True) for c in inspector.candidates]
    assert ok == sorted(ok, reverse=True), ok
    r2 = [float(r[1]) for r, good in zip(rows, ok, strict=True) if r[1] != "—" and good]
    first_poor = next((k for k, v in enumerate(r2) if v < USEFUL_R2), len(r2))
    assert all(v < USEFUL_R2 for v in r2[first_poor:]), " ".join(f"{r[0]}:{r[1]}" for r in rows)
    expression_column = [table.horizontalHeaderItem(c).text()
                         for c in range(table.columnCount())].index("Fitted expression")
    header_tip = table.horizontalHeaderItem(expression_column).toolTip()
    assert "c·f(a·x + b) + d" in header_tip and "a" in header_tip and "d" in header_tip
    for row, c in zip(rows, inspector.candidates, strict=True):
        text = row[expression_column]
        numbers = re.findall(r"\d+\.?\d*(?:[eE][-+]?\d+)?", text)
        assert all(_significant_digits(n) <= 4 for n in numbers), text
        tip = table.item(rows.index(row), expression_column).toolTip()
        a, b, cc, d = c["params"]
        assert f"c = {cc:.17g}" in tip and f"a = {a:.17g}" in tip, tip  # full precision
