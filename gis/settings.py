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

# --- Incident intake: files and the HTTP endpoint (gis.incidents.intake) -------------------

INTAKE_DEDUPE_DISTANCE_M: float = 100.0
"""Reports of the same kind closer than this (metres, on the WGS84 spheroid) to an incident
and within :data:`INTAKE_DEDUPE_WINDOW_MIN` of its time are one event: they are attached to
that incident as extra reports (table ``incident_report``) instead of opening new incidents.
0 turns deduplication off."""

INTAKE_DEDUPE_WINDOW_MIN: float = 30.0
"""Time window of deduplication, minutes either side of the incident's ``occurred_at``."""

INTAKE_MIN_COORD_DECIMALS: int = 4
"""Least number of decimals of a longitude / latitude in degrees; fewer is rejected as too
imprecise (4 decimals ≈ 10 m, 3 ≈ 100 m). Numbers stored as numbers (XLSX cells, GeoJSON)
are judged by their shortest text form, so trailing zeros there cannot be seen."""

INTAKE_FIX_SWAPPED: bool = False
"""Rows whose lat/lon are swapped (the swapped point falls inside the territory) are rejected
with that reason; True swaps them back and accepts them instead (``--fix-swapped``)."""

INTAKE_TIMEZONE: str = "Asia/Shanghai"
"""Time zone of times given without an offset (Beijing time, UTC+8)."""

INTAKE_FUTURE_TOLERANCE_MIN: float = 5.0
"""A time later than now plus this many minutes (clock skew of the sender) is rejected as in
the future."""

INTAKE_BATCH_ROWS: int = 50_000
"""Rows per COPY batch of an import (progress is reported after each batch)."""

INTAKE_MAX_UPLOAD_BYTES: int = 5 * 1024 * 1024
"""Largest body accepted by ``POST /api/incidents`` (bytes); larger gets 413."""

INTAKE_MAX_API_ITEMS: int = 10_000
"""Most incidents in one ``POST /api/incidents`` request; more gets 413."""

INTAKE_REJECTS_SHOWN: int = 20
"""Rejected rows listed by ``wangge incidents import`` (all of them are in the rejected file)."""

# --- Grid balance metrics (gis.grids.metrics, wangge grids report) -------------------------

VILLAGE_HOUSEHOLDS_RANGE: tuple[int, int] = (300, 3000)
"""Target households of a level-1 grid (administrative village): too_small below, too_large
above. The source documents give no figure for villages; this is the project's default
(most administrative villages hold a few hundred to a few thousand households). As with
:data:`GROUP_HOUSEHOLDS_RANGE`, both bounds are inclusive: a village of exactly 300 or 3000
households is within target."""

GROUP_AREA_KM2_RANGE: tuple[float | None, float | None] | None = None
"""(min, max) area of a level-2 grid, km², for the too_small / too_large flags (inclusive
bounds; either end None = no bound). None (default): area is not checked."""

VILLAGE_AREA_KM2_RANGE: tuple[float | None, float | None] | None = None
"""(min, max) area of a level-1 grid, km², as :data:`GROUP_AREA_KM2_RANGE`. None: unchecked."""

RESIDENTS_PER_WORKER_TARGET: float | None = None
"""Most residents per grid worker (网格员); a grid above it is flagged too_large with that
reason. None (default): not checked, the figure is only reported."""

WORKERS_PER_GROUP_GRID: int = 1
"""Grid workers counted for a level-2 grid whose ``worker`` field is empty (one full-time
grid worker per grid). A filled ``worker`` field counts its names instead (separated by
``,``, ``，``, ``、``, ``;``, ``；``, ``/`` or spaces). A village counts the names in its own
``worker`` field plus the workers of its groups."""

BALANCE_WEEKS: int = 4
"""Default window of the incidents-per-week metric: the last this many weeks (7-day steps
ending now)."""

