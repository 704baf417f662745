"""Patrols (巡逻): tracks, check-ins, key areas and key road sections, weekly compliance.

* :mod:`gis.patrols.importer` — ``import_patrol_file``: GPX / GeoJSON tracks, check-ins,
  key areas / sections; transactional, idempotent, bad features into a rejected file.
* :mod:`gis.patrols.tracks` — checks, grid assignment (the **start point** decides a
  patrol's village and group, in the grid version in force on its Beijing date), storage as
  MultiLineString M (M = epoch seconds of each vertex).
* :mod:`gis.patrols.compliance` — ``compliance(conn, adcode, week)``,
  ``village_night_patrols(...)``, ``summary(...)``.
* :mod:`gis.patrols.queries` — tracks back from the store (with their times), recent tracks.

Tables: ``patrol``, ``patrol_checkin``, ``key_area``, ``key_section`` (migration 0005,
models in :mod:`gis.store.models`).
"""

from gis.patrols.compliance import (
           compliance,
           compliance_frame,
           summary,
           village_night_patrols,
)
from gis.patrols.importer import PatrolImportReport, import_patrol_file
from gis.patrols.queries import patrols_frame, recent_tracks, track_times
from gis.patrols.times import parse_week, week_of

__all__ = ["PatrolImportReport", "compliance", "compliance_frame", "import_patrol_file",
           "parse_week", "patrols_frame", "recent_tracks", "summary", "track_times",
           "village_night_patrols", "week_of"]
