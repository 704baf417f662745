"""Synthetic townships, villages and villager groups tiling the real county boundary.

Method (all in the county's UTM zone, metres): a fine Voronoi mesh whose point density
follows the population density; townships grown from their (approximate, jittered) seats by
multi-source Dijkstra on randomly weighted mesh edges; villages grown inside each township
and groups inside each village the same way, from seeds drawn in proportion to population
and moved by two Lloyd steps. Every region is a union of whole mesh cells, so each level is
an exact coverage of the county and nests exactly in the level above. Households and
population come from the density field with random spread. Everything here is SYNTHETIC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from shapely.geometry.base import BaseGeometry

from data import names, tiling
from data.boundary import Projector
from data.density import DensityField

N_CELLS = 60_000
"""Cells of the fine mesh."""
MESH_DENSITY_EXPONENT = 0.85
"""Mesh point density ∝ population density ** this (smaller groups keep enough cells)."""
VILLAGES_RANGE = (240, 260)
"""Number of villages (drawn uniformly in this closed range)."""
GROUPS_RANGE = (2_400, 2_600)
"""Target number of villager groups (drawn uniformly in this closed range)."""
GROUPS_PER_VILLAGE = (3, 20)
"""Fewest and most groups in a village."""
MEDIAN_HOUSEHOLDS = 185
"""Median households of a group."""
PERSONS_PER_HOUSEHOLD = (2.6, 3.4)
"""Range of the mean household size of a group."""
SEAT_JITTER_M = 1_000.0
"""Random shift of the township seats, metres."""
TOWNSHIP_BALANCE_ROUNDS = 4
"""Rounds of population balancing of the townships."""
TOWNSHIP_BALANCE_STEP = 2_000.0
"""Offset change per unit of log population per round (edge-weight units ≈ metres)."""
TOWNSHIP_BALANCE_MAX = 6_000.0
"""Largest absolute offset of a township seat."""


@dataclass
class Divisions:
    """The synthetic divisions of one county, in metric coordinates.

    Label arrays give, for each mesh cell, the row of its township / village / group in the
    tables below (which are sorted by code).
    """

    mesh: tiling.Mesh
    mass: np.ndarray
    """Relative population of each cell (density × area)."""
    township_of_cell: np.ndarray
    village_of_cell: np.ndarray
    group_of_cell: np.ndarray
    townships: dict[str, np.ndarray]
    """Columns code, name, seat (cell index), geometry (metric polygons)."""
    villages: dict[str, np.ndarray]
    """Columns code, name, township (row), centre (cell index), population, households,
    geometry."""
    groups: dict[str, np.ndarray]
    """Columns code, name, village (row), township (row), population, households, geometry."""


def _grow_level(mesh: tiling.Mesh, mass: np.ndarray, parent: np.ndarray, counts: np.ndarray,
                weight: np.ndarray, rng: np.random.Generator,
                lloyd: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Seeds (``counts[p]`` per parent ``p``) and labels of one level inside ``parent``."""
    seeds = tiling.pick_seeds(parent, mass, counts, rng)
    labels, seeds = tiling.grow_all(mesh, weight, seeds, mass, parent)
    for _ in range(lloyd):
        seeds = tiling.recentre(mesh, labels, mass, len(seeds))
        labels, seeds = tiling.grow_all(mesh, weight, seeds, mass, parent)
    return labels, seeds


