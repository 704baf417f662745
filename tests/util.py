"""Shared assertions and helpers of the test suite."""

from __future__ import annotations

import socket

import numpy as np
import shapely

from gis.crs import area_m2


def assert_coverage_exact(geoms: np.ndarray, whole: shapely.Geometry, rel: float = 1e-6) -> None:
    """``geoms`` tile ``whole``: a valid coverage whose union has the same area (relative)."""
    geoms = np.asarray(geoms)
    assert shapely.coverage_is_valid(geoms), "polygons overlap or their shared edges differ"
    union = shapely.coverage_union_all(geoms)
    a_union, a_whole, a_sym = area_m2(np.array([union, whole,
                                                shapely.symmetric_difference(union, whole)]))
    assert abs(a_union - a_whole) <= rel * a_whole, (a_union, a_whole)
    assert a_sym <= rel * a_whole, f"union differs from the whole by {a_sym:.1f} m²"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (apt-get install chromium); playwright drives it, never downloads one."""

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
"""Flags for a quiet, offline, root-safe headless Chromium (see ../shared/NOTES.md)."""
