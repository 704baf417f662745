"""wangge.gis — the domain and the spatial work (no UI).

Storage CRS is EPSG:4490 (CGCS2000 geographic); area and distance work is done in the UTM
zone of the territory (see :func:`gis.crs.utm_crs_for`).
"""

__version__ = "0.1.0"
