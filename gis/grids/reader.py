"""Read grid boundary files (GeoJSON, GPKG, Shapefile, FlatGeobuf) into EPSG:4490 frames.

No database here. A file that cannot be read at all raises :class:`InputFileError`; a
problem of one feature (bad geometry, missing or duplicate code, swapped lat/lon ...) goes to
:attr:`ReadResult.rejects`, so the caller can report all of them (the importer then rejects
the whole file)."""

from __future__ import annotations

import codecs
import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely

from gis import settings
from gis._errors import InputFileError
from gis.crs import CrsSpec, area_m2, parse_crs, to_storage
from gis.inputs import check_file_size

LEVEL_NAMES = tuple(settings.GRID_LEVELS.values())
"""Accepted ``level`` values: "village" (村) and "group" (村民小组 / 自然村)."""

CODE_FIELDS = ("code", "grid_code", "gridcode", "adcode", "代码", "编码", "网格代码", "网格编码",
               "编号", "区划代码", "id")
NAME_FIELDS = ("name", "grid_name", "gridname", "名称", "网格名称", "网格名", "村名", "村名称",
               "组名", "名字", "mc")
PARENT_FIELDS = ("parent", "parent_code", "parentcode", "上级代码", "上级编码", "上级网格代码",
                 "village_code", "村代码", "所属村代码", "所属村", "township_code", "乡镇代码")
POPULATION_FIELDS = ("population", "pop", "人口", "人口数", "总人口", "户籍人口")
HOUSEHOLD_FIELDS = ("households", "household", "hh", "户数", "总户数")
"""Attribute names tried, in order and case-insensitively, when a field is not given."""

FALLBACK_ENCODINGS = ("UTF-8", "GBK")
"""Tried in order for a Shapefile without a .cpg file (ArcGIS in China often writes GBK)."""

_CRS_HINT = "EPSG:4490, EPSG:4326, gcj02 or bd09"
_POLYGONAL = {"Polygon", "MultiPolygon"}
_OK_LATIN1 = set("·°×÷±")  # Latin-1 characters that do appear in genuine Chinese attributes


@dataclass
class ReadResult:
    """What :func:`read_grid_file` found.

    Attributes
    ----------
    gdf : geopandas.GeoDataFrame
        Accepted features in EPSG:4490: code, name, parent_code, level and, when the file has
        them, population and households; geometry as MultiPolygon. The index is the 0-based
        position of the feature in the file.
    rejects : list of dict
        One row per problem: ``feature`` (1-based position in the file), ``code``, ``field``
        and ``reason``. A rejected feature is not in ``gdf``.
    repaired : list of str
        Codes of features whose invalid geometry was repaired (area change within
        :data:`settings.REPAIR_MAX_AREA_CHANGE`).
    source_crs : str
        The coordinate system the coordinates were read in (``"EPSG:4326"``, ``"gcj02"`` ...).
    encoding : str or None
        Attribute encoding used for a Shapefile (None: the driver's own).
    fields : dict
        Which file field was used for ``code``, ``name``, ``parent_code`` ... .
    """

    gdf: gpd.GeoDataFrame
    rejects: list[dict[str, object]]
    repaired: list[str]
    source_crs: str
    encoding: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def _pick_layer(path: Path, layer: str | None, level: str) -> str | None:
    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except pyogrio.errors.DataSourceError as e:
        known = path.suffix.lower() in (".geojson", ".json", ".gpkg", ".shp", ".fgb")
        msg = f"{path}: cannot open it as a GIS file ({e}); " + (
            "the file is damaged or incomplete (truncated?): copy or export it again"
            if known else "use GeoJSON, GPKG, Shapefile (.shp with its .shx and .dbf) or "
                          "FlatGeobuf")
        raise InputFileError(msg) from e
    if layer is not None:
        if layer not in layers:
            msg = f"{path}: no layer {layer!r}; its layers are {layers}"
            raise InputFileError(msg)
        return layer
    if len(layers) <= 1 or level in layers:
        return level if level in layers else None
    msg = f"{path}: has {len(layers)} layers {layers} and none is named {level!r}; pass the " \
          f"layer of the {level} grids (layer=...) or keep one layer per file"
    raise InputFileError(msg)


