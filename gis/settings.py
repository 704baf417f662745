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

# --- Incident workflow 受理 → 分流 → 督办 → 反馈 → 回访 (gis.incidents.workflow) ------------

_LIMITS_COMMON: dict[str, float] = {
    "received": 2.0, "dispatched": 4.0, "in_progress": 120.0,
    "resolved": 72.0, "followed_up": 24.0, "reopened": 2.0,
}
_LIMITS_EMERGENCY: dict[str, float] = {
    "received": 0.5, "dispatched": 0.5, "in_progress": 24.0,
    "resolved": 48.0, "followed_up": 24.0, "reopened": 0.5,
}
_LIMITS_POLICE: dict[str, float] = {
    "received": 0.25, "dispatched": 0.5, "in_progress": 168.0,
    "resolved": 72.0, "followed_up": 24.0, "reopened": 0.5,
}

WORKFLOW_LIMITS_H: dict[str, dict[str, float]] = {
    "default": _LIMITS_COMMON,
    "citizen_request": _LIMITS_COMMON,
    "environment": {**_LIMITS_COMMON, "in_progress": 168.0},
    "public_security": {**_LIMITS_POLICE, "in_progress": 720.0},
    "property_crime": _LIMITS_POLICE,
    "criminal": _LIMITS_POLICE,
    "fire": _LIMITS_EMERGENCY,
    "flood": _LIMITS_EMERGENCY,
    "forest_fire": _LIMITS_EMERGENCY,
    "work_safety": _LIMITS_EMERGENCY,
    "public_health": _LIMITS_EMERGENCY,
    "dispute": {**_LIMITS_COMMON, "in_progress": 720.0},
    "petition": {"received": 24.0, "dispatched": 360.0, "in_progress": 1440.0,
                 "resolved": 168.0, "followed_up": 72.0, "reopened": 24.0},
}
"""Time limit of each workflow step, in calendar hours (not working days), per incident kind.

A step is named by the status the incident waits in, and its limit is the time allowed to
leave it: ``received`` → dispatch (分流), ``dispatched`` → the unit accepts (签收),
``in_progress`` → resolved with feedback (办结/反馈), ``resolved`` → follow-up call (回访),
``followed_up`` → closed (归档), ``reopened`` → dispatched again or resumed. ``closed`` has
no clock. Kinds missing here, and steps missing for a kind, use ``"default"``; a step set to
``None`` or 0 has no clock. Defaults:

==================  ========  ==========  ===========  ========  ===========  ========
kind                received  dispatched  in_progress  resolved  followed_up  reopened
==================  ========  ==========  ===========  ========  ===========  ========
default, citizen    2         4           120 (5 d)    72        24           2
environment         2         4           168 (7 d)    72        24           2
dispute             2         4           720 (30 d)   72        24           2
fire, flood,        0.5       0.5         24           48        24           0.5
forest_fire,
work_safety,
public_health
property_crime,     0.25      0.5         168 (7 d)    72        24           0.5
criminal
public security     0.25      0.5         720 (30 d)   72        24           0.5
petition            24        360 (15 d)  1440 (60 d)  168       72           24
==================  ========  ==========  ===========  ========  ===========  ========

The seeds ask for "第一时间受理登记 … 分流办理、限期办结、及时反馈" without figures, so these are
the project's defaults, chosen from common practice: citizen requests 5 days as on 12345
hotlines; disputes "一般在一个月内调结" (人民调解工作若干规定); public-security cases 30 days
(治安管理处罚法); criminal and property crime 7 days, the longest ordinary review before the
filing decision (受案立案制度); petitions 15 days to accept and 60 days to settle (信访工作条例).
The short limits (dispatch, acceptance) follow "第一时间受理" and the 10 / 20-minute response
standard; counties should set their own figures here."""

WORKFLOW_REMINDER_FRACTION: float = 0.8
"""A reminder (提醒) is issued when this fraction of a step's limit has elapsed."""

