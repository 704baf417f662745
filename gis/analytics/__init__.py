"""Analyses leaders ask for, as pure functions (no UI).

- :mod:`gis.analytics.hotspots` — Getis-Ord Gi* hot spots of grid counts / rates (esda).
- :mod:`gis.analytics.kde` — kernel density of incidents: raster and contour bands.
- :mod:`gis.analytics.emerging` — emerging hot spots over weeks (Gi* + Mann-Kendall).
- :mod:`gis.analytics.rings` — 5 km / 10 km response rings and villages outside them.
- :mod:`gis.analytics.siting` — where new police posts add the most covered population (MCLP).

Glue that reads the store (grid version in force, posts, road network): :mod:`gis.analytics.run`
(hot spots, rings, writing outputs) and :mod:`gis.analytics.reach` (road isochrones, the
"10 / 20 minutes" table, siting of a county).
"""

from __future__ import annotations

from gis.analytics.emerging import PATTERNS, emerging_hotspots, space_time_cube
from gis.analytics.hotspots import build_weights, class_names, counts_per_grid, gi_star
from gis.analytics.kde import KdeGrid, kde_contours, kde_surface, silverman_bandwidth
from gis.analytics.rings import nearest_posts, response_rings, villages_outside_rings

__all__ = [
    "PATTERNS", "KdeGrid", "build_weights", "class_names", "counts_per_grid",
    "emerging_hotspots", "gi_star", "kde_contours", "kde_surface", "nearest_posts",
    "response_rings", "silverman_bandwidth", "space_time_cube", "villages_outside_rings",
]
