"""CLI commands for planners: drafts, edits, preview, publish, diff (on ``wangge grids``).

``wangge grids draft new|list|show``, ``wangge grids edit split|merge|move|edge|rename|
recode|set``, ``wangge grids preview DRAFT --effective D``, ``wangge grids publish DRAFT
--effective D``, ``wangge grids diff V1 V2``. Every command takes ``--json``. A refused
operation (published version, non-adjacent grids, an edit or a draft that fails
validation, a bad date ...) prints one clear line and exits 2; a refused publish also
prints its problem list (a table, or ``{"published": false, "problems": [...]}`` with
``--json``). Edits without ``--draft`` go to the newest draft of the county of the first
code (its first 6 digits).
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from dashboard.cli import JsonOpt, domain_errors, engine, grids_app, out, summary
from gis._errors import WanggeError

draft_app = typer.Typer(help="Draft grid versions: new, list, show.", no_args_is_help=True)
edit_app = typer.Typer(help="Edit a draft: split, merge, move, edge, rename, recode, set.",
                       no_args_is_help=True)
grids_app.add_typer(draft_app, name="draft")
grids_app.add_typer(edit_app, name="edit")

DraftOpt = Annotated[int | None, typer.Option(
    "--draft", help="Draft version id (default: newest draft of the code's county).")]
ActorOpt = Annotated[str | None, typer.Option(
    help="Who does it (default: $WANGGE_ACTOR, else the login name).")]


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return os.environ.get("WANGGE_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"--effective must be a date YYYY-MM-DD, not {text!r}"
        raise typer.BadParameter(msg) from None


def _dump(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


def _draft_for(conn: Any, draft: int | None, code: str) -> int:
    from gis.grids import versions

    if draft is not None:
        return draft
    vid = versions.latest_draft(conn, code[:6], create=False)
    if vid is None:
        msg = f"county {code[:6]} (from code {code}) has no draft; create one with " \
              f"'wangge grids draft new --adcode {code[:6]}' or pass --draft"
        raise WanggeError(msg)
    return int(vid)


def _edit(name: str, draft: int | None, code: str, as_json: bool, op: Any) -> None:
    """Run an edit ``op(conn, draft_id)`` in one transaction and print what it did."""
    with engine().begin() as conn:
        vid = _draft_for(conn, draft, code)
        res = op(conn, vid)
    if as_json:
        _dump(res.to_dict())
        return
    summary(f"grids edit {name}", {"draft": vid, "edit": res.edit_id,
                                   "before": ", ".join(res.codes_before),
                                   "after": ", ".join(res.codes_after),
                                   "neighbours noded": len(res.noded)}, False)


# --- draft ---------------------------------------------------------------------------------

@draft_app.command("new")
@domain_errors
def draft_new(
    adcode: Annotated[str | None, typer.Option(help="County adcode (default: the only one).")] = None,
    from_version: Annotated[int | None, typer.Option(
        "--from", help="Version to copy (default: in force today).")] = None,
    name: Annotated[str | None, typer.Option(help="Name of the draft.")] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a draft holding a copy of the grids in force (or of --from)."""
    import sqlalchemy as sa

    from gis.grids import versions

    with engine().begin() as conn:
        if adcode is None and from_version is None:
            known = versions.counties(conn)
            if len(known) != 1:
                msg = f"give --adcode (counties with grid versions: {sorted(known)})"
                raise WanggeError(msg)
            adcode = known[0]
        vid = versions.new_draft(conn, adcode, from_version, name, actor=_actor(actor))
        v = versions.get_version(conn, vid)
        n = conn.execute(sa.text("select count(*) from grid where version_id = :v"),
                         {"v": vid}).scalar_one()
    summary("grids draft new", {"draft": vid, "adcode": v["adcode"], "name": v["name"],
                                "from_version": v["parent_version_id"], "grids": n}, as_json)


