"""The road network of a county in PostGIS: ``road_network``, ``road_node``, ``road_edge``.

The tables come from migration 0006 (``gis/migrations/versions/0006_road_network.py``, the
only place that defines them; :class:`gis.store.models.RoadNetworkInfo`, ``RoadNode``,
``RoadEdge`` mirror it):

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

:func:`graph_to_postgis` replaces the county's network in the caller's transaction;
:func:`graph_from_postgis` reads it back as an OSMnx-style graph (see :mod:`gis.network`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime

import networkx as nx
import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import AnalysisError, NotFoundError, StoreError
from gis.store.bulk import copy_rows

TABLES = ("road_network", "road_node", "road_edge")
"""The road tables of migration 0006."""


def tables_exist(conn: Connection) -> bool:
    """True when the road tables of migration 0006 are in the database."""
    return bool(conn.execute(sa.text(
        "select to_regclass('road_network') is not null and to_regclass('road_node') is not "
        "null and to_regclass('road_edge') is not null")).scalar())


def _require_tables(conn: Connection) -> None:
    if not tables_exist(conn):
        db = conn.engine.url.database
        msg = (f"database {db} has no road tables (road_network, road_node, road_edge): its "
               "schema predates migration 0006. Migrate it to the newest revision (a fresh "
               "database gets them when it is first opened)")
        raise StoreError(msg)


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

    Runs in the caller's transaction (``engine.begin()``).
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
    _require_tables(conn)
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
         "n": n_nodes, "m": n_edges, "t": datetime.now(UTC)})
    return {"nodes": n_nodes, "edges": n_edges}


def has_network(conn: Connection, adcode: str) -> bool:
    """True when a road network of ``adcode`` is stored."""
    if not tables_exist(conn):
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
    StoreError
        If the database has no road tables (schema older than migration 0006).
    """
    adcode = str(adcode)
    _require_tables(conn)
    if not has_network(conn, adcode):
        msg = (f"no road network stored for county {adcode}; import one with 'wangge network "
               "import FILE.osm.pbf' or load the demo ('wangge demo', synthetic roads)")
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


def network_info(conn: Connection, adcode: str) -> dict | None:
    """The stored network of ``adcode``: ``attrs`` (graph attributes: source, synthetic, …),
    ``n_nodes``, ``n_edges``, ``saved_at``; None when none is stored."""
    if not tables_exist(conn):
        return None
    row = conn.execute(sa.text(
        "select attrs, n_nodes, n_edges, saved_at from road_network where adcode = :a"),
        {"a": str(adcode)}).mappings().first()
    return dict(row) if row is not None else None


def save_synthetic_network(conn: Connection, G: nx.MultiDiGraph, adcode: str
                           ) -> dict[str, int]:
    """Store a synthetic network (the demo's, ``data/roads.py``) as the road network of
    ``adcode``, unless a real one (imported from OpenStreetMap: ``synthetic`` not true in
    its attributes) is stored already, which is kept.

    Returns
    -------
    dict
        ``{"nodes": n, "edges": m}`` written (both 0 when a real network was kept).
    """
    info = network_info(conn, adcode)
    if info is not None and not (info["attrs"] or {}).get("synthetic"):
        return {"nodes": 0, "edges": 0}
    return graph_to_postgis(conn, G, adcode)
