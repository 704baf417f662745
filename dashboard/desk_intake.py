"""Intake at the operator desk (受理登记): locate a point or an address, check and submit the form.

The incident goes through the same intake path as ``POST /api/incidents``
(:func:`gis.incidents.intake.import_records` with ``source = settings.DESK_SOURCE``), so
the same validation and deduplication apply: a report within
``settings.INTAKE_DEDUPE_DISTANCE_M`` and ``settings.INTAKE_DEDUPE_WINDOW_MIN`` of an
incident of the same kind is merged into it, and a form submitted twice (same one-time
token) is stored once.

* :func:`locate` — the group / village / township grid of a point (a click on the map).
* :func:`suggestions` — the address matcher's best grids for a typed address
  (:class:`gis.address.AddressMatcher` on a gazetteer of the grids in force), each with a
  representative point (:func:`place_of`) so picking one gives the incident a location.
* :func:`check_form` / :func:`submit` — field-by-field checks (every error names its form
  field) and the submission.

No Dash here: functions take an engine (tests call them directly).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gis import settings
from gis.address.gazetteer import Gazetteer
from gis.address.matcher import AddressMatcher
from gis.grids import versions
from gis.grids.lookup import lookup_in_force
from gis.grids.store import read_grids
from gis.incidents.intake import IntakeReport, import_records
from gis.incidents.validate_rows import kind_catalogue, parse_time
from gis.territory import units as read_units

FORM_FIELDS: tuple[str, ...] = ("kind", "time", "location", "description", "reporter")
"""Fields of the intake form, in their order on the page."""

FIELD_OF: dict[str, str] = {
    "kind": "kind", "occurred_at": "time", "reported_at": "time", "reporter": "reporter",
    "lon+lat/address": "location", "lon+lat": "location", "geometry": "location",
    "address": "location", "description": "description",
}
"""Field of an intake rejection (:mod:`gis.incidents.validate_rows`) → field of the form;
others (``source``, ``source_id``) are shown for the whole form."""

COORD_DECIMALS = 6
"""Decimals of the degrees sent to intake (about 0.1 m; intake needs
``settings.INTAKE_MIN_COORD_DECIMALS``)."""


@dataclass(frozen=True)
class Place:
    """A located point: storage lon / lat (degrees, EPSG:4490) and the grids it is in."""

    lon: float
    lat: float
    code: str | None
    """Most specific grid code (group, else village, else township)."""
    level: str | None
    """``group``, ``village``, ``township`` or None (outside every grid)."""
    name: str
    """Full name (党寨镇陈寨村三社), empty outside the grids."""
    village_code: str | None = None
    group_code: str | None = None
    via: str = "map"
    """How it was chosen: ``map`` (a click) or ``address`` (a suggestion picked)."""
    address: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (a ``dcc.Store``)."""
        return {k: getattr(self, k) for k in ("lon", "lat", "code", "level", "name",
                                              "village_code", "group_code", "via", "address")}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Place | None:
        """Inverse of :meth:`to_dict` (None stays None)."""
        if not d:
            return None
        return cls(**{k: d.get(k) for k in ("lon", "lat", "code", "level", "name",
                                            "village_code", "group_code")},
                   via=d.get("via") or "map", address=d.get("address") or "")