GRID_BOUNDS_BY_ADCODE: dict[str, dict[str, tuple[float | None, float | None] | float | None]] = {}
"""Per-county overrides of the balance targets, by county adcode, e.g.
``{"620702": {"group_households": (80, 250), "group_area_km2": (None, 5.0)}}``. Keys:
``group_households``, ``village_households`` (defaults :data:`GROUP_HOUSEHOLDS_RANGE`,
:data:`VILLAGE_HOUSEHOLDS_RANGE`), ``group_area_km2``, ``village_area_km2`` (defaults
:data:`GROUP_AREA_KM2_RANGE`, :data:`VILLAGE_AREA_KM2_RANGE`), ``residents_per_worker``
(default :data:`RESIDENTS_PER_WORKER_TARGET`). A range is (min, max), either end None for
no bound; a value of None switches that check off. Unknown keys are a ConfigError."""

# --- 一村一警一连 coverage (gis.coverage) and cameras 雪亮工程 (gis.cameras) ------------------

OFFICER_MAX_VILLAGES: int = 3
"""An officer (一村一警) assigned to more than this many villages is ``officer_overloaded``
(the seeds ask for "one officer per village" without a ceiling; 3 is the project's default
for officers who cover several small villages)."""

COVERAGE_GAP_FLAGS: tuple[str, ...] = ("no_officer", "no_militia", "post_missing",
                                       "post_far_10km", "officer_overloaded")
"""Flags of :func:`gis.coverage.force_coverage` that make a village's ``status`` ``gap``
(any of them true). Possible flags: ``no_officer``, ``no_militia``, ``post_missing`` (the
officer has no post, or an unknown one), ``post_far_<r>km`` for every distance of
:data:`RESPONSE_STANDARDS` (the officer's post is beyond that geodesic distance of the
village's populated centre), ``officer_overloaded``. By default a post beyond 5 km is
reported but is not a gap; beyond 10 km ("10公里20分钟" missed) is."""

CAMERA_TARGET_SHARE: float = 1.0
"""Target share of a village's populated area inside camera view (1.0 = 100 %, the 雪亮工程
target for villages with a resident team); villages below it are listed by
:func:`gis.cameras.villages_below_target`."""

CAMERA_POPULATED_PROXY: str = "centres"
"""What counts as the populated area of a grid when no populated-area polygons are given:
``"centres"`` (default): a disc of :data:`CAMERA_POPULATED_RADIUS_M` around the populated
centre (representative point) of every group grid, clipped to the grid, a proxy for the
settlement of each villager group; ``"grid"``: the whole grid polygon (right for built-up
urban grids, far too large for rural ones)."""

CAMERA_POPULATED_RADIUS_M: float = 150.0
"""Radius of the settlement disc of the ``"centres"`` populated-area proxy, metres."""

CAMERA_DEFAULT_RADIUS_M: float = 50.0
"""View radius of a camera stored without a usable one (missing, zero or negative), metres."""

CAMERA_QUAD_SEGS: int = 16
"""Segments per quarter circle of a camera view (a full view is a 64-gon, 0.16 % below
π r²; a sector of angle θ gets ⌈θ / 90° × this⌉ arc segments)."""

# --- Road network, isochrones and siting (gis.network, data.roads, gis.analytics.siting) ---

ROAD_SPEEDS_KPH: dict[str, float] = {
    "motorway": 100.0, "motorway_link": 60.0,
    "trunk": 80.0, "trunk_link": 50.0,
    "primary": 70.0, "primary_link": 40.0,
    "secondary": 60.0, "secondary_link": 40.0,
    "tertiary": 40.0, "tertiary_link": 30.0,
    "unclassified": 30.0, "residential": 30.0, "road": 30.0,
    "living_street": 10.0, "service": 15.0, "track": 15.0,
}
"""Driving speed by OSM ``highway`` type, km/h, used for an edge without a usable
``maxspeed`` tag (an edge's ``maxspeed`` wins when it parses, see
:func:`gis.network.osm.add_edge_speeds`). Typical free-flow speeds on Chinese roads: 高速 100,
国道 80, 省道 70, 县道 60, 乡道 40, 村道 30; a county sets its own here. The OSMnx convention
applies: an edge with several types (a list) takes the mean of their speeds."""

