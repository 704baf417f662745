"""Export grids to files that ogrinfo and QGIS open (GPKG, GeoJSON, Shapefile, FlatGeobuf)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
from sqlalchemy.engine import Engine

from gis import settings
from gis._errors import InputFileError, NotFoundError
from gis.crs import from_storage, parse_crs
from gis.grids import versions
from gis.grids.store import read_grids

FORMATS: dict[str, tuple[str, str]] = {
    "gpkg": ("GPKG", ".gpkg"),
    "geojson": ("GeoJSON", ".geojson"),
    "shp": ("ESRI Shapefile", ".shp"),
    "fgb": ("FlatGeobuf", ".fgb"),
}
"""Format key → (GDAL driver, file suffix)."""

EXPORT_COLUMNS = {"code": "code", "name": "name", "level": "level", "parent_code": "parent",
                  "township_code": "township", "population": "population",
                  "households": "households", "area_m2": "area_m2", "worker": "worker"}
"""Column → attribute name in the file (≤ 10 characters, for Shapefile)."""


def format_for(path: str | Path, fmt: str | None) -> str:
    """Format key from ``fmt`` or from the file suffix."""
    if fmt:
        if fmt.lower() not in FORMATS:
            msg = f"--format must be one of {sorted(FORMATS)}, not {fmt!r}"
            raise InputFileError(msg)
        return fmt.lower()
    suffix = Path(path).suffix.lower()
    for key, (_, suf) in FORMATS.items():
        if suffix == suf or (key == "geojson" and suffix == ".json"):
            return key
    msg = f"cannot tell the format of {path} from its suffix; pass --format {'|'.join(FORMATS)}"
    raise InputFileError(msg)


def export_grids(engine: Engine, path: str | Path, fmt: str | None = None,
                 crs: str | None = None, version_id: int | None = None,
                 adcode: str | None = None, level: int | None = None) -> dict[str, int]:
    """Write the grids of a version to ``path``; returns grid counts per layer.

    GPKG gets two layers, ``village`` and ``group``; the other formats one layer holding
    both levels (``level`` attribute) unless ``level`` picks one. ``crs`` (default
    EPSG:4490) may be any EPSG code, ``gcj02`` or ``bd09``. The version defaults to the one
    in force today, else the newest draft.
    """
    key = format_for(path, fmt)
    driver = FORMATS[key][0]
    target = parse_crs(crs or f"EPSG:{settings.STORAGE_SRID}")
    with engine.connect() as conn:
        vid = version_id or versions.in_force(conn, adcode) or versions.latest_draft(
            conn, adcode or settings.DEMO_ADCODE, create=False)
        if vid is None:
            msg = "no grid version to export; import grids first ('wangge grids import')"
            raise NotFoundError(msg)
        gdf = read_grids(conn, vid, level)
    out = gdf.drop(columns=[c for c in gdf.columns if c not in EXPORT_COLUMNS
                            and c != "geometry"]).rename(columns=EXPORT_COLUMNS)
    geoms = from_storage(out.geometry.values, target)
    out_crs = f"EPSG:{target.epsg}" if target.kind == "epsg" else f"EPSG:{settings.STORAGE_SRID}"
    out = gpd.GeoDataFrame(out.drop(columns="geometry"), geometry=list(geoms), crs=out_crs)
    path = Path(path)
    if path.exists():
        path.unlink()
    counts: dict[str, int] = {}
    if key == "gpkg":
        for lvl, name in settings.GRID_LEVELS.items():
            part = out[out["level"] == lvl]
            if len(part):
                pyogrio.write_dataframe(part, path, layer=name, driver=driver, append=path.exists())
                counts[name] = len(part)
    else:
        opts = {"encoding": "UTF-8"} if key == "shp" else {}
        pyogrio.write_dataframe(out, path, driver=driver, **opts)
        counts["grids"] = len(out)
    return counts
