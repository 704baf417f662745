"""Cached data providers for the dashboard pages: engine, map layers, headline counts.

Pages never query the store themselves: they ask here. Layers of a grid version are built
once per (database, version) and kept; incident aggregates and counts are rebuilt after
:data:`INCIDENT_TTL_S` seconds. The layers' GeoJSON is served by :func:`register_routes`
at ``/layers/<id>.geojson`` (gzip, ETag), so pages send only URLs to the browser.

Jurisdictions (issue #8): with the login on (``config().auth``) every read of incidents,
events, reports, drafts, audit rows or patrols goes through :func:`connect` / :func:`begin`
(a transaction as the application role, scoped to the logged-in user: row-level security)
or :func:`store` (an Engine scoped the same way, for code that takes an engine), and every
:func:`cached` key carries the user's jurisdiction, so no cached result crosses from one
jurisdiction to another. Only reference data that every user may read (published grids,
units, posts: ``shared=True``) is read as the owner through :func:`engine` and shared. With
the login off (development, tests, a kiosk on a closed network) all of these are the plain
engine and keys are unchanged. Work done in a background thread runs with the viewer of
the request that started it (:func:`bound`).
"""

from __future__ import annotations

import contextvars
import gzip
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import flask
from sqlalchemy.engine import Connection, Engine

from gis._errors import PermissionDenied
from gis.grids import versions
from gis.grids.store import read_grids
from gis.incidents.queries import counts_per_grid, incident_total
from gis.store import connect as _connect_url
from gis.store.scoped import jurisdiction_codes, scoped
from gis.store.scoped_engine import scoped_engine
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
SCOPED_LAYERS: frozenset[str] = frozenset({"incidents"})
"""Layers of :class:`MapData` built from the viewer's own rows (the others are reference
data: the same for every user)."""
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
    return _connect_url(config().database_url)


def _url() -> str:
    return str(engine().url)


@dataclass(frozen=True)
class Viewer:
    """Whose data is read: ``auth`` (login on), the logged-in ``user``, or ``system``: the
    server's own work outside any request (CLI, benches, tests of the data functions), done
    as the owner like the CLI."""

    auth: bool
    user: Any = None
    system: bool = False

    @property
    def scoped(self) -> bool:
        """Whether reads go through the application role (row-level security)."""
        return self.auth and not self.system

    @property
    def scope(self) -> tuple[Any, ...]:
        """What cache keys carry: () with the login off; ``("scope", "system")`` for the
        server's own work; else the user's unit codes (``None``: nobody logged in)."""
        if not self.auth:
            return ()
        if self.system:
            return ("scope", "system")
        return ("scope", None if self.user is None else jurisdiction_codes(self.user))


_bound: contextvars.ContextVar[Viewer | None] = contextvars.ContextVar("wangge_viewer",
                                                                       default=None)


def viewer() -> Viewer:
    """The viewer of the current request (or the one :func:`bound` carried into a thread).

    With the login on, outside any request (and not bound) it is the ``system`` viewer:
    its results are cached under their own key, which no request ever reads, so work a
    thread forgot to :func:`bound` can never show up on a user's page."""
    v = _bound.get()
    if v is not None:
        return v
    if not getattr(config(), "auth", False):
        return Viewer(False)
    if not flask.has_request_context():
        return Viewer(True, system=True)
    from dashboard.auth import current_user

    return Viewer(True, current_user())


def current_user() -> Any | None:
    """The logged-in user (None: nobody, or the login is off)."""
    return viewer().user


def scope_key() -> tuple[Any, ...]:
    """The jurisdiction part of cache keys (() with the login off)."""
    return viewer().scope


def bound(fn: Callable[[], T]) -> Callable[[], T]:
    """``fn`` to run later (another thread) as the current viewer."""
    v = viewer()

    def run() -> T:
        token = _bound.set(v)
        try:
            return fn()
        finally:
            _bound.reset(token)

    return run


def _user_or_refuse(v: Viewer) -> Any:
    if v.user is None:
        raise PermissionDenied("no user is logged in; sign in at /login")
    return v.user


@contextmanager
def connect() -> Iterator[Connection]:
    """A connection for reading the current viewer's data: with the login on, in a
    request, a transaction as the application role scoped to the user's jurisdiction
    (row-level security; PermissionDenied when nobody is logged in); else (login off, or
    the server's own work outside any request) a plain connection."""
    v = viewer()
    if not v.scoped:
        with engine().connect() as conn:
            yield conn
        return
    with scoped(engine(), _user_or_refuse(v)) as conn:
        yield conn


@contextmanager
def begin() -> Iterator[Connection]:
    """A transaction for the current viewer's changes (scoped like :func:`connect`;
    committed when the block ends normally)."""
    v = viewer()
    if not v.scoped:
        with engine().begin() as conn:
            yield conn
        return
    with scoped(engine(), _user_or_refuse(v)) as conn:
        yield conn


def store() -> Engine:
    """An Engine for code that opens its own connections (intake, planner edits, the
    briefing): scoped to the logged-in user's jurisdiction with the login on
    (:func:`gis.store.scoped_engine.scoped_engine`), the plain engine otherwise."""
    v = viewer()
    if not v.scoped:
        return engine()
    return scoped_engine(engine(), _user_or_refuse(v))


def cached(key: tuple[Any, ...], ttl: float | None, build: Callable[[], T], *,
           shared: bool = False) -> T:
    """``build()`` once per ``key``, kept ``ttl`` seconds (forever when None).

    With the login on, the key gets the viewer's jurisdiction (:func:`scope_key`), unless
    ``shared``: only for reference data every user may read, built through :func:`engine`.
    """
    if not shared:
        key = (*key, *scope_key())
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

    return cached(("version", _url(), adcode), VERSION_TTL_S, build, shared=True)


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
    return cached(("grids", _url(), vid), None, lambda: _grid_layers(vid), shared=True)


def incident_data(vid: int) -> dict[str, Any]:
    """Incident aggregate layer (per group grid) and total of version ``vid``'s county."""
    g = grid_data(vid)

    def build() -> dict[str, Any]:
        with connect() as conn:  # the viewer's incidents only
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
                  lambda: _payload(layer), shared=layer_id not in SCOPED_LAYERS)


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
        # a layer of one user's jurisdiction must not sit in a shared (proxy) cache
        who = "private" if layer_id in SCOPED_LAYERS and viewer().scoped else "public"
        resp.headers["Cache-Control"] = f"{who}, max-age=86400, immutable" if versioned \
            else "no-cache"
        return resp
