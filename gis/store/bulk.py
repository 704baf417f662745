"""Bulk writes with PostgreSQL COPY (psycopg 3), inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.engine import Connection


def copy_rows(conn: Connection, table: str, columns: Sequence[str],
              rows: Iterable[Sequence[object]]) -> int:
    """COPY ``rows`` into ``table`` over the DBAPI connection of ``conn``; returns the count.

    Geometry columns take EWKT / hex EWKB text (``SRID=4490;POINT(...)``). The copy joins the
    transaction that ``conn`` is in, so a later failure rolls it back with everything else.
    """
    raw = conn.connection.driver_connection
    cols = ", ".join(f'"{c}"' for c in columns)
    n = 0
    with raw.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n
