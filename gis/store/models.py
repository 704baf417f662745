"""Tables of the store (SQLAlchemy 2 + GeoAlchemy2).

Every table of territory data carries ``adcode``, the county's 6-digit code, so a
province-size store can be partitioned or distributed by county. Geometries are in
EPSG:4490 (:data:`gis.settings.STORAGE_SRID`); areas are square metres computed in the UTM
zone of the territory.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gis.settings import STORAGE_SRID

ADCODE = sa.String(6)


def _geom(kind: str) -> Geometry:
    return Geometry(kind, srid=STORAGE_SRID, spatial_index=True)


class Base(DeclarativeBase):
    """Declarative base of all tables."""


class TerritoryUnit(Base):
    """County, township (乡镇/街道) or village (村) as an administrative unit."""

    __tablename__ = "territory_unit"
    code: Mapped[str] = mapped_column(sa.String(15), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    level: Mapped[str] = mapped_column(sa.String(10))  # county | township | village
    name: Mapped[str] = mapped_column(sa.Text)
    parent_code: Mapped[str | None] = mapped_column(sa.String(15), index=True)
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=True)
    __table_args__ = (sa.CheckConstraint("level in ('county','township','village')"),)


class GridVersion(Base):
    """A version of the grid layout: draft → published (with an effective date) → retired."""

    __tablename__ = "grid_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    name: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), default="draft")
    effective_date: Mapped[date | None] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True),
                                                 server_default=sa.func.now())
    created_by: Mapped[str | None] = mapped_column(sa.Text)
    note: Mapped[str | None] = mapped_column(sa.Text)
    __table_args__ = (sa.CheckConstraint("status in ('draft','published','retired')"),)


class Grid(Base):
    """A grid of one version: level 1 = village, level 2 = group inside a village."""

    __tablename__ = "grid"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("grid_version.id", ondelete="CASCADE"),
                                            index=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    level: Mapped[int] = mapped_column(sa.SmallInteger)
    code: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.Text)
    parent_code: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    township_code: Mapped[str | None] = mapped_column(sa.String(15), index=True)
    population: Mapped[int | None] = mapped_column(sa.Integer)
    households: Mapped[int | None] = mapped_column(sa.Integer)
    area_m2: Mapped[float] = mapped_column(sa.Float)
    worker: Mapped[str | None] = mapped_column(sa.Text)
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    __table_args__ = (
        sa.UniqueConstraint("version_id", "code", name="uq_grid_version_code"),
        sa.CheckConstraint("level in (1, 2)"),
    )


class PolicePost(Base):
    """Police station (派出所) or police office (警务室)."""

    __tablename__ = "police_post"
    code: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    name: Mapped[str] = mapped_column(sa.Text)
    township_code: Mapped[str | None] = mapped_column(sa.String(15))
    geom = mapped_column(_geom("POINT"), nullable=False)


class PoliceOfficer(Base):
    """A police officer assigned to villages (一村一警)."""

    __tablename__ = "police_officer"
    code: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    name: Mapped[str] = mapped_column(sa.Text)
    post_code: Mapped[str | None] = mapped_column(sa.ForeignKey("police_post.code"))


class OfficerVillage(Base):
    """Assignment of an officer to a village."""

    __tablename__ = "officer_village"
    officer_code: Mapped[str] = mapped_column(
        sa.ForeignKey("police_officer.code", ondelete="CASCADE"), primary_key=True)
    village_code: Mapped[str] = mapped_column(sa.String(15), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)


class MilitiaCompany(Base):
    """A village militia company (民兵连)."""

    __tablename__ = "militia_company"
    code: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    village_code: Mapped[str] = mapped_column(sa.String(15), index=True)
    name: Mapped[str] = mapped_column(sa.Text)
    commander: Mapped[str | None] = mapped_column(sa.Text)
    strength: Mapped[int | None] = mapped_column(sa.Integer)


class Camera(Base):
    """A video camera (雪亮工程) with a view radius in metres and optional direction."""

    __tablename__ = "camera"
    code: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    radius_m: Mapped[float] = mapped_column(sa.Float)
    direction_deg: Mapped[float | None] = mapped_column(sa.Float)
    angle_deg: Mapped[float | None] = mapped_column(sa.Float)
    geom = mapped_column(_geom("POINT"), nullable=False)


class Incident(Base):
    """An incident (case, dispute, hazard, request), geocoded into grids."""

    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    source: Mapped[str] = mapped_column(sa.Text)
    source_id: Mapped[str] = mapped_column(sa.Text)
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)
    occurred_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    reported_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    status: Mapped[str] = mapped_column(sa.String(16), default="received")
    address: Mapped[str | None] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
    reporter: Mapped[str | None] = mapped_column(sa.Text)
    village_code: Mapped[str | None] = mapped_column(sa.String(15), index=True)
    group_code: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    location_flag: Mapped[str] = mapped_column(sa.String(16), default="ok")
    geom = mapped_column(_geom("POINT"), nullable=True)
    # --- workflow (gis.incidents.workflow / gis.incidents.escalation) ---
    level: Mapped[str] = mapped_column(sa.String(10), server_default="village")
    """Level handling / supervising it now: village | township | county (escalation ladder)."""
    unit_type: Mapped[str | None] = mapped_column(sa.String(24))
    """Type of the unit it is dispatched to (keys of settings.WORKFLOW_UNIT_TYPES)."""
    unit_code: Mapped[str | None] = mapped_column(sa.String(32))
    unit_name: Mapped[str | None] = mapped_column(sa.Text)
    step_seq: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    """Number of the current step; +1 on every transition and every escalation."""
    step_started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    step_due_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    """Time limit of the current step; null when closed (no clock running)."""
    alert_stage: Mapped[int] = mapped_column(sa.SmallInteger, server_default="0")
    """Notices issued in the current step: 0 none, 1 reminder, 2 reminder and warning."""
    feedback: Mapped[str | None] = mapped_column(sa.Text)
    satisfaction: Mapped[str | None] = mapped_column(sa.String(12))
    resolved_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id", name="uq_incident_source"),
        sa.CheckConstraint("status in ('received','dispatched','in_progress','resolved',"
                           "'followed_up','closed','reopened')", name="ck_incident_status"),
        sa.CheckConstraint("level in ('village','township','county')",
                           name="ck_incident_level"),
        sa.CheckConstraint("satisfaction in ('satisfied','basically','unsatisfied')",
                           name="ck_incident_satisfaction"),
        sa.Index("ix_incident_step_due_at", "step_due_at",
                 postgresql_where=sa.text("step_due_at is not null")),
        sa.Index("ix_incident_clock_pending", "id",
                 postgresql_where=sa.text("step_started_at is null")),
    )


class IncidentEvent(Base):
    """Append-only audit trail of the incident workflow (全时跟踪、全程记录、全线留存).

    One row per transition (``kind='transition'``, with ``action``), reminder, warning and
    escalation. ``step_seq`` is the incident step the event belongs to (for a transition or an
    escalation: the step it ends); ``(incident_id, step_seq, kind)`` is unique, which makes
    the scheduler idempotent. ``level`` is the level after the event. ``at`` is when it
    happened (for scheduler notices: the moment the rule fired), ``recorded_at`` the
    database time of the insert. A trigger refuses UPDATE, DELETE and TRUNCATE.
    """

    __tablename__ = "incident_event"
    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    incident_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("incident.id"))
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True),
                                                  server_default=sa.func.now())
    actor: Mapped[str] = mapped_column(sa.Text)
    kind: Mapped[str] = mapped_column(sa.String(12))
    action: Mapped[str | None] = mapped_column(sa.String(16))
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str | None] = mapped_column(sa.String(16))
    level: Mapped[str] = mapped_column(sa.String(10))
    step_seq: Mapped[int] = mapped_column(sa.Integer)
    detail: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    __table_args__ = (
        sa.UniqueConstraint("incident_id", "step_seq", "kind", name="uq_incident_event_step"),
        sa.CheckConstraint("kind in ('transition','reminder','warning','escalation')",
                           name="ck_incident_event_kind"),
    )
