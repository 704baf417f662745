"""Settings: every rule with a number lives here, as a typed, documented module variable.

Change a value at run time by assigning to the module attribute (``gis.settings.X = ...``)
before the code that reads it runs; the CLI and the tests do exactly that. Values that a
deployment sets per machine (database, tiles, ports) also come from environment variables.
"""

from __future__ import annotations

import os

# --- Coordinates -------------------------------------------------------------------------

STORAGE_SRID: int = 4490
"""EPSG code of every geometry column: CGCS2000 geographic (lon/lat, degrees).

CGCS2000 and WGS84 agree to a few centimetres, so GeoJSON for the map (EPSG:4326) is the
same numbers; area and distance work is done in a metric UTM zone instead."""

CHINA_BBOX: tuple[float, float, float, float] = (72.004, 0.8293, 137.8347, 55.8271)
"""(min lon, min lat, max lon, max lat) inside which GCJ-02 obfuscation applies, degrees."""

# --- Grids -------------------------------------------------------------------------------

GRID_LEVELS: dict[int, str] = {1: "village", 2: "group"}
"""Grid levels: level 1 = administrative village (村), level 2 = natural village / villager
group (自然村 / 村民小组) inside it."""

REPAIR_MAX_AREA_CHANGE: float = 0.001
"""Largest relative area change (0.001 = 0.1 %) accepted when an invalid geometry is repaired
on import; beyond it the feature is rejected."""

GAP_TOLERANCE_M2: float = 1.0
"""Gaps / overlaps smaller than this (square metres) are not reported by validation."""

GROUP_HOUSEHOLDS_RANGE: tuple[int, int] = (100, 300)
"""Target households of a level-2 grid (too_small below, too_large above)."""

# --- Response standards (一村一警, 5 km / 10 min, 10 km / 20 min) ---------------------------

RESPONSE_STANDARDS: tuple[tuple[float, float], ...] = ((5_000.0, 10.0), (10_000.0, 20.0))
"""(distance in metres, minutes) pairs: on scene within 10 min inside 5 km, and without fail
within 20 min inside 10 km."""

PATROL_MIN_PER_WEEK: int = 3
"""Key areas and key road sections are patrolled at least this many times a week."""

# --- Incidents ---------------------------------------------------------------------------

INCIDENT_KINDS: dict[str, str] = {
    "public_security": "治安案件",
    "property_crime": "两抢一盗",
    "criminal": "刑事案件",
    "dispute": "矛盾纠纷",
    "petition": "信访",
    "fire": "消防隐患",
    "flood": "防汛隐患",
    "forest_fire": "森林防火",
    "work_safety": "安全生产",
    "environment": "环境问题",
    "public_health": "公共卫生",
    "citizen_request": "群众诉求",
}
"""Catalogue of incident kinds: key -> Chinese name."""

# --- Geocoding ---------------------------------------------------------------------------

GEOCODE_CELL_M: float = 250.0
"""Edge of the cells of the geocoder's lookup raster, metres."""

# --- Database and server (per machine, from the environment) ------------------------------

DATABASE_URL: str | None = os.environ.get("DATABASE_URL") or None
"""Use this PostgreSQL / PostGIS server instead of the embedded cluster."""

PG_BIN: str = os.environ.get("WANGGE_PG_BIN", "/usr/lib/postgresql/15/bin")
"""Folder of initdb / pg_ctl for the embedded cluster."""

DB_NAME: str = os.environ.get("WANGGE_DB_NAME", "wangge")
"""Database name inside the embedded cluster."""

TILE_URL: str | None = os.environ.get("WANGGE_TILE_URL") or None
"""Tile URL template ({z}/{x}/{y}) of a basemap; none by default (works offline)."""

TILE_ATTRIBUTION: str = os.environ.get("WANGGE_TILE_ATTRIBUTION", "")
"""Attribution shown for the basemap tiles."""

DEMO_ADCODE: str = "620702"
"""Adcode of the demo county (甘州区, Zhangye, Gansu)."""

DEMO_SEED: int = 20261125
"""Seed of the demo generator; the same seed gives the same county."""

GEOCODE_SUBDIV: int = 16
"""Fine cells per coarse geocoder cell along each axis, in coarse cells crossed by a grid
boundary (16 with 250 m cells gives ~16 m fine cells); only points in fine cells crossed by a
boundary are tested exactly, so finer cells mean faster lookups but a slower index build."""

GEOCODE_MAX_CELLS: int = 4_000_000
"""Most coarse cells of the geocoder's raster; for a larger area the cells grow instead."""

# --- Grid topology validation (gis.grids.topology) ---------------------------------------

SLIVER_THINNESS: float = 0.1
"""A polygon is thin when its Polsby-Popper compactness 4πA/P² (area A, perimeter P, in
metres) is below this: 1 for a circle, 0.785 for a square, about 0.1 for a 1 : 30 rectangle.
A thin polygon smaller than :data:`SLIVER_MAX_AREA_M2` is a sliver (a grid, or a gap /
overlap piece, which is then reported as ``sliver`` instead of ``gap`` / ``overlap``)."""

SLIVER_MAX_AREA_M2: float = 5_000.0
"""Largest area of a sliver, square metres (e.g. a 1 km × 5 m strip); larger thin polygons
are ordinary grids, gaps or overlaps."""