def _looks_mojibake(df: pd.DataFrame) -> bool:
    """True when text holds U+FFFD or Latin-1 letters: bytes decoded with the wrong codec."""
    texts = [str(c) for c in df.columns]
    for col in df.columns:
        if col != "geometry" and df[col].dtype == object:
            texts += [v for v in df[col] if isinstance(v, str)]
    return any("\ufffd" in t or any("\x80" <= ch <= "\xff" and ch not in _OK_LATIN1 for ch in t)
               for t in texts)


def _read(path: Path, layer: str | None,
          encoding: str | None) -> tuple[gpd.GeoDataFrame, str | None]:
    """Read all features; Shapefile text: ``encoding``, else .cpg, else UTF-8 then GBK."""
    try:
        codecs.lookup(encoding or "utf-8")
    except LookupError as e:
        msg = f"{path}: unknown encoding {encoding!r}; use e.g. UTF-8, GBK or GB18030"
        raise InputFileError(msg) from e
    info = pyogrio.read_info(path, layer=layer)
    is_shp = info.get("driver") == "ESRI Shapefile"
    has_cpg = any(path.with_suffix(s).exists() for s in (".cpg", ".CPG"))
    tries: tuple[str | None, ...] = (encoding,) if encoding else (
        FALLBACK_ENCODINGS if is_shp and not has_cpg else (None,))
    for i, enc in enumerate(tries):
        try:
            df = pyogrio.read_dataframe(path, layer=layer, encoding=enc)
        except UnicodeDecodeError as e:
            if i + 1 < len(tries):
                continue
            msg = f"{path}: attribute text is not valid {' or '.join(map(str, tries))} ({e}); " \
                  "pass the right encoding (e.g. --encoding GB18030) or add a .cpg file"
            raise InputFileError(msg) from e
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
                pyogrio.errors.FieldError, pyogrio.errors.GeometryError) as e:
            msg = f"{path}: cannot read its features ({e}); is the file complete?"
            raise InputFileError(msg) from e
        if encoding or i + 1 == len(tries) or not _looks_mojibake(df):
            return df, enc or info.get("encoding")
    raise AssertionError("unreachable")  # pragma: no cover


def _pick_field(columns: list[str], given: str | None, names: tuple[str, ...], *,
                exclude: tuple[str | None, ...] = ()) -> str | None:
    if given is not None:
        return given if given in columns else None
    lower = {str(c).strip().lower(): c for c in columns if c != "geometry" and c not in exclude}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)


def _fields(df: pd.DataFrame, path: Path, level: str, code_field: str | None,
            name_field: str | None, parent_field: str | None) -> dict[str, str]:
    cols = [str(c) for c in df.columns if c != "geometry"]
    out: dict[str, str] = {}
    wanted = [("code", code_field, CODE_FIELDS, "--code-field", True),
              ("name", name_field, NAME_FIELDS, "--name-field", True),
              ("parent_code", parent_field, PARENT_FIELDS, "--parent-field", level == "group"),
              ("population", None, POPULATION_FIELDS, "", False),
              ("households", None, HOUSEHOLD_FIELDS, "", False)]
    for role, given, names, option, required in wanted:
        col = _pick_field(cols, given, names, exclude=tuple(out.values()))
        if col is None and (required or given is not None):
            what = f"field {given!r}" if given else f"{role} field (tried {', '.join(names)})"
            why = " (a group needs the code of its village)" if role == "parent_code" else ""
            msg = f"{path}: no {what} for the {level} grids{why}; pass {option} with one of " \
                  f"the fields present: {cols}"
            raise InputFileError(msg)
        if col is not None:
            out[role] = col
    return out


