"""``wangge bench ingest``: incidents per second, the COPY ingest path vs row-by-row ORM.

Both run in a throw-away database (created here, dropped at the end) against a synthetic
50 × 50 grid coverage of the demo county's bounding box (2,500 group grids, as the demo), so
neither the user's data nor a loaded demo is needed. Both paths geocode their rows into the
grids (vectorised, inside the timed part) and write the same columns of ``incident``.

* COPY path: :func:`gis.incidents.ingest.ingest_frame` — COPY into a temporary table in
  batches, then ``insert … select … on conflict do nothing``, one transaction.
* ORM baseline: ``session.add(Incident(...)); session.flush()`` per row (one INSERT round
  trip per row, as a naive per-request handler does), one commit at the end. It is timed
  on ``orm_rows`` rows (default 20,000) and its rate extrapolated to ``rows``; the JSON says
  so (``orm_extrapolated``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gis import settings
from gis.geocode import GridIndex
from gis.grids.lookup import GridLookup
from gis.incidents.dedupe import Progress

BENCH_ADCODE = "990999"
BBOX = (100.10, 38.545, 100.867, 39.405)


def synthetic_lookup(n: int = 50, bbox: tuple[float, float, float, float] = BBOX) -> GridLookup:
    """An n × n square coverage of ``bbox``: group grids, villages = blocks of 5 × 5."""
    x0, y0, x1, y1 = bbox
    xs, ys = np.linspace(x0, x1, n + 1), np.linspace(y0, y1, n + 1)
    codes, villages, geoms = [], [], []
    for i in range(n):
        for j in range(n):
            codes.append(f"{BENCH_ADCODE}{i:03d}{j:03d}")
            villages.append(f"{BENCH_ADCODE}{i // 5:03d}{j // 5:03d}")
            geoms.append(shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
    idx = GridIndex.build(codes, np.asarray(geoms, dtype=object))
    order = {c: k for k, c in enumerate(codes)}
    pos = np.array([order[c] for c in idx.codes])
    group_codes = np.asarray(codes, dtype=object)[pos]
    village_codes = np.asarray(villages, dtype=object)[pos]
    return GridLookup(version_id=0, index=idx, group_codes=group_codes, group_names=group_codes,
                      village_codes=village_codes, village_names=village_codes,
                      township_codes=np.full(len(codes), BENCH_ADCODE, dtype=object))


def synthetic_incidents(n: int, seed: int, source: str = "bench",
                        bbox: tuple[float, float, float, float] = BBOX) -> pd.DataFrame:
    """``n`` random incidents in ``bbox`` over the last year (seeded)."""
    rng = np.random.default_rng(seed)
    kinds = np.array(list(settings.INCIDENT_KINDS), dtype=object)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    occurred = now - pd.to_timedelta(rng.integers(3600, 365 * 86400, n), unit="s")
    return pd.DataFrame({
        "source": source, "source_id": [f"{source}-{i:08d}" for i in range(n)],
        "kind": kinds[rng.integers(0, len(kinds), n)], "occurred_at": occurred,
        "reported_at": occurred + pd.to_timedelta(rng.integers(60, 3600, n), unit="s"),
        "lon": np.round(rng.uniform(bbox[0], bbox[2], n), 6),
        "lat": np.round(rng.uniform(bbox[1], bbox[3], n), 6),
        "address": "甘州区某镇某村", "description": "基准测试（合成数据）", "reporter": "网格员",
    })


def _orm_insert(engine: Any, df: pd.DataFrame, lookup: GridLookup) -> None:  # noqa: ANN401
    from sqlalchemy.orm import Session

    from gis.incidents.ingest import geocode_frame
    from gis.store.models import Incident

    part = geocode_frame(df, lookup)
    with Session(engine) as session:
        for r in part.itertuples(index=False):
            session.add(Incident(
                adcode=BENCH_ADCODE, source=r.source, source_id=r.source_id, kind=r.kind,
                occurred_at=r.occurred_at.to_pydatetime(), reported_at=r.reported_at.to_pydatetime(),
                status="received", address=r.address, description=r.description,
                reporter=r.reporter, village_code=r.village_code, group_code=r.group_code,
                location_flag=r.location_flag, geom=f"SRID={settings.STORAGE_SRID};"
                                                   f"POINT({r.lon} {r.lat})"))
            session.flush()
        session.commit()


def run_ingest_bench(url: str, rows: int, orm_rows: int = 20_000, seed: int = 1,
                     progress: Progress | None = None) -> dict[str, Any]:
    """Create the database of ``url``, time both paths, drop it; returns the JSON dict."""
    import sqlalchemy as sa

    from gis.incidents.ingest import ingest_frame
    from gis.store.engine import connect, drop_database

    eng = connect(url)
    try:
        lookup = synthetic_lookup()
        df = synthetic_incidents(rows, seed)
        t = time.perf_counter()
        with eng.begin() as conn:
            s = ingest_frame(conn, df, BENCH_ADCODE, lookup,
                             progress=(lambda k: progress("COPY path", k, rows))
                             if progress else None)
        copy_s = time.perf_counter() - t
        sample = synthetic_incidents(min(orm_rows, rows), seed + 1, source="bench-orm")
        if progress:
            progress("ORM row by row", 0, len(sample))
        t = time.perf_counter()
        _orm_insert(eng, sample, lookup)
        orm_s = time.perf_counter() - t
        if progress:
            progress("ORM row by row", len(sample), len(sample))
        with eng.connect() as conn:
            stored = conn.execute(sa.text("select count(*) from incident")).scalar_one()
    finally:
        eng.dispose()
        drop_database(url)
    copy_rate = rows / copy_s
    orm_rate = len(sample) / orm_s
    return {
        "rows": rows, "inserted": s.inserted, "stored_total": int(stored),
        "copy_s": round(copy_s, 3), "copy_rows_per_s": round(copy_rate),
        "orm_rows_timed": len(sample), "orm_s": round(orm_s, 3),
        "orm_rows_per_s": round(orm_rate),
        "orm_extrapolated": len(sample) < rows,
        "orm_s_extrapolated_for_rows": round(rows / orm_rate, 1),
        "ratio": round(copy_rate / orm_rate, 1),
        "target_rows_per_s": 100_000, "meets_target": copy_rate >= 100_000,
        "copy_path": "gis.incidents.ingest.ingest_frame (geocode + COPY straight into incident, indexes rebuilt for big loads)",
        "baseline": "SQLAlchemy ORM session.add + flush per row, one commit",
        "database": "throw-away, dropped after the run",
    }