WORKFLOW_ESCALATION_GRACE_FRACTION: float = 0.25
"""Grace after the limit before automatic escalation (自动跳级), as a fraction of the step's
limit: the warning (警示) comes at the limit, the escalation at limit × (1 + grace), e.g.
2 h + 30 min for a dispatch step, 120 h + 30 h for a 5-day citizen request. 0 escalates at
the limit itself (right after the warning)."""

ESCALATION_LADDER: tuple[str, ...] = ("village", "township", "county")
"""Levels an incident climbs when a step's limit passes ("小事不出村、大事不出镇"); at the top
level only the reminder and the warning are issued. Escalation restarts the step's clock with
the same limit at the new level. The database's check constraint on ``incident.level``
allows exactly these three."""

WORKFLOW_UNIT_TYPES: dict[str, str] = {
    "village_station": "village",
    "township_department": "township",
    "police_post": "township",
    "county_department": "county",
}
"""Types of unit an incident can be dispatched to (村网格服务站, 乡镇部门, 派出所/警务室,
县级部门) -> the level that handles it after the dispatch (unless the dispatch names one)."""

# --- Analytics: hotspots, density, emerging hotspots, rings (gis.analytics) ----------------

HOTSPOT_CONFIDENCE_LEVELS: tuple[float, ...] = (0.90, 0.95, 0.99)
"""Confidence levels of the Gi* hot / cold classes (``hot_90`` … ``cold_99``), as in ArcGIS
Hot Spot Analysis: a grid is hot at level c when z > 0 and its two-sided p < 1 − c (after
FDR correction, when asked for)."""

HOTSPOT_SEED: int = 20261125
"""Default seed of the Gi* permutation test (the same seed gives the same pseudo p-values)."""

KDE_CELL_M: float = 100.0
"""Default edge of a kernel-density raster cell, metres (capped at a third of the bandwidth
so the kernel is always resolved)."""

KDE_MAX_CELLS: int = 4_000_000
"""Most cells of a kernel-density raster (padding included); beyond it the cells grow."""

KDE_CONTOUR_BANDS: int = 5
"""Default number of kernel-density contour bands."""

EMERGING_WEEKS: int = 12
"""Default number of weekly time steps of the emerging hot spot analysis."""

EMERGING_ALPHA: float = 0.05
"""A grid-week bin is a hot (cold) spot when its Gi* z > 0 (< 0) and two-sided p < this."""

EMERGING_TREND_ALPHA: float = 0.05
"""A Mann-Kendall trend of a grid's weekly Gi* z-scores counts when its p < this."""

EMERGING_SHARE: float = 0.9
"""Share of the weeks a grid must be hot (cold) to be persistent / intensifying / diminishing
/ historical (ArcGIS uses 90 %)."""

RING_QUAD_SEGS: int = 32
"""Segments per quarter circle of a response ring (32: the polygon's area is 0.04 % below
π r²)."""

# --- Address matching (gis.address) -------------------------------------------------------

ADDRESS_MIN_CONFIDENCE: float = 0.7
"""An address is ``matched`` to a grid when the matcher's confidence is at least this; below
it (but with some candidate) it goes to the review queue instead of being guessed. The
confidence is the candidate's name similarity (1 exact or alias, 0.9 homophone, 0.75
dialect / fuzzy homophone, 0.5 for a 2-character name with one character wrong) scaled down
when a second candidate scores close to it."""

ADDRESS_MIN_SIMILARITY: float = 0.5
"""Weakest name similarity still listed as a candidate; an address none of whose parts
reaches it (and no township) is ``unmatched`` rather than sent to review."""

ADDRESS_MARGIN: float = 0.25
"""Similarity lead over the runner-up at which a candidate keeps its full confidence; a
smaller lead scales the confidence down in proportion (two equal candidates → 0)."""

ADDRESS_CACHE_SIZE: int = 200_000
"""Distinct normalised addresses whose match the matcher keeps in memory."""
