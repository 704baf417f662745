"""Users of the dashboard: create, list, disable / enable, change password, authenticate.

Passwords are hashed with argon2id (argon2-cffi, parameters in :mod:`gis.settings`); the
store keeps only the encoded hash (salt and parameters inside). Every change is written to
the audit log in the same transaction. Run these as the table owner (CLI, login view): the
application role cannot read ``app_user`` at all.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection

from gis import audit, settings
from gis._errors import AuthError, LoginFailed, NotFoundError
from gis.auth import roles
from gis.auth.jurisdiction import resolve_unit

NAME_RE = re.compile(r"[\w.@-]{2,64}")
"""User names: 2–64 letters (any script), digits, ``_ . @ -``."""

LOGIN_REFUSED = "wrong user name or password"
"""The one message of every refused login (the cause goes to the audit log only)."""

_COLS = ("id, name, role, unit_code, unit_level, adcode, active, created_at, created_by, "
         "updated_at, password_changed_at, last_login_at")


@dataclass(frozen=True)
class User:
    """A user as the application sees it (no password hash)."""

    id: int
    name: str
    role: str
    unit_code: str
    unit_level: str
    adcode: str
    active: bool
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    password_changed_at: datetime | None = None
    last_login_at: datetime | None = None

    @property
    def jurisdiction(self) -> tuple[str, ...]:
        """Unit codes whose rows the user may see (for :func:`gis.store.scoped.scoped`)."""
        return (self.unit_code,)

    @property
    def may_publish(self) -> bool:
        """Whether the user may publish a grid version of its county."""
        return roles.may_publish(self.role, self.unit_code, self.adcode)

    def can(self, action: str) -> bool:
        """Whether the user's role allows ``action`` (see :mod:`gis.auth.roles`)."""
        return roles.can(self.role, action)

    def to_dict(self) -> dict[str, Any]:  # noqa: D102
        return asdict(self)


@functools.cache
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hasher() -> PasswordHasher:
    """The argon2id hasher with the parameters of :mod:`gis.settings`."""
    return _hasher(settings.ARGON2_TIME_COST, settings.ARGON2_MEMORY_KIB,
                   settings.ARGON2_PARALLELISM)


def check_password(password: str) -> str:
    """``password`` if acceptable; AuthError saying why not."""
    if not isinstance(password, str):
        raise AuthError("the password must be text")
    n = len(password)
    if n < settings.PASSWORD_MIN_LENGTH:
        msg = f"the password has {n} characters; use at least {settings.PASSWORD_MIN_LENGTH}"
        raise AuthError(msg)
    if n > settings.PASSWORD_MAX_LENGTH:
        msg = f"the password has {n} characters; at most {settings.PASSWORD_MAX_LENGTH} allowed"
        raise AuthError(msg)
    if password != password.strip() or "\x00" in password:
        raise AuthError("the password starts or ends with white space or holds a NUL character")
    return password


def hash_password(password: str) -> str:
    """argon2id hash (PHC string) of an acceptable password."""
    return hasher().hash(check_password(password))


