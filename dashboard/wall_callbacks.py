"""Callbacks of the wall display (``/wall``): render, refresh, clock and layer switches.

* :func:`render` builds the page body in the chosen language (and a notice when the
  database cannot be reached at first paint, with a new try every 15 s);
* :func:`refresh` (every ``settings.WALL_REFRESH_S``) sends new figures, feed rows, charts
  and the values of the map layers, never the map itself; when the data cannot be read
  it keeps the last good picture and raises the page's warning;
* client side: the clock and the stale / database-down warning (every second), and the
  theme / overlay switches (restyle the layers through their ``hideout``);
* :func:`load_overlays` sends the data of the analysis overlays (isochrones, patrols) when
  one is first switched on, and the patrols again on a tick when they changed (their
  ``rev``); the overlays' visibility stays with the switches.

:func:`register` adds them to Dash's callback list; the page module calls it on import.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from dash import Input, Output, State, callback, clientside_callback, html, no_update

from dashboard import wall_data, wall_layers_data, wall_playlist
from dashboard.wall_layout import body
from dashboard.wall_map import (
    DEFAULT_THEME,
    LEGEND_KEYS,
    legend_density,
    legend_live,
    live_hideout,
    patrol_note,
    village_hideout,
)
from dashboard.wall_panels import (
    DATA_ERRORS,
    _clock_text,
    feed_rows,
    kinds_figure,
    kpi_tiles,
    trend_figure,
)
from dashboard.wall_playlist import options
from layers.i18n import normalise_lang, t

log = logging.getLogger("dashboard.pages.wall")

RENDER_OUTPUTS = (Output("wall-body", "children"), Output("wall-retry", "disabled"))
RENDER_INPUTS = (Input("app-lang", "data"), Input("wall-screen", "data"),
                 Input("wall-retry", "n_intervals"), State("wall-opts", "data"))


def render(lang: str | None, screen: dict[str, Any] | None, _retry: int | None,
           opts: dict[str, Any] | None) -> tuple[list[Any], bool]:
    """(Re)build the page in the chosen language; when the database cannot be reached,
    a notice, and a new try every 15 s."""
    lang = normalise_lang(lang)
    try:
        return body(lang, opts or options(), screen), True
    except DATA_ERRORS as e:  # database down at first paint: say so, try again later
        log.warning("wall: cannot render (%s: %s)", type(e).__name__, e)
        return [html.Div(t("wall.db_down_empty", lang), className="wg-empty wg-wall-down",
                         id="wall-empty")], False



REFRESH_OUTPUTS = (
    Output("wall-kpis", "children"), Output("wall-feed-new", "children"),
    Output("wall-feed-overdue", "children"), Output("wall-trend", "figure"),
    Output("wall-kinds", "figure"),
    Output("wall-layer-villages", "hideout", allow_duplicate=True),
    Output("wall-layer-live", "hideout", allow_duplicate=True),
    Output("wall-legend-density", "children"), Output("wall-legend-live", "children"),
    Output("wall-asof", "children"), Output("wall-asof-ms", "data"),
    Output("wall-dberr-ms", "data"))


REFRESH_INPUTS = (Input("wall-tick", "n_intervals"), State("app-lang", "data"),
                  State("wall-theme", "value"), State("wall-overlays", "value"),
                  State("wall-layer-villages", "hideout"), State("wall-layer-live", "hideout"),
                  State("wall-screen", "data"))


def refresh(_n: int | None, lang: str | None, theme: str | None, overlays: list[str] | None,
            village_h: dict[str, Any] | None, live_h: dict[str, Any] | None,
            screen: dict[str, Any] | None) -> tuple[Any, ...]:
    """New data for everything on the page but the map itself.

    On any failure to read the data (database unreachable, …) every data output is
    ``no_update`` (the page keeps its last good picture) and ``wall-dberr-ms`` gets the
    time of the failure, which makes the page show its warning.
    """
    lang = normalise_lang(lang)
    t0 = time.perf_counter()
    try:
        snap = wall_data.snapshot()
    except DATA_ERRORS as e:  # keep the last good picture, raise the warning
        log.warning("wall: refresh failed (%s: %s)", type(e).__name__, e)
        return (*([no_update] * (len(REFRESH_OUTPUTS) - 1)),
                int(datetime.now(UTC).timestamp() * 1000))
    if snap is None:
        return tuple([no_update] * len(REFRESH_OUTPUTS))
    st = wall_data.static_data(snap.version_id)
    on = set(overlays or [])
    vh = village_hideout(dict(village_h or {}), snap, theme or DEFAULT_THEME, st["coverage"])
    lh = live_hideout(dict(live_h or {}), snap, "live" in on)
    out = (kpi_tiles(snap, lang), feed_rows(snap.newest, snap.as_of, lang),
           feed_rows(snap.overdue, snap.as_of, lang), trend_figure(snap, lang, screen),
           kinds_figure(snap, lang, screen), vh, lh, legend_density(snap, lang),
           legend_live(snap, lang), _clock_text(snap.as_of), snap.as_of_ms, no_update)
    log.debug("wall refresh: %.1f ms", (time.perf_counter() - t0) * 1000)
    return out



# --- client side -------------------------------------------------------------------------

SCREEN_JS = "function(opts) { return {w: window.innerWidth, h: window.innerHeight}; }"

CLOCK_JS = """function(n, asofMs, errMs, opts, lang) {
        const o = opts || {};
        const texts = (o.texts || {})[lang] || (o.texts || {}).zh || {};
        const tz = o.tz || 'Asia/Shanghai';
        const now = new Date();
        const fmt = (d) => new Intl.DateTimeFormat('en-GB', {timeZone: tz, hour: '2-digit',
            minute: '2-digit', second: '2-digit', hour12: false}).format(d);
        const parts = {};
        new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : 'zh-CN', {timeZone: tz,
            year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short', hour: '2-digit',
            minute: '2-digit', second: '2-digit', hour12: false})
            .formatToParts(now).forEach((p) => { parts[p.type] = p.value; });
        const clock = parts.year + '-' + parts.month + '-' + parts.day + ' ' + parts.weekday +
                      ' ' + parts.hour + ':' + parts.minute + ':' + parts.second;
        let msg = '', cls = 'wg-wall-status is-ok';
        if (errMs && (!asofMs || errMs > asofMs)) {
            msg = asofMs ? texts.db_down.replace('{t}', fmt(new Date(asofMs)))
                         : texts.db_down_empty;
            cls = 'wg-wall-status is-down';
        } else if (asofMs && (now.getTime() - asofMs) > 1000 * (o.stale_s || 60)) {
            msg = texts.stale.replace('{s}', String(Math.round((now.getTime() - asofMs) / 1000)))
                             .replace('{t}', fmt(new Date(asofMs)));
            cls = 'wg-wall-status is-stale';
        }
        return [clock, msg, cls];
    }"""
"""Clock and warning: Inputs the 1-second tick; States the as-of and last-failure times
(ms), the options and the language; Outputs the clock text and the warning's text and class."""