ROAD_DEFAULT_SPEED_KPH: float = 30.0
"""Speed of an edge whose ``highway`` type is not in :data:`ROAD_SPEEDS_KPH`, km/h."""

ROAD_MIN_EDGE_LENGTH_M: float = 0.01
"""Floor of an edge's ``length`` in metres: OSM has a few zero-length edges (two nodes at the
same place), and routing needs every edge to cost something."""

SNAP_SPEED_KPH: float = 15.0
"""Speed of the off-network leg from a point (post, village centre, candidate site) to its
nearest road node, km/h: the straight-line snapping distance is added as travel time at this
speed (15 km/h: a car on field tracks, or a fast walk / bicycle for short legs)."""

ISOCHRONE_MINUTES: tuple[float, ...] = (10.0, 20.0)
"""Default time limits of the road-network isochrones, minutes (the "10 / 20 minutes" of
:data:`RESPONSE_STANDARDS`)."""

ISOCHRONE_BUFFER_M: float = 200.0
"""Half-width of an isochrone around the reached roads, metres: the reached edges (and the
reached part of partly reached edges) are buffered by this and unioned, i.e. the area within
a short walk of a road the car can reach in time."""

ISOCHRONE_QUAD_SEGS: int = 4
"""Segments per quarter circle of the isochrone buffers (4 keeps the union fast; the round
ends of a 200 m buffer are then within 4 m of a true circle)."""

SITING_MINUTES: float = 10.0
"""Default coverage time of post siting (population within this many minutes by road)."""

SITING_RADIUS_M: float = 5_000.0
"""Default coverage distance of post siting by straight-line distance, metres."""

SITING_TIME_LIMIT_S: float = 60.0
"""Time limit of the siting solver (CBC through PuLP), seconds; the best solution found by
then is returned with its status."""

# --- Wall display (大屏, dashboard/pages/wall.py) --------------------------------------------

WALL_REFRESH_S: float = float(os.environ.get("WANGGE_WALL_REFRESH_S") or 10.0)
"""Seconds between data refreshes of the wall display (``WANGGE_WALL_REFRESH_S``). Each
refresh updates the figures, the feed and the map layers' data in place: the page is not
reloaded and the map view is kept."""

WALL_PLAYLIST_S: float = float(os.environ.get("WANGGE_WALL_PLAYLIST_S") or 30.0)
"""Seconds each view of the wall's playlist (the county, then each township) is shown in
kiosk mode (``?kiosk=1``); 0 turns the playlist off (``WANGGE_WALL_PLAYLIST_S``). A page can
ask for its own with ``?playlist=SECONDS`` (also outside kiosk mode)."""

WALL_PLAYLIST_LAYERS: tuple[tuple[str, ...], ...] = ()
"""Layer sets the playlist steps through together with the views (ids of the wall's layer
groups, e.g. ``(("density", "live"), ("hotspots",), ("rings", "coverage"))``); empty: the
layers stay as chosen."""

WALL_TIMEZONE: str = "Asia/Shanghai"
"""Time zone of the wall's clock, "today", daily trends and every time shown."""

WALL_WINDOW_DAYS: int = 30
"""Days of the window of the on-time closure and satisfaction rates, the incident density
layer and the Gi* hot spots of the wall display."""

WALL_TREND_DAYS: int = 14
"""Days of the wall's trend charts (today included)."""

WALL_FEED_NEWEST: int = 8
"""Newest incidents listed in the wall's live feed."""

WALL_FEED_OVERDUE: int = 6
"""Overdue incidents listed in the wall's live feed (highest level and longest overdue
first)."""

WALL_STALE_AFTER_S: float = 60.0
"""The wall shows "data stale" when its last good data is older than this many seconds, or
than three refresh intervals if that is longer."""

WALL_HOTSPOT_TTL_S: float = 300.0
"""Seconds the wall's Gi* hot spot classes are kept before they are computed again."""

# --- Bulk ingest of incidents (gis.incidents.ingest, wangge bench ingest) -----------------

