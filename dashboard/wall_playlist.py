"""Kiosk mode and the playlist of the wall display (``/wall?kiosk=1``, ``?playlist=SECONDS``).

:func:`options` reads the page options from the query string (with the texts the browser
needs for its client-side warnings); :func:`register` adds the client-side callback that, on
every tick of ``wall-playlist-tick``, flies the map to the next view (the county, then each
township: ``views`` of :func:`dashboard.wall_data.static_data`), optionally switching to the
next layer set of ``settings.WALL_PLAYLIST_LAYERS``.
"""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, clientside_callback

from dashboard import wall_data
from dashboard.wall_map import MAP_ID
from gis import settings
from layers.i18n import LANGS, t


def _flag(v: Any) -> bool:
    return str(v).lower() in ("1", "true", "yes", "on")


def options(kiosk: Any = None, playlist: Any = None) -> dict[str, Any]:
    """Page options from the query string: ``kiosk`` and ``playlist`` (seconds per view;
    default ``settings.WALL_PLAYLIST_S`` in kiosk mode, off otherwise)."""
    is_kiosk = _flag(kiosk)
    try:
        secs = float(playlist) if playlist not in (None, "") else \
            (float(settings.WALL_PLAYLIST_S) if is_kiosk else 0.0)
    except ValueError:
        secs = 0.0
    refresh = wall_data.refresh_s()
    return {"kiosk": is_kiosk, "playlist_s": max(0.0, secs), "refresh_s": refresh,
            "stale_s": max(float(settings.WALL_STALE_AFTER_S), 3 * refresh),
            "tz": settings.WALL_TIMEZONE,
            "layer_sets": [list(s) for s in settings.WALL_PLAYLIST_LAYERS],
            "texts": {lang: {k: t(f"wall.{k}", lang) for k in
                             ("stale", "db_down", "db_down_empty", "view", "view.county")}
                      for lang in LANGS}}



PLAYLIST_JS = """function(n, views, opts, lang) {
        const nu = window.dash_clientside.no_update;
        if (!views || !views.length || !n) { return [nu, nu, nu, nu]; }
        const o = opts || {};
        const texts = (o.texts || {})[lang] || (o.texts || {}).zh || {};
        const v = views[n % views.length];
        const sets = o.layer_sets || [];
        let theme = nu, overlays = nu;
        if (sets.length) {
            const s = sets[n % sets.length];
            const themes = ['plain', 'density', 'hotspots', 'coverage'];
            const th = s.find((x) => themes.includes(x));
            theme = th || 'plain';
            overlays = s.filter((x) => !themes.includes(x));
        }
        const viewport = v.bounds ? {bounds: v.bounds, transition: 'flyToBounds',
                                     options: {padding: [24, 24], duration: 1.5}} : nu;
        const caption = (texts.view || '') + '：' + (v.name || texts['view.county'] || '');
        return [viewport, caption, theme, overlays];
    }"""
"""Client-side playlist step: Inputs the tick; States the views, options and language;
Outputs the map's ``viewport``, the caption and (with layer sets) the theme and overlays."""


def register() -> None:
    """Add the playlist's client-side callback (once per import of the page module)."""
    clientside_callback(
        PLAYLIST_JS,
        Output(MAP_ID, "viewport"), Output("wall-view-caption", "children"),
        Output("wall-theme", "value"), Output("wall-overlays", "value"),
        Input("wall-playlist-tick", "n_intervals"), State("wall-views", "data"),
        State("wall-opts", "data"), State("app-lang", "data"), prevent_initial_call=True)
