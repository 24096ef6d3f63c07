"""The live network view: nodes in levels, every edge's learned curve in a small box.

Few scene items, whatever the network's size: one curve item for all box frames, and for
each of ``FADE_LEVELS`` importance levels one item for the edges' lines and one for their
curves (NaN-separated paths), plus one for locked edges, one for hover and one for the
selection. A snapshot only calls ``setData``; items are created once per view (labels
once per change of architecture).

Edge labels: each locked edge shows its function above its box; each other edge may show
the library function that fits its current curve best, with R² (the snapshot's
``edge_fits``, computed by the worker a few times a second while training), below its
box or above it. Labels are placed most important edge first and only where they do not
overlap one already placed (a row of 30 names side by side is unreadable); zooming in
shows more. The view option ``show_fits`` turns the live ones off.

A node locked to an expression (the snapshot's ``locked_nodes``) wears a ring in the
locked edges' colour and shows ``= expression`` beside it (the full text in its tooltip).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import QLabel, QToolTip

from kanstudio.gui.network_geometry import SLOT, NetworkGeometry, level_arities, nan_join

__all__ = ["NetworkView", "FADE_LEVELS"]

FADE_LEVELS = (0.10, 0.28, 0.5, 0.75, 1.0)  # opacity of the importance buckets
LINE_RGB = (70, 80, 95)
CURVE_RGB = (25, 95, 190)
LOCKED_RGB = (215, 110, 20)
SELECT_RGB = (220, 40, 60)
REMOVE_RGB = (225, 30, 30)  # what a prune would remove (auto-prune's preview)
FIT_RGB = (25, 70, 140)  # a live label whose fit is good (R² >= FIT_GOOD_R2)
FIT_WEAK_RGB = (120, 126, 136)  # one whose fit is only fair
FIT_GOOD_R2 = 0.99
FIT_MIN_R2 = 0.5  # below: no library function describes the curve; no label (tooltip says)
FIT_FILL = (255, 255, 255, 200)  # behind a live label, so lines under it do not cross it
FIT_GAP_PX = 4  # least room between two labels side by side
LABEL_GAP_PX = 8  # pixels kept free between two column names side by side
NODE_LOCK_LABEL_CHARS = 40  # a longer locked node's expression is cut (tooltip: all)
PRODUCT_SIZE = 17  # pixels: the × of a product node (sum nodes are 12-pixel dots)
_NODE_BRUSHES = [pg.mkBrush(60, 66, 80, a) for a in (70, 120, 170, 215, 255)]


def _pen(rgb: tuple[int, int, int], alpha: float, width: float) -> Any:
    return pg.mkPen(QColor(*rgb, int(round(255 * alpha))), width=width)


class _PaintCounter(QObject):
    """Counts paints of the view's viewport (the redraws a user sees)."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)  # owned by the view: never outlives the viewport it watches
        self.count = 0

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802 - Qt override
        if ev.type() == QEvent.Type.Paint:
            self.count += 1
        return False


