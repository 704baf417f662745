"""一村一警一连 table and status: per village its officer, post and militia company, and the gaps.

:func:`force_coverage` builds the per-village table (who covers the village, and the flags
``no_officer``, ``no_militia``, ``officer_overloaded``, ``post_missing``,
``post_far_5km`` / ``post_far_10km``), :func:`township_summary` the status per township,
:func:`officer_load` the villages per officer (pure functions on frames).

Distances are geodesic (WGS84 ellipsoid, :class:`pyproj.Geod`) from the village's populated
centre (:func:`gis.analytics.rings.populated_centres`: population-weighted centre of its group
grids, else a point inside the village) to the officer's post. A village with several
officers is served by the one whose post is nearest: its distance and post are reported, its
officers are listed nearest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gis import settings
from gis._errors import AnalysisError
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
