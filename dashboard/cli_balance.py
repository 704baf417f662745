"""CLI commands for grid balance and repair: ``wangge grids report`` and ``wangge grids fix``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
import typer
from rich.table import Table

from dashboard.cli import JsonOpt, domain_errors, engine, err, grids_app, out, summary
from gis._errors import NotFoundError

_CSV_DECIMALS = {"area_km2": 4, "incidents_per_week": 3, "residents_per_worker": 1,
                 "compactness": 4, "dist_to_post_m": 1, "households_mean": 1,
                 "households_cv": 4, "population_mean": 1, "population_cv": 4}
_FLAGGED_JSON = ["code", "name", "parent_code", "households", "population", "area_km2",
                 "residents_per_worker", "too_large", "too_small", "reason"]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records", force_ascii=False))


def _num(v: Any, fmt: str) -> str:
    return "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) \
        else format(v, fmt)


# --- report ------------------------------------------------------------------------------

def _top_rows(df: pd.DataFrame, top: int) -> pd.DataFrame:
    """Up to ``top`` rows: the largest too_large and the smallest too_small grids (half each
    when both kinds are there), then unflagged ones."""
    hh = df["households"].astype("Float64").fillna(-1).astype(float)
    large = df.index[df["too_large"]][np.argsort(-hh[df["too_large"]].to_numpy(),
                                                 kind="stable")]
    only_small = df["too_small"] & ~df["too_large"]
    small = df.index[only_small][np.argsort(hh[only_small].to_numpy(), kind="stable")]
    top = max(top, 0)
    n_large = min(len(large), max(top - len(small), (top + 1) // 2))
    picked = [*large[:n_large], *small[:top - n_large]]
    rest = df.index[~(df["too_large"] | df["too_small"])]
    picked += list(rest[:top - len(picked)])
    return df.loc[picked]

@grids_app.command("report")
@domain_errors
def grids_report(
    version: Annotated[int | None, typer.Option(help="Version id (default: in force).")] = None,
    level: Annotated[str, typer.Option(help="group (level 2) or village (level 1).")] = "group",
    weeks: Annotated[int | None, typer.Option(
        help="Incidents per week over the last N weeks (default settings.BALANCE_WEEKS).")] = None,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Write the full table to this CSV (UTF-8 with BOM, opens in Excel).")] = None,
    top: Annotated[int, typer.Option(help="Rows printed (flagged grids first).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Balance metrics per grid (households, area, incidents/week, residents per worker,
    compactness, distance to the nearest police post) and too_large / too_small flags."""
    from gis.grids.metrics import report_for_version
    from gis.grids.store import LEVELS

    if level not in LEVELS:
        err.print(f"--level must be one of {sorted(LEVELS)}, got {level!r}")
        raise typer.Exit(2)
    with engine().connect() as conn:
        df, _ = report_for_version(conn, version, weeks, level=LEVELS[level])
    a = df.attrs
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        df.round({k: v for k, v in _CSV_DECIMALS.items() if k in df.columns}).to_csv(
            out_path, index=False, encoding="utf-8-sig")
    counts = {"version": a["version_id"], "adcode": a["adcode"], "level": level,
              "weeks": a["weeks"], "since": a["since"].isoformat(),
              "until": a["until"].isoformat(), "grids": len(df),
              "too_large": int(df["too_large"].sum()), "too_small": int(df["too_small"].sum()),
              "out": str(out_path) if out_path else None}
    flagged = df[df["too_large"] | df["too_small"]]
    if as_json:
        print(json.dumps({**counts, "flagged": _records(flagged[_FLAGGED_JSON])},
                         ensure_ascii=False, default=str))
        return
    shown = _top_rows(df, top)
    cols = ["code", "name", "households", "population", "km²", "inc/wk", "res/worker",
            "compact", "post m"]
    if level == "village":
        cols += ["groups", "hh cv"]
    table = Table(*cols, "flag", "reason",
                  title=f"grid balance — version {a['version_id']}, {level} grids, incidents "
                        f"{a['since']:%Y-%m-%d} – {a['until']:%Y-%m-%d} ({a['weeks']} weeks); "
                        f"{len(shown)} of {len(df)} rows")
    for r in shown.itertuples(index=False):
        cells = [str(r.code), str(r.name or ""), _num(r.households, ","), _num(r.population, ","),
                 _num(r.area_km2, ".3f"), _num(r.incidents_per_week, ".2f"),
                 _num(r.residents_per_worker, ",.0f"), _num(r.compactness, ".3f"),
                 _num(r.dist_to_post_m, ",.0f")]
        if level == "village":
            cells += [str(r.groups), _num(r.households_cv, ".2f")]
        flag = " ".join(f for f, on in (("[red]too_large[/]", r.too_large),
                                        ("[yellow]too_small[/]", r.too_small)) if on)
        table.add_row(*cells, flag, str(r.reason))
    out.print(table)
    summary("flags", {k: v for k, v in counts.items() if k not in ("since", "until")}, False)


