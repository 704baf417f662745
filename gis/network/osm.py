"""Road networks from OpenStreetMap (.osm.pbf, read with pyrosm), edge speeds, PostGIS storage.

:func:`read_osm_pbf` returns the driving network as an OSMnx-style
:class:`networkx.MultiDiGraph` (see :mod:`gis.network`): pyrosm's own graph export
(``osmnx_compatible=True``, topologically simplified like ``osmnx.simplify_graph``, largest
weakly connected part kept) with the bulky OSM metadata dropped and ``speed_kph`` /
``travel_time`` added by :func:`add_edge_speeds`.

Storing the graph in PostGIS and reading it back: :mod:`gis.network.store`
(:func:`graph_to_postgis`, :func:`graph_from_postgis` are re-exported here, their old home).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import networkx as nx
import numpy as np
import pyproj
import shapely

from gis import settings
from gis._errors import AnalysisError, InputFileError
from gis.network.store import graph_from_postgis, graph_to_postgis, has_network

__all__ = ["EDGE_ATTRS", "NODE_ATTRS", "add_edge_speeds", "graph_from_postgis",
           "graph_to_postgis", "has_network", "highway_speed", "parse_maxspeed", "read_osm_pbf"]

GEOD = pyproj.Geod(ellps="WGS84")

NODE_ATTRS = ("x", "y", "street_count")
"""Node attributes kept from pyrosm's export (the OSM metadata is dropped)."""

EDGE_ATTRS = ("osmid", "highway", "name", "ref", "maxspeed", "lanes", "oneway", "reversed",
              "length", "geometry")
"""Edge attributes kept from pyrosm's export, before speeds and travel times are added."""

_MPH = 1.609344
_KNOT = 1.852
_SPEED_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph|knots)?\s*$", re.IGNORECASE)



# --- speeds ---------------------------------------------------------------------------------