def _is_list(v: object) -> bool:
    """Whether an attribute value is a list / object (GDAL reads JSON arrays as lists)."""
    return isinstance(v, list | tuple | dict | np.ndarray)


def _text(v: object) -> str | None:
    """Attribute value as stripped text; None for empty / null. 620702001001.0 → '620702001001'."""
    if _is_list(v):
        return None
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else str(int(v)) if float(v).is_integer() else str(v)
    return None if v is None or v is pd.NA else (str(v).strip() or None)


def _count(v: object) -> tuple[int | None, bool]:
    """(whole number ≥ 0 or None, ok)."""
    s = _text(v)
    try:
        f = float(s) if s is not None else None
    except ValueError:
        return None, False
    if f is None:
        return None, True
    return (int(f), True) if f.is_integer() and f >= 0 else (None, False)


def _coordinate_problem(g: shapely.Geometry) -> str | None:
    """Reason to reject a geometry in a geographic CRS, or None."""
    xy = shapely.get_coordinates(g)
    if not np.isfinite(xy).all():
        return "coordinates are not finite numbers (NaN or infinity)"
    x, y = xy[:, 0], xy[:, 1]
    swapped = ((np.abs(x) <= 90).all() and (np.abs(y) > 90).any() and (np.abs(y) <= 180).all()) \
        or (((x >= 0) & (x <= 56)).all() and ((y >= 72) & (y <= 138)).all())
    if swapped:
        return f"coordinates look like lat/lon swapped (x={x[0]:.7g}, y={y[0]:.7g}); " \
               "longitude must be x and latitude y: swap the axes and export again"
    bad = (np.abs(x) > 180) | (np.abs(y) > 90)
    if bad.any():
        k = int(np.argmax(bad))
        return f"coordinates out of range for a geographic CRS (x={x[k]:.7g}, " \
               f"y={y[k]:.7g}): longitude must be within ±180 and latitude within ±90 " \
               "degrees; if the file is projected (metres), pass its EPSG code with --crs"
    return None


def _repair(g: shapely.Geometry) -> tuple[shapely.Geometry | None, str]:
    """Repaired geometry (None if refused) and the rejection reason."""
    why = shapely.is_valid_reason(g)
    fixed = shapely.make_valid(g, method="structure", keep_collapsed=False)
    # make_valid gives (Multi)Polygon or a collection of them with lines / points: 2 levels
    parts = [q for q in shapely.get_parts(shapely.get_parts(fixed))
             if q.geom_type == "Polygon" and not q.is_empty]
    fixed = shapely.multipolygons(parts) if parts else shapely.MultiPolygon()
    before, after = area_m2(np.array([g, fixed], dtype=object))
    big = max(before, after)
    change = abs(after - before) / big if big > 0 else 1.0
    reason = f"self-intersecting / invalid geometry (GEOS reason: {why}); repair would " \
             f"change area by {change * 100:.3g} %"
    if not parts or change > settings.REPAIR_MAX_AREA_CHANGE:
        return None, reason
    return fixed, reason