INGEST_REBUILD_MIN_ROWS: int = 200_000
"""A bulk ingest (``gis.incidents.ingest.ingest_frame``) of at least this many new rows …"""

INGEST_REBUILD_RATIO: float = 0.5
"""… that is also at least this fraction of the rows already in ``incident`` drops the
table's secondary indexes and rebuilds them after the COPY (cheaper than maintaining them
row by row; readers of ``incident`` wait until the load commits)."""

# --- Serving (dashboard.app, dashboard.wsgi) -----------------------------------------------

COMPRESS_MIN_BYTES: int = 500
"""Responses of the dashboard smaller than this many bytes are sent uncompressed."""

# --- Patrols: key areas and key road sections (gis.patrols) -------------------------------

PATROL_SECTION_BUFFER_M: float = 30.0
"""Half-width of the corridor around a patrol track, metres: the part of a key road section
within this distance of the track (measured in the UTM zone of the data) counts as patrolled
by it. GPS tracks of phones wander 5–20 m; 30 m keeps a road's far lane inside."""

PATROL_SECTION_MIN_SHARE: float = 0.8
"""A patrol counts for a key road section when its corridor
(:data:`PATROL_SECTION_BUFFER_M`) covers at least this share of the section's length
(0.8 = 80 %)."""

PATROL_NIGHT_HOURS: tuple[int, int] = (22, 6)
"""Night, as (first hour, end hour) of Beijing time (:data:`PATROL_TIMEZONE`), wrapping past
midnight: 22:00–06:00, the 夜间 of 噪声污染防治法 art. 88. A patrol is a night patrol when
the middle of its time span (start + end) / 2 falls in this window (so 20:30–23:59 counts,
18:00–22:30 does not)."""

PATROL_NIGHT_MIN_PER_WEEK: int | None = None
"""Night patrols a village should make per ISO week (counted by the village of each patrol's
start point). The source documents ask villages to "add night patrols" without a figure, so
the default None reports the counts without pass / fail; set a number to get ``passed``."""

PATROL_TIMEZONE: str = "Asia/Shanghai"
"""Time zone of ISO weeks (Monday 00:00 – Sunday 24:00), of night hours, and of patrol /
check-in times given without an offset (GPX times without an offset are UTC, as the GPX
schema requires)."""

PATROL_MIN_POINTS: int = 2
"""Fewest timed points a patrol track must have (after dropping one-point segments)."""

PATROL_CHECKIN_DEDUPE: str = "team_day"
"""How check-ins that belong to no patrol count as visits of a key area: ``"team_day"``
(default) one visit per team (or officer) and Beijing calendar day, so repeated taps do not
inflate the count; ``"each"`` every check-in is a visit."""

PATROL_LAYER_HOURS: float = 24.0
"""Patrol tracks shown on the map: those that ended within this many hours before now."""

PATROL_REJECTS_SHOWN: int = 20
"""Rejected features listed by ``wangge patrols import`` (all are in the rejected file)."""

# --- KPIs, 四无 villages and rankings (gis.kpi, wangge kpi) ---------------------------------

KPI_TIMEZONE: str = "Asia/Shanghai"
"""Time zone of the calendar dates of a KPI period (``2026-W47``, ``2026-11``,
``2026-11-01:2026-11-30``): a period runs from local midnight of its first day to local
midnight after its last day."""

KPI_ON_TIME_TARGET: float | None = 0.95
"""Target of the on-time closure rate (按时办结率), a share 0–1. The seeds name the figure
without a value; 95 % is the project's default. None: no target (no pass flag)."""

KPI_FULFILMENT_TARGET: float | None = 0.95
"""Target of the fulfilment rate (办结率 / 落实到位率), share 0–1; project default (the seeds
give no value). None: no target."""

KPI_SATISFACTION_TARGET: float | None = 0.90
"""Target of the follow-up satisfaction rate (回访满意率: 满意 + 基本满意), share 0–1;
project default (the seeds give no value). None: no target."""

MEDIATION_SUCCESS_TARGET: float | None = 0.96
"""Target of the dispute mediation success rate (调解成功率), share 0–1: "力争调解成功率达到
96%以上" (seeds)."""

