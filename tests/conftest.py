"""Session fixtures: real PostGIS databases created fresh for this run, dropped at the end.

``db_url`` is an empty, migrated database; ``demo_db_url`` holds a small demo county (all
grids, forces and 5,000 incidents). Both live in the embedded cluster, or on the server of
``DATABASE_URL`` when that is set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from gis.store import connect, database_url, drop_database
from gis.store.engine import with_database

TEST_INCIDENTS = 5_000


def _fresh(name: str) -> Iterator[str]:
    url = with_database(database_url(), f"wangge_test_{name}_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    connect(url)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def db_url() -> Iterator[str]:
    """URL of an empty, migrated PostGIS database for this test run."""
    yield from _fresh("empty")


@pytest.fixture(scope="session")
def engine(db_url: str):  # noqa: ANN201
    """Engine of :func:`db_url`."""
    return connect(db_url)


@pytest.fixture(scope="session")
def demo():  # noqa: ANN201
    """The small demo county (generated once, cached under var/demo)."""
    from data.loader import build_or_read_demo

    return build_or_read_demo(n_incidents=TEST_INCIDENTS)


@pytest.fixture(scope="session")
def demo_db_url(demo) -> Iterator[str]:  # noqa: ANN001
    """URL of a database holding the small demo county."""
    from data.loader import load_demo

    for url in _fresh("demo"):
        load_demo(connect(url), demo)
        yield url


@pytest.fixture(scope="session")
def demo_engine(demo_db_url: str):  # noqa: ANN201
    """Engine of :func:`demo_db_url`."""
    return connect(demo_db_url)
