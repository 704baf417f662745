"""Road networks: OpenStreetMap import, PostGIS storage and travel-time isochrones.

A road network is a :class:`networkx.MultiDiGraph` in the conventions of OSMnx:

* node ids are integers; node attributes ``x``, ``y`` are lon / lat degrees (EPSG:4490,
  numerically WGS84);
* every directed edge ``(u, v, key)`` has ``length`` (metres, > 0), ``highway`` (OSM type),
  ``speed_kph``, ``travel_time`` (seconds = length / speed) and ``geometry`` (a LineString
  from u to v, lon / lat); two-way roads are two edges with reversed geometries;
* ``G.graph["crs"]`` is the CRS of the coordinates.

Modules:

- :mod:`gis.network.osm` — reading an ``.osm.pbf`` with pyrosm, speeds by highway type;
- :mod:`gis.network.store` — the PostGIS round trip (tables of migration 0006);
- :mod:`gis.network.graph` — :class:`RoadNetwork` (prepared arrays), snapping, one
  multi-source Dijkstra from all posts (:func:`post_times`);
- :mod:`gis.network.isochrones` — isochrone polygons per post and time limit;
- :mod:`gis.network.reach_table` — the "10 / 20 minutes" and "5 / 10 km" standards per
  village and group, and the population share per township.

``data/roads.py`` builds the demo's synthetic network.
"""

from gis.network.graph import PostTimes, RoadNetwork, post_times
from gis.network.isochrones import dissolve_isochrones, isochrones
from gis.network.osm import add_edge_speeds, read_osm_pbf
from gis.network.reach_table import (
    population_share_by_township,
    road_standard_table,
    village_standard_table,
)
from gis.network.store import graph_from_postgis, graph_to_postgis, has_network

__all__ = ["PostTimes", "RoadNetwork", "add_edge_speeds", "dissolve_isochrones",
           "graph_from_postgis", "graph_to_postgis", "has_network", "isochrones",
           "population_share_by_township", "post_times", "read_osm_pbf", "road_standard_table",
           "village_standard_table"]
