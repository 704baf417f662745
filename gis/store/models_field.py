"""Tables of field work: road networks, patrols with key areas and sections, address review.

Registered on :class:`gis.store.models.Base` (imported at the end of that module).
"""

from __future__ import annotations

from datetime import date, datetime  # noqa: F401 - annotations of the mapped columns

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY, JSONB  # noqa: F401
from sqlalchemy.orm import Mapped, mapped_column

from gis.settings import STORAGE_SRID
from gis.store.models import ADCODE, Base, _geom

# --- road network (migration 0006; gis.network.store) ------------------------------------

class RoadNetworkInfo(Base):
    """The road network of a county (OSMnx-style graph, see :mod:`gis.network`)."""

    __tablename__ = "road_network"
    adcode: Mapped[str] = mapped_column(ADCODE, primary_key=True)
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    n_nodes: Mapped[int] = mapped_column(sa.Integer)
    n_edges: Mapped[int] = mapped_column(sa.Integer)
    saved_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True),
                                               server_default=sa.func.now())


class RoadNode(Base):
    """A node of a county's road network: ``x``, ``y`` lon / lat degrees."""

    __tablename__ = "road_node"
    adcode: Mapped[str] = mapped_column(ADCODE, primary_key=True)
    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    x: Mapped[float] = mapped_column(sa.Float(precision=53))
    y: Mapped[float] = mapped_column(sa.Float(precision=53))
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    geom = mapped_column(_geom("POINT"), nullable=False)


class RoadEdge(Base):
    """A directed edge (u, v, key) of a county's road network: metres, km/h, seconds."""

    __tablename__ = "road_edge"
    adcode: Mapped[str] = mapped_column(ADCODE, primary_key=True)
    u: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    v: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    key: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    highway: Mapped[str | None] = mapped_column(sa.Text)
    length_m: Mapped[float] = mapped_column(sa.Float(precision=53))
    speed_kph: Mapped[float] = mapped_column(sa.Float(precision=53))
    travel_time_s: Mapped[float] = mapped_column(sa.Float(precision=53))
    oneway: Mapped[bool | None] = mapped_column(sa.Boolean)
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    geom = mapped_column(_geom("LINESTRING"), nullable=False)
    __table_args__ = (
        sa.ForeignKeyConstraint(["adcode", "u"], ["road_node.adcode", "road_node.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["adcode", "v"], ["road_node.adcode", "road_node.id"],
                                ondelete="CASCADE"),
        sa.CheckConstraint("length_m > 0"), sa.CheckConstraint("speed_kph > 0"),
        sa.CheckConstraint("travel_time_s > 0"),
        sa.Index("ix_road_edge_adcode_v", "adcode", "v"),
    )


# --- patrols (gis.patrols, migration 0005) -------------------------------------------------

class Patrol(Base):
    """A patrol (巡逻) with its GPS track; idempotent by ``(source, source_id)``.

    ``track`` is a MultiLineString M: x, y in EPSG:4490 degrees and M = the time of each
    vertex in seconds since 1970-01-01 UTC, so every vertex keeps its timestamp. ``geom`` is
    the track's **start point**: it decides the patrol's village and group grid (of the
    version in force on the Beijing date of ``started_at``) and is what
    :func:`gis.grids.publish.publish` re-assigns. ``night``: the middle of the patrol falls
    in :data:`gis.settings.PATROL_NIGHT_HOURS`.
    """

    __tablename__ = "patrol"
    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    source: Mapped[str] = mapped_column(sa.Text)
    source_id: Mapped[str] = mapped_column(sa.Text)
    name: Mapped[str | None] = mapped_column(sa.Text)
    team: Mapped[str | None] = mapped_column(sa.Text)
    officer: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    night: Mapped[bool] = mapped_column(sa.Boolean)
    n_points: Mapped[int] = mapped_column(sa.Integer)
    length_m: Mapped[float] = mapped_column(sa.Float)
    village_code: Mapped[str | None] = mapped_column(sa.String(15), index=True)
    group_code: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    location_flag: Mapped[str] = mapped_column(sa.String(16), server_default="ok")
    track = mapped_column(Geometry("MULTILINESTRINGM", srid=STORAGE_SRID, dimension=3,
                                   spatial_index=True), nullable=False)
    geom = mapped_column(_geom("POINT"), nullable=False)
    imported_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True),
                                                  server_default=sa.func.now())
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id", name="uq_patrol_source"),
        sa.CheckConstraint("ended_at >= started_at", name="ck_patrol_times"),
    )


