"""API tokens for machine intake (``POST /api/incidents``), scoped to a source and a unit.

A token is ``wgt_`` + 43 URL-safe characters (32 random bytes). The store keeps only its
SHA-256 (a fast hash is right here: the token is random, not a guessable password) and the
first :data:`PREFIX_LEN` characters for display and revocation. It is shown once, when made.
A token may submit only as its ``source`` and only items located inside its unit
(:meth:`ApiToken.check`); with :func:`gis.store.scoped.scoped` the database enforces the unit
as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gis import audit, settings
from gis._errors import AuthError, NotFoundError, PermissionDenied
from gis.auth.jurisdiction import covers, resolve_unit

SCHEME = "wgt_"
"""Start of every token (lets secret scanners recognise them)."""
PREFIX_LEN = 12
"""Characters of a token kept in clear (``wgt_`` + 8) to name it in lists and logs."""
REFUSED = "API token not accepted (unknown, revoked or expired)"
"""The one message of every refused token (the cause goes to the audit log)."""

_COLS = ("id, name, prefix, source, unit_code, adcode, created_at, created_by, expires_at, "
         "revoked_at, last_used_at")


@dataclass(frozen=True)
class ApiToken:
    """A token as stored (never the secret itself)."""

    id: int
    name: str
    prefix: str
    source: str
    unit_code: str
    adcode: str
    created_at: datetime | None = None
    created_by: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def jurisdiction(self) -> tuple[str, ...]:
        """Unit codes the token may write into (for :func:`gis.store.scoped.scoped`)."""
        return (self.unit_code,)

    @property
    def actor(self) -> str:
        """Name of the token in audit rows and ``incident_event.actor``."""
        return f"token:{self.prefix}"

    def status(self, now: datetime | None = None) -> str:
        """``active``, ``revoked`` or ``expired``."""
        now = now or datetime.now(timezone.utc)
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def allows(self, source: str, adcode: str | None, code: str | None) -> bool:
        """Whether the token may submit an item of ``source`` located in county ``adcode``,
        village / group ``code``."""
        return source == self.source and covers(self.unit_code, adcode, code)

    def check(self, source: str, adcode: str | None, code: str | None) -> None:
        """PermissionDenied unless :meth:`allows`."""
        if source != self.source:
            msg = f"API token {self.prefix}… may submit only as source {self.source!r}, " \
                  f"not {source!r}"
            raise PermissionDenied(msg)
        if not covers(self.unit_code, adcode, code):
            msg = f"API token {self.prefix}… is limited to unit {self.unit_code}; the item " \
                  f"lies in {code or adcode or 'no known unit'}"
            raise PermissionDenied(msg)

    def to_dict(self) -> dict[str, Any]:  # noqa: D102
        return {**asdict(self), "status": self.status()}


def digest(token: str) -> str:
    """SHA-256 (hex) of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token(row: Any) -> ApiToken:
    return ApiToken(**dict(row._mapping))


def create_token(conn: Connection, name: str, source: str, unit_code: str, *, actor: str,
                 days: float | None = None, ip: str | None = None) -> tuple[ApiToken, str]:
    """Make a token for intake ``source`` limited to unit ``unit_code``.

    Parameters
    ----------
    days : float, optional
        Days until it expires (default :data:`gis.settings.TOKEN_DEFAULT_DAYS`; 0 or a
        negative number: never).

    Returns
    -------
    (ApiToken, str)
        The stored token and its secret (shown once, never stored).
    """
    name, source = str(name).strip(), str(source).strip()
    if not name or len(name) > 100:
        raise AuthError("the token name must have 1–100 characters")
    if not source or len(source) > 100:
        raise AuthError("the token's source must have 1–100 characters (the intake source name)")
    unit = resolve_unit(conn, unit_code)
    days = settings.TOKEN_DEFAULT_DAYS if days is None else days
    expires = datetime.now(timezone.utc) + timedelta(days=days) if days and days > 0 else None
    secret = SCHEME + secrets.token_urlsafe(32)
    row = conn.execute(sa.text(
        f"insert into api_token (name, prefix, token_hash, source, unit_code, adcode, "
        f"created_by, expires_at) values (:n, :p, :h, :s, :u, :a, :by, :e) returning {_COLS}"),
        {"n": name, "p": secret[:PREFIX_LEN], "h": digest(secret), "s": source,
         "u": unit.code, "a": unit.adcode, "by": actor, "e": expires}).one()
    tok = _token(row)
    audit.record(conn, actor, "token.add", f"token:{tok.prefix}",
                 {"name": name, "source": source, "unit": unit.code,
                  "expires_at": expires}, scope=unit.code, ip=ip)
    return tok, secret


