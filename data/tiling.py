"""Exact tilings of a polygon by hierarchical region growing on a fine random mesh.

1. :func:`build_mesh`: random points (density given by a weight function) → Voronoi cells
   clipped to the territory. The cells form a valid polygonal coverage (shared edges are
   vertex-identical) whose union is the territory.
2. :func:`cell_adjacency`: cells sharing an edge (found by hashing the shared segments).
3. :func:`grow_regions`: multi-source Dijkstra on the adjacency graph with random positive
   edge weights; every cell joins the seed it is closest to. Each region is connected
   (a shortest-path tree), and regions never cross the barriers given by a parent labelling.
4. :func:`dissolve`: ``shapely.coverage_union_all`` of the cells of each region.

All lengths are metres (a metric CRS). Regions of one level are unions of whole cells, so
every level is a valid coverage, and each level nests exactly inside the one above.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from data.density import smooth_noise


@dataclass
class Mesh:
    """Fine mesh of a territory: cells, their centres, areas and adjacency (metres)."""

    cells: np.ndarray
    """Polygons (object array), a valid coverage of the territory."""
    x: np.ndarray
    """Centroid x of each cell, metres."""
    y: np.ndarray
    """Centroid y of each cell, metres."""
    area: np.ndarray
    """Area of each cell, square metres."""
    edge_i: np.ndarray
    """First cell of each adjacency (edge-sharing) pair, ``edge_i < edge_j``."""
    edge_j: np.ndarray
    """Second cell of each adjacency pair."""

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def edge_length(self) -> np.ndarray:
        """Distance between the centres of the two cells of each adjacency pair, metres."""
        return np.hypot(self.x[self.edge_i] - self.x[self.edge_j],
                        self.y[self.edge_i] - self.y[self.edge_j])


def sample_points(territory: BaseGeometry, n: int, weight, rng: np.random.Generator,
                  ) -> np.ndarray:
    """``n`` random points inside ``territory``, with a density proportional to ``weight``.

    Parameters
    ----------
    territory : shapely geometry
        Polygonal area, metric coordinates.
    n : int
        Number of points.
    weight : callable
        ``weight(x, y) -> array`` of non-negative relative densities.
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    numpy.ndarray
        Array of shape (n, 2), metres.
    """
    minx, miny, maxx, maxy = territory.bounds
    shapely.prepare(territory)
    out: list[np.ndarray] = []
    got = 0
    while got < n:
        m = max(4 * (n - got), 10_000)
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        inside = shapely.contains_xy(territory, x, y)
        x, y = x[inside], y[inside]
        w = weight(x, y)
        keep = rng.uniform(0, w.max() * 1.0000001, len(w)) < w
        pts = np.column_stack([x[keep], y[keep]])
        out.append(pts[: n - got])
        got += len(out[-1])
    return np.concatenate(out)


def build_mesh(territory: BaseGeometry, points: np.ndarray) -> Mesh:
    """Voronoi cells of ``points`` clipped to ``territory`` (metric), with their adjacency.

    Cells cut into several parts by the territory boundary are split into separate cells.
    """
    pad = shapely.box(*territory.buffer(10_000.0).bounds)
    vor = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=pad, ordered=True)
    cells = shapely.get_parts(vor)
    shapely.prepare(territory)
    cut = ~shapely.contains_properly(territory, cells)
    cells[cut] = shapely.intersection(cells[cut], territory)
    parts = shapely.get_parts(cells)
    parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]
    cent = shapely.centroid(parts)
    i, j = cell_adjacency(parts)
    return Mesh(cells=parts, x=shapely.get_x(cent), y=shapely.get_y(cent),
                area=shapely.area(parts), edge_i=i, edge_j=j)


def cell_adjacency(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of cells (i < j) of a valid coverage that share at least one edge segment."""
    coords, idx = shapely.get_coordinates(shapely.get_exterior_ring(cells), return_index=True)
    same = idx[:-1] == idx[1:]
    a, b, owner = coords[:-1][same], coords[1:][same], idx[:-1][same]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    lo = np.where(swap[:, None], b, a)
    hi = np.where(swap[:, None], a, b)
    seg = np.column_stack([lo, hi])
    order = np.lexsort(seg.T[::-1])
    seg, owner = seg[order], owner[order]
    dup = np.all(seg[1:] == seg[:-1], axis=1)
    i, j = owner[:-1][dup], owner[1:][dup]
    pairs = np.unique(np.column_stack([np.minimum(i, j), np.maximum(i, j)]), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def edge_weights(mesh: Mesh, rng: np.random.Generator, wavelength: float,
                 meander: float = 0.6, jitter: float = 0.25,
                 cost: np.ndarray | None = None) -> np.ndarray:
    """Random positive weights of the mesh edges: length × smooth field × noise (× cost).

    The smooth random field (``wavelength`` metres, log-amplitude ``meander``) bends the
    region boundaries at that scale; the independent ``jitter`` roughens them locally.
    ``cost`` (one positive value per cell, optional) multiplies the weight by the mean cost
    of the edge's two cells: with cost ∝ density ** 0.5, regions grown from fixed seeds get
    more even populations.
    """
    mx = (mesh.x[mesh.edge_i] + mesh.x[mesh.edge_j]) / 2
    my = (mesh.y[mesh.edge_i] + mesh.y[mesh.edge_j]) / 2
    field = np.exp(meander * smooth_noise(rng, mx, my, wavelength))
    noise = np.exp(jitter * rng.standard_normal(len(mx)))
    w = mesh.edge_length * field * noise
    if cost is not None:
        w = w * (cost[mesh.edge_i] + cost[mesh.edge_j]) / 2
    return w + 1e-6


def grow_regions(n: int, edge_i: np.ndarray, edge_j: np.ndarray, weight: np.ndarray,
                 seeds: np.ndarray, barrier: np.ndarray | None = None,
                 offset: np.ndarray | None = None) -> np.ndarray:
    """Label every node with the seed closest to it (multi-source Dijkstra).

    Parameters
    ----------
    n : int
        Number of nodes (cells).
    edge_i, edge_j : numpy.ndarray
        Undirected edges.
    weight : numpy.ndarray
        Positive length of each edge.
    seeds : numpy.ndarray
        Node of each seed; the label of a node is the position of its seed in ``seeds``.
    barrier : numpy.ndarray, optional
        Parent label of each node: edges between different parents are not crossed, so each
        region stays inside one parent region.
    offset : numpy.ndarray, optional
        Start distance of each seed (additive weights): a larger offset, a smaller region.
        Regions stay connected; a seed whose offset is too large may lose its own cell.

    Returns
    -------
    numpy.ndarray
        Label (seed position) of each node; -1 for nodes no seed can reach.
    """
    keep = np.ones(len(edge_i), bool) if barrier is None else barrier[edge_i] == barrier[edge_j]
    src = np.concatenate([edge_i[keep], edge_j[keep]])
    dst = np.concatenate([edge_j[keep], edge_i[keep]])
    w = np.concatenate([weight[keep], weight[keep]])
    order = np.lexsort((dst, src))
    src, dst, w = src[order], dst[order], w[order]
    indptr = np.searchsorted(src, np.arange(n + 1)).tolist()
    nbr, wl = dst.tolist(), w.tolist()
    label = [-1] * n
    dist = [float("inf")] * n
    start = np.zeros(len(seeds)) if offset is None else np.asarray(offset, float)
    heap = [(float(o), int(s), k) for k, (s, o) in enumerate(zip(seeds, start, strict=True))]
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        d, u, k = pop(heap)
        if label[u] != -1:
            continue
        label[u] = k
        for e in range(indptr[u], indptr[u + 1]):
            v = nbr[e]
            if label[v] == -1:
                nd = d + wl[e]
                if nd < dist[v]:
                    dist[v] = nd
                    push(heap, (nd, v, k))
    return np.asarray(label, dtype=np.int64)


def grow_all(mesh: Mesh, weight: np.ndarray, seeds: np.ndarray, mass: np.ndarray,
             barrier: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`grow_regions` that reaches every cell.

    Cells no seed can reach (a part of the territory cut off from all seeds, e.g. an
    exclave without a seed) get extra seeds, one per unreached component, at the cell of
    largest ``mass``. Returns the labels and the (possibly longer) seed array.
    """
    seeds = np.asarray(seeds, dtype=np.int64)
    while True:
        labels = grow_regions(len(mesh), mesh.edge_i, mesh.edge_j, weight, seeds, barrier)
        lost = np.flatnonzero(labels < 0)
        if len(lost) == 0:
            return labels, seeds
        seeds = np.append(seeds, lost[np.argmax(mass[lost])])


def allocate(total: int, weight: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Split ``total`` into integers ∝ ``weight``, each at least ``minimum`` (largest remainder).

    The sum is ``total`` unless the minimums alone exceed it.
    """
    weight = np.asarray(weight, float)
    n = len(weight)
    counts = np.full(n, minimum, dtype=np.int64)
    rest = total - counts.sum()
    if rest <= 0:
        return counts
    share = rest * weight / weight.sum()
    counts += np.floor(share).astype(np.int64)
    left = total - counts.sum()
    frac = share - np.floor(share)
    counts[np.argsort(-frac, kind="stable")[:left]] += 1
    return counts


def recentre(mesh: Mesh, labels: np.ndarray, mass: np.ndarray, n_regions: int) -> np.ndarray:
    """For each region, the cell closest to its mass-weighted centre (one Lloyd step)."""
    m = np.bincount(labels, mass, n_regions)
    cx = np.bincount(labels, mass * mesh.x, n_regions) / m
    cy = np.bincount(labels, mass * mesh.y, n_regions) / m
    d = np.hypot(mesh.x - cx[labels], mesh.y - cy[labels])
    order = np.lexsort((d, labels))
    first = np.searchsorted(labels[order], np.arange(n_regions))
    return order[first]


def pick_seeds(parent: np.ndarray, mass: np.ndarray, counts: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """Sample ``counts[p]`` distinct cells in each parent ``p``, with probability ∝ ``mass``.

    Uses the Gumbel-top-k trick, so the whole draw is vectorised; the result is sorted by
    parent.
    """
    key = np.log(np.maximum(mass, 1e-300)) + rng.gumbel(size=len(mass))
    order = np.lexsort((-key, parent))
    sorted_parent = parent[order]
    start = np.searchsorted(sorted_parent, sorted_parent, side="left")
    rank = np.arange(len(order)) - start
    return order[rank < counts[sorted_parent]]


def dissolve(cells: np.ndarray, labels: np.ndarray, n_regions: int) -> np.ndarray:
    """Union of the cells of each region (coverage union), as an object array of polygons."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_regions + 1))
    out = np.empty(n_regions, dtype=object)
    for r in range(n_regions):
        out[r] = shapely.coverage_union_all(cells[order[bounds[r]:bounds[r + 1]]])
    return out
