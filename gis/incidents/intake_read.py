"""Read incident files for intake: CSV (UTF-8 / GBK), XLSX, GeoJSON points; map the columns.

Every reader returns a :class:`Table`: the cells as text (``""`` for empty), the row number of
each record as a user sees it, and the coordinate system the file declares (GeoJSON only).
Row numbers: CSV = line of the file where the record starts (header = line 1, so the first
data row is 2, as in a spreadsheet); XLSX = row of the sheet; GeoJSON = feature number,
counting from 1. Blank lines / rows are skipped (never rejected).
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd

from gis._errors import InputFileError
from gis.geocode_csv import LAT_NAMES, LON_NAMES
from gis.inputs import check_file_size, decode_text, json_error, json_type

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "source_id": ("source_id", "id", "编号", "来源编号", "事件编号", "案件编号", "工单编号",
                  "工单号", "警情编号", "序号编号"),
    "kind": ("kind", "type", "类型", "事件类型", "类别", "事件类别", "案件类型", "警情类型"),
    "occurred_at": ("occurred_at", "time", "datetime", "时间", "发生时间", "事发时间",
                    "案发时间"),
    "reported_at": ("reported_at", "上报时间", "报告时间", "报警时间", "接报时间", "来电时间"),
    "lon": (*LON_NAMES, "经度"),
    "lat": (*LAT_NAMES, "纬度"),
    "address": ("address", "地址", "事发地址", "事发地点", "地点", "案发地址", "位置"),
    "description": ("description", "desc", "描述", "内容", "事件描述", "简要情况",
                    "诉求内容", "案情"),
    "reporter": ("reporter", "报告人", "上报人", "报告者", "反映人", "报警人", "来电人"),
}
"""Canonical field -> accepted column names (compared case-insensitively, spaces ignored)."""

FIELD_LABELS: dict[str, str] = {
    "source_id": "编号/source_id", "kind": "类型/kind", "occurred_at": "时间/occurred_at",
    "reported_at": "上报时间/reported_at", "lon": "经度/lon", "lat": "纬度/lat",
    "address": "地址/address", "description": "描述/description", "reporter": "报告人/reporter",
}
"""How a field is named in messages."""

GEOM_ERROR = "__geometry_error"
"""Column a reader fills when a record's own geometry cannot be used (GeoJSON)."""

TYPE_ERROR = "__type_error"
"""Column a JSON reader fills with the names of a record's fields whose value is a JSON
array or object instead of text / a number (``\x1f``-separated)."""


@dataclass
class Table:
    """Cells of an input as text, with the user-facing row number of every record."""

    path: str
    cells: pd.DataFrame
    rows: list[int]
    declared_crs: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    """Canonical field -> column of ``cells`` (filled by :func:`map_columns`)."""


