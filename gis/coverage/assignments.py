"""Import of 一村一警一连 assignments (officer and militia company per village) from a CSV.

All or nothing: every row is checked first (unknown village or post codes, codes of another
county, contradicting details, bad strengths); rejected rows go to ``<file>.rejected.csv``
with the line, field and reason, and nothing is written. See :func:`import_assignments`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis._errors import FeatureRejected, InputFileError
from gis.coverage.table import SEP

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
