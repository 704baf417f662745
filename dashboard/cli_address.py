"""CLI commands for addresses: ``wangge address match`` and the address review queue.

``wangge address match "甘州区党寨镇李寨村三社"`` shows what the matcher makes of an address
against the grids in force (or on ``--on DATE``, or of ``--version``): the grid, its
confidence, whether intake would place a report there, and the best candidates.

``wangge address review list`` lists reports whose address intake could not place with
confidence (oldest first); ``accept ID --grid CODE`` places the report's incident in that
village or group grid, ``reject ID --reason ...`` records that it cannot be placed. Both
record who (``--actor``, default ``$WANGGE_ACTOR`` or the login name) and when; doing the
same again changes nothing, a contradicting decision exits 2 with the reason.
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from dashboard.cli import JsonOpt, app, domain_errors, engine, out, summary
from gis._errors import WanggeError

address_app = typer.Typer(help="Addresses: match them to grids, review doubtful ones.",
                          no_args_is_help=True)
review_app = typer.Typer(help="The address review queue (reports not placed with confidence).",
                         no_args_is_help=True)
app.add_typer(address_app, name="address")
address_app.add_typer(review_app, name="review")

ActorOpt = Annotated[str | None, typer.Option(
    help="Who decides (default: $WANGGE_ACTOR, else the login name).")]
AdcodeOpt = Annotated[str | None, typer.Option(help="County adcode (default: all / in force).")]


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return os.environ.get("WANGGE_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"--on {text!r} is not a date; write YYYY-MM-DD"
        raise WanggeError(msg) from None


def _candidates(cands: list[dict[str, Any]]) -> str:
    return "; ".join(f"{c['code']} {c['name']} ({c['score']:.2f})" for c in cands)


@address_app.command("match")
@domain_errors
def address_match(
    address: Annotated[str, typer.Argument(help="The address or place name, e.g. 党寨镇李寨村三社.")],
    adcode: AdcodeOpt = None,
    on: Annotated[str | None, typer.Option(
        help="Use the grids in force on this date (YYYY-MM-DD; default today).")] = None,
    version: Annotated[int | None, typer.Option(help="Use this grid version instead.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Match one address to the most specific grid, with confidence and candidates."""
    from gis.address.places import places_for_version, places_in_force

    with engine().connect() as conn:
        places = places_for_version(conn, version) if version is not None else \
            places_in_force(conn, adcode, _day(on))
        m = places.match_many([address])[0]
    placed = m.status == "matched" and m.level in ("group", "village")
    rows: dict[str, Any] = {
        "address": address, "normalized": m.normalized, "status": m.status, "code": m.code,
        "level": m.level, "name": m.name, "confidence": m.confidence,
        "threshold": places.matcher.min_confidence,
        "intake": "placed" if placed else "review",
        "point": list(places.point(m.code)) if placed else None,
        "grid_version": places.version_id,
        "candidates": [{"code": c.code, "level": c.level, "name": c.name, "score": c.score}
                       for c in m.candidates]}
    if as_json:
        summary("address match", rows, as_json=True)
        return
    shown = {k: v for k, v in rows.items() if k != "candidates"}
    shown["candidates"] = _candidates(rows["candidates"]) or "—"
    summary("address match", shown, as_json=False)


@review_app.command("list")
@domain_errors
def review_list(
    adcode: AdcodeOpt = None,
    limit: Annotated[int | None, typer.Option(
        help="At most this many (default settings.ADDRESS_REVIEW_LIST_LIMIT).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Pending address reviews, oldest first, with their best candidates."""
    from gis.address import review

    with engine().connect() as conn:
        items = review.list_pending(conn, adcode, limit)
        total = review.count_pending(conn, adcode)
    if as_json:
        print(json.dumps({"pending": total, "items": items}, ensure_ascii=False, default=str))
        return
    table = Table("id", "incident", "address", "reason", "conf.", "candidates",
                  title=f"{total} pending address review(s)"
                        + (f", first {len(items)}" if len(items) < total else ""))
    for r in items:
        table.add_row(str(r["id"]), str(r["incident_id"]), r["address"], r["reason"],
                      f"{r['confidence']:.2f}", _candidates(r["candidates"])[:80])
    out.print(table)


@review_app.command("accept")
@domain_errors
def review_accept(
    review_id: Annotated[int, typer.Argument(help="Id of the review (see 'review list').")],
    grid: Annotated[str, typer.Option(help="Village or group grid code to place it in.")],
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Place the report's incident in grid CODE (its representative point, flag 'address')."""
    from gis.address import review

    with engine().begin() as conn:
        res = review.accept(conn, review_id, grid, _actor(actor))
    summary("address review accepted", res, as_json)


@review_app.command("reject")
@domain_errors
def review_reject(
    review_id: Annotated[int, typer.Argument(help="Id of the review (see 'review list').")],
    reason: Annotated[str, typer.Option(help="Why it cannot be placed, e.g. 外县地址.")],
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that the report's address cannot be placed (the incident stays without grid)."""
    from gis.address import review

    with engine().begin() as conn:
        r = review.reject(conn, review_id, _actor(actor), reason)
    summary("address review rejected", {k: r[k] for k in (
        "id", "incident_id", "address", "status", "reviewer", "decided_at", "note",
        "changed")}, as_json)
