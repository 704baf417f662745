"""Connections that see only a jurisdiction: :func:`scoped`.

The application does its per-request database work as the application role
(:data:`gis.settings.DB_APP_ROLE`, created by migration 0008): ``SET LOCAL ROLE`` inside a
transaction, after ``set_config('wangge.jurisdiction', '<codes>', true)``. PostgreSQL's
row-level security policies then hide every row of ``incident``, ``incident_event``,
``incident_report``, draft ``grid`` rows, ``grid_edit``, ``audit_log`` and the patrol tables
outside the jurisdiction, and refuse writes there. Both settings are transaction-local, so a
connection goes back to the pool as the owner with no jurisdiction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gis import settings
from gis._errors import AuthError

_CODE = re.compile(r"[0-9A-Za-z]{2,20}")


def jurisdiction_codes(who: Any) -> tuple[str, ...]:
    """The unit codes of ``who``: an object with ``jurisdiction`` (a user, an API token), a
    code, or an iterable of codes. Raises AuthError when there is none or one is malformed
    (2–20 letters or digits)."""
    value = getattr(who, "jurisdiction", who)
    codes: Iterable[Any] = (value,) if isinstance(value, str) else (value or ())
    out = tuple(dict.fromkeys(str(c).strip() for c in codes))
    bad = [c for c in out if not _CODE.fullmatch(c)]
    if not out or bad:
        msg = f"jurisdiction {list(out)!r} is not usable: give one or more unit codes " \
              "(county adcode, township or village code, 2–20 letters or digits)"
        raise AuthError(msg)
    return out


def apply_scope(conn: Connection, who: Any, *, actor: str | None = None,
                may_publish: bool = False) -> tuple[str, ...]:
    """Switch the open transaction of ``conn`` to the application role, scoped to ``who``.

    Parameters
    ----------
    conn : Connection
        A connection inside a transaction (``engine.begin()``); the scope ends with it.
    who : object, str or iterable of str
        See :func:`jurisdiction_codes`.
    actor : str, optional
        Name recorded in ``wangge.actor`` (for triggers and logs).
    may_publish : bool
        Whether the transaction may publish or retire a grid version (the policy on
        ``grid_version`` checks ``wangge.publish``).

    Returns
    -------
    tuple of str
        The codes set.

    Notes
    -----
    JIT compilation is turned off for the transaction: the policies' sub-selects make the
    planner's cost estimates of scans of ``incident_event`` / ``incident_report`` high
    enough to trigger it, and compiling costs more than a second there while the queries
    themselves take tens of milliseconds.
    """
    codes = jurisdiction_codes(who)
    conn.execute(sa.text(
        "select set_config('wangge.jurisdiction', :j, true), "
        "set_config('wangge.actor', :a, true), set_config('wangge.publish', :p, true), "
        "set_config('jit', 'off', true)"),
        {"j": ",".join(codes), "a": actor or getattr(who, "name", "") or "",
         "p": "on" if may_publish else "off"})
    conn.execute(sa.text(f'set local role "{settings.DB_APP_ROLE}"'))
    return codes


@contextmanager
def scoped(engine: Engine, who: Any, *, actor: str | None = None,
           may_publish: bool | None = None) -> Iterator[Connection]:
    """A connection in a transaction that sees and changes only ``who``'s jurisdiction.

    Commits when the block ends normally, rolls back on an exception.

    Parameters
    ----------
    engine : Engine
        Engine of the store (its login role must be allowed to ``SET ROLE`` to the
        application role: superuser or member, see migration 0008).
    who : object, str or iterable of str
        A :class:`gis.auth.users.User` or :class:`gis.auth.tokens.ApiToken` (anything with
        ``jurisdiction``), or unit codes.
    actor : str, optional
        Name for ``wangge.actor`` (default: ``who.name``).
    may_publish : bool, optional
        Default: ``who.may_publish`` when it has one, else False.

    Yields
    ------
    Connection
    """
    if may_publish is None:
        may_publish = bool(getattr(who, "may_publish", False))
    with engine.begin() as conn:
        try:
            apply_scope(conn, who, actor=actor, may_publish=may_publish)
        except sa.exc.ProgrammingError as e:
            msg = f"cannot switch to the application role {settings.DB_APP_ROLE!r}: {e.orig}. " \
                  "Run the migrations (wangge db status) or grant the role to the login user"
            raise AuthError(msg) from e
        yield conn
