"""Cached data providers for the dashboard pages: engine, map layers, headline counts.

Pages never query the store themselves: they ask here. Layers of a grid version are built
once per (database, version) and kept; incident aggregates and counts are rebuilt after
:data:`INCIDENT_TTL_S` seconds. The layers' GeoJSON is served by :func:`register_routes`
at ``/layers/<id>.geojson`` (gzip, ETag), so pages send only URLs to the browser.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import flask
from sqlalchemy.engine import Engine

from gis.grids import versions
from gis.grids.store import read_grids
from gis.incidents.queries import counts_per_grid, incident_total
from gis.store import connect
from gis.territory import units
from layers import grids as grid_layers
from layers.base import Layer, geojson_text
from layers.incidents import incident_layer

if TYPE_CHECKING:
    from dashboard.app import AppConfig

INCIDENT_TTL_S = 60.0
"""Seconds an incident aggregate / count stays cached."""
VERSION_TTL_S = 10.0
"""Seconds the id of the grid version in force stays cached."""
VILLAGE_BUDGET_BYTES = 700_000
"""Largest GeoJSON of the village layer (first paint); the tolerance grows to fit."""
GROUP_BUDGET_BYTES = 2_000_000
"""Largest GeoJSON of the group layer (loaded when zoomed in)."""
LABEL_SWITCH_ZOOM = 12
"""Township names are shown below this zoom, village names from it on."""
TOP_N = 10
"""Villages listed in the incident ranking."""
CONFIG_KEY = "WANGGE_CONFIG"
"""Key of the :class:`dashboard.app.AppConfig` in the Flask app's config."""

_config: AppConfig | None = None
_lock = threading.RLock()
_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
T = TypeVar("T")


def configure(config: AppConfig) -> None:
    """Make ``config`` the process-wide configuration (used outside a request too)."""
    global _config
    _config = config


def config() -> AppConfig:
    """The configuration of the current app (request context first, then :func:`configure`)."""
    if flask.has_app_context():
        cfg = flask.current_app.config.get(CONFIG_KEY)
        if cfg is not None:
            return cfg
    if _config is None:
        from dashboard.app import AppConfig

        return AppConfig()
    return _config


def engine() -> Engine:
    """Engine of the configured database (``DATABASE_URL`` / embedded cluster when None)."""
    return connect(config().database_url)


def _url() -> str:
    return str(engine().url)


def cached(key: tuple[Any, ...], ttl: float | None, build: Callable[[], T]) -> T:
    """``build()`` once per ``key``, kept ``ttl`` seconds (forever when None)."""
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and (hit[0] == float("inf") or hit[0] > now):
            return hit[1]
    value = build()
    with _lock:
        _cache[key] = (float("inf") if ttl is None else now + ttl, value)
    return value


def clear_cache() -> None:
    """Forget every cached value (tests; after loading data)."""
    with _lock:
        _cache.clear()


@dataclass
class MapData:
    """Everything the home map shows, for one grid version."""

    version_id: int
    adcode: str
    version_name: str
    county_name: str
    layers: dict[str, Layer]
    counts: dict[str, int] = field(default_factory=dict)
    ranking: list[dict[str, Any]] = field(default_factory=list)
    """Villages with the most incidents: code, name, township, n (most first)."""

    @property
    def ordered(self) -> list[Layer]:
        """Layers bottom to top."""
        order = ["villages", "groups", "townships", "county", "incidents", "township-labels",
                 "village-labels"]
        return [self.layers[k] for k in order if k in self.layers]


def version_in_force() -> int | None:
    """Id of the grid version in force (of the configured county, if any)."""
    adcode = config().adcode

    def build() -> int | None:
        with engine().connect() as conn:
            return versions.in_force(conn, adcode)

    return cached(("version", _url(), adcode), VERSION_TTL_S, build)


def _grid_layers(vid: int) -> dict[str, Any]:
    with engine().connect() as conn:
        v = versions.get_version(conn, vid)
        adcode = str(v["adcode"])
        villages = read_grids(conn, vid, level=1)
        groups = read_grids(conn, vid, level=2)
        towns = units(conn, "township", adcode)
        county = units(conn, "county", adcode)
    town_names = dict(zip(towns["code"], towns["name"], strict=True))
    village_names = dict(zip(villages["code"], villages["name"], strict=True))
    group_counts = groups.groupby("parent_code").size().to_dict() if len(groups) else {}
    county_name = str(county["name"].iloc[0]) if len(county) else adcode
    if not len(county) or county.geometry.isna().all():
        county = grid_layers.outline_of(villages, adcode, county_name)
    layers = {
        "county": grid_layers.county_layer(county),
        "villages": grid_layers.village_layer(villages, township_names=town_names,
                                              group_counts=group_counts,
                                              budget_bytes=VILLAGE_BUDGET_BYTES),
        "groups": grid_layers.group_layer(groups, village_names=village_names,
                                          budget_bytes=GROUP_BUDGET_BYTES),
    }
    layers["townships"] = grid_layers.township_layer(towns)
    layers["township-labels"] = grid_layers.label_layer(
        towns, "township-labels", "layer.township_labels", max_zoom=LABEL_SWITCH_ZOOM - 0.25)
    layers["village-labels"] = grid_layers.label_layer(
        villages, "village-labels", "layer.village_labels", min_zoom=LABEL_SWITCH_ZOOM)
    village_towns = {c: town_names.get(tc, "") for c, tc in
                     zip(villages["code"], villages["township_code"], strict=True)}
    return {"adcode": adcode, "name": str(v["name"]), "county_name": county_name,
            "layers": layers, "groups": groups, "village_names": village_names,
            "village_towns": village_towns,
            "counts": {"townships": len(towns), "villages": len(villages), "groups": len(groups),
                       "population": int(villages["population"].fillna(0).sum())}}