class NetworkView(pg.GraphicsView):
    """Shows a network's structure and live curves; emits the edge the user clicks."""

    # pyqtgraph's __init__ already calls resizeEvent: these hold until ours has run.
    _closing = False
    _auto_fit = False
    placeholder: QLabel | None = None

    edge_selected = Signal(int, int, int)
    node_selected = Signal(int, int)  # (level, i)
    context_requested = Signal(object, object)  # ("edge", (l, i, j)) | ("node", (level, i)), pos
    edge_hovered = Signal(object)  # (layer, i, j, score) or None

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent, background="w")
        self.setObjectName("networkView")
        self.vb = pg.ViewBox(lockAspect=True, enableMenu=False)
        self.setCentralItem(self.vb)
        self.net_geometry: NetworkGeometry | None = None
        self.input_names: list[str] = []
        self.target_names: list[str] = []
        self.edge_scores = np.zeros(0)
        self.snapshots_applied = 0
        self.selected: tuple[int, int, int] | None = None
        self.selected_node: tuple[int, int] | None = None
        self._hover_edge: int | None = None
        self._auto_fit = True
        self._labels: list[pg.TextItem] = []
        self._label_room: list[float] = []  # per label: scene units to its neighbour
        self.lock_labels: list[pg.TextItem] = []  # function names over locked edges
        self._lock_room: list[float] = []
        self._lock_key: tuple | None = None
        self.show_fits = True  # the view option: live best-fit labels on edges
        self.fit_labels: dict[int, pg.TextItem] = {}  # edge -> its label, made when needed
        self.edge_fits: dict[int, tuple[str, str, float]] = {}  # edge -> (name, label, R²)
        self._fit_key: tuple | None = None
        self._fit_wanted: list[int] = []  # edges that should show their label, best first
        self._line_key: tuple[np.ndarray, np.ndarray] | None = None
        self._node_levels: list[int] = []
        self.live = False
        self.frames = self._curve_item(pg.mkPen(QColor(190, 196, 205), width=1), z=0)
        self.line_items = [self._curve_item(_pen(LINE_RGB, a, 1.0), z=1) for a in FADE_LEVELS]
        # Product nodes: a stub from each factor's entry point to the × (see geometry).
        self.factor_stubs = self._curve_item(_pen(LINE_RGB, 1.0, 1.6), z=1)
        self.curve_items = [self._curve_item(_pen(CURVE_RGB, a, 1.6), z=2, antialias=True)
                            for a in FADE_LEVELS]
        # Locked edges fade with importance too: a lock on an edge that carries nothing
        # (a crossing edge of a product's factor) must not look like a finding.
        self.locked_items = [self._curve_item(_pen(LOCKED_RGB, a, 1.8), z=2, antialias=True)
                             for a in FADE_LEVELS]
        self._curve_pens = [item.opts["pen"]
                            for item in (*self.curve_items, *self.locked_items)]
        self.hover_item = self._curve_item(_pen((20, 20, 20), 0.9, 2.2), z=5)
        self.select_item = self._curve_item(_pen(SELECT_RGB, 1.0, 2.6), z=6)
        self.nodes = pg.ScatterPlotItem(size=12, pen=pg.mkPen(40, 45, 55), brush=(60, 66, 80))
        self.nodes.setZValue(4)
        self.vb.addItem(self.nodes)
        # Auto-prune's preview: the edges and nodes that would go, dashed red and crossed.
        remove_pen = _pen(REMOVE_RGB, 0.9, 2.4)
        remove_pen.setStyle(Qt.PenStyle.DashLine)
        self.remove_item = self._curve_item(remove_pen, z=5.5)
        self.remove_nodes = pg.ScatterPlotItem(size=20, symbol="x", pen=pg.mkPen(None),
                                               brush=pg.mkBrush(*REMOVE_RGB, 230))
        self.remove_nodes.setZValue(5.6)
        self.vb.addItem(self.remove_nodes)
        self.marked_for_removal: tuple[set, set] = (set(), set())
        # Nodes locked to an expression: a ring around each, and its expression beside it.
        self.locked_node_marks = pg.ScatterPlotItem(size=22, symbol="o", brush=None,
                                                    pen=pg.mkPen(*LOCKED_RGB, width=2.4))
        self.locked_node_marks.setZValue(4.5)
        self.vb.addItem(self.locked_node_marks)
        self.node_lock_labels: dict[tuple[int, int], pg.TextItem] = {}
        self._node_lock_key: tuple | None = None
        self.placeholder = QLabel(
            "Open a CSV file to see the network here:\nFile ▸ Open CSV…, File ▸ Open Sample, "
            "or drag a file onto the window.", self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet("color: #6e737d; font-size: 13pt; background: white;")
        self.vb.setRange(QRectF(-5, -2, 10, 4))
        self.vb.sigRangeChangedManually.connect(self._user_moved)
        self.vb.sigRangeChanged.connect(lambda *_a: self._fit_all_labels())
        self.scene().sigMouseClicked.connect(self._clicked)
        self.setMouseTracking(True)
        self.paints = _PaintCounter(self)
        self.viewport().installEventFilter(self.paints)

    def _curve_item(self, pen: Any, z: float, antialias: bool = False) -> pg.PlotCurveItem:
        item = pg.PlotCurveItem(pen=pen, connect="finite", antialias=antialias)
        item.setZValue(z)
        self.vb.addItem(item)
        return item

    # ------------------------------------------------------------------ structure
    def set_structure(self, width: list[int], input_names: list[str],
                      target_names: list[str], force: bool = False,
                      mult_arity: list[list[int]] | None = None) -> None:
        """Lay out a network of ``width`` (nodes per level) whose product nodes have the
        arities ``mult_arity`` (one list per level, see NetworkGeometry); curves stay empty
        until a snapshot arrives. The same network is left as it is, unless ``force``."""
        width = [int(w) for w in width]
        arity = level_arities(width, mult_arity)  # cheap: a snapshot calls this each time
        same = (self.net_geometry is not None and self.net_geometry.width == width
                and self.net_geometry.mult_arity == arity
                and input_names == self.input_names and target_names == self.target_names)
        if same and not force:
            return
        self.net_geometry = g = NetworkGeometry(width, arity)
        self.input_names, self.target_names = list(input_names), list(target_names)
        self.placeholder.setVisible(False)
        self.selected = self.selected_node = None
        self._hover_edge = None
        self.frames.setData(*g.frame_paths())
        self.factor_stubs.setData(*g.factor_paths())
        self.edge_scores = np.full(g.n_edges, np.nan)
        self._line_key = None
        self._node_levels = []
        self._draw_lines()
        for item in (*self.curve_items, *self.locked_items, self.hover_item, self.select_item,
                     self.remove_item):
            item.setData([], [])
        self._label_locked([])  # a re-laid network has no locks until a snapshot says so
        self._mark_locked_nodes([])
        self.remove_nodes.setData(pos=np.zeros((0, 2)))
        self.marked_for_removal = (set(), set())
        product = g.product_mask()
        # Product nodes: a larger × (KAN 2.0's multiplication node), sums the usual dot.
        self.nodes.setData(pos=np.concatenate(g.nodes, axis=0),
                           symbol=np.where(product, "x", "o").tolist(),
                           size=np.where(product, PRODUCT_SIZE, 12).tolist())
        self._make_labels()
        self._drop_fit_labels()
        self._auto_fit = True
        self.fit_to_window()

    def clear_network(self) -> None:
        """Back to the empty view (no data)."""
        self.net_geometry = None
        self.input_names, self.target_names = [], []
        for item in (self.frames, self.factor_stubs, *self.line_items, *self.curve_items,
                     *self.locked_items, self.hover_item, self.select_item, self.remove_item):
            item.setData([], [])
        self.nodes.setData(pos=np.zeros((0, 2)))
        self.remove_nodes.setData(pos=np.zeros((0, 2)))
        self.marked_for_removal = (set(), set())
        self._mark_locked_nodes([])
        for label in [*self._labels, *self.lock_labels]:
            self.vb.removeItem(label)
        self._labels, self.lock_labels, self._lock_key = [], [], None
        self._drop_fit_labels()
        self.placeholder.setVisible(True)
        self.vb.setRange(QRectF(-5, -2, 10, 4))

    def _make_labels(self) -> None:
        for label in self._labels:
            self.vb.removeItem(label)
        self._labels = []
        g = self.net_geometry
        assert g is not None
        levels = ((0, self.input_names, (0.5, -0.25)),
                  (len(g.width) - 1, self.target_names, (0.5, 1.25)))
        self._label_room = []
        for level, names, anchor in levels:
            xs = np.sort(np.asarray(g.nodes[level], dtype=float)[:, 0])
            gap = float(np.min(np.diff(xs))) if len(xs) > 1 else np.inf
            for k, (x, y) in enumerate(g.nodes[level]):
                name = names[k] if k < len(names) else f"#{k}"
                label = pg.TextItem(name, color=(20, 25, 35), anchor=anchor)
                label.setToolTip(name)
                self._label_room.append(gap)  # scene units between this node and the next
                font = label.textItem.font()
                font.setPointSizeF(font.pointSizeF() * 1.1)
                font.setBold(level > 0)
                label.setFont(font)
                label.setPos(x, y)
                label.setZValue(7)
                self.vb.addItem(label)
                self._labels.append(label)
        self._fit_node_labels()

    def input_labels(self) -> list[pg.TextItem]:
        """The labels under the input nodes (their tooltips hold the full column names)."""
        g = self.net_geometry
        return [] if g is None else self._labels[:len(g.nodes[0])]

    def _fit_node_labels(self) -> None:
        """Cut each column name to the room between its node and the next (side by side,
        long names ran into each other); the whole name stays in its tooltip. Zooming in
        gives them room again."""
        unit_px = self.vb.viewPixelSize()[0]  # scene units per screen pixel
        if not self._labels or not unit_px > 0:
            return
        for label, room in zip(self._labels, self._label_room, strict=True):
            name = label.toolTip()
            font = label.textItem.font()
            room_px = room / unit_px - LABEL_GAP_PX if np.isfinite(room) else 10_000.0
            shown = QFontMetrics(font).elidedText(name, Qt.TextElideMode.ElideRight,
                                                   max(int(room_px), 0))
            if label.toPlainText() != shown:
                label.setText(shown)

    # ------------------------------------------------------------------ snapshots
    def set_snapshot(self, snap: dict[str, Any]) -> None:
        """Redraw every edge from a worker snapshot (see kanstudio.worker.snapshot)."""
        self.set_structure(snap["width"], snap["input_names"], snap["target_names"],
                           mult_arity=snap.get("mult_arity"))
        g = self.net_geometry
        assert g is not None
        self.edge_scores = np.concatenate([np.asarray(s, dtype=np.float64).ravel()
                                           for s in snap["edge_scores"]])
        levels = self._fade_levels()
        active = np.concatenate([np.asarray(a, dtype=bool).ravel() for a in snap["active"]])
        locked = np.zeros(g.n_edges, dtype=bool)
        for layer, entries in enumerate(snap.get("locked") or []):
            for i, j, _name in entries:
                locked[g.index_of(layer, int(i), int(j))] = True
        px, py = g.curve_points(snap["x"], snap["y"], snap["active"])
        for b, (item, locked_item) in enumerate(zip(self.curve_items, self.locked_items,
                                                     strict=True)):
            rows = (levels == b) & ~locked
            item.setData(*nan_join(px[rows], py[rows]))
            rows = (levels == b) & locked
            locked_item.setData(*nan_join(px[rows], py[rows]))
        self._label_locked(snap.get("locked") or [])
        self._mark_locked_nodes(snap.get("locked_nodes") or [])
        self._label_fits(snap.get("edge_fits"), locked, levels)
        if self._line_key is None or not (np.array_equal(levels, self._line_key[0])
                                          and np.array_equal(active, self._line_key[1])):
            self._line_key = (levels, active)  # lines change only when importance does
            self._draw_lines(levels, active)
        node_scores = snap.get("node_scores")
        if node_scores:
            self._fade_nodes(node_scores)
        self.snapshots_applied += 1

    def _label_locked(self, locked: list[Any]) -> None:
        """Each locked edge carries its function's name above its box."""
        key = (tuple(self.net_geometry.width), str(self.net_geometry.mult_arity),
               tuple(tuple(tuple(e) for e in layer) for layer in locked))
        if key == self._lock_key:
            return
        self._lock_key = key
        for label in self.lock_labels:
            self.vb.removeItem(label)
        self.lock_labels, self._lock_room = [], []
        g = self.net_geometry
        for layer, entries in enumerate(locked):
            for i, j, name in entries:
                e = g.index_of(layer, int(i), int(j))
                (cx, cy), (w, h) = g.box_centers[e], g.box_sizes[e]
                label = pg.TextItem(str(name), color=(200, 40, 60), anchor=(0.5, 1.0))
                label.setPos(cx, cy + h / 2)
                label.setZValue(8)
                self.vb.addItem(label)
                self.lock_labels.append(label)
                self._lock_room.append(SLOT * float(w))  # scene units between box centres
        self._fit_lock_labels()

    def _mark_locked_nodes(self, locked_nodes: list[Any]) -> None:
        """Ring each node locked to an expression and write ``= expression`` beside it."""
        g = self.net_geometry
        entries = tuple((int(level), int(node), str(text)) for level, node, text in
                        locked_nodes) if g is not None else ()
        key = (None if g is None else (tuple(g.width), str(g.mult_arity)), entries)
        if key == self._node_lock_key:
            return
        self._node_lock_key = key
        for label in self.node_lock_labels.values():
            self.vb.removeItem(label)
        self.node_lock_labels = {}
        if not entries:
            self.locked_node_marks.setData(pos=np.zeros((0, 2)))
            return
        positions = []
        for level, node, text in entries:
            x, y = g.nodes[level][node]
            positions.append((x, y))
            shown = text if len(text) <= NODE_LOCK_LABEL_CHARS else (
                text[:NODE_LOCK_LABEL_CHARS - 1] + "…")
            label = pg.TextItem(f"= {shown}", color=LOCKED_RGB, anchor=(-0.08, 0.5),
                                fill=pg.mkBrush(*FIT_FILL))
            label.setToolTip(f"Node ({level}, {node}) is locked to {text}: the edges "
                             "feeding it no longer matter")
            label.setPos(x, y)
            label.setZValue(8)
            self.vb.addItem(label)
            self.node_lock_labels[(level, node)] = label
        self.locked_node_marks.setData(pos=np.asarray(positions, dtype=float))

    def _fit_all_labels(self) -> None:
        self._fit_lock_labels()
        self._fit_node_labels()
        self._place_fit_labels()

    # ------------------------------------------------------------------ live fit labels
    def set_show_fits(self, show: bool) -> None:
        """The view option: show (True) or hide the live best-fit labels."""
        self.show_fits = bool(show)
        self._place_fit_labels()

    def _drop_fit_labels(self) -> None:
        for label in self.fit_labels.values():
            self.vb.removeItem(label)
        self.fit_labels, self.edge_fits, self._fit_key, self._fit_wanted = {}, {}, None, []

    def _label_fits(self, fits: list[Any] | None, locked: np.ndarray,
                    levels: np.ndarray) -> None:
        """Take a snapshot's ``edge_fits`` (None: the worker sends none) and place them."""
        key = (fits, locked.tobytes(), levels.tobytes())
        if self._fit_key is not None and key == self._fit_key:
            return  # the usual case: labels change a few times a second, snapshots 30
        self._fit_key = key
        g = self.net_geometry
        assert g is not None
        self.edge_fits = {}
        for layer, entries in enumerate(fits or []):
            for i, j, name, short, r2 in entries:
                self.edge_fits[g.index_of(layer, int(i), int(j))] = (str(name), str(short),
                                                                     float(r2))
        wanted = [e for e, (_n, _s, r2) in self.edge_fits.items()
                  if r2 >= FIT_MIN_R2 and not locked[e] and levels[e] > 0]
        for e in wanted:
            _name, short, r2 = self.edge_fits[e]
            label, text = self._fit_label(e), f"{short} {r2:.2f}"
            if label.textItem.toPlainText() != text:  # a new layout only when it changed
                good = round(r2, 2) >= FIT_GOOD_R2  # as shown: the text decides the colour
                label.setText(text, color=FIT_RGB if good else FIT_WEAK_RGB)
        scores = np.nan_to_num(self.edge_scores, nan=0.0)
        self._fit_wanted = sorted(wanted, key=lambda e: -scores[e] if e < len(scores) else 0)
        self._place_fit_labels()

    def _fit_label(self, e: int) -> pg.TextItem:
        label = self.fit_labels.get(e)
        if label is None:
            label = pg.TextItem("", color=FIT_RGB, fill=pg.mkBrush(*FIT_FILL))
            font = label.textItem.font()
            font.setPointSizeF(font.pointSizeF() * 0.85)
            label.setFont(font)
            label.setZValue(8)
            label.setVisible(False)
            self.vb.addItem(label)
            self.fit_labels[e] = label
        return label

    def _place_fit_labels(self) -> None:
        """Place the wanted labels, most important edge first, each below its box or else
        above it, where it overlaps no label already in that row (lock labels first)."""
        for label in self.fit_labels.values():
            label.setVisible(False)
        g = self.net_geometry
        unit_px = self.vb.viewPixelSize()[0]  # scene units per screen pixel
        if not (self.show_fits and self._fit_wanted and g is not None and unit_px > 0):
            return
        taken: dict[tuple[int, int], list[tuple[float, float]]] = {}  # (layer, side) spans
        for label, e in zip(self.lock_labels, self._locked_edges(), strict=False):
            if label.isVisible():
                half = label.textItem.boundingRect().width() * unit_px / 2
                cx = g.box_centers[e][0]
                _claim(taken.setdefault((int(g.addresses[e][0]), 1), []),
                       (cx - half, cx + half))
        gap = FIT_GAP_PX * unit_px
        for e in self._fit_wanted:
            label = self.fit_labels[e]
            (cx, cy), (_w, h) = g.box_centers[e], g.box_sizes[e]
            half = label.textItem.boundingRect().width() * unit_px / 2 + gap / 2
            span = (cx - half, cx + half)
            layer = int(g.addresses[e][0])
            for side in (0, 1):  # below the box, else above it
                if _claim(taken.setdefault((layer, side), []), span):
                    label.setAnchor((0.5, 0.0) if side == 0 else (0.5, 1.0))
                    label.setPos(cx, cy - h / 2 if side == 0 else cy + h / 2)
                    label.setVisible(True)
                    break

    def _locked_edges(self) -> list[int]:
        """The edge of each lock label, in the labels' order."""
        g = self.net_geometry
        if self._lock_key is None or g is None:
            return []
        return [g.index_of(layer, int(i), int(j))
                for layer, entries in enumerate(self._lock_key[2]) for i, j, _name in entries]

    def _fit_lock_labels(self) -> None:
        """Hide a function name wider than its edge's slot: side by side they overlap into
        an unreadable row. Hovering the edge still names it; zooming in brings it back."""
        labels = self.lock_labels
        if not labels:
            return
        unit_px = self.vb.viewPixelSize()[0]  # scene units per screen pixel
        if not unit_px > 0:
            return
        for label, room in zip(labels, self._lock_room, strict=True):
            label.setVisible(label.textItem.boundingRect().width() <= room / unit_px)

    def set_live(self, live: bool) -> None:
        """While training, draw curves with 1-pixel pens and no antialiasing (a third of
        the paint time: Qt draws thin lines on a fast path); smooth again when it stops."""
        if live == self.live:
            return
        self.live = live
        for item, pen in zip((*self.curve_items, *self.locked_items), self._curve_pens,
                             strict=True):
            item.opts["antialias"] = not live
            thin = pg.mkPen(pen.color(), width=1.0)
            item.setPen(thin if live else pen)

    def _fade_levels(self) -> np.ndarray:
        """Importance bucket of every edge: score relative to the layer's best, sqrt-scaled
        so mid-importance edges stay visible."""
        g = self.net_geometry
        assert g is not None
        levels = np.full(g.n_edges, len(FADE_LEVELS) // 2, dtype=np.int64)
        for sl in g.layer_slices:
            buckets = fade_buckets(self.edge_scores[sl], len(FADE_LEVELS))
            if buckets is not None:
                levels[sl] = buckets
        return levels

    def _draw_lines(self, levels: np.ndarray | None = None,
                    active: np.ndarray | None = None) -> None:
        g = self.net_geometry
        assert g is not None
        if levels is None:
            levels = np.full(g.n_edges, len(FADE_LEVELS) // 2)
        if active is None:
            active = np.ones(g.n_edges, dtype=bool)
        for b, item in enumerate(self.line_items):
            item.setData(*g.line_paths(np.flatnonzero((levels == b) & active)))

    def _fade_nodes(self, node_scores: list[Any]) -> None:
        """Nodes fade with their score, in a few steps so brushes (and the symbols
        pyqtgraph renders for them) are reused rather than made anew every frame."""
        levels = []
        for level in node_scores:
            s = np.asarray(level, dtype=np.float64).ravel()
            buckets = fade_buckets(s, len(_NODE_BRUSHES))
            levels.extend((np.zeros(s.size, dtype=np.int64) if buckets is None
                           else buckets).tolist())
        if levels != self._node_levels and len(levels) == len(self.nodes.data):
            self._node_levels = levels
            self.nodes.setBrush([_NODE_BRUSHES[k] for k in levels])

    # ------------------------------------------------------------------ view
    def fit_to_window(self) -> None:
        self._auto_fit = True
        if self.net_geometry is None:
            self.vb.setRange(QRectF(-5, -2, 10, 4))
            return
        x0, y0, x1, y1 = self.net_geometry.bounds()
        # The input and target names are drawn at a fixed pixel size below and above the
        # outer nodes: in a short view the scene's own room for them (0.9 units) is a few
        # pixels and they were cut ("te", "pr" for temp_K, press_kPa). Keep room in pixels.
        top = (len(self.net_geometry.width) - 1) * self.net_geometry.level_gap
        label_px = 2.4 * self.fontMetrics().height()  # the names: 1.1× the font, a margin
        height = float(self.viewport().height())  # the box fills it; its own size lags
        if top > 0 and height > 3 * label_px:
            pad = label_px * top / (height - 2 * label_px)  # scene units that many pixels
            y0, y1 = min(y0, -pad), max(y1, top + pad)
        self.vb.setRange(QRectF(x0, y0, x1 - x0, y1 - y0), padding=0.0)

    def close(self) -> bool:
        self._closing = True
        return super().close()

    def _user_moved(self, *args: Any) -> None:
        self._auto_fit = False

    def resizeEvent(self, ev: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(ev)
        if self.placeholder is not None:
            self.placeholder.setGeometry(self.rect())
        # pyqtgraph resizes the view once more while closing it, after its scene items
        # are gone: fitting then would touch a deleted ViewBox.
        if self._closing or not self.isVisible():
            return
        if self._auto_fit and self.net_geometry is not None:
            self.fit_to_window()

    def edge_at(self, scene_pos: Any) -> int | None:
        """Index of the edge at a scene position (None when nothing is close)."""
        if self.net_geometry is None:
            return None
        p = self.vb.mapSceneToView(scene_pos)
        sx, sy = self.vb.viewPixelSize()
        return self.net_geometry.hit(p.x(), p.y(), tolerance=5 * max(sx, sy))

    def edge_info(self, e: int) -> tuple[int, int, int, float]:
        assert self.net_geometry is not None
        layer, i, j = (int(v) for v in self.net_geometry.addresses[e])
        score = float(self.edge_scores[e]) if e < len(self.edge_scores) else float("nan")
        return layer, i, j, score

    def edge_label(self, e: int) -> str:
        """'Edge (l, i, j): source → destination', with column names where they apply."""
        layer, i, j, _score = self.edge_info(e)
        g = self.net_geometry
        assert g is not None
        src = (self.input_names[i] if layer == 0 and i < len(self.input_names)
               else f"node {i} of level {layer}")
        last = layer + 1 == len(g.width) - 1
        node, factor = g.column_target(layer + 1, j)
        name = (self.target_names[node] if last and node < len(self.target_names)
                else f"node {node} of level {layer + 1}")
        dst = name if factor < 0 else f"factor {factor + 1} of × {name}"
        return f"Edge ({layer}, {i}, {j}): {src} → {dst}"

    def describe_edge(self, e: int) -> str:
        """The edge's label, its importance and its best-fitting function (hover text)."""
        score = self.edge_info(e)[3]
        importance = "not trained yet" if not np.isfinite(score) else f"{score:.3g}"
        text = f"{self.edge_label(e)}   importance {importance}"
        fit = self.edge_fits.get(e)
        if fit is not None:
            name, short, r2 = fit
            text += (f"\nBest-fitting function now: {short} (R² {r2:.3f})" if r2 >= FIT_MIN_R2
                     else f"\nNo library function fits this curve yet (best: {short}, "
                          f"R² {r2:.2f})")
        return text

    def mouseMoveEvent(self, ev: Any) -> None:  # noqa: N802 - Qt override
        super().mouseMoveEvent(ev)
        if ev.buttons() != Qt.MouseButton.NoButton:
            return
        e = self.edge_at(self.mapToScene(ev.position().toPoint()))
        if e == self._hover_edge:
            return
        self._hover_edge = e
        if e is None:
            self.hover_item.setData([], [])
            QToolTip.hideText()
            self.edge_hovered.emit(None)
            return
        self._outline(self.hover_item, e)
        QToolTip.showText(ev.globalPosition().toPoint(), self.describe_edge(e), self)
        self.edge_hovered.emit(self.edge_info(e))

    def _clicked(self, ev: Any) -> None:
        button = ev.button()
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        if ev.double() and button == Qt.MouseButton.LeftButton:
            self.fit_to_window()
            return
        if self.net_geometry is None:
            return
        p = self.vb.mapSceneToView(ev.scenePos())
        sx, sy = self.vb.viewPixelSize()
        node = self.net_geometry.node_at(p.x(), p.y(), 9 * max(sx, sy))
        e = None if node is not None else self.edge_at(ev.scenePos())
        if node is not None:
            self.select_node(*node)
        elif e is not None:
            self.select_edge(*self.edge_info(e)[:3])
        if button == Qt.MouseButton.RightButton and (node is not None or e is not None):
            what = ("node", node) if node is not None else ("edge", self.selected)
            self.context_requested.emit(what, ev.screenPos().toPoint())

    def select_node(self, level: int, i: int) -> None:
        """Mark a node as selected (Delete prunes it) and emit ``node_selected``."""
        g = self.net_geometry
        assert g is not None
        self.selected, self.selected_node = None, (level, i)
        x, y = g.nodes[level][i]
        sx, sy = self.vb.viewPixelSize()
        rx, ry = 10 * sx, 10 * sy
        self.select_item.setData([x - rx, x + rx, x + rx, x - rx, x - rx],
                                 [y - ry, y - ry, y + ry, y + ry, y - ry])
        self.node_selected.emit(level, i)

    def select_edge(self, layer: int, i: int, j: int) -> None:
        """Mark an edge as selected and emit ``edge_selected`` (part 2 opens an inspector)."""
        assert self.net_geometry is not None
        e = self.net_geometry.index_of(layer, i, j)
        self.selected, self.selected_node = (layer, i, j), None
        self._outline(self.select_item, e)
        self.edge_selected.emit(layer, i, j)

    def mark_for_removal(self, edges: list[Any], nodes: list[Any]) -> None:
        """Mark the edges ``(layer, i, j)`` and nodes ``(level, i)`` a prune would remove
        (both empty: no marks)."""
        g = self.net_geometry
        edge_set = {tuple(int(v) for v in e) for e in edges}
        node_set = {tuple(int(v) for v in n) for n in nodes}
        if g is None:
            edge_set, node_set = set(), set()
        self.marked_for_removal = (edge_set, node_set)
        if not edge_set and not node_set:
            self.remove_item.setData([], [])
            self.remove_nodes.setData(pos=np.zeros((0, 2)))
            return
        assert g is not None
        index = np.array(sorted(g.index_of(*e) for e in edge_set), dtype=np.int64)
        lx, ly = g.line_paths(index)
        fx, fy = g.frame_paths()
        k = 6  # 5 corner points + NaN per box in frame_paths
        boxes = np.concatenate([np.arange(e * k, (e + 1) * k) for e in index]) if len(
            index) else np.zeros(0, dtype=np.int64)
        self.remove_item.setData(np.concatenate([lx, fx[boxes]]),
                                 np.concatenate([ly, fy[boxes]]))
        pos = [g.nodes[level][i] for level, i in sorted(node_set)]
        self.remove_nodes.setData(pos=np.asarray(pos, dtype=float).reshape(-1, 2))

    def _outline(self, item: pg.PlotCurveItem, e: int) -> None:
        g = self.net_geometry
        assert g is not None
        lx, ly = g.line_paths(np.array([e]))
        fx, fy = g.frame_paths()
        k = 6  # 5 corner points + NaN per box in frame_paths
        item.setData(np.concatenate([lx, fx[e * k:(e + 1) * k]]),
                     np.concatenate([ly, fy[e * k:(e + 1) * k]]))


def fade_buckets(scores: np.ndarray, n: int) -> np.ndarray | None:
    """Bucket ``0..n-1`` of each score relative to the largest finite one, sqrt-scaled so
    mid-importance items stay visible; None when no score is finite and positive.

    A damaged project's network can overflow its scores (float32 on the wire holds up to
    3.4e38): an infinite score is drawn as the strongest, a NaN one as the faintest, and
    neither may turn into an invalid bucket (NaN cast to int is a huge negative index)."""
    s = np.asarray(scores, dtype=np.float64)
    finite = s[np.isfinite(s)]
    top = finite.max() if finite.size else 0.0
    if not top > 0:
        return None
    rel = np.sqrt(np.clip(np.nan_to_num(s / top, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0))
    return np.minimum((rel * n).astype(np.int64), n - 1)


def _claim(spans: list[tuple[float, float]], span: tuple[float, float]) -> bool:
    """Add ``span`` (lo, hi) to the sorted, disjoint ``spans`` if it overlaps none."""
    k = bisect_left(spans, span)
    if k > 0 and spans[k - 1][1] > span[0]:
        return False
    if k < len(spans) and spans[k][0] < span[1]:
        return False
    spans.insert(k, span)
    return True
