"""The address review queue: reports whose address could not be placed with confidence.

Intake (:mod:`gis.incidents.intake_place`) creates such an incident without grid or location
(``location_flag = 'no_location'``) and queues one ``address_review`` row with the best
candidates. An operator then decides, recorded with who and when:

* :func:`accept` — the report is in grid ``grid_code`` (a village or group of the version in
  force on the incident's date — looked up again when deciding, so a version published
  since intake is respected; usually one of the candidates): the incident gets that grid
  exactly as intake would have given it (village + group, the grid's representative point,
  ``location_flag = 'address'``), and so does its report. Accepting again with the same
  grid changes nothing; with another grid it is refused.
* :func:`reject` — the address cannot be placed (another county, no place at all): the
  incident stays without grid, the reason is kept. Rejecting again changes nothing.

All functions work inside the caller's transaction (``with engine.begin() as conn``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import AddressError, NotFoundError
from gis.address.places import places_for_version
from gis.grids import versions
from gis.store.bulk import copy_rows

__all__ = ["REVIEW_FIELDS", "accept", "count_pending", "enqueue", "get", "list_pending", "reject",
           "reviews"]

REVIEW_FIELDS = ("id", "adcode", "incident_id", "source", "source_id", "address", "normalized",
                 "version_id", "reason", "confidence", "township_code", "candidates", "status",
                 "grid_code", "reviewer", "decided_at", "note", "created_at")
"""Columns of a review as returned by :func:`get` and :func:`list_pending`."""

_SELECT = f"select {', '.join(REVIEW_FIELDS)} from address_review"
_IN_COLUMNS = ["seq", "adcode", "incident_id", "source", "source_id", "address", "normalized",
               "version_id", "reason", "confidence", "township_code", "candidates"]


def enqueue(conn: Connection, adcode: str, rows: pd.DataFrame) -> dict[int, int]:
    """Queue reviews; returns ``seq`` → review id of the rows newly queued.

    ``rows``: ``seq`` (the caller's key), ``incident_id``, ``source``, ``source_id``,
    ``address``, ``normalized``, ``version_id``, ``reason`` (review | unmatched |
    township), ``confidence``, ``township_code``, ``candidates`` (JSON text). A row whose
    ``(source, source_id)`` is already queued (pending or decided) is skipped.
    """
    if rows.empty:
        return {}
    conn.execute(sa.text("""
        create temp table if not exists address_review_in (
          seq integer, adcode varchar(6), incident_id bigint, source text, source_id text,
          address text, normalized text, version_id integer, reason varchar(16),
          confidence double precision, township_code varchar(15), candidates jsonb)
        on commit drop"""))
    conn.execute(sa.text("truncate address_review_in"))

    def val(v: object) -> object:
        return None if v is None or (isinstance(v, float) and pd.isna(v)) else v

    copy_rows(conn, "address_review_in", _IN_COLUMNS,
              ([int(r.seq), adcode, int(r.incident_id), str(r.source), str(r.source_id),
                str(r.address), val(r.normalized), int(r.version_id), str(r.reason),
                float(r.confidence), val(r.township_code), str(r.candidates)]
               for r in rows.itertuples(index=False)))
    got = conn.execute(sa.text("""
        with ins as (
          insert into address_review (adcode, incident_id, source, source_id, address,
                                      normalized, version_id, reason, confidence,
                                      township_code, candidates)
          select adcode, incident_id, source, source_id, address, normalized, version_id,
                 reason, confidence, township_code, candidates
          from address_review_in order by seq
          on conflict (source, source_id) do nothing
          returning id, source, source_id)
        select i.seq, ins.id from ins join address_review_in i
          on i.source = ins.source and i.source_id = ins.source_id""")).all()
    conn.execute(sa.text("truncate address_review_in"))
    return {int(s): int(i) for s, i in got}


def _row(r: Any) -> dict[str, Any]:
    d = dict(r)
    if isinstance(d.get("candidates"), str):
        d["candidates"] = json.loads(d["candidates"])
    return d


def get(conn: Connection, review_id: int, lock: bool = False) -> dict[str, Any]:
    """One review as a dict (:data:`REVIEW_FIELDS`); NotFoundError when there is none."""
    q = f"{_SELECT} where id = :id" + (" for update" if lock else "")
    row = conn.execute(sa.text(q), {"id": int(review_id)}).mappings().first()
    if row is None:
        msg = f"address review {review_id} does not exist; list the pending ones with " \
              "'wangge address review list'"
        raise NotFoundError(msg)
    return _row(row)


def list_pending(conn: Connection, adcode: str | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
    """Pending reviews (of county ``adcode`` when given), oldest first, at most ``limit``
    (default :data:`gis.settings.ADDRESS_REVIEW_LIST_LIMIT`)."""
    n = settings.ADDRESS_REVIEW_LIST_LIMIT if limit is None else int(limit)
    rows = conn.execute(sa.text(
        f"{_SELECT} where status = 'pending' and (cast(:a as text) is null or adcode = :a) "
        "order by id limit :n"), {"a": adcode, "n": n}).mappings().all()
    return [_row(r) for r in rows]


def count_pending(conn: Connection, adcode: str | None = None) -> int:
    """Number of pending reviews (of county ``adcode`` when given)."""
    return int(conn.execute(sa.text(
        "select count(*) from address_review where status = 'pending' "
        "and (cast(:a as text) is null or adcode = :a)"), {"a": adcode}).scalar_one())


def _decided(r: dict[str, Any]) -> str:
    what = f"accepted in grid {r['grid_code']}" if r["status"] == "accepted" else \
        f"rejected ({r['note']})"
    return f"address review {r['id']} was already {what} by {r['reviewer']} at " \
           f"{r['decided_at']:%Y-%m-%d %H:%M}"


def _version_on_incident_date(conn: Connection, r: dict[str, Any]) -> int:
    """The version in force on the local date of the review's incident (the first version
    before any, as at intake); the version recorded at intake if the incident is gone."""
    from gis.grids.publish import LOCAL_TZ

    when = conn.execute(sa.text("select occurred_at from incident where id = :i"),
                        {"i": int(r["incident_id"])}).scalar()
    if when is None:
        return int(r["version_id"])
    vid = versions.as_of(conn, str(r["adcode"]), when.astimezone(LOCAL_TZ).date())
    if vid is None:
        vid = conn.execute(sa.text(
            "select id from grid_version where adcode = :a and status in ('published', "
            "'retired') order by effective_date, id limit 1"), {"a": r["adcode"]}).scalar()
    return int(vid if vid is not None else r["version_id"])


def accept(conn: Connection, review_id: int, grid_code: str, actor: str) -> dict[str, Any]:
    """Place the review's incident in grid ``grid_code``; see the module doc.

    Returns
    -------
    dict
        ``review_id``, ``incident_id``, ``grid_code``, ``village_code``, ``group_code``,
        ``lon``, ``lat`` (the grid's representative point, EPSG:4490), ``grid_version``
        and ``changed`` (False when it was already accepted with this grid).

    Raises
    ------
    NotFoundError
        No such review, or its incident is gone.
    AddressError
        The review was rejected or accepted with another grid; ``grid_code`` is no village
        or group of the version in force on the incident's date; the incident got a
        location in the meantime; ``actor`` is empty.
    """
    if not str(actor or "").strip():
        msg = "accept: say who decides (actor)"
        raise AddressError(msg)
    grid_code = str(grid_code).strip()
    r = get(conn, review_id, lock=True)
    places = places_for_version(conn, _version_on_incident_date(conn, r))
    village, group = places.grid_codes(grid_code)
    lon, lat = places.point(grid_code)
    result = {"review_id": int(r["id"]), "incident_id": int(r["incident_id"]),
              "grid_code": grid_code, "village_code": village, "group_code": group,
              "lon": lon, "lat": lat, "grid_version": places.version_id, "changed": False}
    if r["status"] == "accepted" and r["grid_code"] == grid_code:
        return result
    if r["status"] != "pending":
        msg = _decided(r) + "; nothing changed"
        raise AddressError(msg)
    point = {"x": lon, "y": lat, "srid": settings.STORAGE_SRID}
    n = conn.execute(sa.text("""
        update incident set village_code = :v, group_code = :g, location_flag = 'address',
               geom = st_setsrid(st_makepoint(:x, :y), :srid), updated_at = now()
        where id = :id and geom is null"""),
        {"v": village, "g": group, "id": int(r["incident_id"]), **point}).rowcount
    if n == 0:
        flag = conn.execute(sa.text("select location_flag from incident where id = :id"),
                            {"id": int(r["incident_id"])}).scalar()
        if flag is None:
            msg = f"incident {r['incident_id']} of address review {r['id']} no longer exists"
            raise NotFoundError(msg)
        msg = f"incident {r['incident_id']} already has a location (flag {flag}); nothing " \
              f"changed: reject address review {r['id']} instead"
        raise AddressError(msg)
    conn.execute(sa.text("""
        update incident_report set location_flag = 'address',
               geom = st_setsrid(st_makepoint(:x, :y), :srid)
        where source = :s and source_id = :sid and geom is null"""),
        {"s": r["source"], "sid": r["source_id"], **point})
    conn.execute(sa.text(
        "update address_review set status = 'accepted', grid_code = :c, reviewer = :a, "
        "decided_at = now() where id = :id"),
        {"c": grid_code, "a": str(actor).strip(), "id": int(r["id"])})
    return {**result, "changed": True}


def reject(conn: Connection, review_id: int, actor: str, reason: str) -> dict[str, Any]:
    """Record that the review's address cannot be placed (see the module doc).

    Returns the review as a dict plus ``changed`` (False when it was already rejected).
    AddressError when it was accepted, or ``actor`` / ``reason`` is empty.
    """
    actor, reason = str(actor or "").strip(), str(reason or "").strip()
    if not actor or not reason:
        msg = "reject: give who decides (actor) and why (reason), e.g. --reason '外县地址'"
        raise AddressError(msg)
    r = get(conn, review_id, lock=True)
    if r["status"] == "rejected":
        return {**r, "changed": False}
    if r["status"] != "pending":
        msg = _decided(r) + "; nothing changed"
        raise AddressError(msg)
    conn.execute(sa.text(
        "update address_review set status = 'rejected', reviewer = :a, note = :n, "
        "decided_at = now() where id = :id"), {"a": actor, "n": reason, "id": int(r["id"])})
    return {**get(conn, review_id), "changed": True}


def reviews(conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The reviews of ``ids`` (any status), in id order."""
    rows = conn.execute(sa.text(f"{_SELECT} where id = any(:ids) order by id"),
                        {"ids": [int(i) for i in ids]}).mappings().all()
    return [_row(r) for r in rows]
