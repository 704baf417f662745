"""HTTP intake: ``POST /api/incidents`` on the Dash app's Flask server.

Other systems (110 dispatch, 12345 hotline, grid workers' app) post one JSON object or a list
of them. Fields (English or the same Chinese names as files): ``source_id`` (编号),
``kind`` (类型: catalogue key or Chinese name), ``occurred_at`` (时间, ISO 8601; without an
offset Beijing time), ``lon`` / ``lat`` (经度 / 纬度) or ``address`` (地址), ``reporter``
(报告人), optional ``reported_at``, ``description``, and ``source`` (default: the ``source``
query parameter). Query parameters: ``source``, ``crs`` (wgs84 default, gcj02, bd09,
EPSG:n), ``fix_swapped=1``.

The checks are those of file imports (:mod:`gis.incidents.validate_rows`), but a request is
all or nothing:

* 201 ``{"ids": [...], "items": [{"index", "incident_id", "status"}], "inserted",
  "merged", "duplicates", "placed_by_address", "address_review"}`` — every item stored;
  status ``created``, ``merged`` (attached to an existing incident as an extra report) or
  ``duplicate`` (this source id was received before: nothing changed, its incident id is
  returned, so retries are safe). An item given by address only also has ``placement``:
  ``address`` (matched to a grid with confidence: location = the grid's representative
  point, ``location_flag`` ``address``) or ``review`` (not placed with confidence: the
  incident has no grid yet, and ``review_id`` is its entry in the address review queue
  when this request queued it, see :mod:`gis.address.review`);
* 400 ``{"errors": [{"index", "field", "code", "reason"}]}`` — not JSON, not objects, or
  some items invalid (then nothing is stored);
* 413 — body over ``settings.INTAKE_MAX_UPLOAD_BYTES`` or more than
  ``settings.INTAKE_MAX_API_ITEMS`` items;
* 503 — no grid version in force, or the database is unreachable.

Every request needs an API token (``Authorization: Bearer wgt_…``, made by ``wangge tokens
add``; :mod:`gis.auth.tokens`); cookies are not accepted here, so cross-site requests cannot
ride on a browser session (no CSRF). A token is scoped to one source and one unit:

* 401 ``{"error": ...}`` (with ``WWW-Authenticate: Bearer``) — no token, or a token that is
  unknown, revoked or expired (the error says how to get one);
* 403 ``{"error", "errors": [{"index", "code", "reason"}]}`` — some item's source is not the
  token's (``wrong_source``) or its location lies outside the token's unit
  (``outside_scope``, also for an item with no village when the unit is below the county);
  nothing is stored.

The intake itself runs as the application role scoped to the token's unit
(:func:`gis.store.scoped_engine.scoped_engine`), so the database refuses rows outside it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from gis import settings
from gis._errors import AuthError, CrsError, GeocodeError, PermissionDenied, StoreError

HOW_TO_GET_A_TOKEN = (
    "send the header 'Authorization: Bearer <token>'; an administrator makes a token with "
    "'wangge tokens add NAME --source SOURCE --unit UNIT_CODE' (it is shown once)")
"""What a 401 answer tells the client to do."""


class ItemsRefused(PermissionDenied):
    """Items of a request that its API token may not submit (``errors``: index, code,
    reason)."""

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


def _error(status: int, message: str, **extra: Any) -> tuple[Any, int]:
    from flask import jsonify

    return jsonify({"error": message, **extra}), status


def _item(o: dict[str, Any]) -> dict[str, Any]:
    item = {"index": int(o["seq"]), "incident_id": int(o["incident_id"]), "status": o["status"]}
    if o["placement"] in ("address", "review"):
        item["placement"] = o["placement"]
    if o["placement"] == "review":
        rid = o["review_id"]  # None / NaN: queued by an earlier request, not this one
        item["review_id"] = None if rid is None or pd.isna(rid) else int(rid)
    return item


def _unauthorized(message: str) -> tuple[Any, int]:
    resp, status = _error(401, f"{message}: {HOW_TO_GET_A_TOKEN}")
    resp.headers["WWW-Authenticate"] = 'Bearer realm="wangge"'
    return resp, status


def authenticate(engine: Engine) -> Any:
    """The API token of the current request, or the 401 response to send instead."""
    import sqlalchemy as sa
    from flask import request

    from gis.auth.tokens import REFUSED, verify_token

    header = (request.headers.get("Authorization") or "").strip()
    scheme, _, value = header.partition(" ")
    if not header:
        return _unauthorized("API token required")
    if scheme.lower() != "bearer" or not value.strip():
        return _unauthorized("the Authorization header must be 'Bearer <token>'")
    try:
        return verify_token(engine, value.strip(), ip=request.remote_addr)
    except AuthError:
        return _unauthorized(REFUSED)
    except sa.exc.DBAPIError as e:
        return _error(503, f"database unreachable, the token could not be checked: "
                           f"{str(getattr(e, 'orig', e)).strip()[:200]}")


def authorizer(tok: Any) -> Callable[[str, pd.DataFrame], None]:
    """The check :func:`gis.incidents.intake.import_records` runs on the placed items:
    ItemsRefused listing every item ``tok`` may not submit."""

    def check(adcode: str, rows: pd.DataFrame) -> None:
        errors = []
        for pos, src, village, group in zip(
                rows["row"] if "row" in rows else range(len(rows)), rows["source"],
                rows["village_code"], rows["group_code"], strict=True):
            code = group if isinstance(group, str) and group else \
                village if isinstance(village, str) and village else None
            try:
                tok.check(str(src), adcode, code)
            except PermissionDenied as e:
                errors.append({"index": int(pos), "reason": str(e),
                               "code": "wrong_source" if str(src) != tok.source
                               else "outside_scope"})
        if errors:
            msg = f"API token {tok.prefix}… may not submit {len(errors)} of {len(rows)} " \
                  "incident(s); nothing was stored"
            raise ItemsRefused(msg, errors)

    return check


def _rls_refusal(e: Exception) -> bool:
    """Whether a database error is a row-level-security / privilege refusal (42501)."""
    orig = getattr(e, "orig", None)
    return getattr(orig, "sqlstate", None) == "42501" or \
        "row-level security" in str(orig or e)


def _read_at_most(stream: Any, n: int) -> bytes:
    """Up to ``n`` bytes of a request body (a body without Content-Length is read only
    this far, so an endless or huge one costs at most ``n`` bytes)."""
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(min(65_536, n - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def handle_post(engine_factory: Callable[[], Engine]) -> tuple[Any, int]:
    """The view of ``POST /api/incidents`` (needs a Flask request context)."""
    import sqlalchemy as sa
    from flask import jsonify, request

    from gis.incidents.intake import import_records
    from gis.store.scoped_engine import scoped_engine

    engine = engine_factory()
    tok = authenticate(engine)
    if isinstance(tok, tuple):
        return tok
    limit = settings.INTAKE_MAX_UPLOAD_BYTES
    if request.content_length is not None and request.content_length > limit:
        return _error(413, f"body of {request.content_length} bytes is over the limit of "
                           f"{limit} bytes; send fewer incidents per request")
    body = _read_at_most(request.stream, limit + 1)  # chunked bodies: never all of it
    if len(body) > limit:
        return _error(413, f"body is over the limit of {limit} bytes; send fewer incidents "
                           "per request")
    try:
        import json

        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        return _error(400, f"body is not UTF-8 JSON: {e}")
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        return _error(400, "empty list: send one incident object or a list of them")
    if len(items) > settings.INTAKE_MAX_API_ITEMS:
        return _error(413, f"{len(items)} incidents in one request; at most "
                           f"{settings.INTAKE_MAX_API_ITEMS}")
    bad = [{"index": i, "field": "", "code": "not_an_object",
            "reason": "each incident must be a JSON object"}
           for i, it in enumerate(items) if not isinstance(it, dict)]
    if bad:
        return jsonify({"errors": bad}), 400
    fix = request.args.get("fix_swapped", "").lower() in ("1", "true", "yes")
    try:
        rep = import_records(scoped_engine(engine, tok, actor=tok.actor), items,
                             source=request.args.get("source"), crs=request.args.get("crs"),
                             fix_swapped=fix or None, authorize=authorizer(tok))
    except ItemsRefused as e:
        return _error(403, str(e), errors=e.errors)
    except sa.exc.ProgrammingError as e:
        if not _rls_refusal(e):
            raise
        return _error(403, f"the database refused to store these incidents under API token "
                           f"{tok.prefix}… (unit {tok.unit_code}): nothing was stored")
    except CrsError as e:
        return _error(400, str(e))
    except (GeocodeError, StoreError) as e:
        return _error(503, str(e))
    if rep.rejected:
        errors = [{"index": int(r["row"]), "field": r["field"], "code": r["code"],
                   "reason": r["reason"]} for r in rep.rejects.to_dict("records")]
        return jsonify({"errors": errors, "rejected": rep.rejected,
                        "accepted": rep.accepted}), 400
    outcomes = rep.outcomes.to_dict("records") if rep.outcomes is not None else []
    return jsonify({
        "ids": [int(o["incident_id"]) for o in outcomes],
        "items": [_item(o) for o in outcomes],
        "inserted": rep.inserted, "merged": rep.merged, "duplicates": rep.duplicates,
        "placed_by_address": rep.placed_by_address, "address_review": rep.address_review,
    }), 201


def register_api(flask_server: Any, engine_factory: Callable[[], Engine]) -> None:
    """Add ``POST /api/incidents`` to ``flask_server`` (e.g. ``dash_app.server``).

    ``engine_factory`` returns the SQLAlchemy engine to write to (called per request, so it
    may connect lazily).
    """

    def post_incidents() -> tuple[Any, int]:
        return handle_post(engine_factory)

    flask_server.add_url_rule("/api/incidents", endpoint="api_post_incidents",
                              view_func=post_incidents, methods=["POST"])
