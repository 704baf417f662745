"""Validate a stored grid version against its county (DB glue around :mod:`gis.grids.topology`)."""

from __future__ import annotations

import shapely
from sqlalchemy.engine import Connection

from gis._errors import NotFoundError
from gis.grids import versions
from gis.grids.store import read_grids
from gis.grids.topology import Problem, validate
from gis.territory import units


def validate_version(conn: Connection, version_id: int | None = None,
                     tolerance_m2: float | None = None) -> tuple[int, list[Problem]]:
    """Problems of a version (default: in force today, else the newest draft).

    The territory is the county unit of the version's adcode when it is stored; without it
    only holes enclosed by the villages count as gaps. Returns (version id, problems).
    """
    vid = version_id or versions.in_force(conn)
    if vid is None:
        msg = "no grid version in force; pass --version"
        raise NotFoundError(msg)
    v = versions.get_version(conn, vid)
    county = units(conn, "county", str(v["adcode"]))
    territory = None
    if len(county) and county.geometry.iloc[0] is not None:
        territory = shapely.union_all(county.geometry.values)
    villages = read_grids(conn, vid, level=1)
    groups = read_grids(conn, vid, level=2)
    return vid, validate(villages, groups if len(groups) else None, territory, tolerance_m2)
