"""Tables of security: users, API tokens and the append-only audit log.

Registered on :class:`gis.store.models.Base` (imported at the end of that module).
"""

from __future__ import annotations

from datetime import date, datetime  # noqa: F401 - annotations of the mapped columns

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB  # noqa: F401
from sqlalchemy.orm import Mapped, mapped_column

from gis.store.models import ADCODE, Base, _geom  # noqa: F401

# --- security: users, API tokens, audit log (gis.auth, gis.audit, migration 0008) ---------

class AppUser(Base):
    """A dashboard user: role (operator, planner, leader, admin) and unit (its jurisdiction:
    a county adcode, township or village code); argon2id password hash, never the password."""

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(sa.Integer, sa.Identity(), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    name: Mapped[str] = mapped_column(sa.Text)
    role: Mapped[str] = mapped_column(sa.String(12))
    unit_code: Mapped[str] = mapped_column(sa.String(15))
    unit_level: Mapped[str] = mapped_column(sa.String(10))
    password_hash: Mapped[str] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True),
                                                 server_default=sa.func.now())
    created_by: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    password_changed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True),
                                                          server_default=sa.func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    __table_args__ = (
        sa.UniqueConstraint("name", name="uq_app_user_name"),
        sa.CheckConstraint("role in ('operator','planner','leader','admin')",
                           name="ck_app_user_role"),
        sa.CheckConstraint("unit_level in ('county','township','village')",
                           name="ck_app_user_unit_level"),
    )


class ApiToken(Base):
    """A machine-intake token scoped to one source and one unit; only its SHA-256 is kept."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(sa.Integer, sa.Identity(), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    name: Mapped[str] = mapped_column(sa.Text)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.Text)
    unit_code: Mapped[str] = mapped_column(sa.String(15))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True),
                                                 server_default=sa.func.now())
    created_by: Mapped[str | None] = mapped_column(sa.Text)
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    __table_args__ = (
        sa.UniqueConstraint("token_hash", name="uq_api_token_hash"),
        sa.UniqueConstraint("prefix", name="uq_api_token_prefix"),
    )


class AuditLog(Base):
    """Append-only audit trail (logins, user and token changes, grid publishes, ...).

    ``scope_code`` is the unit the event concerns (row-level security shows a row to the
    users whose jurisdiction covers it); ``adcode`` is null for events of no county (a failed
    login with an unknown name). A trigger refuses UPDATE, DELETE and TRUNCATE; the
    application role has only SELECT and INSERT.
    """

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    adcode: Mapped[str | None] = mapped_column(ADCODE, index=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True,
                                         server_default=sa.func.clock_timestamp())
    actor: Mapped[str] = mapped_column(sa.Text)
    action: Mapped[str] = mapped_column(sa.String(40))
    target: Mapped[str | None] = mapped_column(sa.Text)
    scope_code: Mapped[str | None] = mapped_column(sa.String(20))
    ip: Mapped[str | None] = mapped_column(sa.Text)
    details: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    __table_args__ = (
        sa.Index("ix_audit_log_actor_at", "actor", "at"),
        sa.Index("ix_audit_log_action_target_at", "action", "target", "at"),
    )
