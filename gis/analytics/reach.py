"""Response reach of a county from the store: road isochrones, the standards table, siting.

The pure analyses live in :mod:`gis.network` (isochrones, the "10 / 20 minutes" table) and
:mod:`gis.analytics.siting` (MCLP); this module reads their inputs from PostGIS (the grid
version in force, its police posts, the county's road network) and returns frames to write.

The road network is the one stored for the county (:mod:`gis.network.store`; the demo loads a
synthetic one) or an ``.osm.pbf`` extract read for this run only (``wangge network import``
stores one). A network serves a county only when its posts lie near it: see
:func:`check_network_serves`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import AnalysisError
from gis.analytics.rings import populated_centres, posts_lonlat, response_rings
from gis.analytics.siting import site_posts
from gis.crs import utm_crs_for
from gis.network.graph import RoadNetwork, time_limits
from gis.network.isochrones import dissolve_isochrones, isochrones
from gis.network.reach_table import population_share_by_township, village_standard_table

Step = Callable[[str, int, int], None]
"""Progress callback: (step name, done, total)."""

CANDIDATES = ("village-centres", "group-centres")
"""Candidate sites of :func:`siting_for_county`: the villages' populated centres (default) or
the groups' representative points."""


def _noop(step: str, done: int, total: int) -> None:  # noqa: ARG001
    return None


@dataclass
class CountyInputs:
    """What the reach analyses read for a county (grid version in force), EPSG:4490."""

    adcode: str
    version_id: int
    villages: gpd.GeoDataFrame
    groups: gpd.GeoDataFrame
    posts: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame
    county: shapely.Geometry | None


def county_inputs(conn: Connection, adcode: str | None = None) -> CountyInputs:
    """Villages, groups, police posts and townships of ``adcode`` (default: the county whose
    grid version came into force last).

    Raises
    ------
    AnalysisError
        No grid version in force, or no police post stored for the county.
    """
    from gis.forces import posts as read_posts
    from gis.grids import versions
    from gis.grids.store import read_grids
    from gis.territory import units

    vid = versions.in_force(conn, adcode)
    if vid is None:
        msg = "no grid version in force: load the demo ('wangge demo') or publish grids"
        raise AnalysisError(msg)
    adcode = str(versions.get_version(conn, vid)["adcode"])
    posts = read_posts(conn, adcode)
    if posts.empty:
        msg = f"no police posts stored for county {adcode}; load the demo or import posts"
        raise AnalysisError(msg)
    county = units(conn, "county", adcode)
    geom = county.geometry.union_all() if len(county) and county.geometry.notna().any() \
        else None
    return CountyInputs(adcode=adcode, version_id=int(vid),
                        villages=read_grids(conn, vid, level=1),
                        groups=read_grids(conn, vid, level=2), posts=posts,
                        townships=units(conn, "township", adcode), county=geom)


@dataclass
class LoadedNetwork:
    """A road network and where it came from."""

    graph: nx.MultiDiGraph
    source: str
    """``postgis`` (stored for the county) or the path of the ``.osm.pbf`` read."""
    synthetic: bool
    n_nodes: int
    n_edges: int


def load_network(conn: Connection, adcode: str, path: str | Path | None = None,
                 area: shapely.Geometry | None = None) -> LoadedNetwork:
    """The county's stored road network, or the roads of the ``.osm.pbf`` at ``path`` (for
    this run only) within ``area``'s bounding box grown by
    :data:`settings.NETWORK_BBOX_MARGIN_M`."""
    from gis.network.osm import read_osm_pbf
    from gis.network.store import graph_from_postgis

    if path is None:
        G = graph_from_postgis(conn, adcode)
        source = "postgis"
    else:
        bbox = None
        if area is not None and not area.is_empty:
            c = area.centroid
            utm = utm_crs_for(c.x, c.y)
            tr = pyproj.Transformer.from_crs(4326, utm, always_xy=True)
            back = pyproj.Transformer.from_crs(utm, 4326, always_xy=True)
            grown = shapely.transform(area, lambda xy: np.column_stack(tr.transform(
                xy[:, 0], xy[:, 1]))).buffer(settings.NETWORK_BBOX_MARGIN_M, quad_segs=2)
            bbox = shapely.bounds(shapely.transform(grown, lambda xy: np.column_stack(
                back.transform(xy[:, 0], xy[:, 1])))).tolist()
        try:
            G = read_osm_pbf(path, bbox=bbox)
        except AnalysisError as exc:
            msg = f"{exc}: the extract does not cover county {adcode}; give one that does"
            raise AnalysisError(msg) from exc
        source = str(path)
    return LoadedNetwork(G, source, bool(G.graph.get("synthetic", False)),
                         G.number_of_nodes(), G.number_of_edges())


