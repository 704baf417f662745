"""Data of the wall's analysis overlays (``/wall``): road isochrones and patrols.

Both overlays are :mod:`layers` definitions (the same functions draw them in the review page
and in the weekly briefing); this module reads their data and keeps it:

* **Isochrones** (:func:`isochrone_data`): the area reached within
  ``settings.ISOCHRONE_MINUTES`` (10 / 20 minutes) by road from the police posts, on the
  county's stored road network (:func:`gis.network.graph_from_postgis`; the demo stores a
  synthetic one): :func:`gis.network.isochrones` per post (each post's catchment, one
  multi-source Dijkstra), then dissolved per time limit for the wall (two features, nothing
  to hover). Reference data, the same for every user: computed once per database and grid
  version (about 2 s on the demo county, in the background from the first page render)
  and kept :data:`ISOCHRONE_TTL_S` seconds: a road network imported later (``wangge
  network import``) shows within a day without a new grid version.
* **Patrols** (:func:`patrol_data`): tracks that **ended** in the last
  ``settings.PATROL_LAYER_HOURS`` hours (:func:`gis.patrols.recent_tracks`, day and night
  apart) and the key road sections coloured by this week's compliance
  (:func:`gis.patrols.compliance_frame`, ISO week in Beijing time); kept
  :data:`PATROL_TTL_S` seconds and shared by every wall screen of the same jurisdiction
  (read through :func:`dashboard.data.connect` when it exists: the viewer's rows only). ``rev`` identifies the
  content, so a refresh sends the tracks again only when they changed.

No Dash here: :mod:`dashboard.wall_map` places the layers, :mod:`dashboard.wall_callbacks`
sends their data when an overlay is first switched on and whenever it changes.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import geopandas as gpd
import pandas as pd
from sqlalchemy.engine import Connection, Engine

from dashboard import data
from gis import settings
from layers.base import Layer

log = logging.getLogger(__name__)

ISOCHRONE_TTL_S = 24 * 3600.0
"""Seconds the isochrones of a grid version are kept (they change only with the posts or
the road network)."""
PATROL_TTL_S = 60.0
"""Seconds the patrol overlay (tracks of the last hours, the week's compliance) is kept."""
ISOCHRONE_LAYER_ID = "wall-iso"
"""Layer id of the wall's isochrones (component ``wall-layer-wall-iso``)."""
PATROL_LAYER_IDS: tuple[str, ...] = ("wall-key-sections-pass", "wall-key-sections-fail",
                                     "wall-patrol-tracks", "wall-patrol-tracks-night")
"""Layer ids of the wall's patrol overlay, bottom to top (components ``wall-layer-<id>``)."""

T = TypeVar("T")
_build_lock = threading.Lock()
_warm_lock = threading.Lock()
_warming: set[tuple[Any, ...]] = set()


def _connect() -> Any:
    """A connection (context manager) for the viewer's rows: :func:`dashboard.data.connect`
    when the data module has one (scoped to the logged-in user's jurisdiction), else the
    engine's."""
    fn = getattr(data, "connect", None)
    return fn() if callable(fn) else data.engine().connect()


def _cached_shared(key: tuple[Any, ...], ttl: float, build: Callable[[], T]) -> T:
    """:func:`dashboard.data.cached` for reference data every user may read (built through
    the plain engine): one entry for all users when the data module scopes its cache."""
    if "shared" in inspect.signature(data.cached).parameters:
        return data.cached(key, ttl, build, shared=True)
    return data.cached(key, ttl, build)


# --- isochrones ----------------------------------------------------------------------------

@dataclass
class Isochrones:
    """Road isochrones of a county's police posts (EPSG:4490)."""

    adcode: str
    minutes: tuple[float, ...]
    per_post: gpd.GeoDataFrame
    """:func:`gis.network.isochrones`: ``post_code``, ``post_name``, ``minutes``,
    ``area_km2``, … one row per post and limit (empty without a network)."""
    dissolved: gpd.GeoDataFrame
    """:func:`gis.network.dissolve_isochrones`: ``minutes``, ``n_posts``, ``area_km2``."""
    posts: gpd.GeoDataFrame
    note: str | None = None
    """i18n key of why there are none (no posts, no road network), else None."""
    _layers: dict[tuple[Any, ...], Layer | None] = field(default_factory=dict, repr=False)

    @property
    def available(self) -> bool:
        """Whether isochrones were computed."""
        return self.note is None and len(self.per_post) > 0

    def layer(self, *, dissolved: bool = True, interactive: bool = True,
              layer_id: str = "isochrones", checked: bool = True) -> Layer | None:
        """The :func:`layers.reach.isochrone_layer` of the dissolved (one feature per limit)
        or per-post isochrones, drawn as bands (each limit less the smaller one, so the
        colours stay pure); None when there are none."""
        key = (dissolved, interactive, layer_id, checked)
        if key not in self._layers:  # kept with the data: built once per cached value
            self._layers[key] = self._layer(dissolved, interactive, layer_id, checked)
        return self._layers[key]

    def _layer(self, dissolved: bool, interactive: bool, layer_id: str,
               checked: bool) -> Layer | None:
        if not self.available:
            return None
        from layers.reach import isochrone_layer

        lyr = isochrone_layer(self.dissolved if dissolved else self.per_post,
                              layer_id=layer_id, checked=checked, bands=True)
        return lyr if interactive else replace(lyr, interactive=False, tooltip=(), popup=())


def compute_isochrones(conn: Connection, adcode: str,
                       minutes: tuple[float, ...] | None = None,
                       posts: gpd.GeoDataFrame | None = None,
                       graph: Any = None) -> Isochrones:
    """Isochrones of ``adcode``'s police posts on its stored road network.

    Parameters
    ----------
    conn : Connection
        The store.
    adcode : str
        County.
    minutes : tuple of float, optional
        Time limits, default ``settings.ISOCHRONE_MINUTES`` (10, 20).
    posts : GeoDataFrame, optional
        The posts (``code``, ``name``, points in EPSG:4490), default the stored ones.
    graph : networkx.MultiDiGraph, optional
        The county's road network when already read (default: read from the store).

    Returns
    -------
    Isochrones
        With ``note`` ``"wall.iso.no_posts"`` / ``"wall.iso.no_network"`` (and empty frames)
        when there is nothing to compute from.
    """
    from gis.forces import posts as read_posts
    from gis.network import (
        RoadNetwork,
        dissolve_isochrones,
        graph_from_postgis,
        has_network,
    )
    from gis.network import isochrones as road_isochrones
    from gis.network.graph import time_limits

    limits = time_limits(minutes)
    posts = read_posts(conn, adcode) if posts is None else posts
    empty = gpd.GeoDataFrame({"minutes": pd.Series(dtype=float)}, geometry=[],
                             crs=f"EPSG:{settings.STORAGE_SRID}")
    if not len(posts):
        return Isochrones(adcode, limits, empty, empty, posts, note="wall.iso.no_posts")
    if graph is None and not has_network(conn, adcode):
        return Isochrones(adcode, limits, empty, empty, posts, note="wall.iso.no_network")
    net = RoadNetwork(graph_from_postgis(conn, adcode) if graph is None else graph)
    per_post = road_isochrones(net, posts, limits)
    return Isochrones(adcode, limits, per_post, dissolve_isochrones(per_post, net), posts)


def _iso_key(vid: int) -> tuple[Any, ...]:
    return ("wall-isochrones", data._url(), int(vid))


def _isochrones_with(engine: Engine, key: tuple[Any, ...], vid: int) -> Isochrones:
    def build() -> Isochrones:
        adcode = _adcode(engine, vid)
        with engine.connect() as conn:
            return compute_isochrones(conn, adcode)

    with _build_lock:  # one build at a time: a second caller waits, then finds it cached
        return _cached_shared(key, ISOCHRONE_TTL_S, build)


def _adcode(engine: Engine, vid: int) -> str:
    from gis.grids import versions

    with engine.connect() as conn:
        return str(versions.get_version(conn, vid)["adcode"])


def isochrone_data(vid: int) -> Isochrones:
    """Isochrones of grid version ``vid``'s county (built once, kept
    :data:`ISOCHRONE_TTL_S` seconds)."""
    return _isochrones_with(data.engine(), _iso_key(vid), vid)


def warm_isochrones(vid: int) -> None:
    """Start building :func:`isochrone_data` in a background thread (once per database and
    version), so the overlay shows at once when first switched on. Engine and cache key are
    taken here, in the caller's (request) context."""
    key, engine = _iso_key(vid), data.engine()
    with _warm_lock:
        if key in _warming:
            return
        _warming.add(key)

    def run() -> None:
        try:
            _isochrones_with(engine, key, vid)
        except Exception:
            log.exception("wall: isochrones of version %s could not be built", vid)
            with _warm_lock:
                _warming.discard(key)

    threading.Thread(target=run, name=f"wall-isochrones-{vid}", daemon=True).start()


def isochrone_template(minutes: tuple[float, ...] | None = None, *,
                       layer_id: str = ISOCHRONE_LAYER_ID, interactive: bool = False) -> Layer:
    """The isochrone layer without features: style, classes and legend of the time limits
    (default ``settings.ISOCHRONE_MINUTES``), what a map needs before the data is computed."""
    import shapely

    from gis.network.graph import time_limits
    from layers.reach import isochrone_layer

    limits = time_limits(minutes)
    frame = gpd.GeoDataFrame({"minutes": list(limits)},
                             geometry=[shapely.Polygon()] * len(limits),
                             crs=f"EPSG:{settings.STORAGE_SRID}")
    lyr = isochrone_layer(frame, layer_id=layer_id)
    return lyr if interactive else replace(lyr, interactive=False, tooltip=(), popup=())


def isochrone_wall_layer(iso: Isochrones) -> Layer | None:
    """The wall's isochrone layer: dissolved per limit, not interactive (nothing to hover
    on a screen across the room; the village grids below keep their tooltips)."""
    return iso.layer(dissolved=True, interactive=False, layer_id=ISOCHRONE_LAYER_ID)


# --- patrols -------------------------------------------------------------------------------

@dataclass
class Patrols:
    """The patrol overlay at ``now``: recent tracks and this week's key sections."""

    adcode: str
    now: datetime
    hours: float
    week: str
    tracks: gpd.GeoDataFrame
    """Tracks that ended in (now − hours, now] (:func:`gis.patrols.patrols_frame` columns)."""
    table: gpd.GeoDataFrame
    """:func:`gis.patrols.compliance_frame` of ``week`` (areas and sections)."""
    village_names: dict[str, str] = field(default_factory=dict)

    @property
    def sections(self) -> gpd.GeoDataFrame:
        """Key road sections of the week's table."""
        return self.table[self.table["kind"] == "section"]

    @property
    def counts(self) -> dict[str, int]:
        """``tracks``, ``night``, ``sections``, ``sections_passed``."""
        s = self.sections
        night = int(self.tracks["night"].astype(bool).sum()) if len(self.tracks) else 0
        return {"tracks": len(self.tracks), "night": night, "sections": len(s),
                "sections_passed": int(s["passed"].astype(bool).sum()) if len(s) else 0}

    @property
    def rev(self) -> str:
        """Identifies the content (tracks and section results): equal revs, equal layers."""
        ids = sorted(int(i) for i in self.tracks["id"]) if len(self.tracks) else []
        s = self.sections
        res = sorted((int(i), int(c), bool(p)) for i, c, p in
                     zip(s["id"], s["count"], s["passed"], strict=True)) if len(s) else []
        text = json.dumps([self.week, ids, res], separators=(",", ":"))
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def layers(self, *, interactive: bool = True, prefix: str = "") -> list[Layer]:
        """Key sections met / not met, day and night tracks (:mod:`layers.patrols`), bottom
        to top; ids ``<prefix>key-sections-pass`` … ``<prefix>patrol-tracks-night``."""
        from layers.patrols import key_section_layers, track_layers

        out = [*key_section_layers(self.table, layer_id=f"{prefix}key-sections"),
               *track_layers(self.tracks, village_names=self.village_names,
                             layer_id=f"{prefix}patrol-tracks")]
        if not interactive:
            out = [replace(lyr, interactive=False, tooltip=(), popup=()) for lyr in out]
        return out


def read_patrols(conn: Connection, adcode: str, now: datetime | None = None,
                 hours: float | None = None, week: str | None = None,
                 village_names: dict[str, str] | None = None) -> Patrols:
    """Tracks that ended within ``hours`` (default ``settings.PATROL_LAYER_HOURS``) before
    ``now`` (default: the current time) and the compliance of ``week`` (default: the ISO
    week of ``now``, Beijing time).

    A track still under way at ``now`` (it started before but ends after) is left out: it
    has not *ended* in the window (:func:`gis.patrols.recent_tracks` keeps tracks that
    overlap it).
    """
    from gis.patrols import compliance_frame, recent_tracks, week_of

    now = (now or datetime.now(UTC)).astimezone(UTC)
    hours = float(settings.PATROL_LAYER_HOURS if hours is None else hours)
    tracks = recent_tracks(conn, adcode, now=now, hours=hours)
    if len(tracks):
        ended = pd.to_datetime(tracks["ended_at"], utc=True)
        tracks = tracks[(ended >= now - timedelta(hours=hours)) & (ended <= now)]
        tracks = tracks.reset_index(drop=True)
    week = week or week_of(now)
    table = compliance_frame(conn, adcode, week)
    return Patrols(adcode=adcode, now=now, hours=hours, week=week, tracks=tracks, table=table,
                   village_names=dict(village_names or {}))


TRACK_COLUMNS: tuple[str, ...] = (
    "id", "source", "source_id", "name", "team", "officer", "started_at", "ended_at", "night",
    "n_points", "length_m", "village_code", "group_code", "location_flag")
"""Columns of :func:`gis.patrols.patrols_frame`."""


def patrol_template(now: datetime | None = None) -> Patrols:
    """The patrol overlay without data: its layers give the styles and legends a map needs
    before the tracks are read."""
    from gis.patrols import week_of
    from gis.patrols.compliance import COLUMNS

    now = (now or datetime.now(UTC)).astimezone(UTC)
    crs = f"EPSG:{settings.STORAGE_SRID}"
    tracks = gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in TRACK_COLUMNS},
                              geometry=[], crs=crs)
    table = gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in COLUMNS}, geometry=[],
                             crs=crs)
    return Patrols(adcode="", now=now, hours=float(settings.PATROL_LAYER_HOURS),
                   week=week_of(now), tracks=tracks, table=table)


def patrol_data(vid: int) -> Patrols:
    """The patrol overlay of grid version ``vid``'s county now (kept :data:`PATROL_TTL_S`
    seconds, shared by every screen)."""
    g = data.grid_data(vid)

    def build() -> Patrols:
        with _connect() as conn:
            return read_patrols(conn, g["adcode"], village_names=g["village_names"])

    return data.cached(("wall-patrols", data._url(), int(vid)), PATROL_TTL_S, build)


def patrol_wall_layers(p: Patrols) -> list[Layer]:
    """The wall's patrol layers (:data:`PATROL_LAYER_IDS`), not interactive."""
    return p.layers(interactive=False, prefix="wall-")
