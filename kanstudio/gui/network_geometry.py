"""Where the network view draws things, as numpy arrays (no Qt: testable on its own).

Scene coordinates: levels of nodes stacked bottom (inputs) to top (outputs), ``level_gap``
apart. Between two levels, every edge ``(l, i, j)`` gets a small box in one row, ordered by
``(i, j)``; the edge is drawn as a line from node ``i`` to the box's bottom, the box with
the edge's learned curve inside, and a line from the box's top to node ``j`` (the layout
of the KAN paper's figures). Edges are numbered globally layer by layer: edge ``e`` of the
arrays below has address ``addresses[e] = (l, i, j)``.

Product (multiplication) nodes (KAN 2.0, see kanstudio.core.width): ``width`` counts nodes
per level (sums + products, sums first) and ``mult_arity[level]`` lists each product node's
number of factors. A layer feeding a level with product nodes has one edge *column* per
sub-node (the sums, then each product's factors side by side), so ``j`` of an address is
that column, exactly as the engine numbers it. Each factor gets an entry point just below
its product node (side by side, factor 1 leftmost): a factor's edges converge on its point,
and a short stub joins the point to the node (drawn as a ×), so one sees which edges are
summed into which factor before the product.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["NetworkGeometry", "level_arities", "nan_join", "BOX_W", "BOX_H"]

BOX_W = 1.0  # edge box width (scene units) in the layer with the most edges
BOX_H = 0.8  # its height
MAX_SCALE = 3.0  # boxes of layers with few edges grow up to this factor
SLOT = 1.35  # horizontal room per edge box, in box widths
NODE_GAP = 1.6  # least horizontal room per node
PAD = 0.08  # inner margin of a box around the curve, in box widths


def nan_join(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_paths, n_points) arrays -> flat arrays with a NaN after every path, for one
    ``connect='finite'`` curve item. Rows that are all NaN simply draw nothing."""
    n, p = xs.shape
    fx = np.full((n, p + 1), np.nan, dtype=np.float64)
    fy = np.full((n, p + 1), np.nan, dtype=np.float64)
    fx[:, :p] = xs
    fy[:, :p] = ys
    return fx.ravel(), fy.ravel()


