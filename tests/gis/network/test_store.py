"""The road tables come from migration 0006 (which adopts tables the older code created), the
models mirror them, and the demo's synthetic network never replaces an imported one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from gis._errors import StoreError
from gis.network import graph_from_postgis, graph_to_postgis, has_network
from gis.network.store import TABLES, network_info, save_synthetic_network, tables_exist
from gis.store import database_url, drop_database
from gis.store.engine import _engine, ensure_database, with_database
from gis.store.models import Base
from gis.store.schema import upgrade
from tests.gis.network._graphs import line_graph, osm_graph

OLD_DDL = (  # what gis.network.osm created before migration 0006 existed
    """create table if not exists road_network (adcode varchar(6) primary key,
        attrs jsonb not null default '{}'::jsonb, n_nodes integer not null,
        n_edges integer not null, saved_at timestamptz not null default now())""",
    """create table if not exists road_node (adcode varchar(6) not null, id bigint not null,
        x double precision not null, y double precision not null,
        attrs jsonb not null default '{}'::jsonb, geom geometry(Point, 4490) not null,
        primary key (adcode, id))""",
    "create index if not exists road_node_geom_gist on road_node using gist (geom)",
    """create table if not exists road_edge (adcode varchar(6) not null, u bigint not null,
        v bigint not null, key integer not null, highway text,
        length_m double precision not null check (length_m > 0),
        speed_kph double precision not null check (speed_kph > 0),
        travel_time_s double precision not null check (travel_time_s > 0), oneway boolean,
        attrs jsonb not null default '{}'::jsonb, geom geometry(LineString, 4490) not null,
        primary key (adcode, u, v, key),
        foreign key (adcode, u) references road_node (adcode, id) on delete cascade,
        foreign key (adcode, v) references road_node (adcode, id) on delete cascade)""",
    "create index if not exists road_edge_geom_gist on road_edge using gist (geom)",
    "create index if not exists road_edge_adcode_idx on road_edge (adcode)",
)


@pytest.fixture(scope="module")
def at_0005() -> Iterator[sa.Engine]:
    """A database of its own, migrated to 0005 only (before the road tables)."""
    url = with_database(database_url(),
                        f"wangge_test_roads_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    ensure_database(url)
    eng = _engine(url)
    upgrade(eng, "0005")
    try:
        yield eng
    finally:
        drop_database(url)


def _indexes(conn: sa.Connection) -> set[str]:
    return set(conn.execute(sa.text(
        "select indexname from pg_indexes where tablename in "
        "('road_network', 'road_node', 'road_edge')")).scalars())


def test_without_migration_0006_storing_is_a_clear_store_error(at_0005: sa.Engine) -> None:
    G, _ = line_graph()
    with at_0005.begin() as conn:
        assert not tables_exist(conn) and not has_network(conn, "990801")
        assert network_info(conn, "990801") is None
        with pytest.raises(StoreError, match="predates migration 0006"):
            graph_to_postgis(conn, G, "990801")
    with at_0005.connect() as conn, pytest.raises(StoreError, match="no road tables"):
        graph_from_postgis(conn, "990801")


def test_migration_0006_adopts_tables_created_by_the_old_code(at_0005: sa.Engine) -> None:
    G = osm_graph("test.osm.pbf")
    with at_0005.begin() as conn:
        for stmt in OLD_DDL:
            conn.execute(sa.text(stmt))
        graph_to_postgis(conn, G, "990802")
        assert {"road_node_geom_gist", "road_edge_adcode_idx"} <= _indexes(conn)
    upgrade(at_0005, "0006")
    with at_0005.connect() as conn:
        rev = conn.execute(sa.text("select version_num from alembic_version")).scalar()
        idx = _indexes(conn)
        H = graph_from_postgis(conn, "990802")  # the rows are kept
    assert rev == "0006"
    assert not idx & {"road_node_geom_gist", "road_edge_geom_gist", "road_edge_adcode_idx"}
    assert {"idx_road_node_geom", "idx_road_edge_geom", "ix_road_edge_adcode_v"} <= idx
    assert H.number_of_edges() == G.number_of_edges()


def test_fresh_database_has_the_tables_the_models_describe(engine: sa.Engine) -> None:
    insp = sa.inspect(engine)
    for name in TABLES:
        model = Base.metadata.tables[name]
        cols = {c["name"]: c for c in insp.get_columns(name)}
        assert set(cols) == set(model.c.keys()), name
        assert str(cols["adcode"]["type"]) == "VARCHAR(6)"
        pk = insp.get_pk_constraint(name)["constrained_columns"]
        assert pk == [c.name for c in model.primary_key.columns], name
        for c in model.c:
            assert cols[c.name]["nullable"] == c.nullable, (name, c.name)
    fks = insp.get_foreign_keys("road_edge")
    assert sorted(f["constrained_columns"] for f in fks) == [["adcode", "u"], ["adcode", "v"]]
    assert all(f["referred_table"] == "road_node" and f["options"].get("ondelete") == "CASCADE"
               for f in fks)


def test_synthetic_network_never_replaces_an_imported_one(engine: sa.Engine) -> None:
    real = osm_graph("test.osm.pbf")
    fake, _ = line_graph()
    fake.graph["synthetic"] = True
    try:
        with engine.begin() as conn:
            assert save_synthetic_network(conn, fake, "990803") == {"nodes": 3, "edges": 4}
            assert network_info(conn, "990803")["attrs"]["synthetic"] is True
            # a newer synthetic one replaces the synthetic one
            assert save_synthetic_network(conn, fake, "990803")["edges"] == 4
            graph_to_postgis(conn, real, "990803")  # an import replaces it
            assert save_synthetic_network(conn, fake, "990803") == {"nodes": 0, "edges": 0}
            info = network_info(conn, "990803")
        assert info["n_edges"] == real.number_of_edges()
        assert info["attrs"]["source"] == "test.osm.pbf"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("delete from road_node where adcode = '990803'"))
            conn.execute(sa.text("delete from road_network where adcode = '990803'"))