def list_tokens(conn: Connection) -> list[ApiToken]:
    """All tokens (revoked and expired too), newest first."""
    return [_token(r) for r in conn.execute(sa.text(
        f"select {_COLS} from api_token order by id desc"))]


def find_token(conn: Connection, ref: str | int) -> ApiToken:
    """A token by id or by its displayed prefix (``wgt_…``); NotFoundError if none."""
    ref = str(ref).strip().rstrip("…")
    if ref.isdigit():
        row = conn.execute(sa.text(f"select {_COLS} from api_token where id = :i"),
                           {"i": int(ref)}).first()
    else:
        row = conn.execute(sa.text(f"select {_COLS} from api_token where prefix = :p"),
                           {"p": ref[:PREFIX_LEN]}).first()
    if row is None:
        msg = f"no API token {ref!r}; see 'wangge tokens list'"
        raise NotFoundError(msg)
    return _token(row)


def revoke_token(conn: Connection, ref: str | int, *, actor: str,
                 ip: str | None = None) -> ApiToken:
    """Revoke a token (by id or prefix); revoking twice keeps the first time."""
    tok = find_token(conn, ref)
    conn.execute(sa.text("update api_token set revoked_at = coalesce(revoked_at, now()) "
                         "where id = :i"), {"i": tok.id})
    audit.record(conn, actor, "token.revoke", f"token:{tok.prefix}",
                 {"name": tok.name, "was": tok.status()}, scope=tok.unit_code, ip=ip)
    return find_token(conn, tok.id)


def _check(conn: Connection, value: str, ip: str | None,
           record_failure: bool) -> ApiToken | None:
    row = None
    if value.startswith(SCHEME) and len(value) < 200:
        row = conn.execute(sa.text(f"select {_COLS}, token_hash from api_token "
                                   "where token_hash = :h"), {"h": digest(value)}).first()
    tok = None
    if row is not None and hmac.compare_digest(row.token_hash, digest(value)):
        m = dict(row._mapping)
        m.pop("token_hash")
        tok = ApiToken(**m)
    if tok is None or tok.status() != "active":
        if record_failure:
            audit.record(conn, "anonymous" if tok is None else tok.actor, "token.rejected",
                         f"token:{value[:PREFIX_LEN]}" if value else None,
                         {"reason": "unknown" if tok is None else tok.status()},
                         scope=None if tok is None else tok.unit_code, ip=ip)
        return None
    conn.execute(sa.text("update api_token set last_used_at = now() where id = :i"),
                 {"i": tok.id})
    return tok


def verify_token(db: Engine | Connection, presented: str, *, ip: str | None = None,
                 record_failure: bool = True) -> ApiToken:
    """The active token whose secret is ``presented`` (a bare token or an
    ``Authorization: Bearer …`` value), marked as used.

    Otherwise AuthError with :data:`REFUSED` and a ``token.rejected`` audit row. Given an
    Engine, the check runs in its own transaction, committed before the error is raised;
    given a Connection, the caller's transaction holds the audit row (commit it).
    """
    value = str(presented or "").strip()
    if value.lower().startswith("bearer "):
        value = value[7:].strip()
    if isinstance(db, Engine):
        with db.begin() as conn:
            tok = _check(conn, value, ip, record_failure)
    else:
        tok = _check(db, value, ip, record_failure)
    if tok is None:
        raise AuthError(REFUSED)
    return tok
