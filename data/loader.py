"""Load the synthetic demo county into the store: idempotent, one transaction per part.

Grids go into one published version (``DEMO_VERSION_NAME``) that is in force from 120 days
before the first incident; territory units and forces are replaced; incidents are added by
source id (a re-run adds nothing twice).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gis import settings
from gis.forces import save_forces
from gis.grids import versions
from gis.grids.lookup import lookup_for_version
from gis.grids.store import save_grids
from gis.incidents.ingest import ingest_frame
from gis.territory import save_units

DEMO_VERSION_NAME = "演示网格 v1（合成数据）"
"""Name of the demo's grid version; marks the data as synthetic."""

Step = Callable[[str, int, int], None]
"""Progress callback: (step name, done, total)."""


def _noop(step: str, done: int, total: int) -> None:  # noqa: ARG001
    return None


def demo_version(engine: Engine, adcode: str) -> int | None:
    """Id of the demo version of ``adcode`` if it was loaded."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "select id from grid_version where adcode = :a and name = :n"),
            {"a": adcode, "n": DEMO_VERSION_NAME}).scalar()


def load_demo(engine: Engine, demo, progress: Step = _noop) -> dict[str, int]:  # noqa: ANN001
    """Write a :class:`data.demo.DemoCounty` into the store; returns counts per part."""
    county = demo.county
    adcode = str(county["adcode"].iloc[0])
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        progress("territory", 0, 3)
        counts["county"] = save_units(conn, adcode, "county", county.assign(parent_code=None))
        counts["townships"] = save_units(conn, adcode, "township",
                                         demo.townships.assign(parent_code=adcode))
        counts["village_units"] = save_units(conn, adcode, "village", demo.villages)
        progress("territory", 3, 3)
    vid = demo_version(engine, adcode)
    first = pd.to_datetime(demo.incidents["occurred_at"]).min()
    effective = (first - timedelta(days=120)).date() if len(demo.incidents) else None
    if vid is None:
        with engine.begin() as conn:
            progress("grids", 0, 2)
            vid = versions.create_version(conn, adcode, DEMO_VERSION_NAME, created_by="demo",
                                          note="synthetic demo data, see data/README.md")
            counts["villages"] = save_grids(conn, vid, demo.villages, 1, adcode).inserted
            progress("grids", 1, 2)
            counts["groups"] = save_grids(conn, vid, demo.groups, 2, adcode).inserted
            versions.publish_simple(conn, vid, effective or pd.Timestamp.now().date())
            progress("grids", 2, 2)
    with engine.begin() as conn:
        progress("forces", 0, 1)
        counts.update(save_forces(conn, adcode, demo.posts, demo.officers,
                                  demo.officer_villages, demo.militia, demo.cameras))
        progress("forces", 1, 1)
    with engine.begin() as conn:  # synthetic roads (data/roads.py); an imported network is kept
        from data.roads import demo_roads
        from gis.network.store import save_synthetic_network
        progress("roads", 0, 1)
        counts["road_edges"] = save_synthetic_network(conn, demo_roads(demo), adcode)["edges"]
        progress("roads", 1, 1)
    total = len(demo.incidents)
    with engine.begin() as conn:
        lookup = lookup_for_version(conn, vid)
        progress("incidents", 0, total)
        summary = ingest_frame(conn, demo.incidents, adcode, lookup,
                               batch=20_000, progress=lambda n: progress("incidents", n, total))
    counts["incidents_new"] = summary.inserted
    counts["incidents_present"] = summary.duplicates
    from data.patrols import load_demo_patrols
    counts.update(load_demo_patrols(engine, demo, progress))  # key places, tracks, check-ins
    counts["version_id"] = vid
    return counts


def demo_cache_dir(seed: int, n_incidents: int) -> Path:
    """Folder where a generated demo is cached (under ``var/demo`` of the checkout).

    The generator version is part of the name, so a changed generator never reads a stale
    cache."""
    from data.demo import GENERATOR_VERSION

    root = Path(__file__).resolve().parents[1]
    return root / "var" / "demo" / f"seed{seed}-n{n_incidents}-g{GENERATOR_VERSION}"


def build_or_read_demo(seed: int = settings.DEMO_SEED, n_incidents: int = 100_000,
                       progress: Callable[[str], None] | None = None):  # noqa: ANN201
    """The demo county from its cache folder, generating (and caching) it on first use."""
    from data.demo import build_demo, read_demo, write_demo

    folder = demo_cache_dir(seed, n_incidents)
    if (folder / "complete").exists():
        return read_demo(folder)
    demo = build_demo(seed=seed, n_incidents=n_incidents, progress=progress)
    folder.mkdir(parents=True, exist_ok=True)
    write_demo(demo, folder)
    (folder / "complete").write_text("ok\n")
    return demo
