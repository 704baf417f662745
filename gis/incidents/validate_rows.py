"""Row-by-row checks of incident intake: every bad row is rejected with its number and reason.

Codes of the reasons (column ``code`` of the rejected-rows file):

================  ==========================================================================
missing_field     a required field is empty: 编号 (when the file has an id column), 类型,
                  时间, 报告人, or both the coordinates and the address
unknown_kind      类型 is neither a key nor a Chinese name of ``settings.INCIDENT_KINDS``
bad_time          时间 / 上报时间 is not a time (year first: 2025-05-01 08:30,
                  2025/5/1 8:30, 2025年5月1日8时30分, ISO 8601 with offset)
future_time       the time is later than now (+ ``settings.INTAKE_FUTURE_TOLERANCE_MIN``)
bad_coordinates   a coordinate is not a number, only one is given, or the GeoJSON geometry
                  is not a Point
null_island       longitude or latitude is 0 (null island, or 0 used as "unknown")
out_of_range      not a position on Earth (|lon| > 180 or |lat| > 90)
swapped_latlon    the point is outside the territory but inside it with lat / lon swapped
                  (accepted, swapped back, with ``fix_swapped``)
low_precision     fewer decimals than ``settings.INTAKE_MIN_COORD_DECIMALS`` (degrees)
duplicate_id      the same 编号 appears on an earlier row of the same input
too_long          a value is longer than ``settings.INTAKE_MAX_DESCRIPTION_CHARS`` (描述 and
                  columns of no field) or ``settings.INTAKE_MAX_TEXT_CHARS`` (other fields)
                  characters; the rejected-rows file keeps its start only
bad_type          a field of a JSON record is an array or an object instead of text / a number
================  ==========================================================================

Naive times are Beijing time (``settings.INTAKE_TIMEZONE``). Coordinates are converted from
the declared coordinate system (``--crs``: WGS84 default, gcj02, bd09, any EPSG) to storage.
A row with no coordinates but an address is accepted; intake then places it by its address
or queues it for address review (:mod:`gis.incidents.intake_place`). A point outside the
territory (and not swapped) is accepted and flagged ``outside``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from gis import settings
from gis._errors import InputFileError
from gis.crs import CrsSpec
from gis.geocode_csv import to_storage_xy
from gis.grids.lookup import GridLookup
from gis.incidents.intake_read import (
    FIELD_ALIASES,
    FIELD_LABELS,
    GEOM_ERROR,
    TYPE_ERROR,
    Table,
)

GOOD_COLUMNS = ["row", "source", "source_id", "kind", "occurred_at", "reported_at", "lon", "lat",
                "address", "description", "reporter", "raw", "fixed"]

_TIME_RE = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[ T]+(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6})\d*)?)?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?")
_CN_TIME = str.maketrans({"年": "-", "月": "-", "日": " ", "号": " ", "时": ":", "点": ":",
                          "分": ":", "秒": " ", "／": "/", "：": ":", "　": " "})
_NUM_RE = re.compile(r"[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")


@dataclass
class Checked:
    """Result of :func:`check_rows`: accepted rows and rejected rows."""

    good: pd.DataFrame
    """Columns :data:`GOOD_COLUMNS`; lon / lat in storage degrees (NaN: no location)."""
    rejects: pd.DataFrame
    """Columns row, field, code, reason, then the input's own columns."""


def kind_catalogue() -> dict[str, str]:
    """Accepted kind spellings (lower-case key or Chinese name) -> catalogue key."""
    out: dict[str, str] = {}
    for key, name in settings.INCIDENT_KINDS.items():
        out[key.lower()] = key
        out[name] = key
    return out


