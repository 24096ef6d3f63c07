"""The network view on its own: few items, setData only, hover and click on edges."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent

from kanstudio.gui.network_geometry import NetworkGeometry
from kanstudio.gui.network_view import FADE_LEVELS, NetworkView

WIDTH = [5, 10, 10, 1]


def fake_snapshot(step: int, width=WIDTH, points: int = 48) -> dict:
    """A snapshot shaped like the worker's (see kanstudio.worker.snapshot)."""
    rng = np.random.default_rng(step)
    pairs = list(zip(width[:-1], width[1:], strict=True))
    return {
        "event": "snapshot", "step": step, "width": list(width),
        "input_names": [f"x{i}" for i in range(width[0])], "target_names": ["y"],
        "x": [np.tile(np.linspace(-1, 1, points, dtype=np.float32), (a, 1)) for a, _ in pairs],
        "y": [np.sin(np.linspace(0, 3, points) * (1 + step % 3))[None, None, :]
              .astype(np.float32) * rng.uniform(0.1, 1, (a, b, 1)).astype(np.float32)
              for a, b in pairs],
        "active": [np.ones((a, b), dtype=bool) for a, b in pairs],
        "locked": [[] for _ in pairs],
        "edge_scores": [rng.uniform(0, 1, (a, b)).astype(np.float32) for a, b in pairs],
        "node_scores": [rng.uniform(0, 1, n).astype(np.float32) for n in width],
    }


@pytest.fixture
def view(qtbot):
    widget = NetworkView()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_geometry_numbers_edges_layer_by_layer():
    g = NetworkGeometry(WIDTH)
    assert g.n_edges == 5 * 10 + 10 * 10 + 10 == 160
    assert tuple(g.addresses[g.index_of(1, 3, 7)]) == (1, 3, 7)
    assert g.segments.shape == (160, 2, 2, 2)
    xs, ys = g.line_paths(np.arange(160))
    assert np.isnan(xs).sum() == 320  # one separator per line


def test_snapshots_update_a_fixed_set_of_items(qtbot, view):
    view.set_snapshot(fake_snapshot(0))
    items = list(view.vb.addedItems)
    labels = [i for i in items if isinstance(i, pg.TextItem)]
    assert len(labels) == 5 + 1  # one per input and output node
    # not one item per edge: lines, curves and locked curves per fade level, +8: frames,
    # hover, select, nodes, product-node stubs, auto-prune's marks on edges and nodes,
    # and the rings of nodes locked to expressions
    assert len(items) - len(labels) <= 3 * len(FADE_LEVELS) + 8
    for step in range(1, 31):
        view.set_snapshot(fake_snapshot(step))
        qtbot.wait(1)
    assert list(view.vb.addedItems) == items  # the same objects, updated with setData
    assert view.snapshots_applied == 31
    drawn = sum(np.isfinite(item.yData).sum() for item in view.curve_items)
    assert drawn == 160 * 48  # every edge's curve, every point
    # its speed is measured by bench/gui_responsiveness.py, not asserted here
    labels = [label.toPlainText() for label in view._labels]
    assert labels == ["x0", "x1", "x2", "x3", "x4", "y"]


def test_faded_by_importance(view):
    snap = fake_snapshot(1, width=[2, 2, 1])
    snap["edge_scores"] = [np.array([[1.0, 0.0], [0.25, 1e-4]], dtype=np.float32),
                           np.array([[1.0], [0.5]], dtype=np.float32)]
    view.set_snapshot(snap)
    levels = view._fade_levels()
    assert levels[0] == len(FADE_LEVELS) - 1  # the strongest edge: opaque
    assert levels[1] == 0 and levels[3] == 0  # unimportant edges: faint
    assert 0 < levels[2] < levels[0]



def test_a_locked_edge_that_carries_nothing_is_drawn_faint(view):
    """A lock is no finding when its edge does not matter (Discover locks the crossing
    edges of a product's factors as well): it fades like any unimportant edge."""
    snap = fake_snapshot(1, width=[2, 2, 1])
    snap["edge_scores"] = [np.array([[1.0, 1e-4], [1e-4, 1.0]], dtype=np.float32),
                           np.array([[1.0], [1.0]], dtype=np.float32)]
    snap["locked"] = [[(0, 0, "x"), (0, 1, "sin"), (1, 0, "sin"), (1, 1, "x")], []]
    view.set_snapshot(snap)
    drawn = [int(np.isfinite(item.yData).sum()) if item.yData is not None else 0
             for item in view.locked_items]
    assert drawn[0] == 2 * 48  # the two crossing edges, faintest
    assert drawn[-1] == 2 * 48  # the two that carry the law, opaque
    assert sum(drawn) == 4 * 48