def _balanced_townships(mesh: tiling.Mesh, weight: np.ndarray, seats: np.ndarray,
                        mass: np.ndarray, rounds: int = TOWNSHIP_BALANCE_ROUNDS) -> np.ndarray:
    """Township labels grown from the seats, with additive offsets that even out population.

    Each round raises the start distance of populous townships and lowers that of small
    ones (by :data:`TOWNSHIP_BALANCE_STEP` per unit of log population); a round that would
    cost a township its own seat is discarded.
    """
    n = len(mesh)
    offset = np.zeros(len(seats))
    labels = tiling.grow_regions(n, mesh.edge_i, mesh.edge_j, weight, seats)
    for _ in range(rounds):
        ok = labels >= 0
        pop = np.bincount(labels[ok], mass[ok], len(seats))
        step = np.log(pop) - np.median(np.log(pop))
        trial = np.clip(offset + TOWNSHIP_BALANCE_STEP * step, -TOWNSHIP_BALANCE_MAX,
                        TOWNSHIP_BALANCE_MAX)
        new = tiling.grow_regions(n, mesh.edge_i, mesh.edge_j, weight, seats, offset=trial)
        if not np.array_equal(new[seats], np.arange(len(seats))):
            break
        offset, labels = trial, new
    if (labels < 0).any():  # parts no seat reaches (exclaves) join the nearest seat
        full, extra = tiling.grow_all(mesh, weight, seats, mass)
        near = [int(np.argmin(np.hypot(mesh.x[seats] - mesh.x[s], mesh.y[seats] - mesh.y[s])))
                for s in extra[len(seats):]]
        mapping = np.concatenate([np.arange(len(seats)), np.asarray(near, dtype=np.int64)])
        labels = np.where(labels < 0, mapping[full], labels)
    return labels