@dataclass
class IntakeResult:
    """Outcome of :func:`submit`: ``status`` is ``created``, ``merged`` (attached to an
    existing incident), ``duplicate`` (this form was stored before) or ``rejected``."""

    status: str
    incident_id: int | None = None
    errors: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Form field (or ``form``) → (code, reason) pairs."""

    @property
    def ok(self) -> bool:
        """Whether the incident is stored."""
        return self.status in ("created", "merged", "duplicate")


# --- the grids in force: names, representative points, address matcher ---------------------

_lock = threading.Lock()
_cache: dict[tuple[str, int], dict[str, Any]] = {}


def _version(engine: Engine) -> int | None:
    with engine.connect() as conn:
        return versions.in_force(conn)


def grid_index(engine: Engine, version_id: int) -> dict[str, Any]:
    """Names, parents and representative points of the grids and townships of a version,
    and an :class:`~gis.address.AddressMatcher` on them (built once per database and
    version: versions in force do not change)."""
    key = (str(engine.url), int(version_id))
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    with engine.connect() as conn:
        adcode = str(versions.get_version(conn, version_id)["adcode"])
        villages = read_grids(conn, version_id, level=1)
        groups = read_grids(conn, version_id, level=2)
        towns = read_units(conn, "township", adcode)
        county = read_units(conn, "county", adcode)
    towns = towns[towns["code"].isin(set(villages["township_code"]))] if len(villages) else towns
    gaz = Gazetteer.build(
        towns[["code", "name"]],
        villages[["code", "name"]].assign(parent_code=villages["township_code"]),
        groups[["code", "name", "parent_code"]],
        county_name=str(county["name"].iloc[0]) if len(county) else "")
    points: dict[str, tuple[float, float]] = {}
    for frame in (groups, villages, towns):
        geoms = np.asarray(frame.geometry.values, dtype=object)
        ok = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
        pts = shapely.point_on_surface(geoms[ok]) if ok.any() else []
        for code, p in zip(frame["code"][ok], pts, strict=True):
            points[str(code)] = (round(float(p.x), COORD_DECIMALS),
                                 round(float(p.y), COORD_DECIMALS))
    out = {"adcode": adcode, "matcher": AddressMatcher(gaz), "gazetteer": gaz,
           "points": points}
    with _lock:
        _cache[key] = out
    return out


def clear_cache() -> None:
    """Forget the built grid indexes and matchers (tests; after publishing a version)."""
    with _lock:
        _cache.clear()


def locate(engine: Engine, lon: float, lat: float) -> Place:
    """The grids of the point (``lon``, ``lat``) in storage degrees; ``level`` None when
    it is outside every grid of the version in force."""
    with engine.connect() as conn:
        lookup = lookup_in_force(conn)
    i = int(lookup.locate(np.array([lon]), np.array([lat]))[0])
    lon, lat = round(float(lon), COORD_DECIMALS), round(float(lat), COORD_DECIMALS)
    if i < 0:
        return Place(lon, lat, None, None, "")
    gaz = grid_index(engine, lookup.version_id)["gazetteer"]
    code = str(lookup.group_codes[i])
    try:
        name = gaz.unit(code).full_name
    except Exception:  # noqa: BLE001 - a group unknown to the gazetteer: plain names
        name = f"{lookup.village_names[i] or ''}{lookup.group_names[i] or ''}"
    return Place(lon, lat, code, "group", name, village_code=str(lookup.village_codes[i]),
                 group_code=code)


def place_of(engine: Engine, code: str, address: str = "") -> Place | None:
    """The representative point (inside the polygon) of grid or township ``code`` of the
    version in force, as a place picked by address; None when the code is unknown."""
    vid = _version(engine)
    if vid is None:
        return None
    idx = grid_index(engine, vid)
    pt = idx["points"].get(str(code))
    if pt is None:
        return None
    unit = idx["gazetteer"].unit(str(code))
    village = unit.parent_code if unit.level == "group" else (unit.code if unit.level == "village"
                                                         else None)
    return Place(pt[0], pt[1], unit.code, unit.level, unit.full_name, village_code=village,
                 group_code=unit.code if unit.level == "group" else None, via="address",
                 address=address)


def suggestions(engine: Engine, address: str, n: int | None = None) -> list[dict[str, Any]]:
    """The best grids for ``address``: ``code``, ``level`` (group / village), ``name``,
    ``score`` in [0, 1], best first; at most ``settings.DESK_ADDRESS_SUGGESTIONS``.

    The matcher's own answer comes first when it is a grid; township-only candidates are
    left out (a township is no location: click the map inside it instead).
    """
    text = (address or "").strip()
    if not text:
        return []
    vid = _version(engine)
    if vid is None:
        return []
    m = grid_index(engine, vid)["matcher"].match(text)
    k = int(settings.DESK_ADDRESS_SUGGESTIONS if n is None else n)
    out: list[dict[str, Any]] = []
    if m.code and m.level in ("group", "village"):
        out.append({"code": m.code, "level": m.level, "name": m.name or m.code,
                    "score": float(m.confidence)})
    for c in m.candidates:
        if c.level in ("group", "village") and all(o["code"] != c.code for o in out):
            out.append({"code": c.code, "level": c.level, "name": c.name,
                        "score": float(c.score)})
    return out[:k]


# --- the form ------------------------------------------------------------------------------


def local_now_text(now: datetime | None = None) -> str:
    """``now`` in ``settings.INTAKE_TIMEZONE`` as the form shows it (``2025-05-01 08:30``)."""
    now = now or datetime.now(UTC)
    return now.astimezone(ZoneInfo(settings.INTAKE_TIMEZONE)).strftime("%Y-%m-%d %H:%M")


def check_form(form: dict[str, Any], place: Place | None,
               now: datetime | None = None) -> dict[str, list[tuple[str, str]]]:
    """Field-by-field errors of an intake form (empty when it can be submitted).

    ``form`` holds ``kind`` (catalogue key), ``time`` (local time text), ``description``,
    ``reporter``; ``place`` the chosen location. Codes are those of intake
    (:mod:`gis.incidents.validate_rows`) plus ``outside`` (the point is in no grid).
    """
    errors: dict[str, list[tuple[str, str]]] = {}

    def add(fld: str, code: str, reason: str) -> None:
        errors.setdefault(fld, []).append((code, reason))

    kind = str(form.get("kind") or "").strip()
    if not kind:
        add("kind", "missing_field", "choose the kind of incident")
    elif kind not in kind_catalogue().values():
        add("kind", "unknown_kind", f"unknown kind {kind!r}")
    text = str(form.get("time") or "").strip()
    if not text:
        add("time", "missing_field", "give the time it happened")
    else:
        when = parse_time(text, ZoneInfo(settings.INTAKE_TIMEZONE))
        now = now or datetime.now(UTC)
        if when is None:
            add("time", "bad_time", f"{text!r} is not a time (2025-05-01 08:30)")
        elif (when - now).total_seconds() > 60 * float(settings.INTAKE_FUTURE_TOLERANCE_MIN):
            add("time", "future_time", f"{text!r} is in the future")
    if place is None:
        add("location", "missing_field", "click the map or pick an address suggestion")
    elif place.level is None:
        add("location", "outside", "the point is outside every grid of the county")
    if not str(form.get("reporter") or "").strip():
        add("reporter", "missing_field", "give who reported it")
    for key, fld, limit, name in (
            ("description", "description", settings.INTAKE_MAX_DESCRIPTION_CHARS,
             "INTAKE_MAX_DESCRIPTION_CHARS"),
            ("reporter", "reporter", settings.INTAKE_MAX_TEXT_CHARS, "INTAKE_MAX_TEXT_CHARS"),
            ("address", "location", settings.INTAKE_MAX_TEXT_CHARS, "INTAKE_MAX_TEXT_CHARS")):
        n = len(str(form.get(key) or "").strip())
        if n > limit:
            add(fld, "too_long", f"{key} has {n:,} characters, more than the limit of "
                                 f"{limit:,} (settings.{name}); shorten it")
    return errors


def record(form: dict[str, Any], place: Place, token: str, now: datetime) -> dict[str, Any]:
    """The intake item (as sent to ``POST /api/incidents``) of a checked form."""
    address = str(form.get("address") or "").strip() or place.address or place.name
    item = {"source_id": f"desk-{token}", "kind": str(form["kind"]).strip(),
            "occurred_at": str(form["time"]).strip(),
            "reported_at": now.astimezone(UTC).isoformat(timespec="seconds"),
            "lon": f"{place.lon:.{COORD_DECIMALS}f}", "lat": f"{place.lat:.{COORD_DECIMALS}f}",
            "address": address, "reporter": str(form.get("reporter") or "").strip()}
    desc = str(form.get("description") or "").strip()
    if desc:
        item["description"] = desc
    return item


def _rejections(rep: IntakeReport) -> dict[str, list[tuple[str, str]]]:
    errors: dict[str, list[tuple[str, str]]] = {}
    for r in rep.rejects.to_dict("records"):
        fields = [f for f in str(r["field"]).split("; ") if f]
        codes = [c for c in str(r["code"]).split("; ") if c]
        pairs = list(zip(fields, codes, strict=True)) if len(fields) == len(codes) else \
            [(f, c) for f in fields for c in codes]
        for f, c in pairs:
            errors.setdefault(FIELD_OF.get(f, "form"), []).append((c, str(r["reason"])))
    return errors


def submit(engine: Engine, form: dict[str, Any], place: Place | None, token: str,
           now: datetime | None = None) -> IntakeResult:
    """Check the form and store the incident through intake (source ``settings.DESK_SOURCE``).

    Returns the incident's id and whether it was ``created``, ``merged`` into an incident
    reported nearby just before, or a ``duplicate`` of this same form (same ``token``);
    or ``rejected`` with the errors per form field. Database failures propagate.
    """
    now = now or datetime.now(UTC)
    errors = check_form(form, place, now)
    if errors or place is None:
        return IntakeResult("rejected", errors=errors)
    if not str(token or "").strip():
        return IntakeResult("rejected", errors={"form": [("missing_field", "no form token")]})
    rep = import_records(engine, [record(form, place, token, now)],
                         source=settings.DESK_SOURCE, now=now)
    if rep.rejected:
        return IntakeResult("rejected", errors=_rejections(rep))
    o = rep.outcomes.iloc[0]
    return IntakeResult(str(o["status"]), int(o["incident_id"]))


def incident_place(engine: Engine, incident_id: int) -> tuple[float, float] | None:
    """Storage lon / lat of an incident (None without a location)."""
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "select st_x(geom), st_y(geom) from incident where id = :i and geom is not null"),
            {"i": int(incident_id)}).first()
    return None if row is None else (float(row[0]), float(row[1]))