def parse_maxspeed(value: object) -> float | None:
    """A ``maxspeed`` tag as km/h, or None when it gives no number.

    Accepts ``"50"``, ``"50 km/h"``, ``"30 mph"``, ``"10 knots"``, several values separated
    by ``;`` / ``,`` / ``|`` (their mean) and lists (OSMnx merges tags of simplified edges
    into lists: their mean). Symbolic values (``"RU:urban"``, ``"none"``, ``"walk"``,
    ``"signals"``) and values <= 0 give None.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (list, tuple, set, np.ndarray)):
        parsed = [parse_maxspeed(v) for v in value]
        parsed = [p for p in parsed if p is not None]
        return float(np.mean(parsed)) if parsed else None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value) if value > 0 else None
    vals = []
    for part in re.split(r"[;,|]", str(value)):
        m = _SPEED_RE.match(part)
        if m is None:
            continue
        kph = float(m.group(1))
        unit = (m.group(2) or "").lower()
        kph *= _MPH if unit == "mph" else _KNOT if unit == "knots" else 1.0
        if kph > 0:
            vals.append(kph)
    return float(np.mean(vals)) if vals else None


def highway_speed(highway: object, speeds: Mapping[str, float] | None = None,
                  default: float | None = None) -> float:
    """Speed of an OSM ``highway`` type (or list of types: their mean), km/h, from
    :data:`settings.ROAD_SPEEDS_KPH`; unknown types get :data:`settings.ROAD_DEFAULT_SPEED_KPH`."""
    table = settings.ROAD_SPEEDS_KPH if speeds is None else speeds
    fallback = settings.ROAD_DEFAULT_SPEED_KPH if default is None else float(default)
    types = highway if isinstance(highway, (list, tuple, set)) else [highway]
    vals = [float(table.get(str(t).strip(), fallback)) for t in types if t is not None]
    return float(np.mean(vals)) if vals else fallback


def add_edge_speeds(G: nx.MultiDiGraph, speeds: Mapping[str, float] | None = None,
                    default: float | None = None, use_maxspeed: bool = True) -> nx.MultiDiGraph:
    """Set ``speed_kph`` and ``travel_time`` on every edge of ``G`` (in place; returns ``G``).

    ``speed_kph`` is the edge's ``maxspeed`` when it parses (:func:`parse_maxspeed`) and
    ``use_maxspeed``, else the speed of its ``highway`` type (:func:`highway_speed`).
    ``travel_time`` = ``length`` / speed, seconds. Edges without ``geometry`` get the straight
    line between their nodes; edges without ``length`` get the geodesic length of their
    geometry; lengths are floored at :data:`settings.ROAD_MIN_EDGE_LENGTH_M`.

    Raises
    ------
    AnalysisError
        If a speed is not a finite number > 0 (a bad entry in ``speeds``).
    """
    floor = float(settings.ROAD_MIN_EDGE_LENGTH_M)
    for u, v, data in G.edges(data=True):
        geom = data.get("geometry")
        if geom is None:
            nu, nv = G.nodes[u], G.nodes[v]
            geom = shapely.LineString([(nu["x"], nu["y"]), (nv["x"], nv["y"])])
            data["geometry"] = geom
        length = data.get("length")
        if length is None or not np.isfinite(float(length)):
            length = GEOD.geometry_length(geom)
        data["length"] = max(float(length), floor)
        kph = parse_maxspeed(data.get("maxspeed")) if use_maxspeed else None
        if kph is None:
            kph = highway_speed(data.get("highway"), speeds, default)
        if not np.isfinite(kph) or kph <= 0:
            msg = (f"road speed of edge ({u}, {v}) highway={data.get('highway')!r} is {kph!r} "
                   "km/h; give every type in settings.ROAD_SPEEDS_KPH a speed > 0")
            raise AnalysisError(msg)
        data["speed_kph"] = float(kph)
        data["travel_time"] = data["length"] / (kph / 3.6)
    return G


# --- reading OSM ----------------------------------------------------------------------------

def read_osm_pbf(path: str | Path, network_type: str = "driving",
                 bbox: tuple[float, float, float, float] | shapely.Geometry | None = None,
                 retain_all: bool = False, speeds: Mapping[str, float] | None = None,
                 simplify: bool = True) -> nx.MultiDiGraph:
    """The road network of an OpenStreetMap ``.osm.pbf`` extract as an OSMnx-style graph.

    Parameters
    ----------
    path : path of the ``.osm.pbf`` file.
    network_type : pyrosm network type, default ``"driving"`` (OSMnx ``"drive"``: public
        roads for cars, one-way streets respected).
    bbox : (minx, miny, maxx, maxy) lon / lat or a polygon, optional: read only this area.
    retain_all : keep every weakly connected part (default: the largest only).
    speeds : highway type → km/h, default :data:`settings.ROAD_SPEEDS_KPH`.
    simplify : merge chains of degree-2 nodes into single edges (pyrosm, as OSMnx does).

    Returns
    -------
    networkx.MultiDiGraph
        Nodes ``x``, ``y`` (lon / lat), ``street_count``; edges :data:`EDGE_ATTRS` plus
        ``speed_kph`` and ``travel_time``; ``G.graph`` has ``crs`` ("EPSG:4326"),
        ``source`` (file name) and ``network_type``.

    Raises
    ------
    InputFileError
        If the file is missing or pyrosm cannot read it.
    AnalysisError
        If it holds no roads of that type.
    """
    import pyrosm  # imported here: heavy, and only needed for OSM import

    path = Path(path)
    if not path.is_file():
        msg = f"OpenStreetMap file {path} not found; give an existing .osm.pbf extract"
        raise InputFileError(msg)
    if bbox is not None and not isinstance(bbox, shapely.Geometry):
        bbox = list(bbox)
    try:
        osm = pyrosm.OSM(str(path), bounding_box=bbox)
        with warnings.catch_warnings():  # "no edges": reported below as an AnalysisError
            warnings.filterwarnings("ignore", "Could not find any", UserWarning)
            res = osm.get_network(network_type=network_type, nodes=True)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        msg = f"cannot read the road network of {path}: {exc}"
        raise InputFileError(msg) from exc
    nodes, edges = res if isinstance(res, tuple) else (None, None)
    if nodes is None or edges is None or len(edges) == 0:
        msg = f"{path} holds no roads of network type {network_type!r} (in the given bbox)"
        raise AnalysisError(msg)
    raw = osm.to_graph(nodes, edges, graph_type="networkx", retain_all=retain_all,
                       osmnx_compatible=True, simplify=simplify, network_type=network_type)
    G = nx.MultiDiGraph(crs="EPSG:4326", source=path.name, network_type=network_type)
    G.add_nodes_from((n, {k: d[k] for k in NODE_ATTRS if k in d})
                     for n, d in raw.nodes(data=True))
    G.add_edges_from((u, v, k, {a: d[a] for a in EDGE_ATTRS if a in d and not _missing(d[a])})
                     for u, v, k, d in raw.edges(keys=True, data=True))
    return add_edge_speeds(G, speeds)


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))