def _check_geometries(geoms: np.ndarray, spec: CrsSpec | None, file_crs: object,
                      geographic: bool, label: str,
                      ) -> tuple[np.ndarray, list[tuple[int, str]], list[int]]:
    """Storage MultiPolygons, (position, reason) problems and positions repaired."""
    problems: list[tuple[int, str]] = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            problems.append((i, ("empty or missing geometry (or coordinates GDAL cannot "
                                 "read: they must be arrays of numbers)")))
        elif g.geom_type not in _POLYGONAL:
            problems.append((i, f"geometry type {g.geom_type} is not allowed: grid boundaries "
                                "must be Polygon or MultiPolygon"))
        elif geographic and (why := _coordinate_problem(g)) is not None:
            problems.append((i, why))
    usable = np.ones(len(geoms), dtype=bool)
    usable[[i for i, _ in problems]] = False
    ok = np.flatnonzero(usable)
    stored = np.empty(len(geoms), dtype=object)
    if ok.size:
        stored[ok] = to_storage(geoms[ok], spec, source_crs=file_crs)
    repaired: list[int] = []
    for i in (int(k) for k in ok):
        g = stored[i]
        xy = shapely.get_coordinates(g)
        if not (np.isfinite(xy).all() and (np.abs(xy[:, 0]) <= 180).all()
                and (np.abs(xy[:, 1]) <= 90).all()):
            problems.append((i, f"coordinates do not convert from {label} to EPSG:"
                                f"{settings.STORAGE_SRID}; is the CRS right? (pass --crs: "
                                f"{_CRS_HINT} or another EPSG code)"))
        elif not shapely.is_valid(g):
            fixed, reason = _repair(g)
            if fixed is None:
                problems.append((i, reason))
            else:
                stored[i] = fixed
                repaired.append(i)
        elif g.geom_type == "Polygon":
            stored[i] = shapely.multipolygons([g])
    return stored, problems, repaired


def _resolve_crs(p: Path, df: gpd.GeoDataFrame, crs: str | None,
                 ) -> tuple[CrsSpec | None, object, str, bool]:
    """(spec or None, file CRS when it has no EPSG code, label, geographic?)."""
    if crs is not None:
        spec = parse_crs(crs)
        return spec, None, str(spec), spec.is_geographic
    if df.crs is None:
        msg = f"{p}: the file has no coordinate reference system (no .prj file or crs " \
              f"member); pass --crs with the system of its coordinates: {_CRS_HINT}"
        raise InputFileError(msg)
    code = df.crs.to_epsg(min_confidence=70)
    if code is None:
        return None, df.crs, str(df.crs.name), bool(df.crs.is_geographic)
    spec = CrsSpec("epsg", int(code))
    return spec, None, str(spec), spec.is_geographic


