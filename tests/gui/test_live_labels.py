"""Live edge labels in the real window: each edge named with the library function that
fits its curve best (and R²), from the worker's snapshots, while training; a View option
turns them off; locked edges keep their lock label; product nodes' factor edges too."""

from __future__ import annotations

import re

from tests.gui.conftest import open_and_load, open_and_train, set_training

WAIT = 60_000
LABEL = re.compile(r"^(\S+) ([01]\.\d\d)$")  # "sin 0.99"


def _shown(view) -> dict[int, str]:
    """Edge -> text of every live label on screen."""
    return {e: label.textItem.toPlainText() for e, label in view.fit_labels.items()
            if label.isVisible()}


def test_a_sine_edge_is_named_sin_and_the_option_turns_labels_off(qtbot, window, sample):
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1", steps=30)
    view = window.network_view
    qtbot.waitUntil(lambda: 0 in view.edge_fits, timeout=WAIT)
    name, short, r2 = view.edge_fits[0]
    assert (name, short) == ("sin", "sin") and r2 >= 0.99  # f = sin(pi x): one edge
    text = _shown(view)[0]
    assert LABEL.match(text) and text.startswith("sin ")
    assert "Best-fitting function now: sin (R² 0.99" in view.describe_edge(0) or \
        "Best-fitting function now: sin (R² 1.00" in view.describe_edge(0)

    # View ▸ Edge Function Labels off: nothing shown, and the worker stops fitting
    action = window.actions.edge_labels
    action.setChecked(False)
    assert _shown(view) == {}
    before = view.snapshots_applied
    window.bridge.send("snapshot")
    qtbot.waitUntil(lambda: view.snapshots_applied > before, timeout=WAIT)
    assert "edge_fits" not in window.state.last_snapshot
    assert view.edge_fits == {} and _shown(view) == {}
    assert window.settings.value("view/edge_labels") in (False, "false")
    action.setChecked(True)  # back on: labels at once, without training
    qtbot.waitUntil(lambda: 0 in _shown(view), timeout=WAIT)

    # a locked edge shows its lock label, not a live one
    before = view.snapshots_applied
    window.bridge.send("lock", layer=0, i=0, j=0, name="sin")
    qtbot.waitUntil(lambda: bool(view.lock_labels) and view.snapshots_applied > before,
                    timeout=WAIT)
    assert view.lock_labels[0].textItem.toPlainText() == "sin"
    assert 0 not in view.edge_fits and _shown(view) == {}


def test_labels_appear_while_training_with_a_product_node(qtbot, window, sample):
    # f = x*y with one product node: its two factor columns take edges from x and from y
    open_and_load(qtbot, window, sample("toy_xy"))
    window.training_panel.width_edit.setText("2,0+1,1")
    window.training_panel.settings_edited.emit()
    set_training(window, steps=100_000, opt="adam")
    view = window.network_view
    seen: list[tuple[bool, dict[int, str]]] = []
    window.bridge.snapshot.connect(lambda _snap: seen.append((window.runs.training,
                                                              _shown(view))))
    window.runs.train()
    # labels refresh while the run goes on: two different sets seen during training
    qtbot.waitUntil(lambda: len({tuple(sorted(shown.items())) for training, shown in seen
                                 if training and shown}) >= 2, timeout=WAIT)
    window.runs.stop()
    qtbot.waitUntil(lambda: not window.runs.training, timeout=WAIT)
    g = view.net_geometry
    assert g.n_edges == 2 * 2 + 1
    assert set(view.edge_fits) <= set(range(g.n_edges))
    for e, (name, short, r2) in view.edge_fits.items():
        assert name and short and 0.0 <= r2 <= 1.0, (e, name, short, r2)
    assert all(LABEL.match(text) for text in _shown(view).values())
    # labels of one row never overlap: their spans are disjoint on screen
    unit = view.vb.viewPixelSize()[0]
    rows: dict[float, list[tuple[float, float]]] = {}
    for label in view.fit_labels.values():
        if label.isVisible():
            half = label.textItem.boundingRect().width() * unit / 2
            rows.setdefault(round(label.pos().y(), 6), []).append(
                (label.pos().x() - half, label.pos().x() + half))
    for spans in rows.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_a_lock_label_reads_as_a_person_writes_the_function(qtbot, window, sample):
    # the library's "x^2" is drawn "x²" over the edge; the lock itself keeps its name
    open_and_train(qtbot, window, sample("toy_sin"), "1, 1", steps=5)
    view = window.network_view
    for name, label in (("x^2", "x²"), ("sqrt", "√x"), ("1/x", "1/x")):
        window.bridge.send("lock", layer=0, i=0, j=0, name=name)
        qtbot.waitUntil(lambda label=label: bool(view.lock_labels)
                        and view.lock_labels[0].textItem.toPlainText() == label,
                        timeout=WAIT)
    window.edits.inspect_edge(0, 0, 0)
    qtbot.waitUntil(lambda: window.inspector.locked is not None, timeout=WAIT)
    assert window.inspector.locked == "1/x"
    window.bridge.send("lock", layer=0, i=0, j=0, name="x^2")
    qtbot.waitUntil(lambda: view.lock_labels[0].textItem.toPlainText() == "x²", timeout=WAIT)
    window.edits.inspect_edge(0, 0, 0)
    qtbot.waitUntil(lambda: window.inspector.locked == "x^2", timeout=WAIT)
    assert "locked to x²" in window.inspector.hint.text()