ONSITE_MEDIATION_TARGET: float | None = 0.58
"""Target of the on-site mediation rate (现场调解率, disputes settled in the village without
leaving it: 小事不出村), share 0–1: "现场调解率达到58%以上" (seeds)."""

EVENTUAL_CLOSURE_TARGET: float | None = 0.99
"""Target of the eventual closure rate (后期办结率: disputes not settled on site that the
responsible units bring to a conclusion), share 0–1: "后期办结率达到99%以上" (seeds)."""

MEDIATION_KINDS: tuple[str, ...] = ("dispute",)
"""Incident kinds that are mediated (矛盾纠纷); the mediation KPIs count only these."""

MEDIATION_FAILURE_MARKERS: tuple[str, ...] = (
    "调解不成", "调解未成", "调解失败", "调解无果", "未达成协议", "未能达成", "引导诉讼",
    "转诉讼", "移送法院")
"""Phrases in a resolved dispute's feedback (办结反馈) that mean the mediation failed (the
case was concluded, e.g. referred to court, without an agreement). The data model has no
mediation-outcome field; these markers, a reopening and an ``unsatisfied`` follow-up are how
a failed mediation is recognised (see :func:`gis.kpi.definitions.mediation_success_rate`)."""

SIWU_CRIMINAL_KINDS: tuple[str, ...] = ("criminal", "property_crime")
"""Incident kinds that are criminal cases for the 四无 goal (无刑事案件); 两抢一盗 are
criminal offences."""

SIWU_PUBLIC_SECURITY_KINDS: tuple[str, ...] = ("public_security",)
"""Incident kinds that are public-security cases for the 四无 goal (无治安案件)."""

SIWU_MAJOR_DISPUTE_LEVEL: str = "county"
"""A dispute (:data:`MEDIATION_KINDS`) is *major* (重大矛盾纠纷) when it was handled at this
level of :data:`ESCALATION_LADDER` or above at any time (dispatched or escalated there:
"大事不出镇" missed). The data model has no severity field."""

SIWU_MAJOR_DISPUTE_MIN_REPORTS: int | None = None
"""A dispute with at least this many reports (``incident_report`` rows: many people calling
about one event, 群体性纠纷) is also major. None: not used."""

SIWU_PETITION_KINDS: tuple[str, ...] = ("petition",)
"""Incident kinds that are petitions (信访) for the 越级上访 criterion."""

SIWU_SKIP_LEVEL: str = "county"
"""A petition skips levels (越级上访) when it was first taken up at this level of
:data:`ESCALATION_LADDER` or above — its first dispatch went there (or, without an audit
trail, it sits there without any escalation event) — instead of climbing the ladder from
the village."""

SIWU_SKIP_SOURCES: tuple[str, ...] = ()
"""Intake sources (``incident.source``) that receive petitions at county level or above
(e.g. a county letters-and-visits office feed); a petition from one of them skips levels
whatever its workflow. Empty by default."""

KPI_RANK_WEIGHTS: dict[str, float] = {
    "on_time_rate": 0.20,
    "fulfilment_rate": 0.20,
    "satisfaction_rate": 0.20,
    "mediation_success_rate": 0.15,
    "onsite_mediation_rate": 0.15,
    "eventual_closure_rate": 0.10,
}
"""Weights of the composite score of the rankings (any non-negative numbers; they are
normalised). The score is the weighted mean of a unit's rates (0–1, ×100 for 0–100 points)
over the rates it has; a rate whose denominator is below :data:`KPI_RANK_MIN_BASE` is left
out and the other weights are renormalised."""

KPI_RANK_MIN_BASE: int = 5
"""Fewest cases in a rate's denominator for the rate to enter a unit's composite score
(rates from one or two incidents are noise); the single-KPI ranks use every rate."""

# --- Users, roles, jurisdictions, tokens and audit (gis.auth, gis.audit, dashboard.auth) ---

AUTH_ENABLED: bool = (os.environ.get("WANGGE_AUTH") or "1").strip().lower() not in (
    "0", "false", "no", "off")
