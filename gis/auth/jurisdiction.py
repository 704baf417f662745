"""Jurisdictions: a unit (county, township or village) and everything below it.

Unit codes nest by prefix: the county adcode (6 digits), township = adcode + 3 digits (9),
village = township + 3 (12), group grid = village + 3 (15) — the national statistical
division codes (统计用区划代码) and the demo's (``data.divisions``). :func:`covers` is the
Python twin of the SQL function ``wangge_in_scope`` of migration 0008 (the database is
where it is enforced; this copy lets code refuse early with a clear message).

Units are looked up in ``territory_unit`` first and then in the grids (a store with imported
grids but no territory units): a county is the adcode of a grid version, a township a
``township_code`` of a grid, a village the code of a level-1 grid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis._errors import AuthError

LEVELS: tuple[str, ...] = ("county", "township", "village")
"""Levels a user or token can belong to, top first."""

COUNTY_LEN = 6
"""Length of a county adcode; shorter codes (city 4, province 2) are above county."""


@dataclass(frozen=True)
class Unit:
    """A unit of territory a user or token can belong to."""

    code: str
    level: str
    name: str
    adcode: str


def covers(unit_code: str, adcode: str | None, code: str | None) -> bool:
    """Whether a row with county ``adcode`` and village / group ``code`` lies in the
    jurisdiction of ``unit_code`` (same rule as SQL ``wangge_in_scope``)."""
    if not unit_code:
        return False
    if len(unit_code) <= COUNTY_LEN:
        return adcode is not None and adcode[:len(unit_code)] == unit_code
    return code is not None and code[:len(unit_code)] == unit_code


def covers_any(units: Iterable[str], adcode: str | None, code: str | None) -> bool:
    """:func:`covers` for any of several unit codes."""
    return any(covers(u, adcode, code) for u in units)


def adcode_of(code: str) -> str:
    """County adcode of a county / township / village / group code (its first 6 digits)."""
    if len(code) < COUNTY_LEN:
        msg = f"unit code {code!r} is above county level; users and tokens belong to a " \
              "county (6-digit adcode), township (9) or village (12)"
        raise AuthError(msg)
    return code[:COUNTY_LEN]


def resolve_unit(conn: Connection, code: str) -> Unit:
    """The unit with ``code``; AuthError naming what exists when there is none."""
    code = str(code).strip()
    row = conn.execute(sa.text(
        "select code, level, name, adcode from territory_unit where code = :c"),
        {"c": code}).first()
    if row is not None:
        return Unit(str(row.code), str(row.level), str(row.name), str(row.adcode))
    if len(code) == COUNTY_LEN and conn.execute(sa.text(
            "select exists (select 1 from grid_version where adcode = :c)"), {"c": code}).scalar():
        return Unit(code, "county", code, code)
    row = conn.execute(sa.text(
        "select level, code, name, adcode, township_code from grid "
        "where (level = 1 and code = :c) or township_code = :c "
        "order by (code = :c) desc, version_id desc limit 1"), {"c": code}).first()
    if row is not None:
        if row.level == 1 and row.code == code:
            return Unit(code, "village", str(row.name), str(row.adcode))
        return Unit(code, "township", code, str(row.adcode))
    msg = f"unit {code!r} is neither a county, township nor village of this store; " \
          "see territory_unit or 'wangge grids versions' for the codes"
    raise AuthError(msg)


def below(conn: Connection, unit_code: str) -> list[Unit]:
    """The unit ``unit_code`` and every unit below it (territory_unit, else the grids of the
    newest version), top level first, then by code."""
    rows = conn.execute(sa.text(
        "select code, level, name, adcode from territory_unit "
        "where case when length(:u) <= 6 then left(adcode, length(:u)) = :u "
        "else left(code, length(:u)) = :u end"), {"u": unit_code}).all()
    if not rows:
        rows = conn.execute(sa.text("""
            with v as (select max(version_id) as id from grid
                       where case when length(:u) <= 6 then left(adcode, length(:u)) = :u
                             else left(code, length(:u)) = :u end)
            select distinct township_code as code, 'township' as level,
                   township_code as name, adcode
              from grid, v where version_id = v.id and township_code is not null
               and level = 1
            union all
            select code, 'village', name, adcode from grid, v
             where version_id = v.id and level = 1"""), {"u": unit_code}).all()
        rows = [r for r in rows if covers(unit_code, r.adcode, r.code)]
    order = {lvl: i for i, lvl in enumerate(LEVELS)}
    units = [Unit(str(r.code), str(r.level), str(r.name), str(r.adcode)) for r in rows]
    return sorted(units, key=lambda u: (order.get(u.level, 9), u.code))


def visible_codes(conn: Connection, unit_code: str) -> set[str]:
    """Codes of the units and grids (any version) a user of ``unit_code`` may see: the unit
    itself and everything below it."""
    codes = {u.code for u in below(conn, unit_code)}
    codes |= set(conn.execute(sa.text(
        "select distinct code from grid where case when length(:u) <= 6 "
        "then left(adcode, length(:u)) = :u else left(code, length(:u)) = :u end"),
        {"u": unit_code}).scalars())
    return codes
