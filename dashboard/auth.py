"""Login for the dashboard: :func:`install_auth` (flask-login, argon2 passwords, audit).

* ``/login`` — a small Flask-rendered form (Jinja autoescaping; zh / en), with a per-session
  CSRF token; ``/logout``. Logins, failed logins, refused (rate-limited) attempts and logouts
  go to the audit log with the client address.
* Rate limit: failed logins are counted in the audit log itself, so every worker process
  of ``wangge serve --workers N`` shares the count: more than
  :data:`gis.settings.LOGIN_MAX_FAILURES` for one name from one address, or
  :data:`gis.settings.LOGIN_MAX_FAILURES_PER_IP` from one address, within
  :data:`gis.settings.LOGIN_WINDOW_S` → HTTP 429 until the window has passed.
* Session cookie: HttpOnly, SameSite=Lax, Secure when :data:`gis.settings.COOKIE_SECURE`,
  lifetime :data:`gis.settings.SESSION_HOURS`. The session carries the user id and the time
  of the last password change: a new password or a disabled user ends every open session at
  its next request.
* Every other path needs a login: pages redirect to ``/login?next=…``, Dash's XHR endpoints
  answer 401 JSON. ``/api/…`` is left to the JSON API, which accepts bearer tokens only
  (:mod:`gis.auth.tokens`) and no cookies, so CSRF does not apply there. Dash callbacks are
  JSON POSTs that a cross-site form cannot send with the SameSite=Lax cookie, and they must
  also echo a per-session token (double submit: Dash's renderer copies the ``_csrf_token``
  cookie, set at login, into the ``X-CSRFToken`` header) or get 403.

Pages reach the database for the logged-in user through :func:`dashboard.data.connect`,
:func:`dashboard.data.begin` (:func:`scoped_connection` here) and :func:`dashboard.data.store`,
which apply the user's jurisdiction (row-level security, migration 0008).
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dash
import flask
import flask_login
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard import data
from gis import audit, settings
from gis._errors import LoginFailed
from gis.auth import users as users_mod
from gis.auth.users import User
from layers.i18n import LANGS, normalise_lang, t

if TYPE_CHECKING:
    from dashboard.app import AppConfig

PUBLIC_PATHS: tuple[str, ...] = ("/login", "/logout", "/favicon.ico")
"""Paths served without a login."""
API_PREFIX = "/api/"
"""The JSON API authenticates itself (bearer tokens), never with the session cookie."""
XHR_PREFIXES: tuple[str, ...] = ("/_dash-", "/_reload-hash", "/layers/")
"""Paths fetched by scripts: answered 401 JSON instead of a redirect."""
MAX_FIELD = 256
"""Characters of a form field beyond which the login form is refused unread."""
CSRF_KEY = "wangge_login_csrf"
DASH_CSRF_KEY = "wangge_dash_csrf"
"""Session key of the token Dash's renderer must echo on every callback (double submit)."""

PAGE = """<!doctype html>
<html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
 background:#0b1726;color:#e6edf5;font:15px/1.5 "Noto Sans CJK SC","Microsoft YaHei",sans-serif}
form{background:#12233a;padding:28px 32px;border-radius:8px;width:300px;
 box-shadow:0 4px 24px rgba(0,0,0,.4)}
h1{font-size:20px;margin:0 0 18px} label{display:block;margin:10px 0 4px;color:#9fb3c8}
input{width:100%;box-sizing:border-box;padding:8px;border:1px solid #2c4566;border-radius:4px;
 background:#0b1726;color:#e6edf5;font-size:15px}
button{margin-top:18px;width:100%;padding:9px;border:0;border-radius:4px;background:#1f7ae0;
 color:#fff;font-size:15px;cursor:pointer}
.msg{margin:0 0 10px;padding:8px;border-radius:4px;background:#5c1d24;color:#ffd7dc}
.info{background:#17402a;color:#d4f5e0} .langs{margin-top:14px;font-size:13px}
.langs a{color:#9fb3c8;margin-right:10px}
</style></head><body>
<form method="post" action="{{ action }}" autocomplete="on">
<h1>{{ brand }} · {{ heading }}</h1>
{% if message %}<p class="msg{{ ' info' if info else '' }}" id="login-message">{{ message }}</p>{% endif %}
<input type="hidden" name="csrf_token" value="{{ csrf }}">
<label for="login-user">{{ user_label }}</label>
<input id="login-user" name="username" value="{{ username }}" maxlength="64"
 autocomplete="username" required autofocus>
<label for="login-password">{{ password_label }}</label>
<input id="login-password" name="password" type="password" maxlength="256"
 autocomplete="current-password" required>
<button id="login-submit" type="submit">{{ submit }}</button>
<div class="langs">{% for code, label in langs %}<a href="{{ code_url[code] }}">{{ label }}</a>{% endfor %}</div>
</form></body></html>"""


