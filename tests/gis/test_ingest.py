"""Bulk ingest: the fast COPY path and the general (temporary table) path store the same rows.

Points outside every grid get NULL grid codes (not the text 'nan') on both paths.
"""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from gis.incidents.bench import BBOX, synthetic_incidents, synthetic_lookup
from gis.incidents.ingest import _ingest_via_temp, ingest_frame


def _rows(conn: sa.Connection, source: str) -> list[tuple]:
    return [tuple(r) for r in conn.execute(sa.text(
        "select source_id, village_code, group_code, location_flag, st_astext(geom) "
        "from incident where source = :s order by source_id"), {"s": source})]


@pytest.mark.parametrize("path", ["fast", "general"])
def test_outside_points_get_null_codes(engine, path: str) -> None:  # noqa: ANN001
    lookup = synthetic_lookup(10)
    df = synthetic_incidents(40, seed=5, source=f"t-ingest-{path}")
    df.loc[:4, "lon"] = BBOX[0] - 0.5  # west of the county: outside every grid
    adcode = "990990"

    with engine.begin() as conn:
        if path == "fast":
            s = ingest_frame(conn, df, adcode, lookup)
        else:
            s = _ingest_via_temp(conn, df, adcode, lookup, batch=16, progress=None)
        rows = _rows(conn, f"t-ingest-{path}")

    assert (s.inserted, s.outside) == (40, 5)
    outside = [r for r in rows if r[3] == "outside"]
    assert len(outside) == 5
    assert all(r[1] is None and r[2] is None for r in outside)
    inside = [r for r in rows if r[3] == "ok"]
    assert len(inside) == 35 and all(r[1] and r[2] and r[2] != "nan" for r in inside)


def test_both_paths_store_the_same_columns(engine) -> None:  # noqa: ANN001
    lookup = synthetic_lookup(10)
    base = synthetic_incidents(30, seed=9, source="x")
    base.loc[:2, "lat"] = BBOX[3] + 1.0
    got = {}
    for path in ("fast", "general"):
        df = base.assign(source=f"t-same-{path}")
        with engine.begin() as conn:
            if path == "fast":
                ingest_frame(conn, df, "990991", lookup)
            else:
                _ingest_via_temp(conn, df, "990991", lookup, batch=7, progress=None)
            got[path] = pd.DataFrame(_rows(conn, f"t-same-{path}"))

    assert got["fast"].equals(got["general"])