def verify_password(encoded: str, password: str) -> bool:
    """Whether ``password`` matches the argon2 hash ``encoded`` (False for a broken hash)."""
    try:
        return hasher().verify(encoded, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generate_password(n_bytes: int = 12) -> str:
    """A random password (URL-safe text, ``n_bytes`` of entropy → 16 characters for 12)."""
    return secrets.token_urlsafe(n_bytes)


def _user(row: Any) -> User:
    m = dict(row._mapping)
    m.pop("password_hash", None)
    return User(**m)


def check_name(name: str) -> str:
    """``name`` stripped if it is a valid user name, else AuthError."""
    name = str(name).strip()
    if not NAME_RE.fullmatch(name):
        msg = f"user name {name!r} is not valid: 2–64 letters, digits or _ . @ -"
        raise AuthError(msg)
    return name


def get_user(conn: Connection, name: str) -> User:
    """The user ``name``; NotFoundError when there is none."""
    row = conn.execute(sa.text(f"select {_COLS} from app_user where name = :n"),
                       {"n": name}).first()
    if row is None:
        msg = f"no user {name!r}; see 'wangge users list'"
        raise NotFoundError(msg)
    return _user(row)


def get_user_by_id(conn: Connection, user_id: int) -> User | None:
    """The user with ``user_id``, or None."""
    row = conn.execute(sa.text(f"select {_COLS} from app_user where id = :i"),
                       {"i": int(user_id)}).first()
    return None if row is None else _user(row)


def list_users(conn: Connection, adcode: str | None = None) -> list[User]:
    """All users (of county ``adcode``), by name."""
    sql = f"select {_COLS} from app_user"
    if adcode:
        sql += " where adcode = :a"
    return [_user(r) for r in conn.execute(sa.text(sql + " order by name"), {"a": adcode})]


def create_user(conn: Connection, name: str, role: str, unit_code: str, password: str, *,
                actor: str, ip: str | None = None) -> User:
    """Create an active user of ``role`` belonging to unit ``unit_code``.

    Raises AuthError for a bad name, role, unit or password, or a name already taken.
    """
    name = check_name(name)
    roles.check_role(role)
    unit = resolve_unit(conn, unit_code)
    if unit.level not in ("county", "township", "village"):
        msg = f"unit {unit.code} is a {unit.level}; users belong to a county, township or village"
        raise AuthError(msg)
    if conn.execute(sa.text("select 1 from app_user where name = :n"), {"n": name}).first():
        msg = f"user {name!r} already exists; choose another name or 'wangge users passwd {name}'"
        raise AuthError(msg)
    h = hash_password(password)
    row = conn.execute(sa.text(
        f"insert into app_user (name, role, unit_code, unit_level, adcode, password_hash, "
        f"created_by) values (:n, :r, :u, :l, :a, :h, :by) returning {_COLS}"),
        {"n": name, "r": role, "u": unit.code, "l": unit.level, "a": unit.adcode, "h": h,
         "by": actor}).one()
    audit.record(conn, actor, "user.add", f"user:{name}",
                 {"role": role, "unit": unit.code, "unit_level": unit.level,
                  "unit_name": unit.name}, scope=unit.code, ip=ip)
    return _user(row)


def _set_active(conn: Connection, name: str, active: bool, actor: str,
                ip: str | None) -> User:
    user = get_user(conn, name)
    conn.execute(sa.text("update app_user set active = :a, updated_at = now() where id = :i"),
                 {"a": active, "i": user.id})
    audit.record(conn, actor, "user.enable" if active else "user.disable", f"user:{name}",
                 {"was_active": user.active}, scope=user.unit_code, ip=ip)
    return get_user(conn, name)


def disable_user(conn: Connection, name: str, *, actor: str, ip: str | None = None) -> User:
    """Disable ``name``: logins are refused and its open sessions end at their next request."""
    return _set_active(conn, name, False, actor, ip)


def enable_user(conn: Connection, name: str, *, actor: str, ip: str | None = None) -> User:
    """Enable a disabled user again."""
    return _set_active(conn, name, True, actor, ip)


def set_password(conn: Connection, name: str, password: str, *, actor: str,
                 ip: str | None = None) -> User:
    """Give ``name`` a new password (its open sessions end: they carry the old change time)."""
    user = get_user(conn, name)
    h = hash_password(password)
    conn.execute(sa.text("update app_user set password_hash = :h, password_changed_at = "
                         "clock_timestamp(), updated_at = now() where id = :i"),
                 {"h": h, "i": user.id})
    audit.record(conn, actor, "user.passwd", f"user:{name}", {}, scope=user.unit_code, ip=ip)
    return get_user(conn, name)


_DUMMY: dict[str, str] = {}


def _dummy_hash() -> str:
    """A hash to verify against for unknown names (same time as a real check)."""
    key = f"{settings.ARGON2_TIME_COST}/{settings.ARGON2_MEMORY_KIB}/{settings.ARGON2_PARALLELISM}"
    if key not in _DUMMY:
        _DUMMY[key] = hasher().hash(secrets.token_urlsafe(16))
    return _DUMMY[key]


def authenticate(conn: Connection, name: str, password: str) -> User:
    """The active user ``name`` if ``password`` is right, else LoginFailed.

    The check costs one argon2 verification whatever the cause (unknown name, disabled
    user, wrong password), and the message is the same (:data:`LOGIN_REFUSED`); the cause
    is in ``LoginFailed.reason``. A hash made with older parameters is re-hashed. Nothing is
    written to the audit log here (the caller knows the address and records it).
    """
    name = str(name or "").strip()
    row = None
    if NAME_RE.fullmatch(name) and isinstance(password, str) \
            and len(password) <= settings.PASSWORD_MAX_LENGTH:
        row = conn.execute(sa.text(f"select {_COLS}, password_hash from app_user "
                                   "where name = :n"), {"n": name}).first()
    if row is None:
        verify_password(_dummy_hash(), str(password)[:settings.PASSWORD_MAX_LENGTH])
        raise LoginFailed(LOGIN_REFUSED, "unknown")
    ok = verify_password(row.password_hash, password)
    if not ok:
        raise LoginFailed(LOGIN_REFUSED, "password")
    if not row.active:
        raise LoginFailed(LOGIN_REFUSED, "disabled")
    if hasher().check_needs_rehash(row.password_hash):
        conn.execute(sa.text("update app_user set password_hash = :h where id = :i"),
                     {"h": hasher().hash(password), "i": row.id})
    conn.execute(sa.text("update app_user set last_login_at = now() where id = :i"),
                 {"i": row.id})
    return _user(row)
