"""一村一警一连: every village has a police officer (and the post they work from) and a militia
company (with its commander and strength).

:func:`force_coverage` builds the per-village table (who covers the village, and the flags
``no_officer``, ``no_militia``, ``officer_overloaded``, ``post_missing``,
``post_far_5km`` / ``post_far_10km``), :func:`township_summary` the status per township,
:func:`officer_load` the villages per officer. :func:`coverage_for_county` runs them on the
store (grid version in force) and :func:`import_assignments` loads assignments from a CSV.

Distances are geodesic (WGS84 ellipsoid, :class:`pyproj.Geod`) from the village's populated
centre (:func:`gis.analytics.rings.populated_centres`: population-weighted centre of its group
grids, else a point inside the village) to the officer's post. A village with several
officers is served by the one whose post is nearest: its distance and post are reported, its
officers are listed nearest first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import AnalysisError, FeatureRejected, InputFileError
from gis.analytics.rings import populated_centres

GEOD = pyproj.Geod(ellps="WGS84")

SEP = ","
"""Separator of several codes in one cell (a village with two officers)."""
NAME_SEP = "、"
"""Separator of several names in one cell."""

PROBLEMS: tuple[str, ...] = ("no_officer", "no_militia", "post_missing", "post_far",
                             "officer_overloaded")
"""Problem classes of a village, most serious first (``post_far`` stands for every
``post_far_<r>km`` flag, the largest radius first); ``ok`` when none applies."""


def far_flag(radius_m: float) -> str:
    """Column of the "officer's post beyond this distance" flag: 5000 → ``post_far_5km``."""
    return f"post_far_{radius_m / 1000:g}km"


def _radii(radii_m: Sequence[float] | None) -> tuple[float, ...]:
    radii = tuple(float(r) for r, _ in settings.RESPONSE_STANDARDS) if radii_m is None \
        else tuple(float(r) for r in radii_m)
    if any(not np.isfinite(r) or r <= 0 for r in radii):
        msg = f"coverage: radii must be distances > 0 in metres, got {radii_m!r}"
        raise AnalysisError(msg)
    return tuple(sorted(set(radii)))


def _need(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        msg = f"coverage: the {what} have no column {', '.join(map(repr, missing))}"
        raise AnalysisError(msg)


def _blank(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or \
        (isinstance(v, str) and not v.strip())


def officer_load(officers: pd.DataFrame, officer_villages: pd.DataFrame,
                 max_villages: int | None = None) -> pd.DataFrame:
    """Villages covered by each officer.

    Parameters
    ----------
    officers : DataFrame
        ``code``, ``name``, ``post_code``.
    officer_villages : DataFrame
        ``officer_code``, ``village_code`` (one row per assignment).
    max_villages : int, optional
        An officer covering more villages than this is overloaded; default
        :data:`settings.OFFICER_MAX_VILLAGES`.

    Returns
    -------
    pandas.DataFrame
        One row per officer (also officers that appear only in ``officer_villages``), sorted
        by code: ``code``, ``name``, ``post_code``, ``n_villages``, ``villages`` (codes,
        comma-separated), ``overloaded``.
    """
    _need(officers, ["code", "name", "post_code"], "officers")
    _need(officer_villages, ["officer_code", "village_code"], "officer assignments")
    limit = settings.OFFICER_MAX_VILLAGES if max_villages is None else int(max_villages)
    ov = officer_villages[["officer_code", "village_code"]].dropna().astype(str).drop_duplicates()
    per = ov.groupby("officer_code")["village_code"].agg(lambda s: sorted(s))
    codes = sorted(set(officers["code"].astype(str)) | set(per.index))
    o = officers.assign(code=officers["code"].astype(str)).drop_duplicates("code")
    o = o.set_index("code").reindex(codes)
    vs = [per.get(c, []) for c in codes]
    n = np.array([len(v) for v in vs], dtype=np.int64)
    return pd.DataFrame({"code": codes, "name": o["name"].to_numpy(dtype=object),
                         "post_code": o["post_code"].to_numpy(dtype=object),
                         "n_villages": n, "villages": [SEP.join(v) for v in vs],
                         "overloaded": n > limit})


def force_coverage(villages: gpd.GeoDataFrame, posts: gpd.GeoDataFrame, officers: pd.DataFrame,
                   officer_villages: pd.DataFrame, militia: pd.DataFrame,
                   max_villages: int | None = None, *, groups: gpd.GeoDataFrame | None = None,
                   radii_m: Sequence[float] | None = None,
                   gap_flags: Sequence[str] | None = None) -> pd.DataFrame:
    """一村一警一连 table: per village its officer, post and militia company, and the gaps.

    Parameters
    ----------
    villages : GeoDataFrame
        ``code`` and polygons (EPSG:4490); ``name``, ``township_code`` and ``population``
        are kept when present.
    posts : GeoDataFrame
        Police posts: ``code``, ``name`` and points (EPSG:4490).
    officers : DataFrame
        ``code``, ``name``, ``post_code``.
    officer_villages : DataFrame
        ``officer_code``, ``village_code``.
    militia : DataFrame
        ``code``, ``village_code``, ``name``, ``commander``, ``strength``.
    max_villages : int, optional
        Most villages per officer before ``officer_overloaded``; default
        :data:`settings.OFFICER_MAX_VILLAGES`.
    groups : GeoDataFrame, optional
        Group grids (``parent_code``, ``population``) for population-weighted centres.
    radii_m : sequence of float, optional
        Distances of the ``post_far_<r>km`` flags; default those of
        :data:`settings.RESPONSE_STANDARDS` (5 and 10 km).
    gap_flags : sequence of str, optional
        Flags that make ``status`` ``gap``; default :data:`settings.COVERAGE_GAP_FLAGS`.

    Returns
    -------
    pandas.DataFrame
        Index aligned with ``villages``: ``code``, ``name``, ``township_code``,
        ``population`` (when given), ``centre_lon``, ``centre_lat``, ``n_officers``,
        ``officer_code``, ``officer_name`` (several: comma / 、 separated, nearest post
        first), ``officer_villages`` (most villages covered by one of its officers),
        ``post_code``, ``post_name``, ``post_distance_m`` (geodesic, to the nearest of its
        officers' posts), ``n_militia``, ``militia_code``, ``militia_name``, ``commander``,
        ``strength`` (sum), the bool flags ``no_officer``, ``no_militia``,
        ``officer_overloaded``, ``overloaded_officer_code``, ``post_missing`` (officers
        but none with a known post), ``post_far_5km``, ``post_far_10km`` (beyond r: a
        known post farther than r), ``problem`` (the most serious gap flag that is true, see
        :data:`PROBLEMS`, or ``ok``) and ``status`` (``ok`` / ``gap``).
    """
    _need(villages, ["code"], "villages")
    _need(posts, ["code"], "posts")
    _need(militia, ["code", "village_code"], "militia companies")
    radii = _radii(radii_m)
    flags_far = [far_flag(r) for r in radii]
    known = {"no_officer", "no_militia", "post_missing", "officer_overloaded", *flags_far}
    gaps = tuple(settings.COVERAGE_GAP_FLAGS if gap_flags is None else gap_flags)
    unknown = [g for g in gaps if g not in known]
    if unknown:
        msg = f"coverage: unknown gap flag(s) {unknown}; known: {sorted(known)}"
        raise AnalysisError(msg)
    load = officer_load(officers, officer_villages, max_villages)

    codes = villages["code"].astype(str).to_numpy()
    out = pd.DataFrame({"code": codes}, index=villages.index)
    for col in ("name", "township_code", "population"):
        if col in villages.columns:
            out[col] = villages[col].to_numpy()
    if len(villages):
        lon, lat, _ = populated_centres(villages, groups)
    else:
        lon = lat = np.array([], dtype=float)
    out["centre_lon"], out["centre_lat"] = lon, lat

    # --- officers: one row per (village, officer), distance to the officer's post ----------
    ov = officer_villages[["officer_code", "village_code"]].dropna().astype(str)
    ov = ov[ov["village_code"].isin(set(codes))].drop_duplicates()
    lo = load.set_index("code")
    pairs = ov.assign(officer_name=ov["officer_code"].map(lo["name"]),
                      post_code=ov["officer_code"].map(lo["post_code"]),
                      officer_villages=ov["officer_code"].map(lo["n_villages"]),
                      overloaded=ov["officer_code"].map(lo["overloaded"]).astype(bool))
    pxy = pd.DataFrame({"code": posts["code"].astype(str).to_numpy(),
                        "name": posts["name"].to_numpy(dtype=object) if "name" in posts
                        else posts["code"].astype(str).to_numpy(),
                        "plon": shapely.get_x(np.asarray(posts.geometry.values)),
                        "plat": shapely.get_y(np.asarray(posts.geometry.values))})
    pxy = pxy.drop_duplicates("code").set_index("code")
    pc = pairs["post_code"].where(pairs["post_code"].notna(), None).astype(object)
    pairs["post_code"] = pc
    pairs["post_name"] = pc.map(pxy["name"])
    plon = pc.map(pxy["plon"]).astype(float).to_numpy()
    plat = pc.map(pxy["plat"]).astype(float).to_numpy()
    pos = pd.Index(codes).get_indexer(pairs["village_code"])
    dist = np.full(len(pairs), np.nan)
    ok = np.isfinite(plon) & np.isfinite(plat) & np.isfinite(lon[pos])
    if ok.any():
        _, _, d = GEOD.inv(lon[pos][ok], lat[pos][ok], plon[ok], plat[ok])
        dist[ok] = d
    pairs["distance_m"] = dist
    pairs["post_code"] = np.where(ok, pairs["post_code"], None)
    pairs["post_name"] = np.where(ok, pairs["post_name"], None)
    pairs = pairs.assign(_d=np.nan_to_num(dist, nan=np.inf)).sort_values(
        ["village_code", "_d", "officer_code"], kind="stable")
    g = pairs.groupby("village_code", sort=False)
    first = g.head(1).set_index("village_code")
    agg = pd.DataFrame({
        "n_officers": g.size(),
        "officer_code": g["officer_code"].agg(SEP.join),
        "officer_name": g["officer_name"].agg(
            lambda s: NAME_SEP.join(str(x) for x in s if not _blank(x)) or None),
        "officer_villages": g["officer_villages"].max(),
        "officer_overloaded": g["overloaded"].any(),
    })
    over = pairs[pairs["overloaded"]].groupby("village_code")["officer_code"].agg(SEP.join)
    vcode = pd.Series(codes, index=out.index)
    out["n_officers"] = vcode.map(agg["n_officers"]).fillna(0).astype(np.int64)
    for col in ("officer_code", "officer_name"):
        out[col] = vcode.map(agg[col]).astype(object)
    out["officer_villages"] = vcode.map(agg["officer_villages"]).astype("Int64")
    out["post_code"] = vcode.map(first["post_code"]).astype(object)
    out["post_name"] = vcode.map(first["post_name"]).astype(object)
    out["post_distance_m"] = vcode.map(first["distance_m"]).astype(float)

    # --- militia ------------------------------------------------------------------------
    m = militia.copy()
    m["village_code"] = m["village_code"].astype(str)
    m = m[m["village_code"].isin(set(codes))].drop_duplicates("code")
    for col in ("name", "commander", "strength"):
        if col not in m.columns:
            m[col] = None
    m["strength"] = pd.to_numeric(m["strength"], errors="coerce")
    mg = m.sort_values("code").groupby("village_code")
    magg = pd.DataFrame({
        "n_militia": mg.size(),
        "militia_code": mg["code"].agg(lambda s: SEP.join(map(str, s))),
        "militia_name": mg["name"].agg(
            lambda s: NAME_SEP.join(str(x) for x in s if not _blank(x)) or None),
        "commander": mg["commander"].agg(
            lambda s: NAME_SEP.join(str(x) for x in s if not _blank(x)) or None),
        "strength": mg["strength"].sum(min_count=1),
    })
    out["n_militia"] = vcode.map(magg["n_militia"]).fillna(0).astype(np.int64)
    for col in ("militia_code", "militia_name", "commander"):
        out[col] = vcode.map(magg[col]).astype(object)
    out["strength"] = vcode.map(magg["strength"]).round().astype("Int64")

    # --- flags --------------------------------------------------------------------------
    out["no_officer"] = out["n_officers"] == 0
    out["no_militia"] = out["n_militia"] == 0
    out["officer_overloaded"] = vcode.map(agg["officer_overloaded"]).fillna(False).astype(bool)
    over_codes = vcode.map(over)
    out["overloaded_officer_code"] = over_codes.astype(object).where(over_codes.notna(), None)
    d = out["post_distance_m"].to_numpy()
    out["post_missing"] = ~out["no_officer"].to_numpy() & ~np.isfinite(d)
    for r, f in zip(radii, flags_far, strict=True):
        out[f] = np.isfinite(d) & (np.nan_to_num(d, nan=0.0) > r)
    order = ["no_officer", "no_militia", "post_missing", *flags_far[::-1], "officer_overloaded"]
    problem = np.full(len(out), "ok", dtype=object)
    for f in order[::-1]:  # the most serious flag is written last
        if f in gaps:
            problem[out[f].to_numpy(dtype=bool)] = "post_far" if f.startswith("post_far") else f
    out["problem"] = problem
    out["status"] = np.where(problem == "ok", "ok", "gap")
    return out


def township_summary(coverage: pd.DataFrame,
                     township_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Status of 一村一警一连 per township, from a :func:`force_coverage` table.

    Returns
    -------
    pandas.DataFrame
        One row per township (sorted by code; villages without ``township_code`` under
        ``""``): ``township_code``, ``township`` (name, when given), ``villages``,
        ``with_officer``, ``with_militia``, ``officers`` (distinct officers of its villages),
        ``overloaded_officers`` (distinct), ``post_missing``, ``post_far_5km``,
        ``post_far_10km`` (villages), ``ok`` (villages whose status is ok) and ``share_ok``.
    """
    _need(coverage, ["code", "no_officer", "no_militia", "status"], "coverage rows")
    c = coverage.copy()
    c["township_code"] = c["township_code"].fillna("").astype(str) \
        if "township_code" in c.columns else ""
    far = [col for col in c.columns if col.startswith("post_far_")]

    def distinct(s: pd.Series) -> int:
        return len({x for v in s.dropna() for x in str(v).split(SEP) if x})

    g = c.groupby("township_code", sort=True)
    res = pd.DataFrame({
        "villages": g.size(),
        "with_officer": g["no_officer"].apply(lambda s: int((~s.astype(bool)).sum())),
        "with_militia": g["no_militia"].apply(lambda s: int((~s.astype(bool)).sum())),
        "officers": g["officer_code"].apply(distinct) if "officer_code" in c else 0,
        "overloaded_officers": g["overloaded_officer_code"].apply(distinct)
        if "overloaded_officer_code" in c else 0,
        "post_missing": g["post_missing"].sum() if "post_missing" in c else 0,
        **{f: g[f].sum() for f in far},
        "ok": g["status"].apply(lambda s: int((s == "ok").sum())),
    }).reset_index()
    res.insert(1, "township", res["township_code"].map(dict(township_names or {})))
    if township_names is None:
        res = res.drop(columns="township")
    res["share_ok"] = (res["ok"] / res["villages"].clip(lower=1)).round(4)
    for col in res.columns:
        if col not in ("township_code", "township", "share_ok"):
            res[col] = res[col].astype(np.int64)
    return res


# --- the store ---------------------------------------------------------------------------

@dataclass
class CountyCoverage:
    """What :func:`coverage_for_county` returns."""

    adcode: str
    version_id: int
    villages: gpd.GeoDataFrame
    """:func:`force_coverage` columns, ``township`` (name) and the village polygons."""
    townships: pd.DataFrame
    """:func:`township_summary`."""
    officers: pd.DataFrame
    """:func:`officer_load`."""
    posts: gpd.GeoDataFrame
    """Posts with ``n_officers`` and ``n_villages`` (villages of their officers)."""


def read_assignments(conn: Connection, adcode: str
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(officers, officer_villages, militia) of county ``adcode`` as stored."""
    officers = pd.DataFrame(conn.execute(sa.text(
        "select code, name, post_code from police_officer where adcode = :a order by code"),
        {"a": adcode}).all(), columns=["code", "name", "post_code"])
    ov = pd.DataFrame(conn.execute(sa.text(
        "select officer_code, village_code from officer_village where adcode = :a "
        "order by officer_code, village_code"), {"a": adcode}).all(),
        columns=["officer_code", "village_code"])
    militia = pd.DataFrame(conn.execute(sa.text(
        "select code, village_code, name, commander, strength from militia_company "
        "where adcode = :a order by code"), {"a": adcode}).all(),
        columns=["code", "village_code", "name", "commander", "strength"])
    return officers, ov, militia


def coverage_for_county(conn: Connection, adcode: str | None = None,
                        max_villages: int | None = None) -> CountyCoverage:
    """:func:`force_coverage` on the villages of the grid version in force of ``adcode``
    (default: the county whose version came into force last) and its stored forces."""
    from gis.forces import posts as read_posts
    from gis.grids import versions
    from gis.grids.store import read_grids
    from gis.territory import units

    vid = versions.in_force(conn, adcode)
    if vid is None:
        msg = "no grid version in force: load the demo ('wangge demo') or publish grids"
        raise AnalysisError(msg)
    adcode = str(versions.get_version(conn, vid)["adcode"])
    villages = read_grids(conn, vid, level=1)
    groups = read_grids(conn, vid, level=2)
    posts = read_posts(conn, adcode)
    officers, ov, militia = read_assignments(conn, adcode)
    towns = units(conn, "township", adcode)
    names = dict(zip(towns["code"], towns["name"], strict=True))
    table = force_coverage(villages, posts, officers, ov, militia, max_villages, groups=groups)
    table.insert(table.columns.get_loc("township_code") + 1, "township",
                 table["township_code"].map(names))
    gdf = gpd.GeoDataFrame(table, geometry=villages.geometry.values, crs=settings.STORAGE_SRID)
    load = officer_load(officers, ov, max_villages)
    p = posts.copy()
    p["n_officers"] = p["code"].map(load.groupby("post_code").size()).fillna(0).astype(int)
    p["n_villages"] = p["code"].map(load.groupby("post_code")["n_villages"].sum()) \
        .fillna(0).astype(int)
    return CountyCoverage(adcode=adcode, version_id=int(vid), villages=gdf,
                          townships=township_summary(table, names), officers=load, posts=p)


# --- import of assignments from CSV ------------------------------------------------------

COLUMNS: dict[str, tuple[str, ...]] = {
    "village_code": ("village_code", "village", "村编码", "村代码", "村编号", "行政村编码",
                     "村级网格编码", "村网格编码"),
    "officer_code": ("officer_code", "officer", "民警编号", "民警编码", "警号", "驻村民警编号",
                     "社区民警编号"),
    "officer_name": ("officer_name", "民警姓名", "民警", "驻村民警", "社区民警", "民警名称"),
    "post_code": ("post_code", "post", "警务室编码", "派出所编码", "驻点编码", "所属派出所编码",
                  "警务室编号", "派出所编号", "驻点"),
    "militia_code": ("militia_code", "militia", "民兵连编码", "民兵连编号", "民兵连代码"),
    "militia_name": ("militia_name", "民兵连名称", "民兵连", "民兵连名"),
    "commander": ("commander", "连长", "民兵连长", "指挥员", "民兵连连长"),
    "strength": ("strength", "人数", "民兵人数", "兵力", "编制人数", "民兵连人数"),
}
"""Accepted column names (case, spaces and underscores ignored) of an assignments CSV."""

_CODE_LEN = {"village_code": 15, "officer_code": 20, "post_code": 20, "militia_code": 20}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-\ufeff]+", "", str(name)).lower()


def rejects_path_for(path: str | Path) -> Path:
    """Where the rejected rows of ``path`` go: ``<file>.rejected.csv`` beside it."""
    p = Path(path)
    return p.with_name(p.name + ".rejected.csv")


@dataclass
class ImportSummary:
    """What :func:`import_assignments` did."""

    rows: int
    villages: int
    assignments: int
    officers: int
    officers_new: int
    militia: int
    replaced_assignments: int
    replaced_militia: int


def _read(path: Path) -> pd.DataFrame:
    from gis.geocode_csv import read_csv

    if not path.exists():
        msg = f"{path}: no such file"
        raise InputFileError(msg)
    df = read_csv(path)
    lookup = {_key(a): k for k, names in COLUMNS.items() for a in names}
    rename: dict[str, str] = {}
    for col in df.columns:
        k = lookup.get(_key(col))
        if k is not None and k not in rename.values():
            rename[col] = k
    df = df.rename(columns=rename)
    if "village_code" not in df.columns:
        msg = (f"{path}: no village code column; name it village_code (or 村编码). Columns "
               f"found: {', '.join(map(str, df.columns))}")
        raise InputFileError(msg)
    if not ({"officer_code", "militia_code", "militia_name"} & set(df.columns)):
        msg = (f"{path}: neither officer (officer_code / 民警编号) nor militia (militia_code, "
               "militia_name / 民兵连编码, 民兵连名称) columns; nothing to import")
        raise InputFileError(msg)
    for k in COLUMNS:
        if k not in df.columns:
            df[k] = ""
        df[k] = df[k].fillna("").astype(str).str.strip()
    return df


def _known_villages(conn: Connection, adcode: str) -> set[str]:
    from gis.grids import versions

    codes = set(conn.execute(sa.text(
        "select code from territory_unit where level = 'village' and adcode = :a"),
        {"a": adcode}).scalars())
    vid = versions.in_force(conn, adcode)
    if vid is not None:
        codes |= set(conn.execute(sa.text(
            "select code from grid where version_id = :v and level = 1"), {"v": vid}).scalars())
    return codes


def infer_adcode(codes: Sequence[str], path: str | Path) -> str:
    """The county adcode shared by the first six digits of all village ``codes``."""
    prefixes = {str(c)[:6] for c in codes if str(c)}
    if len(prefixes) == 1 and next(iter(prefixes)).isdigit():
        return prefixes.pop()
    msg = (f"{path}: cannot tell the county from the village codes (prefixes "
           f"{', '.join(sorted(prefixes)[:5]) or 'none'}); give the adcode (--adcode)")
    raise InputFileError(msg)


def import_assignments(conn: Connection, path: str | Path,
                       adcode: str | None = None) -> ImportSummary:
    """Load 一村一警一连 assignments of county ``adcode`` from a CSV, all or nothing.

    Columns (any order; the Chinese names of :data:`COLUMNS` work too): ``village_code``
    (required), ``officer_code``, ``officer_name``, ``post_code``, ``militia_code``,
    ``militia_name``, ``commander``, ``strength``. One row per (village, officer); a
    village with two officers takes two rows. A row with an empty officer (or militia)
    records a village without one. ``militia_code`` defaults to ``<village_code>MB`` when
    only a name is given. An existing officer / company keeps its stored name, post,
    commander or strength where the file leaves them empty.

    Every row is checked first: unknown village codes (not a village of the county, in
    ``territory_unit`` or the grid version in force), unknown post codes (not a post of the
    county), codes of another county, a new officer or company without a name, details that
    contradict an earlier row, a strength that is not a whole number ≥ 0. If any row is
    rejected, the rejected rows go to ``<file>.rejected.csv`` (``row`` = line in the file,
    the header being line 1, ``field``, ``reason`` and the row's values) and
    :class:`FeatureRejected` is raised with nothing written. Otherwise, in one transaction
    (a savepoint when the caller has one open), the county's officer assignments and militia
    companies of the villages in the file are replaced: importing the same file twice gives
    the same state. ``adcode`` defaults to the first six digits of the village codes.
    Runs in a transaction of its own, or in a savepoint of the caller's open transaction
    (which the caller then commits).
    """
    path = Path(path)
    df = _read(path)
    adcode = adcode or infer_adcode(list(df["village_code"]), path)
    if conn.in_transaction():
        with conn.begin_nested():
            return _import(conn, path, df, adcode)
    with conn.begin():
        return _import(conn, path, df, adcode)


def _import(conn: Connection, path: Path, df: pd.DataFrame, adcode: str) -> ImportSummary:
    rpath = rejects_path_for(path)
    villages = _known_villages(conn, adcode)
    posts_here = set(conn.execute(sa.text("select code from police_post where adcode = :a"),
                                  {"a": adcode}).scalars())
    off_db = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(sa.text(
        "select code, adcode, name, post_code from police_officer where code = any(:c)"),
        {"c": sorted(set(df["officer_code"]) - {""})}).all()}
    mil_db = {r[0]: (r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(sa.text(
        "select code, adcode, village_code, name, commander, strength from militia_company "
        "where code = any(:c)"),
        {"c": sorted(set(df["militia_code"]) | {f"{v}MB" for v in df["village_code"]})}).all()}
    in_file = set(df["village_code"])

    problems: dict[int, list[tuple[str, str]]] = {}
    officer_seen: dict[str, dict[str, tuple[str, int]]] = {}
    militia_seen: dict[str, dict[str, tuple[str, int]]] = {}
    officers: dict[str, dict[str, str | None]] = {}
    officer_row: dict[str, int] = {}
    companies: dict[str, dict[str, object]] = {}
    pairs: set[tuple[str, str]] = set()

    def bad(i: int, fld: str, why: str) -> None:
        problems.setdefault(i, []).append((fld, why))

    def same(seen: dict[str, dict[str, tuple[str, int]]], code: str, fld: str, value: str,
             i: int, what: str) -> None:
        if not value:
            return
        prev = seen.setdefault(code, {}).get(fld)
        if prev is None:
            seen[code][fld] = (value, i)
        elif prev[0] != value:
            bad(i, fld, f"{what} {code}: {fld} {value!r} differs from {prev[0]!r} in row "
                        f"{prev[1]}")

    for n, r in enumerate(df.itertuples(index=False)):
        i = n + 2  # line in the file: the header is line 1
        v, oc, on, pc = r.village_code, r.officer_code, r.officer_name, r.post_code
        mc, mn, cm, st = r.militia_code, r.militia_name, r.commander, r.strength
        for fld, most in _CODE_LEN.items():
            val = getattr(r, fld)
            if len(val) > most or SEP in val:
                bad(i, fld, f"{fld} {val!r} is not a code (at most {most} characters, "
                            "no comma)")
        if not v:
            bad(i, "village_code", "village code missing")
        elif v not in villages:
            bad(i, "village_code", f"unknown village code {v!r}: not a village of county "
                                   f"{adcode}")
        if pc and pc not in posts_here:
            bad(i, "post_code", f"unknown post code {pc!r}: not a police post of county "
                                f"{adcode}")
        if not oc and (on or pc):
            bad(i, "officer_code", "officer name or post given without an officer code")
        if oc:
            db = off_db.get(oc)
            if db is not None and db[0] != adcode:
                bad(i, "officer_code", f"officer {oc} belongs to county {db[0]}")
            same(officer_seen, oc, "officer_name", on, i, "officer")
            same(officer_seen, oc, "post_code", pc, i, "officer")
        if not mc and mn:
            mc = f"{v}MB"
        if not mc and (cm or st):
            bad(i, "militia_code", "commander or strength given without a militia company "
                                   "code or name")
        if st and not re.fullmatch(r"\d+(\.0+)?", st):
            bad(i, "strength", f"strength {st!r} is not a whole number ≥ 0")
        if mc:
            db = mil_db.get(mc)
            if db is not None and db[0] != adcode:
                bad(i, "militia_code", f"militia company {mc} belongs to county {db[0]}")
            elif db is not None and db[1] != v and db[1] not in in_file:
                bad(i, "militia_code", f"militia company {mc} belongs to village {db[1]}, "
                                       "which is not in this file")
            same(militia_seen, mc, "village_code", v, i, "militia company")
            same(militia_seen, mc, "militia_name", mn, i, "militia company")
            same(militia_seen, mc, "commander", cm, i, "militia company")
            same(militia_seen, mc, "strength", st, i, "militia company")
        if i in problems:
            continue
        if oc:
            pairs.add((oc, v))
            o = officers.setdefault(oc, {"name": None, "post_code": None})
            officer_row.setdefault(oc, i)
            o["name"] = o["name"] or on or None
            o["post_code"] = o["post_code"] or pc or None
        if mc:
            c = companies.setdefault(mc, {"village_code": v, "name": None, "commander": None,
                                          "strength": None, "row": i})
            c["name"] = c["name"] or mn or None
            c["commander"] = c["commander"] or cm or None
            c["strength"] = c["strength"] if c["strength"] is not None else (
                int(float(st)) if st else None)
    for oc, o in officers.items():  # names of new officers / companies
        db = off_db.get(oc)
        if o["name"] is None and db is None:
            bad(officer_row[oc], "officer_name", f"new officer {oc}: give officer_name")
    for mc, c in companies.items():
        db = mil_db.get(mc)
        if c["name"] is None and (db is None or db[0] != adcode):
            bad(int(c["row"]), "militia_name", f"new militia company {mc}: give "
                                                    "militia_name")

    if problems:
        rows = []
        for i in sorted(problems):
            rec = {"row": i, "field": "; ".join(f for f, _ in problems[i]),
                   "reason": "; ".join(w for _, w in problems[i])}
            rec.update(df.iloc[i - 2].to_dict())
            rows.append(rec)
        rej = pd.DataFrame(rows)
        rej.to_csv(rpath, index=False, encoding="utf-8-sig")
        rejects = [(i, f, w) for i in sorted(problems) for f, w in problems[i]]
        first = rejects[0]
        msg = (f"{path}: {len(problems)} of {len(df)} rows rejected, nothing imported "
               f"(first: row {first[0]}, {first[1]}: {first[2]}); all reasons in {rpath}")
        raise FeatureRejected(msg, rejects, str(rpath))
    if rpath.exists():
        rpath.unlink()  # a stale list from an earlier failed attempt

    vs = sorted(in_file)
    rep_a = conn.execute(sa.text(
        "delete from officer_village where adcode = :a and village_code = any(:v)"),
        {"a": adcode, "v": vs}).rowcount
    rep_m = conn.execute(sa.text(
        "delete from militia_company where adcode = :a and village_code = any(:v)"),
        {"a": adcode, "v": vs}).rowcount
    if officers:
        conn.execute(sa.text("""
            insert into police_officer (code, adcode, name, post_code)
            values (:code, :a, :new_name, :new_post)
            on conflict (code) do update set
                name = coalesce(cast(:name as text), police_officer.name),
                post_code = coalesce(cast(:post as text), police_officer.post_code)"""),
            [{"code": oc, "a": adcode, "new_name": o["name"] or oc, "name": o["name"],
              "new_post": o["post_code"], "post": o["post_code"]}
             for oc, o in sorted(officers.items())])
    if pairs:
        conn.execute(sa.text(
            "insert into officer_village (officer_code, village_code, adcode) "
            "values (:o, :v, :a)"),
            [{"o": oc, "v": v, "a": adcode} for oc, v in sorted(pairs)])
    if companies:
        conn.execute(sa.text(
            "insert into militia_company (code, adcode, village_code, name, commander, "
            "strength) values (:c, :a, :v, :n, :cm, :s)"),
            [{"c": mc, "a": adcode, "v": c["village_code"],
              "n": c["name"] or (mil_db[mc][2] if mc in mil_db else mc),
              "cm": c["commander"] or (mil_db[mc][3] if mc in mil_db else None),
              "s": c["strength"] if c["strength"] is not None else (
                  mil_db[mc][4] if mc in mil_db else None)}
             for mc, c in sorted(companies.items())])
    return ImportSummary(rows=len(df), villages=len(vs), assignments=len(pairs),
                         officers=len(officers),
                         officers_new=sum(1 for oc in officers if oc not in off_db),
                         militia=len(companies), replaced_assignments=int(rep_a),
                         replaced_militia=int(rep_m))