def cell_text(value: object) -> str:
    """A cell as text: '' for empty, integral floats without '.0', times in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def _norm(name: object) -> str:
    return "".join(str(name).split()).lower().replace("（", "(").replace("）", ")")


def map_columns(table: Table) -> Table:
    """Find the column of every canonical field (first alias that matches wins)."""
    have = {_norm(c): c for c in table.cells.columns}
    for fld, names in FIELD_ALIASES.items():
        for n in names:
            if _norm(n) in have:
                table.columns[fld] = have[_norm(n)]
                break
    if "lon" in table.cells.columns and "lat" in table.cells.columns and GEOM_ERROR in \
            table.cells.columns:  # GeoJSON: geometry coordinates win over properties
        table.columns["lon"], table.columns["lat"] = "lon", "lat"
    return table


def _frame(path: str, header: list[object], records: list[tuple[int, list[object]]],
           declared_crs: str | None = None) -> Table:
    names: list[str] = []
    for i, h in enumerate(header):
        name = cell_text(h) or f"column{i + 1}"
        while name in names:
            name += "_"
        names.append(name)
    width = len(names)
    data = [[cell_text(v) for v in (vals[:width] + [None] * (width - len(vals)))]
            for _, vals in records]
    cells = pd.DataFrame(data, columns=names, dtype=object) if data else \
        pd.DataFrame({n: pd.Series(dtype=object) for n in names})
    return Table(path, cells, [r for r, _ in records], declared_crs)


def _decode(raw: bytes, path: str) -> str:
    return decode_text(raw, path)


def _structured(record: dict[object, object]) -> str | None:
    """Names of the fields of a JSON record holding an array / object (None: none)."""
    names = [str(k) for k, v in record.items() if isinstance(v, dict | list)]
    return "\x1f".join(names) if names else None


def read_csv_table(path: str, raw: bytes) -> Table:
    """CSV in UTF-8 (with or without BOM), UTF-16 with a BOM (Excel's "Unicode text") or
    GBK / GB18030 (Excel in China); see :func:`gis.inputs.decode_text`. Cells of any length
    are read: over-long values are rejected per row (``too_long``)."""
    text = _decode(raw, path)
    csv.field_size_limit(2**31 - 1)  # long cells are rejected per row (too_long), not here
    try:
        dialect = csv.Sniffer().sniff(text[:20_000], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header: list[str] | None = None
    records: list[tuple[int, list[object]]] = []
    start = 1
    try:
        for vals in reader:
            line, start = start, reader.line_num + 1
            if not any(v.strip() for v in vals):
                continue
            if header is None:
                header = list(vals)
            else:
                records.append((line, list(vals)))
    except csv.Error as e:
        msg = f"{path}: not a readable CSV near line {reader.line_num}: {e}"
        raise InputFileError(msg) from e
    if header is None:
        msg = f"{path}: empty file (no header row)"
        raise InputFileError(msg)
    return _frame(path, header, records)


def read_xlsx_table(path: str) -> Table:
    """First sheet of an XLSX workbook; the first non-empty row is the header."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as e:
        msg = f"{path}: not a readable XLSX workbook ({e}); save it as .xlsx or CSV"
        raise InputFileError(msg) from e
    try:
        ws = wb.worksheets[0]
        header: list[object] | None = None
        records: list[tuple[int, list[object]]] = []
        for n, vals in enumerate(ws.iter_rows(values_only=True), start=1):
            if not any(cell_text(v) for v in vals):
                continue
            if header is None:
                header = list(vals)
            else:
                records.append((n, list(vals)))
    finally:
        wb.close()
    if header is None:
        msg = f"{path}: the first sheet is empty (no header row)"
        raise InputFileError(msg)
    return _frame(path, header, records)


def _geojson_crs(doc: dict) -> str | None:
    crs = doc.get("crs")
    if isinstance(crs, dict) and isinstance(crs.get("properties"), dict):
        name = crs["properties"].get("name")
        if isinstance(name, str):
            return name.replace("urn:ogc:def:crs:", "").replace("::", ":").replace("OGC:1.3:CRS84",
                                                                                  "EPSG:4326")
    return None


def features_table(path: str, features: list[object], declared_crs: str | None = None) -> Table:
    """GeoJSON features (Points) as a table: properties plus ``lon`` / ``lat`` columns."""
    header: list[object] = []
    seen: set[str] = set()
    rows: list[dict[str, object]] = []
    for feat in features:
        props = feat.get("properties") if isinstance(feat, dict) else None
        props = props if isinstance(props, dict) else {}
        row: dict[str, object] = {k: (json.dumps(v, ensure_ascii=False)
                                      if isinstance(v, dict | list) else v)
                                  for k, v in props.items() if k not in ("lon", "lat")}
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        row["lon"] = row["lat"] = None
        row[GEOM_ERROR] = None
        row[TYPE_ERROR] = _structured({k: v for k, v in props.items()
                                       if k not in ("lon", "lat")})
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            row[GEOM_ERROR] = "not a GeoJSON Feature"
        elif geom is not None and not isinstance(geom, dict):
            row[GEOM_ERROR] = f"geometry is a JSON {json_type(geom)}, not a GeoJSON " \
                              'geometry object: write {"type": "Point", "coordinates": ' \
                              "[lon, lat]}"
        elif isinstance(geom, dict):
            coords = geom.get("coordinates")
            if geom.get("type") != "Point":
                row[GEOM_ERROR] = f"geometry is a {geom.get('type')}, only Points are accepted"
            elif not (isinstance(coords, list) and len(coords) >= 2):
                row[GEOM_ERROR] = "Point without two coordinates: 'coordinates' must be " \
                                  "[lon, lat] numbers"
            else:
                row["lon"], row["lat"] = coords[0], coords[1]
        for k in row:
            if k not in seen:
                seen.add(k)
                header.append(k)
        rows.append(row)
    records = [(i, [r.get(str(h)) for h in header]) for i, r in enumerate(rows, start=1)]
    for extra in (GEOM_ERROR, TYPE_ERROR):
        if extra not in seen:
            header.append(extra)
    return _frame(path, header, records, declared_crs)


def read_geojson_table(path: str, raw: bytes) -> Table:
    """GeoJSON FeatureCollection (or one Feature) of Points; properties are the columns."""
    text = _decode(raw, path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise json_error(path, text, e) from e
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        feats = doc.get("features")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        feats = [doc]
    else:
        feats = None
    if not isinstance(feats, list):
        msg = f"{path}: not a GeoJSON FeatureCollection or Feature" + (
            f" ('features' is a JSON {json_type(feats)}, it must be an array of Features)"
            if isinstance(doc, dict) and "features" in doc else "")
        raise InputFileError(msg)
    return features_table(path, feats, _geojson_crs(doc) if isinstance(doc, dict) else None)


READERS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
           ".geojson": "geojson", ".json": "geojson"}


def read_table(path: str | Path) -> Table:
    """Read an incident file by its extension; InputFileError when it cannot be read at all."""
    p = Path(path)
    kind = READERS.get(p.suffix.lower())
    if kind is None:
        msg = f"{p}: unknown file type {p.suffix!r}; use .csv, .xlsx or .geojson"
        raise InputFileError(msg)
    if not p.is_file():
        msg = f"{p}: no such file"
        raise InputFileError(msg)
    check_file_size(p)
    if kind == "xlsx":
        return map_columns(read_xlsx_table(str(p)))
    try:
        raw = p.read_bytes()
    except OSError as e:
        msg = f"{p}: cannot be read ({e.strerror})"
        raise InputFileError(msg) from e
    reader = read_csv_table if kind == "csv" else read_geojson_table
    return map_columns(reader(str(p), raw))


def records_table(items: list[dict[str, object]], origin: str = "api") -> Table:
    """JSON objects (the HTTP endpoint) as a table; row numbers are item positions from 0."""
    header: list[str] = []
    seen: set[str] = set()
    for it in items:
        for k in it:
            if k not in seen:
                seen.add(k)
                header.append(k)
    records = [(i, [*(it.get(h) for h in header), _structured(it)])
               for i, it in enumerate(items)]
    return map_columns(_frame(origin, [*header, TYPE_ERROR], records))
