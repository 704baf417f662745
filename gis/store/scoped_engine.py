"""Engines that see only a jurisdiction: :func:`scoped_engine`.

:func:`gis.store.scoped.scoped` gives one transaction as the application role. Much code of
wangge takes an *Engine* instead (intake's :func:`gis.incidents.intake.import_records`, the
planner's edits and re-imports, the weekly briefing) and opens connections and transactions
itself. :func:`scoped_engine` gives such code an Engine on which every connection, however it
is used (``connect()``, ``begin()``, pandas, raw COPY through the driver), is the
application role (:data:`gis.settings.DB_APP_ROLE`) with the jurisdiction of ``who``, so
row-level security (migration 0008) applies to all of it.

How: the application role has its own connection pool per database (never shared with the
owner's pool). Every physical connection of it runs ``SET ROLE`` once when it is opened, and
each checkout sets ``wangge.jurisdiction`` / ``wangge.actor`` / ``wangge.publish`` at session
level for its borrower. The pool fails closed: a connection checked out without a scope gets
an empty jurisdiction (it sees nothing), and a connection replaced after a network error keeps
the role and has no jurisdiction until its next checkout.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from gis import settings
from gis.store.scoped import jurisdiction_codes

OPTION = "wangge_scope"
"""Execution option carrying (jurisdiction, actor, publish) of a scoped engine."""
APP_POOL_SIZE = 5
"""Connections kept open in each application-role pool."""
APP_MAX_OVERFLOW = 10
"""Extra connections an application-role pool may open under load."""

_SCOPE_SQL = ("select set_config('wangge.jurisdiction', %s, false), "
              "set_config('wangge.actor', %s, false), set_config('wangge.publish', %s, false)")
_lock = threading.Lock()


def _set_role(dbapi_conn: Any, _record: Any) -> None:
    """Pool ``connect``: make a new physical connection the application role (no scope)."""
    with dbapi_conn.cursor() as cur:
        cur.execute(f'set role "{settings.DB_APP_ROLE}"')
        cur.execute(_SCOPE_SQL, ("", "", "off"))
        cur.execute("select set_config('jit', 'off', false)")
    dbapi_conn.commit()


def _apply(conn: Connection) -> None:
    """Engine ``engine_connect``: set the borrower's scope (empty when it has none)."""
    scope = conn.get_execution_options().get(OPTION) or ("", "", "off")
    dbapi_conn = conn.connection.dbapi_connection
    with dbapi_conn.cursor() as cur:
        cur.execute(_SCOPE_SQL, scope)
    dbapi_conn.commit()


@functools.cache
def _app_engine(url: str) -> Engine:
    eng = sa.create_engine(url, pool_pre_ping=True, pool_size=APP_POOL_SIZE,
                           max_overflow=APP_MAX_OVERFLOW)
    event.listen(eng, "connect", _set_role)
    event.listen(eng, "engine_connect", _apply)
    return eng


def app_engine(engine: Engine) -> Engine:
    """The application-role engine (own pool) of the database of ``engine``; its
    connections see nothing until given a scope (use :func:`scoped_engine`)."""
    with _lock:
        return _app_engine(engine.url.render_as_string(hide_password=False))


def scoped_engine(engine: Engine, who: Any, *, actor: str | None = None,
                  may_publish: bool | None = None) -> Engine:
    """An Engine on the database of ``engine`` whose every connection is the application
    role scoped to ``who``'s jurisdiction.

    Parameters
    ----------
    engine : Engine
        Engine of the store (its login role must be allowed to ``SET ROLE`` to the
        application role, as for :func:`gis.store.scoped.scoped`).
    who : object, str or iterable of str
        A user or API token (anything with ``jurisdiction``), or unit codes.
    actor : str, optional
        Name for ``wangge.actor`` (default: ``who.name``, else ``who.actor``).
    may_publish : bool, optional
        Default: ``who.may_publish`` when it has one, else False.

    Returns
    -------
    Engine
        Shares the application-role pool of the database; cheap to make per request.
    """
    codes = jurisdiction_codes(who)
    if may_publish is None:
        may_publish = bool(getattr(who, "may_publish", False))
    name = actor or getattr(who, "name", None) or getattr(who, "actor", None) or ""
    return app_engine(engine).execution_options(
        **{OPTION: (",".join(codes), str(name), "on" if may_publish else "off")})


def scope_of(engine: Engine | Connection) -> tuple[str, ...] | None:
    """Jurisdiction codes of a scoped engine / connection (None: not scoped, the owner)."""
    scope = engine.get_execution_options().get(OPTION)
    return tuple(scope[0].split(",")) if scope else None


def cache_key(engine: Engine) -> str:
    """A key for results read through ``engine``: its URL, plus its jurisdiction when it
    is scoped (two jurisdictions never share a cached result)."""
    scope = scope_of(engine)
    return str(engine.url) + ("" if scope is None else "#scope=" + ",".join(scope))
