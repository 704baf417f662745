"""The store: URL handling, migrations, adcode on every territory table, COPY round-trip."""

from __future__ import annotations

import pytest
import shapely
import sqlalchemy as sa

from gis._errors import ConfigError
from gis.store.bulk import copy_rows
from gis.store.engine import normalise_url
from gis.store.models import Base


@pytest.mark.parametrize(("given", "want"), [
    ("postgresql://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
    ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
])
def test_libpq_urls_get_the_psycopg_driver(given: str, want: str) -> None:
    assert normalise_url(given) == want


def test_non_postgres_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a PostgreSQL URL"):
        normalise_url("sqlite:///x.db")


def test_schema_is_at_the_newest_migration(engine) -> None:  # noqa: ANN001
    with engine.connect() as conn:
        rev = conn.execute(sa.text("select version_num from alembic_version")).scalar_one()
        tables = set(sa.inspect(conn).get_table_names())
    assert rev == "0009"
    assert set(Base.metadata.tables) <= tables


def test_every_territory_table_carries_the_county_adcode() -> None:
    for name, table in Base.metadata.tables.items():
        assert "adcode" in table.c, f"table {name} has no adcode column"
        assert str(table.c.adcode.type) == "VARCHAR(6)"


def test_copy_round_trips_geometry_and_text_exactly(engine) -> None:  # noqa: ANN001
    pt = shapely.set_srid(shapely.Point(100.123456789012, 38.987654321098), 4490)
    hexwkb = shapely.to_wkb(pt, hex=True, include_srid=True)
    text = "甘州区党寨镇陈寨村三社 <b>'; drop table x; --"
    with engine.begin() as conn:
        copy_rows(conn, "police_post", ["code", "adcode", "name", "geom"],
                  [("P-RT-1", "990001", text, hexwkb)])
        row = conn.execute(sa.text(
            "select name, st_x(geom), st_y(geom), st_srid(geom) from police_post "
            "where code = 'P-RT-1'")).one()
        conn.execute(sa.text("delete from police_post where code = 'P-RT-1'"))
    assert row == (text, 100.123456789012, 38.987654321098, 4490)