ISO_LAYERS: tuple[str, ...] = (wall_layers_data.ISOCHRONE_LAYER_ID,)
PATROL_LAYERS: tuple[str, ...] = wall_layers_data.PATROL_LAYER_IDS
TOGGLE_LAYERS = ("villages", "groups", "live", "rings", "posts", "cameras", *ISO_LAYERS,
                 *PATROL_LAYERS)

TOGGLE_JS = """function(theme, overlays, hv, hg, hl, hr, hp, hc, hi, hs1, hs2, ht1, ht2,
                        urlGroups) {
        const on = new Set(overlays || []);
        const nu = window.dash_clientside.no_update;
        const vis = (h, v) => (h && h.visible !== v) ? Object.assign({}, h, {visible: v}) : nu;
        const villages = (hv && hv.theme !== (theme === 'plain' ? null : theme))
            ? Object.assign({}, hv, {theme: theme === 'plain' ? null : theme}) : nu;
        const groupsUrl = (on.has('groups') && !urlGroups && hg && hg.src) ? hg.src : nu;
        const keys = LEGEND_KEYS;
        const styles = keys.map((k) => (k === theme || on.has(k)) ? {} : {display: 'none'});
        const patrols = on.has('patrols');
        return [villages, vis(hg, on.has('groups')), groupsUrl, vis(hl, on.has('live')),
                vis(hr, on.has('rings')), vis(hp, on.has('rings') || on.has('isochrones')),
                vis(hc, on.has('cameras')), vis(hi, on.has('isochrones')),
                vis(hs1, patrols), vis(hs2, patrols), vis(ht1, patrols), vis(ht2, patrols),
                ...styles];
    }""".replace("LEGEND_KEYS", json.dumps(list(LEGEND_KEYS)))
