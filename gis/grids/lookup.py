"""Point lookups against the grids of a version: a cached :class:`gis.geocode.GridIndex`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis._errors import GeocodeError
from gis.geocode import GridIndex
from gis.grids import versions
from gis.grids.store import read_grids


@dataclass
class GridLookup:
    """Group and village grids of one version, ready for bulk point-in-grid lookups."""

    version_id: int
    index: GridIndex
    group_codes: np.ndarray
    group_names: np.ndarray
    village_codes: np.ndarray  # parent village of each group, aligned with group_codes
    village_names: np.ndarray
    township_codes: np.ndarray

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Position of each point's group grid in ``group_codes``; -1 outside every grid."""
        return self.index.locate(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))


_CACHE: dict[tuple[str, int], GridLookup] = {}


def lookup_for_version(conn: Connection, version_id: int) -> GridLookup:
    """Build (or reuse) the lookup of a version; versions are immutable once published."""
    key = (str(conn.engine.url), version_id)
    status = versions.get_version(conn, version_id)["status"]
    if status != "draft" and key in _CACHE:
        return _CACHE[key]
    groups = read_grids(conn, version_id, level=2)
    if groups.empty:
        msg = f"grid version {version_id} has no group grids; import them with " \
              "'wangge grids import FILE --level group'"
        raise GeocodeError(msg)
    villages = dict(conn.execute(sa.text(
        "select code, name from grid where version_id = :v and level = 1"),
        {"v": version_id}).all())
    idx = GridIndex.build(list(groups["code"]), np.asarray(groups.geometry.values))
    order = {c: i for i, c in enumerate(groups["code"])}
    pos = np.array([order[c] for c in idx.codes])
    g = groups.iloc[pos]
    lk = GridLookup(
        version_id=version_id, index=idx,
        group_codes=np.asarray(g["code"], dtype=object),
        group_names=np.asarray(g["name"], dtype=object),
        village_codes=np.asarray(g["parent_code"], dtype=object),
        village_names=np.asarray([villages.get(p) for p in g["parent_code"]], dtype=object),
        township_codes=np.asarray(g["township_code"], dtype=object),
    )
    if status != "draft":
        _CACHE[key] = lk
    return lk


def lookup_in_force(conn: Connection, adcode: str | None = None, on=None) -> GridLookup:  # noqa: ANN001
    """Lookup of the version in force on ``on`` (default today)."""
    vid = versions.in_force(conn, adcode, on)
    if vid is None:
        msg = "no published grid version is in force; load the demo ('wangge demo') or " \
              "import grids with 'wangge grids import ... --publish'"
        raise GeocodeError(msg)
    return lookup_for_version(conn, vid)
