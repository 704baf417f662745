"""Wall display (大屏, ``/wall``): the live picture of the county for a screen across the room.

Dark, large type, no scrollbars, nothing that needs the mouse: a header with the clock and
the "data as of" stamp, six KPI tiles, two small trend charts, a dash-leaflet map with a
thematic fill of the village grids (plain, incident density, Gi* hot spots, 一村一警一连
coverage) and switchable overlays (group grids, incidents of the last 24 hours per group
grid, 5 / 10 km response rings with the police posts, cameras per village; patrols have no
data yet), and a live feed of the newest and the overdue incidents.

* **Refresh** — ``wall-tick`` (``settings.WALL_REFRESH_S``, default 10 s) runs
  :func:`refresh`, which sends figures, feed rows, charts and the *values* of the map layers
  (counts per grid in the layers' ``hideout``): the page is never reloaded, the map is never
  recreated, its view is kept. When the database is unreachable the refresh returns
  ``no_update`` for the data (the last good picture stays) and the page shows a warning; a
  client-side check also warns when no new data has come for a while (server down).
* **Kiosk** — ``/wall?kiosk=1`` hides every control (top bar with the page links and the
  language switch, layer panel, zoom buttons) and runs the playlist.
* **Playlist** — every ``settings.WALL_PLAYLIST_S`` seconds in kiosk mode (or
  ``?playlist=SECONDS``) the map flies to the next view: the county, then each township
  (``viewport`` of the map), optionally with the layer sets of
  ``settings.WALL_PLAYLIST_LAYERS``.

Component ids start with ``wall-``; the data comes from :mod:`dashboard.wall_data`. The
page is split by concern: :mod:`dashboard.wall_panels` (KPI tiles, feed, charts),
:mod:`dashboard.wall_map` (map, themes, legend, layer panel), :mod:`dashboard.wall_layout`
(page body), :mod:`dashboard.wall_playlist` (kiosk options, playlist) and
:mod:`dashboard.wall_callbacks` (render, refresh, client-side callbacks); this module
registers the page and re-exports what tests and tools use.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard import wall_callbacks
from dashboard.wall_callbacks import REFRESH_OUTPUTS, refresh, render
from dashboard.wall_layout import body, header, skeleton
from dashboard.wall_map import (
    DEFAULT_OVERLAYS,
    DEFAULT_THEME,
    LEGEND_KEYS,
    MAP_ID,
    OVERLAYS,
    THEMES,
    build_map,
    layer_panel,
    live_classes,
    live_hideout,
    map_legend,
    village_hideout,
)
from dashboard.wall_panels import (
    DATA_ERRORS,
    KPIS,
    PREFIX,
    feed_rows,
    kinds_figure,
    kpi_tiles,
    trend_figure,
)
from dashboard.wall_playlist import options
from gis import settings
from layers.i18n import t

__all__ = ["DATA_ERRORS", "DEFAULT_OVERLAYS", "DEFAULT_THEME", "KPIS", "LEGEND_KEYS", "MAP_ID",
           "OVERLAYS", "PREFIX", "REFRESH_OUTPUTS", "THEMES", "body", "build_map", "feed_rows",
           "header", "kinds_figure", "kpi_tiles", "layer_panel", "layout", "live_classes",
           "live_hideout", "map_legend", "options", "refresh", "render", "settings",
           "trend_figure", "village_hideout"]

dash.register_page(__name__, path="/wall", name=t("page.wall"), name_key="page.wall", order=1,
                   title=t("page.wall"))


def layout(kiosk: Any = None, playlist: Any = None, **_kwargs: Any) -> html.Div:
    """Page skeleton; :func:`render` fills it in the language of the ``app-lang`` store."""
    return skeleton(kiosk, playlist)


wall_callbacks.register()