# --- fix ---------------------------------------------------------------------------------

def _hausdorff_m(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Hausdorff distance (m) of each pair, measured in UTM after densifying in degrees."""
    from gis.crs import to_metric

    n = len(before)
    m, _ = to_metric(shapely.segmentize(np.concatenate([before, after]), 0.002))
    return shapely.hausdorff_distance(m[:n], m[n:])


def _multi(geoms: np.ndarray) -> np.ndarray:
    geoms = np.asarray(geoms, dtype=object).copy()
    poly = shapely.get_type_id(geoms) == 3
    if poly.any():
        geoms[poly] = shapely.multipolygons(geoms[poly][:, None])
    return geoms


_FRAME = "\x00territory-frame"


def _snap(gdf: gpd.GeoDataFrame, tolerance_m: float,
          territory: Any) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """:func:`gis.grids.topology_fix.snap_fix` of one level, inside a frame around the territory.

    The coverage cleaner closes only gaps enclosed by the coverage; a frame (a box around the
    territory minus the territory) encloses the gaps that reach the county border too, the
    ones validation reports. The frame itself is dropped from the result and the changes.
    """
    from gis.grids.topology_fix import snap_fix

    if territory is None or shapely.is_empty(territory):
        return snap_fix(gdf, tolerance_m)
    x0, y0, x1, y1 = shapely.bounds(territory)
    pad = 0.05 * max(x1 - x0, y1 - y0, 0.01)
    try:
        frame = shapely.difference(shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad),
                                   shapely.make_valid(territory))
    except shapely.errors.GEOSException:  # an unusable territory: fix enclosed gaps only
        return snap_fix(gdf, tolerance_m)
    if shapely.get_type_id(frame) not in (3, 6):
        return snap_fix(gdf, tolerance_m)
    sub = gpd.GeoDataFrame({"code": [*gdf["code"].astype(str), _FRAME]},
                           geometry=[*gdf.geometry.values, frame], crs=gdf.crs)
    fixed, changes = snap_fix(sub, tolerance_m)
    out = gdf.copy()
    out["geometry"] = gpd.GeoSeries(fixed.geometry.values[:-1], index=gdf.index, crs=gdf.crs)
    return out, [c for c in changes if c["code"] != _FRAME]


def fix_levels(villages: gpd.GeoDataFrame, groups: gpd.GeoDataFrame | None,
               tolerance_m: float, territory: Any = None,
               ) -> tuple[dict[int, gpd.GeoDataFrame], list[dict[str, Any]]]:
    """Snap-fix both grid levels so that they still match each other.

    ``territory`` (the county, EPSG:4490; optional) makes gaps along the county border
    closable too (see :func:`_snap`). The groups are fixed first
    (:func:`gis.grids.topology_fix.snap_fix`); each village whose
    groups changed is then rebuilt as the union of its fixed groups, accepted only when that
    moves its boundary by at most ``tolerance_m`` (else left as it was, ``not_fixed``).
    Villages without groups are fixed among all the villages with ``snap_fix``; a village that
    has groups keeps the shape of its groups (a village-level defect its groups do not share
    is reported ``not_fixed``: fix it at the group level or redraw it).

    Returns ({level: fixed GeoDataFrame}, change records of snap_fix with a ``level`` key).
    """
    fixed: dict[int, gpd.GeoDataFrame] = {}
    changes: list[dict[str, Any]] = []
    vcodes = villages["code"].astype(str).to_numpy()
    vgeoms = np.asarray(villages.geometry.values, dtype=object).copy()
    has_groups = np.zeros(len(vcodes), bool)
    if groups is not None and len(groups):
        fg, gch = _snap(groups, tolerance_m, territory)
        fixed[2] = fg
        changes += [{"level": 2, **c} for c in gch]
        parents = fg["parent_code"].astype(str).to_numpy()
        has_groups = np.isin(vcodes, parents)
        moved = {c["code"] for c in gch if c["action"] in ("snapped", "noded")}
        touched = set(parents[fg["code"].astype(str).isin(moved).to_numpy()])
        idx = np.flatnonzero(np.isin(vcodes, list(touched)))
        if len(idx):
            ggeoms = np.asarray(fg.geometry.values, dtype=object)
            cand = np.array([shapely.union_all(ggeoms[parents == vcodes[i]]) for i in idx],
                            dtype=object)
            old = vgeoms[idx]
            keep_multi = shapely.get_type_id(old) == 6
            cand[keep_multi] = _multi(cand[keep_multi])
            same = shapely.equals_exact(shapely.normalize(cand), shapely.normalize(old))
            move = _hausdorff_m(old, cand)
            for k, i in enumerate(idx):
                if same[k]:
                    continue
                a0, a1 = _areas(old[k], cand[k])
                rec = {"level": 1, "code": str(vcodes[i]), "max_move_m": float(move[k]),
                       "area_before_m2": a0, "area_after_m2": a1}
                if move[k] <= tolerance_m:
                    vgeoms[i] = cand[k]
                    changes.append({**rec, "action": "snapped", "detail": f"rebuilt as the "
                                    f"union of its fixed groups (moved at most {move[k]:.3f} m,"
                                    f" area {a1 - a0:+.2f} m²)"})
                else:
                    changes.append({**rec, "action": "not_fixed", "area_after_m2": a0,
                                    "detail": f"the union of its fixed groups would move its "
                                    f"boundary by {move[k]:.3f} m > {tolerance_m:g} m: left as "
                                    f"it was"})
    fv = villages.copy()
    fv["geometry"] = gpd.GeoSeries(vgeoms, index=villages.index, crs=villages.crs)
    if len(fv) and not has_groups.all():
        sv, vch = _snap(fv, tolerance_m, territory)
        svgeoms = np.asarray(sv.geometry.values, dtype=object)
        pos = {c: i for i, c in enumerate(vcodes)}
        for c in vch:
            i = pos[c["code"]]
            if not has_groups[i]:
                vgeoms[i] = svgeoms[i]
                changes.append({"level": 1, **c})
            elif c["action"] in ("snapped", "not_fixed"):
                changes.append({"level": 1, **c, "action": "not_fixed",
                                "area_after_m2": c["area_before_m2"], "detail":
                                "village-level defect its groups do not share: fix its groups "
                                "or redraw it (a village keeps the shape of its groups)"})
        fv["geometry"] = gpd.GeoSeries(vgeoms, index=villages.index, crs=villages.crs)
    fixed[1] = fv
    return fixed, changes


def _areas(a: Any, b: Any) -> tuple[float, float]:
    from gis.crs import area_m2

    x = area_m2(np.array([a, b], dtype=object))
    return float(x[0]), float(x[1])


def _newest_draft(conn: sa.Connection) -> int:
    vid = conn.execute(sa.text("select id from grid_version where status = 'draft' "
                               "order by id desc limit 1")).scalar()
    if vid is None:
        raise NotFoundError("there is no draft grid version to fix; create one with "
                            "'wangge grids draft new' (published versions are immutable)")
    return int(vid)


def _write(conn: sa.Connection, vid: int, gdf: gpd.GeoDataFrame, codes: set[str]) -> int:
    """Replace the geometry and area of the grids ``codes`` of version ``vid``."""
    from gis import settings
    from gis.crs import area_m2

    if not codes:
        return 0
    geoms = _multi(np.asarray(gdf.geometry.values, dtype=object))
    areas = area_m2(geoms)  # same UTM zone for the whole level, as on import
    pick = gdf["code"].astype(str).isin(codes).to_numpy()
    wkb = shapely.to_wkb(geoms[pick])
    rows = [{"v": vid, "c": c, "g": bytes(w), "a": float(a)} for c, w, a in zip(
        gdf["code"].astype(str).to_numpy()[pick], wkb, areas[pick], strict=True)]
    conn.execute(sa.text(f"""update grid set geom = st_multi(st_geomfromwkb(:g,
        {int(settings.STORAGE_SRID)})), area_m2 = :a where version_id = :v and code = :c"""),
        rows)
    return len(rows)


@grids_app.command("fix")
@domain_errors
def grids_fix(
    snap: Annotated[float, typer.Option(
        "--snap", help="Tolerance, metres: close gaps / remove overlaps narrower than this; "
        "no boundary moves further.")],
    version: Annotated[int | None, typer.Option(
        help="Draft version id (default: the newest draft).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only, write nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Snap-fix a draft: close small gaps and overlaps of both levels, report every change.

    Exit 0 when the result validates clean, 1 when problems remain (wider than the
    tolerance: left for a planner), 2 on errors (e.g. the version is published).
    """
    from gis.grids import versions
    from gis.grids.store import read_grids
    from gis.grids.topology import validate
    from gis.territory import units

    if not snap > 0:
        err.print(f"--snap must be a distance in metres > 0, got {snap}")
        raise typer.Exit(2)
    with engine().begin() as conn:
        vid = version if version is not None else _newest_draft(conn)
        v = versions.require_draft(conn, vid, lock=True)
        county = units(conn, "county", str(v["adcode"]))
        territory = None
        if len(county) and county.geometry.iloc[0] is not None:
            territory = shapely.union_all(county.geometry.values)
        villages, groups = read_grids(conn, vid, level=1), read_grids(conn, vid, level=2)
        before = validate(villages, groups if len(groups) else None, territory)
        fixed, changes = fix_levels(villages, groups, snap, territory)
        fg = fixed.get(2, groups)
        after = validate(fixed[1], fg if len(fg) else None, territory)
        written = 0
        if not dry_run:
            for lv, gdf in ((1, fixed[1]), (2, fg)):
                codes = {c["code"] for c in changes
                         if c["level"] == lv and c["action"] in ("snapped", "noded")}
                written += _write(conn, vid, gdf, codes)
    errors_before = sum(p.severity == "error" for p in before)
    errors_after = [p for p in after if p.severity == "error"]
    res = {"version": vid, "tolerance_m": snap, "dry_run": dry_run,
           "fixed": sum(c["action"] in ("snapped", "noded") for c in changes),
           "not_fixed": sum(c["action"] in ("not_fixed", "skipped_invalid") for c in changes),
           "written": written, "errors_before": errors_before, "errors_after": len(errors_after)}
    if as_json:
        print(json.dumps({**res, "changes": changes,
                          "problems_after": [p.to_dict() for p in errors_after]},
                         ensure_ascii=False, default=str))
    else:
        table = Table("level", "code", "action", "max move m", "area before m²",
                      "area after m²", "detail",
                      title=f"grids fix --snap {snap:g} — version {vid}"
                            + (" (dry run, nothing written)" if dry_run else ""))
        if not changes:
            table.add_row("", "", "none", "", "", "", "no grid needed a change within the tolerance")
        for c in changes:
            table.add_row(str(c["level"]), c["code"], c["action"], f"{c['max_move_m']:.3f}",
                          _num(c["area_before_m2"], ",.1f"), _num(c["area_after_m2"], ",.1f"),
                          c["detail"])
        out.print(table)
        if errors_after:
            left = Table("type", "level", "codes", "area m²",
                         title=f"problems left (wider than {snap:g} m or not snappable: redraw "
                               f"them, see 'wangge grids validate')")
            for p in errors_after:
                left.add_row(p.type, str(p.level or ""), ", ".join(p.codes)[:60],
                             f"{p.area_m2:,.1f}")
            out.print(left)
        summary("grids fix", res, False)
    if errors_after:
        raise typer.Exit(1)
