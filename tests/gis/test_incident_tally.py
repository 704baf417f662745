"""The tally of incidents per grid and state (migration 0009), on real PostGIS.

Every way rows reach ``incident`` (multi-row INSERT, COPY through the bulk ingest, UPDATE of
status / level / grid, DELETE) keeps ``incident_tally`` equal to a direct ``GROUP BY`` on
``incident``; compaction changes no sum; the aggregates of :mod:`gis.incidents.stats` and
:mod:`gis.incidents.queries` that read the tally equal direct SQL counts, also as the
application role scoped to one township (row-level security).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gis.incidents import queries, stats
from gis.store import connect
from gis.store.scoped import apply_scope
from tests.conftest import _fresh

A = "990901"
T1, T2 = "990901001", "990901002"
VILLAGES = (T1 + "001", T1 + "002", T2 + "001")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
KEY = ["adcode", "village_code", "group_code", "status", "level"]


@pytest.fixture(scope="module")
def eng() -> Iterator[Engine]:
    """A fresh, empty, migrated database (mutated by this module only)."""
    for url in _fresh("tally"):
        yield connect(url)


def _insert(conn: Connection, rows: list[dict]) -> None:
    conn.execute(sa.text("""
        insert into incident (adcode, source, source_id, kind, occurred_at, status, level,
                              location_flag, village_code, group_code, step_started_at,
                              step_due_at)
        values (:a, 'tally', :sid, :kind, :occ, :status, :level, 'ok', :v, :g, :start, :due)"""),
        rows)


def _rows(n: int, start: int = 0) -> list[dict]:
    statuses = ("received", "dispatched", "in_progress", "resolved", "closed", "reopened")
    out = []
    for i in range(start, start + n):
        v = VILLAGES[i % 3] if i % 7 else None  # some without a grid (outside)
        out.append({"a": A, "sid": f"t{i}", "kind": ("fire", "dispute")[i % 2],
                    "occ": NOW - timedelta(hours=i), "status": statuses[i % 6],
                    "level": ("village", "village", "township", "county")[i % 4],
                    "v": v, "g": (v + "00" + str(i % 2 + 1)) if v else None,
                    "start": NOW - timedelta(hours=i), "due": NOW - timedelta(hours=i - 5)})
    return out


def _direct(conn: Connection) -> pd.DataFrame:
    df = pd.DataFrame(conn.execute(sa.text(
        f"select {', '.join(KEY)}, count(*) as n from incident group by {', '.join(KEY)}"))
        .all(), columns=[*KEY, "n"])
    return df.fillna("-").sort_values(KEY).reset_index(drop=True)


def _tally(conn: Connection) -> pd.DataFrame:
    df = pd.DataFrame(conn.execute(sa.text(
        f"select {', '.join(KEY)}, sum(n) as n from incident_tally group by {', '.join(KEY)} "
        "having sum(n) <> 0")).all(), columns=[*KEY, "n"])
    df["n"] = df["n"].astype("int64")
    return df.fillna("-").sort_values(KEY).reset_index(drop=True)


def _check(eng: Engine) -> pd.DataFrame:
    with eng.connect() as conn:
        direct, tally = _direct(conn), _tally(conn)
    pd.testing.assert_frame_equal(tally, direct, check_dtype=False)
    return direct


def test_every_write_path_keeps_the_tally_exact(eng: Engine) -> None:
    with eng.begin() as conn:
        _insert(conn, _rows(60))
    assert int(_check(eng)["n"].sum()) == 60
    # COPY through the bulk ingest path (one statement for many rows)
    from gis.store.bulk import copy_rows

    with eng.begin() as conn:
        copy_rows(conn, "incident", ["adcode", "source", "source_id", "kind", "occurred_at",
                                     "status", "location_flag", "village_code", "group_code"],
                  [(A, "tally-copy", f"c{i}", "fire", (NOW - timedelta(days=i)).isoformat(),
                    "received", "ok", VILLAGES[i % 3], VILLAGES[i % 3] + "001")
                   for i in range(40)])
    assert int(_check(eng)["n"].sum()) == 100
    with eng.begin() as conn:  # state changes, one and many rows per statement
        conn.execute(sa.text("update incident set status = 'closed' where source_id = 't1'"))
        conn.execute(sa.text("update incident set level = 'township' "
                             "where source = 'tally-copy' and source_id < 'c2'"))
        conn.execute(sa.text("update incident set village_code = :v, group_code = :g "
                             "where source_id in ('t2', 't3')"),
                     {"v": VILLAGES[2], "g": VILLAGES[2] + "001"})
        conn.execute(sa.text("update incident set kind = 'theft' where source_id = 't4'"))
        conn.execute(sa.text("delete from incident where source_id in ('t5', 'c7')"))
    assert int(_check(eng)["n"].sum()) == 98
    with eng.begin() as conn:  # rolled back changes leave no trace
        tx = conn.begin_nested()
        conn.execute(sa.text("update incident set status = 'closed'"))
        tx.rollback()
    _check(eng)


def test_compaction_folds_the_deltas_and_keeps_the_sums(eng: Engine) -> None:
    with eng.begin() as conn:
        for i in range(5):  # five statements: five delta rows on the same keys
            conn.execute(sa.text("update incident set status = :s where source_id = 't0'"),
                         {"s": ("dispatched", "received")[i % 2]})
    before = _check(eng)
    with eng.connect() as conn:
        rows = conn.execute(sa.text("select count(*) from incident_tally")).scalar_one()
    with eng.begin() as conn:
        assert stats.compact_tally(conn, min_rows=rows + 1) == 0  # below the threshold
        removed = stats.compact_tally(conn)
    with eng.connect() as conn:
        after_rows = conn.execute(sa.text("select count(*) from incident_tally")).scalar_one()
        keys = conn.execute(sa.text(
            f"select count(*) from (select distinct {', '.join(KEY)} from incident) k")
            ).scalar_one()
    assert removed > 0 and after_rows == rows - removed == keys
    pd.testing.assert_frame_equal(_check(eng), before)


def test_aggregates_from_the_tally_equal_direct_counts(eng: Engine) -> None:
    with eng.connect() as conn:
        got = stats.open_counts(conn, NOW, A)
        want = conn.execute(sa.text("""
            select count(*) filter (where status <> 'closed') as open,
                   count(*) filter (where status in ('received', 'reopened')) as awaiting,
                   count(*) filter (where status <> 'closed' and step_due_at < :now)
                       as overdue,
                   count(*) filter (where status <> 'closed' and level <> 'village')
                       as escalated,
                   count(*) filter (where status <> 'closed' and level = 'township')
                       as township,
                   count(*) filter (where status <> 'closed' and level = 'county') as county
            from incident where adcode = :a"""), {"now": NOW, "a": A}).mappings().one()
        assert got == dict(want)
        for level, col in ((1, "village_code"), (2, "group_code")):
            direct = dict(conn.execute(sa.text(
                f"select {col}, count(*) from incident where {col} is not null "
                f"group by 1")).all())
            tally = queries.counts_per_grid(conn, level, A)
            assert dict(zip(tally["code"], tally["n"], strict=True)) == direct
            assert list(tally["code"]) == sorted(direct)
        assert queries.incident_total(conn, A) == conn.execute(sa.text(
            "select count(*) from incident")).scalar_one()
        assert queries.incident_total(conn, "990999") == 0


@pytest.mark.parametrize("probe_max", [50_000, 0])
def test_escalation_events_count_village_level_incidents_once(
        eng: Engine, probe_max: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "ESCALATED_PROBE_MAX", probe_max)  # both query plans
    with eng.connect() as conn:
        tx = conn.begin()  # rolled back: both runs start from the same rows
        iid = conn.execute(sa.text(
            "select min(id) from incident where level = 'village' and status = 'received' "
            "and village_code is not null")).scalar_one()
        before = stats.open_counts(conn, NOW, A)["escalated"]
        for seq in (0, 1):  # two escalation events of one incident
            conn.execute(sa.text("""
                insert into incident_event (adcode, incident_id, at, actor, kind, level,
                                            step_seq)
                values (:a, :i, :at, 'test', 'escalation', 'township', :s)"""),
                {"a": A, "i": iid, "at": NOW, "s": seq})
        after = stats.open_counts(conn, NOW, A)["escalated"]
        tx.rollback()
    assert after == before + 1


def test_change_mark_moves_with_new_and_changed_incidents(eng: Engine) -> None:
    with eng.begin() as conn:
        m0 = stats.change_mark(conn, A)
        _insert(conn, _rows(1, start=500))
        m1 = stats.change_mark(conn, A)
        conn.execute(sa.text("update incident set status = 'closed' where source_id = 't500'"))
        m2 = stats.change_mark(conn, A)
        conn.execute(sa.text("update incident set address = 'x' where source_id = 't500'"))
        m3 = stats.change_mark(conn, A)
    assert m1[0] > m0[0] and m2[1] > m1[1] and m2[0] == m1[0]
    assert m3 == m2  # no state change: no new tally row
    _check(eng)


def test_a_scoped_connection_counts_its_own_jurisdiction(eng: Engine) -> None:
    own = "select count(*) from incident where status <> 'closed' and village_code like :t"
    with eng.connect() as conn:
        tx = conn.begin()
        try:
            _insert(conn, _rows(3, start=900))  # t901: open, in a village of T1
            want = conn.execute(sa.text(own), {"t": T1 + "%"}).scalar_one()
            want_v = dict(conn.execute(sa.text(
                "select village_code, count(*) from incident where village_code like :t "
                "group by 1"), {"t": T1 + "%"}).all())
            apply_scope(conn, [T1])
            got = stats.open_counts(conn, NOW, A)
            per_village = queries.counts_per_grid(conn, 1, A)
            # a write as the application role keeps the tally right (SECURITY DEFINER)
            conn.execute(sa.text("update incident set status = 'closed' "
                                 "where source_id = 't901'"))
            after = stats.open_counts(conn, NOW, A)
        finally:
            tx.rollback()
    assert 0 < got["open"] == want < stats_total_open(eng)
    assert dict(zip(per_village["code"], per_village["n"], strict=True)) == want_v
    assert after["open"] == want - 1
    _check(eng)


def stats_total_open(eng: Engine) -> int:
    with eng.connect() as conn:
        return stats.open_counts(conn, NOW, A)["open"]


def test_bulk_load_with_index_rebuild_keeps_the_tally_exact(
        eng: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from gis import settings
    from gis.incidents.bench import BBOX, synthetic_incidents, synthetic_lookup
    from gis.incidents.ingest import ingest_frame

    monkeypatch.setattr(settings, "INGEST_REBUILD_MIN_ROWS", 100)
    monkeypatch.setattr(settings, "INGEST_REBUILD_RATIO", 0.0)
    df = synthetic_incidents(3_000, seed=11, source="tally-bulk")
    df.loc[:99, "lon"] = BBOX[0] - 1.0  # some outside: no grid codes
    before = _check(eng)

    with eng.begin() as conn:
        s = ingest_frame(conn, df, A, synthetic_lookup(10))
        enabled = conn.execute(sa.text(
            "select tgenabled from pg_trigger where tgname = 'incident_tally_ins'")).scalar_one()

    after = _check(eng)
    assert s.inserted == 3_000 and int(after["n"].sum()) == int(before["n"].sum()) + 3_000
    assert enabled == "O"  # the trigger is back on for the next writer