"""Theme and overlay switches: restyle / show / hide the layers through their ``hideout``,
download the group grids on first show, show the matching legend sections (the police
posts show with the rings and with the isochrones)."""


# --- analysis overlays: data on first show, patrols again when they change -----------------

LOAD_OUTPUTS = (*[Output(f"wall-layer-{k}", "data") for k in (*ISO_LAYERS, *PATROL_LAYERS)],
                Output("wall-patrols-note", "children"), Output("wall-overlay-rev", "data"))
LOAD_INPUTS = (Input("wall-overlays", "value"), Input("wall-tick", "n_intervals"),
               State("wall-overlay-rev", "data"), State("app-lang", "data"))


def load_overlays(overlays: list[str] | None, _tick: int | None, rev: dict[str, Any] | None,
                  lang: str | None) -> tuple[Any, ...]:
    """GeoJSON of the isochrones (once: they change only with the version) and of the
    patrol layers (whenever their content changed, checked on every tick while shown).

    ``wall-overlay-rev`` remembers what the page holds (``iso``: the version, ``patrols``:
    :attr:`Patrols.rev <dashboard.wall_layers_data.Patrols.rev>`); nothing is sent for an
    overlay that is off or up to date. A failure to read keeps what the map shows.
    """
    lang = normalise_lang(lang)
    on = set(overlays or [])
    rev = dict(rev or {})
    n_out = len(LOAD_OUTPUTS)
    out: list[Any] = [no_update] * n_out
    if not on & {"isochrones", "patrols"}:
        return tuple(out)
    from dashboard import data

    try:
        vid = data.version_in_force()
        if vid is None:
            return tuple(out)
        changed = False
        if "isochrones" in on and rev.get("iso") != vid:
            lyr = wall_layers_data.isochrone_wall_layer(wall_layers_data.isochrone_data(vid))
            if lyr is not None:
                out[0] = lyr.data
                rev["iso"], changed = vid, True
        if "patrols" in on:
            p = wall_layers_data.patrol_data(vid)
            key = f"{vid}:{p.rev}:{lang}"
            if rev.get("patrols") != key:
                layers = wall_layers_data.patrol_wall_layers(p)
                for i, lyr in enumerate(layers, start=len(ISO_LAYERS)):
                    out[i] = lyr.data
                out[n_out - 2] = patrol_note(p, lang)
                rev["patrols"], changed = key, True
    except DATA_ERRORS as e:  # keep what the map shows
        log.warning("wall: overlay data failed (%s: %s)", type(e).__name__, e)
        return tuple([no_update] * n_out)
    if changed:
        out[n_out - 1] = rev
    return tuple(out)


def register() -> None:
    """Add the wall's callbacks to Dash's global callback list (the page module calls this
    when Dash imports it)."""
    callback(*RENDER_OUTPUTS, *RENDER_INPUTS)(render)
    callback(*REFRESH_OUTPUTS, *REFRESH_INPUTS, prevent_initial_call=True)(refresh)
    clientside_callback(SCREEN_JS, Output("wall-screen", "data"), Input("wall-opts", "data"))
    clientside_callback(
        CLOCK_JS,
        Output("wall-clock", "children"), Output("wall-status", "children"),
        Output("wall-status", "className"), Input("wall-clock-tick", "n_intervals"),
        State("wall-asof-ms", "data"), State("wall-dberr-ms", "data"),
        State("wall-opts", "data"), State("app-lang", "data"))
    clientside_callback(
        TOGGLE_JS,
        Output("wall-layer-villages", "hideout", allow_duplicate=True),
        Output("wall-layer-groups", "hideout"), Output("wall-layer-groups", "url"),
        Output("wall-layer-live", "hideout", allow_duplicate=True),
        Output("wall-layer-rings", "hideout"), Output("wall-layer-posts", "hideout"),
        Output("wall-layer-cameras", "hideout"),
        *[Output(f"wall-layer-{k}", "hideout") for k in (*ISO_LAYERS, *PATROL_LAYERS)],
        *[Output(f"wall-legend-{k}", "style") for k in LEGEND_KEYS],
        Input("wall-theme", "value"), Input("wall-overlays", "value"),
        *[State(f"wall-layer-{k}", "hideout") for k in TOGGLE_LAYERS],
        State("wall-layer-groups", "url"), prevent_initial_call=True)
    callback(*LOAD_OUTPUTS, *LOAD_INPUTS, prevent_initial_call=True)(load_overlays)
    wall_playlist.register()