def _order(key_major: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rank regions by parent, then north to south (1 km bands), then west to east."""
    return np.lexsort((x, -np.floor(y / 1_000.0), key_major))


def build_divisions(adcode: str, county_m: BaseGeometry, projector: Projector,
                    density: DensityField, rng: np.random.Generator,
                    progress: Callable[[str], None] = lambda s: None) -> Divisions:
    """Generate the townships, villages and groups of the county (metric CRS).

    Parameters
    ----------
    adcode : str
        County adcode, the prefix of every code.
    county_m : shapely geometry
        County boundary in the metric CRS of ``projector``.
    projector : Projector
        Converts the township seats (degrees) to metres.
    density : DensityField
        Relative population density.
    rng : numpy.random.Generator
        Random source (the only one used).
    progress : callable
        Called with a step name before each step.
    """
    progress("mesh")
    pts = tiling.sample_points(county_m, N_CELLS,
                               lambda x, y: density(x, y) ** MESH_DENSITY_EXPONENT, rng)
    mesh = tiling.build_mesh(county_m, pts)
    mass = density(mesh.x, mesh.y) * mesh.area

    progress("townships")
    specs = names.TOWNSHIPS
    sx, sy = projector.xy_to_metric([t.lon for t in specs], [t.lat for t in specs])
    sx = sx + rng.uniform(-SEAT_JITTER_M, SEAT_JITTER_M, len(specs))
    sy = sy + rng.uniform(-SEAT_JITTER_M, SEAT_JITTER_M, len(specs))
    seats = np.array([np.argmin(np.hypot(mesh.x - a, mesh.y - b)) for a, b in zip(sx, sy,
                                                                                   strict=True)])
    _, first = np.unique(seats, return_index=True)
    if len(first) != len(seats):  # two seats on one cell: nudge the later one to a neighbour
        for k in sorted(set(range(len(seats))) - set(first.tolist())):
            d = np.hypot(mesh.x - mesh.x[seats[k]], mesh.y - mesh.y[seats[k]])
            d[seats[:k]] = np.inf
            d[seats[k]] = np.inf
            seats[k] = int(np.argmin(d))
    dens = mass / mesh.area
    w_t = tiling.edge_weights(mesh, rng, wavelength=15_000.0, meander=0.5,
                              cost=(dens / np.average(dens, weights=mesh.area)) ** 0.25)
    t_lab = _balanced_townships(mesh, w_t, seats, mass)
    n_t = len(seats)

    progress("villages")
    t_mass = np.bincount(t_lab, mass, n_t)
    n_v = int(rng.integers(VILLAGES_RANGE[0], VILLAGES_RANGE[1] + 1))
    v_counts = tiling.allocate(n_v, t_mass, minimum=2)
    w_v = tiling.edge_weights(mesh, rng, wavelength=4_000.0, meander=0.6)
    v_lab, v_seeds = _grow_level(mesh, mass, t_lab, v_counts, w_v, rng)

    progress("groups")
    v_mass = np.bincount(v_lab, mass, len(v_seeds))
    n_g = int(rng.integers(GROUPS_RANGE[0], GROUPS_RANGE[1] + 1))
    g_counts = np.clip(tiling.allocate(n_g, v_mass ** 0.85, minimum=GROUPS_PER_VILLAGE[0]),
                       None, GROUPS_PER_VILLAGE[1])
    w_g = tiling.edge_weights(mesh, rng, wavelength=1_000.0, meander=0.4)
    g_lab, g_seeds = _grow_level(mesh, mass, v_lab, g_counts, w_g, rng)

    # --- order, codes and names ------------------------------------------------------------
    v_town = t_lab[v_seeds]
    v_rank = _order(v_town, mesh.y[v_seeds], mesh.x[v_seeds])
    v_new = np.empty_like(v_rank)
    v_new[v_rank] = np.arange(len(v_rank))
    v_lab, v_seeds, v_town = v_new[v_lab], v_seeds[v_rank], v_town[v_rank]
    g_village = v_lab[g_seeds]
    g_rank = _order(g_village, mesh.y[g_seeds], mesh.x[g_seeds])
    g_new = np.empty_like(g_rank)
    g_new[g_rank] = np.arange(len(g_rank))
    g_lab, g_seeds, g_village = g_new[g_lab], g_seeds[g_rank], g_village[g_rank]

    t_codes = _township_codes(adcode)
    v_codes = _child_codes(t_codes, v_town, start=201)
    g_codes = _child_codes(v_codes, g_village, start=1)
    v_names = np.asarray(names.village_names(rng, len(v_seeds)), dtype=object)
    unit = np.where(rng.random(len(v_seeds)) < 0.85, "社", "组")
    g_names = np.empty(len(g_seeds), dtype=object)
    starts = np.searchsorted(g_village, np.arange(len(v_seeds) + 1))
    for v in range(len(v_seeds)):
        g_names[starts[v]:starts[v + 1]] = names.group_names(starts[v + 1] - starts[v], unit[v])

    progress("population")
    g_mass = np.bincount(g_lab, mass, len(g_seeds))
    rel = g_mass / np.median(g_mass)
    hh = MEDIAN_HOUSEHOLDS * rel ** 0.45 * np.exp(0.18 * rng.standard_normal(len(rel)))
    g_hh = np.maximum(np.round(hh), 12).astype(np.int64)
    g_pop = np.round(g_hh * rng.uniform(*PERSONS_PER_HOUSEHOLD, len(g_hh))).astype(np.int64)
    v_hh = np.bincount(g_village, g_hh, len(v_seeds)).astype(np.int64)
    v_pop = np.bincount(g_village, g_pop, len(v_seeds)).astype(np.int64)

    progress("dissolve")
    return Divisions(
        mesh=mesh, mass=mass, township_of_cell=t_lab, village_of_cell=v_lab,
        group_of_cell=g_lab,
        townships={"code": t_codes, "name": np.array([t.name for t in specs], dtype=object),
                   "seat": seats, "geometry": tiling.dissolve(mesh.cells, t_lab, n_t)},
        villages={"code": v_codes, "name": v_names, "township": v_town, "centre": v_seeds,
                  "population": v_pop, "households": v_hh,
                  "geometry": tiling.dissolve(mesh.cells, v_lab, len(v_seeds))},
        groups={"code": g_codes, "name": g_names, "village": g_village,
                "township": v_town[g_village], "population": g_pop, "households": g_hh,
                "geometry": tiling.dissolve(mesh.cells, g_lab, len(g_seeds))},
    )


def _township_codes(adcode: str) -> np.ndarray:
    """adcode + 3 digits: towns (镇) 101, 102, …; townships (乡) 201, 202, …"""
    out, k = [], {"镇": 100, "乡": 200}
    for t in names.TOWNSHIPS:
        k[t.kind] += 1
        out.append(f"{adcode}{k[t.kind]:03d}")
    return np.asarray(out, dtype=object)


def _child_codes(parent_codes: np.ndarray, parent_of: np.ndarray, start: int) -> np.ndarray:
    """Parent code + 3 digits numbered from ``start`` within each parent (rows sorted)."""
    first = np.searchsorted(parent_of, parent_of, side="left")
    serial = np.arange(len(parent_of)) - first + start
    if serial.max(initial=0) > 999:
        msg = "more than 999 children in one parent: codes would overflow 3 digits"
        raise ValueError(msg)
    return np.asarray([f"{parent_codes[p]}{s:03d}" for p, s in zip(parent_of, serial,
                                                                  strict=True)], dtype=object)
