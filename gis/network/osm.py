"""Road networks from OpenStreetMap (.osm.pbf, read with pyrosm), edge speeds, PostGIS storage.

:func:`read_osm_pbf` returns the driving network as an OSMnx-style
:class:`networkx.MultiDiGraph` (see :mod:`gis.network`): pyrosm's own graph export
(``osmnx_compatible=True``, topologically simplified like ``osmnx.simplify_graph``, largest
weakly connected part kept) with the bulky OSM metadata dropped and ``speed_kph`` /
``travel_time`` added by :func:`add_edge_speeds`.

Storage (:func:`graph_to_postgis`, :func:`graph_from_postgis`): three tables created by this
module with ``create table if not exists`` (no Alembic migration yet; a later migration will
adopt them as they are):

``road_network``
    one row per county ``adcode``: the graph attributes (``attrs`` jsonb: crs, source, …),
    node and edge counts, ``saved_at``.
``road_node``
    ``(adcode, id)`` primary key; ``x``, ``y`` (lon / lat), ``attrs`` (jsonb: the other node
    attributes, e.g. ``street_count``), ``geom`` Point 4490 with a GiST index.
``road_edge``
    ``(adcode, u, v, key)`` primary key (the MultiDiGraph edge), ``highway``, ``length_m``,
    ``speed_kph``, ``travel_time_s``, ``oneway``, ``attrs`` (jsonb: every other edge
    attribute: osmid, name, ref, maxspeed, lanes, reversed, …), ``geom`` LineString 4490 (from
    u to v) with a GiST index.

Saving replaces the county's network in one transaction (the caller's).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import networkx as nx
import numpy as np
import pyproj
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import AnalysisError, InputFileError, NotFoundError
from gis.store.bulk import copy_rows

GEOD = pyproj.Geod(ellps="WGS84")

NODE_ATTRS = ("x", "y", "street_count")
"""Node attributes kept from pyrosm's export (the OSM metadata is dropped)."""

EDGE_ATTRS = ("osmid", "highway", "name", "ref", "maxspeed", "lanes", "oneway", "reversed",
              "length", "geometry")
"""Edge attributes kept from pyrosm's export, before speeds and travel times are added."""

_MPH = 1.609344
_KNOT = 1.852
_SPEED_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph|knots)?\s*$", re.IGNORECASE)

DDL = (
    """create table if not exists road_network (
        adcode varchar(6) primary key,
        attrs jsonb not null default '{}'::jsonb,
        n_nodes integer not null,
        n_edges integer not null,
        saved_at timestamptz not null default now())""",
    """create table if not exists road_node (
        adcode varchar(6) not null,
        id bigint not null,
        x double precision not null,
        y double precision not null,
        attrs jsonb not null default '{}'::jsonb,
        geom geometry(Point, 4490) not null,
        primary key (adcode, id))""",
    "create index if not exists road_node_geom_gist on road_node using gist (geom)",
    """create table if not exists road_edge (
        adcode varchar(6) not null,
        u bigint not null,
        v bigint not null,
        key integer not null,
        highway text,
        length_m double precision not null check (length_m > 0),
        speed_kph double precision not null check (speed_kph > 0),
        travel_time_s double precision not null check (travel_time_s > 0),
        oneway boolean,
        attrs jsonb not null default '{}'::jsonb,
        geom geometry(LineString, 4490) not null,
        primary key (adcode, u, v, key),
        foreign key (adcode, u) references road_node (adcode, id) on delete cascade,
        foreign key (adcode, v) references road_node (adcode, id) on delete cascade)""",
    "create index if not exists road_edge_geom_gist on road_edge using gist (geom)",
    "create index if not exists road_edge_adcode_idx on road_edge (adcode)",
)
"""Statements creating the road tables (idempotent)."""


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


# --- PostGIS --------------------------------------------------------------------------------

def ensure_tables(conn: Connection) -> None:
    """Create ``road_network``, ``road_node``, ``road_edge`` and their indexes if missing."""
    for stmt in DDL:
        conn.execute(sa.text(stmt))


def _jsonable(v: object) -> object:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple, set, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


_EDGE_COLUMNS = ("geometry", "length", "speed_kph", "travel_time", "oneway")


