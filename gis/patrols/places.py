"""Key areas (重点区域) and key road sections (重点路段): import, store, read back.

Input: GeoJSON / GPKG / Shapefile / FlatGeobuf (read with pyogrio), one feature per area
(Polygon / MultiPolygon) or section (LineString / MultiLineString), with attributes
``name`` (名称), ``village_code`` (village / 村代码 / 所属村: the code of the village
grid it belongs to), optional ``code`` (编号; default ``<source>-<feature number>``) and,
for areas, ``kind`` (类型: market, school, river_bank … any short text; default
``other``). Re-importing the same codes updates them (upsert by ``(adcode, code)``).

Every feature is checked (feature number from 1): geometry of the right kind and not empty
(an invalid polygon is repaired with ``make_valid`` when it stays polygonal), a name, a
village code **that is a village of the county** (territory units or village grids of any
of its versions), a code used once per file. Key places are reference data: by default a
file with any bad feature loads nothing (``strict``).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import InputFileError
from gis.crs import CrsSpec, to_metric, to_storage
from gis.patrols.read import Reject
from gis.store.bulk import copy_rows

ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "编号", "代码"),
    "name": ("name", "名称", "名字"),
    "village_code": ("village_code", "village", "村代码", "村编码", "所属村", "村"),
    "kind": ("kind", "type", "类型", "类别"),
}
"""Attributes of key places → accepted names (case and spaces ignored)."""

KINDS: dict[str, tuple[str, ...]] = {"areas": ("Polygon", "MultiPolygon"),
                                     "sections": ("LineString", "MultiLineString")}
TABLES = {"areas": "key_area", "sections": "key_section"}


def _norm(name: object) -> str:
    return "".join(str(name).split()).lower()


def read_places(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """A vector file as a GeoDataFrame (pyogrio); InputFileError when unreadable."""
    p = Path(path)
    if not p.exists():
        msg = f"{p}: no such file"
        raise InputFileError(msg)
    try:
        return gpd.read_file(p, layer=layer, engine="pyogrio")
    except Exception as e:  # pyogrio raises its own DataSourceError / DataLayerError
        msg = f"{p}: cannot be read as a vector file ({str(e).strip()[:200]})"
        raise InputFileError(msg) from e


def known_villages(conn: Connection, adcode: str) -> dict[str, str]:
    """Village code → name of the county: territory units and village grids of any version."""
    rows = conn.execute(sa.text(
        "select code, name from territory_unit where adcode = :a and level = 'village' "
        "union select code, name from grid where adcode = :a and level = 1 "
        "order by 1, 2"), {"a": adcode}).all()
    return {str(c): str(n) for c, n in rows}


def _text(v: object) -> str | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    s = str(v).strip()
    if s.endswith(".0") and s[:-2].isdigit():  # codes read as floats from a spreadsheet
        s = s[:-2]
    return s or None


def check_places(gdf: gpd.GeoDataFrame, kind: str, source: str, villages: dict[str, str],
                 spec: CrsSpec | None = None) -> tuple[gpd.GeoDataFrame, list[Reject]]:
    """Checked key areas / sections (EPSG:4490, Multi geometries) and the rejects.

    ``spec``: the coordinate system of the coordinates (default: the file's own, else
    EPSG:4326).
    """
    have = {_norm(c): c for c in gdf.columns if c != gdf.geometry.name}
    col = {f: next((have[_norm(n)] for n in names if _norm(n) in have), None)
           for f, names in ALIASES.items()}
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if len(geoms):
        if spec is not None:
            geoms = to_storage(geoms, spec)
        elif gdf.crs is not None:
            geoms = to_storage(geoms, None, source_crs=gdf.crs)
    rejects: list[Reject] = []
    rows, seen = [], set()
    sample = ", ".join(sorted(villages)[:3])
    for i in range(len(gdf)):
        n = i + 1
        rec = gdf.iloc[i]
        code = _text(rec[col["code"]]) if col["code"] else None
        code = code or f"{source}-{n}"
        name = _text(rec[col["name"]]) if col["name"] else None
        village = _text(rec[col["village_code"]]) if col["village_code"] else None
        g = geoms[i]

        def rej(fld: str, why: str, code: str = code, n: int = n) -> None:
            rejects.append(Reject(n, code, fld, why))

        if g is None or shapely.is_empty(g):
            rej("geometry", "bad_geometry: no geometry")
            continue
        if g.geom_type not in KINDS[kind]:
            rej("geometry", f"bad_geometry: a {g.geom_type}; key {kind} must be "
                            f"{' or '.join(KINDS[kind])}")
            continue
        if kind == "areas" and not g.is_valid:
            g = shapely.make_valid(g)
            g = shapely.union_all([p for p in shapely.get_parts(g)
                                   if p.geom_type in ("Polygon", "MultiPolygon")])
            if g.is_empty or g.geom_type not in KINDS[kind]:
                rej("geometry", "bad_geometry: invalid polygon that cannot be repaired")
                continue
        if not name:
            rej("name", "missing_field: no name (名称 / name)")
            continue
        if not village:
            rej("village_code", "missing_field: no village code (村代码 / village_code)")
            continue
        if village not in villages:
            rej("village_code", f"unknown_village: {village!r} is not a village of county "
                                f"{'(none loaded)' if not villages else '— e.g. ' + sample}")
            continue
        if code in seen:
            rej("code", f"duplicate_id: code {code!r} is used by an earlier feature")
            continue
        seen.add(code)
        multi = shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else \
            shapely.MultiLineString([g]) if g.geom_type == "LineString" else g
        kind_text = _text(rec[col["kind"]]) if col["kind"] and kind == "areas" else None
        rows.append({"feature": n, "code": code, "name": name, "village_code": village,
                     "kind": (kind_text or "other")[:24], "geometry": multi})
    out = gpd.GeoDataFrame(pd.DataFrame(rows, columns=["feature", "code", "name",
                                                       "village_code", "kind", "geometry"]),
                           geometry="geometry", crs=settings.STORAGE_SRID)
    return out, rejects


def save_places(conn: Connection, places: gpd.GeoDataFrame, kind: str, adcode: str,
                source: str | None) -> tuple[int, int]:
    """Upsert checked key areas / sections by ``(adcode, code)`` in the caller's
    transaction; returns (inserted, updated)."""
    if places.empty:
        return 0, 0
    table = TABLES[kind]
    geoms = np.asarray(places.geometry.values, dtype=object)
    hexes = shapely.to_wkb(shapely.set_srid(geoms, settings.STORAGE_SRID), hex=True,
                           include_srid=True)
    cols = ["adcode", "code", "village_code", "name", "source", "geom"]
    extra = places["kind"].tolist() if kind == "areas" else \
        shapely.length(to_metric(geoms)[0]).tolist()
    cols.append("kind" if kind == "areas" else "length_m")
    conn.execute(sa.text(f"create temp table if not exists {table}_in "
                         f"(like {table} including defaults) on commit drop"))
    conn.execute(sa.text(f"alter table {table}_in drop column if exists id"))
    conn.execute(sa.text(f"truncate {table}_in"))
    copy_rows(conn, f"{table}_in", cols, zip(
        [adcode] * len(places), places["code"], places["village_code"], places["name"],
        [source] * len(places), hexes, extra, strict=True))
    names = ", ".join(cols)
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in ("adcode", "code"))
    flags = conn.execute(sa.text(
        f"insert into {table} ({names}) select {names} from {table}_in "
        f"on conflict (adcode, code) do update set {sets} returning (xmax = 0)")).scalars().all()
    conn.execute(sa.text(f"truncate {table}_in"))
    inserted = sum(bool(f) for f in flags)
    return inserted, len(flags) - inserted


def places_frame(conn: Connection, adcode: str, kind: str) -> gpd.GeoDataFrame:
    """Stored key areas (``kind='areas'``) or sections of a county, EPSG:4490, by code."""
    table = TABLES[kind]
    extra = "kind" if kind == "areas" else "length_m"
    df = pd.DataFrame(conn.execute(sa.text(
        f"select id, code, name, village_code, {extra}, st_asbinary(geom) as wkb "
        f"from {table} where adcode = :a order by code"), {"a": adcode}).all(),
        columns=["id", "code", "name", "village_code", extra, "wkb"])
    geoms = shapely.from_wkb(np.asarray([bytes(b) for b in df["wkb"]], dtype=object)) \
        if len(df) else np.array([], dtype=object)
    return gpd.GeoDataFrame(df.drop(columns="wkb"), geometry=list(geoms),
                            crs=settings.STORAGE_SRID)