def grid_data(vid: int) -> dict[str, Any]:
    """Grid layers and counts of version ``vid`` (built once)."""
    return cached(("grids", _url(), vid), None, lambda: _grid_layers(vid))


def incident_data(vid: int) -> dict[str, Any]:
    """Incident aggregate layer (per group grid) and total of version ``vid``'s county."""
    g = grid_data(vid)

    def build() -> dict[str, Any]:
        with engine().connect() as conn:
            counts = counts_per_grid(conn, 2, g["adcode"])
            per_village = counts_per_grid(conn, 1, g["adcode"])
            total = incident_total(conn, g["adcode"])
        layer = incident_layer(g["groups"], counts, village_names=g["village_names"])
        top = per_village[per_village["code"].isin(g["village_names"])].nlargest(TOP_N, "n")
        ranking = [{"code": c, "name": g["village_names"][c], "township": g["village_towns"][c],
                    "n": int(n)} for c, n in zip(top["code"], top["n"], strict=True)]
        return {"layer": layer, "total": total, "ranking": ranking}

    return cached(("incidents", _url(), vid), INCIDENT_TTL_S, build)


def map_data() -> MapData | None:
    """Layers and counts of the grid version in force; None when no version is in force."""
    vid = version_in_force()
    if vid is None:
        return None
    g = grid_data(vid)
    inc = incident_data(vid)
    layers = dict(g["layers"])
    layers["incidents"] = inc["layer"]
    return MapData(version_id=vid, adcode=g["adcode"], version_name=g["name"],
                   county_name=g["county_name"], layers=layers,
                   counts=g["counts"] | {"incidents": int(inc["total"])},
                   ranking=inc["ranking"])


@dataclass(frozen=True)
class Payload:
    """A layer's GeoJSON as served: plain and gzip bytes, and their ETag."""

    raw: bytes
    gz: bytes
    etag: str


def _payload(layer: Layer) -> Payload:
    raw = geojson_text(layer.data).encode("utf-8")
    return Payload(raw=raw, gz=gzip.compress(raw, compresslevel=6, mtime=0),
                   etag=hashlib.sha1(raw).hexdigest()[:16])


def payload(layer_id: str) -> Payload | None:
    """The served GeoJSON of a layer of the version in force (None: unknown layer)."""
    md = map_data()
    if md is None or layer_id not in md.layers:
        return None
    layer = md.layers[layer_id]
    ttl = INCIDENT_TTL_S if layer_id == "incidents" else None
    return cached(("payload", _url(), md.version_id, layer_id, id(layer)), ttl,
                  lambda: _payload(layer))


def layer_url(layer_id: str) -> str:
    """URL path of a layer's GeoJSON, with its ETag as cache buster."""
    import dash

    p = payload(layer_id)
    path = f"/layers/{layer_id}.geojson" + (f"?v={p.etag}" if p else "")
    try:
        return dash.get_relative_path(path)
    except Exception:  # noqa: BLE001 - outside a Dash app (tests): plain path
        return path


def register_routes(server: flask.Flask) -> None:
    """Serve ``/layers/<layer_id>.geojson`` (gzip when accepted, ETag, cacheable)."""

    @server.route("/layers/<layer_id>.geojson")
    def layer_geojson(layer_id: str) -> flask.Response:
        p = payload(layer_id)
        if p is None:
            flask.abort(404)
        if flask.request.if_none_match.contains(p.etag):
            resp = flask.Response(status=304)
        elif "gzip" in flask.request.headers.get("Accept-Encoding", ""):
            resp = flask.Response(p.gz, mimetype="application/geo+json")
            resp.headers["Content-Encoding"] = "gzip"
        else:
            resp = flask.Response(p.raw, mimetype="application/geo+json")
        resp.headers["Vary"] = "Accept-Encoding"
        resp.set_etag(p.etag)
        versioned = flask.request.args.get("v") == p.etag
        resp.headers["Cache-Control"] = "public, max-age=86400, immutable" if versioned \
            else "no-cache"
        return resp
