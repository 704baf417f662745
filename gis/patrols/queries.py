"""Read patrols back: tracks with their per-vertex times, recent tracks for the map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis.patrols.times import from_epoch


def track_times(track: shapely.Geometry) -> pd.DatetimeIndex:
    """The time of every vertex of a stored track (its M values), UTC."""
    return from_epoch(shapely.get_coordinates(track, include_m=True)[:, 2])


def patrols_frame(conn: Connection, adcode: str, since: datetime | None = None,
                  until: datetime | None = None, with_m: bool = False) -> gpd.GeoDataFrame:
    """Patrols of a county that overlap [since, until) in time, oldest first.

    Columns: id, source, source_id, name, team, officer, started_at, ended_at (UTC), night,
    n_points, length_m, village_code, group_code, location_flag; geometry: the track,
    2D (or with its M times when ``with_m``), EPSG:4490.
    """
    track = "track" if with_m else "st_force2d(track)"
    rows = conn.execute(sa.text(
        "select id, source, source_id, name, team, officer, started_at, ended_at, night, "
        "n_points, length_m, village_code, group_code, location_flag, "
        f"st_asbinary({track}) as wkb from patrol where adcode = :a "
        "and (cast(:s as timestamptz) is null or ended_at >= :s) "
        "and (cast(:u as timestamptz) is null or started_at < :u) order by started_at, id"),
        {"a": adcode, "s": since, "u": until}).all()
    cols = ["id", "source", "source_id", "name", "team", "officer", "started_at", "ended_at",
            "night", "n_points", "length_m", "village_code", "group_code", "location_flag"]
    df = pd.DataFrame([r[:-1] for r in rows], columns=cols)
    geoms = shapely.from_wkb(np.asarray([bytes(r[-1]) for r in rows], dtype=object)) \
        if rows else []
    return gpd.GeoDataFrame(df, geometry=list(geoms), crs=settings.STORAGE_SRID)


def recent_tracks(conn: Connection, adcode: str, now: datetime | None = None,
                  hours: float | None = None) -> gpd.GeoDataFrame:
    """Tracks that ended within the last ``hours`` (default
    :data:`settings.PATROL_LAYER_HOURS`) before ``now`` (default: the current time)."""
    now = now or datetime.now(UTC)
    hours = settings.PATROL_LAYER_HOURS if hours is None else hours
    return patrols_frame(conn, adcode, since=now - timedelta(hours=hours), until=now)
