"""The append-only audit log: :func:`record` and :func:`query`.

Logins (and failed ones), logouts, user and API-token changes and grid publishes go to
``audit_log`` (migration 0008); incident transitions keep their own trail in
``incident_event`` and planning edits in ``grid_edit``, both append-only as well. No row of
``audit_log`` can be changed or removed: a trigger refuses UPDATE, DELETE and TRUNCATE for
every role, and the application role has only SELECT and INSERT on the table.

Row-level security shows a row to the users whose jurisdiction covers its ``scope_code``
(the unit the event concerns); rows without a county (``adcode`` null, e.g. a failed login
with an unknown name) only to county-level users.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import AuthError

ACTIONS: tuple[str, ...] = (
    "login", "login_failed", "login_blocked", "logout",
    "user.add", "user.disable", "user.enable", "user.passwd",
    "token.add", "token.revoke", "token.rejected",
    "grid.publish",
)
"""Actions written by wangge itself (others may be recorded too: names up to 40 chars)."""

COLUMNS = ("id", "at", "actor", "action", "target", "adcode", "scope_code", "ip", "details",
           "trail")

TRAILS_SQL = """
    select id, at, actor, action, target, adcode, scope_code, ip, details,
           'audit_log' as trail from audit_log
    union all
    select e.id, e.at, e.actor, 'incident.' || coalesce(e.action, e.kind),
           'incident:' || e.incident_id, e.adcode, i.village_code, null,
           e.detail || jsonb_build_object('kind', e.kind, 'from', e.from_status,
                                          'to', e.to_status, 'level', e.level),
           'incident_event'
      from incident_event e join incident i on i.id = e.incident_id
    union all
    select g.id, g.at, g.actor, 'grid.' || g.op, 'grid_version:' || g.version_id, g.adcode,
           null, null,
           g.detail || jsonb_build_object('codes_before', g.codes_before,
                                          'codes_after', g.codes_after),
           'grid_edit'
      from grid_edit g where g.op <> 'publish'
"""
"""Every append-only trail as one: ``audit_log`` (logins, users, tokens, publishes),
``incident_event`` (incident transitions, reminders, warnings, escalations as
``incident.<action>``) and ``grid_edit`` (planning edits and imports as ``grid.<op>``; a
publish is in ``audit_log`` already). Row-level security applies to each part."""


def record(conn: Connection, actor: str, action: str, target: str | None = None,
           details: dict[str, Any] | None = None, *, adcode: str | None = None,
           scope: str | None = None, ip: str | None = None) -> None:
    """Append one row to the audit log, in the caller's transaction.

    Parameters
    ----------
    conn : Connection
        Connection (owner or scoped: the application role may insert).
    actor : str
        Who did it: a user name, ``cli:<os user>``, ``token:<prefix>``, ``anonymous``.
    action : str
        What (see :data:`ACTIONS`), at most 40 characters.
    target : str, optional
        What it was done to (``user:li``, ``grid_version:7``, ``token:wgt_ab12cd34``).
    details : dict, optional
        More facts (JSON; values that are not JSON become their ``str``).
    adcode : str, optional
        County concerned (default: the first 6 characters of ``scope``).
    scope : str, optional
        Unit concerned (county adcode, township or village code): who may read the row.
    ip : str, optional
        Network address of the request.
    """
    if not actor or not action or len(action) > 40:
        msg = f"audit record needs an actor and an action of at most 40 characters " \
              f"(got actor={actor!r}, action={action!r})"
        raise AuthError(msg)
    if adcode is None and scope and len(scope) >= 6:
        adcode = scope[:6]
    conn.execute(sa.text(
        "insert into audit_log (actor, action, target, adcode, scope_code, ip, details) "
        "values (:actor, :action, :target, :adcode, :scope, :ip, cast(:details as jsonb))"),
        {"actor": str(actor), "action": action, "target": target, "adcode": adcode,
         "scope": scope, "ip": ip,
         "details": json.dumps(details or {}, ensure_ascii=False, default=str)})


def query(conn: Connection, since: datetime | None = None, actor: str | None = None, *,
          action: str | None = None, target: str | None = None, until: datetime | None = None,
          limit: int | None = None, trails: bool = True) -> list[dict[str, Any]]:
    """Audit rows, oldest first (with ``trails`` also the incident transitions and the
    grid edits: :data:`TRAILS_SQL`; ``trail`` names the table of each row), filtered by time (``since`` inclusive, ``until``
    exclusive), ``actor``, ``action`` (a trailing ``.`` or ``*`` matches a family, e.g.
    ``user.``) and ``target``; at most ``limit`` rows (default
    :data:`gis.settings.AUDIT_QUERY_LIMIT`, the newest ones). On a scoped connection only the
    rows of the jurisdiction come back."""
    where, params = [], {}
    if since is not None:
        where.append("at >= :since")
        params["since"] = since
    if until is not None:
        where.append("at < :until")
        params["until"] = until
    if actor is not None:
        where.append("actor = :actor")
        params["actor"] = actor
    if action is not None:
        if action.endswith(("*", ".")):
            where.append("left(action, :alen) = :action")
            params["action"] = action.rstrip("*")
            params["alen"] = len(params["action"])
        else:
            where.append("action = :action")
            params["action"] = action
    if target is not None:
        where.append("target = :target")
        params["target"] = target
    params["limit"] = int(limit if limit is not None else settings.AUDIT_QUERY_LIMIT)
    source = f"({TRAILS_SQL}) trails" if trails else \
        "(select *, 'audit_log' as trail from audit_log) trails"
    sql = (f"select {', '.join(COLUMNS)} from (select * from {source} "
           f"{'where ' + ' and '.join(where) if where else ''} "
           "order by at desc, id desc limit :limit) newest order by at, id")
    return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def failures_since_success(conn: Connection, name: str, ip: str | None,
                           window_s: float) -> tuple[int, int]:
    """Failed logins within the last ``window_s`` seconds: (of ``name`` from ``ip`` since
    that pair's last successful login, from ``ip`` for any name). Read as the owner: the
    rate limit of :mod:`dashboard.auth` (shared by every worker process)."""
    row = conn.execute(sa.text("""
        with w as (select clock_timestamp() - make_interval(secs => :w) as t0),
        last_ok as (
          select max(at) as at from audit_log, w
           where action = 'login' and target = :target and ip is not distinct from :ip
             and at >= w.t0)
        select
          (select count(*) from audit_log, w, last_ok
            where action = 'login_failed' and target = :target
              and ip is not distinct from :ip and audit_log.at >= w.t0
              and (last_ok.at is null or audit_log.at > last_ok.at)) as pair,
          (select count(*) from audit_log, w
            where action = 'login_failed' and ip is not distinct from :ip
              and audit_log.at >= w.t0) as per_ip"""),
        {"w": float(window_s), "target": f"user:{name}", "ip": ip}).one()
    return int(row.pair), int(row.per_ip)