class SessionUser(flask_login.UserMixin):
    """The flask-login view of a :class:`gis.auth.users.User`."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        """``<id>:<password change time>``: a new password ends old sessions."""
        changed = self.user.password_changed_at
        return f"{self.user.id}:{changed.timestamp() if changed else 0:.6f}"

    @property
    def is_active(self) -> bool:  # noqa: D102
        return bool(self.user.active)


def _secret_key() -> str:
    """:data:`gis.settings.SECRET_KEY`, else the key in :data:`gis.settings.SECRET_KEY_FILE`
    (created once, mode 0600, shared by the worker processes)."""
    if settings.SECRET_KEY:
        return settings.SECRET_KEY
    path = settings.SECRET_KEY_FILE
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another worker may be writing it right now
            with open(path, encoding="ascii") as f:
                key = f.read().strip()
            if key:
                return key
            time.sleep(0.05)
        msg = f"session key file {path} is empty; delete it or set WANGGE_SECRET_KEY"
        raise RuntimeError(msg) from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key)
    return key


def _lang(config: AppConfig) -> str:
    req = flask.request
    if req.args.get("lang"):
        return normalise_lang(req.args.get("lang"))
    best = req.accept_languages.best_match(["zh", "zh-CN", "en"]) if req.accept_languages else None
    return normalise_lang(best or config.lang)


def client_ip() -> str | None:
    """Address of the client of the current request (the peer; no proxy headers trusted)."""
    return flask.request.remote_addr


def _safe_next(value: str | None) -> str:
    """``value`` if it is a path on this site, else ``/`` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _render(config: AppConfig, *, status: int = 200, message: str | None = None,
            info: bool = False, username: str = "") -> flask.Response:
    lang = _lang(config)
    csrf = flask.session.get(CSRF_KEY) or secrets.token_urlsafe(24)
    flask.session[CSRF_KEY] = csrf
    nxt = _safe_next(flask.request.args.get("next"))
    keep = nxt if nxt != "/" else None
    html = flask.render_template_string(
        PAGE, lang=lang, title=t("auth.login.title", lang) + " · " + t("app.title", lang),
        brand=t("app.brand", lang), heading=t("auth.login.title", lang),
        user_label=t("auth.login.user", lang), password_label=t("auth.login.password", lang),
        submit=t("auth.login.submit", lang), message=message, info=info, csrf=csrf,
        username=username[:64], langs=[(c, t(f"app.lang.{c}", lang)) for c in LANGS],
        code_url={c: flask.url_for("wangge_login", lang=c, next=keep) for c in LANGS},
        action=flask.url_for("wangge_login", lang=lang, next=keep))
    resp = flask.make_response(html, status)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; "
                                               "form-action 'self'; frame-ancestors 'none'")
    return resp


def _unit_of(conn: Connection, name: str) -> str | None:
    return conn.execute(sa.text("select unit_code from app_user where name = :n"),
                        {"n": name}).scalar()


def _login_post(config: AppConfig) -> flask.Response:
    form = flask.request.form
    name = (form.get("username") or "").strip()
    password = form.get("password") or ""
    lang = _lang(config)
    sent = form.get("csrf_token") or ""
    expected = flask.session.get(CSRF_KEY) or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _render(config, status=400, message=t("auth.login.expired", lang), username=name)
    if len(name) > MAX_FIELD or len(password) > MAX_FIELD:
        return _render(config, status=400, message=t("auth.login.failed", lang))
    ip = client_ip()
    eng = data.engine()
    with eng.connect() as conn:
        pair, per_ip = audit.failures_since_success(conn, name, ip, settings.LOGIN_WINDOW_S)
    if pair >= settings.LOGIN_MAX_FAILURES or per_ip >= settings.LOGIN_MAX_FAILURES_PER_IP:
        with eng.begin() as conn:
            audit.record(conn, "anonymous", "login_blocked", f"user:{name}",
                         {"failures": pair, "failures_from_ip": per_ip},
                         scope=_unit_of(conn, name), ip=ip)
        minutes = max(1, round(settings.LOGIN_WINDOW_S / 60))
        resp = _render(config, status=429, message=t("auth.login.blocked", lang, minutes=minutes),
                       username=name)
        resp.headers["Retry-After"] = str(int(settings.LOGIN_WINDOW_S))
        return resp
    try:
        with eng.begin() as conn:
            user = users_mod.authenticate(conn, name, password)
            audit.record(conn, user.name, "login", f"user:{user.name}",
                         {"role": user.role}, scope=user.unit_code, ip=ip)
    except LoginFailed as e:
        with eng.begin() as conn:
            audit.record(conn, "anonymous", "login_failed", f"user:{name}",
                         {"reason": e.reason}, scope=_unit_of(conn, name), ip=ip)
        return _render(config, status=401, message=t("auth.login.failed", lang), username=name)
    nxt = _safe_next(flask.request.args.get("next"))
    flask.session.clear()  # no session fixation: a fresh session for the logged-in user
    flask.session.permanent = True
    flask_login.login_user(SessionUser(user), fresh=True)
    token = secrets.token_urlsafe(24)
    flask.session[DASH_CSRF_KEY] = token
    resp = flask.redirect(nxt)
    resp.set_cookie(_dash_csrf_names()[0], token, max_age=int(settings.SESSION_HOURS * 3600),
                    secure=settings.COOKIE_SECURE, httponly=False, samesite="Lax", path="/")
    return resp