def graph_to_postgis(conn: Connection, G: nx.MultiDiGraph, adcode: str) -> dict[str, int]:
    """Store ``G`` as the road network of county ``adcode``, replacing the stored one.

    Runs in the caller's transaction (``engine.begin()``); creates the tables when missing.
    Node ids must be integers; every edge needs ``length``, ``speed_kph``, ``travel_time``
    (see :func:`add_edge_speeds`) and gets a straight ``geometry`` when it has none.

    Returns
    -------
    dict
        ``{"nodes": n, "edges": m}`` written.
    """
    adcode = str(adcode)
    if G.number_of_nodes() == 0:
        msg = f"road network of {adcode} is empty; nothing to store"
        raise AnalysisError(msg)
    ensure_tables(conn)
    conn.execute(sa.text("delete from road_edge where adcode = :a"), {"a": adcode})
    conn.execute(sa.text("delete from road_node where adcode = :a"), {"a": adcode})
    conn.execute(sa.text("delete from road_network where adcode = :a"), {"a": adcode})
    srid = settings.STORAGE_SRID

    ids, xs, ys, nattrs = [], [], [], []
    for n, d in G.nodes(data=True):
        if not isinstance(n, (int, np.integer)):
            msg = f"road node id {n!r} is not an integer; relabel the graph's nodes first"
            raise AnalysisError(msg)
        ids.append(int(n))
        xs.append(float(d["x"]))
        ys.append(float(d["y"]))
        nattrs.append(json.dumps({k: _jsonable(x) for k, x in d.items()
                                  if k not in ("x", "y", "geometry")}, ensure_ascii=False))
    pts = shapely.to_wkb(shapely.set_srid(shapely.points(xs, ys), srid), hex=True,
                         include_srid=True)
    n_nodes = copy_rows(conn, "road_node", ["adcode", "id", "x", "y", "attrs", "geom"],
                        zip([adcode] * len(ids), ids, xs, ys, nattrs, pts, strict=True))

    rows, geoms = [], []
    for u, v, k, d in G.edges(keys=True, data=True):
        geom = d.get("geometry")
        if geom is None:
            geom = shapely.LineString([(G.nodes[u]["x"], G.nodes[u]["y"]),
                                       (G.nodes[v]["x"], G.nodes[v]["y"])])
        for need in ("length", "speed_kph", "travel_time"):
            if need not in d:
                msg = f"road edge ({u}, {v}, {k}) has no {need!r}; run add_edge_speeds(G) first"
                raise AnalysisError(msg)
        hw = d.get("highway")
        attrs = {a: _jsonable(x) for a, x in d.items() if a not in _EDGE_COLUMNS}
        if isinstance(hw, str):
            attrs.pop("highway")
        oneway = d.get("oneway")
        rows.append((adcode, int(u), int(v), int(k),
                     hw if isinstance(hw, str) else (";".join(map(str, hw)) if hw else None),
                     float(d["length"]), float(d["speed_kph"]), float(d["travel_time"]),
                     None if oneway is None else bool(oneway),
                     json.dumps(attrs, ensure_ascii=False)))
        geoms.append(geom)
    hexes = shapely.to_wkb(shapely.set_srid(shapely.force_2d(np.asarray(geoms, dtype=object)),
                                            srid), hex=True, include_srid=True)
    n_edges = copy_rows(conn, "road_edge",
                        ["adcode", "u", "v", "key", "highway", "length_m", "speed_kph",
                         "travel_time_s", "oneway", "attrs", "geom"],
                        ((*r, h) for r, h in zip(rows, hexes, strict=True)))
    conn.execute(sa.text(
        "insert into road_network (adcode, attrs, n_nodes, n_edges, saved_at) "
        "values (:a, cast(:g as jsonb), :n, :m, :t)"),
        {"a": adcode, "g": json.dumps({k: _jsonable(x) for k, x in G.graph.items()},
                                      ensure_ascii=False),
         "n": n_nodes, "m": n_edges, "t": datetime.now(timezone.utc)})
    return {"nodes": n_nodes, "edges": n_edges}


def has_network(conn: Connection, adcode: str) -> bool:
    """True when a road network of ``adcode`` is stored."""
    exists = conn.execute(sa.text("select to_regclass('road_network') is not null")).scalar()
    if not exists:
        return False
    return conn.execute(sa.text("select count(*) from road_network where adcode = :a"),
                        {"a": str(adcode)}).scalar() > 0


def graph_from_postgis(conn: Connection, adcode: str) -> nx.MultiDiGraph:
    """The road network of county ``adcode`` as stored by :func:`graph_to_postgis`.

    ``G.graph`` holds the stored graph attributes with ``crs`` set to EPSG:4490 (the
    storage CRS, numerically WGS84).

    Raises
    ------
    NotFoundError
        If no network of ``adcode`` is stored.
    """
    adcode = str(adcode)
    if not has_network(conn, adcode):
        msg = (f"no road network stored for {adcode}; import one (wangge analyze reach "
               "--network FILE.osm.pbf) or build the demo's synthetic roads")
        raise NotFoundError(msg)
    gattrs = conn.execute(sa.text("select attrs from road_network where adcode = :a"),
                          {"a": adcode}).scalar() or {}
    G = nx.MultiDiGraph(**{**gattrs, "crs": f"EPSG:{settings.STORAGE_SRID}"})
    for nid, x, y, attrs in conn.execute(sa.text(
            "select id, x, y, attrs from road_node where adcode = :a order by id"),
            {"a": adcode}):
        G.add_node(int(nid), x=float(x), y=float(y), **(attrs or {}))
    res = conn.execute(sa.text("""
        select u, v, key, highway, length_m, speed_kph, travel_time_s, oneway, attrs,
               st_asbinary(geom) from road_edge where adcode = :a order by u, v, key"""),
        {"a": adcode}).all()
    geoms = shapely.from_wkb([bytes(r[9]) for r in res]) if res else []
    for r, geom in zip(res, geoms, strict=True):
        d = {"highway": r[3], "length": float(r[4]), "speed_kph": float(r[5]),
             "travel_time": float(r[6]), "geometry": geom}
        if r[7] is not None:
            d["oneway"] = bool(r[7])
        d.update(r[8] or {})
        G.add_edge(int(r[0]), int(r[1]), key=int(r[2]), **d)
    return G