@draft_app.command("list")
@domain_errors
def draft_list(
    adcode: Annotated[str | None, typer.Option(help="Only this county.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the drafts, newest first."""
    from gis.grids.versions import list_versions

    with engine().connect() as conn:
        rows = list_versions(conn, adcode, status="draft")
    if as_json:
        _dump(rows)
        return
    table = Table("id", "adcode", "name", "from", "by", "created", "villages", "groups",
                  title=f"{len(rows)} draft(s)")
    for r in rows:
        table.add_row(*(str(r[k] if r[k] is not None else "") for k in (
            "id", "adcode", "name", "parent_version_id", "created_by")),
            str(r["created_at"])[:16], str(r["villages"]), str(r["groups"]))
    out.print(table)


@draft_app.command("show")
@domain_errors
def draft_show(
    draft: Annotated[int, typer.Argument(help="Version id (a draft or any version).")],
    as_json: JsonOpt = False,
) -> None:
    """A version with its grid counts and its edit log."""
    import sqlalchemy as sa

    from gis.grids import versions

    with engine().connect() as conn:
        v = versions.get_version(conn, draft)
        counts = dict(conn.execute(sa.text(
            "select level, count(*) from grid where version_id = :v group by level"),
            {"v": draft}).all())
        log = [dict(r) for r in conn.execute(sa.text(
            "select id, at, actor, op, codes_before, codes_after, detail from grid_edit "
            "where version_id = :v order by id"), {"v": draft}).mappings()]
    v.update(villages=counts.get(1, 0), groups=counts.get(2, 0))
    if as_json:
        _dump({"version": v, "edits": log})
        return
    summary(f"grid version {draft}", {k: v[k] for k in (
        "id", "adcode", "name", "status", "effective_date", "retired_from",
        "parent_version_id", "created_by", "created_at", "villages", "groups")}, False)
    table = Table("edit", "at", "actor", "op", "before", "after", title="edits")
    for e in log:
        table.add_row(str(e["id"]), str(e["at"])[:19], e["actor"], e["op"],
                      ", ".join(e["codes_before"])[:50], ", ".join(e["codes_after"])[:50])
    out.print(table)


# --- edit ----------------------------------------------------------------------------------

def _list(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


@edit_app.command("split")
@domain_errors
def edit_split(
    code: Annotated[str, typer.Argument(help="Grid to split.")],
    line: Annotated[str, typer.Option(help="Cutting line, WKT in EPSG:4490 degrees.")],
    draft: DraftOpt = None,
    codes: Annotated[str | None, typer.Option(help="Codes of the pieces, comma-separated "
                                                   "(west to east).")] = None,
    names: Annotated[str | None, typer.Option(help="Names of the pieces, comma-separated.")] = None,
    split_groups: Annotated[bool, typer.Option(
        "--split-groups", help="Village: also split the groups the line cuts.")] = False,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Split a grid by a line into two or more grids."""
    from gis.grids import edits

    _edit("split", draft, code, as_json, lambda conn, vid: edits.split(
        conn, vid, code, line, _list(codes), _list(names), actor=_actor(actor),
        split_groups=split_groups))


@edit_app.command("merge")
@domain_errors
def edit_merge(
    codes: Annotated[list[str], typer.Argument(help="Two or more adjacent grids.")],
    draft: DraftOpt = None,
    code: Annotated[str | None, typer.Option(help="Code of the merged grid "
                                                  "(default: the smallest).")] = None,
    name: Annotated[str | None, typer.Option(help="Name of the merged grid.")] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge adjacent grids of the same level and parent."""
    from gis.grids import edits

    _edit("merge", draft, codes[0], as_json, lambda conn, vid: edits.merge(
        conn, vid, codes, code, name, actor=_actor(actor)))


@edit_app.command("move")
@domain_errors
def edit_move(
    group: Annotated[str, typer.Argument(help="Group grid to move.")],
    village: Annotated[str, typer.Argument(help="Neighbouring village it moves to.")],
    draft: DraftOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move a group to a neighbouring village (both villages change with it)."""
    from gis.grids import edits

    _edit("move", draft, group, as_json, lambda conn, vid: edits.move_group(
        conn, vid, group, village, actor=_actor(actor)))


@edit_app.command("edge")
@domain_errors
def edit_edge(
    code_a: Annotated[str, typer.Argument(help="One grid.")],
    code_b: Annotated[str, typer.Argument(help="Its neighbour.")],
    line: Annotated[str, typer.Option(help="New shared edge, WKT in EPSG:4490 degrees.")],
    draft: DraftOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Redraw the edge two neighbours share (both change together)."""
    from gis.grids import edits

    _edit("edge", draft, code_a, as_json, lambda conn, vid: edits.redraw_edge(
        conn, vid, code_a, code_b, line, actor=_actor(actor)))


@edit_app.command("rename")
@domain_errors
def edit_rename(code: str, name: str, draft: DraftOpt = None, actor: ActorOpt = None,
                as_json: JsonOpt = False) -> None:
    """Give a grid a new name."""
    from gis.grids.edits import rename

    _edit("rename", draft, code, as_json, lambda c, v: rename(c, v, code, name,
                                                                actor=_actor(actor)))


@edit_app.command("recode")
@domain_errors
def edit_recode(code: str, new_code: str, draft: DraftOpt = None, actor: ActorOpt = None,
                as_json: JsonOpt = False) -> None:
    """Give a grid a new code (a village's groups follow)."""
    from gis.grids.edits import recode

    _edit("recode", draft, code, as_json, lambda c, v: recode(c, v, code, new_code,
                                                                actor=_actor(actor)))


@edit_app.command("set")
@domain_errors
def edit_set(
    code: str,
    population: Annotated[int | None, typer.Option(min=0)] = None,
    households: Annotated[int | None, typer.Option(min=0)] = None,
    worker: Annotated[str | None, typer.Option(help="Grid worker ('' clears).")] = None,
    draft: DraftOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set population, households and / or the grid worker."""
    from gis.grids import edits

    given = {k: v for k, v in (("population", population), ("households", households),
                               ("worker", worker)) if v is not None}
    _edit("set", draft, code, as_json, lambda conn, vid: edits.set_attrs(
        conn, vid, code, actor=_actor(actor), **given))


# --- preview, publish, diff ----------------------------------------------------------------

def _code_column() -> Column:
    return Column("code", no_wrap=True, min_width=18)


def _grid_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(_code_column(), "level", "change", "area before m²", "area after m²",
                  "population", "households", title=title)

    def num(x: Any) -> str:
        return "" if x is None else f"{x:,.0f}"

    for r in rows:
        table.add_row(r["code"], str(r["level"]), r["change"], num(r["area_before"]),
                      num(r["area_after"]),
                      f"{num(r['population_before'])} → {num(r['population_after'])}",
                      f"{num(r['households_before'])} → {num(r['households_after'])}")
    return table


def _problem_table(title: str, problems: list[dict[str, Any]]) -> Table:
    table = Table("type", "severity", "level", "codes", "area m²", "location", title=title)
    for p in problems:
        table.add_row(p["type"], p["severity"], str(p["level"] or ""),
                      ", ".join(p["codes"])[:60], f"{p['area_m2']:,.1f}", p["location"][:40])
    return table


@grids_app.command("preview")
@domain_errors
def grids_preview(
    draft: Annotated[int, typer.Argument(help="Draft version id.")],
    effective: Annotated[str, typer.Option(help="Effective date, YYYY-MM-DD.")],
    as_json: JsonOpt = False,
) -> None:
    """What publishing the draft would change: grids, incidents, problems."""
    from gis.grids.publish import preview

    day = _day(effective)
    with engine().connect() as conn:
        p = preview(conn, draft, day)
    if as_json:
        _dump(p)
        return
    out.print(_grid_table(f"draft {draft} vs version {p['retires']}: {p['added']} added, "
                          f"{p['removed']} removed, {p['changed']} changed", p["grids"]))
    if p["problems"]:
        out.print(_problem_table("validation", p["problems"]))
    summary("preview", {"effective": p["effective"], "retires": p["retires"],
                        "errors": p["errors"], "warnings": p["warnings"],
                        "incidents changing grid": p["incidents_changing"],
                        "publishable": p["publishable"]}, False)


@grids_app.command("publish")
@domain_errors
def grids_publish(
    draft: Annotated[int, typer.Argument(help="Draft version id.")],
    effective: Annotated[str, typer.Option(help="Effective date, YYYY-MM-DD.")],
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate and publish a draft; re-assign incidents dated on or after the date."""
    from gis.grids.publish import publish
    from gis.grids.versions import PublishRefused

    day = _day(effective)
    try:
        with engine().begin() as conn:
            rep = publish(conn, draft, day, actor=_actor(actor))
    except PublishRefused as e:
        problems = [p.to_dict() for p in e.problems]
        if as_json:
            _dump({"published": False, "problems": problems})
        else:
            out.print(_problem_table(f"draft {draft} is not published", problems))
        raise
    inc = rep.reassigned.get("incident", {})
    summary("grids publish", {"published": True, "version": rep.version_id,
                              "adcode": rep.adcode, "effective": rep.effective.isoformat(),
                              "retired": rep.retired_version_id,
                              "incidents_considered": inc.get("considered", 0),
                              "incidents_changed": inc.get("changed", 0),
                              "reassigned": rep.reassigned, "warnings": rep.warnings},
            as_json)


@grids_app.command("diff")
@domain_errors
def grids_diff(
    v1: Annotated[int, typer.Argument(help="Older version id.")],
    v2: Annotated[int, typer.Argument(help="Newer version id.")],
    as_json: JsonOpt = False,
) -> None:
    """Grids added, removed and changed between two versions, with area deltas."""
    from gis.grids.publish import diff

    with engine().connect() as conn:
        d = diff(conn, v1, v2)
    if as_json:
        _dump(d)
        return
    table = Table(_code_column(), "level", "change", "area before m²", "area after m²", "Δ m²",
                  title=f"version {v1} → {v2}: {len(d['added'])} added, "
                        f"{len(d['removed'])} removed, {len(d['changed'])} changed")
    for kind, sign, key in (("added", 1, "area_m2"), ("removed", -1, "area_m2")):
        for r in d[kind]:
            a = f"{r[key]:,.0f}"
            table.add_row(r["code"], str(r["level"]), kind, "" if sign > 0 else a,
                          a if sign > 0 else "", f"{sign * r[key]:+,.0f}")
    for r in d["changed"]:
        table.add_row(r["code"], str(r["level"]), ",".join(r["changes"]),
                      f"{r['area_before']:,.0f}", f"{r['area_after']:,.0f}",
                      f"{r['area_delta_m2']:+,.1f}")
    out.print(table)