def _dash_csrf_names() -> tuple[str, str]:
    """(cookie, header) names Dash's renderer uses for its CSRF token."""
    cfg = getattr(flask.current_app, "config", {}).get("WANGGE_DASH_CSRF")
    return cfg or ("_csrf_token", "X-CSRFToken")


def _dash_csrf_ok() -> bool:
    """Whether a Dash callback request carries the session's CSRF token in its header."""
    expected = flask.session.get(DASH_CSRF_KEY) or ""
    sent = flask.request.headers.get(_dash_csrf_names()[1]) or ""
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def _logout(config: AppConfig) -> flask.Response:
    cu = flask_login.current_user
    if getattr(cu, "is_authenticated", False):
        user: User = cu.user
        with data.engine().begin() as conn:
            audit.record(conn, user.name, "logout", f"user:{user.name}", {},
                         scope=user.unit_code, ip=client_ip())
    flask_login.logout_user()
    flask.session.clear()
    lang = normalise_lang(flask.request.args.get("lang") or config.lang)
    resp = flask.redirect(flask.url_for("wangge_login", lang=lang, bye=1))
    resp.delete_cookie(_dash_csrf_names()[0], path="/")
    return resp


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(API_PREFIX)


def install_auth(app: dash.Dash, config: AppConfig) -> None:
    """Require a login for every page and callback of ``app`` (see the module doc)."""
    server: flask.Flask = app.server
    server.secret_key = _secret_key()
    server.config.update(
        SESSION_COOKIE_NAME="wangge_session", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=settings.COOKIE_SECURE,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.SESSION_HOURS),
        REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.COOKIE_SECURE,
        WANGGE_DASH_CSRF=(app.config.csrf_token_name, app.config.csrf_header_name))
    manager = flask_login.LoginManager()
    manager.session_protection = "strong"
    manager.init_app(server)

    @manager.user_loader
    def load_user(user_id: str) -> SessionUser | None:
        uid = str(user_id).partition(":")[0]
        if not uid.isdigit():
            return None
        with data.engine().connect() as conn:
            user = users_mod.get_user_by_id(conn, int(uid))
        if user is None or not user.active:
            return None
        su = SessionUser(user)
        return su if hmac.compare_digest(su.get_id(), str(user_id)) else None

    @server.route("/login", methods=["GET", "POST"], endpoint="wangge_login")
    def login() -> flask.Response:
        if flask.request.method == "POST":
            return _login_post(config)
        lang = _lang(config)
        if flask.request.args.get("bye"):
            return _render(config, message=t("auth.logged_out", lang), info=True)
        return _render(config)

    @server.route("/logout", methods=["GET", "POST"], endpoint="wangge_logout")
    def logout() -> flask.Response:
        return _logout(config)

    @server.before_request
    def require_login() -> flask.Response | None:
        path = flask.request.path
        if _is_public(path) or flask.request.method == "OPTIONS":
            return None
        if getattr(flask_login.current_user, "is_authenticated", False):
            if flask.request.method == "POST" and path.startswith("/_dash-") \
                    and not _dash_csrf_ok():
                return flask.make_response(flask.jsonify(
                    error="CSRF token missing or wrong: reload the page"), 403)
            return None
        if path.startswith(XHR_PREFIXES) or flask.request.is_json:
            return flask.make_response(
                flask.jsonify(error="login required", login="/login"), 401)
        full = flask.request.full_path.rstrip("?")
        return flask.redirect(flask.url_for("wangge_login", next=_safe_next(full)))


def current_user() -> User | None:
    """The logged-in user of the current request (None: nobody, or auth is off)."""
    if not flask.has_request_context():
        return None
    cu = flask_login.current_user
    return cu.user if getattr(cu, "is_authenticated", False) else None


@contextmanager
def scoped_connection() -> Iterator[Connection]:
    """A transaction for the current request: scoped to the logged-in user's jurisdiction
    (row-level security) when auth is on; the plain engine when the app runs without
    auth. PermissionDenied when auth is on and nobody is logged in (the same as
    :func:`dashboard.data.begin`)."""
    with data.begin() as conn:
        yield conn


def user_summary(user: User | Any, lang: str) -> str:
    """``name（role）`` in ``lang`` for a top bar."""
    return t("auth.user", lang, name=user.name, role=t(f"auth.role.{user.role}", lang))