def parse_time(text: str, tz: ZoneInfo) -> datetime | None:
    """One time (year first) as an aware UTC datetime; None when it is not a time."""
    s = " ".join(text.translate(_CN_TIME).split()).rstrip(":").replace(": ", " ")
    m = _TIME_RE.fullmatch(s.replace(" :", ":"))
    if not m:
        return None
    y, mo, d, h, mi, se, frac, off = m.groups()
    try:
        t = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(se or 0),
                     int((frac or "0").ljust(6, "0")))
    except ValueError:
        return None
    if off is None:
        t = t.replace(tzinfo=tz)
    elif off == "Z":
        t = t.replace(tzinfo=UTC)
    else:
        digits = off[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        t = t.replace(tzinfo=timezone(delta if off[0] == "+" else -delta))
    return t.astimezone(UTC)


def decimals(text: str) -> int:
    """Decimals of a number written as text ('100.4500' → 4, '1.5e-3' → 4, '100' → 0)."""
    m = _NUM_RE.fullmatch(text.strip())
    if not m:
        return 0
    return max(0, len(m.group(2) or "") - int(m.group(3) or 0))


class _Rejects:
    def __init__(self, n: int) -> None:
        self.items: list[list[tuple[str, str, str]]] = [[] for _ in range(n)]

    def add(self, mask: np.ndarray, field: str, code: str,
            reason: str | np.ndarray | Callable[[int], str]) -> None:
        """Reject the rows of ``mask``; ``reason`` is a text, one per row, or f(row index)."""
        for i in np.flatnonzero(mask):
            text = reason if isinstance(reason, str) else \
                reason(i) if callable(reason) else str(reason[i])
            self.items[i].append((field, code, text))

    def bad(self) -> np.ndarray:
        return np.array([bool(x) for x in self.items], dtype=bool)


def _col(table: Table, fld: str) -> np.ndarray:
    c = table.columns.get(fld)
    if c is None:
        return np.full(len(table.cells), "", dtype=object)
    return table.cells[c].fillna("").astype(str).str.strip().to_numpy(dtype=object)


def require_columns(table: Table) -> None:
    """A file must have columns for kind, time, reporter and a location or an address."""
    missing = [f for f in ("kind", "occurred_at", "reporter") if f not in table.columns]
    has_xy = "lon" in table.columns and "lat" in table.columns
    if not has_xy and "address" not in table.columns:
        missing.append("lon+lat or address")
    if ("lon" in table.columns) != ("lat" in table.columns):
        missing.append("lat" if "lon" in table.columns else "lon")
    if missing:
        tried = "; ".join(f"{m}: {', '.join(FIELD_ALIASES.get(m, FIELD_ALIASES['lon'])[:6])}"
                          for m in missing)
        msg = f"{table.path}: cannot find required column(s) {missing} (accepted names — " \
              f"{tried}); columns are {list(table.cells.columns)}"
        raise InputFileError(msg)


def _cut_long(table: Table, rej: _Rejects) -> Table:
    """Reject values over their length limit (code ``too_long``); the returned table has
    them cut to the limit (plus "…"), so later messages and the rejected-rows file stay
    small."""
    field_of = {c: f for f, c in table.columns.items()}
    cells = None
    for col in table.cells.columns:
        if col in (GEOM_ERROR, TYPE_ERROR):
            continue
        fld = field_of.get(col)
        if fld is None or fld == "description":
            limit, name = settings.INTAKE_MAX_DESCRIPTION_CHARS, "INTAKE_MAX_DESCRIPTION_CHARS"
        else:
            limit, name = settings.INTAKE_MAX_TEXT_CHARS, "INTAKE_MAX_TEXT_CHARS"
        values = table.cells[col].fillna("").astype(str)
        lens = values.str.len().to_numpy()
        over = lens > limit
        if not over.any():
            continue
        label = FIELD_LABELS.get(fld, str(col)) if fld else str(col)
        rej.add(over, fld or str(col), "too_long",
                lambda i, label=label, lens=lens, limit=limit, name=name:
                f"{label} has {int(lens[i]):,} characters, more than the limit of {limit:,} "
                f"(settings.{name}); shorten it")
        if cells is None:
            cells = table.cells.copy()
        cells.loc[over, col] = values[over].str.slice(0, limit) + "…"
    if cells is None:
        return table
    return Table(table.path, cells, table.rows, table.declared_crs, dict(table.columns))


def _check_types(table: Table, rej: _Rejects) -> None:
    """Reject fields of JSON records given as arrays / objects (code ``bad_type``)."""
    if TYPE_ERROR not in table.cells.columns:
        return
    marks = table.cells[TYPE_ERROR].fillna("").astype(str).to_numpy(dtype=object)
    for fld, col in table.columns.items():
        bad = np.array([str(col) in m.split("\x1f") if m else False for m in marks],
                       dtype=bool)
        rej.add(bad, fld, "bad_type",
                f"{FIELD_LABELS.get(fld, fld)} is a JSON array or object; give it as text "
                "or a number")


def _times(values: np.ndarray, tz: ZoneInfo) -> tuple[pd.Series, np.ndarray]:
    cache: dict[str, datetime | None] = {}
    out = []
    for v in values:
        if v not in cache:
            cache[v] = parse_time(v, tz) if v else None
        out.append(cache[v])
    ts = pd.to_datetime(pd.Series(out, dtype=object), utc=True)
    return ts, ts.isna().to_numpy()


def _check_coordinates(table: Table, rej: _Rejects, crs: CrsSpec, lookup: GridLookup | None,
                       fix_swapped: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Storage lon / lat (NaN: none) and a note per row for swapped points fixed."""
    n = len(table.cells)
    tlon, tlat, addr = _col(table, "lon"), _col(table, "lat"), _col(table, "address")
    lon = pd.to_numeric(pd.Series(tlon), errors="coerce").to_numpy(dtype=float, copy=True)
    lat = pd.to_numeric(pd.Series(tlat), errors="coerce").to_numpy(dtype=float, copy=True)
    fixed = np.full(n, None, dtype=object)
    empty_lon, empty_lat = tlon == "", tlat == ""
    none = empty_lon & empty_lat
    geom_err = table.cells[GEOM_ERROR].fillna("").astype(str).to_numpy(dtype=object) \
        if GEOM_ERROR in table.cells.columns else np.full(n, "", dtype=object)
    has_geom_err = geom_err != ""
    rej.add(has_geom_err, "geometry", "bad_coordinates", geom_err)
    rej.add(none & ~has_geom_err & (addr == ""), "lon+lat/address", "missing_field",
            "missing required field: coordinates (经度/纬度) or an address (地址)")
    rej.add(empty_lon ^ empty_lat, "lon+lat", "bad_coordinates",
            "only one coordinate given (经度 and 纬度 go together)")
    given = ~empty_lon & ~empty_lat
    notnum = given & ~(np.isfinite(lon) & np.isfinite(lat))
    rej.add(notnum, "lon+lat", "bad_coordinates",
            lambda i: f"coordinates are not numbers: {tlon[i]!r}, {tlat[i]!r}")
    num = given & ~notnum
    zero = num & ((lon == 0) | (lat == 0))
    rej.add(zero, "lon+lat", "null_island",
            "zero coordinate (0, 0 'null island', or 0 standing for unknown)")
    work = num & ~zero
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    if work.any():
        x[work], y[work] = to_storage_xy(lon[work], lat[work], crs)
    inrange = work & (np.abs(x) <= 180) & (np.abs(y) <= 90) & np.isfinite(x) & np.isfinite(y)
    if crs.is_geographic:
        inrange &= (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    inside = np.zeros(n, dtype=bool)
    if lookup is not None and inrange.any():
        inside[inrange] = lookup.locate(x[inrange], y[inrange]) >= 0
    swapped = np.zeros(n, dtype=bool)
    retry = work & ~inside
    if lookup is not None and retry.any():
        sx, sy = np.full(n, np.nan), np.full(n, np.nan)
        sx[retry], sy[retry] = to_storage_xy(lat[retry], lon[retry], crs)
        ok = retry & np.isfinite(sx) & np.isfinite(sy)
        swapped[ok] = lookup.locate(sx[ok], sy[ok]) >= 0
        if fix_swapped:
            x[swapped], y[swapped] = sx[swapped], sy[swapped]
            fixed[swapped] = "lat/lon were swapped; swapped back"
            lon[swapped], lat[swapped] = lat[swapped].copy(), lon[swapped].copy()
            tlon, tlat = tlon.copy(), tlat.copy()
            tlon[swapped], tlat[swapped] = tlat[swapped].copy(), tlon[swapped].copy()
        else:
            rej.add(swapped, "lon+lat", "swapped_latlon",
                    "lat/lon look swapped: the swapped point falls inside the territory "
                    "(swap the columns, or import with --fix-swapped)")
    rej.add(work & ~inrange & ~swapped, "lon+lat", "out_of_range",
            lambda i: f"coordinates out of range: lon {tlon[i]}, lat {tlat[i]} "
                      "(|lon| ≤ 180, |lat| ≤ 90)")
    if crs.is_geographic and settings.INTAKE_MIN_COORD_DECIMALS > 0:
        need = settings.INTAKE_MIN_COORD_DECIMALS
        dec = np.array([min(decimals(a), decimals(b)) if w else need
                        for a, b, w in zip(tlon, tlat, work, strict=True)])
        rej.add(work & (dec < need), "lon+lat", "low_precision",
                lambda i: f"coordinates have {dec[i]} decimal(s), at least {need} are "
                          "required (settings.INTAKE_MIN_COORD_DECIMALS)")
    return x, y, fixed


def _source_ids(table: Table, rej: _Rejects, kind: np.ndarray, when: np.ndarray) -> np.ndarray:
    if "source_id" in table.columns:
        ids = _col(table, "source_id")
        rej.add(ids == "", "source_id", "missing_field",
                f"missing required field {FIELD_LABELS['source_id']}")
    else:  # no id column: a content hash keeps re-runs idempotent
        parts = [kind, when, _col(table, "lon"), _col(table, "lat"), _col(table, "address"),
                 _col(table, "reporter"), _col(table, "description")]
        ids = np.array(["sha1:" + hashlib.sha1("\x1f".join(p).encode()).hexdigest()[:24]
                        for p in zip(*parts, strict=True)], dtype=object)
    s = pd.Series(ids)
    dup = ((s != "") & s.duplicated(keep="first")).to_numpy()
    if dup.any():
        first: dict[str, int] = {}
        for v, r in zip(s, table.rows, strict=True):
            first.setdefault(v, r)
        rej.add(dup, "source_id", "duplicate_id",
                lambda i: f"编号 {ids[i]!r} already used by row {first[ids[i]]} of this input")
    return ids


def _raw_json(origin: str, rows: np.ndarray, cells: pd.DataFrame) -> list[str]:
    """``{"origin", "row", "fields": {column: text}}`` per row, as JSON text (built in bulk:
    each distinct cell value is encoded once)."""
    if not len(cells):
        return []
    parts = []
    for k, c in enumerate(cells.columns):
        codes, uniq = pd.factorize(cells[c].to_numpy(dtype=object))
        key = json.dumps(str(c), ensure_ascii=False)
        enc = np.array([f"{', ' if k else ''}{key}: {json.dumps(str(v), ensure_ascii=False)}"
                        for v in uniq], dtype=object)
        parts.append(enc[codes].tolist())
    head = f'{{"origin": {json.dumps(origin, ensure_ascii=False)}, "row": '
    return [f'{head}{r}, "fields": {{{body}}}}}'
            for r, body in zip(rows.tolist(), map("".join, zip(*parts)), strict=True)]


def check_rows(table: Table, source: str | np.ndarray, crs: CrsSpec, lookup: GridLookup | None,
               fix_swapped: bool | None = None, now: datetime | None = None) -> Checked:
    """Validate every row of ``table``; ``source`` is one name or one per row."""
    n = len(table.cells)
    fix = settings.INTAKE_FIX_SWAPPED if fix_swapped is None else fix_swapped
    tz = ZoneInfo(settings.INTAKE_TIMEZONE)
    now = now or datetime.now(UTC)
    limit = pd.Timestamp(now + timedelta(minutes=settings.INTAKE_FUTURE_TOLERANCE_MIN))
    rej = _Rejects(n)
    table = _cut_long(table, rej)
    _check_types(table, rej)
    src = np.asarray(source, dtype=object) if not isinstance(source, str) else \
        np.full(n, source, dtype=object)
    rej.add(src == "", "source", "missing_field", "missing required field source (来源)")

    kinds = _col(table, "kind")
    cat = kind_catalogue()
    kind = np.array([cat.get(k, cat.get(k.lower(), "")) for k in kinds], dtype=object)
    rej.add(kinds == "", "kind", "missing_field", f"missing required field {FIELD_LABELS['kind']}")
    rej.add((kinds != "") & (kind == ""), "kind", "unknown_kind",
            lambda i: f"unknown kind {kinds[i]!r}; use a key or Chinese name of the catalogue "
                      f"({', '.join(f'{a}/{b}' for a, b in settings.INCIDENT_KINDS.items())})")
    for fld, required in (("occurred_at", True), ("reported_at", False)):
        texts = _col(table, fld)
        ts, bad = _times(texts, tz)
        label = FIELD_LABELS[fld]
        if required:
            rej.add(texts == "", fld, "missing_field", f"missing required field {label}")
        rej.add(bad & (texts != ""), fld, "bad_time",
                lambda i, texts=texts, label=label: f"{label} {texts[i]!r} is not a time "
                                                     "(year first, e.g. 2025-05-01 08:30)")
        future = (~bad & (ts > limit)).to_numpy()
        rej.add(future, fld, "future_time",
                lambda i, texts=texts, label=label: f"{label} {texts[i]!r} is in the future")
        if fld == "occurred_at":
            occurred = ts
        else:
            reported = ts
    reporter = _col(table, "reporter")
    rej.add(reporter == "", "reporter", "missing_field",
            f"missing required field {FIELD_LABELS['reporter']}")
    lon, lat, fixed = _check_coordinates(table, rej, crs, lookup, fix)
    ids = _source_ids(table, rej, kind, _col(table, "occurred_at"))

    bad = rej.bad()
    raw_cols = [c for c in table.cells.columns if c not in (GEOM_ERROR, TYPE_ERROR)]
    cells = table.cells[raw_cols].fillna("").astype(str)
    rows = np.asarray(table.rows)
    good_idx = np.flatnonzero(~bad)
    desc, addr = _col(table, "description"), _col(table, "address")
    good = pd.DataFrame({
        "row": rows[good_idx], "source": src[good_idx], "source_id": ids[good_idx],
        "kind": kind[good_idx], "occurred_at": occurred.iloc[good_idx].reset_index(drop=True),
        "reported_at": reported.iloc[good_idx].reset_index(drop=True),
        "lon": lon[good_idx], "lat": lat[good_idx],
        "address": [a or None for a in addr[good_idx]],
        "description": [d or None for d in desc[good_idx]],
        "reporter": reporter[good_idx],
        "raw": _raw_json(table.path, rows[good_idx], cells.iloc[good_idx]),
        "fixed": fixed[good_idx],
    }, columns=GOOD_COLUMNS)
    out = []
    for i in np.flatnonzero(bad):
        items = rej.items[i]
        out.append({"row": int(rows[i]), "field": "; ".join(dict.fromkeys(f for f, _, _ in items)),
                    "code": "; ".join(dict.fromkeys(c for _, c, _ in items)),
                    "reason": "; ".join(r for _, _, r in items)})
    rejects = pd.DataFrame(out, columns=["row", "field", "code", "reason"])
    if len(rejects):
        own = cells.iloc[np.flatnonzero(bad)].reset_index(drop=True)
        own.columns = [f"{c} (input)" if c in rejects.columns else c for c in own.columns]
        rejects = pd.concat([rejects, own], axis=1)
    return Checked(good=good, rejects=rejects)