def read_grid_file(path: str | Path, *, level: str, name_field: str | None = None,
                   code_field: str | None = None, parent_field: str | None = None,
                   crs: str | None = None, encoding: str | None = None,
                   layer: str | None = None) -> ReadResult:
    """Read a grid boundary file and check every feature.

    Parameters
    ----------
    path : str or Path
        GeoJSON, GPKG, Shapefile or FlatGeobuf (anything GDAL reads through pyogrio).
    level : {"village", "group"}
        Grid level of every feature; groups need a parent (village) code.
    name_field, code_field, parent_field : str, optional
        Attribute names; found automatically (see ``*_FIELDS``) when not given.
    crs : str, optional
        Coordinate system of the coordinates, overriding the file's own: an EPSG code,
        ``gcj02`` or ``bd09`` (see :func:`gis.crs.parse_crs`). Required when the file has
        none (GeoJSON without a ``crs`` member is WGS84, EPSG:4326, by RFC 7946).
    encoding : str, optional
        Attribute encoding of a Shapefile; default: its .cpg, else UTF-8, else GBK.
    layer : str, optional
        Layer of a multi-layer file (default: the only layer, or the one named ``level``).

    Returns
    -------
    ReadResult
        Accepted features in EPSG:4490 plus the rejected ones with reasons. Raises
        InputFileError when the file, a layer, a required field, the encoding or the CRS
        cannot be used at all, CrsError when ``crs`` is unknown.
    """
    p = Path(path)
    if level not in LEVEL_NAMES:
        msg = f"level must be one of {list(LEVEL_NAMES)}, not {level!r}"
        raise InputFileError(msg)
    if not p.exists():
        msg = f"{p}: no such file"
        raise InputFileError(msg)
    if p.is_file():
        check_file_size(p)
    df, used_encoding = _read(p, _pick_layer(p, layer, level), encoding)
    if len(df) == 0:  # nothing to check (an empty GeoJSON has no fields either)
        empty = gpd.GeoDataFrame({c: [] for c in ("code", "name", "parent_code", "level")},
                                 geometry=[], crs=settings.STORAGE_SRID)
        label = str(parse_crs(crs)) if crs is not None else str(df.crs or "")
        return ReadResult(empty, [], [], label, encoding=used_encoding)
    cols = _fields(df, p, level, code_field, name_field, parent_field)
    spec, file_crs, source_label, geographic = _resolve_crs(p, df, crs)
    n = len(df)
    rejects: list[dict[str, object]] = []
    bad = np.zeros(n, dtype=bool)
    codes = [_text(v) for v in df[cols["code"]]]

    def reject(i: int, fld: str, reason: str) -> None:
        rejects.append({"feature": int(i) + 1, "code": codes[i] or "", "field": fld,
                        "reason": reason})
        bad[i] = True

    names = [_text(v) for v in df[cols["name"]]]
    parents = [_text(v) for v in df[cols["parent_code"]]] if "parent_code" in cols else [None] * n
    counts: dict[str, list[int | None]] = {}
    listed = {role: [_is_list(v) for v in df[col]] for role, col in cols.items()}
    for role, flags in listed.items():
        for i in (i for i, f in enumerate(flags) if f):
            value = df[cols[role]].iloc[i]
            shown = [str(x) for x in value] if isinstance(value, np.ndarray) else value
            reject(i, cols[role], f"{role} {shown!r} is a list (a JSON array); give one text "
                                  "value")
    for i in (i for i in range(n) if not any(f[i] for f in listed.values())):
        if codes[i] is None:
            reject(i, cols["code"], "missing code: every grid needs a unique code")
        if names[i] is None:
            reject(i, cols["name"], "missing name")
        if level == "group" and parents[i] is None:
            reject(i, cols["parent_code"], "missing parent code: a group needs the code of its "
                                          "village")
    for role in (r for r in ("population", "households") if r in cols):
        checked = [_count(v) for v in df[cols[role]]]
        counts[role] = [value for value, _ in checked]
        for i in (i for i, (_, ok) in enumerate(checked) if not ok):
            reject(i, cols[role], f"{role} {df[cols[role]].iloc[i]!r} is not a whole number ≥ 0")
    where: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(codes):
        where[c or ""].append(i)
    for i, c in enumerate(codes):
        if c and len(where[c]) > 1:
            others = ", ".join(str(j + 1) for j in where[c] if j != i)
            reject(i, cols["code"], f"duplicate code {c!r}: also used by feature(s) {others}")

    geoms = shapely.force_2d(np.asarray(df.geometry.values, dtype=object))
    stored, problems, fixed = _check_geometries(geoms, spec, file_crs, geographic, source_label)
    for i, reason in problems:
        reject(i, "geometry", reason)
    repaired = [str(codes[i]) for i in fixed if not bad[i]]

    keep = np.flatnonzero(~bad)
    data: dict[str, object] = {
        "code": [codes[i] for i in keep], "name": [names[i] for i in keep],
        "parent_code": [parents[i] for i in keep], "level": [level] * len(keep)}
    for role, values in counts.items():
        data[role] = pd.array([values[i] for i in keep], dtype="Int64")
    gdf = gpd.GeoDataFrame(data, geometry=list(stored[keep]), crs=settings.STORAGE_SRID,
                           index=pd.Index(keep, dtype="int64"))
    rejects.sort(key=lambda r: int(r["feature"]))  # type: ignore[call-overload]
    return ReadResult(gdf=gdf, rejects=rejects, repaired=repaired, source_crs=source_label,
                      encoding=used_encoding, fields=cols)


def write_rejects(rejects: list[dict[str, object]], path: str | Path) -> Path:
    """Write rejected rows to a CSV (UTF-8 with BOM, opens in Excel): feature, code, field,
    reason. Returns the path written."""
    out = Path(path)
    with out.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["feature", "code", "field", "reason"],
                           extrasaction="ignore")
        w.writeheader()
        for r in rejects:
            w.writerow({k: r.get(k, "") for k in ("feature", "code", "field", "reason")})
    return out