def check_network_serves(net: RoadNetwork, posts: object, source: str,
                         max_snap_m: float | None = None) -> float:
    """Median distance (metres) from the posts to their nearest road node.

    Raises
    ------
    AnalysisError
        If it exceeds ``max_snap_m`` (default :data:`settings.NETWORK_MAX_SNAP_M`): the
        network does not cover the posts.
    """
    limit = float(settings.NETWORK_MAX_SNAP_M if max_snap_m is None else max_snap_m)
    lon, lat, _, _ = posts_lonlat(posts)
    _, d = net.snap(lon, lat)
    med = float(np.median(d)) if len(d) else 0.0
    if med > limit:
        msg = (f"the road network ({source}) does not cover the police posts: the median post "
               f"is {med / 1000:,.1f} km from the nearest road node (limit "
               f"{limit / 1000:g} km, settings.NETWORK_MAX_SNAP_M); use a network of this "
               "county")
        raise AnalysisError(msg)
    return med


@dataclass
class ReachResult:
    """What :func:`reach_for_county` returns (frames in EPSG:4490)."""

    adcode: str
    network: LoadedNetwork
    minutes: tuple[float, ...]
    isochrones: gpd.GeoDataFrame
    """Per post and limit (:func:`gis.network.isochrones`)."""
    dissolved: gpd.GeoDataFrame
    """Per limit, all posts (:func:`gis.network.dissolve_isochrones`)."""
    table: pd.DataFrame
    """Per village and group (:func:`gis.network.village_standard_table`), with ``township``."""
    townships: pd.DataFrame
    """Population share inside each standard per township and ``all``
    (:func:`gis.network.population_share_by_township`, group level)."""
    rings: gpd.GeoDataFrame
    """Dissolved 5 / 10 km rings (:func:`gis.analytics.rings.response_rings`)."""
    post_snap_median_m: float
    seconds: dict[str, float] = field(default_factory=dict)


