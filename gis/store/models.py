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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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
    # --- planning (gis.grids.versions / gis.grids.publish, migration 0003) ---
    parent_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("grid_version.id"))
    """The version a draft was copied from (None: created empty or imported)."""
    published_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    published_by: Mapped[str | None] = mapped_column(sa.Text)
    retired_from: Mapped[date | None] = mapped_column(sa.Date)
    """First date the version is no longer in force (its successor's effective date); a
    retired version stays the answer of "as of" queries for dates in
    [effective_date, retired_from)."""
    retired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    superseded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("grid_version.id"))
    __table_args__ = (
        sa.CheckConstraint("status in ('draft','published','retired')"),
        sa.CheckConstraint("status = 'draft' or effective_date is not null",
                           name="ck_grid_version_effective"),
        sa.CheckConstraint("(status = 'retired') = (retired_from is not null)",
                           name="ck_grid_version_retired"),
        sa.CheckConstraint("retired_from is null or retired_from >= effective_date",
                           name="ck_grid_version_retired_after"),
        sa.Index("uq_grid_version_one_open", "adcode", unique=True,
                 postgresql_where=sa.text("status = 'published'")),
    )


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


class IncidentReport(Base):
    """One report received about an incident (intake: files and ``POST /api/incidents``).

    Every accepted row or item becomes a report, idempotent by ``(source, source_id)``. The
    first report of an event creates the incident (``merged`` false, same source and source
    id as the incident); later reports of the same kind within
    :data:`gis.settings.INTAKE_DEDUPE_DISTANCE_M` and
    :data:`gis.settings.INTAKE_DEDUPE_WINDOW_MIN` of it are attached (``merged`` true,
    ``distance_m`` from the incident). An incident created elsewhere (bulk ingest, demo) gets
    its own report row (``raw = {"backfilled": true}``) when a first extra report attaches,
    so ``count(*)`` per incident is always its number of reports.
    """

    __tablename__ = "incident_report"
    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    incident_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(sa.Text)
    source_id: Mapped[str] = mapped_column(sa.Text)
    kind: Mapped[str] = mapped_column(sa.String(32))
    occurred_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    reported_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True),
                                                  server_default=sa.func.now())
    reporter: Mapped[str | None] = mapped_column(sa.Text)
    address: Mapped[str | None] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
    location_flag: Mapped[str] = mapped_column(sa.String(16))
    merged: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    distance_m: Mapped[float | None] = mapped_column(sa.Float)
    geom = mapped_column(_geom("POINT"), nullable=True)
    raw: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id", name="uq_incident_report_source"),
    )


class GridEdit(Base):
    """Append-only log of the planning operations on grid versions (who, when, what).

    One row per operation: ``op`` is new_draft, split, merge, move, redraw_edge, rename,
    recode, set_attrs, import or publish. ``codes_before`` / ``codes_after`` are the codes of
    the grids the operation replaced / produced (both levels); ``grids_before`` /
    ``grids_after`` hold those grids in full (code, level, name, parent_code, township_code,
    population, households, worker, area_m2 and ``wkb``: the exact geometry as hex WKB,
    EPSG:4490), so any edit can be inspected or undone. ``geom_before`` / ``geom_after``
    are the union of those geometries (for the map). A trigger refuses UPDATE, DELETE and
    TRUNCATE.
    """

    __tablename__ = "grid_edit"
    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("grid_version.id"), index=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True),
                                         server_default=sa.func.clock_timestamp())
    actor: Mapped[str] = mapped_column(sa.Text)
    op: Mapped[str] = mapped_column(sa.String(12))
    codes_before: Mapped[list[str]] = mapped_column(
        ARRAY(sa.String(20)), server_default=sa.text("'{}'"))
    codes_after: Mapped[list[str]] = mapped_column(
        ARRAY(sa.String(20)), server_default=sa.text("'{}'"))
    grids_before: Mapped[list] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    grids_after: Mapped[list] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    detail: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    geom_before = mapped_column(_geom("MULTIPOLYGON"), nullable=True)
    geom_after = mapped_column(_geom("MULTIPOLYGON"), nullable=True)
    __table_args__ = (
        sa.CheckConstraint("op in ('new_draft','split','merge','move','redraw_edge','rename',"
                           "'recode','set_attrs','import','publish')", name="ck_grid_edit_op"),
    )


# the other tables register themselves on Base when imported (one module per concept)
from gis.store import models_field, models_security  # noqa: E402,F401
