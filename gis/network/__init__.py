"""Road networks: OpenStreetMap import, PostGIS storage and travel-time isochrones.

A road network is a :class:`networkx.MultiDiGraph` in the conventions of OSMnx:

* node ids are integers; node attributes ``x``, ``y`` are lon / lat degrees (EPSG:4490,
  numerically WGS84);
* every directed edge ``(u, v, key)`` has ``length`` (metres, > 0), ``highway`` (OSM type),
  ``speed_kph``, ``travel_time`` (seconds = length / speed) and ``geometry`` (a LineString
  from u to v, lon / lat); two-way roads are two edges with reversed geometries;
* ``G.graph["crs"]`` is the CRS of the coordinates.

Modules: :mod:`gis.network.osm` (reading an ``.osm.pbf`` with pyrosm, speeds, PostGIS round
trip) and :mod:`gis.network.isochrones` (snapping, multi-source Dijkstra, isochrone polygons,
the "10 / 20 minutes" standard table). ``data/roads.py`` builds the demo's synthetic network.
"""

from gis.network.isochrones import (
                                    RoadNetwork,
                                    dissolve_isochrones,
                                    isochrones,
                                    population_share_by_township,
                                    post_times,
                                    road_standard_table,
                                    village_standard_table,
)
from gis.network.osm import add_edge_speeds, graph_from_postgis, graph_to_postgis, read_osm_pbf

__all__ = ["RoadNetwork", "add_edge_speeds", "dissolve_isochrones", "graph_from_postgis",
           "graph_to_postgis", "isochrones", "population_share_by_township", "post_times",
           "read_osm_pbf", "road_standard_table", "village_standard_table"]