"""Whether the dashboard asks for a login (``WANGGE_AUTH=0`` turns it off, e.g. for a kiosk
on a closed network or for browser tests). :class:`dashboard.app.AppConfig` ``auth`` takes
its default from here."""

DB_APP_ROLE: str = os.environ.get("WANGGE_DB_APP_ROLE", "wangge_app")
"""PostgreSQL role (NOLOGIN) the application switches to per request (``SET LOCAL ROLE``);
row-level security policies apply to it. Created by migration 0008."""

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "operator": ("view", "incident.intake", "incident.act", "patrol.record",
                 "address.review"),
    "planner": ("view", "grid.edit"),
    "leader": ("view", "incident.supervise", "report.view", "audit.view"),
    "admin": ("view", "incident.intake", "incident.act", "incident.supervise",
              "patrol.record", "address.review", "grid.edit", "grid.publish",
              "report.view", "audit.view", "users.manage", "tokens.manage"),
}
"""Role → actions it may take (gis.auth.roles). Every role acts only inside its user's
jurisdiction (its unit and everything below); the database enforces that part."""

GRID_PUBLISH_LEVEL: str = "county"
"""Publishing a grid version changes the whole county, so it needs a user whose jurisdiction
is at this level or above (``"county"``) and whose role has ``grid.publish``
(:data:`ROLE_PERMISSIONS`, admins by default)."""

PASSWORD_MIN_LENGTH: int = 10
"""Fewest characters of a password (characters, not bytes)."""

PASSWORD_MAX_LENGTH: int = 256
"""Most characters of a password (longer input is refused before hashing)."""

ARGON2_TIME_COST: int = 3
"""Argon2id iterations (argon2-cffi ``time_cost``)."""

ARGON2_MEMORY_KIB: int = 65_536
"""Argon2id memory per hash, KiB (64 MiB, the RFC 9106 second recommendation)."""

ARGON2_PARALLELISM: int = 4
"""Argon2id lanes (argon2-cffi ``parallelism``)."""

LOGIN_WINDOW_S: float = 900.0
"""Window in which failed logins are counted for the rate limit, seconds (15 min)."""

LOGIN_MAX_FAILURES: int = 5
"""Failed logins of one user name from one address within :data:`LOGIN_WINDOW_S` after
which that address is refused for that name (HTTP 429) until the window passes."""

LOGIN_MAX_FAILURES_PER_IP: int = 30
"""Failed logins from one address (any user names) within :data:`LOGIN_WINDOW_S` after
which the address is refused altogether (HTTP 429)."""

SESSION_HOURS: float = 12.0
"""Lifetime of a dashboard login session, hours (one command-centre shift)."""

COOKIE_SECURE: bool = (os.environ.get("WANGGE_COOKIE_SECURE") or "0").strip().lower() in (
    "1", "true", "yes", "on")
"""Send the session cookie over HTTPS only (``WANGGE_COOKIE_SECURE=1`` behind TLS)."""

SECRET_KEY: str | None = os.environ.get("WANGGE_SECRET_KEY") or None
"""Key that signs session cookies (``WANGGE_SECRET_KEY``); None: a random key kept in
:data:`SECRET_KEY_FILE`, created on first use, shared by all worker processes."""

SECRET_KEY_FILE: str = os.environ.get("WANGGE_SECRET_KEY_FILE") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "var", "secret_key")
"""File holding the generated session key (mode 0600) when :data:`SECRET_KEY` is unset."""

TOKEN_DEFAULT_DAYS: int | None = 365
"""Days an API token is valid when ``wangge tokens add`` gets no ``--days``; None: never
expires."""

AUDIT_QUERY_LIMIT: int = 1_000
"""Most rows ``wangge audit`` / :func:`gis.audit.query` return unless told otherwise."""

# --- Road network use by the analyses (gis.analytics.reach) ---------------------------------