class NetworkGeometry:
    """Positions of nodes, edge boxes and edge lines for one network width."""

    def __init__(self, width: Sequence[int],
                 mult_arity: Sequence[Sequence[int]] | None = None) -> None:
        self.width = [int(w) for w in width]
        if len(self.width) < 2 or min(self.width) < 1:
            raise ValueError(f"width must list at least two positive sizes, got {width}")
        self.mult_arity = level_arities(self.width, mult_arity)
        # Per level: the node each edge column ends on, and which factor it is (-1: a sum).
        self.column_node, self.column_factor = [], []
        for n, arities in zip(self.width, self.mult_arity, strict=True):
            sums = n - len(arities)
            node = list(range(sums))
            factor = [-1] * sums
            for p, a in enumerate(arities):
                node += [sums + p] * a
                factor += list(range(a))
            self.column_node.append(np.asarray(node, dtype=np.int64))
            self.column_factor.append(np.asarray(factor, dtype=np.int64))
        self.columns = [len(c) for c in self.column_node]
        n_edges = [a * b for a, b in zip(self.width[:-1], self.columns[1:], strict=True)]
        self.scene_width = max(max(n_edges) * SLOT, max(self.width) * NODE_GAP, 6.0)
        # Layers with few edges get bigger boxes (the last layers matter most for a formula).
        scales = [min(MAX_SCALE, self.scene_width / (n * SLOT)) for n in n_edges]
        # Taller for wide networks so lines fan out at a readable angle.
        self.level_gap = max(3.2, 0.16 * self.scene_width, BOX_H * max(scales) + 2.4)
        self.nodes = [self._level_nodes(level, n) for level, n in enumerate(self.width)]
        # Per level, where each edge column's lines end: its node, or its factor's point.
        self.column_points = [self.nodes[level][self.column_node[level]].copy()
                              for level in range(len(self.width))]
        addresses, centers, sizes = [], [], []
        for layer, (n_in, n_out) in enumerate(zip(self.width[:-1], self.columns[1:],
                                                  strict=True)):
            count, scale = n_in * n_out, scales[layer]
            left = (self.scene_width - count * SLOT * scale) / 2
            y = (layer + 0.5) * self.level_gap
            for e in range(count):
                i, j = divmod(e, n_out)
                addresses.append((layer, i, j))
                centers.append((left + SLOT * scale * (e + 0.5), y))
                sizes.append((BOX_W * scale, BOX_H * scale))
        self.addresses = np.asarray(addresses, dtype=np.int64).reshape(-1, 3)  # (E, 3)
        self.box_centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)  # (E, 2)
        self.box_sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)  # (E, 2) w, h
        self.layer_slices = []
        start = 0
        for count in n_edges:
            self.layer_slices.append(slice(start, start + count))
            start += count
        self._place_factors(scales)
        self.segments = self._segments()  # (E, 2, 2, 2): edge, lower/upper, end, xy

    @property
    def n_edges(self) -> int:
        return len(self.addresses)

    def bounds(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of everything drawn, with room for labels."""
        top = (len(self.width) - 1) * self.level_gap
        margin = 0.06 * max(self.scene_width, top)
        return -margin, -0.9 - margin, self.scene_width + margin, top + 0.9 + margin

    def _level_nodes(self, level: int, n: int) -> np.ndarray:
        x = self.scene_width * (np.arange(n) + 0.5) / n
        return np.stack([x, np.full(n, level * self.level_gap)], axis=1)  # (n, 2)

    def _place_factors(self, scales: list[float]) -> None:
        """Factor entry points below each product node, between the boxes and the node."""
        for level in range(1, len(self.width)):
            factor = self.column_factor[level]
            if not (factor >= 0).any():
                continue
            box_top = (level - 0.5) * self.level_gap + BOX_H * scales[level - 1] / 2
            drop = min(0.45, 0.5 * (level * self.level_gap - box_top))
            room = self.scene_width / self.width[level]  # horizontal room per node
            for p, a in enumerate(self.mult_arity[level]):
                cols = np.flatnonzero(self.column_node[level] == self.width[level]
                                      - len(self.mult_arity[level]) + p)
                step = min(0.5, 0.7 * room / a)
                pts = self.column_points[level]
                pts[cols, 0] += (factor[cols] - (a - 1) / 2) * step
                pts[cols, 1] -= drop

    def factor_paths(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat NaN-separated stubs from every factor's entry point to its product node."""
        xs, ys = [], []
        for level in range(len(self.width)):
            cols = np.flatnonzero(self.column_factor[level] >= 0)
            a = self.column_points[level][cols]
            b = self.nodes[level][self.column_node[level][cols]]
            xs.append(np.stack([a[:, 0], b[:, 0]], axis=1))
            ys.append(np.stack([a[:, 1], b[:, 1]], axis=1))
        return nan_join(np.concatenate(xs), np.concatenate(ys))

    def _segments(self) -> np.ndarray:
        seg = np.empty((self.n_edges, 2, 2, 2), dtype=np.float64)
        layer, i, j = self.addresses.T
        src = np.array([self.nodes[lv][k] for lv, k in zip(layer, i, strict=True)]).reshape(
            -1, 2)
        dst = np.array([self.column_points[lv + 1][k]
                        for lv, k in zip(layer, j, strict=True)]).reshape(-1, 2)
        c, half_h = self.box_centers, self.box_sizes[:, 1] / 2
        seg[:, 0, 0] = src
        seg[:, 0, 1] = np.stack([c[:, 0], c[:, 1] - half_h], axis=1)
        seg[:, 1, 0] = np.stack([c[:, 0], c[:, 1] + half_h], axis=1)
        seg[:, 1, 1] = dst
        return seg

    # ------------------------------------------------------------------ drawing data
    def line_paths(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat NaN-separated x, y for the two lines of each edge in ``edges`` (indices)."""
        seg = self.segments[edges].reshape(-1, 2, 2)  # (2E, end, xy)
        return nan_join(seg[:, :, 0], seg[:, :, 1])

    def frame_paths(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat NaN-separated outline of every edge box."""
        c, size = self.box_centers, self.box_sizes
        dx = np.array([-1, 1, 1, -1, -1]) * size[:, :1] / 2
        dy = np.array([-1, -1, 1, 1, -1]) * size[:, 1:] / 2
        return nan_join(c[:, :1] + dx, c[:, 1:] + dy)

    def curve_points(self, xs: Sequence[np.ndarray], ys: Sequence[np.ndarray],
                     active: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Every edge's curve fitted into its box: two (E, P) arrays (NaN rows = no curve).

        ``xs[l]`` (n_l, P), ``ys[l]`` (n_l, n_{l+1}, P), ``active[l]`` (n_l, n_{l+1}), as in
        a snapshot. Each curve is scaled to fill its box: the shape matters here, the
        importance is shown by fading.
        """
        p = ys[0].shape[-1]
        out_x = np.full((self.n_edges, p), np.nan)
        out_y = np.full((self.n_edges, p), np.nan)
        for layer, sl in enumerate(self.layer_slices):
            x = np.asarray(xs[layer], dtype=np.float64)  # (n_in, P)
            y = np.asarray(ys[layer], dtype=np.float64)  # (n_in, n_out, P)
            n_in, n_out = y.shape[:2]
            # a damaged file's curve may hold inf or NaN: those points are not drawn
            with np.errstate(all="ignore"):
                x_lo, x_hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
                u = (x - x_lo) / np.maximum(x_hi - x_lo, 1e-12)  # (n_in, P) in [0, 1]
                y_lo, y_hi = y.min(axis=2, keepdims=True), y.max(axis=2, keepdims=True)
                span = y_hi - y_lo
                # Flat curves sit on the box's midline instead of amplifying noise.
                v = np.where(span > 1e-9, (y - y_lo) / np.maximum(span, 1e-12), 0.5)
            c = self.box_centers[sl].reshape(n_in, n_out, 2)
            w, h = self.box_sizes[sl][0]  # one size per layer
            pad = PAD * w
            px = c[..., :1] - w / 2 + pad + (w - 2 * pad) * u[:, None, :]
            py = c[..., 1:] - h / 2 + pad + (h - 2 * pad) * v
            keep = (np.asarray(active[layer], dtype=bool)[..., None] & np.isfinite(py)
                    & np.isfinite(px))
            out_x[sl] = np.where(keep, px, np.nan).reshape(-1, p)
            out_y[sl] = np.where(keep, py, np.nan).reshape(-1, p)
        return out_x, out_y

    def hit(self, x: float, y: float, tolerance: float) -> int | None:
        """The edge under scene point (x, y): inside its box, else within ``tolerance`` of
        one of its lines (nearest wins); None when nothing is that close."""
        c, half = self.box_centers, self.box_sizes / 2
        inside = (np.abs(c[:, 0] - x) <= half[:, 0]) & (np.abs(c[:, 1] - y) <= half[:, 1])
        if inside.any():
            return int(np.argmax(inside))
        a = self.segments[:, :, 0]  # (E, 2, xy)
        d = self.segments[:, :, 1] - a
        length2 = np.maximum((d * d).sum(-1), 1e-12)
        t = np.clip(((x - a[..., 0]) * d[..., 0] + (y - a[..., 1]) * d[..., 1]) / length2,
                    0.0, 1.0)
        dist = np.hypot(a[..., 0] + t * d[..., 0] - x, a[..., 1] + t * d[..., 1] - y)
        best = dist.min(axis=1)  # (E,)
        e = int(np.argmin(best))
        return e if best[e] <= tolerance else None

    def node_at(self, x: float, y: float, tolerance: float) -> tuple[int, int] | None:
        """(level, i) of the node within ``tolerance`` of scene point (x, y), or None."""
        for level, nodes in enumerate(self.nodes):
            dist = np.hypot(nodes[:, 0] - x, nodes[:, 1] - y)
            i = int(np.argmin(dist))
            if dist[i] <= tolerance:
                return level, i
        return None

    def index_of(self, layer: int, i: int, j: int) -> int:
        return self.layer_slices[layer].start + i * self.columns[layer + 1] + j

    def is_product(self, level: int, i: int) -> bool:
        """Whether node ``i`` of ``level`` is a product node."""
        return i >= self.width[level] - len(self.mult_arity[level])

    def product_mask(self) -> np.ndarray:
        """(total nodes,) bool, levels in order: which nodes are product nodes."""
        return np.concatenate([np.arange(n) >= n - len(a)
                               for n, a in zip(self.width, self.mult_arity, strict=True)])

    def column_target(self, level: int, j: int) -> tuple[int, int]:
        """(node, factor) an edge column of ``level`` feeds; factor -1 for a sum node."""
        return int(self.column_node[level][j]), int(self.column_factor[level][j])


def level_arities(width: list[int], mult_arity: Sequence[Sequence[int]] | None
                   ) -> list[list[int]]:
    """One list of product-node arities per level (the input level may be left out)."""
    if not mult_arity:
        return [[] for _ in width]
    levels = [[int(a) for a in level] for level in mult_arity]
    if len(levels) == len(width) - 1:
        levels = [[], *levels]
    if len(levels) != len(width) or any(len(a) > n or min(a, default=2) < 1
                                        for a, n in zip(levels, width, strict=True)):
        raise ValueError(f"mult_arity {mult_arity} does not fit width {width}")
    return levels
