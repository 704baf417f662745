"""The Dash application: :func:`create_app` builds it from an :class:`AppConfig`.

A multi-page app (``use_pages=True``, one module per page in ``dashboard/pages``) inside a
shell with a top bar (brand, page links, 中文 / EN switch). The chosen language lives in the
``app-lang`` store; pages render their text from it through :mod:`layers.i18n`. The config
is kept on the Flask app so pages reach the database through :func:`dashboard.data.engine`.
For a WSGI server, ``dashboard.app:server`` is the Flask app of a default-configured app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dash
import flask
from dash import Input, Output, dcc, html

from dashboard import compression, data
from dashboard.scheduler import start_escalation_thread
from gis import settings
from gis.incidents.api import register_api
from layers.i18n import LANGS, normalise_lang, t
from layers.leaflet import write_assets

HERE = Path(__file__).resolve().parent
PAGES_FOLDER = HERE / "pages"
ASSETS_FOLDER = HERE / "assets"


@dataclass
class AppConfig:
    """How the dashboard runs.

    Parameters
    ----------
    database_url : str or None
        SQLAlchemy / libpq URL of the store; None uses ``DATABASE_URL`` or the embedded cluster.
    tile_url : str or None
        Basemap tile URL template (``{z}/{x}/{y}``); None: no tiles, plain background.
    tile_attribution : str
        Attribution of the tiles.
    tile_file : str or None
        A local ``.mbtiles`` / ``.pmtiles`` basemap served at ``/tiles/{z}/{x}/{y}``
        (overrides ``tile_url``); see :mod:`dashboard.tiles`.
    lang : str
        Default language, ``"zh"`` or ``"en"``.
    title : str or None
        Browser title (default: the translated application title).
    adcode : str or None
        County shown (default: the county of any grid version in force).
    escalation_interval_s : float or None
        Seconds between runs of the escalation scheduler in the server; None: off.
    auth : bool
        Require a login (``/login``, :mod:`dashboard.auth`); default
        :data:`gis.settings.AUTH_ENABLED` (on unless ``WANGGE_AUTH=0``). Tests that drive
        pages without logging in pass ``auth=False``.
    """

    database_url: str | None = None
    tile_url: str | None = field(default_factory=lambda: settings.TILE_URL)
    tile_attribution: str = field(default_factory=lambda: settings.TILE_ATTRIBUTION)
    tile_file: str | None = field(default_factory=lambda: settings.TILE_FILE)
    lang: str = "zh"
    title: str | None = None
    adcode: str | None = None
    escalation_interval_s: float | None = 60.0
    auth: bool = field(default_factory=lambda: settings.AUTH_ENABLED)


def _lang_switch(lang: str) -> dcc.RadioItems:
    return dcc.RadioItems(
        id="app-lang-switch", value=lang, inline=True, persistence=True,
        persistence_type="local", className="wg-lang", inputClassName="wg-lang-input",
        labelClassName="wg-lang-label",
        options=[{"label": t(f"app.lang.{code}"), "value": code} for code in LANGS])


def _nav(lang: str) -> list[Any]:
    return [dcc.Link(t(str(p.get("name_key", "page.home")), lang), href=p["relative_path"],
                     className="wg-nav-link")
            for p in dash.page_registry.values()]


def shell(config: AppConfig) -> html.Div:
    """The page shell: language store, top bar, page container."""
    lang = normalise_lang(config.lang)
    return html.Div([
        dcc.Store(id="app-lang", data=lang),
        html.Header([
            html.Div([html.Span("◆", className="wg-brand-mark"),
                      html.Span(t("app.brand", lang), id="app-brand", className="wg-brand-name")],
                     className="wg-brand"),
            html.Nav(_nav(lang), id="app-nav", className="wg-nav"),
            html.Div([_lang_switch(lang)] + ([html.A(
                t("auth.logout", lang), href="/logout", id="app-logout",
                className="wg-nav-link")] if config.auth else []),
                className="wg-topbar-right", title=t("app.lang.switch", lang)),
        ], className="wg-topbar"),
        html.Main(dash.page_container, className="wg-main"),
    ], className="wg-app")


def _register_shell_callbacks(app: dash.Dash) -> None:
    @app.callback(Output("app-lang", "data"), Input("app-lang-switch", "value"))
    def set_lang(value: str | None) -> str:
        return normalise_lang(value)

    @app.callback(Output("app-nav", "children"), Output("app-brand", "children"),
                  Input("app-lang", "data"))
    def translate_shell(lang: str | None) -> tuple[list[Any], str]:
        lang = normalise_lang(lang)
        return _nav(lang), t("app.brand", lang)


def create_app(config: AppConfig | None = None) -> dash.Dash:
    """Build the Dash app for ``config`` (one app per process: pages register globally).

    The client-side layer functions and styles of :mod:`layers.leaflet` are written into
    ``dashboard/assets`` first; the GeoJSON routes of :mod:`dashboard.data` are added to
    the Flask server.
    """
    config = config or AppConfig()
    write_assets(ASSETS_FOLDER)
    server = flask.Flask("dashboard")
    server.config[data.CONFIG_KEY] = config
    data.configure(config)
    app = dash.Dash(
        "dashboard", server=server, use_pages=True, pages_folder=str(PAGES_FOLDER),
        assets_folder=str(ASSETS_FOLDER), title=config.title or t("app.title", config.lang),
        suppress_callback_exceptions=True, update_title=None,
        serve_locally=True)
    app.layout = shell(config)
    _register_shell_callbacks(app)
    if config.auth:
        from dashboard.auth import install_auth

        install_auth(app, config)
    data.register_routes(server)
    register_api(server, data.engine)  # POST /api/incidents (gis.incidents.api)
    if config.tile_file:
        from dashboard.tiles import register_tile_routes

        config.tile_url = register_tile_routes(server, config.tile_file)
    compression.install(server)
    if config.escalation_interval_s:
        start_escalation_thread(data.engine, config.escalation_interval_s)
        from dashboard.wall_warm import start_warm_up

        start_warm_up(wait_s=settings.WALL_WARM_UP_WAIT_S)  # built before the first request
    return app


_default: dash.Dash | None = None


def __getattr__(name: str) -> Any:
    """``server`` (and ``app``): a default-configured app, created on first access (WSGI)."""
    global _default
    if name in ("server", "app"):
        if _default is None:
            _default = create_app(AppConfig())
        return _default.server if name == "server" else _default
    raise AttributeError(name)
