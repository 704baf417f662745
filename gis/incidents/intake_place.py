"""Place accepted intake rows in grids: by coordinates or by address, in the version of their date.

Which grids (the version in force on the incident's date)
---------------------------------------------------------
Every row is placed in the grid version **in force on the local date of its**
``occurred_at`` (China Standard Time, the same day boundary publishing uses,
:data:`gis.grids.publish.LOCAL_TZ`): the chain of published / retired versions of the
county is read once per import (:func:`version_chain`), each row's date is looked up in it
(the same answer as :func:`gis.grids.versions.as_of`), and the rows are processed one group
per version, with one cached :class:`~gis.grids.lookup.GridLookup` (and one cached address
matcher) per version.

A row dated **before the county's first version** is kept, never dropped: it is placed in
the grids of the first version (the earliest grids there are — better than none for
statistics) and flagged: ``"before_first_version": true`` in the ``intake`` member of its
report's ``raw`` JSON, and counted in the import summary (``before_first_version``).

By coordinates
--------------
Point in polygon against the version's group grids (:func:`gis.incidents.ingest.geocode_frame`):
``location_flag`` ``ok`` inside a group, ``outside`` outside the territory.

By address (rows without coordinates)
-------------------------------------
The address (or place name) is matched with :mod:`gis.address` against the names of the
version's grids (:func:`gis.address.places.places_for_version`):

* ``matched`` to a **group or village** with confidence ≥
  :data:`gis.settings.ADDRESS_MIN_CONFIDENCE` → the incident gets that grid (the group and
  its village, or the village alone when the address names no group it has), its location
  is the grid's representative point and ``location_flag = 'address'``: maps must draw it
  as approximate (somewhere in that grid);
* anything else — a doubtful match (``review``), only a township (``township``), nothing
  recognisable (``unmatched``) → no guess: the incident is created **without** grid or
  location (``location_flag = 'no_location'``, so the workflow and its time limits start
  at once and the report is never lost) and one row is queued in ``address_review`` with
  the best candidates and their scores, for an operator to place
  (:func:`gis.address.review.accept`) or dismiss (:func:`gis.address.review.reject`).

Every report's ``raw`` JSON gets an ``intake`` member: ``grid_version``, ``as_of`` (the
local date), ``before_first_version`` when true, and for address rows ``address_match``
(status, code, level, confidence).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis._errors import GeocodeError
from gis.address.places import places_for_version
from gis.grids.lookup import lookup_for_version
from gis.grids.publish import LOCAL_TZ
from gis.incidents.ingest import geocode_frame

__all__ = ["BY_ADDRESS", "Placed", "VersionChain", "local_days", "place_rows", "version_chain"]

BY_ADDRESS = "address"
"""``location_flag`` of an incident placed by its address (location = the grid's point)."""
NO_LOCATION = "no_location"

REVIEW_COLUMNS = ["seq", "version_id", "address", "normalized", "reason", "confidence",
                  "township_code", "candidates"]


@dataclass(frozen=True)
class VersionChain:
    """Published and retired versions of a county in effective-date order."""

    ids: np.ndarray
    effective: np.ndarray
    """``datetime64[D]`` effective dates (strictly increasing)."""

    def on(self, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(version id, dated before the first version) of each ``datetime64[D]`` day.

        The version in force that day (as :func:`gis.grids.versions.as_of`); a day before
        the first effective date gets the first version and ``True``. (Publishing retires
        a version exactly from its successor's effective date, so the chain has no gaps:
        the last version that started on or before a day is the one in force.)
        """
        days = np.asarray(days, dtype="datetime64[D]")
        if len(self.ids) == 0:
            msg = "no published grid version for this county; publish grids before importing"
            raise GeocodeError(msg)
        pos = np.searchsorted(self.effective, days, side="right") - 1
        before = pos < 0
        return self.ids[np.maximum(pos, 0)], before


def version_chain(conn: Connection, adcode: str) -> VersionChain:
    """The chain of versions of county ``adcode`` that are or were in force."""
    rows = conn.execute(sa.text(
        "select id, effective_date from grid_version where adcode = :a "
        "and status in ('published', 'retired') order by effective_date, id"),
        {"a": adcode}).all()
    return VersionChain(
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        effective=np.array([r[1] for r in rows], dtype="datetime64[D]"))


def local_days(times: pd.Series) -> np.ndarray:
    """Local (China Standard Time) calendar day of each time as ``datetime64[D]``."""
    ts = pd.to_datetime(times, utc=True).dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    return ts.to_numpy().astype("datetime64[D]")


@dataclass
class Placed:
    """Accepted rows with their grids; see the module doc."""

    frame: pd.DataFrame
    """The rows (positions 0 … n-1 = ``seq``) with ``version_id``, ``group_code``,
    ``village_code``, ``location_flag``, ``lon`` / ``lat`` (the grid's point for rows placed
    by address) and ``raw`` carrying the ``intake`` member."""
    review: pd.DataFrame
    """Rows for the address review queue: :data:`REVIEW_COLUMNS`."""
    placement: np.ndarray
    """Per row: ``coordinates``, ``address``, ``review`` or ``none``."""
    before_first: np.ndarray
    """Per row: dated before the county's first grid version."""

    @property
    def tracked(self) -> np.ndarray:
        """Positions whose load outcome the caller needs (placed by address or queued)."""
        return np.flatnonzero(np.isin(self.placement, ["address", "review"]))


def _match_json(m: object) -> str:
    return json.dumps({"status": m.status, "code": m.code, "level": m.level,  # type: ignore[attr-defined]
                       "confidence": m.confidence}, ensure_ascii=False)  # type: ignore[attr-defined]


def _candidates_json(m: object) -> str:
    return json.dumps([{"code": c.code, "level": c.level, "name": c.name, "score": c.score}
                       for c in m.candidates], ensure_ascii=False)  # type: ignore[attr-defined]


def _by_address(conn: Connection, df: pd.DataFrame, rows: np.ndarray, vid: int,
                out: dict[str, np.ndarray], review: list[dict[str, object]],
                extra: np.ndarray) -> None:
    places = places_for_version(conn, vid)
    matches = places.match_many(df["address"].to_numpy(dtype=object)[rows].tolist())
    for i, m in zip(rows.tolist(), matches, strict=True):
        extra[i] = f', "address_match": {_match_json(m)}'
        if m.status == "matched" and m.level in ("group", "village"):
            village, group = places.grid_codes(m.code)
            out["village_code"][i], out["group_code"][i] = village, group
            out["lon"][i], out["lat"][i] = places.point(m.code)
            out["location_flag"][i] = BY_ADDRESS
            out["placement"][i] = "address"
            continue
        reason = "township" if m.status == "matched" else m.status
        review.append({"seq": i, "version_id": vid, "address": df["address"].iat[i],
                       "normalized": m.normalized, "reason": reason,
                       "confidence": float(m.confidence),
                       "township_code": m.code if m.level == "township" else None,
                       "candidates": _candidates_json(m)})
        out["placement"][i] = "review"


def place_rows(conn: Connection, good: pd.DataFrame, adcode: str) -> Placed:
    """Place the accepted rows ``good`` (``validate_rows.GOOD_COLUMNS``) of county ``adcode``.

    Reads the version chain, the lookups and the matchers it needs (cached per version);
    writes nothing.
    """
    df = good.reset_index(drop=True)
    n = len(df)
    lon = df["lon"].to_numpy(dtype=float, copy=True)
    lat = df["lat"].to_numpy(dtype=float, copy=True)
    out: dict[str, np.ndarray] = {
        "village_code": np.full(n, None, dtype=object),
        "group_code": np.full(n, None, dtype=object),
        "location_flag": np.full(n, NO_LOCATION, dtype=object),
        "placement": np.full(n, "none", dtype=object), "lon": lon, "lat": lat}
    review: list[dict[str, object]] = []
    extra = np.full(n, "", dtype=object)
    if n:
        days = local_days(df["occurred_at"])
        vids, before = version_chain(conn, adcode).on(days)
    else:
        days, vids, before = (np.empty(0, "datetime64[D]"), np.empty(0, np.int64),
                              np.empty(0, bool))
    has_xy = ~np.isnan(lon) & ~np.isnan(lat)
    address = df["address"].fillna("").astype(str).str.strip().to_numpy(dtype=object) \
        if n else np.empty(0, dtype=object)
    for vid in np.unique(vids).tolist():
        in_v = vids == vid
        rows = np.flatnonzero(in_v & has_xy)
        if len(rows):
            part = geocode_frame(pd.DataFrame({"lon": lon[rows], "lat": lat[rows]}),
                                 lookup_for_version(conn, vid))
            for c in ("village_code", "group_code", "location_flag"):
                out[c][rows] = part[c].to_numpy(dtype=object)
            out["placement"][rows] = "coordinates"
        rows = np.flatnonzero(in_v & ~has_xy & (address != ""))
        if len(rows):
            _by_address(conn, df, rows, int(vid), out, review, extra)
    frame = df.assign(version_id=vids, village_code=out["village_code"],
                      group_code=out["group_code"], location_flag=out["location_flag"],
                      lon=out["lon"], lat=out["lat"])
    if n:
        head = (', "intake": {"grid_version": ' + pd.Series(vids).astype(str)
                + ', "as_of": "' + pd.Series(days.astype(str)) + '"'
                + pd.Series(np.where(before, ', "before_first_version": true', ""))
                + pd.Series(extra) + "}}")
        raw = frame["raw"].astype(str).str[:-1]
        frame["raw"] = (raw + head).to_numpy(dtype=object)
    return Placed(frame=frame, review=pd.DataFrame(review, columns=REVIEW_COLUMNS),
                  placement=out["placement"], before_first=np.asarray(before, dtype=bool))