class PatrolCheckin(Base):
    """A check-in (打卡) of a patrol team at a place and time; idempotent by
    ``(source, source_id)``. ``patrol_id``: the patrol it belongs to, when known."""

    __tablename__ = "patrol_checkin"
    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    source: Mapped[str] = mapped_column(sa.Text)
    source_id: Mapped[str] = mapped_column(sa.Text)
    patrol_id: Mapped[int | None] = mapped_column(
        sa.BigInteger, sa.ForeignKey("patrol.id", ondelete="SET NULL"), index=True)
    team: Mapped[str | None] = mapped_column(sa.Text)
    officer: Mapped[str | None] = mapped_column(sa.Text)
    note: Mapped[str | None] = mapped_column(sa.Text)
    checked_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    village_code: Mapped[str | None] = mapped_column(sa.String(15), index=True)
    group_code: Mapped[str | None] = mapped_column(sa.String(20))
    location_flag: Mapped[str] = mapped_column(sa.String(16), server_default="ok")
    geom = mapped_column(_geom("POINT"), nullable=False)
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id", name="uq_patrol_checkin_source"),
    )


class KeyArea(Base):
    """A key area (重点区域: market, school, river bank …) of a village, patrolled at least
    :data:`gis.settings.PATROL_MIN_PER_WEEK` times a week; unique by (adcode, code)."""

    __tablename__ = "key_area"
    id: Mapped[int] = mapped_column(sa.Integer, sa.Identity(), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    code: Mapped[str] = mapped_column(sa.String(40))
    village_code: Mapped[str] = mapped_column(sa.String(15), index=True)
    name: Mapped[str] = mapped_column(sa.Text)
    kind: Mapped[str] = mapped_column(sa.String(24), server_default="other")
    source: Mapped[str | None] = mapped_column(sa.Text)
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    __table_args__ = (sa.UniqueConstraint("adcode", "code", name="uq_key_area_code"),)


class KeySection(Base):
    """A key road section (重点路段) of a village; a patrol counts for it when its track runs
    along :data:`gis.settings.PATROL_SECTION_MIN_SHARE` of it; unique by (adcode, code)."""

    __tablename__ = "key_section"
    id: Mapped[int] = mapped_column(sa.Integer, sa.Identity(), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    code: Mapped[str] = mapped_column(sa.String(40))
    village_code: Mapped[str] = mapped_column(sa.String(15), index=True)
    name: Mapped[str] = mapped_column(sa.Text)
    length_m: Mapped[float] = mapped_column(sa.Float)
    source: Mapped[str | None] = mapped_column(sa.Text)
    geom = mapped_column(_geom("MULTILINESTRING"), nullable=False)
    __table_args__ = (sa.UniqueConstraint("adcode", "code", name="uq_key_section_code"),)


class AddressReview(Base):
    """A report placed by address with too little confidence, waiting for an operator.

    Filled at intake (:mod:`gis.incidents.intake_place`), decided with
    :mod:`gis.address.review` (``accept`` places the incident in the chosen grid, ``reject``
    records why it cannot be placed). Migration 0007 documents the columns.
    """

    __tablename__ = "address_review"
    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    incident_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(sa.Text)
    source_id: Mapped[str] = mapped_column(sa.Text)
    address: Mapped[str] = mapped_column(sa.Text)
    normalized: Mapped[str | None] = mapped_column(sa.Text)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("grid_version.id"))
    reason: Mapped[str] = mapped_column(sa.String(16))
    confidence: Mapped[float] = mapped_column(sa.Float, server_default=sa.text("0"))
    township_code: Mapped[str | None] = mapped_column(sa.String(15))
    candidates: Mapped[list] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    status: Mapped[str] = mapped_column(sa.String(10), server_default="pending")
    grid_code: Mapped[str | None] = mapped_column(sa.String(20))
    reviewer: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True),
                                                 server_default=sa.func.now())
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id", name="uq_address_review_source"),
        sa.CheckConstraint("status in ('pending','accepted','rejected')",
                           name="ck_address_review_status"),
        sa.CheckConstraint("reason in ('review','unmatched','township')",
                           name="ck_address_review_reason"),
        sa.CheckConstraint("(status = 'pending') = (decided_at is null)",
                           name="ck_address_review_decided"),
        sa.CheckConstraint("status <> 'accepted' or grid_code is not null",
                           name="ck_address_review_grid"),
        sa.Index("ix_address_review_pending", "adcode", "id",
                 postgresql_where=sa.text("status = 'pending'")),
    )