def _mouse_at(view, x, y):
    scene = view.vb.mapViewToScene(QPointF(x, y))
    return QPointF(view.mapFromScene(scene))


def test_hover_shows_the_edge_address_and_click_selects_it(qtbot, view):
    view.set_snapshot(fake_snapshot(2))
    g = view.net_geometry
    e = g.index_of(1, 3, 7)
    cx, cy = g.box_centers[e]
    pos = _mouse_at(view, cx, cy)
    hovered = []
    view.edge_hovered.connect(hovered.append)
    move = QMouseEvent(QEvent.Type.MouseMove, pos, view.mapToGlobal(pos),
                       Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    view.mouseMoveEvent(move)
    assert hovered and hovered[-1][:3] == (1, 3, 7)
    assert view.describe_edge(e).startswith("Edge (1, 3, 7): node 3 of level 1 → node 7")
    with qtbot.waitSignal(view.edge_selected, timeout=2000) as selected:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos.toPoint())
    assert selected.args == [1, 3, 7]
    assert view.selected == (1, 3, 7)
    assert view.edge_at(view.mapToScene(_mouse_at(view, -50, -50).toPoint())) is None


def test_function_names_that_would_overlap_are_hidden_until_there_is_room(qtbot, view):
    snap = fake_snapshot(3, width=[2, 10, 1])
    snap["locked"] = [[(i, j, "sin") for i in range(2) for j in range(10)], []]
    view.set_snapshot(snap)
    qtbot.wait(50)
    assert len(view.lock_labels) == 20
    assert all(label.isVisible() for label in view.lock_labels)  # 1000 px: room for each
    view.resize(300, 400)  # twenty boxes in 300 px: the names would run together
    qtbot.waitUntil(lambda: not any(label.isVisible() for label in view.lock_labels))
    view.resize(1000, 700)
    qtbot.waitUntil(lambda: all(label.isVisible() for label in view.lock_labels))


def test_input_and_target_names_stay_inside_a_short_view(qtbot, view):
    # seen under Xvfb: with the Formula dock open the view was ~170 px tall and the input
    # names were cut to "te", "pr" (temp_K, press_kPa), the target's to its lower half
    view.set_snapshot(fake_snapshot(1, width=[2, 1, 1]))
    for height in (170, 700):
        view.resize(700, height)
        qtbot.wait(50)
        inside = view.vb.sceneBoundingRect()
        for label in view._labels:
            box = label.sceneBoundingRect()
            assert inside.top() - 1 <= box.top() and box.bottom() <= inside.bottom() + 1, (
                height, label.toPlainText())


def test_a_curve_holding_inf_or_nan_is_not_drawn_and_raises_nothing(view):
    """A damaged project's curve (found by the 10,000-example fuzz run: inf/inf warned
    inside the event loop) leaves its points undrawn."""
    snap = fake_snapshot(1)
    snap["x"][0][0, :] = np.inf
    snap["y"][0][1, 0, 3] = np.nan
    view.set_snapshot(snap)
    assert view.snapshots_applied == 1


def test_scores_holding_inf_or_nan_fade_their_items_without_an_error(view):
    """A damaged project's network overflowed its scores (found by the 10,000-example
    window fuzz run: NaN node scores became an invalid brush index inside the event loop).
    An infinite score draws strongest, a NaN one faintest; the rest keep their buckets."""
    snap = fake_snapshot(1)
    snap["node_scores"][0][:3] = [np.inf, np.nan, 0.0]
    snap["node_scores"][1][:] = np.nan
    snap["edge_scores"][0][0, :2] = [np.inf, np.nan]
    view.set_snapshot(snap)
    assert view.snapshots_applied == 1
    assert view._node_levels[:3] == [4, 0, 0]
    assert view._node_levels[5:15] == [0] * 10  # a level with no finite score: all faint
    levels = view._fade_levels()
    assert levels[0] == len(FADE_LEVELS) - 1 and levels[1] == 0
    assert levels.min() >= 0 and levels.max() < len(FADE_LEVELS)