def reach_for_county(conn: Connection, minutes: Sequence[float] | None = None,
                     network: str | Path | None = None, adcode: str | None = None,
                     per_post: str = "nearest", progress: Step = _noop) -> ReachResult:
    """Road isochrones of every police post and the standards table of a county.

    Parameters
    ----------
    conn : connection to the store.
    minutes : time limits, default :data:`settings.ISOCHRONE_MINUTES` (10, 20).
    network : an ``.osm.pbf`` to use instead of the county's stored network.
    adcode : county, default the one whose grid version came into force last.
    per_post : ``"nearest"`` (catchments, one multi-source Dijkstra) or ``"each"``.
    progress : ``progress(step, done, total)``.
    """
    limits = time_limits(minutes)
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    progress("read county", 0, 1)
    inp = county_inputs(conn, adcode)
    loaded = load_network(conn, inp.adcode, network, inp.county)
    progress("read county", 1, 1)
    secs["read_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    net = RoadNetwork(loaded.graph)
    snap = check_network_serves(net, inp.posts, loaded.source)
    secs["prepare_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    n_posts = len(inp.posts)
    progress("isochrones", 0, n_posts)
    iso = isochrones(net, inp.posts, limits, per_post=per_post,
                     progress=lambda d, n: progress("isochrones", d, n))
    names = dict(zip(inp.posts["code"], inp.posts["township_code"], strict=True))
    iso.insert(2, "township_code", iso["post_code"].map(names))
    dissolved = dissolve_isochrones(iso, net)
    secs["isochrones_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress("standards table", 0, 1)
    table = village_standard_table(net, inp.villages, inp.posts, inp.groups, limits)
    towns = dict(zip(inp.townships["code"], inp.townships["name"], strict=True))
    table.insert(table.columns.get_loc("township_code") + 1, "township",
                 table["township_code"].map(towns))
    shares = population_share_by_township(table, "group", inp.townships)
    progress("standards table", 1, 1)
    secs["table_s"] = time.perf_counter() - t0
    return ReachResult(adcode=inp.adcode, network=loaded, minutes=limits, isochrones=iso,
                       dissolved=dissolved, table=table, townships=shares,
                       rings=response_rings(inp.posts), post_snap_median_m=snap, seconds=secs)


@dataclass
class SitingResult:
    """What :func:`siting_for_county` returns."""

    adcode: str
    chosen: gpd.GeoDataFrame
    """Chosen sites (:func:`gis.analytics.siting.site_posts`) with ``township``."""
    candidates: gpd.GeoDataFrame
    """Every candidate site: ``code``, ``name``, ``township_code``, ``chosen``, ``rank``."""
    summary: dict
    network: LoadedNetwork | None


def candidate_sites(inp: CountyInputs, kind: str = "village-centres") -> gpd.GeoDataFrame:
    """Candidate sites of a county: points with ``code``, ``name``, ``township_code``."""
    if kind not in CANDIDATES:
        msg = f"--candidates must be one of {', '.join(CANDIDATES)}, not {kind!r}"
        raise AnalysisError(msg)
    if kind == "village-centres":
        src = inp.villages
        lon, lat, _ = populated_centres(src, inp.groups)
        pts = shapely.points(lon, lat)
    else:
        src = inp.groups
        pts = shapely.point_on_surface(np.asarray(src.geometry.values, dtype=object))
    return gpd.GeoDataFrame({"code": src["code"].to_numpy(), "name": src["name"].to_numpy(),
                             "township_code": src["township_code"].to_numpy()},
                            geometry=pts, crs=f"EPSG:{settings.STORAGE_SRID}")


def siting_for_county(conn: Connection, k: int, minutes: float | None = None,
                      km: float | None = None, candidates: str = "village-centres",
                      network: str | Path | None = None, adcode: str | None = None,
                      progress: Step = _noop) -> SitingResult:
    """Where ``k`` new police posts add the most population within ``minutes`` by road
    (default :data:`settings.SITING_MINUTES`) or within ``km`` kilometres (straight line),
    the existing posts staying where they are (MCLP, :func:`gis.analytics.siting.site_posts`).
    Demand: the group grids' population at their representative points."""
    if minutes is not None and km is not None:
        msg = "siting: give --minutes (by road) or --km (distance), not both"
        raise AnalysisError(msg)
    progress("read county", 0, 1)
    inp = county_inputs(conn, adcode)
    cand = candidate_sites(inp, candidates)
    loaded = None
    graph: RoadNetwork | None = None
    if km is None:
        loaded = load_network(conn, inp.adcode, network, inp.county)
        graph = RoadNetwork(loaded.graph)
        check_network_serves(graph, inp.posts, loaded.source)
    progress("read county", 1, 1)
    progress("solve", 0, 1)
    chosen, summary = site_posts(
        inp.groups, inp.posts, k, candidates=cand, graph=graph,
        by="distance" if km is not None else "road", minutes=minutes,
        radius_m=None if km is None else float(km) * 1000.0)
    progress("solve", 1, 1)
    towns = dict(zip(inp.townships["code"], inp.townships["name"], strict=True))
    chosen.insert(chosen.columns.get_loc("township_code") + 1, "township",
                  chosen["township_code"].map(towns))
    rank = dict(zip(chosen["code"], chosen["rank"], strict=True))
    cand["chosen"] = cand["code"].isin(rank)
    cand["rank"] = cand["code"].map(rank).astype("Int64")
    summary = {"county": inp.adcode, "candidates": candidates, **summary}
    if loaded is not None:
        summary["network"] = loaded.source
        summary["synthetic_network"] = loaded.synthetic
    return SitingResult(inp.adcode, chosen, cand, summary, loaded)
