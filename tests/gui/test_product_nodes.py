"""Product (multiplication) nodes in the window: the Model panel's width notation, the
network view drawing them live, and pruning one of their factor edges."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent

from tests.gui.conftest import open_and_load, open_and_train

WAIT = 60_000


@pytest.fixture
def no_stray_exceptions(monkeypatch):
    """Fail the test on any exception that reaches the Qt event loop (a slot that raised)."""
    caught: list[BaseException] = []
    monkeypatch.setattr(sys, "excepthook", lambda t, v, tb: caught.append(v))
    yield caught
    assert not caught, f"exception reached the event loop: {caught[0]!r}"


def test_product_network_trains_live_in_the_view(qtbot, window, sample, no_stray_exceptions):
    open_and_train(qtbot, window, sample("toy_xy"), "2,0+1,1", steps=3, opt="adam")
    qtbot.waitUntil(lambda: window.network_view.snapshots_applied > 0, timeout=10_000)
    model = window.state.engine.model
    assert model["notation"] == [2, [0, 1], 1]
    assert model["mult_arity"][1] == [2]
    g = window.network_view.net_geometry
    assert g.width == [2, 1, 1]
    assert g.n_edges == 2 * 2 + 1 * 1  # two factor columns from each input, one edge out


def _line_points(view) -> set[tuple[float, float]]:
    """Every finite point handed to the edge-line items (all importance levels)."""
    points = set()
    for item in view.line_items:
        x, y = item.getData()
        if x is None:
            continue
        keep = np.isfinite(x) & np.isfinite(y)
        points.update(zip(np.round(x[keep], 6).tolist(), np.round(y[keep], 6).tolist(),
                          strict=True))
    return points


def test_factor_edges_hover_inspect_and_prune(qtbot, window, sample, no_stray_exceptions):
    # One sum node and one product node (two factors): layer 0 has 2 x (1 + 2) edge columns.
    open_and_train(qtbot, window, sample("toy_xy"), "2, 1+1, 1", steps=3, opt="adam")
    view = window.network_view
    qtbot.waitUntil(lambda: view.snapshots_applied > 0, timeout=WAIT)
    g = view.net_geometry
    assert g.width == [2, 2, 1] and g.columns == [2, 3, 1] and g.n_edges == 6 + 2
    symbols = list(view.nodes.data["symbol"])
    assert symbols == ["o", "o", "o", "x", "o"]  # the product node is drawn as a ×
    # The sum column's edge ends on the sum node; each factor's edges on their own entry
    # point just below the ×, factor 1 left of factor 2, joined to the × by a stub.
    ends = [g.segments[g.index_of(0, 1, j), 1, 1] for j in range(3)]
    np.testing.assert_allclose(ends[0], g.nodes[1][0])
    product = g.nodes[1][1]
    assert ends[1][0] < product[0] < ends[2][0] and ends[1][1] == ends[2][1] < product[1]
    np.testing.assert_allclose(g.segments[g.index_of(0, 0, 2), 1, 1], ends[2])
    sx, sy = view.factor_stubs.getData()
    stubs = np.stack([sx, sy], axis=1)[np.isfinite(sx)].reshape(-1, 2, 2)
    np.testing.assert_allclose(stubs[:, 1], [product, product])
    np.testing.assert_allclose(stubs[:, 0], ends[1:])
    assert view.describe_edge(g.index_of(0, 1, 2)).startswith(
        "Edge (0, 1, 2): y → factor 2 of × node 1 of level 1")
    # Hover and click find the factor edge by its box, with the engine's column as j.
    e = g.index_of(0, 1, 2)
    cx, cy = g.box_centers[e]
    pos = QPointF(view.mapFromScene(view.vb.mapViewToScene(QPointF(cx, cy))))
    view.mouseMoveEvent(QMouseEvent(QEvent.Type.MouseMove, pos, view.mapToGlobal(pos),
                                    Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                    Qt.KeyboardModifier.NoModifier))
    assert view._hover_edge == e
    with qtbot.waitSignal(view.edge_selected, timeout=2000) as selected:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos.toPoint())
    assert selected.args == [0, 1, 2] and view.selected == (0, 1, 2)
    sx, _sy = view.select_item.getData()
    assert np.isfinite(sx).sum() == 4 + 5  # its two lines and its box are outlined
    # The inspector opens on the factor edge.
    qtbot.waitUntil(lambda: window.inspector.edge == (0, 1, 2), timeout=WAIT)
    # Delete prunes the factor edge: its lines are no longer handed to the line items.
    box_bottom = tuple(np.round(g.segments[e, 0, 1], 6).tolist())
    assert box_bottom in _line_points(view)
    window.edit_actions.delete.trigger()
    qtbot.waitUntil(lambda: "prune_edge" in window.state.last_result, timeout=WAIT)
    qtbot.waitUntil(lambda: not bool(window.state.last_snapshot["active"][0][1, 2]),
                    timeout=WAIT)
    qtbot.waitUntil(lambda: box_bottom not in _line_points(view), timeout=WAIT)
    # Delete on the product node removes it: the view redraws a sum-only network.
    view.select_node(1, 1)
    window.edit_actions.delete.trigger()
    qtbot.waitUntil(lambda: "prune_node" in window.state.last_result, timeout=WAIT)
    qtbot.waitUntil(lambda: view.net_geometry.width == [2, 1, 1], timeout=WAIT)
    assert not view.net_geometry.product_mask().any()
    assert list(view.nodes.data["symbol"]) == ["o"] * 4


def test_width_field_takes_the_notation_and_the_product_box_follows(qtbot, window, sample):
    from kanstudio.gui.training_panel import parse_width

    assert parse_width("2, 0+1, 1", 2, 1) == [2, [0, 1], 1]
    assert parse_width("2,[0,1],1", 2, 1) == parse_width("[2,[0,1],1]", 2, 1) == [2, [0, 1], 1]
    assert parse_width("2 5 1", 2, 1) == [2, 5, 1]
    with pytest.raises(ValueError, match="input nodes cannot be product"):
        parse_width("0+2, 1", None, None)
    with pytest.raises(ValueError, match="not a node count"):
        parse_width("2, 1*1, 1", 2, 1)
    panel = window.training_panel
    open_and_load(qtbot, window, sample("toy_xy"))
    panel.width_edit.setText("2, 3, 1")
    panel.settings_edited.emit()
    panel.products.setValue(1)  # the plain control: one product node per hidden level
    assert panel.width_edit.text() == "2, 3+1, 1"
    assert panel.settings()["width"] == [2, [3, 1], 1]
    g = window.network_view.net_geometry  # the planned network is drawn with its ×
    assert g.width == [2, 4, 1] and g.columns[1] == 5
    panel.width_edit.setText("2, 0+2, 1")
    panel.width_edit.textEdited.emit(panel.width_edit.text())
    assert panel.products.value() == 2 and not panel.width_error.isVisible()


def test_geometry_maps_columns_to_factors_like_the_engine():
    from kanstudio.gui.network_geometry import NetworkGeometry

    # [3, [1, 2], 1] with arities 3 and 2 (input level left out, as the API allows).
    g = NetworkGeometry([3, 3, 1], [[3, 2], []])
    assert g.columns == [3, 1 + 3 + 2, 1] and g.n_edges == 3 * 6 + 3
    assert [g.column_target(1, j) for j in range(6)] == [
        (0, -1), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1)]
    assert g.product_mask().tolist() == [False] * 4 + [True, True, False]
    assert g.index_of(0, 2, 5) == 17 and tuple(g.addresses[17]) == (0, 2, 5)
    points = g.column_points[1]
    assert len({tuple(p) for p in points[1:4].round(9)}) == 3  # one entry point per factor
    with pytest.raises(ValueError, match="does not fit"):
        NetworkGeometry([2, 1, 1], [[], [2, 2], []])