NETWORK_MAX_SNAP_M: float = 5_000.0
"""A road network does not serve a county when its police posts lie, in the median, farther
than this from the nearest road node (metres): ``wangge analyze reach`` / ``siting`` then stop
with an error naming the network instead of reporting off-network legs of many kilometres
(e.g. an ``.osm.pbf`` extract of another region)."""

NETWORK_BBOX_MARGIN_M: float = 20_000.0
"""When an ``.osm.pbf`` extract is read for a county, only the roads within the county's
bounding box grown by this many metres are read (routes may leave the county briefly)."""

# --- Operator desk (dashboard/pages/desk.py) ----------------------------------------------

DESK_REFRESH_S: float = float(os.environ.get("WANGGE_DESK_REFRESH_S") or 15.0)
"""Seconds between refreshes of the operator desk's queue of open incidents
(``WANGGE_DESK_REFRESH_S``)."""

DESK_QUEUE_ROWS: int = 60
"""Open incidents listed in the desk's queue (least time left first)."""

DESK_ADDRESS_SUGGESTIONS: int = 5
"""Grids offered for an address typed at the desk (the address matcher's best candidates)."""

DESK_SOURCE: str = "desk"
"""``source`` of the incidents entered at the operator desk (intake identity: source + the
form's one-time token, so a double click on "submit" stores the incident once)."""

DESK_ACTOR: str = "desk"
"""Actor written to the audit trail for workflow actions taken at the desk (until login)."""

# --- address review queue (gis.address.review, wangge address review) ----------------------

ADDRESS_REVIEW_LIST_LIMIT: int = 50
"""Pending address reviews listed at once (``wangge address review list``, oldest first;
count of reviews, no unit)."""

TILE_FILE: str | None = os.environ.get("WANGGE_TILE_FILE") or None
"""Local ``.mbtiles`` / ``.pmtiles`` basemap served by the dashboard itself at
``/tiles/{z}/{x}/{y}`` (intranets without a tile server); overrides ``TILE_URL``."""

# --- size limits of inputs (bad input catalogue: files, API bodies, form fields, uploads) ---

IMPORT_MAX_FILE_BYTES: int = 512 * 1024 * 1024
"""Largest file the command-line imports read (``wangge grids|incidents|patrols import``),
bytes (512 MiB). Files are read whole into memory (a CSV whose 100 MB sit in one cell peaks
at about 1.7 GB while parsed), so a bigger one is refused before reading, with the advice to
split it. Files of 100,000s of rows (tens of MB) are normal."""

INTAKE_MAX_DESCRIPTION_CHARS: int = 5_000
"""Longest description (描述) of one incident, characters (not bytes). A longer one rejects
its row with code ``too_long`` (file imports, ``POST /api/incidents``, the desk form)."""

INTAKE_MAX_TEXT_CHARS: int = 500
"""Longest value of every other field of an incident row (编号, 类型, 时间, 经度, 纬度,
地址, 报告人), characters; longer rejects the row with code ``too_long``."""

UPLOAD_MAX_BYTES: int = 50 * 1024 * 1024
"""Largest file accepted by an upload in the dashboard (the planner's GPKG), bytes (50 MiB).
The browser refuses a bigger file before sending it and says so; the server checks again.
Bigger files go through the command line (``wangge grids import``)."""

# --- wall display at scale (dashboard.wall_data, migration 0009) ----------------------------

WALL_TALLY_COMPACT_ROWS: int = 10_000
"""Rows of ``incident_tally`` (signed deltas kept by triggers, one per write statement and
grid / state) above which the wall's server folds them into one row per key, rows; about a
millisecond of summing per 10,000 rows is what the wall pays below it."""

WALL_WARM_UP: bool = os.environ.get("WANGGE_WALL_WARM_UP", "1") != "0"
"""Whether a serving process builds the wall's layers and aggregates in the background as
it starts and keeps them fresh, so the first screen gets them at once
(``WANGGE_WALL_WARM_UP=0`` turns it off)."""

WALL_WARM_UP_WAIT_S: float = 30.0
"""Seconds a starting server process waits for the wall's warm-up before it serves, at most
(the first round: grid layers, served GeoJSON, static layers, the first picture)."""
